"""Readers for UCalgary all-sky-imager raw files: THEMIS, REGO, TREx NIR/Blueline (PGM) and TREx RGB.

PGM family (THEMIS, REGO, TREx NIR, TREx Blueline): a one-minute file (plain, .gz or .bz2) is a
concatenation of binary 16-bit big-endian PGM (P5) frames; each frame header carries the frame's
metadata as comment lines ``#"Key" value`` followed by ``<width> <height>`` and ``65535``.
File names are ``YYYYMMDD_HHMM_<site>_<device>_<mode>.pgm[.gz|.bz2]``.

TREx RGB: one-minute HDF5 files (``data/images`` shaped (height, width, channel, frame),
``data/timestamp`` strings, ``metadata/file`` and ``metadata/frame/frame<i>`` attributes), and
legacy PNG frames, single or in a ``.png.tar`` per minute, named
``YYYYMMDD_HHMMSS_<ffffff>_<site>_<device>_<exposure>ms_<mode>.png``.

Reads are whole-file and vectorised: a file is decompressed once, frame headers are located
with a regular expression (the only per-frame work is parsing the few-hundred-byte headers),
and all frames are gathered at once through a sliding-window view indexed at the frame offsets
into an (n_frame, row, col) array; the next files are read in threads meanwhile.
A frame that cannot be read (garbled header, truncated data, other size, no timestamp) is
skipped and counted by kind; the rest of the file is kept.

Orientation (Decision, pinned by tests/asi/test_readers_reference.py against pyucalgarysrs):
images are returned exactly as pyucalgarysrs returns them, i.e. rows flipped relative to file
order for every instrument (PGM families, RGB HDF5 and RGB PNG), columns flipped too for REGO.
Displayed with ``imshow(origin="lower")`` north is up and east is left (the sky seen from below). Skymaps and flatfields get the same flips (see skymap.py, calibration.py), so
image pixel [i, j] and skymap pixel [i, j] always look at the same direction.
"""
from __future__ import annotations

import bz2
import io
import os
import re
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from levelpipe.errors import AsiError

try:  # python-isal: the same gzip format, inflated by Intel ISA-L (optional, speed only)
    from isal import igzip as _igzip
except ImportError:  # pragma: no cover - zlib gives identical bytes, only slower
    _igzip = None

# Instrument family from the device id prefix in file names (themis19, rego-652, nir-216,
# blue-814, rgb-04).
INSTRUMENTS = {"themis": "themis", "rego": "rego", "nir": "trex_nir", "blue": "trex_blue", "rgb": "trex_rgb"}

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

FRAME_ERROR_KINDS = ("bad_header", "truncated", "size_mismatch", "no_timestamp", "bad_image")

_HEADER = re.compile(rb"P5\s*\n((?:#[^\n]*\n)*)\s*(\d+)\s+(\d+)\s*\n(?:#[^\n]*\n)*\s*(\d+)\n")
_META = re.compile(rb'#"([^"]*)"[ \t]*([^\n]*)')
_MSEC = re.compile(r"MSEC=([0-9.]+)", re.I)
_PGM_NAME = re.compile(r"^(\d{8})_(\d{4})_([a-z0-9]+)_([a-z]+)-?(\d*)_?([^.]*)\.pgm(?:\.gz|\.bz2)?$", re.I)
_PNG_NAME = re.compile(r"^(\d{8})_(\d{6})_(\d{6})_([a-z0-9]+)_([a-z]+-?\d*)_(\d+)ms_([^.]+)\.png(?:\.tar)?$", re.I)


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
        t = np.datetime64(f"{date[:4]}-{date[4:6]}-{date[6:]}T{hhmm[:2]}:{hhmm[2:]}", "ns")
    else:
        m = _PNG_NAME.match(name) or re.match(
            r"^(\d{8})_(\d{4})()_([a-z0-9]+)_([a-z]+-?\d*)_()(?:([^.]+))?\.h5$", name, re.I)
        if not m:
            raise AsiError("not a UCalgary ASI raw file name", path)
        date, hms, _frac, site, device, _exp, mode = m.groups()
        prefix = re.match(r"[a-z]+", device, re.I).group(0)
        hms = hms + "00" if len(hms) == 4 else hms
        t = np.datetime64(f"{date[:4]}-{date[4:6]}-{date[6:]}T{hms[:2]}:{hms[2:4]}", "ns")
    prefix = prefix.lower()
    if prefix not in INSTRUMENTS:
        raise AsiError(f"unknown imager family {prefix!r}", path)
    return FileName(t, site.lower(), device.lower(), INSTRUMENTS[prefix], mode or "")


@dataclass
class Frames:
    """Frames read from one or more raw files (one instrument, one site).

    images: (n_frame, row, col[, channel]) in the documented orientation, raw counts (uint16 for
    PGM, uint8 for RGB); time: datetime64[ns] UTC "Image request start" of each frame;
    exposure_s: commanded exposure in seconds (NaN when the file does not say);
    metadata: one dict of header keys per frame; errors: count of skipped frames by kind.
    """
    images: np.ndarray
    time: np.ndarray
    exposure_s: np.ndarray
    metadata: list[dict[str, str]]
    errors: dict[str, int] = field(default_factory=lambda: {k: 0 for k in FRAME_ERROR_KINDS})
    files: list[str] = field(default_factory=list)

    @property
    def n_bad(self) -> int:
        return int(sum(self.errors.values()))


def _open_bytes(path: Path) -> bytes:
    """The decompressed bytes of a raw file; a truncated/corrupt compressed tail is dropped
    (the frames before it are still good, and the reader counts the cut frame)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise AsiError(f"cannot open: {err}", path) from err
    name = path.name.lower()
    if name.endswith(".gz"):
        if _igzip is not None:
            try:  # fast path: ISA-L inflate (~1.6x zlib); any problem -> the tolerant path below
                return _igzip.decompress(data)
            except Exception:  # noqa: BLE001 - corrupt/truncated streams are handled below
                pass
        return _decompress_members(data, lambda: zlib.decompressobj(wbits=31))
    if name.endswith(".bz2"):
        return _decompress_members(data, bz2.BZ2Decompressor)
    return data


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
    m = _HEADER.match(head)
    if m is None:
        return {}
    return {k.decode("latin1"): v.decode("latin1").strip() for k, v in _META.findall(m.group(1))}


def _decompress_members(data: bytes, new_decompressor) -> bytes:
    """Decompress concatenated gzip/bz2 members, keeping everything up to a corrupt or
    truncated point instead of failing the whole file."""
    out = []
    while data:
        d = new_decompressor()
        try:
            out.append(d.decompress(data))
        except (OSError, EOFError, ValueError, zlib.error):
            break
        data = d.unused_data
        if not getattr(d, "eof", True):
            break  # truncated member: keep what was decompressed
    return b"".join(out)


def _exposure_seconds(meta: dict[str, str]) -> float:
    """Decision: exposure = commanded MSEC of "Exposure options" (THEMIS/REGO/NIR/Blueline all
    write it); else TREx "Requested Exposure" (s); else NaN (L1 then uses the configured nominal).
    "Exposure plus (initial) readout" is not used: it includes readout and varies frame to frame."""
    for key in ("Exposure options", "Exposure Options"):
        if key in meta:
            m = _MSEC.search(meta[key])
            if m:
                return float(m.group(1)) / 1000.0
    if "Requested Exposure" in meta:
        try:
            return float(meta["Requested Exposure"].split()[0])
        except (ValueError, IndexError):
            pass
    return float("nan")


def _to_datetime64(stamps: list[str]) -> np.ndarray:
    """'2014-03-10 06:00:00.063119 UTC' -> datetime64[ns]; unparseable -> NaT."""
    out = np.full(len(stamps), np.datetime64("NaT", "ns"))
    for i, s in enumerate(stamps):  # a string parse per frame header, not per pixel
        try:
            out[i] = np.datetime64(s.replace(" UTC", "").strip().replace(" ", "T"), "ns")
        except ValueError:
            pass
    return out


def parse_pgm_bytes(buf: bytes, path: str | os.PathLike = "<bytes>",
                    orientation: tuple[bool, bool] = (False, False)) -> Frames:
    """Split a decompressed PGM stream into frames; see module docstring."""
    errors = {k: 0 for k in FRAME_ERROR_KINDS}
    starts, metas = [], []
    shape = None
    pos, n = 0, len(buf)
    while pos < n:
        m = _HEADER.match(buf, pos)
        if m is None:
            if not buf[pos:].strip(b"\0\n \t"):
                break  # trailing padding
            errors["bad_header"] += 1
            nxt = buf.find(b"P5\n", pos + 1)
            if nxt < 0:
                break
            pos = nxt
            continue
        w, h, maxval = int(m.group(2)), int(m.group(3)), int(m.group(4))
        nbytes = w * h * (2 if maxval > 255 else 1)
        start = m.end()
        if start + nbytes > n:
            errors["truncated"] += 1
            break
        pos = start + nbytes
        if shape is None:
            shape = (h, w, maxval)
        if (h, w, maxval) != shape:
            errors["size_mismatch"] += 1
            continue
        meta = {k.decode("latin1"): v.decode("latin1").strip() for k, v in _META.findall(m.group(1))}
        if "Image request start" not in meta:
            errors["no_timestamp"] += 1
            continue
        starts.append(start)
        metas.append(meta)
    if shape is None:
        h = w = 0
        dtype = np.dtype(">u2")
    else:
        h, w, maxval = shape
        dtype = np.dtype(">u2") if maxval > 255 else np.dtype("u1")
    nframe = len(starts)
    flip_rows, flip_cols = orientation
    if nframe:
        # one vectorised gather of all frames: a zero-copy sliding window over the buffer,
        # indexed at the frame data offsets, then one byte-swapping, orienting copy
        frame_bytes = h * w * dtype.itemsize
        window = np.lib.stride_tricks.sliding_window_view(np.frombuffer(buf, dtype=np.uint8), frame_bytes)
        pixels = window[np.asarray(starts)].view(dtype).reshape(nframe, h, w)
        images = np.empty((nframe, h, w), dtype=np.uint16 if dtype.itemsize == 2 else np.uint8)
        images[...] = pixels[:, ::-1 if flip_rows else 1, ::-1 if flip_cols else 1]
    else:
        images = np.zeros((0, h, w), dtype=np.uint16)
    time = _to_datetime64([mm["Image request start"] for mm in metas])
    bad_time = np.isnat(time)
    if bad_time.any():
        errors["no_timestamp"] += int(bad_time.sum())
        keep = ~bad_time
        images, time = images[keep], time[keep]
        metas = [mm for mm, k in zip(metas, keep) if k]
    exposure = np.array([_exposure_seconds(mm) for mm in metas], dtype=float)
    return Frames(images, time, exposure, metas, errors, [str(path)])


def read_pgm(path: str | os.PathLike, data: bytes | None = None) -> Frames:
    """Read one PGM minute file (plain, .gz or .bz2) of THEMIS, REGO, TREx NIR or Blueline;
    `data` are its already decompressed bytes, if the caller has them."""
    path = Path(path)
    instrument = parse_filename(path).instrument
    if instrument == "trex_rgb":
        raise AsiError("TREx RGB files are read with read_rgb", path)
    return parse_pgm_bytes(_open_bytes(path) if data is None else data, path, ORIENTATION[instrument])


def iter_raw(paths, threads: int = 1) -> Iterator[Frames]:
    """Frames of each file in `paths`, in order. With `threads` > 1 the files ahead of the one
    being consumed are read (inflated and parsed) in that many threads, at most 2 x `threads`
    files in flight so memory stays bounded; zlib/ISA-L inflate and the numpy gathers release
    the GIL. The workflow passes the job's own thread count."""
    from concurrent.futures import ThreadPoolExecutor
    paths = [Path(p) for p in paths]
    threads = max(1, int(threads))
    if threads == 1:
        for p in paths:
            yield read_raw(p)
        return
    ahead = 2 * threads
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = {}
        for i in range(len(paths)):
            for j in range(i, min(i + ahead, len(paths))):
                if j not in futures:
                    futures[j] = pool.submit(read_raw, paths[j])
            yield futures.pop(i).result()


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


def _decode_png(data: bytes) -> np.ndarray:
    from PIL import Image
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def read_rgb(path: str | os.PathLike) -> Frames:
    """Read a TREx RGB file: HDF5 minute file, single PNG frame, or a .png.tar of PNG frames.

    images: (n_frame, row, col, 3) uint8 (R, G, B)."""
    path = Path(path)
    errors = {k: 0 for k in FRAME_ERROR_KINDS}
    name = path.name.lower()
    if name.endswith(".h5"):
        import h5py
        try:
            with h5py.File(path, "r") as f:
                raw = f["data"]["images"][...]  # (row, col, channel, frame)
                stamps = [s.decode() if isinstance(s, bytes) else str(s) for s in f["data"]["timestamp"][...]]
                file_meta = {k: _attr_str(v) for k, v in f["metadata"]["file"].attrs.items()}
                metas = []
                frames = f["metadata"]["frame"] if "frame" in f["metadata"] else {}
                for i in range(len(stamps)):
                    meta = dict(file_meta)
                    key = f"frame{i}"
                    if key in frames:
                        meta.update({k: _attr_str(v) for k, v in frames[key].attrs.items()})
                    metas.append(meta)
        except (OSError, KeyError) as err:
            raise AsiError(f"cannot read RGB HDF5: {err}", path) from err
        if raw.ndim == 3:
            raw = raw[..., np.newaxis]
        images = np.moveaxis(raw, 3, 0)[:, ::-1]  # Decision: rows flipped, as pyucalgarysrs
        time = _to_datetime64(stamps)
        keep = ~np.isnat(time)
        errors["no_timestamp"] += int((~keep).sum())
        metas = [m for m, k in zip(metas, keep) if k]
        exposure = np.array([_rgb_exposure(m) for m in metas], dtype=float)
        return Frames(np.ascontiguousarray(images[keep]), time[keep], exposure, metas, errors, [str(path)])
    members: list[tuple[str, bytes]] = []
    if name.endswith(".png.tar"):
        try:
            with tarfile.open(path) as tf:
                for member in sorted(tf.getmembers(), key=lambda m: m.name):
                    if member.isfile() and member.name.lower().endswith(".png"):
                        members.append((member.name, tf.extractfile(member).read()))
        except (OSError, tarfile.TarError) as err:
            raise AsiError(f"cannot read PNG tar: {err}", path) from err
    elif name.endswith(".png"):
        members.append((path.name, path.read_bytes()))
    else:
        raise AsiError("not a TREx RGB file (.h5, .png, .png.tar)", path)
    images, times, metas = [], [], []
    for member_name, data in members:  # PNG decoding is per frame by nature of the format
        try:
            t, meta = _png_frame_name(member_name)
        except ValueError:
            errors["no_timestamp"] += 1
            continue
        try:
            img = _decode_png(data)
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
    return Frames(stack, np.array(times, dtype="datetime64[ns]"), exposure, metas, errors, [str(path)])


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
                return float(meta[key].split()[0]) / 1000.0
            except (ValueError, IndexError):
                pass
    return _exposure_seconds(meta)


def read_raw(path: str | os.PathLike) -> Frames:
    """Read any supported raw file, choosing the reader from the file name."""
    return read_rgb(path) if parse_filename(path).instrument == "trex_rgb" else read_pgm(path)


def read_files(paths, expected_frames: int | None = None) -> Frames:
    """Read several raw files of one site and imager (e.g. a site-hour) into one Frames.

    Files are read one at a time into a buffer preallocated for `expected_frames` (grown by
    doubling if exceeded), so peak memory is about one buffer plus one file.
    """
    paths = sorted(Path(p) for p in paths)
    if not paths:
        raise AsiError("no raw files given")
    buf = None
    times, exposures, metas, files = [], [], [], []
    errors = {k: 0 for k in FRAME_ERROR_KINDS}
    used = 0
    for p, fr in zip(paths, iter_raw(paths)):
        for k, v in fr.errors.items():
            errors[k] += v
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
                  errors, files)
