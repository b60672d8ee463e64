from levelpipe.runlog import log_to
from levelpipe.timepix.l1 import export_labelled

log_to(snakemake.log[0])
export_labelled(snakemake.input[0], snakemake.output[0])
