"""Calibration: best file per detector over many dates/versions, device -> detector UID, the
dark -> flatfield -> Rayleighs chain (float, no truncation, no mutation), vs pyaurorax."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from conftest import shared_data
from levelpipe.asi.calibration import (best_calibration, calibrate, dark_level, detector_uid,
                                       parse_calibration_name, read_flatfield, read_rayleighs)
from levelpipe.asi.readers import read_pgm
from levelpipe.testing.asi_simulator import write_calibration_files
from levelpipe.errors import AsiError

FILES = [
    "REGO_flatfield_15652_20141118-20160101_v01.sav",
    "REGO_flatfield_15652_20141118-20160101_v02.sav",
    "REGO_flatfield_15652_20160102-+_v01.sav",
    "REGO_flatfield_15649_20141118-+_v05.sav",
    "REGO_Rayleighs_15652_20141118-+_vXX.sav",
    "REGO_Rayleighs_15652_20141118-+_v01.sav",
    "REGO_Rayleighs_15652_20180601-+_v01.sav",
    "NIR_flatfield_23216_20211101-+_v01.sav",
    "NIR_Rayleighs_23216_20211101-+_v02.sav",
    "NIR_Rayleighs_23216_20211101-+_v01.sav",
]


@pytest.mark.parametrize("kind,detector,day,expected", [
    ("flatfield", "15652", "2014-11-17", None),
    ("flatfield", "15652", "2014-11-18", "REGO_flatfield_15652_20141118-20160101_v02.sav"),
    ("flatfield", "15652", "2016-01-01", "REGO_flatfield_15652_20141118-20160101_v02.sav"),
    ("flatfield", "15652", "2016-01-02", "REGO_flatfield_15652_20160102-+_v01.sav"),
    ("flatfield", "15649", "2020-01-01", "REGO_flatfield_15649_20141118-+_v05.sav"),
    ("rayleighs", "15652", "2015-01-01", "REGO_Rayleighs_15652_20141118-+_v01.sav"),
    ("rayleighs", "15652", "2018-05-31", "REGO_Rayleighs_15652_20141118-+_v01.sav"),
    ("rayleighs", "15652", "2018-06-01", "REGO_Rayleighs_15652_20180601-+_v01.sav"),
    ("rayleighs", "23216", "2022-03-07", "NIR_Rayleighs_23216_20211101-+_v02.sav"),
    ("flatfield", "23216", "2022-03-07", "NIR_flatfield_23216_20211101-+_v01.sav"),
    ("flatfield", "99999", "2022-03-07", None),
])
def test_best_calibration_over_dates_and_versions(kind, detector, day, expected):
    best = best_calibration([parse_calibration_name(f) for f in FILES], kind, detector, np.datetime64(day))
    assert (best.path.name if best else None) == expected


def test_parse_name():
    n = parse_calibration_name("NIR_Rayleighs_23216_20211101-20220101_v02.sav")
    assert (n.kind, n.detector, n.valid_from, n.valid_to, n.version) == (
        "rayleighs", "23216", dt.date(2021, 11, 1), dt.date(2022, 1, 1), "02")
    with pytest.raises(AsiError):
        parse_calibration_name("rego_skymap_gill_20200101-+_v01.sav")


def test_detector_uid_from_camera_serial_then_config():
    table = {"rego-652": "15652"}
    assert detector_uid({"Camera Serial Number": "23216"}, "nir-216", table) == "23216"
    assert detector_uid({"Camera Serial Number": "15655"}, "rego-652", table) == "15655"  # header wins
    assert detector_uid({}, "rego-652", table) == "15652"
    assert detector_uid({}, "themis19", table) is None


def test_real_nir_header_maps_to_detector():
    fr = read_pgm(sorted(shared_data("asi").glob("*_nir-216_*.pgm.gz"))[0])
    assert detector_uid(fr.metadata[0], "nir-216", {}) == "23216"


def test_chain_values_float_and_no_mutation():
    rng = np.random.default_rng(0)
    images = rng.integers(1000, 3000, size=(3, 16, 16), dtype=np.uint16)
    keep = images.copy()
    ff = np.full((16, 16), 1.5)
    exposure = np.array([2.0, 2.0, 4.0])
    out = calibrate(images, exposure, dark_box_px=5, flatfield=ff, rayleighs_per_dn_per_s=10.0)
    np.testing.assert_array_equal(images, keep)
    assert out.dtype == np.float32
    dark = images[:, :5, :5].mean(axis=(1, 2))
    expected = (images - dark[:, None, None]) * 1.5 * 10.0 / exposure[:, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-3)
    assert (out < 0).any()  # Decision: negatives kept (no clipping), dark not truncated
    np.testing.assert_allclose(dark_level(images, 5), dark)


def test_exposure_must_be_valid_for_rayleighs():
    with pytest.raises(AsiError):
        calibrate(np.ones((1, 8, 8), np.uint16), np.array([np.nan]), dark_box_px=2, rayleighs_per_dn_per_s=1.0)


def test_calibration_files_roundtrip_and_orientation(tmp_path):
    ff_path, ry_path = write_calibration_files(tmp_path, project="REGO", detector="15652", valid_from="20140101",
                                               version="01", shape=(8, 6), rayleighs_per_dn_per_s=11.5,
                                               vignetting_strength=0.25)
    from scipy.io import readsav
    raw = readsav(str(ff_path))["rego_flat_field_multiplier"]
    np.testing.assert_array_equal(read_flatfield(ff_path, "rego"), raw[::-1, ::-1])   # REGO: both flips
    np.testing.assert_array_equal(read_flatfield(ff_path, "trex_nir"), raw[::-1])      # TREx: rows
    assert read_rayleighs(ry_path) == 11.5


def test_against_pyaurorax_on_real_nir(tmp_path):
    """Same chain as pyaurorax on the real NIR minute; differences only from pyaurorax's integer
    dark truncation and clipping at zero (at most one DN times the gains)."""
    pyaurorax = pytest.importorskip("pyaurorax")
    import pyucalgarysrs
    ff_path, ry_path = write_calibration_files(tmp_path, project="NIR", detector="23216", valid_from="20210101",
                                               version="01", shape=(256, 256), rayleighs_per_dn_per_s=4.2,
                                               vignetting_strength=0.3)
    f = sorted(shared_data("asi").glob("*_nir-216_*.pgm.gz"))[0]
    srs = pyucalgarysrs.PyUCalgarySRS()
    data = srs.data.readers.read_trex_nir([str(f)], quiet=True)
    cal_ff = srs.data.readers.read_calibration([str(ff_path)], quiet=True).data[0]
    cal_ry = srs.data.readers.read_calibration([str(ry_path)], quiet=True).data[0]
    ref = pyaurorax.PyAuroraX().tools.calibration.trex_nir(data.data, cal_flatfield=cal_ff, cal_rayleighs=cal_ry,
                                                            exposure_length_sec=5.0)
    fr = read_pgm(f)
    ours = calibrate(fr.images, fr.exposure_s, dark_box_px=5, flatfield=read_flatfield(ff_path, "trex_nir"),
                     rayleighs_per_dn_per_s=read_rayleighs(ry_path))
    ref = np.moveaxis(ref, 2, 0)
    positive = ref > 0
    gain = read_flatfield(ff_path, "trex_nir")[None] * 4.2 / 5.0
    assert positive.mean() > 0.5
    assert np.all(np.abs(ours - ref)[positive] <= np.broadcast_to(gain, ref.shape)[positive] * 1.0001 + 1e-3)
