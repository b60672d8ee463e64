"""Aggregation of classifications with panoptes_aggregation (§6.1-6.2), with its known faults
worked around in our code.

Per workflow of the config: select its classifications (workflow id, version range), keep one
classification per (subject, user) (§6.2: ``reduce -F first`` is a no-op in 5.x, so we filter
before extraction), run panoptes_aggregation's own extractors (``batch_extract``), squash the
frames (§6.1 step 3), and run its reducers on each subject and task exactly as its
``reduce_subject`` does, with keywords checked against what each reducer accepts (§6.2: unknown
keys are silently dropped by ``process_kwargs``). Extracts and reductions stay in
panoptes_aggregation's own flat CSV format, so a team can diff them against its CLI runs.

Decision (§10 Q9): levelpipe reproduces panoptes_aggregation 5.3.1 (the version PyPI serves:
DIRECT box averages, scikit-learn HDBSCAN, unweighted point centres) with the 3.x/4.x
per-user filter restored; the published catalogue (3.6/4.x, SHGO) cannot be reproduced bit
for bit with it.
"""
from __future__ import annotations

import importlib
import io
import os
import re
from collections import OrderedDict
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from levelpipe.errors import ConfigError
from levelpipe.io.atomic import atomic_output
from levelpipe.jets.errors import JetsError

#: keywords every reducer takes through reducer_wrapper besides its DEFAULTS
_WRAPPER_KEYWORDS = {"details", "count_threshold", "skill_threshold"}
_FRAME_COLUMN = re.compile(r"^data\.frame(\d+)\.(.+)$")


def _pa():
    try:
        import panoptes_aggregation
    except ImportError:
        raise JetsError("panoptes_aggregation is not installed: pip install --no-deps 'panoptes-aggregation==5.3.1' "
                        "(its own pins would downgrade numpy, pandas, scikit-learn, shapely, astropy)") from None
    return panoptes_aggregation


def reducer_keywords(name: str) -> set[str]:
    """The keywords panoptes_aggregation's reducer `name` reads (everything else it drops)."""
    reducers = _pa().reducers.reducers
    if name not in reducers:
        raise ConfigError(f"unknown panoptes_aggregation reducer {name!r}")
    module = importlib.import_module(reducers[name].__module__)
    accepted = set(getattr(module, "DEFAULTS", {}))
    accepted |= set(getattr(module, "DEFAULTS_PROCESS", {}))
    return accepted | _WRAPPER_KEYWORDS


def check_reducer(name: str, keywords: Mapping[str, Any], where: str = "aggregation") -> dict[str, Any]:
    """`keywords` if the reducer reads all of them.

    Decision (§6.2): the published box config sets ``allow_single_cluster`` on
    shape_reducer_dbscan, which drops it silently. A setting that has no effect is refused with
    a ConfigError here, so the config says what the run does."""
    unknown = sorted(set(keywords) - reducer_keywords(name))
    if unknown:
        raise ConfigError(f"{name} ignores {', '.join(map(repr, unknown))} (panoptes_aggregation drops unknown "
                          f"keys silently)", where=where)
    return dict(keywords)


def _version(text: str):
    import packaging.version
    return packaging.version.parse(text)


def select_workflow(rows: pd.DataFrame, wf) -> tuple[pd.DataFrame, dict[str, int]]:
    """The classifications of one workflow and version range, and how many others were left."""
    mine = rows[rows["workflow_id"] == wf.workflow_id]
    versions = mine["workflow_version"].map(_version)
    ok = versions >= _version(wf.version_min)
    if wf.version_max is not None:
        ok &= versions <= _version(wf.version_max)
    return mine[ok], {"other_version": int((~ok).sum())}


def per_user(rows: pd.DataFrame, rule: str) -> tuple[pd.DataFrame, int]:
    """One classification per (subject, user_name) (`rule` first/last), or all; and how many went.

    Decision (§6.2): 3.x/4.x kept each user's FIRST classification of a subject (by created_at),
    5.3.1 keeps all because its ``-F`` never reaches the filter. We keep the first, applied to
    whole classifications before extraction: every extract of one classification has the same
    created_at, so this equals the old per-task filter. Ties in created_at go to the smaller
    classification_id. Not-logged-in volunteers are one user per session name (§5.1)."""
    if rule == "all" or rows.empty:
        return rows, 0
    order = rows.sort_values(["created", "classification_id"], kind="stable")
    kept = order.drop_duplicates(["subject_id", "user_name"], keep="first" if rule == "first" else "last")
    kept = kept.sort_index()
    return kept, len(rows) - len(kept)


def _user_ids(col: pd.Series) -> np.ndarray:
    """As pandas.read_csv gives them to the CLI: integers, or floats when one is missing (§5.1)."""
    v = pd.to_numeric(col, errors="coerce").astype(float).to_numpy()
    return v.astype(np.int64) if np.isfinite(v).all() else v


def _pa_input(rows: pd.DataFrame) -> pd.DataFrame:
    """The columns batch_extract reads, with the dtypes its CLI gets from pandas.read_csv."""
    return pd.DataFrame({
        "classification_id": rows["classification_id"].astype("int64").to_numpy(),
        "user_name": rows["user_name"].to_numpy(),
        "user_id": _user_ids(rows["user_id"]),
        "workflow_id": rows["workflow_id"].astype("int64").to_numpy(),
        "created_at": rows["created_at"].to_numpy(),
        "subject_ids": rows["subject_id"].astype("int64").to_numpy(),
        "annotations": rows["annotations"].to_numpy(),
        "metadata": rows["metadata"].to_numpy(),
    })


def extract(rows: pd.DataFrame, extractor_config: Mapping[str, list]) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """panoptes_aggregation's extracts of `rows` (flat, one DataFrame per extractor), and the
    classifications each extractor failed on (the library skips them silently; we count them)."""
    if rows.empty:
        return {}, {}
    _pa()
    from panoptes_aggregation.scripts.batch_utils import batch_extract
    with redirect_stdout(io.StringIO()):
        flat = batch_extract(_pa_input(rows), {k: list(v) for k, v in extractor_config.items()},
                             hide_progressbar=True)
    failed: dict[str, int] = {}
    for name, keywords in extractor_config.items():
        got = len(flat.get(name, ()))
        failed[name] = len(rows) * len(keywords) - got
    return dict(flat), failed


def squash(flat: pd.DataFrame, mode: str) -> pd.DataFrame:
    """Frames moved into frame0 (§6.1 step 3).

    mode "last": the published squash_frames.py, a later frame's list replaces an earlier one's;
    "concatenate": every frame's marks are kept, in frame order.
    Decision (§10 Q10): the default is concatenate; "last" loses marks drawn on earlier frames
    and is kept only to reproduce the published reductions."""
    frame_cols: dict[str, list[tuple[int, str]]] = {}
    for c in flat.columns:
        m = _FRAME_COLUMN.match(c)
        if m:
            frame_cols.setdefault(m.group(2), []).append((int(m.group(1)), c))
    out = flat[[c for c in flat.columns if not _FRAME_COLUMN.match(c)]].copy()
    for key, cols in frame_cols.items():
        cols.sort()
        values = flat[[c for _, c in cols]].to_numpy(dtype=object)
        merged = []
        for row in values:
            present = [v for v in row if isinstance(v, list)]
            if not present:
                merged.append(np.nan)
            elif mode == "last":
                merged.append(list(present[-1]))
            else:
                merged.append([x for v in present for x in v])
        out[f"data.frame0.{key}"] = pd.Series(merged, index=flat.index, dtype=object)
    return out


def _renest(flat: Mapping[str, Any]) -> dict:
    out: dict = {}
    for key, value in flat.items():
        parts = key.split(".")
        d = out
        for p in parts[:-1]:
            d = d.setdefault(p, {})
        d[parts[-1]] = value
    return out


def _present(v) -> bool:
    if v is None:
        return False
    if isinstance(v, float) and np.isnan(v):
        return False
    return True


def reduce(flat: pd.DataFrame, reducer: str, keywords: Mapping[str, Any], failed: list | None = None) -> pd.DataFrame:
    """panoptes_aggregation's reducer on every (subject, task), as its reduce_subject does
    (extracts sorted by subject and created_at, data cells unflattened), without its eval of CSV
    cells. Returns the flat reduction table of its CLI. A (subject, task) whose extracts make the
    reducer fail (malformed marks the extractors let through) is skipped and appended to
    `failed` as (subject, task, error), never fatal to the other subjects."""
    pa = _pa()
    from panoptes_aggregation.csv_utils import flatten_data
    fn = pa.reducers.reducers[reducer]
    keywords = check_reducer(reducer, keywords)
    empty = pd.DataFrame(columns=["subject_id", "workflow_id", "task", "reducer"])
    if flat.empty:
        return empty
    ex = flat.assign(_created=pd.to_datetime(flat["created_at"], utc=True, format="mixed"))
    ex = ex.sort_values(["subject_id", "_created"], kind="stable")
    ex = ex.drop_duplicates(["classification_id", "task"], keep="first")
    data_cols = [c for c in ex.columns if c.startswith("data.")]
    workflow_id = int(ex["workflow_id"].iloc[0])
    out = []
    tasks = ex["task"].unique()
    for subject, by_subject in ex.groupby("subject_id", sort=False):
        for task in tasks:
            cls = by_subject[by_subject["task"] == task]
            data = [_renest({c[5:]: v for c, v in zip(data_cols, row) if _present(v)})
                    for row in cls[data_cols].itertuples(index=False, name=None)]
            try:
                reduction = fn(data, user_id=list(cls["user_id"]), created_at=list(cls["created_at"]), **keywords)
            except Exception as err:  # noqa: BLE001 - the library raises anything on malformed marks
                if failed is not None:
                    failed.append((int(subject), str(task), type(err).__name__))
                continue
            for r in reduction if isinstance(reduction, list) else [reduction]:
                out.append(OrderedDict([("subject_id", int(subject)), ("workflow_id", workflow_id),
                                        ("task", task), ("reducer", reducer), ("data", r)]))
    return flatten_data(pd.DataFrame(out)) if out else empty


@dataclass
class WorkflowResult:
    workflow_id: int
    classifications: int
    counts: dict[str, int] = field(default_factory=dict)
    extracts: dict[str, pd.DataFrame] = field(default_factory=dict)
    squashed: dict[str, pd.DataFrame] = field(default_factory=dict)
    reductions: dict[str, pd.DataFrame] = field(default_factory=dict)


def aggregate(rows: pd.DataFrame, settings, extracts: Mapping[int, Mapping[str, pd.DataFrame]] | None = None
              ) -> dict[int, WorkflowResult]:
    """Every configured workflow: select, filter, extract, squash, reduce (settings: the
    `aggregation` section). `extracts` ({workflow id: {extractor: flat table}}) come from
    extract CSVs given as input; they are reduced as they are (they were filtered by whoever
    extracted them) and added to the extracts made here."""
    results: dict[int, WorkflowResult] = {}
    for wf in settings.workflows:
        for ex_name, red in wf.reducers.items():
            check_reducer(red.reducer, red.keywords, where=f"aggregation.workflows[{wf.workflow_id}].{ex_name}")
        chosen, counts = select_workflow(rows, wf) if len(rows) else (rows, {"other_version": 0})
        chosen, repeats = per_user(chosen, settings.per_user)
        counts["repeat_classifications"] = repeats
        flat, failed = extract(chosen, wf.extractor_config)
        counts.update({f"failed_{k}": v for k, v in failed.items()})
        given = (extracts or {}).get(wf.workflow_id, {})
        for name, table in given.items():
            flat[name] = pd.concat([flat[name], table], ignore_index=True) if name in flat else table
        res = WorkflowResult(wf.workflow_id, len(chosen), counts, flat)
        for name, table in flat.items():
            if name not in wf.reducers:
                continue
            sq = squash(table, settings.squash)
            res.squashed[name] = sq
            red = wf.reducers[name]
            failures: list = []
            res.reductions[name] = reduce(sq, red.reducer, red.keywords, failures)
            res.counts[f"failed_reductions_{name}"] = len(failures)
        results[wf.workflow_id] = res
    return results


def write_csv(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """A table in panoptes_aggregation's CSV style (pandas to_csv, no index), atomically."""
    path = Path(path)
    with atomic_output(path) as tmp:
        table.to_csv(tmp, index=False, encoding="utf-8")
    return path


def extracts_by_workflow(tables: Iterable) -> dict[int, dict[str, pd.DataFrame]]:
    """Extract tables (``classifications.Extracts``) grouped by workflow and extractor."""
    out: dict[int, dict[str, pd.DataFrame]] = {}
    for ex in tables:
        for wid, part in ex.table.groupby("workflow_id"):
            d = out.setdefault(int(wid), {})
            d[ex.extractor] = pd.concat([d[ex.extractor], part], ignore_index=True) if ex.extractor in d else part
    return out


def require_some(results: Mapping[int, WorkflowResult], where: str) -> None:
    """A run that aggregated nothing fails loudly instead of writing empty products."""
    if not any(r.classifications or any(len(t) for t in r.extracts.values()) for r in results.values()):
        raise JetsError("no classification or extract of any configured workflow (aggregation.workflows)", where)


# ----------------------------------------------------------------------------- step

def _reduction_name(reducer: str, workflow_id: int, extractor: str) -> str:
    # panoptes_aggregation's CLI names reductions <reducer>_<output name>.csv
    return f"{reducer}_{workflow_id}_{extractor}.csv"


def write_aggregation(ctx) -> None:
    """Step `aggregate`: exports and extract CSVs -> results/jets/extracts/ and reductions/
    (panoptes_aggregation's CSV formats), plus subjects.json (each subject's manifest metadata,
    from the exports) and counts.json (every counted skip) in reductions/."""
    import json
    from levelpipe.jets import classifications as cls
    s = ctx.settings
    exports = cls.read_exports(ctx.inputs["classifications"], s.classifications) if "classifications" in ctx.inputs else []
    given = [cls.read_extracts(p, s.classifications) for p in ctx.inputs["extracts"]]
    if not exports and not given:
        raise JetsError("no classification export and no extract CSV in the input", "classifications/")
    rows = pd.concat([e.rows for e in exports], ignore_index=True) if exports else pd.DataFrame(
        columns=["workflow_id", "workflow_version", "subject_id", "user_name", "created", "classification_id"])
    results = aggregate(rows, s.aggregation, extracts_by_workflow(given))
    require_some(results, ", ".join(ctx.inputs.all))
    meta = {}
    for e in exports:
        meta.update({str(k): v for k, v in e.subjects.items()})
    counts = {"exports": {e.path: {"rows": len(e.rows), **{f"bad_rows_{k}": v for k, v in e.bad_rows.items()},
                                   **{f"bad_marks_{k}": v for k, v in e.bad_marks.items()},
                                   "annotation_items": len(e.marks)} for e in exports},
              "extract_files": {x.path: {"rows": len(x.table), **x.bad_rows} for x in given},
              "workflows": {str(w): {"classifications": r.classifications, **r.counts} for w, r in results.items()}}
    with atomic_output(ctx.outputs.one("extracts"), suffix="") as ex_dir, \
            atomic_output(ctx.outputs.one("reductions"), suffix="") as red_dir:
        for d in (ex_dir, red_dir):
            d.unlink()
            d.mkdir()
        for wid, r in results.items():
            for name, table in r.extracts.items():
                table.to_csv(ex_dir / f"{name}_{wid}.csv", index=False, encoding="utf-8")
                r.squashed[name].to_csv(ex_dir / f"{name}_{wid}_squashed.csv", index=False, encoding="utf-8") \
                    if name in r.squashed else None
            wf = next(w for w in s.aggregation.workflows if w.workflow_id == wid)
            for name, table in r.reductions.items():
                table.to_csv(red_dir / _reduction_name(wf.reducers[name].reducer, wid, name), index=False,
                             encoding="utf-8")
        (red_dir / "subjects.json").write_text(json.dumps(meta, sort_keys=True, indent=1))
        (red_dir / "counts.json").write_text(json.dumps(counts, sort_keys=True, indent=1))


def read_reductions(folder: str | os.PathLike, settings, max_bytes: int, max_field: int) -> dict[int, WorkflowResult]:
    """The reductions folder written by `write_aggregation`, data cells parsed without eval."""
    from levelpipe.jets.classifications import parse_cell, _read_csv
    folder = Path(folder)
    out: dict[int, WorkflowResult] = {}
    for wf in settings.workflows:
        res = WorkflowResult(wf.workflow_id, 0)
        for name, red in wf.reducers.items():
            p = folder / _reduction_name(red.reducer, wf.workflow_id, name)
            if not p.exists():
                continue
            if p.stat().st_size > max_bytes:
                raise JetsError(f"{p.stat().st_size} bytes (limit {max_bytes})", p)
            df = _read_csv(p, max_field)
            for c in df.columns:
                if c.startswith("data."):
                    df[c] = pd.Series([parse_cell(v, p, f"line {i + 2} column {c}") for i, v in enumerate(df[c])],
                                      index=df.index, dtype=object)
            df["subject_id"] = pd.to_numeric(df["subject_id"], errors="raise").astype("int64")
            res.reductions[name] = df
        out[wf.workflow_id] = res
    return out
