from levelpipe.runlog import log_to
from levelpipe.timepix.l1 import build_l1

log_to(snakemake.log[0])
build_l1(snakemake.input.l0, snakemake.input.model, snakemake.output[0])
