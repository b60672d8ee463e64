"""Typed settings: one pydantic model per config file is the single source of truth.

Each family defines its settings as a model (``levelpipe.<family>.settings``). From that one
definition come

- the JSON schema in ``config/schemas/<family>.schema.yaml`` (written by
  ``levelpipe schema --write``; ``tests/test_settings.py`` fails when the committed file and the
  model drift apart), which editors and users read;
- the validated, typed object every step receives, in which a physical value is an astropy
  ``Quantity`` in the unit the model declares (``Unit("s")``), while the YAML keeps a plain
  number (its key name says the unit, e.g. ``nominal_exposure_s``);
- the plain dict that travels in Snakemake ``params`` and into each product's provenance
  (``Settings.section(...)``, numbers in the declared units again).

So no code re-checks what the model guarantees, and no test copies a config: tests load
``config/<family>.yaml`` through the model (``load_settings``).
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Mapping

import astropy.units as u
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import core_schema

from levelpipe.errors import ConfigError


_COMPARISONS = {"gt": (np.greater, ">"), "ge": (np.greater_equal, ">="), "lt": (np.less, "<"),
                "le": (np.less_equal, "<=")}


class Unit:
    """Annotation for a physical value: ``Annotated[u.Quantity, Unit("km", gt=0)]``.

    The config holds a number (or, with ``shape``, a list of numbers) in `unit`; the model holds
    an astropy Quantity in that unit. A Quantity given directly (tests, notebooks) is converted
    from any compatible unit; a bare number is taken to be in `unit` (that is what the YAML key
    name promises), a bool or a string is refused.
    """

    def __init__(self, unit: str, *, shape: tuple[int, ...] | None = None, gt: float | None = None,
                 ge: float | None = None, lt: float | None = None, le: float | None = None):
        self.unit_name = unit
        self.unit = u.Unit(unit)
        self.shape = shape
        self.bounds = {"gt": gt, "ge": ge, "lt": lt, "le": le}

    def _check_bounds(self, values: np.ndarray) -> None:
        for name, bound in self.bounds.items():
            op, symbol = _COMPARISONS[name]
            if bound is not None and not np.all(op(values, bound)):
                raise ValueError(f"must be {symbol} {bound} {self.unit_name}")

    def validate(self, value: Any) -> u.Quantity:
        if isinstance(value, u.Quantity):
            try:
                q = value.to(self.unit)
            except u.UnitConversionError as err:
                raise ValueError(f"expected a value in {self.unit_name}: {err}") from None
            q = u.Quantity(q, dtype=np.float64)
        else:
            items = value if self.shape is not None else [value]
            if not isinstance(items, (list, tuple)) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
                raise ValueError(f"expected {'a list of numbers' if self.shape else 'a number'} "
                                 f"(in {self.unit_name})")
            arr = np.asarray(items, dtype=np.float64)
            q = u.Quantity(arr if self.shape is not None else arr[0], self.unit)
        if self.shape is not None and q.shape != tuple(self.shape):
            raise ValueError(f"expected {self.shape[0]} values, got shape {q.shape}")
        if not np.all(np.isfinite(q.value)):
            raise ValueError("must be finite")
        self._check_bounds(q.value)
        return q

    def serialise(self, q: u.Quantity) -> Any:
        v = q.to_value(self.unit)
        return np.asarray(v).tolist() if self.shape is not None else float(v)

    def __get_pydantic_core_schema__(self, source, handler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.validate, serialization=core_schema.plain_serializer_function_ser_schema(self.serialise))

    def __get_pydantic_json_schema__(self, _core_schema, _handler) -> dict:
        number: dict[str, Any] = {"type": "number"}
        names = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}
        number.update({names[k]: v for k, v in self.bounds.items() if v is not None})
        if self.shape is None:
            return {**number, "x-unit": self.unit_name}
        return {"type": "array", "items": number, "minItems": self.shape[0], "maxItems": self.shape[0],
                "x-unit": self.unit_name}


class Settings(BaseModel):
    """Base of every settings model: unknown keys are errors, values are read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    def section(self, *names: str) -> dict[str, Any]:
        """The named top-level sections as plain JSON data (for params and provenance)."""
        dumped = self.model_dump(mode="json")
        return {n: dumped[n] for n in names}

    def plain(self) -> dict[str, Any]:
        """All the settings as plain JSON data, numbers in the units the model declares."""
        return self.model_dump(mode="json")


# ---------------------------------------------------------------- loading and errors

class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice (PyYAML keeps the last one,
    so a repeated section would silently replace the first)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:  # `[a]: 1` or `{a: 1}: 2`: PyYAML's own check comes after ours
                raise yaml.constructor.ConstructorError(None, None, "a key that is a list or a mapping",
                                                        key_node.start_mark) from None
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} given twice",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _reject_unsafe_yaml(text: str, path: Path) -> None:
    """What PyYAML would accept but a config never needs: aliases (alias bombs)."""
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, yaml.AliasToken):
            raise ConfigError("YAML aliases (*name) are not allowed in config files", path,
                              f"line {token.start_mark.line + 1}")


def _check_plain(value: Any, path: Path, where: str = "", depth: int = 0) -> None:
    if depth > 32:
        raise ConfigError("nested more than 32 levels deep", path, where or None)
    if isinstance(value, dict):
        for k, v in value.items():
            _check_plain(v, path, f"{where}.{k}" if where else str(k), depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_plain(v, path, f"{where}[{i}]", depth + 1)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2 ** 63:
        raise ConfigError("integer out of range", path, where or None)


def read_yaml(path: str | os.PathLike) -> Any:
    """A config YAML file as plain data, with one-line errors naming the file (and the line)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read ({err.strerror})", path) from None
    if len(raw) > 4 << 20:
        raise ConfigError(f"config file of {len(raw)} bytes (limit 4 MiB)", path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text (byte {err.start})", path) from None
    try:
        _reject_unsafe_yaml(text, path)
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        raise ConfigError(f"invalid YAML: {err.problem}", path, where) from None
    except (yaml.YAMLError, RecursionError, ValueError) as err:
        raise ConfigError(f"invalid YAML: {str(err).splitlines()[0] if str(err) else type(err).__name__}",
                          path) from None
    _check_plain(data, path)
    return data


def deep_merge(base: Mapping[str, Any] | None, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """`extra` merged over `base`, dict by dict. Strings in `extra` are read as YAML scalars,
    because Snakemake's ``--config`` leaves nested values as text ("5850")."""
    out = copy.deepcopy(dict(base or {}))
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            if isinstance(value, str):
                try:
                    value = yaml.safe_load(value)
                except yaml.YAMLError:
                    pass
            out[key] = value
    return out


def _location(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validate(model: type[Settings], data: Any, source: str | os.PathLike | None = None) -> Settings:
    """`data` validated into `model`; the first problem becomes a one-line ConfigError."""
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as err:
        first = err.errors()[0]
        where = _location(tuple(p for p in first["loc"] if not str(p).startswith("function-")))
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = "unknown key"
        elif isinstance(first.get("input"), (str, int, float, bool)) and first["type"] != "missing":
            msg += f" (got {first['input']!r:.60})"
        n = err.error_count()
        more = f" (and {n - 1} more problem{'s' if n > 2 else ''})" if n > 1 else ""
        raise ConfigError(msg + more, source, where or None) from None


def load_settings(model: type[Settings], path: str | os.PathLike,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read a config YAML, merge `overrides` over it and validate it into `model`."""
    return validate(model, deep_merge(read_yaml(path) or {}, overrides), path)


def json_schema(model: type[Settings], description: str | None = None) -> dict[str, Any]:
    """The JSON schema (draft 2020-12) of `model`, as committed in config/schemas/."""
    schema = model.model_json_schema(mode="validation")
    out = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    if description:
        out["description"] = description
    out.update(schema)
    return out


def schema_yaml(schema: Mapping[str, Any]) -> str:
    header = ("# Generated from the settings model by `levelpipe schema --write`; do not edit by hand:\n"
              "# change the model and regenerate (tests/test_settings.py checks they agree).\n")
    return header + yaml.safe_dump(schema, sort_keys=False, width=100, allow_unicode=True)
