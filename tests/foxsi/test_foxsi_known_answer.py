"""Known answers: frames written here word by word in hex from the notes' tables (§1b-1e), decoded
field by field. Word numbers and values are literal, not taken from the library or the simulator."""
from __future__ import annotations

import math

import numpy as np
import pytest

from foxsi_testlib import frame, idl_payload, settings, to_bytes, wsmr_record
from levelpipe.foxsi.decode import decode_bytes
from levelpipe.foxsi.flights import FileFlight
from levelpipe.foxsi.l0 import level0_from, wsmr_seconds
from levelpipe.foxsi.l1 import housekeeping_values, level1, livetime_us

# One formatter frame (§1b; detector block §1c). Word 254 = 0x83EB makes the XOR of all 256 words 0.
FRAME = {
    0: 0xF628,                          # sync 2
    1: 0x0001, 2: 0x2345, 3: 0x6789,    # clock 0x000123456789 (48 bits, MSB first)
    4: 0x0002, 5: 0x0003,               # counter 0x00020003 (high word first): phase 3
    6: 0x0800,                          # housekeeping 0: phase 3 -> therm 8
    7: 0x0005,                          # command count
    8: 0xABCD, 9: 0x1234,               # command 1, 2
    10: 0x07D0,                         # housekeeping 1: therm 9
    11: 0x0004,                         # formatter status, bit 2: attenuator actuating
    13: 0x6404,                         # HV: 0x640 = 1600 = 8 x 200 V; status 4 = stable
    14: 0x0C00,                         # housekeeping 2: therm 10
    15: 0x1111, 16: 0x2222, 17: 0x3333,  # detector status 0..2
    18: 0x0391,                         # housekeeping 3: therm 11
    19: 0x4444, 20: 0x5555, 21: 0x6666, 22: 0x7777,  # detector status 3..6
    # detector 0, block at 23
    23: 0x5678,                         # trigger time
    24: 0x0001, 27: 0x8000,             # ASIC 0 mask words 0 and 3: channels 0 and 63
    28: 0x2864, 29: 0x2D2C, 30: 0x3032,  # ASIC 0 strips A, B, C: (ch 10, 100), (11, 300), (12, 50)
    31: 0x0028,                         # ASIC 0 common mode 40
    39: 0x0030,                         # ASIC 1 common mode 48 (no strips)
    44: 0x1414, 45: 0x1990, 46: 0x1C1E,  # ASIC 2 strips: (5, 20), (6, 400), (7, 30)
    47: 0x0032,                         # ASIC 2 common mode 50
    53: 0xF190,                         # ASIC 3 strip B: (60, 400): a tie with ASIC 2
    55: 0x0400,                         # ASIC 3 common mode 1024 (> 1023)
    221: 0x0001,                        # detector 6 (block at 23 + 6 x 33): a trigger time only
    254: 0x83EB,                        # checksum
    255: 0xEB90,                        # sync 1
}
# WSMR words (§1e): 69150 s of day = 0x10E1E; B = bit 15 (the 65536 s) | junk in 14..10 | 123 ms;
# C = junk in 15..10 | 456 us.
WSMR_A, WSMR_B, WSMR_C = 0x0E1E, 0x8000 | (0b10101 << 10) | 123, (0b110011 << 10) | 456


def _words() -> list[int]:
    w = [0] * 256
    for k, v in FRAME.items():
        w[k] = v
    return w


def _ff(key: str) -> FileFlight:
    s = settings()
    return FileFlight(key, s.flights[key], None)


def test_the_hand_written_frame_checks():
    x = 0
    for v in _words():
        x ^= v
    assert x == 0


@pytest.mark.parametrize("order", ["little", "big"])
@pytest.mark.parametrize("kind", ["gse", "wsmr"])
def test_header_words_field_by_field(kind, order):
    w = _words()
    recs = w if kind == "gse" else wsmr_record(w, WSMR_A, WSMR_B, WSMR_C)
    tel = decode_bytes(to_bytes(recs * 3, order), kind)
    assert tel.byteorder == order and tel.n_frames == 1 and tel.faults["duplicate"] == 2
    assert tel.clock[0] == 0x000123456789 and tel.counter[0] == 0x00020003
    h = tel.header[0]
    assert list(h[[6, 10, 14, 18]]) == [0x0800, 0x07D0, 0x0C00, 0x0391]
    assert h[7] == 5 and list(h[[8, 9]]) == [0xABCD, 0x1234] and h[11] == 4 and h[13] == 0x6404
    assert list(h[[15, 16, 17, 19, 20, 21, 22]]) == [0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666, 0x7777]
    if kind == "wsmr":
        assert list(tel.wsmr[0]) == [WSMR_A, WSMR_B, WSMR_C]
        # seconds = A + 65536 (B >> 15); ms = B & 0x3FF; us = C & 0x3FF; no 36 s offset
        assert wsmr_seconds(tel.wsmr)[0] == pytest.approx(69150.123456, abs=1e-9)
    rows, block = tel.events[0]
    assert list(rows) == [0] and block[0, 0] == 0x5678 and block[0, 6] == 0x2D2C
    assert [r.size for r, _ in tel.events] == [1, 0, 0, 0, 0, 0, 1]


@pytest.mark.parametrize("kind", ["gse", "wsmr"])
def test_level0_fields(kind):
    s = settings()
    w = _words()
    recs = w if kind == "gse" else wsmr_record(w, WSMR_A, WSMR_B, WSMR_C)
    tel = decode_bytes(to_bytes(recs), kind)
    ds = level0_from(tel, _ff("foxsi2"), None, s.decode, s.l0)
    d0 = ds["d0"]
    assert d0["frame_counter"].values.tolist() == [0x00020003]
    assert d0["frame_time"].values.tolist() == [0x000123456789]
    assert d0["trigger_time"].values.tolist() == [0x5678]
    assert d0["strip_channel"].values[0].tolist() == [[10, 11, 12], [0, 0, 0], [5, 6, 7], [0, 60, 0]]
    assert d0["strip_data"].values[0].tolist() == [[100, 300, 50], [0, 0, 0], [20, 400, 30], [0, 400, 0]]
    assert d0["common_mode"].values[0].tolist() == [40, 48, 50, 1024]
    assert d0["channel_mask"].values[0].tolist() == [0x8000_0000_0000_0001, 0, 0, 0]
    # hits: n side ASIC 0 (300 > 0), strip = channel of word B = 11; p side: 400 = 400 ties to ASIC 2
    assert d0["hit_asic"].values[0].tolist() == [0, 2]
    assert d0["hit_strip"].values[0].tolist() == [11, 6]
    assert d0["hit_adc"].values[0].tolist() == [300, 400]
    assert d0["hv_raw"].values.tolist() == [0x6404]
    assert d0["inflight"].values.tolist() == [1]  # 200 V > 190 V
    assert d0["error_flag"].values.tolist() == [1]  # common mode 1024 > 1023
    d6 = ds["d6"]
    assert d6["trigger_time"].values.tolist() == [1] and d6["hit_asic"].values.tolist() == [[-1, -1]]
    hk = ds["hk"]
    assert hk["hk_phase"].values.tolist() == [3]
    assert hk["formatter_status"].values.tolist() == [4] and hk["command_count"].values.tolist() == [5]
    raw = hk["housekeeping_raw"].values[0]
    assert raw[12:].tolist() == [0x800, 0x7D0, 0xC00, 0x391] and (raw[:12] == 0xFFFF).all()  # phases 0-2 absent
    if kind == "wsmr":
        assert d0["wsmr_time"].values[0] == pytest.approx(69150.123456, abs=1e-9)
        assert str(d0["time"].values[0]) == "2014-12-11T19:12:30.123456000"


def test_level1_fields_of_the_known_frame():
    s = settings()
    tel = decode_bytes(to_bytes(wsmr_record(_words(), WSMR_A, WSMR_B, WSMR_C)), "wsmr")
    ds = level0_from(tel, _ff("foxsi2"), None, s.decode, s.l0)
    ev = level1([ds[f"d{d}"] for d in range(7)], ds["hk"], flight=s.flights["foxsi2"], l1=s.l1,
                housekeeping=s.housekeeping, ancillary=s.ancillary)["events"]
    e0 = ev.isel(event=int(np.flatnonzero(ev["det_num"].values == 0)[0]))
    # Si: x from the p side, ASIC 2 -> 63 - 6 = 57; y from the n side, ASIC 0 -> 127 - 11 = 116
    assert e0["hit_xy_det"].values.tolist() == [57, 116]
    px, py = idl_payload("Si", 82.5, 57, 116)
    np.testing.assert_allclose(e0["hit_xy_pay"].values, [px, py], rtol=0, atol=1e-9)
    # livetime = (0x5678 - 0x6789) x 0.1 + 2000 - (23 + 33) x 2000/256 = -436.9 + 2000 - 437.5
    assert e0["livetime"].values == pytest.approx(1125.6, abs=1e-9)
    assert e0["hit_cm"].values.tolist() == [40, 50] and e0["hit_adc_sub"].values.tolist() == [260, 350]
    assert e0["unrel_cm"].values.tolist() == [48, 1024]
    assert e0["assoc_channel"].values.tolist() == [[10, 11, 12], [5, 6, 7]]
    assert e0["hv"].values == 200.0
    # bit 0 only: a common mode > 1023 (not bit 3: 200 V, and wsmr_time 69150.12 >= t_launch + 90 s)
    assert int(e0["error_flag"].values) == 1
    e6 = ev.isel(event=int(np.flatnonzero(ev["det_num"].values == 6)[0]))
    assert int(e6["error_flag"].values) & 2  # no hit on a side


def test_hv_word_and_status():
    assert (0x6404 >> 4) / 8 == 200.0 and 0x6404 & 0xF == 4
    s = settings()
    w = frame({**FRAME, 13: (1200 << 4) | 1})  # 150 V, ramping up
    tel = decode_bytes(to_bytes(w), "gse")
    from levelpipe.foxsi.l0 import hv_volts
    assert hv_volts(tel.header[:, 13]).to_value("V").tolist() == [150.0]
    ds = level0_from(tel, _ff("foxsi1"), None, s.decode, s.l0)
    assert ds["d0"]["inflight"].values.tolist() == [0]  # 150 V < 190 V


def test_housekeeping_conversions_of_each_phase():
    """Four frames, phases 0..3, so that each frame holds the whole 4-frame cycle (§1d.1-2)."""
    s = settings()
    raw = [917, 2340, 1365, 2703, 2457, 2000, 2050, 2100, 1980, 2010, 1990, 1950, 0, 2040, 2060, 4095]
    frames = []
    for p in range(4):
        words = {**FRAME, 5: 0x0004 + p}
        for k, f in enumerate((6, 10, 14, 18)):
            words[f] = raw[4 * p + k]
        frames += frame(words)
    tel = decode_bytes(to_bytes(frames), "gse")
    ds = level0_from(tel, _ff("foxsi1"), None, s.decode, s.l0)
    held = ds["hk"]["housekeeping_raw"].values
    assert (held == np.array(raw)).all()
    v = housekeeping_values(held, s.housekeeping)
    assert v["t_ref"][0] == pytest.approx((917 - 917.28) * 0.30525 + 25)
    assert v["plus_5v"][0] == pytest.approx(8.75 * 2340 / 4095)
    assert v["minus_5v"][0] == pytest.approx(2.5 - 15 * 1365 / 4095)
    assert v["v3p3"][0] == pytest.approx(5 * 2703 / 4095)
    assert v["v1p5"][0] == pytest.approx(2.5 * 2457 / 4095)
    r = 10000 / ((4095 / 2000) - 1)
    t = 1 / (1.02522746225986e-3 + 2.39789531411299e-4 * math.log(r) + 1.53998393755544e-7 * math.log(r) ** 3) - 273
    assert v["therm1"][0] == pytest.approx(t)
    assert np.isnan(v["therm8"][0]) and np.isnan(v["therm11"][0])  # raw 0 and full scale: no temperature


def test_livetime_wrap_both_ways():
    """§2b.1: IDL adds 6553.6 us when negative but never subtracts it; levelpipe wraps both ways."""
    # trigger 100 ticks after the frame time's 16 LSBs rolled over: trig - ft16 = 100 - 65500
    lt = livetime_us(np.array([100]), np.array([65500]), np.array([0]))[0]
    assert lt == pytest.approx((100 - 65500) * 0.1 + 2000 - 437.5 + 6553.6)
    # trigger just before the rollover of a frame time read just after it: IDL gives +6553.6
    lt = livetime_us(np.array([65500]), np.array([(1 << 16) + 100]), np.array([0]))[0]
    idl = (65500 - 100) * 0.1 + 2000 - 437.5
    assert idl > 6553.6 and lt == pytest.approx(idl - 6553.6)
    assert np.isnan(livetime_us(np.array([0]), np.array([5]), np.array([0]))[0])  # 0 = no trigger


def test_cdte_pixels_and_payload():
    """FOXSI-2 D2 is CdTe: x from the n side, y from the p side; 60 um, angle negated, no reflection."""
    s = settings()
    words = {k: v for k, v in FRAME.items() if k < 23 or k in (254, 255)}
    b = 23 + 2 * 33  # detector 2
    words.update({b: 0x0100, b + 6: (20 << 10) | 200, b + 8 + 6: 0, b + 16 + 6: (30 << 10) | 150,
                  b + 24 + 6: (40 << 10) | 100})
    tel = decode_bytes(to_bytes(frame(words)), "gse")
    ds = level0_from(tel, _ff("foxsi2"), None, s.decode, s.l0)
    ev = level1([ds[f"d{d}"] for d in range(7)], ds["hk"], flight=s.flights["foxsi2"], l1=s.l1,
                housekeeping=s.housekeeping, ancillary=s.ancillary)["events"]
    assert ev["det_num"].values.tolist() == [2]
    # n side: ASIC 0, ch 20 -> x = 63 - 20 = 43; p side: ASIC 2 (150 > 100), ch 30 -> y = 127 - 30 = 97
    assert ev["hit_xy_det"].values.tolist() == [[43, 97]]
    px, py = idl_payload("CdTe", -67.5, 43, 97)
    np.testing.assert_allclose(ev["hit_xy_pay"].values[0], [px, py], atol=1e-9)
    assert not int(ev["error_flag"].values[0]) & 32  # the edge bit is Si only


def test_a_ground_station_word_that_looks_like_f628():
    """Decision pinned: in a .log file only 259-word records are frames. When ground word C is
    F628, the 256 words from it (C, then formatter words 1..255) pass the sync and XOR tests of a
    .dat frame; that window is never tried, the record decodes with its WSMR time, nothing is
    counted as a fault, and no extra frame appears."""
    w = _words()
    recs = []
    for i in range(6):
        words = {**FRAME, 5: 0x0003 + i}
        recs += wsmr_record(frame(words), WSMR_A, WSMR_B, 0xF628 if i % 2 else WSMR_C)
    tel = decode_bytes(to_bytes(recs), "wsmr")
    assert tel.n_frames == 6 and sum(tel.faults.values()) == 0
    assert tel.counter.tolist() == [0x00020003 + i for i in range(6)]
    assert tel.wsmr[:, 2].tolist() == [WSMR_C, 0xF628] * 3
    # the window from C really is a valid 256-word frame: it would decode as .dat
    odd = recs[259 + 3: 259 + 3 + 256]
    x = 0
    for v in odd:
        x ^= v
    assert odd[0] == 0xF628 and odd[255] == 0xEB90 and x == 0
    assert w[0] == 0xF628
