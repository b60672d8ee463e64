from levelpipe.runlog import log_to
from levelpipe.timepix.browser import write_browser

log_to(snakemake.log[0])
write_browser(snakemake.input.l0, snakemake.input.l1, snakemake.output[0], snakemake.params.cfg)
