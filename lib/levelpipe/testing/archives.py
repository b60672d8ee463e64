"""Synthetic archives with real names and layouts, for the planning benchmark and tests.

Planning (``snakemake -n``) opens a raw file's content at most for a header peek, so empty files
named and laid out as each family's real archive measure exactly what planning costs: the walk,
the index, the input functions and Snakemake's own DAG. MinXSS is the exception: its index reads
the packet times of every raw file (file names do not tell a file's days), so its archive holds
one small simulated file per day. Each builder writes `n` granules below `root` and returns the
config overrides the family needs for them (e.g. FOXSI's flights of files with other names).
"""
from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Callable

_SITES = ["atha", "fsmi", "fsim", "gill", "inuv", "kapu", "pina", "rank", "tpas", "yknf"]


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def vzlusat1(root: Path, n: int) -> dict:
    """n archive folders, each with one raw frame and its metadata."""
    for i in range(n):
        folder = Path(root) / "raw" / f"batch_{i // 1000:03d}" / f"folder_{i:06d}"
        _touch(folder / "1_fullres.txt")
        _touch(folder / "1_fullres.metadata.txt")
    return {}


def asi(root: Path, n: int) -> dict:
    """n THEMIS site-hours (one minute file each) over ten sites, plus each site's skymaps."""
    root = Path(root)
    start = _dt.datetime(2014, 1, 1)
    for s in _SITES:
        for valid in ("20120101", "20140101", "20160101"):
            _touch(root / "THEMIS" / "asi" / "skymaps" / s / f"{s}_{valid}" /
                   f"themis_skymap_{s}_{valid}-+_v01.sav")
    for i in range(n):
        site = _SITES[i % len(_SITES)]
        t = start + _dt.timedelta(hours=i // len(_SITES))
        dev = f"themis{10 + _SITES.index(site):02d}"
        _touch(root / "THEMIS" / "asi" / "stream0" / f"{t:%Y/%m/%d}" / f"{site}_{dev}" / f"ut{t:%H}" /
               f"{t:%Y%m%d_%H}00_{site}_{dev}_full.pgm.gz")
    return {}


def foxsi(root: Path, n: int) -> dict:
    """n WSMR telemetry files of FOXSI-2 (names given their flight in config `files`) and the
    flight's peaks files."""
    root = Path(root)
    for d in (101, 102, 104, 105, 106, 108, 109):
        _touch(root / "calibration" / f"peaks_det{d}.sav")
    names = {}
    for i in range(n):
        name = f"rec_{i:06d}.log"
        _touch(root / "telemetry" / f"batch_{i // 1000:03d}" / name)
        names[name] = {"flight": "foxsi2"}
    return {"files": names}


def minxss(root: Path, n: int) -> dict:
    """n UTC days of MinXSS-2, one raw file each with an HK packet and one X123 record. MinXSS-2
    flew for about 35 days; the overrides widen its time window to n days (a planning exercise)."""
    from levelpipe.testing import minxss_simulator as sim
    root = Path(root)
    day0 = _dt.datetime(2018, 12, 3, 12)
    counts = [0] * 1024
    for i in range(n):
        t = day0 + _dt.timedelta(days=i)
        stamp = sim.gps_seconds(t)
        packets = [sim.hk_packet(stamp, 1, {})] + sim.sci_segments(sim.SciRecord(stamp_gps=stamp + 10, counts=counts), 2)
        path = root / "raw" / f"{t:%Y}" / f"tlm_packets_{t:%Y_%j}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(packets))
    end = sim.gps_seconds(day0 + _dt.timedelta(days=n + 1))
    return {"flight_models": {2: {"window_end_gps_s": end}}}


def jets(root: Path, n: int) -> dict:
    """n HEK events with one cutout frame each, a HEK response and a classification export."""
    root = Path(root)
    _touch(root / "hek" / "hek_response.json")
    _touch(root / "classifications" / "export.csv")
    t0 = _dt.datetime(2011, 1, 1)
    for i in range(n):
        t = t0 + _dt.timedelta(hours=i)
        _touch(root / "cutouts" / f"SOL{t:%Y-%m-%dT%H-%M-%S}L{i % 360:03d}C{i % 180:03d}" / "aia_171_0000.fits")
    return {}


BUILDERS: dict[str, Callable[[Path, int], dict]] = {"vzlusat1": vzlusat1, "asi": asi, "foxsi": foxsi,
                                                    "minxss": minxss, "jets": jets}


def build(family: str, root: str | os.PathLike, n: int) -> dict:
    """Write the archive; returns the overrides of the family's settings it needs."""
    return BUILDERS[family](Path(root), n)
