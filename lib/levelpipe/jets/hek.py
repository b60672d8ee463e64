"""HEK coronal-jet events: the search client (paged, retried), the response reader, and the
SQLite event database (a workflow product).

Facts: shared/research/jets.md §1 (request §1.1, paging §1.2, the seed's bugs §1.3, fields and
units §1.4). The database has one row per event (``SOL_standard``) in ``events`` and one row per
HEK report (one per observing channel, ``kb_archivid``) in ``reports``; ``columns`` gives every
column's unit and meaning, ``meta`` the schema version and the query, ``rejected`` every record
that was skipped and why.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from levelpipe.io.atomic import atomic_output
from levelpipe.jets.errors import JetsError

#: Bumped whenever a table or column changes meaning; readers check it (PRAGMA user_version too).
SCHEMA_VERSION = 1

#: §1.1: the HEK times format (sunpy attrs.py:151-155, the seed config.py:55).
HEK_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

#: Kinds of skipped records, counted in meta and listed in `rejected`.
BAD_KINDS = ("not_an_object", "missing_key", "bad_time", "bad_coordinates", "bad_units", "wrong_type")

#: §1.4: coordinate unit of HPC events.
_HPC_UNIT = "arcsec"
_WKT_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")

# column -> (SQLite type, unit or "", HEK source field, meaning). §1.4 gives the units.
EVENT_COLUMNS: dict[str, tuple[str, str, str, str]] = {
    "sol_standard": ("TEXT PRIMARY KEY", "", "SOL_standard", "event key: start time, Carrington longitude L and colatitude C (deg)"),
    "event_id": ("TEXT NOT NULL UNIQUE", "", "SOL_standard", "SOL_standard with ':' replaced by '-' (file and granule names)"),
    "event_type": ("TEXT NOT NULL", "", "event_type", "HEK event type (CJ = coronal jet)"),
    "start_time": ("TEXT NOT NULL", "UTC", "event_starttime", "event start, ISO 8601 UTC"),
    "end_time": ("TEXT NOT NULL", "UTC", "event_endtime", "event end, ISO 8601 UTC"),
    "peak_time": ("TEXT", "UTC", "event_peaktime", "event peak, ISO 8601 UTC (often empty)"),
    "coordsys": ("TEXT", "", "event_coordsys", "coordinate system of coord1/2 and the bounding box"),
    "hpc_x": ("REAL", "arcsec", "hpc_x", "helioprojective x of the event (cutout centre)"),
    "hpc_y": ("REAL", "arcsec", "hpc_y", "helioprojective y of the event"),
    "hpc_radius": ("REAL", "arcsec", "hpc_radius", "helioprojective distance from disk centre"),
    "c1error": ("REAL", "arcsec", "event_c1error", "uncertainty of coord1"),
    "c2error": ("REAL", "arcsec", "event_c2error", "uncertainty of coord2"),
    "bbox_x_min": ("REAL", "arcsec", "hpc_bbox", "bounding box, smallest helioprojective x"),
    "bbox_x_max": ("REAL", "arcsec", "hpc_bbox", "bounding box, largest helioprojective x"),
    "bbox_y_min": ("REAL", "arcsec", "hpc_bbox", "bounding box, smallest helioprojective y"),
    "bbox_y_max": ("REAL", "arcsec", "hpc_bbox", "bounding box, largest helioprojective y"),
    "bbox_source": ("TEXT", "", "hpc_bbox", "hpc_bbox, or boundbox when hpc_bbox is unusable"),
    "hgs_x": ("REAL", "deg", "hgs_x", "Stonyhurst longitude"),
    "hgs_y": ("REAL", "deg", "hgs_y", "Stonyhurst latitude"),
    "hgc_x": ("REAL", "deg", "hgc_x", "Carrington longitude"),
    "hgc_y": ("REAL", "deg", "hgc_y", "Carrington latitude"),
    "hrc_r": ("REAL", "R_sun", "hrc_r", "heliocentric radial distance"),
    "hrc_a": ("REAL", "deg", "hrc_a", "heliocentric position angle"),
    "frm_name": ("TEXT", "", "frm_name", "annotator"),
    "frm_identifier": ("TEXT", "", "frm_identifier", "feature recognition method identifier"),
    "frm_institute": ("TEXT", "", "frm_institute", "institute of the annotator"),
    "frm_humanflag": ("INTEGER", "", "frm_humanflag", "1 when a human annotated the event"),
    "search_frm_name": ("TEXT", "", "search_frm_name", "method name used for searching"),
    "obs_observatory": ("TEXT", "", "obs_observatory", "observatory"),
    "obs_instrument": ("TEXT", "", "obs_instrument", "instrument"),
    "kb_archivid": ("TEXT NOT NULL", "", "kb_archivid", "the report that gives this row (preferred channel)"),
    "channel": ("INTEGER", "angstrom", "obs_channelid", "channel of that report"),
    "channels": ("TEXT NOT NULL", "angstrom", "obs_channelid", "every channel reported for the event, comma-separated, ascending"),
    "n_reports": ("INTEGER NOT NULL", "", "", "HEK reports (records) of the event"),
    "title": ("TEXT", "", "event_title", "event title"),
    "description": ("TEXT", "", "event_description", "free-text description"),
}
#: One row per HEK report: every event column that a report carries, plus where it came from.
REPORT_COLUMNS: dict[str, tuple[str, str, str, str]] = {
    "kb_archivid": ("TEXT PRIMARY KEY", "", "kb_archivid", "unique id of the HEK report (one per channel)"),
    "sol_standard": ("TEXT NOT NULL", "", "SOL_standard", "event key (not unique per report)"),
    **{k: (v[0].replace(" PRIMARY KEY", "").replace(" UNIQUE", ""), *v[1:]) for k, v in EVENT_COLUMNS.items()
       if k not in ("sol_standard", "event_id", "kb_archivid", "channels", "n_reports")},
    "wavelength": ("REAL", "angstrom", "obs_meanwavel", "mean wavelength (HEK gives it in obs_wavelunit, cm)"),
    "source": ("TEXT", "", "", "response file or page the report was read from"),
}


@dataclass
class HekRecords:
    """Accepted HEK records (one per report, as a table) and what was skipped."""

    reports: pd.DataFrame
    rejected: list[tuple[str, int, str, str]] = field(default_factory=list)  # (file, index, kind, detail)
    params: dict[str, Any] = field(default_factory=dict)
    read: int = 0
    raw: list[dict] = field(default_factory=list)  # the accepted records as HEK gave them

    def bad_counts(self) -> dict[str, int]:
        counts = {k: 0 for k in BAD_KINDS}
        for _, _, kind, _ in self.rejected:
            counts[kind] += 1
        return counts


# ----------------------------------------------------------------------------- reading


def _json_documents(text: str, path: Path) -> list[Any]:
    """Every JSON document in `text`: a HEK body, or hek_1.txt's params line + body (§9)."""
    decoder = json.JSONDecoder()
    docs, pos, n = [], 0, len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
        if pos >= n:
            return docs
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise JetsError(f"not JSON ({err.msg})", path, f"line {err.lineno} column {err.colno}") from None
        except RecursionError:
            raise JetsError("JSON nested too deeply", path, f"byte {pos}") from None
        docs.append(doc)


def read_hek_response(path: str | os.PathLike, *, max_bytes: int, event_type: str = "CJ") -> HekRecords:
    """The records of one HEK response file, validated; a bad record is counted and skipped."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise JetsError(f"HEK response of {size} bytes (limit {max_bytes})", path)
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise JetsError(f"cannot read ({err.strerror})", path) from None
    except UnicodeDecodeError as err:
        raise JetsError("not UTF-8 text", path, f"byte {err.start}") from None
    params: dict[str, Any] = {}
    records: list[Any] = []
    found = False
    for i, doc in enumerate(_json_documents(text, path)):
        if not isinstance(doc, dict):
            raise JetsError(f"JSON document {i + 1} is a {type(doc).__name__}, not an object", path)
        if isinstance(doc.get("params"), dict):
            params = doc["params"]
        if "result" in doc:
            if not isinstance(doc["result"], list):
                raise JetsError("'result' is not a list", path, f"document {i + 1}")
            records.extend(doc["result"])
            found = True
    if not found:
        raise JetsError("no 'result' list: not a HEK search response", path)
    out = parse_records(records, source=str(path), event_type=event_type)
    out.params = params
    return out


def _float_column(df: pd.DataFrame, key: str) -> pd.Series:
    if key not in df:
        return pd.Series(np.nan, index=df.index)
    plain = df[key].map(lambda v: v if isinstance(v, (int, float, str)) and not isinstance(v, bool) else None)
    return pd.to_numeric(plain, errors="coerce").astype(float)


def _str_column(df: pd.DataFrame, key: str) -> pd.Series:
    if key not in df:
        return pd.Series(None, index=df.index, dtype=object)
    col = df[key]
    return col.where(col.notna(), None).map(lambda v: v if v is None else str(v))


def _polygon_bounds(wkt: pd.Series) -> pd.DataFrame:
    """min/max of the x and y of WKT POLYGON rings (§1.3: hpc_bbox is correctly ordered)."""
    text = wkt.fillna("").astype(str)
    ok = text.str.match(r"^\s*POLYGON\s*\(\(")
    nums = text.where(ok, "").str.findall(_WKT_NUMBER)
    out = pd.DataFrame(np.nan, index=wkt.index, columns=["x_min", "x_max", "y_min", "y_max"])
    lengths = nums.map(len)
    good = ok & (lengths >= 8) & (lengths % 2 == 0)
    if good.any():
        flat = np.array([float(v) for row in nums[good] for v in row])
        row_of = np.repeat(np.arange(int(good.sum())), lengths[good].to_numpy())
        xs, ys = flat[0::2], flat[1::2]
        rows = row_of[0::2]
        frame = pd.DataFrame({"row": rows, "x": xs, "y": ys}).groupby("row")
        agg = frame.agg(x_min=("x", "min"), x_max=("x", "max"), y_min=("y", "min"), y_max=("y", "max"))
        out.loc[good[good].index, :] = agg.to_numpy()
    return out


def parse_records(records: Sequence[Any], *, source: str = "", event_type: str = "CJ") -> HekRecords:
    """HEK records (dicts of §1.4) as one report table with units of `REPORT_COLUMNS`/`EVENT_COLUMNS`."""
    rejected: list[tuple[str, int, str, str]] = []
    dicts = []
    index = []
    for i, r in enumerate(records):
        if isinstance(r, dict):
            dicts.append(r)
            index.append(i)
        else:
            rejected.append((source, i, "not_an_object", type(r).__name__))
    df = pd.DataFrame.from_records(dicts, index=index) if dicts else pd.DataFrame(index=index)
    keep = pd.Series(True, index=df.index)

    def reject(mask: pd.Series, kind: str, detail) -> None:
        nonlocal keep
        mask = mask & keep
        for i in df.index[mask]:
            rejected.append((source, int(i), kind, detail(i) if callable(detail) else detail))
        keep = keep & ~mask

    for key in ("SOL_standard", "kb_archivid", "event_type", "event_starttime", "event_endtime"):
        col = df[key] if key in df else pd.Series(None, index=df.index, dtype=object)
        reject(col.isna() | (col.astype(str).str.strip() == ""), "missing_key", f"no {key}")
    sol = _str_column(df, "SOL_standard")
    types = _str_column(df, "event_type").fillna("").str.upper()
    wanted = {t.strip().upper() for t in event_type.split(",")}
    if "**" not in wanted:
        reject(~types.isin(wanted), "wrong_type", lambda i: f"event_type {types[i]!r}")
    start = pd.to_datetime(_str_column(df, "event_starttime"), format=HEK_TIME_FORMAT, errors="coerce")
    end = pd.to_datetime(_str_column(df, "event_endtime"), format=HEK_TIME_FORMAT, errors="coerce")
    reject(start.isna() | end.isna(), "bad_time", "event_starttime/endtime not YYYY-MM-DDTHH:MM:SS")
    reject(end < start, "bad_time", "event_endtime before event_starttime")
    unit = _str_column(df, "event_coordunit").fillna(_HPC_UNIT)
    reject(unit.str.lower() != _HPC_UNIT, "bad_units", lambda i: f"event_coordunit {unit[i]!r}")
    hpc_x, hpc_y = _float_column(df, "hpc_x"), _float_column(df, "hpc_y")
    reject(~np.isfinite(hpc_x) | ~np.isfinite(hpc_y), "bad_coordinates", "hpc_x/hpc_y not numbers")
    bounds = _polygon_bounds(df["hpc_bbox"] if "hpc_bbox" in df else pd.Series(None, index=df.index))
    # §1.3: hpc_bbox is ordered; when it is unusable, min/max of both boundbox corners is.
    corners = pd.DataFrame({k: _float_column(df, f"boundbox_{k}") for k in ("c1ll", "c2ll", "c1ur", "c2ur")})
    from_corners = pd.DataFrame({
        "x_min": corners[["c1ll", "c1ur"]].min(axis=1, skipna=False),
        "x_max": corners[["c1ll", "c1ur"]].max(axis=1, skipna=False),
        "y_min": corners[["c2ll", "c2ur"]].min(axis=1, skipna=False),
        "y_max": corners[["c2ll", "c2ur"]].max(axis=1, skipna=False)})
    use_corners = bounds.isna().any(axis=1)
    bbox_source = pd.Series(np.where(use_corners, "boundbox", "hpc_bbox"), index=df.index)
    bounds = bounds.where(~use_corners, from_corners)
    reject(bounds.isna().any(axis=1), "bad_coordinates", "neither hpc_bbox nor boundbox_* usable")
    channel = _float_column(df, "obs_channelid")
    wavel = _float_column(df, "obs_meanwavel")
    wunit = _str_column(df, "obs_wavelunit").fillna("cm")
    import astropy.units as u
    # §1.4: obs_meanwavel is in obs_wavelunit (cm in every real record); stored in angstrom.
    factor = wunit.map(lambda s: _unit_factor(s, u.AA))
    human = _str_column(df, "frm_humanflag").fillna("").str.lower().map({"true": 1, "false": 0, "1": 1, "0": 0})

    rep = pd.DataFrame({
        "kb_archivid": _str_column(df, "kb_archivid"),
        "sol_standard": sol,
        "event_type": types,
        "start_time": start.dt.strftime(HEK_TIME_FORMAT),
        "end_time": end.dt.strftime(HEK_TIME_FORMAT),
        "peak_time": _str_column(df, "event_peaktime").replace("", None),
        "coordsys": _str_column(df, "event_coordsys"),
        "hpc_x": hpc_x, "hpc_y": hpc_y,
        "hpc_radius": _float_column(df, "hpc_radius"),
        "c1error": _float_column(df, "event_c1error"), "c2error": _float_column(df, "event_c2error"),
        "bbox_x_min": bounds["x_min"], "bbox_x_max": bounds["x_max"],
        "bbox_y_min": bounds["y_min"], "bbox_y_max": bounds["y_max"], "bbox_source": bbox_source,
        "hgs_x": _float_column(df, "hgs_x"), "hgs_y": _float_column(df, "hgs_y"),
        "hgc_x": _float_column(df, "hgc_x"), "hgc_y": _float_column(df, "hgc_y"),
        "hrc_r": _float_column(df, "hrc_r"), "hrc_a": _float_column(df, "hrc_a"),
        "frm_name": _str_column(df, "frm_name"), "frm_identifier": _str_column(df, "frm_identifier"),
        "frm_institute": _str_column(df, "frm_institute"), "frm_humanflag": human,
        "search_frm_name": _str_column(df, "search_frm_name"),
        "obs_observatory": _str_column(df, "obs_observatory"), "obs_instrument": _str_column(df, "obs_instrument"),
        "channel": channel, "wavelength": wavel * factor,
        "title": _str_column(df, "event_title"), "description": _str_column(df, "event_description"),
        "source": source,
    }, index=df.index)[keep]
    raw = [records[i] for i in rep.index]
    first = ~rep["kb_archivid"].duplicated(keep="first").to_numpy()
    rep = rep[first].reset_index(drop=True)
    return HekRecords(rep, rejected, read=len(records), raw=[r for r, f in zip(raw, first) if f])


def _unit_factor(name: str, target) -> float:
    import astropy.units as u
    try:
        return float(u.Unit(name).to(target))
    except (ValueError, u.UnitsError, TypeError):
        return float("nan")


def combine(parts: Iterable[HekRecords]) -> HekRecords:
    parts = list(parts)
    frames = [p.reports for p in parts if len(p.reports)]
    reports = pd.concat(frames, ignore_index=True) if frames else parse_records([]).reports
    raw = [r for p in parts for r in p.raw]
    first = ~reports["kb_archivid"].duplicated(keep="first").to_numpy()
    return HekRecords(reports[first].reset_index(drop=True), [r for p in parts for r in p.rejected],
                      params=next((p.params for p in parts if p.params), {}), read=sum(p.read for p in parts),
                      raw=[r for r, f in zip(raw, first) if f])


def events_table(reports: pd.DataFrame, preferred_channel: int) -> pd.DataFrame:
    """One row per SOL_standard.

    Decision (§10 Q3, §1.3): the seed kept whichever report arrived first (not deterministic).
    The event row comes from the report of `preferred_channel` (the project showed 304 Å), else
    the report with the smallest kb_archivid; every channel reported is listed in `channels`.
    """
    if reports.empty:
        return pd.DataFrame(columns=list(EVENT_COLUMNS))
    r = reports.assign(_pref=(reports["channel"] != preferred_channel).astype(int))
    r = r.sort_values(["sol_standard", "_pref", "kb_archivid"], kind="stable")
    chosen = r.drop_duplicates("sol_standard", keep="first").set_index("sol_standard")
    grouped = reports.groupby("sol_standard")
    channels = grouped["channel"].agg(lambda c: ",".join(str(int(v)) for v in sorted(set(c.dropna()))))
    ev = chosen.assign(channels=channels, n_reports=grouped.size()).reset_index()
    ev["event_id"] = ev["sol_standard"].str.replace(":", "-", regex=False)
    return ev[list(EVENT_COLUMNS)].sort_values("start_time", kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------- SQLite

def _create_schema(con: sqlite3.Connection) -> None:
    def ddl(name, cols):
        return f"CREATE TABLE IF NOT EXISTS {name} (" + ", ".join(f"{c} {t[0]}" for c, t in cols.items()) + ")"
    con.execute(ddl("events", EVENT_COLUMNS))
    con.execute(ddl("reports", REPORT_COLUMNS))
    con.execute("CREATE TABLE IF NOT EXISTS columns (table_name TEXT, column_name TEXT, unit TEXT, "
                "hek_field TEXT, meaning TEXT, PRIMARY KEY (table_name, column_name))")
    con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
    con.execute("CREATE TABLE IF NOT EXISTS rejected (source TEXT, record INTEGER, kind TEXT, detail TEXT, "
                "PRIMARY KEY (source, record, kind))")
    for table, cols in (("events", EVENT_COLUMNS), ("reports", REPORT_COLUMNS)):
        con.executemany("INSERT OR REPLACE INTO columns VALUES (?, ?, ?, ?, ?)",
                        [(table, c, t[1], t[2], t[3]) for c, t in cols.items()])
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))


def _rows(df: pd.DataFrame, cols) -> list[tuple]:
    sub = df[list(cols)].astype(object)
    sub = sub.where(pd.notna(sub), None)
    return list(sub.itertuples(index=False, name=None))


def ingest(db: sqlite3.Connection, records: HekRecords, preferred_channel: int) -> None:
    """Upsert `records` into an open database: re-ingesting the same records changes nothing
    (reports are keyed by kb_archivid, events re-derived from every stored report)."""
    _create_schema(db)
    old = pd.read_sql_query("SELECT * FROM reports", db)
    new = records.reports[list(REPORT_COLUMNS)]
    frames = [f for f in (old, new) if len(f)]
    reports = pd.concat(frames, ignore_index=True) if frames else new
    reports = reports.drop_duplicates("kb_archivid", keep="last").sort_values("kb_archivid", kind="stable")
    events = events_table(reports, preferred_channel)
    with db:
        db.execute("DELETE FROM events")
        db.execute("DELETE FROM reports")
        db.executemany(f"INSERT INTO reports ({', '.join(REPORT_COLUMNS)}) VALUES "
                       f"({', '.join('?' * len(REPORT_COLUMNS))})", _rows(reports, REPORT_COLUMNS))
        db.executemany(f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES "
                       f"({', '.join('?' * len(EVENT_COLUMNS))})", _rows(events, EVENT_COLUMNS))
        db.executemany("INSERT OR REPLACE INTO rejected VALUES (?, ?, ?, ?)", records.rejected)
        counts = dict(db.execute("SELECT kind, COUNT(*) FROM rejected GROUP BY kind").fetchall())
        meta = {f"bad_records_{k}": str(int(counts.get(k, 0))) for k in BAD_KINDS}
        meta["bad_records_total"] = str(int(sum(counts.values())))
        meta["records_read"] = str(int(records.read))
        if records.params:
            meta["query"] = json.dumps(records.params, sort_keys=True)
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", sorted(meta.items()))


def write_event_db(path: str | os.PathLike, records: HekRecords, preferred_channel: int) -> Path:
    """The event database from `records`, written atomically (a failure leaves no file)."""
    path = Path(path)
    with atomic_output(path) as tmp:
        tmp.unlink()
        con = sqlite3.connect(tmp)
        try:
            ingest(con, records, preferred_channel)
        finally:
            con.close()
    return path


def read_events(path: str | os.PathLike) -> pd.DataFrame:
    """The `events` table of an event database (checks the schema version)."""
    path = Path(path)
    if not path.is_file():
        raise JetsError("event database not found", path)
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                raise JetsError(f"event database schema {version}, this levelpipe reads {SCHEMA_VERSION}", path)
            return pd.read_sql_query("SELECT * FROM events ORDER BY start_time", con)
        finally:
            con.close()
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as err:
        raise JetsError(f"not an event database ({err})", path) from None


# ----------------------------------------------------------------------------- client

def search_params(hek, page: int) -> dict[str, Any]:
    """The query string of one page (§1.1).

    Decision (§10 Q2): the window is sent whole, never split into the seed's 60-day chunks:
    HEK returns events overlapping it (sunpy's tests), so chunks would return boundary events
    twice; reports are de-duplicated by kb_archivid and events keyed by SOL_standard anyway."""
    x1, y1, x2, y2 = hek.box_arcsec.to_value("arcsec")
    params: dict[str, Any] = {
        "cmd": "search", "type": "column", "cosec": 2,
        "event_type": hek.event_type.lower(),
        "event_starttime": hek.start, "event_endtime": hek.end,
        "event_coordsys": hek.event_coordsys,
        "x1": _num(x1), "y1": _num(y1), "x2": _num(x2), "y2": _num(y2),
        # Decision (§10 Q1): an explicit page size, and pages until overmax is false.
        "result_limit": hek.result_limit, "page": page,
    }
    if hek.channel_filter is not None:
        params.update(param0="OBS_ChannelID", op0="=", value0=str(hek.channel_filter))
    return params


def _num(v: float):
    return int(v) if float(v).is_integer() else float(v)


def http_get(session, url: str, params: Mapping[str, Any] | None, retry, *, what: str,
             stream: bool = False, sleep=time.sleep):
    """GET with retries: 5xx answers, refused connections and timeouts are retried with a
    doubling backoff; a 4xx or the last failure is a one-line JetsError naming `what`."""
    import requests
    timeout = float(retry.timeout_s.to_value("s"))
    wait = float(retry.backoff_s.to_value("s"))
    last = ""
    for attempt in range(retry.retries + 1):
        if attempt:
            sleep(wait * 2 ** (attempt - 1))
        try:
            resp = session.get(url, params=params, timeout=timeout, stream=stream)
        except requests.Timeout:
            last = f"no answer within {timeout:g} s"
            continue
        except requests.RequestException as err:
            last = f"request failed ({type(err).__name__})"
            continue
        if resp.status_code >= 500:
            last = f"HTTP {resp.status_code}"
            resp.close()
            continue
        if resp.status_code >= 400:
            resp.close()
            raise JetsError(f"HTTP {resp.status_code}", url, what)
        return resp
    raise JetsError(f"{last} after {retry.retries + 1} attempt(s)", url, what)


def _read_body(resp, limit: int, url: str, what: str) -> bytes:
    import requests
    chunks, total = [], 0
    try:
        for chunk in resp.iter_content(65536):
            total += len(chunk)
            if total > limit:
                raise JetsError(f"answer longer than {limit} bytes", url, what)
            chunks.append(chunk)
    except requests.RequestException as err:
        raise JetsError(f"answer cut off ({type(err).__name__})", url, what) from None
    finally:
        resp.close()
    return b"".join(chunks)


def query_hek(hek, session=None, *, sleep=time.sleep) -> HekRecords:
    """Every record of the search, all pages (§1.2), each report once (by kb_archivid)."""
    import requests
    session = session or requests.Session()
    parts: list[HekRecords] = []
    for page in range(1, hek.max_pages + 1):
        what = f"page {page}"
        resp = http_get(session, hek.base_url, search_params(hek, page), hek.http, what=what, stream=True, sleep=sleep)
        body = _read_body(resp, hek.max_response_bytes, hek.base_url, what)
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise JetsError("answer is not JSON", hek.base_url, what) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("result"), list):
            raise JetsError("answer has no 'result' list", hek.base_url, what)
        part = parse_records(doc["result"], source=f"{hek.base_url} {what}", event_type=hek.event_type)
        parts.append(part)
        overmax = doc.get("overmax", False)
        if not isinstance(overmax, bool):
            raise JetsError(f"'overmax' is {overmax!r}, not true/false", hek.base_url, what)
        if not overmax:
            out = combine(parts)
            out.params = {k: v for k, v in search_params(hek, 1).items() if k != "page"}
            return out
    raise JetsError(f"server still says overmax after {hek.max_pages} pages (hek.max_pages)", hek.base_url)


def write_hek_response(path: str | os.PathLike, records: HekRecords) -> Path:
    """A response file (the shape `read_hek_response` reads) of all pages, written atomically."""
    body = {"params": records.params, "overmax": False, "result": records.raw}
    path = Path(path)
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(body, indent=1, sort_keys=True))
    return path


def fetch_event_db(hek, db_path: str | os.PathLike, response_path: str | os.PathLike | None = None,
                   session=None, *, sleep=time.sleep) -> HekRecords:
    """Ask HEK (every page), then write the response file and the database. Nothing is written
    unless every page arrived: a failure leaves neither a partial response nor a partial database."""
    records = query_hek(hek, session, sleep=sleep)
    if response_path is not None:
        write_hek_response(response_path, records)
    write_event_db(db_path, records, hek.preferred_channel)
    return records


# ----------------------------------------------------------------------------- steps

def write_events(ctx) -> None:
    """Step `events`: the HEK responses of the input (or of `query`) -> the event database."""
    s = ctx.settings.hek
    paths = ctx.inputs["hek"]
    if not paths:
        raise JetsError("no HEK response in the input (hek/*.json or *.txt)", "hek/")
    records = combine(read_hek_response(p, max_bytes=s.max_response_bytes, event_type=s.event_type) for p in paths)
    if records.reports.empty:
        raise JetsError(f"no usable HEK record among {records.read} ({records.bad_counts()})", ", ".join(paths))
    write_event_db(ctx.outputs.one("events"), records, s.preferred_channel)


def write_hek_query(ctx) -> None:
    """Step `query` (only when hek.query is true): ask HEK, write one response file of all pages."""
    s = ctx.settings.hek
    if not s.query:
        raise JetsError("hek.query is false: HEK is not asked", where="hek.query")
    write_hek_response(ctx.outputs.one("hek"), query_hek(s))
