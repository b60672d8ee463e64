"""Snakemake adapter: FOXSI level 0 -> level 1 events and housekeeping."""
from levelpipe.runlog import log_to

log_to(snakemake.log[0])  # noqa: F821
from levelpipe.foxsi.l1 import make_l1  # noqa: E402

make_l1(list(snakemake.input.dets), snakemake.input.hk, snakemake.output.events, snakemake.output.hk,  # noqa: F821
        snakemake.params.cfg)  # noqa: F821
