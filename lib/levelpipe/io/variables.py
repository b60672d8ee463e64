"""Product variables as data: one YAML table per family and product, applied by one CF helper.

A table (``lib/levelpipe/<family package>/variables/<product>.yaml``, validated by
``variables.schema.yaml`` beside this module) lists every variable of a product: dimensions,
dtype, fill value, units, long_name, standard_name, flag bits. The level functions build their
dataset with plain values; ``apply_table`` then

- refuses a variable the table does not list, and a listed one that is missing (unless
  ``optional``), so code and table cannot drift apart;
- checks the dimensions and casts to the declared dtype (never across kinds: a float is not
  silently truncated to an integer);
- sets ``units``, ``long_name``, ``standard_name``, ``flag_masks``/``flag_values`` +
  ``flag_meanings`` and the fixed ``attrs``, and the ``_FillValue`` encoding.

The same tables are the product catalogue (``levelpipe catalogue`` writes docs/PRODUCTS.md).

Counted bad input has one convention in every family (``bad_count_attrs``): global attributes
``<unit>_decoded``, ``bad_<unit>_<kind>`` for every kind the reader knows (zeros included) and
``bad_<unit>_total``, with ``<unit>`` the plural the format counts in (``frames``, ``packets``).
"""
from __future__ import annotations

import importlib.resources
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Mapping

import jsonschema
import numpy as np
import xarray as xr
import yaml

from levelpipe.errors import LevelpipeError

_SCHEMA_FILE = "variables.schema.yaml"


@dataclass(frozen=True)
class VariableSpec:
    name: str
    dims: tuple[str, ...]
    optional_dims: frozenset[str]
    dtype: str
    long_name: str
    units: tuple[str, ...] = ()
    standard_name: str | None = None
    fill: Any = "default"
    flag_masks: Mapping[str, int] = field(default_factory=dict)
    flag_values: Mapping[str, int] = field(default_factory=dict)
    coordinate: bool = False
    optional: bool = False
    comment: str | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def dims_match(self, dims: tuple[str, ...]) -> bool:
        i = 0
        for d in self.dims:
            if i < len(dims) and dims[i] == d:
                i += 1
            elif d not in self.optional_dims:
                return False
        return i == len(dims)


@dataclass(frozen=True)
class ProductTable:
    package: str
    product: str
    description: str
    path: str | None
    variables: Mapping[str, VariableSpec]
    attributes: Mapping[str, str]

    @property
    def name(self) -> str:
        return f"{self.package}/{self.product}"


@lru_cache(maxsize=1)
def _schema() -> dict:
    return yaml.safe_load(importlib.resources.files("levelpipe.io").joinpath(_SCHEMA_FILE).read_text())


def parse_table(data: Mapping[str, Any], package: str, source: str = "<table>") -> ProductTable:
    try:
        jsonschema.validate(data, _schema())
    except jsonschema.ValidationError as err:
        where = "/".join(map(str, err.absolute_path)) or None
        raise LevelpipeError(f"invalid variables table: {err.message}", source, where) from None
    variables = {}
    for name, v in data["variables"].items():
        for key in ("flag_masks",):
            bad = [m for m, bit in v.get(key, {}).items() if bit & (bit - 1)]
            if bad:
                raise LevelpipeError(f"flag mask of {bad[0]!r} is not a power of two", source, name)
        units = v.get("units", ())
        variables[name] = VariableSpec(
            name=name,
            dims=tuple(d.rstrip("?") for d in v["dims"]),
            optional_dims=frozenset(d.rstrip("?") for d in v["dims"] if d.endswith("?")),
            dtype=v["dtype"], long_name=v["long_name"],
            units=(units,) if isinstance(units, str) else tuple(units),
            standard_name=v.get("standard_name"),
            fill=v.get("fill", "default"),
            flag_masks=dict(v.get("flag_masks", {})), flag_values=dict(v.get("flag_values", {})),
            coordinate=bool(v.get("coordinate", False)), optional=bool(v.get("optional", False)),
            comment=v.get("comment"), attrs=dict(v.get("attrs", {})),
        )
        if not variables[name].units and v["dtype"] not in ("str", "datetime64[ns]") \
                and not (variables[name].flag_masks or variables[name].flag_values):
            raise LevelpipeError("a numeric variable needs units ('1' when dimensionless)", source, name)
    return ProductTable(package=package, product=data["product"], description=data["description"],
                        path=data.get("path"), variables=variables, attributes=dict(data.get("attributes", {})))


@lru_cache(maxsize=None)
def load_table(package: str, product: str) -> ProductTable:
    """The variables table `product` of a family package (e.g. ``load_table("levelpipe.asi", "l1")``)."""
    res = importlib.resources.files(package).joinpath("variables", f"{product}.yaml")
    try:
        text = res.read_text()
    except FileNotFoundError:
        raise LevelpipeError(f"no variables table {product!r}", f"{package}/variables") from None
    return parse_table(yaml.safe_load(text), package, f"{package}/variables/{product}.yaml")


def tables(package: str) -> list[ProductTable]:
    """Every variables table of a family package, in file-name order."""
    folder = importlib.resources.files(package).joinpath("variables")
    if not folder.is_dir():
        return []
    names = sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))
    return [load_table(package, n) for n in names]


def _numpy_dtype(name: str) -> np.dtype | None:
    return None if name == "str" else np.dtype(name)


def _cast(values: xr.Variable, spec: VariableSpec, where: str) -> xr.Variable:
    if spec.dtype == "str":
        if values.dtype.kind not in "OUS":
            raise LevelpipeError(f"variable {spec.name!r} is {values.dtype}, the table says str", where)
        return values
    want = np.dtype(spec.dtype)
    have = values.dtype
    if have == want:
        return values
    if have.kind != want.kind and not (have.kind in "iub" and want.kind in "iuf") \
            and not (have.kind == "b" and want.kind == "b"):
        raise LevelpipeError(f"variable {spec.name!r} is {have}, the table says {want}", where)
    if want.kind in "iu" and values.size:
        info = np.iinfo(want)
        lo, hi = values.data.min(), values.data.max()
        if lo < info.min or hi > info.max:
            raise LevelpipeError(f"variable {spec.name!r} has values {lo}..{hi}, outside {want}", where)
    return values.astype(want, copy=False)


def _flag_attrs(spec: VariableSpec, dtype: np.dtype) -> dict[str, Any]:
    if spec.flag_masks:
        return {"flag_masks": np.array(list(spec.flag_masks.values()), dtype=dtype),
                "flag_meanings": " ".join(spec.flag_masks)}
    if spec.flag_values:
        return {"flag_values": np.array(list(spec.flag_values.values()), dtype=dtype),
                "flag_meanings": " ".join(spec.flag_values)}
    return {}


def apply_table(ds: xr.Dataset, table: ProductTable) -> xr.Dataset:
    """`ds` checked against `table`, cast to its dtypes and given its CF attributes and fills."""
    where = table.name
    extra = [n for n in ds.variables if n not in table.variables]
    if extra:
        raise LevelpipeError(f"variable {extra[0]!r} is not in the variables table", where)
    missing = [n for n, s in table.variables.items() if not s.optional and n not in ds.variables]
    if missing:
        raise LevelpipeError(f"variable {missing[0]!r} of the variables table is missing", where)
    coords: dict[str, xr.Variable] = {}
    data: dict[str, xr.Variable] = {}
    for name in ds.variables:
        spec = table.variables[name]
        var = ds.variables[name]
        if not spec.dims_match(tuple(var.dims)):
            raise LevelpipeError(f"variable {name!r} has dims {tuple(var.dims)}, the table says "
                                 f"{spec.dims}", where)
        var = _cast(var, spec, where)
        attrs = dict(var.attrs)
        fixed: dict[str, Any] = {"long_name": spec.long_name}
        if spec.standard_name:
            fixed["standard_name"] = spec.standard_name
        if spec.comment:
            fixed["comment"] = spec.comment
        fixed.update(spec.attrs)
        if spec.units:
            if len(spec.units) == 1:
                fixed["units"] = spec.units[0]
            elif attrs.get("units") not in spec.units:
                raise LevelpipeError(f"variable {name!r} must set units to one of {list(spec.units)}, "
                                     f"has {attrs.get('units')!r}", where)
        fixed.update(_flag_attrs(spec, var.dtype))
        for key, value in fixed.items():
            if key in attrs and not _same(attrs[key], value):
                raise LevelpipeError(f"variable {name!r} sets {key}={attrs[key]!r}, the table says {value!r}",
                                     where)
            attrs[key] = value
        encoding = dict(var.encoding)
        if spec.fill != "default":
            encoding["_FillValue"] = _fill(spec, name, where)
        if "_FillValue" in attrs:  # a producer's own fill must be the table's
            own = attrs.pop("_FillValue")
            if not _same_fill(own, encoding.get("_FillValue", "default")):
                raise LevelpipeError(f"variable {name!r} sets _FillValue={own!r}, the table says "
                                     f"{encoding.get('_FillValue', 'none')!r}", where)
        var = var.copy(deep=False)
        var.attrs = attrs
        var.encoding = encoding
        (coords if name in ds.coords or spec.coordinate else data)[name] = var
    # one Dataset built at the end: assigning variables one by one costs O(n) each
    return xr.Dataset(data, coords=coords, attrs=ds.attrs)


def _fill(spec: VariableSpec, name: str, where: str):
    if spec.fill is None:
        return None
    if isinstance(spec.fill, str) or (isinstance(spec.fill, float) and math.isnan(spec.fill)):
        if np.dtype(spec.dtype).kind != "f":
            raise LevelpipeError(f"variable {name!r}: NaN fill for a {spec.dtype} variable", where)
        return np.nan
    dt = _numpy_dtype(spec.dtype)
    return dt.type(spec.fill) if dt is not None else spec.fill


def _same_fill(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return b != "default" and a == b


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a == b


def bad_count_attrs(unit: str, decoded: int, bad: Mapping[str, int],
                    kinds: Iterable[str] | None = None) -> dict[str, int]:
    """Global attributes for counted bad input: ``<unit>_decoded``, ``bad_<unit>_<kind>`` for every
    known kind (``kinds``, zeros included, so a reader sees which faults were looked for) and
    ``bad_<unit>_total``. `unit` is the plural the format counts in: "frames", "packets"."""
    names = list(kinds) if kinds is not None else list(bad)
    unknown = set(bad) - set(names)
    if unknown:
        raise ValueError(f"bad-{unit} kinds {sorted(unknown)} not among {names}")
    out = {f"{unit}_decoded": int(decoded)}
    out.update({f"bad_{unit}_{k}": int(bad.get(k, 0)) for k in names})
    out[f"bad_{unit}_total"] = int(sum(bad.values()))
    return out
