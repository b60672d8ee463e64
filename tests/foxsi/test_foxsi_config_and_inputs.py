"""Settings, file names -> flights, the granule index, and the readers of the other input files."""
from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest

from conftest import shared_data
from foxsi_testlib import ANCILLARY, CAL, REPO, RESOURCES, settings
from levelpipe.errors import ConfigError, FoxsiError, LevelpipeError
from levelpipe.foxsi import ancillary
from levelpipe.foxsi.calibration import read_peaks
from levelpipe.foxsi.family import FAMILY
from levelpipe.foxsi.flights import flight_of, gse_start
from levelpipe.foxsi.fuzz import targets
from levelpipe.foxsi.settings import FoxsiSettings
from levelpipe.settings import load_settings
from levelpipe.testing import foxsi_simulator as S


def test_flight_constants_are_those_of_the_notes():
    """§3 of the notes, written out here."""
    f1, f2 = settings().flights["foxsi1"], settings().flights["foxsi2"]
    assert f1.launch_utc == "2012-11-02T17:55:00" and f2.launch_utc == "2014-12-11T19:11:00"
    for f in (f1, f2):
        assert f.rotation_deg.value.tolist() == [82.5, 75, -67.5, -75, 97.5, 90, -60]
    assert [d.serial for d in f1.detectors] == [108, 109, 102, 103, 104, 105, 106]
    assert [d.serial for d in f2.detectors] == [108, 101, None, None, 104, 105, 102]
    assert [d.material for d in f2.detectors] == ["Si", "Si", "CdTe", "CdTe", "Si", "Si", "Si"]
    assert f1.xy_offset_arcsec.value.tolist() == [0, 0] and f2.xy_offset_arcsec.value.tolist() == [360, -180]
    assert not f1.keep_only_nominal_hv and f2.keep_only_nominal_hv


@pytest.mark.parametrize("name,key", [("data_121102_114631.dat", "foxsi1"), ("36.255_TM2_Flight_2012-11-02.log", "foxsi1"),
                                      ("data_141211_115911.dat", "foxsi2"), ("36_295_Krucker_FLIGHT_HOT_TM2.log", "foxsi2")])
def test_real_flight_file_names_select_their_flight(name, key):
    s = settings()
    assert flight_of(f"/x/{name}", s.flights, s.files).key == key


def test_other_names_need_their_flight_in_config():
    s = settings()
    assert flight_of("foxsi2_wsmr_sample.log", s.flights, s.files).key == "foxsi2"
    with pytest.raises(FoxsiError) as err:
        flight_of("/data/mystery.log", s.flights, s.files)
    msg = str(err.value)
    assert msg.startswith("/data/mystery.log: not a flight file name") and "\n" not in msg
    with pytest.raises(ConfigError, match="unknown flight 'foxsi9'"):
        load_settings(FoxsiSettings, REPO / "config" / "foxsi.yaml", {"files": {"a.log": {"flight": "foxsi9"}}})


def test_gse_start_time_from_the_file_name_or_config():
    s = settings()
    ff = flight_of("data_141211_115911.dat", s.flights, s.files)
    # Unverified offset pinned: 11:59:11 MST (UTC-7) = 18:59:11 UTC
    assert str(gse_start("data_141211_115911.dat", ff)) == "2014-12-11T18:59:11.000000000"
    ff = flight_of("foxsi1_gse_sample.dat", s.flights, s.files)
    assert str(gse_start("foxsi1_gse_sample.dat", ff)) == "2012-11-02T17:58:20.000000000"
    s2 = load_settings(FoxsiSettings, REPO / "config" / "foxsi.yaml", {"files": {"other.dat": {"flight": "foxsi1"}}})
    with pytest.raises(FoxsiError, match="needs its first frame's UTC in config"):
        gse_start("other.dat", flight_of("other.dat", s2.flights, s2.files))


def test_index_one_granule_per_telemetry_file_with_its_files(tmp_path):
    s = settings()
    index = FAMILY.index(RESOURCES, s)
    assert sorted(index.names) == ["foxsi1_gse_sample", "foxsi2_wsmr_sample"]
    g2 = index["foxsi2_wsmr_sample"]
    assert [p.rsplit("/", 1)[1] for p in g2.get("peaks")] == ["peaks_det108.sav", "peaks_det101.sav", "peaks_det104.sav",
                                                              "peaks_det105.sav", "peaks_det102.sav"]
    assert g2.one("liss_pitch").endswith("foxsi2_LISS_pitch_STANDIN.txt") and g2.one("tracking")
    g1 = index["foxsi1_gse_sample"]
    assert len(g1.get("peaks")) == 7 and not g1.get("liss_pitch") and not g1.get("tracking")
    # other layouts: a nested flight file, an unknown name (refused, with the reason), a calibration
    # table that is an IDL save file despite its .dat suffix (not telemetry)
    (tmp_path / "2014").mkdir()
    (tmp_path / "2014" / "36_295_Krucker_FLIGHT_HOT_TM2.log").write_bytes(b"x")
    (tmp_path / "mystery.log").write_bytes(b"x")
    (tmp_path / "al_atten_len.dat").write_bytes(b"SR\x00\x04rest")
    index = FAMILY.index(tmp_path, s)
    assert index.names == ["2014/36_295_Krucker_FLIGHT_HOT_TM2"]
    assert "not a flight file name" in index.refused["mystery"]


def test_step_config_holds_only_the_granule_flight():
    """A change to one flight's constants changes the params (and so reruns) only its files."""
    from types import SimpleNamespace

    from levelpipe.family import Plan
    s = settings()
    cfg = FAMILY.step_config("l0", s.plain(), "foxsi2_wsmr_sample")
    assert list(cfg["flights"]) == ["foxsi2"] and list(cfg["files"]) == ["foxsi2_wsmr_sample.log"]
    assert list(FAMILY.step_config("l2", s.plain(), "sub/data_121102_114631")["flights"]) == ["foxsi1"]
    changed = load_settings(FoxsiSettings, REPO / "config" / "foxsi.yaml",
                            {"flights": {"foxsi1": {"keep_only_nominal_hv": True}}})
    for step in FAMILY.steps:
        before, after = Plan(FAMILY, s, RESOURCES).params(step), Plan(FAMILY, changed, RESOURCES).params(step)
        for g in ("foxsi1_gse_sample", "foxsi2_wsmr_sample"):
            w = SimpleNamespace(recording=g)
            reads_flights = "flights" in FAMILY.steps[step].sections
            got = [p(w) if callable(p) else p for p in (before, after)]
            assert (got[0] != got[1]) == (reads_flights and g == "foxsi1_gse_sample"), (step, g)


def test_bundled_samples_regenerate_byte_for_byte(tmp_path):
    S.write_samples(tmp_path, CAL)
    for rel in ("foxsi2_wsmr_sample.log", "foxsi1_gse_sample.dat", "ancillary/foxsi2_LISS_pitch_STANDIN.txt",
                "ancillary/foxsi2_LISS_yaw_STANDIN.txt", "ancillary/foxsi2_altitude_STANDIN.txt"):
        assert (tmp_path / rel).read_bytes() == (RESOURCES / rel).read_bytes(), rel


def test_bundled_peaks_files_are_copies_of_the_real_ones():
    real = shared_data("foxsi") / "calibration"
    for p in sorted(CAL.glob("peaks_det*.sav")):
        assert hashlib.sha256(p.read_bytes()).hexdigest() == hashlib.sha256((real / p.name).read_bytes()).hexdigest()


def test_peaks_reader_and_hostile_save_files(tmp_path):
    adc, kev = read_peaks(CAL / "peaks_det108.sav")
    assert adc.shape == (4, 64, 10) and kev[2, 10].tolist() == pytest.approx(
        [-5.89, 0, 5.89, 13.93, 17.61, 20.9, 30.85, 34.96, 59.54, 84.12], abs=0.01)
    loop = tmp_path / "loop.sav"  # a record pointing at itself (scipy would loop forever)
    loop.write_bytes(b"SR\x00\x04" + struct.pack(">iII", 10, 4, 0) + bytes(44))
    with pytest.raises(FoxsiError, match="points to byte 4"):
        read_peaks(loop)
    cut = tmp_path / "cut.sav"
    cut.write_bytes((CAL / "peaks_det108.sav").read_bytes()[:3000])
    with pytest.raises(FoxsiError):
        read_peaks(cut)
    with pytest.raises(FoxsiError, match="not an IDL save file"):
        read_peaks(CAL.parent / "foxsi1_gse_sample.dat")


def test_liss_and_tracking_readers(tmp_path):
    pitch = ancillary.read_liss(ANCILLARY / "foxsi2_LISS_pitch_STANDIN.txt")
    assert pitch.t[0] == 100.0 and pitch.t.size == 2101
    # Decision pinned: nearest sample, a tie goes to the earlier one; outside the series: NaN
    got = ancillary.nearest(pitch, np.array([100.1, 100.09, 100.11, 0.0]))
    assert got[0] == pitch.values[0] and got[1] == pitch.values[0] and got[2] == pitch.values[1] and np.isnan(got[3])
    bad = tmp_path / "bad.txt"
    bad.write_text("# header\n1 2\n3 x\n")
    with pytest.raises(FoxsiError, match=r"bad.txt:line 3: not a number"):
        ancillary.read_liss(bad)
    bad.write_text("0 1 2\n")
    with pytest.raises(FoxsiError, match="line 1: 3 columns, need at least 10"):
        ancillary.read_tracking(bad, 1, 9)
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(FoxsiError, match="byte 0: not utf-8 text"):
        ancillary.read_liss(bad)


def test_fuzz_targets_raise_only_levelpipe_errors():
    """A small fixed-seed part of the fuzz campaign: byte flips, cuts and splices of the seeds."""
    rng = np.random.default_rng(12)
    import tempfile
    from pathlib import Path
    tried = 0
    with tempfile.TemporaryDirectory() as d:
        for name, (read, seeds) in targets().items():
            assert seeds, name
            for seed in seeds:
                data = seed.read_bytes()
                for k in range(20):
                    b = bytearray(data)
                    op = k % 3
                    if op == 0:
                        for i in rng.integers(0, len(b), 1 + k):
                            b[i] ^= int(rng.integers(1, 256))
                    elif op == 1:
                        b = b[: int(rng.integers(0, len(b)))]
                    else:
                        i = int(rng.integers(0, len(b)))
                        b = b[:i] + bytes(rng.integers(0, 256, int(rng.integers(1, 600)), dtype=np.uint8)) + b[i:]
                    p = Path(d) / f"{k}{seed.suffix}"
                    p.write_bytes(bytes(b))
                    try:
                        read(p)
                    except LevelpipeError:
                        pass
                    tried += 1
    assert tried >= 100
