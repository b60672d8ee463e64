"""Known answers of the research notes §9 on the five real MinXSS-2 HK packets, and our decoder
against space_packet_parser on every field of every real packet (both real files).

The values below are written out by hand from minxss.md §9 (decoded there with an independent
throwaway decoder); each is compared within half a unit of the last digit the notes give.
"""
from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest

from levelpipe.minxss import clock, framing, packets, xtce
from levelpipe.settings import load_settings
from levelpipe.minxss.settings import MinxssSettings

from conftest import REPO, RESOURCES, shared_data

RAW = "Min_pkt_data_20181214.bin"
AX25 = "pkt_data_20181214.bin"
SETTINGS = load_settings(MinxssSettings, REPO / "config" / "minxss.yaml")


def _real(name: str):
    """The bundled copy (resources/minxss/raw) when present, else the shared data folder."""
    bundled = RESOURCES / "minxss" / "raw" / name
    return bundled if bundled.exists() else shared_data("minxss") / name


def near(value, given: str):
    """`value` equals the notes' number `given` to within half a unit of its last digit."""
    digits = len(given.split(".")[1]) if "." in given else 0
    assert abs(float(value) - float(given)) <= 0.5 * 10 ** -digits + 1e-12, (value, given)


@pytest.fixture(scope="module")
def hk():
    r = packets.read_file(_real(RAW), SETTINGS)
    assert r.decoded == 5 and sum(r.bad.values()) == 0
    return r.packets["hk"].columns


def test_shared_facts_of_all_five(hk):
    data = np.fromfile(_real(RAW), dtype=np.uint8).reshape(5, 254)
    assert np.all(hk["apid"] == 25) and np.all(hk["seq_flags"] == 3)
    assert np.all(((data[:, 4].astype(int) << 8) | data[:, 5]) == 247)  # data_length
    assert np.all(data[:, 252:] == 0xA5)
    assert np.all(hk["fsw_flight_model"] == 3) and np.all(hk["fsw_major_minor"] == 147)
    assert np.all(data[:, 51] == 0x36) and np.all(hk["fsw_patch"] == 6)
    assert np.all(hk["flight_model"] == 2)  # FM bits 3 = MinXSS-2 (by time window, §1)
    # cdh_info 0x04, adcs_info 0xFD
    assert np.all(hk["spacecraft_mode"] == 4) and np.all(hk["eclipse_state"] == 0) and np.all(hk["cdh_state"] == 0)
    assert np.all(hk["adcs_state"] == 7)
    for bit in ("attitude_valid", "refs_valid", "time_valid", "adcs_mode"):
        assert np.all(hk[bit] == 1), bit
    assert np.all(hk["recommend_sun"] == 0)
    # cdh_enables 0x0407: sps_xps, x123, adcs, eclipse_use_css; all others 0
    on = {"switch_sps", "enable_x123", "switch_adcs", "enable_eclipse_use_css"}
    for name in ("switch_sps", "enable_x123", "switch_adcs", "enable_comm", "enable_sdcard", "enable_ant_deploy",
                 "enable_sa_deploy", "switch_battery_heater", "enable_spare", "enable_inst_heater",
                 "enable_eclipse_use_css", "cdh_enables_bits_11_15"):
        assert np.all(hk[name] == (1 if name in on else 0)), name
    assert np.all(hk["cmd_accept_count"] == 1088) and np.all(hk["cmd_reject_count"] == 2704)
    assert np.all(hk["time_offset"] == 4969) and np.all(hk["radio_received"] == 20323)


def test_per_packet_times_and_check_bytes(hk):
    data = np.fromfile(_real(RAW), dtype=np.uint8).reshape(5, 254)
    assert hk["seq_count"].tolist() == [1146, 1152, 1155, 1158, 1161]
    for got, want in zip(hk["packet_time_gps"], ["1228845786.157", "1228845804.172", "1228845813.174",
                                                  "1228845822.185", "1228845831.187"]):
        near(got, want)
    raw_utc = clock.gps_to_utc(data[:, 6:10].copy().view("<u4").ravel(), data[:, 10:12].copy().view("<u2").ravel())
    assert [str(t)[:23] for t in raw_utc] == ["2018-12-14T18:02:48.157", "2018-12-14T18:03:06.172",
                                             "2018-12-14T18:03:15.174", "2018-12-14T18:03:24.185",
                                             "2018-12-14T18:03:33.187"]
    assert [str(t)[:23] for t in hk["time"]] == ["2018-12-14T18:02:46.657", "2018-12-14T18:03:04.672",
                                                 "2018-12-14T18:03:13.674", "2018-12-14T18:03:22.685",
                                                 "2018-12-14T18:03:31.687"]
    near(clock.julian_date(hk["time"][:1])[0], "2458467.25192890")
    checks = data[:, 250].astype(int) | (data[:, 251].astype(int) << 8)
    assert [f"0x{c:04X}" for c in checks] == ["0xACFD", "0xF931", "0x05FA", "0xED52", "0xE2A7"]
    assert framing.fletcher_sums(data[0, :250]) == (85, 172)
    assert framing.check_bytes(data[0, :250]) == (0xFD, 0xAC)
    assert np.all(hk["checksum_ok"]) and np.all(framing.fletcher_ok(data))


def test_converted_values_of_seq_1146(hk):
    v = {k: c[0] for k, c in hk.items()}
    for name, want in [("cdh_batt_v", "7.92881"), ("cdh_5v", "4.96861"), ("cdh_3v", "3.36155"),
                       ("cdh_temp", "4.3125"), ("eps_5v_cur", "399.902"), ("eps_5v_volt", "4.97479"),
                       ("eps_fg_volt", "7.88901"), ("eps_fg_soc", "60.426"), ("eps_batt_cur", "1205.306"),
                       ("eps_batt_temp1", "8.601"), ("eps_batt_temp2", "9.522"),
                       ("eps_sa1_cur", "215.947"), ("eps_sa1_volt", "17.35576"), ("eps_sa2_cur", "547.866"),
                       ("eps_sa2_volt", "9.75762"), ("eps_sa3_cur", "163.960"), ("eps_sa3_volt", "17.06783"),
                       ("eps_sa1_temp", "43.507"), ("eps_sa2_temp", "46.472"), ("eps_sa3_temp", "38.275"),
                       ("sps_xps_pwr_3v", "3.40430"), ("sps_xps_pwr_a5v", "5.10747"),
                       ("sps_xps_pwr_d5v", "5.07313"), ("sps_xps_temperature", "6.4352"),
                       ("sps_sum_hk", "2017503"), ("sps_x", "-2869"), ("sps_y", "2595"), ("xps_data_hk", "37"),
                       ("sps_dark_data_hk", "7"), ("x123_brd_temp", "11"), ("x123_det_temp", "225.8"),
                       ("x123_fast_count", "9"), ("x123_slow_count", "12"),
                       ("xact_measured_sun_body_vector_x", "0.9984"), ("xact_measured_sun_body_vector_y", "-0.0512"),
                       ("xact_measured_sun_body_vector_z", "-0.0256"), ("xact_wheel1_measured_speed", "35.275"),
                       ("xact_wheel2_measured_speed", "-112.25"), ("xact_wheel3_measured_speed", "4.75"),
                       ("xact_wheel1_est_drag", "16.37"), ("xact_wheel2_est_drag", "29.12"),
                       ("xact_wheel3_est_drag", "17.54"), ("radio_transmitted", "17906350"),
                       ("radio_rssi", "97")]:
        near(v[name], want)
    near(v["x123_det_temp"] - 273.15, "-47.35")


def test_ax25_file_holds_the_same_packets():
    raw = packets.read_file(_real(RAW), SETTINGS)
    ax = packets.read_file(_real(AX25), SETTINGS)
    assert ax.decoded == 2 and sum(ax.bad.values()) == 0 and ax.framing_bytes == 32
    assert ax.packets["hk"].columns["seq_count"].tolist() == [1152, 1155]
    # every decoded field of the two AX.25 packets equals the raw stream's 2nd and 3rd packet
    # (all but where each sits in its file)
    for name, values in ax.packets["hk"].columns.items():
        if name != "source_offset":
            np.testing.assert_array_equal(values, raw.packets["hk"].columns[name][[1, 2]], err_msg=name)
    a = np.fromfile(_real(AX25), dtype=np.uint8).reshape(2, 270)
    r = np.fromfile(_real(RAW), dtype=np.uint8).reshape(5, 254)
    header = bytes.fromhex("9a929cb0a6646086a240404040e103f0")
    assert all(bytes(a[i, :16]) == header for i in range(2))
    assert np.array_equal(a[:, 16:], r[[1, 2]])


def _spp_packets(path, skip):
    spp = pytest.importorskip("space_packet_parser")
    data = path.read_bytes()
    return list(spp.ccsds_generator(data, skip_header_bytes=skip)), spp


@pytest.mark.parametrize("name,skip", [(RAW, 0), (AX25, 16)])
def test_decoder_equals_space_packet_parser_on_every_field(name, skip):
    pkts, spp = _spp_packets(_real(name), skip)
    assert len(pkts) == (5 if skip == 0 else 2)
    definition = spp.load_xtce(xtce.DEFINITIONS / "hk.xml")
    ours = xtce.load("hk").decode(np.stack([np.frombuffer(bytes(p), dtype=np.uint8) for p in pkts]))
    assert len(ours) == 1 and ours[0].rows.tolist() == list(range(len(pkts)))
    values = ours[0].values
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a packet spp cannot consume exactly is a failure
        parsed = [definition.parse_bytes(p) for p in pkts]
    assert set(parsed[0].keys()) == set(values)
    for i, ref in enumerate(parsed):
        for key, item in ref.items():
            got = values[key]
            if isinstance(item, bytes):
                assert bytes(got.raw[i]) == item, key
                continue
            assert got.raw[i] == item.raw_value, key
            assert got.value[i] == item, key  # same float64 bits: same polynomial arithmetic


def test_bundled_real_packets_are_byte_identical_to_shared():
    shared = shared_data("minxss")
    bundled = RESOURCES / "minxss" / "raw"
    if not bundled.exists():
        pytest.skip("no bundled copy yet")
    for name in (RAW, AX25):
        assert (bundled / name).read_bytes() == (shared / name).read_bytes()
    assert shutil.which  # keeps the import used when shared data is absent
