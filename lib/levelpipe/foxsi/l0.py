"""FOXSI level 0: decoded telemetry, one dataset per detector D0-D6 and one of housekeeping.

Level 0 keeps the raw values of every intact frame, named after the tags of the FOXSI
data description (foxsi-science `data_struct`): frame_counter, wsmr_time, det_num,
trigger_time, livetime, hv, mask, strip_data, common_mode. A detector dataset has one row per
frame in which that detector read out an event; the housekeeping dataset one row per frame.
Every L0 file also carries the decoder's bad-frame counts by kind (variables and attributes).
"""
from __future__ import annotations

import os
from pathlib import Path

import astropy.units as u
import numpy as np
import xarray as xr

from levelpipe.foxsi import flight as fl
from levelpipe.foxsi import formats as fmt
from levelpipe.foxsi.config import DecodeSettings, Flight
from levelpipe.foxsi.decode import DecodedFile, decode_file
from levelpipe.io import write_netcdf

REFERENCES = ("Krucker et al. 2014, ApJL 793, L32 (FOXSI-1); Glesener et al. 2016, SPIE 9905 (FOXSI-2); "
              "foxsi-science IDL software, https://github.com/foxsi/foxsi-science")


def counter_steps(dec: DecodedFile, flight: Flight) -> np.ndarray:
    """Frames since launch of every frame (negative before launch), across 32-bit counter wraps."""
    # The counter may wrap during a recording: take the difference modulo 2**32 as a signed
    # number so frames before launch get negative values and a wrap changes nothing.
    return (dec.counter - flight.launch_frame_counter + (1 << 31)) % (1 << 32) - (1 << 31)


def frame_times(dec: DecodedFile, flight: Flight, wsmr_tolerance: u.Quantity | None = None
                ) -> tuple[np.ndarray, str, np.ndarray]:
    """UTC datetime64[ns] of every frame, a sentence saying where it came from, and a bool
    array marking WSMR time tags that were replaced.

    Decision: WSMR files are timed by their WSMR time tag (us since 00:00 UTC of the launch
    day); GSE files, which have no clock, by launch_utc + (frame_counter - launch_frame_counter)
    x frame_period_s from the flight config.
    Decision: the WSMR time tag is outside the formatter checksum, so it is checked against the
    frame counter: a tag further than `wsmr_tolerance` (a time Quantity; None: no check) from
    the file's median offset between tag and counter time (a bit error) is replaced by that
    offset plus the counter time, and counted; the frame itself is intact and kept.
    Times stay datetime64[ns] (not astropy Time) on this path: a flight has ~10^5 frames and
    the products store datetime64; astropy Time is used for the launch (`Flight.launch`).
    """
    period_ns = int(round(flight.frame_period.to_value(u.s) * 1e9))
    counter_ns = counter_steps(dec, flight) * period_ns
    repaired = np.zeros(dec.counter.size, dtype=bool)
    if dec.wsmr_time_us is None:
        return (flight.launch_datetime64 + counter_ns.astype("timedelta64[ns]"),
                "launch_utc + (frame_counter - launch_frame_counter) * frame_period_s", repaired)
    tag_ns = dec.wsmr_time_us.astype(np.int64) * 1000
    if wsmr_tolerance is not None and tag_ns.size:
        offset = tag_ns - counter_ns
        ref = int(np.median(offset))
        repaired = np.abs(offset - ref) > wsmr_tolerance.to_value(u.s) * 1e9
        tag_ns = np.where(repaired, ref + counter_ns, tag_ns)
    return (flight.launch_day + tag_ns.astype("timedelta64[ns]"),
            "WSMR time tag (us since 00:00 UTC of the launch day)", repaired)


def fault_variables(dec: DecodedFile) -> tuple[dict, dict]:
    """Scalar variables and global attributes with the bad-frame counts of a decoded file."""
    variables, attrs = {}, {}
    for kind in fmt.FAULT_KINDS:
        name = f"bad_frames_{kind}"
        variables[name] = xr.Variable((), np.int64(dec.faults[kind]), {
            "long_name": f"number of bad frames skipped: {fmt.FAULT_MEANINGS[kind]}", "units": "1"})
        attrs[name] = int(dec.faults[kind])
    variables["frames_decoded"] = xr.Variable((), np.int64(dec.counter.size), {
        "long_name": "number of intact frames decoded", "units": "1"})
    variables["unframed_bytes"] = xr.Variable((), np.int64(dec.unframed_bytes), {
        "long_name": "number of bytes of the file outside intact frames", "units": "1"})
    variables["counter_resets"] = xr.Variable((), np.int64(dec.counter_resets), {
        "long_name": "frame-counter steps backwards, of zero, or too large to be missing frames", "units": "1"})
    attrs.update(frames_decoded=int(dec.counter.size), unframed_bytes=int(dec.unframed_bytes),
                 counter_resets=int(dec.counter_resets), byte_order=dec.byteorder,
                 telemetry_file_type=dec.file_type.name, telemetry_bytes=int(dec.n_bytes))
    return variables, attrs


def detector_events(dec: DecodedFile) -> list[dict[str, np.ndarray]]:
    """Raw per-detector event fields (arrays) from the decoded frames, D0..D6."""
    f = dec.frames
    out = []
    for det in range(fmt.N_DETECTORS):
        a0 = fmt.asic_word(det, 0, 0)
        block = f[:, a0: a0 + fmt.N_ASICS * fmt.ASIC_WORDS].reshape(-1, fmt.N_ASICS, fmt.ASIC_WORDS)
        mask = block[:, :, fmt.A_MASK0: fmt.A_MASK0 + fmt.N_MASK_WORDS]
        # Decision: a detector read out an event in a frame iff any ASIC mask bit is set.
        rows = np.flatnonzero(np.bitwise_or.reduce(mask, axis=(1, 2)))  # faster than any() on uint16
        b = block[rows]
        out.append({
            "rows": rows,
            "trigger_time": f[rows, fmt.det_word(det, fmt.D_TRIGGER_TIME)],
            "livetime": f[rows, fmt.W_LIVETIME0 + det],
            "mask": b[:, :, fmt.A_MASK0: fmt.A_MASK0 + fmt.N_MASK_WORDS].copy(),
            "strip_data": b[:, :, fmt.A_ADC0: fmt.A_ADC0 + fmt.N_READOUT].copy(),
            "common_mode": b[:, :, fmt.A_COMMON_MODE].copy(),
        })
    return out


def _frame_vars(f: np.ndarray, rows: np.ndarray, counter: np.ndarray) -> dict:
    return {
        "frame_counter": (("time",), counter[rows].astype(np.uint32),
                          {"long_name": "formatter frame counter", "units": "1"}),
        "status": (("time",), f[rows, fmt.W_STATUS],
                   {"long_name": "formatter status word (bits 0-11 HV monitor, bit 15 HV enabled)", "units": "1"}),
        "hv": (("time",), (f[rows, fmt.W_STATUS] & fmt.STATUS_HV_MASK).astype(np.uint16),
               {"long_name": "detector high-voltage monitor, raw", "units": "1"}),
        "sparcs_pitch": (("time",), f[rows, fmt.W_SPARCS_PITCH].view(np.int16),
                         {"long_name": "SPARCS fine pitch, raw counts", "units": "1"}),
        "sparcs_yaw": (("time",), f[rows, fmt.W_SPARCS_YAW].view(np.int16),
                       {"long_name": "SPARCS fine yaw, raw counts", "units": "1"}),
    }


def level0(dec: DecodedFile, flight: Flight, wsmr_tolerance: u.Quantity | None = None
           ) -> tuple[list[xr.Dataset], xr.Dataset]:
    """Level-0 datasets of one decoded file: ([D0..D6], housekeeping). wsmr_tolerance: see frame_times."""
    times, time_source, repaired = frame_times(dec, flight, wsmr_tolerance)
    fvars, fattrs = fault_variables(dec)
    fvars["wsmr_time_tags_replaced"] = xr.Variable((), np.int64(repaired.sum()), {
        "long_name": "WSMR time tags inconsistent with the frame counter, replaced by counter time", "units": "1"})
    fattrs["wsmr_time_tags_replaced"] = int(repaired.sum())
    time_attrs = {"standard_name": "time", "long_name": "frame time (UTC)", "comment": time_source}
    inflight = fl.inflight(flight, flight.time_since_launch(times))
    dets = []
    for det, ev in enumerate(detector_events(dec)):
        rows = ev["rows"]
        ds = xr.Dataset(
            {
                **_frame_vars(dec.frames, rows, dec.counter),
                "det_num": ((), np.int8(det), {"long_name": "detector position number (D0-D6)", "units": "1"}),
                "trigger_time": (("time",), ev["trigger_time"],
                                 {"long_name": "trigger time within the frame, raw ticks", "units": "1"}),
                "livetime": (("time",), ev["livetime"],
                             {"long_name": "livetime counter of this detector during the frame, raw ticks", "units": "1"}),
                "mask": (("time", "asic", "mask_word"), ev["mask"],
                         {"long_name": "ASIC hit mask: bit b of word k = channel 16k+b read out", "units": "1"}),
                "strip_data": (("time", "asic", "readout"), ev["strip_data"],
                               {"long_name": "ADC of the read-out channels in ascending channel order", "units": "1"}),
                "common_mode": (("time", "asic"), ev["common_mode"],
                                {"long_name": "ASIC common-mode level", "units": "1"}),
                "inflight": (("time",), inflight[rows].astype(np.int8),
                             {"long_name": "in-flight flag", "flag_values": np.array([0, 1], np.int8),
                              "flag_meanings": "ground_or_outside_flight in_flight"}),
                **fvars,
            },
            coords={"time": (("time",), times[rows], time_attrs),
                    "asic": (("asic",), np.arange(fmt.N_ASICS, dtype=np.int8),
                             {"long_name": "ASIC number (0,1 n side; 2,3 p side)", "units": "1"})},
            attrs={**fattrs, "det_num": det, "flight": flight.name},
        )
        if dec.wsmr_time_us is not None:
            ds["wsmr_time"] = (("time",), dec.wsmr_time_us[rows].astype(np.int64),
                               {"long_name": "WSMR time tag, microseconds since 00:00 UTC of the launch day", "units": "us"})
        dets.append(ds)
    f = dec.frames
    allrows = np.arange(f.shape[0])
    hk = xr.Dataset(
        {
            **_frame_vars(f, allrows, dec.counter),
            "hk_channel": (("time",), (dec.counter % fmt.N_HK_CHANNELS).astype(np.int8),
                           {"long_name": "housekeeping multiplex channel of this frame (frame_counter mod 8)", "units": "1"}),
            "hk_value": (("time",), f[:, fmt.W_HK], {"long_name": "housekeeping word, raw", "units": "1"}),
            "livetime": (("time", "detector"), f[:, fmt.W_LIVETIME0: fmt.W_LIVETIME0 + fmt.N_DETECTORS],
                         {"long_name": "livetime counter per detector during the frame, raw ticks", "units": "1"}),
            "inflight": (("time",), inflight.astype(np.int8),
                         {"long_name": "in-flight flag", "flag_values": np.array([0, 1], np.int8),
                          "flag_meanings": "ground_or_outside_flight in_flight"}),
            **fvars,
        },
        coords={"time": (("time",), times, time_attrs),
                "detector": (("detector",), np.arange(fmt.N_DETECTORS, dtype=np.int8),
                             {"long_name": "detector position number (D0-D6)", "units": "1"})},
        attrs={**fattrs, "flight": flight.name},
    )
    if dec.wsmr_time_us is not None:
        hk["wsmr_time"] = (("time",), dec.wsmr_time_us.astype(np.int64),
                           {"long_name": "WSMR time tag, microseconds since 00:00 UTC of the launch day", "units": "us"})
    return dets, hk


def make_l0(telemetry: str | os.PathLike, det_outputs: list, hk_output: str | os.PathLike, cfg: dict) -> None:
    """Decode a telemetry file and write the seven detector L0 files and the housekeeping L0 file.

    cfg: {"decode": config decode section, "flight": per-flight config} (dicts, as in the product provenance).
    """
    settings = DecodeSettings.from_config(cfg["decode"])
    flight = Flight.from_config(cfg["flight"])
    dec = decode_file(telemetry, byteorder=settings.byteorder, sniff_bytes=settings.sniff_bytes,
                      max_missing_run=settings.max_missing_run)
    dets, hk = level0(dec, flight, settings.wsmr_time_tolerance)
    name = Path(telemetry).name
    for det, (ds, out) in enumerate(zip(dets, det_outputs)):
        write_netcdf(ds, out, title=f"{flight.name} detector D{det} level 0 events from {name}",
                     summary=("Raw FOXSI strip-detector events (hit masks, ADC, common mode) decoded from "
                              "formatter telemetry; bad frames counted by kind and skipped."),
                     mission="foxsi", level="L0", inputs=[telemetry], config=cfg, references=REFERENCES)
    write_netcdf(hk, hk_output, title=f"{flight.name} housekeeping level 0 from {name}",
                 summary="Raw FOXSI formatter housekeeping, HV, SPARCS and livetime words of every intact frame.",
                 mission="foxsi", level="L0", inputs=[telemetry], config=cfg, references=REFERENCES)
