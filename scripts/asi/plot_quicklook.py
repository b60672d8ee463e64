from levelpipe.runlog import log_to

log_to(snakemake.log[0])
from levelpipe.asi.products import make_quicklook  # noqa: E402

make_quicklook(snakemake.input[0], snakemake.output[0], cfg=snakemake.params.cfg,
               granule=snakemake.wildcards.site_hour)
