"""FOXSI science products from level 2: counts images, spectra and lightcurves.

All three use the same event selection (`select_events`): in flight, HV at nominal, none of the
level-1 error bits in `error_mask`, and a usable energy / heliocentric position. Exposure
(livetime) comes from the level-1 housekeeping, which has every frame, not only frames with
events.
"""
from __future__ import annotations

import astropy.units as u
import numpy as np
import xarray as xr

from levelpipe.foxsi import flight as fl
from levelpipe.foxsi import formats as fmt
from levelpipe.foxsi.config import Flight, L1Settings, ProductSettings
from levelpipe.foxsi.l0 import REFERENCES
from levelpipe.io import read_netcdf, write_netcdf

_DET = {"long_name": "detector position number (D0-D6)", "units": "1"}


def select_events(l2: xr.Dataset, cfg: ProductSettings) -> np.ndarray:
    """Boolean selection of level-2 events for products (see module docstring).

    Decision: spectra select on the level-1 error bits with config products.error_mask (all
    seven by default); events whose energy is NaN (no gain) are kept out of spectra and
    energy-banded images/lightcurves but still counted in the detector's `events_without_energy`.
    """
    sel = (l2["error_flag"].values & np.uint8(cfg.error_mask)) == 0
    if cfg.require_inflight:
        sel &= l2["inflight"].values == 1
    if cfg.require_hv_nominal:
        sel &= l2["hv_nominal"].values == 1
    return sel


def good_frames(hk1: xr.Dataset, l1cfg: L1Settings, cfg: ProductSettings) -> np.ndarray:
    """Frames counted in the exposure: the same in-flight / HV conditions as the events."""
    ok = np.ones(hk1.sizes["time"], bool)
    if cfg.require_inflight:
        ok &= hk1["inflight"].values == 1
    if cfg.require_hv_nominal:
        ok &= l1cfg.hv_nominal_mask(hk1["hv"].values << u.V)  # level-1 hv is in V (its units attribute)
    return ok


def _band(l2, sel, band: u.Quantity):
    e = l2["hit_energy"].values  # keV (level-2 units attribute)
    lo, hi = band.to_value(u.keV)
    with np.errstate(invalid="ignore"):
        return sel & (e >= lo) & (e < hi)


def image(l2: xr.Dataset, flight: Flight, cfg: ProductSettings) -> xr.Dataset:
    """Counts images per detector and combined on a heliocentric arcsec grid.

    Decision: the grid is centred on the pointing-schedule target that holds most of the
    selected events (config products.image gives pixel size and half width), so an image of a
    flight with several targets shows the main one; events off the grid are not counted.
    """
    sel = _band(l2, select_events(l2, cfg), cfg.image_band)
    sel &= np.isfinite(l2["hit_xy_solar_x"].values)
    cx, cy = (c.to_value(u.arcsec) for c in fl.target_centre(flight, flight.time_since_launch(l2["time"].values[sel])))
    if cx.size:
        keys, counts = np.unique(np.stack([cx, cy], axis=1), axis=0, return_counts=True)
        centre = keys[np.argmax(counts)]
    else:
        first = flight.targets[0]
        centre = np.array([first.x.to_value(u.arcsec), first.y.to_value(u.arcsec)], float)
    half, pix = cfg.image_half_width.to_value(u.arcsec), cfg.image_pixel.to_value(u.arcsec)
    edges_x = centre[0] + np.arange(-half, half + pix / 2, pix)
    edges_y = centre[1] + np.arange(-half, half + pix / 2, pix)
    det = l2["det_num"].values[sel].astype(np.int64)
    x, y = l2["hit_xy_solar_x"].values[sel], l2["hit_xy_solar_y"].values[sel]
    counts, _ = np.histogramdd(np.stack([det, y, x], axis=1),
                               bins=[np.arange(fmt.N_DETECTORS + 1) - 0.5, edges_y, edges_x])
    counts = counts.astype(np.int32)
    xc = 0.5 * (edges_x[1:] + edges_x[:-1])
    yc = 0.5 * (edges_y[1:] + edges_y[:-1])
    lo, hi = cfg.image_band.to_value(u.keV)
    return xr.Dataset(
        {"counts": (("detector", "y", "x"), counts,
                    {"long_name": f"counts per pixel, {lo}-{hi} keV", "units": "1"}),
         "counts_combined": (("y", "x"), counts.sum(axis=0, dtype=np.int32),
                             {"long_name": f"counts per pixel summed over detectors, {lo}-{hi} keV", "units": "1"})},
        coords={"detector": (("detector",), np.arange(fmt.N_DETECTORS, dtype=np.int8), _DET),
                "x": (("x",), xc, {"long_name": "heliocentric (helioprojective) x, solar west", "units": "arcsec"}),
                "y": (("y",), yc, {"long_name": "heliocentric (helioprojective) y, solar north", "units": "arcsec"})},
        attrs={"flight": flight.name, "energy_band_kev": f"{lo} {hi}",
               "image_centre_arcsec": f"{centre[0]} {centre[1]}"},
    )


def spectrum(l2: xr.Dataset, hk1: xr.Dataset, flight: Flight, l1cfg: L1Settings, cfg: ProductSettings
             ) -> xr.Dataset:
    """Count spectra per detector (counts and counts / s / keV over the selected livetime)."""
    sel = select_events(l2, cfg)
    e = l2["hit_energy"].values  # keV
    det = l2["det_num"].values.astype(np.int64)
    lo, hi, step = (q.to_value(u.keV) for q in (cfg.spectrum_min, cfg.spectrum_max, cfg.spectrum_bin))
    edges = np.arange(lo, hi + step / 2, step)
    ok = sel & np.isfinite(e)
    counts, _, _ = np.histogram2d(det[ok], e[ok], bins=[np.arange(fmt.N_DETECTORS + 1) - 0.5, edges])
    frames = good_frames(hk1, l1cfg, cfg)
    livetime = hk1["livetime"].values[frames].sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = counts / livetime[:, None] / np.diff(edges)[None, :]
    no_energy = np.bincount(det[sel & ~np.isfinite(e)], minlength=fmt.N_DETECTORS)
    return xr.Dataset(
        {"counts": (("detector", "energy"), counts.astype(np.int32), {"long_name": "counts per energy bin", "units": "1"}),
         "count_rate": (("detector", "energy"), rate,
                        {"long_name": "livetime-corrected count rate density", "units": "s-1 keV-1"}),
         "livetime": (("detector",), livetime, {"long_name": "summed livetime of the selected frames", "units": "s"}),
         "events_without_energy": (("detector",), no_energy.astype(np.int32),
                                   {"long_name": "selected events with no energy (no gain for the strip or detector)",
                                    "units": "1"}),
         "energy_bounds": (("energy", "nv"), np.stack([edges[:-1], edges[1:]], axis=1),
                           {"long_name": "energy bin edges", "units": "keV"})},
        coords={"detector": (("detector",), np.arange(fmt.N_DETECTORS, dtype=np.int8), _DET),
                "energy": (("energy",), 0.5 * (edges[1:] + edges[:-1]),
                           {"long_name": "photon energy bin centre", "units": "keV", "bounds": "energy_bounds"})},
        attrs={"flight": flight.name, "error_mask": cfg.error_mask},
    )


def lightcurve(l2: xr.Dataset, hk1: xr.Dataset, flight: Flight, l1cfg: L1Settings, cfg: ProductSettings
               ) -> xr.Dataset:
    """Counts and livetime-corrected rate per detector in time bins (config products.lightcurve)."""
    sel = _band(l2, select_events(l2, cfg), cfg.lightcurve_band)
    t0 = hk1["time"].values.min().astype("datetime64[s]").astype("datetime64[ns]")
    bin_s = cfg.lightcurve_bin.to_value(u.s)
    bin_ns = int(round(bin_s * 1e9))
    t_hk = (hk1["time"].values - t0).astype(np.int64)
    nbins = int(t_hk.max() // bin_ns) + 1
    t_ev = (l2["time"].values[sel] - t0).astype(np.int64)
    det = l2["det_num"].values[sel].astype(np.int64)
    b_ev = np.clip(t_ev // bin_ns, 0, nbins - 1)
    counts = np.zeros((nbins, fmt.N_DETECTORS), np.int32)
    np.add.at(counts, (b_ev, det), 1)
    frames = good_frames(hk1, l1cfg, cfg)
    live = np.zeros((nbins, fmt.N_DETECTORS))
    b_hk = t_hk // bin_ns
    for d in range(fmt.N_DETECTORS):
        live[:, d] = np.bincount(b_hk[frames], weights=hk1["livetime"].values[frames, d], minlength=nbins)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(live > 0, counts / live, np.nan)
    times = t0 + (np.arange(nbins) * bin_ns + bin_ns // 2).astype("timedelta64[ns]")
    lo, hi = cfg.lightcurve_band.to_value(u.keV)
    return xr.Dataset(
        {"counts": (("time", "detector"), counts, {"long_name": f"counts per time bin, {lo}-{hi} keV", "units": "1"}),
         "livetime": (("time", "detector"), live, {"long_name": "detector livetime in the bin", "units": "s"}),
         "count_rate": (("time", "detector"), rate,
                        {"long_name": f"livetime-corrected count rate, {lo}-{hi} keV", "units": "s-1"})},
        coords={"time": (("time",), times, {"standard_name": "time", "long_name": "time bin centre (UTC)"}),
                "detector": (("detector",), np.arange(fmt.N_DETECTORS, dtype=np.int8), _DET)},
        attrs={"flight": flight.name, "bin_s": float(bin_s), "energy_band_kev": f"{lo} {hi}"},
    )


def _write(ds, out, inputs, cfg, what, summary):
    for name in ds.coords:  # CF: coordinate variables carry no _FillValue
        if ds[name].dtype.kind == "f":
            ds[name].encoding["_FillValue"] = None
    write_netcdf(ds, out, title=f"{cfg['flight']['name']} {what}", summary=summary, mission="foxsi",
                 level="L2 product", inputs=inputs, config=cfg, references=REFERENCES)


def _settings(cfg: dict) -> tuple[Flight, L1Settings, ProductSettings]:
    return (Flight.from_config(cfg["flight"]), L1Settings.from_config(cfg["l1"]),
            ProductSettings.from_config(cfg["products"]))


def make_image(l2_input, out, cfg: dict) -> None:
    """Counts images of one flight file. cfg: {"products": ..., "flight": per-flight config} (dicts)."""
    ds = image(read_netcdf(l2_input), Flight.from_config(cfg["flight"]), ProductSettings.from_config(cfg["products"]))
    _write(ds, out, [l2_input], cfg, "counts images",
           "FOXSI counts images in heliocentric arcsec per detector and combined.")


def make_spectrum(l2_input, hk_input, out, cfg: dict) -> None:
    """Count spectra of one flight file. cfg: {"products": ..., "l1": ..., "flight": ...} (dicts)."""
    ds = spectrum(read_netcdf(l2_input), read_netcdf(hk_input), *_settings(cfg))
    _write(ds, out, [l2_input, hk_input], cfg, "count spectra",
           "FOXSI count spectra per detector with error-bit selection and livetime.")


def make_lightcurve(l2_input, hk_input, out, cfg: dict) -> None:
    """Lightcurves of one flight file. cfg: {"products": ..., "l1": ..., "flight": ...} (dicts)."""
    ds = lightcurve(read_netcdf(l2_input), read_netcdf(hk_input), *_settings(cfg))
    _write(ds, out, [l2_input, hk_input], cfg, "lightcurves",
           "FOXSI livetime-corrected count-rate lightcurves per detector.")
