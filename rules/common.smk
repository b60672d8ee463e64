# Shared by every family's rules: the validated run config, one Plan per family (settings,
# granule index, rule helpers: levelpipe.family.Plan) and the paths of products, logs and
# benchmarks. Default products come from each family (levelpipe.<family>.family: targets).

from levelpipe.workflow import Run

RUN = Run(config, workflow.basedir)
MISSIONS = RUN.missions
PLAN = RUN.plans
for _m in MISSIONS:
    PLAN[_m].report_refused(PLAN[_m].index)  # walk each active family's tree once, now
ENV = "../envs/levelpipe.yaml"
STEP = "../scripts/run_step.py"
result, log, bench = RUN.result, RUN.log, RUN.bench
