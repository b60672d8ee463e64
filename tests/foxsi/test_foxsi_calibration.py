"""Gain tables from the real foxsi-science peaks files, and the per-flight configuration."""
from __future__ import annotations

import hashlib

import astropy.units as u
import numpy as np
import pytest
import yaml

from levelpipe.errors import ConfigError, FoxsiError
from levelpipe.foxsi import calibration
from levelpipe.foxsi.config import load_flight_config
from levelpipe.foxsi.flight import flight_for_file
from levelpipe.foxsi.workflow import FoxsiInputs
from conftest import shared_data
from foxsi_testlib import CAL, REPO, foxsi_config  # noqa: F401  (fixture)

SCHEMA = REPO / "config" / "schemas" / "foxsi.schema.yaml"


def test_bundled_peaks_files_are_byte_copies_of_the_real_ones():
    real = shared_data("foxsi") / "calibration"
    for p in sorted(CAL.glob("peaks_det*.sav")):
        assert hashlib.sha256(p.read_bytes()).digest() == hashlib.sha256((real / p.name).read_bytes()).digest()


def test_gain_table_returns_tabulated_lines_exactly():
    g = calibration.read_peaks(CAL / "peaks_det108.sav")
    a, c = np.array([2, 3, 0]), np.array([10, 20, 30])
    for k in range(g.adc.shape[-1]):
        np.testing.assert_allclose(g.energy_of(a, c, g.adc[a, c, k]), g.energy[a, c, k], atol=1e-4 * u.keV)
    e = [13.93, 59.54, 17.611] * u.keV
    np.testing.assert_allclose(g.energy_of(a, c, g.adc_of(a, c, e)), e, atol=1e-9 * u.keV)


def test_unsorted_2017_files_are_sorted_by_adc():
    """Decision pinned: the _20171031 files list peaks out of order (4.99, -49.56 ... last): sorted by ADC."""
    g = calibration.read_peaks(CAL / "peaks_det102_20171031.sav")
    assert g.adc.shape[-1] == 12
    v = g.valid
    assert v.sum() > 200
    assert (np.diff(g.adc[v], axis=-1) > 0).all() and (np.diff(g.energy[v], axis=-1) > 0).all()
    assert any(np.isclose(g.lines[2], 26.3 * u.keV, atol=0.1 * u.keV))


def test_nan_strips_invalid_as_documented():
    """README: ASIC2 ch63 NaN in several detectors, ASIC3 ch0 in 104/106/108, ASIC3 ch4 of 109."""
    assert not calibration.read_peaks(CAL / "peaks_det109.sav").valid[3, 4]
    for d in (104, 106, 108):
        assert not calibration.read_peaks(CAL / f"peaks_det{d}.sav").valid[3, 0]
    assert not calibration.read_peaks(CAL / "peaks_det105.sav").valid[2, 62]
    g = calibration.read_peaks(CAL / "peaks_det103.sav")
    assert g.valid.all()
    out = calibration.read_peaks(CAL / "peaks_det109.sav").energy_of(np.array([3]), np.array([4]), np.array([100.0]))
    assert np.isnan(out).all()


def test_not_a_peaks_file(tmp_path):
    bad = tmp_path / "peaks_bad.sav"
    bad.write_bytes(b"not idl")
    with pytest.raises(FoxsiError, match="peaks_bad.sav: not a FOXSI peaks file"):
        calibration.read_peaks(bad)


def test_flight_configs_validate_and_differ_only_in_data():
    f1 = load_flight_config(REPO / "config" / "foxsi1.yaml", SCHEMA)
    f2 = load_flight_config(REPO / "config" / "foxsi2.yaml", SCHEMA)
    assert f1["gain_files"]["D1"] == "peaks_det109.sav" and f2["gain_files"]["D1"] == "peaks_det101.sav"
    assert f2["gain_files"]["D2"] is None and f2["gain_files"]["D3"] is None
    for f in (f1, f2):
        for name in f["gain_files"].values():
            assert name is None or (CAL / name).exists()


def test_bad_flight_config_one_line_error(tmp_path):
    f = yaml.safe_load((REPO / "config" / "foxsi2.yaml").read_text())
    f["detector_rotation_deg"] = [0.0] * 6
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(f))
    with pytest.raises(ConfigError, match="bad.yaml:detector_rotation_deg:"):
        load_flight_config(p, SCHEMA)


def test_main_config_validates(foxsi_config):
    import jsonschema

    jsonschema.validate(foxsi_config, yaml.safe_load(SCHEMA.read_text()))
    broken = dict(foxsi_config, l2={"energy_side": "x"})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, yaml.safe_load(SCHEMA.read_text()))


def test_granules_and_flights(foxsi_config, tmp_path):
    resolve = lambda p: REPO / p  # noqa: E731
    fx = FoxsiInputs(foxsi_config, REPO / "resources" / "foxsi", resolve, SCHEMA)
    assert fx.granules == ["foxsi1_gse_short", "foxsi2_launch_short"]
    assert fx.flight("foxsi1_gse_short")["name"] == "FOXSI-1"
    assert fx.flight("foxsi2_launch_short")["name"] == "FOXSI-2"
    assert flight_for_file("anything.log", foxsi_config["flight_by_file"]) == "foxsi2"
    (tmp_path / "x.dat").write_bytes(b"")
    (tmp_path / "x.log").write_bytes(b"")
    with pytest.raises(ConfigError, match="already given"):
        FoxsiInputs(foxsi_config, tmp_path, resolve, SCHEMA)
