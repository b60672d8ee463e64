"""Decoder: sync search, byte order, checksum rule, counters, fault counting, L0 round trip."""
from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest

from levelpipe.errors import FoxsiError
from levelpipe.foxsi import decode, formats as fmt, l0, simulator
from foxsi_testlib import (ALL_FAULTS, CAL, as_bytes, flight2, flight2_config, scenario, sim2,  # noqa: F401
                           foxsi_config)


@pytest.mark.parametrize("file_type", ["gse", "wsmr"])
@pytest.mark.parametrize("byteorder", ["big", "little"])
def test_faults_counted_and_every_intact_frame_decoded(flight2, file_type, byteorder):
    sim = simulator.simulate(flight2, scenario(file_type=file_type, byteorder=byteorder, faults=ALL_FAULTS,
                                               duration=30.0 * u.s), CAL)
    assert all(sim.fault_counts[k] > 0 for k in fmt.FAULT_KINDS)
    dec = decode.decode_bytes(as_bytes(sim), sim.file_type)
    assert dec.byteorder == byteorder
    np.testing.assert_array_equal(dec.counter, sim.intact_counters)  # 100 % of intact frames, in order
    assert dec.faults == sim.fault_counts  # every bad frame counted, by kind
    good = np.isin(sim.frame_counter, sim.intact_counters)
    np.testing.assert_array_equal(dec.frames, sim.frames[good])


def test_level0_round_trip_every_event_field(flight2, sim2):
    dec = decode.decode_bytes(as_bytes(sim2), sim2.file_type)
    dets, hk = l0.level0(dec, flight2)
    t = sim2.events
    assert sum(ds.sizes["time"] for ds in dets) == t["det"].size > 5000
    for det, ds in enumerate(dets):
        sel = t["det"] == det
        np.testing.assert_array_equal(ds["frame_counter"].values, t["frame_counter"][sel])
        np.testing.assert_array_equal(ds["mask"].values, t["mask"][sel])
        np.testing.assert_array_equal(ds["strip_data"].values, t["strip_data"][sel])
        np.testing.assert_array_equal(ds["common_mode"].values, t["common_mode"][sel])
        np.testing.assert_array_equal(ds["trigger_time"].values, t["trigger_time"][sel])
        rows = np.searchsorted(sim2.frame_counter, t["frame_counter"][sel])
        np.testing.assert_array_equal(ds["livetime"].values, sim2.frames[rows, fmt.W_LIVETIME0 + det])
        np.testing.assert_array_equal(ds["hv"].values, sim2.frames[rows, fmt.W_STATUS] & fmt.STATUS_HV_MASK)
    assert hk.sizes["time"] == sim2.frame_counter.size
    np.testing.assert_array_equal(hk["hk_value"].values, sim2.frames[:, fmt.W_HK])


def test_wsmr_time_tag_gives_frame_time(flight2, sim2):
    dec = decode.decode_bytes(as_bytes(sim2), sim2.file_type)
    times, source, repaired = l0.frame_times(dec, flight2, 0.05 * u.s)
    assert "WSMR" in source and not repaired.any()
    expect = np.datetime64("2014-12-11T19:11:00", "ns") + np.timedelta64(60, "s")
    assert times[0] == expect
    assert np.all(np.diff(times) == np.timedelta64(10, "ms"))


def test_gse_time_from_frame_counter(flight2):
    sim = simulator.simulate(flight2, scenario(file_type="gse", duration=2.0 * u.s), CAL)
    dec = decode.decode_bytes(as_bytes(sim), sim.file_type)
    times, source, _ = l0.frame_times(dec, flight2)
    assert dec.wsmr_time_us is None and "frame_counter" in source
    assert times[0] == np.datetime64("2014-12-11T19:11:00", "ns") + np.timedelta64(60, "s")


def test_sync_search_not_fixed_offsets(flight2):
    """Leading garbage of odd length: frames are found at odd byte offsets; the head is a cut frame."""
    sim = simulator.simulate(flight2, scenario(file_type="gse", duration=2.0 * u.s), CAL)
    buf = np.concatenate([np.arange(37, dtype=np.uint8), as_bytes(sim)])
    dec = decode.decode_bytes(buf, sim.file_type)
    assert dec.counter.size == sim.frame_counter.size
    assert dec.offset[0] == 37
    assert dec.faults["truncated"] == 1  # Decision: a partial record before the first frame is truncated


def test_checksum_rule_is_sum_mod_65536_of_words_1_to_253(flight2):
    """Decision pinned: checksum = (sum of words 1..253) mod 2**16; an XOR-checksummed frame is rejected."""
    sim = simulator.simulate(flight2, scenario(file_type="gse", duration=0.05 * u.s), CAL)
    frames = sim.frames.copy()
    assert np.all(frames[:, fmt.W_CHECKSUM] == (frames[:, 1:254].astype(np.int64).sum(axis=1) % 65536))
    frames[:, fmt.W_COUNTER_LO] += 1  # change a word, keep the old checksum
    dec = decode.decode_bytes(frames.astype("<u2").view(np.uint8).ravel(), fmt.GSE)
    assert dec.counter.size == 0 and dec.faults["checksum"] == frames.shape[0]


def test_counter_wrap_is_continuous_and_reset_is_not_missing(flight2):
    """Decision pinned: 32-bit counter differences modulo 2**32; a backwards step is a reset."""
    fl = flight2.replace(launch_frame_counter=(1 << 32) - 6050)  # wraps 50 frames in
    sim = simulator.simulate(fl, scenario(file_type="gse", duration=1.0 * u.s), CAL)
    dec = decode.decode_bytes(as_bytes(sim), sim.file_type)
    assert dec.counter.max() == (1 << 32) - 1 and dec.counter.min() == 0
    assert dec.faults["missing"] == 0 and dec.counter_resets == 0
    twice = np.concatenate([as_bytes(sim), as_bytes(sim)])
    dec2 = decode.decode_bytes(twice, sim.file_type)
    assert dec2.counter_resets == 1 and dec2.faults["missing"] == 0


def test_byteorder_forced_and_garbage_file(flight2, tmp_path):
    sim = simulator.simulate(flight2, scenario(file_type="gse", byteorder="big", duration=0.5 * u.s), CAL)
    dec = decode.decode_bytes(as_bytes(sim), fmt.GSE, byteorder="little")
    assert dec.counter.size == 0 and dec.faults["sync_loss"] > 0
    junk = tmp_path / "junk.dat"
    junk.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(FoxsiError, match="junk.dat:byte 0: no FOXSI frame"):
        decode.decode_file(junk)
    with pytest.raises(FoxsiError, match="unknown telemetry file type"):
        decode.decode_file(tmp_path / "x.bin")


def test_level0_file_carries_fault_counts(flight2, flight2_config, foxsi_config, tmp_path):
    from levelpipe.io import read_netcdf

    sim = simulator.simulate(flight2, scenario(file_type="gse", faults=ALL_FAULTS, duration=10.0 * u.s), CAL)
    path = tmp_path / "f.dat"
    path.write_bytes(sim.data)
    outs = [tmp_path / f"d{d}.nc" for d in range(7)]
    l0.make_l0(path, outs, tmp_path / "hk.nc", {"decode": foxsi_config["decode"], "flight": flight2_config})
    for p in [*outs, tmp_path / "hk.nc"]:
        ds = read_netcdf(p)
        for kind in fmt.FAULT_KINDS:
            assert int(ds[f"bad_frames_{kind}"]) == ds.attrs[f"bad_frames_{kind}"] == sim.fault_counts[kind]


def test_gse_time_across_counter_wrap(flight2):
    fl = flight2.replace(launch_frame_counter=(1 << 32) - 6050)
    sim = simulator.simulate(fl, scenario(file_type="gse", duration=1.0 * u.s), CAL)
    dec = decode.decode_bytes(as_bytes(sim), sim.file_type)
    times, _, _ = l0.frame_times(dec, fl)
    assert np.all(np.diff(times) == np.timedelta64(10, "ms"))


def test_wsmr_time_tag_bit_errors_replaced_and_counted(flight2, sim2):
    """Decision pinned: tags off the counter relation by > tolerance are replaced by counter time."""
    buf = as_bytes(sim2).copy()
    rec = fmt.WSMR.record_bytes
    hit = [100, 2500, 4000]
    for i in hit:
        buf[i * rec + 2] ^= 0x04  # middle word of the big-endian 48-bit tag: +-2**26 us
    buf[10 * rec + 5] ^= 0x01  # lowest bit: 1 us off, within tolerance, kept as recorded
    dec = decode.decode_bytes(buf, sim2.file_type)
    assert dec.counter.size == sim2.frame_counter.size  # the formatter frames are intact
    times, _, repaired = l0.frame_times(dec, flight2, 50 * u.ms)
    assert np.flatnonzero(repaired).tolist() == hit
    expect = flight2.launch_datetime64 + np.timedelta64(60, "s") + \
        np.arange(dec.counter.size) * np.timedelta64(10, "ms")
    off = times - expect
    assert (off[np.arange(off.size) != 10] == np.timedelta64(0, "ns")).all()
    assert off[10] == np.timedelta64(1, "us") or off[10] == np.timedelta64(-1, "us")
    dets, hk = l0.level0(dec, flight2, 0.05 * u.s)
    assert hk.attrs["wsmr_time_tags_replaced"] == int(hk["wsmr_time_tags_replaced"]) == 3
