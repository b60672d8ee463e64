"""A lens-model skymap generator, for sites with no skymap on hand (test and sample data only).

Writes skymaps of an ideal equidistant fisheye in the real UCalgary .sav layout, so the chain
can be exercised where no real skymap exists offline. Not a calibration: products made with it
say so (the skymap's generation_info names this module).
"""
from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

import numpy as np
from astropy import units as u

from levelpipe.testing.idlsav_writer import IdlStruct, write_sav

EARTH_RADIUS = 6371.2 * u.km  # Decision: spherical Earth (mean radius) for the lens model


def lens_model_geometry(shape: tuple[int, int], centre_px: tuple[float, float], horizon_radius_px: float,
                        east_left: bool = True, rotation_deg: float = 0.0):
    """Elevation/azimuth (deg) of pixel centres (row, col) and pixel corners (row+1, col+1) of an
    ideal equidistant fisheye in FILE orientation: row 0 is the northern edge; columns increase
    to the west when `east_left` (THEMIS, TREx) or to the east (REGO's mirrored optics).
    Zenith angle = 90 deg * distance / horizon radius; beyond the horizon circle -> NaN.
    `rotation_deg` turns the azimuth clockwise (camera not aligned with north).
    """
    h, w = shape
    y0, x0 = centre_px

    def el_az(rows, cols):
        dy = rows - y0
        dx = cols - x0
        rho = np.hypot(dx, dy)
        zen = 90.0 * rho / horizon_radius_px
        east = -dx if east_left else dx
        az = (np.degrees(np.arctan2(east, -dy)) + rotation_deg) % 360.0
        el = 90.0 - zen
        el = np.where(rho <= horizon_radius_px, el, np.nan)
        return el, np.where(np.isfinite(el), az, np.nan)

    rc, cc = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    rk, ck = np.meshgrid(np.arange(h + 1, dtype=float), np.arange(w + 1, dtype=float), indexing="ij")
    return el_az(rc, cc) + el_az(rk, ck)


def look_to_latlon(site_lat: float, site_lon: float, elevation_deg, azimuth_deg, altitude: u.Quantity):
    """Latitude/longitude (deg, lon 0..360) where a line of sight meets the shell at `altitude`
    above a spherical Earth."""
    re_ = EARTH_RADIUS.to_value(u.km)
    h = altitude.to_value(u.km)
    el = np.radians(elevation_deg)
    # central angle between the site and the intersection point
    phi = np.arccos(re_ * np.cos(el) / (re_ + h)) - el
    az = np.radians(azimuth_deg)
    la1 = np.radians(site_lat)
    la2 = np.arcsin(np.sin(la1) * np.cos(phi) + np.cos(la1) * np.sin(phi) * np.cos(az))
    lo2 = np.radians(site_lon) + np.arctan2(np.sin(az) * np.sin(phi) * np.cos(la1),
                                            np.cos(phi) - np.sin(la1) * np.sin(la2))
    return np.degrees(la2), np.degrees(lo2) % 360.0


def _groom(a: np.ndarray, decimals: int) -> np.ndarray:
    return np.round(a, decimals).astype(np.float32)


def write_lens_model_skymap(directory: str | os.PathLike, *, project: str, site: str, imager: str,
                            site_latitude: float, site_longitude: float, site_altitude_m: float,
                            shape: tuple[int, int], centre_px: tuple[float, float], horizon_radius_px: float,
                            east_left: bool, rotation_deg: float, altitudes_km: list[float],
                            valid_from: str, version: str, decimals: int = 3) -> Path:
    """Write a lens-model skymap in the real UCalgary .sav layout and return its path.

    Decision: an ideal equidistant fisheye on a spherical Earth; values rounded to `decimals`
    degrees (1e-3 deg ~ 100 m, far below the model's own error) so the bundled files stay
    small. It lets a site with no star-calibrated skymap be projected; it is not a calibration.
    """
    el, az, el_k, az_k = lens_model_geometry(shape, centre_px, horizon_radius_px, east_left, rotation_deg)
    lats, lons = [], []
    for h in altitudes_km:
        la, lo = look_to_latlon(site_latitude, site_longitude, el_k, az_k, h * u.km)
        lats.append(la)
        lons.append(lo)
    rows, cols = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    gen = IdlStruct("GENERATION_INFO", {
        "date_generated": _dt.datetime.strptime(valid_from, "%Y%m%d").strftime("%a %b %d %H:%M:%S %Y"),
        "author": "levelpipe lens model",
        "valid_interval_start": valid_from + "00",
        "valid_interval_stop": "+",
        "date_time_used": valid_from + "_UT00",
        "data_loc": "none (lens model, no star calibration)",
        "code_used": "levelpipe.testing.asi_lens_model.write_lens_model_skymap",
        "optical_projection": np.array([[0.0, 90.0 / horizon_radius_px, 0, 0, 0, 0, 0, 0, 0], [1.0, 0, 0, 0, 0, 0, 0, 0, 0]]),
        "optical_orientation": np.array([rotation_deg, 0.0, 0.0]),
        "ccd_center": np.array([centre_px[1], centre_px[0]], dtype=float),
        "img_flip": np.array([0, 0], dtype=np.uint8),
        "pixel_aspect_ratio": 1.0,
        "bytscl_values": np.array([-1, -1], dtype=np.int16),
    })
    sky = IdlStruct("SKYMAP", {
        "generation_info": gen,
        "site_uid": site, "imager_uid": imager, "project_uid": project,
        "imager_unix_time": np.int32(0),
        "site_map_latitude": np.float32(site_latitude),
        "site_map_longitude": np.float32(site_longitude % 360.0),
        "site_map_altitude": np.float32(site_altitude_m),
        "full_row": rows.astype(np.uint16), "full_column": cols.astype(np.uint16),
        "full_ignore": (~np.isfinite(el)).astype(np.uint8),
        "full_elevation": _groom(el, decimals), "full_azimuth": _groom(az, decimals),
        "full_map_altitude": (np.asarray(altitudes_km, dtype=np.float32) * 1000.0).astype(np.float32),
        "full_map_latitude": _groom(np.stack(lats), decimals),
        "full_map_longitude": _groom(np.stack(lons), decimals),
    })
    name = f"{project}_skymap_{site}_{valid_from}-+_v{version}.sav"
    out = Path(directory) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    write_sav(out, {"skymap": sky}, date=gen["date_generated"])
    return out
