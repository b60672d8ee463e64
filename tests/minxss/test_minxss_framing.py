"""Damaged input: a bit flip, a truncation or stray bytes costs exactly the damaged packet, which
is counted by reason; the rest of the file decodes (issue 9 "Done when", issue 12 at 1 %)."""
from __future__ import annotations

import datetime as _dt

import numpy as np
import pytest

from conftest import REPO
from levelpipe.minxss import framing, packets
from levelpipe.minxss.errors import MinxssError
from levelpipe.minxss.l0c import read_inputs
from levelpipe.minxss.settings import MinxssSettings
from levelpipe.settings import load_settings
from levelpipe.testing import minxss_simulator as sim

SETTINGS = load_settings(MinxssSettings, REPO / "config" / "minxss.yaml")
T0 = sim.gps_seconds(_dt.datetime(2019, 1, 2, 1, 0, 0))


def _stream(n_hk=300, n_adcs=100, n_sci=60):
    """Intact packets of every kind, interleaved; (packet bytes, (apid, seq)) each."""
    rng = np.random.default_rng(5)
    out = []
    for i in range(n_hk):
        out.append(sim.hk_packet(T0 + 3 * i, i, {"cdh_batt_v": 7.9, "sps_x": int(rng.integers(-9000, 9000))}))
    for i in range(n_adcs):
        out.append(sim.adcs_packet(1 + i % 4, T0 + 7 * i + 0.1, i, {}))
    seq = 0
    for i in range(n_sci):
        counts = rng.poisson(np.r_[np.full(300, 40.0), np.zeros(724)])
        segs = sim.sci_segments(sim.SciRecord(T0 + 10 * i, counts, compress=True), seq)
        seq += len(segs)
        out += segs
    rng.shuffle(out)
    return out


def _ids(p: bytes) -> tuple[int, int]:
    return ((p[0] & 7) << 8) | p[1], ((p[2] & 0x3F) << 8) | p[3]


def _read(tmp_path, data: bytes, name="t.bin"):
    f = tmp_path / name
    f.write_bytes(data)
    return packets.read_file(f, SETTINGS)


def _decoded_ids(r) -> set[tuple[int, int]]:
    out = set()
    for kind, p in r.packets.items():
        if len(p):
            out |= set(zip(p.columns["apid"].tolist(), p.columns["seq_count"].tolist()))
    return out


def test_intact_stream_decodes_completely(tmp_path):
    stream = _stream()
    r = _read(tmp_path, b"".join(stream))
    assert r.decoded == len(stream) and sum(r.bad.values()) == 0
    assert _decoded_ids(r) == {_ids(p) for p in stream}


@pytest.mark.parametrize("kind", ["bit_flip", "truncation", "stray_bytes"])
def test_one_damaged_packet_is_counted_and_skipped(tmp_path, kind):
    stream = _stream()
    i = 123
    p = bytearray(stream[i])
    if kind == "bit_flip":
        p[77] ^= 0x04
        expect = "bad_checksum"
    elif kind == "truncation":
        p = p[:100]
        expect = "truncated"
    else:
        p = p[:40] + bytes([1, 2, 3, 4, 5]) + p[40:]
        expect = "bad_sync"
    damaged = stream[:i] + [bytes(p)] + stream[i + 1:]
    r = _read(tmp_path, b"".join(damaged))
    assert r.bad[expect] == 1 and sum(r.bad.values()) == 1, r.bad
    assert r.decoded == len(stream) - 1
    assert _decoded_ids(r) == {_ids(q) for j, q in enumerate(stream) if j != i}


def test_one_percent_damaged_each_way(tmp_path):
    """1 % of the packets bit-flipped, 1 % truncated, 1 % with stray bytes inside: every intact
    packet comes back, every damaged one is counted exactly once. Damaged packets are not
    adjacent: a run made of a truncated packet and the damaged one after it is one fault."""
    rng = np.random.default_rng(12)
    stream = _stream(n_hk=1500, n_adcs=600, n_sci=150)
    n = len(stream)
    k = max(1, n // 100)
    pool = rng.permutation(np.arange(1, n - 1, 2))[:3 * k]  # odd positions: never adjacent
    flips, cuts, strays = pool[:k], pool[k:2 * k], pool[2 * k:]
    damaged = list(stream)
    for i in flips:
        b = bytearray(damaged[i])
        pos = int(rng.integers(0, len(b)))
        b[pos] ^= 1 << int(rng.integers(0, 8))
        damaged[i] = bytes(b)
    for i in cuts:  # a remnant shorter than 5 bytes cannot be told from framing leftovers
        damaged[i] = damaged[i][:int(rng.integers(5, len(damaged[i])))]
    for i in strays:
        pos = int(rng.integers(6, len(damaged[i]) - 2))
        damaged[i] = damaged[i][:pos] + rng.integers(0, 256, int(rng.integers(1, 9))).astype(np.uint8).tobytes() \
            + damaged[i][pos:]
    r = _read(tmp_path, b"".join(damaged))
    bad_idx = set(pool.tolist())
    intact = {_ids(p) for j, p in enumerate(stream) if j not in bad_idx}
    assert _decoded_ids(r) >= intact
    assert r.decoded == len(intact)
    assert sum(r.bad.values()) == 3 * k, r.bad


def test_leftover_bytes_between_packets_are_tolerated(tmp_path):
    stream = _stream(n_hk=50, n_adcs=10, n_sci=5)
    gaps = [bytes(np.random.default_rng(i).integers(0, 8, i % 30).astype(np.uint8)) for i in range(len(stream))]
    r = _read(tmp_path, b"".join(g + p for g, p in zip(gaps, stream)))
    assert r.decoded == len(stream) and sum(r.bad.values()) == 0
    assert r.framing_bytes == sum(len(g) for g in gaps)
    junk = bytes(range(256)) * 2  # longer than the header window, no MinXSS header in it
    r = _read(tmp_path, b"".join(stream[:10]) + junk.replace(b"\x08", b"\x09") + b"".join(stream[10:]))
    assert r.bad["stray_bytes"] == 1 and r.decoded == len(stream)


def test_sync_word_inside_the_data_does_not_cut_a_packet(tmp_path):
    p = sim.hk_packet(T0, 7, {"sps_x": -23131})  # -23131 = 0xA5A5 as int16 little-endian
    assert b"\xa5\xa5" in p[:-2]
    r = _read(tmp_path, p + sim.hk_packet(T0 + 3, 8, {}))
    assert r.decoded == 2 and sum(r.bad.values()) == 0
    assert r.packets["hk"].columns["sps_x"][0] == -23131


def test_ax25_and_kiss_framing(tmp_path):
    stream = _stream(n_hk=40, n_adcs=8, n_sci=4)
    r = _read(tmp_path, sim.ax25(stream))
    assert r.decoded == len(stream) and sum(r.bad.values()) == 0 and r.framing_bytes == 16 * len(stream)
    r = _read(tmp_path, sim.kiss(stream), name="pass_ham.kss")
    assert r.decoded == len(stream) and sum(r.bad.values()) == 0
    assert _decoded_ids(r) == {_ids(p) for p in stream}


def test_unkiss_escapes():
    buf = np.frombuffer(b"\xc0\x00\x01\xdb\xdc\x02\xdb\xdd\x03\xc0", dtype=np.uint8)
    assert framing.unkiss(buf).tobytes() == b"\xc0\x00\x01\xc0\x02\xdb\x03\xc0"


def test_unsupported_apid_and_outside_window_are_counted(tmp_path):
    diag = bytearray(sim.hk_packet(T0, 1, {}))
    diag[1] = 35  # DIAG: framed, no definition
    body = bytes(diag[:-4])
    diag = body + sim.fletcher_check(body) + sim.SYNC
    old = sim.hk_packet(sim.gps_seconds(_dt.datetime(2015, 6, 1)), 2, {})  # before both windows
    r = _read(tmp_path, diag + old + sim.hk_packet(T0, 3, {}))
    assert r.bad["unsupported_apid"] == 1 and r.bad["outside_window"] == 1 and r.decoded == 1


def test_a_file_of_almost_nothing_fails_loudly(tmp_path):
    f = tmp_path / "noise.bin"
    f.write_bytes(np.random.default_rng(1).integers(0, 256, 5000).astype(np.uint8).tobytes())
    with pytest.raises(MinxssError, match="noise.bin: 0 packets decoded"):
        read_inputs([f], SETTINGS)
