"""Write IDL SAVE (.sav) files, the format of UCalgary skymap and calibration files.

UCalgary distributes skymaps and flatfield/Rayleighs calibrations as IDL save files; the readers
(ours, pyucalgarysrs, pyaurorax) read them through `scipy.io.readsav`. SciPy has no writer, so the
simulator and the lens-model skymap generator use this one to produce files in the real format.

Supported: scalars (byte, int16, int32, int64, uint16, uint32, uint64, float32, float64,
string), numeric n-d arrays and (nested) single-element structures whose tags are any of these.
Records written: TIMESTAMP, VERSION, one VARIABLE per top-level name, END_MARKER; optionally
zlib-compressed per record (IDL's ``SAVE, /COMPRESS``, record format 6).

Layout (big-endian, every item aligned to 4 bytes): ``SR`` + record format, then records of
``rectype:int32, next_record_offset:uint64 split in two uint32, 4 reserved bytes, content``.
Array dimensions are stored in IDL (Fortran) order, i.e. reversed numpy order.
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from typing import Any, Mapping

import numpy as np

# IDL type codes by numpy dtype kind/size.
_TYPECODE = {
    np.dtype("uint8"): 1, np.dtype("int16"): 2, np.dtype("int32"): 3, np.dtype("float32"): 4,
    np.dtype("float64"): 5, np.dtype("uint16"): 12, np.dtype("uint32"): 13, np.dtype("int64"): 14,
    np.dtype("uint64"): 15,
}
_BIG = {1: ">u1", 2: ">i2", 3: ">i4", 4: ">f4", 5: ">f8", 12: ">u2", 13: ">u4", 14: ">i8", 15: ">u8"}
_REC_VARIABLE, _REC_END, _REC_TIMESTAMP, _REC_VERSION = 2, 6, 10, 14
_STRUCT = 8
_STRING = 7


class IdlStruct(dict):
    """An IDL structure: ordered tag name -> value; `name` is the IDL structure name."""

    def __init__(self, name: str, tags: Mapping[str, Any]):
        super().__init__(tags)
        self.name = name


def _pad(buf: io.BytesIO) -> None:
    pad = (-buf.tell()) % 4
    if pad:
        buf.write(b"\0" * pad)


def _long(buf: io.BytesIO, v: int) -> None:
    buf.write(struct.pack(">l", int(v)))


def _string(buf: io.BytesIO, s: str) -> None:
    b = s.encode("latin1")
    _long(buf, len(b))
    if b:
        buf.write(b)
        _pad(buf)


def _string_data(buf: io.BytesIO, s: str | bytes) -> None:
    b = s if isinstance(s, bytes) else s.encode("latin1")
    _long(buf, len(b))
    if b:
        _long(buf, len(b))
        buf.write(b)
        _pad(buf)


def _kind(value: Any) -> tuple[int, bool]:
    """(IDL type code, is_array) of a value."""
    if isinstance(value, IdlStruct):
        return _STRUCT, False
    if isinstance(value, (str, bytes)):
        return _STRING, False
    arr = np.asarray(value)
    dt = arr.dtype.newbyteorder("=") if arr.dtype.byteorder not in "=|" else arr.dtype
    if dt == np.dtype("bool"):
        dt = np.dtype("uint8")
    if dt not in _TYPECODE:
        raise TypeError(f"IDL save: unsupported dtype {arr.dtype}")
    return _TYPECODE[dt], arr.ndim > 0


def _nbytes_elem(code: int) -> int:
    return {1: 1, 2: 2, 3: 4, 4: 4, 5: 8, 12: 2, 13: 4, 14: 8, 15: 8, _STRING: 12, _STRUCT: 0}[code]


def _arraydesc(buf: io.BytesIO, shape: tuple[int, ...], elem_bytes: int) -> None:
    n = int(np.prod(shape)) if shape else 1
    dims = list(reversed(shape)) if shape else [1]
    _long(buf, 8)               # ARRSTART
    _long(buf, 2)               # reserved
    _long(buf, n * elem_bytes)  # nbytes
    _long(buf, n)               # nelements
    _long(buf, len(dims))       # ndims
    _long(buf, 0)
    _long(buf, 0)
    _long(buf, 8)               # nmax
    for d in dims + [1] * (8 - len(dims)):
        _long(buf, d)


def _struct_size(s: IdlStruct) -> int:
    total = 0
    for v in s.values():
        code, is_array = _kind(v)
        if code == _STRUCT:
            total += _struct_size(v)
        else:
            total += _nbytes_elem(code) * (np.asarray(v).size if is_array else 1)
    return total


def _structdesc(buf: io.BytesIO, s: IdlStruct) -> None:
    _long(buf, 9)               # STRUCTSTART
    _string(buf, s.name.upper())
    _long(buf, 0)               # not predefined: full definition follows
    _long(buf, len(s))
    _long(buf, _struct_size(s))
    offset = 0
    kinds = []
    for v in s.values():
        code, is_array = _kind(v)
        kinds.append((code, is_array))
        _long(buf, offset)
        _long(buf, code)
        # nested structures are flagged as (1-element) arrays of structures, as IDL does
        _long(buf, 36 if code == _STRUCT else (4 if is_array else 0))
        offset += _struct_size(v) if code == _STRUCT else _nbytes_elem(code) * (np.asarray(v).size if is_array else 1)
    for name in s:
        _string(buf, name.upper())
    for v, (code, is_array) in zip(s.values(), kinds):
        if code == _STRUCT:
            _arraydesc(buf, (1,), _struct_size(v))
        elif is_array:
            _arraydesc(buf, np.asarray(v).shape, _nbytes_elem(code))
    for v, (code, _) in zip(s.values(), kinds):
        if code == _STRUCT:
            _structdesc(buf, v)


def _write_value(buf: io.BytesIO, v: Any) -> None:
    code, is_array = _kind(v)
    if code == _STRUCT:
        for item in v.values():
            _write_value(buf, item)
        return
    if code == _STRING:
        _string_data(buf, v)
        return
    arr = np.asarray(v)
    if not is_array:
        if code == 1:
            _long(buf, 1)
            buf.write(struct.pack(">B", int(arr)) + b"\0\0\0")
        elif code in (2, 12):  # 2-byte scalars occupy 4 bytes, value in the last two
            buf.write(np.asarray(arr, dtype=">i4" if code == 2 else ">u4").tobytes())
        else:
            buf.write(np.asarray(arr, dtype=_BIG[code]).tobytes())
        return
    if code == 1:
        _long(buf, arr.size)
        buf.write(np.ascontiguousarray(arr, dtype=">u1").tobytes())
    elif code in (2, 12):  # 2-byte arrays are stored unpacked, one element per 4 bytes
        buf.write(np.ascontiguousarray(arr, dtype=">i4" if code == 2 else ">u4").tobytes())
    else:
        out = np.array(arr, dtype=_BIG[code])
        if code in (4, 5):
            # One NaN bit pattern (the positive quiet NaN): numpy's SIMD loops may return NaNs
            # of either sign, which made the same simulated skymap differ in bytes between
            # numpy builds (2.4.6 vs the one the bundle was first made with).
            out[np.isnan(out)] = np.nan
        buf.write(out.tobytes())
    _pad(buf)


def _variable_record(name: str, value: Any) -> bytes:
    buf = io.BytesIO()
    _string(buf, name.upper())
    code, is_array = _kind(value)
    if code == _STRUCT:
        _long(buf, _STRUCT)
        _long(buf, 0x34)  # array + structure flags, as IDL writes them
        _arraydesc(buf, (1,), _struct_size(value))
        _structdesc(buf, value)
    else:
        _long(buf, code)
        _long(buf, 4 if is_array else 0)
        if is_array:
            _arraydesc(buf, np.asarray(value).shape, _nbytes_elem(code))
    _long(buf, 7)  # VARSTART
    _write_value(buf, value)
    return buf.getvalue()


def _timestamp_record(date: str, user: str, host: str) -> bytes:
    buf = io.BytesIO()
    buf.write(b"\0" * (4 * 256))
    for s in (date, user, host):
        _string(buf, s)
    return buf.getvalue()


def _version_record() -> bytes:
    buf = io.BytesIO()
    _long(buf, 9)
    for s in ("x86_64", "linux", "8.8"):
        _string(buf, s)
    return buf.getvalue()


def write_sav(path: str | os.PathLike, variables: Mapping[str, Any], *, date: str,
              user: str = "levelpipe", host: str = "levelpipe", compress: bool = True) -> None:
    """Write `variables` (name -> value/IdlStruct) to an IDL save file at `path`.

    `date` goes into the TIMESTAMP record verbatim (e.g. "Thu May 03 12:01:05 2012"); passing it
    explicitly keeps the file byte-identical between runs.
    """
    records = [(_REC_TIMESTAMP, _timestamp_record(date, user, host)), (_REC_VERSION, _version_record())]
    records += [(_REC_VARIABLE, _variable_record(k, v)) for k, v in variables.items()]
    out = io.BytesIO()
    out.write(b"SR\x00\x06" if compress else b"SR\x00\x04")
    for rectype, content in records:
        if compress:
            content = zlib.compress(content, 9)
        nextrec = out.tell() + 16 + len(content)
        out.write(struct.pack(">lIII", rectype, nextrec % 2**32, nextrec // 2**32, 0))
        out.write(content)
    nextrec = out.tell() + 16
    out.write(struct.pack(">lIII", _REC_END, nextrec % 2**32, nextrec // 2**32, 0))
    with open(path, "wb") as f:
        f.write(out.getvalue())
