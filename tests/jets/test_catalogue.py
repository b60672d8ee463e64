"""Catalogue decisions (§6.4-6.6): each published defect that is not copied, pinned here."""
from __future__ import annotations

import math

import numpy as np
import pytest

from levelpipe.jets import catalogue as cg
from levelpipe.jets import images

from jets_testlib import settings

CAT = settings().catalogue


def _geometry(sid=1, start="2011-02-15T00:00:00", bbox=(0.0, 1000.0, 0.0, 1000.0)):
    p = images.Placement(1000.0, 1000.0, 0.0, 0.0, 1.0, 1.0, 1, 1)   # 1 PNG px = 1 arcsec, y down
    t = np.datetime64(start, "ns")
    return cg.SubjectGeometry(sid, "SOL_x", t, t + np.timedelta64(336, "s"), p, None, bbox)


def _jet(sid, start_xy, start="2011-02-15T00:00:00", spread=2.0, box=(100, 100, 40, 10, 0.0)):
    g = _geometry(sid, start)
    b = cg.Cluster("box", "T3_tool0", 5, 0.8, *box, sigma=0.1)
    s = cg.Cluster("start", "T1_tool0", 5, spread, *start_xy)
    j = cg.Jet(sid, b, s, None, g)
    j.values = cg.jet_properties(j)
    return j


def test_box_corners_follow_shapely_rotation():
    from shapely import affinity
    from shapely.geometry import box
    ref = affinity.rotate(box(10, 20, 50, 30), 30, origin="center")
    ours = cg.box_corners(10, 20, 40, 10, 30)
    assert np.allclose(sorted(map(tuple, np.round(ours, 9))), sorted(map(tuple, np.round(ref.exterior.coords[:4], 9))))


def test_unique_boxes_weight_is_iou_times_count_not_count_squared():
    """Decision §6.4: IoU x count. A: IoU 0.9, 4 members (3.6; count^2: 14.4);
    B: IoU 0.3, 10 members (3.0; count^2: 30). They overlap, so only the heavier is kept: A."""
    a = cg.Cluster("box", "T1_tool2", 4, 0.9, 100, 100, 50, 20, 0.0)
    b = cg.Cluster("box", "T5_tool2", 10, 0.3, 102, 101, 50, 20, 0.0)
    kept = cg.unique_boxes([b, a], CAT.min_box_iou, CAT.min_box_confidence)
    assert kept == [a]


def test_unique_points_merge_close_and_keep_compact():
    p = [cg.Cluster("start", "c", 3, 4.0, 10, 10), cg.Cluster("start", "c", 3, 1.0, 13, 10),
         cg.Cluster("start", "c", 3, 1.0, 100, 100)]
    kept = cg.unique_points(p, CAT.point_merge_factor)
    assert [(k.x, k.y) for k in kept] == [(13, 10), (100, 100)]


def test_each_jet_keeps_its_own_start_spread():
    """Decision §6.5: the published list held two numbers per jet, misaligned with the jets."""
    jets = [_jet(1, (100, 105), spread=1.0), _jet(2, (100, 125), "2011-02-15T00:05:12", spread=30.0)]
    assert [j.values["start_spread"] for j in jets] == [1.0, 30.0]
    # distance 20 px / mean spread 15.5 -> point term 1.29 / P90(1.29) = 1; box IoU 1 -> one cluster
    assert cg.cluster_jets(jets, CAT) == [[0, 1]]


def test_zero_spread_and_no_positive_distance_do_not_fail():
    """Decision §6.5: spreads floored (no division by zero); no positive point distance -> the
    normaliser is 1 (the published code raised and the event silently produced nothing)."""
    jets = [_jet(1, (100, 105), spread=0.0), _jet(2, (100, 105), "2011-02-15T00:05:12", spread=0.0)]
    assert cg.cluster_jets(jets, CAT) == [[0, 1]]
    assert cg.cluster_jets([_jet(1, (100, 105))], CAT) == [[0]]


def test_time_threshold_splits_far_subjects():
    jets = [_jet(1, (100, 105)), _jet(2, (100, 105), "2011-02-15T01:00:00")]   # 3600 s = 11.5 steps apart
    assert cg.cluster_jets(jets, CAT) == [[0], [1]]


def test_two_jets_of_one_subject_are_never_one_cluster():
    jets = [_jet(1, (100, 105)), _jet(1, (101, 105))]
    assert cg.cluster_jets(jets, CAT) == [[0], [1]]


def test_position_angle_from_north_through_east():
    """Decision §10 Q13: a box from the base straight up the screen (north) is 0 deg; towards
    -x (east, left on screen) 90 deg."""
    up = _jet(1, (120, 110), box=(115, 60, 10, 50, 0.0))     # base at y=110 (bottom edge), tip at y=60
    assert up.values["position_angle"] == pytest.approx(0.0, abs=1e-6)
    assert up.values["height"] == pytest.approx(50.0) and up.values["width"] == pytest.approx(10.0)
    east = _jet(1, (150, 120), box=(100, 115, 50, 10, 0.0))  # base at x=150 (right edge), tip at x=100
    assert east.values["position_angle"] == pytest.approx(90.0, abs=1e-6)


def test_circular_mean_of_directions():
    assert cg._mean_angle(np.array([350.0, 10.0])) == pytest.approx(0.0, abs=1e-9) or \
        cg._mean_angle(np.array([350.0, 10.0])) == pytest.approx(360.0, abs=1e-9)


def test_sigma_boxes_scale_the_height():
    j = _jet(1, (120, 110), box=(115, 60, 10, 50, 0.0))
    gamma = math.sqrt(1 - 0.1)
    assert j.values["height_upper"] == pytest.approx(50 / gamma) and j.values["height_lower"] == pytest.approx(50 * gamma)


def test_linear_hek_box_geometry_for_subjects_without_wcs():
    meta = {"#width": "1920.0", "#height": "1440.0", "#im_ll_x": "0.2", "#im_ll_y": "0.1", "#im_ur_x": "0.8",
            "#im_ur_y": "0.9", "#frame_per_sub": "15", "#sol_standard": "SOL2010-06-20T11:14:44L031C130",
            "#file_name_0": "ssw_cutout_20100620_111702_aia_304_.png", "#file_name_14": "ssw_cutout_20100620_112246_aia_304_.png"}
    import pandas as pd
    events = pd.DataFrame([{"sol_standard": "SOL2010-06-20T11:14:44L031C130", "bbox_x_min": 693.0, "bbox_x_max": 932.0,
                            "bbox_y_min": -793.0, "bbox_y_max": -572.0}])
    g, why = cg.subject_geometry(1, meta, events, False)
    assert why is None and g.start == np.datetime64("2010-06-20T11:17:02") and g.end == np.datetime64("2010-06-20T11:22:46")
    x, y = g.to_hpc([0.2 * 1920, 0.8 * 1920], [0.9 * 1440, 0.1 * 1440])   # axes lower-left, upper-right
    assert np.allclose(x, [693, 932]) and np.allclose(y, [-793, -572])
    g2, why2 = cg.subject_geometry(2, {**meta, "#sol_standard": "SOL_unknown"}, events, False)
    assert g2 is None and why2 == "no_geometry"


def _reductions(subjects):
    """Reduction tables as read_reductions gives them, written by hand: per subject one box
    cluster of 3 identical boxes (PNG px = arcsec, see `_meta`) and one start point at the
    box's left edge; a question row with the given (yes, no) votes, or none."""
    import pandas as pd
    from levelpipe.jets.aggregation import WorkflowResult
    box, start, question = [], [], []
    b = "data.frame0.T3_tool0"
    p = "data.frame0.T1_tool0"
    for sid, votes in subjects.items():
        shape = {"x": 100.0, "y": 100.0, "width": 40.0, "height": 10.0, "angle": 0.0}
        box.append({"subject_id": sid, "workflow_id": 15803, "task": "T3", "reducer": "shape_reducer_dbscan",
                    **{f"{b}_rotateRectangle_{k}": [v] * 3 for k, v in shape.items()},
                    f"{b}_cluster_labels": [0, 0, 0], f"{b}_clusters_count": [3], f"{b}_clusters_sigma": [0.1],
                    **{f"{b}_clusters_{k}": [v] for k, v in shape.items()}})
        start.append({"subject_id": sid, "workflow_id": 15803, "task": "T1", "reducer": "point_reducer_hdbscan",
                      f"{p}_points_x": [99.0, 100.0, 101.0], f"{p}_points_y": [105.0] * 3, f"{p}_cluster_labels": [0, 0, 0],
                      f"{p}_clusters_x": [100.0], f"{p}_clusters_y": [105.0]})
        if votes is not None:
            question.append({"subject_id": sid, "workflow_id": 15803, "task": "T0", "reducer": "question_reducer",
                             "data.yes": float(votes[0]), "data.no": float(votes[1])})
    res = WorkflowResult(15803, 0)
    res.reductions = {"shape_extractor_rotateRectangle": pd.DataFrame(box), "point_extractor_by_frame": pd.DataFrame(start),
                      "question_extractor": pd.DataFrame(question)}
    return {15803: res}


def _meta(sol, start):
    t0 = np.datetime64(start)
    return {"#width": "1000.0", "#height": "1000.0", "#im_ll_x": "0.0", "#im_ll_y": "0.0", "#im_ur_x": "1.0",
            "#im_ur_y": "1.0", "#frame_per_sub": "15", "#sol_standard": sol, "#start_time": str(t0),
            "#end_time": str(t0 + np.timedelta64(336, "s"))}


def test_single_jet_clusters_with_a_no_majority_are_removed():
    """§6.5 step 5 and §8: a cluster of ONE jet whose subject's majority answer (Tc votes) is
    "no" is removed; nothing else is. Written from the notes: 3 yes / 1 no is kept, 1 yes / 3 no
    removed; a 2 / 2 tie is "yes" (§6.3: argmax, ties to yes) and kept; a subject without votes
    has no "no" majority and is kept; a cluster of two jets whose subjects both say "no" is kept
    (the rule is for single-subject clusters only)."""
    import pandas as pd
    s = settings()
    agg = s.aggregation.model_copy(update={"workflows": [w for w in s.aggregation.workflows if w.workflow_id == 15803]})
    votes = {1: (3, 1), 2: (1, 3), 3: (2, 2), 4: None, 5: (1, 3), 6: (1, 3)}
    sols = {1: "SOL_A", 2: "SOL_B", 3: "SOL_C", 4: "SOL_D", 5: "SOL_E", 6: "SOL_E"}
    starts = {1: "2011-02-15T00:00:00", 2: "2011-02-15T01:00:00", 3: "2011-02-15T02:00:00",
              4: "2011-02-15T03:00:00", 5: "2011-02-15T04:00:00", 6: "2011-02-15T04:05:12"}   # 5, 6: one step apart
    meta = {k: _meta(sols[k], starts[k]) for k in votes}
    events = pd.DataFrame([{"sol_standard": sol, "bbox_x_min": 0.0, "bbox_x_max": 1000.0, "bbox_y_min": 0.0,
                            "bbox_y_max": 1000.0, "title": f"title {sol}"} for sol in sorted(set(sols.values()))])
    catalogue = cg.build_catalogue(_reductions(votes), meta, events, agg, CAT, False)
    kept = {c["sol_standard"]: c for c in catalogue.clusters}
    assert sorted(kept) == ["SOL_A", "SOL_C", "SOL_D", "SOL_E"]
    assert catalogue.counts["single_no_majority"] == 1 and catalogue.counts["subjects"] == 6
    assert [kept[k]["n_jets"] for k in sorted(kept)] == [1, 1, 1, 2]
    assert kept["SOL_A"]["agreement"] == pytest.approx(0.75) and kept["SOL_C"]["agreement"] == pytest.approx(0.5)
    assert math.isnan(kept["SOL_D"]["agreement"]) and kept["SOL_E"]["agreement"] == pytest.approx(0.25)
    assert kept["SOL_A"]["hek_title"] == "title SOL_A"
    # one more "no" vote on the tie makes it a "no" majority: removed
    votes[3] = (2, 3)
    again = cg.build_catalogue(_reductions(votes), meta, events, agg, CAT, False)
    assert sorted(c["sol_standard"] for c in again.clusters) == ["SOL_A", "SOL_D", "SOL_E"]
    assert again.counts["single_no_majority"] == 2
