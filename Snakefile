# levelpipe: raw telemetry -> level products for small space-science missions.
# Which families run and where their raw data are: config/config.yaml (validated by
# levelpipe.workflow.RunConfig). Each family's settings: config/<family>.yaml (validated by its
# model, levelpipe.<family>.settings). Families: levelpipe.family.REGISTRY.
from pathlib import Path

from snakemake.utils import min_version

min_version("8.10")


configfile: Path(workflow.basedir) / "config" / "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"


rule all:
    input:
        lambda wildcards: RUN.targets(),
    default_target: True


include: "rules/vzlusat1.smk"
include: "rules/foxsi.smk"
include: "rules/asi.smk"
include: "rules/jets.smk"
include: "rules/minxss.smk"
