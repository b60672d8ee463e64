# UCalgary all-sky imagers (THEMIS, REGO, TREx NIR/Blueline/RGB): raw minute files in the data
# server's layout -> L1 calibrated site-hours -> L2 lat/lon projections -> keograms, mosaics,
# movies, quicklooks. One job per site-hour (granule <instrument>_<site>_<device>_<YYYYMMDD>_ut<HH>);
# steps, threads and memory: levelpipe.asi.family; the index chooses each granule's skymap and
# calibration files once (only those are declared, so a new file reruns only what it changes).
from levelpipe.asi.family import mosaics

ASI = PLAN["asi"]


wildcard_constraints:
    site_hour=ASI.family.granule_pattern,
    asi_mosaic=r"[a-z_]+_[0-9]{8}T[0-9]{6}",


rule calibrate_asi_l1:
    input:
        unpack(ASI.files("raw", "flatfield", "rayleighs")),
    output:
        result("asi", "l1", "{site_hour}.nc"),
    log:
        log("asi", "calibrate_asi_l1", "{site_hour}"),
    benchmark:
        bench("asi", "calibrate_asi_l1", "{site_hour}")
    threads: ASI.threads("l1")
    resources:
        mem_mb=ASI.mem_mb("l1"),
    params:
        step=ASI.params("l1"),
    conda:
        ENV
    script:
        STEP


rule project_asi_l2:
    input:
        l1=result("asi", "l1", "{site_hour}.nc"),
        skymap=lambda wildcards: ASI.index[wildcards.site_hour].get("skymap"),
    output:
        result("asi", "l2", "{site_hour}.nc"),
    log:
        log("asi", "project_asi_l2", "{site_hour}"),
    benchmark:
        bench("asi", "project_asi_l2", "{site_hour}")
    threads: ASI.threads("l2")
    resources:
        mem_mb=ASI.mem_mb("l2"),
    params:
        step=ASI.params("l2"),
    conda:
        ENV
    script:
        STEP


rule make_asi_keogram:
    input:
        result("asi", "l2", "{site_hour}.nc"),
    output:
        nc=result("asi", "keogram", "{site_hour}.nc"),
        png=report(result("asi", "keogram", "{site_hour}.png"), caption="../report/asi/keogram.rst",
                   category="asi"),
    log:
        log("asi", "make_asi_keogram", "{site_hour}"),
    benchmark:
        bench("asi", "make_asi_keogram", "{site_hour}")
    threads: ASI.threads("keogram")
    resources:
        mem_mb=ASI.mem_mb("keogram"),
    params:
        step=ASI.params("keogram"),
    group:
        "asi_l2_products"
    conda:
        ENV
    script:
        STEP


rule make_asi_mosaic:
    input:
        lambda wildcards: [result("asi", "l2", f"{g}.nc") for g in ASI.derived(mosaics)[wildcards.asi_mosaic]],
    output:
        nc=result("asi", "mosaic", "{asi_mosaic}.nc"),
        png=report(result("asi", "mosaic", "{asi_mosaic}.png"), caption="../report/asi/mosaic.rst",
                   category="asi"),
    log:
        log("asi", "make_asi_mosaic", "{asi_mosaic}"),
    benchmark:
        bench("asi", "make_asi_mosaic", "{asi_mosaic}")
    threads: ASI.threads("mosaic")
    resources:
        mem_mb=ASI.mem_mb("mosaic"),
    params:
        step=ASI.params("mosaic"),
    conda:
        ENV
    script:
        STEP


rule make_asi_movie:
    input:
        result("asi", "l1", "{site_hour}.nc"),
    output:
        result("asi", "movie", "{site_hour}.mp4"),
    log:
        log("asi", "make_asi_movie", "{site_hour}"),
    benchmark:
        bench("asi", "make_asi_movie", "{site_hour}")
    threads: ASI.threads("movie")
    resources:
        mem_mb=ASI.mem_mb("movie"),
    params:
        step=ASI.params("movie"),
    group:
        "asi_l1_products"
    conda:
        ENV
    script:
        STEP


rule plot_asi_quicklook:
    input:
        result("asi", "l1", "{site_hour}.nc"),
    output:
        report(result("asi", "quicklook", "{site_hour}.png"), caption="../report/asi/quicklook.rst",
               category="asi"),
    log:
        log("asi", "plot_asi_quicklook", "{site_hour}"),
    benchmark:
        bench("asi", "plot_asi_quicklook", "{site_hour}")
    threads: ASI.threads("quicklook")
    resources:
        mem_mb=ASI.mem_mb("quicklook"),
    params:
        step=ASI.params("quicklook"),
    group:
        "asi_l1_products"
    conda:
        ENV
    script:
        STEP
