"""Snakemake adapter: FOXSI level 2 + housekeeping level 1 -> count spectra."""
from levelpipe.runlog import log_to

log_to(snakemake.log[0])  # noqa: F821
from levelpipe.foxsi.products import make_spectrum  # noqa: E402

make_spectrum(snakemake.input.l2, snakemake.input.hk, snakemake.output[0], snakemake.params.cfg)  # noqa: F821
