"""Archive folders of real-size built from the real frames, for benchmarks and scale tests.

A real archive folder holds up to ~1,300 frames; the bundled sample has 7 real frames (3 raw
matrices, 4 more only as labelled cluster lists). `build_folder` writes a raw-layout folder of
any number of frames that cycles through frames of varied occupancy:

- the 7 real frames (the labelled-only ones rebuilt from their cluster lists, which is exact:
  every non-zero pixel is in exactly one cluster): 253 to 5,235 hit pixels;
- denser frames made of the real clusters of several frames placed together, keeping only
  clusters that touch no pixel already placed (so every cluster stays the archive's own,
  unmerged): the occupancy of a busier orbit than the sample has.

Each distinct frame is written once as a `*_fullres.txt` matrix ("%.2f" keV, CRLF, as the
archive writes them) and hard-linked (copied where links are impossible) under every frame
number that uses it; each frame gets its own metadata file (a real one, with its image number,
time and pixel counts set to the frame's), so L0 sees distinct, consistent frames.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from levelpipe.timepix.formats import FRAME_SHAPE, read_clusters, read_matrix

#: real frames of the bundled sample: (kind, folder below raw/ or labelled/, frame number)
REAL_FRAMES = (("raw", "above_europe", 7), ("raw", "above_europe", 20), ("raw", "above_europe", 34),
               ("labelled", "above_europe", 1), ("labelled", "above_europe", 11),
               ("labelled", "planetary_sweeps/12_2020-06-09", 309),
               ("labelled", "planetary_sweeps/12_2020-06-09", 328))
#: dense frames: the real labelled frames whose clusters are placed together in one frame
DENSE_FRAMES = ((1, 11), (1, 11, 20, 34))
_METADATA_TEMPLATE = ("raw", "above_europe", 7)


@dataclass
class BuiltFolder:
    path: Path
    frames: int
    distinct: int
    hit_pixels: np.ndarray  # per frame


def real_frames(sample: Path) -> list[np.ndarray]:
    """The 7 real frames of the sample (keV), in REAL_FRAMES order."""
    out = []
    for kind, folder, n in REAL_FRAMES:
        if kind == "raw":
            out.append(read_matrix(sample / "raw" / folder / f"{n}_fullres.txt"))
        else:
            out.append(read_clusters(sample / "labelled" / folder / f"{n}_fullres.clusters.txt").frame())
    return out


def dense_frame(sample: Path, numbers: tuple[int, ...]) -> np.ndarray:
    """The clusters of several real labelled frames in one frame; a cluster touching (8-neighbour)
    a pixel already placed is left out, so no two clusters merge."""
    from scipy import ndimage
    image = np.zeros(FRAME_SHAPE, dtype=np.float32)
    for n in numbers:
        cl = read_clusters(sample / "labelled" / "above_europe" / f"{n}_fullres.clusters.txt")
        if not cl.row.size:
            continue
        occupied = ndimage.binary_dilation(image > 0, structure=np.ones((3, 3), bool))
        label = np.repeat(np.arange(cl.pixel_count.size), cl.pixel_count)
        blocked = np.bincount(label, occupied[cl.row, cl.col], minlength=cl.pixel_count.size) > 0
        keep = ~blocked[label]
        image[cl.row[keep], cl.col[keep]] = cl.energy[keep]
    return image


def _matrix_text(frame: np.ndarray) -> bytes:
    lines = [" ".join(f"{v:.2f}" for v in row) for row in frame.astype(np.float64)]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _metadata_text(template: str, image_id: int, time_unix: int, pixels: int) -> str:
    out = []
    for line in template.splitlines():
        key = line.partition(":")[0]
        if key == "Image number":
            line = f"Image number: {image_id}"
        elif key == "Time":
            line = f"Time: {time_unix}"
        elif key.startswith("Pixel count (") and "threshold" not in key.lower():
            line = f"{key}: {pixels}"
        out.append(line)
    return "\r\n".join(out) + "\r\n"


def build_folder(sample: str | Path, root: str | Path, n_frames: int, folder: str = "bench",
                 dense: bool = True) -> BuiltFolder:
    """Write `root/raw/<folder>/` with `n_frames` frames cycling through the distinct frames."""
    sample, root = Path(sample), Path(root)
    distinct = real_frames(sample) + ([dense_frame(sample, d) for d in DENSE_FRAMES] if dense else [])
    dst = root / "raw" / folder
    dst.mkdir(parents=True, exist_ok=True)
    store = root / "distinct"
    store.mkdir(exist_ok=True)
    matrices = []
    for k, frame in enumerate(distinct):
        p = store / f"{k}.txt"
        p.write_bytes(_matrix_text(frame))
        matrices.append(p)
    kind, fold, n0 = _METADATA_TEMPLATE
    template = (sample / kind / fold / f"{n0}_fullres.metadata.txt").read_text()
    hits = np.array([np.count_nonzero(f) for f in distinct])
    per_frame = np.zeros(n_frames, dtype=np.int64)
    for i in range(n_frames):
        k = i % len(distinct)
        target = dst / f"{i + 1}_fullres.txt"
        try:
            os.link(matrices[k], target)
        except OSError:
            shutil.copyfile(matrices[k], target)
        (dst / f"{i + 1}_fullres.metadata.txt").write_text(
            _metadata_text(template, 30000 + i, 1521882009 + 120 * i, int(hits[k])), newline="")
        per_frame[i] = hits[k]
    return BuiltFolder(dst, n_frames, len(distinct), per_frame)
