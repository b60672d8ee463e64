"""Fuzz targets of the MinXSS readers: each reads one file exactly as the pipeline does and must
raise nothing but LevelpipeError (no traceback, no hang, no unbounded allocation)."""
from __future__ import annotations

import pathlib
from typing import Callable

from levelpipe.minxss.settings import MinxssSettings
from levelpipe.settings import load_settings

_REPO = pathlib.Path(__file__).resolve().parents[3]
_RESOURCES = _REPO / "resources" / "minxss"


def _settings() -> MinxssSettings:
    return load_settings(MinxssSettings, _REPO / "config" / "minxss.yaml")


def _raw(path: pathlib.Path) -> object:
    from levelpipe.minxss.l0c import l0c
    from levelpipe.minxss.packets import read_file, scan_days

    s = _settings()
    days, _ = scan_days(path, s)
    r = read_file(path, s)
    for day in sorted(days)[:2]:
        l0c([path], day, settings=s)
    return r


def _tle(path: pathlib.Path) -> object:
    import numpy as np

    from levelpipe.minxss.geometry import read_tle, teme_positions

    tle = read_tle(path)
    return teme_positions(tle, tle.epochs_jd[:1] + np.array([0.0, 0.5]), 90.0)


def _goes(path: pathlib.Path) -> object:
    from levelpipe.minxss.goes import read_goes

    return read_goes([path])


def _xtce(path: pathlib.Path) -> object:
    from levelpipe.minxss.xtce import Definition

    return Definition(path)


def targets() -> dict[str, tuple[Callable[[pathlib.Path], object], list[pathlib.Path]]]:
    raw = sorted((_RESOURCES / "raw").glob("*.bin"))
    return {
        "minxss_raw_telemetry": (_raw, raw),
        "minxss_tle": (_tle, sorted((_RESOURCES / "tle").glob("*.tle"))),
        "minxss_goes_xrs": (_goes, sorted((_RESOURCES / "goes").glob("*.nc"))),
        "minxss_xtce": (_xtce, sorted((pathlib.Path(__file__).parent / "packet_definitions").glob("*.xml"))),
    }
