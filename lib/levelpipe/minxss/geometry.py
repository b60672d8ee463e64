"""Orbit, Sun, SAA and eclipse for Level 0D (research notes §12).

* TLE files (``<NORAD id, 8 digits>.tle``, 2- or 3-line sets) are propagated with ``sgp4``
  (Vallado's SGP4, TEME output). A time between epochs e_i <= t < e_i+1 is propagated with both
  sets and the positions blended, r = (1 - f) r_i + f r_i+1, f = (t - e_i) / (e_i+1 - e_i)
  (spacecraft_pv.pro:218-232); after the last epoch the last pair is extrapolated (f > 1) for up
  to ``tle_extrapolation_days`` (calc_voronoi2.pro:18); before the first epoch: NaN.
* Decision: (Q6) geographic position by default from astropy (TEME -> ITRS, WGS-84 geodetic
  latitude and height); ``geometry: idl`` gives IDL's geocentric latitude, longitude from the
  IAU-1982 GMST and |r| - 6371 km (spacecraft_location.pro:88-125, minxss_make_level0d.pro:148).
  Unverified: IDL also applies a nutation matrix at the TLE epoch before this (the notes give no
  formula); the idl mode uses the TEME vector as it is.
* Sun: the Astronomical Almanac low-precision formula of sunvec.pro (§12), of-date RA/Dec and
  Earth-Sun distance; the tests compare it with the notes' worked values and astropy's TETE.
* SAA: IDL's ``inside`` (winding angle of the polygon edges) with the polygon from config.
* Geometric eclipse: cylindrical shadow, no penumbra (spacecraft_location.pro:162-188).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from levelpipe.io.files import read_limited
from levelpipe.minxss.errors import MinxssError

_DEG = np.pi / 180.0
_MAX_TLE_BYTES = 64 << 20


@dataclass(frozen=True)
class TleSet:
    epochs_jd: np.ndarray   # UTC Julian dates, ascending
    lines: tuple[tuple[str, str], ...]
    path: str


def read_tle(path: str | os.PathLike) -> TleSet:
    """A TLE history file: lines starting with '1 ' and '2 ' pair up (an optional name line
    before them is ignored, lib_sat/load_tle.pro); sorted by epoch; repeated epochs dropped.

    Unverified: the team's neighbour-consistency outlier filter (lib_sat/filter_tle.pro) is not
    described in the notes; sets are used as given, and a set sgp4 cannot parse is an error.
    """
    from sgp4.api import Satrec

    path = Path(path)
    text = read_limited(path, _MAX_TLE_BYTES, MinxssError, "TLE file").decode("ascii", errors="replace")
    lines = text.splitlines()
    pairs, epochs = [], []
    i = 0
    while i < len(lines):
        if lines[i].startswith("1 ") and i + 1 < len(lines) and lines[i + 1].startswith("2 "):
            l1, l2 = lines[i].rstrip(), lines[i + 1].rstrip()
            try:
                sat = Satrec.twoline2rv(l1, l2)
            except (ValueError, IndexError) as err:
                raise MinxssError(f"unreadable two-line element set ({err})", path, f"line {i + 1}") from None
            pairs.append((l1, l2))
            epochs.append(sat.jdsatepoch + sat.jdsatepochF)
            i += 2
        else:
            i += 1
    if not pairs:
        raise MinxssError("no two-line element set found", path)
    order = np.argsort(epochs, kind="stable")
    ep = np.asarray(epochs)[order]
    keep = np.r_[True, np.diff(ep) > 0]
    return TleSet(ep[keep], tuple(pairs[i] for i in order[keep]), str(path))


def _propagate(lines: tuple[str, str], jd: np.ndarray) -> np.ndarray:
    from sgp4.api import Satrec

    sat = Satrec.twoline2rv(*lines)
    whole = np.floor(jd - 0.5) + 0.5
    err, r, _ = sat.sgp4_array(whole, jd - whole)
    r = np.asarray(r, dtype=np.float64)
    r[np.asarray(err) != 0] = np.nan
    return r


def teme_positions(tle: TleSet, jd_utc: np.ndarray, extrapolation_days: float) -> np.ndarray:
    """TEME positions (km, shape (n, 3)) blended between neighbouring TLEs (module doc).

    sgp4 takes the time as a UTC Julian date here (the TLE epoch's own scale), as the team's
    code does."""
    jd = np.asarray(jd_utc, dtype=np.float64)
    out = np.full((jd.size, 3), np.nan)
    ep = tle.epochs_jd
    n = ep.size
    ok = (jd >= ep[0]) & (jd < ep[-1] + extrapolation_days)
    if n == 1:
        if ok.any():
            out[ok] = _propagate(tle.lines[0], jd[ok])
        return out
    i = np.clip(np.searchsorted(ep, jd, side="right") - 1, 0, n - 2)
    for k in np.unique(i[ok]):
        sel = ok & (i == k)
        f = ((jd[sel] - ep[k]) / (ep[k + 1] - ep[k]))[:, None]
        out[sel] = (1 - f) * _propagate(tle.lines[k], jd[sel]) + f * _propagate(tle.lines[k + 1], jd[sel])
    return out


def geographic(teme_km: np.ndarray, t_utc: np.ndarray, mode: str, earth_radius_idl_km: float):
    """(longitude deg east, latitude deg north, altitude km, ECEF km (n, 3)) of TEME positions."""
    import astropy.units as u
    from astropy.coordinates import ITRS, TEME, CartesianRepresentation
    from astropy.time import Time

    t = Time(np.asarray(t_utc, dtype="datetime64[ns]"), scale="utc")
    r = np.asarray(teme_km, dtype=np.float64)
    good = np.all(np.isfinite(r), axis=1)
    lon = np.full(r.shape[0], np.nan)
    lat, alt = lon.copy(), lon.copy()
    ecef = np.full(r.shape, np.nan)
    if not good.any():
        return lon, lat, alt, ecef
    teme = TEME(CartesianRepresentation(r[good].T * u.km), obstime=t[good])
    itrs = teme.transform_to(ITRS(obstime=t[good]))
    ecef[good] = itrs.cartesian.xyz.to_value(u.km).T
    if mode == "idl":
        gmst = t[good].sidereal_time("mean", "greenwich", model="IAU1982").to_value(u.deg)
        x, y, z = r[good].T
        lon[good] = (np.degrees(np.arctan2(y, x)) - gmst + 180.0) % 360.0 - 180.0
        lat[good] = np.degrees(np.arctan2(z, np.hypot(x, y)))
        alt[good] = np.linalg.norm(r[good], axis=1) - earth_radius_idl_km
    else:
        loc = itrs.earth_location
        lon[good] = (loc.lon.to_value(u.deg) + 180.0) % 360.0 - 180.0
        lat[good] = loc.lat.to_value(u.deg)
        alt[good] = loc.height.to_value(u.km)
    return lon, lat, alt, ecef


def sun_vector(jd_utc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """§12 sunvec.pro: (right ascension deg in [0, 360), declination deg, distance AU)."""
    n = np.asarray(jd_utc, dtype=np.float64) - 2451545.0
    L = 280.460 + 0.9856474 * n
    g = (357.528 + 0.9856003 * n) * _DEG
    lam = L + 1.915 * np.sin(g) + 0.020 * np.sin(2 * g)
    eps = (23.439 - 4e-7 * n) * _DEG
    f = 180.0 / np.pi
    t = np.tan(eps / 2) ** 2
    lam_r = lam * _DEG
    ra = lam - f * t * np.sin(2 * lam_r) + (f / 2) * t * t * np.sin(4 * lam_r)
    dec = np.degrees(np.arcsin(np.sin(eps) * np.sin(lam_r)))
    dist = 1.00014 - 0.01671 * np.cos(g) - 0.00014 * np.cos(2 * g)
    return ra % 360.0, dec, dist


def unit_vector(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def in_saa(lon_deg: np.ndarray, lat_deg: np.ndarray, poly_lon: list[float], poly_lat: list[float],
           threshold_rad: float) -> np.ndarray:
    """IDL ``inside`` (CG:utilities/inside.pro:100-122): the signed angles the polygon's edges
    subtend at the point, summed; inside when |sum| > threshold. NaN positions are outside."""
    x = np.asarray(lon_deg, dtype=np.float64)[:, None]
    y = np.asarray(lat_deg, dtype=np.float64)[:, None]
    px, py = np.asarray(poly_lon, dtype=np.float64), np.asarray(poly_lat, dtype=np.float64)
    ax, ay = px[None, :] - x, py[None, :] - y
    bx, by = np.roll(px, -1)[None, :] - x, np.roll(py, -1)[None, :] - y
    angle = np.arctan2(ax * by - ay * bx, ax * bx + ay * by).sum(axis=1)
    return np.isfinite(angle) & (np.abs(angle) > threshold_rad)


def in_shadow(r_km: np.ndarray, sun_unit: np.ndarray, radius_km: float) -> np.ndarray:
    """§12 cylindrical shadow: r . s <= 0 and |r - (r . s) s| < radius."""
    d = np.einsum("ij,ij->i", r_km, sun_unit)
    perp = np.linalg.norm(r_km - d[:, None] * sun_unit, axis=1)
    return np.isfinite(d) & (d <= 0) & (perp < radius_km)


def solar_zenith_and_tangent_height(r_km: np.ndarray, sun_unit: np.ndarray, lat_deg: np.ndarray,
                                    alt_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """§12 related L1 geometry (solar_zenith_altitude.pro): solar zenith angle (deg) at the
    spacecraft and the tangent-ray height: sin(pi - SZA) (R_local + alt) - R_local beyond 90 deg,
    the altitude otherwise; R_local the WGS-84 radius at the latitude."""
    from astropy.coordinates import EarthLocation
    import astropy.units as u

    up = r_km / np.linalg.norm(r_km, axis=1)[:, None]
    sza = np.degrees(np.arccos(np.clip(np.einsum("ij,ij->i", up, sun_unit), -1, 1)))
    surface = EarthLocation.from_geodetic(0.0 * u.deg, np.nan_to_num(lat_deg) * u.deg, 0.0 * u.km)
    r_local = np.linalg.norm(np.stack([c.to_value(u.km) for c in surface.geocentric]), axis=0)
    trh = np.where(sza > 90.0, np.sin(np.pi - np.radians(sza)) * (r_local + alt_km) - r_local, alt_km)
    return sza, np.where(np.isfinite(alt_km), trh, np.nan)
