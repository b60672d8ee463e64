"""Readers for UCalgary all-sky-imager raw files: THEMIS, REGO, TREx NIR/Blueline (PGM) and TREx RGB.

PGM family (THEMIS, REGO, TREx NIR, TREx Blueline): a one-minute file (plain, .gz or .bz2) is a
concatenation of binary 16-bit big-endian PGM (P5) frames; each frame header carries the frame's
metadata as comment lines ``#"Key" value`` followed by ``<width> <height>`` and ``65535``
(pyucalgarysrs/data/read/_themis.py and _trex_blue.py read it line by line the same way: a
``P5`` line, ``#"`` metadata lines, the dimensions on the line before ``65535``, then
width x height x 2 bytes). File names are ``YYYYMMDD_HHMM_<site>_<device>_<mode>.pgm[.gz|.bz2]``.

TREx RGB: one-minute HDF5 files (``data/images`` shaped (height, width, channel, frame),
``data/timestamp`` strings, ``metadata/file`` and ``metadata/frame/frame<i>`` attributes whose
``image_request_start_timestamp`` is the frame time, as pyucalgarysrs/data/read/_trex_rgb.py
lines 297-354 and data/read/__init__.py lines 864-868 read them), and legacy PNG frames, single or
in a ``.png.tar`` per minute, named ``YYYYMMDD_HHMMSS_<ffffff>_<site>_<device>_<exposure>ms_<mode>.png``.

Reading is whole-file and vectorised: a file is decompressed once (bounded, see below), frame
headers are located with linear-time patterns (the only per-frame work is the few-hundred-byte
header), and all frames are gathered at once through a sliding-window view indexed at the frame
offsets into an (n_frame, row, col) array.

Damage (Decision, pinned by tests/asi/test_damaged.py): a frame is kept only when its header
parses and its pixel data end exactly where the next header (or the file) starts. Anything else
is counted by kind (``FRAME_ERROR_KINDS``) and skipped, and the reader resynchronises on the
next header that parses, so a run of bytes deleted from or inserted into one frame costs that
frame alone. A compressed stream is inflated incrementally: what decodes before an undecodable
point is kept and the frames after it are counted as lost (estimated from the gzip size
trailer). A gzip member that decodes to its end but fails its CRC-32 cannot say where it was
damaged (measured: 300 of 300 single-bit flips in the real THEMIS minute decoded to the end and
failed only the CRC), so its structurally intact frames are kept and flagged
(``Frames.stream_check_failed``), never passed as clean.

Limits (``ReadingSettings``): frame sides, frames per file and the inflated size of a file are
checked against what the file declares before anything is allocated; a file beyond them is
refused with one ``AsiError``.

Orientation (Decision, pinned by tests/asi/test_readers_reference.py against pyucalgarysrs):
images are returned exactly as pyucalgarysrs returns them, i.e. rows flipped relative to file
order for every instrument (PGM families, RGB HDF5 and RGB PNG), columns flipped too for REGO.
Displayed with ``imshow(origin="lower")`` north is up and east is left (the sky seen from below).
Skymaps and flatfields get the same flips (see skymap.py, calibration.py), so image pixel [i, j]
and skymap pixel [i, j] always look at the same direction.
"""
from __future__ import annotations

import bz2
import io
import math
import os
import re
import tarfile
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

from levelpipe.asi.settings import ReadingSettings
from levelpipe.errors import AsiError
from levelpipe.io.files import checked_size, read_limited

try:  # python-isal: the same gzip format, inflated by Intel ISA-L (optional, speed only)
    from isal import isal_zlib as _isal_zlib
except ImportError:  # pragma: no cover - zlib gives identical bytes, only slower
    _isal_zlib = None

# Instrument family from the device id prefix in file names (themis19, rego-652, nir-216,
# blue-814, rgb-04).
INSTRUMENTS = {"themis": "themis", "rego": "rego", "nir": "trex_nir", "blue": "trex_blue", "rgb": "trex_rgb"}

# Decision: TREx spectrograph raw files (``..._spect-02_spectra.pgm[.gz]``) are recognised and
# refused, with this reason, by the index: pyucalgarysrs reads them as 1024x256 PGM frames
# (data/read/_trex_spectrograph.py lines 26-27, 240-361), but turning those into spectra versus
# latitude needs the spectrograph's wavelength and slit-to-latitude calibration, and no real
# spect file nor calibration is available offline to verify a layout against.
SPECTROGRAPH_PREFIXES = ("spect",)
SPECTROGRAPH_REFUSAL = ("TREx spectrograph raw data: not processed (no spectrograph reader; spectra versus "
                        "latitude need wavelength and slit calibrations that are not available to verify against)")

# Decision: orientation (flip rows, flip columns) applied to file-order arrays, per instrument;
# identical to pyucalgarysrs so that our images and theirs are pixel-identical.
ORIENTATION = {
    "themis": (True, False),
    "rego": (True, True),       # REGO optics mirror east-west; UCalgary flips columns too
    "trex_nir": (True, False),
    "trex_blue": (True, False),
    "trex_rgb_h5": (True, False),
    "trex_rgb_png": (True, False),
}

#: Why a frame was skipped. bad_header: bytes that do not parse as a frame header (one count
#: per unreadable run; the reader resynchronises on the next header); truncated: the file ends
#: inside the frame's pixel data; length_mismatch: the next header does not start where the
#: frame's pixel data should end (bytes deleted or inserted); size_mismatch: other dimensions
#: than the file's (or the site-hour's) first good frame; too_large: dimensions beyond
#: reading.max_frame_side_px; no_timestamp: no parseable "Image request start" (or PNG name);
#: bad_time: header time outside the file name's minute by more than reading.frame_time_slack_s;
#: bad_image: image data that do not decode (PNG, HDF5); lost_in_damaged_stream: frames after an
#: undecodable point of a compressed stream (estimated from the gzip size trailer, at least 1).
FRAME_ERROR_KINDS = ("bad_header", "truncated", "length_mismatch", "size_mismatch", "too_large",
                     "no_timestamp", "bad_time", "bad_image", "lost_in_damaged_stream")

# Linear-time header patterns: every repetition starts with a fixed byte and no two parts can
# match the same bytes, so a failed match never backtracks over a long input.
_MAGIC = re.compile(rb"P5[ \t\r]*\n")
_COMMENTS = re.compile(rb"(?:#[^\n]*\n)*")
_DIMS = re.compile(rb"([0-9]{1,9})[ \t]+([0-9]{1,9})[ \t\r]*\n")
_MAXVAL = re.compile(rb"([0-9]{1,9})\n")
_META = re.compile(rb'#"([^"\n]*)"[ \t]*([^\n]*)')
_PADDING = re.compile(rb"[\0 \t\r\n]*\Z")
_MSEC = re.compile(r"MSEC=([0-9]{1,9}(?:\.[0-9]{0,9})?)", re.I)
_STAMP = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)(?:\s*UTC)?\s*$")
_PGM_NAME = re.compile(r"^(\d{8})_(\d{4})_([a-z0-9]+)_([a-z]+)-?(\d*)_?([^.]*)\.pgm(?:\.gz|\.bz2)?$", re.I)
_PNG_NAME = re.compile(r"^(\d{8})_(\d{6})_(\d{6})_([a-z0-9]+)_([a-z]+-?\d*)_(\d+)ms_([^.]+)\.png(?:\.tar)?$", re.I)
# Unverified: minute-file names of RGB HDF5 and .png.tar files (no real one is available
# offline); pyucalgarysrs reads only their first 13 characters as YYYYMMDD_HHMM
# (data/read/_trex_rgb.py lines 271-276, 393), the rest is assumed to follow the PGM names.
_H5_NAME = re.compile(r"^(\d{8})_(\d{4})()_([a-z0-9]+)_([a-z]+-?\d*)_()(?:([^.]+))?\.(?:h5|png\.tar)$", re.I)

#: Header keys that the first frame of a minute file carries and later frames leave out (real
#: THEMIS, NIR and Blueline files); pyucalgarysrs fills the two ids into every frame from the
#: previous frame or the file name (data/read/_trex_blue.py lines 299-307), and so do we.
_INHERITED_IDS = ("Site unique ID", "Imager unique ID")


@dataclass
class FileName:
    """What a raw file name says: start of its minute (UTC), site, device, instrument, mode."""
    start: np.datetime64
    site: str
    device: str
    instrument: str
    mode: str


def parse_filename(path: str | os.PathLike) -> FileName:
    name = Path(path).name
    m = _PGM_NAME.match(name)
    if m:
        date, hhmm, site, prefix, num, mode = m.groups()
        device = f"{prefix}-{num}" if "-" in name.split("_")[3] else f"{prefix}{num}"
        stamp = f"{date[:4]}-{date[4:6]}-{date[6:]}T{hhmm[:2]}:{hhmm[2:]}"
    else:
        m = _PNG_NAME.match(name) or _H5_NAME.match(name)
        if not m:
            raise AsiError("not a UCalgary ASI raw file name", path)
        date, hms, _frac, site, device, _exp, mode = m.groups()
        prefix = re.match(r"[a-z]+", device, re.I).group(0)
        stamp = f"{date[:4]}-{date[4:6]}-{date[6:]}T{hms[:2]}:{hms[2:4]}"
    try:
        t = np.datetime64(stamp, "ns")
    except ValueError:
        raise AsiError(f"no such date/time in the file name ({stamp})", path) from None
    prefix = prefix.lower()
    if prefix in SPECTROGRAPH_PREFIXES:
        raise AsiError(SPECTROGRAPH_REFUSAL, path)
    if prefix not in INSTRUMENTS:
        raise AsiError(f"unknown imager family {prefix!r}", path)
    return FileName(t, site.lower(), device.lower(), INSTRUMENTS[prefix], mode or "")


def is_spectrograph_name(path: str | os.PathLike) -> bool:
    m = _PGM_NAME.match(Path(path).name)
    return bool(m) and m.group(4).lower() in SPECTROGRAPH_PREFIXES


@dataclass
class Frames:
    """Frames read from one or more raw files (one instrument, one site).

    images: (n_frame, row, col[, channel]) in the documented orientation, raw counts (uint16 for
    PGM, uint8 for RGB); time: datetime64[ns] UTC "Image request start" of each frame;
    exposure_s: commanded exposure in seconds (NaN when the file does not say);
    metadata: one dict of header keys per frame (site and imager ids filled in as pyucalgarysrs
    does); file_metadata: every header key of the file, first value seen (frame 0 carries the
    site, position and camera keys that later frames leave out); errors: skipped frames by kind;
    stream_check_failed: the compressed stream decoded but failed its CRC/size check, so some
    kept frame may hold wrong values; stream_damage: what stopped the decompression, if anything.
    """
    images: np.ndarray
    time: np.ndarray
    exposure_s: np.ndarray
    metadata: list[dict[str, str]]
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FRAME_ERROR_KINDS, 0))
    files: list[str] = field(default_factory=list)
    file_metadata: dict[str, str] = field(default_factory=dict)
    stream_check_failed: bool = False
    stream_damage: str = ""

    @property
    def n_bad(self) -> int:
        return int(sum(self.errors.values()))


def one_line(text, limit: int = 200) -> str:
    """A third-party message as one short line (tarfile and HDF5 messages span lines)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _limits(limits: ReadingSettings | None) -> ReadingSettings:
    return limits if limits is not None else ReadingSettings()


def _max_bytes(limits: ReadingSettings) -> int:
    return int(limits.max_file_mib.to_value("byte"))


# --- decompression ---------------------------------------------------------------------------

@dataclass
class _Stream:
    """How a compressed file decoded. kind: "" (cleanly), "check" (decoded to the end of a
    member whose CRC/length check failed), "corrupt" (undecodable from compressed byte
    `damaged_at` on), "truncated" (the file ends inside the stream), "trailing" (bytes after the
    last member that are not one); expected_size: inflated size the whole file should have had,
    when the damage is mid-stream and the gzip trailer (or, failing that, the compression ratio
    so far) can say."""
    kind: str = ""
    damaged_at: int | None = None
    expected_size: int | None = None
    message: str = ""


_SALVAGE_CHUNK = 1 << 14
_SALVAGE_STEP = 1 << 8


def _inflate_gzip(data: bytes, limit: int, path) -> tuple[bytes, _Stream]:
    """Inflate every gzip member of `data`, never producing more than `limit` bytes (AsiError
    beyond). Fast path: one bounded ISA-L (or zlib) call per member; on any error the member is
    decoded again by zlib in small pieces, keeping everything before the damage."""
    out: list[bytes] = []
    total, pos, n = 0, 0, len(data)
    state = _Stream()
    view = memoryview(data)
    while pos < n:
        if data[pos:pos + 2] != b"\x1f\x8b":
            if pos == 0:
                raise AsiError("not a gzip file (no gzip signature at byte 0)", path)
            if data[pos:].strip(b"\0"):  # zero padding after the last member is harmless
                state = _Stream("trailing", pos, None, "bytes after the last gzip member are not a gzip member")
            break
        room = limit - total
        piece, used, err = _inflate_member_fast(view[pos:], room)
        kind = "truncated" if err == _TRUNCATED else "corrupt"
        if err is not None and err != _TRUNCATED:
            piece, used, err, kind = _inflate_member_salvage(view[pos:], room)
        if len(piece) > room:
            raise AsiError(f"inflates to more than {limit} bytes (reading.max_file_mib)", path)
        out.append(piece)
        total += len(piece)
        if err is not None:
            state = _Stream(kind, pos + used, None, err)
            if kind == "corrupt" and used > 0:
                # Decision: frames lost after mid-stream damage are estimated from the size the
                # gzip trailer promises (a single-member file's last 4 bytes: inflated size mod
                # 2**32) when it agrees within a factor 2 with the compression ratio so far,
                # else from that ratio
                by_ratio = total - len(piece) + int(len(piece) * (n - pos) / used)
                isize = total - len(piece) + int.from_bytes(data[-4:], "little")
                state.expected_size = isize if by_ratio / 2 <= isize <= 2 * by_ratio else by_ratio
            break
        pos += used
    return b"".join(out), state


_TRUNCATED = "compressed stream ends before its end (truncated)"


def _inflate_member_fast(view: memoryview, room: int) -> tuple[bytes, int, str | None]:
    mod = _isal_zlib if _isal_zlib is not None else zlib
    d = mod.decompressobj(31)
    try:
        piece = d.decompress(view, room + 1)
    except Exception as err:  # noqa: BLE001 - isal and zlib raise different error classes
        return b"", 0, str(err)
    if len(piece) > room:
        return piece, len(view), None
    if not d.eof:
        return piece, len(view), _TRUNCATED
    return piece, len(view) - len(d.unused_data), None


def _inflate_member_salvage(view: memoryview, room: int) -> tuple[bytes, int, str | None, str]:
    """zlib in small pieces; on an error, the piece is retried in smaller steps from a copy of
    the decompressor so that only the bytes after the damage are lost. Returns (output,
    compressed bytes used, error or None, damage kind)."""
    d = zlib.decompressobj(31)
    out: list[bytes] = []
    total, off, n = 0, 0, len(view)
    while off < n and not d.eof:
        chunk = view[off:off + _SALVAGE_CHUNK]
        saved = d.copy()
        try:
            out.append(d.decompress(chunk, room - total + 1))
            total += len(out[-1])
            off += len(chunk)
        except zlib.error:
            d = saved  # the same piece again, a few bytes at a time, up to the damage
            end = off + len(chunk)
            while off < end and not d.eof:
                step = view[off:off + _SALVAGE_STEP]
                try:
                    out.append(d.decompress(step, room - total + 1))
                except zlib.error as err:
                    message = str(err)
                    check = "incorrect data check" in message or "incorrect length check" in message
                    return b"".join(out), off, message, "check" if check else "corrupt"
                total += len(out[-1])
                off += len(step)
                if total > room:
                    break
        if total > room:
            return b"".join(out), off, None, ""
    if not d.eof:
        return b"".join(out), n, _TRUNCATED, "truncated"
    return b"".join(out), off - len(d.unused_data), None, ""


def _inflate_bz2(data: bytes, limit: int, path) -> tuple[bytes, _Stream]:
    """bz2 members in 16 KiB pieces (bz2 checks a CRC per ~900 kB block: a damaged block and
    what follows are lost, what decoded before is kept)."""
    out: list[bytes] = []
    total, pos, n = 0, 0, len(data)
    state = _Stream()
    view = memoryview(data)
    while pos < n:
        if data[pos:pos + 3] != b"BZh":
            if pos == 0:
                raise AsiError("not a bz2 file (no bz2 signature at byte 0)", path)
            if data[pos:].strip(b"\0") != b"":
                state = _Stream("trailing", pos, None, "bytes after the last bz2 stream are not a bz2 stream")
            break
        d = bz2.BZ2Decompressor()
        off = pos
        while off < n and not d.eof:
            chunk = view[off:off + _SALVAGE_CHUNK]
            try:
                piece = d.decompress(chunk, limit - total + 1)
            except (OSError, EOFError, ValueError) as err:
                state = _Stream("corrupt", off, None, f"bz2: {one_line(err)}")
                return b"".join(out), state
            out.append(piece)
            total += len(piece)
            if total > limit:
                raise AsiError(f"inflates to more than {limit} bytes (reading.max_file_mib)", path)
            while not d.eof and not d.needs_input:  # output held back by the max_length bound
                piece = d.decompress(b"", limit - total + 1)
                out.append(piece)
                total += len(piece)
                if total > limit:
                    raise AsiError(f"inflates to more than {limit} bytes (reading.max_file_mib)", path)
            off += len(chunk)
        if not d.eof:
            state = _Stream("truncated", n, None, _TRUNCATED)
            break
        pos = off - len(d.unused_data)
    return b"".join(out), state


def _read_bounded(path: Path, limit: int, what: str) -> bytes:
    """The bytes of a file of at most `limit` bytes (else AsiError), read into a buffer of the
    file's own size (read_limited sizes its buffer by the limit it is given)."""
    size = checked_size(path, limit, AsiError, what, "reading.max_file_mib")
    return read_limited(path, size, AsiError, what, "reading.max_file_mib")


def _open_bytes(path: Path, limits: ReadingSettings) -> tuple[bytes, _Stream]:
    """The decompressed bytes of a raw file (bounded by reading.max_file_mib) and how its
    compressed stream decoded."""
    limit = _max_bytes(limits)
    name = path.name.lower()
    # no format inflates to less than it stores, so the compressed size has the same bound
    data = _read_bounded(path, limit, "raw file")
    if name.endswith(".gz"):
        return _inflate_gzip(data, limit, path)
    if name.endswith(".bz2"):
        return _inflate_bz2(data, limit, path)
    return data, _Stream()


# --- PGM frames ------------------------------------------------------------------------------

class _Header(NamedTuple):
    start: int
    meta: tuple[int, int]      # byte range of the comment lines before the dimensions
    meta2: tuple[int, int]     # comment lines between the dimensions and the maximum value
    width: int
    height: int
    maxval: int
    data_start: int


def _header_at(buf: bytes, pos: int, max_header: int) -> tuple[_Header | None, int]:
    """The frame header starting exactly at `pos`, or (None, where the next search may resume).

    Resuming past the comment lines is safe: a "P5" inside a comment line ends on that line, so
    a header starting there would parse the same lines that follow and fail the same way."""
    end = min(len(buf), pos + max_header)
    m = _MAGIC.match(buf, pos, end)
    if m is None:
        return None, pos + 1
    c1 = _COMMENTS.match(buf, m.end(), end)
    d = _DIMS.match(buf, c1.end(), end)
    if d is None:
        return None, max(c1.end(), pos + 1)
    c2 = _COMMENTS.match(buf, d.end(), end)
    mv = _MAXVAL.match(buf, c2.end(), end)
    if mv is None:
        return None, max(c2.end(), pos + 1)
    return _Header(pos, (m.end(), c1.end()), (d.end(), c2.end()), int(d.group(1)), int(d.group(2)),
                   int(mv.group(1)), mv.end()), mv.end()


class _Budget:
    """Failed header candidates a file may cost: as many as the frames it may hold (a real file
    has next to none: "P5\n" followed by a header's shape almost never occurs in pixel data), so
    a file of nothing but near-headers stops after a bounded number of Python steps."""

    def __init__(self, n: int):
        self.left = n


def _next_header(buf: bytes, start: int, max_header: int, budget: _Budget) -> _Header | None:
    """The first complete header at or after `start`; every byte is looked at a bounded number
    of times, and at most `budget` failed candidates are tried (None when it runs out)."""
    pos = start
    while budget.left > 0:
        m = _MAGIC.search(buf, pos)
        if m is None:
            return None
        hdr, resume = _header_at(buf, m.start(), max_header)
        if hdr is not None:
            return hdr
        budget.left -= 1
        pos = max(resume, m.start() + 1)
    return None


def _damaged_frame_between(buf: bytes, a: int, b: int, hdr: _Header, max_header: int) -> bool:
    """Whether buf[a:b] is a frame of `hdr`'s size whose header is garbled but whose dimension
    and maximum-value lines still end exactly one frame of pixel data before `b`."""
    nbytes = hdr.width * hdr.height * (2 if hdr.maxval > 255 else 1)
    s = b - nbytes
    tail = b"%d\n" % hdr.maxval
    if s - len(tail) <= a or buf[s - len(tail):s] != tail or s - a > nbytes + max_header:
        return False
    i = buf.rfind(b"\n", max(a, s - len(tail) - 64), s - len(tail) - 1)
    if i < 0:
        return False
    d = _DIMS.fullmatch(buf, i + 1, s - len(tail))
    return d is not None and (int(d.group(1)), int(d.group(2))) == (hdr.width, hdr.height)


def _record(hdr: _Header | None) -> int:
    """Header plus pixel bytes of the frame `hdr` starts (0 when unknown or implausible)."""
    if hdr is None or not (1 <= hdr.width <= 1 << 16 and 1 <= hdr.height <= 1 << 16):
        return 0
    return hdr.data_start - hdr.start + hdr.width * hdr.height * (2 if hdr.maxval > 255 else 1)


def _frames_in(nbytes: int, record: int) -> int:
    """How many frames of `record` bytes a skipped region of `nbytes` held (at least one)."""
    return max(1, round(nbytes / record)) if record > 0 else 1


def _parse_stamp(text: str) -> np.datetime64:
    m = _STAMP.match(text)
    if m is None:
        raise ValueError(text)
    return np.datetime64(f"{m.group(1)}T{m.group(2)}", "ns")


def _frame_metadata(buf: bytes, hdr: _Header) -> dict[str, str]:
    meta = {}
    for a, b in (hdr.meta, hdr.meta2):
        for k, v in _META.findall(buf, a, b):
            meta[k.decode("latin1")] = v.decode("latin1").strip()
    return meta


@dataclass
class _Parsed:
    starts: list[int]
    metas: list[dict[str, str]]
    times: list[np.datetime64]
    shape: tuple[int, int, int] | None
    errors: dict[str, int]
    file_metadata: dict[str, str]
    consumed: int              # end of the last frame whose extent was complete
    record_bytes: int          # header + pixel bytes of the last frame seen (for loss estimates)
    truncated_last: bool


def _scan_pgm(buf: bytes, limits: ReadingSettings, minute: np.datetime64 | None,
              ids: tuple[str, str] | None) -> _Parsed:
    errors = dict.fromkeys(FRAME_ERROR_KINDS, 0)
    max_header, side = limits.max_header_bytes, limits.max_frame_side_px
    slack = np.timedelta64(int(round(limits.frame_time_slack_s.to_value("s") * 1e9)), "ns")
    window = (minute - slack, minute + np.timedelta64(60, "s") + slack) if minute is not None else None
    n = len(buf)
    starts, metas, times = [], [], []
    file_meta: dict[str, str] = {}
    last_ids = dict(zip(_INHERITED_IDS, ids)) if ids else {}
    shape = None
    consumed, record, truncated_last = 0, 0, False
    budget = _Budget(limits.max_frames_per_file)
    hdr, _ = _header_at(buf, 0, max_header)
    if hdr is None and not _PADDING.match(buf, 0):
        hdr = _next_header(buf, 1, max_header, budget)
        errors["bad_header"] += _frames_in(hdr.start if hdr is not None else n, _record(hdr))
    seen, typical = 0, 0
    while hdr is not None:
        seen += 1
        if seen > limits.max_frames_per_file:
            raise AsiError(f"more than {limits.max_frames_per_file} frames (reading.max_frames_per_file)")
        w, h, maxval = hdr.width, hdr.height, hdr.maxval
        if not (1 <= w and 1 <= h and 1 <= maxval <= 65535):
            errors["bad_header"] += 1
            hdr = _next_header(buf, hdr.data_start, max_header, budget)
            continue
        if w > side or h > side:
            errors["too_large"] += 1
            hdr = _next_header(buf, hdr.data_start, max_header, budget)
            continue
        nbytes = w * h * (2 if maxval > 255 else 1)
        end = hdr.data_start + nbytes
        record = end - hdr.start
        status, nxt = "ok", None
        if end > n:
            nxt = _next_header(buf, hdr.data_start, max_header, budget)
            status = "length_mismatch" if nxt is not None else "truncated"
        elif end < n and not _PADDING.match(buf, end):
            nxt, _ = _header_at(buf, end, max_header)
            if nxt is None:  # no header where the pixel data end: resynchronise
                nxt = _next_header(buf, hdr.data_start, max_header, budget)
                if nxt is not None and _damaged_frame_between(buf, end, nxt.start, hdr, max_header):
                    # the bytes up to the next header are one frame of this size whose header is
                    # garbled: this frame's end is confirmed, that frame is the bad one
                    errors["bad_header"] += 1
                else:
                    status = "length_mismatch"
        meta = _frame_metadata(buf, hdr)
        for k, v in meta.items():
            file_meta.setdefault(k, v)
        for k in _INHERITED_IDS:
            if k in meta:
                last_ids[k] = meta[k]
            elif k in last_ids:
                meta[k] = last_ids[k]
        if status != "ok":
            # a region that could not be split into frames costs as many frames as it is long
            errors[status] += _frames_in((nxt.start if nxt is not None else n) - hdr.start, typical)
            truncated_last = status == "truncated"
            if status == "length_mismatch" and nxt is not None:
                consumed = nxt.start
            hdr = nxt
            continue
        consumed, typical = end, record
        hdr = nxt
        if shape is None:
            shape = (h, w, maxval)
        elif (h, w, maxval) != shape:
            errors["size_mismatch"] += 1
            continue
        stamp = meta.get("Image request start")
        if stamp is None:
            errors["no_timestamp"] += 1
            continue
        try:
            t = _parse_stamp(stamp)
        except (ValueError, OverflowError):
            errors["no_timestamp"] += 1
            continue
        if window is not None and not (window[0] <= t <= window[1]):
            errors["bad_time"] += 1
            continue
        starts.append(end - nbytes)
        metas.append(meta)
        times.append(t)
    return _Parsed(starts, metas, times, shape, errors, file_meta, consumed, record, truncated_last)


def parse_pgm_bytes(buf: bytes, path: str | os.PathLike = "<bytes>",
                    orientation: tuple[bool, bool] = (False, False), limits: ReadingSettings | None = None,
                    minute: np.datetime64 | None = None, ids: tuple[str, str] | None = None) -> Frames:
    """Split a decompressed PGM stream into frames; see the module docstring. `minute`: the
    file name's minute (frames far outside it are bad_time); `ids`: site and imager ids from the
    file name, for frames whose header leaves them out."""
    return _parse_pgm(buf, path, orientation, _limits(limits), minute, ids)[0]


def _parse_pgm(buf: bytes, path, orientation: tuple[bool, bool], limits: ReadingSettings,
               minute: np.datetime64 | None, ids: tuple[str, str] | None) -> tuple[Frames, _Parsed]:
    try:
        p = _scan_pgm(buf, limits, minute, ids)
    except AsiError as err:
        raise AsiError(err.message, path) from None
    if p.shape is None:
        h = w = 0
        dtype = np.dtype(">u2")
    else:
        h, w, maxval = p.shape
        dtype = np.dtype(">u2") if maxval > 255 else np.dtype("u1")
    nframe = len(p.starts)
    flip_rows, flip_cols = orientation
    if nframe:
        # one vectorised gather of all frames: a zero-copy sliding window over the buffer,
        # indexed at the frame data offsets, then one byte-swapping, orienting copy
        frame_bytes = h * w * dtype.itemsize
        window = np.lib.stride_tricks.sliding_window_view(np.frombuffer(buf, dtype=np.uint8), frame_bytes)
        pixels = window[np.asarray(p.starts)].view(dtype).reshape(nframe, h, w)
        images = np.empty((nframe, h, w), dtype=np.uint16 if dtype.itemsize == 2 else np.uint8)
        images[...] = pixels[:, ::-1 if flip_rows else 1, ::-1 if flip_cols else 1]
    else:
        images = np.zeros((0, h, w), dtype=np.uint16)
    time = np.array(p.times, dtype="datetime64[ns]") if p.times else np.zeros(0, "datetime64[ns]")
    exposure = np.array([_exposure_seconds(mm) for mm in p.metas], dtype=float)
    return Frames(images, time, exposure, p.metas, p.errors, [str(path)], p.file_metadata), p


def peek_metadata(path: str | os.PathLike, max_bytes: int = 1 << 16) -> dict[str, str]:
    """Header keys of the first frame of a PGM minute file, from at most `max_bytes` of the
    file (the index reads the camera serial number this way, without inflating the file).
    {} when the file is empty, unreadable or starts with no readable header."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(max_bytes)
    except OSError:
        return {}
    name = path.name.lower()
    try:
        if name.endswith(".gz"):
            head = zlib.decompressobj(wbits=31).decompress(head, max_bytes)
        elif name.endswith(".bz2"):
            head = bz2.BZ2Decompressor().decompress(head, max_bytes)
    except (OSError, EOFError, ValueError, zlib.error):
        return {}
    hdr, _ = _header_at(head, 0, max_bytes)
    return {} if hdr is None else _frame_metadata(head, hdr)


def _exposure_seconds(meta: dict[str, str]) -> float:
    """Decision: exposure = commanded MSEC of "Exposure options" (THEMIS/REGO/NIR/Blueline all
    write it); else TREx "Requested Exposure" (s); else NaN (L1 then uses the configured nominal).
    "Exposure plus (initial) readout" is not used: it includes readout and varies frame to frame."""
    for key in ("Exposure options", "Exposure Options"):
        if key in meta:
            m = _MSEC.search(meta[key])
            if m:
                v = float(m.group(1)) / 1000.0
                return v if v > 0 else float("nan")
    if "Requested Exposure" in meta:
        try:
            v = float(meta["Requested Exposure"].split()[0])
            return v if math.isfinite(v) and v > 0 else float("nan")
        except (ValueError, IndexError):
            pass
    return float("nan")


def read_pgm(path: str | os.PathLike, data: bytes | None = None, limits: ReadingSettings | None = None) -> Frames:
    """Read one PGM minute file (plain, .gz or .bz2) of THEMIS, REGO, TREx NIR or Blueline;
    `data` are its already decompressed bytes, if the caller has them."""
    path = Path(path)
    limits = _limits(limits)
    name = parse_filename(path)
    if name.instrument == "trex_rgb":
        raise AsiError("TREx RGB files are read with read_rgb", path)
    stream = _Stream()
    if data is None:
        data, stream = _open_bytes(path, limits)
    fr, scan = _parse_pgm(data, path, ORIENTATION[name.instrument], limits, name.start, (name.site, name.device))
    if stream.kind in ("corrupt", "truncated"):
        # Decision: frames after an undecodable point are counted as lost: as many as the
        # expected size still held (mid-stream damage, see _inflate_gzip), else one; the L1 step
        # raises the count to the instrument's nominal frames per minute where that says more
        lost = 1
        if stream.expected_size is not None and scan.record_bytes > 0:
            lost = max(1, math.ceil((stream.expected_size - scan.consumed) / scan.record_bytes))
        lost = min(lost, limits.max_frames_per_file)
        fr.errors["lost_in_damaged_stream"] += max(0, lost - int(scan.truncated_last))
    fr.stream_check_failed = stream.kind == "check"
    if stream.kind:
        fr.stream_damage = f"{stream.message} (compressed byte {stream.damaged_at})"
    return fr


def iter_raw(paths, threads: int = 1, limits: ReadingSettings | None = None, reader=None) -> Iterator:
    """`reader(path)` (default: read_raw) of each file in `paths`, in order. With `threads` > 1
    the files ahead of the one being consumed are read in that many threads, at most
    2 x `threads` files in flight so memory stays bounded; inflate, the numpy gathers and the
    calibration arithmetic release the GIL. An AsiError of one file is returned in its place
    (the caller counts it), so one unreadable file never stops the others."""
    from concurrent.futures import ThreadPoolExecutor
    paths = [Path(p) for p in paths]
    if reader is None:
        def reader(p):
            return read_raw(p, limits)

    def guarded(p):
        try:
            return reader(p)
        except AsiError as err:
            return err
    threads = max(1, int(threads))
    if threads == 1:
        for p in paths:
            yield guarded(p)
        return
    ahead = 2 * threads
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = {}
        for i in range(len(paths)):
            for j in range(i, min(i + ahead, len(paths))):
                if j not in futures:
                    futures[j] = pool.submit(guarded, paths[j])
            yield futures.pop(i).result()


# --- TREx RGB --------------------------------------------------------------------------------

def _png_frame_name(name: str) -> tuple[np.datetime64, dict[str, str]]:
    m = _PNG_NAME.match(Path(name).name)
    if not m:
        raise ValueError(name)
    date, hms, frac, site, device, exposure_ms, mode = m.groups()
    # Decision: the third field of RGB PNG names is the microsecond of the second, as
    # pyucalgarysrs reads it for both full and burst files (timestamps identical to theirs).
    t = np.datetime64(f"{date[:4]}-{date[4:6]}-{date[6:]}T{hms[:2]}:{hms[2:4]}:{hms[4:]}.{frac}", "ns")
    return t, {"Site unique ID": site, "Imager unique ID": device, "Mode unique ID": mode,
               "Exposure options": f"MSEC={float(exposure_ms):.3f}"}


def _decode_png(data: bytes, side: int) -> np.ndarray:
    """One PNG as (row, col, 3) uint8; its declared size is checked before any pixel is decoded."""
    from PIL import Image
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's own bomb warning: the size is checked here
        with Image.open(io.BytesIO(data)) as im:
            if im.format != "PNG":
                raise ValueError(f"not a PNG ({im.format})")
            w, h = im.size
            if not (1 <= w <= side and 1 <= h <= side):
                raise _TooLarge(f"{w}x{h}")
            return np.asarray(im.convert("RGB"))


class _TooLarge(ValueError):
    pass


def _h5_small_attrs(obj, max_bytes: int) -> dict[str, str]:
    out = {}
    for k in list(obj.attrs)[:256]:
        aid = obj.attrs.get_id(k)
        if aid.get_storage_size() > max_bytes:
            continue
        out[k] = _attr_str(obj.attrs[k])
    return out


def _read_rgb_h5(path: Path, limits: ReadingSettings, errors: dict[str, int]) -> Frames:
    import h5py
    side, max_frames, max_bytes = limits.max_frame_side_px, limits.max_frames_per_file, _max_bytes(limits)
    try:
        # the file size bounds every uncompressed object (strings, attributes); data/images,
        # the only one that may be compressed, is checked from its declared shape below
        size = path.stat().st_size
        if size > max_bytes:
            raise AsiError(f"file of {size} bytes (reading.max_file_mib)", path)
        with h5py.File(path, "r") as f:
            dset = f["data"]["images"]
            if not isinstance(dset, h5py.Dataset) or dset.ndim not in (3, 4) or dset.dtype.kind not in "ui":
                raise AsiError(f"data/images is not a (row, col, channel, frame) integer array: "
                               f"{getattr(dset, 'shape', None)} {getattr(dset, 'dtype', None)}", path)
            shape = dset.shape if dset.ndim == 4 else dset.shape[:2] + (1,) + dset.shape[2:]
            h, w, ch, nframe = shape
            if not (1 <= h <= side and 1 <= w <= side) or ch not in (1, 3):
                raise AsiError(f"data/images declares frames of {h}x{w}x{ch} (reading.max_frame_side_px "
                               f"{side}, 1 or 3 channels)", path)
            if nframe > max_frames:
                raise AsiError(f"data/images declares {nframe} frames (reading.max_frames_per_file)", path)
            if h * w * ch * nframe * dset.dtype.itemsize > max_bytes:
                raise AsiError(f"data/images declares more than {max_bytes} bytes (reading.max_file_mib)", path)
            stamps_ds = f["data"]["timestamp"]
            if not isinstance(stamps_ds, h5py.Dataset) or stamps_ds.shape != (nframe,) \
                    or stamps_ds.dtype.kind not in "SOU":
                raise AsiError(f"data/timestamp is not {nframe} strings", path)
            raw = dset[...]
            stamps = [s.decode("latin1") if isinstance(s, bytes) else str(s) for s in stamps_ds[...]]
            file_meta = _h5_small_attrs(f["metadata"]["file"], limits.max_header_bytes)
            frames = f["metadata"]["frame"] if "frame" in f["metadata"] else {}
            metas = []
            for i in range(nframe):
                meta = dict(file_meta)
                key = f"frame{i}"
                if key in frames:
                    meta.update(_h5_small_attrs(frames[key], limits.max_header_bytes))
                metas.append(meta)
    except AsiError:
        raise
    except Exception as err:  # noqa: BLE001 - h5py raises many types on a damaged file
        raise AsiError(f"cannot read RGB HDF5: {type(err).__name__}: {one_line(err)}", path) from None
    if raw.ndim == 3:
        raw = raw[:, :, np.newaxis]
    images = np.moveaxis(raw, 3, 0)[:, ::-1]  # Decision: rows flipped, as pyucalgarysrs
    times = []
    for s, meta in zip(stamps, metas):
        # Decision: the frame's own "image_request_start_timestamp" attribute, as pyucalgarysrs
        # takes it (data/read/__init__.py lines 864-868), else the data/timestamp entry
        s = meta.get("image_request_start_timestamp", s)
        try:
            times.append(_parse_stamp(s))
        except (ValueError, OverflowError):
            times.append(np.datetime64("NaT", "ns"))
    time = np.array(times, dtype="datetime64[ns]").reshape(-1)
    keep = ~np.isnat(time)
    errors["no_timestamp"] += int((~keep).sum())
    metas = [m for m, k in zip(metas, keep) if k]
    exposure = np.array([_rgb_exposure(m) for m in metas], dtype=float)
    return Frames(np.ascontiguousarray(images[keep]), time[keep], exposure, metas, errors, [str(path)],
                  dict(file_meta))


def _png_members(path: Path, limits: ReadingSettings, errors: dict[str, int]) -> list[tuple[str, bytes]]:
    """The PNG members of a .png.tar (sizes checked from the tar headers before reading)."""
    max_bytes, max_frames = _max_bytes(limits), limits.max_frames_per_file
    members, total = [], 0
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise AsiError(f"file of {size} bytes (reading.max_file_mib)", path)
        # plain or compressed tar, as pyucalgarysrs opens it (data/read/_trex_rgb.py line 421);
        # members are read through tarfile's streams, so a compressed one inflates only to its
        # declared, checked size
        with tarfile.open(path) as tf:
            infos = []
            for member in tf:  # streamed: the member list never exceeds the frame limit
                if len(infos) >= max_frames:
                    raise AsiError(f"more than {max_frames} members (reading.max_frames_per_file)", path)
                if member.isfile() and member.name.lower().endswith(".png"):
                    infos.append(member)
            for member in sorted(infos, key=lambda m: m.name):
                if member.size > max_bytes - total or member.issparse():
                    errors["too_large"] += 1
                    continue
                fh = tf.extractfile(member)
                data = fh.read(member.size + 1) if fh is not None else b""
                if len(data) != member.size:
                    errors["truncated"] += 1
                    continue
                total += len(data)
                members.append((member.name, data))
    except AsiError:
        raise
    except Exception as err:  # noqa: BLE001 - tarfile raises many types on a damaged archive
        if members:
            errors["truncated"] += 1
            return members
        raise AsiError(f"cannot read PNG tar: {type(err).__name__}: {one_line(err)}", path) from None
    return members


class _Hdf5Process:
    """HDF5 files are read in a child process, one at a time, with a time limit.

    Decision: the HDF5 library can loop forever on a damaged file (measured: a fuzzed byte in a
    variable-length string attribute of the RGB seed hung h5py's attribute read inside the C
    library, where no Python signal reaches), so the read runs in a persistent child process
    that is killed, and replaced for the next file, when it overruns reading.hdf5_timeout_s."""

    def __init__(self):
        import threading
        self._lock = threading.Lock()
        self._proc = self._conn = self._send = None

    def _start(self):
        # a fresh interpreter by `python -c` (not multiprocessing, which would re-run the
        # caller's main script in the child, e.g. a Snakemake job script), talking over pipes
        import subprocess
        import sys
        from multiprocessing.connection import Connection
        self._proc = subprocess.Popen(
            [sys.executable, "-c", "from levelpipe.asi.readers import _hdf5_child_main; _hdf5_child_main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._send = Connection(os.dup(self._proc.stdin.fileno()), readable=False)
        self._conn = Connection(os.dup(self._proc.stdout.fileno()), writable=False)
        self._proc.stdin.close()
        self._proc.stdout.close()

    def _stop(self):
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(5)
            for c in (self._send, self._conn):
                c.close()
        self._proc = self._conn = self._send = None

    def read(self, path: Path, limits: ReadingSettings) -> Frames:
        timeout = limits.hdf5_timeout_s.to_value("s")
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            try:
                self._send.send((str(path), limits.model_dump(mode="json")))
                ready = self._conn.poll(timeout)
                reply = self._conn.recv() if ready else None
            except (EOFError, OSError, BrokenPipeError) as err:
                self._stop()
                raise AsiError(f"HDF5 reader process failed ({type(err).__name__})", path) from None
            if reply is None:
                self._stop()
                raise AsiError(f"HDF5 library did not return within {timeout:g} s (reading.hdf5_timeout_s): "
                               "damaged file", path)
        status, payload = reply
        if status != "ok":
            raise AsiError(payload, path)
        return payload


def _hdf5_child_main() -> None:
    """The HDF5 reader process: (path, limits) in on stdin, ("ok", Frames) or ("error", one
    line) out on stdout (stdout is the reply pipe only: prints go to stderr)."""
    from multiprocessing.connection import Connection
    inbox, outbox = Connection(os.dup(0), writable=False), Connection(os.dup(1), readable=False)
    os.dup2(2, 1)
    while True:
        try:
            path, limits = inbox.recv()
        except (EOFError, OSError):
            return
        try:
            fr = _read_rgb_h5(Path(path), ReadingSettings(**limits), dict.fromkeys(FRAME_ERROR_KINDS, 0))
            reply = ("ok", fr)
        except AsiError as err:
            reply = ("error", err.message)
        except Exception as err:  # noqa: BLE001 - never let the child die on a file
            reply = ("error", f"cannot read RGB HDF5: {type(err).__name__}: {one_line(err)}")
        outbox.send(reply)


_HDF5 = _Hdf5Process()


def read_rgb(path: str | os.PathLike, limits: ReadingSettings | None = None) -> Frames:
    """Read a TREx RGB file: HDF5 minute file, single PNG frame, or a .png.tar of PNG frames.

    images: (n_frame, row, col, 3) uint8 (R, G, B)."""
    path = Path(path)
    limits = _limits(limits)
    errors = dict.fromkeys(FRAME_ERROR_KINDS, 0)
    name = path.name.lower()
    if name.endswith(".h5"):
        return _HDF5.read(path, limits)
    if name.endswith(".png.tar"):
        members = _png_members(path, limits, errors)
    elif name.endswith(".png"):
        members = [(path.name, _read_bounded(path, _max_bytes(limits), "PNG file"))]
    else:
        raise AsiError("not a TREx RGB file (.h5, .png, .png.tar)", path)
    images, times, metas = [], [], []
    for member_name, data in members:  # PNG decoding is per frame by nature of the format
        try:
            t, meta = _png_frame_name(member_name)
        except (ValueError, OverflowError):
            errors["no_timestamp"] += 1
            continue
        try:
            img = _decode_png(data, limits.max_frame_side_px)
        except _TooLarge:
            errors["too_large"] += 1
            continue
        except Exception:  # noqa: BLE001 - any decoder failure is one bad frame
            errors["bad_image"] += 1
            continue
        if images and img.shape != images[0].shape:
            errors["size_mismatch"] += 1
            continue
        images.append(img)
        times.append(t)
        metas.append(meta)
    stack = np.stack(images) if images else np.zeros((0, 0, 0, 3), np.uint8)
    if ORIENTATION["trex_rgb_png"][0]:
        stack = np.ascontiguousarray(stack[:, ::-1])
    exposure = np.array([_exposure_seconds(m) for m in metas], dtype=float)
    return Frames(stack, np.array(times, dtype="datetime64[ns]"), exposure, metas, errors, [str(path)],
                  dict(metas[0]) if metas else {})


def _attr_str(v) -> str:
    if isinstance(v, bytes):
        return v.decode("latin1")
    if isinstance(v, np.ndarray) and v.size == 1:
        v = v.item()
        return v.decode("latin1") if isinstance(v, bytes) else str(v)
    return str(v)


def _rgb_exposure(meta: dict[str, str]) -> float:
    for key in ("subframe_requested_exposure", "Subframe requested exposure"):
        if key in meta:
            try:
                v = float(meta[key].split()[0]) / 1000.0
                return v if math.isfinite(v) and v > 0 else float("nan")
            except (ValueError, IndexError):
                pass
    return _exposure_seconds(meta)


def read_raw(path: str | os.PathLike, limits: ReadingSettings | None = None) -> Frames:
    """Read any supported raw file, choosing the reader from the file name."""
    if parse_filename(path).instrument == "trex_rgb":
        return read_rgb(path, limits)
    return read_pgm(path, limits=limits)


def read_files(paths, expected_frames: int | None = None, limits: ReadingSettings | None = None) -> Frames:
    """Read several raw files of one site and imager (e.g. a site-hour) into one Frames.

    Files are read one at a time into a buffer preallocated for `expected_frames` (grown by
    doubling if exceeded), so peak memory is about one buffer plus one file. A file that cannot
    be read at all raises its AsiError (the L1 step counts such files instead).
    """
    paths = sorted(Path(p) for p in paths)
    if not paths:
        raise AsiError("no raw files given")
    buf = None
    times, exposures, metas, files = [], [], [], []
    errors = dict.fromkeys(FRAME_ERROR_KINDS, 0)
    file_meta: dict[str, str] = {}
    used = 0
    for p, fr in zip(paths, iter_raw(paths, limits=limits)):
        if isinstance(fr, AsiError):
            raise fr
        for k, v in fr.errors.items():
            errors[k] += v
        for k, v in fr.file_metadata.items():
            file_meta.setdefault(k, v)
        files.append(str(p))
        if fr.images.shape[0] == 0:
            continue
        if buf is None:
            cap = max(expected_frames or 0, fr.images.shape[0])
            buf = np.empty((cap,) + fr.images.shape[1:], dtype=fr.images.dtype)
        elif fr.images.shape[1:] != buf.shape[1:]:
            errors["size_mismatch"] += fr.images.shape[0]
            continue
        need = used + fr.images.shape[0]
        if need > buf.shape[0]:
            grown = np.empty((max(need, 2 * buf.shape[0]),) + buf.shape[1:], dtype=buf.dtype)
            grown[:used] = buf[:used]
            buf = grown
        buf[used:need] = fr.images
        used = need
        times.append(fr.time)
        exposures.append(fr.exposure_s)
        metas.extend(fr.metadata)
    if buf is None:
        raise AsiError("no readable frame in any file", paths[0])
    time = np.concatenate(times)
    order = np.argsort(time, kind="stable")
    images = buf[:used]
    if np.any(order != np.arange(used)):
        images = images[order]
    return Frames(images, time[order], np.concatenate(exposures)[order], [metas[i] for i in order],
                  errors, files, file_meta)
