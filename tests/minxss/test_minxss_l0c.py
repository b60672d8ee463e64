"""Level 0C on simulated packets: the simulator (its own description of the format, notes
§3-§8) and the decoder must agree value for value; duplicates, reassembly and decompression."""
from __future__ import annotations

import datetime as _dt

import numpy as np
import pytest

from conftest import REPO
from levelpipe.minxss import l0c
from levelpipe.minxss.errors import MinxssError
from levelpipe.minxss.settings import MinxssSettings
from levelpipe.settings import load_settings
from levelpipe.testing import minxss_simulator as sim

SETTINGS = load_settings(MinxssSettings, REPO / "config" / "minxss.yaml")
DAY = "2019-01-02"
MID = _dt.datetime(2019, 1, 2, 12, 0, 0)


def _counts(rng, kind):
    if kind == "sparse":
        c = np.zeros(1024, dtype=np.int64)
        c[rng.choice(1024, 40, replace=False)] = rng.integers(1, 1 << 24, 40)
        return c
    if kind == "full":
        return rng.integers(0, 1 << 24, 1024)
    return rng.poisson(np.r_[np.full(200, 300.0), np.full(200, 3.0), np.zeros(624)])


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("fm", [1, 2])
def test_spectra_and_fields_round_trip(tmp_path, compress, fm):
    rng = np.random.default_rng(fm * 10 + compress)
    day = {1: _dt.datetime(2016, 7, 23, 2), 2: MID}[fm]
    recs, stream, seq = [], [], 0
    for i, kind in enumerate(["sparse", "full", "solar", "solar"]):
        rec = sim.SciRecord(sim.gps_seconds(day) + 10 * i + 5, _counts(rng, kind), compress=compress, fm=fm,
                            real_time_ms=10000, accum_time_ms=9870 + i, radio_flag_raw=2, read_errors=1,
                            write_errors=1, sps=(1, 2, 3, 4 + i), hv_v=180.5, det_temp_k=221.3)
        segs = sim.sci_segments(rec, seq)
        seq += len(segs)
        recs.append(rec)
        stream += segs
    f = tmp_path / "sci.bin"
    f.write_bytes(b"".join(stream))
    ds = l0c.l0c([f], day.date(), settings=SETTINGS)["sci"]
    assert ds.sizes["time"] == 4 and np.all(ds.record_complete == 1)
    assert ds.attrs["records_decoded"] == 4 and ds.attrs["bad_records_total"] == 0
    np.testing.assert_array_equal(ds.x123_spectrum.values, np.array([r.counts for r in recs], dtype=np.float32))
    np.testing.assert_array_equal(ds.x123_accum_time.values, [9870, 9871, 9872, 9873])
    np.testing.assert_array_equal(ds.sps_data_sci.values[:, 3], [4, 5, 6, 7])
    assert np.all(ds.x123_radio_flag.values == 1.0)       # raw 2, minus 1 (§11)
    assert np.all(ds.x123_read_errors.values == 1) and np.all(ds.x123_write_errors.values == 1)
    np.testing.assert_allclose(ds.x123_high_voltage.values, 180.5)
    np.testing.assert_allclose(ds.x123_detector_temperature.values, 221.3 - 273.15, atol=1e-9)
    assert np.all(ds.flight_model.values == fm)
    # record time = stamp - real_time / 2 (§5): stamps were mid + 5 s
    want = np.array([np.datetime64(day + _dt.timedelta(seconds=10 * i), "ns") for i in range(4)])
    if fm == 2:
        np.testing.assert_array_equal(ds.time.values, want)
    else:  # FM1 2016-07-23: the §5 drift (JD < 2457617.5) moves the clock
        jd = 2457592.5 + 2 / 24
        drift = -0.084309179 * jd + 207198.41
        assert abs((ds.time.values[0] - want[0]) / np.timedelta64(1, "s") - drift) < 1e-3


def test_hk_adcs_log_values_from_the_simulator(tmp_path):
    t = sim.gps_seconds(MID)
    vals = {"cdh_batt_v": 7.95, "eps_batt_temp1": 10.0, "sps_x": -1234, "wheel1_speed": 12.5, "sun_body_x": 0.5}
    stream = [sim.hk_packet(t + 1.5, 9, vals, enables=["sps_xps", "batt_heater"]),
              sim.adcs_packet(1, t + 0.1, 1, {"eci1": 6000.5, "ecef3": -10.25, "q4": 0.25, "veci2": 7.5}),
              sim.adcs_packet(2, t + 0.2, 2, {"measured_attitude_valid": 1, "wheel2": -3.5}),
              sim.adcs_packet(3, t + 0.3, 3, {"sun_point_angle_error": 0.093}),
              sim.adcs_packet(4, t + 0.4, 4, {"sunbody_y": -0.25}),
              sim.log_packet(t, 3, "hello MinXSS")]
    f = tmp_path / "mix.bin"
    f.write_bytes(b"".join(stream))
    out = l0c.l0c([f], DAY, settings=SETTINGS)
    hk, adcs, log = out["hk"], out["adcs"], out["log"]
    assert str(hk.time.values[0])[:23] == "2019-01-02T12:00:00.000"
    assert abs(hk.cdh_batt_v.values[0] - 7.95) < 67.1 / 4096 and abs(hk.eps_batt_temp1.values[0] - 10.0) < 0.307
    assert hk.sps_x.values[0] == -1234 and hk.xact_wheel1_measured_speed.values[0] == 12.5
    assert hk.switch_sps.values[0] == 1 and hk.switch_battery_heater.values[0] == 1 and hk.switch_adcs.values[0] == 0
    assert hk.xact_measured_sun_body_vector_x.values[0] == pytest.approx(0.5, abs=0.0128)
    a = {int(x): i for i, x in enumerate(adcs.apid.values)}
    assert adcs.orbit_position_ECI1.values[a[38]] == pytest.approx(6000.5, abs=1e-5)
    assert adcs.orbit_position_ECEF3.values[a[38]] == pytest.approx(-10.25, abs=1e-5)
    assert adcs.orbit_velocity_ECI2.values[a[38]] == pytest.approx(7.5, abs=5e-9)
    assert adcs.attitude_quaternion4.values[a[38]] == pytest.approx(0.25, abs=1e-9)
    assert np.isnan(adcs.orbit_position_ECI1.values[a[39]])
    assert adcs.measured_attitude_valid.values[a[39]] == 1 and adcs.wheel_meas_speed2.values[a[39]] == -3.5
    assert adcs.xact_sun_point_angle_error.values[a[40]] == pytest.approx(0.093, abs=0.0015)
    assert adcs.sunbody_y.values[a[41]] == pytest.approx(-0.25)
    assert str(adcs.time.values[0])[:23] == "2019-01-02T12:00:00.000"  # stamp - 0.1 s (§5)
    assert log.log_message.values.tolist() == ["hello MinXSS"]


def test_fm1_adcs_packets_are_220_bytes(tmp_path):
    t = sim.gps_seconds(_dt.datetime(2016, 7, 23, 2))
    p = sim.adcs_packet(1, t, 5, {"eci2": -4321.0}, fm=1)
    assert len(p) == 220
    f = tmp_path / "a.bin"
    f.write_bytes(p)
    ds = l0c.l0c([f], "2016-07-23", settings=SETTINGS)["adcs"]
    assert ds.orbit_position_ECI2.values[0] == pytest.approx(-4321.0) and ds.flight_model.values[0] == 1


def test_duplicates_removed_preferring_good_check_bytes(tmp_path):
    t = sim.gps_seconds(MID)
    good = sim.hk_packet(t, 5, {"cdh_batt_v": 7.0})
    playback = bytearray(good)
    playback[1] |= 0x40
    body = bytes(playback[:-4])
    playback = body + sim.fletcher_check(body) + sim.SYNC
    broken = bytearray(good)
    broken[100] ^= 1
    s = SETTINGS.model_copy(update={"framing": SETTINGS.framing.model_copy(update={"keep_bad_checksum": True})})
    f = tmp_path / "d.bin"
    f.write_bytes(bytes(broken) + playback + good)
    ds = l0c.l0c([f], DAY, settings=s)["hk"]
    assert ds.sizes["time"] == 1 and ds.checksum_ok.values[0] == 1 and ds.attrs["duplicates_removed"] == 2
    assert ds.attrs["bad_packets_bad_checksum"] == 1
    f.write_bytes(bytes(broken))
    ds = l0c.l0c([f], DAY, settings=s)["hk"]
    assert ds.checksum_ok.values[0] == 0  # kept, flagged


def test_incomplete_record_is_kept_and_flagged(tmp_path):
    rng = np.random.default_rng(3)
    rec = sim.SciRecord(sim.gps_seconds(MID), rng.integers(0, 1 << 24, 1024), compress=False)
    segs = sim.sci_segments(rec, 100)
    assert len(segs) == 14  # 3072 bytes: 168 + 13 * 234 (§7)
    ok = sim.sci_segments(sim.SciRecord(sim.gps_seconds(MID) + 10, rng.integers(0, 9, 1024)), 114)
    f = tmp_path / "s.bin"
    f.write_bytes(b"".join(segs[:6] + segs[7:] + ok))
    ds = l0c.l0c([f], DAY, settings=SETTINGS)["sci"]
    assert ds.record_complete.values.tolist() == [0, 1]
    assert ds.segments_expected.values[0] == 14 and ds.segments_received.values[0] == 13
    assert np.all(np.isnan(ds.x123_spectrum.values[0])) and np.all(np.isfinite(ds.x123_spectrum.values[1]))
    assert ds.attrs["bad_records_incomplete"] == 1 and ds.attrs["records_decoded"] == 1


def test_file_spanning_midnight_feeds_both_days(tmp_path):
    t = sim.gps_seconds(_dt.datetime(2019, 1, 2, 23, 59, 50))
    f = tmp_path / "m.bin"
    f.write_bytes(b"".join(sim.hk_packet(t + 1.5 + 6 * i, i, {}) for i in range(4)))
    a = l0c.l0c([f], "2019-01-02", settings=SETTINGS)["hk"]
    b = l0c.l0c([f], "2019-01-03", settings=SETTINGS)["hk"]
    assert a.sizes["time"] == 2 and b.sizes["time"] == 2
    with pytest.raises(MinxssError, match="no packet of 2019-01-04"):
        l0c.l0c([f], "2019-01-04", settings=SETTINGS)


def test_decompression_known_answer():
    """§7 by hand: bins 0..7 = 0, 5, 300, 70000, 0, 0, 0, 1 -> codes 0,1,2,3 | 0,0,0,1."""
    header = [0b11100100, 0b01000000]                       # codes (j=0..3) packed 2 bits each
    values = [5, 0x2C, 0x01, 0x70, 0x11, 0x01, 1]           # 5; 300 = 2C 01; 70000 = 70 11 01; 1
    raw = np.zeros((1, 3328), dtype=np.uint8)
    raw[0, :9] = header + values
    cmp_info = np.array([0 | (1 << 8)])                     # header bytes 0..1
    spec, over = l0c.decompress(raw, cmp_info, np.array([9]), np.array([True]), 1024)
    assert spec[0, :8].tolist() == [0, 5, 300, 70000, 0, 0, 0, 1] and not over[0]
    assert np.all(spec[0, 8:] == 0)
    spec, over = l0c.decompress(raw, cmp_info, np.array([8]), np.array([True]), 1024)  # data past spect_len
    assert over[0] and np.all(np.isnan(spec[0]))


def test_early_clock_fix_before_the_first_time_set(tmp_path):
    """§5: FM2 packets stamped before the time-set (GPS 1228116215) get +3532.492 s."""
    stamp = 1228116215 - 10000.0  # inside the FM2 window, before the time-set
    f = tmp_path / "early.bin"
    f.write_bytes(sim.hk_packet(stamp, 1, {}) + sim.hk_packet(1228116215 + 100.0, 2, {}))
    r = __import__("levelpipe.minxss.packets", fromlist=["read_file"]).read_file(f, SETTINGS)
    t = r.packets["hk"].columns["time"]
    from levelpipe.minxss.clock import gps_to_utc
    raw = gps_to_utc(np.array([int(stamp), 1228116215 + 100]))
    shift = (t - raw) / np.timedelta64(1, "ms")
    assert shift.tolist() == [3532492 - 1500, -1500]
