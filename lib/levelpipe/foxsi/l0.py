"""FOXSI level 0: the decoded telemetry of one file, one dataset per detector and one of housekeeping.

As the FOXSI team's ``formatter_data_to_level0.pro`` / ``wsmr_data_to_level0.pro`` (§2a) and
``wsmr_data_to_hskp_level0.pro`` (§2a.7) do, with the variable names of the product contract:

- a detector dataset has one row per frame in which the detector has an event (any of its first
  32 block words non-zero, §2a.4): frame counter and clock, trigger time, the raw strip words
  split into channel and ADC, common modes, 64-bit channel masks, the HV word, the hit of each
  side found on the raw ADCs (§2a.2), ``inflight`` (HV > 190 V, §2a.6) and ``error_flag`` (a common
  mode > 1023, §2a.5), and for ``.log`` files the WSMR time;
- the housekeeping dataset has one row per frame: the raw words, the 16 multiplexed channels
  held over each 4-frame cycle, ``inflight`` (after launch) and ``error_flag`` (counter step not 1).

Every dataset carries the decoder's bad-frame counts (``bad_count_attrs("frames", ...)``).

Times: ``time`` is datetime64[ns] UTC. For ``.log`` files it is the WSMR ground-receive time
(§1e); for ``.dat`` files the file's start time plus the 10 MHz frame clock (§1a.6).
"""
from __future__ import annotations

import os
from pathlib import Path

import astropy.units as u
import numpy as np
import xarray as xr

from levelpipe.foxsi import layout as L
from levelpipe.foxsi.decode import DecodeLimits, Telemetry, decode_file
from levelpipe.foxsi.flights import NS_PER_S, FileFlight, flight_of, gse_start
from levelpipe.io.variables import bad_count_attrs

REFERENCES = ("foxsi-science IDL software, https://github.com/foxsi/foxsi-science; Krucker et al. 2014, "
              "ApJL 793, L32 (FOXSI-1); Glesener et al. 2016, Proc. SPIE 9905 (FOXSI-2)")
PRODUCTS = tuple(f"d{d}" for d in range(L.N_DETECTORS)) + ("hk",)
HK_FILL = np.uint16(0xFFFF)


# ----------------------------------------------------------------------------- times

def counter_resets(counter: np.ndarray, clock: np.ndarray, max_missing_run: int) -> np.ndarray:
    """(n-1,) steps between consecutive frames that start a new clock segment: a counter step of
    0, backwards or beyond max_missing_run (as the decoder counts resets), or a clock not moving
    forward."""
    dc = (counter[1:] - counter[:-1]) % (1 << 32)
    return (dc == 0) | (dc > max_missing_run) | (clock[1:] <= clock[:-1])


def wsmr_seconds(wsmr: np.ndarray) -> np.ndarray:
    """Seconds of day of WSMR words A, B, C (§1e): A + 65536 (B >> 15) + (B & 0x3FF) ms + (C & 0x3FF) us.

    Decision: no 36 s offset (§1e: the "36-second delay" of FOXSI-2 was a decoding bug), and
    B[14:10], C[15:10] are masked off, as IDL does. Decision (fix of §4): the housekeeping uses
    the same full seconds (IDL's housekeeping keeps them modulo 65536, 18.2 h early after 65536 s).
    """
    a, b, c = (wsmr[:, i].astype(np.int64) for i in range(3))
    sec = a + (b >> L.WSMR_SECONDS_HIGH_SHIFT) * 65536
    return sec + (b & L.WSMR_MS_MASK) * 1e-3 + (c & L.WSMR_US_MASK) * 1e-6


def _to_us(t: np.ndarray) -> np.ndarray:
    """Decision: frame times are kept to the microsecond (the products' time unit and the WSMR
    resolution, §1e); the exact 0.1 us clock stays in frame_time."""
    return t.astype("datetime64[us]").astype("datetime64[ns]")


def frame_times(tel: Telemetry, ff: FileFlight, path, max_missing_run: int, clock_tolerance: u.Quantity
                ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(time datetime64[ns] UTC, WSMR seconds of day or None, WSMR time replaced or None) per frame.

    Decision: the WSMR words are outside the checksum (§1a.5) while the 10 MHz clock is inside
    it, so each WSMR time is checked against the clock: within one clock segment (between
    counter resets) WSMR time - clock time is constant to about the 1 ms the WSMR time is good
    to (seed document, §1e); a WSMR time further than `clock_tolerance` from the segment's
    median is damaged, flagged, and the frame's time is the clock's prediction instead.
    """
    n = tel.n_frames
    clock = tel.clock
    clock_s = clock.astype(np.float64) * (L.CLOCK_TICK_US * 1e-6)
    reset = counter_resets(tel.counter, clock, max_missing_run)
    segment = np.concatenate([[0], np.cumsum(reset)])
    if tel.wsmr is not None:
        # Decision: a .log file has no date; its seconds of day are of the flight's launch day.
        sod = wsmr_seconds(tel.wsmr)
        offset = sod - clock_s
        med = np.zeros(n)
        for s in np.unique(segment):  # one pass per clock segment (a handful per file at most)
            sel = segment == s
            med[sel] = np.median(offset[sel])
        predicted = clock_s + med
        replaced = np.abs(sod - predicted) > clock_tolerance.to_value(u.s)
        used = np.where(replaced, predicted, sod)
        ns = np.rint(used * NS_PER_S).astype(np.int64)
        return _to_us(ff.launch_day + ns.astype("timedelta64[ns]")), sod, replaced
    # Decision: a GSE file's frames are timed by the clock from the file's start; across a
    # clock segment boundary (formatter restart) the step is one nominal frame period.
    start = gse_start(path, ff) if path is not None else ff.launch
    step = np.diff(clock).astype(np.float64) * L.CLOCK_TICK_US * 1e3  # ns
    step = np.where(reset, L.FRAME_PERIOD_US * 1e3, step)
    ns = np.rint(np.concatenate([[0.0], np.cumsum(step)])).astype(np.int64)
    return _to_us(start + ns.astype("timedelta64[ns]")), None, None


# ----------------------------------------------------------------------------- detector events

def split_strip_words(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(channel, ADC) of strip words: bits 15..10 and bits 9..0 (§1c)."""
    return (words >> L.STRIP_CHANNEL_SHIFT).astype(np.uint8), (words & L.STRIP_ADC_MASK).astype(np.uint16)


def find_hits(adc: np.ndarray, channel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The IDL L0 hit of each side (§2a.2): (hit_asic, hit_strip, hit_adc), each (m, 2 sides n, p).

    adc, channel: (m, 4 ASICs, 3 strip words). On raw ADCs (no common mode subtracted), per
    side with ASICs (a0, a1): a0 when max(a0) >= max(a1) and max(a0) > 0, a1 when max(a1) > max(a0),
    else no hit (-1). hit_adc is that ASIC's maximum; hit_strip the channel of its middle strip
    word B.
    Decision: IDL's "glitch" step, meant to move the hit to word A or C when that one is larger,
    tests hit_adc against an ASIC number and so in practice never fires (§2a.2, §4); it is not
    applied here, and hit_strip is always word B's channel, as IDL gives in practice.
    """
    m = adc.shape[0]
    mx = adc.max(axis=2).astype(np.int32)
    asic = np.full((m, 2), -1, np.int8)
    strip = np.full((m, 2), -1, np.int8)
    hadc = np.full((m, 2), -1, np.int16)
    rows = np.arange(m)
    for s, (a0, a1) in enumerate((L.N_SIDE_ASICS, L.P_SIDE_ASICS)):
        first = (mx[:, a0] >= mx[:, a1]) & (mx[:, a0] > 0)
        second = mx[:, a1] > mx[:, a0]
        pick = np.where(first, a0, a1)
        has = first | second
        asic[:, s] = np.where(has, pick, -1)
        hadc[:, s] = np.where(has, mx[rows, pick], -1)
        strip[:, s] = np.where(has, channel[rows, pick, L.MIDDLE_STRIP_WORD], -1)
    return asic, strip, hadc


def detector_fields(words: np.ndarray) -> dict[str, np.ndarray]:
    """Raw fields of detector blocks (m, 33) uint16 (§1c)."""
    m = words.shape[0]
    asic_words = words[:, 1:].reshape(m, L.N_ASICS, L.ASIC_WORDS)
    mask_w = asic_words[:, :, L.A_MASK - 1: L.A_MASK - 1 + L.N_MASK_WORDS].astype(np.uint64)
    mask = np.zeros((m, L.N_ASICS), np.uint64)
    for k in range(L.N_MASK_WORDS):  # mask word k bit p = channel 16k + p
        mask |= mask_w[:, :, k] << np.uint64(16 * k)
    strips = asic_words[:, :, L.A_STRIP - 1: L.A_STRIP - 1 + L.N_STRIP_WORDS]
    channel, adc = split_strip_words(strips)
    cm = asic_words[:, :, L.A_COMMON_MODE - 1]
    hit_asic, hit_strip, hit_adc = find_hits(adc, channel)
    return {"trigger_time": words[:, L.D_TRIGGER_TIME], "channel_mask": mask, "strip_channel": channel,
            "strip_data": adc, "common_mode": cm, "hit_asic": hit_asic, "hit_strip": hit_strip, "hit_adc": hit_adc}


def hv_volts(hv_raw: np.ndarray) -> u.Quantity:
    """HV (Quantity, V) from the HV word: (word >> 4) / 8 (§1d.4).

    Decision: the HV value is kept exact ((word >> 4) / 8 V, as gse's data.cpp:975); IDL's
    integer division (``ishft(HV, -4) / 8``) is used only where IDL selects on it (the
    200 V selection and error bit 3, ``levelpipe.foxsi.l1.hv_idl``).
    """
    return ((np.asarray(hv_raw).astype(np.int64) >> L.HV_VALUE_SHIFT) / L.HV_COUNTS_PER_VOLT) * u.V


# ----------------------------------------------------------------------------- housekeeping

def held_channels(counter: np.ndarray, hk_words: np.ndarray) -> np.ndarray:
    """(n, 16) raw 12-bit housekeeping channels, each frame given the values of its 4-frame cycle.

    hk_words: (n, 4) words f6, f10, f14, f18 (§1d.1); phase = counter & 3. A channel comes from
    the frame of the same cycle (counter >> 2) whose phase carries it, looked for within 3 rows
    (so a counter reset elsewhere in the file cannot lend a value). Decision: a channel whose
    frame is missing has no value in that cycle (fill 0xFFFF), not the previous cycle's.
    """
    n = counter.size
    out = np.full((n, 16), HK_FILL, np.uint16)
    found = np.zeros((n, L.HOUSEKEEPING_PHASES), bool)
    base = counter & ~np.int64(3)
    phase = counter & 3
    for p in range(L.HOUSEKEEPING_PHASES):
        # Consecutive frames first (the frame of phase p is p - phase rows away), then, for rows
        # near a gap only, every other offset within the cycle.
        for offsets in ((None,), (-3, -2, -1, 1, 2, 3)):
            todo = np.flatnonzero(~found[:, p])
            if todo.size == 0:
                break
            for o in offsets:
                src = todo + (p - phase[todo] if o is None else o)
                ok = (src >= 0) & (src < n)
                hit = np.zeros(todo.size, bool)
                hit[ok] = counter[src[ok]] == (base[todo[ok]] | p)
                sel = todo[hit] if o is None else todo[hit & ~found[todo, p]]
                srcs = src[hit] if o is None else src[hit & ~found[todo, p]]
                out[sel, 4 * p: 4 * p + 4] = hk_words[srcs] & L.HOUSEKEEPING_RAW_MASK
                found[sel, p] = True
    return out


# ----------------------------------------------------------------------------- datasets

def _fault_attrs(tel: Telemetry) -> dict:
    attrs = bad_count_attrs("frames", tel.n_frames, tel.faults, L.FAULT_KINDS)
    attrs.update(counter_resets=int(tel.counter_resets), bytes_outside_frames=int(tel.bytes_outside_frames),
                 telemetry_kind=tel.kind, byte_order=tel.byteorder, telemetry_bytes=int(tel.n_bytes))
    return attrs


def level0(telemetry: str | os.PathLike, *, flights, files, decode, l0) -> dict[str, xr.Dataset]:
    """Level-0 datasets of one telemetry file: {"d0".."d6": detector events, "hk": housekeeping}.

    flights, files, decode, l0: the settings sections of the same names (FoxsiSettings).
    """
    path = Path(telemetry)
    ff = flight_of(path, flights, files)
    lim = DecodeLimits.from_settings(decode)
    tel = decode_file(path, lim)
    return level0_from(tel, ff, path, decode, l0)


def level0_from(tel: Telemetry, ff: FileFlight, path, decode, l0) -> dict[str, xr.Dataset]:
    """`level0` of an already decoded file."""
    times, sod, replaced = frame_times(tel, ff, path, decode.max_missing_run, decode.wsmr_clock_tolerance_s)
    h = tel.header
    counter = tel.counter.astype(np.uint32)
    clock = tel.clock.astype(np.uint64)
    hv_raw = h[:, L.W_HV]
    attrs = {**_fault_attrs(tel), "flight": ff.flight.name, "flight_key": ff.key,
             "telemetry_file": path.name if path is not None else ""}
    if sod is not None:
        attrs["wsmr_times_replaced"] = int(replaced.sum())
    inflight_hv = l0.inflight_hv_v.to_value(u.V)
    out: dict[str, xr.Dataset] = {}
    for d, (rows, words) in enumerate(tel.events):
        f = detector_fields(words)
        data = {
            "frame_counter": (("event",), counter[rows]),
            "frame_time": (("event",), clock[rows]),
            "trigger_time": (("event",), f["trigger_time"]),
            "hit_asic": (("event", "side"), f["hit_asic"]),
            "hit_strip": (("event", "side"), f["hit_strip"]),
            "hit_adc": (("event", "side"), f["hit_adc"]),
            "strip_data": (("event", "asic", "readout"), f["strip_data"]),
            "strip_channel": (("event", "asic", "readout"), f["strip_channel"]),
            "common_mode": (("event", "asic"), f["common_mode"]),
            "channel_mask": (("event", "asic"), f["channel_mask"]),
            "hv_raw": (("event",), hv_raw[rows]),
            "inflight": (("event",), (hv_volts(hv_raw[rows]).to_value(u.V) > inflight_hv).astype(np.int8)),
            "error_flag": (("event",), (f["common_mode"] > l0.max_common_mode).any(axis=1).astype(np.int8)),
        }
        if sod is not None:
            data["wsmr_time"] = (("event",), sod[rows])
        det = ff.flight.detectors[d]
        out[f"d{d}"] = xr.Dataset(
            data, coords={"time": (("event",), times[rows]), **_axes()},
            attrs={**attrs, "detector": d, "detector_material": det.material,
                   "detector_serial": det.serial if det.serial is not None else -1},
        )
    hk_words = h[:, list(L.W_HOUSEKEEPING)]
    step = np.concatenate([[1], (tel.counter[1:] - tel.counter[:-1]) % (1 << 32)]) if tel.n_frames else np.zeros(0)
    hk = {
        "frame_counter": (("frame",), counter),
        "frame_time": (("frame",), clock),
        "housekeeping_word": (("frame", "hk_word"), hk_words),
        "hk_phase": (("frame",), (tel.counter & 3).astype(np.int8)),
        "housekeeping_raw": (("frame", "hk_channel"), held_channels(tel.counter, hk_words)),
        "command_count": (("frame",), h[:, L.W_COMMAND_COUNT]),
        "command_word": (("frame", "command_part"), h[:, list(L.W_COMMAND)]),
        # Decision (fix of §1b, §4): the formatter status is word 11, as the XLS and gse have it;
        # IDL's housekeeping routine reads it from word 10 (housekeeping 1).
        "formatter_status": (("frame",), h[:, L.W_FORMATTER_STATUS]),
        "hv_raw": (("frame",), hv_raw),
        "detector_status": (("frame", "detector"), h[:, list(L.W_DETECTOR_STATUS)]),
        # Decision: in flight after launch (IDL: wsmr_time > t_launch, §2a.7), for GSE files too;
        # computed per frame, so no record gets IDL's `where` = -1 side effect (§4: the last
        # FOXSI-2 housekeeping record marked in flight).
        "inflight": (("frame",), (times > ff.launch).astype(np.int8)),
        "error_flag": (("frame",), (step != 1).astype(np.int8)),
    }
    if sod is not None:
        hk["wsmr_time"] = (("frame",), sod)
        hk["wsmr_time_replaced"] = (("frame",), replaced.astype(np.int8))
    out["hk"] = xr.Dataset(
        hk, coords={"time": (("frame",), times),
                    "hk_channel": (("hk_channel",), np.array([c for p in L.HOUSEKEEPING_CHANNELS for c in p])),
                    "detector": (("detector",), np.arange(L.N_DETECTORS, dtype=np.int8))},
        attrs=attrs,
    )
    return out


def _axes() -> dict:
    return {"side": (("side",), np.array(L.SIDES)), "asic": (("asic",), np.arange(L.N_ASICS, dtype=np.int8)),
            "readout": (("readout",), np.array(["A", "B", "C"]))}


def write_l0(ctx) -> None:
    """Step `l0` (rule decode_foxsi_l0): one telemetry file -> results/foxsi/l0/<granule>_{d0..d6,hk}.nc."""
    s = ctx.settings
    telemetry = ctx.inputs.one("telemetry")
    products = level0(telemetry, flights=s.flights, files=s.files, decode=s.decode, l0=s.l0)
    name = Path(telemetry).name
    flight = products["hk"].attrs["flight"]
    for key, ds in products.items():
        out = ctx.outputs.one(key)
        if key == "hk":
            ctx.write(ds, out, table="l0_housekeeping", title=f"{flight} housekeeping, level 0, from {name}",
                      summary=("Raw FOXSI formatter housekeeping of every intact frame: clock, counter, the 16 "
                               "multiplexed channels, commands, HV and status words; bad frames counted by kind."),
                      references=REFERENCES)
        else:
            ctx.write(ds, out, table="l0_detector", title=f"{flight} detector D{key[1:]} events, level 0, from {name}",
                      summary=("Raw FOXSI strip-detector events: strip channels and ADCs, common modes, masks, "
                               "trigger time and the hit of each side found as the FOXSI IDL pipeline does; "
                               "bad frames counted by kind and skipped."),
                      references=REFERENCES)
