"""FOXSI level 1: hit strips, positions, livetime, HV and quality bits per event; housekeeping in units.

For every event (`foxsi_level0_to_level1.pro`, vectorised): the common mode of each ASIC is
subtracted from its read-out strips; on each side (p: ASICs 2/3, n: ASICs 0/1) the hit strip
is the read-out strip with the largest common-mode-subtracted ADC; the other strips read out
on the hit ASIC are the *associated* strips and those of the other ASIC of the side the
*unrelated* strips. The p-side hit strip gives detector x, the n-side strip detector y; the
detector rotation gives payload coordinates in arcsec.
"""
from __future__ import annotations

import astropy.units as u
import numpy as np
import xarray as xr

from levelpipe.foxsi import flight as fl
from levelpipe.foxsi import formats as fmt
from levelpipe.foxsi.config import Flight, L1Settings
from levelpipe.foxsi.l0 import REFERENCES
from levelpipe.io import read_netcdf, write_netcdf

# Decision: the seven level-1 error bits.
ERROR_BITS = {
    "no_p_side_hit": 1,  # no p-side strip above the hit threshold
    "no_n_side_hit": 2,  # no n-side strip above the hit threshold
    "p_side_both_asics": 4,  # strips above threshold on both p-side ASICs (ambiguous position)
    "n_side_both_asics": 8,  # strips above threshold on both n-side ASICs
    "adc_saturated": 16,  # a hit strip's raw ADC is at the 10-bit maximum
    "readout_inconsistent": 32,  # more than 3 mask bits in an ASIC, or ADC in an unused slot
    "charge_shared": 64,  # an associated (neighbour) strip is above the hit threshold too
}
SIDES = {"p": fmt.P_SIDE, "n": fmt.N_SIDE}
_POPCOUNT16 = np.unpackbits(np.arange(1 << 16, dtype=">u2").view(np.uint8).reshape(-1, 2), axis=1).sum(
    axis=1).astype(np.uint8)


def readout_channels(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Channel of each read-out slot and the number of mask bits, per event and ASIC.

    mask: (n, 4 asic, 4 words) uint16. Returns channels (n, 4, 3) int16 (-1 for an unused slot)
    and nbits (n, 4). Decision: bit b of mask word k is channel 16k + b, and the ADC words
    follow the set bits in ascending channel order.
    """
    m = np.zeros(mask.shape[:2], dtype=np.uint64)
    for k in range(fmt.N_MASK_WORDS):  # 4 words -> one 64-bit hit pattern per ASIC
        m |= mask[..., k].astype(np.uint64) << np.uint64(16 * k)
    nbits = _POPCOUNT16[mask].sum(axis=-1, dtype=np.int64)  # np.bitwise_count needs numpy >= 2
    first = np.full(mask.shape[:2] + (fmt.N_READOUT,), -1, dtype=np.int16)
    for r in range(fmt.N_READOUT):  # peel off the lowest set bit three times
        lowest = m & (~m + np.uint64(1))
        has = lowest != 0
        first[..., r] = np.where(has, np.log2(np.where(has, lowest, 1).astype(np.float64)), -1).astype(np.int16)
        m ^= lowest
    return first, nbits


def hits(mask, strip_data, common_mode, threshold) -> dict[str, np.ndarray]:
    """Hit, associated and unrelated strips and ADC per side, and the readout error bits.

    threshold: hit threshold in common-mode-subtracted ADC counts (a plain number, as every ADC
    value here).
    Returns arrays keyed '<what>_<side>': hit_strip (n,) side strip 0..127 or -1, hit_adc (n,)
    float common-mode-subtracted ADC, hit_asic, hit_channel, hit_raw (n,) raw ADC,
    assoc_strip/assoc_adc (n, 2), unrel_strip/unrel_adc (n, 3); plus 'error_flag' (n,) uint8.
    """
    n = mask.shape[0]
    chans, nbits = readout_channels(mask)
    used = chans >= 0
    # Decision: common mode = the ASIC's common-mode word, subtracted from every strip it read out.
    adc = np.where(used, strip_data.astype(np.float64) - common_mode[..., None].astype(np.float64), np.nan)
    err = np.zeros(n, dtype=np.uint8)
    bad_readout = (nbits > fmt.N_READOUT).any(axis=1) | ((~used) & (strip_data != 0)).any(axis=(1, 2))
    err |= np.where(bad_readout, ERROR_BITS["readout_inconsistent"], 0).astype(np.uint8)
    out: dict[str, np.ndarray] = {}
    rows = np.arange(n)
    # Decision: on each side the hit strip is the read-out strip (of either ASIC of the side) with
    # the largest common-mode-subtracted ADC; "associated" strips are the other strips read out
    # on the hit ASIC (its neighbours), "unrelated" strips those read out on the side's other
    # ASIC. No charge from associated strips is added to the hit.
    for side, asics in SIDES.items():
        a0 = asics[0]
        sa = adc[:, list(asics), :].reshape(n, 2 * fmt.N_READOUT)
        best = np.argmax(np.where(np.isnan(sa), -np.inf, sa), axis=1)
        hit_asic_local, hit_slot = divmod(best, fmt.N_READOUT)
        hit_asic = a0 + hit_asic_local
        hit_ch = chans[rows, hit_asic, hit_slot].astype(np.int64)
        hit_adc = sa[rows, best]
        valid = np.isfinite(hit_adc)
        strip = np.where(valid, hit_asic_local * fmt.CHANNELS_PER_ASIC + hit_ch, -1)
        above = np.where(np.isnan(adc[:, list(asics)]), False, adc[:, list(asics)] > threshold)  # (n, 2, 3)
        hit_ok = valid & (hit_adc > threshold)
        err |= np.where(~hit_ok, ERROR_BITS[f"no_{side}_side_hit"], 0).astype(np.uint8)
        err |= np.where(above.any(axis=2).all(axis=1), ERROR_BITS[f"{side}_side_both_asics"], 0).astype(np.uint8)
        raw = strip_data[rows, hit_asic, hit_slot]
        err |= np.where(valid & (raw >= fmt.ADC_MAX), ERROR_BITS["adc_saturated"], 0).astype(np.uint8)
        # Associated: the other two slots of the hit ASIC; unrelated: the other ASIC's three slots.
        slots = np.arange(fmt.N_READOUT)
        other_slots = np.sort(np.where(slots[None, :] == hit_slot[:, None], fmt.N_READOUT, slots[None, :]), axis=1)[:, :2]
        assoc_ch = chans[rows[:, None], hit_asic[:, None], other_slots].astype(np.int64)
        assoc_adc = adc[rows[:, None], hit_asic[:, None], other_slots]
        assoc_strip = np.where(assoc_ch >= 0, (hit_asic_local[:, None]) * fmt.CHANNELS_PER_ASIC + assoc_ch, -1)
        err |= np.where(hit_ok & (np.nan_to_num(assoc_adc, nan=-np.inf) > threshold).any(axis=1),
                        ERROR_BITS["charge_shared"], 0).astype(np.uint8)
        other = a0 + 1 - hit_asic_local
        un_ch = chans[rows, other].astype(np.int64)
        un_strip = np.where(un_ch >= 0, (1 - hit_asic_local)[:, None] * fmt.CHANNELS_PER_ASIC + un_ch, -1)
        out.update({
            f"hit_strip_{side}": strip.astype(np.int16),
            f"hit_asic_{side}": np.where(valid, hit_asic, -1).astype(np.int8),
            f"hit_channel_{side}": np.where(valid, hit_ch, -1).astype(np.int16),
            f"hit_adc_{side}": hit_adc,
            f"assoc_strip_{side}": assoc_strip.astype(np.int16),
            f"assoc_adc_{side}": assoc_adc,
            f"unrel_strip_{side}": un_strip.astype(np.int16),
            f"unrel_adc_{side}": adc[rows, other],
        })
    out["error_flag"] = err
    return out


def _flag_attrs(long_name: str, bits: dict) -> dict:
    return {"long_name": long_name, "flag_masks": np.array(list(bits.values()), dtype=np.uint8),
            "flag_meanings": " ".join(bits), "valid_range": np.array([0, sum(bits.values())], dtype=np.uint8)}


def level1_events(l0s: list[xr.Dataset], flight: Flight, cfg: L1Settings) -> xr.Dataset:
    """Level-1 event list of all detectors from their level-0 datasets (sorted by frame, then detector)."""
    parts = []
    trigger_tick_ns = int(round(cfg.trigger_tick.to_value(u.s) * 1e9))
    for ds in l0s:
        det = int(ds["det_num"])
        h = hits(ds["mask"].values, ds["strip_data"].values, ds["common_mode"].values, cfg.hit_threshold_adc)
        n = ds.sizes["time"]
        ticks = ds["trigger_time"].values.astype(np.int64) * trigger_tick_ns
        h.update(
            time=ds["time"].values + ticks.astype("timedelta64[ns]"),
            frame_time=ds["time"].values,
            frame_counter=ds["frame_counter"].values,
            det_num=np.full(n, det, np.int8),
            hv=ds["hv"].values,
            livetime_ticks=ds["livetime"].values,
            pitch=ds["sparcs_pitch"].values, yaw=ds["sparcs_yaw"].values,
            common_mode=ds["common_mode"].values,
        )
        parts.append(h)
    ev = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((ev["det_num"], ev["frame_time"]))  # frame order, then detector
    ev = {k: v[order] for k, v in ev.items()}
    det = ev["det_num"].astype(np.int64)
    x_um = np.where(ev["hit_strip_p"] >= 0, fl.strip_centre(flight, ev["hit_strip_p"]).to_value(u.um), np.nan)
    y_um = np.where(ev["hit_strip_n"] >= 0, fl.strip_centre(flight, ev["hit_strip_n"]).to_value(u.um), np.nan)
    px, py = (p.to_value(u.arcsec) for p in fl.detector_to_payload(flight, det, x_um << u.um, y_um << u.um))
    t = flight.time_since_launch(ev["time"])
    hv_v = ev["hv"].astype(np.float64) * cfg.hv_per_count.to_value(u.V)
    # Decision: livetime = live ticks x tick length; its fraction is relative to the frame period.
    livetime = ev["livetime_ticks"].astype(np.float64) * cfg.livetime_tick.to_value(u.s)
    k = flight.sparcs_scale.to_value(u.arcsec)
    e = "event"
    data = {
        "frame_time": ((e,), ev["frame_time"], {"long_name": "time of the formatter frame (UTC)"}),
        "frame_counter": ((e,), ev["frame_counter"], {"long_name": "formatter frame counter", "units": "1"}),
        "det_num": ((e,), ev["det_num"], {"long_name": "detector position number (D0-D6)", "units": "1"}),
        "det_x": ((e,), x_um, {"long_name": "event x in detector coordinates (p-side strip centre)", "units": "um"}),
        "det_y": ((e,), y_um, {"long_name": "event y in detector coordinates (n-side strip centre)", "units": "um"}),
        "pay_x": ((e,), px, {"long_name": "event x in payload coordinates", "units": "arcsec"}),
        "pay_y": ((e,), py, {"long_name": "event y in payload coordinates", "units": "arcsec"}),
        "hv": ((e,), hv_v, {"long_name": "detector high voltage", "units": "V"}),
        "hv_nominal": ((e,), cfg.hv_nominal_mask(hv_v << u.V).astype(np.int8),
                       {"long_name": "HV at nominal bias", "flag_values": np.array([0, 1], np.int8),
                        "flag_meanings": "hv_not_nominal hv_nominal"}),
        "livetime": ((e,), livetime, {"long_name": "detector livetime during the event's frame", "units": "s"}),
        "livetime_fraction": ((e,), livetime / flight.frame_period.to_value(u.s),
                              {"long_name": "detector livetime fraction during the event's frame", "units": "1"}),
        "inflight": ((e,), fl.inflight(flight, t).astype(np.int8),
                     {"long_name": "in-flight flag", "flag_values": np.array([0, 1], np.int8),
                      "flag_meanings": "ground_or_outside_flight in_flight"}),
        "altitude": ((e,), fl.altitude(flight, t).to_value(u.km),
                     {"long_name": "payload altitude (interpolated)", "standard_name": "altitude", "units": "km",
                      "positive": "up"}),
        "sparcs_pitch": ((e,), ev["pitch"] * k, {"long_name": "SPARCS fine pitch", "units": "arcsec"}),
        "sparcs_yaw": ((e,), ev["yaw"] * k, {"long_name": "SPARCS fine yaw", "units": "arcsec"}),
        "common_mode": ((e, "asic"), ev["common_mode"], {"long_name": "ASIC common-mode level subtracted", "units": "1"}),
        "error_flag": ((e,), ev["error_flag"], _flag_attrs("level-1 event error bits", ERROR_BITS)),
    }
    for side in SIDES:
        for what, dims, ln, unit in (
                ("hit_strip", (e,), "hit strip number on the side (0-127)", "1"),
                ("hit_asic", (e,), "ASIC of the hit strip", "1"),
                ("hit_channel", (e,), "channel of the hit strip on its ASIC", "1"),
                ("hit_adc", (e,), "common-mode-subtracted ADC of the hit strip", "1"),
                ("assoc_strip", (e, "assoc"), "associated strips (other read-out strips of the hit ASIC)", "1"),
                ("assoc_adc", (e, "assoc"), "common-mode-subtracted ADC of the associated strips", "1"),
                ("unrel_strip", (e, "unrel"), "unrelated strips (read out on the side's other ASIC)", "1"),
                ("unrel_adc", (e, "unrel"), "common-mode-subtracted ADC of the unrelated strips", "1")):
            attrs = {"long_name": f"{side} side {ln}", "units": unit}
            if "strip" in what or what in ("hit_asic", "hit_channel"):
                attrs["comment"] = "-1: none"
            data[f"{what}_{side}"] = (dims, ev[f"{what}_{side}"], attrs)
    return xr.Dataset(
        data,
        coords={"time": ((e,), ev["time"], {"standard_name": "time", "long_name": "event time (UTC)"}),
                "asic": (("asic",), np.arange(fmt.N_ASICS, dtype=np.int8),
                         {"long_name": "ASIC number (0,1 n side; 2,3 p side)", "units": "1"})},
        attrs={"flight": flight.name},
    )


def level1_housekeeping(hk: xr.Dataset, flight: Flight, cfg: L1Settings) -> xr.Dataset:
    """Housekeeping level 1: HV in volts, multiplexed channels in V / degC, livetime, altitude.

    Decision: each multiplexed channel keeps its value only at its own frames (frame_counter
    mod 8 == channel) and is NaN elsewhere - no interpolation or sample-and-hold.
    """
    t = flight.time_since_launch(hk["time"].values)
    hv_v = hk["hv"].values.astype(np.float64) * cfg.hv_per_count.to_value(u.V)
    livetime = hk["livetime"].values.astype(np.float64) * cfg.livetime_tick.to_value(u.s)
    k = flight.sparcs_scale.to_value(u.arcsec)
    out = {
        "frame_counter": hk["frame_counter"],
        "hv": (("time",), hv_v, {"long_name": "detector high voltage", "units": "V"}),
        "hv_enabled": (("time",), ((hk["status"].values & fmt.STATUS_HV_ENABLED) > 0).astype(np.int8),
                       {"long_name": "HV enabled", "flag_values": np.array([0, 1], np.int8),
                        "flag_meanings": "hv_off hv_on"}),
        "livetime": (("time", "detector"), livetime,
                     {"long_name": "detector livetime during the frame", "units": "s"}),
        "altitude": (("time",), fl.altitude(flight, t).to_value(u.km),
                     {"long_name": "payload altitude (interpolated)", "standard_name": "altitude", "units": "km",
                      "positive": "up"}),
        "inflight": hk["inflight"],
        "sparcs_pitch": (("time",), hk["sparcs_pitch"].values * k,
                         {"long_name": "SPARCS fine pitch", "units": "arcsec"}),
        "sparcs_yaw": (("time",), hk["sparcs_yaw"].values * k,
                       {"long_name": "SPARCS fine yaw", "units": "arcsec"}),
    }
    raw = hk["hk_value"].values.astype(np.float64)
    chan = hk["hk_channel"].values
    for i, ch in enumerate(cfg.housekeeping):
        val = np.where(chan == i, raw * ch.scale.to_value(ch.unit) + ch.offset.to_value(ch.unit), np.nan)
        out[ch.name] = (("time",), val, {"long_name": ch.long_name, "units": ch.units})
    for name in hk.data_vars:
        if name.startswith("bad_frames_") or name in ("frames_decoded", "unframed_bytes", "counter_resets",
                                                      "wsmr_time_tags_replaced"):
            out[name] = hk[name]
    return xr.Dataset(out, coords={"time": hk["time"], "detector": hk["detector"]},
                      attrs={"flight": flight.name})


def make_l1(det_inputs: list, hk_input, out_events, out_hk, cfg: dict) -> None:
    """Level 1 of one flight file: event list of all detectors and housekeeping in units.

    cfg: {"l1": config l1 section, "flight": per-flight config} (dicts, as in the product provenance).
    """
    l0s = [read_netcdf(p) for p in det_inputs]
    hk0 = read_netcdf(hk_input)
    flight = Flight.from_config(cfg["flight"])
    settings = L1Settings.from_config(cfg["l1"])
    ev = level1_events(l0s, flight, settings)
    for k in ("frames_decoded", "wsmr_time_tags_replaced", *(f"bad_frames_{kind}" for kind in fmt.FAULT_KINDS)):
        ev.attrs[k] = int(hk0.attrs[k])
    write_netcdf(ev, out_events, title=f"{flight.name} level 1 events",
                 summary=("FOXSI events with common-mode-subtracted hit, associated and unrelated strips, "
                          "detector and payload positions, livetime, HV, altitude and error bits."),
                 mission="foxsi", level="L1", inputs=[*det_inputs], config=cfg, references=REFERENCES)
    hk1 = level1_housekeeping(hk0, flight, settings)
    write_netcdf(hk1, out_hk, title=f"{flight.name} housekeeping level 1",
                 summary="FOXSI housekeeping in volts and degrees Celsius, HV, livetime, SPARCS and altitude.",
                 mission="foxsi", level="L1", inputs=[hk_input], config=cfg, references=REFERENCES)
