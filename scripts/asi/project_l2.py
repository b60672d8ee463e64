from levelpipe.runlog import log_to

log_to(snakemake.log[0])
from levelpipe.asi.l2 import make_l2  # noqa: E402

make_l2(snakemake.input.l1, snakemake.output[0], skymap_root=snakemake.params.root,
        cfg=snakemake.params.cfg, granule=snakemake.wildcards.site_hour)
