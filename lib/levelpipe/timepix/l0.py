"""Level 0: the frames of one archive folder stacked, with every metadata field as a variable.

A folder is the granule (one Snakemake job). Frame N may come from the raw layout
(`raw/<folder>/<N>_fullres.txt`) or, when only the labelled layout has it, be rebuilt from its
cluster list (every non-zero pixel belongs to exactly one cluster, so the rebuild is exact).

Metadata priority (first known value wins, field by field): raw `.metadata.txt`, labelled
`.metadata.txt`, raw `.txt.dsc`, the folder's `info.txt` row. Frames with none of these are
kept and flagged `no_metadata`.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import xarray as xr

from levelpipe.errors import TimepixError
from levelpipe.io.variables import bad_count_attrs
from levelpipe.timepix.settings import L0Settings
from levelpipe.timepix.classes import CLASS_NAMES
from levelpipe.timepix.formats import (ATTITUDE_WORDS, FIELD_CHECKS, FRAME_SHAPE, MODES, POSITION_WORDS, ClusterList,
                                       FrameMeta, read_clusters, read_dsc, read_info_rows, read_matrix,
                                       read_metadata, read_statistics)

log = logging.getLogger(__name__)

#: L0 frame_flags bits
FLAG_NO_METADATA = 1
FLAG_CORRUPT = 2
FLAG_NON_ENERGY_MODE = 4
FLAG_REBUILT = 8
FLAG_INFO_TABLE = 16
FLAG_PIXEL_COUNT_MISMATCH = 32
FLAG_BAD_FILE = 64
FLAG_MASKS = (1, 2, 4, 8, 16, 32, 64)
FLAG_MEANINGS = ("no_metadata corrupt non_energy_mode rebuilt_from_clusters metadata_from_info_table "
                 "pixel_count_mismatch unreadable_file")

#: Kinds of bad frame (global attributes bad_frames_<kind>): the frame's file of that role could
#: not be read, or disagreed with the frame (statistics). Most severe first: a frame with more
#: than one bad file is counted once, under the first kind.
BAD_KINDS = ("matrix", "clusters", "metadata", "description", "statistics", "info_row")

_FRAME_RE = re.compile(r"^(\d+)_fullres\.(txt|txt\.dsc|metadata\.txt|clusters\.txt|statistics\.txt)$")


@dataclass
class FolderFiles:
    """The files of one folder, by frame number N."""

    folder: str
    raw: dict[int, Path] = field(default_factory=dict)
    dsc: dict[int, Path] = field(default_factory=dict)
    raw_meta: dict[int, Path] = field(default_factory=dict)
    clusters: dict[int, Path] = field(default_factory=dict)
    lab_meta: dict[int, Path] = field(default_factory=dict)
    statistics: dict[int, Path] = field(default_factory=dict)
    info: list[Path] = field(default_factory=list)
    #: files given for the folder that are not frame files of the layout: (path, why)
    refused: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def frames(self) -> list[int]:
        return sorted(set(self.raw) | set(self.clusters))

    def all_paths(self) -> list[Path]:
        out: list[Path] = list(self.info)
        for d in (self.raw, self.dsc, self.raw_meta, self.clusters, self.lab_meta, self.statistics):
            out.extend(d.values())
        return sorted(out)


#: FolderFiles attribute of each file role of the VZLUSAT-1 index (levelpipe.timepix.family)
ROLE_ATTRS = {"raw": "raw", "dsc": "dsc", "raw_metadata": "raw_meta", "clusters": "clusters",
              "labelled_metadata": "lab_meta", "statistics": "statistics"}


def frame_number(path: str | Path) -> int | None:
    """N of a `<N>_fullres.*` archive file name, None for any other name."""
    m = _FRAME_RE.match(Path(path).name)
    return int(m.group(1)) if m else None


def file_role(kind: str, path: str | Path) -> str | None:
    """Role of a file below `raw/` or `labelled/` (kind) of the archive, None if not a frame file."""
    name = Path(path).name
    if name == "info.txt":
        return "info"
    m = _FRAME_RE.match(name)
    if not m:
        return None
    ext = m.group(2)
    if ext == "metadata.txt":
        return "raw_metadata" if kind == "raw" else "labelled_metadata"
    if kind == "raw" and ext in ("txt", "txt.dsc"):
        return "raw" if ext == "txt" else "dsc"
    if kind == "labelled" and ext in ("clusters.txt", "statistics.txt"):
        return "clusters" if ext == "clusters.txt" else "statistics"
    return None


def folder_files(folder: str, files: Mapping[str, list[str]]) -> FolderFiles:
    """The FolderFiles of one folder from its files by role (as the index lists them).

    A file whose name is not `<N>_fullres.*` with N a frame number L0 can store (a manifest may
    list anything) is refused, listed in the product's errors, and the folder goes on.
    """
    ff = FolderFiles(folder)
    for role, paths in files.items():
        for p in paths:
            if role == "info":
                ff.info.append(Path(p))
            elif role in ROLE_ATTRS:
                n = frame_number(p)
                try:
                    FIELD_CHECKS["frame_number"](str(n))
                except ValueError:
                    ff.refused.append((Path(p), f"not a <N>_fullres file name with N in 0..{2 ** 31 - 1}"))
                    continue
                getattr(ff, ROLE_ATTRS[role])[n] = Path(p)
            else:
                raise TimepixError(f"unknown file role {role!r}", p)
    if not ff.frames:
        raise TimepixError(f"no frames for folder {folder!r}")
    return ff


@dataclass
class _Frame:
    """What reading one frame's files gave, and what went wrong (kinds of BAD_KINDS)."""

    meta: FrameMeta
    flags: int = 0
    bad: list[str] = field(default_factory=list)
    clusters: ClusterList | None = None


def _read_frame_meta(ff: FolderFiles, n: int, info: dict[int, FrameMeta], frame: _Frame, errors: list[str]) -> None:
    """Merge the frame's metadata sources by priority; an unreadable source is skipped and noted."""
    for kind, source, reader in (("metadata", ff.raw_meta, read_metadata), ("metadata", ff.lab_meta, read_metadata),
                                 ("description", ff.dsc, read_dsc)):
        if n in source:
            try:
                frame.meta.merge(reader(source[n]))
            except TimepixError as exc:
                frame.bad.append(kind)
                errors.append(str(exc))
                log.warning("frame %d: metadata file not used: %s", n, exc)
    if n in info:
        if not frame.meta.sources:
            frame.flags |= FLAG_INFO_TABLE
        frame.meta.merge(info[n])
    if not frame.meta.sources:
        frame.flags |= FLAG_NO_METADATA


def _read_frame_energy(ff: FolderFiles, n: int, frame: _Frame, errors: list[str]) -> np.ndarray | None:
    """The frame's energies: the raw matrix, else (or if it is unreadable) the frame rebuilt from
    its cluster list; None if neither can be read."""
    if n in ff.raw:
        try:
            return read_matrix(ff.raw[n])
        except TimepixError as exc:
            frame.bad.append("matrix")
            errors.append(str(exc))
            log.warning("frame %d: raw matrix not used: %s", n, exc)
    if n in ff.clusters:
        try:
            frame.clusters = read_clusters(ff.clusters[n])
            frame.flags |= FLAG_REBUILT
            return frame.clusters.frame()
        except TimepixError as exc:
            frame.bad.append("clusters")
            errors.append(str(exc))
            log.warning("frame %d: cluster list not used: %s", n, exc)
    return None


def _check_statistics(ff: FolderFiles, n: int, frame: _Frame, errors: list[str]) -> None:
    """Check a frame rebuilt from its cluster list against its statistics file (class counts)."""
    if n not in ff.statistics or frame.clusters is None:
        return
    try:
        stats = read_statistics(ff.statistics[n])
        counts = np.bincount(frame.clusters.class_id.astype(np.int64), minlength=max(CLASS_NAMES) + 1)
        differ = {name: (stats[name], int(counts[cid])) for cid, name in CLASS_NAMES.items()
                  if stats[name] != counts[cid]}
        if differ:
            raise TimepixError("class counts (statistics, cluster list) differ: " +
                               ", ".join(f"{k} {a} != {b}" for k, (a, b) in differ.items()), ff.statistics[n])
    except TimepixError as exc:
        frame.bad.append("statistics")
        errors.append(str(exc))
        log.warning("frame %d: statistics not used: %s", n, exc)


def _unix_to_datetime64(values: list[float | None]) -> np.ndarray:
    out = np.full(len(values), np.datetime64("NaT", "ns"))
    for i, v in enumerate(values):
        if v is not None:
            out[i] = np.datetime64(int(round(v * 1e6)), "us")
    return out


def _str_to_datetime64(values: list[str | None]) -> np.ndarray:
    return np.array([np.datetime64(v.replace(" ", "T"), "ns") if v else np.datetime64("NaT", "ns")
                     for v in values], dtype="datetime64[ns]")


def _read_info(ff: FolderFiles, frames: list[int], errors: list[str]) -> tuple[dict[int, FrameMeta], set[int]]:
    """Good info.txt rows by frame, and the folder's frames whose row was unusable."""
    rows: dict[int, FrameMeta] = {}
    bad: set[int] = set()
    present = set(frames)
    for p in ff.info:
        try:
            table = read_info_rows(p)
        except TimepixError as exc:
            errors.append(str(exc))
            log.warning("info table not used: %s", exc)
            continue
        if table.unused:
            errors.append(f"{p}: {table.unused}")
        rows.update(table.rows)
        ours = [(n, exc) for n, exc in table.bad_rows if n in present]
        bad.update(n for n, _ in ours)
        errors.extend(str(exc) for _, exc in ours)
        others = len(table.bad_rows) - len(ours)
        if others:
            first = next(exc for n, exc in table.bad_rows if n not in present)
            errors.append(f"{p}: {others} row(s) of images not in the folder not used (first: {first})")
    return rows, bad - set(rows)


def l0(ff: FolderFiles, settings: L0Settings) -> xr.Dataset:
    """Stack the frames of a folder into an L0 Dataset (frame, row, col).

    One bad file never stops the folder. A frame whose matrix cannot be read is rebuilt from its
    cluster list when there is one (flagged `rebuilt_from_clusters`); with neither it is kept with
    NaN energy, flagged `corrupt`. An unreadable metadata or .dsc file, or info.txt row, is not
    used and the other sources still are.

    Decision: a frame's cluster list and statistics file are read only when the frame is rebuilt
    from them (no readable raw matrix); the statistics must then give the list's class counts.
    With a raw matrix they are the archive's labels of the frame, which L1 does not use (it
    classifies the frame itself) and the classifier's training reads on its own. Every frame with a bad file is flagged
    `unreadable_file` and counted once (``bad_frames_<kind>``, kinds BAD_KINDS) and each error is
    listed, with file and place, in the `errors` attribute.
    """
    assume_energy = settings.assume_energy_mode_when_unknown
    frames = ff.frames
    errors: list[str] = [f"{p}: file not used: {why}" for p, why in ff.refused]
    info, info_bad = _read_info(ff, frames, errors)
    energy = np.zeros((len(frames),) + FRAME_SHAPE, dtype=np.float32)
    flags = np.zeros(len(frames), dtype=np.uint8)
    hits = np.zeros(len(frames), dtype=np.int32)  # non-zero pixels (none in a corrupt frame)
    metas: list[FrameMeta] = []
    bad_counts = dict.fromkeys(BAD_KINDS, 0)
    for i, n in enumerate(frames):
        frame = _Frame(FrameMeta())
        _read_frame_meta(ff, n, info, frame, errors)
        if n in info_bad:
            frame.bad.append("info_row")
        image = _read_frame_energy(ff, n, frame, errors)
        if image is None:
            energy[i] = np.nan
            frame.flags |= FLAG_CORRUPT
        else:
            energy[i] = image
            hits[i] = np.count_nonzero(image)
        _check_statistics(ff, n, frame, errors)
        meta = frame.meta
        if frame.flags & FLAG_INFO_TABLE and not frame.flags & FLAG_CORRUPT and \
                meta.pixel_count_original != hits[i]:
            # Decision: an info.txt row is trusted only if its non-zero pixel count matches the
            # frame; a mismatch means the row describes another image (renumbered folder).
            log.warning("frame %d: info.txt row has %s non-zero pixels, frame has %d; row not used",
                        n, meta.pixel_count_original, hits[i])
            errors.append(f"{ff.info[0]}:frame {n}: info.txt row does not match the frame (pixel count)")
            meta = FrameMeta()
            frame.flags = (frame.flags & ~FLAG_INFO_TABLE) | FLAG_NO_METADATA
        counts = {meta.pixel_count_original, meta.pixel_count_filtered} - {None}
        if counts and not frame.flags & FLAG_CORRUPT and int(hits[i]) not in counts:
            # The metadata may describe another image (renumbered folder): kept, but flagged.
            frame.flags |= FLAG_PIXEL_COUNT_MISMATCH
            errors.append(f"frame {n}: metadata pixel count {sorted(counts)} != frame's "
                          f"{hits[i]} ({' '.join(meta.sources)})")
        mode = meta.measurement_mode
        if mode not in (MODES["tot_energy"],) and not (mode == MODES["unknown"] and assume_energy):
            frame.flags |= FLAG_NON_ENERGY_MODE
        if frame.bad:
            frame.flags |= FLAG_BAD_FILE
            bad_counts[min(frame.bad, key=BAD_KINDS.index)] += 1
        flags[i] = frame.flags
        metas.append(meta)
    return _build_dataset(ff, frames, energy, hits, flags, metas, errors, bad_counts)


def _col(metas, name, dtype, fill):
    return np.array([fill if getattr(m, name) is None else getattr(m, name) for m in metas], dtype=dtype)


def _build_dataset(ff, frames, energy, nonzero, flags, metas, errors, bad_counts) -> xr.Dataset:
    nf = len(frames)
    f, i32, i64 = np.float64, np.int32, np.int64
    att = np.full((nf, ATTITUDE_WORDS), -9999, dtype=i32)
    pos = np.full((nf, POSITION_WORDS), -9999, dtype=i32)
    for i, m in enumerate(metas):  # the readers allow at most ATTITUDE_WORDS / POSITION_WORDS words
        att[i, : len(m.attitude)] = m.attitude
        pos[i, : len(m.position)] = m.position

    def var(values, units, long_name, dims=("frame",), **extra):
        attrs = {"long_name": long_name, **extra}
        if units is not None:
            attrs["units"] = units
        return (dims, values, attrs)

    fill_i = {"_FillValue": -9999}
    ds = xr.Dataset(
        {
            "energy": var(energy, "keV", "energy deposited in the pixel (Timepix ToT calibrated)",
                          ("frame", "row", "col")),
            "image_id": var(_col(metas, "image_id", i64, -1), "1", "image number assigned on board"),
            "latitude": var(_col(metas, "latitude", f, np.nan), "degrees_north", "sub-satellite latitude",
                            standard_name="latitude"),
            "longitude": var(_col(metas, "longitude", f, np.nan), "degrees_east", "sub-satellite longitude",
                             standard_name="longitude"),
            "altitude": var(_col(metas, "altitude", f, np.nan), "km", "altitude above the WGS84 ellipsoid"),
            "tle_time": var(_str_to_datetime64([m.tle_time for m in metas]), None,
                            "epoch of the TLE used for the position", standard_name="time"),
            "exposure": var(_col(metas, "exposure", f, np.nan), "s", "acquisition (exposure) time"),
            "measurement_mode": var(np.array([m.measurement_mode for m in metas], dtype=np.int8), None,
                                    "Timepix measurement mode", flag_values=np.array([0, 1, 2, 3], np.int8),
                                    flag_meanings="unknown tot_energy mpx_counting toa_time"),
            "threshold": var(_col(metas, "threshold", i32, -9999), "1", "THL DAC threshold", **fill_i),
            "bias": var(_col(metas, "bias", f, np.nan), "V", "sensor bias voltage"),
            "temperature": var(_col(metas, "temperature", f, np.nan), "degree_Celsius",
                               "heat-sink temperature"),
            "temperature_limit": var(_col(metas, "temperature_limit", f, np.nan), "degree_Celsius",
                                     "temperature limit for measuring"),
            "filtering": var(_col(metas, "filtering", i32, -9999), "1", "on-board filtering setting", **fill_i),
            "pixel_count_original": var(_col(metas, "pixel_count_original", i32, -9999), "1",
                                        "non-zero pixels reported on board before filtering", **fill_i),
            "pixel_count_filtered": var(_col(metas, "pixel_count_filtered", i32, -9999), "1",
                                        "non-zero pixels reported on board after filtering", **fill_i),
            "min_value_original": var(_col(metas, "min_value_original", i32, -9999), "1",
                                      "minimal raw pixel value before filtering", **fill_i),
            "max_value_original": var(_col(metas, "max_value_original", i32, -9999), "1",
                                      "maximal raw pixel value before filtering", **fill_i),
            "min_value_filtered": var(_col(metas, "min_value_filtered", i32, -9999), "1",
                                      "minimal raw pixel value after filtering", **fill_i),
            "max_value_filtered": var(_col(metas, "max_value_filtered", i32, -9999), "1",
                                      "maximal raw pixel value after filtering", **fill_i),
            "pixel_count_threshold": var(_col(metas, "pixel_count_threshold", i32, -9999), "1",
                                         "pixel count threshold of the scanning mode", **fill_i),
            "uav1_threshold": var(_col(metas, "uav1_threshold", i32, -9999), "1",
                                  "UAV1 threshold of the adrenaline mode", **fill_i),
            "attitude": var(att, "1", "raw attitude words from the metadata", ("frame", "attitude_word"),
                            **fill_i),
            "position": var(pos, "1", "raw position words from the metadata", ("frame", "position_word"),
                            **fill_i),
            "chunk_id_first": var(_col(metas, "chunk_id_first", i64, -1), "1", "first downlink chunk id"),
            "chunk_id_last": var(_col(metas, "chunk_id_last", i64, -1), "1", "last downlink chunk id"),
            "image_type": var(np.array([m.image_type or "" for m in metas], dtype=object), None, "image type"),
            "comment": var(np.array([m.comment or "" for m in metas], dtype=object), None, "operator comment"),
            "metadata_source": var(np.array([" ".join(m.sources) for m in metas], dtype=object), None,
                                   "files the metadata were taken from, highest priority first"),
            "pixel_count": var(nonzero, "1", "non-zero pixels in the frame"),
            "frame_flags": var(flags, None, "frame quality and provenance flags",
                               flag_masks=np.array(FLAG_MASKS, np.uint8), flag_meanings=FLAG_MEANINGS),
        },
        coords={
            "frame": ("frame", np.array(frames, dtype=i32), {"long_name": "frame number N of <N>_fullres",
                                                             "units": "1"}),
            "row": ("row", np.arange(FRAME_SHAPE[0], dtype=np.int16),
                    {"long_name": "pixel row = line of the raw text file (pos_x + x)", "units": "1"}),
            "col": ("col", np.arange(FRAME_SHAPE[1], dtype=np.int16),
                    {"long_name": "pixel column = column of the raw text file (pos_y + y)", "units": "1"}),
            "time": ("frame", _unix_to_datetime64([m.time_unix for m in metas]),
                     {"standard_name": "time", "long_name": "image time stamp (end of the exposure), UTC"}),
        },
    )
    corrupt = int(np.count_nonzero(flags & FLAG_CORRUPT))
    bad_total = sum(bad_counts.values())
    ds.attrs.update(bad_count_attrs("frames", len(frames) - bad_total, bad_counts, BAD_KINDS))
    ds.attrs.update(folder=ff.folder, frames=len(frames), corrupt_frames=corrupt,
                    frames_without_metadata=int(np.count_nonzero(flags & FLAG_NO_METADATA)),
                    frames_non_energy_mode=int(np.count_nonzero(flags & FLAG_NON_ENERGY_MODE)),
                    frames_rebuilt_from_clusters=int(np.count_nonzero(flags & FLAG_REBUILT)),
                    frames_pixel_count_mismatch=int(np.count_nonzero(flags & FLAG_PIXEL_COUNT_MISMATCH)),
                    errors="\n".join(errors))
    return ds


def write_l0(ctx) -> None:
    """Step `l0` (rule build_vzlusat1_l0): a folder's files -> results/vzlusat1/l0/<folder>.nc."""
    folder = ctx.granule
    ff = folder_files(folder, ctx.inputs.named)
    ds = l0(ff, ctx.settings.l0)
    ctx.write(ds, ctx.outputs.one(), table="l0", title=f"VZLUSAT-1 Timepix level 0 frames, folder {folder}",
              summary="Timepix 256x256 energy frames (keV) of one archive folder, stacked, with every "
                      "metadata field of the archive as a variable and per-frame quality flags.",
              inputs=ff.all_paths(),
              references="Baca et al. 2018, JINST 13 C11010; github.com/vzlusat/vzlusat1-timepix-data")
