"""The VZLUSAT-1 chain in the library: L0 folders, clusters and features, classifier, export, dose."""
import json
import shutil

import astropy.units as u
import numpy as np
import pytest

from levelpipe.errors import TimepixError
from levelpipe.io import read_netcdf
from levelpipe.timepix.classes import class_ids
from levelpipe.timepix.classifier import load_model, load_training_set, train_classifier
from levelpipe.timepix.clusters import FEATURE_NAMES, features, find_clusters
from levelpipe.timepix.dose import dose_rate, sensor_geometry
from levelpipe.timepix.export import clusters_text, statistics_text
from levelpipe.timepix.family import FAMILY, training_files
from levelpipe.timepix.formats import read_clusters, read_matrix
from levelpipe.timepix.l0 import FLAG_CORRUPT, FLAG_NO_METADATA, FLAG_NON_ENERGY_MODE, FLAG_REBUILT, folder_files
from levelpipe.timepix.l1 import export_labelled
from levelpipe.timepix.settings import DoseSettings

from cfcheck import assert_cf_compliant
from conftest import RESOURCES, family_settings, run_family_step, shared_data

VZ = RESOURCES / "vzlusat1"
CFG = family_settings("vzlusat1")
# The sensor of Baca et al. 2018 written out by hand: 256 x 256 pixels of 55 um, 300 um of Si.
DOSE = DoseSettings(pixel_pitch_um=55 * u.um, pixels=(256, 256), thickness_um=300 * u.um,
                    density_kg_m3=2329 * u.kg / u.m ** 3)


def _labelled(root):
    return sorted(str(p) for p in (root / "labelled").rglob("*_fullres.clusters.txt"))


def build_l0(root, folder, out, assume_energy=True):
    """The L0 step of one folder of the archive below `root`, as the workflow runs it."""
    g = FAMILY.index(root, CFG)[folder]
    run_family_step("vzlusat1", "l0", dict(g.files), {"out": out}, {"folder": folder},
                    overrides={"l0": {"assume_energy_mode_when_unknown": assume_energy}})
    return read_netcdf(out)


def build_l1(l0, model, out):
    run_family_step("vzlusat1", "l1", {"l0": l0, "model": model}, {"out": out}, {"folder": "f"})
    return read_netcdf(out)


def build_dose(l1, out, density_kg_m3=None):
    overrides = {"dose": {"density_kg_m3": density_kg_m3}} if density_kg_m3 else None
    run_family_step("vzlusat1", "l2", {"l1": l1}, {"out": out}, {"folder": "f"}, overrides=overrides)
    return read_netcdf(out)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    report = train_classifier(_labelled(VZ), d / "m.pkl", d / "r.json", CFG.classifier)
    return d / "m.pkl", report


def test_index_nested_folders_and_layouts():
    index = FAMILY.index(VZ, CFG)
    assert set(index.names) == {"above_europe", "planetary_sweeps/12_2020-06-09"}
    ae = folder_files("above_europe", index["above_europe"].files)
    assert ae.frames == [1, 7, 11, 20, 34] and sorted(ae.raw) == [7, 20, 34]
    from levelpipe.family import Plan
    assert training_files(Plan(FAMILY, CFG, VZ, workflow_dir=RESOURCES.parent)) == _labelled(VZ)


def test_l0_folder(tmp_path):
    ds = build_l0(VZ, "above_europe", tmp_path / "l0.nc")
    flags = dict(zip(ds.frame.values.tolist(), ds.frame_flags.values.tolist()))
    assert flags[7] == 0 and flags[1] & FLAG_REBUILT and flags[11] & FLAG_REBUILT
    # Every frame's non-zero pixel count equals the on-board count from its metadata.
    known = ds.pixel_count_original.values >= 0
    np.testing.assert_array_equal(ds.pixel_count.values[known], ds.pixel_count_original.values[known])
    assert ds.image_id.sel(frame=34).item() == 25759
    assert str(ds.time.sel(frame=7).values)[:19] == "2018-03-24T09:00:09"
    assert_cf_compliant(tmp_path / "l0.nc")


def test_frames_without_metadata_flagged_and_non_energy_kept_apart(tmp_path):
    sweep = build_l0(VZ, "planetary_sweeps/12_2020-06-09", tmp_path / "a.nc")
    assert np.all(sweep.frame_flags.values & FLAG_NO_METADATA)
    assert not np.any(sweep.frame_flags.values & FLAG_NON_ENERGY_MODE)
    strict = build_l0(VZ, "planetary_sweeps/12_2020-06-09", tmp_path / "b.nc", assume_energy=False)
    assert np.all(strict.frame_flags.values & FLAG_NON_ENERGY_MODE)
    # A counting-mode frame is never clustered into energy products.
    root = tmp_path / "arch"
    shutil.copytree(VZ / "raw", root / "raw")
    meta = root / "raw" / "above_europe" / "7_fullres.metadata.txt"
    meta.write_text(meta.read_text().replace("TOT (Energy)", "MPX (Counting)"))
    ds = build_l0(root, "above_europe", tmp_path / "c.nc")
    assert ds.frame_flags.sel(frame=7).item() & FLAG_NON_ENERGY_MODE


def test_one_corrupt_frame_is_flagged_and_others_processed(tmp_path, model):
    root = tmp_path / "arch"
    shutil.copytree(VZ / "raw", root / "raw")
    bad = root / "raw" / "above_europe" / "20_fullres.txt"
    bad.write_bytes(bad.read_bytes()[:5000])
    ds = build_l0(root, "above_europe", tmp_path / "l0.nc")
    assert ds.attrs["corrupt_frames"] == 1
    assert ds.frame_flags.sel(frame=20).item() & FLAG_CORRUPT
    assert np.isnan(ds.energy.sel(frame=20).values).all()
    assert "20_fullres.txt:line" in ds.attrs["errors"]
    l1 = build_l1(tmp_path / "l0.nc", model[0], tmp_path / "l1.nc")
    assert l1.classified.sel(frame=20).item() == 0 and l1.classified.sel(frame=7).item() == 1
    assert set(np.unique(l1.cluster_frame.values)) == {7, 34}
    l2 = build_dose(tmp_path / "l1.nc", tmp_path / "l2.nc")
    assert l2.valid.sel(frame=20).item() == 0 and np.isnan(l2.dose_rate.sel(frame=20).item())


def test_clusters_from_raw_equal_archive_clusters():
    """From the 3 real raw frames: exactly the archive's clusters (pixel sets, order, values)."""
    for n in (7, 20, 34):
        cl = find_clusters(read_matrix(VZ / "raw" / "above_europe" / f"{n}_fullres.txt"))
        ref = read_clusters(VZ / "labelled" / "above_europe" / f"{n}_fullres.clusters.txt")
        np.testing.assert_array_equal(cl.pos_x, ref.pos_x)
        np.testing.assert_array_equal(cl.pos_y, ref.pos_y)
        np.testing.assert_array_equal(cl.pixel_count, ref.pixel_count)
        np.testing.assert_array_equal(cl.row, ref.row)
        np.testing.assert_array_equal(cl.col, ref.col)
        np.testing.assert_array_equal(cl.energy, ref.energy)


def test_no_cluster_spans_frames():
    a = np.zeros((2, 256, 256), np.float32)
    a[0, 10, 10] = a[1, 10, 10] = a[1, 11, 11] = 5.0
    cl = find_clusters(a)
    assert cl.n == 2 and cl.pixel_count.tolist() == [1, 2] and cl.frame_index.tolist() == [0, 1]


def test_features_known_answers():
    a = np.zeros((256, 256), np.float32)
    a[5, 5:10] = [1, 2, 3, 4, 10]          # straight horizontal 5-px track
    a[50:53, 50:53] = 2.0                  # 3x3 blob
    f = dict(zip(FEATURE_NAMES, features(find_clusters(a)).T))
    assert f["pixel_count"].tolist() == [5, 9]
    assert f["energy_total"].tolist() == [20, 18]
    assert f["energy_max_fraction"][0] == pytest.approx(0.5)
    assert f["length"][0] == pytest.approx(5) and f["width"][0] == pytest.approx(1)
    assert f["linearity"][0] == pytest.approx(1) and f["linearity"][1] == pytest.approx(0)
    assert f["end_pixels"].tolist() == [2, 0] and f["inner_pixels"].tolist() == [0, 1]
    assert f["perimeter"].tolist() == [12, 12]
    assert f["bbox_fill"].tolist() == [1, 1]
    # Features added for issue 11, written out by hand for the same two clusters:
    assert f["radius_max"].tolist() == [pytest.approx(2), pytest.approx(2 ** 0.5)]
    assert f["radius_max_norm"][0] == pytest.approx(2 / 5 ** 0.5)
    assert f["straightness"].tolist() == [pytest.approx(1), pytest.approx(3 / 9)]
    assert f["curvature"].tolist() == [pytest.approx(0, abs=1e-9), pytest.approx(0, abs=1e-9)]
    assert f["quadratic_residual"].tolist() == [pytest.approx(0, abs=1e-9), pytest.approx((6 / 9) ** 0.5)]
    b = np.zeros((256, 256), np.float32)
    for k in range(-4, 5):
        b[200 + k * k // 6, 50 + k] = 5.0    # a bent track (parabola, rows 2 1 0 0 0 0 0 1 2)
    g = dict(zip(FEATURE_NAMES, features(find_clusters(b)).T))
    assert g["curvature"][0] > 0.1 and g["quadratic_residual"][0] < 0.2 < g["axis_minor_std"][0]


def test_classifier_reproducible_and_reported(model, tmp_path):
    path, report = model
    again = train_classifier(_labelled(VZ), tmp_path / "m.pkl", tmp_path / "r.json", CFG.classifier)
    assert again == report
    assert path.read_bytes() == (tmp_path / "m.pkl").read_bytes()
    _, prov = load_model(path)
    assert prov["feature_names"] == list(FEATURE_NAMES) and len(prov["input_sha256"]) == 7
    assert report["clusters"] == 3131 and report["training_accuracy"] == 1.0
    assert report["cv_by_folder"]["groups"] == 2 and report["cv_by_frame"]["groups"] == 7
    # Measured agreement with the archive labels on frames held out (pins the feature set).
    assert report["cv_by_frame"]["accuracy"] > 0.95 and report["cv_by_frame"]["non_dot_agreement"] > 0.88
    assert report["cv_by_frame"]["per_class"]["dot"]["recall"] > 0.99
    assert report["cv_by_frame"]["per_class"]["track_curly"]["recall"] > 0.8
    for scheme in ("cv_by_frame", "cv_by_folder"):
        cv = report[scheme]
        assert set(cv["per_class"]) == {n for n, c in report["class_counts"].items() if c}
        assert sum(sum(row.values()) for row in cv["confusion_true_by_predicted"].values()) == 3131
        # Decision pinned: the calibrated probabilities are better than the forest's votes on
        # clusters held out, by frame and by folder (log loss, Brier score, calibration error).
        p = cv["probability"]
        for score in ("log_loss", "brier", "ece"):
            assert p["calibrated"][score] < p["forest_votes"][score], (scheme, score)
    assert 0.5 < report["calibration"]["temperature"] < 0.8  # the votes are under-confident
    assert report["cv_by_frame"]["probability"]["calibrated"]["ece"] < 0.015


def test_model_file_of_other_kind_refused(tmp_path):
    p = tmp_path / "m.pkl"
    p.write_bytes(b"not a pickle")
    with pytest.raises(TimepixError, match="m.pkl: cannot load classifier"):
        load_model(p)


def test_raw_frames_reproduce_archive_statistics_and_clusters(tmp_path, model):
    """L1 from the raw layout alone gives the archive's clusters and statistics files exactly."""
    root = tmp_path / "arch"
    shutil.copytree(VZ / "raw", root / "raw")
    build_l0(root, "above_europe", tmp_path / "l0.nc")
    l1 = build_l1(tmp_path / "l0.nc", model[0], tmp_path / "l1.nc")
    assert_cf_compliant(tmp_path / "l1.nc")
    # Calibrated class probabilities: one row per cluster over the 9 classes, the class is the most probable.
    p = l1.cluster_class_probability.transpose("cluster", "class").values
    assert p.shape == (l1.sizes["cluster"], 9) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(l1["class"].values[np.argmax(p, axis=1)], l1.cluster_class.values)
    assert np.median(p.max(axis=1)) > 0.9
    assert export_labelled(tmp_path / "l1.nc", tmp_path / "out") == 3
    for n in (7, 20, 34):
        for kind in ("clusters", "statistics"):
            ours = (tmp_path / "out" / f"{n}_fullres.{kind}.txt").read_bytes()
            theirs = (VZ / "labelled" / "above_europe" / f"{n}_fullres.{kind}.txt").read_bytes()
            assert ours == theirs, f"{n} {kind}"


def test_export_round_trip_on_all_real_cluster_lists():
    for p in sorted((VZ / "labelled").rglob("*_fullres.clusters.txt")):
        c = read_clusters(p)
        assert clusters_text(c.pos_x, c.pos_y, c.class_id, c.pixel_start, c.pixel_count, c.row, c.col,
                             c.energy) == p.read_text()
        assert statistics_text(c.class_id) == p.with_name(p.name.replace("clusters", "statistics")).read_text()


def test_dose_known_answer():
    area, mass = sensor_geometry(DOSE)
    assert area.to_value(u.cm ** 2) == pytest.approx(1.982464)
    assert mass.to_value(u.g) == pytest.approx(2.329 * 1.982464 * 0.03)
    # 1 MeV in 60 s: 1.602e-13 J / 1.3851e-4 kg / 1 min = 1.1567e-3 uGy/min
    assert dose_rate(1000 * u.keV, 60 * u.s, mass).to_value(u.uGy / u.min) == pytest.approx(1.15667e-3, rel=1e-4)
    published = sensor_geometry(DOSE.model_copy(update={"density_kg_m3": 5850 * u.kg / u.m ** 3}))[1]
    assert (mass / published).decompose().value == pytest.approx(2329 / 5850)


def test_dose_and_flux_of_a_folder(tmp_path, model):
    build_l0(VZ, "above_europe", tmp_path / "l0.nc")
    build_l1(tmp_path / "l0.nc", model[0], tmp_path / "l1.nc")
    l2 = build_dose(tmp_path / "l1.nc", tmp_path / "l2.nc", density_kg_m3=2329)
    assert_cf_compliant(tmp_path / "l2.nc")
    energy = read_netcdf(tmp_path / "l0.nc").energy.sel(frame=7).values.sum(dtype=np.float64)
    _, mass = sensor_geometry(DOSE)
    expect = dose_rate(energy * u.keV, 60 * u.s, mass).value
    assert l2.dose_rate.sel(frame=7).item() == pytest.approx(expect, rel=1e-5)
    # frame 7: 41 dots in 60 s on 1.982464 cm^2
    assert l2.flux.sel(frame=7, **{"class": 1}).item() == pytest.approx(41 / (60 * 1.982464))


def test_unknown_class_in_filter_is_a_clear_error():
    assert class_ids(["dot", "track_curly"]) == [1, 6]
    with pytest.raises(TimepixError, match=r"maps.filter_sets.heavy: unknown class 'muon'"):
        class_ids(["dot", "muon"], where="maps.filter_sets.heavy")


def test_more_real_cluster_lists_from_shared_data():
    """The archive sample in ../shared (if present) reads and round-trips like the bundled one."""
    root = shared_data("vzlusat1")
    data = load_training_set(_labelled(root))
    assert data["X"].shape == (3131, len(FEATURE_NAMES))
    counts = json.loads((root / "labelled" / "above_europe" / "1_fullres.statistics.txt").read_text())
    assert counts["dot"] == 163


def test_info_table_row_used_only_when_it_matches_the_frame(tmp_path):
    root = tmp_path / "arch"
    shutil.copytree(VZ / "labelled", root / "labelled")
    ds = build_l0(root, "above_europe", tmp_path / "a.nc")
    # frame 1 has no metadata file: its position comes from the matching info.txt row
    assert ds.latitude.sel(frame=1).item() == pytest.approx(32.3529668487)
    info = root / "labelled" / "above_europe" / "info.txt"
    info.write_text(info.read_text().replace("2018-01-29 07:51:28, 4453,", "2018-01-29 07:51:28, 4454,"))
    ds = build_l0(root, "above_europe", tmp_path / "b.nc")
    assert np.isnan(ds.latitude.sel(frame=1).item())
    assert ds.frame_flags.sel(frame=1).item() & FLAG_NO_METADATA
    assert "frame 1: info.txt row does not match the frame" in ds.attrs["errors"]


def test_info_table_of_unknown_layout_is_not_used(tmp_path):
    from levelpipe.timepix.formats import read_info_table
    p = tmp_path / "info.txt"
    p.write_text("# image, time, something else\n1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11\n")
    assert read_info_table(p) == {}


def test_metadata_of_another_image_is_flagged(tmp_path):
    root = tmp_path / "arch"
    shutil.copytree(VZ / "raw", root / "raw")
    meta = root / "raw" / "above_europe" / "7_fullres.metadata.txt"
    meta.write_text(meta.read_text().replace("Pixel count (Original): 346", "Pixel count (Original): 92")
                    .replace("Pixel count (Filtered): 346", "Pixel count (Filtered): 92"))
    ds = build_l0(root, "above_europe", tmp_path / "l0.nc")
    from levelpipe.timepix.l0 import FLAG_PIXEL_COUNT_MISMATCH
    assert ds.frame_flags.sel(frame=7).item() & FLAG_PIXEL_COUNT_MISMATCH
    assert not ds.frame_flags.sel(frame=34).item() & FLAG_PIXEL_COUNT_MISMATCH
    assert ds.attrs["frames_pixel_count_mismatch"] == 1
    assert "frame 7: metadata pixel count [92] != frame's 346" in ds.attrs["errors"]
    assert_cf_compliant(tmp_path / "l0.nc")
