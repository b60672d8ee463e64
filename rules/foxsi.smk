# FOXSI rules: formatter (.dat) / WSMR (.log) telemetry -> L0 (per detector + housekeeping)
# -> L1 -> L2 -> images, spectra, lightcurves -> quicklook PNGs. One job per flight file.
# Constants: config/foxsi.yaml; per-flight differences: the files it lists under `flights`.
import re

from levelpipe.foxsi.workflow import FoxsiInputs

if "foxsi" in MISSIONS:
    FOXSI = MC["foxsi"]
    FX = FoxsiInputs(FOXSI, input_dir("foxsi"), workflow_path,
                     WORKFLOW_DIR / "config" / "schemas" / "foxsi.schema.yaml")
    require_granules("foxsi", FX.granules, "telemetry files (.dat formatter, .log WSMR)")
    FOXSI_DETS = range(7)

    # The granule wildcard is called `recording` (one telemetry file of a flight): other families
    # constrain a global `granule` wildcard with their own pattern, and global constraints are shared.
    wildcard_constraints:
        recording="|".join(re.escape(g) for g in FX.granules) or "$^",

    rule decode_foxsi_l0:
        input:
            FX.telemetry,
        output:
            dets=[result("foxsi", "l0", f"{{recording}}_d{d}.nc") for d in FOXSI_DETS],
            hk=result("foxsi", "l0", "{recording}_hk.nc"),
        log:
            log("foxsi", "decode_foxsi_l0", "{recording}"),
        benchmark:
            bench("foxsi", "decode_foxsi_l0", "{recording}")
        params:
            code=code_digest("levelpipe.foxsi"),
            cfg=FX.params("decode"),
        conda:
            ENV
        script:
            "../scripts/foxsi/decode_l0.py"

    rule calibrate_foxsi_l1:
        input:
            dets=[result("foxsi", "l0", f"{{recording}}_d{d}.nc") for d in FOXSI_DETS],
            hk=result("foxsi", "l0", "{recording}_hk.nc"),
        output:
            events=result("foxsi", "l1", "{recording}.nc"),
            hk=result("foxsi", "l1", "{recording}_hk.nc"),
        log:
            log("foxsi", "calibrate_foxsi_l1", "{recording}"),
        benchmark:
            bench("foxsi", "calibrate_foxsi_l1", "{recording}")
        params:
            code=code_digest("levelpipe.foxsi"),
            cfg=FX.params("l1"),
        conda:
            ENV
        script:
            "../scripts/foxsi/calibrate_l1.py"

    rule calibrate_foxsi_l2:
        input:
            l1=result("foxsi", "l1", "{recording}.nc"),
            gains=FX.gain_files,
        output:
            result("foxsi", "l2", "{recording}.nc"),
        log:
            log("foxsi", "calibrate_foxsi_l2", "{recording}"),
        benchmark:
            bench("foxsi", "calibrate_foxsi_l2", "{recording}")
        params:
            code=code_digest("levelpipe.foxsi"),
            cfg=FX.params("l2"),
            calibration_dir=str(FX.calibration_dir),
        conda:
            ENV
        script:
            "../scripts/foxsi/calibrate_l2.py"

    rule make_foxsi_images:
        input:
            result("foxsi", "l2", "{recording}.nc"),
        output:
            result("foxsi", "images", "{recording}.nc"),
        log:
            log("foxsi", "make_foxsi_images", "{recording}"),
        benchmark:
            bench("foxsi", "make_foxsi_images", "{recording}")
        params:
            code=code_digest("levelpipe.foxsi"),
            cfg=FX.params("products"),
        conda:
            ENV
        script:
            "../scripts/foxsi/make_images.py"

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
        params:
            code=code_digest("levelpipe.foxsi"),
            cfg=FX.params("products", "l1"),
        conda:
            ENV
        script:
            "../scripts/foxsi/make_spectra.py"

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
        params:
            code=code_digest("levelpipe.foxsi"),
            cfg=FX.params("products", "l1"),
        conda:
            ENV
        script:
            "../scripts/foxsi/make_lightcurves.py"

    rule plot_foxsi_quicklook:
        input:
            image=result("foxsi", "images", "{recording}.nc"),
            spectrum=result("foxsi", "spectra", "{recording}.nc"),
            lightcurve=result("foxsi", "lightcurves", "{recording}.nc"),
            hk=result("foxsi", "l1", "{recording}_hk.nc"),
        output:
            image=report(result("foxsi", "quicklook", "{recording}_image.png"),
                         caption="../report/foxsi/image.rst", category="foxsi"),
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
        params:
            code=code_digest("levelpipe.foxsi"),
            cfg=FX.params("l1"),
        conda:
            ENV
        script:
            "../scripts/foxsi/plot_quicklook.py"

    TARGETS["foxsi"] += expand(result("foxsi", "quicklook", "{recording}_{plot}.png"),
                               recording=FX.granules, plot=["image", "spectrum", "lightcurve", "housekeeping"])
    TARGETS["foxsi"] += expand(result("foxsi", "{product}", "{recording}.nc"),
                               recording=FX.granules, product=["images", "spectra", "lightcurves"])
