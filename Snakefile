# levelpipe: raw telemetry -> level products for small space-science missions.
# Which families run and where their raw data are: config/config.yaml (validated by
# config/schemas/config.schema.yaml). Each family's constants: config/<mission>.yaml.
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("8.10")


configfile: Path(workflow.basedir) / "config" / "config.yaml"


validate(config, "config/schemas/config.schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"


rule all:
    input:
        all_targets,
    default_target: True


include: "rules/vzlusat1.smk"
include: "rules/foxsi.smk"
include: "rules/asi.smk"
