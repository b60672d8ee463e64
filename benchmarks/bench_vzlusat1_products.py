"""VZLUSAT-1 products speed: world maps (kernel field + PNG), one core.

Maps: N synthetic frames on polar-orbit tracks -> interpolated 1-degree field + PNG, for several N.
(The HTML frame browser has its own benchmark: bench_vzlusat1_browser.py.)
Run:  python benchmarks/bench_vzlusat1_products.py
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))

from levelpipe.plotting.maps import kernel_field, world_map  # noqa: E402

INTERPOLATION = {"method": "gaussian_kernel", "length_scale_km": 500.0, "max_distance_km": 1500.0,
                 "grid_step_deg": 1.0}


def orbit(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    phase = rng.uniform(0, 2 * np.pi, n)
    node = rng.uniform(-180, 180, n)
    inc = np.radians(97.5)
    lat = np.degrees(np.arcsin(np.sin(inc) * np.sin(phase)))
    lon = (np.degrees(np.arctan2(np.cos(inc) * np.sin(phase), np.cos(phase))) + node + 180) % 360 - 180
    return lon, lat


def bench_maps(tmp: Path) -> None:
    rng = np.random.default_rng(1)
    for n in (1_000, 10_000, 50_000):
        lon, lat = orbit(n, rng)
        val = np.exp(rng.normal(0, 1, n))
        t0 = time.perf_counter()
        kernel_field(lon, lat, val, length_scale_km=500, max_distance_km=1500, grid_step_deg=1.0)
        t1 = time.perf_counter()
        world_map(lon, lat, val, out_png=tmp / f"map_{n}.png", title="bench", units="uGy min-1", log_scale=True,
                  interpolation=INTERPOLATION)
        t2 = time.perf_counter()
        print(f"maps: {n:6d} frames: kernel field (1 deg grid) {t1 - t0:6.2f} s, whole map PNG {t2 - t1:6.2f} s")


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        bench_maps(Path(d))


if __name__ == "__main__":
    main()
