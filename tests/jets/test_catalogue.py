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
