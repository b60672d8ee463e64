"""HEK: the real response (hek_1.txt), SQLite ingest, and the paged, retried client against a
recorded server on 127.0.0.1."""
from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from levelpipe.jets import hek
from levelpipe.jets.errors import JetsError
from levelpipe.testing.jets_http import Answer, RecordedServer

from jets_testlib import BUNDLE, settings

HEK_FILE = BUNDLE / "hek" / "hek_1.txt"


def real_records():
    doc = HEK_FILE.read_text().split("\n", 1)[1]
    return json.loads(doc)["result"]


def test_real_response_16_reports_8_events_with_units_and_ordered_boxes(tmp_path):
    recs = hek.read_hek_response(HEK_FILE, max_bytes=settings().hek.max_response_bytes)
    assert len(recs.reports) == 16 and recs.rejected == []
    db = hek.write_event_db(tmp_path / "events.sqlite", recs, settings().hek.preferred_channel)
    ev = hek.read_events(db).set_index("sol_standard")
    assert len(ev) == 8
    # values written out from hek_1.txt (§1.3, §1.4)
    e = ev.loc["SOL2010-06-20T11:14:44L031C130"]
    # boundbox_c2ll -572 > boundbox_c2ur -793 in the file; the box comes ordered from hpc_bbox
    assert (e.bbox_x_min, e.bbox_x_max, e.bbox_y_min, e.bbox_y_max) == (693, 932, -793, -572)
    assert e.bbox_source == "hpc_bbox"
    assert (e.start_time, e.end_time) == ("2010-06-20T11:14:44", "2010-06-20T11:54:26")
    assert e.channels == "171,193,211" and e.n_reports == 3
    assert e.hpc_radius == pytest.approx(1061.81825186799279)  # a string in the JSON
    assert e.event_id == "SOL2010-06-20T11-14-44L031C130"
    e = ev.loc["SOL2010-06-23T16:18:54L175C021"]
    assert (e.bbox_y_min, e.bbox_y_max) == (868, 1062)
    assert e.channel == 304  # the preferred channel's report gives the row
    e = ev.loc["SOL2010-06-04T09:21:47L246C049"]
    assert (e.hpc_x, e.hpc_y, e.c1error, e.c2error) == (789, 694, 146.4, 162.6)
    assert (e.hgs_x, e.hgs_y, e.hgc_x) == (89.400782, 41.331773, -114.244538)
    assert e.frm_humanflag == 1 and e.frm_name == "schryver" and e.channel == 171
    # every box ordered, for all 8 events
    assert (ev.bbox_x_min < ev.bbox_x_max).all() and (ev.bbox_y_min < ev.bbox_y_max).all()
    con = sqlite3.connect(db)
    wl = dict(con.execute("SELECT channel, wavelength FROM reports").fetchall())
    assert wl[171] == pytest.approx(171.0) and wl[304] == pytest.approx(304.0)  # 1.71e-06 cm -> 171 Å
    units = dict(con.execute("SELECT column_name, unit FROM columns WHERE table_name='events'").fetchall())
    assert units["hpc_x"] == "arcsec" and units["hgs_x"] == "deg" and units["hrc_r"] == "R_sun"
    assert con.execute("PRAGMA user_version").fetchone()[0] == hek.SCHEMA_VERSION
    con.close()


def test_reingest_is_idempotent(tmp_path):
    recs = hek.read_hek_response(HEK_FILE, max_bytes=settings().hek.max_response_bytes)
    con = sqlite3.connect(tmp_path / "e.sqlite")
    hek.ingest(con, recs, 304)
    first = con.execute("SELECT * FROM events ORDER BY sol_standard").fetchall()
    hek.ingest(con, recs, 304)
    assert con.execute("SELECT * FROM events ORDER BY sol_standard").fetchall() == first
    assert con.execute("SELECT COUNT(*) FROM reports").fetchone()[0] == 16


def test_bad_records_are_counted_by_kind_and_skipped():
    recs = real_records()
    bad = [dict(recs[0], SOL_standard=""), dict(recs[1], event_starttime="2010-06-20 11:14"),
           dict(recs[2], hpc_bbox="junk", boundbox_c1ll=None), dict(recs[3], event_type="FL"), 7]
    out = hek.parse_records(bad + recs[4:], source="x")
    assert out.bad_counts() == {"not_an_object": 1, "missing_key": 1, "bad_time": 1, "bad_coordinates": 1,
                                "bad_units": 0, "wrong_type": 1}
    assert len(out.reports) == 12


def test_boundbox_fallback_orders_corners():
    rec = dict(real_records()[1], hpc_bbox=None)  # SOL2010-06-20: c2ll -572 > c2ur -793
    out = hek.parse_records([rec])
    r = out.reports.iloc[0]
    assert (r.bbox_y_min, r.bbox_y_max, r.bbox_source) == (-793, -572, "boundbox")


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b'{"params": {}}', b"\xff\xfe", b"[" * 100000])
def test_hostile_response_files_give_one_line_errors(tmp_path, content):
    p = tmp_path / "h.json"
    p.write_bytes(content)
    with pytest.raises(JetsError) as err:
        hek.read_hek_response(p, max_bytes=10 ** 6)
    assert str(err.value).startswith(str(p)) and "\n" not in str(err.value)


def test_response_size_checked_before_reading(tmp_path):
    p = tmp_path / "big.json"
    p.write_bytes(b" " * 5000)
    with pytest.raises(JetsError, match="limit 4096"):
        hek.read_hek_response(p, max_bytes=4096)


def _client_settings(url, **http):
    return settings(hek={"base_url": url + "/hek/her", "http": {"timeout_s": 0.3, "retries": 2, "backoff_s": 0.0,
                                                                **http}}).hek


def _page(records, overmax):
    return json.dumps({"result": records, "overmax": overmax})


def test_paging_three_pages_gives_every_event_once(tmp_path):
    recs = real_records()
    with RecordedServer() as srv:
        srv.add("/hek/her", Answer(body=_page(recs[:6], True)), Answer(body=_page(recs[5:12], True)),
                Answer(body=_page(recs[12:], False)))
        h = _client_settings(srv.url)
        out = hek.fetch_event_db(h, tmp_path / "events.sqlite", tmp_path / "hek.json")
        pages = [r.query["page"] for r in srv.requests]
        sent = srv.requests[0].query
    assert pages == [["1"], ["2"], ["3"]]
    assert sent["result_limit"] == ["500"] and sent["event_type"] == ["cj"] and sent["cosec"] == ["2"]
    assert sent["event_starttime"] == ["2010-06-01T00:00:00"] and sent["x1"] == ["-1200"]
    assert len(out.reports) == 16  # record 5 came on two pages, kept once
    ev = hek.read_events(tmp_path / "events.sqlite")
    assert len(ev) == 8 and ev.sol_standard.is_unique
    # the written response reads back to the same reports
    again = hek.read_hek_response(tmp_path / "hek.json", max_bytes=10 ** 7)
    assert sorted(again.reports.kb_archivid) == sorted(out.reports.kb_archivid)


def test_5xx_then_success_is_retried():
    with RecordedServer() as srv:
        srv.add("/hek/her", Answer(503, "busy"), Answer(502, "bad gateway"), Answer(body=_page(real_records(), False)))
        out = hek.query_hek(_client_settings(srv.url))
        assert srv.count("/hek/her") == 3
    assert len(out.reports) == 16


def test_stalled_server_times_out_with_one_line_and_no_database(tmp_path):
    with RecordedServer() as srv:
        srv.add("/hek/her", Answer(body=_page(real_records()[:3], True)), Answer(body="{}", stall_s=3.0))
        h = _client_settings(srv.url, retries=1)
        with pytest.raises(JetsError) as err:
            hek.fetch_event_db(h, tmp_path / "events.sqlite", tmp_path / "hek.json")
    msg = str(err.value)
    assert "\n" not in msg and "page 2" in msg and "no answer within 0.3 s after 2 attempt(s)" in msg
    assert not (tmp_path / "events.sqlite").exists() and not (tmp_path / "hek.json").exists()
    assert list(tmp_path.iterdir()) == []


def test_server_that_never_stops_paging_is_an_error():
    with RecordedServer() as srv:
        srv.add("/hek/her", Answer(body=_page(real_records()[:1], True)))
        h = settings(hek={"base_url": srv.url + "/hek/her", "max_pages": 3}).hek
        with pytest.raises(JetsError, match="overmax after 3 pages"):
            hek.query_hek(h)


def test_client_error_is_not_retried():
    with RecordedServer() as srv:
        srv.add("/hek/her", Answer(400, "bad request"))
        with pytest.raises(JetsError, match="HTTP 400"):
            hek.query_hek(_client_settings(srv.url))
        assert srv.count("/hek/her") == 1


def test_channel_filter_sends_param0():
    h = settings(hek={"channel_filter": 304}).hek
    p = hek.search_params(h, 1)
    assert (p["param0"], p["op0"], p["value0"]) == ("OBS_ChannelID", "=", "304")
    assert np.isclose(hek.search_params(h, 2)["x2"], 1200)
