"""Shared fixtures: where the real sample data live, and a cached run of the workflow per mission.

Tests that need real files beyond the bundled samples read ../shared/data (next to the clone)
and skip, saying so, when it is absent.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
RESOURCES = REPO / "resources"
SHARED_DATA = Path(os.environ.get("LEVELPIPE_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_data(family: str) -> Path:
    """The real-data folder of a family, or skip the test with the reason."""
    path = SHARED_DATA / family
    if not path.is_dir():
        pytest.skip(f"real data for {family} not found at {path} (needs ../shared/data next to the clone)")
    return path


def snakemake(workdir: Path, *args: str, missions: list[str], check: bool = True) -> subprocess.CompletedProcess:
    """Run the workflow in `workdir` on the bundled samples for `missions`."""
    workdir.mkdir(parents=True, exist_ok=True)
    with open(REPO / "config" / "config.yaml") as f:
        cfg = yaml.safe_load(f)
    cfg["missions"] = missions
    cfg["inputs"] = {m: str(RESOURCES / m) for m in cfg["inputs"]}
    cfgfile = workdir / "test-config.yaml"
    cfgfile.write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(workdir), "--configfile", str(cfgfile), "--cores", "2", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"})
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


_RUNS: dict[str, Path] = {}


@pytest.fixture(scope="session")
def workflow_run(tmp_path_factory):
    """workflow_run("vzlusat1") -> the working directory of one full default run of that mission."""
    def run(mission: str) -> Path:
        if mission not in _RUNS:
            workdir = tmp_path_factory.mktemp(f"wf-{mission}")
            snakemake(workdir, missions=[mission])
            _RUNS[mission] = workdir
        return _RUNS[mission]
    return run


def family_settings(family: str, overrides: dict | None = None):
    """A family's settings from its config/<family>.yaml, through its model (never a copy)."""
    from levelpipe.family import get_family
    from levelpipe.settings import load_settings
    return load_settings(get_family(family).settings_model, REPO / "config" / f"{family}.yaml", overrides)


def run_family_step(family: str, step: str, inputs: dict, outputs: dict, wildcards: dict | None = None,
                    threads: int = 1, overrides: dict | None = None):
    """Run one step as its rule would (same config narrowing, same writer), without Snakemake."""
    from levelpipe.family import get_family
    from levelpipe.steps import Files, run_step
    fam = get_family(family)
    wildcards = dict(wildcards or {})
    cfg = fam.step_config(step, family_settings(family, overrides).plain(), wildcards.get(fam.granule))
    run_step(family, step, Files(inputs), Files(outputs), cfg, wildcards, threads)
    return next(iter(outputs.values()))
