"""Level 2: L1 images projected onto a geographic latitude/longitude grid at an emission altitude.

The skymap (best for site, imager family and date) is evaluated at the configured altitude
(linear between its altitudes), pixels below the minimum elevation are dropped, and every grid
cell takes the value of the image pixel whose footprint contains the cell centre; a cell whose
centre lies in no usable footprint stays empty (NaN).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from levelpipe.asi.settings import L2Settings
from levelpipe.asi.skymap import PreparedSkymap, prepare_skymap, read_skymap
from levelpipe.errors import AsiError


#: Bounds that keep a corrupt skymap from costing unbounded memory or time: the largest grid
#: (about 15x the real REGO grid at 230 km, 0 degrees, 0.05 x 0.1 degrees), the candidate
#: (pixel, cell) pairs per cell (real skymaps: 1 to 2.5) and the pairs handled at once.
_MAX_CELLS = 1 << 22
_MAX_PAIRS_PER_CELL = 16
_PAIRS_PER_BATCH = 1 << 20


def _wrap180(x):
    return (np.asarray(x) + 180.0) % 360.0 - 180.0


def _inside_quads(py, px, qy, qx) -> np.ndarray:
    """Whether points (py, px) lie inside the quadrilaterals with corners qy, qx (shape (4, n),
    in ring order): crossing-number test, half-open in y, so a point on an edge two
    neighbouring footprints share belongs to one of them."""
    inside = np.zeros(py.shape, dtype=bool)
    for k in range(4):
        y1, x1, y2, x2 = qy[k], qx[k], qy[(k + 1) % 4], qx[(k + 1) % 4]
        crosses = (y1 > py) != (y2 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (px < x_at)
    return inside


def frames_per_read(image: xr.DataArray, fallback: int = 200) -> int:
    """Frames to read at a time from a lazily opened (time, ...) variable: its chunk length in
    time, so that each compressed chunk is inflated once."""
    chunks = image.encoding.get("chunksizes")
    return int(chunks[0]) if chunks else fallback


class GridMapping:
    """Which image pixel feeds each cell of a regular lat/lon grid (vectorised lookup table).

    Decision: each cell takes the usable pixel whose footprint (the quadrilateral of its four
    skymap corners at the altitude, straight edges in latitude/longitude) contains the cell
    centre; where footprints overlap (folds near the horizon, shared edges) the pixel with the
    nearest centre wins; a cell in no usable footprint stays empty. So cells smaller than the
    pixels repeat the pixel (horizon), cells larger than the pixels sample the pixel under their
    centre (zenith), and nothing is filled outside the usable field of view.

    Grid cells lie on a global lattice (multiples of the resolution) so grids of different sites
    align exactly for mosaics.
    """

    def __init__(self, prep: PreparedSkymap, lat_res_deg: float, lon_res_deg: float):
        use = prep.usable
        if not use.any():
            raise AsiError("no usable skymap pixel above the minimum elevation")
        rows, cols = np.nonzero(use)
        lon0 = float(np.median(prep.longitude[use]))
        cla = prep.corner_latitude
        clo = _wrap180(prep.corner_longitude - lon0)
        # corners in ring order (r, c) (r, c+1) (r+1, c+1) (r+1, c) of each usable pixel, (4, n)
        qy = np.stack([cla[rows, cols], cla[rows, cols + 1], cla[rows + 1, cols + 1], cla[rows + 1, cols]])
        qx = np.stack([clo[rows, cols], clo[rows, cols + 1], clo[rows + 1, cols + 1], clo[rows + 1, cols]])
        cy = prep.latitude[use]
        cx = _wrap180(prep.longitude[use] - lon0)
        # the lattice covers every usable footprint
        i0 = int(np.floor(qy.min() / lat_res_deg))
        i1 = int(np.ceil(qy.max() / lat_res_deg))
        j0 = int(np.floor((qx.min() + lon0) / lon_res_deg))
        j1 = int(np.ceil((qx.max() + lon0) / lon_res_deg))
        self.latitude = (np.arange(i0, i1 + 1) * lat_res_deg).astype(np.float64)
        self.longitude = (np.arange(j0, j1 + 1) * lon_res_deg).astype(np.float64)
        self.lat_index0, self.lon_index0 = i0, j0
        nlat, nlon = self.latitude.size, self.longitude.size
        if nlat * nlon > _MAX_CELLS:
            raise AsiError(f"skymap footprints span a {nlat}x{nlon} grid, more than {_MAX_CELLS} cells "
                           "(corrupt skymap corners?)")
        # candidate (pixel, cell) pairs: the cells whose centre lies in each footprint's box
        a0 = np.clip(np.ceil(qy.min(0) / lat_res_deg).astype(np.int64) - i0, 0, nlat)
        a1 = np.clip(np.floor(qy.max(0) / lat_res_deg).astype(np.int64) - i0 + 1, 0, nlat)
        b0 = np.clip(np.ceil((qx.min(0) + lon0) / lon_res_deg).astype(np.int64) - j0, 0, nlon)
        b1 = np.clip(np.floor((qx.max(0) + lon0) / lon_res_deg).astype(np.int64) - j0 + 1, 0, nlon)
        na, nb = np.maximum(a1 - a0, 0), np.maximum(b1 - b0, 0)
        count = na * nb
        total = int(count.sum())
        if total > _MAX_PAIRS_PER_CELL * (nlat * nlon + rows.size):
            raise AsiError(f"skymap footprints overlap {total} grid cells, implausible for a "
                           f"{nlat}x{nlon} grid (corrupt skymap corners?)")
        coslat = np.cos(np.radians(cy.mean()))
        found = []
        # pixels in batches of at most _PAIRS_PER_BATCH candidate pairs: memory stays bounded
        ends = np.cumsum(count)
        start = 0
        while start < rows.size:
            stop = max(start + 1, int(np.searchsorted(ends, ends[start] - count[start] + _PAIRS_PER_BATCH, "right")))
            idx = np.arange(start, stop)
            c = count[idx]
            pix = np.repeat(idx, c)
            k = np.arange(pix.size) - np.repeat(np.cumsum(c) - c, c)
            nb_p = np.maximum(nb[pix], 1)
            ci = a0[pix] + k // nb_p
            cj = b0[pix] + k % nb_p
            py = (ci + i0) * lat_res_deg
            px = _wrap180((cj + j0) * lon_res_deg - lon0)
            inside = _inside_quads(py, px, qy[:, pix], qx[:, pix])
            pix, ci, cj, py, px = pix[inside], ci[inside], cj[inside], py[inside], px[inside]
            found.append((ci * nlon + cj, pix, np.hypot(cy[pix] - py, (cx[pix] - px) * coslat)))
            start = stop
        cell = np.concatenate([f[0] for f in found])
        pix = np.concatenate([f[1] for f in found])
        dist = np.concatenate([f[2] for f in found])
        order = np.lexsort((dist, cell))
        cell, pix = cell[order], pix[order]
        first = np.ones(cell.size, dtype=bool)
        first[1:] = cell[1:] != cell[:-1]
        flat_use = np.flatnonzero(use.ravel())
        pixel_index = np.full(nlat * nlon, -1, dtype=np.int64)
        pixel_index[cell[first]] = flat_use[pix[first]]
        self.shape = (nlat, nlon)
        self.pixel_index = pixel_index.reshape(self.shape)
        self.valid = self.pixel_index >= 0
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
       chunk_frames: int | None = None) -> xr.Dataset:
    """Project one L1 site-hour onto the grid with the granule's chosen skymap: the L2 dataset.

    The L1 file is read `chunk_frames` frames at a time (default: the file's own chunk length in
    time, so no chunk is decompressed twice), so memory is the L2 array plus a chunk.
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
        step = chunk_frames or frames_per_read(l1["image"])
        for s in range(0, time.size, step):
            out[s:s + step] = grid.project(l1["image"][s:s + step].values)
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
                       f"latitude/longitude grid, elevation >= {cfg.min_elevation_deg.value:g} degrees; each "
                       "cell takes the pixel whose footprint contains its centre."))
