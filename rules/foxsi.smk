# FOXSI rules: .dat (GSE formatter frames) / .log (WSMR records) telemetry -> L0 (per detector +
# housekeeping) -> L1 -> L2 -> images, spectra, lightcurves -> quicklook PNGs.
# One granule = one telemetry file; levelpipe.foxsi.family.FAMILY.index walks the input folder
# once and lists each granule's files (telemetry, peaks, LISS, tracking) by role.
import re

from levelpipe.family import Plan
from levelpipe.foxsi.family import FAMILY as FOXSI_FAMILY
from levelpipe.settings import validate as validate_settings

if "foxsi" in MISSIONS:
    FOXSI_PLAN = Plan(FOXSI_FAMILY, validate_settings(FOXSI_FAMILY.settings_model, MC["foxsi"], "config/foxsi.yaml"),
                      input_dir("foxsi"), code_digest=lambda spec: code_digest(spec.module))
    FOXSI_DETS = range(7)

    # The wildcard is `recording` (one telemetry file): other families constrain their own
    # wildcard names with their own patterns, and constraints are global.
    wildcard_constraints:
        recording="|".join(re.escape(g) for g in FOXSI_PLAN.granules),

    def _foxsi_l0(recording="{recording}"):
        return {f"d{d}": result("foxsi", "l0", f"{recording}_d{d}.nc") for d in FOXSI_DETS} | \
            {"hk": result("foxsi", "l0", f"{recording}_hk.nc")}

    rule decode_foxsi_l0:
        input:
            unpack(FOXSI_PLAN.files("telemetry")),
        output:
            **_foxsi_l0(),
        params:
            step=FOXSI_PLAN.params("l0"),
        threads: FOXSI_PLAN.threads("l0")
        resources:
            mem_mb=FOXSI_PLAN.mem_mb("l0"),
        log:
            log("foxsi", "decode_foxsi_l0", "{recording}"),
        benchmark:
            bench("foxsi", "decode_foxsi_l0", "{recording}")
        conda:
            ENV
        script:
            "../scripts/foxsi/run_step.py"

    rule calibrate_foxsi_l1:
        input:
            unpack(FOXSI_PLAN.files("tracking")),
            **_foxsi_l0(),
        output:
            events=result("foxsi", "l1", "{recording}.nc"),
            hk=result("foxsi", "l1", "{recording}_hk.nc"),
        params:
            step=FOXSI_PLAN.params("l1"),
        threads: FOXSI_PLAN.threads("l1")
        resources:
            mem_mb=FOXSI_PLAN.mem_mb("l1"),
        log:
            log("foxsi", "calibrate_foxsi_l1", "{recording}"),
        benchmark:
            bench("foxsi", "calibrate_foxsi_l1", "{recording}")
        conda:
            ENV
        script:
            "../scripts/foxsi/run_step.py"

    rule calibrate_foxsi_l2:
        input:
            unpack(FOXSI_PLAN.files("peaks", "liss_pitch", "liss_yaw")),
            l1=result("foxsi", "l1", "{recording}.nc"),
        output:
            result("foxsi", "l2", "{recording}.nc"),
        params:
            step=FOXSI_PLAN.params("l2"),
        threads: FOXSI_PLAN.threads("l2")
        resources:
            mem_mb=FOXSI_PLAN.mem_mb("l2"),
        log:
            log("foxsi", "calibrate_foxsi_l2", "{recording}"),
        benchmark:
            bench("foxsi", "calibrate_foxsi_l2", "{recording}")
        conda:
            ENV
        script:
            "../scripts/foxsi/run_step.py"

    rule make_foxsi_images:
        input:
            l2=result("foxsi", "l2", "{recording}.nc"),
        output:
            result("foxsi", "images", "{recording}.nc"),
        params:
            step=FOXSI_PLAN.params("image"),
        threads: FOXSI_PLAN.threads("image")
        resources:
            mem_mb=FOXSI_PLAN.mem_mb("image"),
        log:
            log("foxsi", "make_foxsi_images", "{recording}"),
        benchmark:
            bench("foxsi", "make_foxsi_images", "{recording}")
        conda:
            ENV
        script:
            "../scripts/foxsi/run_step.py"

    rule make_foxsi_spectra:
        input:
            l2=result("foxsi", "l2", "{recording}.nc"),
            hk=result("foxsi", "l1", "{recording}_hk.nc"),
        output:
            result("foxsi", "spectra", "{recording}.nc"),
        params:
            step=FOXSI_PLAN.params("spectrum"),
        threads: FOXSI_PLAN.threads("spectrum")
        resources:
            mem_mb=FOXSI_PLAN.mem_mb("spectrum"),
        log:
            log("foxsi", "make_foxsi_spectra", "{recording}"),
        benchmark:
            bench("foxsi", "make_foxsi_spectra", "{recording}")
        conda:
            ENV
        script:
            "../scripts/foxsi/run_step.py"

    rule make_foxsi_lightcurves:
        input:
            l2=result("foxsi", "l2", "{recording}.nc"),
            hk=result("foxsi", "l1", "{recording}_hk.nc"),
        output:
            result("foxsi", "lightcurves", "{recording}.nc"),
        params:
            step=FOXSI_PLAN.params("lightcurve"),
        threads: FOXSI_PLAN.threads("lightcurve")
        resources:
            mem_mb=FOXSI_PLAN.mem_mb("lightcurve"),
        log:
            log("foxsi", "make_foxsi_lightcurves", "{recording}"),
        benchmark:
            bench("foxsi", "make_foxsi_lightcurves", "{recording}")
        conda:
            ENV
        script:
            "../scripts/foxsi/run_step.py"

    rule plot_foxsi_quicklook:
        input:
            image=result("foxsi", "images", "{recording}.nc"),
            spectrum=result("foxsi", "spectra", "{recording}.nc"),
            lightcurve=result("foxsi", "lightcurves", "{recording}.nc"),
            hk=result("foxsi", "l1", "{recording}_hk.nc"),
        output:
            image=report(
                result("foxsi", "quicklook", "{recording}_image.png"),
                caption="../report/foxsi/image.rst",
                category="foxsi",
            ),
            spectrum=report(
                result("foxsi", "quicklook", "{recording}_spectrum.png"),
                caption="../report/foxsi/spectrum.rst",
                category="foxsi",
            ),
            lightcurve=report(
                result("foxsi", "quicklook", "{recording}_lightcurve.png"),
                caption="../report/foxsi/lightcurve.rst",
                category="foxsi",
            ),
            housekeeping=report(
                result("foxsi", "quicklook", "{recording}_housekeeping.png"),
                caption="../report/foxsi/housekeeping.rst",
                category="foxsi",
            ),
        params:
            step=FOXSI_PLAN.params("quicklook"),
        threads: FOXSI_PLAN.threads("quicklook")
        resources:
            mem_mb=FOXSI_PLAN.mem_mb("quicklook"),
        log:
            log("foxsi", "plot_foxsi_quicklook", "{recording}"),
        benchmark:
            bench("foxsi", "plot_foxsi_quicklook", "{recording}")
        conda:
            ENV
        script:
            "../scripts/foxsi/run_step.py"

    TARGETS["foxsi"] += expand(result("foxsi", "quicklook", "{recording}_{plot}.png"),
                               recording=FOXSI_PLAN.granules, plot=["image", "spectrum", "lightcurve", "housekeeping"])
    TARGETS["foxsi"] += expand(result("foxsi", "{product}", "{recording}.nc"),
                               recording=FOXSI_PLAN.granules, product=["images", "spectra", "lightcurves"])
