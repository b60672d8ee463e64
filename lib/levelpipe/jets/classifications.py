"""Zooniverse classification exports (§5) and panoptes_aggregation extract CSVs (§6.2).

`read_export` reads the export CSV of §5.1 into one row per classification (the JSON cells
parsed) and one row per annotation item (`marks`): every question answer, every mark of every
shape of §5.2 (point, rotateRectangle, rectangle, line, FEM temporalPoint /
temporalRotateRectangle) with its frame, and every empty drawing task, so every annotation of
every row is accounted for. A row or item that cannot be read is counted by kind and skipped.

`read_extracts` reads panoptes_aggregation's own extract CSVs without `eval` (the library's
``csv_utils.unflatten_data`` evaluates cells as Python, which a hostile file could abuse).
"""
from __future__ import annotations

import ast
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from levelpipe.io.files import checked_size
from levelpipe.jets.errors import JetsError

#: §5.1: the columns of a classification export (real header of class.csv and old.csv).
EXPORT_COLUMNS = ("classification_id", "user_name", "user_id", "user_ip", "workflow_id", "workflow_name",
                  "workflow_version", "created_at", "gold_standard", "expert", "metadata", "annotations",
                  "subject_data", "subject_ids")
REQUIRED_COLUMNS = ("classification_id", "user_name", "workflow_id", "workflow_version", "created_at",
                    "metadata", "annotations", "subject_data", "subject_ids")
#: §5.1: created_at is 'YYYY-MM-DD HH:MM:SS UTC'.
CREATED_AT_FORMAT = "%Y-%m-%d %H:%M:%S UTC"
ROW_BAD_KINDS = ("bad_id", "bad_time", "bad_version", "bad_json", "bad_annotations")
MARK_BAD_KINDS = ("unknown_shape", "bad_values")

#: §5.2: mark shapes, recognised by their keys (PFE) or toolType (FEM).
SHAPE_KEYS = {
    "rotateRectangle": ("x", "y", "width", "height", "angle"),
    "rectangle": ("x", "y", "width", "height"),
    "line": ("x1", "y1", "x2", "y2"),
    "point": ("x", "y"),
}
FEM_SHAPES = {
    "temporalPoint": ("x", "y", "displayTime"),
    "temporalRotateRectangle": ("x_center", "y_center", "width", "height", "angle", "displayTime"),
    "point": ("x", "y"),
    "rotateRectangle": ("x_center", "y_center", "width", "height", "angle"),
}
MARK_VALUES = ("x", "y", "width", "height", "angle", "x1", "y1", "x2", "y2", "display_time")


@dataclass
class Export:
    """One export file: classifications, their annotation items, and what was skipped."""

    path: str
    rows: pd.DataFrame          # one per readable classification; raw JSON text kept for the extractors
    marks: pd.DataFrame         # one per annotation item (question answer, mark, empty drawing task)
    subjects: dict[int, dict]   # subject id -> manifest metadata (subject_data), '#' keys kept
    bad_rows: dict[str, int] = field(default_factory=lambda: {k: 0 for k in ROW_BAD_KINDS})
    bad_marks: dict[str, int] = field(default_factory=lambda: {k: 0 for k in MARK_BAD_KINDS})
    skipped: list[tuple[int, str, str]] = field(default_factory=list)  # (csv line, kind, detail)

    @property
    def read(self) -> int:
        return len(self.rows) + sum(self.bad_rows.values())


def _read_table(path: Path, settings, columns, what: str) -> pd.DataFrame:
    """The CSV at `path` as strings, within the configured sizes, with all of `columns`."""
    checked_size(path, settings.max_file_bytes, JetsError, what, "classifications.max_file_bytes")
    df = _read_csv(path, settings.max_field_bytes)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise JetsError(f"not a {what}: no column {missing[0]!r}", path, "line 1")
    return df


def _read_csv(path: Path, max_field: int) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
    except UnicodeDecodeError as err:
        raise JetsError("not UTF-8 text", path, f"byte {err.start}") from None
    except pd.errors.EmptyDataError:
        raise JetsError("empty file", path) from None
    except (pd.errors.ParserError, ValueError) as err:
        raise JetsError(f"not a CSV table ({str(err).splitlines()[0]})", path) from None
    except Exception as err:  # noqa: BLE001 - the C parser raises other kinds on hostile bytes
        raise JetsError(f"not a CSV table ({type(err).__name__})", path) from None
    if len(df.columns) and df.map(len).to_numpy().max(initial=0) > max_field:
        raise JetsError(f"a cell longer than {max_field} bytes (classifications.max_field_bytes)", path)
    return df


def _shape(mark: dict) -> tuple[str | None, dict[str, float]]:
    """(shape name, values) of one mark, or (None, {}) for an unknown one."""
    if "toolType" in mark or "toolIndex" in mark:
        name = mark.get("toolType")
        keys = FEM_SHAPES.get(name)
        if keys is None or not all(k in mark for k in keys):
            return None, {}
        names = {"x_center": "x", "y_center": "y", "displayTime": "display_time"}
        return name, {names.get(k, k): mark[k] for k in keys}
    for name, keys in SHAPE_KEYS.items():
        if all(k in mark for k in keys):
            return name, {k: mark[k] for k in keys}
    return None, {}


def _ids(column: pd.Series) -> pd.Series:
    """Zooniverse ids as Int64; anything not a whole number below 2**53 becomes <NA>.

    Why: pandas turns '1e300', '1.5' or a 30-digit id into a float that Int64 refuses with a
    TypeError or OverflowError; such a row is a bad id, to be counted, not a crash. Ids pass
    through float64 here, exact only below 2**53; real ids are far smaller (class.csv: 9 digits).
    """
    v = pd.to_numeric(column, errors="coerce").astype("float64")
    ok = np.isfinite(v) & (np.abs(v) < 2.0**53) & (np.floor(v) == v)
    return v.where(ok).astype("Int64")


def read_export(path: str | os.PathLike, settings) -> Export:
    """The classification export at `path` (settings: the `classifications` section)."""
    path = Path(path)
    df = _read_table(path, settings, REQUIRED_COLUMNS, "classification export")
    out = Export(str(path), pd.DataFrame(), pd.DataFrame(), {})
    line = np.arange(len(df)) + 2  # header is line 1 (multi-line cells make this the row number)

    def skip(mask: np.ndarray, kind: str, detail: str) -> None:
        for i in np.flatnonzero(mask & keep):
            out.skipped.append((int(line[i]), kind, detail))
        out.bad_rows[kind] += int((mask & keep).sum())
        keep[:] &= ~mask

    keep = np.ones(len(df), dtype=bool)
    cid = _ids(df["classification_id"])
    wid = _ids(df["workflow_id"])
    sid = _ids(df["subject_ids"].str.split(";").str[0])
    skip((cid.isna() | wid.isna() | sid.isna()).to_numpy(), "bad_id", "classification_id/workflow_id/subject_ids not integers")
    created = pd.to_datetime(df["created_at"], format=CREATED_AT_FORMAT, errors="coerce")
    skip(created.isna().to_numpy(), "bad_time", "created_at not 'YYYY-MM-DD HH:MM:SS UTC'")
    skip(~df["workflow_version"].str.fullmatch(r"\d+\.\d+").to_numpy(), "bad_version", "workflow_version not major.minor")
    annotations, metadata, subject_data = [None] * len(df), [None] * len(df), [None] * len(df)
    for i in np.flatnonzero(keep):
        try:
            a = json.loads(df.at[i, "annotations"])
            m = json.loads(df.at[i, "metadata"])
            s = json.loads(df.at[i, "subject_data"])
        except (json.JSONDecodeError, RecursionError):
            skip(np.arange(len(df)) == i, "bad_json", "annotations/metadata/subject_data not JSON")
            continue
        if not isinstance(a, list) or not all(isinstance(t, dict) and "task" in t and "value" in t for t in a) \
                or not isinstance(m, dict) or not isinstance(s, dict):
            skip(np.arange(len(df)) == i, "bad_annotations", "annotations not a list of {task, value}")
            continue
        annotations[i], metadata[i], subject_data[i] = a, m, s
    rows = pd.DataFrame({
        "classification_id": cid.astype("Int64"), "user_name": df["user_name"],
        "user_id": pd.to_numeric(df["user_id"], errors="coerce") if "user_id" in df else np.nan,
        "workflow_id": wid.astype("Int64"), "workflow_version": df["workflow_version"],
        "created_at": df["created_at"], "created": created, "subject_id": sid.astype("Int64"),
        "annotations": df["annotations"], "metadata": df["metadata"], "line": line,
    })[keep].reset_index(drop=True)
    kept = np.flatnonzero(keep)
    out.rows = rows
    items: list[dict[str, Any]] = []
    for r, i in enumerate(kept):
        base = {"classification_id": int(cid[i]), "subject_id": int(sid[i]), "workflow_id": int(wid[i])}
        sd = subject_data[i]
        meta = sd.get(str(int(sid[i]))) if isinstance(sd.get(str(int(sid[i]))), dict) else None
        if meta is not None and int(sid[i]) not in out.subjects:
            out.subjects[int(sid[i])] = meta
        for t in annotations[i]:
            v = t["value"]
            task = str(t["task"])
            if isinstance(v, list) and all(isinstance(m, dict) for m in v):
                if not v:
                    items.append({**base, "task": task, "kind": "empty_drawing"})
                for m in v:
                    shape, vals = _shape(m)
                    if shape is None:
                        out.bad_marks["unknown_shape"] += 1
                        out.skipped.append((int(line[i]), "unknown_shape", f"task {task}: keys {sorted(m)}"))
                        continue
                    try:
                        nums = {("display_time" if k == "display_time" else k): float(x) for k, x in vals.items()}
                    except (TypeError, ValueError):
                        nums = {}
                    if not nums or not all(np.isfinite(list(nums.values()))):
                        out.bad_marks["bad_values"] += 1
                        out.skipped.append((int(line[i]), "bad_values", f"task {task}: {shape} values"))
                        continue
                    tool = m.get("toolIndex", m.get("tool"))
                    frame = m.get("frame", 0)
                    items.append({**base, "task": task, "kind": shape,
                                  "tool": int(tool) if isinstance(tool, (int, float)) else -1,
                                  "frame": int(frame) if isinstance(frame, (int, float)) else -1, **nums})
            elif isinstance(v, (str, int, float)) or v is None or isinstance(v, list):
                # single question: the answer label; multiple-choice: a list of answers
                answer = json.dumps(v) if isinstance(v, list) else ("" if v is None else str(v))
                items.append({**base, "task": task, "kind": "question", "answer": answer})
            else:
                out.bad_marks["unknown_shape"] += 1
                out.skipped.append((int(line[i]), "unknown_shape", f"task {task}: value of type {type(v).__name__}"))
    cols = ["classification_id", "subject_id", "workflow_id", "task", "kind", "tool", "frame", "answer", *MARK_VALUES]
    marks = pd.DataFrame(items)
    for c in cols:
        if c not in marks:
            marks[c] = np.nan if c not in ("task", "kind", "answer") else None
    out.marks = marks[cols]
    return out


def read_exports(paths, settings) -> list[Export]:
    """Every export; a run that reads fewer than `min_rows` classifications fails loudly."""
    exports = [read_export(p, settings) for p in paths]
    total = sum(len(e.rows) for e in exports)
    if total < settings.min_rows:
        where = ", ".join(str(p) for p in paths) or "classifications/"
        raise JetsError(f"{total} readable classifications (classifications.min_rows = {settings.min_rows})", where)
    return exports


# ----------------------------------------------------------------------------- extract CSVs

#: §6.2: columns of an extract CSV before the data.* columns.
EXTRACT_COLUMNS = ("classification_id", "user_name", "user_id", "workflow_id", "task", "created_at",
                   "subject_id", "extractor")
_NAN = re.compile(r"\bnan\b")


def parse_cell(text: str, path: Path, where: str):
    """One data.* cell of an extract CSV: a number, a list or a dict literal, never code."""
    if text == "":
        return None
    try:
        return float(text) if not text.lstrip().startswith(("[", "{", "(")) else \
            ast.literal_eval(_NAN.sub("None", text))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text if not text.lstrip().startswith(("[", "{", "(")) else _bad(path, where)


def _bad(path: Path, where: str):
    raise JetsError("data cell is not a number or a list/dict literal", path, where)


@dataclass
class Extracts:
    path: str
    extractor: str
    table: pd.DataFrame   # flat, as panoptes_aggregation writes it, data cells parsed
    bad_rows: dict[str, int] = field(default_factory=lambda: {"bad_id": 0, "bad_data": 0})


def read_extracts(path: str | os.PathLike, settings) -> Extracts:
    """A panoptes_aggregation extract CSV (`<extractor>_<name>.csv`), cells parsed safely."""
    path = Path(path)
    df = _read_table(path, settings, EXTRACT_COLUMNS, "panoptes_aggregation extract CSV")
    names = df["extractor"].unique()
    if len(names) > 1:
        raise JetsError(f"extracts of {len(names)} extractors in one file", path)
    out = Extracts(str(path), str(names[0]) if len(names) else "", pd.DataFrame())
    ids = df[["classification_id", "workflow_id", "subject_id"]].apply(_ids)
    good = ids.notna().all(axis=1).to_numpy()
    out.bad_rows["bad_id"] = int((~good).sum())
    data_cols = [c for c in df.columns if c.startswith("data.")]
    table = df[good].reset_index(drop=True)
    parsed = {}
    bad = np.zeros(len(table), dtype=bool)
    for c in data_cols:
        vals = []
        for i, text in enumerate(table[c]):
            try:
                vals.append(parse_cell(text, path, f"line {i + 2} column {c}"))
            except JetsError:
                bad[i] = True
                vals.append(None)
        parsed[c] = vals
    for c in data_cols:
        table[c] = pd.Series(parsed[c], index=table.index, dtype=object)
    for c in ("classification_id", "workflow_id", "subject_id"):
        table[c] = ids.loc[good, c].to_numpy(dtype="int64")
    table["user_id"] = pd.to_numeric(table["user_id"], errors="coerce")
    out.bad_rows["bad_data"] = int(bad.sum())
    out.table = table[~bad].reset_index(drop=True)
    return out
