"""Readers for the VZLUSAT-1 Timepix archive files (github.com/vzlusat/vzlusat1-timepix-data).

Layout of a folder (both kinds may exist for the same frame number N):

    raw/<folder>/<N>_fullres.txt            256 lines x 256 values "%.2f" keV, CRLF
    raw/<folder>/<N>_fullres.txt.dsc        Pixelman description (acq time, HV, start time, navigation)
    raw/<folder>/<N>_fullres.metadata.txt   "Key: value" lines
    labelled/<folder>/<N>_fullres.clusters.txt    JSON list of clusters (pos_x/pos_y/class/pixels)
    labelled/<folder>/<N>_fullres.metadata.txt    same keys as raw metadata (two key styles exist)
    labelled/<folder>/<N>_fullres.statistics.txt  JSON {class name: count}
    <kind>/<folder>/info.txt                       one row per image (comma separated)

Orientation: the raw file's line index is `pos_x + x` and its column index is `pos_y + y`. We keep
exactly that as (row, col) of the L0 `energy` array: row = line of the text file.
"""
from __future__ import annotations

import json
import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from levelpipe.errors import TimepixError
from levelpipe.timepix.classes import CLASS_IDS, CLASS_NAMES

log = logging.getLogger(__name__)

FRAME_SHAPE = (256, 256)
N_PIXELS = FRAME_SHAPE[0] * FRAME_SHAPE[1]


def read_matrix(path: str | Path) -> np.ndarray:
    """Read a 256x256 `*_fullres.txt` energy matrix (keV) as float32 (row = line of the file).

    Raises TimepixError naming the line and column of a truncated, non-numeric or mis-shaped file.
    """
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise TimepixError(f"cannot read raw matrix: {exc.strerror}", path) from None
    lines = buf.splitlines()
    try:
        with warnings.catch_warnings():
            # At a bad token, older numpy stops early with a DeprecationWarning and newer numpy
            # raises; either way the slow path below finds and names the offending place.
            warnings.simplefilter("ignore", DeprecationWarning)
            values = np.fromstring(buf, dtype=np.float64, sep=" ")
    except ValueError:
        values = np.empty(0)
    while lines and not lines[-1].strip():
        lines.pop()
    if values.size != N_PIXELS or len(lines) != FRAME_SHAPE[0]:
        _diagnose_matrix(path, lines)
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise TimepixError("non-finite value", path, f"line {bad // 256 + 1}, column {bad % 256 + 1}")
    return values.reshape(FRAME_SHAPE).astype(np.float32)


def _diagnose_matrix(path: Path, lines: list[bytes]) -> None:
    """Slow path, only for a file that failed the fast read: find the first offending place."""
    for i, line in enumerate(lines[: FRAME_SHAPE[0]]):
        tokens = line.split()
        for j, tok in enumerate(tokens):
            try:
                float(tok)
            except ValueError:
                raise TimepixError(f"non-numeric value {tok.decode(errors='replace')!r}", path,
                                   f"line {i + 1}, column {j + 1}") from None
        if len(tokens) != FRAME_SHAPE[1]:
            what = "truncated line" if i == len(lines) - 1 and len(tokens) < FRAME_SHAPE[1] else "wrong row length"
            raise TimepixError(f"{what}: {len(tokens)} values, expected {FRAME_SHAPE[1]}", path, f"line {i + 1}")
    if len(lines) < FRAME_SHAPE[0]:
        raise TimepixError(f"truncated matrix: {len(lines)} lines, expected {FRAME_SHAPE[0]}", path,
                           f"line {len(lines) + 1}")
    raise TimepixError(f"wrong shape: {len(lines)} lines, expected {FRAME_SHAPE[0]}", path,
                       f"line {FRAME_SHAPE[0] + 1}")


# --- metadata ------------------------------------------------------------------------------

#: Measurement modes of the Timepix (metadata "Measurement mode"), coded as in L0.
MODES = {"unknown": 0, "tot_energy": 1, "mpx_counting": 2, "toa_time": 3}


def _mode_code(text: str) -> int:
    t = text.lower()
    if "tot" in t or "energy" in t:
        return MODES["tot_energy"]
    if "mpx" in t or "count" in t:
        return MODES["mpx_counting"]
    if "toa" in t or "time" in t:
        return MODES["toa_time"]
    return MODES["unknown"]


@dataclass
class FrameMeta:
    """Every metadata field of one image; None where the archive has no value."""

    image_id: int | None = None
    image_type: str | None = None
    measurement_mode: int = MODES["unknown"]
    threshold: int | None = None
    bias: float | None = None
    exposure: float | None = None
    filtering: int | None = None
    pixel_count_original: int | None = None
    pixel_count_filtered: int | None = None
    min_value_original: int | None = None
    max_value_original: int | None = None
    min_value_filtered: int | None = None
    max_value_filtered: int | None = None
    temperature: float | None = None
    temperature_limit: float | None = None
    pixel_count_threshold: int | None = None
    uav1_threshold: int | None = None
    attitude: list[int] = field(default_factory=list)
    position: list[int] = field(default_factory=list)
    time_unix: float | None = None
    chunk_id_first: int | None = None
    chunk_id_last: int | None = None
    comment: str = ""
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None
    tle_time: str | None = None
    sources: list[str] = field(default_factory=list)

    def merge(self, other: "FrameMeta") -> "FrameMeta":
        """Fill fields still unknown here from `other` (which has lower priority)."""
        for name in self.__dataclass_fields__:
            mine, theirs = getattr(self, name), getattr(other, name)
            if name == "sources":
                self.sources = self.sources + [s for s in theirs if s not in self.sources]
            elif name == "measurement_mode":
                if mine == MODES["unknown"]:
                    self.measurement_mode = theirs
            elif mine in (None, "", []) and theirs not in (None, "", []):
                setattr(self, name, theirs)
        return self


def _num(text: str, kind: type = float) -> int | float | None:
    """A metadata number; integers may be written with a decimal point ("60.000")."""
    text = text.strip()
    if not text:
        return None
    return int(float(text)) if kind is int else float(text)


# Both key styles of the archive map to the same fields. Decision: "Exposure" (old style) and
# "Acquisition time" (new style) are the same quantity, the exposure in seconds.
_SIMPLE_KEYS = {
    "image number": ("image_id", int),
    "image type": ("image_type", str),
    "threshold": ("threshold", int),
    "bias": ("bias", float),
    "acquisition time": ("exposure", float),
    "exposure": ("exposure", float),
    "filtering": ("filtering", int),
    "pixel count (original)": ("pixel_count_original", int),
    "pixel count (filtered)": ("pixel_count_filtered", int),
    "minimal pixel value (original)": ("min_value_original", int),
    "maximal pixel value (original)": ("max_value_original", int),
    "minimal pixel value (filtered)": ("min_value_filtered", int),
    "maximal pixel value (filtered)": ("max_value_filtered", int),
    "temperature": ("temperature", float),
    "temperature limit": ("temperature_limit", float),
    "pixel count threshold (scanning mode)": ("pixel_count_threshold", int),
    "uav1 threshold (adrenaline mode)": ("uav1_threshold", int),
    "time": ("time_unix", float),
    "comment": ("comment", str),
}


def read_metadata(path: str | Path) -> FrameMeta:
    """Parse a `*_fullres.metadata.txt` file (either key style) into a FrameMeta."""
    path = Path(path)
    meta = FrameMeta(sources=[path.name])
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise TimepixError(f"cannot read metadata: {exc.strerror}", path) from None
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise TimepixError(f"metadata line without 'key: value': {line[:60]!r}", path, f"line {lineno}")
        k = key.strip().lower()
        value = value.strip()
        try:
            if k in _SIMPLE_KEYS:
                name, kind = _SIMPLE_KEYS[k]
                setattr(meta, name, value if kind is str else _num(value, kind))
            elif k == "measurement mode":
                meta.measurement_mode = _mode_code(value)
            elif k == "attitude":
                meta.attitude = [int(v) for v in value.split()]
            elif k == "position":
                meta.position = [int(v) for v in value.split()]
            elif k == "chunk id":
                first, _, last = value.partition(" to ")
                meta.chunk_id_first, meta.chunk_id_last = int(first), int(last or first)
            elif k.startswith("lat"):
                # "latitude, longitude, altitude, tle_time" (new) or "lat, long, tle_time" (old)
                parts = [p.strip() for p in value.split(",")]
                names = [n.strip() for n in key.split(",")]
                for n, p in zip(names, parts):
                    if n.startswith("lat"):
                        meta.latitude = float(p)
                    elif n.startswith("lon"):
                        meta.longitude = float(p)
                    elif n.startswith("alt"):
                        meta.altitude = float(p)
                    elif n.startswith("tle"):
                        meta.tle_time = p
        except ValueError:
            raise TimepixError(f"bad value for {key.strip()!r}: {value[:40]!r}", path, f"line {lineno}") from None
    return meta


def read_dsc(path: str | Path) -> FrameMeta:
    """Parse a Pixelman `*.txt.dsc` description: exposure, bias, start time, navigation, image id.

    Decision: the .dsc "Start time" is the start of the exposure; the archive's image time
    ("Time" in the metadata) is start + acquisition time, i.e. the end of the exposure. We use
    the end, as the archive does, for `time`.
    """
    path = Path(path)
    meta = FrameMeta(sources=[path.name])
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        raise TimepixError(f"cannot read description: {exc.strerror}", path) from None
    values: dict[str, str] = {}
    for i, line in enumerate(lines):
        m = re.match(r'^"([^"]+)"\s*\(', line)
        if m and i + 2 < len(lines):
            values[m.group(1)] = lines[i + 2].strip()
    try:
        if "Acq time" in values:
            meta.exposure = float(values["Acq time"])
        if "HV" in values:
            meta.bias = float(values["HV"])
        if "dacs" in values:
            # Timepix DAC order: IKrum, Disc, Preamp, BuffAnalogA, BuffAnalogB, Hist, THL, ...
            meta.threshold = int(values["dacs"].split()[6])
        if "Start time" in values and meta.exposure is not None:
            meta.time_unix = float(values["Start time"]) + meta.exposure
        if "Navigation" in values:
            # Older descriptions give "Latitude, Longitude" only, newer ones add the altitude.
            nav = [float(v) for v in values["Navigation"].split()]
            meta.latitude, meta.longitude = nav[0], nav[1]
            if len(nav) > 2:
                meta.altitude = nav[2]
        if "ImageID" in values:
            meta.image_id = int(values["ImageID"])
    except (ValueError, IndexError):
        raise TimepixError("malformed value in description file", path) from None
    return meta


#: Header of the info.txt layout we read (labelled folders of the current archive).
INFO_HEADER = "# ordinar image ID, original image ID, acquisition time [s], bias [V], UTC time [s]"


def read_info_table(path: str | Path) -> dict[int, FrameMeta]:
    """Parse a folder's `info.txt`: {ordinal image number N: FrameMeta}.

    Decision: only the layout with the known header is read. Older info.txt files use another
    layout and numbering (the archive renumbered folders between commits), so reading them by
    column position could attach another image's position to a frame; they yield nothing and
    the frames stay flagged `no_metadata`.
    """
    path = Path(path)
    table: dict[int, FrameMeta] = {}
    lines = path.read_text(errors="replace").splitlines()
    if not lines or not lines[0].startswith(INFO_HEADER):
        log.warning("%s: unknown info.txt layout, not used", path)
        return table
    for lineno, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = [c.strip() for c in line.split(",")]
        if len(cols) < 11:
            raise TimepixError(f"{len(cols)} columns, expected 11", path, f"line {lineno}")
        try:
            n = int(cols[0])
            table[n] = FrameMeta(
                image_id=int(cols[1]), exposure=float(cols[2]), bias=float(cols[3]),
                time_unix=float(cols[4]), pixel_count_original=int(cols[6]), temperature=float(cols[7]),
                latitude=float(cols[8]), longitude=float(cols[9]), altitude=float(cols[10]),
                sources=[f"{path.name}#{n}"])
        except ValueError:
            raise TimepixError(f"malformed row: {line[:60]!r}", path, f"line {lineno}") from None
    return table


# --- cluster lists (labelled layout) ---------------------------------------------------------

@dataclass
class ClusterList:
    """Clusters of one frame as flat arrays (pixels of a cluster contiguous, in file order)."""

    pos_x: np.ndarray        # (n,) int, bbox min row
    pos_y: np.ndarray        # (n,) int, bbox min col
    class_id: np.ndarray     # (n,) int8
    pixel_start: np.ndarray  # (n,) int64
    pixel_count: np.ndarray  # (n,) int32
    row: np.ndarray          # (m,) int16, absolute row (= pos_x + x)
    col: np.ndarray          # (m,) int16
    energy: np.ndarray       # (m,) float32 keV

    def frame(self) -> np.ndarray:
        image = np.zeros(FRAME_SHAPE, dtype=np.float32)
        image[self.row, self.col] = self.energy
        return image


def read_clusters(path: str | Path) -> ClusterList:
    """Parse a `*_fullres.clusters.txt` JSON list. Unknown class ids or names are an error."""
    path = Path(path)
    try:
        items = json.loads(Path(path).read_text())
    except OSError as exc:
        raise TimepixError(f"cannot read cluster list: {exc.strerror}", path) from None
    except json.JSONDecodeError as exc:
        raise TimepixError(f"invalid JSON: {exc.msg}", path, f"line {exc.lineno}, column {exc.colno}") from None
    n = len(items)
    counts = np.array([len(c["pixels"]) for c in items], dtype=np.int32)
    starts = np.zeros(n, dtype=np.int64)
    if n:
        starts[1:] = np.cumsum(counts)[:-1]
    pos_x = np.array([c["pos_x"] for c in items], dtype=np.int64)
    pos_y = np.array([c["pos_y"] for c in items], dtype=np.int64)
    cls = np.empty(n, dtype=np.int8)
    for i, c in enumerate(items):
        cc = c.get("cluster_class", {})
        cid, name = cc.get("cluster_class"), cc.get("name")
        if cid not in CLASS_NAMES or CLASS_IDS.get(name) != cid:
            raise TimepixError(f"unknown cluster class {name!r} (id {cid})", path, f"cluster {i}")
        cls[i] = cid
    px = [(p["x"], p["y"], p["value"]) for c in items for p in c["pixels"]]
    arr = np.array(px, dtype=np.float64).reshape(-1, 3)
    rep_x = np.repeat(pos_x, counts)
    rep_y = np.repeat(pos_y, counts)
    row = (rep_x + arr[:, 0]).astype(np.int64)
    col = (rep_y + arr[:, 1]).astype(np.int64)
    if row.size and (row.min() < 0 or col.min() < 0 or row.max() >= 256 or col.max() >= 256):
        raise TimepixError("pixel outside the 256x256 sensor", path)
    return ClusterList(pos_x=pos_x.astype(np.int16), pos_y=pos_y.astype(np.int16), class_id=cls,
                       pixel_start=starts, pixel_count=counts, row=row.astype(np.int16),
                       col=col.astype(np.int16), energy=arr[:, 2].astype(np.float32))


def read_statistics(path: str | Path) -> dict[str, int]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TimepixError(f"cannot read statistics: {exc}", path) from None
