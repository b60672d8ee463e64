"""Track classes of the reference VZLUSAT-1 classifier (Baca et al., IROS 2019).

The ids and names are those of the archive's `*_fullres.clusters.txt` / `.statistics.txt`
files; statistics files list them in this order.
"""
from __future__ import annotations

from levelpipe.errors import TimepixError

CLASS_NAMES: dict[int, str] = {
    1: "dot",
    2: "blob_small",
    3: "blob_big",
    4: "blob_branched",
    5: "track_straight",
    6: "track_curly",
    7: "drop",
    8: "other",
    9: "track_lowres",
}
CLASS_IDS: dict[str, int] = {name: cid for cid, name in CLASS_NAMES.items()}


def class_ids(names, where: str = "class filter") -> list[int]:
    """Class ids for a list of class names; an unknown name is a clear error, not a silent skip."""
    out = []
    for name in names:
        if name not in CLASS_IDS:
            raise TimepixError(f"unknown class {name!r}; known classes: {', '.join(CLASS_IDS)}", where=where)
        out.append(CLASS_IDS[name])
    return out
