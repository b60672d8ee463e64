# UCalgary all-sky imagers (THEMIS, REGO, TREx NIR/Blueline/RGB): raw minute files in the data
# server's layout -> L1 calibrated site-hours -> L2 lat/lon projections -> keograms, mosaics,
# movies, quicklooks. One job per site-hour (granule <instrument>_<site>_<device>_<YYYYMMDD>_ut<HH>).
import numpy as np

from levelpipe.asi.archive import find_site_hours
from levelpipe.asi.readers import parse_filename
from levelpipe.asi.simulate import PROJECT_PATH
from levelpipe.asi.skymap import best_skymap
from levelpipe.errors import AsiError

ASI = "asi"
ASI_CODE = code_digest("levelpipe.asi")
ASI_ROOT = input_dir(ASI) if ASI in MISSIONS else None
ASI_HOURS = find_site_hours(ASI_ROOT) if ASI in MISSIONS else {}


def asi_info(granule):
    return parse_filename(ASI_HOURS[granule][0])


def asi_skymap(granule):
    """The best skymap for a granule, or None (then the granule gets no L2)."""
    info = asi_info(granule)
    try:
        return str(best_skymap(ASI_ROOT, info.instrument, info.site, info.start))
    except AsiError:
        return None


ASI_L2 = (
    [g for g in ASI_HOURS
     if asi_info(g).instrument in MC[ASI]["l2"]["project"] and asi_skymap(g)]
    if ASI in MISSIONS else []
)


def asi_mosaics():
    """{name: (time, [granules])} for each configured mosaic instrument and time with data."""
    out = {}
    if ASI not in MISSIONS:
        return out
    cfg = MC[ASI]["mosaic"]
    tol = np.timedelta64(int(cfg["time_tolerance_s"] * 1e9), "ns")
    for instrument in cfg["instruments"]:
        for when in cfg["times"]:
            t = np.datetime64(when, "ns")
            granules = []
            for g in ASI_L2:
                info = asi_info(g)
                hour = info.start.astype("datetime64[h]").astype("datetime64[ns]")
                if info.instrument == instrument and hour - tol <= t < hour + np.timedelta64(1, "h") + tol:
                    granules.append(g)
            if granules:
                out[f"{instrument}_{when.replace('-', '').replace(':', '')}"] = (when, sorted(granules))
    return out


ASI_MOSAICS = asi_mosaics()


wildcard_constraints:
    granule="[a-z_]+_[a-z0-9]+_[a-z0-9-]+_[0-9]{8}_ut[0-9]{2}",


def asi_calibration_files(wildcards):
    info = asi_info(wildcards.granule)
    if MC[ASI]["instruments"][info.instrument]["calibrate"] != "rayleighs":
        return []
    return sorted(str(p) for p in (ASI_ROOT / PROJECT_PATH[info.instrument] / "calibration").glob("*.sav"))


rule calibrate_asi_l1:
    input:
        raw=lambda wildcards: [str(p) for p in ASI_HOURS[wildcards.granule]],
        calibration=asi_calibration_files,
    output:
        result(ASI, "l1", "{granule}.nc"),
    log:
        log(ASI, "calibrate_asi_l1", "{granule}"),
    benchmark:
        bench(ASI, "calibrate_asi_l1", "{granule}")
    params:
        root=lambda wildcards: str(ASI_ROOT),
        cfg=lambda wildcards: {k: MC[ASI][k] for k in ("instruments", "calibration")},
        code=ASI_CODE,
    conda:
        ENV
    script:
        "../scripts/asi/calibrate_l1.py"


rule project_asi_l2:
    input:
        l1=result(ASI, "l1", "{granule}.nc"),
        skymap=lambda wildcards: asi_skymap(wildcards.granule),
    output:
        result(ASI, "l2", "{granule}.nc"),
    log:
        log(ASI, "project_asi_l2", "{granule}"),
    benchmark:
        bench(ASI, "project_asi_l2", "{granule}")
    params:
        root=lambda wildcards: str(ASI_ROOT),
        cfg=lambda wildcards: {k: MC[ASI][k] for k in ("instruments", "l2")},
        code=ASI_CODE,
    conda:
        ENV
    script:
        "../scripts/asi/project_l2.py"


rule make_asi_keogram:
    input:
        result(ASI, "l2", "{granule}.nc"),
    output:
        nc=result(ASI, "keogram", "{granule}.nc"),
        png=report(
            result(ASI, "keogram", "{granule}.png"),
            caption="../report/asi/keogram.rst",
            category="asi",
        ),
    log:
        log(ASI, "make_asi_keogram", "{granule}"),
    benchmark:
        bench(ASI, "make_asi_keogram", "{granule}")
    params:
        cfg=lambda wildcards: MC[ASI]["keogram"],
        code=ASI_CODE,
    conda:
        ENV
    script:
        "../scripts/asi/make_keogram.py"


rule make_asi_mosaic:
    input:
        lambda wildcards: [result(ASI, "l2", f"{g}.nc") for g in ASI_MOSAICS[wildcards.mosaic][1]],
    output:
        nc=result(ASI, "mosaic", "{mosaic}.nc"),
        png=report(
            result(ASI, "mosaic", "{mosaic}.png"),
            caption="../report/asi/mosaic.rst",
            category="asi",
        ),
    log:
        log(ASI, "make_asi_mosaic", "{mosaic}"),
    benchmark:
        bench(ASI, "make_asi_mosaic", "{mosaic}")
    params:
        when=lambda wildcards: ASI_MOSAICS[wildcards.mosaic][0],
        cfg=lambda wildcards: MC[ASI]["mosaic"],
        code=ASI_CODE,
    conda:
        ENV
    script:
        "../scripts/asi/make_mosaic.py"


rule make_asi_movie:
    input:
        result(ASI, "l1", "{granule}.nc"),
    output:
        result(ASI, "movie", "{granule}.mp4"),
    log:
        log(ASI, "make_asi_movie", "{granule}"),
    benchmark:
        bench(ASI, "make_asi_movie", "{granule}")
    params:
        cfg=lambda wildcards: MC[ASI]["movie"],
        code=ASI_CODE,
    conda:
        ENV
    script:
        "../scripts/asi/make_movie.py"


rule plot_asi_quicklook:
    input:
        result(ASI, "l1", "{granule}.nc"),
    output:
        report(
            result(ASI, "quicklook", "{granule}.png"),
            caption="../report/asi/quicklook.rst",
            category="asi",
        ),
    log:
        log(ASI, "plot_asi_quicklook", "{granule}"),
    benchmark:
        bench(ASI, "plot_asi_quicklook", "{granule}")
    params:
        cfg=lambda wildcards: MC[ASI]["keogram"],
        code=ASI_CODE,
    conda:
        ENV
    script:
        "../scripts/asi/plot_quicklook.py"


if ASI in MISSIONS:
    TARGETS[ASI] += [result(ASI, "l1", f"{g}.nc") for g in ASI_HOURS]
    TARGETS[ASI] += [result(ASI, "quicklook", f"{g}.png") for g in ASI_HOURS]
    TARGETS[ASI] += [result(ASI, "movie", f"{g}.mp4") for g in ASI_HOURS]
    TARGETS[ASI] += [result(ASI, "l2", f"{g}.nc") for g in ASI_L2]
    TARGETS[ASI] += [result(ASI, "keogram", f"{g}.{ext}") for g in ASI_L2 for ext in ("nc", "png")]
    TARGETS[ASI] += [result(ASI, "mosaic", f"{m}.{ext}") for m in ASI_MOSAICS for ext in ("nc", "png")]
