"""Calibration of UCalgary imager counts: dark (corner box) -> flatfield -> Rayleighs.

Calibration files are IDL saves named
``<PROJECT>_<flatfield|Rayleighs>_<detector UID>_<YYYYMMDD>-<YYYYMMDD|+>_v<NN>.sav``
(e.g. ``REGO_flatfield_15654_20141118-+_v01.sav``, ``NIR_Rayleighs_23216_20211101-+_v02.sav``);
the flatfield file holds a ``*flat_field_multiplier`` (row, col) array in file orientation, the
Rayleighs file a ``*rper_dnpersecond`` scalar (Rayleighs per DN per second). Files belong to a
detector (camera serial number), not to a site: cameras move between sites.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from levelpipe.asi.readers import ORIENTATION
from levelpipe.asi.skymap import SkymapName, select_best
from levelpipe.asi.readers import one_line
from levelpipe.errors import AsiError
from levelpipe.io.idlsav import read_sav

_NAME = re.compile(r"^([A-Za-z]+)_(flatfield|rayleighs)_([0-9A-Za-z-]+)_(\d{8})-(\d{8}|\+)_v([0-9A-Za-z]+)\.sav$", re.I)
_PROJECT_INSTRUMENT = {"rego": "rego", "nir": "trex_nir", "blue": "trex_blue", "blueline": "trex_blue",
                       "themis": "themis"}


#: Header keys of the camera serial number, lower case: the documented spelling and the one the
#: real Blueline file (20220308_0600_gill_blue-814_full.pgm.gz) carries.
CAMERA_SERIAL_KEYS = ("camera serial number", "camera serial sumber")


@dataclass(frozen=True)
class CalibrationName(SkymapName):
    kind: str = "flatfield"   # "flatfield" | "rayleighs"
    detector: str = ""


def parse_calibration_name(path: str | os.PathLike) -> CalibrationName:
    import datetime as _dt
    path = Path(path)
    m = _NAME.match(path.name)
    if not m:
        raise AsiError("not a UCalgary calibration file name", path)
    project, kind, detector, start, stop, version = m.groups()
    d = lambda s: _dt.datetime.strptime(s, "%Y%m%d").date()  # noqa: E731
    return CalibrationName(path, project.lower(), "", d(start), None if stop == "+" else d(stop), version,
                           kind.lower(), detector)


def best_calibration(names: Iterable[CalibrationName], kind: str, detector: str, day) -> CalibrationName | None:
    """Best file of `kind` for a detector on a day: same rule as skymaps (latest valid-from,
    then highest version; see skymap.select_best)."""
    return select_best([n for n in names if n.kind == kind and n.detector == str(detector)], day)


def detector_uid(metadata: Mapping[str, str], device: str, device_detector: Mapping[str, str]) -> str | None:
    """Detector UID of the camera that took a frame.

    Decision: the raw header's camera serial number (TREx NIR and REGO write "Camera Serial
    Number", e.g. nir-216 -> 23216) wins, because cameras are swapped between imagers; the real
    TREx Blueline header spells it "Camera serial sumber" (blue-814 -> VSC-09814), which is read
    too; the configured device -> detector table is the fallback for headers without either;
    None when nothing says.
    """
    for key, value in metadata.items():
        if key.strip().lower() in CAMERA_SERIAL_KEYS and value.strip():
            return value.strip().split()[0]
    return device_detector.get(device)


def read_flatfield(path: str | os.PathLike, instrument: str) -> np.ndarray:
    """Flatfield multiplier (row, col), float64, in the image orientation of `instrument`."""
    path = Path(path)
    data = read_sav(path, error=AsiError)
    keys = [k for k in data if "flat_field_multiplier" in k]
    if not keys:
        raise AsiError("no *flat_field_multiplier variable", path)
    try:
        ff = np.asarray(data[keys[0]], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise AsiError(f"{keys[0]} is not a numeric array ({one_line(err)})", path) from None
    if ff.ndim != 2 or not np.all(np.isfinite(ff)):
        raise AsiError(f"{keys[0]} is not a finite (row, col) array: shape {ff.shape}", path)
    flip_rows, flip_cols = ORIENTATION[instrument]
    if flip_rows:
        ff = ff[::-1]
    if flip_cols:
        ff = ff[:, ::-1]
    return np.ascontiguousarray(ff)


def read_rayleighs(path: str | os.PathLike) -> float:
    """Rayleighs per (DN per second) of a detector."""
    path = Path(path)
    data = read_sav(path, error=AsiError)
    keys = [k for k in data if "rper_dnpersecond" in k]
    if not keys:
        raise AsiError("no *rper_dnpersecond variable", path)
    try:
        values = np.asarray(data[keys[0]], dtype=np.float64).ravel()
    except (TypeError, ValueError) as err:
        raise AsiError(f"{keys[0]} is not a number ({one_line(err)})", path) from None
    if values.size != 1 or not np.isfinite(values[0]) or values[0] <= 0:
        raise AsiError(f"{keys[0]} is not one finite positive number: {values[:4].tolist()}", path)
    return float(values[0])


def dark_level(images: np.ndarray, box_px: int) -> np.ndarray:
    """Mean of the box_px x box_px corner [0:box, 0:box] of each oriented frame (float64).

    Decision: the corner box pyaurorax uses (rows/cols 0..box-1 after orientation, i.e. a corner
    outside the fisheye circle that sees no sky), default 5x5 from config; the mean is kept in
    float (pyaurorax truncates it to an integer and clips negatives; we do neither)."""
    if box_px < 1:
        raise AsiError(f"dark box size must be >= 1 pixel, got {box_px}")
    return images[:, :box_px, :box_px].mean(axis=(1, 2), dtype=np.float64)


def calibrate(images: np.ndarray, exposure_s: np.ndarray, *, dark_box_px: int,
              flatfield: np.ndarray | None = None, rayleighs_per_dn_per_s: float | None = None,
              out: np.ndarray | None = None) -> np.ndarray:
    """dark -> flatfield -> Rayleighs on (frame, row, col) counts; returns float32 (new array or
    `out`); `images` is never modified.

    Decision (exposure): Rayleighs = (counts - dark) * flatfield * (R per DN/s) / exposure, with
    each frame's own commanded exposure in seconds (NaN exposures must be filled by the caller
    with the instrument's nominal exposure). Without a Rayleighs factor the result is
    dark-subtracted (flat-fielded) counts.
    """
    if out is None:
        out = np.empty(images.shape, dtype=np.float32)
    dark = dark_level(images, dark_box_px)
    bshape = dark.shape[:1] + (1, 1) + dark.shape[1:]
    # float32 arithmetic straight into `out` (counts < 2**16 are exact in float32; the dark
    # mean is rounded to ~1e-4 DN, far below the noise)
    np.subtract(images, dark.astype(np.float32).reshape(bshape), out=out, casting="unsafe")
    if flatfield is not None:
        if flatfield.shape != images.shape[1:3]:
            raise AsiError(f"flatfield shape {flatfield.shape} does not match images {images.shape[1:3]}")
        out *= flatfield.astype(np.float32).reshape(flatfield.shape + (1,) * (images.ndim - 3))
    if rayleighs_per_dn_per_s is not None:
        exposure_s = np.asarray(exposure_s, dtype=np.float64)
        if np.any(~np.isfinite(exposure_s)) or np.any(exposure_s <= 0):
            raise AsiError("exposure must be finite and positive for the Rayleighs conversion")
        out *= (rayleighs_per_dn_per_s / exposure_s).astype(np.float32).reshape((-1,) + (1,) * (images.ndim - 1))
    return out
