"""Archive layout and the downloader, against a local HTTP server on 127.0.0.1 only."""
from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from levelpipe.asi.archive import download, find_site_hours, granule_name, local_path
from levelpipe.errors import ArchiveError

BASE = "https://data.phys.ucalgary.ca/sort_by_project"
PAYLOAD = bytes(range(256)) * 400  # 102400 bytes


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: list = []
    mode = "normal"  # normal | short | ignore_range

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):  # noqa: N802
        type(self).hits.append(self.headers.get("Range"))
        rng = self.headers.get("Range")
        body, status, headers = PAYLOAD, 200, {}
        if rng and self.mode != "ignore_range":
            start = int(rng.split("=")[1].split("-")[0])
            body, status = PAYLOAD[start:], 206
            headers["Content-Range"] = f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}"
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.mode == "short" and not rng:
            self.wfile.write(body[: len(body) // 2])  # connection drops mid-transfer
            type(self).mode = "normal"
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    _Handler.hits = []
    _Handler.mode = "normal"
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
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
    with pytest.raises(ArchiveError):
        local_path(tmp_path, f"{BASE}/../../etc/passwd", BASE)


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
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    out = download(f"{server}/f", tmp_path / "a" / "f", enabled=True, expected_size=len(PAYLOAD), sha256=sha,
                   pause_s=0)
    assert out.read_bytes() == PAYLOAD


def test_resume_from_partial_file(tmp_path, server):
    dest = tmp_path / "f"
    (tmp_path / "f.part").write_bytes(PAYLOAD[:1000])
    download(f"{server}/f", dest, enabled=True, expected_size=len(PAYLOAD), pause_s=0)
    assert dest.read_bytes() == PAYLOAD
    assert _Handler.hits == ["bytes=1000-"]


def test_short_transfer_is_retried_and_resumed(tmp_path, server):
    _Handler.mode = "short"
    dest = tmp_path / "f"
    download(f"{server}/f", dest, enabled=True, sha256=hashlib.sha256(PAYLOAD).hexdigest(), pause_s=0)
    assert dest.read_bytes() == PAYLOAD
    assert _Handler.hits[0] is None and _Handler.hits[1].startswith("bytes=")


def test_server_ignoring_range_restarts(tmp_path, server):
    _Handler.mode = "ignore_range"
    (tmp_path / "f.part").write_bytes(b"x" * 10)
    download(f"{server}/f", tmp_path / "f", enabled=True, expected_size=len(PAYLOAD), pause_s=0)
    assert (tmp_path / "f").read_bytes() == PAYLOAD


def test_checksum_and_size_mismatch_fail_without_leaving_files(tmp_path, server):
    with pytest.raises(ArchiveError, match="attempts"):
        download(f"{server}/f", tmp_path / "f", enabled=True, sha256="0" * 64, retries=1, pause_s=0)
    with pytest.raises(ArchiveError):
        download(f"{server}/f", tmp_path / "g", enabled=True, expected_size=5, retries=0, pause_s=0)
    assert not any(tmp_path.iterdir())


def test_command_line_uses_config_and_layout(tmp_path, server):
    import yaml
    from levelpipe.asi.archive import main
    cfg = tmp_path / "asi.yaml"
    cfg.write_text(yaml.safe_dump({"archive": {"enabled": False, "base_url": server, "timeout_s": 5, "retries": 0}}))
    url = f"{server}/THEMIS/asi/stream0/2014/03/10/gill_themis19/ut06/x.pgm.gz"
    with pytest.raises(ArchiveError, match="disabled"):
        main(["--config", str(cfg), "--root", str(tmp_path / "arc"), url])
    cfg.write_text(yaml.safe_dump({"archive": {"enabled": True, "base_url": server, "timeout_s": 5, "retries": 0}}))
    main(["--config", str(cfg), "--root", str(tmp_path / "arc"), url])
    assert (tmp_path / "arc/THEMIS/asi/stream0/2014/03/10/gill_themis19/ut06/x.pgm.gz").read_bytes() == PAYLOAD
