# VZLUSAT-1 Timepix: raw/labelled archive folders -> L0 frames -> labelled clusters (L1) ->
# dose rate and per-class flux (L2) -> maps, browser, compatibility export.
# One job per archive folder; folders may be nested (planetary_sweeps/05_2019-11-28).
from levelpipe.timepix.l0 import discover_folders

VZ = "vzlusat1"
VZ_CODE = code_digest("levelpipe.timepix")
VZ_FOLDERS = (
    require_granules(
        VZ,
        discover_folders(input_dir(VZ)),
        "archive folders (raw/<folder>/<N>_fullres.txt or labelled/<folder>/<N>_fullres.clusters.txt)",
    )
    if VZ in MISSIONS
    else {}
)


wildcard_constraints:
    folder="[^.]+",


rule build_vzlusat1_l0:
    input:
        lambda wildcards: [str(p) for p in VZ_FOLDERS[wildcards.folder].all_paths()],
    output:
        result(VZ, "l0", "{folder}.nc"),
    log:
        log(VZ, "build_vzlusat1_l0", "{folder}"),
    benchmark:
        bench(VZ, "build_vzlusat1_l0", "{folder}")
    params:
        root=lambda wildcards: str(input_dir(VZ)),
        cfg=lambda wildcards: MC[VZ]["l0"],
        code=VZ_CODE,
    conda:
        ENV
    script:
        "../scripts/vzlusat1/build_l0.py"


rule train_vzlusat1_classifier:
    input:
        lambda wildcards: sorted(
            str(p)
            for p in workflow_path(MC[VZ]["classifier"]["training_dir"]).rglob(
                "*_fullres.clusters.txt"
            )
        ),
    output:
        model=result(VZ, "model", "classifier.pkl"),
        report=result(VZ, "model", "training_report.json"),
    log:
        log(VZ, "train_vzlusat1_classifier"),
    benchmark:
        bench(VZ, "train_vzlusat1_classifier")
    params:
        root=lambda wildcards: str(workflow_path(MC[VZ]["classifier"]["training_dir"])),
        cfg=lambda wildcards: MC[VZ]["classifier"],
        code=VZ_CODE,
    conda:
        ENV
    script:
        "../scripts/vzlusat1/train_classifier.py"


rule classify_vzlusat1_clusters:
    input:
        l0=result(VZ, "l0", "{folder}.nc"),
        model=result(VZ, "model", "classifier.pkl"),
    output:
        result(VZ, "l1", "{folder}.nc"),
    log:
        log(VZ, "classify_vzlusat1_clusters", "{folder}"),
    benchmark:
        bench(VZ, "classify_vzlusat1_clusters", "{folder}")
    params:
        code=VZ_CODE,
    conda:
        ENV
    script:
        "../scripts/vzlusat1/classify_clusters.py"


rule export_vzlusat1_labelled:
    input:
        result(VZ, "l1", "{folder}.nc"),
    output:
        directory(result(VZ, "labelled", "{folder}")),
    log:
        log(VZ, "export_vzlusat1_labelled", "{folder}"),
    benchmark:
        bench(VZ, "export_vzlusat1_labelled", "{folder}")
    params:
        code=VZ_CODE,
    conda:
        ENV
    script:
        "../scripts/vzlusat1/export_labelled.py"


rule compute_vzlusat1_dose:
    input:
        result(VZ, "l1", "{folder}.nc"),
    output:
        result(VZ, "l2", "{folder}.nc"),
    log:
        log(VZ, "compute_vzlusat1_dose", "{folder}"),
    benchmark:
        bench(VZ, "compute_vzlusat1_dose", "{folder}")
    params:
        cfg=lambda wildcards: MC[VZ]["dose"],
        code=VZ_CODE,
    conda:
        ENV
    script:
        "../scripts/vzlusat1/compute_dose.py"


rule plot_vzlusat1_quicklook:
    input:
        l0=result(VZ, "l0", "{folder}.nc"),
        l1=result(VZ, "l1", "{folder}.nc"),
        l2=result(VZ, "l2", "{folder}.nc"),
    output:
        report(
            result(VZ, "quicklook", "{folder}.png"),
            caption="../report/vzlusat1/quicklook.rst",
            category=VZ,
            subcategory="quicklook",
        ),
    log:
        log(VZ, "plot_vzlusat1_quicklook", "{folder}"),
    benchmark:
        bench(VZ, "plot_vzlusat1_quicklook", "{folder}")
    params:
        code=VZ_CODE,
    conda:
        ENV
    script:
        "../scripts/vzlusat1/plot_quicklook.py"


VZ_MAP_SETS = sorted(MC[VZ]["maps"]["filter_sets"]) if VZ in MISSIONS else []


rule plot_vzlusat1_maps:
    input:
        expand(result(VZ, "l2", "{folder}.nc"), folder=sorted(VZ_FOLDERS)),
    output:
        dose=report(
            result(VZ, "maps", "dose_rate.png"),
            caption="../report/vzlusat1/maps_dose.rst",
            category=VZ,
            subcategory="maps",
        ),
        flux=report(
            expand(result(VZ, "maps", "flux_{set}.png"), set=VZ_MAP_SETS),
            caption="../report/vzlusat1/maps_flux.rst",
            category=VZ,
            subcategory="maps",
        ),
    log:
        log(VZ, "plot_vzlusat1_maps"),
    benchmark:
        bench(VZ, "plot_vzlusat1_maps")
    params:
        sets=VZ_MAP_SETS,
        cfg=lambda wildcards: MC[VZ]["maps"],
        code=code_digest("levelpipe.timepix", "levelpipe.plotting"),
    conda:
        ENV
    script:
        "../scripts/vzlusat1/plot_maps.py"


rule write_vzlusat1_browser:
    input:
        l0=result(VZ, "l0", "{folder}.nc"),
        l1=result(VZ, "l1", "{folder}.nc"),
    output:
        result(VZ, "browser", "{folder}.html"),
    log:
        log(VZ, "write_vzlusat1_browser", "{folder}"),
    benchmark:
        bench(VZ, "write_vzlusat1_browser", "{folder}")
    params:
        cfg=lambda wildcards: MC[VZ]["browser"],
        code=VZ_CODE,
    conda:
        ENV
    script:
        "../scripts/vzlusat1/write_browser.py"


if VZ in MISSIONS:
    TARGETS[VZ] += [
        result(VZ, "model", "training_report.json"),
        result(VZ, "maps", "dose_rate.png"),
        *expand(result(VZ, "maps", "flux_{set}.png"), set=VZ_MAP_SETS),
    ]
    for _folder in VZ_FOLDERS:
        TARGETS[VZ] += [
            result(VZ, "l2", f"{_folder}.nc"),
            result(VZ, "labelled", _folder),
            result(VZ, "quicklook", f"{_folder}.png"),
            result(VZ, "browser", f"{_folder}.html"),
        ]
