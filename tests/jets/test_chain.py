"""The whole chain on the bundled sample, as the default workflow runs it (the session's one
`workflow_run("jets")`): HEK -> event database, cutouts -> subjects, exports -> aggregation ->
catalogue -> quicklook, all about the ONE simulated event.

The bundled sample's jet is simulated (resources/jets/SOURCE.md): its base, length and
direction are known in FITS pixels of the real AIA header, so the catalogue is checked against
sunpy's own pixel -> helioprojective conversion of that header; the HEK response is simulated
for the same event (levelpipe.testing.jets_sample.make_hek_response)."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from levelpipe.io import read_netcdf
from levelpipe.jets import subjects as subj
from levelpipe.jets.errors import JetsError
from levelpipe.jets.family import ALL_EVENTS, FAMILY
from levelpipe.steps import Files, StepContext
from levelpipe.testing import jets_sample

from jets_testlib import BUNDLE, settings

EVENT = jets_sample.EVENT_ID
SOL = jets_sample.SOL_STANDARD


def run(step, inputs, outputs, s, event=None):
    ctx = StepContext(FAMILY, step, Files(inputs), Files(outputs), FAMILY.step_config(step, s.plain(), event),
                      {"event": event} if event else {})
    return FAMILY.steps[step].resolve()(ctx)


@pytest.fixture(scope="module")
def out(workflow_run):
    return workflow_run("jets") / "results" / "jets"


@pytest.fixture(scope="module")
def hek_event(out):
    """The one event of the run's event database."""
    from levelpipe.jets.hek import read_events
    return read_events(out / "events.sqlite").iloc[0]


def test_index_finds_the_bundle():
    idx = FAMILY.index(BUNDLE, settings())
    assert idx.names == [EVENT, ALL_EVENTS] and not idx.refused
    assert len(idx[EVENT].get("cutouts")) == jets_sample.N_FRAMES
    assert [Path(p).name for p in idx[ALL_EVENTS].get("classifications")] == ["sample_simulated_15803.csv"]
    assert [Path(p).name for p in idx[ALL_EVENTS].get("hek")] == ["sample_simulated_hek.txt"]


@pytest.mark.integration
def test_products_have_provenance(out):
    for nc in (out / "frames" / f"{EVENT}.nc", out / "catalogue.nc"):
        ds = read_netcdf(nc)
        assert ds.attrs["input_sha256"] and ds.attrs["config_json"]
    frames = read_netcdf(out / "frames" / f"{EVENT}.nc")
    assert frames.sizes == {"time": 24, "subject": 2} and frames.attrs["bad_frames_total"] == 0
    assert frames.attrs["subjects"] == 2
    assert np.all(np.diff(frames.time.values) == np.timedelta64(12, "s"))
    # 24 frames, 15 per subject, overlap 2: [0, 15) and the end-aligned [9, 24) (§4.1)
    assert frames.subject_member.values[:, 0].nonzero()[0].tolist() == list(range(15))
    assert frames.subject_member.values[:, 1].nonzero()[0].tolist() == list(range(9, 24))


@pytest.mark.integration
def test_subject_folder_holds_frames_manifests_and_movie(out):
    folder = out / "subjects" / EVENT
    rows = subj.read_manifest(folder / "meta_reduced.csv")
    assert len(rows) == 2
    names = [rows[1][f"#file_name_{i}"] for i in range(15)]
    assert names == sorted(names) and all((folder / n).is_file() for n in names)  # column order = frame order
    assert (folder / "meta_reduced.csv").stat().st_size <= 1 << 20
    assert all(p.stat().st_size <= 1 << 20 for p in folder.glob("*.png"))
    assert len(list(folder.glob("*.png"))) == 24
    assert (folder / f"{EVENT}.mp4").stat().st_size <= settings().images.movie_max_bytes


@pytest.mark.integration
def test_one_simulated_event_through_every_product(out, hek_event):
    """Database, subjects, aggregation, catalogue: the same one event, marked simulated."""
    con = sqlite3.connect(out / "events.sqlite")
    assert con.execute("SELECT sol_standard, event_id FROM events").fetchall() == [(SOL, EVENT)]
    assert con.execute("SELECT value FROM meta WHERE key='bad_records_total'").fetchone()[0] == "0"
    title = con.execute("SELECT title FROM events").fetchone()[0]
    con.close()
    assert title.startswith("SIMULATED")
    frames = read_netcdf(out / "frames" / f"{EVENT}.nc")
    assert (frames.attrs["sol_standard"], frames.attrs["hek_title"]) == (SOL, title)
    for row in subj.read_manifest(out / "subjects" / EVENT / "meta_reduced.csv"):
        assert (row["%sol_standard"], row["#hek_title"], row["#event_db_id"]) == (SOL, title, EVENT)
    meta = json.loads((out / "reductions" / "subjects.json").read_text())
    assert {m["%sol_standard"] for m in meta.values()} == {SOL}   # the simulated volunteers' subjects
    cat = read_netcdf(out / "catalogue.nc")
    assert cat.sol_standard.values.tolist() == [SOL] and cat.hek_title.values.tolist() == [title]
    doc = json.loads((out / "catalogue.json").read_text())
    assert (doc[0]["SOL"], doc[0]["hek_title"]) == (SOL, title)
    assert (out / "catalogue.csv").read_text().splitlines()[1].split(",")[2] == SOL
    # the catalogue's jet lies in the event's HEK box (which is the box around the simulated jet)
    e = hek_event
    c = cat.isel(cluster=0)
    assert e.bbox_x_min <= float(c.box_x_min) and float(c.box_x_max) <= e.bbox_x_max
    assert e.bbox_y_min <= float(c.box_y_min) and float(c.box_y_max) <= e.bbox_y_max
    # and in its time span
    assert np.datetime64(e.start_time) <= c.time.values and c.end_time.values <= np.datetime64(e.end_time)


@pytest.mark.integration
def test_catalogue_finds_the_simulated_jet(out):
    """Known answer: the simulated jet (base at crop pixel (5, 17), 12 px long at 60 deg from +x)
    in arcsec from sunpy's WCS of the real header, within one AIA pixel (19.18")."""
    import astropy.units as u
    import sunpy.map
    cat = read_netcdf(out / "catalogue.nc")
    m = sunpy.map.Map(sorted((BUNDLE / "cutouts" / EVENT).glob("*.fits"))[0])
    bx, by = jets_sample.JET["base"]
    base = m.pixel_to_world(bx * u.pix, by * u.pix)
    tip = m.pixel_to_world((bx + 12 * np.cos(np.radians(60))) * u.pix, (by + 12 * np.sin(np.radians(60))) * u.pix)
    assert cat.sizes["cluster"] == 1
    c = cat.isel(cluster=0)
    pixel = float(m.scale.axis1.to_value(u.arcsec / u.pix))
    assert abs(float(c.base_x) - base.Tx.to_value(u.arcsec)) < pixel
    assert abs(float(c.base_y) - base.Ty.to_value(u.arcsec)) < pixel
    length = float(np.hypot((tip.Tx - base.Tx).to_value(u.arcsec), (tip.Ty - base.Ty).to_value(u.arcsec)))
    assert abs(float(c.max_height) - length) < pixel
    # base -> tip points up and to the right (west): position angle 360 - 30 deg from north through east
    assert abs(float(c.position_angle) - 330.0) < 3.0
    assert int(c.n_jets) == 2 and str(c.cluster_id.values) == "sjh_2011-02-15T00_1"
    flags = str(c.flags.values)   # duration 4.6 min < 6 min; velocity known or not; on the disk
    assert flags[0] == "1" and flags[2] == "0" and flags[1] == ("0" if np.isfinite(float(c.velocity)) else "1")
    doc = json.loads((out / "catalogue.json").read_text())
    assert doc[0]["id"] == "sjh_2011-02-15T00_1" and len(doc[0]["jets"]) == 2
    assert set(doc[0]) >= {"id", "SOL", "obs_time", "duration", "lat", "lon", "Bx", "By", "max_height", "width",
                           "height", "velocity", "sigma", "flag", "jets"}
    header = (out / "catalogue.csv").read_text().splitlines()[0]
    assert header.startswith("#sjh_ID, date, SOL_event, duration, basepoint_X") and header.endswith("sigma, flags")


@pytest.mark.integration
def test_aggregation_products_in_panoptes_formats(out):
    names = sorted(p.name for p in (out / "extracts").iterdir() if not p.name.startswith("."))  # not Snakemake's stamp
    assert names == sorted(f"{e}_15803{k}.csv" for e in ("point_extractor_by_frame", "question_extractor",
                                                          "shape_extractor_rotateRectangle") for k in ("", "_squashed"))
    counts = json.loads((out / "reductions" / "counts.json").read_text())
    (sim,) = counts["exports"].values()
    # 12 answers + 10 x (2 points + 1 box) + 2 x 3 empty drawing tasks (test_classifications)
    assert sim["rows"] == 12 and sim["annotation_items"] == 12 + 30 + 6 and sim["bad_marks_unknown_shape"] == 0
    w = counts["workflows"]["15803"]
    assert w["classifications"] == 12 and w["repeat_classifications"] == 0 and w["other_version"] == 0


@pytest.mark.integration
def test_quicklook_written(out):
    from PIL import Image
    with Image.open(out / "quicklook" / f"{EVENT}.png") as im:
        assert im.size == (640, 480)


def test_run_that_reads_nothing_fails_loudly(tmp_path):
    s = settings()
    empty = tmp_path / "x.csv"
    empty.write_text(",".join(("classification_id", "user_name", "user_id", "user_ip", "workflow_id", "workflow_name",
                               "workflow_version", "created_at", "gold_standard", "expert", "metadata", "annotations",
                               "subject_data", "subject_ids")) + "\n")
    with pytest.raises(JetsError, match="0 readable classifications"):
        run("aggregate", {"classifications": [str(empty)]}, {"extracts": str(tmp_path / "e"),
                                                              "reductions": str(tmp_path / "r")}, s)
    assert not (tmp_path / "e").exists() and not (tmp_path / "r").exists()
