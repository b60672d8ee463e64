"""The whole chain on the bundled sample, step by step as the workflow runs it (no Snakemake):
HEK -> event database, cutouts -> subjects, exports -> aggregation -> catalogue -> quicklook.

The bundled sample's jet is simulated (resources/jets/SOURCE.md): its base, length and
direction are known in FITS pixels of the real AIA header, so the catalogue is checked against
sunpy's own pixel -> helioprojective conversion of that header."""
from __future__ import annotations

import json
import sqlite3
import sys
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cfcheck import assert_cf_compliant  # noqa: E402

EVENT = jets_sample.EVENT_ID


def run(step, inputs, outputs, s, event=None):
    ctx = StepContext(FAMILY, step, Files(inputs), Files(outputs), FAMILY.step_config(step, s.plain(), event),
                      {"event": event} if event else {})
    return FAMILY.steps[step].resolve()(ctx)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    s = settings()
    out = tmp_path_factory.mktemp("jets")
    idx = FAMILY.index(BUNDLE, s)
    whole = idx[ALL_EVENTS]
    run("events", {"hek": whole.get("hek")}, {"events": str(out / "events.sqlite")}, s)
    run("subjects", {"cutouts": idx[EVENT].get("cutouts"), "events": str(out / "events.sqlite")},
        {"subjects": str(out / "subjects" / EVENT), "frames": str(out / "frames" / f"{EVENT}.nc")}, s, EVENT)
    run("aggregate", {"classifications": whole.get("classifications"), "extracts": whole.get("extracts")},
        {"extracts": str(out / "extracts"), "reductions": str(out / "reductions")}, s)
    run("catalogue", {"reductions": str(out / "reductions"), "events": str(out / "events.sqlite")},
        {"catalogue": str(out / "catalogue.nc"), "json": str(out / "catalogue.json"), "csv": str(out / "catalogue.csv")}, s)
    run("quicklook", {"cutouts": idx[EVENT].get("cutouts"), "catalogue": str(out / "catalogue.nc")},
        {"quicklook": str(out / "quicklook" / f"{EVENT}.png")}, s, EVENT)
    return out, idx


def test_index_finds_the_bundle(chain):
    _, idx = chain
    assert idx.names == [EVENT, ALL_EVENTS] and not idx.refused
    assert len(idx[EVENT].get("cutouts")) == jets_sample.N_FRAMES
    assert [Path(p).name for p in idx[ALL_EVENTS].get("classifications")] == \
        ["class.csv", "old.csv", "sample_simulated_15803.csv"]


def test_products_are_cf_clean_with_provenance(chain):
    out, _ = chain
    for nc in (out / "frames" / f"{EVENT}.nc", out / "catalogue.nc"):
        assert_cf_compliant(nc)
        ds = read_netcdf(nc)
        assert ds.attrs["input_sha256"] and ds.attrs["config_json"]
    frames = read_netcdf(out / "frames" / f"{EVENT}.nc")
    assert frames.sizes == {"time": 24, "subject": 2} and frames.attrs["bad_frames_total"] == 0
    assert np.all(np.diff(frames.time.values) == np.timedelta64(12, "s"))
    # 24 frames, 15 per subject, overlap 2: [0, 15) and the end-aligned [9, 24) (§4.1)
    assert frames.subject_member.values[:, 0].nonzero()[0].tolist() == list(range(15))
    assert frames.subject_member.values[:, 1].nonzero()[0].tolist() == list(range(9, 24))


def test_subject_folder_holds_frames_manifests_and_movie(chain):
    out, _ = chain
    folder = out / "subjects" / EVENT
    rows = subj.read_manifest(folder / "meta_reduced.csv")
    assert len(rows) == 2
    names = [rows[1][f"#file_name_{i}"] for i in range(15)]
    assert names == sorted(names) and all((folder / n).is_file() for n in names)  # column order = frame order
    assert (folder / "meta_reduced.csv").stat().st_size <= 1 << 20
    assert all(p.stat().st_size <= 1 << 20 for p in folder.glob("*.png"))
    assert (folder / f"{EVENT}.mp4").stat().st_size <= settings().images.movie_max_bytes


def test_event_database_of_the_bundle(chain):
    out, _ = chain
    con = sqlite3.connect(out / "events.sqlite")
    assert con.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 8
    assert con.execute("SELECT value FROM meta WHERE key='bad_records_total'").fetchone()[0] == "0"


def test_catalogue_finds_the_simulated_jet(chain):
    """Known answer: the simulated jet (base at crop pixel (5, 17), 12 px long at 60 deg from +x)
    in arcsec from sunpy's WCS of the real header, within one AIA pixel (19.18")."""
    import astropy.units as u
    import sunpy.map
    out, idx = chain
    cat = read_netcdf(out / "catalogue.nc")
    m = sunpy.map.Map(idx[EVENT].get("cutouts")[0])
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


def test_aggregation_products_in_panoptes_formats(chain):
    out, _ = chain
    names = sorted(p.name for p in (out / "extracts").iterdir())
    assert "shape_extractor_rotateRectangle_15803.csv" in names and "question_extractor_13958.csv" in names
    counts = json.loads((out / "reductions" / "counts.json").read_text())
    old = next(v for k, v in counts["exports"].items() if k.endswith("old.csv"))
    # 13459: 6 rectangles + 11 answers + 2 empty tasks; 13958: 52 answers + 59 points + 13 boxes + 1 line + 1 empty
    assert old["rows"] == 63 and old["annotation_items"] == 145 and old["bad_marks_unknown_shape"] == 0
    w = counts["workflows"]["15803"]
    assert w["classifications"] == 6 + 2 * 6 and w["repeat_classifications"] == 0 and w["other_version"] == 0


def test_quicklook_written(chain):
    from PIL import Image
    out, _ = chain
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
