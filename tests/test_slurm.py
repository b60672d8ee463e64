"""The workflow on a real SLURM cluster through profiles/slurm as shipped.

A single-node cluster (munge, slurmctld, slurmd; no accounting: the profile must cope with
that) is the one `.ci/run` starts; where none runs, the test starts it with
`.ci/slurm-local.sh` if it can (root and Debian packages) and skips, saying why, if it cannot.
The family run is ASI restricted (by a granule manifest) to its two THEMIS site-hours: 11 jobs
in 7 SLURM jobs, with a 2-thread rule, both ASI groups spanning two granules each (four members
in one 2-CPU job) and a mosaic over both sites. Checked: the run succeeds; every sbatch line
asks for the threads and memory the rule itself declares (as a local run of the same jobs
evaluates them), groups no more CPUs than the node has, the default partition; SLURM's own
record agrees; the products are byte-identical to those of a local run made in a directory of
the same layout (tests/conftest.py: workflow_run), and no temporary file is left.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, RESOURCES

pytestmark = [pytest.mark.integration, pytest.mark.slurm]

SCRIPT = REPO / ".ci" / "slurm-local.sh"
PROFILE = REPO / "profiles" / "slurm"
TIMEOUT_S = 900
ENV = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}  # as conftest.snakemake runs the reference


def _node_state() -> str | None:
    if not shutil.which("sinfo"):
        return None
    proc = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=30)
    return proc.stdout.strip() if proc.returncode == 0 else None


def _up() -> bool:
    return (_node_state() or "").split("\n")[0].rstrip("*") in ("idle", "mix", "alloc")


@pytest.fixture(scope="module")
def slurm_cluster():
    if _up():
        yield
        return
    if os.geteuid() != 0:
        pytest.skip("no SLURM cluster answers sinfo, and starting one (.ci/slurm-local.sh) needs root")
    if not shutil.which("slurmctld") and not shutil.which("apt-get"):
        pytest.skip("no SLURM cluster answers sinfo, and its Debian packages cannot be installed (no apt-get)")
    proc = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f".ci/slurm-local.sh start failed:\n{proc.stdout}\n{proc.stderr}"
    try:
        yield
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, timeout=300)


def _themis_manifest(path: Path) -> list[str]:
    """A manifest of the bundled ASI samples' THEMIS site-hours, with absolute paths (so that
    the products name the same inputs as the reference run's)."""
    out = subprocess.run([sys.executable, "-m", "levelpipe.cli", "index", "asi", str(RESOURCES / "asi")],
                         capture_output=True, text=True, check=True, cwd=REPO).stdout
    rows = [line.split("\t") for line in out.splitlines() if line and not line.startswith("#")]
    header, rows = rows[0], [r for r in rows[1:] if r[0].startswith("themis_")]
    path.write_text("\t".join(header) + "\n" + "".join(
        f"{g}\t{role}\t{RESOURCES / 'asi' / p}\n" for g, role, p in rows))
    return sorted({r[0] for r in rows})


def _job_blocks(log: Path) -> dict[tuple[str, str], dict[str, int]]:
    """(rule, wildcards) -> threads and mem_mb, as a snakemake run log describes its jobs."""
    jobs: dict[tuple[str, str], dict[str, int]] = {}
    rule, info = None, {}
    for line in log.read_text().splitlines() + ["rule end:"]:
        m = re.match(r"^(?:local)?rule (\w+):$", line)
        if m:
            if rule and "mem_mb" in info:
                jobs[(rule, info.get("wildcards", ""))] = {"threads": info.get("threads", 1), "mem_mb": info["mem_mb"]}
            rule, info = m.group(1), {}
        elif line.startswith("    wildcards: "):
            info["wildcards"] = line.split(": ", 1)[1].split("=", 1)[1]
        elif line.startswith("    threads: "):
            info["threads"] = int(line.split(": ", 1)[1])
        elif line.startswith("    resources: "):
            mem = re.search(r"\bmem_mb=(\d+)", line)
            if mem:
                info["mem_mb"] = int(mem.group(1))
    return jobs


def _sbatch_calls(output: str) -> list[dict[str, str]]:
    calls = []
    for line in output.splitlines():
        if "sbatch call: " not in line:
            continue
        call = line.split("sbatch call: ", 1)[1].split(" --wrap=", 1)[0]
        calls.append({
            "comment": re.search(r"--comment (\S+)", call).group(1),
            "cpus": int(re.search(r"--cpus-per-task=(\d+)", call).group(1)),
            "mem": int(re.search(r"--mem (\d+)", call).group(1)),
            "partition": (re.search(r"-p (\S+)", call) or re.search(r"()$", call)).group(1),
        })
    return calls


def _products(results: Path) -> dict[str, bytes]:
    return {str(p.relative_to(results)): p.read_bytes() for p in sorted(results.rglob("*")) if p.is_file()}


def test_asi_through_slurm_equals_local_run(slurm_cluster, tmp_path, workflow_run):
    pytest.importorskip("snakemake_executor_plugin_slurm",
                        reason="snakemake-executor-plugin-slurm not installed (pip install -e '.[test]')")
    reference = workflow_run("asi")
    workdir = tmp_path / "slurm"
    workdir.mkdir()
    granules = _themis_manifest(workdir / "themis.tsv")
    assert len(granules) == 2
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["missions"] = ["asi"]
    cfg["inputs"] = {m: str(RESOURCES / m) for m in cfg["inputs"]}
    cfg["manifests"] = {"asi": str(workdir / "themis.tsv")}
    (workdir / "test-config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "test-config.yaml"), "--profile", str(PROFILE), "--verbose"]
    out = workdir / "snakemake.out"
    t0 = time.monotonic()
    with open(out, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=ENV, start_new_session=True)
        try:
            proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            # snakemake may ignore SIGTERM while it waits on the plugin: SIGKILL, then its jobs
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    elapsed = time.monotonic() - t0
    text = out.read_text()
    run_id = re.search(r"SLURM run ID: (\S+)", text)
    if run_id and proc.returncode != 0:
        subprocess.run(["scancel", "--name", run_id.group(1)], check=False)
    assert proc.returncode == 0, f"SLURM run failed ({proc.returncode}) after {elapsed:.0f} s:\n{text[-8000:]}"
    print(f"ASI THEMIS through SLURM: {elapsed:.0f} s")

    # what was asked of SLURM: the rules' own threads and memory
    local = {}
    for log in sorted((reference / ".snakemake" / "log").glob("*.snakemake.log")):
        for key, value in _job_blocks(log).items():
            local.setdefault(key, value)
    calls = _sbatch_calls(text)
    default_partition = next(p.rstrip("*") for p in subprocess.run(
        ["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, check=True).stdout.split() if p.endswith("*"))
    node_cpus = int(subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True,
                                   check=True).stdout.split()[0])
    singles, groups = [], []
    for c in calls:
        assert c["partition"] == default_partition, c
        m = re.fullmatch(r"rule_(\w+?)_wildcards_(.+)", c["comment"])
        if m:
            singles.append(c)
            assert (c["cpus"], c["mem"]) == (local[(m[1], m[2])]["threads"], local[(m[1], m[2])]["mem_mb"]), c
        else:
            groups.append(c)
            assert c["cpus"] <= node_cpus, c
    rules = {re.fullmatch(r"rule_(\w+?)_wildcards_.+", c["comment"])[1] for c in singles}
    assert rules == {"calibrate_asi_l1", "project_asi_l2", "make_asi_mosaic"} and len(singles) == 5
    assert {c["cpus"] for c in singles if c["comment"].startswith("rule_calibrate_asi_l1")} == {2}
    # one job per group: each spans both granules (group-components), fitted into the node
    assert sorted(re.match(r"rule_(asi_l[12]_products)", c["comment"])[1] for c in groups) == \
        ["asi_l1_products", "asi_l2_products"]
    movie_mem = [v["mem_mb"] for (r, g), v in local.items() if r in ("make_asi_movie", "plot_asi_quicklook")
                 and g in granules]
    l1_group = next(c for c in groups if "asi_l1_products" in c["comment"])
    assert l1_group["cpus"] == 2 and max(movie_mem) <= l1_group["mem"] <= sum(sorted(movie_mem)[-2:])

    # SLURM's own record of the run's jobs
    record = subprocess.run(["squeue", "--states=all", "-h", "--name", run_id.group(1), "-o", "%k|%C|%T|%P"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert sorted(r.split("|")[0] for r in record) == sorted(c["comment"] for c in calls)
    by_comment = {c["comment"]: c for c in calls}
    for r in record:
        comment, cpus, state, partition = r.split("|")
        assert (state, partition, int(cpus)) == ("COMPLETED", default_partition, by_comment[comment]["cpus"]), r

    # the products: those of the local run for these granules, byte for byte
    got = _products(workdir / "results")
    want = _products(reference / "results")
    assert not [n for n in got if "/." in f"/{n}"], "temporary files left in results/"
    expected = {n for n in want if any(g in n for g in granules) or n.startswith("asi/mosaic/themis_")}
    assert set(got) == expected
    assert [n for n in got if got[n] != want[n]] == []
