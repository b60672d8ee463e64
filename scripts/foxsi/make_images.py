"""Snakemake adapter: FOXSI level 2 -> counts images."""
from levelpipe.runlog import log_to

log_to(snakemake.log[0])  # noqa: F821
from levelpipe.foxsi.products import make_image  # noqa: E402

make_image(snakemake.input[0], snakemake.output[0], snakemake.params.cfg)  # noqa: F821
