"""JSOC export and SSW cutout clients against a recorded server on 127.0.0.1.

No recorded JSOC or SSW answer exists in any source (jets.md §2.2), so the answers are built
from the keys the notes document (drms json.py / client.py, the seed's cutout.py)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from levelpipe.jets import cutouts
from levelpipe.jets.errors import JetsError
from levelpipe.testing.jets_http import Answer, RecordedServer

from jets_testlib import BUNDLE, settings

SAMPLE = sorted((BUNDLE / "cutouts").glob("*/*.fits"))[:2]
EVENT = SimpleNamespace(start_time="2010-06-04T09:21:47", end_time="2010-06-04T09:23:11", hpc_x=789.0, hpc_y=694.0,
                        bbox_x_min=643.0, bbox_x_max=936.0, bbox_y_min=531.0, bbox_y_max=856.0)


def _cut(url, service="jsoc", ssw_timeout_s=1.0, **jsoc):
    return settings(cutouts={
        "service": service, "http": {"timeout_s": 0.5, "retries": 2, "backoff_s": 0},
        "jsoc": {"fetch_url": url + "/cgi-bin/ajax/jsoc_fetch", "download_base_url": url + "/",
                 "notify": "someone@example.org", "poll_interval_s": 0.01, **jsoc},
        "ssw": {"submit_url": url + "/cgi-ssw/ssw_service_track_fov.sh", "data_url": url + "/ssw_client/data/",
                "poll_interval_s": 0.05, "job_timeout_s": ssw_timeout_s}}).cutouts


def _status(query):
    return json.dumps({"status": 0, "requestid": "JSOC_20260101_1", "dir": "/SUM1/D123/S00000", "method": "url",
                       "protocol": "fits", "data": [{"record": f"r{k}", "filename": p.name} for k, p in enumerate(SAMPLE)]})


def _jsoc_server(srv, status_answers, file_answers=None):
    srv.add("/cgi-bin/ajax/jsoc_fetch", Answer(body=lambda q: json.dumps({"status": 2, "requestid": "JSOC_20260101_1",
                                                                          "wait": 0})
                                               if q["op"] == ["exp_request"] else _STATUS[0](q)))
    _STATUS[0] = _queue(status_answers)
    for k, p in enumerate(SAMPLE):
        answers = (file_answers or {}).get(k, [Answer(body=p.read_bytes(), content_type="application/fits")])
        srv.add(f"/SUM1/D123/S00000/{p.name}", *answers)


_STATUS = [None]


def _queue(bodies):
    state = {"i": 0}

    def next_body(query):
        b = bodies[min(state["i"], len(bodies) - 1)]
        state["i"] += 1
        return b(query) if callable(b) else b
    return next_body


def test_recordset_and_im_patch_follow_the_notes():
    cut = settings(cutouts={"jsoc": {"notify": "a@b.org"}}).cutouts
    assert cutouts.jsoc_recordset(EVENT, cut) == \
        "aia.lev1_euv_12s[2010.06.04_09:22:21_TAI-2010.06.04_09:23:45_TAI@24s][304]{image}"  # UTC + 34 s in 2010
    p = cutouts.jsoc_request_params(EVENT, cut)
    assert p["process"] == ("n=0|im_patch,t_ref=2010-06-04T09:21:47.000,t=1,r=0,c=0,locunits=arcsec,"
                            "boxunits=arcsec,x=789.0,y=694.0,width=293.0,height=325.0")
    assert (p["method"], p["protocol"], p["requester"]) == ("url", "fits", "a")


def test_jsoc_export_polls_lists_and_downloads(tmp_path):
    pending = json.dumps({"status": 1, "requestid": "JSOC_20260101_1", "wait": 0.01})
    with RecordedServer() as srv:
        _jsoc_server(srv, [pending, pending, _status])
        paths = cutouts.jsoc_export(EVENT, _cut(srv.url), tmp_path / "ev")
        ops = [r.query["op"][0] for r in srv.requests if r.path.endswith("jsoc_fetch")]
    assert ops == ["exp_request", "exp_status", "exp_status", "exp_status"]
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in SAMPLE]


def test_jsoc_5xx_is_retried(tmp_path):
    with RecordedServer() as srv:
        srv.routes["/cgi-bin/ajax/jsoc_fetch"] = [Answer(503, "busy")]
        _jsoc_server(srv, [_status])
        paths = cutouts.jsoc_export(EVENT, _cut(srv.url), tmp_path / "ev")
        assert srv.count("/cgi-bin/ajax/jsoc_fetch") == 3  # 503, exp_request, exp_status
    assert len(paths) == 2


def test_stalled_export_times_out_with_one_line(tmp_path):
    pending = json.dumps({"status": 1, "requestid": "JSOC_20260101_1", "wait": 0.05})
    with RecordedServer() as srv:
        _jsoc_server(srv, [pending])
        with pytest.raises(JetsError) as err:
            cutouts.jsoc_export(EVENT, _cut(srv.url, export_timeout_s=0.3), tmp_path / "ev")
    assert "still pending after 0.3 s" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "ev").exists()


def test_failed_export_status_is_an_error(tmp_path):
    with RecordedServer() as srv:
        _jsoc_server(srv, [json.dumps({"status": 4, "error": "bad recordset"})])
        with pytest.raises(JetsError, match="status 4: bad recordset"):
            cutouts.jsoc_export(EVENT, _cut(srv.url), tmp_path / "ev")


def test_truncated_file_is_retried_then_fails_leaving_no_partial_fits(tmp_path):
    body = SAMPLE[1].read_bytes()
    cut_off = Answer(body=body, content_type="application/fits", truncate_to=len(body) // 2)
    with RecordedServer() as srv:
        _jsoc_server(srv, [_status], {1: [cut_off]})
        with pytest.raises(JetsError) as err:
            cutouts.jsoc_export(EVENT, _cut(srv.url), tmp_path / "ev")
        assert srv.count(f"/SUM1/D123/S00000/{SAMPLE[1].name}") == 3
    assert "after 3 attempt(s)" in str(err.value)
    left = sorted(p.name for p in (tmp_path / "ev").iterdir())
    assert left == [SAMPLE[0].name]  # the complete first file only; no partial or temporary file


def test_truncated_then_complete_download_succeeds(tmp_path):
    body = SAMPLE[0].read_bytes()
    with RecordedServer() as srv:
        _jsoc_server(srv, [_status], {0: [Answer(body=body, truncate_to=100), Answer(body=body)]})
        paths = cutouts.jsoc_export(EVENT, _cut(srv.url), tmp_path / "ev")
    assert paths[0].read_bytes() == body


def test_not_fits_is_refused(tmp_path):
    with RecordedServer() as srv:
        _jsoc_server(srv, [_status], {0: [Answer(body=b"<html>error</html>")]})
        with pytest.raises(JetsError, match="not a FITS file"):
            cutouts.jsoc_export(EVENT, _cut(srv.url), tmp_path / "ev")
    assert not any((tmp_path / "ev").iterdir())


def test_hostile_file_names_are_refused(tmp_path):
    bad = json.dumps({"status": 0, "dir": "/x", "data": [{"record": "r", "filename": "../../etc/passwd"}]})
    with RecordedServer() as srv:
        _jsoc_server(srv, [bad])
        with pytest.raises(JetsError):
            cutouts.jsoc_export(EVENT, _cut(srv.url), tmp_path / "ev")


def test_ssw_submit_poll_list_download(tmp_path):
    with RecordedServer() as srv:
        srv.add("/cgi-ssw/ssw_service_track_fov.sh", Answer(body='<VOTABLE><param name="JobID">ssw_job_42</param>',
                                                              content_type="text/xml"))
        srv.add("/ssw_client/data/ssw_job_42/", Answer(body="<html>queued</html>", content_type="text/html"),
                Answer(body='<html>Per-Wave file lists<p><a href="ssw_job_42_304.list">304</a></html>',
                       content_type="text/html"))
        listing = "".join(f"/archive/sdo/data/ssw_job_42/{p.name}\n" for p in SAMPLE) + "\n"
        srv.add("/ssw_client/data/ssw_job_42/ssw_job_42_304.list", Answer(body=listing, content_type="text/plain"))
        for p in SAMPLE:
            srv.add(f"/ssw_client/data/ssw_job_42/{p.name}", Answer(body=p.read_bytes()))
        paths = cutouts.ssw_cutouts(EVENT, _cut(srv.url, "ssw"), tmp_path / "ev")
        sent = srv.requests[0].query
    assert [p.name for p in paths] == [p.name for p in SAMPLE]
    assert sent["starttime"] == ["2010-06-04 09:21:47"] and sent["max_frames"] == ["4"]  # ceil(84 s / 24 s)
    assert sent["fovx"] == ["293.0"] and sent["waves"] == ["304"] and sent["notrack"] == ["1"]


def test_ssw_job_that_never_finishes_times_out(tmp_path):
    with RecordedServer() as srv:
        srv.add("/cgi-ssw/ssw_service_track_fov.sh", Answer(body='<param name="JobID">j1</param>'))
        srv.add("/ssw_client/data/j1/", Answer(body="queued", content_type="text/html"))
        with pytest.raises(JetsError, match="job not finished after 0.2 s"):
            cutouts.ssw_cutouts(EVENT, _cut(srv.url, "ssw", ssw_timeout_s=0.2), tmp_path / "ev")


def test_service_none_never_downloads(tmp_path):
    with pytest.raises(JetsError, match="nothing is downloaded"):
        cutouts.fetch_cutouts(EVENT, settings().cutouts, tmp_path)
