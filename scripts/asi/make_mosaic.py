from levelpipe.runlog import log_to

log_to(snakemake.log[0])
from levelpipe.asi.products import make_mosaic  # noqa: E402

make_mosaic(snakemake.input, snakemake.output.nc, snakemake.output.png, when=snakemake.params.when,
            cfg=snakemake.params.cfg, name=snakemake.wildcards.asi_mosaic)
