"""Snakemake adapter: FOXSI products -> quicklook PNGs."""
from levelpipe.runlog import log_to

log_to(snakemake.log[0])  # noqa: F821
from levelpipe.foxsi.quicklook import make_quicklooks  # noqa: E402

make_quicklooks(snakemake.input.image, snakemake.input.spectrum, snakemake.input.lightcurve,  # noqa: F821
                snakemake.input.hk, dict(snakemake.output.items()), snakemake.params.cfg)  # noqa: F821
