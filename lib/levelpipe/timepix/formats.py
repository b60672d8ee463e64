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

Hostile or damaged files: every reader raises only `TimepixError` (``file:place: what``). A
file is size-checked before it is read (the limits below follow from the format and the real
files), JSON is checked for more objects than a 256 x 256 frame can hold before it is parsed,
and every value is checked against the type and range it has in the products (a value that
would overflow an L0 variable, a non-finite number, a time outside the datetime64[ns] range, a
string netCDF would truncate) so that assembling L0 from what a reader returned cannot fail.
"""
from __future__ import annotations

import json
import logging
import os
import re
import stat
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np

from levelpipe.errors import TimepixError
from levelpipe.timepix.classes import CLASS_IDS, CLASS_NAMES

log = logging.getLogger(__name__)

FRAME_SHAPE = (256, 256)
N_PIXELS = FRAME_SHAPE[0] * FRAME_SHAPE[1]

# Decision: size limits, checked before a file is read. A real raw matrix is 5.0 bytes per value
# (328-331 kB); 64 bytes per value leaves room for any decimal writing of a keV value. Real
# metadata and .dsc files are 0.7-0.8 kB; 64 KiB. A real info.txt is ~110 bytes per image;
# 64 MiB is over half a million images. A real cluster list is at most 164 bytes per pixel (a
# folder of one-pixel clusters); 256 bytes per sensor pixel bounds a full frame of them.
MAX_MATRIX_BYTES = 64 * N_PIXELS
MAX_SMALL_TEXT_BYTES = 64 * 1024
MAX_INFO_BYTES = 64 * 1024 * 1024
MAX_CLUSTERS_BYTES = 256 * N_PIXELS

# What a frame can hold, used to bound JSON before parsing: every cluster has at least one
# pixel and no pixel is in two clusters, so a frame has at most N_PIXELS clusters and pixels; a
# cluster is two JSON objects (itself and its cluster_class) and a pixel one.
_MAX_JSON_OBJECTS = 3 * N_PIXELS
_MAX_JSON_ARRAYS = 2 * N_PIXELS + 1

# The range a time stamp must lie in to be stored as datetime64[ns] (1677-09-22 .. 2262-04-11).
_NS_TIME_RANGE = (-9.2e9, 9.2e9)


def _read_bytes(path: Path, limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (a FIFO or device is refused, not read)."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise TimepixError(f"{what} is not a regular file", path)
        if st.st_size > limit:
            raise TimepixError(f"{what} of {st.st_size} bytes exceeds the format's limit of {limit}", path)
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise TimepixError(f"cannot read {what}: {exc.strerror or exc}", path) from None
    if len(data) > limit:  # grew while we looked
        raise TimepixError(f"{what} exceeds the format's limit of {limit} bytes", path)
    return data


def _utf8(data: bytes, path: Path, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TimepixError(f"{what} is not valid UTF-8", path, f"byte {exc.start}") from None


def _text(data: bytes) -> str:
    # Decision: metadata, .dsc and info.txt are read with undecodable bytes replaced (U+FFFD):
    # only free-text fields (comment, image type) can hold them; a damaged number then fails
    # its own check below and is reported with its line.
    return data.decode("utf-8", errors="replace")


# --- raw matrix ----------------------------------------------------------------------------

# Byte classes of a raw matrix file: anything else is not part of the format.
_OTHER, _SPACE, _NEWLINE, _DIGIT, _DOT = range(5)
_BYTE_CLASS = np.full(256, _OTHER, dtype=np.uint8)
_BYTE_CLASS[list(b" \t\x0b\x0c")] = _SPACE
_BYTE_CLASS[list(b"\r\n")] = _NEWLINE
_BYTE_CLASS[ord("0"):ord("9") + 1] = _DIGIT
_BYTE_CLASS[ord(".")] = _DOT
_VALUE_RE = re.compile(rb"\d+(\.\d+)?")


def read_matrix(path: str | Path) -> np.ndarray:
    """Read a 256x256 `*_fullres.txt` energy matrix (keV) as float32 (row = line of the file).

    Decision: every value must be a non-negative decimal (digits, optionally a point and more
    digits: how the archive writes "%.2f" keV), 256 of them on each of 256 lines. So a byte run
    deleted or inserted inside the pixel data (which would shift every later pixel, or merge two
    values) makes the frame corrupt instead of a good frame with wrong values; a negative,
    exponent, NaN or infinite value is corrupt too. Raises TimepixError naming the line and
    column of the first offending place.
    """
    path = Path(path)
    buf = _read_bytes(path, MAX_MATRIX_BYTES, "raw matrix")
    values = _parse_matrix(buf)
    if values is None:
        _diagnose_matrix(path, buf.splitlines())
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise TimepixError("value too large to be finite", path, f"line {bad // 256 + 1}, column {bad % 256 + 1}")
    return values.reshape(FRAME_SHAPE).astype(np.float32)


def _parse_matrix(buf: bytes) -> np.ndarray | None:
    """The values of a matrix file (float64, file order), or None if its layout is not the format's:
    tokens `\\d+(\\.\\d+)?`, 256 per non-blank line, 256 lines. Vectorised over the whole file."""
    a = np.frombuffer(buf, dtype=np.uint8)
    cls = _BYTE_CLASS[a]
    if cls.size == 0 or cls.min() == _OTHER:
        return None
    ws = cls <= _NEWLINE
    edge = np.flatnonzero(ws[:-1] != ws[1:]) + 1
    starts, ends = edge[~ws[edge]], edge[ws[edge]]
    if not ws[0]:
        starts = np.concatenate(([0], starts))
    if not ws[-1]:
        ends = np.concatenate((ends, [a.size]))
    if starts.size != N_PIXELS:
        return None
    # At most one point per token, with a digit on both sides (inside a token, all else are digits).
    dots = np.flatnonzero(cls == _DOT)
    # The archive's own "%.2f" (a point before the last two digits of every token) needs no search.
    if dots.size and not (dots.size == N_PIXELS and np.array_equal(dots, ends - 3) and np.all(ends - starts > 3)):
        token = np.searchsorted(starts, dots, side="right") - 1
        if np.any(np.diff(token) == 0) or np.any(dots == starts[token]) or np.any(dots == ends[token] - 1):
            return None
    per_line = np.diff(np.searchsorted(starts, np.flatnonzero(cls == _NEWLINE)), prepend=0, append=N_PIXELS)
    per_line = per_line[per_line > 0]
    if per_line.size != FRAME_SHAPE[0] or np.any(per_line != FRAME_SHAPE[1]):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        values = np.fromstring(buf, dtype=np.float64, sep=" ")
    return values if values.size == N_PIXELS else None


def _diagnose_matrix(path: Path, lines: list[bytes]) -> None:
    """Slow path, only for a file that failed the layout check: find the first offending place."""
    while lines and not lines[-1].strip():
        lines.pop()
    for i, line in enumerate(lines[: FRAME_SHAPE[0]]):
        tokens = line.split()
        for j, tok in enumerate(tokens):
            if not _VALUE_RE.fullmatch(tok):
                raise TimepixError(f"non-numeric value {tok[:20].decode(errors='replace')!r}", path,
                                   f"line {i + 1}, column {j + 1}")
        if len(tokens) != FRAME_SHAPE[1]:
            what = "truncated line" if i == len(lines) - 1 and len(tokens) < FRAME_SHAPE[1] else "wrong row length"
            raise TimepixError(f"{what}: {len(tokens)} values, expected {FRAME_SHAPE[1]}", path, f"line {i + 1}")
    if len(lines) < FRAME_SHAPE[0]:
        raise TimepixError(f"truncated matrix: {len(lines)} lines, expected {FRAME_SHAPE[0]}", path,
                           f"line {len(lines) + 1}")
    raise TimepixError(f"wrong shape: {len(lines)} lines, expected {FRAME_SHAPE[0]}", path,
                       f"line {FRAME_SHAPE[0] + 1}")


# --- metadata values -------------------------------------------------------------------------

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


_INT_RE = re.compile(r"[+-]?\d+(\.0*)?")
_FLOAT_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_TLE_RE = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_INT32_FILL = -9999


def _int(lo: int, hi: int, exclude: int | None = None) -> Callable[[str], int]:
    """Integer in [lo, hi]; "60.000" is 60 (the archive writes some integers with a point)."""
    def conv(text: str) -> int:
        if not _INT_RE.fullmatch(text):
            raise ValueError("not an integer")
        v = int(text.split(".")[0])
        if not lo <= v <= hi or v == exclude:
            raise ValueError(f"outside {lo}..{hi}" if v != exclude else f"{v} is the fill value")
        return v
    return conv


def _float(lo: float = -np.inf, hi: float = np.inf) -> Callable[[str], float]:
    """Finite decimal number in [lo, hi]."""
    def conv(text: str) -> float:
        if not _FLOAT_RE.fullmatch(text):
            raise ValueError("not a number")
        v = float(text)
        if not np.isfinite(v) or not lo <= v <= hi:
            raise ValueError(f"outside {lo:g}..{hi:g}" if np.isfinite(v) else "not finite")
        return v
    return conv


def _string(text: str) -> str:
    # netCDF truncates a string at NUL; other control characters have no place in these fields.
    if _CONTROL_RE.search(text):
        raise ValueError("control character in text")
    return text


def _tle_time(text: str) -> str:
    if not _TLE_RE.fullmatch(text):
        raise ValueError("not YYYY-MM-DD HH:MM:SS")
    t = datetime.strptime(text.replace("T", " "), "%Y-%m-%d %H:%M:%S")  # ValueError if no such day
    if not 1678 <= t.year <= 2261:
        raise ValueError("outside the datetime64[ns] range")
    return text


# Decision: the range of every field follows its type in the products and the archive: ids and
# the DAC threshold as the .dsc declares them (ImageID u32, dacs u16), pixel counts of a 256 x
# 256 frame, other int32 fields non-negative and never the int32 fill value (-9999) they are
# stored with, times within datetime64[ns], positions on the globe, exposure not negative.
_U32 = _int(0, 2 ** 32 - 1)
_U16 = _int(0, 2 ** 16 - 1)
_COUNT = _int(0, N_PIXELS)
_NONNEG_I32 = _int(0, 2 ** 31 - 1)
_I32_WORD = _int(-2 ** 31, 2 ** 31 - 1, exclude=_INT32_FILL)
_ID64 = _int(0, 2 ** 63 - 1)
_FINITE = _float()
FIELD_CHECKS: dict[str, Callable[[str], object]] = {
    "image_id": _U32,
    "image_type": _string,
    "threshold": _U16,
    "bias": _FINITE,
    "exposure": _float(0.0),
    "filtering": _NONNEG_I32,
    "pixel_count_original": _COUNT,
    "pixel_count_filtered": _COUNT,
    "min_value_original": _NONNEG_I32,
    "max_value_original": _NONNEG_I32,
    "min_value_filtered": _NONNEG_I32,
    "max_value_filtered": _NONNEG_I32,
    "temperature": _FINITE,
    "temperature_limit": _FINITE,
    "pixel_count_threshold": _NONNEG_I32,
    "uav1_threshold": _NONNEG_I32,
    "time_unix": _float(*_NS_TIME_RANGE),
    "chunk_id": _ID64,
    "comment": _string,
    "latitude": _float(-90.0, 90.0),
    "longitude": _float(-180.0, 360.0),
    "altitude": _FINITE,
    "tle_time": _tle_time,
    "frame_number": _int(0, 2 ** 31 - 1),
}
#: raw words kept per frame (L0 attitude_word, position_word); every real file has exactly these
ATTITUDE_WORDS = 7
POSITION_WORDS = 3


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


def _value(name: str, text: str):
    """`text` converted and range-checked as field `name`; empty text is an unknown value."""
    text = text.strip()
    if not text and name not in ("comment", "image_type"):
        return None
    return FIELD_CHECKS[name](text)


def _words(text: str, limit: int) -> list[int]:
    words = text.split()
    if len(words) > limit:
        raise ValueError(f"{len(words)} words, at most {limit}")
    return [_I32_WORD(w) for w in words]


# Both key styles of the archive map to the same fields. Decision: "Exposure" (old style) and
# "Acquisition time" (new style) are the same quantity, the exposure in seconds.
_SIMPLE_KEYS = {
    "image number": "image_id",
    "image type": "image_type",
    "threshold": "threshold",
    "bias": "bias",
    "acquisition time": "exposure",
    "exposure": "exposure",
    "filtering": "filtering",
    "pixel count (original)": "pixel_count_original",
    "pixel count (filtered)": "pixel_count_filtered",
    "minimal pixel value (original)": "min_value_original",
    "maximal pixel value (original)": "max_value_original",
    "minimal pixel value (filtered)": "min_value_filtered",
    "maximal pixel value (filtered)": "max_value_filtered",
    "temperature": "temperature",
    "temperature limit": "temperature_limit",
    "pixel count threshold (scanning mode)": "pixel_count_threshold",
    "uav1 threshold (adrenaline mode)": "uav1_threshold",
    "time": "time_unix",
    "comment": "comment",
}


def read_metadata(path: str | Path) -> FrameMeta:
    """Parse a `*_fullres.metadata.txt` file (either key style) into a FrameMeta."""
    path = Path(path)
    meta = FrameMeta(sources=[path.name])
    text = _text(_read_bytes(path, MAX_SMALL_TEXT_BYTES, "metadata"))
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
                setattr(meta, _SIMPLE_KEYS[k], _value(_SIMPLE_KEYS[k], value))
            elif k == "measurement mode":
                meta.measurement_mode = _mode_code(value)
            elif k == "attitude":
                meta.attitude = _words(value, ATTITUDE_WORDS)
            elif k == "position":
                meta.position = _words(value, POSITION_WORDS)
            elif k == "chunk id":
                first, _, last = value.partition(" to ")
                meta.chunk_id_first = _value("chunk_id", first)
                meta.chunk_id_last = _value("chunk_id", last or first)
            elif k.startswith("lat"):
                # "latitude, longitude, altitude, tle_time" (new) or "lat, long, tle_time" (old)
                parts = [p.strip() for p in value.split(",")]
                names = [n.strip() for n in key.split(",")]
                if len(parts) != len(names):
                    raise ValueError(f"{len(parts)} values for {len(names)} names")
                for n, p in zip(names, parts):
                    if n.startswith("lat"):
                        meta.latitude = _value("latitude", p)
                    elif n.startswith("lon"):
                        meta.longitude = _value("longitude", p)
                    elif n.startswith("alt"):
                        meta.altitude = _value("altitude", p)
                    elif n.startswith("tle"):
                        meta.tle_time = _value("tle_time", p)
        except ValueError as exc:
            raise TimepixError(f"bad value for {key.strip()[:40]!r}: {value[:40]!r} ({exc})", path,
                               f"line {lineno}") from None
    return meta


# --- Pixelman description (.dsc) -------------------------------------------------------------

_DSC_NAME_RE = re.compile(r'^"([^"]+)"\s*\(')
_DSC_TYPE_RE = re.compile(r"^(\w+)\[(\d+)\]$")


def read_dsc(path: str | Path) -> FrameMeta:
    """Parse a Pixelman `*.txt.dsc` description: exposure, bias, start time, navigation, image id.

    A value is the line after its `"Name" ("description"):` line and its `type[count]` line;
    the count of numeric values must match the declared count (Navigation is `double[2]` in older
    descriptions, `double[3]` with the altitude in newer ones).

    Decision: the .dsc "Start time" is the start of the exposure; the archive's image time
    ("Time" in the metadata) is start + acquisition time, i.e. the end of the exposure. We use
    the end, as the archive does, for `time`.
    """
    path = Path(path)
    meta = FrameMeta(sources=[path.name])
    lines = _text(_read_bytes(path, MAX_SMALL_TEXT_BYTES, "description")).splitlines()
    values: dict[str, tuple[int, str, int, str]] = {}  # name -> (line number, type, count, value)
    for i, line in enumerate(lines):
        m = _DSC_NAME_RE.match(line)
        if m and i + 2 < len(lines):
            t = _DSC_TYPE_RE.match(lines[i + 1].strip())
            values[m.group(1)] = (i + 3, t.group(1) if t else "", int(t.group(2)) if t else -1, lines[i + 2].strip())
        elif m:
            values[m.group(1)] = (i + 1, "", -1, "")

    def numbers(name: str, kind: str, counts: tuple[int, ...]) -> list[str]:
        lineno, typ, count, text = values[name]
        words = text.split()
        if typ != kind or count not in counts or len(words) != count:
            raise TimepixError(f"{name!r}: expected {kind}{list(counts)} values, found {typ or '?'}[{count}] "
                               f"with {len(words)} values", path, f"line {lineno}")
        return words

    def convert(name: str, field_name: str, word: str):
        try:
            return FIELD_CHECKS[field_name](word)
        except ValueError as exc:
            raise TimepixError(f"bad value for {name!r}: {word[:40]!r} ({exc})", path,
                               f"line {values[name][0]}") from None

    if "Acq time" in values:
        meta.exposure = convert("Acq time", "exposure", numbers("Acq time", "double", (1,))[0])
    if "HV" in values:
        meta.bias = convert("HV", "bias", numbers("HV", "double", (1,))[0])
    if "dacs" in values:
        # Timepix DAC order: IKrum, Disc, Preamp, BuffAnalogA, BuffAnalogB, Hist, THL, ... (the
        # 7th value equals the metadata "Threshold" in the archive's files).
        dacs = numbers("dacs", "u16", (values["dacs"][2],))
        if len(dacs) < 7:
            raise TimepixError(f"'dacs': {len(dacs)} values, the THL threshold is the 7th", path,
                               f"line {values['dacs'][0]}")
        meta.threshold = convert("dacs", "threshold", dacs[6])
    if "Start time" in values and meta.exposure is not None:
        start = convert("Start time", "time_unix", numbers("Start time", "double", (1,))[0])
        meta.time_unix = convert("Start time", "time_unix", repr(start + meta.exposure))
    if "Navigation" in values:
        nav = numbers("Navigation", "double", (2, 3))
        meta.latitude = convert("Navigation", "latitude", nav[0])
        meta.longitude = convert("Navigation", "longitude", nav[1])
        if len(nav) > 2:
            meta.altitude = convert("Navigation", "altitude", nav[2])
    if "ImageID" in values:
        meta.image_id = convert("ImageID", "image_id", numbers("ImageID", "u32", (1,))[0])
    return meta


# --- info.txt --------------------------------------------------------------------------------

#: Header of the info.txt layout we read (labelled folders of the current archive).
INFO_HEADER = "# ordinar image ID, original image ID, acquisition time [s], bias [V], UTC time [s]"
#: its columns (human-readable time, column 5, is not read: it repeats the UTC time)
INFO_COLUMNS = {"frame_number": 0, "image_id": 1, "exposure": 2, "bias": 3, "time_unix": 4,
                "pixel_count_original": 6, "temperature": 7, "latitude": 8, "longitude": 9, "altitude": 10}


@dataclass
class InfoTable:
    """A folder's info.txt: good rows by frame number N, and what could not be used."""

    rows: dict[int, FrameMeta] = field(default_factory=dict)
    #: frame number (None when the row's own number is unreadable) -> the row's error
    bad_rows: list[tuple[int | None, TimepixError]] = field(default_factory=list)
    #: why the whole file was not used (unknown layout), else None
    unused: str | None = None


def read_info_rows(path: str | Path) -> InfoTable:
    """Parse a folder's `info.txt`, keeping every good row; bad rows are listed, not fatal.

    Decision: only the layout with the known header is read. Older info.txt files use another
    layout and numbering (the archive renumbered folders between commits), so reading them by
    column position could attach another image's position to a frame; they yield nothing and
    the frames stay flagged `no_metadata`.
    """
    path = Path(path)
    table = InfoTable()
    lines = _text(_read_bytes(path, MAX_INFO_BYTES, "info table")).splitlines()
    if not lines or not lines[0].startswith(INFO_HEADER):
        table.unused = "unknown info.txt layout, not used"
        log.warning("%s: %s", path, table.unused)
        return table
    for lineno, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = [c.strip() for c in line.split(",")]
        try:
            n = FIELD_CHECKS["frame_number"](cols[0])
        except ValueError:
            n = None
        try:
            if len(cols) != 11:
                raise ValueError(f"{len(cols)} columns, expected 11")
            row = FrameMeta(sources=[f"{path.name}#{n}"])
            for name, col in INFO_COLUMNS.items():
                try:
                    v = _value(name, cols[col])
                except ValueError as exc:
                    raise ValueError(f"column {col + 1} ({name}) {cols[col][:30]!r}: {exc}") from None
                if name != "frame_number":
                    setattr(row, name, v)
            if n is None:
                raise ValueError("no frame number")
            if n in table.rows:
                raise ValueError(f"second row for image {n}")
            table.rows[n] = row
        except ValueError as exc:
            table.bad_rows.append((n, TimepixError(f"row not used: {exc}", path, f"line {lineno}")))
    return table


def read_info_table(path: str | Path) -> dict[int, FrameMeta]:
    """A folder's `info.txt` as {ordinal image number N: FrameMeta}; the first bad row is an error."""
    table = read_info_rows(path)
    if table.bad_rows:
        raise table.bad_rows[0][1]
    return table.rows


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


def _json(path: Path, limit: int, what: str, max_objects: int, max_arrays: int):
    data = _read_bytes(path, limit, what)
    # Bound the parse: no more objects/arrays than the format can hold (this also bounds nesting).
    if data.count(b"{") > max_objects or data.count(b"[") > max_arrays:
        raise TimepixError(f"{what} has more JSON objects or arrays than the format allows "
                           f"({max_objects} and {max_arrays})", path)
    text = _utf8(data, path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TimepixError(f"invalid JSON: {exc.msg}", path, f"line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise TimepixError("JSON nested too deeply", path) from None


def read_clusters(path: str | Path) -> ClusterList:
    """Parse a `*_fullres.clusters.txt` JSON list.

    Checked, so that the frame rebuilt from the list is exact: every cluster has `pos_x`,
    `pos_y` (integers, the cluster's bounding-box corner: its pixels' smallest x and y are 0),
    a known class whose id and name agree, and at least one pixel; pixels have integer `x`, `y`
    inside the 256x256 sensor and a finite positive keV `value`; no pixel is in two clusters.
    """
    path = Path(path)
    items = _json(path, MAX_CLUSTERS_BYTES, "cluster list", _MAX_JSON_OBJECTS, _MAX_JSON_ARRAYS)
    if not isinstance(items, list):
        raise TimepixError(f"cluster list is a JSON {type(items).__name__}, not a list", path)
    try:
        # Fast path: the JSON is already Python objects; gather every field in one pass each.
        pixel_lists = [c["pixels"] for c in items]
        counts = np.array([len(p) for p in pixel_lists], dtype=np.int64)
        head = [(c["pos_x"], c["pos_y"], c["cluster_class"]["cluster_class"], c["cluster_class"]["name"])
                for c in items]
        px = [(p["x"], p["y"], p["value"]) for ps in pixel_lists for p in ps]
    except (TypeError, KeyError, AttributeError):
        _diagnose_clusters(path, items)
        raise TimepixError("malformed cluster list", path) from None  # _diagnose_clusters raises first
    # Types, checked over whole columns: ints must be int (not bool), values int or float.
    head_t = set(map(type, (v for h in head for v in h[:3])))
    px_t = set(map(type, (v for p in px for v in p[:2])))
    val_t = set(map(type, (p[2] for p in px)))
    if not (head_t <= {int} and px_t <= {int} and val_t <= {int, float}) or np.any(counts == 0):
        _diagnose_clusters(path, items)
    n = len(items)
    if n == 0:
        return ClusterList(*(np.zeros(0, dt) for dt in (np.int16, np.int16, np.int8, np.int64, np.int32,
                                                        np.int16, np.int16, np.float32)))
    try:
        pos = np.array([h[:2] for h in head], dtype=np.int64)
        arr_xy = np.array([p[:2] for p in px], dtype=np.int64)
        energy = np.array([p[2] for p in px], dtype=np.float64)
    except OverflowError:  # a JSON integer beyond int64 / float64
        raise TimepixError("number too large for a sensor position or an energy", path) from None
    for i, h in enumerate(head):
        cid, name = h[2], h[3]
        if cid not in CLASS_NAMES or not isinstance(name, str) or CLASS_IDS.get(name) != cid:
            raise TimepixError(f"unknown cluster class {str(name)[:40]!r} (id {str(cid)[:20]})", path, f"cluster {i}")
    starts = np.zeros(n, dtype=np.int64)
    starts[1:] = np.cumsum(counts)[:-1]
    rep = np.repeat(np.arange(n), counts)
    row = pos[rep, 0] + arr_xy[:, 0]
    col = pos[rep, 1] + arr_xy[:, 1]

    def first(bad: np.ndarray, what: str, per_pixel: bool = True) -> None:
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            cl = int(rep[k]) if per_pixel else k
            where = f"cluster {cl}, pixel {k - int(starts[cl])}" if per_pixel else f"cluster {cl}"
            raise TimepixError(what, path, where)

    outside = lambda v: (v < 0) | (v >= 256)  # noqa: E731
    first(outside(pos[:, 0]) | outside(pos[:, 1]), "pos_x/pos_y outside the 256x256 sensor", per_pixel=False)
    first(outside(row) | outside(col) | (arr_xy[:, 0] < 0) | (arr_xy[:, 1] < 0),
          "pixel outside the 256x256 sensor")
    first(~np.isfinite(energy) | (energy <= 0), "pixel value not a finite positive energy")
    corner = (np.minimum.reduceat(arr_xy[:, 0], starts) != 0) | (np.minimum.reduceat(arr_xy[:, 1], starts) != 0)
    first(corner, "pos_x/pos_y is not the cluster's bounding-box corner", per_pixel=False)
    flat = row * FRAME_SHAPE[1] + col
    order = np.argsort(flat, kind="stable")
    dup = np.zeros(flat.size, dtype=bool)
    dup[order[1:]] = flat[order[1:]] == flat[order[:-1]]
    first(dup, "pixel already in another cluster")
    return ClusterList(pos_x=pos[:, 0].astype(np.int16), pos_y=pos[:, 1].astype(np.int16),
                       class_id=np.array([h[2] for h in head], dtype=np.int8), pixel_start=starts,
                       pixel_count=counts.astype(np.int32), row=row.astype(np.int16), col=col.astype(np.int16),
                       energy=energy.astype(np.float32))


def _diagnose_clusters(path: Path, items: list) -> None:
    """Slow path for a list that failed the fast checks: name the first bad cluster or pixel."""
    def is_int(v) -> bool:
        return type(v) is int

    for i, c in enumerate(items):
        where = f"cluster {i}"
        if not isinstance(c, dict):
            raise TimepixError(f"cluster is a JSON {type(c).__name__}, not an object", path, where)
        for key in ("pos_x", "pos_y", "cluster_class", "pixels"):
            if key not in c:
                raise TimepixError(f"cluster lacks {key!r}", path, where)
        if not (is_int(c["pos_x"]) and is_int(c["pos_y"])):
            raise TimepixError("pos_x/pos_y not integers", path, where)
        cc = c["cluster_class"]
        if not isinstance(cc, dict) or "cluster_class" not in cc or "name" not in cc or not is_int(cc["cluster_class"]):
            raise TimepixError("cluster_class is not {name, cluster_class}", path, where)
        if not isinstance(c["pixels"], list) or not c["pixels"]:
            raise TimepixError("pixels is not a non-empty list", path, where)
        for j, p in enumerate(c["pixels"]):
            if not isinstance(p, dict) or not all(k in p for k in ("x", "y", "value")):
                raise TimepixError("pixel is not {x, y, value}", path, f"{where}, pixel {j}")
            if not (is_int(p["x"]) and is_int(p["y"])) or type(p["value"]) not in (int, float):
                raise TimepixError("pixel x/y not integers or value not a number", path, f"{where}, pixel {j}")
    raise TimepixError("malformed cluster list", path)


def read_statistics(path: str | Path) -> dict[str, int]:
    """Parse a `*_fullres.statistics.txt` JSON object: clusters per class, every class listed."""
    path = Path(path)
    stats = _json(path, MAX_SMALL_TEXT_BYTES, "statistics", 1, 0)
    if not isinstance(stats, dict):
        raise TimepixError(f"statistics is a JSON {type(stats).__name__}, not an object", path)
    for name, count in stats.items():
        if name not in CLASS_IDS:
            raise TimepixError(f"unknown class {name[:40]!r}", path)
        if type(count) is not int or not 0 <= count <= N_PIXELS:
            raise TimepixError(f"count of {name!r} is not an integer 0..{N_PIXELS}: {str(count)[:40]}", path)
    missing = [n for n in CLASS_NAMES.values() if n not in stats]
    if missing:
        raise TimepixError(f"statistics lack class(es) {', '.join(missing)}", path)
    return {name: stats[name] for name in CLASS_NAMES.values()}
