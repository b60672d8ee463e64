"""FOXSI level 1: events of all detectors with positions, livetime, HV and error bits; housekeeping in units.

As the FOXSI team's ``foxsi_level0_to_level1.pro`` does (§2b), vectorised over events:

- hit, associated and unrelated strips (§2b.2): the hit ASIC's common mode, its three strips
  (the hit included), the other ASIC of the side and its common mode; hit_adc_sub = hit_adc - hit_cm;
- detector pixels from the raw channels (§2b.3 Si, §2b.4 CdTe) and payload coordinates
  (§2b.5: 7.735" or 6.19" pixels about 63.5, rotated counter-clockwise by the flight's angle,
  then y -> -y for Si; CdTe: angle negated, no reflection);
- livetime from the trigger and frame times (§2b.1), HV (§2b.6), detector temperature (§1d.3),
  altitude from the tracking file (§2b.7) and the seven error bits (§2b.8);
- from FOXSI-2 on only events at the nominal HV (§2b.9, ``keep_only_nominal_hv``).

Where the reference code has a quirk (§4), the decision taken is stated where the code makes it.
Times are datetime64[ns] UTC (``time``) plus the WSMR seconds of day (``wsmr_time``) for ``.log`` data.
"""
from __future__ import annotations

import astropy.units as u
import numpy as np
import xarray as xr

from levelpipe.foxsi import ancillary as anc
from levelpipe.foxsi import layout as L
from levelpipe.foxsi.flights import NS_PER_S
from levelpipe.foxsi.l0 import REFERENCES, hv_volts
from levelpipe.io import read_netcdf

ERROR_BITS = {  # §2b.8
    "common_mode_over_1023": 1,
    "no_hit_on_a_side": 2,
    "p_side_hit_common_mode_zero": 4,
    "hv_not_nominal_or_settling": 8,
    "hit_common_mode_above_hit_adc": 16,
    "si_hit_at_edge": 32,
    "livetime_out_of_range": 64,
}
# §2b.3-4: pixel = shift[ASIC] - channel; the n side gives y for Si and x for CdTe.
# (gse's display maps ASIC 1 to strip + 63 (§4); that is the GSE display only and not used.)
PIXEL_SHIFT = {"Si": (127, 63, 63, 127), "CdTe": (63, 127, 127, 63)}
SIDE_AXIS = {"Si": {"n": 1, "p": 0}, "CdTe": {"n": 0, "p": 1}}  # axis 0 = x, 1 = y
PIXEL_CENTRE = (2 * L.CHANNELS_PER_ASIC - 1) / 2.0  # 63.5 (§2b.5)
_TRIGGER_WRAP = 1 << 16
ARCSEC_PER_RAD = 180.0 * 3600.0 / np.pi


def pixel_of(material: str, asic: np.ndarray, channel: np.ndarray) -> np.ndarray:
    """Detector pixel (0..127, -1 where asic < 0) of raw `channel` on `asic` (§2b.3-4)."""
    shift = np.asarray(PIXEL_SHIFT[material])
    a = np.asarray(asic)
    return np.where(a >= 0, shift[np.clip(a, 0, 3)] - np.asarray(channel, np.int64), -1).astype(np.int16)


def pixel_arcsec(pitch: u.Quantity, focal_length: u.Quantity) -> float:
    """Angular pixel size: atan(pitch / focal length) in arcsec (§2b.5)."""
    return float(np.arctan((pitch / focal_length).to_value(u.one)) * ARCSEC_PER_RAD)


def payload_coords(material: str, angle: u.Quantity, pixel: float, x: np.ndarray, y: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Payload arcsec of detector pixels (x, y) (get_payload_coords, §2b.5).

    Si: rotate counter-clockwise by the detector angle, then y -> -y (the "vertical reflection
    problem found during post-flight alignment check"); CdTe: the angle negated, no reflection.
    Pixels < 0 (no hit) give NaN.
    """
    th = np.deg2rad(angle.to_value(u.deg))
    th = -th if material == "CdTe" else th
    xa = (np.asarray(x, float) - PIXEL_CENTRE) * pixel
    ya = (np.asarray(y, float) - PIXEL_CENTRE) * pixel
    c, s = np.cos(th), np.sin(th)
    px, py = c * xa - s * ya, s * xa + c * ya
    if material == "Si":
        py = -py
    bad = (np.asarray(x) < 0) | (np.asarray(y) < 0)
    return np.where(bad, np.nan, px), np.where(bad, np.nan, py)


def setup_time_us(det: np.ndarray) -> np.ndarray:
    """Readout set-up time of detector `det` (§2b.1): (23 + 33 (d + 1)) words x 2000/256 us per word."""
    t_word = L.FRAME_PERIOD_US / L.FRAME_WORDS
    return (L.DET_BLOCK0 + L.DET_BLOCK_WORDS * (np.asarray(det, np.int64) + 1)) * t_word


def livetime_us(trigger_time: np.ndarray, frame_time: np.ndarray, det: np.ndarray) -> np.ndarray:
    """Livetime of the event's frame (us), §2b.1:
    (trigger_time - frame_time mod 2^16) x 0.1 + 2000 - setup, brought into [0, 6553.6).

    Decision (fix of §4): IDL adds 2^16 x 0.1 when the result is negative but never subtracts it,
    so a trigger before a rollover of the clock's 16 LSBs gives livetime + 6553.6 us; here the
    result is taken modulo 2^16 ticks in both directions. Computed for trigger_time > 0 only
    (0 means no trigger); NaN otherwise. Unverified: computed in double precision; the notes do
    not say whether IDL's 0.1 is a single- or double-precision constant.
    Decision: IDL computes it only when some channel mask of the data set is non-zero (§2b.1);
    here always, since the masks are documented as unreliable (§1c) and the formula does not
    use them.
    """
    trig = np.asarray(trigger_time, np.int64)
    ft16 = np.asarray(frame_time, np.uint64).astype(np.int64) & (_TRIGGER_WRAP - 1)
    x = (trig - ft16) * L.CLOCK_TICK_US + L.FRAME_PERIOD_US - setup_time_us(det)
    wrap = _TRIGGER_WRAP * L.CLOCK_TICK_US
    x = np.where(x < 0, x + wrap, x)
    x = np.where(x >= wrap, x - wrap, x)
    return np.where(trig > 0, x, np.nan)


def hv_idl(hv_raw: np.ndarray) -> np.ndarray:
    """HV as IDL's L1 computes it: ishft(HV, -4) / 8 in integers (§1d.4, §2b.6)."""
    return (np.asarray(hv_raw, np.int64) >> L.HV_VALUE_SHIFT) // L.HV_COUNTS_PER_VOLT


def thermistor_degc(raw: np.ndarray, hk) -> np.ndarray:
    """YSI 44031 thermistor temperature (degC) of 12-bit raw values (§1d.2); NaN at 0, full scale or fill."""
    r = np.asarray(raw, float)
    ok = (r > 0) & (r < hk.full_scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        res = hk.thermistor_series_ohm / (hk.full_scale / np.where(ok, r, 1.0) - 1.0)
        lnr = np.log(res)
        t = 1.0 / (hk.thermistor_a + hk.thermistor_b * lnr + hk.thermistor_c * lnr ** 3) - hk.kelvin_offset
    return np.where(ok, t, np.nan)


def housekeeping_values(raw: np.ndarray, hk) -> dict[str, np.ndarray]:
    """The 16 channels in units (§1d.2): t_ref and therm1..11 in degC, the supplies in V."""
    r = np.where(raw == 0xFFFF, np.nan, raw.astype(float))
    names = [c for p in L.HOUSEKEEPING_CHANNELS for c in p]
    col = {n: r[:, i] for i, n in enumerate(names)}
    fs = hk.full_scale
    out = {
        "t_ref": (col["t_ref"] - hk.t_ref_zero_raw) * hk.t_ref_degc_per_raw + hk.t_ref_at_zero_degc,
        "plus_5v": hk.plus_5v_full_scale_v * col["plus_5v"] / fs,
        "minus_5v": hk.minus_5v_offset_v - hk.minus_5v_span_v * col["minus_5v"] / fs,
        "v3p3": hk.v3p3_full_scale_v * col["v3p3"] / fs,
        "v1p5": hk.v1p5_full_scale_v * col["v1p5"] / fs,
    }
    for i in range(1, 12):
        out[f"therm{i}"] = thermistor_degc(np.nan_to_num(col[f"therm{i}"], nan=0.0), hk)
    return out


def _frame_index(hk_time: np.ndarray, hk_counter: np.ndarray, time: np.ndarray, counter: np.ndarray) -> np.ndarray:
    """Row of the housekeeping frame of each event (same counter and time), -1 when absent."""
    key_hk = hk_time.astype(np.int64)
    order = np.argsort(key_hk, kind="stable")
    j = np.clip(np.searchsorted(key_hk[order], time.astype(np.int64)), 0, max(order.size - 1, 0))
    rows = order[j] if order.size else np.zeros(time.size, np.int64)
    ok = (order.size > 0) & (key_hk[rows] == time.astype(np.int64)) & (hk_counter[rows] == counter)
    return np.where(ok, rows, -1)


def _since_launch_s(time: np.ndarray, launch: np.datetime64) -> np.ndarray:
    return (time - launch).astype("timedelta64[ns]").astype(np.int64) / NS_PER_S


def level1(l0: list[xr.Dataset], hk0: xr.Dataset, *, flight, l1, housekeeping, ancillary,
           tracking: str | None = None) -> dict[str, xr.Dataset]:
    """Level 1 of one telemetry file: {"events": all detectors' events, "hk": housekeeping in units}.

    l0: the seven detector L0 datasets (D0..D6); hk0: the housekeeping L0 dataset; flight: the
    file's FlightSettings; l1, housekeeping, ancillary: settings sections; tracking: the
    flight's tracking file, or None (no altitude).
    """
    launch = np.datetime64(flight.launch_utc, "ns")
    launch_sod = float((launch - launch.astype("datetime64[D]")) / np.timedelta64(1, "ns")) / NS_PER_S
    wsmr = "wsmr_time" in hk0
    alt = anc.read_tracking(tracking, ancillary.tracking_time_column, ancillary.tracking_altitude_column) \
        if tracking else None
    alt_scale = 1000.0 if ancillary.tracking_altitude_unit == "km" else 1.0

    # housekeeping in units
    hkv = housekeeping_values(hk0["housekeeping_raw"].values, housekeeping)
    det_temp = np.full((hk0.sizes["frame"], L.N_DETECTORS), np.nan)
    for d, therm in housekeeping.detector_thermistor.items():
        det_temp[:, d] = hkv[f"therm{therm}"]
    hk_t = hk0["time"].values
    hk_alt = anc.interpolate(alt, _since_launch_s(hk_t, launch)) * alt_scale if alt else np.full(hk_t.size, np.nan)
    hv_raw_f = hk0["hv_raw"].values
    hk_data = {
        "frame_counter": (("frame",), hk0["frame_counter"].values),
        "hv": (("frame",), hv_volts(hv_raw_f).to_value(u.V)),
        "hv_status": (("frame",), (hv_raw_f & L.HV_STATUS_MASK).astype(np.int8)),
        "attenuator_actuating": (("frame",), ((hk0["formatter_status"].values & L.FORMATTER_STATUS_ATTENUATOR) > 0)
                                 .astype(np.int8)),
        **{k: (("frame",), v) for k, v in hkv.items()},
        "detector_temperature": (("frame", "detector"), det_temp),
        "altitude": (("frame",), hk_alt),
        "inflight": (("frame",), hk0["inflight"].values),
        "error_flag": (("frame",), hk0["error_flag"].values),
    }
    if wsmr:
        hk_data["wsmr_time"] = (("frame",), hk0["wsmr_time"].values)
    hk1 = xr.Dataset(hk_data, coords={"time": (("frame",), hk_t), "detector": hk0["detector"]},
                     attrs=dict(hk0.attrs))

    # events
    parts = []
    for ds in l0:
        d = int(ds.attrs["detector"])
        material = flight.detectors[d].material
        n = ds.sizes["event"]
        hit_asic = ds["hit_asic"].values.astype(np.int64)
        hit_strip = ds["hit_strip"].values.astype(np.int64)
        hit_adc = ds["hit_adc"].values.astype(np.int64)
        cm = ds["common_mode"].values.astype(np.int64)
        sdata = ds["strip_data"].values.astype(np.int64)
        schan = ds["strip_channel"].values.astype(np.int64)
        rows = np.arange(n)
        has = hit_asic >= 0
        ha = np.clip(hit_asic, 0, 3)
        other = ha ^ 1  # the side's other ASIC
        hit_cm = np.where(has, cm[rows[:, None], ha], -1)
        unrel_cm = np.where(has, cm[rows[:, None], other], -1)
        assoc_adc = np.where(has[..., None], sdata[rows[:, None], ha], -1)
        assoc_ch = np.where(has[..., None], schan[rows[:, None], ha], -1)
        unrel_adc = np.where(has[..., None], sdata[rows[:, None], other], -1)
        unrel_ch = np.where(has[..., None], schan[rows[:, None], other], -1)
        xy = np.full((n, 2), -1, np.int16)
        assoc_pix = np.full((n, 2, 3), -1, np.int16)
        for s, side in enumerate(L.SIDES):
            axis = SIDE_AXIS[material][side]
            xy[:, axis] = pixel_of(material, hit_asic[:, s], hit_strip[:, s])
            # Unverified: §2b.3 says the associated positions use strip_shift = [127, 63] "the same
            # way"; taken here as the hit's mapping of the same ASIC. Decision: associated strips
            # get detector pixels only, no payload or heliocentric positions (IDL's L2 flips
            # only index 1 of them back, §2c.3 and §4, which is not copied).
            assoc_pix[:, s] = pixel_of(material, np.where(has[:, s, None], ha[:, s, None], -1), assoc_ch[:, s])
        pix = pixel_arcsec(l1.cdte_pitch_um if material == "CdTe" else l1.si_pitch_um, l1.focal_length_m)
        pay_x, pay_y = payload_coords(material, flight.rotation_deg[d], pix, xy[:, 0], xy[:, 1])
        live = livetime_us(ds["trigger_time"].values, ds["frame_time"].values, np.full(n, d))
        hv_raw = ds["hv_raw"].values
        hv_i = hv_idl(hv_raw)
        t = ds["time"].values
        err = np.zeros(n, np.uint8)
        err |= np.where(ds["error_flag"].values > 0, ERROR_BITS["common_mode_over_1023"], 0).astype(np.uint8)
        err |= np.where((~has).any(axis=1), ERROR_BITS["no_hit_on_a_side"], 0).astype(np.uint8)
        p = L.SIDES.index("p")
        # Decision: bits 2, 4 and 5 test a side's hit only where that side has one (no hit is bit 1).
        err |= np.where(has[:, p] & (hit_cm[:, p] == 0), ERROR_BITS["p_side_hit_common_mode_zero"], 0).astype(np.uint8)
        settling = hv_i != int(round(l1.hv_nominal_v.to_value(u.V)))
        if wsmr:
            # Decision: the "wsmr_time < t_launch + 90 s" part of bit 3 applies to WSMR data, as in IDL.
            settling |= ds["wsmr_time"].values < launch_sod + l1.settle_after_launch_s.to_value(u.s)
        err |= np.where(settling, ERROR_BITS["hv_not_nominal_or_settling"], 0).astype(np.uint8)
        err |= np.where((has & (hit_cm > hit_adc)).any(axis=1), ERROR_BITS["hit_common_mode_above_hit_adc"],
                        0).astype(np.uint8)
        if material == "Si":
            edge = (xy >= 0) & ((xy < l1.si_edge_low) | (xy > l1.si_edge_high))
            err |= np.where(edge.any(axis=1), ERROR_BITS["si_hit_at_edge"], 0).astype(np.uint8)
        lo_us, hi_us = l1.livetime_min_us.to_value(u.us), l1.livetime_max_us.to_value(u.us)
        with np.errstate(invalid="ignore"):
            bad_live = ~((live >= lo_us) & (live <= hi_us))  # NaN (no trigger time) included
        err |= np.where(bad_live, ERROR_BITS["livetime_out_of_range"], 0).astype(np.uint8)
        # Decision (fix of §4): IDL's `where` returning -1 sets bits 1 and 2 on every detector's
        # last event; nothing of the kind here. Decision: IDL sets the error bits only when some
        # channel mask of the data set is non-zero (§2b.8); here always (the masks may be
        # unusable, §1c, and a USB file's events deserve their quality bits too).
        part = {
            "time": t, "frame_counter": ds["frame_counter"].values, "frame_time": ds["frame_time"].values,
            "det_num": np.full(n, d, np.int8), "trigger_time": ds["trigger_time"].values,
            "hit_asic": ds["hit_asic"].values, "hit_strip": ds["hit_strip"].values, "hit_adc": hit_adc,
            "hit_cm": hit_cm, "hit_adc_sub": np.where(has, hit_adc - hit_cm, 0), "unrel_cm": unrel_cm,
            "assoc_channel": assoc_ch, "assoc_adc": assoc_adc, "assoc_pixel": assoc_pix,
            "unrel_channel": unrel_ch, "unrel_adc": unrel_adc,
            "hit_xy_det": xy, "hit_xy_pay": np.stack([pay_x, pay_y], axis=1),
            "livetime": live, "hv": hv_volts(hv_raw).to_value(u.V), "inflight": ds["inflight"].values,
            "l0_error_flag": ds["error_flag"].values, "error_flag": err,
        }
        if wsmr:
            part["wsmr_time"] = ds["wsmr_time"].values
        if flight.keep_only_nominal_hv:
            # §2b.9: from FOXSI-2 on, L1 keeps only events at 200 V (IDL's integer HV).
            keep = hv_i == int(round(l1.hv_nominal_v.to_value(u.V)))
            part = {k: v[keep] for k, v in part.items()}
        parts.append(part)
    ev = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((ev["det_num"], ev["time"]))
    ev = {k: v[order] for k, v in ev.items()}

    # Detector temperature of the event's frame; altitude interpolated on its time (§2b.7).
    fi = _frame_index(hk_t, hk0["frame_counter"].values, ev["time"], ev["frame_counter"])
    temp = np.full(fi.size, np.nan)
    found = fi >= 0
    temp[found] = det_temp[fi[found], ev["det_num"][found].astype(np.int64)]
    # Decision (fix of §4): the altitude is interpolated onto the time after launch (IDL's hskp
    # routine adds t_launch to the altitude instead of the time).
    t_alt = ev["wsmr_time"] - launch_sod if wsmr else _since_launch_s(ev["time"], launch)
    altitude = anc.interpolate(alt, t_alt) * alt_scale if alt else np.full(ev["time"].size, np.nan)
    e = ("event",)
    data = {
        "frame_counter": (e, ev["frame_counter"]), "frame_time": (e, ev["frame_time"]),
        "det_num": (e, ev["det_num"]), "trigger_time": (e, ev["trigger_time"]),
        "hit_asic": (e + ("side",), ev["hit_asic"]), "hit_strip": (e + ("side",), ev["hit_strip"]),
        "hit_adc": (e + ("side",), ev["hit_adc"].astype(np.int16)),
        "hit_cm": (e + ("side",), ev["hit_cm"].astype(np.int32)),
        "hit_adc_sub": (e + ("side",), ev["hit_adc_sub"].astype(np.int32)),
        "unrel_cm": (e + ("side",), ev["unrel_cm"].astype(np.int32)),
        "assoc_channel": (e + ("side", "readout"), ev["assoc_channel"].astype(np.int8)),
        "assoc_adc": (e + ("side", "readout"), ev["assoc_adc"].astype(np.int16)),
        "assoc_pixel": (e + ("side", "readout"), ev["assoc_pixel"]),
        "unrel_channel": (e + ("side", "readout"), ev["unrel_channel"].astype(np.int8)),
        "unrel_adc": (e + ("side", "readout"), ev["unrel_adc"].astype(np.int16)),
        "hit_xy_det": (e + ("axis",), ev["hit_xy_det"]),
        "hit_xy_pay": (e + ("axis",), ev["hit_xy_pay"]),
        "livetime": (e, ev["livetime"]), "hv": (e, ev["hv"]), "temperature": (e, temp),
        "altitude": (e, altitude), "inflight": (e, ev["inflight"]),
        "l0_error_flag": (e, ev["l0_error_flag"]), "error_flag": (e, ev["error_flag"]),
    }
    if wsmr:
        data["wsmr_time"] = (e, ev["wsmr_time"])
    events = xr.Dataset(
        data, coords={"time": (e, ev["time"]), "side": (("side",), np.array(L.SIDES)),
                      "readout": (("readout",), np.array(["A", "B", "C"])), "axis": (("axis",), np.array(["x", "y"]))},
        attrs={**{k: v for k, v in hk0.attrs.items()},
               "tracking_file": alt.source if alt else "none",
               "detector_materials": " ".join(f"D{i}:{dd.material}" for i, dd in enumerate(flight.detectors)),
               "keep_only_nominal_hv": int(flight.keep_only_nominal_hv)},
    )
    return {"events": events, "hk": hk1}


def write_l1(ctx) -> None:
    """Step `l1` (rule calibrate_foxsi_l1): a telemetry file's L0 -> results/foxsi/l1/<granule>{,_hk}.nc."""
    s = ctx.settings
    dets = [read_netcdf(ctx.inputs.one(f"d{d}")) for d in range(L.N_DETECTORS)]
    hk0 = read_netcdf(ctx.inputs.one("hk"))
    flight = s.flights[hk0.attrs["flight_key"]]
    tracking = ctx.inputs.optional("tracking")
    out = level1(dets, hk0, flight=flight, l1=s.l1, housekeeping=s.housekeeping, ancillary=s.ancillary,
                 tracking=tracking)
    name = hk0.attrs["telemetry_file"]
    ctx.write(out["events"], ctx.outputs.one("events"), table="l1", title=f"{flight.name} events, level 1, from {name}",
              summary=("FOXSI events of all detectors with hit, associated and unrelated strips, detector and "
                       "payload positions, livetime, HV, temperature, altitude and the seven IDL error bits."),
              references=REFERENCES)
    ctx.write(out["hk"], ctx.outputs.one("hk"), table="l1_housekeeping",
              title=f"{flight.name} housekeeping, level 1, from {name}",
              summary="FOXSI formatter housekeeping in volts and degrees Celsius, HV, detector temperatures, altitude.",
              references=REFERENCES)
