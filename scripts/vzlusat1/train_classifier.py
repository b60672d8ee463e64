from levelpipe.runlog import log_to
from levelpipe.timepix.classifier import train_classifier

log_to(snakemake.log[0])
train_classifier(snakemake.params.root, snakemake.output.model, snakemake.output.report, snakemake.params.cfg)
