"""Aggregation: ours equals panoptes_aggregation's own command line on the same input and
config (after our documented per-user filter), and the §6.2 faults stay out of our results."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
import yaml

from levelpipe.errors import ConfigError
from levelpipe.jets import aggregation as agg
from levelpipe.jets import classifications as cls

from conftest import shared_data
from jets_testlib import BUNDLE, settings

EXPORTS = BUNDLE / "classifications"


def cli(command, *args, cwd):
    """panoptes_aggregation's command line: its own argument parser and entry point, run in
    this process (a subprocess costs seconds of imports; benchmarks/bench_jets.py runs the
    real executable)."""
    from panoptes_aggregation.scripts.aggregation_parser import main
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        main([command, *map(str, args), "-hb"])


def _export(paths, tmp_path, keep_ids=None, name="input.csv"):
    """The export rows (as text, untouched) of `paths`, optionally only `keep_ids`."""
    df = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths], ignore_index=True)
    if keep_ids is not None:
        df = df[df["classification_id"].astype(int).isin(set(keep_ids))]
    out = tmp_path / name
    df.to_csv(out, index=False)
    return out


def _configs(wf, tmp_path):
    ex = tmp_path / f"Extractor_config_{wf.workflow_id}.yaml"
    ex.write_text(yaml.safe_dump({"extractor_config": {k: list(v) for k, v in wf.extractor_config.items()},
                                  "workflow_id": wf.workflow_id, "workflow_version": {"min": wf.version_min}}))
    red = {}
    for name, r in wf.reducers.items():
        p = tmp_path / f"Reducer_config_{wf.workflow_id}_{name}.yaml"
        p.write_text(yaml.safe_dump({"reducer_config": {r.reducer: dict(r.keywords)}}))
        red[name] = p
    return ex, red


@lru_cache(maxsize=8)
def _ours_cached(paths, workflow_id):
    return _ours_uncached(list(paths), workflow_id, settings())


def _ours(paths, workflow_id, s):
    return _ours_cached(tuple(paths), workflow_id)


def _ours_uncached(paths, workflow_id, s):
    rows = pd.concat([cls.read_export(p, s.classifications).rows for p in paths], ignore_index=True)
    wf = next(w for w in s.aggregation.workflows if w.workflow_id == workflow_id)
    return agg.aggregate(rows, s.aggregation.model_copy(update={"workflows": [wf]}))[workflow_id], wf


def _csv_frame(df_or_path, tmp_path, name):
    if isinstance(df_or_path, pd.DataFrame):
        p = tmp_path / name
        df_or_path.to_csv(p, index=False)
        df_or_path = p
    return pd.read_csv(df_or_path, dtype=str, keep_default_na=False)


@pytest.mark.parametrize("files, workflow_id", [(["class.csv", "sample_simulated_15803.csv"], 15803),
                                                (["old.csv"], 13958)])
def test_same_extracts_and_clusters_as_the_panoptes_cli(tmp_path, files, workflow_id):
    s = settings()
    paths = [EXPORTS / f for f in files]
    ours, wf = _ours(paths, workflow_id, s)
    # our documented filter applied to the raw export; the CLI then gets exactly those rows
    kept = [int(c) for t in ours.extracts.values() for c in t["classification_id"]]
    src = _export(paths, tmp_path, kept)
    ex_cfg, red_cfg = _configs(wf, tmp_path)
    cli("extract", src, ex_cfg, "-o", "cli", "-d", tmp_path, cwd=tmp_path)
    for name, table in ours.extracts.items():
        theirs = _csv_frame(tmp_path / f"{name}_cli.csv", tmp_path, "x")
        mine = _csv_frame(table, tmp_path, f"ours_{name}.csv")
        pd.testing.assert_frame_equal(mine, theirs)
    compared = 0
    for name, red in ours.reductions.items():
        squashed = tmp_path / f"{name}_squashed.csv"
        ours.squashed[name].to_csv(squashed, index=False)
        cli("reduce", squashed, red_cfg[name], "-o", f"cli_{name}", "-d", tmp_path, cwd=tmp_path)
        reducer = wf.reducers[name].reducer
        theirs = _csv_frame(tmp_path / f"{reducer}_cli_{name}.csv", tmp_path, "y")
        mine = _csv_frame(red, tmp_path, f"ours_red_{name}.csv")
        pd.testing.assert_frame_equal(mine[theirs.columns], theirs)
        compared += len(theirs)
    assert compared > 0
    if workflow_id == 15803:
        boxes = ours.reductions["shape_extractor_rotateRectangle"]
        counts = boxes["data.frame0.T3_tool0_clusters_count"].dropna()
        assert [len(c) for c in counts] == [1, 1] and all(c[0] >= 3 for c in counts)  # a box cluster per sample subject


def test_first_classification_per_user_counts_not_repeats(tmp_path):
    """§6.2: `reduce -F first` does nothing in 5.3.1. A volunteer who classifies a subject twice
    (later answer different) must count once, with the first answer."""
    s = settings()
    src = pd.read_csv(EXPORTS / "class.csv", dtype=str, keep_default_na=False)
    again = src.copy()
    again["classification_id"] = (again["classification_id"].astype(int) + 10 ** 9).astype(str)
    again["created_at"] = again["created_at"].str.replace(r" (\d\d):", lambda m: f" {int(m.group(1)) + 1:02d}:", regex=True)
    again["annotations"] = '[{"task": "T0", "task_label": "See A Jet?", "value": "No\\n"}]'
    both = tmp_path / "twice.csv"
    pd.concat([src, again]).to_csv(both, index=False)
    ours, wf = _ours([both], 15803, s)
    assert ours.counts["repeat_classifications"] == 6
    q = ours.reductions["question_extractor"]
    votes = q[["data.yes", "data.no"]].astype(float).fillna(0).sum(axis=1)
    assert votes.tolist() == [1.0] * 6
    firsts = {r.subject_id: r.annotations for r in cls.read_export(EXPORTS / "class.csv", s.classifications).rows.itertuples()}
    assert {int(r.subject_id): (r["data.yes"] == 1) for _, r in q.iterrows()} == \
        {k: '"Yes"' in v for k, v in firsts.items()}
    # the library itself, given the same unfiltered rows, counts both (the 5.x fault)
    ex_cfg, red_cfg = _configs(wf, tmp_path)
    cli("extract", both, ex_cfg, "-o", "all", "-d", tmp_path, cwd=tmp_path)
    cli("reduce", tmp_path / "question_extractor_all.csv", red_cfg["question_extractor"], "-F", "first",
        "-o", "all", "-d", tmp_path, cwd=tmp_path)
    theirs = pd.read_csv(tmp_path / "question_reducer_all.csv")
    assert theirs[["data.yes", "data.no"]].fillna(0).sum(axis=1).tolist() == [2.0] * 6


def test_reducer_settings_that_would_be_dropped_are_refused():
    """§6.2: shape_reducer_dbscan drops allow_single_cluster silently."""
    with pytest.raises(ConfigError, match="shape_reducer_dbscan ignores 'allow_single_cluster'"):
        agg.check_reducer("shape_reducer_dbscan", {"shape": "rotateRectangle", "eps": 0.6, "allow_single_cluster": True})
    assert agg.check_reducer("point_reducer_hdbscan", {"allow_single_cluster": True, "min_cluster_size": 2})
    bad = settings().aggregation.workflows[0].model_dump()
    bad["reducers"]["shape_extractor_rotateRectangle"]["keywords"]["allow_single_cluster"] = True
    s = settings(aggregation={"workflows": [bad]})
    with pytest.raises(ConfigError, match="allow_single_cluster"):
        agg.aggregate(pd.DataFrame(), s.aggregation)
    # the fault itself: the library gives the same clusters with and without the key
    import panoptes_aggregation as pa
    data = [{"frame0": {"T3_tool0_x": [10.0], "T3_tool0_y": [10.0], "T3_tool0_width": [50.0],
                        "T3_tool0_height": [20.0], "T3_tool0_angle": [0.0]}}] * 3
    kw = {"shape": "rotateRectangle", "metric_type": "IoU", "eps": 0.6, "min_samples": 3}
    a = pa.reducers.reducers["shape_reducer_dbscan"](data, user_id=[1, 2, 3], **kw)
    b = pa.reducers.reducers["shape_reducer_dbscan"](data, user_id=[1, 2, 3], allow_single_cluster=True, **kw)
    assert a == b


def test_real_published_box_config_is_refused_as_written():
    folder = shared_data("jets") / "solarjets_configs"
    cfg = yaml.safe_load((folder / "Reducer_config_workflow_19650_V4.52_shape_extractor_rotateRectangle.yaml").read_text())
    (name, kw), = cfg["reducer_config"].items()
    with pytest.raises(ConfigError):
        agg.check_reducer(name, kw)
    points = yaml.safe_load((folder / "Reducer_config_workflow_19650_V4.52_point_extractor_by_frame.yaml").read_text())
    (name, kw), = points["reducer_config"].items()
    assert agg.check_reducer(name, kw) == kw
    ours = next(w for w in settings().aggregation.workflows if w.workflow_id == 19650)
    extractor = yaml.safe_load((folder / "Extractor_config_workflow_19650_V4.52.yaml").read_text())
    assert ours.extractor_config == extractor["extractor_config"]


def test_squash_last_replaces_concatenate_keeps():
    flat = pd.DataFrame({"data.frame0.T1_tool0_x": [[1.0], np.nan], "data.frame3.T1_tool0_x": [[5.0, 6.0], [7.0]],
                         "data.aggregation_version": ["5.3.1", "5.3.1"]})
    assert agg.squash(flat, "last")["data.frame0.T1_tool0_x"].tolist() == [[5.0, 6.0], [7.0]]
    assert agg.squash(flat, "concatenate")["data.frame0.T1_tool0_x"].tolist() == [[1.0, 5.0, 6.0], [7.0]]
    assert "data.frame3.T1_tool0_x" not in agg.squash(flat, "last")


def test_extract_csv_input_reduces_like_classifications(tmp_path):
    """Teams that ran the extraction start from extract CSVs: the same reductions follow."""
    s = settings()
    paths = [EXPORTS / "sample_simulated_15803.csv"]
    ours, wf = _ours(paths, 15803, s)
    files = []
    for name, table in ours.extracts.items():
        p = tmp_path / f"{name}_x.csv"
        table.to_csv(p, index=False)
        files.append(cls.read_extracts(p, s.classifications))
    again = agg.aggregate(pd.DataFrame(columns=["workflow_id"]), s.aggregation.model_copy(update={"workflows": [wf]}),
                          agg.extracts_by_workflow(files))[15803]
    for name in ours.reductions:
        a = _csv_frame(ours.reductions[name], tmp_path, "a.csv")
        b = _csv_frame(again.reductions[name], tmp_path, "b.csv")
        pd.testing.assert_frame_equal(a, b)
