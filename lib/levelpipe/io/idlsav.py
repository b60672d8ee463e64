"""The one IDL save (.sav) reader: scipy.io.readsav behind checks that keep hostile files out.

UCalgary skymaps and calibrations and the FOXSI peaks files are IDL save files, read by
``scipy.io.readsav`` (as pyucalgarysrs and pyaurorax read them). readsav follows each record's
"next record" offset without checking it, so a record that points at itself or backwards makes
it loop forever, and a compressed record may inflate to any size. ``read_sav`` first walks the
record chain the way readsav does (scipy/io/_idl.py: ``SR`` signature, record format
``00 04`` plain or ``00 06`` compressed, then records of rectype int32, next-record offset as two
big-endian uint32 (low, high), 4 unused bytes), and refuses the file unless every offset moves
forward inside the file and the chain ends with an END_MARKER record; for compressed files it
also bounds what the records inflate to. Only then is the file handed to readsav.
"""
from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

from levelpipe.errors import LevelpipeError
from levelpipe.io.files import read_limited

#: Record types scipy.io.readsav knows (scipy/io/_idl.py RECTYPE_DICT); 6 is END_MARKER.
KNOWN_RECTYPES = frozenset({0, 1, 2, 3, 4, 5, 6, 10, 12, 13, 14, 15, 16, 17, 19, 20})
_END_MARKER = 6
_HEADER = struct.Struct(">iIII")  # rectype, next offset low, next offset high, unused

#: Largest file and largest inflated content accepted (the real files are < 50 MB).
MAX_FILE_BYTES = 1 << 30
MAX_INFLATED_BYTES = 1 << 30


def check_records(data: bytes, path: str | os.PathLike = "<bytes>",
                  error: type[LevelpipeError] = LevelpipeError) -> int:
    """Walk the record chain of an IDL save file held in `data`; returns the number of records.
    Raises `error` naming the byte offset of the first record that would mislead readsav."""
    if len(data) < 4 or data[:2] != b"SR":
        raise error("not an IDL save file (no 'SR' signature)", path, "byte 0")
    fmt = data[2:4]
    if fmt not in (b"\x00\x04", b"\x00\x06"):
        raise error(f"unknown IDL save record format {fmt.hex()}", path, "byte 2")
    compressed = fmt == b"\x00\x06"
    pos, n, inflated = 4, 0, 0
    while True:
        if pos + _HEADER.size > len(data):
            raise error("file ends inside a record header (truncated)", path, f"byte {pos}")
        rectype, low, high, _ = _HEADER.unpack_from(data, pos)
        if rectype not in KNOWN_RECTYPES:
            raise error(f"unknown record type {rectype}", path, f"byte {pos}")
        n += 1
        if rectype == _END_MARKER:
            return n
        nxt = low + (high << 32)
        if nxt <= pos + _HEADER.size or nxt > len(data):
            raise error(f"record points to byte {nxt}, outside (pos, end of file]", path, f"byte {pos}")
        if compressed:
            d = zlib.decompressobj()
            try:
                inflated += len(d.decompress(data[pos + _HEADER.size:nxt], MAX_INFLATED_BYTES - inflated + 1))
            except zlib.error as err:
                raise error(f"compressed record does not inflate ({err})", path, f"byte {pos}") from None
            if inflated > MAX_INFLATED_BYTES:
                raise error(f"records inflate to more than {MAX_INFLATED_BYTES} bytes", path, f"byte {pos}")
        pos = nxt


def read_sav(path: str | os.PathLike, error: type[LevelpipeError] = LevelpipeError) -> dict[str, Any]:
    """The variables of an IDL save file as readsav returns them (``python_dict=True``); any
    problem is one `error` naming the file."""
    from scipy.io import readsav
    path = Path(path)
    data = read_limited(path, MAX_FILE_BYTES, error, "IDL save file")
    check_records(data, path, error)
    try:
        with warnings.catch_warnings():
            # legacy THEMIS skymaps make readsav warn about byte counts; the data are fine
            warnings.simplefilter("ignore")
            return readsav(str(path), python_dict=True)
    except Exception as err:  # noqa: BLE001 - any parse failure inside a third-party reader
        raise error(f"cannot read IDL save file ({type(err).__name__}: {err})", path) from None
