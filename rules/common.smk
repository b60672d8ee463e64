# Shared helpers for every family's rules: mission config loading and validation, paths,
# code digests for reruns, and the registry of default targets that `rule all` collects.
import copy
from pathlib import Path

import yaml
from snakemake.utils import validate

from levelpipe.errors import ConfigError
from levelpipe.provenance import code_digest

WORKFLOW_DIR = Path(workflow.basedir)
KNOWN_MISSIONS = ("vzlusat1", "foxsi", "asi")
MISSIONS = list(config["missions"])
RESULTS = config.get("results", "results")
LOGS = config.get("logs", "logs")
ENV = "../envs/levelpipe.yaml"


def workflow_path(path):
    """Paths inside mission YAMLs (calibration tables, training sets) are workflow-relative."""
    path = Path(path)
    return path if path.is_absolute() else WORKFLOW_DIR / path


def _deep_merge(base, extra):
    out = copy.deepcopy(base)
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            # --config leaves nested values as text ("5850"); read them as YAML scalars.
            out[key] = yaml.safe_load(value) if isinstance(value, str) else value
    return out


def load_mission_config(mission):
    path = workflow_path(config.get("mission_config", {}).get(mission, f"config/{mission}.yaml"))
    with open(path) as f:
        section = yaml.safe_load(f) or {}
    section = _deep_merge(section, config.get("overrides", {}).get(mission))
    validate(section, str(WORKFLOW_DIR / "config" / "schemas" / f"{mission}.schema.yaml"))
    return section


def input_dir(mission):
    """The raw-data directory of a mission; a missing one stops the run with a clear message."""
    if mission not in config["inputs"]:
        raise ConfigError(f"no directory given for mission {mission!r}", where="config inputs")
    path = Path(config["inputs"][mission])
    if not path.is_dir():
        raise ConfigError(f"{path}: not a directory", where=f"config inputs.{mission}")
    return path


def require_granules(mission, granules, what):
    """An input directory in which nothing of the mission's layout is found is an error, not an
    empty run: the usual cause is a path pointing one level too high or too low."""
    if not granules:
        raise ConfigError(f"{input_dir(mission)}: no {what} found", where=f"config inputs.{mission}")
    return granules


def result(mission, *parts):
    return str(Path(RESULTS, mission, *parts))


def log(mission, rule, granule="all"):
    return str(Path(LOGS, mission, rule, f"{granule}.log"))


def bench(mission, rule, granule="all"):
    return str(Path(LOGS, mission, rule, f"{granule}.benchmark.tsv"))


MC = {m: load_mission_config(m) for m in MISSIONS}

# Each rules/<mission>.smk fills TARGETS[<mission>] with its default products.
TARGETS = {m: [] for m in KNOWN_MISSIONS}


def all_targets(wildcards):
    return [t for m in MISSIONS for t in TARGETS[m]]
