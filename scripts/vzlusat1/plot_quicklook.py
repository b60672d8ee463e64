from levelpipe.runlog import log_to
from levelpipe.timepix.quicklook import plot_quicklook

log_to(snakemake.log[0])
plot_quicklook(snakemake.input.l0, snakemake.input.l1, snakemake.input.l2, snakemake.output[0])
