# FOXSI sounding rocket: .dat (GSE formatter frames) / .log (WSMR records) telemetry -> L0 (per
# detector + housekeeping) -> L1 events + housekeeping in units -> L2 (energies, heliocentric
# positions) -> images, spectra, lightcurves -> quicklooks. One job per telemetry file (granule
# {recording}); steps, threads and memory: levelpipe.foxsi.family; the index finds each file's
# flight (by its name or config `files`) and declares exactly the peaks, LISS and tracking files
# of that flight.
FOXSI = PLAN["foxsi"]


wildcard_constraints:
    recording=FOXSI.family.granule_pattern,


# The eight L0 products of a telemetry file: one per detector D0..D6 and the housekeeping.
FOXSI_L0 = {f"d{d}": result("foxsi", "l0", f"{{recording}}_d{d}.nc") for d in range(7)} | {
    "hk": result("foxsi", "l0", "{recording}_hk.nc")}


rule decode_foxsi_l0:
    input:
        unpack(FOXSI.files("telemetry")),
    output:
        **FOXSI_L0,
    log:
        log("foxsi", "decode_foxsi_l0", "{recording}"),
    benchmark:
        bench("foxsi", "decode_foxsi_l0", "{recording}")
    threads: FOXSI.threads("l0")
    resources:
        mem_mb=FOXSI.mem_mb("l0"),
    params:
        step=FOXSI.params("l0"),
    conda:
        ENV
    script:
        STEP


rule calibrate_foxsi_l1:
    input:
        unpack(FOXSI.files("tracking")),
        **FOXSI_L0,
    output:
        events=result("foxsi", "l1", "{recording}.nc"),
        hk=result("foxsi", "l1", "{recording}_hk.nc"),
    log:
        log("foxsi", "calibrate_foxsi_l1", "{recording}"),
    benchmark:
        bench("foxsi", "calibrate_foxsi_l1", "{recording}")
    threads: FOXSI.threads("l1")
    resources:
        mem_mb=FOXSI.mem_mb("l1"),
    params:
        step=FOXSI.params("l1"),
    conda:
        ENV
    script:
        STEP


rule calibrate_foxsi_l2:
    input:
        unpack(FOXSI.files("peaks", "liss_pitch", "liss_yaw")),
        l1=result("foxsi", "l1", "{recording}.nc"),
    output:
        result("foxsi", "l2", "{recording}.nc"),
    log:
        log("foxsi", "calibrate_foxsi_l2", "{recording}"),
    benchmark:
        bench("foxsi", "calibrate_foxsi_l2", "{recording}")
    threads: FOXSI.threads("l2")
    resources:
        mem_mb=FOXSI.mem_mb("l2"),
    params:
        step=FOXSI.params("l2"),
    conda:
        ENV
    script:
        STEP


rule make_foxsi_images:
    input:
        l2=result("foxsi", "l2", "{recording}.nc"),
    output:
        result("foxsi", "images", "{recording}.nc"),
    log:
        log("foxsi", "make_foxsi_images", "{recording}"),
    benchmark:
        bench("foxsi", "make_foxsi_images", "{recording}")
    threads: FOXSI.threads("image")
    resources:
        mem_mb=FOXSI.mem_mb("image"),
    params:
        step=FOXSI.params("image"),
    group:
        "foxsi_products"
    conda:
        ENV
    script:
        STEP


rule make_foxsi_spectra:
    input:
        l2=result("foxsi", "l2", "{recording}.nc"),
        hk=result("foxsi", "l1", "{recording}_hk.nc"),
    output:
        result("foxsi", "spectra", "{recording}.nc"),
    log:
        log("foxsi", "make_foxsi_spectra", "{recording}"),
    benchmark:
        bench("foxsi", "make_foxsi_spectra", "{recording}")
    threads: FOXSI.threads("spectrum")
    resources:
        mem_mb=FOXSI.mem_mb("spectrum"),
    params:
        step=FOXSI.params("spectrum"),
    group:
        "foxsi_products"
    conda:
        ENV
    script:
        STEP


rule make_foxsi_lightcurves:
    input:
        l2=result("foxsi", "l2", "{recording}.nc"),
        hk=result("foxsi", "l1", "{recording}_hk.nc"),
    output:
        result("foxsi", "lightcurves", "{recording}.nc"),
    log:
        log("foxsi", "make_foxsi_lightcurves", "{recording}"),
    benchmark:
        bench("foxsi", "make_foxsi_lightcurves", "{recording}")
    threads: FOXSI.threads("lightcurve")
    resources:
        mem_mb=FOXSI.mem_mb("lightcurve"),
    params:
        step=FOXSI.params("lightcurve"),
    group:
        "foxsi_products"
    conda:
        ENV
    script:
        STEP


rule plot_foxsi_quicklook:
    input:
        image=result("foxsi", "images", "{recording}.nc"),
        spectrum=result("foxsi", "spectra", "{recording}.nc"),
        lightcurve=result("foxsi", "lightcurves", "{recording}.nc"),
        hk=result("foxsi", "l1", "{recording}_hk.nc"),
    output:
        image=report(result("foxsi", "quicklook", "{recording}_image.png"), caption="../report/foxsi/image.rst",
                     category="foxsi"),
        spectrum=report(result("foxsi", "quicklook", "{recording}_spectrum.png"),
                        caption="../report/foxsi/spectrum.rst", category="foxsi"),
        lightcurve=report(result("foxsi", "quicklook", "{recording}_lightcurve.png"),
                          caption="../report/foxsi/lightcurve.rst", category="foxsi"),
        housekeeping=report(result("foxsi", "quicklook", "{recording}_housekeeping.png"),
                            caption="../report/foxsi/housekeeping.rst", category="foxsi"),
    log:
        log("foxsi", "plot_foxsi_quicklook", "{recording}"),
    benchmark:
        bench("foxsi", "plot_foxsi_quicklook", "{recording}")
    threads: FOXSI.threads("quicklook")
    resources:
        mem_mb=FOXSI.mem_mb("quicklook"),
    params:
        step=FOXSI.params("quicklook"),
    group:
        "foxsi_products"
    conda:
        ENV
    script:
        STEP
