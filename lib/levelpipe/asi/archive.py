"""The local ASI archive: layout, site-hour discovery, and an (off by default) downloader.

Decision: the local layout is the data server's path below ``sort_by_project/``, so a file's
local path and its URL differ only by the root:

    https://data.phys.ucalgary.ca/sort_by_project/THEMIS/asi/stream0/2014/03/10/gill_themis19/ut06/20140310_0600_gill_themis19_full.pgm.gz
    <root>/THEMIS/asi/stream0/2014/03/10/gill_themis19/ut06/20140310_0600_gill_themis19_full.pgm.gz

(REGO under GO-Canada/REGO, TREx under TREx/{NIR,blueline,RGB}; skymaps in
<project>/skymap[s]/<site>/<site>_<YYYYMMDD>/, calibration files in <project>/calibration/).
Nothing is downloaded at run time; `download` exists for users who fill their archive, and is
refused unless explicitly enabled.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterable

from levelpipe.asi.readers import parse_filename
from levelpipe.errors import ArchiveError, AsiError

LOG = logging.getLogger("levelpipe.asi.archive")
_STREAM = re.compile(r"stream0$")
_RAW_SUFFIXES = (".pgm", ".pgm.gz", ".pgm.bz2", ".h5", ".png", ".png.tar")


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
    """Where a server URL lives in the local archive."""
    rel = relative_url_path(url, base_url)
    if ".." in Path(rel).parts:
        raise ArchiveError("refusing a path that leaves the archive", url)
    return Path(root) / rel


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: str | os.PathLike, *, enabled: bool, expected_size: int | None = None,
             sha256: str | None = None, timeout_s: float = 30, retries: int = 3, pause_s: float = 0.5) -> Path:
    """Fetch `url` to `dest` with resume (HTTP Range on a .part file), size and checksum checks.

    The transfer is resumed from an existing ``dest.part``; the file is moved into place only
    when its size matches Content-Length/Content-Range and `expected_size`, and its SHA-256
    matches `sha256` when given. A mismatching file is deleted and the transfer retried.
    """
    if not enabled:
        raise ArchiveError("downloads are disabled (set archive.enabled: true to allow them)", url)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last_error: Exception | None = None
    for attempt in range(retries + 1):
        try:
            _transfer(url, part, timeout_s)
            size = part.stat().st_size
            if expected_size is not None and size != expected_size:
                part.unlink()
                raise ArchiveError(f"size {size} != expected {expected_size}", url)
            if sha256 is not None and sha256_of(part) != sha256.lower():
                part.unlink()
                raise ArchiveError("SHA-256 mismatch", url)
            os.replace(part, dest)
            return dest
        except (ArchiveError, urllib.error.URLError, OSError, ConnectionError) as err:
            last_error = err
            LOG.warning("download attempt %d of %s failed: %s", attempt + 1, url, err)
            time.sleep(pause_s)
    raise ArchiveError(f"download failed after {retries + 1} attempts: {last_error}", url)


def _transfer(url: str, part: Path, timeout_s: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout_s)  # noqa: S310 - http(s) URLs from config
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # already complete
            return
        raise
    with resp:
        status = resp.status
        total = None
        if status == 206:
            m = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != have:
                raise ArchiveError("server answered a range we did not ask for", url)
            total = int(m.group(3)) if m.group(3) != "*" else None
            mode = "ab"
        else:
            mode = "wb"  # server ignored the Range header: start over
            have = 0
            if resp.headers.get("Content-Length"):
                total = int(resp.headers["Content-Length"])
        with open(part, mode) as f:
            while True:
                block = resp.read(1 << 16)
                if not block:
                    break
                f.write(block)
    size = part.stat().st_size
    if total is not None and size != total:
        raise ArchiveError(f"short transfer: {size} of {total} bytes", url)


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

    import yaml
    ap = argparse.ArgumentParser(description="download UCalgary ASI files into the local archive layout")
    ap.add_argument("--config", required=True, help="asi config YAML (its archive section is used)")
    ap.add_argument("--root", required=True, help="local archive root")
    ap.add_argument("urls", nargs="+")
    args = ap.parse_args(argv)
    with open(args.config) as f:
        cfg = yaml.safe_load(f)["archive"]
    for p in download_many(args.urls, args.root, cfg["base_url"], enabled=bool(cfg["enabled"]),
                           timeout_s=float(cfg["timeout_s"]), retries=int(cfg["retries"])):
        print(p)


if __name__ == "__main__":
    main()
