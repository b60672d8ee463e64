from levelpipe.runlog import log_to
from levelpipe.timepix.maps import plot_maps

log_to(snakemake.log[0])
plot_maps(list(snakemake.input), snakemake.output.dose, dict(zip(snakemake.params.sets, snakemake.output.flux)),
          snakemake.params.cfg)
