# UCalgary all-sky imagers (THEMIS, REGO, TREx NIR/Blueline/RGB): raw minute files in the data
# server's layout -> L1 calibrated site-hours -> L2 lat/lon projections -> keograms, mosaics,
# movies, quicklooks. One job per site-hour (granule <instrument>_<site>_<device>_<YYYYMMDD>_ut<HH>).
from levelpipe.asi.workflow import AsiInputs

ASI = "asi"
ASI_CODE = code_digest("levelpipe.asi")
ASI_IN = AsiInputs(input_dir(ASI), MC[ASI]) if ASI in MISSIONS else None
if ASI in MISSIONS:
    require_granules(
        ASI, ASI_IN.site_hours, "raw imager files in the data server's layout (.pgm[.gz|.bz2], .h5, .png)"
    )


wildcard_constraints:
    site_hour="[a-z_]+_[a-z0-9]+_[a-z0-9-]+_[0-9]{8}_ut[0-9]{2}",
    asi_mosaic="[a-z_]+_[0-9]{8}T[0-9]{6}",


rule calibrate_asi_l1:
    input:
        raw=lambda wildcards: ASI_IN.raw(wildcards.site_hour),
        calibration=lambda wildcards: ASI_IN.calibration_files(wildcards.site_hour),
    output:
        result(ASI, "l1", "{site_hour}.nc"),
    log:
        log(ASI, "calibrate_asi_l1", "{site_hour}"),
    benchmark:
        bench(ASI, "calibrate_asi_l1", "{site_hour}")
    params:
        root=lambda wildcards: str(ASI_IN.root),
        cfg=lambda wildcards: {k: MC[ASI][k] for k in ("instruments", "calibration")},
        code=ASI_CODE,
    conda:
        ENV
    script:
        "../scripts/asi/calibrate_l1.py"


rule project_asi_l2:
    input:
        l1=result(ASI, "l1", "{site_hour}.nc"),
        skymap=lambda wildcards: ASI_IN.skymap(wildcards.site_hour),
    output:
        result(ASI, "l2", "{site_hour}.nc"),
    log:
        log(ASI, "project_asi_l2", "{site_hour}"),
    benchmark:
        bench(ASI, "project_asi_l2", "{site_hour}")
    params:
        root=lambda wildcards: str(ASI_IN.root),
        cfg=lambda wildcards: {"l2": MC[ASI]["l2"]},
        code=ASI_CODE,
    conda:
        ENV
    script:
        "../scripts/asi/project_l2.py"


rule make_asi_keogram:
    input:
        result(ASI, "l2", "{site_hour}.nc"),
    output:
        nc=result(ASI, "keogram", "{site_hour}.nc"),
        png=report(
            result(ASI, "keogram", "{site_hour}.png"),
            caption="../report/asi/keogram.rst",
            category="asi",
        ),
    log:
        log(ASI, "make_asi_keogram", "{site_hour}"),
    benchmark:
        bench(ASI, "make_asi_keogram", "{site_hour}")
    params:
        cfg=lambda wildcards: MC[ASI]["keogram"],
        code=ASI_CODE,
    conda:
        ENV
    script:
        "../scripts/asi/make_keogram.py"


rule make_asi_mosaic:
    input:
        lambda wildcards: [result(ASI, "l2", f"{g}.nc") for g in ASI_IN.mosaics[wildcards.asi_mosaic][1]],
    output:
        nc=result(ASI, "mosaic", "{asi_mosaic}.nc"),
        png=report(
            result(ASI, "mosaic", "{asi_mosaic}.png"),
            caption="../report/asi/mosaic.rst",
            category="asi",
        ),
    log:
        log(ASI, "make_asi_mosaic", "{asi_mosaic}"),
    benchmark:
        bench(ASI, "make_asi_mosaic", "{asi_mosaic}")
    params:
        when=lambda wildcards: ASI_IN.mosaics[wildcards.asi_mosaic][0],
        cfg=lambda wildcards: MC[ASI]["mosaic"],
        code=ASI_CODE,
    conda:
        ENV
    script:
        "../scripts/asi/make_mosaic.py"


rule make_asi_movie:
    input:
        result(ASI, "l1", "{site_hour}.nc"),
    output:
        result(ASI, "movie", "{site_hour}.mp4"),
    log:
        log(ASI, "make_asi_movie", "{site_hour}"),
    benchmark:
        bench(ASI, "make_asi_movie", "{site_hour}")
    params:
        cfg=lambda wildcards: MC[ASI]["movie"],
        code=ASI_CODE,
    conda:
        ENV
    script:
        "../scripts/asi/make_movie.py"


rule plot_asi_quicklook:
    input:
        result(ASI, "l1", "{site_hour}.nc"),
    output:
        report(
            result(ASI, "quicklook", "{site_hour}.png"),
            caption="../report/asi/quicklook.rst",
            category="asi",
        ),
    log:
        log(ASI, "plot_asi_quicklook", "{site_hour}"),
    benchmark:
        bench(ASI, "plot_asi_quicklook", "{site_hour}")
    params:
        cfg=lambda wildcards: MC[ASI]["keogram"],
        code=ASI_CODE,
    conda:
        ENV
    script:
        "../scripts/asi/plot_quicklook.py"


if ASI in MISSIONS:
    TARGETS[ASI] += [result(ASI, "l1", f"{g}.nc") for g in ASI_IN.site_hours]
    TARGETS[ASI] += [result(ASI, "quicklook", f"{g}.png") for g in ASI_IN.site_hours]
    TARGETS[ASI] += [result(ASI, "movie", f"{g}.mp4") for g in ASI_IN.site_hours]
    TARGETS[ASI] += [result(ASI, "l2", f"{g}.nc") for g in ASI_IN.l2_granules]
    TARGETS[ASI] += [result(ASI, "keogram", f"{g}.{ext}") for g in ASI_IN.l2_granules for ext in ("nc", "png")]
    TARGETS[ASI] += [result(ASI, "mosaic", f"{m}.{ext}") for m in ASI_IN.mosaics for ext in ("nc", "png")]
