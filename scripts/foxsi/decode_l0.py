"""Snakemake adapter: telemetry file -> FOXSI level 0 (seven detectors + housekeeping)."""
from levelpipe.runlog import log_to

log_to(snakemake.log[0])  # noqa: F821
from levelpipe.foxsi.l0 import make_l0  # noqa: E402

make_l0(snakemake.input[0], list(snakemake.output.dets), snakemake.output.hk, snakemake.params.cfg)  # noqa: F821
