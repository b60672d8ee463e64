"""Per-flight configuration files: load and validate against $defs/flight of the FOXSI schema."""
from __future__ import annotations

import os
from pathlib import Path

import jsonschema
import yaml

from levelpipe.errors import ConfigError


def load_flight_config(path: str | os.PathLike, schema_path: str | os.PathLike) -> dict:
    """The flight config in `path` (YAML), validated against `$defs/flight` of `schema_path`."""
    path = Path(path)
    try:
        flight = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read flight config ({err})", path) from err
    schema = yaml.safe_load(Path(schema_path).read_text())
    try:
        jsonschema.validate(flight, {"$ref": "#/$defs/flight", "$defs": schema["$defs"]})
    except jsonschema.ValidationError as err:
        where = "/".join(map(str, err.absolute_path)) or None
        raise ConfigError(err.message, path, where) from err
    if len(flight["altitude"]["time_s"]) != len(flight["altitude"]["altitude_km"]):
        raise ConfigError("altitude time_s and altitude_km differ in length", path, "altitude")
    return flight
