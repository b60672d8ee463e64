"""Simulated FOXSI telemetry in the real layout: formatter ``.dat`` frames and WSMR ``.log`` records.

This is a second description of the format, written from ``../shared/research/foxsi.md`` apart
from the decoder: it imports nothing of ``levelpipe.foxsi``. The frame is laid out as the frame
definition lists its fields, one after the other (``FRAME_FIELDS``: name and width in words), and
the position of every field follows from that order; the decoder instead names fixed word
indices. A slip in either shows up as a disagreement in the tests.

What is simulated, per frame (§1b-1e of the notes):

- the 48-bit 10 MHz clock (20000 ticks per 2 ms frame) and the 32-bit frame counter;
- the four housekeeping words, multiplexed by ``counter & 3`` into 16 channels of 12-bit raw
  values; command count and words, formatter status, a zero spare word, the HV word
  (8 x volts << 4 | status), seven detector-status words of junk;
- per detector, an event with some probability: trigger time = 16 LSBs of the clock at a
  trigger up to one frame before the frame time; per ASIC four mask words, three strip words
  (channel << 10 | 10-bit ADC) and the common mode. A photon at detector pixel (x, y) fires one
  strip per side (the inverse of the IDL strip -> pixel mapping, §2b.3-4); its ADC is the
  quadratic ADC(E) fit of the strip's peaks (§2c.1) plus the ASIC's common mode; the middle
  strip word carries the hit channel, its neighbours sit in words A and C;
- the XOR checksum (word 254) and, for ``.log``, F628 then the three ground-station time words
  (with junk in the bits the notes say to ignore) before formatter words 1..255.

Faults (each a fraction of frames, never two damaged frames within two of each other) with the
decoder kind they must show up as: ``bit_flip`` (a formatter word 1..254: checksum),
``drop_bytes``/``insert_bytes`` (inside formatter words 1..254: bad_length), ``sync_loss``
(F628 damaged), ``missing`` (not written), ``duplicate`` (written twice), ``truncated_head`` /
``truncated_tail`` (the file starts / ends inside a record) and ``wsmr_bit_flip`` (a
ground-station word: undetectable by the format).

Usage (regenerates the bundled samples byte for byte): ``python -m levelpipe.testing.foxsi_simulator resources/foxsi``
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# ---------------------------------------------------------------- the frame, field by field
# Order and widths from the notes' §1b table and §1c detector block.
_HEADER_FIELDS = [
    ("sync2", 1), ("clock", 3), ("counter", 2), ("hk0", 1), ("command_count", 1), ("command", 2),
    ("hk1", 1), ("formatter_status", 1), ("spare", 1), ("hv", 1), ("hk2", 1), ("detector_status_a", 3),
    ("hk3", 1), ("detector_status_b", 4),
]
_ASIC_FIELDS = [("mask", 4), ("strips", 3), ("common_mode", 1)]


def _frame_fields() -> list[tuple[str, int]]:
    out = list(_HEADER_FIELDS)
    for d in range(7):
        out.append((f"d{d}_trigger", 1))
        for a in range(4):
            out += [(f"d{d}_a{a}_{name}", n) for name, n in _ASIC_FIELDS]
    return out + [("checksum", 1), ("sync1", 1)]


FRAME_FIELDS = _frame_fields()
FIELD = {}
_pos = 0
for _name, _n in FRAME_FIELDS:
    FIELD[_name] = slice(_pos, _pos + _n)
    _pos += _n
if _pos != 256:  # the notes: "The last detector block ends at f = 253. There are no reserved words."
    raise AssertionError(f"frame description adds up to {_pos} words, not 256")
FRAME_WORDS = _pos
GROUND_WORDS = 3  # .log: F628, 3 NSROC words, formatter words 1..255
TICKS_PER_FRAME = 20000  # 2 ms at 10 MHz
HK_CHANNELS = ["t_ref", "plus_5v", "minus_5v", "v3p3", "v1p5", "therm1", "therm2", "therm3",
               "therm4", "therm5", "therm6", "therm7", "therm8", "therm9", "therm10", "therm11"]
FAULT_KIND = {"bit_flip": "checksum", "drop_bytes": "bad_length", "insert_bytes": "bad_length",
              "sync_loss": "sync_loss", "missing": "missing", "duplicate": "duplicate",
              "truncated_head": "truncated", "truncated_tail": "truncated"}


def default_scenario() -> dict:
    """A short FOXSI-2 recording in flight (plain numbers; units in the key names)."""
    return {
        "seed": 20141211,
        "n_frames": 600,
        "kind": "wsmr",  # wsmr (.log) or gse (.dat)
        "byteorder": "little",
        "launch_sod": 69060.0,  # s of day of launch (FOXSI-2, notes §3)
        "start_after_launch_s": 150.0,
        "ground_latency_s": 0.0004,  # WSMR receive time after the frame time
        "clock_start": 0x0000_1234_5678,
        "counter_start": 0x0001_0000 - 7,  # low word wraps early in the file
        "hv_ramp_frames": 60,  # HV ramps to hv_v over the first frames (status "ramping up")
        "hv_v": 200.0,
        "materials": ["Si", "Si", "CdTe", "CdTe", "Si", "Si", "Si"],
        "peaks": [None] * 7,  # path of each detector's peaks file, None: fallback gain
        "fallback_adc_per_kev": 12.0,
        "event_probability": 0.35,  # per detector and frame
        "masks": "readout",  # readout: mask bits of the read-out channels; zero: all mask words 0
        "lines_kev": [13.93, 17.61, 59.54], "line_fraction": 0.4,
        "continuum_kt_kev": 3.0, "continuum_min_kev": 4.0, "continuum_max_kev": 40.0,
        "common_mode_range": [20, 120],
        "neighbour_noise": 6,
        "p_charge_shared": 0.05,  # a neighbour strip gets more ADC than the middle one
        "p_other_asic_noise": 0.15,  # the side's other ASIC reads three noise strips
        "p_tie": 0.02,  # the side's other ASIC reads exactly the hit's maximum (IDL tie rule)
        "p_cm_over_1023": 0.003,
        "p_p_side_cm_zero": 0.005,
        "p_empty_side": 0.01,  # a side reads nothing at all (no hit)
        "p_livetime_outlier": 0.02,
        "hk_raw": [917, 1870, 1365, 2700, 2450, 2000, 2050, 2100, 1980, 2010, 1990, 1950, 0, 2040, 2060, 2030],
        # sky: heliocentric sources (arcsec), pointing (LISS stand-in), per-flight constants
        "sources": [{"x": -820.0, "y": 190.0, "sigma": 25.0, "weight": 0.7}],
        "background_weight": 0.3,
        "rotation_deg": [82.5, 75.0, -67.5, -75.0, 97.5, 90.0, -60.0],
        "pixel_arcsec": {"Si": 7.734924, "CdTe": 6.187939},
        "xy_offset_arcsec": [360.0, -180.0],
        "target_arcsec": [-850.0, 150.0],  # where the payload points (pitch/yaw are relative)
        "pointing_jitter_arcsec": 3.0,
        "faults": {},
        "name": "foxsi2_wsmr_sample",
    }


@dataclass
class Simulation:
    """The bytes written and the truth behind them.

    frames: (n, 256) uint16 formatter frames as generated (before faults); wsmr: (n, 3) ground
    words; counter, clock: (n,) int64; events: truth per detector event (arrays: frame, det,
    x, y pixel, energy keV, hit ASIC/channel per side as simulated, heliocentric photon position
    helio_x/helio_y in arcsec where on_detector, else a random pixel); intact: (n,) bool, frames
    written undamaged (a duplicated frame is intact and also counted as a duplicate);
    fault_counts: decoder kind -> frames; pointing: time after launch (s), pitch, yaw (arcsec).
    """

    data: bytes
    kind: str
    byteorder: str
    frames: np.ndarray
    wsmr: np.ndarray
    counter: np.ndarray
    clock: np.ndarray
    events: dict
    intact: np.ndarray
    fault_counts: dict = field(default_factory=dict)
    wsmr_damaged: np.ndarray | None = None
    pointing: dict = field(default_factory=dict)
    hk_raw: np.ndarray | None = None


def _quadratic_fits(path: str | os.PathLike | None) -> np.ndarray | None:
    """(4, 64, 3) coefficients of ADC(E) = c2 E^2 + c1 E + c0 per strip, NaN where the peaks are NaN."""
    if path is None:
        return None
    from scipy.io import readsav
    peaks = np.asarray(readsav(str(path))["peaks"], dtype=np.float64)  # (2, asic, chan, npeak)
    out = np.full((4, 64, 3), np.nan)
    for a in range(4):
        for c in range(64):
            adc, e = peaks[0, a, c], peaks[1, a, c]
            if np.isfinite(adc).all() and np.isfinite(e).all():
                out[a, c] = np.polyfit(e, adc, 2)
    return out


def _strips_of(material: str, x: np.ndarray, y: np.ndarray):
    """(n-side asic, channel), (p-side asic, channel) firing for pixel (x, y): the inverse of
    the notes' §2b.3 (Si) and §2b.4 (CdTe) mappings."""
    if material == "Si":
        # x from the p side: ASIC 2 -> 63 - ch, ASIC 3 -> 127 - ch;
        # y from the n side: ASIC 0 -> 127 - ch, ASIC 1 -> 63 - ch
        p_asic = np.where(x <= 63, 2, 3)
        p_ch = np.where(x <= 63, 63 - x, 127 - x)
        n_asic = np.where(y >= 64, 0, 1)
        n_ch = np.where(y >= 64, 127 - y, 63 - y)
    else:
        # x from the n side: ASIC 0 -> 63 - ch, ASIC 1 -> 127 - ch;
        # y from the p side: ASIC 2 -> 127 - ch, ASIC 3 -> 63 - ch
        n_asic = np.where(x <= 63, 0, 1)
        n_ch = np.where(x <= 63, 63 - x, 127 - x)
        p_asic = np.where(y >= 64, 2, 3)
        p_ch = np.where(y >= 64, 127 - y, 63 - y)
    return (n_asic, n_ch), (p_asic, p_ch)


def _sky_to_pixel(material: str, angle_deg: float, pixel_arcsec: float, pay_x, pay_y):
    """Payload arcsec -> continuous detector coordinate (0..128): inverse of get_payload_coords
    (§2b.5: centre 63.5, rotation counter-clockwise; Si then y -> -y; CdTe angle negated)."""
    if material == "Si":
        u, v = pay_x, -pay_y
        th = np.deg2rad(angle_deg)
    else:
        u, v = pay_x, pay_y
        th = -np.deg2rad(angle_deg)
    # undo a counter-clockwise rotation by th
    xa = np.cos(th) * u + np.sin(th) * v
    ya = -np.sin(th) * u + np.cos(th) * v
    return xa / pixel_arcsec + 64.0, ya / pixel_arcsec + 64.0


def _energies(rng, n, sc) -> np.ndarray:
    lines = np.asarray(sc["lines_kev"], float)
    is_line = rng.random(n) < sc["line_fraction"]
    e = np.empty(n)
    e[is_line] = lines[rng.integers(0, lines.size, is_line.sum())]
    k = int((~is_line).sum())
    lo, hi, kt = sc["continuum_min_kev"], sc["continuum_max_kev"], sc["continuum_kt_kev"]
    e[~is_line] = lo - kt * np.log1p(-rng.random(k) * (1.0 - np.exp(-(hi - lo) / kt)))
    return e


def simulate(scenario: dict) -> Simulation:
    """Telemetry bytes and truth for `scenario` (see `default_scenario`)."""
    sc = scenario
    rng = np.random.default_rng(sc["seed"])
    n = int(sc["n_frames"])
    fr = np.zeros((n, FRAME_WORDS), np.uint16)

    def put(name, values):
        fr[:, FIELD[name]] = np.asarray(values).reshape(n, -1).astype(np.uint16)

    counter = (sc["counter_start"] + np.arange(n, dtype=np.int64)) % (1 << 32)
    clock = sc["clock_start"] + np.arange(n, dtype=np.int64) * TICKS_PER_FRAME + rng.integers(0, 3, n)
    put("sync2", np.full(n, 0xF628))
    put("clock", np.stack([(clock >> 32) & 0xFFFF, (clock >> 16) & 0xFFFF, clock & 0xFFFF], 1))
    put("counter", np.stack([counter >> 16, counter & 0xFFFF], 1))
    hk = np.asarray(sc["hk_raw"], np.int64)[None, :] + rng.integers(-2, 3, (n, 16))
    hk = np.clip(hk, 0, 4095)
    phase = counter & 3
    for k in range(4):
        put(f"hk{k}", hk[np.arange(n), phase * 4 + k])
    count = np.cumsum(rng.random(n) < 0.01)
    put("command_count", count & 0xFFFF)
    cmd = rng.integers(0, 1 << 16, (n, 2))
    put("command", cmd)
    put("formatter_status", np.where(rng.random(n) < 0.1, 1 << 2, 0))
    put("spare", np.zeros(n))
    ramp = np.clip(np.arange(n) / max(sc["hv_ramp_frames"], 1), 0, 1)
    volts8 = np.round(ramp * sc["hv_v"] * 8).astype(np.int64)
    status = np.where(ramp < 1, 1, 4)
    put("hv", (volts8 << 4) | status)
    put("detector_status_a", rng.integers(0, 1 << 16, (n, 3)))
    put("detector_status_b", rng.integers(0, 1 << 16, (n, 4)))

    # Pointing: pitch/yaw (arcsec) put the optical axis on the target (x = pay_x + pitch + offset_x,
    # y = pay_y - yaw + offset_y, §2c.2), with a slow jitter; tabulated like the LISS stand-ins
    # (rounded as they are written), each frame taking the nearest sample.
    t_after = sc["start_after_launch_s"] + np.arange(n) * 0.002
    grid_t, grid_pitch, grid_yaw = pointing_grid(sc)
    nearest = np.clip(np.rint((t_after - grid_t[0]) / (grid_t[1] - grid_t[0])).astype(np.int64), 0, grid_t.size - 1)
    pitch, yaw = grid_pitch[nearest], grid_yaw[nearest]

    truth = {k: [] for k in ("frame", "det", "x", "y", "energy", "n_asic", "n_chan", "p_asic", "p_chan",
                             "helio_x", "helio_y", "on_detector")}
    for d in range(7):
        mat = sc["materials"][d]
        fits = _quadratic_fits(sc["peaks"][d])
        pix = sc["pixel_arcsec"][mat]
        ev = np.flatnonzero(rng.random(n) < sc["event_probability"])
        m = ev.size
        # sky position of the photon; payload = helio - pitch - offset (x), helio + yaw - offset (y)
        srcs = sc["sources"]
        w = np.array([s["weight"] for s in srcs] + [sc["background_weight"]])
        which = rng.choice(w.size, m, p=w / w.sum())
        hx = sc["target_arcsec"][0] + rng.uniform(-500, 500, m)
        hy = sc["target_arcsec"][1] + rng.uniform(-500, 500, m)
        for i, s in enumerate(srcs):
            sel = which == i
            hx[sel] = rng.normal(s["x"], s["sigma"], sel.sum())
            hy[sel] = rng.normal(s["y"], s["sigma"], sel.sum())
        pay_x = hx - pitch[ev] - sc["xy_offset_arcsec"][0]
        pay_y = hy + yaw[ev] - sc["xy_offset_arcsec"][1]
        cx, cy = _sky_to_pixel(mat, sc["rotation_deg"][d], pix, pay_x, pay_y)
        on = (cx >= 0) & (cx < 128) & (cy >= 0) & (cy < 128)
        # photons off the detector: a uniform pixel instead, so every event stays on the detector
        cx = np.where(on, cx, rng.uniform(0, 128, m))
        cy = np.where(on, cy, rng.uniform(0, 128, m))
        x, y = np.floor(cx).astype(np.int64), np.floor(cy).astype(np.int64)
        energy = _energies(rng, m, sc)
        (n_asic, n_ch), (p_asic, p_ch) = _strips_of(mat, x, y)
        lo_cm, hi_cm = sc["common_mode_range"]
        cm = rng.integers(lo_cm, hi_cm + 1, (m, 4))
        cm[rng.random(m) < sc["p_cm_over_1023"], rng.integers(0, 4)] = rng.integers(1024, 4096)
        zero_p = rng.random(m) < sc["p_p_side_cm_zero"]
        cm[zero_p, p_asic[zero_p]] = 0
        strips = np.zeros((m, 4, 3), np.int64)
        chans = np.zeros((m, 4, 3), np.int64)
        rows = np.arange(m)
        for asic, ch in ((n_asic, n_ch), (p_asic, p_ch)):
            if fits is not None:
                c = fits[asic, ch]
                adc = c[:, 0] * energy ** 2 + c[:, 1] * energy + c[:, 2]
                adc = np.where(np.isfinite(adc), adc, energy * sc["fallback_adc_per_kev"])
            else:
                adc = energy * sc["fallback_adc_per_kev"]
            hit = np.clip(np.rint(adc) + cm[rows, asic], 0, 1023).astype(np.int64)
            noise = sc["neighbour_noise"]
            nb = np.clip(cm[rows, asic][:, None] + rng.integers(-noise, noise + 1, (m, 2)), 0, 1023)
            shared = rng.random(m) < sc["p_charge_shared"]
            nb[shared, 0] = np.minimum(hit[shared] + rng.integers(1, 20, shared.sum()), 1023)
            strips[rows, asic] = np.stack([nb[:, 0], hit, nb[:, 1]], 1)
            chans[rows, asic] = np.stack([np.maximum(ch - 1, 0), ch, np.minimum(ch + 1, 63)], 1)
            other = asic ^ 1  # the side's other ASIC (0<->1, 2<->3)
            noisy = rng.random(m) < sc["p_other_asic_noise"]
            nz = noisy.sum()
            base = rng.integers(0, 62, nz)
            strips[rows[noisy], other[noisy]] = np.clip(
                cm[rows[noisy], other[noisy]][:, None] + rng.integers(-noise, noise + 1, (nz, 3)), 0, 1023)
            chans[rows[noisy], other[noisy]] = base[:, None] + np.arange(3)
            tie = (rng.random(m) < sc["p_tie"]) & ~noisy
            t = rows[tie]
            strips[t, other[tie]] = np.stack([np.zeros(t.size, np.int64), strips[t, asic[tie]].max(axis=1),
                                              np.zeros(t.size, np.int64)], 1)
            chans[t, other[tie]] = rng.integers(0, 64, (t.size, 1)) + np.zeros((1, 3), np.int64)
        empty = rng.random(m) < sc["p_empty_side"]
        side = rng.integers(0, 2, m)
        for s_asics, s in (((0, 1), 0), ((2, 3), 1)):
            sel = empty & (side == s)
            for a in s_asics:
                strips[sel, a] = 0
                chans[sel, a] = 0
        words = (chans << 10) | strips
        # The detector is live from its readout in the frame before (when the formatter has sent
        # its block: 23 + 33 (d + 1) words of 2000/256 us, §2b.1) to the trigger: the trigger
        # falls `live` us after that readout. A few events have a longer (impossible) live time.
        readout_ticks = int(round((23 + 33 * (d + 1)) * 2000.0 / 256 * 10))
        live = rng.uniform(1.0, 1999.0, m)
        odd = rng.random(m) < sc["p_livetime_outlier"]
        live[odd] = rng.uniform(2001.0, 6000.0, odd.sum())
        trig = (clock[ev] - TICKS_PER_FRAME + readout_ticks + np.rint(live * 10).astype(np.int64)) & 0xFFFF
        trig = np.where(trig == 0, 1, trig)
        put_rows = ev
        fr[put_rows, FIELD[f"d{d}_trigger"]] = trig[:, None]
        for a in range(4):
            if sc["masks"] == "readout":
                mask64 = np.zeros(m, np.uint64)
                for r in range(3):
                    used = strips[:, a, r] > 0
                    mask64 |= np.where(used, np.uint64(1) << chans[:, a, r].astype(np.uint64), np.uint64(0))
                mw = np.stack([(mask64 >> np.uint64(16 * k)) & np.uint64(0xFFFF) for k in range(4)], 1)
            else:
                mw = np.zeros((m, 4), np.uint64)
            fr[put_rows, FIELD[f"d{d}_a{a}_mask"]] = mw.astype(np.uint16)
            fr[put_rows, FIELD[f"d{d}_a{a}_strips"]] = words[:, a].astype(np.uint16)
            fr[put_rows, FIELD[f"d{d}_a{a}_common_mode"]] = cm[:, a, None].astype(np.uint16)
        for key, val in (("frame", ev), ("det", np.full(m, d)), ("x", x), ("y", y), ("energy", energy),
                         ("n_asic", n_asic), ("n_chan", n_ch), ("p_asic", p_asic), ("p_chan", p_ch),
                         ("helio_x", hx), ("helio_y", hy), ("on_detector", on)):
            truth[key].append(val)
    events = {k: np.concatenate(v) for k, v in truth.items()}
    order = np.lexsort((events["det"], events["frame"]))
    events = {k: v[order] for k, v in events.items()}

    fr[:, FIELD["sync1"]] = 0xEB90
    fr[:, FIELD["checksum"]] = 0
    fr[:, FIELD["checksum"]] = np.bitwise_xor.reduce(fr, axis=1)[:, None]

    # Ground-station time words: seconds of day = A + 65536 (B >> 15); ms = B & 0x3FF; us = C & 0x3FF;
    # B bits 14..10 and C bits 15..10 hold junk (the notes: no source says what they are).
    t_sod = sc["launch_sod"] + t_after + sc["ground_latency_s"] + rng.uniform(0, 0.0002, n)
    sec = np.floor(t_sod).astype(np.int64)
    ms = np.floor((t_sod - sec) * 1000).astype(np.int64)
    us = np.floor(((t_sod - sec) * 1000 - ms) * 1000).astype(np.int64)
    a_w = sec & 0xFFFF
    b_w = ((sec >> 16) << 15) | (rng.integers(0, 32, n) << 10) | ms
    c_w = (rng.integers(0, 64, n) << 10) | us
    wsmr = np.stack([a_w, b_w, c_w], 1).astype(np.uint16)

    if sc["kind"] == "wsmr":
        recs = np.concatenate([fr[:, :1], wsmr, fr[:, 1:]], axis=1)
        first_formatter_word = 1 + GROUND_WORDS
    else:
        recs = fr
        first_formatter_word = 1
    raw = recs.astype("<u2" if sc["byteorder"] == "little" else ">u2").view(np.uint8).reshape(n, -1)
    data, intact, counts, wsmr_damaged = _faults(rng, raw, sc["faults"], first_formatter_word, sc["kind"])
    return Simulation(data=data, kind=sc["kind"], byteorder=sc["byteorder"], frames=fr, wsmr=wsmr,
                      counter=counter, clock=clock, events=events, intact=intact, fault_counts=counts,
                      wsmr_damaged=wsmr_damaged, pointing={"t": t_after, "pitch": pitch, "yaw": yaw},
                      hk_raw=hk)


def pointing_grid(sc: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time after launch (s, 5 Hz over 100..520 s), pitch and yaw (arcsec) of the scenario."""
    t = np.round(100.0 + np.arange(2101) * 0.2, 3)
    jit = sc["pointing_jitter_arcsec"]
    pitch = sc["target_arcsec"][0] - sc["xy_offset_arcsec"][0] + jit * np.sin(2 * np.pi * t / 17.0)
    yaw = -(sc["target_arcsec"][1] - sc["xy_offset_arcsec"][1]) + jit * np.cos(2 * np.pi * t / 23.0)
    return t, np.round(pitch, 2), np.round(yaw, 2)


def _faults(rng, rec: np.ndarray, faults: dict, first_word: int, kind: str):
    n, nbytes = rec.shape
    counts = {k: 0 for k in ("checksum", "bad_length", "sync_loss", "missing", "truncated", "duplicate")}
    intact = np.ones(n, bool)
    wsmr_damaged = np.zeros(n, bool)
    kinds = [k for k in ("bit_flip", "drop_bytes", "insert_bytes", "sync_loss", "missing", "duplicate",
                         "wsmr_bit_flip") if faults.get(k)]
    pool = rng.permutation(np.arange(3, n - 3, 3))
    chosen: dict[int, str] = {}
    pos = 0
    for k in kinds:
        m = max(1, int(round(faults[k] * n)))
        if pos + m > pool.size:
            raise ValueError(f"fault fractions too large for {n} frames")
        for i in pool[pos: pos + m]:
            chosen[int(i)] = k
        pos += m
        if k in FAULT_KIND:
            counts[FAULT_KIND[k]] += m
    lo = first_word * 2  # first byte of formatter word 1 in the record
    hi = nbytes - 2  # first byte of EB90
    pieces, last = [], 0
    for i in sorted(chosen):
        pieces.append(rec[last:i].ravel())
        r = rec[i].copy()
        k = chosen[i]
        if k == "bit_flip":
            byte = rng.integers(lo, hi)
            r[byte] ^= np.uint8(1 << int(rng.integers(0, 8)))
            pieces.append(r)
        elif k == "wsmr_bit_flip":
            byte = rng.integers(2, 2 + 2 * GROUND_WORDS)
            r[byte] ^= np.uint8(1 << int(rng.integers(0, 8)))
            pieces.append(r)
            wsmr_damaged[i] = True
        elif k == "drop_bytes":
            at = int(rng.integers(lo, hi - 8))
            pieces.append(np.delete(r, np.arange(at, at + int(rng.integers(1, 7)))))
        elif k == "insert_bytes":
            at = int(rng.integers(lo, hi))
            extra = rng.integers(0x30, 0x80, int(rng.integers(1, 7))).astype(np.uint8)  # no sync bytes
            pieces.append(np.concatenate([r[:at], extra, r[at:]]))
        elif k == "sync_loss":
            r[0:2] ^= np.uint8(0x5A)
            pieces.append(r)
        elif k == "duplicate":
            pieces += [r, r.copy()]
        # "missing": not written
        last = i + 1
        if k not in ("duplicate", "wsmr_bit_flip"):
            intact[i] = False
    pieces.append(rec[last:].ravel())
    data = np.concatenate(pieces)
    if faults.get("truncated_tail"):
        data = data[: data.size - nbytes // 2]
        intact[-1] = False
        counts["truncated"] += 1
    if faults.get("truncated_head"):
        data = data[nbytes // 3:]
        intact[0] = False
        counts["truncated"] += 1
    return data.tobytes(), intact, counts, wsmr_damaged


# ---------------------------------------------------------------- stand-in text files

def liss_text(t_after_launch: np.ndarray, arcsec: np.ndarray, what: str) -> str:
    """A LISS pitch or yaw stand-in: two whitespace-separated columns, time after launch (s) and arcsec."""
    lines = [f"# STAND-IN, simulated by levelpipe.testing.foxsi_simulator: LISS {what}",
             "# columns: time after launch [s], angle [arcsec]"]
    lines += [f"{t:.1f} {v:.2f}" for t, v in zip(t_after_launch, arcsec)]
    return "\n".join(lines) + "\n"


def tracking_text(t_after_launch: np.ndarray, altitude_m: np.ndarray) -> str:
    """A tracking stand-in: whitespace-separated columns; column 1 (counting from 0) is time after
    launch (s), column 9 altitude (m); the other columns are placeholders (zeros)."""
    lines = ["# STAND-IN, simulated by levelpipe.testing.foxsi_simulator: payload tracking",
             "# columns 0..9: index, time after launch [s], 7 unused (0), altitude [m]"]
    for i, (t, h) in enumerate(zip(t_after_launch, altitude_m)):
        lines.append(f"{i} {t:.1f} 0 0 0 0 0 0 0 {h:.1f}")
    return "\n".join(lines) + "\n"


def altitude_profile(t_after_launch: np.ndarray) -> np.ndarray:
    """A ballistic stand-in profile (m): apogee about 330 km near 250 s."""
    g = 9.81
    v0 = np.sqrt(2 * g * 330e3) * 0.5 * 2  # reaches ~330 km
    t = np.asarray(t_after_launch, float)
    return np.clip(v0 * t - 0.5 * g * t ** 2, 0, None) * (t <= 2 * v0 / g)


# ---------------------------------------------------------------- bundled samples

def sample_scenarios(calibration_dir: str | os.PathLike) -> list[dict]:
    """The scenarios of the bundled samples (see resources/foxsi/SOURCE.md)."""
    cal = Path(calibration_dir)
    s2 = default_scenario()
    s2["peaks"] = [cal / "peaks_det108.sav", cal / "peaks_det101.sav", None, None,
                   cal / "peaks_det104.sav", cal / "peaks_det105.sav", cal / "peaks_det102.sav"]
    s2["faults"] = {"bit_flip": 0.005, "duplicate": 0.005}
    s1 = copy.deepcopy(default_scenario())
    s1.update(name="foxsi1_gse_sample", kind="gse", seed=20121102, n_frames=400, launch_sod=64500.0,
              start_after_launch_s=200.0, materials=["Si"] * 7, xy_offset_arcsec=[0.0, 0.0],
              target_arcsec=[-600.0, -280.0], sources=[{"x": -600.0, "y": -280.0, "sigma": 30.0, "weight": 0.8}],
              background_weight=0.2, hv_ramp_frames=1,
              faults={"bit_flip": 0.005, "drop_bytes": 0.005, "insert_bytes": 0.005, "sync_loss": 0.005,
                      "missing": 0.005, "truncated_tail": True})
    s1["peaks"] = [cal / f"peaks_det{d}.sav" for d in (108, 109, 102, 103, 104, 105, 106)]
    return [s2, s1]


def write_samples(outdir: str | os.PathLike, calibration_dir: str | os.PathLike) -> list[Path]:
    """Regenerate the bundled telemetry and the pointing/tracking stand-ins in `outdir`."""
    outdir = Path(outdir)
    out = []
    for sc in sample_scenarios(calibration_dir):
        sim = simulate(sc)
        path = outdir / f"{sc['name']}{'.log' if sc['kind'] == 'wsmr' else '.dat'}"
        path.write_bytes(sim.data)
        out.append(path)
    stand = outdir / "ancillary"
    stand.mkdir(parents=True, exist_ok=True)
    # Pointing stand-ins: the FOXSI-2 sample's pointing model at 5 Hz over the observing time.
    t, pitch, yaw = pointing_grid(sample_scenarios(calibration_dir)[0])
    for what, values in (("pitch", pitch), ("yaw", yaw)):
        p = stand / f"foxsi2_LISS_{what}_STANDIN.txt"
        p.write_text(liss_text(t, values, what))
        out.append(p)
    ta = np.arange(0.0, 600.0, 1.0)
    p = stand / "foxsi2_altitude_STANDIN.txt"
    p.write_text(tracking_text(ta, altitude_profile(ta)))
    out.append(p)
    return out


if __name__ == "__main__":  # python -m levelpipe.testing.foxsi_simulator [OUTDIR [CALIBRATION_DIR]]
    import sys
    repo_samples = Path(__file__).resolve().parents[3] / "resources" / "foxsi"
    here = Path(sys.argv[1]) if len(sys.argv) > 1 else repo_samples
    cal = Path(sys.argv[2]) if len(sys.argv) > 2 else repo_samples / "calibration"
    for p in write_samples(here, cal):
        print(p, p.stat().st_size, "bytes")
