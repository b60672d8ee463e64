"""The one netCDF writer: xarray -> netCDF4 with CF-1.10 / ACDD-1.3 attributes and provenance.

Every product of every family goes through `write_netcdf`, so every file answers the same
questions the same way: what it is (title, summary, level), who made it with what
(levelpipe version, SHA-256 of each input, the config section and its digest), and how to read
each variable (units, long_name, standard_name where CF has one).

Reruns with the same inputs, config and code give byte-identical files, with or without
SOURCE_DATE_EPOCH: `date_created` is derived from the inputs (see `creation_date`), and `history`
carries the upstream products' lines plus one line naming the rule and function that made this
file (appended, never replaced: satpy's cf/attrs.py does the same).
"""
from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import xarray as xr

import levelpipe
from levelpipe.errors import LevelpipeError
from levelpipe.io.atomic import atomic_output
from levelpipe.io.hdf5 import check_global_heaps
from levelpipe.io.variables import ProductTable, apply_table
from levelpipe.provenance import canonical_json, config_digest, input_digests

CONVENTIONS = "CF-1.10, ACDD-1.3"
INSTITUTION = "levelpipe project"
_TIME_UNITS = "microseconds since 1970-01-01 00:00:00"
_NAT_FILL = np.iinfo(np.int64).min + 1


def _iso(t: _dt.datetime) -> str:
    return t.astimezone(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _product_attrs(path: Path) -> dict[str, str] | None:
    """`date_created` and `history` of a levelpipe netCDF product, None for any other file."""
    if path.suffix != ".nc":
        return None
    try:
        import netCDF4
        with netCDF4.Dataset(path) as nc:
            names = nc.ncattrs()
            if "levelpipe_version" not in names:
                return None
            return {k: str(nc.getncattr(k)) for k in ("date_created", "history") if k in names}
    except OSError:
        return None


def creation_date(inputs: Iterable[str | os.PathLike]) -> str:
    """`date_created` of a product made from `inputs`.

    Decision: SOURCE_DATE_EPOCH when set; otherwise the newest of the inputs' own dates: a
    levelpipe product's `date_created`, any other file's modification time. ACDD defines
    date_created as the date of this version of the values, and the same inputs give the same
    values, so a rerun gives the same date, the same bytes, and the same `input_sha256`
    downstream. With no inputs at all: the current time.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return _iso(_dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc))
    newest: str | None = None
    for p in map(Path, inputs):
        attrs = _product_attrs(p)
        if attrs and attrs.get("date_created"):
            when = attrs["date_created"]
        else:
            when = _iso(_dt.datetime.fromtimestamp(int(p.stat().st_mtime), _dt.timezone.utc))
        newest = max(newest or when, when)
    return newest or _iso(_dt.datetime.now(_dt.timezone.utc))


def _history(inputs: Iterable[str | os.PathLike], line: str) -> str:
    """The upstream products' history lines (in order, each once) followed by `line`."""
    lines: list[str] = []
    for p in sorted(map(Path, inputs)):
        for old in ((_product_attrs(p) or {}).get("history") or "").splitlines():
            if old and old not in lines:
                lines.append(old)
    return "\n".join([*lines, line])


def _check_cf_metadata(ds: xr.Dataset, path: Path) -> None:
    """Refuse to write a variable a reader could not interpret (no units and no flag meanings)."""
    for name, var in ds.variables.items():
        if var.dtype.kind in "OSU" or np.issubdtype(var.dtype, np.datetime64):
            continue
        a = var.attrs
        if "units" not in a and "flag_meanings" not in a and "flag_masks" not in a \
                and var.encoding.get("units") is None and name not in ds.dims:
            raise LevelpipeError(f"variable {name!r} has no units (use '1' for dimensionless)", path)
        if "long_name" not in a and "standard_name" not in a:
            raise LevelpipeError(f"variable {name!r} has no long_name", path)


def _time_bounds(ds: xr.Dataset) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in ("time",):
        if name in ds.coords and ds[name].size and np.issubdtype(ds[name].dtype, np.datetime64):
            t = ds[name].values
            t = t[~np.isnat(t)]
            if t.size:
                out["time_coverage_start"] = np.datetime_as_string(t.min(), unit="ms") + "Z"
                out["time_coverage_end"] = np.datetime_as_string(t.max(), unit="ms") + "Z"
    return out


def write_netcdf(
    ds: xr.Dataset,
    path: str | os.PathLike,
    *,
    title: str,
    summary: str,
    mission: str,
    level: str,
    inputs: Iterable[str | os.PathLike] = (),
    config: Mapping[str, Any] | None = None,
    references: str | None = None,
    extra_attrs: Mapping[str, Any] | None = None,
    table: ProductTable | None = None,
    history: str | None = None,
) -> Path:
    """Write `ds` to `path` atomically, adding CF/ACDD global attributes and provenance.

    `inputs` are the files the product was made from (their SHA-256 go in `input_sha256`);
    `config` is the config section the step used (stored verbatim and as a digest); `table`
    the product's variables table (``levelpipe.io.variables``), applied first; `history` what
    made the file (rule and function), appended to the inputs' history.
    """
    path = Path(path)
    inputs = [Path(p) for p in inputs]
    ds = apply_table(ds, table) if table is not None else ds.copy()
    _check_cf_metadata(ds, path)
    digests = input_digests(inputs)
    created = creation_date(inputs)
    made_by = f"{created} levelpipe {levelpipe.__version__}" + (f" {history}" if history else "")
    attrs: dict[str, Any] = {
        "Conventions": CONVENTIONS,
        "title": title,
        "summary": summary,
        "institution": INSTITUTION,
        "source": f"{mission} {level}",
        "project": mission,
        "processing_level": level,
        "product_version": levelpipe.__version__,
        "creator_name": "levelpipe",
        "creator_type": "group",
        "keywords": f"{mission}, {level}",
        "history": _history(inputs, f"{made_by}: {level} from {len(digests)} input file(s)"),
        "date_created": created,
        "levelpipe_version": levelpipe.__version__,
        "input_files": "\n".join(digests),
        "input_sha256": "\n".join(f"{k} {v}" for k, v in digests.items()),
        "config_digest": config_digest(config),
        "config_json": canonical_json(config or {}),
    }
    if references:
        attrs["references"] = references
    attrs.update(_time_bounds(ds))
    if extra_attrs:
        attrs.update(extra_attrs)
    ds.attrs = {**{k: v for k, v in ds.attrs.items() if k not in attrs}, **attrs}
    encoding: dict[str, dict[str, Any]] = {}
    for name in list(ds.variables):
        var = ds.variables[name]
        if np.issubdtype(var.dtype, np.datetime64) and var.size and np.isnat(var.values).all():
            # xarray cannot pick an epoch for an all-NaT time; write the CF-encoded fill directly.
            ds[name] = var.copy(data=np.full(var.shape, _NAT_FILL, dtype=np.int64))
            ds[name].attrs.update(units=_TIME_UNITS, calendar="standard",
                                  units_metadata="leap_seconds: none")
            encoding[name] = {"_FillValue": _NAT_FILL}
    for name, var in ds.variables.items():
        if name in encoding:  # all-NaT times, already encoded above
            continue
        enc: dict[str, Any] = {}
        if np.issubdtype(var.dtype, np.datetime64):
            enc.update(units=_TIME_UNITS, calendar="standard", dtype="int64")
            var.attrs.pop("units", None)
            # POSIX-style count: UTC labels without leap seconds (CF 1.11 units_metadata).
            var.attrs.setdefault("units_metadata", "leap_seconds: none")
        elif var.dtype.kind == "f":
            # Coordinate variables must not have missing values (CF 5), so no _FillValue for them.
            default = None if name in ds.dims else np.nan
            enc["_FillValue"] = var.encoding.get("_FillValue", default)
        elif var.dtype.kind in "iub":
            enc["_FillValue"] = var.encoding.get("_FillValue")
        if var.ndim >= 1 and var.size > 4096 and var.dtype.kind in "iuf":
            enc.update(zlib=True, complevel=1, shuffle=True)
        encoding[name] = enc
    with atomic_output(path) as tmp:
        ds.to_netcdf(tmp, format="NETCDF4", engine="netcdf4", encoding=encoding)
    return path


def read_netcdf(path: str | os.PathLike) -> xr.Dataset:
    """Open a levelpipe product fully into memory (products are small: a granule each)."""
    path = Path(path)
    if not path.exists():
        raise LevelpipeError("product not found", path)
    check_global_heaps(path)  # libhdf5 would loop forever on some damaged files
    try:
        with xr.open_dataset(path, engine="netcdf4") as ds:
            return ds.load()
    except MemoryError:
        raise
    except Exception as err:  # noqa: BLE001 - whatever netCDF/HDF5/xarray make of a damaged file
        # (OSError "NetCDF: HDF error", RuntimeError, AttributeError on a broken attribute,
        # ValueError from decoding; found by levelpipe.fuzz) is one line naming the file.
        raise LevelpipeError(f"not a readable netCDF product ({type(err).__name__}: "
                             f"{' '.join(str(err).split())[:200]})", path) from None
