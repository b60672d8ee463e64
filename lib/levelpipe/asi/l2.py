"""Level 2: L1 images projected onto a geographic latitude/longitude grid at an emission altitude.

The skymap (best for site, imager family and date) is evaluated at the configured altitude
(linear between its altitudes), pixels below the minimum elevation are dropped, and every grid
cell takes the value of the image pixel whose footprint contains the cell centre.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import xarray as xr
from astropy import units as u
from scipy.spatial import cKDTree

from levelpipe.asi.skymap import PreparedSkymap, best_skymap, prepare_skymap, read_skymap
from levelpipe.errors import AsiError
from levelpipe.io import write_netcdf


class GridMapping:
    """Which image pixel feeds each cell of a regular lat/lon grid (vectorised lookup table).

    Grid cells lie on a global lattice (multiples of the resolution) so grids of different sites
    align exactly for mosaics.
    """

    def __init__(self, prep: PreparedSkymap, lat_res_deg: float, lon_res_deg: float):
        use = prep.usable
        if not use.any():
            raise AsiError("no usable skymap pixel above the minimum elevation")
        lat_c, lon_c = prep.latitude[use], prep.longitude[use]
        lon0 = float(np.median(lon_c))
        dlon_c = (lon_c - lon0 + 180.0) % 360.0 - 180.0
        i0 = int(np.floor(lat_c.min() / lat_res_deg))
        i1 = int(np.ceil(lat_c.max() / lat_res_deg))
        j0 = int(np.floor((dlon_c.min() + lon0) / lon_res_deg))
        j1 = int(np.ceil((dlon_c.max() + lon0) / lon_res_deg))
        self.latitude = (np.arange(i0, i1 + 1) * lat_res_deg).astype(np.float64)
        self.longitude = (np.arange(j0, j1 + 1) * lon_res_deg).astype(np.float64)
        self.lat_index0, self.lon_index0 = i0, j0
        coslat = np.cos(np.radians(lat_c.mean()))
        # pixel footprint radius: half of the longer corner-to-corner diagonal, in the metric
        # (latitude deg, longitude deg * cos(mean latitude))
        cla, clo = prep.corner_latitude, (prep.corner_longitude - lon0 + 180.0) % 360.0 - 180.0
        d1 = np.hypot(cla[1:, 1:] - cla[:-1, :-1], (clo[1:, 1:] - clo[:-1, :-1]) * coslat)
        d2 = np.hypot(cla[1:, :-1] - cla[:-1, 1:], (clo[1:, :-1] - clo[:-1, 1:]) * coslat)
        # Decision: a cell is also fed by a pixel centre within half a cell diagonal, so cells
        # larger than the pixels (near zenith) are never left empty by tiny or degenerate footprints
        half_cell = 0.5 * np.hypot(lat_res_deg, lon_res_deg * coslat)
        radius = np.fmax(0.5 * np.fmax(d1, d2), half_cell)[use]
        tree = cKDTree(np.column_stack([lat_c, dlon_c * coslat]))
        glat, glon = np.meshgrid(self.latitude, self.longitude, indexing="ij")
        gdlon = (glon - lon0 + 180.0) % 360.0 - 180.0
        dist, nearest = tree.query(np.column_stack([glat.ravel(), gdlon.ravel() * coslat]), k=1)
        # Decision: nearest pixel centre, accepted when the cell centre lies within that pixel's
        # footprint radius (no holes where pixels are larger than cells; nothing outside the
        # usable field of view)
        ok = dist <= radius[nearest]
        flat_index = np.flatnonzero(use.ravel())[nearest]
        self.shape = glat.shape
        self.pixel_index = np.where(ok, flat_index, -1).reshape(self.shape)
        self.valid = ok.reshape(self.shape)
        self.elevation = np.where(self.valid, prep.elevation.ravel()[np.maximum(self.pixel_index, 0)], np.nan)
        self._gather = np.maximum(self.pixel_index.ravel(), 0)
        self._outside = np.flatnonzero(~self.valid.ravel())

    def project(self, images: np.ndarray) -> np.ndarray:
        """(time, row, col[, channel]) -> (time, lat, lon[, channel]) float32, NaN off the sky."""
        t = images.shape[0]
        flat = images.reshape((t, -1) + images.shape[3:])
        out = np.take(flat, self._gather, axis=1).astype(np.float32, copy=False)
        out[:, self._outside] = np.nan
        return out.reshape((t,) + self.shape + images.shape[3:])


def make_l2(l1_path: str | os.PathLike, output: str | os.PathLike, *, skymap_root: str | os.PathLike,
            cfg: Mapping[str, Any], granule: str, chunk_frames: int = 200) -> Path:
    """Project one L1 site-hour onto the grid and write the L2 product (`project_asi_l2`).

    The L1 file is read `chunk_frames` frames at a time, so memory is the L2 array plus a chunk.
    """
    l1_path = Path(l1_path)
    with xr.open_dataset(l1_path, engine="netcdf4") as l1:
        attrs = dict(l1.attrs)
        instrument, site = attrs["instrument"], attrs["site_uid"]
        l2cfg = cfg["l2"]
        time = l1["time"].values
        sky_path = best_skymap(skymap_root, instrument, site, time[0])
        sky = read_skymap(sky_path)
        if sky.elevation.shape != l1["image"].shape[1:3]:
            raise AsiError(f"skymap {sky.elevation.shape} does not match images {l1['image'].shape[1:3]}", sky_path)
        if instrument not in l2cfg["altitude_km"]:
            raise AsiError(f"no l2.altitude_km configured for {instrument}")
        altitude = float(l2cfg["altitude_km"][instrument]) * u.km
        prep = prepare_skymap(sky, altitude, float(l2cfg["min_elevation_deg"]) * u.deg)
        grid = GridMapping(prep, float(l2cfg["lat_resolution_deg"]), float(l2cfg["lon_resolution_deg"]))
        extra = l1["image"].shape[3:]
        out = np.empty((time.size,) + grid.shape + extra, dtype=np.float32)
        for s in range(0, time.size, chunk_frames):
            out[s:s + chunk_frames] = grid.project(l1["image"][s:s + chunk_frames].values)
        image_attrs = dict(l1["image"].attrs)
        extra_coords = {"channel": l1["channel"]} if "channel" in l1.coords else {}
        quality = l1["quality_flag"].load()
        skipped = l1["skipped_frames"].load()
        dims = ("time", "latitude", "longitude") + (("channel",) if extra else ())
    image_attrs["long_name"] = f"{image_attrs.get('long_name', 'image')} projected to {altitude.value:g} km"
    image_attrs["coordinates"] = "time latitude longitude"
    ds = xr.Dataset(
        {
            "image": (dims, out, image_attrs),
            "elevation": (("latitude", "longitude"), grid.elevation.astype(np.float32),
                          {"long_name": "elevation angle of the line of sight from the site", "units": "degree"}),
            "pixel_index": (("latitude", "longitude"), grid.pixel_index.astype(np.int32),
                            {"long_name": "flat index row*ncol+col of the L1 pixel feeding the cell, -1 none",
                             "units": "1"}),
            "quality_flag": quality,
            "skipped_frames": skipped,
        },
        coords={"time": ("time", time, {"standard_name": "time", "long_name": "image request start (UTC)"}),
                "latitude": ("latitude", grid.latitude, {"standard_name": "latitude", "units": "degrees_north",
                                                         "long_name": "geographic latitude"}),
                "longitude": ("longitude", grid.longitude, {"standard_name": "longitude", "units": "degrees_east",
                                                            "long_name": "geographic longitude"}),
                **extra_coords},
        attrs={k: v for k, v in attrs.items() if k.startswith(("instrument", "site_", "device", "detector",
                                                               "calibration", "image_orientation", "skipped"))},
    )
    ds.attrs.update({
        "projection_altitude_km": altitude.value,
        "min_elevation_deg": float(l2cfg["min_elevation_deg"]),
        "skymap_file": sky_path.name, "skymap_imager_uid": sky.imager, "skymap_version": sky.version,
        "skymap_author": sky.generation.get("author", ""),
        "geospatial_lat_min": float(grid.latitude.min()), "geospatial_lat_max": float(grid.latitude.max()),
        "geospatial_lon_min": float(grid.longitude.min()), "geospatial_lon_max": float(grid.longitude.max()),
    })
    return write_netcdf(
        ds, output,
        title=f"UCalgary {instrument} all-sky images on a geographic grid, {granule}, level 2",
        summary=(f"L1 images projected to {altitude.value:g} km altitude on a {l2cfg['lat_resolution_deg']} x "
                 f"{l2cfg['lon_resolution_deg']} degree latitude/longitude grid, elevation >= "
                 f"{l2cfg['min_elevation_deg']} degrees, nearest-pixel resampling."),
        mission="asi", level="L2", inputs=[l1_path, sky_path],
        config={"l2": l2cfg},
    )
