"""What `make run` runs: Snakemake, resuming a run that was killed without manual steps.

usage: python scripts/make_run.py SNAKEMAKE [ARGS...]

A run killed hard (kill -9, the OOM killer, a lost session, a CI time-out) leaves Snakemake's
locks (.snakemake/locks) and its incomplete markers; the next run then stops with "Directory
cannot be locked", and after `--unlock` with "IncompleteFilesException", until it is given
`--rerun-incomplete`. Both are safe exactly when nothing else works in the directory any more,
so before starting Snakemake this looks at the processes of this machine whose working
directory is the run's:

- another snakemake runs there: its locks are left alone; Snakemake itself then refuses to
  start if the two runs would write the same files;
- only job processes of a killed snakemake are left (the main process was killed alone, its
  jobs finish on their own): wait until they end, so that no two writers share a product;
- nothing: remove the stale locks (`snakemake --unlock`, only if there are locks).

Then Snakemake runs (this process becomes it) with `--rerun-incomplete`, so the jobs the killed
run left unfinished are made again. A half-written product is never used: products are
renamed into place only when complete (levelpipe.io.atomic), and the temporary files of killed
writers are removed by the next writer of the same product.

Processes on other machines (a cluster's nodes) are not visible here: after a crashed
`--profile profiles/slurm` run, cancel its jobs first (README, "On a cluster").
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def _arg(argv: list[str], *names: str) -> str | None:
    for i, a in enumerate(argv):
        for n in names:
            if a == n and i + 1 < len(argv):
                return argv[i + 1]
            if n.startswith("--") and a.startswith(n + "="):
                return a.split("=", 1)[1]
    return None


def _ancestors() -> set[int]:
    out, pid = set(), os.getpid()
    while pid > 1:
        out.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rpartition(")")[2].split()[1])
    return out


def _is_snakemake_main(argv: list[str]) -> bool:
    if any(Path(a).name == "snakemake" for a in argv[:2]):
        return True
    return any(argv[i] == "-m" and argv[i + 1] == "snakemake" for i in range(len(argv) - 1))


def processes_in(workdir: Path) -> dict[str, list[int]]:
    """PIDs of this machine's Snakemake processes working in `workdir`: ``main`` (snakemake
    itself) and ``jobs`` (the scripts it runs, .snakemake/scripts/*), this process's own
    ancestors excepted."""
    found: dict[str, list[int]] = {"main": [], "jobs": []}
    own = _ancestors()
    target = os.path.realpath(workdir)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in own:
            continue
        try:
            if os.readlink(f"/proc/{entry.name}/cwd") != target:
                continue
            argv = Path(f"/proc/{entry.name}/cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or another user's process
            continue
        argv = [a.decode(errors="replace") for a in argv if a]
        if any("/.snakemake/scripts/" in a for a in argv):
            found["jobs"].append(int(entry.name))
        elif _is_snakemake_main(argv):
            found["main"].append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    # a zombie (killed, not yet reaped by its parent) runs no code any more
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def prepare(workdir: Path, snakemake: list[str], say=print, poll_s: float = 1.0) -> None:
    """Make `workdir` ready for a run after a crash (see the module docstring)."""
    locks = workdir / ".snakemake" / "locks"
    procs = processes_in(workdir)
    if procs["main"]:
        say(f"make run: another snakemake (pid {', '.join(map(str, procs['main']))}) works in "
            f"{workdir}; its locks are left alone")
        return
    jobs = [p for p in procs["jobs"] if _alive(p)]
    if jobs:
        say(f"make run: waiting for {len(jobs)} job process(es) of an interrupted run to end "
            f"(pid {', '.join(map(str, jobs))})")
        while jobs:
            time.sleep(poll_s)
            jobs = [p for p in jobs if _alive(p)]
    if locks.is_dir() and any(locks.iterdir()):
        say(f"make run: removing the locks of an interrupted run in {workdir}")
        subprocess.run([*snakemake, "--unlock", "--quiet", "all"], check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit(__doc__.split("\n\n")[1])
    workdir = Path(_arg(argv, "--directory", "-d") or ".")
    prepare(workdir, argv)
    os.execvp(argv[0], [*argv, "--rerun-incomplete"])


if __name__ == "__main__":
    main(sys.argv[1:])
