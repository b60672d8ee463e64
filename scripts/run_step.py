# Every rule's script: run the library step named in params.step (levelpipe.steps.run_snakemake
# sets up the job log, builds the step's context from input/output/params/threads, calls it).
from levelpipe.steps import run_snakemake

run_snakemake(snakemake)  # noqa: F821 (snakemake is injected by Snakemake)
