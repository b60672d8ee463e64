"""Readers of the FOXSI pointing (LISS) and tracking (altitude) text files.

The IDL pipeline takes pitch and yaw from ``LISS_pitch.txt`` / ``LISS_yaw.txt`` (time after launch,
arcsec; §2c.2) and the altitude from a tracking file (column 1 time after launch, column 9
altitude, 2 Hz; §2b.7). Unverified: the notes give no more of their layout, so both readers take
whitespace-separated numeric rows and skip lines starting with ``#`` or holding no number; a
row with a non-number where a number belongs is an error naming the line. No real file is
available here: the bundled ones are simulated stand-ins (resources/foxsi/SOURCE.md).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from levelpipe.errors import FoxsiError
from levelpipe.io.files import read_text_limited

MAX_TEXT_BYTES = 64 << 20  # a 2 Hz (or 10 Hz) record of a 15-minute flight is a few hundred kB


@dataclass(frozen=True)
class Series:
    """A time series: t (s after launch, increasing) and values, with the file it came from."""

    t: np.ndarray
    values: np.ndarray
    source: str


def _rows(path: Path, columns: tuple[int, ...]) -> np.ndarray:
    text = read_text_limited(path, MAX_TEXT_BYTES, FoxsiError, "pointing or tracking file")
    need = max(columns) + 1
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        try:
            float(parts[0])
        except ValueError:
            continue  # a header line
        if len(parts) < need:
            raise FoxsiError(f"{len(parts)} columns, need at least {need}", path, f"line {lineno}")
        try:
            row = [float(parts[c]) for c in columns]
        except ValueError as err:
            raise FoxsiError(f"not a number ({err})", path, f"line {lineno}") from None
        if not all(np.isfinite(row)):
            raise FoxsiError("non-finite value", path, f"line {lineno}")
        out.append(row)
    if not out:
        raise FoxsiError("no numeric rows", path)
    return np.asarray(out)


def _series(path: Path, rows: np.ndarray) -> Series:
    order = np.argsort(rows[:, 0], kind="stable")
    t, v = rows[order, 0], rows[order, 1]
    if np.any(np.diff(t) == 0):
        i = int(np.flatnonzero(np.diff(t) == 0)[0])
        raise FoxsiError(f"time {t[i]} s given twice", path)
    return Series(t, v, path.name)


def read_liss(path: str | os.PathLike) -> Series:
    """A LISS pitch or yaw file: time after launch (s), angle (arcsec)."""
    path = Path(path)
    return _series(path, _rows(path, (0, 1)))


def read_tracking(path: str | os.PathLike, time_column: int, altitude_column: int) -> Series:
    """A tracking file's time after launch (s) and altitude (in the file's unit)."""
    path = Path(path)
    return _series(path, _rows(path, (time_column, altitude_column)))


def nearest(series: Series, t: np.ndarray) -> np.ndarray:
    """The sample nearest to each time `t` (s after launch), as the IDL L2 takes pitch and yaw
    (§2c.2). Decision: a time halfway between two samples takes the earlier; times outside the
    series take no value (NaN) rather than the end sample."""
    t = np.asarray(t, float)
    j = np.clip(np.searchsorted(series.t, t, side="left"), 1, max(series.t.size - 1, 1))
    if series.t.size == 1:
        out = np.full(t.shape, series.values[0])
    else:
        left = series.t[j - 1]
        right = series.t[j]
        pick = np.where(t - left <= right - t, j - 1, j)
        out = series.values[pick]
    half = np.median(np.diff(series.t)) / 2 if series.t.size > 1 else 0.0
    outside = (t < series.t[0] - half) | (t > series.t[-1] + half) | ~np.isfinite(t)
    return np.where(outside, np.nan, out)


def interpolate(series: Series, t: np.ndarray) -> np.ndarray:
    """Linear interpolation onto `t` (s after launch), as the IDL L1 does for the altitude
    (§2b.7); NaN outside the series (never extrapolated)."""
    t = np.asarray(t, float)
    return np.interp(t, series.t, series.values, left=np.nan, right=np.nan)
