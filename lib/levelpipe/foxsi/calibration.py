"""FOXSI per-strip gain calibration from the foxsi-science `peaks_det1NN.sav` files.

Each file holds, for every ASIC (4) and channel (64) of one Si detector, the ADC position of a
set of calibration peaks and their energies (keV). `foxsi_level1_to_level2.pro` turns a
common-mode-subtracted ADC value into energy by interpolating energy against ADC through these
points; `GainTable` does the same, vectorised over events, and its inverse is what the simulator
uses to turn photon energies into ADC values.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np

from levelpipe.errors import FoxsiError
from levelpipe.foxsi import formats as fmt


@dataclass
class GainTable:
    """Sorted (ADC, energy) calibration points per strip.

    adc: float64 array (asic, channel, peak) of ADC counts (plain numbers), sorted by ADC;
    energy: Quantity (keV) of the same shape.
    valid: bool (asic, channel) - False for strips whose points contain NaN or are not monotonic.
    source: the file name the table came from.
    """

    adc: np.ndarray
    energy: np.ndarray
    valid: np.ndarray
    source: str

    def __post_init__(self):
        self.energy = u.Quantity(self.energy, dtype=np.float64).to(u.keV)

    @property
    def lines(self) -> list[u.Quantity]:
        """Calibration line energies (keV, > 0) present on the valid strips of each ASIC: one Quantity per ASIC."""
        out = []
        energy = self.energy.to_value(u.keV)
        for a in range(self.adc.shape[0]):
            e = energy[a][self.valid[a]]
            out.append((np.unique(e[e > 0]) if e.size else np.array([])) << u.keV)
        return out

    def energy_of(self, asic: np.ndarray, channel: np.ndarray, adc: np.ndarray) -> u.Quantity:
        """Energy (Quantity, keV) of common-mode-subtracted `adc` (ADC counts, plain numbers) on
        strips (asic, channel); NaN on invalid strips.

        Decision: piecewise-linear interpolation between the peaks sorted by ADC, extrapolated
        with the first/last segment outside the tabulated range - the behaviour of IDL
        `interpol`, which foxsi_level1_to_level2.pro uses. No polynomial fit: the files already
        carry extrapolated points (e.g. 101-269 keV on ASICs 0/1) so a straight interpolation
        reproduces the original level 2 and returns every tabulated line exactly.
        """
        return _interp_rows(self.adc[asic, channel], self.energy.to_value(u.keV)[asic, channel], adc,
                            self.valid[asic, channel]) << u.keV

    def adc_of(self, asic: np.ndarray, channel: np.ndarray, energy: u.Quantity) -> np.ndarray:
        """Inverse of `energy_of`: ADC (float counts, common mode removed) for `energy` (a Quantity in
        any energy unit); NaN on invalid strips."""
        return _interp_rows(self.energy.to_value(u.keV)[asic, channel], self.adc[asic, channel],
                            u.Quantity(energy, copy=None).to_value(u.keV), self.valid[asic, channel])


def _interp_rows(xp: np.ndarray, fp: np.ndarray, x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Row-wise linear interpolation with end-segment extrapolation; xp rows sorted ascending."""
    x = np.asarray(x, dtype=np.float64)
    npeak = xp.shape[-1]
    if x.size == 0:
        return np.zeros(x.shape)
    xs = np.where(valid[:, None], xp, np.arange(npeak, dtype=np.float64))
    i = np.clip((xs <= x[:, None]).sum(axis=1), 1, npeak - 1)
    rows = np.arange(x.size)
    x0, x1 = xs[rows, i - 1], xs[rows, i]
    f0, f1 = fp[rows, i - 1], fp[rows, i]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = f0 + (x - x0) * (f1 - f0) / (x1 - x0)
    return np.where(valid, out, np.nan)


def read_peaks(path: str | os.PathLike) -> GainTable:
    """Read a foxsi-science peaks file (IDL save, variable `peaks`) into a GainTable.

    IDL shape peaks[npeak, 64, 4, 2] arrives from scipy as (2, 4, 64, npeak): [0] ADC, [1] keV.
    Decision: a strip with any NaN point, or whose energies are not strictly increasing once
    sorted by ADC, has no usable gain: it is marked invalid, its energies are NaN at level 2 and
    the level-2 quality flag says so (never a silently made-up gain from its neighbours).
    """
    from scipy.io import readsav

    path = Path(path)
    try:
        peaks = readsav(str(path))["peaks"]
    except Exception as err:  # noqa: BLE001 - scipy raises a bare Exception on a bad IDL signature
        raise FoxsiError(f"not a FOXSI peaks file ({err})", path) from err
    peaks = np.asarray(peaks, dtype=np.float64)
    if peaks.ndim != 4 or peaks.shape[0] != 2 or peaks.shape[1:3] != (fmt.N_ASICS, fmt.CHANNELS_PER_ASIC):
        raise FoxsiError(f"peaks array has shape {peaks.shape}, expected (2, 4, 64, npeak)", path)
    adc, energy = peaks[0], peaks[1]
    finite = np.isfinite(adc).all(axis=-1) & np.isfinite(energy).all(axis=-1)
    order = np.argsort(np.where(np.isfinite(adc), adc, np.inf), axis=-1, kind="stable")
    adc = np.take_along_axis(adc, order, axis=-1)
    energy = np.take_along_axis(energy, order, axis=-1)
    with np.errstate(invalid="ignore"):
        monotonic = (np.diff(adc, axis=-1) > 0).all(axis=-1) & (np.diff(energy, axis=-1) > 0).all(axis=-1)
    return GainTable(adc=adc, energy=energy << u.keV, valid=finite & monotonic, source=path.name)


def load_gains(gain_files: dict, calibration_dir: str | os.PathLike) -> dict[int, GainTable | None]:
    """{detector number: GainTable or None} from the flight config's `gain_files` (D0..D6 -> file or null).

    Decision: a detector with no peaks file (the FOXSI-2 CdTe detectors D2, D3) is decoded and
    located like the others but gets no energies; its level-2 flag says "no gain file".
    """
    out: dict[int, GainTable | None] = {}
    for det in range(fmt.N_DETECTORS):
        name = gain_files.get(f"D{det}")
        out[det] = read_peaks(Path(calibration_dir) / name) if name else None
    return out
