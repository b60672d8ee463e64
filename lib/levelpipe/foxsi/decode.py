"""Vectorised decoder of FOXSI GSE (``.dat``) and WSMR (``.log``) telemetry.

The FOXSI team's IDL pipeline cuts a file into records at fixed offsets and checks neither sync
nor checksum (research notes §1a.5, §4): one dropped byte shifts every later frame.
Decision (fix of §4): this decoder instead

- searches the start sync F628 at every byte offset (both word parities), so dropped or
  inserted bytes cost only the frames they touch;
- accepts a record when the end sync EB90 sits where the record length puts it (255 words after
  F628 in a ``.dat`` frame, 258 in a ``.log`` record, §1a.2-3) and the XOR of the 256 formatter
  words is 0 (§1a.5; in a ``.log`` record the three ground-station words are outside it);
- detects the byte order from the sync words;
- counts everything else by kind (``layout.FAULT_KINDS``) from the failed candidates, the byte
  gaps between good frames and the frame counter, and drops repeated frames.

The file is read in chunks (``decode.chunk_bytes``), so memory is bounded by the chunk and by what
is kept (the 23 header words of each frame and the blocks of detectors that have an event), never
by the number of sync-like words in a hostile file. No Python loop runs per frame; the only
loops run per chunk and over overlapping candidates, which real files essentially never have.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from levelpipe.errors import FoxsiError
from levelpipe.foxsi import layout as L

_LITTLE_HOST = np.little_endian
_FAILED, _UNPAIRED, _CUT = 0, 1, 2  # kinds of sync hits that did not become frames


@dataclass
class DecodeLimits:
    """The decoder's settings as plain numbers (see ``FoxsiSettings.decode``)."""

    byteorder: str = "auto"
    sniff_bytes: int = 1 << 20
    chunk_bytes: int = 8 << 20
    slot_tolerance_bytes: int = 16
    max_missing_run: int = 1 << 20
    max_overlap_rounds: int = 8
    min_decoded_fraction: float = 0.01

    @classmethod
    def from_settings(cls, s) -> "DecodeLimits":
        return cls(byteorder=s.byteorder, sniff_bytes=s.sniff_bytes, chunk_bytes=s.chunk_bytes,
                   slot_tolerance_bytes=s.slot_tolerance_bytes, max_missing_run=s.max_missing_run,
                   max_overlap_rounds=s.max_overlap_rounds, min_decoded_fraction=s.min_decoded_fraction)


@dataclass
class Telemetry:
    """The intact, distinct frames of one telemetry file, in file order.

    header: (n, 23) uint16, formatter words 0..22 (native order); wsmr: (n, 3) uint16 ground-station
    words A, B, C of ``.log`` records, else None; offset: byte offset of each record;
    events[d] = (frame index (m,), block words (m, 33) uint16) of the frames in which detector d
    has an event (§2a.4). faults: bad frames by kind; counter_resets: counter steps that are not
    forward by at most ``max_missing_run``; bytes_outside_frames: bytes not in a kept frame.
    """

    path: Path | None
    kind: str
    byteorder: str
    n_bytes: int
    offset: np.ndarray
    header: np.ndarray
    wsmr: np.ndarray | None
    events: list[tuple[np.ndarray, np.ndarray]]
    faults: dict[str, int] = field(default_factory=dict)
    counter_resets: int = 0
    bytes_outside_frames: int = 0

    @property
    def n_frames(self) -> int:
        return int(self.offset.size)

    @property
    def counter(self) -> np.ndarray:
        hi, lo = L.W_COUNTER
        return (self.header[:, hi].astype(np.int64) << 16) | self.header[:, lo]

    @property
    def clock(self) -> np.ndarray:
        """48-bit frame clock, 10 MHz ticks (§1b), as int64."""
        a, b, c = L.W_CLOCK
        h = self.header
        return (h[:, a].astype(np.int64) << 32) | (h[:, b].astype(np.int64) << 16) | h[:, c]

    @property
    def framed(self) -> int:
        """Frames whose bytes are in the file: decoded plus every damaged or repeated one."""
        return self.n_frames + sum(v for k, v in self.faults.items() if k != "missing")


def kind_for(path: str | os.PathLike) -> str:
    """"gse" or "wsmr" from the file suffix (§1a.2-3), as the team's tools do."""
    suffix = Path(path).suffix.lower()
    if suffix not in L.SUFFIX_KIND:
        raise FoxsiError(f"unknown telemetry file type {suffix or '(none)'!r} (expected .dat GSE frames or "
                         ".log WSMR records)", path)
    return L.SUFFIX_KIND[suffix]


# ----------------------------------------------------------------------------- byte patterns

def _bytes_of(word: int, order: str) -> tuple[int, int]:
    hi, lo = word >> 8, word & 0xFF
    return (hi, lo) if order == "big" else (lo, hi)


def _as_host_word(b0: int, b1: int) -> np.uint16:
    """The host uint16 whose memory bytes are b0, b1 (so a uint16 view can be compared to it)."""
    return np.uint16(b0 | (b1 << 8)) if _LITTLE_HOST else np.uint16((b0 << 8) | b1)


def _find(buf: np.ndarray, pair: tuple[int, int], limit: int) -> np.ndarray:
    """Sorted offsets p < limit at which buf[p], buf[p+1] == pair (both word parities)."""
    target = _as_host_word(*pair)
    found = []
    for parity in (0, 1):
        m = min((buf.size - parity) // 2, (limit - parity + 1) // 2)
        if m <= 0:
            continue
        words = buf[parity: parity + 2 * m].view(np.uint16)
        found.append(np.flatnonzero(words == target) * 2 + parity)
    if not found:
        return np.zeros(0, np.int64)
    out = np.concatenate(found)
    out.sort(kind="stable")
    return out


def _paired(buf: np.ndarray, starts: np.ndarray, rec: int, order: str) -> tuple[np.ndarray, np.ndarray]:
    """(complete, paired): the record fits in `buf`; and its end sync is in place."""
    complete = starts + rec <= buf.size
    e0, e1 = _bytes_of(L.SYNC_END, order)
    end = starts[complete] + rec - L.WORD_BYTES
    paired = np.zeros(starts.size, bool)
    paired[complete] = (buf[end] == e0) & (buf[end + 1] == e1)
    return complete, paired


def _gather(buf: np.ndarray, starts: np.ndarray, rec: int) -> np.ndarray:
    """(len(starts), rec) uint8 copy of the records at `starts` (all complete)."""
    if starts.size == 0:
        return np.zeros((0, rec), np.uint8)
    if starts.size > 1 and (np.diff(starts) == rec).all():
        s0 = int(starts[0])
        return buf[s0: s0 + rec * starts.size].reshape(starts.size, rec).copy()
    rows = np.lib.stride_tricks.as_strided(buf, shape=(buf.size - rec + 1, rec), strides=(1, 1),
                                           writeable=False)
    return rows[starts]


def _xor_ok(recs: np.ndarray, kind: str) -> np.ndarray:
    """Records whose formatter words XOR to 0 (§1a.5). XOR acts byte by byte, so the test is the
    same in either byte order; for WSMR records the three ground-station words are taken out.

    Decision (fix of §4): every record is checked (IDL checks none; gse only the first frame of
    each 4-frame block).
    """
    if recs.shape[0] == 0:
        return np.zeros(0, bool)
    if kind == "gse":
        lanes = np.bitwise_xor.reduce(recs.view(np.uint64), axis=1).view(np.uint16).reshape(-1, 4)
        return (lanes[:, 0] ^ lanes[:, 1] ^ lanes[:, 2] ^ lanes[:, 3]) == 0
    w = recs.view(np.uint16)
    total = np.bitwise_xor.reduce(w, axis=1)
    return (total ^ w[:, 1] ^ w[:, 2] ^ w[:, 3]) == 0


def _greedy(starts: np.ndarray, rec: int) -> np.ndarray:
    """Greedy non-overlapping selection of sorted record starts (first come first kept).

    Real files have no overlapping candidates, so the common path is one comparison; the loop runs
    only over the chosen records inside clusters of overlapping ones.
    """
    sel = np.ones(starts.size, bool)
    if starts.size < 2:
        return sel
    close = np.flatnonzero(np.diff(starts) < rec)
    if close.size == 0:
        return sel
    nxt = np.searchsorted(starts, starts + rec, side="left")
    brk = np.flatnonzero(np.diff(close) > 1)
    first = np.concatenate([close[:1], close[brk + 1]])
    last = np.concatenate([close[brk], close[-1:]]) + 1
    for a, b in zip(first.tolist(), last.tolist()):
        sel[a: b + 1] = False
        i = a
        while i <= b:
            sel[i] = True
            i = int(nxt[i])
    return sel


def _inside(points: np.ndarray, starts: np.ndarray, rec: int) -> np.ndarray:
    """Which `points` lie inside one of the records at sorted `starts`."""
    if starts.size == 0 or points.size == 0:
        return np.zeros(points.size, bool)
    j = np.searchsorted(starts, points, side="right") - 1
    return (j >= 0) & (points < starts[np.maximum(j, 0)] + rec)


def _overlaps(windows: np.ndarray, starts: np.ndarray, rec: int) -> np.ndarray:
    """Which records at `windows` overlap one of the records at sorted `starts`."""
    if starts.size == 0 or windows.size == 0:
        return np.zeros(windows.size, bool)
    j = np.searchsorted(starts, windows, side="right")
    before = (j > 0) & (windows < starts[np.maximum(j - 1, 0)] + rec)
    after = (j < starts.size) & (starts[np.minimum(j, starts.size - 1)] < windows + rec)
    return before | after


def _thin(points: np.ndarray, bin_bytes: int) -> np.ndarray:
    """The first of the sorted `points` in each `bin_bytes` bin: a frame start is never closer than
    a record to the next, so this bounds what is stored without losing a start that matters."""
    if points.size < 2:
        return points
    b = points // bin_bytes
    keep = np.ones(points.size, bool)
    keep[1:] = b[1:] != b[:-1]
    return points[keep]


# ----------------------------------------------------------------------------- reading

class _Reader:
    """The file in chunks; each chunk carries `overlap` extra bytes so records that start in it
    can be read whole. One buffer is reused for every chunk read from a file (fresh pages for
    every chunk cost more system time than the decoding itself); nothing keeps a view of it."""

    def __init__(self, path: Path | None, data: np.ndarray | None):
        self.path, self.data = path, data
        self.size = int(data.size) if data is not None else path.stat().st_size
        self._buf: np.ndarray | None = None

    def read(self, start: int, n: int) -> np.ndarray:
        n = max(0, min(n, self.size - start))
        if self.data is not None:
            return self.data[start: start + n]
        if self._buf is None or self._buf.size < n:
            self._buf = np.empty(n, np.uint8)
        with open(self.path, "rb") as f:
            f.seek(start)
            got = f.readinto(memoryview(self._buf)[:n])
        return self._buf[:got]


def _count_pairs(reader: _Reader, rec: int, order: str, start: int, stop: int, chunk: int) -> int:
    found = 0
    pos = start
    while pos < stop:
        own = min(chunk, stop - pos)
        buf = reader.read(pos, own + rec - 1)
        hits = _find(buf, _bytes_of(L.SYNC_START, order), own)
        found += int(_paired(buf, hits, rec, order)[1].sum())
        pos += own
    return found


def detect_byteorder(reader: _Reader, kind: str, lim: DecodeLimits) -> str:
    """'little' or 'big': the order in which more start syncs have their end sync in place.

    Decision: the byte order is a property of the file, decided from its first `sniff_bytes`
    (the whole file when that holds no frame); a tie goes to little-endian, the order of every
    FOXSI reader (§1a.4).
    """
    rec = L.RECORD_WORDS[kind] * L.WORD_BYTES
    for stop in (min(reader.size, lim.sniff_bytes), reader.size):
        score = {o: _count_pairs(reader, rec, o, 0, stop, lim.chunk_bytes) for o in ("little", "big")}
        if max(score.values()) > 0:
            return "big" if score["big"] > score["little"] else "little"
    other = "wsmr" if kind == "gse" else "gse"
    orec = L.RECORD_WORDS[other] * L.WORD_BYTES
    stop = min(reader.size, lim.sniff_bytes)
    hint = ""
    if any(_count_pairs(reader, orec, o, 0, stop, lim.chunk_bytes) for o in ("little", "big")):
        hint = (f"; it holds {L.RECORD_WORDS[other]}-word records, "
                f"as a {'.log' if other == 'wsmr' else '.dat'} file does")
    raise FoxsiError(f"no FOXSI {L.RECORD_WORDS[kind]}-word record (F628 ... EB90) found in either byte "
                     f"order{hint}", reader.path, "byte 0")


# ----------------------------------------------------------------------------- decoding

def decode_file(path: str | os.PathLike, lim: DecodeLimits | None = None, kind: str | None = None) -> Telemetry:
    """Every intact, distinct frame of a telemetry file, and the bad ones counted by kind."""
    path = Path(path)
    kind = kind or kind_for(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise FoxsiError(f"cannot read ({err.strerror})", path) from None
    if size == 0:
        raise FoxsiError("empty file", path)
    return _decode(_Reader(path, None), kind, lim or DecodeLimits(), path)


def decode_bytes(data: bytes | np.ndarray, kind: str, lim: DecodeLimits | None = None,
                 path: str | os.PathLike | None = None) -> Telemetry:
    """`decode_file` on bytes in memory; `path` only names the data in errors."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        arr = np.frombuffer(data, np.uint8)
    else:
        arr = np.asarray(data, np.uint8)
    if arr.size == 0:
        raise FoxsiError("empty file", path)
    return _decode(_Reader(None, arr), kind, lim or DecodeLimits(), Path(path) if path else None)


def _decode(reader: _Reader, kind: str, lim: DecodeLimits, path: Path | None) -> Telemetry:
    if kind not in L.RECORD_WORDS:
        raise FoxsiError(f"unknown record kind {kind!r}", path)
    order = lim.byteorder if lim.byteorder != "auto" else detect_byteorder(reader, kind, lim)
    if order not in ("little", "big"):
        raise FoxsiError(f"byteorder must be auto, little or big, not {order!r}", path)
    rec = L.RECORD_WORDS[kind] * L.WORD_BYTES
    chunk = max(int(lim.chunk_bytes), 4 * rec)
    sync = _bytes_of(L.SYNC_START, order)

    accepted, failed, unpaired, cut = [], [], [], []
    headers, wsmrs = [], []
    event_rows = [[] for _ in range(L.N_DETECTORS)]
    event_words = [[] for _ in range(L.N_DETECTORS)]
    n_before = 0
    prev_end = 0
    pos = 0
    while pos < reader.size:
        own = min(chunk, reader.size - pos)
        buf = reader.read(pos, own + rec - 1)
        hits = _find(buf, sync, own)
        complete, paired = _paired(buf, hits, rec, order)
        cand = hits[paired]
        cand = cand[cand + pos >= prev_end]
        good_parts, good_recs, bad_parts = [], [], []
        pending = cand
        for _ in range(lim.max_overlap_rounds):
            if pending.size == 0:
                break
            sel = _greedy(pending, rec)
            tried = pending[sel]
            recs = _gather(buf, tried, rec)
            ok = _xor_ok(recs, kind)
            good_parts.append(tried[ok])
            good_recs.append(recs[ok])
            bad_parts.append(tried[~ok])
            rest = pending[~sel]
            # A candidate overlapping an accepted record is a data word that looks like F628;
            # one overlapping only failed records gets its own round.
            acc = np.sort(np.concatenate(good_parts))
            pending = rest[~_overlaps(rest, acc, rec)]
        # Decision: candidates still unchecked after max_overlap_rounds (only hostile files get
        # there) are not frames; they are counted with the records that failed the checksum.
        bad_parts.append(pending)
        good = np.concatenate(good_parts) if good_parts else np.zeros(0, np.int64)
        recs = np.concatenate(good_recs) if good_recs else np.zeros((0, rec), np.uint8)
        if len(good_parts) > 1:
            order_idx = np.argsort(good, kind="stable")
            good, recs = good[order_idx], recs[order_idx]
        bad = np.sort(np.concatenate(bad_parts)) if bad_parts else np.zeros(0, np.int64)
        bad = bad[_greedy(bad, rec)] if bad.size else bad
        bad = bad[~_overlaps(bad, good, rec)]
        lone = hits[complete & ~paired]
        short = hits[~complete]
        # (hits inside the previous chunk's last record go before thinning, or one of them could
        # take the place of the start of a damaged frame right after it)
        lone, short = lone[lone + pos >= prev_end], short[short + pos >= prev_end]
        inside = np.sort(np.concatenate([good, bad]))
        lone = _thin(lone[~_inside(lone, inside, rec)], rec // 2)
        short = _thin(short[~_inside(short, inside, rec)], rec // 2)
        accepted.append(good + pos)
        failed.append(bad + pos)
        unpaired.append(lone + pos)
        cut.append(short + pos)
        if good.size:
            prev_end = int(good[-1]) + pos + rec
            _extract(recs, kind, order, n_before, headers, wsmrs, event_rows, event_words)
            n_before += good.size
        pos += own

    acc = np.concatenate(accepted)
    header = np.concatenate(headers) if headers else np.zeros((0, L.HEADER_WORDS), np.uint16)
    wsmr = (np.concatenate(wsmrs) if wsmrs else np.zeros((0, 3), np.uint16)) if kind == "wsmr" else None
    events = [(np.concatenate(r) if r else np.zeros(0, np.int64),
               np.concatenate(w) if w else np.zeros((0, L.DET_BLOCK_WORDS), np.uint16))
              for r, w in zip(event_rows, event_words)]
    failed_all = np.concatenate(failed)
    failed_all = failed_all[~_overlaps(failed_all, acc, rec)]
    # Lone and cut start syncs inside a record of another chunk are data words, not frames.
    records = np.sort(np.concatenate([acc, failed_all]))
    lone, short = np.concatenate(unpaired), np.concatenate(cut)
    lone, short = lone[~_inside(lone, records, rec)], short[~_inside(short, records, rec)]
    tel = Telemetry(path=path, kind=kind, byteorder=order, n_bytes=reader.size, offset=acc, header=header,
                    wsmr=wsmr, events=events)
    _count_faults(tel, rec, failed_all, lone, short, lim)
    _check_enough(tel, lim)
    return tel


def _extract(recs: np.ndarray, kind: str, order: str, base: int, headers, wsmrs, event_rows, event_words) -> None:
    """Header words, WSMR words and the blocks of detectors with an event, in native order."""
    words = recs.view(np.dtype("<u2") if order == "little" else np.dtype(">u2"))
    cols = [L.record_word(kind, f) for f in range(L.HEADER_WORDS)]
    headers.append(words[:, cols].astype(np.uint16))
    if kind == "wsmr":
        wsmrs.append(words[:, 1: 1 + L.WSMR_PREFIX_WORDS].astype(np.uint16))
    c0 = L.record_word(kind, L.DET_BLOCK0)
    blocks = words[:, c0: c0 + L.N_DETECTORS * L.DET_BLOCK_WORDS].reshape(-1, L.N_DETECTORS, L.DET_BLOCK_WORDS)
    has = np.bitwise_or.reduce(blocks[:, :, : L.EVENT_TEST_WORDS], axis=2) != 0
    for d in range(L.N_DETECTORS):
        rows = np.flatnonzero(has[:, d])
        event_rows[d].append(rows + base)
        event_words[d].append(blocks[rows, d, :].astype(np.uint16))


def _count_faults(tel: Telemetry, rec: int, failed: np.ndarray, unpaired: np.ndarray, cut: np.ndarray,
                  lim: DecodeLimits) -> None:
    """Bad frames by kind, from the gaps between accepted records and the frame counter.

    Each gap between two accepted records holds round(gap / record) damaged frames ("slots"; a
    dropped or inserted byte leaves that number unchanged). A slot is a checksum fault when a
    failed record starts there, a bad_length fault when only a lone start sync does, and a sync
    loss when no start sync does. Slots are placed from both ends of the gap, so a damaged
    frame's start sync is found exactly at the end of the frame before it, and a data word that
    happens to equal F628 in the middle of a damaged frame does not count as a frame of its own.
    """
    acc = tel.offset
    size = tel.n_bytes
    tol = int(lim.slot_tolerance_bytes)
    faults = {k: 0 for k in L.FAULT_KINDS}

    # Duplicates: a frame whose clock, counter and content are those of an earlier frame.
    # Decision: clock and counter alone are not enough, since a restarted formatter may count
    # the same clock and counter again; the words kept (header and event blocks, i.e. all but
    # empty blocks and the checksum, which follows from the rest) must be equal as well.
    keep = np.ones(acc.size, bool)
    if acc.size > 1:
        clock, counter = tel.clock, tel.counter
        idx = np.arange(acc.size)
        o = np.lexsort((idx, counter, clock))
        same = (clock[o][1:] == clock[o][:-1]) & (counter[o][1:] == counter[o][:-1])
        starts = np.concatenate([[True], ~same])  # a new (clock, counter) in sorted order
        repeat = np.flatnonzero(~starts)
        if repeat.size:
            # each repeat is compared with the first frame of its (clock, counter) group
            group_first = o[starts][np.cumsum(starts)[repeat] - 1]
            later = o[repeat]
            keep[later[_same_content(tel, group_first, later)]] = False
    faults["duplicate"] = int((~keep).sum())

    hits = np.concatenate([failed, unpaired, cut])
    hit_kind = np.concatenate([np.full(failed.size, _FAILED), np.full(unpaired.size, _UNPAIRED),
                               np.full(cut.size, _CUT)]).astype(np.int8)
    if acc.size == 0:
        # Nothing decoded: the counts only explain the error below.
        faults["checksum"] = int(failed.size)
        faults["bad_length"] = int(_thin(np.sort(unpaired), rec).size)
        faults["truncated"] = int(cut.size > 0)
        tel.faults, tel.bytes_outside_frames = faults, size
        return

    # Gap g lies before accepted record g (g = 0: the head of the file; g = n: the tail).
    lo = np.concatenate([[0], acc + rec]).astype(np.int64)
    hi = np.concatenate([acc, [size]]).astype(np.int64)
    n_gaps = lo.size
    gap = hi - lo
    slots = np.rint(gap / rec).astype(np.int64)
    # Head: slots are aligned on the first good frame; what precedes them is a cut frame.
    head_slots = max((int(hi[0]) + tol) // rec, 0)
    head_lead = int(hi[0]) - head_slots * rec
    slots[0] = head_slots
    # Tail: slots aligned on the last good frame; a remainder is a frame cut by the end of file.
    tail_slots = max((int(gap[-1]) + tol) // rec, 0)
    tail_rest = int(gap[-1]) - tail_slots * rec
    slots[-1] = tail_slots
    truncated = int(head_lead > tol) + int(tail_rest > tol)

    # Match hits to slots.
    g = np.searchsorted(acc, hits, side="right")  # gap of each hit
    p = slots[g]
    k_front = np.rint((hits - lo[g]) / rec).astype(np.int64)
    dev_front = np.abs(hits - (lo[g] + k_front * rec))
    k_back = p - np.rint((hi[g] - hits) / rec).astype(np.int64)
    dev_back = np.abs(hits - (hi[g] - (p - k_back) * rec))
    use_front = (dev_front <= tol) & (k_front >= 0) & (k_front < p) & (g > 0)
    use_back = (dev_back <= tol) & (k_back >= 0) & (k_back < p) & (g < n_gaps - 1)
    k = np.where(use_front, k_front, k_back)
    matched = use_front | use_back
    # Decision: a slot's kind is that of the strongest evidence found in it: a failed record
    # (both syncs at the right distance) over a cut record (runs past the end of the file) over
    # a lone start sync; a slot with none is a sync loss.
    rank = np.array([0, 2, 1])[hit_kind]  # failed 0, cut 1, unpaired 2
    offsets = np.concatenate([[0], np.cumsum(slots)])
    key = offsets[g[matched]] + k[matched]
    best = np.full(int(offsets[-1]), 3, np.int8)
    np.minimum.at(best, key, rank[matched].astype(np.int8))
    faults["checksum"] = int((best == 0).sum())
    faults["truncated"] = truncated + int((best == 1).sum())
    faults["bad_length"] = int((best == 2).sum())
    faults["sync_loss"] = int((best == 3).sum())

    # Missing frames: counter steps between kept frames not accounted for by damaged frames in
    # between. Decision: the counter is 32 bits and steps are taken modulo 2**32 (a wrap is
    # continuous); a step of 0, backwards, or forward by more than max_missing_run is a counter
    # reset (a formatter restart), counted apart, not as missing frames.
    kept = np.flatnonzero(keep)
    counter = tel.counter[kept]
    dc = (counter[1:] - counter[:-1]) % (1 << 32)
    reset = (dc == 0) | (dc > lim.max_missing_run)
    between = offsets[kept[1:] + 1] - offsets[kept[:-1] + 1]  # slots in the gaps between two kept frames
    missing = np.where(reset, 0, np.maximum(dc - 1 - between, 0))
    faults["missing"] = int(missing.sum())
    tel.counter_resets = int(reset.sum())
    tel.faults = faults
    tel.bytes_outside_frames = int(size - acc.size * rec)
    if not keep.all():
        _drop(tel, keep)


def _same_content(tel: Telemetry, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether frames a[k] and b[k] hold the same words (header, and each detector's block)."""
    equal = (tel.header[a] == tel.header[b]).all(axis=1)
    for rows, words in tel.events:
        if rows.size == 0:
            continue  # neither frame has this detector's block
        last = rows.size - 1
        ia, ib = np.searchsorted(rows, a), np.searchsorted(rows, b)
        has_a = (ia < rows.size) & (rows[np.minimum(ia, last)] == a)
        has_b = (ib < rows.size) & (rows[np.minimum(ib, last)] == b)
        both = has_a & has_b
        same_block = np.ones(a.size, bool)
        if both.any():
            same_block[both] = (words[ia[both]] == words[ib[both]]).all(axis=1)
        equal &= (has_a == has_b) & same_block
    return equal


def _drop(tel: Telemetry, keep: np.ndarray) -> None:
    """Remove frames (and their detector events) where `keep` is False."""
    new_index = np.cumsum(keep) - 1
    tel.offset, tel.header = tel.offset[keep], tel.header[keep]
    if tel.wsmr is not None:
        tel.wsmr = tel.wsmr[keep]
    events = []
    for rows, words in tel.events:
        ok = keep[rows]
        events.append((new_index[rows[ok]], words[ok]))
    tel.events = events


def _check_enough(tel: Telemetry, lim: DecodeLimits) -> None:
    """A file that yields (almost) nothing fails loudly instead of giving empty products."""
    framed = tel.framed
    if tel.n_frames == 0 or tel.n_frames < lim.min_decoded_fraction * framed:
        counts = ", ".join(f"{k} {v}" for k, v in tel.faults.items() if v)
        raise FoxsiError(f"decoded {tel.n_frames} of {framed} framed records ({tel.kind}, {tel.byteorder}-endian;"
                         f" below {lim.min_decoded_fraction:.0%}); bad frames: {counts or 'none counted'}",
                         tel.path, "frames")
