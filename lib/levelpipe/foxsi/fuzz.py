"""Fuzzing targets of the FOXSI readers (for ``make fuzz``): each reads one file as the pipeline does.

``targets()`` maps a reader name to (function, seed files). A function must raise nothing but
``LevelpipeError`` on any input, and bound its time and memory by the format's limits.
"""
from __future__ import annotations

import pathlib
from functools import lru_cache
from typing import Callable

from levelpipe.foxsi import ancillary, calibration
from levelpipe.foxsi.decode import DecodeLimits, decode_file
from levelpipe.foxsi.flights import FileFlight
from levelpipe.foxsi.l0 import level0_from
from levelpipe.foxsi.settings import FoxsiSettings

REPO = pathlib.Path(__file__).resolve().parents[3]
RESOURCES = REPO / "resources" / "foxsi"


@lru_cache(maxsize=1)
def _settings() -> FoxsiSettings:
    from levelpipe.settings import load_settings
    return load_settings(FoxsiSettings, REPO / "config" / "foxsi.yaml")


def _telemetry(kind: str) -> Callable[[pathlib.Path], object]:
    def read(path: pathlib.Path) -> object:
        s = _settings()
        key = "foxsi2" if kind == "wsmr" else "foxsi1"
        tel = decode_file(path, DecodeLimits.from_settings(s.decode), kind=kind)
        ff = FileFlight(key, s.flights[key], s.files.get("foxsi1_gse_sample.dat") if kind == "gse" else None)
        return level0_from(tel, ff, RESOURCES / "foxsi1_gse_sample.dat" if kind == "gse" else path, s.decode, s.l0)
    return read


def _tracking(path: pathlib.Path) -> object:
    a = _settings().ancillary
    return ancillary.read_tracking(path, a.tracking_time_column, a.tracking_altitude_column)


def targets() -> dict[str, tuple[Callable[[pathlib.Path], object], list[pathlib.Path]]]:
    return {
        "foxsi_dat": (_telemetry("gse"), sorted(RESOURCES.glob("*.dat"))),
        "foxsi_log": (_telemetry("wsmr"), sorted(RESOURCES.glob("*.log"))),
        "foxsi_peaks": (calibration.read_peaks, sorted((RESOURCES / "calibration").glob("peaks_det10[18].sav"))),
        "foxsi_liss": (ancillary.read_liss, sorted((RESOURCES / "ancillary").glob("*LISS*"))),
        "foxsi_tracking": (_tracking, sorted((RESOURCES / "ancillary").glob("*altitude*"))),
    }
