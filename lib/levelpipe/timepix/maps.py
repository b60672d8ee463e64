"""VZLUSAT-1 Timepix world maps: dose rate and per-class-set particle flux from L2 products.

One dose-rate map and one flux map per *filter set* (a named list of track classes, summed) are
drawn from the L2 files of one or more folders. The map style and the filter sets come from the
``maps:`` section of ``config/vzlusat1.yaml``:

    filter_sets:   {name: [class names]}   e.g. all, electrons_gamma, protons_ions
    interpolation: {method, length_scale_km, max_distance_km, grid_step_deg}
    dose_rate:     {log_scale, colormap, vmin, vmax}
    flux:          {log_scale, colormap, vmin, vmax}
    coastlines:    {resolution, min_area_km2, linewidth, color}
    figure:        {width_in, height_in, dpi}
    point_size:    marker area (points**2)
    field_alpha:   opacity of the interpolated field under the points (0..1)

Default filter sets follow the split used by the original archive's map plots: light particles
(electrons, photons: dots, small blobs and curly tracks) and heavy / energetic charged particles
(protons and ions: big and branched blobs, straight tracks, drops, low-resolution tracks).
"""
from __future__ import annotations

import logging
import os
import textwrap
from typing import Any, Mapping

import numpy as np

from levelpipe.errors import ConfigError, TimepixError
from levelpipe.io.netcdf import read_netcdf
from levelpipe.plotting.maps import world_map
from levelpipe.timepix.classes import CLASS_NAMES, class_ids

log = logging.getLogger("levelpipe.timepix.maps")

DOSE_RATE_UNITS = "uGy min-1"
FLUX_UNITS = "cm-2 s-1"


def filter_set_ids(filter_sets: Mapping[str, list[str]]) -> dict[str, list[int]]:
    """Class ids of every filter set; an unknown class name is a TimepixError naming the set."""
    out = {}
    for name, classes in filter_sets.items():
        if not classes:
            raise TimepixError("filter set has no classes", where=f"maps.filter_sets.{name}")
        out[name] = class_ids(classes, where=f"maps.filter_sets.{name}")
    return out


def _read_l2(paths: list[str]) -> dict[str, np.ndarray]:
    """Concatenate the per-frame L2 variables the maps need; flux columns are class ids 1..9."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in
                                          ("time", "latitude", "longitude", "valid", "dose_rate", "flux")}
    class_order = None
    for path in paths:
        ds = read_netcdf(path)
        missing = [v for v in ("time", "latitude", "longitude", "valid", "dose_rate", "flux") if v not in ds]
        if missing:
            raise TimepixError(f"L2 product lacks {', '.join(missing)}", path)
        classes = [int(c) for c in ds["class"].values]
        if class_order is None:
            class_order = classes
        # Reorder flux columns to the first file's class order (files normally agree).
        try:
            cols = [classes.index(c) for c in class_order]
        except ValueError:
            raise TimepixError(f"class coordinate {classes} differs from {class_order} of {paths[0]}", path) from None
        flux = ds["flux"].transpose("frame", "class").values[:, cols]
        parts["flux"].append(flux.astype(np.float64))
        parts["time"].append(ds["time"].values.astype("datetime64[ns]"))
        for name in ("latitude", "longitude", "dose_rate"):
            parts[name].append(ds[name].values.astype(np.float64))
        parts["valid"].append(ds["valid"].values.astype(np.int8))
    data = {k: (np.concatenate(v) if v else np.empty(0)) for k, v in parts.items()}
    data["class"] = np.array(class_order or [], dtype=int)
    if not parts["flux"]:
        data["flux"] = np.empty((0, 0))
    return data


def _title(quantity: str, times: np.ndarray, n_shown: int, excluded: Mapping[str, int], n_folders: int) -> str:
    t = times[~np.isnat(times)]
    span = (f"{np.datetime_as_string(t.min(), unit='D')} to {np.datetime_as_string(t.max(), unit='D')}"
            if t.size else "time unknown")
    exc = ", ".join(f"{n} {why}" for why, n in excluded.items() if n) or "none"
    folders = f"{n_folders} folder{'s' if n_folders != 1 else ''}"
    return (f"VZLUSAT-1 Timepix {quantity}\n{span} ({folders}): {n_shown} frames shown; excluded: {exc}")


def _set_description(name: str, classes: list[str]) -> str:
    if set(classes) == set(CLASS_NAMES.values()):
        return f"flux, filter set {name!r}: all {len(classes)} classes"
    return textwrap.shorten(f"flux, filter set {name!r}: {', '.join(classes)}", width=110, placeholder=" ...")


def _one_map(data, values, usable, style: Mapping[str, Any], config: Mapping[str, Any], *, out_png: str,
             quantity: str, label: str, units: str, n_folders: int) -> None:
    finite = np.isfinite(values)
    excluded = {
        "invalid (L2 valid=0)": int(np.count_nonzero(data["valid"] == 0)),
        "without position": int(np.count_nonzero((data["valid"] != 0) & ~usable)),
        "without value": int(np.count_nonzero((data["valid"] != 0) & usable & ~finite)),
    }
    shown = (data["valid"] != 0) & usable & finite
    title = _title(quantity, data["time"][shown], int(shown.sum()), excluded, n_folders)
    log.info("%s -> %s: %d frames shown, excluded %s", quantity, out_png, int(shown.sum()), excluded)
    world_map(data["longitude"][shown], data["latitude"][shown], values[shown], out_png=out_png, title=title,
              units=units, label=label, log_scale=bool(style["log_scale"]), colormap=style["colormap"],
              vmin=style.get("vmin"), vmax=style.get("vmax"), interpolation=config["interpolation"],
              coastlines=config["coastlines"], figure=config["figure"], point_size=config["point_size"],
              field_alpha=config["field_alpha"])


def plot_maps(l2_paths: list[str], dose_png: str, flux_pngs: dict[str, str], config: dict) -> None:
    """Draw the dose-rate map to `dose_png` and one flux map per filter set to `flux_pngs[set]`.

    l2_paths: L2 netCDF files (one per folder; dims frame, class) with time, latitude, longitude
    (degrees), dose_rate (uGy min-1), flux(frame, class) (cm-2 s-1) and valid (0/1).
    flux_pngs: {filter-set name: PNG path}; each name must be a set of ``config["filter_sets"]``.
    The flux of a set is the sum over its classes' fluxes (clusters per cm**2 per s).
    Frames with valid == 0, without a position, or without a value are left out of the map and
    counted, by reason, in its title and in the log.
    """
    sets = filter_set_ids(config["filter_sets"])  # all sets checked, also those not drawn now
    unknown = sorted(set(flux_pngs) - set(sets))
    if unknown:
        raise ConfigError(f"flux map requested for filter set(s) {', '.join(unknown)} not in "
                          f"maps.filter_sets ({', '.join(sets)})", where="maps.filter_sets")
    if not l2_paths:
        raise TimepixError("no L2 files given to plot_maps", where="maps")
    data = _read_l2([os.fspath(p) for p in l2_paths])
    usable = np.isfinite(data["latitude"]) & np.isfinite(data["longitude"])
    n_folders = len(l2_paths)
    _one_map(data, data["dose_rate"], usable, config["dose_rate"], config, out_png=dose_png,
             quantity="dose rate", label="dose rate", units=DOSE_RATE_UNITS, n_folders=n_folders)
    class_col = {int(c): i for i, c in enumerate(data["class"])}
    for name, out_png in flux_pngs.items():
        missing = [c for c in sets[name] if c not in class_col]
        if missing:
            raise TimepixError(f"L2 has no flux for class id(s) {missing} of filter set {name!r}", l2_paths[0])
        cols = [class_col[c] for c in sets[name]]
        # Decision: a frame whose flux is NaN in any class of the set has no value for the set
        # (a plain sum; a partial sum would under-state the flux).
        flux = data["flux"][:, cols].sum(axis=1) if data["flux"].size else np.empty(0)
        _one_map(data, flux, usable, config["flux"], config, out_png=out_png,
                 quantity=_set_description(name, list(config["filter_sets"][name])),
                 label=f"flux ({name})", units=FLUX_UNITS, n_folders=n_folders)


def write_maps(ctx) -> None:
    """Step `maps` (rule plot_vzlusat1_maps): every folder's L2 -> dose-rate and flux world maps.

    The flux PNGs are `flux_<set>.png`, one per filter set of the config, in the set order."""
    cfg = ctx.config["maps"]
    flux = ctx.outputs["flux"]
    names = sorted(cfg["filter_sets"])
    if len(flux) != len(names):
        raise ConfigError(f"{len(flux)} flux maps requested for {len(names)} filter sets", where="maps.filter_sets")
    plot_maps(ctx.inputs.all, ctx.outputs.one("dose"), dict(zip(names, flux)), cfg)
