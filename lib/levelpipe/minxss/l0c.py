"""Level 0C: one UTC day of packets per type, de-duplicated and time-sorted, SCI records
reassembled and X123 spectra decompressed (research notes §7, §10).

``l0c(files, day, settings=...)`` returns ``{"hk", "sci", "adcs", "log": xr.Dataset}`` for the
types the day has; ``write_l0c(ctx)`` writes ``results/minxss/l0c/<day>_<type>.nc``.

Decision: (Q11) duplicates (playback copies, the same packet in two ground files) are packets
with the same APID (playback bit 0x40 cleared), sequence count and corrected time; the copy with
good check bytes is kept, else the first read. ``l0c.dedup: time`` reproduces IDL's ``UNIQ`` on
time alone (its surviving copy was arbitrary; ours prefers good check bytes, then file order).

Decision: (§7 reassembly) a continuation segment belongs to the latest first segment before it
(same APID family) when its sequence count is the first's plus its group count (mod 2**14) and
its group count is within the expected number; that is IDL's "previous + 1" chain without
letting one lost segment orphan the rest. A record whose segments are not all there is kept,
flagged (``record_complete = 0``, ``segments_received``) and its spectrum left NaN (IDL drops it
whole, and its decompression of missing bytes returns zeros); counted ``bad_records_incomplete``.
"""
from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import xarray as xr

from levelpipe.io.variables import bad_count_attrs
from levelpipe.minxss import clock
from levelpipe.minxss.errors import MinxssError
from levelpipe.minxss.packets import KINDS, REASONS, FileRead, Packets, read_file
from levelpipe.minxss.settings import MinxssSettings

TYPES = ("hk", "sci", "adcs", "log")
RECORD_REASONS = ("incomplete", "bad_spect_len", "decompression_overrun", "orphan_segment")
#: §7 segment geometry: raw bytes in the first segment and in each continuation
FIRST_BYTES, CONT_BYTES = 168, 234
PLAYBACK_BIT = 0x40
SEQ_MODULO = 1 << 14


def day_bounds(day: str | _dt.date) -> tuple[np.datetime64, np.datetime64]:
    d = np.datetime64(str(day), "D")
    return d.astype("datetime64[ns]"), (d + 1).astype("datetime64[ns]")


def _dedup(p: Packets, mode: str) -> tuple[Packets, int]:
    if not len(p):
        return p, 0
    c = p.columns
    t = c["time"].astype(np.int64)
    good = ~c["checksum_ok"]  # False (= good) sorts first
    if mode == "time":
        order = np.lexsort((np.arange(t.size), good, t))
        key = t[order]
        first = np.ones(t.size, dtype=bool)
        first[1:] = key[1:] != key[:-1]
    else:
        apid = c["apid"].astype(np.int64) & ~PLAYBACK_BIT
        seq = c["seq_count"].astype(np.int64)
        order = np.lexsort((np.arange(t.size), good, seq, apid, t))
        first = np.ones(t.size, dtype=bool)
        first[1:] = (t[order][1:] != t[order][:-1]) | (apid[order][1:] != apid[order][:-1]) | \
                    (seq[order][1:] != seq[order][:-1])
    keep = np.sort(order[first])
    kept = p.take(keep)
    # time-sorted, stable (file order among equal times)
    idx = np.argsort(kept.columns["time"], kind="stable")
    return kept.take(idx), int(t.size - keep.size)


# ---------------------------------------------------------------- SCI records (§7)

def reassemble(first: Packets, cont: Packets, max_bytes: int) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Records from first and continuation segments (both de-duplicated).

    Returns per-record columns (the first segment's fields, plus ``raw`` (n, max_bytes) uint8,
    ``segments_expected``, ``segments_received``, ``record_complete``, ``checksum_ok`` of all
    segments) and the counts of record faults.
    """
    bad = {k: 0 for k in RECORD_REASONS}
    n = len(first)
    f = first.columns
    raw = np.zeros((n, max_bytes), dtype=np.uint8)
    spect_len = f["x123_spect_len"].astype(np.int64) if n else np.zeros(0, dtype=np.int64)
    n_cont_exp = np.maximum(0, -(-(spect_len - FIRST_BYTES) // CONT_BYTES))
    if n:
        raw[:, :FIRST_BYTES] = f["x123_spectrum_raw_first"]
    too_long = spect_len > max_bytes
    bad["bad_spect_len"] = int(too_long.sum())
    got = np.zeros(n, dtype=np.int64)
    ck = f["checksum_ok"].copy() if n else np.zeros(0, dtype=bool)
    last_seen = (f["seq_flags"] == 3) if n else np.zeros(0, dtype=bool)
    m = len(cont)
    if m and n:
        c = cont.columns
        ft = f["time"].astype(np.int64)
        order = np.argsort(ft, kind="stable")
        owner_pos = np.searchsorted(ft[order], c["time"].astype(np.int64), side="right") - 1
        valid = owner_pos >= 0
        owner = order[np.maximum(owner_pos, 0)]
        g = c["x123_group_count"].astype(np.int64)
        fam = lambda a: a.astype(np.int64) & ~PLAYBACK_BIT  # noqa: E731 - apid family
        valid &= fam(c["apid"]) == fam(f["apid"][owner])
        valid &= (c["seq_count"].astype(np.int64) - f["seq_count"][owner].astype(np.int64)) % SEQ_MODULO == g % SEQ_MODULO
        valid &= (g >= 1) & (g <= n_cont_exp[owner]) & ~too_long[owner]
        # one segment per (record, group): later duplicates are ignored
        key = owner * 65536 + g
        uniq_first = np.zeros(m, dtype=bool)
        vidx = np.flatnonzero(valid)
        _, first_of = np.unique(key[vidx], return_index=True)
        uniq_first[vidx[first_of]] = True
        bad["orphan_segment"] = int((~valid).sum())
        use = np.flatnonzero(uniq_first)
        np.add.at(got, owner[use], 1)
        np.logical_and.at(ck, owner[use], c["checksum_ok"][use])
        last_seen[owner[use]] |= (c["seq_flags"][use] == 2) & (g[use] == n_cont_exp[owner[use]])
        # place continuation bytes at (g - 1) * 234 + 168
        start = FIRST_BYTES + (g[use] - 1) * CONT_BYTES
        cols = start[:, None] + np.arange(CONT_BYTES)[None, :]
        inside = cols < max_bytes
        rows = np.broadcast_to(owner[use][:, None], cols.shape)
        raw[rows[inside], cols[inside]] = c["x123_spectrum_raw_continuation"][use][inside]
    elif m:
        bad["orphan_segment"] = m
    complete = (got == n_cont_exp) & last_seen & ~too_long
    bad["incomplete"] = int((~complete & ~too_long).sum())
    out = {k: v for k, v in f.items() if k != "x123_spectrum_raw_first"}
    out.update(raw=raw, segments_expected=(n_cont_exp + 1).astype(np.int16),
               segments_received=(got + 1).astype(np.int16), record_complete=complete, checksum_ok=ck)
    return out, bad


_DECOMPRESS_BLOCK = 512  # records per block: bounds the int64 work arrays to ~30 MB


def decompress(raw: np.ndarray, cmp_info: np.ndarray, spect_len: np.ndarray, usable: np.ndarray,
               bins: int) -> tuple[np.ndarray, np.ndarray]:
    """X123 spectra (float32 counts, NaN where not usable) from raw record bytes (§7,
    MX:PS/x123_decompress.pro), vectorised over blocks of records. Also returns, per record,
    whether the compressed data ran past the record's bytes (those spectra are NaN too)."""
    n = raw.shape[0]
    out = np.full((n, bins), np.nan, dtype=np.float32)
    overrun = np.zeros(n, dtype=bool)
    for lo in range(0, n, _DECOMPRESS_BLOCK):
        sl = slice(lo, lo + _DECOMPRESS_BLOCK)
        out[sl], overrun[sl] = _decompress_block(raw[sl], cmp_info[sl], spect_len[sl], usable[sl], bins)
    return out, overrun


def _decompress_block(raw, cmp_info, spect_len, usable, bins):
    n, width = raw.shape
    out = np.full((n, bins), np.nan, dtype=np.float32)
    overrun = np.zeros(n, dtype=bool)
    cmp_info = cmp_info.astype(np.int64)
    spect_len = spect_len.astype(np.int64)
    raw64 = raw.astype(np.int64)
    # uncompressed: bin k = raw[3k] + raw[3k+1] * 2**8 + raw[3k+2] * 2**16, k < spect_len / 3
    unc = usable & (cmp_info == 0)
    if unc.any():
        k = np.arange(bins)
        idx = np.minimum(3 * k[:, None] + np.arange(3)[None, :], width - 1)
        vals = (raw64[unc][:, idx] * np.array([1, 256, 65536])).sum(axis=2)
        vals = np.where(k[None, :] < (spect_len[unc] // 3)[:, None], vals, 0)
        out[unc] = vals.astype(np.float32)
    comp = usable & (cmp_info != 0)
    if comp.any():
        r = raw64[comp]
        istart, iend = cmp_info[comp] & 0xFF, cmp_info[comp] >> 8
        hlen = iend - istart + 1
        bad_hdr = (iend < istart)
        hdr_idx = np.arange(256)[None, :]
        src = hdr_idx - istart[:, None]
        in_hdr = (src >= 0) & (src < hlen[:, None])
        header = np.where(in_hdr, np.take_along_axis(r, np.clip(src, 0, width - 1), axis=1), 0)
        # bin 4i + j takes the 2-bit code (header[i] >> 2j) & 3 = its number of stored bytes
        codes = ((header[:, :, None] >> (2 * np.arange(4))[None, None, :]) & 3).reshape(-1, 1024)[:, :bins]
        starts = hlen[:, None] + np.cumsum(codes, axis=1) - codes
        total = hlen + codes.sum(axis=1)
        over = bad_hdr | (total > np.minimum(spect_len[comp], width))
        vals = np.zeros(codes.shape, dtype=np.int64)
        for b in range(3):
            has = codes > b
            pos = np.clip(starts + b, 0, width - 1)
            vals += np.where(has, np.take_along_axis(r, pos, axis=1) << (8 * b), 0)
        res = vals.astype(np.float32)
        res[over] = np.nan
        out[comp] = res
        overrun[np.flatnonzero(comp)[over]] = True
    return out, overrun


# ---------------------------------------------------------------- the day

def read_inputs(files: Sequence[str | os.PathLike], settings: MinxssSettings) -> list[FileRead]:
    reads = []
    limit = settings.framing.max_bad_fraction
    for i, path in enumerate(files):
        r = read_file(path, settings, file_index=i)
        bad = sum(r.bad.values())
        if r.decoded + bad == 0 or bad > limit * (r.decoded + bad):
            raise MinxssError(f"{r.decoded} packets decoded, {bad} rejected "
                              f"({', '.join(f'{k} {v}' for k, v in r.bad.items() if v) or 'no packet found'}): "
                              f"more than framing.max_bad_fraction = {limit}", path)
        reads.append(r)
    return reads


def l0c(files: Sequence[str | os.PathLike], day: str | _dt.date, *, settings: MinxssSettings) -> dict[str, xr.Dataset]:
    """The day's L0C datasets by type (only the types with packets that day), plus ``"_attrs"``
    handled by the writer: see `write_l0c`."""
    reads = read_inputs(files, settings)
    lo, hi = day_bounds(day)
    bad = {k: 0 for k in REASONS}
    for r in reads:
        for k, v in r.bad.items():
            bad[k] += v
    decoded = sum(r.decoded for r in reads)
    common = {**bad_count_attrs("packets", decoded, bad, REASONS),
              "framing_bytes": int(sum(r.framing_bytes for r in reads)),
              "stray_byte_count": int(sum(r.stray_bytes for r in reads)),
              "bad_counts_scope": "over all packets of the input files (a file may feed two days)"}
    names = [Path(r.path).name for r in reads]
    tables = {k: Packets.concat(k, [r.packets[k] for r in reads]) for k in KINDS}
    out: dict[str, xr.Dataset] = {}
    for kind in ("hk", "adcs", "log"):
        p, dups = _dedup(tables[kind], settings.l0c.dedup)
        sel = (p.columns["time"] >= lo) & (p.columns["time"] < hi) if len(p) else np.zeros(0, dtype=bool)
        if sel.any():
            out[kind] = _dataset(kind, p.take(np.flatnonzero(sel)), names, {**common, "duplicates_removed": dups})
    first, d1 = _dedup(tables["sci_first"], settings.l0c.dedup)
    cont, d2 = _dedup(tables["sci_continuation"], settings.l0c.dedup)
    if len(first):
        rec, rbad = reassemble(first, cont, settings.l0c.sci_max_record_bytes)
        sel = (rec["time"] >= lo) & (rec["time"] < hi)
        if sel.any():
            rec = {k: v[sel] for k, v in rec.items()}
            spectra, overrun = decompress(rec["raw"], rec["x123_cmp_info"], rec["x123_spect_len"],
                                          rec["record_complete"], settings.l0c.x123_bins)
            rbad_day = {"incomplete": int((~rec["record_complete"]).sum()),
                        "bad_spect_len": int((rec["x123_spect_len"] > settings.l0c.sci_max_record_bytes).sum()),
                        "decompression_overrun": int(overrun.sum()),
                        "orphan_segment": rbad["orphan_segment"]}
            rbad_day["incomplete"] -= rbad_day["bad_spect_len"]
            ok_records = int((rec["record_complete"] & ~overrun).sum())
            out["sci"] = _sci_dataset(first, rec, spectra, overrun, names,
                                      {**common, "duplicates_removed": d1 + d2,
                                       **bad_count_attrs("records", ok_records, rbad_day, RECORD_REASONS)})
    if not out:
        raise MinxssError(f"no packet of {day} in the {len(files)} input file(s)", files[0] if files else None)
    out["_attrs"] = xr.Dataset(attrs={**common, "duplicates_removed": 0, "input_files": names})
    return out


def empty_product(kind: str, template: xr.Dataset, bins: int) -> xr.Dataset:
    """A zero-record product of `kind`, for a type the index saw that day but whose every packet
    was rejected (the attributes then say why): written rather than failing the whole day."""
    from levelpipe.io.variables import load_table

    table = load_table("levelpipe.minxss", f"l0c_{kind}")
    names = list(template.attrs["input_files"])
    sizes = {"time": 0, "bin": bins, "sps_diode": 4, "input_file": len(names)}
    data, coords = {}, {}
    for name, spec in table.variables.items():
        if spec.optional:
            continue
        shape = tuple(sizes[d] for d in spec.dims)
        if name == "input_file":
            arr = np.array(names, dtype=object)
        elif name in ("bin", "sps_diode"):
            arr = np.arange(shape[0], dtype=spec.dtype) + (1 if name == "sps_diode" else 0)
        elif spec.dtype == "str":
            arr = np.empty(shape, dtype=object)
        else:
            arr = np.zeros(shape, dtype=spec.dtype)
        (coords if name in ("time", "bin", "sps_diode") else data)[name] = (spec.dims, arr)
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update({k: v for k, v in template.attrs.items() if k != "input_files"})
    if kind == "sci":
        ds.attrs.update(bad_count_attrs("records", 0, {}, RECORD_REASONS))
    return ds


def _base_vars(c: dict[str, np.ndarray], names: list[str]) -> dict[str, tuple]:
    t = c["time"]
    return {
        "apid": (("time",), c["apid"].astype(np.int16)),
        "seq_count": (("time",), c["seq_count"].astype(np.int16)),
        "checksum_ok": (("time",), c["checksum_ok"].astype(np.int8)),
        "flight_model": (("time",), c["flight_model"].astype(np.int8)),
        "time_jd": (("time",), clock.julian_date(t)),
        "packet_time_gps": (("time",), c["packet_time_gps"].astype(np.float64)),
        "source_file": (("time",), c["source_file"].astype(np.int32)),
        "input_file": (("input_file",), np.array(names, dtype=object)),
    }


_SKIP = {"time", "apid", "seq_count", "checksum_ok", "flight_model", "packet_time_gps", "source_file",
         "source_offset", "seq_flags", "sps_xps_pwr_temp_raw"}


def _dataset(kind: str, p: Packets, names: list[str], attrs: dict) -> xr.Dataset:
    c = p.columns
    data = _base_vars(c, names)
    for k, v in c.items():
        if k in _SKIP or v.ndim != 1:
            continue
        data[k] = (("time",), v)
    ds = xr.Dataset(data, coords={"time": c["time"]})
    ds.attrs.update(attrs)
    return ds


def _sci_dataset(first: Packets, rec: dict[str, np.ndarray], spectra, overrun, names, attrs) -> xr.Dataset:
    data = _base_vars(rec, names)
    for k, v in rec.items():
        if k in _SKIP or k == "raw" or v.ndim != 1 or k.startswith("sps_data_sci_"):
            continue
        data[k] = (("time",), v)
    data["record_complete"] = (("time",), (rec["record_complete"] & ~overrun).astype(np.int8))
    data["sps_data_sci"] = (("time", "sps_diode"), np.stack([rec[f"sps_data_sci_{i}"] for i in range(1, 5)], axis=1))
    data["x123_spectrum"] = (("time", "bin"), spectra)
    ds = xr.Dataset(data, coords={"time": rec["time"], "bin": np.arange(spectra.shape[1], dtype=np.int16),
                                  "sps_diode": np.arange(1, 5, dtype=np.int8)})
    ds.attrs.update(attrs)
    return ds


# ---------------------------------------------------------------- writer

TITLES = {"hk": "housekeeping", "sci": "science (X123 spectra, SPS, XP)", "adcs": "ADCS (XACT)", "log": "log messages"}


def write_l0c(ctx) -> None:
    """Step writer: outputs named hk/sci/adcs/log (a subset: the types the index found that day)."""
    settings = ctx.settings  # the sections the step declares: framing, flight_models, time, l0c
    day = ctx.granule
    products = l0c(ctx.inputs["raw"], day, settings=settings)
    for kind in TYPES:
        path = ctx.outputs.optional(kind)
        if path is None:
            continue
        ds = products.get(kind)
        if ds is None:
            ds = empty_product(kind, products["_attrs"], settings.l0c.x123_bins)
        ctx.write(ds, path, table=f"l0c_{kind}",
                  title=f"MinXSS Level 0C {TITLES[kind]}, {day}",
                  summary=f"MinXSS {TITLES[kind]} packets of one UTC day, decoded with the XTCE definitions, "
                          "de-duplicated, time-sorted, in physical units (levelpipe).")
