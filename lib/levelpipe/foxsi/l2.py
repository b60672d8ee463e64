"""FOXSI level 2: energies from the per-strip gain files and heliocentric positions.

Energies follow `foxsi_level1_to_level2.pro`: the common-mode-subtracted ADC of a strip is
interpolated through that strip's calibration peaks (`calibration.GainTable`). Heliocentric
positions are payload positions plus the pointing (SPARCS target centre, fine pitch/yaw and the
flight's pointing offset, `flight.pointing`).
"""
from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
import xarray as xr

from levelpipe.foxsi import flight as fl
from levelpipe.foxsi import formats as fmt
from levelpipe.foxsi.calibration import load_gains
from levelpipe.foxsi.config import Flight, L2Settings
from levelpipe.foxsi.l0 import REFERENCES
from levelpipe.foxsi.l1 import SIDES
from levelpipe.io import read_netcdf, write_netcdf

# Decision: level-2 quality bits, separate from the seven level-1 error bits.
L2_BITS = {
    "p_side_no_gain": 1,  # the p-side hit strip has NaN / non-monotonic calibration points
    "n_side_no_gain": 2,  # the n-side hit strip has NaN / non-monotonic calibration points
    "no_gain_file": 4,  # the detector has no peaks file (FOXSI-2 CdTe D2, D3)
    "outside_pointing_schedule": 8,  # no SPARCS target at this time: no heliocentric position
}


def strip_energies(gains: dict, det: np.ndarray, asic: np.ndarray, channel: np.ndarray,
                   adc: np.ndarray) -> tuple[u.Quantity, np.ndarray]:
    """Energy (Quantity, keV) of each strip (asic, channel) with `adc` (common-mode-subtracted
    ADC counts), and whether its gain was usable.

    Arrays are broadcast together; asic/channel < 0 (no strip) give NaN. Loops over the seven
    detectors only.
    """
    det, asic, channel, adc = np.broadcast_arrays(det, asic, channel, adc)
    energy = np.full(adc.shape, np.nan)
    usable = np.zeros(adc.shape, bool)
    for d, gain in gains.items():
        sel = (det == d) & (asic >= 0) & (channel >= 0)
        if gain is None or not sel.any():
            continue
        a, c = asic[sel].astype(np.int64), channel[sel].astype(np.int64)
        energy[sel] = gain.energy_of(a, c, adc[sel]).to_value(u.keV)
        usable[sel] = gain.valid[a, c]
    return energy << u.keV, usable


def level2_events(l1: xr.Dataset, flight: Flight, gains: dict, cfg: L2Settings) -> xr.Dataset:
    """Level-2 event list: level 1 plus energies (keV), heliocentric x/y (arcsec) and quality bits."""
    e = "event"
    det = l1["det_num"].values.astype(np.int64)
    flag = np.zeros(det.size, np.uint8)
    out = l1.copy()
    for side in SIDES:
        asic = l1[f"hit_asic_{side}"].values.astype(np.int64)
        ch = l1[f"hit_channel_{side}"].values.astype(np.int64)
        en, usable = strip_energies(gains, det, asic, ch, l1[f"hit_adc_{side}"].values)
        has_hit = asic >= 0
        flag |= np.where(has_hit & ~usable & np.isin(det, [d for d, g in gains.items() if g is not None]),
                         L2_BITS[f"{side}_side_no_gain"], 0).astype(np.uint8)
        out[f"hit_energy_{side}"] = ((e,), en.to_value(u.keV),
                                     {"long_name": f"{side} side hit strip energy", "units": "keV"})
        # Associated strips sit on the hit ASIC: their channel is strip mod 64.
        a_strip = l1[f"assoc_strip_{side}"].values.astype(np.int64)
        a_ch = np.where(a_strip >= 0, a_strip % fmt.CHANNELS_PER_ASIC, -1)
        a_en, _ = strip_energies(gains, det[:, None], np.where(a_strip >= 0, asic[:, None], -1), a_ch,
                                 l1[f"assoc_adc_{side}"].values)
        out[f"assoc_energy_{side}"] = ((e, "assoc"), a_en.to_value(u.keV),
                                       {"long_name": f"{side} side associated strip energies", "units": "keV"})
    no_file = np.array([gains.get(int(d)) is None for d in range(fmt.N_DETECTORS)])[det]
    flag |= np.where(no_file, L2_BITS["no_gain_file"], 0).astype(np.uint8)
    # Decision: the event energy is the hit-strip energy of the side named in config l2.energy_side
    # (p side by default: ASICs 2/3 carry the Ba-133 and Am-241 lines in every peaks file);
    # neighbour charge is not added (the associated energies are kept for users who want to).
    out["hit_energy"] = ((e,), out[f"hit_energy_{cfg.energy_side}"].values,
                         {"long_name": "event energy (hit strip of the energy side)",
                          "comment": f"from the {cfg.energy_side} side", "units": "keV"})
    cx, cy = (c.to_value(u.arcsec) for c in fl.target_centre(flight, flight.time_since_launch(l1["time"].values)))
    ox, oy = flight.pointing_offset.to_value(u.arcsec)
    # SPARCS pitch/yaw in level 1 are already arcsec; pointing = centre + yaw/pitch + offset.
    point_x = cx + l1["sparcs_yaw"].values + ox
    point_y = cy + l1["sparcs_pitch"].values + oy
    flag |= np.where(np.isnan(cx), L2_BITS["outside_pointing_schedule"], 0).astype(np.uint8)
    out["hit_xy_solar_x"] = ((e,), l1["pay_x"].values + point_x,
                             {"long_name": "event heliocentric (helioprojective) x, solar west", "units": "arcsec"})
    out["hit_xy_solar_y"] = ((e,), l1["pay_y"].values + point_y,
                             {"long_name": "event heliocentric (helioprojective) y, solar north", "units": "arcsec"})
    out["pointing_x"] = ((e,), point_x, {"long_name": "heliocentric x of the optical axis", "units": "arcsec"})
    out["pointing_y"] = ((e,), point_y, {"long_name": "heliocentric y of the optical axis", "units": "arcsec"})
    out["l2_flag"] = ((e,), flag, {"long_name": "level-2 quality bits",
                                   "flag_masks": np.array(list(L2_BITS.values()), np.uint8),
                                   "flag_meanings": " ".join(L2_BITS),
                                   "valid_range": np.array([0, sum(L2_BITS.values())], np.uint8)})
    out.attrs["gain_files"] = " ".join(f"D{d}:{g.source if g else 'none'}" for d, g in gains.items())
    return out


def make_l2(l1_input, out, cfg: dict, calibration_dir) -> None:
    """Level 2 of one flight file. cfg: {"l2": config l2 section, "flight": per-flight config} (dicts)."""
    flight = Flight.from_config(cfg["flight"])
    gains = load_gains(flight.gain_files, calibration_dir)
    l1 = read_netcdf(l1_input)
    ds = level2_events(l1, flight, gains, L2Settings.from_config(cfg["l2"]))
    gain_paths = [Path(calibration_dir) / g for g in flight.gain_files.values() if g]
    write_netcdf(ds, out, title=f"{flight.name} level 2 events",
                 summary=("FOXSI events with energies from the per-strip gain files (foxsi-science peaks "
                          "files) and heliocentric positions from the SPARCS pointing."),
                 mission="foxsi", level="L2", inputs=[l1_input, *gain_paths], config=cfg, references=REFERENCES)
