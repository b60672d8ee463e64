"""Compatibility export in the archive's own text formats (`*_fullres.clusters.txt`, `.statistics.txt`).

The layout is byte-for-byte that of github.com/vzlusat/vzlusat1-timepix-data: a JSON list whose
items start at column 0, keys indented by two spaces per level, pixel values as the shortest
decimal of the 2-decimal keV value, LF line ends and no final newline; statistics list every
class in class-id order.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from levelpipe.timepix.classes import CLASS_NAMES

_PIXEL = '    {{\n      "x": {},\n      "y": {},\n      "value": {}\n    }}'
_CLUSTER = ('{{\n  "pos_x": {},\n  "pos_y": {},\n  "cluster_class": {{\n    "name": "{}",\n'
            '    "cluster_class": {}\n  }},\n  "pixels": [\n{}\n  ]\n}}')


def clusters_text(pos_x, pos_y, class_id, pixel_start, pixel_count, row, col, energy) -> str:
    """The `.clusters.txt` text of one frame's clusters (pixels absolute; written relative to pos)."""
    if len(pos_x) == 0:
        return "[\n]"
    rep = np.repeat(np.arange(len(pos_x)), pixel_count)
    x = (np.asarray(row, np.int64) - np.asarray(pos_x, np.int64)[rep]).tolist()
    y = (np.asarray(col, np.int64) - np.asarray(pos_y, np.int64)[rep]).tolist()
    values = [repr(v) for v in np.round(np.asarray(energy, np.float64), 2).tolist()]
    pixels = [_PIXEL.format(a, b, v) for a, b, v in zip(x, y, values)]
    items = []
    columns = (np.asarray(a).tolist() for a in (pos_x, pos_y, class_id, pixel_start, pixel_count))
    for px, py, cid, s, n in zip(*columns):
        items.append(_CLUSTER.format(px, py, CLASS_NAMES[cid], cid, ",\n".join(pixels[s:s + n])))
    return "[\n" + ",\n".join(items) + "\n]"


def statistics_text(class_id) -> str:
    counts = np.bincount(np.asarray(class_id, np.int64), minlength=max(CLASS_NAMES) + 1)
    return json.dumps({name: int(counts[cid]) for cid, name in CLASS_NAMES.items()}, indent=2)


def write_frame(out_dir: str | Path, frame: int, **clusters) -> None:
    out_dir = Path(out_dir)
    (out_dir / f"{frame}_fullres.clusters.txt").write_text(clusters_text(**clusters))
    (out_dir / f"{frame}_fullres.statistics.txt").write_text(statistics_text(clusters["class_id"]))
