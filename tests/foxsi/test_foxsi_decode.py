"""Decoder against damaged and hostile telemetry: every intact frame back, every bad one counted by
kind, nothing accepted with wrong values, memory bounded by the format."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from foxsi_testlib import frame, settings, to_bytes
from levelpipe.errors import FoxsiError, LevelpipeError
from levelpipe.foxsi.decode import DecodeLimits, decode_bytes, decode_file
from levelpipe.foxsi.flights import FileFlight
from levelpipe.foxsi.l0 import level0_from
from levelpipe.testing import foxsi_simulator as sim_mod

ALL_FAULTS = {"bit_flip": 0.01, "drop_bytes": 0.01, "insert_bytes": 0.01, "sync_loss": 0.01, "missing": 0.01,
              "duplicate": 0.01, "truncated_head": True, "truncated_tail": True}


def _simulate(**changes):
    sc = sim_mod.default_scenario()
    sc.update(changes)
    return sim_mod.simulate(sc)


def _check_against_truth(tel, sim):
    intact = np.flatnonzero(sim.intact)
    assert tel.counter.tolist() == sim.counter[intact].tolist()  # 100 % of intact frames, in order, once
    assert np.array_equal(tel.header, sim.frames[intact, :23])
    for d, (rows, words) in enumerate(tel.events):
        block = sim.frames[intact, 23 + 33 * d: 56 + 33 * d]
        expect = np.flatnonzero(block[:, :32].any(axis=1))
        assert rows.tolist() == expect.tolist(), d
        assert np.array_equal(words, block[expect]), d
    if sim.kind == "wsmr":
        assert np.array_equal(tel.wsmr, sim.wsmr[intact])


@pytest.mark.parametrize("order", ["little", "big"])
@pytest.mark.parametrize("kind", ["gse", "wsmr"])
def test_one_percent_of_frames_damaged_per_kind(kind, order):
    sim = _simulate(kind=kind, byteorder=order, n_frames=3000, seed=7 + len(kind) + len(order), faults=ALL_FAULTS)
    tel = decode_bytes(sim.data, kind)
    assert tel.byteorder == order
    _check_against_truth(tel, sim)
    assert tel.faults == sim.fault_counts
    assert all(v >= 30 or k == "truncated" for k, v in tel.faults.items())
    assert tel.counter_resets == 0


def test_chunk_size_changes_nothing():
    sim = _simulate(kind="wsmr", n_frames=3000, faults=ALL_FAULTS, seed=11)
    big = decode_bytes(sim.data, "wsmr")
    assert big.faults == sim.fault_counts
    for chunk in (1 << 16, 70_001, 131_071, 200_003):  # chunk edges fall inside good and damaged frames
        small = decode_bytes(sim.data, "wsmr", DecodeLimits(chunk_bytes=chunk))
        assert small.faults == big.faults and np.array_equal(small.header, big.header)
        assert all(np.array_equal(a[1], b[1]) for a, b in zip(small.events, big.events))


def test_decode_file_reads_in_chunks(tmp_path):
    sim = _simulate(kind="gse", n_frames=1500, faults=ALL_FAULTS, seed=3)
    path = tmp_path / "x.dat"
    path.write_bytes(sim.data)
    tel = decode_file(path, DecodeLimits(chunk_bytes=1 << 16))
    _check_against_truth(tel, sim)
    assert tel.faults == sim.fault_counts


def test_counter_wraps_at_32_bits_and_a_restart_is_a_reset():
    sim = _simulate(kind="gse", n_frames=600, counter_start=(1 << 32) - 300)
    tel = decode_bytes(sim.data, "gse")
    assert tel.n_frames == 600 and tel.faults["missing"] == 0 and tel.counter_resets == 0
    a, b = _simulate(kind="gse", n_frames=300, seed=1), _simulate(kind="gse", n_frames=300, seed=2)
    tel = decode_bytes(a.data + b.data, "gse")  # the formatter restarted: counter and clock start again
    assert tel.n_frames == 600 and tel.counter_resets == 1 and tel.faults["missing"] == 0
    # the restart repeats clock and counter values, but not the frames' content
    assert tel.faults["duplicate"] == 0


def test_a_run_recovering_under_one_percent_fails_with_one_line(tmp_path):
    sim = _simulate(kind="gse", n_frames=300)
    raw = bytearray(sim.data)
    for i in range(1, 300):  # a bit error in every frame but the first
        raw[i * 512 + 100] ^= 0x10
    path = tmp_path / "data_141211_115911.dat"
    path.write_bytes(bytes(raw))
    with pytest.raises(FoxsiError) as err:
        decode_file(path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{path}:frames: decoded 1 of 300 framed records")
    assert "checksum 299" in msg


def test_no_frame_at_all_and_the_wrong_suffix(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    with pytest.raises(FoxsiError, match="no FOXSI 256-word record .* in either byte order"):
        decode_bytes(noise, "gse")
    log = _simulate(kind="wsmr", n_frames=50).data
    p = tmp_path / "renamed.dat"
    p.write_bytes(log)
    with pytest.raises(FoxsiError, match=r"renamed.dat:byte 0: .*holds 259-word records, as a .log file does"):
        decode_file(p)
    with pytest.raises(FoxsiError, match="empty file"):
        decode_bytes(b"", "wsmr")


def _peak_mb(fn) -> float:
    tracemalloc.start()
    try:
        fn()
    except LevelpipeError:
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


@pytest.mark.parametrize("pattern", ["sync_words", "sync_pairs", "zeros", "one_byte", "odd_sync_words"])
def test_hostile_files_raise_only_levelpipe_errors_in_bounded_memory(pattern):
    n = 4 << 20
    data = {
        "sync_words": np.full(n // 2, 0xF628, "<u2").tobytes(),
        "sync_pairs": np.tile(np.array([0xF628, 0xEB90], "<u2"), n // 4).tobytes(),
        "zeros": bytes(n),
        "one_byte": b"\xf6",
        "odd_sync_words": b"\x00" + np.full(n // 2, 0xF628, "<u2").tobytes(),
    }[pattern]
    lim = DecodeLimits(chunk_bytes=1 << 20)
    for kind in ("gse", "wsmr"):
        peak = _peak_mb(lambda: decode_bytes(data, kind, lim))
        # bounded by the chunk (a few copies of 1 MiB) and the frames the format allows, not by
        # the number of sync-like words (2 M of them here)
        assert peak < 40, (pattern, kind, peak)


def test_frames_made_of_sync_pairs_are_one_frame_and_duplicates():
    """A window of alternating F628/EB90 is a valid frame (the XOR of 128 pairs is 0); every copy
    has the same clock and counter, so all but one are duplicates and the run fails loudly."""
    data = np.tile(np.array([0xF628, 0xEB90], "<u2"), 128 * 200).tobytes()
    with pytest.raises(FoxsiError, match=r"decoded 1 of 200 framed records.*duplicate 199"):
        decode_bytes(data, "gse")


def test_masks_of_zero_do_not_hide_events():
    """The masks may be unusable (§1c): events are found from the block words, not the masks."""
    sim = _simulate(kind="gse", n_frames=500, masks="zero")
    tel = decode_bytes(sim.data, "gse")
    _check_against_truth(tel, sim)
    assert sum(r.size for r, _ in tel.events) == sim.events["frame"].size


def test_a_damaged_wsmr_time_is_flagged_by_the_clock():
    """The ground-station words are outside the checksum: a bit flip there cannot be detected by
    the format. Decision pinned: a WSMR time further than decode.wsmr_clock_tolerance_s from the
    clock's prediction is flagged and the frame gets the clock's time instead."""
    s = settings()
    sim = _simulate(kind="wsmr", n_frames=3000, faults={"wsmr_bit_flip": 0.02}, seed=5)
    tel = decode_bytes(sim.data, "wsmr")
    assert tel.n_frames == 3000 and sum(tel.faults.values()) == 0  # undetectable by the format
    hk = level0_from(tel, FileFlight("foxsi2", s.flights["foxsi2"], None), None, s.decode, s.l0)["hk"]
    from levelpipe.foxsi.l0 import wsmr_seconds
    true = wsmr_seconds(sim.wsmr)
    err = np.abs(hk["wsmr_time"].values - true)
    flagged = hk["wsmr_time_replaced"].values == 1
    tol = s.decode.wsmr_clock_tolerance_s.value
    assert (flagged == (err > tol)).all() and flagged.sum() >= 10
    t = hk["time"].values
    t_true = np.datetime64("2014-12-11T00:00:00", "ns") + np.rint(true * 1e9).astype("timedelta64[ns]")
    # flagged frames get the clock's time (within the ~0.2 ms ground jitter); the others are off
    # by at most the tolerance
    off = np.abs((t - t_true).astype(np.int64))
    assert off[flagged].max() < 1e6 and off.max() <= tol * 1e9


def test_a_false_sync_inside_a_frame_is_not_a_frame():
    """A data word equal to F628 whose EB90 sits 255 words later (a strip word of the next frame)
    and whose window happens to XOR to 0 overlaps the real frames and must not displace them."""
    base = {0: 0xF628, 255: 0xEB90, 5: 0x0001}
    f1 = frame({**base, 2: 0x1000, 100: 0xF628})
    f2 = frame({**base, 2: 0x2000, 5: 0x0002, 99: 0xEB90})
    tel = decode_bytes(to_bytes(f1 + f2 + frame({**base, 2: 0x3000, 5: 3})), "gse")
    assert tel.counter.tolist() == [1, 2, 3] and sum(tel.faults.values()) == 0
