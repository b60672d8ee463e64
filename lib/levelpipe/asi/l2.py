"""Level 2: L1 images projected onto a geographic latitude/longitude grid at an emission altitude.

The skymap (best for site, imager family and date) is evaluated at the configured altitude
(linear between its altitudes), pixels below the minimum elevation are dropped, and every grid
cell takes the value of the image pixel whose footprint contains the cell centre.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr
from astropy import units as u
from scipy.spatial import cKDTree

from levelpipe.asi.settings import L2Settings
from levelpipe.asi.skymap import PreparedSkymap, prepare_skymap, read_skymap
from levelpipe.errors import AsiError


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


def l2(l1_path: str | os.PathLike, skymap: str | os.PathLike, *, settings: L2Settings,
       chunk_frames: int = 200) -> xr.Dataset:
    """Project one L1 site-hour onto the grid with the granule's chosen skymap: the L2 dataset.

    The L1 file is read `chunk_frames` frames at a time, so memory is the L2 array plus a chunk.
    """
    l1_path, sky_path = Path(l1_path), Path(skymap)
    with xr.open_dataset(l1_path, engine="netcdf4") as l1:
        attrs = dict(l1.attrs)
        instrument = attrs["instrument"]
        time = l1["time"].values
        sky = read_skymap(sky_path)
        if sky.elevation.shape != l1["image"].shape[1:3]:
            raise AsiError(f"skymap {sky.elevation.shape} does not match images {l1['image'].shape[1:3]}", sky_path)
        if instrument not in settings.altitude_km:
            raise AsiError(f"no l2.altitude_km configured for {instrument}")
        altitude = settings.altitude_km[instrument]
        prep = prepare_skymap(sky, altitude, settings.min_elevation_deg)
        grid = GridMapping(prep, settings.lat_resolution_deg.to_value("deg"),
                           settings.lon_resolution_deg.to_value("deg"))
        extra = l1["image"].shape[3:]
        out = np.empty((time.size,) + grid.shape + extra, dtype=np.float32)
        for s in range(0, time.size, chunk_frames):
            out[s:s + chunk_frames] = grid.project(l1["image"][s:s + chunk_frames].values)
        image_attrs = {k: v for k, v in l1["image"].attrs.items() if k in ("units", "calibration")}
        extra_coords = {"channel": l1["channel"]} if "channel" in l1.coords else {}
        quality = l1["quality_flag"].load()
        skipped = l1["skipped_frames"].load()
        dims = ("time", "latitude", "longitude") + (("channel",) if extra else ())
    ds = xr.Dataset(
        {
            "image": (dims, out, image_attrs),
            "elevation": (("latitude", "longitude"), grid.elevation.astype(np.float32)),
            "pixel_index": (("latitude", "longitude"), grid.pixel_index.astype(np.int32)),
            "quality_flag": quality,
            "skipped_frames": skipped,
        },
        coords={"time": ("time", time), "latitude": ("latitude", grid.latitude),
                "longitude": ("longitude", grid.longitude), **extra_coords},
        attrs={k: v for k, v in attrs.items() if k.startswith(("instrument", "site_", "device", "detector",
                                                               "calibration", "image_orientation", "skipped",
                                                               "frames_decoded", "bad_frames_"))},
    )
    ds.attrs.update({
        "projection_altitude_km": altitude.to_value("km"),
        "min_elevation_deg": settings.min_elevation_deg.to_value("deg"),
        "skymap_file": sky_path.name, "skymap_imager_uid": sky.imager, "skymap_version": sky.version,
        "skymap_author": sky.generation.get("author", ""),
        "geospatial_lat_min": float(grid.latitude.min()), "geospatial_lat_max": float(grid.latitude.max()),
        "geospatial_lon_min": float(grid.longitude.min()), "geospatial_lon_max": float(grid.longitude.max()),
    })
    return ds


def write_l2(ctx) -> None:
    """Step `l2` (rule project_asi_l2): L1 + the chosen skymap -> results/asi/l2/<site_hour>.nc."""
    cfg = ctx.settings.l2
    ds = l2(ctx.inputs.one("l1"), ctx.inputs.one("skymap"), settings=cfg)
    ctx.write(ds, ctx.outputs.one(), table="l2",
              title=f"UCalgary {ds.attrs['instrument']} all-sky images on a geographic grid, {ctx.granule}, level 2",
              summary=(f"L1 images projected to {ds.attrs['projection_altitude_km']:g} km altitude on a "
                       f"{cfg.lat_resolution_deg.value:g} x {cfg.lon_resolution_deg.value:g} degree "
                       f"latitude/longitude grid, elevation >= {cfg.min_elevation_deg.value:g} degrees, "
                       "nearest-pixel resampling."))
