"""Zooniverse subjects of an event and their manifests for panoptes-cli (§4).

Uploading is never automatic; the README gives the commands (§4.3)::

    panoptes configure
    panoptes subject-set create 11265 "<name>"              # prints the subject set id
    panoptes subject-set upload-subjects <set id> meta_reduced.csv

run inside the event's subjects folder (the PNGs sit next to the manifests).
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Mapping, Sequence

from levelpipe.jets.errors import JetsError

#: §4.2 (SolarJets meta_file_handler.py:48-70): the single-valued WCS keys of later subjects
WCS_KEYS = ("naxis1", "naxis2", "cunit1", "cunit2", "crval1", "crval2", "cdelt1", "cdelt2", "crpix1", "crpix2",
            "crota2")
PLACEMENT_KEYS = ("im_ll_x", "im_ll_y", "im_ur_x", "im_ur_y", "width", "height")


def split(n_frames: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Subjects of `size` frames, `overlap` frames shared by neighbours, as [start, stop) windows.

    §4.1: windows start every size - overlap frames while they fit, plus one end-aligned window
    when the last frame is not yet covered (so the last overlap can be larger).
    Decision: an event with at most `size` frames is one (possibly short) subject; the seed's
    split raised IndexError there (N <= size)."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError("need size >= 1 and 0 <= overlap < size")
    if n_frames <= 0:
        return []
    if n_frames <= size:
        return [(0, n_frames)]
    step = size - overlap
    out = [(s, s + size) for s in range(0, n_frames - size + 1, step)]
    if out[-1][1] < n_frames:
        out.append((n_frames - size, n_frames))
    return out


def _fmt(v) -> str:
    return repr(float(v)) if isinstance(v, float) else str(v)


def manifest_rows(subjects: Sequence[Mapping], *, indexed: Sequence[str], with_headers: bool) -> list[dict[str, str]]:
    """One row per subject; keys hidden with '#' (§4.2) except `indexed` ones, written '%key'.

    Each subject: key, event_id, sol_standard, frames (list of dicts with file, time, placement,
    wcs, header). Decision (§10 Q6): every frame's WCS and placement go in hidden per-frame keys
    (``#crval1_3``), and the first frame's as the single-valued keys earlier subjects carry.
    Decision (§10 Q14): file-name columns are hidden too (the seed did so and uploads worked);
    their order is the frame order, which panoptes-cli keeps for the media."""
    rows = []
    for s in subjects:
        frames = s["frames"]
        first = frames[0]
        row: dict[str, str] = {}
        for i, f in enumerate(frames):
            row[f"#file_name_{i}"] = f["file"]
        meta = {"subject_key": s["key"], "frame_per_sub": len(frames), "event_db_id": s["event_id"],
                "sol_standard": s.get("sol_standard", ""), "visual_type": "image", "description": "",
                "start_time": frames[0]["time"], "end_time": frames[-1]["time"],
                "cadence": s.get("cadence_s", "")}
        for k in PLACEMENT_KEYS:
            meta[k] = first["placement"][k]
        for k in WCS_KEYS:
            meta[k] = first["wcs"][k]
        meta["date-obs"] = first["time"]
        for name, value in meta.items():
            row[(f"%{name}" if name in indexed else f"#{name}")] = _fmt(value)
        for i, f in enumerate(frames):
            row[f"#time_{i}"] = f["time"]
            for k in PLACEMENT_KEYS:
                row[f"#{k}_{i}"] = _fmt(f["placement"][k])
            for k in WCS_KEYS:
                row[f"#{k}_{i}"] = _fmt(f["wcs"][k])
        if with_headers:
            for i, f in enumerate(frames):
                row[f"#fits_header_{i}"] = json.dumps(f["header"], sort_keys=True)
        rows.append(row)
    return rows


def manifest_parts(rows: Sequence[Mapping[str, str]], max_bytes: int) -> list[str]:
    """The rows as CSV texts of at most `max_bytes` each (panoptes-cli reads files <= 1 MiB),
    each with the header line.

    Decision: a manifest that would be larger is split into numbered parts, rows never cut."""
    if not rows:
        return []
    columns: list[str] = []
    for r in rows:
        columns.extend(k for k in r if k not in columns)

    def text(chunk) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", restval="")
        w.writeheader()
        w.writerows(chunk)
        return buf.getvalue()

    header = len(text([]).encode())
    parts, chunk, size = [], [], header
    for r in rows:
        n = len(text([r]).encode()) - header
        if header + n > max_bytes:
            raise JetsError(f"one subject's manifest row is {n} bytes, above subjects.manifest_max_bytes", r.get("#subject_key"))
        if size + n > max_bytes:
            parts.append(text(chunk))
            chunk, size = [], header
        chunk.append(r)
        size += n
    parts.append(text(chunk))
    return parts


def write_manifests(folder: Path, subjects, subject_settings) -> list[Path]:
    """meta.csv (with every frame's FITS header) and meta_reduced.csv (without; the file to
    upload, §4.2), split into meta_reduced_2.csv ... when above the size limit."""
    written = []
    for stem, headers in (("meta", True), ("meta_reduced", False)):
        rows = manifest_rows(subjects, indexed=subject_settings.indexed, with_headers=headers)
        for k, text in enumerate(manifest_parts(rows, subject_settings.manifest_max_bytes)):
            p = folder / (f"{stem}.csv" if k == 0 else f"{stem}_{k + 1}.csv")
            p.write_text(text, encoding="utf-8")
            written.append(p)
    return written


def read_manifest(path: str | os.PathLike) -> list[dict[str, str]]:
    """A manifest as panoptes-cli reads it (csv.reader, skipinitialspace, §4.3)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f, skipinitialspace=True)
        header = next(reader)
        return [dict(zip(header, row)) for row in reader]
