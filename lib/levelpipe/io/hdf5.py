"""Checks of HDF5 files (netCDF-4 products, HDF5 raw data) that libhdf5 itself does not make.

libhdf5 (1.14, as bundled with netCDF4 and h5py) loops forever on a global heap collection
(signature ``GCOL``) whose object walk does not advance: an object of index 0 (free space)
with size 0, or a size that wraps the offset around. Every netCDF-4 file has such a
collection (the ``DIMENSION_LIST`` attributes of dimension scales live there), so one damaged
byte in it made ``read_netcdf`` hang (found by ``levelpipe.fuzz``: 7 of 20,000 mutated
products). ``check_global_heaps`` walks each collection as libhdf5's loader does
(H5HGcache.c, ``H5HG__cache_heap_deserialize``) before the library is asked to.
"""
from __future__ import annotations

import mmap
import os
from pathlib import Path

from levelpipe.errors import LevelpipeError

_SIGNATURE = b"GCOL"
#: libhdf5 never writes a smaller collection (H5HG_MINSIZE); fewer false matches in raw data
_MIN_COLLECTION = 4096
_OBJECT_HEADER = 16  # index (2), reference count (2), reserved (4), size (8)
_WRAP = 1 << 64


def check_global_heaps(path: str | os.PathLike) -> None:
    """Raise LevelpipeError naming `path` if a global heap collection would not parse in finite time."""
    path = Path(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < _MIN_COLLECTION:
            return
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            pos = data.find(_SIGNATURE)
            while pos != -1:
                _check_collection(data, pos, path)
                pos = data.find(_SIGNATURE, pos + 1)


def _check_collection(data, pos: int, path: Path) -> None:
    if data[pos + 4:pos + 5] != b"\x01" or pos + 16 > len(data):
        return  # not a version-1 collection header: bytes that merely spell GCOL
    length = int.from_bytes(data[pos + 8:pos + 16], "little")
    if not _MIN_COLLECTION <= length <= len(data) - pos:
        return
    p, end = pos + 16, pos + length
    while p + _OBJECT_HEADER <= end:
        index = int.from_bytes(data[p:p + 2], "little")
        obj = int.from_bytes(data[p + 8:p + 16], "little")
        # the step libhdf5 takes, in its size_t arithmetic
        step = obj if index == 0 else _OBJECT_HEADER + (obj + 7) // 8 * 8
        if step % _WRAP == 0:
            raise LevelpipeError(f"damaged HDF5 global heap (object {index} of size {obj} at byte {p} "
                                 f"does not advance the heap walk)", path, f"byte {pos}")
        p += step
