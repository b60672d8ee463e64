"""Vectorised decoder of FOXSI GSE (`.dat`) and WSMR (`.log`) telemetry files.

The whole file is one numpy byte array. Frames are found by searching for the start sync word
0xF628 at every byte offset (both word parities) and accepting a candidate when the end sync
0xEB90 sits 255 words later and the checksum agrees - never by fixed offsets, so dropped or
inserted bytes cost only the frames they touch. Byte order is detected per file from the sync
words. Everything that is not an intact frame is counted by kind (formats.FAULT_KINDS) from
the candidates that failed and from the byte gaps and frame-counter jumps between good frames.
No Python loop runs per frame.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from levelpipe.errors import FoxsiError
from levelpipe.foxsi import formats as fmt

_NATIVE_LITTLE = np.little_endian
_CK, _LEN, _CUT = 0, 1, 2  # kinds of failed sync candidates


@dataclass
class DecodedFile:
    """Intact frames of one telemetry file.

    frames: (n, 256) uint16 formatter frames, native byte order, in file order.
    offset: byte offset of each record in the file. counter: 32-bit frame counter.
    wsmr_time_us: WSMR time tag (us since 00:00 UTC of the launch day) or None for GSE files.
    faults: {kind: number of bad frames}; counter_resets: backward or huge counter jumps.
    """

    path: Path
    file_type: fmt.FileType
    byteorder: str
    n_bytes: int
    frames: np.ndarray
    offset: np.ndarray
    counter: np.ndarray
    wsmr_time_us: np.ndarray | None
    faults: dict = field(default_factory=dict)
    unframed_bytes: int = 0
    counter_resets: int = 0


def _word_hits(buf: np.ndarray, value_bytes: tuple[int, int]) -> np.ndarray:
    """Byte offsets where the two bytes `value_bytes` occur, at both word parities, sorted."""
    n = buf.size
    native = (value_bytes[0] | (value_bytes[1] << 8)) if _NATIVE_LITTLE else ((value_bytes[0] << 8) | value_bytes[1])
    hits = []
    for parity in (0, 1):
        m = (n - parity) // 2
        if m <= 0:
            continue
        w = buf[parity: parity + 2 * m].view(np.uint16)
        hits.append(np.flatnonzero(w == native) * 2 + parity)
    return np.sort(np.concatenate(hits)) if hits else np.zeros(0, np.int64)


def _sync_bytes(word: int, order: str) -> tuple[int, int]:
    hi, lo = word >> 8, word & 0xFF
    return (hi, lo) if order == "big" else (lo, hi)


def _pairs(buf: np.ndarray, starts: np.ndarray, order: str) -> np.ndarray:
    """Which start-sync offsets have the end sync 255 words later."""
    end = starts + (fmt.W_SYNC_END * fmt.WORD_BYTES)
    ok = end + 1 < buf.size
    e0, e1 = _sync_bytes(fmt.SYNC_END, order)
    out = np.zeros(starts.size, dtype=bool)
    idx = end[ok]
    out[ok] = (buf[idx] == e0) & (buf[idx + 1] == e1)
    return out


def detect_byteorder(buf: np.ndarray, sniff_bytes: int, path=None) -> str:
    """'big' or 'little': the order in which more start syncs pair with an end sync.

    Decision: byte order is a property of the file, decided once from the first `sniff_bytes`
    (the whole file if that finds no frame); frames of the other order in the same file would
    be counted as sync losses.
    """
    for view in (buf[:sniff_bytes], buf):
        score = {}
        for order in ("big", "little"):
            starts = _word_hits(view, _sync_bytes(fmt.SYNC_START, order))
            score[order] = int(_pairs(view, starts, order).sum())
        if max(score.values()) > 0:
            return "big" if score["big"] >= score["little"] else "little"
    raise FoxsiError("no FOXSI frame (F628 ... EB90) found in either byte order", path, "byte 0")


def _gather(buf: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """(len(starts), length) uint8 copy of the records at `starts`."""
    if starts.size == 0:
        return np.zeros((0, length), np.uint8)
    steps = np.diff(starts)
    if steps.size and (steps == length).all() or starts.size == 1:
        s0 = int(starts[0])
        return buf[s0: s0 + length * starts.size].reshape(starts.size, length)
    rows = np.lib.stride_tricks.as_strided(buf, shape=(buf.size - length + 1, length), strides=(1, 1))
    return rows[starts]


def decode_file(path: str | os.PathLike, byteorder: str = "auto", sniff_bytes: int = 1 << 20,
                max_missing_run: int = 1 << 20) -> DecodedFile:
    """Find, check and extract every intact frame of a telemetry file; count the rest by kind.

    byteorder: "auto" (detect), "big" or "little". A forward frame-counter jump larger than
    `max_missing_run` or a backward step is a counter reset, not missing frames.
    """
    path = Path(path)
    ftype = fmt.file_type_for(path)
    buf = np.fromfile(path, dtype=np.uint8)
    return decode_bytes(buf, ftype, path, byteorder, sniff_bytes, max_missing_run)


def decode_bytes(buf: np.ndarray, ftype: fmt.FileType, path=None, byteorder: str = "auto",
                 sniff_bytes: int = 1 << 20, max_missing_run: int = 1 << 20) -> DecodedFile:
    """`decode_file` on bytes already in memory (uint8 array)."""
    if byteorder == "auto":
        byteorder = detect_byteorder(buf, sniff_bytes, path)
    elif byteorder not in ("big", "little"):
        raise FoxsiError(f"byteorder must be auto, big or little, not {byteorder!r}", path)
    pre = ftype.prefix_words * fmt.WORD_BYTES
    rec = ftype.record_bytes
    sync = _word_hits(buf, _sync_bytes(fmt.SYNC_START, byteorder))
    paired = _pairs(buf, sync, byteorder) & (sync >= pre)
    cand = sync[paired] - pre  # record starts
    recs = _gather(buf, cand, rec)
    words = recs.view(np.uint16)
    if (byteorder == "big") == _NATIVE_LITTLE:
        words = words.byteswap()
    frames = words[:, ftype.prefix_words:]
    # 253 words x 0xFFFF < 2**32: a uint32 accumulator is exact and faster than uint64.
    ok = (frames[:, fmt.CHECKSUM_WORDS].sum(axis=1, dtype=np.uint32) & 0xFFFF) == frames[:, fmt.W_CHECKSUM]
    good = np.flatnonzero(ok)
    # Two checksummed frames cannot overlap; if a false sync inside a frame ever passes all
    # tests, keep the earlier frame (loop only over such conflicts, which are essentially never).
    gstart = cand[good]
    clash = np.flatnonzero(np.diff(gstart) < rec)
    if clash.size:
        keep = np.ones(good.size, bool)
        last_end = -1
        for i in range(good.size):
            if gstart[i] < last_end:
                keep[i] = False
            else:
                last_end = gstart[i] + rec
        good, gstart = good[keep], gstart[keep]
    words = words[good]
    frames = words[:, ftype.prefix_words:]
    counter = (frames[:, fmt.W_COUNTER_HI].astype(np.int64) << 16) | frames[:, fmt.W_COUNTER_LO]
    wsmr = None
    if ftype.prefix_words:
        w = words[:, : ftype.prefix_words].astype(np.int64)
        wsmr = (w[:, 0] << 32) | (w[:, 1] << 16) | w[:, 2]

    # Failed candidates that lie outside every good frame: damaged frames (checksum), start
    # syncs with no end sync (bad length) and start syncs whose end would lie past the end of
    # the file (truncated). Starts closer than half a record to an earlier failed start are
    # data words that happen to equal F628, not another frame.
    sync_bad = sync[~paired]
    cut = sync_bad + fmt.W_SYNC_END * fmt.WORD_BYTES + 1 >= buf.size
    bad = np.concatenate([cand[~ok], sync_bad[~cut] - pre, sync_bad[cut] - pre])
    bad_kind = np.concatenate([np.full((~ok).sum(), _CK, np.int8), np.full((~cut).sum(), _LEN, np.int8),
                               np.full(cut.sum(), _CUT, np.int8)])
    order = np.argsort(bad, kind="stable")
    bad, bad_kind = bad[order], bad_kind[order]
    if gstart.size and bad.size:
        inside = np.searchsorted(gstart, bad, side="right") - 1
        in_good = (inside >= 0) & (bad < gstart[np.maximum(inside, 0)] + rec)
        bad, bad_kind = bad[~in_good], bad_kind[~in_good]
    if bad.size:
        keep = np.ones(bad.size, bool)
        keep[1:] = np.diff(bad) >= rec // 2
        bad, bad_kind = bad[keep], bad_kind[keep]
    bad = np.maximum(bad, 0)

    # Gaps: before the first frame, between frames, after the last.
    edges_lo = np.concatenate([[0], gstart + rec])
    edges_hi = np.concatenate([gstart, [buf.size]])
    gap = edges_hi - edges_lo
    slot = np.minimum(np.searchsorted(edges_hi, bad, side="right"), gap.size - 1)
    n_bad = [np.bincount(slot[bad_kind == k], minlength=gap.size) for k in (_CK, _LEN, _CUT)]
    n_any = n_bad[0] + n_bad[1] + n_bad[2]
    present = np.rint(gap / rec).astype(np.int64)
    faults = {k: 0 for k in fmt.FAULT_KINDS}
    faults["checksum"] = int(n_bad[_CK].sum())
    faults["bad_length"] = int(n_bad[_LEN].sum())
    faults["truncated"] = int(n_bad[_CUT].sum())
    # Decision: the frame counter is 32 bits and differences are taken modulo 2**32, so a wrap is
    # continuous; a step of 0, backwards, or forwards by more than max_missing_run is a counter
    # reset (formatter restart) and counted as such, not as missing frames.
    resets = 0
    if counter.size:
        dc = (counter[1:] - counter[:-1]) % (1 << 32)
        reset = (dc == 0) | (dc > max_missing_run)
        resets = int(reset.sum())
        missing = np.where(reset, 0, np.maximum(dc - 1 - present[1:-1], 0))
        faults["missing"] = int(missing.sum())
    # Decision: at the start of the file, bytes before the first recognisable frame that are not
    # a whole number of records are a frame cut by the start of the recording (truncated); at
    # the end, a start sync whose frame runs past the end of file is truncated, and a tail
    # shorter than half a record with no sync at all (cut in the WSMR time tag) is too.
    head_bad = bad[slot == 0]
    lead = int(head_bad[0]) if head_bad.size else int(gap[0])
    full, part = divmod(lead, rec)
    present[0] = full + int(n_any[0])
    faults["truncated"] += int(part > 0)
    if gap.size > 1 or not head_bad.size:
        t = gap.size - 1
        tail_cut = bad[(slot == t) & (bad_kind == _CUT)]
        body = (int(tail_cut[0]) - int(edges_lo[t])) if tail_cut.size else int(gap[t])
        if t > 0:
            present[t] = int(np.rint(body / rec)) + int(n_bad[_CUT][t])
            if not tail_cut.size and 0 < body < rec // 2:
                faults["truncated"] += 1
    faults["sync_loss"] = int(np.maximum(present - n_any, 0).sum())
    return DecodedFile(path=Path(path) if path else None, file_type=ftype, byteorder=byteorder,
                       n_bytes=int(buf.size), frames=np.ascontiguousarray(frames), offset=gstart,
                       counter=counter, wsmr_time_us=wsmr, faults=faults,
                       unframed_bytes=int(gap.sum()), counter_resets=resets)
