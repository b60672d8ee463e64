"""Finding MinXSS packets in a raw telemetry stream (research notes §2, §3, §4).

A ground-station file is packets back to back (HYDRA/ISIS ``tlm_packets_*``), the same packets
each behind a 16-byte AX.25 UI header, or KISS frames ``C0 00 <AX.25 header + packet> C0`` with
``DB DC``/``DB DD`` escapes. Every MinXSS packet ends with the sync word ``A5 A5`` and starts with
a CCSDS primary header whose first byte is ``0x08`` and whose fifth byte is ``0x00`` (every
packet is shorter than 256 bytes), §2.

Decision: the team's reader cuts the stream at every sync word and searches the header in the
first 30 (48 for KISS/ham files) bytes of each piece (R1:413-455). A sync pattern inside the data
would then cut a good packet in two. We look for the header first and accept a packet where the
header's length field puts an ``A5 A5`` exactly at its end (and the length is one the packet
type has): the same two marks, without the false cuts. Bytes between packets are tolerated up
to the same window (leftover CDI, KISS or AX.25 bytes); longer runs are counted as stray.

Everything is vectorised over the whole buffer; only overlapping accepted candidates (which
need an ``A5A5`` at a wrong place and a header pattern inside a good packet, roughly one chance
in 2**32 per byte) are resolved in a loop over the overlapping ones.

Rejected candidates, by reason (``REASONS``):

* ``bad_length`` — a header of a known packet type whose length field is not one of the type's
  lengths (§3 table);
* ``truncated`` — a header of a known type with fewer bytes before the next packet (or the end
  of the file) than its length;
* ``bad_sync`` — a header of a known type with room for its length but no ``A5 A5`` at its end
  (bytes inserted or a damaged sync word);
* ``stray_bytes`` — a run of more bytes than the header window with no header of a known type
  (a packet whose header was damaged, or foreign data);
* ``bad_checksum`` — a framed packet whose Fletcher check bytes do not verify (§4);
* ``unsupported_apid`` — a well-framed packet of a type we have no definition for (DIAG,
  XACTIMAGE, SPS, §3) or of an unknown APID.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

REASONS = ("bad_length", "truncated", "bad_sync", "stray_bytes", "bad_checksum", "unsupported_apid")

#: §2: first header byte (version 0, telemetry, secondary header) and the sync word.
HEADER_FIRST_BYTE = 0x08
SYNC = (0xA5, 0xA5)
#: §3: the length field counts the bytes after byte 5, so total = length + 7; header + sync + check.
LENGTH_OFFSET = 7
MIN_PACKET_BYTES = 16
_CHUNK = 1 << 15  # packets per Fletcher block (bounds the float32 copy to ~8 MB)


@dataclass
class Framing:
    """Where the packets of one buffer are, and what was rejected."""

    starts: np.ndarray           # byte offset of each accepted packet, ascending
    lengths: np.ndarray          # total bytes of each
    apids: np.ndarray            # full 11-bit APID
    bad: dict[str, int] = field(default_factory=dict)
    framing_bytes: int = 0       # tolerated bytes between packets (AX.25/KISS/CDI leftovers)
    stray_byte_count: int = 0    # bytes in stray runs

    def packets(self, buf: np.ndarray, rows: np.ndarray, length: int) -> np.ndarray:
        """The accepted packets `rows` (all of `length` bytes) as a (n, length) uint8 array."""
        # rows of a strided view: one copy of the packet bytes, no (n, length) index array
        return np.lib.stride_tricks.sliding_window_view(buf, length)[self.starts[rows]]


def unkiss(buf: np.ndarray) -> np.ndarray:
    """Undo KISS escapes (``DB DC`` -> ``C0``, ``DB DD`` -> ``DB``; minxss_unkiss.pro:69-72, 140-153).

    Frame delimiters (``C0``, ``C0 00``) are left in place: they are tolerated bytes between
    packets, and leaving them also keeps the packets intact when a file has a bare ``C0`` inside
    a payload (the "kludge" of minxss_unkiss.pro:120-123).
    """
    buf = np.asarray(buf, dtype=np.uint8)
    if buf.size < 2:
        return buf.copy()
    # The second byte of an escape is DC or DD, never DB, so escapes cannot overlap.
    esc = (buf[:-1] == 0xDB) & ((buf[1:] == 0xDC) | (buf[1:] == 0xDD))
    if esc.any():
        idx = np.flatnonzero(esc)
        out = buf.copy()
        out[idx] = np.where(buf[idx + 1] == 0xDC, 0xC0, 0xDB)
        drop = np.zeros(buf.size, dtype=bool)
        drop[idx + 1] = True
        return out[~drop]
    return buf.copy()


def _header_candidates(buf: np.ndarray) -> np.ndarray:
    n = buf.size
    if n < MIN_PACKET_BYTES:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero((buf[:n - 5] == HEADER_FIRST_BYTE) & (buf[4:n - 1] == 0)).astype(np.int64)


def find_packets(buf: np.ndarray, lengths: Mapping[int, tuple[int, ...]], *, header_window: int) -> Framing:
    """Locate the packets in `buf` (uint8).

    lengths: APID (playback APIDs included) -> the total packet lengths that APID may have;
    APIDs not listed are framed by their length field alone and counted ``unsupported_apid``.
    header_window: the most bytes tolerated between two packets (§2: 12 + 18, plus 18 for KISS).
    """
    buf = np.asarray(buf, dtype=np.uint8)
    n = buf.size
    bad = {k: 0 for k in REASONS}
    cand = _header_candidates(buf)
    apid = ((buf[cand].astype(np.int64) & 0x07) << 8) | buf[cand + 1]
    total = buf[cand + 5].astype(np.int64) + LENGTH_OFFSET
    known = np.isin(apid, np.fromiter(lengths, dtype=np.int64, count=len(lengths)))
    length_ok = np.zeros(cand.size, dtype=bool)
    for a, ls in lengths.items():
        sel = apid == a
        length_ok[sel] = np.isin(total[sel], np.asarray(ls, dtype=np.int64))
    end = cand + total
    fits = (end <= n) & (total >= MIN_PACKET_BYTES)
    synced = np.zeros(cand.size, dtype=bool)
    ok = np.flatnonzero(fits)
    synced[ok] = (buf[end[ok] - 2] == SYNC[0]) & (buf[end[ok] - 1] == SYNC[1])
    framed = synced & (length_ok | ~known)
    acc = np.flatnonzero(framed)
    acc = _non_overlapping(cand[acc], end[acc], acc)
    starts, ends = cand[acc], end[acc]

    # Candidates outside accepted packets are what is left of damaged packets.
    covered = _inside(cand, starts, ends)
    leftover = np.flatnonzero(~covered & known)
    gap_starts = np.concatenate(([0], ends))
    gap_ends = np.concatenate((starts, [n]))
    gap_of = np.searchsorted(gap_starts, cand[leftover], side="right") - 1
    next_mark = np.empty(leftover.size, dtype=np.int64)
    if leftover.size:
        # room of a leftover header: up to the next leftover header in its gap, or the gap end
        nxt = np.append(cand[leftover][1:], n)
        same_gap = np.append(gap_of[1:] == gap_of[:-1], False)
        next_mark = np.where(same_gap, nxt, gap_ends[gap_of])
    room = next_mark - cand[leftover]
    l_bad = ~length_ok[leftover]
    l_trunc = ~l_bad & (room < total[leftover])
    bad["bad_length"] = int(l_bad.sum())
    bad["truncated"] = int(l_trunc.sum())
    bad["bad_sync"] = int((~l_bad & ~l_trunc).sum())

    # Stray runs: bytes of a gap before its first leftover header (the whole gap if none), and
    # bytes after what a leftover header claims (its length, the type's length when the length
    # field is bad) up to the next mark. A truncated header claims all its room, so a damaged
    # packet right after a truncated one is counted with it.
    first_mark = gap_ends.copy()
    if leftover.size:
        firsts = np.unique(gap_of, return_index=True)
        first_mark[firsts[0]] = cand[leftover][firsts[1]]
    lead = first_mark - gap_starts
    typical = np.array([min(lengths[a]) for a in apid[leftover]], dtype=np.int64) if leftover.size \
        else np.empty(0, dtype=np.int64)
    claim = np.minimum(room, np.where(l_bad, typical, total[leftover]))
    tail = room - claim
    stray = lead > header_window
    stray_tail = tail > header_window
    bad["stray_bytes"] = int(stray.sum() + stray_tail.sum())
    tolerated = np.where(stray, 0, lead).sum() + np.where(stray_tail, 0, tail).sum()
    unsupported = ~np.isin(apid[acc], np.fromiter(lengths, dtype=np.int64, count=len(lengths)))
    bad["unsupported_apid"] = int(unsupported.sum())
    keep = ~unsupported
    return Framing(starts[keep], (ends - starts)[keep], apid[acc][keep], bad, framing_bytes=int(tolerated),
                   stray_byte_count=int(lead[stray].sum() + tail[stray_tail].sum()))


def _inside(pos: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Whether each position lies inside one of the (sorted, disjoint) [start, end) spans."""
    if not starts.size:
        return np.zeros(pos.size, dtype=bool)
    i = np.searchsorted(starts, pos, side="right") - 1
    return (i >= 0) & (pos < ends[np.maximum(i, 0)])


def _non_overlapping(starts: np.ndarray, ends: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """`idx` with every candidate that starts inside an earlier accepted one removed (greedy)."""
    if starts.size < 2 or not np.any(starts[1:] < ends[:-1]):
        return idx
    keep = np.ones(starts.size, dtype=bool)
    last_end = -1
    for i in range(starts.size):  # only reached when candidates overlap (rare, see module doc)
        if starts[i] < last_end:
            keep[i] = False
        else:
            last_end = ends[i]
    return idx[keep]


def fletcher_ok(packets: np.ndarray) -> np.ndarray:
    """§4 check bytes of each packet (rows of equal length L) verified.

    Decision: the all-bytes form (Fletcher-16 mod 255 over bytes 0..L-3, check bytes included,
    gives A = B = 0), which the notes verified equal to the formula on the real packets and which
    also accepts a check byte written as 0 where the formula gives 255 (equal mod 255).
    """
    packets = np.asarray(packets)
    if packets.ndim != 2 or packets.shape[1] < 4:
        return np.zeros(packets.shape[0] if packets.ndim else 0, dtype=bool)
    m = packets.shape[1] - 2
    w = np.arange(m, 0, -1, dtype=np.float32)
    out = np.empty(packets.shape[0], dtype=bool)
    # After m bytes A = sum(b) and B = sum((m - i) * b_i), both mod 255. Every partial sum is an
    # integer below 255 * m * (m + 1) / 2 < 2**24 for m < 256, so float32 sums are exact.
    for lo in range(0, packets.shape[0], _CHUNK):
        body = packets[lo:lo + _CHUNK, :m].astype(np.float32)
        a = body.sum(axis=1, dtype=np.float64) % 255
        b = (body @ w).astype(np.float64) % 255
        out[lo:lo + _CHUNK] = (a == 0) & (b == 0)
    return out


def fletcher_sums(data: np.ndarray) -> tuple[int, int]:
    """Fletcher-16 (mod 255) sums A, B of one byte sequence (§4 step 1)."""
    d = np.asarray(data, dtype=np.int64)
    m = d.size
    return int(d.sum() % 255), int((d @ np.arange(m, 0, -1, dtype=np.int64)) % 255)


def check_bytes(data: np.ndarray) -> tuple[int, int]:
    """The check bytes cb0, cb1 the flight software writes after `data` (§4 step 2)."""
    a, b = fletcher_sums(data)
    cb0 = 255 - ((a + b) % 255)
    cb1 = 255 - ((a + cb0) % 255)
    return cb0, cb1
