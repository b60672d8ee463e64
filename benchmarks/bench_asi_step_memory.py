"""Peak memory (and time) of every ASI step on real-size site-hours, each step in a fresh process
as its rule runs it (levelpipe.steps.run_step, the step's own writer and threads), for the
figures in levelpipe.asi.family (Step mem_mb / mem_mb_per_input_mb).

Site-hours: THEMIS Gillam, 60 minute files made from the two real minute files (1200 frames of
256x256, headers' minutes rewritten), and REGO Gillam, 60 simulated minute files in the real
PGM format (1200 frames of 512x512, the largest imager). The mosaic combines the THEMIS hour
with a copy of it under another site name.

Run: .venv/bin/python benchmarks/bench_asi_step_memory.py
"""
from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "asi"

STEP = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from conftest import run_family_step
step, inputs, outputs, wildcards, threads = sys.argv[2], *map(json.loads, sys.argv[3:6]), int(sys.argv[6])
t, c = time.perf_counter(), time.process_time()
run_family_step("asi", step, inputs, outputs, wildcards, threads=threads)
print(json.dumps({"seconds": time.perf_counter() - t, "cpu": time.process_time() - c,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(step, inputs, outputs, wildcards, threads=1):
    out = subprocess.run([sys.executable, "-c", STEP, str(REPO / "tests"), step, json.dumps(inputs),
                          json.dumps(outputs), json.dumps(wildcards), str(threads)],
                         capture_output=True, text=True)
    if out.returncode:
        sys.exit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def size_mb(paths) -> float:
    return sum(Path(p).stat().st_size for p in paths) / 2 ** 20


def themis_hour(root: Path, site: str = "gill") -> list[str]:
    minutes = sorted(SHARED.glob("20140310_060[01]_gill_themis19_full.pgm.gz"))
    if len(minutes) != 2:
        sys.exit(f"needs the real THEMIS minute files in {SHARED}")
    real = [gzip.decompress(p.read_bytes()) for p in minutes]
    d = root / f"THEMIS/asi/stream0/2014/03/10/{site}_themis19/ut06"
    d.mkdir(parents=True)
    files = []
    for m in range(60):
        data = real[m % 2].replace(f"2014-03-10 06:{m % 2:02d}:".encode(), f"2014-03-10 06:{m:02d}:".encode())
        f = d / f"20140310_06{m:02d}_{site}_themis19_full.pgm.gz"
        f.write_bytes(gzip.compress(data, 6, mtime=0))
        files.append(str(f))
    return files


def main() -> None:
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", default="l1,l2,keogram,movie,quicklook,mosaic",
                    help="steps to measure (L1, and L2 for keogram/mosaic, always run: they make the inputs)")
    steps = set(ap.parse_args().steps.split(","))
    from levelpipe.testing.asi_simulator import SITES, build_sample, simulate_site_hour
    with tempfile.TemporaryDirectory(prefix="asi-mem-") as tmp:
        tmp = Path(tmp)
        root = tmp / "archive"
        build_sample(root)  # lens-model skymaps and REGO calibration files
        for p in root.rglob("*.pgm.gz"):
            p.unlink()
        t = time.perf_counter()
        hours = {"themis_gill_themis19_20140310_ut06": themis_hour(root)}
        lat, lon = SITES["gill"]
        hours["rego_gill_rego-652_20140310_ut06"] = [str(p) for p in simulate_site_hour(
            root, instrument="rego", site="gill", device="rego-652", mode="6300", hour="2014-03-10T06:00",
            minutes=60, frames_per_minute=20, shape=(512, 512), site_latitude=lat, site_longitude=lon,
            horizon_radius_px=250.0, east_left=False, altitude_km=230.0, exposure_s=2.0, camera_serial="15652",
            arc_latitude=57.5, arc_width_deg=0.5, arc_counts=600.0, background_counts=60.0, dark_counts=1000.0,
            seed=7, compresslevel=1)]
        print(f"site-hours built in {time.perf_counter() - t:.0f} s")
        sky = {g: str(next(root.rglob(f"{g.split('_')[0]}_skymap_gill_*.sav"))) for g in hours}
        cal = root / "GO-Canada/REGO/calibration"
        rows = []
        for g, files in hours.items():
            wc = {"site_hour": g}
            raw = {"raw": files}
            if g.startswith("rego"):
                raw.update(flatfield=str(next(cal.glob("REGO_flatfield_*"))), rayleighs=str(next(cal.glob("REGO_Rayleighs_*"))))
            l1, l2 = str(tmp / f"{g}.l1.nc"), str(tmp / f"{g}.l2.nc")
            for threads in ((1, 2) if "l1" in steps else (2,)):
                rows.append((g, f"l1 ({threads} thr)", size_mb(files), run("l1", raw, {"out": l1}, wc, threads)))
            if steps & {"l2", "keogram", "mosaic"}:
                rows.append((g, "l2", size_mb([l1, sky[g]]), run("l2", {"l1": l1, "skymap": sky[g]}, {"out": l2}, wc)))
            if "keogram" in steps:
                rows.append((g, "keogram", size_mb([l2]), run("keogram", {"l2": l2}, {"nc": str(tmp / "k.nc"),
                                                                                      "png": str(tmp / "k.png")}, wc)))
            if "movie" in steps:
                rows.append((g, "movie", size_mb([l1]), run("movie", {"l1": l1}, {"out": str(tmp / "m.mp4")}, wc)))
            if "quicklook" in steps:
                rows.append((g, "quicklook", size_mb([l1]), run("quicklook", {"l1": l1}, {"out": str(tmp / "q.png")},
                                                                wc)))
        if "mosaic" in steps:
            l2_gill = str(tmp / "themis_gill_themis19_20140310_ut06.l2.nc")
            l2_copy = str(tmp / "themis_tpas_themis19_20140310_ut06.l2.nc")
            shutil.copyfile(l2_gill, l2_copy)
            rows.append(("themis mosaic of 2 site-hours", "mosaic", size_mb([l2_gill, l2_copy]),
                         run("mosaic", {"l2": [l2_gill, l2_copy]}, {"nc": str(tmp / "mo.nc"),
                                                                     "png": str(tmp / "mo.png")},
                             {"asi_mosaic": "themis_20140310T060010"})))
    print(f"{'granule':38s} {'step':12s} {'input MB':>9s} {'peak RSS MB':>12s} {'wall s':>7s} {'CPU s':>7s}")
    for g, step, mb, r in rows:
        print(f"{g:38s} {step:12s} {mb:9.1f} {r['peak_mb']:12.0f} {r['seconds']:7.1f} {r['cpu']:7.1f}")


if __name__ == "__main__":
    main()
