"""The VZLUSAT-1 Timepix family: archive folders as granules, and their steps.

Index (one walk of ``<root>/raw`` and ``<root>/labelled``, folders may be nested): a granule is
an archive folder (e.g. ``above_europe``, ``planetary_sweeps/12_2020-06-09``) holding at least
one frame; its files by role are the raw matrices and their ``.dsc`` and ``.metadata.txt``
files, the labelled cluster lists with their metadata and statistics, and ``info.txt``. A job
gets exactly its folder's files: no job lists the archive.
"""
from __future__ import annotations

import os
from pathlib import Path

from levelpipe.family import Family, Step
from levelpipe.index import GranuleIndex
from levelpipe.timepix.settings import Vzlusat1Settings


class Vzlusat1Family(Family):
    name = "vzlusat1"
    package = "levelpipe.timepix"
    title = "VZLUSAT-1 Timepix"
    settings_model = Vzlusat1Settings
    granule = "folder"
    granule_description = "one archive folder of frames"
    layout = ("archive folders (raw/<folder>/<N>_fullres.txt or "
              "labelled/<folder>/<N>_fullres.clusters.txt)")
    roles = {
        "raw": "raw/<folder>/<N>_fullres.txt: 256x256 energy matrix (keV)",
        "dsc": "raw/<folder>/<N>_fullres.txt.dsc: Pixet descriptor of the raw frame",
        "raw_metadata": "raw/<folder>/<N>_fullres.metadata.txt",
        "clusters": "labelled/<folder>/<N>_fullres.clusters.txt: labelled cluster list",
        "labelled_metadata": "labelled/<folder>/<N>_fullres.metadata.txt",
        "statistics": "labelled/<folder>/<N>_fullres.statistics.txt: clusters per class",
        "info": "<folder>/info.txt: the folder's table of frames",
    }
    # Memory: peak RSS per step measured by benchmarks/bench_vzlusat1.py (each step in its own
    # process, medians of 3 interleaved rounds, one core; folders of 325 and 1,300 frames built
    # from the real frames, 253-7,788 hit pixels per frame), as a fixed part plus a part per MB
    # of the step's input (Snakemake's input.size_mb), rounded up by ~10%. Measured at 1,300
    # frames (input MB -> peak MB): l0 431 -> 554, l1 43 -> 2,111 (the whole L0 stack and its
    # labels in memory), labelled 24.5 -> 614, l2 24.5 -> 528, quicklook 61 -> 1,301,
    # browser 61 -> 772, maps 268 and model 235 (not input-size dependent here).
    steps = {
        "l0": Step(rule="build_vzlusat1_l0", function="levelpipe.timepix.l0:write_l0", level="L0",
                   sections=("l0",), tables=("l0",), mem_mb=250, mem_mb_per_input_mb=0.8),
        "model": Step(rule="train_vzlusat1_classifier", function="levelpipe.timepix.classifier:write_model",
                      level="model", sections=("classifier",), mem_mb=400),
        "l1": Step(rule="classify_vzlusat1_clusters", function="levelpipe.timepix.l1:write_l1", level="L1",
                   tables=("l1",), mem_mb=300, mem_mb_per_input_mb=48.0),
        "labelled": Step(rule="export_vzlusat1_labelled", function="levelpipe.timepix.l1:write_labelled",
                         level="L1 export", mem_mb=250, mem_mb_per_input_mb=17.0),
        "l2": Step(rule="compute_vzlusat1_dose", function="levelpipe.timepix.dose:write_l2", level="L2",
                   sections=("dose",), tables=("l2",), mem_mb=150, mem_mb_per_input_mb=17.0),
        "quicklook": Step(rule="plot_vzlusat1_quicklook", function="levelpipe.timepix.quicklook:write_quicklook",
                          level="quicklook", mem_mb=200, mem_mb_per_input_mb=20.0),
        "maps": Step(rule="plot_vzlusat1_maps", function="levelpipe.timepix.maps:write_maps", level="maps",
                     sections=("maps",), mem_mb=400),
        "browser": Step(rule="write_vzlusat1_browser", function="levelpipe.timepix.browser:write_browser_page",
                        level="browser", sections=("browser",), mem_mb=300, mem_mb_per_input_mb=9.0),
    }

    def targets(self, plan, result) -> list[str]:
        return [
            result(self.name, "model", "training_report.json"),
            result(self.name, "maps", "dose_rate.png"),
            *map_files(plan, result),
            *[result(self.name, d, f"{f}{e}") for f in plan.granules for d, e in
              (("l2", ".nc"), ("labelled", ""), ("quicklook", ".png"), ("browser", ".html"))],
        ]

    def index(self, root: Path, settings: Vzlusat1Settings) -> GranuleIndex:
        from levelpipe.timepix.l0 import file_role
        found: dict[str, dict[str, list[str]]] = {}
        for kind in ("raw", "labelled"):
            base = Path(root) / kind
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames.sort()
                folder = Path(dirpath).relative_to(base).as_posix()
                for fn in sorted(filenames):
                    role = file_role(kind, fn)
                    if role is not None:
                        found.setdefault(folder, {}).setdefault(role, []).append(os.path.join(dirpath, fn))
        index = GranuleIndex(self.name, str(root))
        frame_roles = ("raw", "clusters")
        for folder, files in sorted(found.items()):
            if any(files.get(r) for r in frame_roles):
                index.add(folder, files)
        return index


FAMILY = Vzlusat1Family()


def map_files(plan, result) -> list[str]:
    """The flux maps, one per configured filter set (flux_<set>.png, sets in name order)."""
    return [result("vzlusat1", "maps", f"flux_{s}.png") for s in sorted(plan.settings.maps.filter_sets)]


def training_files(plan) -> list[str]:
    """The labelled cluster lists the classifier is trained on: below classifier.training_dir
    (relative to the workflow directory), listed once per run."""
    root = Path(plan.settings.classifier.training_dir)
    if not root.is_absolute() and plan.workflow_dir is not None:
        root = plan.workflow_dir / root
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith("_fullres.clusters.txt"))
