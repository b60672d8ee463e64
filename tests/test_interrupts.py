"""kill -9 in the middle of a run: the README's run command (`make run`) then finishes it without
--unlock or --rerun-incomplete by hand, leaves no temporary file in results/, and gives products
identical to an uninterrupted run. Killed are the snakemake process alone (its jobs finish on
their own) and, separately, the whole process group (what an OOM kill of the session or a CI
time-out does). Below: the atomic writer's share of it, process by process."""
from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, RESOURCES
from levelpipe.io import atomic
from levelpipe.io.atomic import atomic_output, remove_stale_temps

MISSION = "vzlusat1"  # 14 jobs, a directory product, a model: a few minutes at most on 2 cores
ENV = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}  # as conftest.snakemake runs the reference


def _make_run_module():
    spec = importlib.util.spec_from_file_location("make_run", REPO / "scripts" / "make_run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- the atomic writer

def _temps(directory: Path) -> list[str]:
    """Hidden entries of `directory` and the temporary files of its products."""
    tdir = directory / atomic.TEMP_DIR
    return sorted([p.name for p in directory.iterdir() if p.name.startswith(".") and p != tdir]
                  + ([p.name for p in tdir.iterdir()] if tdir.is_dir() else []))


def _writer_inside_block(path: Path) -> subprocess.Popen:
    """A child that enters atomic_output(path), writes half a product and waits (to be killed)."""
    code = ("import sys, time\nfrom levelpipe.io.atomic import atomic_output\n"
            "with atomic_output(sys.argv[1]) as tmp:\n"
            "    tmp.write_bytes(b'half a product')\n"
            "    print(tmp, flush=True)\n"
            "    time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    tmp = proc.stdout.readline().strip()
    assert tmp and Path(tmp).exists()
    return proc


def test_a_sigkilled_writer_leaves_a_temp_file_the_next_writer_removes(tmp_path):
    product = tmp_path / "l1.nc"
    proc = _writer_inside_block(product)
    proc.kill()
    proc.wait()
    left = _temps(tmp_path)
    assert len(left) == 1 and left[0].startswith("l1.nc.tmp-")  # what SIGKILL leaves
    with atomic_output(product) as tmp:
        tmp.write_bytes(b"the product")
    assert product.read_bytes() == b"the product"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l1.nc"]  # the temporary directory gone too


def test_a_living_writer_keeps_its_temp_file(tmp_path):
    product = tmp_path / "labelled"
    proc = _writer_inside_block(product)
    try:
        assert remove_stale_temps(product) == []
        assert len(_temps(tmp_path)) == 1
    finally:
        proc.kill()
        proc.wait()
    assert len(remove_stale_temps(product)) == 1
    assert _temps(tmp_path) == []
    assert (tmp_path / atomic.TEMP_DIR).is_dir()  # emptied; removed by the next write


def test_recycled_pids_other_hosts_and_other_products(tmp_path):
    product = tmp_path / "a.nc"
    tdir = tmp_path / atomic.TEMP_DIR
    tdir.mkdir()
    mine = tdir / f"a.nc.tmp-{atomic._HOST}-{os.getpid()}-aaaaaaaa.nc"   # this process: alive
    recycled = tdir / f"a.nc.tmp-{atomic._HOST}-{os.getpid()}-bbbbbbbb.nc"
    elsewhere = tdir / "a.nc.tmp-othernode.cluster-4242-cccccccc.nc"
    other_product = tdir / f"a.nc.gz.tmp-{atomic._HOST}-999999999-dddddddd.gz"
    for p in (mine, recycled, elsewhere, other_product):
        p.write_bytes(b"x")
    # written a day before this process started: its PID was someone else's then
    day_ago = time.time() - 86400 - (time.time() - atomic._process_start(os.getpid()))
    os.utime(recycled, (day_ago, day_ago))
    removed = {p.name for p in remove_stale_temps(product)}
    assert removed == {recycled.name, elsewhere.name}
    assert mine.exists() and other_product.exists()


# ---------------------------------------------------------------- the workflow, killed

def _config(workdir: Path) -> Path:
    """The test config conftest.snakemake writes (same keys, same absolute sample inputs)."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["missions"] = [MISSION]
    cfg["inputs"] = {m: str(RESOURCES / m) for m in cfg["inputs"]}
    path = workdir / "test-config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _make_run_cmd(workdir: Path) -> list[str]:
    return ["make", "-s", "-C", str(REPO), "run", "CORES=2",
            f"RUN_ARGS=--directory {workdir} --configfile {workdir / 'test-config.yaml'}"]


def _start(workdir: Path) -> subprocess.Popen:
    """`make run` in its own process group (so that killing the group spares pytest)."""
    log = open(workdir / "killed-run.log", "w")
    return subprocess.Popen(_make_run_cmd(workdir), stdout=log, stderr=subprocess.STDOUT, env=ENV,
                            start_new_session=True)


def _finish(workdir: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(_make_run_cmd(workdir), capture_output=True, text=True, env=ENV, timeout=900)
    print("".join(f"{line}\n" for line in done.stdout.splitlines() if line.startswith("make run:")))
    return done


def _hidden(results: Path) -> list[str]:
    """Hidden files and directories below `results`, and everything in them."""
    return sorted(str(p.relative_to(results)) for p in results.rglob("*")
                  if any(part.startswith(".") for part in p.relative_to(results).parts)
                  and p.name != ".snakemake_timestamp")


def _writer_temp_files(results: Path) -> list[str]:
    # the temp file itself, not just its directory: the directory outlives a file just renamed
    return [name for name in _hidden(results) if f"{atomic.TEMP_DIR}/" in name and ".tmp-" in name]


def _products(results: Path) -> dict[str, bytes]:
    return {str(p.relative_to(results)): p.read_bytes() for p in sorted(results.rglob("*"))
            if p.is_file() and p.name != ".snakemake_timestamp"}


def _wait_for(condition, what: str, proc: subprocess.Popen, timeout: float = 300, poll: float = 0.05):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        found = condition()
        if found:
            return found
        if proc.poll() is not None:
            pytest.fail(f"the run ended (status {proc.returncode}) before {what}")
        time.sleep(poll)
    pytest.fail(f"no {what} within {timeout} s")


def _assert_finished_like_reference(workdir: Path, reference: Path, proc: subprocess.CompletedProcess):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    results = workdir / "results"
    assert _hidden(results) == []
    got, want = _products(results), _products(reference / "results")
    assert sorted(got) == sorted(want)
    differ = [name for name in want if got[name] != want[name]]
    assert differ == [], f"products differ from the uninterrupted run: {differ}"


@pytest.mark.integration
def test_kill_snakemake_alone_then_make_run_finishes(tmp_path, workflow_run):
    reference = workflow_run(MISSION)
    workdir = tmp_path / "run"
    _config(workdir)
    make_run = _make_run_module()
    run = _start(workdir)
    try:
        # mid-run: some products made, jobs running
        _wait_for(lambda: len(list((workdir / "results").rglob("*.nc"))) >= 2
                  and make_run.processes_in(workdir)["jobs"], "two products and a running job", run)
        main = make_run.processes_in(workdir)["main"]
        assert len(main) == 1
        # another `make run` now must not break the live run's locks
        said = []
        make_run.prepare(workdir, ["never-run"], say=said.append)
        assert said == [f"make run: another snakemake (pid {main[0]}) works in {workdir}; its locks are left alone"]
        assert any((workdir / ".snakemake" / "locks").iterdir())
        os.kill(main[0], signal.SIGKILL)
        run.wait(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert any((workdir / ".snakemake" / "locks").iterdir())  # what a plain rerun trips over
    done = _finish(workdir)
    assert "make run: removing the locks of an interrupted run" in done.stdout
    _assert_finished_like_reference(workdir, reference, done)


@pytest.mark.integration
def test_kill_the_whole_process_group_then_make_run_finishes(tmp_path, workflow_run):
    reference = workflow_run(MISSION)
    workdir = tmp_path / "run"
    _config(workdir)
    run = _start(workdir)
    results = workdir / "results"
    try:
        # kill while a product is being written, so that a writer's temp file is left behind
        _wait_for(lambda: results.is_dir() and _writer_temp_files(results), "temp file of a writer", run, poll=0.005)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    time.sleep(0.5)  # the killed processes' files as they left them
    assert _writer_temp_files(results)
    assert any((workdir / ".snakemake" / "locks").iterdir())
    done = _finish(workdir)
    assert "make run: removing the locks of an interrupted run" in done.stdout
    _assert_finished_like_reference(workdir, reference, done)
