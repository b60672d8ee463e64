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
from levelpipe.timepix.formats import (FRAME_SHAPE, MODES, FrameMeta, read_clusters, read_dsc,
                                       read_info_table, read_matrix, read_metadata)

log = logging.getLogger(__name__)

#: L0 frame_flags bits
FLAG_NO_METADATA = 1
FLAG_CORRUPT = 2
FLAG_NON_ENERGY_MODE = 4
FLAG_REBUILT = 8
FLAG_INFO_TABLE = 16
FLAG_PIXEL_COUNT_MISMATCH = 32
FLAG_MEANINGS = ("no_metadata corrupt non_energy_mode rebuilt_from_clusters metadata_from_info_table "
                 "pixel_count_mismatch")

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
    """The FolderFiles of one folder from its files by role (as the index lists them)."""
    ff = FolderFiles(folder)
    for role, paths in files.items():
        for p in paths:
            if role == "info":
                ff.info.append(Path(p))
            elif role in ROLE_ATTRS:
                getattr(ff, ROLE_ATTRS[role])[frame_number(p)] = Path(p)
            else:
                raise TimepixError(f"unknown file role {role!r}", p)
    if not ff.frames:
        raise TimepixError(f"no frames for folder {folder!r}")
    return ff


def _frame_meta(ff: FolderFiles, n: int, info: dict[int, FrameMeta]) -> tuple[FrameMeta, int]:
    meta, flags = FrameMeta(), 0
    for source in (ff.raw_meta, ff.lab_meta):
        if n in source:
            meta.merge(read_metadata(source[n]))
    if n in ff.dsc:
        meta.merge(read_dsc(ff.dsc[n]))
    if n in info:
        if not meta.sources:
            flags |= FLAG_INFO_TABLE
        meta.merge(info[n])
    if not meta.sources:
        flags |= FLAG_NO_METADATA
    return meta, flags


def _unix_to_datetime64(values: list[float | None]) -> np.ndarray:
    out = np.full(len(values), np.datetime64("NaT", "ns"))
    for i, v in enumerate(values):
        if v is not None:
            out[i] = np.datetime64(int(round(v * 1e6)), "us")
    return out


def _str_to_datetime64(values: list[str | None]) -> np.ndarray:
    return np.array([np.datetime64(v.replace(" ", "T"), "ns") if v else np.datetime64("NaT", "ns")
                     for v in values], dtype="datetime64[ns]")


def l0(ff: FolderFiles, settings: L0Settings) -> xr.Dataset:
    """Stack the frames of a folder into an L0 Dataset (frame, row, col).

    A frame whose matrix or cluster list cannot be read is kept with NaN energy, flagged
    `corrupt`, logged with the file and place, and counted in `corrupt_frames`; the other frames
    are unaffected.
    """
    assume_energy = settings.assume_energy_mode_when_unknown
    frames = ff.frames
    info: dict[int, FrameMeta] = {}
    for p in ff.info:
        info.update(read_info_table(p))
    energy = np.zeros((len(frames),) + FRAME_SHAPE, dtype=np.float32)
    flags = np.zeros(len(frames), dtype=np.uint8)
    metas: list[FrameMeta] = []
    errors: list[str] = []
    for i, n in enumerate(frames):
        try:
            meta, f = _frame_meta(ff, n, info)
        except TimepixError as exc:
            meta, f = FrameMeta(), FLAG_NO_METADATA
            errors.append(str(exc))
            log.warning("metadata of frame %d unreadable: %s", n, exc)
        flags[i] |= f
        try:
            if n in ff.raw:
                energy[i] = read_matrix(ff.raw[n])
            else:
                energy[i] = read_clusters(ff.clusters[n]).frame()
                flags[i] |= FLAG_REBUILT
        except TimepixError as exc:
            energy[i] = np.nan
            flags[i] |= FLAG_CORRUPT
            errors.append(str(exc))
            log.warning("frame %d skipped: %s", n, exc)
        if flags[i] & FLAG_INFO_TABLE and not flags[i] & FLAG_CORRUPT and \
                meta.pixel_count_original != int(np.count_nonzero(energy[i])):
            # Decision: an info.txt row is trusted only if its non-zero pixel count matches the
            # frame; a mismatch means the row describes another image (renumbered folder).
            log.warning("frame %d: info.txt row has %s non-zero pixels, frame has %d; row not used",
                        n, meta.pixel_count_original, np.count_nonzero(energy[i]))
            errors.append(f"{ff.info[0]}:frame {n}: info.txt row does not match the frame (pixel count)")
            meta = FrameMeta()
            flags[i] = (flags[i] & (0xFF ^ FLAG_INFO_TABLE)) | FLAG_NO_METADATA
        counts = {meta.pixel_count_original, meta.pixel_count_filtered} - {None}
        if counts and not flags[i] & FLAG_CORRUPT and int(np.count_nonzero(energy[i])) not in counts:
            # The metadata may describe another image (renumbered folder): kept, but flagged.
            flags[i] |= FLAG_PIXEL_COUNT_MISMATCH
            errors.append(f"frame {n}: metadata pixel count {sorted(counts)} != frame's "
                          f"{np.count_nonzero(energy[i])} ({' '.join(meta.sources)})")
        mode = meta.measurement_mode
        if mode not in (MODES["tot_energy"],) and not (mode == MODES["unknown"] and assume_energy):
            flags[i] |= FLAG_NON_ENERGY_MODE
        metas.append(meta)
    return _build_dataset(ff, frames, energy, flags, metas, errors)


def _col(metas, name, dtype, fill):
    return np.array([fill if getattr(m, name) is None else getattr(m, name) for m in metas], dtype=dtype)


def _build_dataset(ff, frames, energy, flags, metas, errors) -> xr.Dataset:
    nf = len(frames)
    f, i32, i64 = np.float64, np.int32, np.int64
    att = np.full((nf, 7), -9999, dtype=i32)
    pos = np.full((nf, 3), -9999, dtype=i32)
    for i, m in enumerate(metas):
        att[i, : len(m.attitude[:7])] = m.attitude[:7]
        pos[i, : len(m.position[:3])] = m.position[:3]
    nonzero = np.count_nonzero(np.nan_to_num(energy), axis=(1, 2)).astype(i32)

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
                               flag_masks=np.array([1, 2, 4, 8, 16, 32], np.uint8), flag_meanings=FLAG_MEANINGS),
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
    ds.attrs.update(bad_count_attrs("frames", len(frames) - corrupt, {"corrupt": corrupt}, ("corrupt",)))
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
