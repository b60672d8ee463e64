"""REGO site-hour (512x512, 20 frames/min x 60 min, simulated in the real PGM format): peak memory
of our L1 (read + calibrate + write) and L2 (project + write) steps, each in a fresh process.

Target: < 2 GB peak resident memory per step. Run: .venv/bin/python benchmarks/bench_asi_rego_memory.py
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

STEP = r"""
import json, resource, sys, time, yaml
from levelpipe.asi.l1 import make_l1
from levelpipe.asi.l2 import make_l2
root, work, step = sys.argv[1:4]
cfg = yaml.safe_load(open(sys.argv[4]))
t = time.perf_counter()
if step == "l1":
    from pathlib import Path
    files = sorted(Path(root).rglob("*_rego-652_6300.pgm.gz"))
    make_l1(files, f"{work}/l1.nc", calibration_root=root, cfg=cfg, granule="rego_hour")
else:
    make_l2(f"{work}/l1.nc", f"{work}/l2.nc", skymap_root=root, cfg=cfg, granule="rego_hour")
print(json.dumps({"seconds": time.perf_counter() - t,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    from levelpipe.testing.asi_simulator import SITES, build_sample, simulate_site_hour
    with tempfile.TemporaryDirectory(prefix="asi-rego-") as tmp:
        root = Path(tmp) / "archive"
        build_sample(root)  # lens-model skymap + REGO calibration files
        for p in root.rglob("*.pgm.gz"):
            p.unlink()
        lat, lon = SITES["gill"]
        t = time.perf_counter()
        files = simulate_site_hour(root, instrument="rego", site="gill", device="rego-652", mode="6300",
                                   hour="2014-03-10T06:00", minutes=60, frames_per_minute=20, shape=(512, 512),
                                   site_latitude=lat, site_longitude=lon, horizon_radius_px=250.0, east_left=False,
                                   altitude_km=230.0, exposure_s=2.0, camera_serial="15652", arc_latitude=57.5,
                                   arc_width_deg=0.5, arc_counts=600.0, background_counts=60.0, dark_counts=1000.0,
                                   seed=7, compresslevel=1)
        print(f"simulated REGO site-hour: {len(files)} files x 20 frames of 512x512 "
              f"({sum(f.stat().st_size for f in files) / 1e6:.0f} MB gz) in {time.perf_counter() - t:.1f} s")
        for step in ("l1", "l2"):
            out = subprocess.run([sys.executable, "-c", STEP, str(root), tmp, step, str(REPO / "config" / "asi.yaml")],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            verdict = "OK" if r["peak_mb"] < 2048 else "OVER TARGET"
            print(f"REGO site-hour {step.upper()}: {r['seconds']:.1f} s, peak RSS {r['peak_mb']:.0f} MB "
                  f"(target < 2048 MB: {verdict})")


if __name__ == "__main__":
    main()
