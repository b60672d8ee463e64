"""VZLUSAT-1 products speed: world maps (kernel field + PNG) and the HTML frame browser, one core.

Maps: N synthetic frames on polar-orbit tracks -> interpolated 1-degree field + PNG, for several N.
Browser: a synthetic folder (L0 + L1 netCDF, random hit pixels, one-pixel clusters of random
class) -> self-contained HTML; prints seconds, frames/s and the page size per hit pixel.
Run:  python benchmarks/bench_vzlusat1_products.py
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))

from levelpipe.plotting.maps import kernel_field, world_map  # noqa: E402
from levelpipe.timepix.browser import write_browser  # noqa: E402
from levelpipe.timepix.classes import CLASS_NAMES  # noqa: E402

INTERPOLATION = {"method": "gaussian_kernel", "length_scale_km": 500.0, "max_distance_km": 1500.0,
                 "grid_step_deg": 1.0}
BROWSER = {"batch_sizes": [1, 2, 5, 10, 20, 50], "default_batch_size": 1, "colour_scale": "log",
           "colormap": "viridis", "pixel_scale": 3, "background": "#000000"}
BROWSER_FRAMES = 300
PIXELS_PER_FRAME = 4000


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


def synthetic_folder(tmp: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(2)
    n = BROWSER_FRAMES
    energy = np.zeros((n, 256, 256), np.float32)
    rows, cols, frames = [], [], []
    for i in range(n):
        flat = rng.choice(65536, PIXELS_PER_FRAME, replace=False)
        flat.sort()
        energy[i].flat[flat] = rng.uniform(3, 300, flat.size)
        rows.append(flat // 256), cols.append(flat % 256), frames.append(np.full(flat.size, i + 1))
    rows, cols, frames = map(np.concatenate, (rows, cols, frames))
    classes = rng.integers(1, 10, rows.size).astype(np.int8)
    counts = np.zeros((n, 9), np.int32)
    np.add.at(counts, (frames - 1, classes - 1), 1)
    fr = np.arange(1, n + 1, dtype=np.int32)
    time_ = np.datetime64("2018-01-01", "ns") + np.arange(n) * np.timedelta64(60, "s")
    l0 = xr.Dataset({"energy": (("frame", "row", "col"), energy, {"units": "keV"}),
                     "frame_flags": ("frame", np.zeros(n, np.uint8), {"flag_masks": np.array([1, 2, 4, 8, 16], np.uint8),
                                     "flag_meanings": "no_metadata corrupt non_energy_mode rebuilt_from_clusters "
                                                      "metadata_from_info_table"}),
                     "measurement_mode": ("frame", np.ones(n, np.int8), {"flag_values": np.array([0, 1, 2, 3], np.int8),
                                          "flag_meanings": "unknown tot_energy mpx_counting toa_time"}),
                     "exposure": ("frame", np.full(n, 60.0), {"units": "s"})},
                    coords={"frame": fr, "time": ("frame", time_), "row": np.arange(256), "col": np.arange(256)})
    l1 = xr.Dataset({"cluster_frame": ("cluster", frames.astype(np.int32)),
                     "cluster_class": ("cluster", classes),
                     "cluster_pixel_start": ("cluster", np.arange(rows.size, dtype=np.int64)),
                     "cluster_pixel_count": ("cluster", np.ones(rows.size, np.int32)),
                     "pixel_row": ("pixel", rows.astype(np.int16)), "pixel_col": ("pixel", cols.astype(np.int16)),
                     "class_counts": (("frame", "class"), counts)},
                    coords={"frame": fr, "class": np.arange(1, 10),
                            "class_name": ("class", [CLASS_NAMES[c] for c in range(1, 10)])})
    l0_path, l1_path = tmp / "l0.nc", tmp / "l1.nc"
    l0.to_netcdf(l0_path, encoding={"energy": {"zlib": True, "complevel": 1}})
    l1.to_netcdf(l1_path)
    return l0_path, l1_path


def bench_browser(tmp: Path) -> None:
    l0, l1 = synthetic_folder(tmp)
    out = tmp / "page.html"
    t0 = time.perf_counter()
    write_browser(str(l0), str(l1), str(out), BROWSER)
    dt = time.perf_counter() - t0
    size = out.stat().st_size
    hits = BROWSER_FRAMES * PIXELS_PER_FRAME
    print(f"browser: {BROWSER_FRAMES} frames x {PIXELS_PER_FRAME} hit pixels: {dt:.2f} s "
          f"({BROWSER_FRAMES / dt:.0f} frames/s), page {size / 1e6:.1f} MB = {size / hits:.1f} bytes per hit pixel")
    chromium = shutil.which("chromium")
    if not chromium:
        print("browser: page load not timed (no chromium)")
        return
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp / 'profile'}", "--dump-dom", out.as_uri() + "#batch=50"]
    t0 = time.perf_counter()
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=300).stdout
    dt = time.perf_counter() - t0
    ready = 'data-state="ready"' in dom
    print(f"browser: headless Chromium load + decode + render of a 50-frame sum: {dt:.2f} s (ready: {ready})")


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        bench_maps(Path(d))
        bench_browser(Path(d))


if __name__ == "__main__":
    main()
