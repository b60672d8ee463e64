"""Synthetic archives of empty files with real names, for the planning benchmark and tests.

Planning (``snakemake -n``) never opens a raw file's content beyond a header peek, so empty files
named and laid out as each family's real archive measure exactly what planning costs: the walk,
the index, the input functions and Snakemake's own DAG. Each builder writes `n` granules below
`root` and returns their count.
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


def vzlusat1(root: Path, n: int) -> int:
    """n archive folders, each with one raw frame and its metadata."""
    for i in range(n):
        folder = Path(root) / "raw" / f"batch_{i // 1000:03d}" / f"folder_{i:06d}"
        _touch(folder / "1_fullres.txt")
        _touch(folder / "1_fullres.metadata.txt")
    return n


def asi(root: Path, n: int) -> int:
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
    return n


BUILDERS: dict[str, Callable[[Path, int], int]] = {"vzlusat1": vzlusat1, "asi": asi}


def build(family: str, root: str | os.PathLike, n: int) -> int:
    return BUILDERS[family](Path(root), n)
