"""The documented sample command regenerates the bundled simulated files byte for byte, and
L1 flags frames whose exposure came from the configured nominal value."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from conftest import family_settings
from levelpipe.asi.l1 import QUALITY_FLAGS, l1
from levelpipe.testing.asi_simulator import build_sample, write_pgm_minute

REPO = Path(__file__).resolve().parents[2]


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_build_sample_reproduces_the_bundle(tmp_path):
    made = build_sample(tmp_path)
    assert len(made) == 10
    for p in made:
        bundled = REPO / "resources" / "asi" / p.relative_to(tmp_path)
        assert bundled.exists(), bundled
        assert _sha(p) == _sha(bundled), p.name


def test_exposure_from_nominal_is_flagged(tmp_path):
    cfg = family_settings("asi")
    images = np.full((2, 16, 16), 100, np.uint16)
    headers = [{"Image request start": "2014-03-10 06:00:00.000000 UTC"},
               {"Image request start": "2014-03-10 06:00:03.000000 UTC", "Exposure options": "MSEC=500"}]
    path = write_pgm_minute(tmp_path / "20140310_0600_gill_themis19_full.pgm", images, headers)
    ds = l1([path], instruments=cfg.instruments, calibration=cfg.calibration)
    np.testing.assert_array_equal(ds["exposure"].values,
                                  [cfg.instruments["themis"].nominal_exposure_s.to_value("s"), 0.5])
    assert ds["quality_flag"].values[0] & QUALITY_FLAGS["exposure_from_nominal"]
    assert not ds["quality_flag"].values[1] & QUALITY_FLAGS["exposure_from_nominal"]
    np.testing.assert_array_equal(ds["image"].values, 0.0)   # flat 100 counts minus a 100-count dark


def test_fuzz_seeds_reproduce_the_bundle(tmp_path):
    from levelpipe.testing.asi_fuzz_seeds import build_seeds
    made = build_seeds(tmp_path)
    assert len(made) == 10
    for p in made:
        assert _sha(p) == _sha(REPO / "resources" / "asi" / "fuzz" / p.name), p.name
