"""Fuzz targets of the Solar Jet Hunter readers (``make fuzz``): each reads one file exactly
as the pipeline does; seeds are the bundled samples. A target may raise only JetsError."""
from __future__ import annotations

import pathlib
from functools import lru_cache

_REPO = pathlib.Path(__file__).resolve().parents[3]
_BUNDLE = _REPO / "resources" / "jets"


@lru_cache(maxsize=1)
def _settings():
    from levelpipe.jets.settings import JetsSettings
    from levelpipe.settings import load_settings
    return load_settings(JetsSettings, _REPO / "config" / "jets.yaml")


def _hek(path: pathlib.Path):
    from levelpipe.jets.hek import read_hek_response
    s = _settings().hek
    return read_hek_response(path, max_bytes=s.max_response_bytes, event_type=s.event_type)


def _export(path: pathlib.Path):
    from levelpipe.jets.classifications import read_export
    return read_export(path, _settings().classifications)


def _extracts(path: pathlib.Path):
    from levelpipe.jets.classifications import read_extracts
    return read_extracts(path, _settings().classifications)


def _fits(path: pathlib.Path):
    from levelpipe.jets.images import read_cutout
    return read_cutout(path, _settings().fits)


def _import_sunpy() -> None:
    import sunpy.map  # noqa: F401 - several seconds on a loaded machine, once per worker


def targets() -> dict[str, tuple]:
    return {
        "jets_hek_json": (_hek, sorted((_BUNDLE / "hek").glob("*"))),
        "jets_classification_csv": (_export, sorted((_BUNDLE / "classifications").glob("*.csv"))),
        "jets_extract_csv": (_extracts, sorted((_BUNDLE / "fuzz").glob("*_seed.csv"))),
        "jets_fits": (_fits, sorted((_BUNDLE / "cutouts").glob("*/*.fits"))[:2], _import_sunpy),
    }
