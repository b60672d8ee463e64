"""THEMIS site-hour built from the real Gillam minute files: where the time of our full chain goes,
at 1 and 2 threads, side by side with pyucalgarysrs reading the same 60 files in the same run.

The hour is 60 minute files made from the two real minute files (20140310_0600/0601, 20 frames
each): real pixels and headers, only the minute of the header timestamps rewritten to
06:00..06:59 (and the file re-gzipped) so the hour is a consistent time series.

Ours, per round and thread count N (the step's ``threads``, as the L1 rule passes them):
  read+calibrate  levelpipe.asi.l1.l1(): inflate (ISA-L), header scan, gather, dark, per file in
                  N threads
  write L1        levelpipe.io.netcdf.write_netcdf through the L1 variables table (zlib level 1)
  map+project     levelpipe.asi.l2.l2(): L1 read back, skymap at 110 km, grid mapping, projection
  write L2        the L2 product
Theirs: pyucalgarysrs read_themis(n_parallel=N): reading only (no calibration, no product).
Every round runs theirs N=1, ours N=1, theirs N=2, ours N=2 back to back (so both see the same
machine load), then the rest of our chain once (it does not depend on N); medians of the rounds
are printed, wall and CPU time (process CPU plus that of finished child processes:
pyucalgarysrs reads in a process pool when N > 1).
Also printed: the import cost of one L1 job (fresh interpreter), the part of a short job that
is not reading.

Run: .venv/bin/python benchmarks/bench_asi_themis_hour.py [--rounds 5]
"""
from __future__ import annotations

import argparse
import gzip
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "asi"
sys.path.insert(0, str(REPO / "tests"))


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Timer:
    def __init__(self):
        self.wall, self.cpu = {}, {}

    def run(self, key, fn):
        w, c = time.perf_counter(), cpu()
        out = fn()
        self.wall.setdefault(key, []).append(time.perf_counter() - w)
        self.cpu.setdefault(key, []).append(cpu() - c)
        return out


def build_hour(tmp: Path) -> list[Path]:
    minutes = sorted(SHARED.glob("20140310_060[01]_gill_themis19_full.pgm.gz"))
    if len(minutes) != 2:
        sys.exit(f"needs the real THEMIS minute files in {SHARED}")
    hour_dir = tmp / "THEMIS/asi/stream0/2014/03/10/gill_themis19/ut06"
    hour_dir.mkdir(parents=True)
    real = [gzip.decompress(p.read_bytes()) for p in minutes]
    files = []
    for m in range(60):
        dst = hour_dir / f"20140310_06{m:02d}_gill_themis19_full.pgm.gz"
        data = real[m % 2].replace(f"2014-03-10 06:{m % 2:02d}:".encode(), f"2014-03-10 06:{m:02d}:".encode())
        dst.write_bytes(gzip.compress(data, compresslevel=6, mtime=0))
        files.append(dst)
    return files


def import_cost(rounds: int) -> tuple[float, float]:
    code = "import levelpipe.steps, levelpipe.asi.l1, levelpipe.io.netcdf, netCDF4"
    walls, cpus = [], []
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    import pyucalgarysrs
    from conftest import family_settings
    from levelpipe.asi.l1 import l1
    from levelpipe.asi.l2 import l2
    from levelpipe.asi.readers import _isal_zlib
    from levelpipe.io.netcdf import write_netcdf
    from levelpipe.io.variables import load_table

    cfg = family_settings("asi")
    sky_path = next((REPO / "resources" / "asi").rglob("themis_skymap_gill_*.sav"))
    srs = pyucalgarysrs.PyUCalgarySRS()
    timer = Timer()
    with tempfile.TemporaryDirectory(prefix="asi-themis-") as tmp:
        tmp = Path(tmp)
        files = build_hour(tmp)

        def read(n):
            return l1(files, instruments=cfg.instruments, calibration=cfg.calibration, reading=cfg.reading,
                      threads=n)

        def rest_of_chain(ds):
            # single-threaded whatever the step's threads (HDF5 compresses serially)
            timer.run("write L1", lambda: write_netcdf(ds, tmp / "l1.nc", title="bench", summary="bench",
                                                        mission="asi", level="L1", inputs=[], config={},
                                                        table=load_table("levelpipe.asi", "l1")))
            l2ds = timer.run("map+project", lambda: l2(tmp / "l1.nc", sky_path, settings=cfg.l2))
            timer.run("write L2", lambda: write_netcdf(l2ds, tmp / "l2.nc", title="bench", summary="bench",
                                                        mission="asi", level="L2", inputs=[], config={},
                                                        table=load_table("levelpipe.asi", "l2")))
            return l2ds["image"].shape

        def theirs(n):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return srs.data.readers.read_themis([str(f) for f in files], n_parallel=n, quiet=True)

        # short steps interleaved closely (their read and ours at 1 and 2 threads), then the
        # thread-independent rest of our chain, in every round
        for _ in range(args.rounds):
            for n in (1, 2):
                ref = timer.run(("pyucalgarysrs", n), lambda: theirs(n))
                ds = timer.run(("read+calibrate", n), lambda: read(n))
                assert ds.sizes["time"] == len(ref.timestamp) == 1200
                del ref
            l2_shape = rest_of_chain(ds)
            n_frames = ds.sizes["time"]
            del ds
        imp_wall, imp_cpu = import_cost(args.rounds)

    med = statistics.median
    load = os.getloadavg()
    print(f"THEMIS site-hour: {len(files)} real-minute files, {n_frames} frames of 256x256, L2 grid "
          f"{l2_shape[1]}x{l2_shape[2]}; gzip via {'ISA-L' if _isal_zlib else 'zlib'}; medians of "
          f"{args.rounds} interleaved rounds (wall / CPU seconds); load average {load[0]:.1f} on "
          f"{os.cpu_count()} cores (a second thread only helps when a core is free)")
    rest = ("write L1", "map+project", "write L2")
    rest_w, rest_c = sum(med(timer.wall[k]) for k in rest), sum(med(timer.cpu[k]) for k in rest)
    print("  rest of our chain (thread-independent): " + ", ".join(
        f"{k} {med(timer.wall[k]):.2f} / {med(timer.cpu[k]):.2f}" for k in rest))
    for n in (1, 2):
        t_w, t_c = med(timer.wall[("pyucalgarysrs", n)]), med(timer.cpu[("pyucalgarysrs", n)])
        r_w, r_c = med(timer.wall[("read+calibrate", n)]), med(timer.cpu[("read+calibrate", n)])
        print(f"  {n} thread(s): pyucalgarysrs read_themis(n_parallel={n}) {t_w:6.2f} / {t_c:6.2f} | "
              f"levelpipe read+calibrate {r_w:6.2f} / {r_c:6.2f} ({t_w / r_w:.2f}x their wall, "
              f"{t_c / r_c:.2f}x their CPU) | levelpipe full chain {r_w + rest_w:6.2f} / {r_c + rest_c:6.2f} "
              f"({(r_w + rest_w) / t_w:.1f}x their read)")
    s1, s2 = med(timer.wall[("read+calibrate", 1)]), med(timer.wall[("read+calibrate", 2)])
    print(f"  read+calibrate speed-up from 1 to 2 threads: {s1 / s2:.2f}x wall")
    print(f"  import of one L1 job (fresh interpreter, median of {args.rounds}): {imp_wall:.2f} s wall, "
          f"{imp_cpu:.2f} s CPU")


if __name__ == "__main__":
    main()
