"""FOXSI science products from level 2: counts images, spectra and lightcurves of one telemetry file.

All use one event selection (`select_events`): in flight (when ``products.require_inflight``) and
none of the L1 error bits in ``products.error_mask``. Exposure comes from the level-1
housekeeping, which has every frame, not only frames with events (`exposure`).
"""
from __future__ import annotations

import astropy.units as u
import numpy as np
import xarray as xr

from levelpipe.foxsi import layout as L
from levelpipe.foxsi.l0 import REFERENCES
from levelpipe.foxsi.l1 import ERROR_BITS
from levelpipe.io import read_netcdf

_US = 1e-6


def _provenance(l2: xr.Dataset) -> dict:
    """The file's frame counts, which every FOXSI product carries (frames_decoded, bad_frames_*)."""
    keep = ("frames_decoded", "counter_resets", "telemetry_file", "flight_key")
    return {k: v for k, v in l2.attrs.items() if k in keep or k.startswith("bad_frames_")}


def select_events(l2: xr.Dataset, products) -> np.ndarray:
    sel = (l2["error_flag"].values & np.uint8(products.error_mask)) == 0
    if products.require_inflight:
        sel &= l2["inflight"].values == 1
    return sel


def exposure_frames(hk1: xr.Dataset, flight, l1, products) -> np.ndarray:
    """Frames counted in the exposure: those in which a selected event could have been recorded.

    Decision (levelpipe's, the IDL products are not in the notes): a frame counts when it is in
    flight (if required) and, when error bit 3 is in the mask, at the nominal HV (IDL's integer
    HV) and, for WSMR data, after launch + the settling time.
    """
    ok = np.ones(hk1.sizes["frame"], bool)
    if products.require_inflight:
        ok &= hk1["inflight"].values == 1
    if products.error_mask & ERROR_BITS["hv_not_nominal_or_settling"]:
        ok &= np.floor(hk1["hv"].values).astype(np.int64) == int(round(l1.hv_nominal_v.to_value(u.V)))
        if "wsmr_time" in hk1:
            launch = np.datetime64(flight.launch_utc, "ns")
            launch_sod = float((launch - launch.astype("datetime64[D]")) / np.timedelta64(1, "s"))
            ok &= hk1["wsmr_time"].values >= launch_sod + l1.settle_after_launch_s.to_value(u.s)
    return ok


def dead_time_s(l2: xr.Dataset) -> np.ndarray:
    """Dead time (s) of each event's frame: frame period - livetime, 0 where the livetime is not
    a physical one (outside 0..frame period)."""
    live = l2["livetime"].values
    with np.errstate(invalid="ignore"):
        ok = (live >= 0) & (live <= L.FRAME_PERIOD_US)
    return np.where(ok, (L.FRAME_PERIOD_US - np.where(ok, live, 0.0)) * _US, 0.0)


def _event_in_frames(l2: xr.Dataset, hk1: xr.Dataset, frames: np.ndarray) -> np.ndarray:
    t = hk1["time"].values.astype(np.int64)
    order = np.argsort(t, kind="stable")
    te = l2["time"].values.astype(np.int64)
    j = np.clip(np.searchsorted(t[order], te), 0, max(t.size - 1, 0))
    rows = order[j] if t.size else np.zeros(te.size, np.int64)
    return (t.size > 0) & (t[rows] == te) & frames[rows]


def exposure(l2: xr.Dataset, hk1: xr.Dataset, frames: np.ndarray) -> np.ndarray:
    """(7,) livetime (s) per detector: counted frames x frame period - dead time of their events.

    Decision (levelpipe's): a frame without an event of a detector was live for the whole frame;
    one with an event for that event's livetime (§2b.1).
    """
    total = frames.sum() * L.FRAME_PERIOD_US * _US
    inside = _event_in_frames(l2, hk1, frames)
    dead = np.bincount(l2["det_num"].values.astype(np.int64)[inside], weights=dead_time_s(l2)[inside],
                       minlength=L.N_DETECTORS)
    return total - dead


def _band(l2: xr.Dataset, sel: np.ndarray, band: u.Quantity) -> np.ndarray:
    e = l2["energy"].values
    lo, hi = band.to_value(u.keV)
    with np.errstate(invalid="ignore"):
        return sel & (e >= lo) & (e < hi)


def image(l2: xr.Dataset, products) -> xr.Dataset:
    """Counts images per detector and combined, in heliocentric arcsec (payload arcsec when no
    event has a pointing).

    Decision: the grid is centred on the median optical-axis position of the selected events
    (heliocentric - payload position), so it follows the pointing; events off the grid are not
    counted.
    """
    cfg = products.image
    sel = _band(l2, select_events(l2, products), cfg.energy_band_kev)
    solar = l2["hit_xy_solar"].values
    pay = l2["hit_xy_pay"].values
    helio = sel & np.isfinite(solar).all(axis=1)
    if helio.any():
        frame, pos = "heliocentric", solar
        centre = np.round(np.median(solar[helio] - pay[helio], axis=0))
        use = helio
    else:
        frame, pos, centre = "payload", pay, np.zeros(2)
        use = sel & np.isfinite(pay).all(axis=1)
    half, pix = cfg.half_width_arcsec.to_value(u.arcsec), cfg.pixel_arcsec.to_value(u.arcsec)
    offsets = np.arange(-half, half + pix / 2, pix)
    ex, ey = centre[0] + offsets, centre[1] + offsets
    det = l2["det_num"].values.astype(np.int64)
    counts, _ = np.histogramdd(np.stack([det[use], pos[use, 1], pos[use, 0]], axis=1),
                               bins=[np.arange(L.N_DETECTORS + 1) - 0.5, ey, ex])
    counts = counts.astype(np.int32)
    lo, hi = cfg.energy_band_kev.to_value(u.keV)
    return xr.Dataset(
        {"counts": (("detector", "y", "x"), counts),
         "counts_combined": (("y", "x"), counts.sum(axis=0, dtype=np.int32))},
        coords={"detector": (("detector",), np.arange(L.N_DETECTORS, dtype=np.int8)),
                "x": (("x",), 0.5 * (ex[1:] + ex[:-1])), "y": (("y",), 0.5 * (ey[1:] + ey[:-1]))},
        attrs={**_provenance(l2), "flight": l2.attrs.get("flight", ""), "image_frame": frame,
               "energy_band_kev": f"{lo} {hi}",
               "image_centre_arcsec": f"{centre[0]} {centre[1]}", "error_mask": int(products.error_mask)},
    )


def spectrum(l2: xr.Dataset, hk1: xr.Dataset, *, flight, l1, products) -> xr.Dataset:
    """Count spectra per detector, and count rate density over the exposure."""
    cfg = products.spectrum
    sel = select_events(l2, products)
    e = l2["energy"].values
    det = l2["det_num"].values.astype(np.int64)
    lo, hi, step = (q.to_value(u.keV) for q in (cfg.min_kev, cfg.max_kev, cfg.bin_kev))
    edges = lo + np.arange(int(round((hi - lo) / step)) + 1) * step
    ok = sel & np.isfinite(e)
    counts, _, _ = np.histogram2d(det[ok], e[ok], bins=[np.arange(L.N_DETECTORS + 1) - 0.5, edges])
    live = exposure(l2, hk1, exposure_frames(hk1, flight, l1, products))
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(live[:, None] > 0, counts / live[:, None] / np.diff(edges)[None, :], np.nan)
    return xr.Dataset(
        {"counts": (("detector", "energy"), counts.astype(np.int32)),
         "count_rate": (("detector", "energy"), rate),
         "exposure": (("detector",), live),
         "events_without_energy": (("detector",), np.bincount(det[sel & ~np.isfinite(e)], minlength=L.N_DETECTORS)
                                   .astype(np.int32)),
         "energy_bounds": (("energy", "nv"), np.stack([edges[:-1], edges[1:]], axis=1))},
        coords={"detector": (("detector",), np.arange(L.N_DETECTORS, dtype=np.int8)),
                "energy": (("energy",), 0.5 * (edges[1:] + edges[:-1]), {"bounds": "energy_bounds"})},
        attrs={**_provenance(l2), "flight": l2.attrs.get("flight", ""), "error_mask": int(products.error_mask),
               "energy_side": l2.attrs.get("energy_side", "")},
    )


def lightcurve(l2: xr.Dataset, hk1: xr.Dataset, *, flight, l1, products) -> xr.Dataset:
    """Counts, exposure and count rate per detector in time bins."""
    cfg = products.lightcurve
    sel = _band(l2, select_events(l2, products), cfg.energy_band_kev)
    t_hk = hk1["time"].values
    t0 = t_hk.min().astype("datetime64[s]").astype("datetime64[ns]") if t_hk.size else np.datetime64(0, "ns")
    bin_ns = int(round(cfg.bin_s.to_value(u.s) * 1e9))
    rel_hk = (t_hk - t0).astype(np.int64)
    nbins = int(rel_hk.max() // bin_ns) + 1 if t_hk.size else 1
    frames = exposure_frames(hk1, flight, l1, products)
    b_hk = rel_hk // bin_ns
    live = np.zeros((nbins, L.N_DETECTORS))
    live += (np.bincount(b_hk[frames], minlength=nbins) * L.FRAME_PERIOD_US * _US)[:, None]
    inside = _event_in_frames(l2, hk1, frames)
    det = l2["det_num"].values.astype(np.int64)
    b_ev = np.clip((l2["time"].values - t0).astype(np.int64) // bin_ns, 0, nbins - 1)
    np.subtract.at(live, (b_ev[inside], det[inside]), dead_time_s(l2)[inside])
    counts = np.zeros((nbins, L.N_DETECTORS), np.int32)
    np.add.at(counts, (b_ev[sel], det[sel]), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(live > 0, counts / live, np.nan)
    lo, hi = cfg.energy_band_kev.to_value(u.keV)
    return xr.Dataset(
        {"counts": (("time", "detector"), counts), "exposure": (("time", "detector"), live),
         "count_rate": (("time", "detector"), rate)},
        coords={"time": (("time",), t0 + (np.arange(nbins) * bin_ns + bin_ns // 2).astype("timedelta64[ns]")),
                "detector": (("detector",), np.arange(L.N_DETECTORS, dtype=np.int8))},
        attrs={**_provenance(l2), "flight": l2.attrs.get("flight", ""), "bin_s": float(cfg.bin_s.to_value(u.s)),
               "energy_band_kev": f"{lo} {hi}", "error_mask": int(products.error_mask)},
    )


def _inputs(ctx) -> tuple[xr.Dataset, xr.Dataset | None]:
    l2 = read_netcdf(ctx.inputs.one("l2"))
    hk = read_netcdf(ctx.inputs.one("hk")) if "hk" in ctx.inputs else None
    return l2, hk


def write_image(ctx) -> None:
    """Step `image` (rule make_foxsi_images): L2 -> results/foxsi/images/<granule>.nc."""
    l2, _ = _inputs(ctx)
    ctx.write(image(l2, ctx.settings.products), ctx.outputs.one(), table="image",
              title=f"{l2.attrs.get('flight', 'FOXSI')} counts images from {l2.attrs.get('telemetry_file', '')}",
              summary="FOXSI counts images per detector and combined (heliocentric arcsec where pointing is known).",
              references=REFERENCES)


def write_spectrum(ctx) -> None:
    """Step `spectrum` (rule make_foxsi_spectra): L2 + L1 housekeeping -> results/foxsi/spectra/<granule>.nc."""
    s = ctx.settings
    l2, hk = _inputs(ctx)
    ds = spectrum(l2, hk, flight=s.flights[l2.attrs["flight_key"]], l1=s.l1, products=s.products)
    ctx.write(ds, ctx.outputs.one(), table="spectrum",
              title=f"{l2.attrs.get('flight', 'FOXSI')} count spectra from {l2.attrs.get('telemetry_file', '')}",
              summary="FOXSI count spectra per detector with the error-bit selection, and rates over the exposure.",
              references=REFERENCES)


def write_lightcurve(ctx) -> None:
    """Step `lightcurve` (rule make_foxsi_lightcurves): L2 + L1 hk -> results/foxsi/lightcurves/<granule>.nc."""
    s = ctx.settings
    l2, hk = _inputs(ctx)
    ds = lightcurve(l2, hk, flight=s.flights[l2.attrs["flight_key"]], l1=s.l1, products=s.products)
    ctx.write(ds, ctx.outputs.one(), table="lightcurve",
              title=f"{l2.attrs.get('flight', 'FOXSI')} lightcurves from {l2.attrs.get('telemetry_file', '')}",
              summary="FOXSI counts, exposure and count rate per detector in time bins.", references=REFERENCES)
