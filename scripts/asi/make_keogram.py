from levelpipe.runlog import log_to

log_to(snakemake.log[0])
from levelpipe.asi.products import make_keogram  # noqa: E402

make_keogram(snakemake.input[0], snakemake.output.nc, snakemake.output.png, cfg=snakemake.params.cfg,
             granule=snakemake.wildcards.site_hour)
