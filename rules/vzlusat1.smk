# VZLUSAT-1 Timepix: raw/labelled archive folders -> L0 frames -> labelled clusters (L1) ->
# dose rate and per-class flux (L2) -> maps, browser, compatibility export.
# One job per archive folder (folders may be nested: planetary_sweeps/05_2019-11-28); steps,
# threads and memory: levelpipe.timepix.family.
from levelpipe.timepix.family import map_files, training_files

VZ = PLAN["vzlusat1"]


wildcard_constraints:
    folder=VZ.family.granule_pattern,


rule build_vzlusat1_l0:
    input:
        unpack(VZ.files(*VZ.family.roles)),
    output:
        result("vzlusat1", "l0", "{folder}.nc"),
    log:
        log("vzlusat1", "build_vzlusat1_l0", "{folder}"),
    benchmark:
        bench("vzlusat1", "build_vzlusat1_l0", "{folder}")
    threads: VZ.threads("l0")
    resources:
        mem_mb=VZ.mem_mb("l0"),
    params:
        step=VZ.params("l0"),
    conda:
        ENV
    script:
        STEP


rule train_vzlusat1_classifier:
    input:
        training=lambda wildcards: VZ.derived(training_files),
    output:
        model=result("vzlusat1", "model", "classifier.pkl"),
        report=result("vzlusat1", "model", "training_report.json"),
    log:
        log("vzlusat1", "train_vzlusat1_classifier"),
    benchmark:
        bench("vzlusat1", "train_vzlusat1_classifier")
    threads: VZ.threads("model")
    resources:
        mem_mb=VZ.mem_mb("model"),
    params:
        step=VZ.params("model"),
    conda:
        ENV
    script:
        STEP


rule classify_vzlusat1_clusters:
    input:
        l0=result("vzlusat1", "l0", "{folder}.nc"),
        model=result("vzlusat1", "model", "classifier.pkl"),
    output:
        result("vzlusat1", "l1", "{folder}.nc"),
    log:
        log("vzlusat1", "classify_vzlusat1_clusters", "{folder}"),
    benchmark:
        bench("vzlusat1", "classify_vzlusat1_clusters", "{folder}")
    threads: VZ.threads("l1")
    resources:
        mem_mb=VZ.mem_mb("l1"),
    params:
        step=VZ.params("l1"),
    conda:
        ENV
    script:
        STEP


rule export_vzlusat1_labelled:
    input:
        result("vzlusat1", "l1", "{folder}.nc"),
    output:
        directory(result("vzlusat1", "labelled", "{folder}")),
    log:
        log("vzlusat1", "export_vzlusat1_labelled", "{folder}"),
    benchmark:
        bench("vzlusat1", "export_vzlusat1_labelled", "{folder}")
    threads: VZ.threads("labelled")
    resources:
        mem_mb=VZ.mem_mb("labelled"),
    params:
        step=VZ.params("labelled"),
    group:
        "vzlusat1_l1_products"
    conda:
        ENV
    script:
        STEP


rule compute_vzlusat1_dose:
    input:
        result("vzlusat1", "l1", "{folder}.nc"),
    output:
        result("vzlusat1", "l2", "{folder}.nc"),
    log:
        log("vzlusat1", "compute_vzlusat1_dose", "{folder}"),
    benchmark:
        bench("vzlusat1", "compute_vzlusat1_dose", "{folder}")
    threads: VZ.threads("l2")
    resources:
        mem_mb=VZ.mem_mb("l2"),
    params:
        step=VZ.params("l2"),
    conda:
        ENV
    script:
        STEP


rule plot_vzlusat1_quicklook:
    input:
        l0=result("vzlusat1", "l0", "{folder}.nc"),
        l1=result("vzlusat1", "l1", "{folder}.nc"),
        l2=result("vzlusat1", "l2", "{folder}.nc"),
    output:
        report(result("vzlusat1", "quicklook", "{folder}.png"), caption="../report/vzlusat1/quicklook.rst",
               category="vzlusat1", subcategory="quicklook"),
    log:
        log("vzlusat1", "plot_vzlusat1_quicklook", "{folder}"),
    benchmark:
        bench("vzlusat1", "plot_vzlusat1_quicklook", "{folder}")
    threads: VZ.threads("quicklook")
    resources:
        mem_mb=VZ.mem_mb("quicklook"),
    params:
        step=VZ.params("quicklook"),
    conda:
        ENV
    script:
        STEP


rule plot_vzlusat1_maps:
    input:
        lambda wildcards: [result("vzlusat1", "l2", f"{f}.nc") for f in VZ.granules],
    output:
        dose=report(result("vzlusat1", "maps", "dose_rate.png"), caption="../report/vzlusat1/maps_dose.rst",
                    category="vzlusat1", subcategory="maps"),
        flux=report(map_files(VZ, result) if "vzlusat1" in MISSIONS else [],
                    caption="../report/vzlusat1/maps_flux.rst", category="vzlusat1", subcategory="maps"),
    log:
        log("vzlusat1", "plot_vzlusat1_maps"),
    benchmark:
        bench("vzlusat1", "plot_vzlusat1_maps")
    threads: VZ.threads("maps")
    resources:
        mem_mb=VZ.mem_mb("maps"),
    params:
        step=VZ.params("maps"),
    conda:
        ENV
    script:
        STEP


rule write_vzlusat1_browser:
    input:
        l0=result("vzlusat1", "l0", "{folder}.nc"),
        l1=result("vzlusat1", "l1", "{folder}.nc"),
    output:
        page=result("vzlusat1", "browser", "{folder}.html"),
        frames=directory(result("vzlusat1", "browser", "{folder}.frames")),
    log:
        log("vzlusat1", "write_vzlusat1_browser", "{folder}"),
    benchmark:
        bench("vzlusat1", "write_vzlusat1_browser", "{folder}")
    threads: VZ.threads("browser")
    resources:
        mem_mb=VZ.mem_mb("browser"),
    params:
        step=VZ.params("browser"),
    group:
        "vzlusat1_l1_products"
    conda:
        ENV
    script:
        STEP
