"""Reading one raw telemetry file into per-type packet tables (notes §2-§8).

`read_file` frames the file (``framing``), verifies the check bytes, assigns each packet to a
flight model by its time stamp, decodes every packet type with its XTCE definition
(``xtce``) and corrects the times (``clock``). The result is one `Packets` table per kind
(``hk``, ``adcs``, ``log``, and the SCI segments ``sci_first`` / ``sci_continuation``, which
L0C reassembles), columns of equal length, plus the counts of every rejected candidate.

Decision: (§1) a packet's flight model is the one whose L0B time window (config) holds its raw
stamp; the windows do not overlap. The FM bits of HK byte 51 are kept (``fsw_flight_model``) but
do not decide, because MinXSS-2 reads 3 there (a mis-burn) and DAXSS also calls itself FM3.
Packets outside both windows are counted (``bad_packets_outside_window``) and skipped: a product
must say which spacecraft it describes (IDL keeps all packets when none is in the window).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from levelpipe.io.files import checked_size
from levelpipe.minxss import clock, framing, xtce
from levelpipe.minxss.errors import MinxssError
from levelpipe.minxss.settings import MinxssSettings

#: kind -> XTCE documents (the SCI document depends on the flight model, see FlightModelSettings)
DOCUMENTS = {"hk": ("hk",), "log": ("log",), "adcs": ("adcs1", "adcs2", "adcs3", "adcs4")}
KINDS = ("hk", "sci_first", "sci_continuation", "adcs", "log")
REASONS = framing.REASONS + ("outside_window",)
#: header and framing parameters not carried into the tables (constant, or folded into time)
_DROP = {"VERSION", "TYPE", "SEC_HDR_FLG", "PKT_LEN", "sync_word", "check_bytes", "time_seconds",
         "time_milliseconds", "PKT_APID", "SRC_SEQ_CTR", "SEQ_FLGS"}


@dataclass
class Packets:
    """Packets of one kind: equal-length columns (1-D, or 2-D for raw byte blocks)."""

    kind: str
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.columns["time"]) if "time" in self.columns else 0

    def take(self, rows: np.ndarray) -> "Packets":
        return Packets(self.kind, {k: v[rows] for k, v in self.columns.items()}, self.units, self.descriptions)

    @staticmethod
    def concat(kind: str, parts: list["Packets"]) -> "Packets":
        parts = [p for p in parts if len(p)]
        if not parts:
            return Packets(kind)
        names = list(dict.fromkeys(k for p in parts for k in p.columns))
        cols = {}
        for k in names:
            arrays = [p.columns[k] if k in p.columns else _fill_like(p, k, parts) for p in parts]
            cols[k] = np.concatenate(arrays)
        units = {k: v for p in parts for k, v in p.units.items()}
        desc = {k: v for p in parts for k, v in p.descriptions.items()}
        return Packets(kind, cols, units, desc)


def _fill_like(p: Packets, name: str, parts: list[Packets]) -> np.ndarray:
    ref = next(q.columns[name] for q in parts if name in q.columns)
    shape = (len(p),) + ref.shape[1:]
    if ref.dtype.kind == "f":
        return np.full(shape, np.nan, dtype=ref.dtype)
    if ref.dtype.kind in "US":
        return np.full(shape, "", dtype=ref.dtype)
    return np.zeros(shape, dtype=ref.dtype)


@dataclass
class FileRead:
    path: str
    packets: dict[str, Packets]
    bad: dict[str, int]
    decoded: int
    framing_bytes: int
    stray_bytes: int


def _lengths(settings: MinxssSettings) -> dict[int, tuple[int, ...]]:
    out: dict[int, set[int]] = {}
    names = [d for ds in DOCUMENTS.values() for d in ds] + [fm.sci_definition for fm in settings.flight_models.values()]
    for name in names:
        d = xtce.load(name)
        for apid in d.restricted_values("PKT_APID"):
            out.setdefault(apid, set()).update(d.lengths)
    return {a: tuple(sorted(ls)) for a, ls in out.items()}


def read_bytes(path: str | os.PathLike, settings: MinxssSettings) -> tuple[np.ndarray, int]:
    """The file's bytes (un-KISSed where its suffix says so) and its header window."""
    path = Path(path)
    cfg = settings.framing
    checked_size(path, cfg.max_file_bytes, MinxssError, "raw file", "framing.max_file_bytes")
    try:
        buf = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise MinxssError(f"cannot read raw file ({err.strerror})", path) from None
    kiss = path.suffix.lower() in cfg.kiss_suffixes
    if kiss:
        buf = framing.unkiss(buf)
    wide = kiss or cfg.ham_name_marker.lower() in path.name.lower()
    return buf, cfg.kiss_header_window_bytes if wide else cfg.header_window_bytes


def flight_model_of(gps_seconds: np.ndarray, settings: MinxssSettings) -> np.ndarray:
    """The flight model whose time window holds each raw stamp, 0 for none (see module doc)."""
    fm = np.zeros(gps_seconds.shape, dtype=np.int8)
    for k, f in settings.flight_models.items():
        sel = (gps_seconds >= f.window_start_gps_s.to_value("s")) & (gps_seconds <= f.window_end_gps_s.to_value("s"))
        fm[sel] = k
    return fm


def corrected_times(sec: np.ndarray, ms: np.ndarray, fm: np.ndarray, settings: MinxssSettings) -> np.ndarray:
    """UTC of raw stamps with the early-clock fix and the FM1 drift (§5), before per-type shifts."""
    t = clock.gps_to_utc(sec, ms)
    for k, f in settings.flight_models.items():
        sel = fm == k
        if not sel.any():
            continue
        t[sel] = t[sel] + clock.seconds_to_ns(clock.early_clock_offset_s(sec[sel], f))
        if f.clock_drift:
            t[sel] = t[sel] + clock.seconds_to_ns(clock.clock_drift_s(t[sel], f))
    return t


def read_file(path: str | os.PathLike, settings: MinxssSettings, file_index: int = 0) -> FileRead:
    """Every packet of one raw file, by kind, with the counts of rejected candidates."""
    buf, window = read_bytes(path, settings)
    lengths = _lengths(settings)
    fr = framing.find_packets(buf, lengths, header_window=window)
    bad = {k: 0 for k in REASONS}
    bad.update(fr.bad)
    n = fr.starts.size
    checks = np.zeros(n, dtype=bool)
    groups: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # length -> (rows, their bytes): gathered once
    for length in np.unique(fr.lengths):
        rows = np.flatnonzero(fr.lengths == length)
        groups[int(length)] = (rows, fr.packets(buf, rows, int(length)))
        checks[rows] = framing.fletcher_ok(groups[int(length)][1])
    bad["bad_checksum"] = int((~checks).sum())
    keep = checks | settings.framing.keep_bad_checksum
    # raw stamps (§3, bytes 6-11 little-endian) decide the flight model
    sec = np.zeros(n, dtype=np.int64)
    ms = np.zeros(n, dtype=np.int64)
    if n:
        b = buf[fr.starts[:, None] + np.arange(12)[None, :]].astype(np.int64)
        sec = b[:, 6] | (b[:, 7] << 8) | (b[:, 8] << 16) | (b[:, 9] << 24)
        ms = b[:, 10] | (b[:, 11] << 8)
    fm = flight_model_of(sec + ms / 1000.0, settings)
    bad["outside_window"] = int((keep & (fm == 0)).sum())
    keep &= fm != 0
    t0 = corrected_times(sec, ms, fm, settings)

    tables: dict[str, list[Packets]] = {k: [] for k in KINDS}
    for kind, docs in DOCUMENTS.items():
        for doc in docs:
            tables[kind] += _decode_doc(doc, kind, groups, fr, keep, checks, fm, t0, sec, ms, file_index)
    for k, f in settings.flight_models.items():
        for part in _decode_doc(f.sci_definition, "sci", groups, fr, keep & (fm == k), checks, fm, t0, sec, ms,
                                file_index):
            tables[part.kind].append(part)
    out = {k: Packets.concat(k, v) for k, v in tables.items()}
    _apply_shifts(out, settings)
    decoded = sum(len(p) for p in out.values())
    return FileRead(str(path), out, bad, decoded, fr.framing_bytes, fr.stray_byte_count)


def _decode_doc(doc: str, kind: str, groups, fr, keep, checks, fm, t0, sec, ms, file_index) -> list[Packets]:
    d = xtce.load(doc)
    apids = np.fromiter(d.restricted_values("PKT_APID"), dtype=np.int64)
    parts = []
    for length in d.lengths:
        if length not in groups:
            continue
        group_rows, group_bytes = groups[length]
        mine = keep[group_rows] & np.isin(fr.apids[group_rows], apids)
        if not mine.any():
            continue
        rows = group_rows[mine]
        for g in d.decode(group_bytes if mine.all() else group_bytes[mine]):
            r = rows[g.rows]
            cols: dict[str, np.ndarray] = {
                "time": t0[r], "packet_time_gps": sec[r] + ms[r] / 1000.0,
                "apid": fr.apids[r].astype(np.int16), "seq_count": g.values["SRC_SEQ_CTR"].raw.astype(np.int16),
                "seq_flags": g.values["SEQ_FLGS"].raw.astype(np.int8), "checksum_ok": checks[r],
                "flight_model": fm[r], "source_file": np.full(r.size, file_index, dtype=np.int32),
                "source_offset": fr.starts[r].astype(np.int64)}
            units, desc = {}, {}
            for name, v in g.values.items():
                if name in _DROP or name.startswith("xact_bytes_") or name == "adcs_fm1_padding":
                    continue
                val = v.value
                if kind == "adcs" and name not in ("adcs_group",) and val.ndim == 1:
                    val = val.astype(np.float64)  # per-type ADCS fields: NaN where another ADCS type
                cols[name] = val
                units[name] = v.parameter.unit
                desc[name] = v.parameter.description
            sub = kind
            if kind == "sci":
                sub = "sci_first" if g.layout.name == "SCIFirstSegment" else "sci_continuation"
            parts.append(Packets(sub, cols, units, desc))
    return parts


def _apply_shifts(tables: dict[str, Packets], settings: MinxssSettings) -> None:
    """§5: move stamps to mid-sample (R1:525, 1010, 889)."""
    ts = settings.time
    for kind, shift in (("hk", ts.hk_shift_s), ("adcs", ts.adcs_shift_s), ("log", ts.log_shift_s)):
        if len(tables[kind]):
            tables[kind].columns["time"] = tables[kind].columns["time"] + clock.seconds_to_ns(shift.to_value("s"))
    first = tables["sci_first"]
    if len(first):
        real_s = first.columns["x123_real_time"].astype(np.float64) / 1000.0
        first.columns["time"] = first.columns["time"] + clock.seconds_to_ns(ts.sci_real_time_fraction * real_s)
    hk = tables["hk"]
    if len(hk):
        # Decision: (Q13) IDL's int16((b178 << 6) + (b179 << 14)) / 256 of the little-endian word v is the
        # 16-bit wrap of 64 * v, over 256. Provisional: the team doubts the formula (R1:678-683).
        v = hk.columns["sps_xps_pwr_temp_raw"].astype(np.int64)
        wrapped = ((v * 64) & 0xFFFF)
        wrapped = np.where(wrapped >= 0x8000, wrapped - 0x10000, wrapped)
        hk.columns["sps_xps_pwr_temp"] = wrapped / 256.0
        hk.units["sps_xps_pwr_temp"] = "degC"
        hk.descriptions["sps_xps_pwr_temp"] = "SPS/XP power-board temperature (IDL formula, provisional: Q13)"


def kind_of_apid(settings: MinxssSettings) -> dict[int, str]:
    """APID (playback included) -> product type (hk, sci, adcs, log), from the definitions."""
    out = {}
    for kind, docs in DOCUMENTS.items():
        for doc in docs:
            out.update({a: kind for a in xtce.load(doc).restricted_values("PKT_APID")})
    for f in settings.flight_models.values():
        out.update({a: "sci" for a in xtce.load(f.sci_definition).restricted_values("PKT_APID")})
    return out


def _field_byte_offset(doc: str, layout: str, name: str) -> int:
    for lay in xtce.load(doc).layouts:
        if lay.name == layout:
            for e in lay.entries:
                if e.parameter.name == name:
                    return e.bit_offset // 8
    raise KeyError(f"{doc}: no {name} in {layout}")


def scan_days(path: str | os.PathLike, settings: MinxssSettings) -> tuple[dict[str, set[str]], set[str]]:
    """Which UTC days hold packets of which type in a raw file, from a framing pass and the time
    stamps only (no field decoded, no check bytes verified): the index's cheap look.

    Returns ({day: types}, near): the types by the same corrected times L0C computes (clock
    fixes and §5 shifts; SCI counted by its first segments, whose record time is
    stamp - real_time / 2), and the days within ``time.index_margin_s`` of any packet, which
    the file must also feed (a record's continuation segments, or neighbours for L0D)."""
    buf, window = read_bytes(path, settings)
    fr = framing.find_packets(buf, _lengths(settings), header_window=window)
    if not fr.starts.size:
        return {}, set()
    b = buf[fr.starts[:, None] + np.arange(2, 12)[None, :]].astype(np.int64)
    flags = b[:, 0] >> 6
    sec = b[:, 4] | (b[:, 5] << 8) | (b[:, 6] << 16) | (b[:, 7] << 24)
    ms = b[:, 8] | (b[:, 9] << 8)
    fm = flight_model_of(sec + ms / 1000.0, settings)
    inside = fm != 0
    if not inside.any():
        return {}, set()
    t = corrected_times(sec, ms, fm, settings)
    kinds = kind_of_apid(settings)
    kind = np.array([kinds.get(int(a), "") for a in fr.apids])
    ts = settings.time
    shift = np.zeros(t.size)
    for k, v in (("hk", ts.hk_shift_s), ("adcs", ts.adcs_shift_s), ("log", ts.log_shift_s)):
        shift[kind == k] = v.to_value("s")
    first = (kind == "sci") & ((flags & 1) == 1)
    for k, f in settings.flight_models.items():
        sel = first & (fm == k)
        if sel.any():
            off = _field_byte_offset(f.sci_definition, "SCIFirstSegment", "x123_real_time")
            rt = buf[fr.starts[sel][:, None] + off + np.arange(4)[None, :]].astype(np.int64)
            real = rt[:, 0] | (rt[:, 1] << 8) | (rt[:, 2] << 16) | (rt[:, 3] << 24)
            shift[sel] = ts.sci_real_time_fraction * real / 1000.0
    t = t + clock.seconds_to_ns(shift)
    counted = inside & ((kind != "") & ((kind != "sci") | first))
    out: dict[str, set[str]] = {}
    days = t.astype("datetime64[D]")
    for d, k in set(zip(days[counted].astype(str), kind[counted])):
        out.setdefault(d, set()).add(str(k))
    margin = clock.seconds_to_ns(ts.index_margin_s.to_value("s"))
    near = set(np.unique(np.concatenate([(t[inside] - margin).astype("datetime64[D]"),
                                         (t[inside] + margin).astype("datetime64[D]")])).astype(str))
    return out, near
