"""The local ASI archive: layout, site-hour discovery, and an (off by default) downloader.

Decision: the local layout is the data server's path below ``sort_by_project/``, so a file's
local path and its URL differ only by the root:

    https://data.phys.ucalgary.ca/sort_by_project/THEMIS/asi/stream0/2014/03/10/gill_themis19/ut06/20140310_0600_gill_themis19_full.pgm.gz
    <root>/THEMIS/asi/stream0/2014/03/10/gill_themis19/ut06/20140310_0600_gill_themis19_full.pgm.gz

(REGO under GO-Canada/REGO, TREx under TREx/{NIR,blueline,RGB}; skymaps in
<project>/skymap[s]/<site>/<site>_<YYYYMMDD>/, calibration files in <project>/calibration/).
Nothing is downloaded at run time; `download` exists for users who fill their archive, and is
refused unless explicitly enabled.

The downloader (HTTP/1.1 through ``http.client``): resume from a ``.part`` file with a Range
request, the file moved into place only after its size (Content-Length / Content-Range /
expected) and SHA-256 (when given) check out; a server answer it cannot trust (garbage status
line, cut chunked body, non-numeric length, a range it did not ask for) is one failed attempt;
client errors (4xx) are not retried, except 408 and 429; every file has an overall deadline
(``archive.deadline_s``) that a watchdog enforces by closing the connection, so a server
trickling bytes cannot hold it; a URL path that would leave the archive root is refused.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Iterable

from levelpipe.asi.readers import parse_filename
from levelpipe.errors import ArchiveError, AsiError

LOG = logging.getLogger("levelpipe.asi.archive")
_RAW_SUFFIXES = (".pgm", ".pgm.gz", ".pgm.bz2", ".h5", ".png", ".png.tar")
_RANGE = re.compile(r"^bytes (\d{1,15})-(\d{1,15})/(\d{1,15}|\*)$")
_SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9_.+=,@-]+$")
#: HTTP statuses a retry may cure; every other 4xx is the request's own fault.
_RETRYABLE_4XX = frozenset({408, 429})
_MAX_REDIRECTS = 5
_BLOCK = 1 << 16


def granule_name(path: str | os.PathLike) -> str:
    """Site-hour granule of a raw file: <instrument>_<site>_<device>_<YYYYMMDD>_ut<HH>."""
    fn = parse_filename(path)
    t = fn.start.astype("datetime64[m]").item()
    return f"{fn.instrument}_{fn.site}_{fn.device}_{t:%Y%m%d}_ut{t:%H}"


def find_site_hours(root: str | os.PathLike) -> dict[str, list[Path]]:
    """All raw files below `root` (archive layout) grouped by site-hour granule, sorted."""
    root = Path(root)
    out: dict[str, list[Path]] = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file() or not p.name.lower().endswith(_RAW_SUFFIXES):
            continue
        parts = p.relative_to(root).parts
        if not any(part.startswith("stream0") for part in parts[:-1]):  # stream0, stream0.colour, ...
            continue
        try:
            g = granule_name(p)
        except AsiError:
            continue
        out.setdefault(g, []).append(p)
    return out


def relative_url_path(url: str, base_url: str) -> str:
    base = base_url.rstrip("/") + "/"
    if not url.startswith(base):
        raise ArchiveError(f"URL is not below {base}", url)
    return url[len(base):]


def local_path(root: str | os.PathLike, url: str, base_url: str) -> Path:
    """Where a server URL lives in the local archive.

    Decision: only plain relative paths map into the archive: every component must be a plain
    file or folder name (letters, digits, ``_.+=,@-``, not ``.``/``..``), so an empty component
    (``//``: it would make the rest an absolute path), a query, a backslash or ``..`` is refused
    rather than rewritten."""
    rel = relative_url_path(url, base_url)
    parts = rel.split("/")
    for part in parts:
        if part in ("", ".", "..") or not _SAFE_COMPONENT.match(part):
            raise ArchiveError(f"refusing a URL path that does not map into the archive ({part!r})", url)
    root = Path(root)
    dest = root.joinpath(*parts)
    resolved_root = root.resolve()
    if os.path.commonpath([resolved_root, dest.resolve()]) != str(resolved_root):
        raise ArchiveError("refusing a path that leaves the archive", url)
    return dest


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Attempt(Exception):
    """One failed transfer attempt (retried); `fatal` ones are not."""

    def __init__(self, message: str, fatal: bool = False):
        super().__init__(message)
        self.fatal = fatal


def download(url: str, dest: str | os.PathLike, *, enabled: bool, expected_size: int | None = None,
             sha256: str | None = None, timeout_s: float = 30, retries: int = 3, pause_s: float = 0.5,
             deadline_s: float = 600) -> Path:
    """Fetch `url` to `dest` with resume (HTTP Range on a .part file), size and checksum checks,
    within `deadline_s` overall (retries included).

    The transfer is resumed from an existing ``dest.part``; the file is moved into place only
    when its size matches Content-Length/Content-Range and `expected_size`, and its SHA-256
    matches `sha256` when given. A mismatching file is deleted and the transfer retried.
    """
    if not enabled:
        raise ArchiveError("downloads are disabled (set archive.enabled: true to allow them)", url)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    deadline = time.monotonic() + deadline_s
    last_error = "no attempt"
    for attempt in range(retries + 1):
        if time.monotonic() >= deadline:
            last_error = f"deadline of {deadline_s:g} s passed"
            break
        try:
            total = _transfer(url, part, timeout_s, deadline)
            size = part.stat().st_size
            if total is not None and size != total:
                raise _Attempt(f"short transfer: {size} of {total} bytes")
            if expected_size is not None and size != expected_size:
                part.unlink()
                raise _Attempt(f"size {size} != expected {expected_size}")
            if sha256 is not None and sha256_of(part) != sha256.lower():
                part.unlink()
                raise _Attempt("SHA-256 mismatch")
            os.replace(part, dest)
            return dest
        except _Attempt as err:
            last_error = str(err)
            if err.fatal:
                raise ArchiveError(f"download failed: {err}", url) from None
        except OSError as err:  # connection refused/reset, timeout, the watchdog's shutdown
            last_error = f"{type(err).__name__}: {_short(err)}"
        LOG.warning("download attempt %d of %s failed: %s", attempt + 1, url, last_error)
        if attempt < retries:
            time.sleep(max(0.0, min(pause_s, deadline - time.monotonic())))
    if time.monotonic() >= deadline:
        last_error = f"deadline of {deadline_s:g} s passed ({last_error})"
    raise ArchiveError(f"download failed after {attempt + 1} attempt(s): {last_error}", url)


def _connect(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise _Attempt(f"not an http(s) URL: {url}", fatal=True)
    cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    try:
        conn = cls(u.hostname, u.port, timeout=timeout)
    except ValueError as err:  # a port that is not a number
        raise _Attempt(f"bad URL: {err}", fatal=True) from None
    target = (u.path or "/") + (f"?{u.query}" if u.query else "")
    return conn, target


class _Watchdog:
    """Closes a connection's socket when the overall deadline passes: a blocked read (status
    line, headers or body, however slowly the server trickles them) then fails at once."""

    def __init__(self, conn: http.client.HTTPConnection, deadline: float):
        self.conn, self.fired = conn, False
        self.timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self.timer.daemon = True

    def _fire(self):
        self.fired = True
        sock = self.conn.sock
        if sock is not None:
            try:
                import socket
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.cancel()
        self.conn.close()


def _number(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit() or len(value) > 15:
        raise _Attempt(f"non-numeric {what}: {_short(value)!r}")
    return int(value)


def _transfer(url: str, part: Path, timeout_s: float, deadline: float) -> int | None:
    """One attempt: GET (with Range when a .part exists) into `part`; returns the size the
    server announced for the whole file (None when it said none)."""
    for _hop in range(_MAX_REDIRECTS + 1):
        have = part.stat().st_size if part.exists() else 0
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Attempt("deadline passed")
        conn, target = _connect(url, min(timeout_s, remaining))
        with _Watchdog(conn, deadline) as dog:
            try:
                conn.request("GET", target, headers={"Range": f"bytes={have}-"} if have else {})
                resp = conn.getresponse()
                status = resp.status
                if status in (301, 302, 303, 307, 308):
                    location = resp.getheader("Location")
                    if not location:
                        raise _Attempt(f"HTTP {status} without a Location")
                    url = urllib.parse.urljoin(url, location)
                    continue
                if status == 416 and have:
                    # Decision: "range not satisfiable" says the .part is at least as long as the
                    # file, not that it holds the file (it may be another version of it): it is
                    # discarded and fetched again from the start, within this attempt
                    resp.read()
                    part.unlink()
                    LOG.warning("%s: partial file of %d bytes discarded (HTTP 416)", url, have)
                    continue
                if 400 <= status < 500:
                    raise _Attempt(f"HTTP {status} {_short(resp.reason)}", fatal=status not in _RETRYABLE_4XX)
                if status not in (200, 206):
                    raise _Attempt(f"HTTP {status} {_short(resp.reason)}")
                length = _number(resp.getheader("Content-Length"), "Content-Length")
                if status == 206:
                    m = _RANGE.match(resp.getheader("Content-Range", "") or "")
                    if not m or int(m.group(1)) != have:
                        raise _Attempt("server answered a range we did not ask for")
                    total = int(m.group(3)) if m.group(3) != "*" else None
                    mode = "ab"
                else:
                    total, mode = length, "wb"  # server ignored the Range header: start over
                with open(part, mode) as f:
                    while True:
                        block = resp.read1(_BLOCK)
                        if not block:
                            break
                        f.write(block)
                        if time.monotonic() >= deadline:
                            raise _Attempt("deadline passed during the transfer")
                return total
            except http.client.HTTPException as err:  # garbage status line, cut chunked body, ...
                if dog.fired:
                    raise _Attempt("deadline passed (connection closed)") from None
                raise _Attempt(f"bad HTTP response: {type(err).__name__}: {_short(err)}") from None
            except OSError as err:
                if dog.fired:
                    raise _Attempt("deadline passed (connection closed)") from None
                raise _Attempt(f"{type(err).__name__}: {_short(err)}") from None
    raise _Attempt(f"more than {_MAX_REDIRECTS} redirects")


def _short(text) -> str:
    """Server-supplied text as one short line (it may be any bytes a broken server sent)."""
    line = " ".join(str(text).split())
    return line if len(line) <= 120 else line[:117] + "..."


def download_many(urls: Iterable[str], root: str | os.PathLike, base_url: str, *, enabled: bool,
                  checksums: dict[str, str] | None = None, **kw) -> list[Path]:
    """Fetch several server URLs into the local archive layout (skipping files already there)."""
    out = []
    for url in urls:
        dest = local_path(root, url, base_url)
        if dest.exists() and (not checksums or sha256_of(dest) == checksums.get(url, sha256_of(dest))):
            out.append(dest)
            continue
        out.append(download(url, dest, enabled=enabled, sha256=(checksums or {}).get(url), **kw))
    return out


def main(argv=None) -> None:
    """Fill a local archive from server URLs, e.g.

        python -m levelpipe.asi.archive --config config/asi.yaml --root /data/asi URL [URL ...]

    Uses the `archive` section of the config; refuses unless `archive.enabled` is true there.
    """
    import argparse
    import sys

    from levelpipe.asi.settings import ArchiveSettings
    from levelpipe.errors import LevelpipeError
    from levelpipe.settings import read_yaml, validate
    ap = argparse.ArgumentParser(description="download UCalgary ASI files into the local archive layout")
    ap.add_argument("--config", required=True, help="asi config YAML (its archive section is used)")
    ap.add_argument("--root", required=True, help="local archive root")
    ap.add_argument("urls", nargs="+")
    args = ap.parse_args(argv)
    try:
        raw = read_yaml(args.config) or {}
        cfg = validate(ArchiveSettings, raw.get("archive") if isinstance(raw, dict) else None,
                       f"{args.config}:archive")
        for p in download_many(args.urls, args.root, cfg.base_url, enabled=cfg.enabled,
                               timeout_s=cfg.timeout_s.to_value("s"), retries=cfg.retries,
                               deadline_s=cfg.deadline_s.to_value("s")):
            print(p)
    except LevelpipeError as err:
        if argv is not None:
            raise
        print(f"levelpipe.asi.archive: {err}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
