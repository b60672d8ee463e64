"""Snakemake adapter: FOXSI level 1 -> level 2 (energies, heliocentric positions)."""
from levelpipe.runlog import log_to

log_to(snakemake.log[0])  # noqa: F821
from levelpipe.foxsi.l2 import make_l2  # noqa: E402

make_l2(snakemake.input.l1, snakemake.output[0], snakemake.params.cfg, snakemake.params.calibration_dir)  # noqa: F821
