from levelpipe.runlog import log_to
from levelpipe.timepix.dose import build_dose

log_to(snakemake.log[0])
build_dose(snakemake.input[0], snakemake.output[0], snakemake.params.cfg)
