# FOXSI rules: formatter (.dat) / WSMR (.log) telemetry -> L0 (per detector + housekeeping)
# -> L1 -> L2 -> images, spectra, lightcurves -> quicklook PNGs. One job per flight file.
# Constants: config/foxsi.yaml; per-flight differences: the files it lists under `flights`.
import re

from levelpipe.foxsi.workflow import FoxsiInputs

if "foxsi" in MISSIONS:
    FOXSI = MC["foxsi"]
    FX = FoxsiInputs(FOXSI, input_dir("foxsi"), workflow_path,
                     WORKFLOW_DIR / "config" / "schemas" / "foxsi.schema.yaml")
    FOXSI_DETS = range(7)

    wildcard_constraints:
        granule="|".join(re.escape(g) for g in FX.granules) or "$^",

    rule decode_foxsi_l0:
        input:
            FX.telemetry,
        output:
            dets=[result("foxsi", "l0", f"{{granule}}_d{d}.nc") for d in FOXSI_DETS],
            hk=result("foxsi", "l0", "{granule}_hk.nc"),
        log:
            log("foxsi", "decode_foxsi_l0", "{granule}"),
        benchmark:
            bench("foxsi", "decode_foxsi_l0", "{granule}")
        params:
            code=code_digest("levelpipe.foxsi"),
            cfg=FX.params("decode"),
        conda:
            ENV
        script:
            "../scripts/foxsi/decode_l0.py"

    rule calibrate_foxsi_l1:
        input:
            dets=[result("foxsi", "l0", f"{{granule}}_d{d}.nc") for d in FOXSI_DETS],
            hk=result("foxsi", "l0", "{granule}_hk.nc"),
        output:
            events=result("foxsi", "l1", "{granule}.nc"),
            hk=result("foxsi", "l1", "{granule}_hk.nc"),
        log:
            log("foxsi", "calibrate_foxsi_l1", "{granule}"),
        benchmark:
            bench("foxsi", "calibrate_foxsi_l1", "{granule}")
        params:
            code=code_digest("levelpipe.foxsi"),
            cfg=FX.params("l1"),
        conda:
            ENV
        script:
            "../scripts/foxsi/calibrate_l1.py"

    rule calibrate_foxsi_l2:
        input:
            l1=result("foxsi", "l1", "{granule}.nc"),
            gains=FX.gain_files,
        output:
            result("foxsi", "l2", "{granule}.nc"),
        log:
            log("foxsi", "calibrate_foxsi_l2", "{granule}"),
        benchmark:
            bench("foxsi", "calibrate_foxsi_l2", "{granule}")
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
            result("foxsi", "l2", "{granule}.nc"),
        output:
            result("foxsi", "images", "{granule}.nc"),
        log:
            log("foxsi", "make_foxsi_images", "{granule}"),
        benchmark:
            bench("foxsi", "make_foxsi_images", "{granule}")
        params:
            code=code_digest("levelpipe.foxsi"),
            cfg=FX.params("products"),
        conda:
            ENV
        script:
            "../scripts/foxsi/make_images.py"

    rule make_foxsi_spectra:
        input:
            l2=result("foxsi", "l2", "{granule}.nc"),
            hk=result("foxsi", "l1", "{granule}_hk.nc"),
        output:
            result("foxsi", "spectra", "{granule}.nc"),
        log:
            log("foxsi", "make_foxsi_spectra", "{granule}"),
        benchmark:
            bench("foxsi", "make_foxsi_spectra", "{granule}")
        params:
            code=code_digest("levelpipe.foxsi"),
            cfg=FX.params("products", "l1"),
        conda:
            ENV
        script:
            "../scripts/foxsi/make_spectra.py"

    rule make_foxsi_lightcurves:
        input:
            l2=result("foxsi", "l2", "{granule}.nc"),
            hk=result("foxsi", "l1", "{granule}_hk.nc"),
        output:
            result("foxsi", "lightcurves", "{granule}.nc"),
        log:
            log("foxsi", "make_foxsi_lightcurves", "{granule}"),
        benchmark:
            bench("foxsi", "make_foxsi_lightcurves", "{granule}")
        params:
            code=code_digest("levelpipe.foxsi"),
            cfg=FX.params("products", "l1"),
        conda:
            ENV
        script:
            "../scripts/foxsi/make_lightcurves.py"

    rule plot_foxsi_quicklook:
        input:
            image=result("foxsi", "images", "{granule}.nc"),
            spectrum=result("foxsi", "spectra", "{granule}.nc"),
            lightcurve=result("foxsi", "lightcurves", "{granule}.nc"),
            hk=result("foxsi", "l1", "{granule}_hk.nc"),
        output:
            image=report(result("foxsi", "quicklook", "{granule}_image.png"),
                         caption="../report/foxsi/image.rst", category="foxsi"),
            spectrum=report(result("foxsi", "quicklook", "{granule}_spectrum.png"),
                            caption="../report/foxsi/spectrum.rst", category="foxsi"),
            lightcurve=report(result("foxsi", "quicklook", "{granule}_lightcurve.png"),
                              caption="../report/foxsi/lightcurve.rst", category="foxsi"),
            housekeeping=report(result("foxsi", "quicklook", "{granule}_housekeeping.png"),
                                caption="../report/foxsi/housekeeping.rst", category="foxsi"),
        log:
            log("foxsi", "plot_foxsi_quicklook", "{granule}"),
        benchmark:
            bench("foxsi", "plot_foxsi_quicklook", "{granule}")
        params:
            code=code_digest("levelpipe.foxsi"),
            cfg=FX.params("l1"),
        conda:
            ENV
        script:
            "../scripts/foxsi/plot_quicklook.py"

    TARGETS["foxsi"] += expand(result("foxsi", "quicklook", "{granule}_{plot}.png"),
                               granule=FX.granules, plot=["image", "spectrum", "lightcurve", "housekeeping"])
    TARGETS["foxsi"] += expand(result("foxsi", "{product}", "{granule}.nc"),
                               granule=FX.granules, product=["images", "spectra", "lightcurves"])
