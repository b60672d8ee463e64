"""Fuzzing targets of the VZLUSAT-1 readers (for ``make fuzz``): each reads one file as the pipeline does.

``targets()`` maps a reader name to (function, seed files). A function raises nothing but
``LevelpipeError`` (here ``TimepixError``) on any input, and its time and memory are bounded by
the format's limits (``levelpipe.timepix.formats``). Seeds are the bundled real files.
"""
from __future__ import annotations

import pathlib
from typing import Callable

from levelpipe.timepix.classifier import clusters_from_list
from levelpipe.timepix.clusters import features
from levelpipe.timepix.formats import (read_clusters, read_dsc, read_info_rows, read_matrix, read_metadata,
                                       read_statistics)

REPO = pathlib.Path(__file__).resolve().parents[3]
RESOURCES = REPO / "resources" / "vzlusat1"


def _clusters(path: pathlib.Path) -> object:
    # L0 rebuilds the frame from the list; the classifier's training computes its features.
    cl = read_clusters(path)
    cl.frame()
    return features(clusters_from_list(cl))


def _seeds(pattern: str) -> list[pathlib.Path]:
    return sorted(RESOURCES.glob(pattern))


def targets() -> dict[str, tuple[Callable[[pathlib.Path], object], list[pathlib.Path]]]:
    return {
        "vzlusat1_matrix": (read_matrix, _seeds("raw/*/*_fullres.txt")),
        "vzlusat1_dsc": (read_dsc, _seeds("raw/*/*_fullres.txt.dsc")),
        "vzlusat1_metadata": (read_metadata, _seeds("*/*/*_fullres.metadata.txt")),
        "vzlusat1_info": (read_info_rows, _seeds("*/*/info.txt")),
        "vzlusat1_clusters": (_clusters, _seeds("labelled/**/*_fullres.clusters.txt")),
        "vzlusat1_statistics": (read_statistics, _seeds("labelled/**/*_fullres.statistics.txt")),
    }
