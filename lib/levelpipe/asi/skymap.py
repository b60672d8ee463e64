"""UCalgary skymaps: reading (IDL .sav), best-skymap selection, preparation at an altitude.
(The lens-model generator for sites with no skymap on hand is levelpipe.testing.asi_lens_model.)

A skymap file ``<project>_skymap_<site>_<YYYYMMDD>-<YYYYMMDD|+>_v<version>.sav`` holds one IDL
structure ``skymap`` with FULL_ELEVATION/FULL_AZIMUTH (row, col) in degrees for pixel centres and
FULL_MAP_LATITUDE/LONGITUDE (altitude, row+1, col+1) in degrees (longitude 0..360 east) for
pixel corners at FULL_MAP_ALTITUDE (metres), in file (raw image) orientation.
"""
from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
from astropy import units as u

from levelpipe.asi.readers import ORIENTATION
from levelpipe.asi.readers import one_line
from levelpipe.errors import AsiError
from levelpipe.io.idlsav import read_sav

_NAME = re.compile(r"^([a-z]+)_skymap_([a-z0-9]+)_(\d{8})-(\d{8}|\+)_v([0-9A-Za-z]+)\.sav$")

# Skymap file project prefix -> instrument family (keys of readers.ORIENTATION).
SKYMAP_PROJECT = {"themis": "themis", "rego": "rego", "nir": "trex_nir", "blue": "trex_blue",
                  "rgb": "trex_rgb_h5"}
INSTRUMENT_SKYMAP_PREFIX = {"themis": "themis", "rego": "rego", "trex_nir": "nir", "trex_blue": "blue",
                            "trex_rgb": "rgb"}


@dataclass(frozen=True)
class SkymapName:
    path: Path
    project: str
    site: str
    valid_from: _dt.date
    valid_to: _dt.date | None   # None: open-ended ("+")
    version: str

    @property
    def version_rank(self) -> int:
        """Decision: numbered versions compare numerically (v02 > v01); the legacy unnumbered
        'vXX' files rank below every numbered version (they were superseded by numbered ones)."""
        return int(self.version) if self.version.isdigit() else -1

    def valid_on(self, day: _dt.date) -> bool:
        # Decision: the stop date in the file name is inclusive (the file covers that whole day).
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def parse_skymap_name(path: str | os.PathLike) -> SkymapName:
    path = Path(path)
    m = _NAME.match(path.name)
    if not m:
        raise AsiError("not a UCalgary skymap file name", path)
    project, site, start, stop, version = m.groups()
    to_date = lambda s: _dt.datetime.strptime(s, "%Y%m%d").date()  # noqa: E731
    return SkymapName(path, project, site, to_date(start), None if stop == "+" else to_date(stop), version)


def _as_date(day) -> _dt.date:
    if isinstance(day, np.datetime64):
        return day.astype("datetime64[D]").item()
    if isinstance(day, _dt.datetime):
        return day.date()
    return day


def select_best(names: Iterable, day) -> "SkymapName":
    """Of parsed skymap/calibration names valid on `day`, the best one.

    Decision: the one with the latest valid-from date (the most recent re-calibration of that
    imager); among equal valid-from dates the highest version (see `version_rank`); among
    equal versions, the lexically last path (deterministic).
    """
    day = _as_date(day)
    valid = [n for n in names if n.valid_on(day)]
    if not valid:
        return None
    return max(valid, key=lambda n: (n.valid_from, n.version_rank, str(n.path)))


@dataclass
class Skymap:
    """A skymap in the readers' image orientation (see readers.ORIENTATION).

    elevation/azimuth: (row, col) degrees at pixel centres; map_latitude/map_longitude:
    (altitude, row+1, col+1) degrees north / east (-180..360 as stored) at pixel corners;
    map_altitude: astropy Quantity (altitude,) km.
    """
    path: Path
    project: str
    site: str
    imager: str
    site_latitude: float
    site_longitude: float
    site_altitude_m: float
    elevation: np.ndarray
    azimuth: np.ndarray
    map_altitude: u.Quantity
    map_latitude: np.ndarray
    map_longitude: np.ndarray
    version: str
    generation: dict = field(default_factory=dict)


def _text(v) -> str:
    return v.decode("latin1") if isinstance(v, bytes) else str(v)


def read_skymap(path: str | os.PathLike) -> Skymap:
    """Read a skymap .sav (through levelpipe.io.idlsav) and apply the image orientation of its
    instrument; every field is checked for its type and shape (AsiError otherwise)."""
    path = Path(path)
    name = parse_skymap_name(path)
    if name.project not in SKYMAP_PROJECT:
        raise AsiError(f"unknown skymap project {name.project!r} (orientation unknown)", path)
    data = read_sav(path, error=AsiError)
    try:
        raw = data["skymap"][0]
        el = np.asarray(raw.full_elevation, dtype=np.float64)
        az = np.asarray(raw.full_azimuth, dtype=np.float64)
        lat = np.asarray(raw.full_map_latitude, dtype=np.float64)
        lon = np.asarray(raw.full_map_longitude, dtype=np.float64)
        alt = np.asarray(raw.full_map_altitude, dtype=np.float64).reshape(-1)
        site = (_text(raw.site_uid), _text(raw.imager_uid), float(raw.site_map_latitude),
                float(raw.site_map_longitude), float(raw.site_map_altitude))
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
        raise AsiError(f"IDL save file holds no readable skymap structure ({type(err).__name__}: {one_line(err)})",
                       path) from None
    if el.ndim != 2 or az.shape != el.shape or lat.ndim != 3 or lon.shape != lat.shape \
            or lat.shape[1:] != (el.shape[0] + 1, el.shape[1] + 1) or alt.shape != lat.shape[:1] or not alt.size:
        raise AsiError(f"skymap arrays of inconsistent shapes: elevation {el.shape}, azimuth {az.shape}, "
                       f"latitude {lat.shape}, longitude {lon.shape}, altitudes {alt.shape}", path)
    flip_rows, flip_cols = ORIENTATION[SKYMAP_PROJECT[name.project]]
    if flip_rows:
        el, az, lat, lon = el[::-1], az[::-1], lat[:, ::-1], lon[:, ::-1]
    if flip_cols:
        el, az, lat, lon = el[:, ::-1], az[:, ::-1], lat[:, :, ::-1], lon[:, :, ::-1]
    gen = {}
    try:
        g = raw.generation_info[0]
        gen = {k.lower(): _text(g[k]) for k in g.dtype.names if isinstance(g[k], bytes)}
    except (AttributeError, IndexError, TypeError, KeyError, ValueError):
        pass
    return Skymap(path, name.project, site[0], site[1], site[2], site[3], site[4],
                  np.ascontiguousarray(el), np.ascontiguousarray(az), (alt * u.m).to(u.km),
                  np.ascontiguousarray(lat), np.ascontiguousarray(lon), name.version, gen)


@dataclass
class PreparedSkymap:
    """A skymap evaluated at one altitude: pixel corners and centres, elevation, usable mask.

    Longitudes are degrees east in -180..180; latitudes degrees north; `usable` is True where
    the pixel centre's elevation is >= the minimum elevation and its corners are defined.
    """
    altitude: u.Quantity
    min_elevation: u.Quantity
    corner_latitude: np.ndarray   # (row+1, col+1)
    corner_longitude: np.ndarray
    latitude: np.ndarray          # (row, col) pixel centres
    longitude: np.ndarray
    elevation: np.ndarray
    usable: np.ndarray


def _wrap180(lon):
    return (np.asarray(lon) + 180.0) % 360.0 - 180.0


def interpolate_altitude(sky: Skymap, altitude: u.Quantity) -> tuple[np.ndarray, np.ndarray]:
    """Corner latitude/longitude at `altitude`, linear in altitude between the two skymap
    altitudes that bracket it.

    Decision: linear interpolation in altitude (as UCalgary/pyaurorax do between 90/110/150 km
    or 230 km for REGO) of latitude and of longitude unwrapped around the site longitude (so a
    field of view across the 0/360 or +-180 meridian interpolates correctly); no
    extrapolation: an altitude outside the skymap's range is an error.
    """
    alts = sky.map_altitude.to_value(u.km)
    h = float(altitude.to_value(u.km))
    order = np.argsort(alts)
    alts = alts[order]
    if not np.all(np.isfinite(alts)) or np.any(np.diff(alts) <= 0):
        raise AsiError(f"skymap altitudes {alts.tolist()} km are not distinct finite values", sky.path)
    if not (alts[0] - 1e-9 <= h <= alts[-1] + 1e-9):
        raise AsiError(f"altitude {h} km outside the skymap altitudes {alts.tolist()} km (no extrapolation)",
                       sky.path)
    lat = sky.map_latitude[order]
    dlon = _wrap180(sky.map_longitude[order] - sky.site_longitude)
    if len(alts) == 1:
        return lat[0].copy(), _wrap180(dlon[0] + sky.site_longitude)
    k = int(np.clip(np.searchsorted(alts, h) - 1, 0, len(alts) - 2))
    w = (h - alts[k]) / (alts[k + 1] - alts[k])
    lat_h = (1.0 - w) * lat[k] + w * lat[k + 1]
    dlon_h = (1.0 - w) * dlon[k] + w * dlon[k + 1]
    return lat_h, _wrap180(dlon_h + sky.site_longitude)


def prepare_skymap(sky: Skymap, altitude: u.Quantity, min_elevation: u.Quantity) -> PreparedSkymap:
    """Evaluate a skymap at `altitude` (vectorised over all pixels) and mark usable pixels."""
    clat, clon = interpolate_altitude(sky, altitude)
    # centre = mean of the four corners, longitude averaged relative to the site (no wrap jumps)
    dl = _wrap180(clon - sky.site_longitude)
    lat = 0.25 * (clat[:-1, :-1] + clat[:-1, 1:] + clat[1:, :-1] + clat[1:, 1:])
    lon = _wrap180(0.25 * (dl[:-1, :-1] + dl[:-1, 1:] + dl[1:, :-1] + dl[1:, 1:]) + sky.site_longitude)
    emin = float(min_elevation.to_value(u.deg))
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(lat) & np.isfinite(lon) & np.isfinite(sky.elevation) & (sky.elevation >= emin)
    return PreparedSkymap(altitude.to(u.km), min_elevation.to(u.deg), clat, clon, lat, lon, sky.elevation, usable)


def pixel_polygons(prep: PreparedSkymap) -> tuple[np.ndarray, np.ndarray]:
    """Closed 5-vertex corner polygons of every pixel, (5, row*col) lat and lon, 0 where the
    pixel has no elevation (the layout pyaurorax's mosaic preparation produces)."""
    la, lo = prep.corner_latitude, prep.corner_longitude
    ring_lat = np.stack([la[:-1, :-1], la[:-1, 1:], la[1:, 1:], la[1:, :-1], la[:-1, :-1]])
    ring_lon = np.stack([lo[:-1, :-1], lo[:-1, 1:], lo[1:, 1:], lo[1:, :-1], lo[:-1, :-1]])
    bad = ~np.isfinite(prep.elevation) | np.isnan(ring_lat).any(axis=0) | np.isnan(ring_lon).any(axis=0)
    ring_lat[:, bad] = 0.0
    ring_lon[:, bad] = 0.0
    n = prep.elevation.size
    return ring_lat.reshape(5, n), ring_lon.reshape(5, n)
