"""The bundled SIMULATED HEK response (levelpipe.testing.jets_sample): written from jets.md
§1.4 for the bundled simulated event, checked here against the real hek_1.txt of
../shared/data/jets (same structure, keys and types; the relations between fields the
generator relies on hold in every real record), and against the bundled cutouts (the box is
around the simulated jet, the interval spans the frames)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from levelpipe.testing import jets_sample

from jets_testlib import BUNDLE, SIMULATED_HEK, real

CUTOUTS = sorted((BUNDLE / "cutouts" / jets_sample.EVENT_ID).glob("*.fits"))


def _documents(path):
    text = path.read_text()
    first, rest = text.split("\n", 1)
    return json.loads(first), json.loads(rest)


@pytest.fixture(scope="module")
def real_response():
    return _documents(real("hek_1.txt"))


@pytest.fixture(scope="module")
def simulated():
    return _documents(SIMULATED_HEK)


def test_bundled_response_is_what_the_generator_writes(tmp_path):
    """The bundle is the generator's output for the bundled cutouts (regenerated, same bytes),
    and the folder is named after the SOL_standard the generator computes."""
    out = jets_sample.make_hek_response(BUNDLE / "cutouts" / jets_sample.EVENT_ID, tmp_path / "hek.txt")
    assert out.read_bytes() == SIMULATED_HEK.read_bytes()
    assert jets_sample.hek_event(CUTOUTS)["sol_standard"] == jets_sample.SOL_STANDARD
    assert jets_sample.EVENT_ID == jets_sample.SOL_STANDARD.replace(":", "-")


def test_same_structure_keys_and_types_as_the_real_response(real_response, simulated):
    params, body = real_response
    ours_params, ours_body = simulated
    assert list(params) == list(ours_params) == ["params"]          # line 1: the query (§9)
    assert list(body) == list(ours_body) == ["result"]               # then the result list
    assert set(ours_params["params"]) >= {"cmd", "type", "cosec", "event_type", "event_starttime",
                                          "event_endtime", "event_coordsys", "x1", "y1", "x2", "y2"}
    assert {k: type(v) for k, v in ours_params["params"].items() if k in params["params"] and k != "event_type"} == \
        {k: type(v) for k, v in params["params"].items() if k in ours_params["params"] and k != "event_type"}
    (rec,) = ours_body["result"]
    assert tuple(rec) == jets_sample.HEK_FIELDS
    real_types = {}
    for r in body["result"]:
        for k, v in r.items():
            real_types.setdefault(k, set()).add(type(v))
    assert set(rec) <= set(real_types), set(rec) - set(real_types)
    for k, v in rec.items():
        assert type(v) in real_types[k], (k, type(v), real_types[k])
    # the §1.4 types that matter: strings where HEK sends strings
    assert all(isinstance(rec[k], str) for k in ("hpc_radius", "obs_channelid", "search_channelid", "frm_humanflag"))
    assert all(isinstance(rec[k], int) for k in ("hpc_x", "hpc_y", "boundbox_c1ll", "boundbox_c2ur"))


def test_relations_the_generator_uses_hold_in_every_real_record(real_response):
    """Measured on hek_1.txt, used by jets_sample.hek_record: hpc_radius = |(hpc_x, hpc_y)|,
    hrc_r = hpc_radius / 960", hrc_a = position angle from north through east, the point is the
    hpc_bbox centre within 0.5", the coordinate errors half the box sides within 1", and the
    SOL_standard's L/C are the Carrington longitude and colatitude within 1 deg."""
    for r in real_response[1]["result"]:
        x, y = r["hpc_x"], r["hpc_y"]
        radius = math.hypot(x, y)
        assert float(r["hpc_radius"]) == pytest.approx(radius, abs=1e-9)
        assert r["hrc_r"] == pytest.approx(radius / jets_sample.HEK_HRC_RSUN_ARCSEC, rel=1e-12)
        assert r["hrc_a"] == pytest.approx(math.degrees(math.atan2(-x, y)) % 360, abs=1e-9)
        nums = [float(v) for v in r["hpc_bbox"][len("POLYGON(("):-2].replace(",", " ").split()]
        xs, ys = nums[0::2], nums[1::2]
        assert abs(x - (min(xs) + max(xs)) / 2) <= 0.5 and abs(y - (min(ys) + max(ys)) / 2) <= 0.5
        assert abs(r["event_c1error"] - (max(xs) - min(xs)) / 2) < 1 and abs(r["event_c2error"] - (max(ys) - min(ys)) / 2) < 1
        assert (r["event_coord1"], r["event_coord2"]) == (x, y)
        sol = r["SOL_standard"]
        assert sol.startswith("SOL" + r["event_starttime"] + "L")
        lon, colat = int(sol[-7:-4]), int(sol[-3:])
        assert abs((lon - r["hgc_x"] + 180) % 360 - 180) <= 1 and abs(colat - (90 - r["hgc_y"])) <= 1
        assert jets_sample.sol_standard(r["event_starttime"], r["hgc_x"], r["hgc_y"])[:-8] == sol[:-8]


def test_simulated_record_follows_those_relations_and_its_units(simulated):
    (rec,) = simulated[1]["result"]
    x, y = rec["hpc_x"], rec["hpc_y"]
    assert float(rec["hpc_radius"]) == math.hypot(x, y) and rec["hrc_r"] == math.hypot(x, y) / 960
    assert rec["hpc_coord"] == f"POINT({x} {y})"
    assert rec["hpc_bbox"] == "POLYGON(({0} {2},{1} {2},{1} {3},{0} {3},{0} {2}))".format(
        rec["boundbox_c1ll"], rec["boundbox_c1ur"], rec["boundbox_c2ll"], rec["boundbox_c2ur"])
    # 171 A cutouts: obs_meanwavel in cm (§1.4: 1.71e-06 cm for the 171 channel)
    assert (rec["obs_channelid"], rec["obs_meanwavel"], rec["obs_wavelunit"]) == ("171", 1.71e-06, "cm")
    assert rec["event_coordsys"] == "UTC-HPC-TOPO" and rec["event_coordunit"] == "arcsec"
    for k in ("event_title", "event_description", "frm_institute", "kb_archivid"):
        assert "SIMULATED" in rec[k], k
    assert not rec["kb_archivid"].startswith("ivo://helio-informatics.org/")
    assert rec["SOL_standard"] == jets_sample.sol_standard(rec["event_starttime"], rec["hgc_x"], rec["hgc_y"])


def test_simulated_event_is_the_jet_of_the_cutouts(simulated):
    """Independent of the generator's own arithmetic: sunpy's WCS of the bundled frames puts the
    simulated jet's base and tip inside the HEK box, the box inside the cutouts' field of view,
    and every frame inside the event's interval; the Stonyhurst point is sunpy's."""
    import astropy.units as u
    import sunpy.map
    from astropy.coordinates import SkyCoord
    from sunpy.coordinates import HeliographicStonyhurst
    (rec,) = simulated[1]["result"]
    m = sunpy.map.Map(CUTOUTS[0])
    j = jets_sample.JET
    t = np.radians(j["angle_deg"])
    px = [j["base"][0], j["base"][0] + j["length_px"] * np.cos(t)]
    py = [j["base"][1], j["base"][1] + j["length_px"] * np.sin(t)]
    jet = m.pixel_to_world(px * u.pix, py * u.pix)
    x0, x1, y0, y1 = rec["boundbox_c1ll"], rec["boundbox_c1ur"], rec["boundbox_c2ll"], rec["boundbox_c2ur"]
    assert np.all((x0 < jet.Tx.arcsec) & (jet.Tx.arcsec < x1) & (y0 < jet.Ty.arcsec) & (jet.Ty.arcsec < y1))
    edge = m.pixel_to_world([-0.5, 31.5] * u.pix, [-0.5, 31.5] * u.pix)
    assert edge.Tx.arcsec[0] < x0 and x1 < edge.Tx.arcsec[1] and edge.Ty.arcsec[0] < y0 and y1 < edge.Ty.arcsec[1]
    times = sorted(np.datetime64(sunpy.map.Map(p).date.isot) for p in CUTOUTS)
    assert np.datetime64(rec["event_starttime"]) <= times[0] and times[-1] <= np.datetime64(rec["event_endtime"])
    assert rec["event_endtime"] == "2011-02-15T00:04:37"   # last frame 00:04:36.34, up to the second
    point = SkyCoord(rec["hpc_x"] * u.arcsec, rec["hpc_y"] * u.arcsec, frame=m.coordinate_frame)
    hgs = point.transform_to(HeliographicStonyhurst(obstime=m.date))
    assert rec["hgs_x"] == pytest.approx(hgs.lon.deg, abs=0.01) and rec["hgs_y"] == pytest.approx(hgs.lat.deg, abs=0.01)
    assert rec["hgc_y"] == rec["hgs_y"]
