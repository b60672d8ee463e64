"""Deterministic simulator of FOXSI formatter (GSE `.dat`) and WSMR (`.log`) telemetry.

No flight telemetry exists offline, so the family is tested against a faithful simulator: a
scenario (a dict of astropy Quantities, see `default_scenario`) flown with a `config.Flight`
(from config/foxsi2.yaml) becomes format-exact frames (layout in `formats`), and the truth that went into them (every
event's strips, ADC values, energy and sky position; which frames were damaged and how).

Photons: each detector triggers at most once per frame (the formatter reads one event per
detector per frame). A photon's heliocentric position is turned into payload then detector
coordinates through the pointing and the detector rotation (`flight`), into one p-side and one
n-side strip, and its energy into ADC values through the *real* gain files (inverse of the
level-2 interpolation) plus the ASIC common mode. Neighbouring strips are read out with
common mode plus noise below the hit threshold; sometimes the other ASIC of a side reports a
noise trigger (the level-1 "unrelated" strips).

Usage (regenerates the bundled sample byte for byte):
    python -m levelpipe.foxsi.simulator resources/foxsi
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
import yaml

from levelpipe.errors import FoxsiError
from levelpipe.foxsi import flight as fl
from levelpipe.foxsi import formats as fmt
from levelpipe.foxsi.calibration import GainTable, load_gains
from levelpipe.foxsi.config import Flight, load_flight_config

REPO = Path(__file__).resolve().parents[3]
# Units of the physical truth arrays in Simulation.events.
TRUTH_UNITS = {"time": u.s, "energy": u.keV, "helio_x": u.arcsec, "helio_y": u.arcsec, "det_x": u.um,
               "det_y": u.um}

# Map from simulator fault names to the decoder's fault kinds.
FAULT_TO_KIND = {
    "bit_flip": "checksum",
    "drop_bytes": "bad_length",
    "insert_bytes": "bad_length",
    "sync_loss": "sync_loss",
    "missing": "missing",
    "truncated_tail": "truncated",
}


def default_scenario() -> dict:
    """The short flight bundled in resources/foxsi: 60 s through the HV ramp to 200 V.

    Physical values are astropy Quantities (any compatible unit is converted; a plain number
    is refused); counts, ADC values, probabilities and weights are plain numbers.
    """
    return {
        "seed": 20141211,
        "start": 60.0 * u.s,  # first frame, after launch
        "duration": 60.0 * u.s,
        "hv": {"ramp_start": 62.0 * u.s, "ramp_duration": 20.0 * u.s, "bias": 200.0 * u.V,
               "per_count": 0.125 * u.V, "depleted_below": 5.0 * u.V},
        "rate_per_detector": 40.0 * u.Hz,  # photon triggers per detector once the HV is up
        "sources": [  # heliocentric position; weight = share of photons; sigma = Gaussian blur
            {"x": -820.0 * u.arcsec, "y": 190.0 * u.arcsec, "sigma": 25.0 * u.arcsec, "weight": 0.6},
            {"x": -950.0 * u.arcsec, "y": 60.0 * u.arcsec, "sigma": 15.0 * u.arcsec, "weight": 0.2},
        ],
        "background_weight": 0.2,  # uniform over the detector
        "spectrum": {
            "lines": [13.93, 17.61, 26.34, 59.54] * u.keV, "line_weight": 0.25,
            "continuum_kt": 2.5 * u.keV, "continuum_min": 4.0 * u.keV, "continuum_max": 30.0 * u.keV,
        },
        "common_mode_adc": [30, 90],
        "neighbour_noise_adc": 6,
        "unrelated_probability": 0.1,
        "uncalibrated_gain": 13.5 / u.keV,  # ADC counts per keV on strips with no gain (CdTe, NaN strips)
        "tick": 1.0e-6 * u.s,  # livetime and trigger-time counter tick (config l1.*_tick_s)
        "livetime_dead_ticks_per_event": 700,
        "sparcs_jitter_counts": 20,
        "housekeeping_raw": [650, 520, 700, 480, 2500, 2500, 3000, 3300],
        "faults": {},  # e.g. {"bit_flip": 0.01, "missing": 0.01, ...}; truncated_tail: bool
        "file_type": "wsmr",
        "byteorder": None,  # None: the file type's default
        "name": "foxsi2_launch_short",
    }


@dataclass
class Simulation:
    """What the simulator wrote and the truth behind it."""

    data: bytes
    file_type: fmt.FileType
    byteorder: str
    frame_counter: np.ndarray  # every frame generated (before faults)
    frames: np.ndarray  # (n, 256) uint16 formatter frames, before faults
    # Truth per event: time (after launch), energy, helio_x/helio_y (heliocentric), det_x/det_y
    # (detector coordinates) are Quantities; det, frame_counter, strips and raw words plain arrays.
    events: dict
    intact_counters: np.ndarray  # frame counters of frames left intact by the faults
    fault_counts: dict = field(default_factory=dict)  # decoder kind -> number of bad frames


def _v(q, unit: u.UnitBase):
    """Plain float64 value(s) of Quantity `q` in `unit`; a plain number (dimensionless) is refused."""
    return u.Quantity(q, dtype=np.float64).to_value(unit)


def _sample_energy(rng, n, spec) -> np.ndarray:
    """n photon energies (keV, plain floats): lines with probability line_weight, else the continuum."""
    lines = np.atleast_1d(_v(spec["lines"], u.keV))
    is_line = rng.random(n) < spec["line_weight"] if lines.size else np.zeros(n, bool)
    e = np.empty(n)
    e[is_line] = lines[rng.integers(0, lines.size, is_line.sum())] if lines.size else 0
    k = (~is_line).sum()
    lo, hi, kt = (_v(spec[key], u.keV) for key in ("continuum_min", "continuum_max", "continuum_kt"))
    uniform = rng.random(k)  # truncated exponential by inversion
    e[~is_line] = lo - kt * np.log1p(-uniform * (1.0 - np.exp(-(hi - lo) / kt)))
    return e


def _sample_sky(rng, n, scenario, centre_x, centre_y, half_as) -> tuple[np.ndarray, np.ndarray]:
    """n heliocentric photon positions (arcsec, plain floats) around centre_x/y (arcsec arrays)."""
    srcs = scenario["sources"]
    weights = np.array([s["weight"] for s in srcs] + [scenario["background_weight"]], dtype=np.float64)
    which = rng.choice(weights.size, size=n, p=weights / weights.sum())
    x = centre_x + rng.uniform(-half_as, half_as, n)
    y = centre_y + rng.uniform(-half_as, half_as, n)
    for i, s in enumerate(srcs):
        sel = which == i
        sigma = _v(s["sigma"], u.arcsec)
        x[sel] = _v(s["x"], u.arcsec) + rng.normal(0, sigma, sel.sum())
        y[sel] = _v(s["y"], u.arcsec) + rng.normal(0, sigma, sel.sum())
    return x, y


def _strip_adc(gain: GainTable | None, asic, ch, energy_kev, fallback_adc_per_kev) -> np.ndarray:
    if gain is None:
        return energy_kev * fallback_adc_per_kev
    adc = gain.adc_of(asic, ch, energy_kev << u.keV)
    return np.where(np.isfinite(adc), adc, energy_kev * fallback_adc_per_kev)


def simulate(flight: Flight, scenario: dict, calibration_dir: str | os.PathLike) -> Simulation:
    """Build the telemetry bytes and truth for `scenario` (see `default_scenario`) flown with `flight`."""
    rng = np.random.default_rng(scenario["seed"])
    ftype = {"gse": fmt.GSE, "wsmr": fmt.WSMR}[scenario["file_type"]]
    order = scenario.get("byteorder") or ftype.default_byteorder
    period = flight.frame_period.to_value(u.s)
    start_s = _v(scenario["start"], u.s)
    n = int(round(_v(scenario["duration"], u.s) / period))
    first = flight.launch_frame_counter + int(round(start_s / period))
    counter = (first + np.arange(n, dtype=np.int64)) % (1 << 32)
    t_s = start_s + np.arange(n) * period  # time after launch of each frame (s)
    frames = np.zeros((n, fmt.FRAME_WORDS), dtype=np.uint16)
    frames[:, fmt.W_SYNC_START] = fmt.SYNC_START
    frames[:, fmt.W_SYNC_END] = fmt.SYNC_END
    frames[:, fmt.W_COUNTER_HI] = counter >> 16
    frames[:, fmt.W_COUNTER_LO] = counter & 0xFFFF

    hk = np.asarray(scenario["housekeeping_raw"], dtype=np.int64)
    drift = np.round(5 * np.sin(2 * np.pi * t_s / 40.0)).astype(np.int64)
    frames[:, fmt.W_HK] = hk[counter % fmt.N_HK_CHANNELS] + drift

    hvc = scenario["hv"]
    ramp_start, ramp_duration = _v(hvc["ramp_start"], u.s), _v(hvc["ramp_duration"], u.s)
    bias = _v(hvc["bias"], u.V)
    hv_v = np.clip((t_s - ramp_start) / ramp_duration, 0.0, 1.0) * bias
    hv_raw = np.round(hv_v / _v(hvc["per_count"], u.V)).astype(np.uint16)
    frames[:, fmt.W_STATUS] = hv_raw | np.where(t_s >= ramp_start, fmt.STATUS_HV_ENABLED, 0).astype(np.uint16)
    # Photons are recorded once the detectors are depleted: within depleted_below of full bias.
    hv_up = hv_v >= bias - _v(hvc["depleted_below"], u.V)

    jit = scenario["sparcs_jitter_counts"]
    pitch = np.round(jit * np.sin(2 * np.pi * t_s / 7.0) + rng.normal(0, 2, n)).astype(np.int16)
    yaw = np.round(jit * np.cos(2 * np.pi * t_s / 11.0) + rng.normal(0, 2, n)).astype(np.int16)
    frames[:, fmt.W_SPARCS_PITCH] = pitch.view(np.uint16)
    frames[:, fmt.W_SPARCS_YAW] = yaw.view(np.uint16)
    point_x, point_y = (p.to_value(u.arcsec) for p in fl.pointing(flight, t_s << u.s, pitch, yaw))

    tick_ticks = int(round(period / _v(scenario["tick"], u.s)))  # livetime/trigger-time ticks per frame
    gains = load_gains(flight.gain_files, calibration_dir)
    half_um = fmt.N_SIDE_STRIPS / 2.0 * flight.strip_pitch.to_value(u.um)
    half_as = half_um / fl.plate_scale(flight).to_value(fl.PLATE_SCALE_UNIT) * np.sqrt(2.0)  # covers the rotated square
    rate = _v(scenario["rate_per_detector"], u.Hz)
    uncalibrated_gain = _v(scenario["uncalibrated_gain"], 1 / u.keV)
    truth: dict[str, list] = {k: [] for k in (
        "frame_counter", "det", "time", "energy", "helio_x", "helio_y", "det_x", "det_y",
        "strip_p", "strip_n", "trigger_time", "mask", "strip_data", "common_mode")}
    lo_cm, hi_cm = scenario["common_mode_adc"]
    noise = scenario["neighbour_noise_adc"]
    for det in range(fmt.N_DETECTORS):  # seven detectors: a loop over detectors, vectorised over frames
        trig = hv_up & (rng.random(n) < rate * period)
        fi = np.flatnonzero(trig)
        m = fi.size
        energy = _sample_energy(rng, m, scenario["spectrum"])
        hx, hy = _sample_sky(rng, m, scenario, point_x[fi], point_y[fi], half_as)
        dx, dy = (d.to_value(u.um) for d in fl.payload_to_detector(
            flight, np.full(m, det), (hx - point_x[fi]) << u.arcsec, (hy - point_y[fi]) << u.arcsec))
        sp, sn = fl.strip_of(flight, dx << u.um), fl.strip_of(flight, dy << u.um)
        on = (sp >= 0) & (sn >= 0)  # photons off the detector leave no event
        fi, energy, hx, hy, dx, dy, sp, sn = (a[on] for a in (fi, energy, hx, hy, dx, dy, sp, sn))
        m = fi.size
        mask = np.zeros((m, fmt.N_ASICS, fmt.CHANNELS_PER_ASIC), dtype=bool)
        adc = np.zeros((m, fmt.N_ASICS, fmt.CHANNELS_PER_ASIC), dtype=np.int64)
        cm = np.zeros((m, fmt.N_ASICS), dtype=np.int64)
        rows = np.arange(m)
        for side_asics, strip in ((fmt.P_SIDE, sp), (fmt.N_SIDE, sn)):
            asic = side_asics[0] + strip // fmt.CHANNELS_PER_ASIC
            ch = strip % fmt.CHANNELS_PER_ASIC
            cm[rows, asic] = rng.integers(lo_cm, hi_cm + 1, m)
            hit_adc = _strip_adc(gains[det], asic, ch, energy, uncalibrated_gain)
            for dch in (-1, 0, 1):
                c = ch + dch
                ok = (c >= 0) & (c < fmt.CHANNELS_PER_ASIC)
                val = np.where(dch == 0, np.round(hit_adc), rng.integers(-noise, noise + 1, m))
                mask[rows[ok], asic[ok], c[ok]] = True
                adc[rows[ok], asic[ok], c[ok]] = val[ok] + cm[rows[ok], asic[ok]]
            # The other ASIC of this side sometimes reports a noise trigger: 3 unrelated strips.
            other = np.where(asic == side_asics[0], side_asics[1], side_asics[0])
            un = rng.random(m) < scenario["unrelated_probability"]
            start = rng.integers(0, fmt.CHANNELS_PER_ASIC - 2, m)
            cm[rows[un], other[un]] = rng.integers(lo_cm, hi_cm + 1, un.sum())
            for dch in range(3):
                mask[rows[un], other[un], start[un] + dch] = True
                adc[rows[un], other[un], start[un] + dch] = (
                    cm[rows[un], other[un]] + rng.integers(-noise, noise + 1, un.sum()))
        adc = np.clip(adc, 0, fmt.ADC_MAX)
        # Pack masks (4 x 16-bit words per ASIC) and the read-out ADC values in channel order.
        bits = mask.reshape(m, fmt.N_ASICS, fmt.N_MASK_WORDS, 16)
        mask_words = (bits * (1 << np.arange(16))).sum(axis=-1).astype(np.uint16)
        readout = np.argsort(~mask, axis=-1, kind="stable")[..., : fmt.N_READOUT]
        strip_data = np.take_along_axis(adc, readout, axis=-1)
        strip_data = np.where(np.take_along_axis(mask, readout, axis=-1), strip_data, 0).astype(np.uint16)
        trigger_time = rng.integers(0, tick_ticks, m).astype(np.uint16)
        frames[fi, fmt.det_word(det, fmt.D_TRIGGER_TIME)] = trigger_time
        for a in range(fmt.N_ASICS):
            w0 = fmt.asic_word(det, a, 0)
            frames[fi, w0 + fmt.A_MASK0: w0 + fmt.A_MASK0 + fmt.N_MASK_WORDS] = mask_words[:, a]
            frames[fi, w0 + fmt.A_ADC0: w0 + fmt.A_ADC0 + fmt.N_READOUT] = strip_data[:, a]
            frames[fi, w0 + fmt.A_COMMON_MODE] = cm[:, a]
        live = np.full(n, tick_ticks, dtype=np.int64)
        live[fi] -= scenario["livetime_dead_ticks_per_event"]
        frames[:, fmt.W_LIVETIME0 + det] = np.clip(live, 0, 0xFFFF)
        for key, val in (("frame_counter", counter[fi]), ("det", np.full(m, det)), ("time", t_s[fi]),
                         ("energy", energy), ("helio_x", hx), ("helio_y", hy), ("det_x", dx),
                         ("det_y", dy), ("strip_p", sp), ("strip_n", sn), ("trigger_time", trigger_time),
                         ("mask", mask_words), ("strip_data", strip_data), ("common_mode", cm.astype(np.uint16))):
            truth[key].append(val)
    events = {k: np.concatenate(v) for k, v in truth.items()}
    for key, unit in TRUTH_UNITS.items():
        events[key] = events[key] << unit
    frames[:, fmt.W_CHECKSUM] = checksum(frames)

    records = frames
    if ftype.prefix_words:
        t_us = (launch_offset_us(flight) + np.round(t_s * 1e6)).astype(np.int64)
        prefix = np.stack([(t_us >> 32) & 0xFFFF, (t_us >> 16) & 0xFFFF, t_us & 0xFFFF], axis=1).astype(np.uint16)
        records = np.concatenate([prefix, frames], axis=1)
    raw = records.astype(">u2" if order == "big" else "<u2")
    data, intact, counts = _apply_faults(rng, raw.view(np.uint8).reshape(n, -1), counter, ftype, scenario["faults"])
    return Simulation(data=data, file_type=ftype, byteorder=order, frame_counter=counter, frames=frames,
                      events=events, intact_counters=intact, fault_counts=counts)


def launch_offset_us(flight: Flight) -> int:
    """Microseconds from 00:00 UTC of the launch day to launch (the WSMR time-tag origin)."""
    return int((flight.launch_datetime64 - flight.launch_day) / np.timedelta64(1, "us"))


def checksum(frames: np.ndarray) -> np.ndarray:
    """Checksum word of (n, 256) native uint16 frames (rule in formats.CHECKSUM_WORDS)."""
    return (frames[:, fmt.CHECKSUM_WORDS].sum(axis=1, dtype=np.uint64) & 0xFFFF).astype(np.uint16)


def _apply_faults(rng, rec: np.ndarray, counter, ftype, faults: dict):
    """Damage a fraction of frames per fault kind; return bytes, intact counters, counts by kind.

    Damaged frames are distinct and never adjacent, so the kind of each is unambiguous.
    Decision: bit flips hit formatter words 1..254 (not the sync words: a damaged sync word is
    the sync_loss fault, and not the WSMR time tag, which no checksum covers).
    """
    n, nbytes = rec.shape
    counts = {k: 0 for k in fmt.FAULT_KINDS}
    kinds = [k for k in ("bit_flip", "drop_bytes", "insert_bytes", "sync_loss", "missing") if faults.get(k)]
    if not kinds and not faults.get("truncated_tail"):
        return rec.tobytes(), counter.copy(), counts
    # Pick candidate frames at even positions (never adjacent), excluding the first and last.
    pool = rng.permutation(np.arange(2, n - 2, 2))
    chosen: dict[int, str] = {}
    pos = 0
    for kind in kinds:
        k = int(round(faults[kind] * n))
        for i in pool[pos: pos + k]:
            chosen[int(i)] = kind
        pos += k
        counts[FAULT_TO_KIND[kind]] += k
    if pos > pool.size:
        raise FoxsiError(f"fault fractions too large for {n} frames")
    pre = ftype.prefix_words * fmt.WORD_BYTES
    pieces = []
    last = 0
    for i in sorted(chosen):  # only damaged frames are visited
        pieces.append(rec[last:i].ravel())
        r = rec[i].copy()
        kind = chosen[i]
        if kind == "bit_flip":
            byte = pre + rng.integers(2, fmt.FRAME_BYTES - 2)
            r[byte] ^= np.uint8(1 << int(rng.integers(0, 8)))
            pieces.append(r)
        elif kind == "drop_bytes":
            at = pre + rng.integers(2, fmt.FRAME_BYTES - 8)
            pieces.append(np.delete(r, np.arange(at, at + rng.integers(1, 7))))
        elif kind == "insert_bytes":
            at = pre + rng.integers(2, fmt.FRAME_BYTES - 2)
            extra = rng.integers(0, 256, rng.integers(1, 7)).astype(np.uint8)
            pieces.append(np.concatenate([r[:at], extra, r[at:]]))
        elif kind == "sync_loss":
            r[pre: pre + 2] ^= np.uint8(0x5A)
            pieces.append(r)
        # "missing": the record is simply not written
        last = i + 1
    pieces.append(rec[last:].ravel())
    data = np.concatenate(pieces)
    intact = np.ones(n, dtype=bool)
    intact[list(chosen)] = False
    if faults.get("truncated_tail"):
        data = data[: data.size - nbytes // 2]
        intact[-1] = False
        counts["truncated"] += 1
    return data.tobytes(), counter[intact], counts


def flight_config(name: str, repo: Path = REPO) -> dict:
    """The validated flight-config dict of flight `name` (a key of config/foxsi.yaml `flights`)."""
    main = yaml.safe_load((repo / "config" / "foxsi.yaml").read_text())
    return load_flight_config(repo / main["flights"][name], repo / "config" / "schemas" / "foxsi.schema.yaml")


def load_flight(name: str, repo: Path = REPO) -> Flight:
    """The `Flight` of flight `name` from the repository's config."""
    return Flight.from_config(flight_config(name, repo))


def sample_scenarios() -> list[tuple[str, dict]]:
    """(flight name, scenario) of each bundled sample file.

    foxsi2_launch_short.log: FOXSI-2 WSMR recording, big-endian, 60 s through the HV ramp, intact.
    foxsi1_gse_short.dat: FOXSI-1 GSE recording, little-endian, 30 s with 0.5 % of frames damaged
    per fault kind, so the default run shows the fault counting.
    """
    sc2 = default_scenario()
    sc1 = copy.deepcopy(default_scenario())
    sc1.update(name="foxsi1_gse_short", file_type="gse", seed=20121102, duration=30.0 * u.s, start=70.0 * u.s,
               sources=[{"x": -600.0 * u.arcsec, "y": -280.0 * u.arcsec, "sigma": 30.0 * u.arcsec, "weight": 0.8}],
               faults={"bit_flip": 0.005, "missing": 0.005, "sync_loss": 0.005, "drop_bytes": 0.005,
                       "insert_bytes": 0.005})
    sc1["hv"] = dict(sc1["hv"], ramp_start=71.0 * u.s, ramp_duration=10.0 * u.s)
    return [("foxsi2", sc2), ("foxsi1", sc1)]


def write_sample(outdir: str | os.PathLike, repo: Path = REPO) -> list[Path]:
    """Regenerate the bundled sample files in `outdir` (deterministic: same bytes every time)."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    cal = repo / "resources" / "foxsi" / "calibration"
    out = []
    for flight_name, sc in sample_scenarios():
        sim = simulate(load_flight(flight_name, repo), sc, cal)
        path = outdir / f"{sc['name']}{sim.file_type.suffix}"
        path.write_bytes(sim.data)
        out.append(path)
    return out


if __name__ == "__main__":
    import sys

    for path in write_sample(sys.argv[1] if len(sys.argv) > 1 else REPO / "resources" / "foxsi"):
        print(path, path.stat().st_size, "bytes")
