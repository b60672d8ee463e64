"""Archive layout and the downloader, against a local HTTP server on 127.0.0.1 only."""
from __future__ import annotations

import hashlib
import http.server
import threading
import time
from pathlib import Path

import pytest

from levelpipe.asi.archive import download, find_site_hours, granule_name, local_path
from levelpipe.errors import ArchiveError

BASE = "https://data.phys.ucalgary.ca/sort_by_project"
PAYLOAD = bytes(range(256)) * 400  # 102400 bytes
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: list = []
    mode = "normal"

    def log_message(self, *args):  # keep test output quiet
        pass

    def _raw(self, data: bytes):
        self.wfile.write(data)
        self.wfile.flush()
        self.close_connection = True

    def do_GET(self):  # noqa: N802
        cls = type(self)
        cls.hits.append(self.headers.get("Range"))
        rng = self.headers.get("Range")
        mode = cls.mode
        if mode == "404":
            self.send_error(404)
            return
        if mode == "garbage_status":
            return self._raw(b"HTXP/1.1 2OO Fine\r\nContent-Length: 5\r\n\r\nhello")
        if mode == "bad_length":
            return self._raw(b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n" + PAYLOAD)
        if mode == "cut_chunked":
            return self._raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"10000\r\n" + PAYLOAD[:1000])
        if mode in ("trickle_body", "trickle_status"):
            head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(PAYLOAD)
            if mode == "trickle_body":
                self.wfile.write(head)
            data = head + PAYLOAD if mode == "trickle_status" else PAYLOAD
            try:
                for i in range(len(data)):
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                    time.sleep(0.5)
            except OSError:
                pass
            self.close_connection = True
            return
        body, status, headers = PAYLOAD, 200, {}
        if rng and mode != "ignore_range":
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(PAYLOAD):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body, status = PAYLOAD[start:], 206
            headers["Content-Range"] = f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}"
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "short" and not rng:
            self.wfile.write(body[: len(body) // 2])  # connection drops mid-transfer
            cls.mode = "normal"
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    _Handler.hits = []
    _Handler.mode = "normal"
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_layout_mirrors_server_urls(tmp_path):
    url = f"{BASE}/THEMIS/asi/stream0/2014/03/10/gill_themis19/ut06/20140310_0600_gill_themis19_full.pgm.gz"
    p = local_path(tmp_path, url, BASE)
    assert p == tmp_path / "THEMIS/asi/stream0/2014/03/10/gill_themis19/ut06/20140310_0600_gill_themis19_full.pgm.gz"
    with pytest.raises(ArchiveError):
        local_path(tmp_path, "https://elsewhere.org/x.pgm", BASE)


@pytest.mark.parametrize("rest", ["../../etc/passwd", "/etc/passwd", "THEMIS//etc/x.pgm", "a/./b.pgm",
                                  "a\\..\\b.pgm", "a/b.pgm?x=1", ""])
def test_urls_that_would_leave_the_archive_are_refused(tmp_path, rest):
    with pytest.raises(ArchiveError, match="refusing"):
        local_path(tmp_path, f"{BASE}/{rest}", BASE)
    with pytest.raises(ArchiveError, match="refusing"):
        local_path(tmp_path, f"{BASE}//{rest}", BASE)  # `//` right after the base


def test_site_hours_of_bundled_sample():
    root = Path(__file__).resolve().parents[2] / "resources" / "asi"
    hours = find_site_hours(root)
    assert "themis_gill_themis19_20140310_ut06" in hours
    assert "trex_rgb_gill_rgb-04_20200508_ut06" in hours
    assert granule_name("20220307_0600_gill_nir-216_8446.pgm.gz") == "trex_nir_gill_nir-216_20220307_ut06"


def test_disabled_by_default(tmp_path, server):
    with pytest.raises(ArchiveError, match="disabled"):
        download(f"{server}/f", tmp_path / "f", enabled=False)
    assert _Handler.hits == []


def test_download_with_checks(tmp_path, server):
    out = download(f"{server}/f", tmp_path / "a" / "f", enabled=True, expected_size=len(PAYLOAD), sha256=SHA,
                   pause_s=0)
    assert out.read_bytes() == PAYLOAD


def test_resume_from_partial_file(tmp_path, server):
    dest = tmp_path / "f"
    (tmp_path / "f.part").write_bytes(PAYLOAD[:1000])
    download(f"{server}/f", dest, enabled=True, expected_size=len(PAYLOAD), pause_s=0)
    assert dest.read_bytes() == PAYLOAD
    assert _Handler.hits == ["bytes=1000-"]


@pytest.mark.parametrize("stale", [b"\0" * len(PAYLOAD), b"x" * (len(PAYLOAD) + 50)])
def test_416_discards_a_stale_part_instead_of_moving_it_into_place(tmp_path, server, stale):
    """A .part as long as (or longer than) the file gets HTTP 416; it may hold anything (another
    version of the file), so it is discarded and the file fetched again, not renamed unchecked."""
    (tmp_path / "f.part").write_bytes(stale)
    download(f"{server}/f", tmp_path / "f", enabled=True, pause_s=0)
    assert (tmp_path / "f").read_bytes() == PAYLOAD
    assert _Handler.hits == [f"bytes={len(stale)}-", None]


def test_short_transfer_is_retried_and_resumed(tmp_path, server):
    _Handler.mode = "short"
    dest = tmp_path / "f"
    download(f"{server}/f", dest, enabled=True, sha256=SHA, pause_s=0)
    assert dest.read_bytes() == PAYLOAD
    assert _Handler.hits[0] is None and _Handler.hits[1].startswith("bytes=")


def test_server_ignoring_range_restarts(tmp_path, server):
    _Handler.mode = "ignore_range"
    (tmp_path / "f.part").write_bytes(b"x" * 10)
    download(f"{server}/f", tmp_path / "f", enabled=True, expected_size=len(PAYLOAD), pause_s=0)
    assert (tmp_path / "f").read_bytes() == PAYLOAD


@pytest.mark.parametrize("mode", ["garbage_status", "bad_length", "cut_chunked"])
def test_broken_responses_are_failed_attempts_with_one_error(tmp_path, server, mode):
    _Handler.mode = mode
    with pytest.raises(ArchiveError, match="after 2 attempt") as err:
        download(f"{server}/f", tmp_path / "f", enabled=True, retries=1, pause_s=0, timeout_s=5)
    assert "\n" not in str(err.value)
    assert len(_Handler.hits) == 2
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize("mode", ["trickle_body", "trickle_status"])
def test_overall_deadline_stops_a_server_trickling_bytes(tmp_path, server, mode):
    _Handler.mode = mode
    t = time.monotonic()
    with pytest.raises(ArchiveError, match="deadline"):
        download(f"{server}/f", tmp_path / "f", enabled=True, retries=5, pause_s=0, timeout_s=5, deadline_s=2)
    assert time.monotonic() - t < 4
    assert not (tmp_path / "f").exists()


def test_404_is_not_retried(tmp_path, server):
    _Handler.mode = "404"
    with pytest.raises(ArchiveError, match="404"):
        download(f"{server}/f", tmp_path / "f", enabled=True, retries=3, pause_s=0)
    assert len(_Handler.hits) == 1


def test_checksum_and_size_mismatch_fail_without_leaving_files(tmp_path, server):
    with pytest.raises(ArchiveError, match="after 2 attempt.*SHA-256"):
        download(f"{server}/f", tmp_path / "f", enabled=True, sha256="0" * 64, retries=1, pause_s=0)
    with pytest.raises(ArchiveError):
        download(f"{server}/f", tmp_path / "g", enabled=True, expected_size=5, retries=0, pause_s=0)
    assert not any(tmp_path.iterdir())


def test_command_line_uses_config_and_layout(tmp_path, server):
    import yaml
    from levelpipe.asi.archive import main
    cfg = tmp_path / "asi.yaml"
    section = {"enabled": False, "base_url": server, "timeout_s": 5, "deadline_s": 30, "retries": 0}
    cfg.write_text(yaml.safe_dump({"archive": section}))
    url = f"{server}/THEMIS/asi/stream0/2014/03/10/gill_themis19/ut06/x.pgm.gz"
    with pytest.raises(ArchiveError, match="disabled"):
        main(["--config", str(cfg), "--root", str(tmp_path / "arc"), url])
    cfg.write_text(yaml.safe_dump({"archive": {**section, "enabled": True}}))
    main(["--config", str(cfg), "--root", str(tmp_path / "arc"), url])
    assert (tmp_path / "arc/THEMIS/asi/stream0/2014/03/10/gill_themis19/ut06/x.pgm.gz").read_bytes() == PAYLOAD
