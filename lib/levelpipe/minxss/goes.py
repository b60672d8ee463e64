"""GOES XRS one-minute fluxes from NOAA NCEI science-quality netCDF files (research notes §13).

Files ``sci_xrsf-l2-avg1m_g<NN>_d<YYYYMMDD>_*.nc`` (GOES-13/14/15 v1, GOES-16+ v2) hold
``xrsa_flux`` and ``xrsb_flux`` (W m-2, fill -9999), ``xrsa_flag``/``xrsb_flag`` and ``time``
(seconds since 2000-01-01 12:00:00). Their fluxes have NOAA's old SWPC factors removed (§13).

Decision: a sample is used when its flag has none of the bits GOES 1-15 call bad (1), eclipse
(2) and temperature recovery (4) — electron-correction bits (8-64) describe the correction and
are kept; for GOES-R files, whose bits mean 1 eclipse and 2 bad data (§13), mask 3. Both masks
are constants of the file formats, not choices, so they live here.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from levelpipe.errors import LevelpipeError
from levelpipe.io.files import checked_size
from levelpipe.io.hdf5 import check_global_heaps
from levelpipe.minxss.errors import MinxssError

NAME = re.compile(r"^sci_xrsf-l2-avg1m_g(\d{2})_d(\d{8})_.*\.nc$")
FILL = -9999.0
#: §13 flag bits that make a sample unusable, by file generation
BAD_FLAGS_GOES_1_15 = 1 | 2 | 4
BAD_FLAGS_GOES_R = 1 | 2
_MAX_BYTES = 256 << 20


@dataclass
class GoesSeries:
    time: np.ndarray      # datetime64[ns] UTC, ascending
    xrsa: np.ndarray      # W m-2, NaN where unusable
    xrsb: np.ndarray
    satellite: str
    files: list[str]


def parse_name(name: str) -> tuple[int, str] | None:
    m = NAME.match(name)
    return (int(m.group(1)), m.group(2)) if m else None


def read_goes(paths: list[str | os.PathLike]) -> GoesSeries:
    """One satellite's one-minute series from its daily files (concatenated, sorted)."""
    import netCDF4

    times, a, b, sats = [], [], [], set()
    for p in map(Path, paths):
        info = parse_name(p.name)
        if info is None:
            raise MinxssError("not a GOES XRS one-minute science file name", p)
        sats.add(info[0])
        checked_size(p, _MAX_BYTES, MinxssError, "GOES file")
        try:
            check_global_heaps(p)  # libhdf5 would loop forever on some damaged files
        except LevelpipeError as err:  # the family's error type, same file, place and message
            raise MinxssError(err.message, err.path, err.where) from None
        try:
            with netCDF4.Dataset(p) as nc:
                nc.set_auto_mask(False)
                units = nc["time"].units
                if not units.startswith("seconds since 2000-01-01 12:00:00"):
                    raise MinxssError(f"unexpected time units {units!r}", p, "time")
                t = np.asarray(nc["time"][:], dtype=np.float64)
                mask = BAD_FLAGS_GOES_1_15 if info[0] <= 15 else BAD_FLAGS_GOES_R
                for name, out in (("xrsa", a), ("xrsb", b)):
                    flux = np.asarray(nc[f"{name}_flux"][:], dtype=np.float64)
                    flag = np.asarray(nc[f"{name}_flag"][:]).astype(np.int64) if f"{name}_flag" in nc.variables \
                        else np.zeros(flux.shape, dtype=np.int64)
                    bad = (flux <= FILL + 1) | ~np.isfinite(flux) | ((flag & mask) != 0)
                    out.append(np.where(bad, np.nan, flux))
        except (OSError, RuntimeError, KeyError, IndexError, ValueError, AttributeError, TypeError) as err:
            raise MinxssError(f"cannot read GOES XRS file ({err})", p) from None
        epoch = np.datetime64("2000-01-01T12:00:00", "ns")
        times.append(epoch + np.round(t * 1e9).astype(np.int64).astype("timedelta64[ns]"))
    if len(sats) > 1:
        raise MinxssError(f"GOES files of several satellites given together: {sorted(sats)}", paths[0])
    if not times:
        return GoesSeries(np.empty(0, "datetime64[ns]"), np.empty(0), np.empty(0), "", [])
    t = np.concatenate(times)
    order = np.argsort(t, kind="stable")
    return GoesSeries(t[order], np.concatenate(a)[order], np.concatenate(b)[order], f"GOES-{sats.pop()}",
                      [str(p) for p in paths])
