"""Shared helpers of the FOXSI tests (imported by name; not a conftest, so that `from conftest import ...`
elsewhere keeps meaning tests/conftest.py).

The straight reimplementations of the IDL algorithms here are written from the research notes
(../shared/research/foxsi.md §2) as loops and plain formulas, apart from the library's
vectorised code, so that the tests compare two independent readings of the notes.
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from levelpipe.foxsi.settings import FoxsiSettings
from levelpipe.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
RESOURCES = REPO / "resources" / "foxsi"
CAL = RESOURCES / "calibration"
ANCILLARY = RESOURCES / "ancillary"


@lru_cache(maxsize=1)
def settings() -> FoxsiSettings:
    return load_settings(FoxsiSettings, REPO / "config" / "foxsi.yaml")


def settings_with(**overrides) -> FoxsiSettings:
    return load_settings(FoxsiSettings, REPO / "config" / "foxsi.yaml", overrides)


# ------------------------------------------------------------------ frames written by hand

def frame(words: dict[int, int]) -> list[int]:
    """256 formatter words: the given ones, zeros elsewhere, word 254 set so that the XOR of all
    256 is 0 (notes §1a.5)."""
    out = [0] * 256
    for k, v in words.items():
        out[k] = v
    out[254] = 0
    x = 0
    for v in out:
        x ^= v
    out[254] = x
    return out


def wsmr_record(formatter: list[int], a: int, b: int, c: int) -> list[int]:
    """259-word WSMR record: F628, the three ground-station words, formatter words 1..255 (§1a.3)."""
    return [formatter[0], a, b, c] + formatter[1:]


def to_bytes(words: list[int], order: str = "little") -> bytes:
    return b"".join(int(w).to_bytes(2, order) for w in words)


# ------------------------------------------------------------------ IDL, straight from the notes

def idl_hit(adcs: list[list[int]], chans: list[list[int]]) -> list[tuple[int, int, int]]:
    """[(asic, strip, adc) n side, p side] of one event (§2a.2); (-1, -1, -1) when no hit."""
    out = []
    for a0, a1 in ((0, 1), (2, 3)):
        m0, m1 = max(adcs[a0]), max(adcs[a1])
        if m0 >= m1 and m0 > 0:
            out.append((a0, chans[a0][1], m0))
        elif m1 > m0:
            out.append((a1, chans[a1][1], m1))
        else:
            out.append((-1, -1, -1))
    return out


def idl_pixel(material: str, side: str, asic: int, ch: int) -> tuple[str, int]:
    """(axis, pixel) of a side's hit (§2b.3 Si, §2b.4 CdTe)."""
    if material == "Si":
        if side == "p":
            return "x", (63 - ch) if asic == 2 else (127 - ch)
        return "y", (127 - ch) if asic == 0 else (63 - ch)
    if side == "n":
        return "x", (63 - ch) if asic == 0 else (127 - ch)
    return "y", (127 - ch) if asic == 2 else (63 - ch)


def idl_payload(material: str, angle_deg: float, x: int, y: int) -> tuple[float, float]:
    """get_payload_coords (§2b.5)."""
    pitch_um = 60.0 if material == "CdTe" else 75.0
    pixel = math.atan(pitch_um * 1e-6 / 2.0) * 180 / math.pi * 3600
    xa, ya = (x - 63.5) * pixel, (y - 63.5) * pixel
    th = math.radians(-angle_deg if material == "CdTe" else angle_deg)
    px = math.cos(th) * xa - math.sin(th) * ya
    py = math.sin(th) * xa + math.cos(th) * ya
    if material == "Si":
        py = -py
    return px, py


def idl_livetime(trigger_time: int, frame_time: int, det: int) -> float:
    """foxsi_level0_to_level1.pro:131-139 as the notes write it (§2b.1), with its one-way wrap."""
    setup = (23 + 33 * (det + 1)) * 2000.0 / 256
    lt = (trigger_time - frame_time % 2 ** 16) * 0.1 + 2000 - setup
    if lt < 0:
        lt += 2 ** 16 * 0.1
    return lt


def idl_energy(peaks_adc: np.ndarray, peaks_kev: np.ndarray, asic: int, chan: int, value: float) -> float:
    """foxsi_level1_to_level2.pro:168-232 (§2c.1) for one strip: poly_fit(E, ADC, 2) evaluated on
    E = 0..99.9 keV, then interpol(E_grid, ADC_grid, value) with IDL's end-segment extrapolation."""
    e_pk, adc_pk = peaks_kev[asic, chan], peaks_adc[asic, chan]
    if not (np.isfinite(e_pk).all() and np.isfinite(adc_pk).all()):
        return float("nan")
    coef = np.polyfit(e_pk, adc_pk, 2)
    grid = [0.1 * i for i in range(1000)]
    adc_grid = [coef[0] * e * e + coef[1] * e + coef[2] for e in grid]
    increasing = adc_grid[-1] > adc_grid[0]
    # value_locate: the last i with adc_grid[i] <= value (increasing grid), clamped to 0..n-2
    s = 0
    for i in range(len(grid) - 1):
        if (adc_grid[i] <= value) if increasing else (adc_grid[i] >= value):
            s = i
    return grid[s] + (value - adc_grid[s]) * (grid[s + 1] - grid[s]) / (adc_grid[s + 1] - adc_grid[s])
