"""Level 1: calibrated images of one site-hour, with times and per-frame metadata.

raw minute files (one site, one imager, one UT hour) -> dark (corner box) -> flatfield ->
Rayleighs (when the detector has calibration files and the instrument is configured for it)
-> one netCDF file per site-hour.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

from levelpipe.asi.calibration import (best_calibration, calibrate, dark_level, detector_uid,
                                       find_calibrations, read_flatfield, read_rayleighs)
from levelpipe.asi.readers import FRAME_ERROR_KINDS, iter_raw, parse_filename
from levelpipe.errors import AsiError
from levelpipe.io import write_netcdf

LOG = logging.getLogger("levelpipe.asi.l1")

# CF/UDUNITS has no rayleigh; 1 R = 1e10 photons m-2 s-1 (column emission rate), which UDUNITS
# parses as "1e10 m-2 s-1" (photons are counts, dimensionless).
RAYLEIGH_UNITS = "1e10 m-2 s-1"
QUALITY_FLAGS = {"file_had_skipped_frames": 1, "exposure_from_nominal": 2}

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
    return lat, lon


def build_l1(raw_files: Sequence[str | os.PathLike], calibration_root: str | os.PathLike | None,
             cfg: Mapping[str, Any]) -> xr.Dataset:
    """Read and calibrate a site-hour; returns the L1 dataset (not yet written).

    cfg: the `asi` config (instruments.<name>.{nominal_exposure_s, frames_per_minute, calibrate},
    calibration.{dark_box_px, device_detector}).
    """
    paths = sorted(Path(p) for p in raw_files)
    if not paths:
        raise AsiError("no raw files for this site-hour")
    names = [parse_filename(p) for p in paths]
    instrument, site, device = names[0].instrument, names[0].site, names[0].device
    for p, n in zip(paths, names):
        if (n.instrument, n.site, n.device) != (instrument, site, device):
            raise AsiError(f"mixes imagers: {n.site}_{n.device} with {site}_{device}", p)
    icfg = cfg["instruments"][instrument]
    box = int(cfg["calibration"]["dark_box_px"])
    nominal = float(icfg["nominal_exposure_s"])
    want_rayleighs = icfg["calibrate"] == "rayleighs"

    images = None
    used = 0
    times, exposures, flags, darks, metas = [], [], [], [], []
    errors = {k: 0 for k in FRAME_ERROR_KINDS}
    per_file_skipped = []
    flatfield = rayleighs = None
    cal_used: dict[str, str] = {}
    detector = None
    # one file at a time keeps peak memory at one float32 hour + a few raw files
    for p, fr in zip(paths, iter_raw(paths)):
        for k, v in fr.errors.items():
            errors[k] += v
        per_file_skipped.append(fr.n_bad)
        n = fr.images.shape[0]
        if n == 0:
            continue
        if images is None:
            detector = detector_uid(fr.metadata[0], device, cfg["calibration"].get("device_detector", {}))
            if want_rayleighs:
                flatfield, rayleighs, cal_used = _load_calibration(calibration_root, instrument, detector,
                                                                   fr.time[0], p)
            cap = max(len(paths) * int(icfg["frames_per_minute"]), n)
            images = np.empty((cap,) + fr.images.shape[1:], dtype=np.float32)
        elif fr.images.shape[1:] != images.shape[1:]:
            errors["size_mismatch"] += n
            per_file_skipped[-1] += n
            continue
        if used + n > images.shape[0]:
            grown = np.empty((max(used + n, 2 * images.shape[0]),) + images.shape[1:], dtype=np.float32)
            grown[:used] = images[:used]
            images = grown
        exp = fr.exposure_s.copy()
        from_nominal = ~np.isfinite(exp)
        exp[from_nominal] = nominal  # Decision: missing exposure -> the instrument's nominal one
        darks.append(dark_level(fr.images, box))
        calibrate(fr.images, exp, dark_box_px=box, flatfield=flatfield,
                  rayleighs_per_dn_per_s=rayleighs, out=images[used:used + n])
        flag = np.where(from_nominal, QUALITY_FLAGS["exposure_from_nominal"], 0)
        if fr.n_bad:
            flag |= QUALITY_FLAGS["file_had_skipped_frames"]
        flags.append(flag.astype(np.int8))
        times.append(fr.time)
        exposures.append(exp)
        metas.append(fr.metadata[0])
        used += n
    if images is None:
        raise AsiError("no readable frame in this site-hour", paths[0])
    images = images[:used]
    time = np.concatenate(times)
    order = np.argsort(time, kind="stable")
    if np.any(order != np.arange(used)):
        images = images[order]
    lat, lon = _site_position(metas[0])
    units = RAYLEIGH_UNITS if rayleighs is not None else "count"
    level = ("dark-subtracted, flat-fielded, Rayleighs" if rayleighs is not None
             else "dark-subtracted counts (no absolute calibration for this instrument)")
    dims = ("time", "row", "col") + (("channel",) if images.ndim == 4 else ())
    coords = {
        "time": ("time", time[order], {"standard_name": "time", "long_name": "image request start (UTC)"}),
        "row": ("row", np.arange(images.shape[1], dtype=np.int32),
                {"long_name": "image row (0 = bottom when displayed origin='lower'; north up)", "units": "1"}),
        "col": ("col", np.arange(images.shape[2], dtype=np.int32),
                {"long_name": "image column (east on the left, sky seen from below)", "units": "1"}),
    }
    if images.ndim == 4:
        coords["channel"] = ("channel", np.array(["red", "green", "blue"][: images.shape[3]]),
                             {"long_name": "colour channel"})
    dark = np.concatenate(darks)[order]
    ds = xr.Dataset(
        {
            "image": (dims, images, {
                "long_name": "calibrated all-sky image" if rayleighs is not None else "dark-subtracted all-sky image",
                "units": units, "calibration": level,
                "comment": ("rayleigh units: 1 R = 1e10 photons m-2 s-1 column emission rate"
                            if rayleighs is not None else "counts after subtracting the corner-box dark level"),
            }),
            "exposure": ("time", np.concatenate(exposures)[order].astype(np.float32),
                         {"long_name": "commanded exposure duration", "units": "s"}),
            "dark_level": (("time",) + (("channel",) if dark.ndim == 2 else ()), dark.astype(np.float32),
                           {"long_name": f"mean of the {box}x{box} corner dark box", "units": "count"}),
            "quality_flag": ("time", np.concatenate(flags)[order], {
                "long_name": "frame quality flags",
                "flag_masks": np.array(list(QUALITY_FLAGS.values()), dtype=np.int8),
                "flag_meanings": " ".join(QUALITY_FLAGS)}),
            "skipped_frames": ("frame_error_kind", np.array([errors[k] for k in FRAME_ERROR_KINDS], dtype=np.int32),
                               {"long_name": "frames skipped while reading, by kind", "units": "1"}),
            "file_skipped_frames": ("file", np.array(per_file_skipped, dtype=np.int32),
                                    {"long_name": "frames skipped in each raw file", "units": "1"}),
        },
        coords={**coords,
                "frame_error_kind": ("frame_error_kind", np.array(FRAME_ERROR_KINDS), {"long_name": "kind of unreadable frame"}),
                "file": ("file", np.array([p.name for p in paths]), {"long_name": "raw file name"})},
        attrs={
            "instrument": instrument, "site_uid": site, "device_uid": device,
            "detector_uid": detector or "unknown",
            "site_latitude_deg": lat, "site_longitude_deg": lon,
            "image_orientation": "rows and columns as pyucalgarysrs: display with origin='lower' for north up, east left",
            "calibration_level": level, "dark_box_px": box,
            "skipped_frames_total": int(sum(errors.values())),
            **{f"calibration_{k}": v for k, v in cal_used.items()},
        },
    )
    if rayleighs is not None:
        ds.attrs["rayleighs_per_dn_per_s"] = rayleighs
    return ds


def _load_calibration(root, instrument, detector, t, where):
    if root is None:
        raise AsiError(f"{instrument} is configured for Rayleighs but no calibration directory is given", where)
    if detector is None:
        raise AsiError("no detector UID: header has no Camera Serial Number and the device is not in "
                       "calibration.device_detector", where)
    names = find_calibrations(root)
    ff = best_calibration(names, "flatfield", detector, t)
    ry = best_calibration(names, "rayleighs", detector, t)
    if ff is None or ry is None:
        raise AsiError(f"no flatfield/Rayleighs calibration for detector {detector} on "
                       f"{np.datetime_as_string(t, unit='D')}", root)
    return (read_flatfield(ff.path, instrument), read_rayleighs(ry.path),
            {"flatfield_file": ff.path.name, "rayleighs_file": ry.path.name})


def make_l1(raw_files: Sequence[str | os.PathLike], output: str | os.PathLike, *,
            calibration_root: str | os.PathLike | None, cfg: Mapping[str, Any], granule: str,
            calibration_files: Sequence[str | os.PathLike] = ()) -> Path:
    """Build and write the L1 product of one site-hour (the workflow's `calibrate_asi_l1`)."""
    ds = build_l1(raw_files, calibration_root, cfg)
    used = [p for p in calibration_files if Path(p).name in
            (ds.attrs.get("calibration_flatfield_file"), ds.attrs.get("calibration_rayleighs_file"))]
    section = {"instrument": cfg["instruments"][ds.attrs["instrument"]], "calibration": cfg["calibration"]}
    return write_netcdf(
        ds, output,
        title=f"UCalgary {ds.attrs['instrument']} all-sky images, {granule}, level 1",
        summary=("Calibrated all-sky images of one site-hour: corner-box dark subtracted, flat-fielded and "
                 "converted to Rayleighs where the detector has calibration files, else dark-subtracted counts."),
        mission="asi", level="L1", inputs=[*raw_files, *used], config=section, references=REFERENCES,
    )
