# Every FOXSI rule runs one step of levelpipe.foxsi.family (params.step names it).
from levelpipe.steps import run_snakemake

run_snakemake(snakemake)  # noqa: F821 - injected by Snakemake
