"""Reading input files within the sizes their formats allow, with one-line errors.

Every reader first checks a file's size against the largest its format can hold (a limit from
the format or from config), so a hostile or damaged file never makes a reader allocate more
than that; an unreadable file is one error naming it, in the reader's family error type.
"""
from __future__ import annotations

import os
from pathlib import Path

from levelpipe.errors import LevelpipeError


def checked_size(path: str | os.PathLike, limit: int, error: type[LevelpipeError] = LevelpipeError,
                 what: str = "file", limit_name: str | None = None) -> int:
    """The size of `path` in bytes; `error` if it cannot be read or is larger than `limit`."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise error(f"cannot read {what} ({err.strerror})", path) from None
    if size > limit:
        raise error(f"{what} of {size} bytes (limit {limit}{', ' + limit_name if limit_name else ''})", path)
    return size


def read_limited(path: str | os.PathLike, limit: int, error: type[LevelpipeError] = LevelpipeError,
                 what: str = "file", limit_name: str | None = None) -> bytes:
    """The bytes of `path`, at most `limit` of them (else `error`)."""
    size = checked_size(path, limit, error, what, limit_name)
    try:
        with open(path, "rb") as f:
            # Why size + 1, not limit + 1: read(n) allocates n bytes up front, and limits are large
            data = f.read(size + 1)
    except OSError as err:
        raise error(f"cannot read {what} ({err.strerror})", path) from None
    if len(data) > size:  # grew since the stat: the rest could be anything, and beyond the limit
        raise error(f"{what} changed size while being read", path)
    return data


def read_text_limited(path: str | os.PathLike, limit: int, error: type[LevelpipeError] = LevelpipeError,
                      what: str = "text file", limit_name: str | None = None, encoding: str = "utf-8") -> str:
    """The text of `path` (`encoding`, strict), at most `limit` bytes of it (else `error`)."""
    data = read_limited(path, limit, error, what, limit_name)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        raise error(f"not {encoding} text", path, f"byte {err.start}") from None
