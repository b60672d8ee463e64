# Shared by every family's rules: the validated run config, one Plan per family (settings,
# granule index, rule helpers: levelpipe.family.Plan) and the paths of products, logs and
# benchmarks. Default products come from each family (levelpipe.<family>.family: targets).
from pathlib import Path

from levelpipe.workflow import LEGACY_FAMILIES, Run

RUN = Run(config, workflow.basedir)
MISSIONS = RUN.missions
PLAN = RUN.plans
for _m in MISSIONS:
    if _m in PLAN:
        PLAN[_m].report_refused(PLAN[_m].index)  # walk each active family's tree once, now
ENV = "../envs/levelpipe.yaml"
STEP = "../scripts/run_step.py"
WORKFLOW_DIR = Path(workflow.basedir)
result, log, bench, workflow_path = RUN.result, RUN.log, RUN.bench, RUN.workflow_path

# Families not on the skeleton yet (rules/foxsi.smk) load their own config and list their
# default products here.
from levelpipe.provenance import code_digest

TARGETS = {m: [] for m in LEGACY_FAMILIES}
MC = {m: RUN.mission_config(m, WORKFLOW_DIR / "config" / "schemas" / f"{m}.schema.yaml")
      for m in MISSIONS if m in LEGACY_FAMILIES}
input_dir, require_granules = RUN.input_dir, RUN.require_granules
