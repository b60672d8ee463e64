"""Planning benchmark: `snakemake -n` on synthetic archives of 1,000 / 10,000 / 100,000 granules.

Archives are empty files with real names and layouts (levelpipe.testing.archives), so this
measures exactly what planning costs: Snakemake parsing the workflow, our one walk and index,
input functions, params and resources, and Snakemake's own DAG. Beside each run the same round
runs Snakemake's floor: a trivial Snakefile with the same number of jobs per granule (a chain
of `shell: "true"` rules on one input file per granule), so what is ours and what is
Snakemake's can be told apart. Rounds are interleaved; medians are reported, CPU time (user +
system of the snakemake process) beside wall time, and peak RSS.

At 100,000 granules the full DAG (5-6 jobs per granule) is not built: it needs several GB in
Snakemake itself (~10-16 kB per job, see the floor). What a run of that size does is plan in
batches (`snakemake --batch all=<i>/<n>`); that is measured with 100 batches, and our part
alone (parse, walk, index, default targets: `--list-target-rules`-like, no DAG) is measured too.

    python benchmarks/bench_planning.py                 # 1,000 and 10,000 granules, 3 rounds
    python benchmarks/bench_planning.py --full          # also 100,000 (batched)
    python benchmarks/bench_planning.py --sizes 1000 --rounds 1 --families asi
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

FLOOR_SNAKEFILE = """
N = int(config["granules"]); K = int(config["chain"])
G = [f"g{i:06d}" for i in range(N)]
rule all:
    input: [f"out/{g}.{K - 1}" for g in G]
rule step0:
    input: "in/{g}.raw"
    output: "out/{g}.0"
    shell: "true"
""" + "".join(f"""
rule step{k}:
    input: "out/{{g}}.{k - 1}"
    output: "out/{{g}}.{k}"
    shell: "true"
""" for k in range(1, 8))

INDEX_ONLY = """
import sys, yaml
from levelpipe.workflow import Run
run = Run(yaml.safe_load(open(sys.argv[1])), sys.argv[2])
for m in run.missions:
    plan = run.plans[m]
    plan.index
    plan.params(next(iter(plan.family.steps)))
print(len(run.targets()))
"""


def measure(cmd: list[str], cwd: Path) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of one child process run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024.0  # ru_maxrss of children: the largest so far


def peak_rss(cmd: list[str], cwd: Path) -> float:
    """Peak RSS (MB) of one command, measured on its own (RUSAGE_CHILDREN keeps the maximum)."""
    out = subprocess.run([sys.executable, "-c",
                          "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
                          "capture_output=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
                          *cmd], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return int(out.stdout) / 1024.0


def jobs_per_granule(workdir: Path, cfg: Path) -> tuple[int, int]:
    proc = subprocess.run(SNAKEMAKE + ["--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
                                       "--configfile", str(cfg), "-n", "--cores", "1"], capture_output=True,
                          text=True)
    table = proc.stdout.split("Job stats:")[1].split("total")
    total = int(table[1].split()[0])
    return total, len([ln for ln in table[0].splitlines()[3:] if ln.strip()])


def main() -> None:
    from levelpipe.family import REGISTRY
    from levelpipe.testing.archives import BUILDERS, build
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--full", action="store_true", help="also 100,000 granules (batched)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--families", nargs="+", default=[f for f in REGISTRY if f in BUILDERS])
    args = ap.parse_args()
    sizes = args.sizes + ([100_000] if args.full else [])
    with tempfile.TemporaryDirectory(prefix="lp-plan-") as tmp:
        tmp = Path(tmp)
        print(f"{'family':9} {'granules':>9} {'jobs':>7}   {'ours wall':>9} {'ours CPU':>8} {'RSS MB':>7} "
              f"{'s CPU/1000 g':>12}   {'floor wall':>10} {'floor CPU':>9} {'floor RSS':>9}")
        for fam in args.families:
            for n in sizes:
                root = tmp / f"{fam}_{n}"
                overrides = build(fam, root, n)
                cfg = tmp / f"{fam}_{n}.yaml"
                cfg.write_text(yaml.safe_dump({"missions": [fam], "inputs": {fam: str(root)},
                                               "overrides": {fam: overrides}}))
                wd = tmp / f"wd_{fam}_{n}"
                wd.mkdir()
                floor = tmp / f"floor_{n}"
                (floor / "in").mkdir(parents=True, exist_ok=True)
                for i in range(n):
                    (floor / "in" / f"g{i:06d}.raw").touch()
                (floor / "Snakefile").write_text(FLOOR_SNAKEFILE)
                batched = n >= 100_000
                jobs, rules = (None, None) if batched else jobs_per_granule(wd, cfg)
                chain = rules - 1 if rules else 6
                ours_cmd = SNAKEMAKE + ["--snakefile", str(REPO / "Snakefile"), "--directory", str(wd),
                                        "--configfile", str(cfg), "-n", "--cores", "1", "--quiet", "all"]
                floor_cmd = SNAKEMAKE + ["-n", "--cores", "1", "--quiet", "all", "--config", f"granules={n}",
                                         f"chain={chain}"]
                if batched:
                    ours_cmd += ["--batch", "all=1/100"]
                    floor_cmd += ["--batch", "all=1/100"]
                ours, base = [], []
                for _ in range(args.rounds):
                    ours.append(measure(ours_cmd, wd))
                    base.append(measure(floor_cmd, floor))
                o = [statistics.median(x) for x in zip(*ours)]
                f = [statistics.median(x) for x in zip(*base)]
                o[2], f[2] = peak_rss(ours_cmd, wd), peak_rss(floor_cmd, floor)
                label = f"{n}" + (" (1/100)" if batched else "")
                print(f"{fam:9} {label:>9} {jobs if jobs else '':>7}   {o[0]:9.1f} {o[1]:8.1f} {o[2]:7.0f} "
                      f"{1000 * o[1] / n:12.2f}   {f[0]:10.1f} {f[1]:9.1f} {f[2]:9.0f}", flush=True)
                if batched:
                    w, c, _ = measure([sys.executable, "-c", INDEX_ONLY, str(cfg), str(REPO)], wd)
                    rss = peak_rss([sys.executable, "-c", INDEX_ONLY, str(cfg), str(REPO)], wd)
                    print(f"{fam:9} {n:>9} {'':>7}   index + targets only: {w:.1f} s wall, {c:.1f} s CPU, "
                          f"{rss:.0f} MB ({1000 * c / n:.2f} s CPU per 1000 granules)", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
