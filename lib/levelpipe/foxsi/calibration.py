"""FOXSI strip energies by the IDL method, from the foxsi-science ``peaks_det1NN.sav`` files.

``foxsi_level1_to_level2.pro`` (§2c.1): for the strip (channel, ASIC) of a hit, fit a quadratic
ADC(E) through the strip's calibration peaks (``poly_fit(peaks[*,chan,asic,1], peaks[*,chan,asic,0], 2)``:
index 1 the line energy in keV, index 0 the ADC), evaluate it on E = 0, 0.1 ... 99.9 keV, and
invert it with ``interpol(E_grid, ADC_grid, adc - cmn)``: linear interpolation between grid
points, extrapolated with the end segments (as IDL's interpol does; §4 sees extrapolated
energies). Here the fit is done once per strip, and the inversion is vectorised over events by a
bisection that returns the segment IDL's ``value_locate`` picks.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np

from levelpipe.errors import FoxsiError
from levelpipe.io.files import checked_size
from levelpipe.io.idlsav import read_sav
from levelpipe.foxsi import layout as L

MAX_PEAKS_BYTES = 1 << 20  # the real files are 22-26 kB


def read_peaks(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(ADC, energy keV) of a peaks file, each (4 ASICs, 64 channels, npeak) float64.

    IDL's peaks[npeak, 64, 4, 2] arrives from scipy as (2, 4, 64, npeak): [0] ADC, [1] keV.
    """
    path = Path(path)
    checked_size(path, MAX_PEAKS_BYTES, FoxsiError, "peaks file")
    data = read_sav(path, error=FoxsiError)  # checks the record chain before scipy reads it
    if "peaks" not in data:
        raise FoxsiError("not a FOXSI peaks file (no 'peaks' variable)", path)
    peaks = data["peaks"]
    peaks = np.asarray(peaks)
    if peaks.ndim != 4 or peaks.shape[:3] != (2, L.N_ASICS, L.CHANNELS_PER_ASIC) or not 2 <= peaks.shape[3] <= 64 \
            or peaks.dtype.kind not in "fiu":
        raise FoxsiError(f"peaks array of shape {peaks.shape}, expected (2, 4, 64, npeak)", path)
    with np.errstate(invalid="ignore", over="ignore"):
        peaks = peaks.astype(np.float64)
    return peaks[0], peaks[1]


@dataclass
class StripGains:
    """The fitted ADC(E) of every strip of one detector, on the energy grid.

    grid_e: (G,) keV; grid_adc: (4, 64, G); usable: (4, 64) strips whose peaks are finite and whose
    ADC(E) is strictly monotonic on the grid (IDL's value_locate needs that); source: file name.
    """

    grid_e: np.ndarray
    grid_adc: np.ndarray
    usable: np.ndarray
    source: str


def energy_grid(first: float, last: float, step: float) -> np.ndarray:
    """first, first + step, ... last (keV): IDL's findgen(n) * step + first."""
    n = int(round((last - first) / step)) + 1
    return first + np.arange(n) * step


def fit_gains(adc: np.ndarray, energy: np.ndarray, degree: int, grid_e: np.ndarray, source: str) -> StripGains:
    """Least-squares polynomial ADC(E) of `degree` per strip (IDL poly_fit), evaluated on `grid_e`.

    Decision: a strip with a NaN peak has no energies (IDL would give NaN too); a strip whose
    fitted ADC(E) is not strictly monotonic on the grid has none either (IDL's value_locate is
    undefined there: one strip of peaks_det105_20171031.sav, none of the flight files).
    """
    finite = np.isfinite(adc).all(axis=-1) & np.isfinite(energy).all(axis=-1)
    grid_adc = np.full(adc.shape[:2] + grid_e.shape, np.nan)
    powers = grid_e[None, :] ** np.arange(degree, -1, -1)[:, None]  # (deg+1, G)
    for a, c in zip(*np.nonzero(finite)):  # 256 strips, once per detector
        coef = np.polyfit(energy[a, c], adc[a, c], degree)
        grid_adc[a, c] = coef @ powers
    d = np.diff(grid_adc, axis=-1)
    monotonic = (d > 0).all(axis=-1) | (d < 0).all(axis=-1)
    return StripGains(grid_e=grid_e, grid_adc=grid_adc, usable=finite & monotonic, source=source)


def invert(g: StripGains, asic: np.ndarray, channel: np.ndarray, value: np.ndarray) -> u.Quantity:
    """Energy (Quantity, keV) of ADC `value` (common mode removed) on strips (asic, channel): IDL
    interpol(grid_e, grid_adc[strip], value). NaN where asic/channel < 0 or the strip is unusable."""
    asic, channel, value = np.broadcast_arrays(np.asarray(asic), np.asarray(channel), np.asarray(value, float))
    shape = value.shape
    a, c, val = asic.ravel().astype(np.int64), channel.ravel().astype(np.int64), value.ravel()
    ok = (a >= 0) & (a < L.N_ASICS) & (c >= 0) & (c < L.CHANNELS_PER_ASIC) & np.isfinite(val)
    a, c = np.where(ok, a, 0), np.where(ok, c, 0)
    ok &= g.usable[a, c]
    n_grid = g.grid_e.size
    grid = g.grid_adc.reshape(-1, n_grid)
    flat = grid.ravel()
    base = (a * L.CHANNELS_PER_ASIC + c) * n_grid  # each event's strip row in the flat grid
    # value_locate works on increasing or decreasing grids: flip the decreasing ones
    sign = np.where(grid[:, -1] >= grid[:, 0], 1.0, -1.0)[base // n_grid]
    us = val * sign
    lo = np.zeros(val.size, np.int64)
    hi = np.full(val.size, n_grid - 1, np.int64)
    while True:  # bisection: the largest i <= G-2 with x[i] <= u (0 when none), IDL interpol's segment
        open_ = hi - lo > 1
        if not open_.any():
            break
        mid = (lo + hi) // 2
        go = flat[base + mid] * sign <= us
        lo = np.where(open_ & go, mid, lo)
        hi = np.where(open_ & ~go, mid, hi)
    e0, e1 = g.grid_e[lo], g.grid_e[lo + 1]
    x0, x1 = flat[base + lo], flat[base + lo + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        e = e0 + (val - x0) * (e1 - e0) / (x1 - x0)
    return np.where(ok, e, np.nan).reshape(shape) * u.keV


def load_detector_gains(peaks: dict[int, str | os.PathLike | None], degree: int, grid_e: np.ndarray
                        ) -> dict[int, StripGains | None]:
    """{detector position: StripGains or None} for the peaks file of each detector (None: no file)."""
    out: dict[int, StripGains | None] = {}
    for d in range(L.N_DETECTORS):
        path = peaks.get(d)
        if path is None:
            out[d] = None
            continue
        adc, energy = read_peaks(path)
        out[d] = fit_gains(adc, energy, degree, grid_e, Path(path).name)
    return out
