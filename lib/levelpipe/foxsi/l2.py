"""FOXSI level 2: energies by the IDL method and heliocentric positions, per event.

``foxsi_level1_to_level2.pro`` (§2c): each side's hit energy is the IDL inversion of the hit
strip's fitted ADC(E) (``calibration``) at the L0 raw hit ADC minus the hit ASIC's common mode;
the associated strips use the same common mode (§2c.1). The heliocentric position is the payload
position plus the LISS pointing nearest in time (§2c.2): x = pay_x + pitch + offset_x,
y = pay_y - yaw + offset_y (yaw has its sign reversed), roll 0.
"""
from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
import xarray as xr

from levelpipe.foxsi import ancillary as anc
from levelpipe.foxsi import layout as L
from levelpipe.foxsi.calibration import energy_grid, invert, load_detector_gains
from levelpipe.foxsi.flights import NS_PER_S
from levelpipe.foxsi.l0 import REFERENCES
from levelpipe.io import read_netcdf

L2_BITS = {
    "no_gain_file": 1,  # the detector has no peaks file (FOXSI-2 CdTe) or it was not found
    "hit_strip_without_gain": 2,  # a side's hit strip has NaN peaks or a non-monotonic fit
    "common_mode_over_range": 4,  # a side's hit common mode is above l0.max_common_mode
    "no_pointing": 8,  # no LISS pitch/yaw for the event's time
}


def dither(n: int, settings) -> np.ndarray:
    """The common-mode dither of each event (§2c.1: IDL adds U(-0.5, 0.5) to the common mode).

    Decision: none by default, so that L2 is reproducible and equal to a rerun; "seeded" draws
    the IDL dither from `dither_seed` (one value per event, used on both sides and the
    associated strips). The difference is measured in tests/foxsi/test_foxsi_l2.py: it is
    below half an ADC count's worth of energy.
    """
    if settings.common_mode_dither == "none":
        return np.zeros(n)
    return np.random.default_rng(settings.dither_seed).uniform(-0.5, 0.5, n)


def level2(l1: xr.Dataset, *, flight, l0, l2, peaks: dict[int, str | None],
           liss_pitch: str | None = None, liss_yaw: str | None = None) -> xr.Dataset:
    """Level 2 of one telemetry file from its L1 events.

    flight: the file's FlightSettings; l0, l2: settings sections; peaks: {detector: peaks file
    path or None}; liss_pitch, liss_yaw: the LISS text files, or None (no heliocentric positions).
    """
    grid = energy_grid(*l2.energy_grid_kev.to_value(u.keV))
    gains = load_detector_gains(peaks, l2.fit_degree, grid)
    n = l1.sizes["event"]
    det = l1["det_num"].values.astype(np.int64)
    hit_asic = l1["hit_asic"].values.astype(np.int64)
    hit_strip = l1["hit_strip"].values.astype(np.int64)
    hit_adc = l1["hit_adc"].values.astype(np.float64)
    hit_cm = l1["hit_cm"].values.astype(np.float64)
    assoc_ch = l1["assoc_channel"].values.astype(np.int64)
    assoc_adc = l1["assoc_adc"].values.astype(np.float64)
    cmn = hit_cm + dither(n, l2)[:, None]
    hit_e = np.full((n, 2), np.nan)
    assoc_e = np.full((n, 2, 3), np.nan)
    flag = np.zeros(n, np.uint8)
    # Decision (fix of §4): a common mode above l0.max_common_mode gives no energy (IDL
    # extrapolates such events to about -23,000 keV); the event keeps L1 error bit 0 as well.
    cm_bad = hit_cm > l0.max_common_mode
    for d in range(L.N_DETECTORS):  # seven detectors: loop over detectors, vectorised over events
        sel = det == d
        g = gains.get(d)
        if not sel.any():
            continue
        if g is None:
            flag[sel] |= L2_BITS["no_gain_file"]
            continue
        ha, hs = hit_asic[sel], hit_strip[sel]
        hit_e[sel] = invert(g, ha, hs, hit_adc[sel] - cmn[sel]).to_value(u.keV)
        assoc_e[sel] = invert(g, ha[..., None], assoc_ch[sel], assoc_adc[sel] - cmn[sel][..., None]).to_value(u.keV)
        has = ha >= 0
        no_gain = has & ~g.usable[np.clip(ha, 0, 3), np.clip(hs, 0, 63)]
        flag[sel] |= np.where(no_gain.any(axis=1), L2_BITS["hit_strip_without_gain"], 0).astype(np.uint8)
    bad = cm_bad & (hit_asic >= 0)
    hit_e[bad] = np.nan
    assoc_e[bad] = np.nan
    flag |= np.where(bad.any(axis=1), L2_BITS["common_mode_over_range"], 0).astype(np.uint8)

    launch = np.datetime64(flight.launch_utc, "ns")
    launch_sod = float((launch - launch.astype("datetime64[D]")) / np.timedelta64(1, "ns")) / NS_PER_S
    if "wsmr_time" in l1:
        t_after = l1["wsmr_time"].values - launch_sod
    else:
        t_after = (l1["time"].values - launch).astype("timedelta64[ns]").astype(np.int64) / NS_PER_S
    if liss_pitch and liss_yaw:
        p_series, y_series = anc.read_liss(liss_pitch), anc.read_liss(liss_yaw)
        pitch, yaw = anc.nearest(p_series, t_after), anc.nearest(y_series, t_after)
        pointing_src = f"{p_series.source} {y_series.source}"
    else:
        pitch = yaw = np.full(n, np.nan)
        pointing_src = "none"
    ox, oy = flight.xy_offset_arcsec.to_value(u.arcsec)
    pay = l1["hit_xy_pay"].values
    solar = np.stack([pay[:, 0] + pitch + ox, pay[:, 1] - yaw + oy], axis=1)
    flag |= np.where(~np.isfinite(pitch) | ~np.isfinite(yaw), L2_BITS["no_pointing"], 0).astype(np.uint8)
    s = L.SIDES.index(l2.energy_side)
    out = l1.copy()
    out["hit_energy"] = (("event", "side"), hit_e)
    out["assoc_energy"] = (("event", "side", "readout"), assoc_e)
    out["energy"] = (("event",), hit_e[:, s])
    out["pitch"] = (("event",), pitch)
    out["yaw"] = (("event",), yaw)
    out["hit_xy_solar"] = (("event", "axis"), solar)
    out["l2_flag"] = (("event",), flag)
    out.attrs.update(gain_files=" ".join(f"D{d}:{g.source if g else 'none'}" for d, g in gains.items()),
                     pointing_files=pointing_src, energy_side=l2.energy_side,
                     common_mode_dither=l2.common_mode_dither)
    return out


def write_l2(ctx) -> None:
    """Step `l2` (rule calibrate_foxsi_l2): L1 events + peaks + LISS files -> results/foxsi/l2/<granule>.nc."""
    s = ctx.settings
    l1 = read_netcdf(ctx.inputs.one("l1"))
    flight = s.flights[l1.attrs["flight_key"]]
    by_name = {Path(p).name: p for p in ctx.inputs["peaks"]}
    peaks = {d: by_name.get(det.peaks_file) if det.peaks_file else None for d, det in enumerate(flight.detectors)}
    out = level2(l1, flight=flight, l0=s.l0, l2=s.l2, peaks=peaks, liss_pitch=ctx.inputs.optional("liss_pitch"),
                 liss_yaw=ctx.inputs.optional("liss_yaw"))
    ctx.write(out, ctx.outputs.one(), table="l2",
              title=f"{flight.name} events, level 2, from {l1.attrs['telemetry_file']}",
              summary=("FOXSI events with energies by the IDL method (quadratic ADC(E) per strip from the "
                       "peaks files, inverted) and heliocentric positions from the LISS pointing."),
              references=REFERENCES)
