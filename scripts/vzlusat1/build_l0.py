from levelpipe.runlog import log_to
from levelpipe.timepix.l0 import build_l0

log_to(snakemake.log[0])
build_l0(snakemake.params.root, snakemake.wildcards.folder, snakemake.output[0], snakemake.params.cfg)
