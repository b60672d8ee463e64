"""Fuzzing targets of the ASI readers (for ``make fuzz``): each reads one file exactly as the
pipeline does and must raise nothing but ``LevelpipeError`` (no traceback, no hang, no memory
beyond the ``reading`` limits) on any input.

``targets()`` maps a reader name to (function, seed files). The seeds (resources/asi/fuzz,
rebuilt by ``python -m levelpipe.testing.asi_fuzz_seeds resources/asi/fuzz``) are small real-
derived files, so a mutation reaches the same code as a full-size file. The file name chooses
the reader and the instrument: a harness mutates the bytes and keeps the seed's name.

- raw files: the index's header peek (camera serial number), then the L1 function on that one
  file (read, resynchronise, count, calibrate), with the config's settings; the NIR seed is
  calibrated to dark counts only (its Rayleighs files are fuzzed by their own targets, and the
  Rayleighs step is arithmetic on the same arrays);
- skymaps: read, evaluated at the configured altitude and mapped onto the L2 grid, as L2 does;
- calibration files: the flatfield and the Rayleighs factor, as L1 reads them.
"""
from __future__ import annotations

import pathlib
from functools import lru_cache
from typing import Callable

REPO = pathlib.Path(__file__).resolve().parents[3]
SEEDS = REPO / "resources" / "asi" / "fuzz"


@lru_cache(maxsize=1)
def _settings():
    from levelpipe.asi.settings import AsiSettings
    from levelpipe.settings import load_settings
    return load_settings(AsiSettings, REPO / "config" / "asi.yaml",
                         {"instruments": {"trex_nir": {"calibrate": "dark"}}})


def read_raw_as_pipeline(path: pathlib.Path) -> object:
    from levelpipe.asi.calibration import detector_uid
    from levelpipe.asi.l1 import l1
    from levelpipe.asi.readers import parse_filename, peek_metadata
    s = _settings()
    detector_uid(peek_metadata(path), parse_filename(path).device, s.calibration.device_detector)
    return l1([path], instruments=s.instruments, calibration=s.calibration, reading=s.reading)


def read_skymap_as_l2(path: pathlib.Path) -> object:
    from levelpipe.asi.l2 import GridMapping
    from levelpipe.asi.skymap import prepare_skymap, read_skymap
    cfg = _settings().l2
    prep = prepare_skymap(read_skymap(path), cfg.altitude_km["themis"], cfg.min_elevation_deg)
    return GridMapping(prep, cfg.lat_resolution_deg.to_value("deg"), cfg.lon_resolution_deg.to_value("deg"))


def read_flatfield_as_l1(path: pathlib.Path) -> object:
    from levelpipe.asi.calibration import read_flatfield
    return read_flatfield(path, "rego")


def read_rayleighs_as_l1(path: pathlib.Path) -> object:
    from levelpipe.asi.calibration import read_rayleighs
    return read_rayleighs(path)


def targets() -> dict[str, tuple[Callable[[pathlib.Path], object], list[pathlib.Path]]]:
    def seeds(pattern: str) -> list[pathlib.Path]:
        return sorted(SEEDS.glob(pattern))
    return {
        "asi_pgm": (read_raw_as_pipeline, seeds("*_full.pgm")),
        "asi_pgm_gz": (read_raw_as_pipeline, seeds("*.pgm.gz")),
        "asi_pgm_bz2": (read_raw_as_pipeline, seeds("*.pgm.bz2")),
        "asi_rgb_h5": (read_raw_as_pipeline, seeds("*.h5")),
        "asi_rgb_png": (read_raw_as_pipeline, seeds("*_full.png")),
        "asi_rgb_png_tar": (read_raw_as_pipeline, seeds("*.png.tar")),
        "asi_skymap": (read_skymap_as_l2, seeds("*_skymap_*.sav")),
        "asi_flatfield": (read_flatfield_as_l1, seeds("*_flatfield_*.sav")),
        "asi_rayleighs": (read_rayleighs_as_l1, seeds("*_Rayleighs_*.sav")),
    }
