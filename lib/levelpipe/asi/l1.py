"""Level 1: calibrated images of one site-hour, with times and per-frame metadata.

raw minute files (one site, one imager, one UT hour) -> dark (corner box) -> flatfield ->
Rayleighs (when the detector has calibration files and the instrument is configured for it)
-> one netCDF file per site-hour.

Each file is read and calibrated in one task (inflate, header scan, gather, calibration), and
with `threads` > 1 the tasks of the next files run in a thread pool while the finished ones are
copied into the hour's buffer: all of that work releases the GIL (zlib/ISA-L, numpy), so the
step's ``threads:`` are used. A file that cannot be read at all is counted (``file_error``,
``files_unreadable``) and the others are kept; an hour that decodes less than
``reading.min_good_fraction`` of the frames it was due fails with one line instead of writing a
near-empty product.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import xarray as xr

from levelpipe.asi.calibration import (calibrate, dark_level, detector_uid, parse_calibration_name,
                                       read_flatfield, read_rayleighs)
from levelpipe.asi.readers import FRAME_ERROR_KINDS, iter_raw, parse_filename, peek_metadata, read_raw
from levelpipe.asi.settings import CalibrationSettings, InstrumentSettings, ReadingSettings
from levelpipe.errors import AsiError
from levelpipe.io.variables import bad_count_attrs

LOG = logging.getLogger("levelpipe.asi.l1")

# CF/UDUNITS has no rayleigh; 1 R = 1e10 photons m-2 s-1 (column emission rate), which UDUNITS
# parses as "1e10 m-2 s-1" (photons are counts, dimensionless).
RAYLEIGH_UNITS = "1e10 m-2 s-1"
QUALITY_FLAGS = {"file_had_skipped_frames": 1, "exposure_from_nominal": 2, "stream_check_failed": 4}

REFERENCES = ("Donovan et al. (2006) doi:10.1016/j.jastp.2005.03.027 (THEMIS ASI); "
              "Liang et al. (2016) doi:10.1002/2016JA022657 (REGO); "
              "UCalgary Space Remote Sensing data: https://data.phys.ucalgary.ca")


def _site_position(meta: Mapping[str, str]) -> tuple[float, float]:
    lat = lon = np.nan
    for k, v in meta.items():
        kl = k.lower()
        try:
            if kl in ("geodetic latitude", "geographic latitude"):
                lat = float(v.split()[0])
            elif kl in ("geodetic longitude", "geographic longitude"):
                lon = float(v.split()[0])
        except (ValueError, IndexError):
            pass
    ok = np.isfinite(lat) and np.isfinite(lon) and -90 <= lat <= 90 and -360 <= lon <= 360
    return (lat, lon) if ok else (np.nan, np.nan)


@dataclass
class _FileResult:
    """One raw file read and calibrated (the unit of work of a reading thread)."""
    path: Path
    error: str = ""
    image: np.ndarray | None = None
    time: np.ndarray | None = None
    exposure: np.ndarray | None = None
    from_nominal: np.ndarray | None = None
    dark: np.ndarray | None = None
    errors: dict | None = None
    file_metadata: dict | None = None
    stream_check_failed: bool = False
    stream_damaged: bool = False
    in_slot: bool = False   # `image` is the file's slot in the hour buffer

    @property
    def n(self) -> int:
        return 0 if self.image is None else self.image.shape[0]


class _HourBuffer:
    """The site-hour's float32 frames, one slot of `per_file` frames per raw file, so that each
    reading thread calibrates straight into its file's slot (the copy and the first touch of the
    memory run in the threads, not one after another in the caller). Allocated by the first
    file to arrive, in that file's frame shape; a file of another shape or with more frames than
    its slot keeps its own array and is copied in by the caller."""

    def __init__(self, n_files: int, per_file: int):
        import threading
        self.n_files, self.per_file = n_files, per_file
        self.array: np.ndarray | None = None
        self._lock = threading.Lock()

    def slot(self, index: int, n: int, shape: tuple[int, ...]) -> np.ndarray | None:
        with self._lock:
            if self.array is None:
                self.array = np.empty((self.n_files * self.per_file,) + shape, dtype=np.float32)
        if shape != self.array.shape[1:] or n > self.per_file:
            return None
        return self.array[index * self.per_file:index * self.per_file + n]


def _read_and_calibrate(path: Path, *, limits: ReadingSettings, nominal: float, box: int, flat, factor,
                        buffer: _HourBuffer | None = None, index: int = 0) -> _FileResult:
    fr = read_raw(path, limits)
    exp = fr.exposure_s.copy()
    from_nominal = ~np.isfinite(exp)
    exp[from_nominal] = nominal  # Decision: missing exposure -> the instrument's nominal one
    res = _FileResult(path, errors=fr.errors, file_metadata=fr.file_metadata,
                      stream_check_failed=fr.stream_check_failed,
                      stream_damaged=bool(fr.stream_damage) and not fr.stream_check_failed)
    if fr.images.shape[0]:
        if flat is not None and flat.shape != fr.images.shape[1:3]:
            raise AsiError(f"frames of {fr.images.shape[1:3]} but the flatfield is {flat.shape}", path)
        res.dark = dark_level(fr.images, box)
        out = buffer.slot(index, fr.images.shape[0], fr.images.shape[1:]) if buffer is not None else None
        res.image = calibrate(fr.images, exp, dark_box_px=box, flatfield=flat, rayleighs_per_dn_per_s=factor,
                              out=out)
        res.in_slot = out is not None
        res.time, res.exposure, res.from_nominal = fr.time, exp, from_nominal
    return res


def l1(raw_files: Sequence[str | os.PathLike], *, instruments: Mapping[str, InstrumentSettings],
       calibration: CalibrationSettings, reading: ReadingSettings | None = None,
       flatfield: str | os.PathLike | None = None, rayleighs: str | os.PathLike | None = None,
       threads: int = 1) -> xr.Dataset:
    """Read and calibrate a site-hour: the L1 dataset.

    instruments: settings by instrument family (the granule's must be there); calibration: the
    dark box and device table; reading: the readers' limits and the share of frames that must
    decode; flatfield, rayleighs: the calibration files chosen for the granule (needed when its
    instrument is calibrated to Rayleighs); threads: files read and calibrated at once.
    """
    reading = reading if reading is not None else ReadingSettings()
    paths = sorted(Path(p) for p in raw_files)
    if not paths:
        raise AsiError("no raw files for this site-hour")
    names = [parse_filename(p) for p in paths]
    instrument, site, device = names[0].instrument, names[0].site, names[0].device
    for p, n in zip(paths, names):
        if (n.instrument, n.site, n.device) != (instrument, site, device):
            raise AsiError(f"mixes imagers: {n.site}_{n.device} with {site}_{device}", p)
    if instrument not in instruments:
        raise AsiError(f"no settings for instrument {instrument!r} (config instruments)", paths[0])
    icfg = instruments[instrument]
    box = calibration.dark_box_px
    nominal = icfg.nominal_exposure_s.to_value("s")
    per_minute = icfg.frames_per_minute

    # the detector decides the calibration before any file is read in full: the first frame
    # header that names a camera (the index chose the calibration files the same way)
    detector = None
    for p in paths:
        detector = detector_uid(peek_metadata(p), device, {})
        if detector:
            break
    detector = detector or calibration.device_detector.get(device)
    flat = factor = None
    cal_used: dict[str, str] = {}
    if icfg.calibrate == "rayleighs":
        flat, factor, cal_used = _load_calibration(flatfield, rayleighs, instrument, detector,
                                                   names[0].start, paths[0])

    buffer = _HourBuffer(len(paths), per_minute)
    slot_of = {p: i for i, p in enumerate(paths)}

    def task(p: Path) -> _FileResult:
        return _read_and_calibrate(p, limits=reading, nominal=nominal, box=box, flat=flat, factor=factor,
                                   buffer=buffer, index=slot_of[p])

    shape = None
    pieces: list[tuple[int, _FileResult]] = []   # (slot index, result) of the kept files, in order
    used = 0
    times, exposures, flags, darks = [], [], [], []
    errors = dict.fromkeys(FRAME_ERROR_KINDS, 0)
    per_file_skipped, per_file_error = [], []
    file_meta: dict[str, str] = {}
    unreadable = check_failed = 0
    # the files' frames land in the hour buffer as they are read: peak memory is one float32
    # hour plus the files in flight (2 x threads)
    for p, res in zip(paths, iter_raw(paths, threads, reader=task)):
        if isinstance(res, AsiError):
            LOG.warning("%s", res)
            unreadable += 1
            per_file_skipped.append(0)
            per_file_error.append(res.message)
            continue
        if res.stream_damaged:
            # a file cut or garbled in its compressed stream was due a minute of frames
            shortfall = per_minute - res.n - sum(res.errors.values())
            res.errors["lost_in_damaged_stream"] += max(0, shortfall)
        for k, v in res.errors.items():
            errors[k] += v
        for k, v in res.file_metadata.items():
            file_meta.setdefault(k, v)
        n_bad = int(sum(res.errors.values()))
        per_file_skipped.append(n_bad)
        per_file_error.append("")
        n = res.n
        if n == 0:
            if n_bad == 0:
                unreadable += 1
                per_file_error[-1] = "no frame in the file"
            continue
        check_failed += int(res.stream_check_failed)
        if shape is None:
            shape = res.image.shape[1:]
        elif res.image.shape[1:] != shape:
            errors["size_mismatch"] += n
            per_file_skipped[-1] += n
            continue
        pieces.append((slot_of[p], res))
        darks.append(res.dark)
        flag = np.where(res.from_nominal, QUALITY_FLAGS["exposure_from_nominal"], 0)
        if n_bad:
            flag |= QUALITY_FLAGS["file_had_skipped_frames"]
        if res.stream_check_failed:
            flag |= QUALITY_FLAGS["stream_check_failed"]
        flags.append(flag.astype(np.int8))
        times.append(res.time)
        exposures.append(res.exposure)
        used += n
    bad_total = int(sum(errors.values()))
    due = used + bad_total + unreadable * per_minute
    if used == 0 or used < reading.min_good_fraction * due:
        first = next((f"; first unreadable file: {p.name}: {e}" for p, e in zip(paths, per_file_error) if e), "")
        counts = f"{bad_total} frames counted bad, {unreadable} of {len(paths)} files unreadable"
        if used == 0:
            raise AsiError(f"no readable frame in this site-hour ({counts}){first}", paths[0])
        raise AsiError(f"only {used} of {due} frames decoded ({counts}), below reading.min_good_fraction "
                       f"{reading.min_good_fraction:g}{first}", paths[0])
    images = _assemble(buffer, pieces, used)
    time = np.concatenate(times)
    order = np.argsort(time, kind="stable")
    if np.any(order != np.arange(used)):
        images = images[order]
    if not detector:
        detector = detector_uid(file_meta, device, calibration.device_detector)
    lat, lon = _site_position(file_meta)
    units = RAYLEIGH_UNITS if factor is not None else "count"
    level = ("dark-subtracted, flat-fielded, Rayleighs" if factor is not None
             else "dark-subtracted counts (no absolute calibration for this instrument)")
    dims = ("time", "row", "col") + (("channel",) if images.ndim == 4 else ())
    coords = {"time": ("time", time[order]), "row": ("row", np.arange(images.shape[1], dtype=np.int32)),
              "col": ("col", np.arange(images.shape[2], dtype=np.int32)),
              "frame_error_kind": ("frame_error_kind", np.array(FRAME_ERROR_KINDS)),
              "file": ("file", np.array([p.name for p in paths]))}
    if images.ndim == 4:
        coords["channel"] = ("channel", np.array(["red", "green", "blue"][: images.shape[3]]))
    dark = np.concatenate(darks)[order]
    ds = xr.Dataset(
        {
            "image": (dims, images, {"units": units, "calibration": level}),
            "exposure": ("time", np.concatenate(exposures)[order].astype(np.float32)),
            "dark_level": (("time",) + (("channel",) if dark.ndim == 2 else ()), dark.astype(np.float32)),
            "quality_flag": ("time", np.concatenate(flags)[order]),
            "skipped_frames": ("frame_error_kind", np.array([errors[k] for k in FRAME_ERROR_KINDS], dtype=np.int32)),
            "file_skipped_frames": ("file", np.array(per_file_skipped, dtype=np.int32)),
            "file_error": ("file", np.array(per_file_error, dtype=str)),
        },
        coords=coords,
        attrs={
            "instrument": instrument, "site_uid": site, "device_uid": device,
            "detector_uid": detector or "unknown",
            "site_latitude_deg": lat, "site_longitude_deg": lon,
            "image_orientation": "rows and columns as pyucalgarysrs: display with origin='lower' for north up, east left",
            "calibration_level": level, "dark_box_px": box,
            "skipped_frames_total": bad_total,
            **bad_count_attrs("frames", used, errors, FRAME_ERROR_KINDS),
            "files_unreadable": unreadable, "files_stream_check_failed": check_failed,
            **{f"calibration_{k}": v for k, v in cal_used.items()},
        },
    )
    if factor is not None:
        ds.attrs["rayleighs_per_dn_per_s"] = factor
    return ds


def _assemble(buffer: _HourBuffer, pieces: list, used: int) -> np.ndarray:
    """The kept frames, in file order, as one (used, ...) array. When every file's frames are in
    its slot, the slots are moved together in place (each piece holds at most a slot, so pieces
    only move towards the start and none is overwritten before it has moved; nothing moves when
    every file filled its slot); otherwise (a file with more frames than its slot, or of the
    shape the buffer was not made for: rare) they are copied into a fresh array."""
    if buffer.array is None or not all(res.in_slot for _, res in pieces):
        out = np.empty((used,) + pieces[0][1].image.shape[1:], dtype=np.float32)
        pos = 0
        for _, res in pieces:
            out[pos:pos + res.n] = res.image
            pos += res.n
        return out
    array, pos = buffer.array, 0
    for i, res in pieces:
        start = i * buffer.per_file
        if start != pos:
            array[pos:pos + res.n] = array[start:start + res.n]
        pos += res.n
    return array[:used]


def _load_calibration(flatfield, rayleighs, instrument, detector, t, where):
    """The granule's chosen calibration files, checked against the frames' own detector."""
    if detector is None:
        raise AsiError("no detector UID: header has no camera serial number and the device is not in "
                       "calibration.device_detector", where)
    if flatfield is None or rayleighs is None:
        raise AsiError(f"{instrument} is calibrated to Rayleighs but the archive has no flatfield/Rayleighs "
                       f"file for detector {detector} on {np.datetime_as_string(t, unit='D')}", where)
    names = {kind: parse_calibration_name(p) for kind, p in (("flatfield", flatfield), ("rayleighs", rayleighs))}
    for kind, name in names.items():
        if name.kind != kind or name.detector != str(detector):
            raise AsiError(f"chosen {kind} file is for detector {name.detector} ({name.kind}), the frames' "
                           f"camera is {detector}", name.path)
    return (read_flatfield(flatfield, instrument), read_rayleighs(rayleighs),
            {"flatfield_file": Path(flatfield).name, "rayleighs_file": Path(rayleighs).name})


def write_l1(ctx) -> None:
    """Step `l1` (rule calibrate_asi_l1): one site-hour's raw files -> results/asi/l1/<site_hour>.nc."""
    cfg = ctx.settings
    ds = l1(ctx.inputs["raw"], instruments=cfg.instruments, calibration=cfg.calibration, reading=cfg.reading,
            flatfield=ctx.inputs.optional("flatfield"), rayleighs=ctx.inputs.optional("rayleighs"),
            threads=ctx.threads)
    used = [p for p in (ctx.inputs.optional("flatfield"), ctx.inputs.optional("rayleighs"))
            if p and Path(p).name in (ds.attrs.get("calibration_flatfield_file"),
                                      ds.attrs.get("calibration_rayleighs_file"))]
    ctx.write(ds, ctx.outputs.one(), table="l1",
              title=f"UCalgary {ds.attrs['instrument']} all-sky images, {ctx.granule}, level 1",
              summary=("Calibrated all-sky images of one site-hour: corner-box dark subtracted, flat-fielded "
                       "and converted to Rayleighs where the detector has calibration files, else "
                       "dark-subtracted counts."),
              inputs=[*ctx.inputs["raw"], *used], references=REFERENCES)
