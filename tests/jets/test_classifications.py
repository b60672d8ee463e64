"""Classification exports (§5): every annotation of every row of the real class.csv and
old.csv (../shared/data/jets) accounted for (counts written out from the files), the bundled
simulated export, hostile input, extract CSVs."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from levelpipe.jets import classifications as cls
from levelpipe.jets.errors import JetsError

from jets_testlib import SIMULATED_EXPORT, real, settings


def _counts(export):
    return export.marks.groupby(["workflow_id", "task", "kind"]).size().to_dict()


def test_class_csv_every_annotation():
    e = cls.read_export(real("class.csv"), settings().classifications)
    assert len(e.rows) == 6 and sum(e.bad_rows.values()) == 0 and sum(e.bad_marks.values()) == 0
    assert _counts(e) == {(15803, "T0", "question"): 6, (15803, "T1", "point"): 7, (15803, "T2", "point"): 7,
                          (15803, "T2", "empty_drawing"): 1, (15803, "T3", "rotateRectangle"): 8}
    answers = e.marks[e.marks.kind == "question"].answer.value_counts().to_dict()
    assert answers == {"Yes": 5, "No\n": 1}
    assert e.rows.workflow_version.value_counts().to_dict() == {"16.16": 4, "15.16": 2}
    assert set(e.marks[e.marks.kind != "question"].frame.dropna().astype(int)) <= set(range(15))
    assert e.subjects[48193910]["#width"] == "1920.0" and "#fits_header_0" not in e.subjects[48193910]


def test_old_csv_every_annotation_including_the_line():
    e = cls.read_export(real("old.csv"), settings().classifications)
    assert len(e.rows) == 63 and sum(e.bad_rows.values()) == 0 and sum(e.bad_marks.values()) == 0
    assert _counts(e) == {(13459, "T0", "rectangle"): 6, (13459, "T1", "question"): 11,
                          (13459, "T2", "empty_drawing"): 2, (13958, "T0", "question"): 52,
                          (13958, "T1", "point"): 31, (13958, "T2", "point"): 28, (13958, "T2", "empty_drawing"): 1,
                          (13958, "T3", "rotateRectangle"): 13, (13958, "T3", "line"): 1}
    line = e.marks[e.marks.kind == "line"].iloc[0]
    assert {"x1", "y1", "x2", "y2"} <= set(line.dropna().index)
    angles = e.marks[e.marks.kind == "rotateRectangle"].angle
    assert angles.min() == pytest.approx(-44.1, abs=0.05) and angles.max() == pytest.approx(25.3, abs=0.05)
    # every annotation item of every row is in `marks` (a question, a mark or an empty drawing task)
    raw = pd.read_csv(real("old.csv"))
    items = sum(max(len(t["value"]), 1) if isinstance(t["value"], list) else 1
                for a in raw.annotations for t in json.loads(a))
    assert items == len(e.marks) == 145


def test_fem_marks_are_read():
    ann = [{"task": "T0", "value": [
        {"toolIndex": 0, "toolType": "temporalPoint", "x": 3.0, "y": 4.0, "displayTime": 0.25, "frame": 0, "details": []},
        {"toolIndex": 1, "toolType": "temporalRotateRectangle", "x_center": 10.0, "y_center": 20.0, "width": 5.0,
         "height": 2.0, "angle": -30.0, "displayTime": 0.5, "frame": 0, "details": []},
        {"toolIndex": 2, "toolType": "freehandLine", "points": []}]}]
    e = _one_row(ann)
    kinds = e.marks.kind.tolist()
    assert kinds == ["temporalPoint", "temporalRotateRectangle"] and e.bad_marks["unknown_shape"] == 1
    assert e.marks.iloc[1].x == 10.0 and e.marks.iloc[1].display_time == 0.5


def _one_row(annotations, tmp=None, **over):
    import tempfile
    from pathlib import Path
    row = {"classification_id": "1", "user_name": "u", "user_id": "", "user_ip": "x", "workflow_id": "21225",
           "workflow_name": "fem", "workflow_version": "12.8", "created_at": "2023-01-01 00:00:00 UTC",
           "gold_standard": "", "expert": "", "metadata": "{}", "annotations": json.dumps(annotations),
           "subject_data": json.dumps({"5": {"retired": None}}), "subject_ids": "5", **over}
    d = Path(tempfile.mkdtemp())
    pd.DataFrame([row]).to_csv(d / "e.csv", index=False)
    return cls.read_export(d / "e.csv", settings().classifications)


def test_simulated_export_every_annotation():
    """The bundle's export: 6 simulated volunteers x 2 subjects; 10 answered Yes and marked a
    start point, an end point and a box, 2 answered No (three empty drawing tasks each)
    (counts written out from the file's annotations)."""
    e = cls.read_export(SIMULATED_EXPORT, settings().classifications)
    assert len(e.rows) == 12 and sum(e.bad_rows.values()) == 0 and sum(e.bad_marks.values()) == 0
    assert _counts(e) == {(15803, "T0", "question"): 12, (15803, "T1", "point"): 10, (15803, "T2", "point"): 10,
                          (15803, "T3", "rotateRectangle"): 10, (15803, "T1", "empty_drawing"): 2,
                          (15803, "T2", "empty_drawing"): 2, (15803, "T3", "empty_drawing"): 2}
    assert e.marks[e.marks.kind == "question"].answer.value_counts().to_dict() == {"Yes": 10, "No\n": 2}
    assert sorted(e.subjects) == [90000001, 90000002]
    assert e.subjects[90000001]["%sol_standard"] == "SOL2011-02-15T00:00:00L021C105"
    assert e.subjects[90000001]["#hek_title"].startswith("SIMULATED")


def test_bad_rows_are_counted_and_skipped(tmp_path):
    src = pd.read_csv(SIMULATED_EXPORT, dtype=str, keep_default_na=False)
    src.loc[0, "annotations"] = "[{not json"
    src.loc[1, "created_at"] = "yesterday"
    src.loc[2, "subject_ids"] = "abc"
    src.loc[3, "annotations"] = '{"task": "T0"}'
    src.to_csv(tmp_path / "bad.csv", index=False)
    e = cls.read_export(tmp_path / "bad.csv", settings().classifications)
    assert len(e.rows) == 8
    assert e.bad_rows == {"bad_id": 1, "bad_time": 1, "bad_version": 0, "bad_json": 1, "bad_annotations": 1}
    assert all(line >= 2 for line, _, _ in e.skipped)


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00", b"a,b\n1,2\n", b'classification_id,"unclosed\n'])
def test_hostile_exports_give_one_line_errors(tmp_path, content):
    p = tmp_path / "x.csv"
    p.write_bytes(content)
    with pytest.raises(JetsError) as err:
        cls.read_export(p, settings().classifications)
    assert str(err.value).startswith(str(p)) and "\n" not in str(err.value)


def test_export_size_checked_before_reading(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes(b"x" * 4096)
    with pytest.raises(JetsError, match="limit 2048"):
        cls.read_export(p, settings(classifications={"max_file_bytes": 2048}).classifications)


def test_extract_csv_cells_are_never_evaluated(tmp_path):
    """panoptes_aggregation's unflatten_data evals cells; ours reads literals only."""
    p = tmp_path / "point_extractor_by_frame_x.csv"
    marker = tmp_path / "pwned"
    head = "classification_id,user_name,user_id,workflow_id,task,created_at,subject_id,extractor,data.frame0.T1_tool0_x\n"
    p.write_text(head + f'1,u,,15803,T1,2020-01-01 00:00:00 UTC,5,point_extractor_by_frame,"[open(\'{marker}\', \'w\')]"\n'
                 + "2,u,,15803,T1,2020-01-01 00:00:00 UTC,5,point_extractor_by_frame,\"[1.5, nan]\"\n")
    ex = cls.read_extracts(p, settings().classifications)
    assert not marker.exists()
    assert ex.bad_rows["bad_data"] == 1 and len(ex.table) == 1
    assert ex.table.iloc[0]["data.frame0.T1_tool0_x"] == [1.5, None]


def test_not_an_extract_csv(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(JetsError, match="no column 'classification_id'"):
        cls.read_extracts(p, settings().classifications)


@pytest.mark.parametrize("bad", ["1e300", "1.5", "123456789012345678901234567890", "inf"])
def test_ids_that_are_not_whole_numbers_are_bad_ids(tmp_path, bad):
    """Found by `make fuzz`: such ids used to raise TypeError/OverflowError in the Int64 cast."""
    src = pd.read_csv(SIMULATED_EXPORT, dtype=str, keep_default_na=False)
    n = len(src)
    src.loc[0, "classification_id"] = bad
    src.loc[1, "subject_ids"] = bad
    src.to_csv(tmp_path / "bad.csv", index=False)
    e = cls.read_export(tmp_path / "bad.csv", settings().classifications)
    assert e.bad_rows["bad_id"] == 2 and len(e.rows) == n - 2
    head = "classification_id,user_name,user_id,workflow_id,task,created_at,subject_id,extractor,data.frame0.T1_tool0_x\n"
    p = tmp_path / "point_extractor_by_frame_x.csv"
    p.write_text(head + f"{bad},u,,15803,T1,2020-01-01 00:00:00 UTC,5,point_extractor_by_frame,\"[1.5]\"\n"
                 + "2,u,,15803,T1,2020-01-01 00:00:00 UTC,5,point_extractor_by_frame,\"[1.5]\"\n")
    ex = cls.read_extracts(p, settings().classifications)
    assert ex.bad_rows["bad_id"] == 1 and ex.table["classification_id"].tolist() == [2]
