"""What the workflow needs when Snakemake parses it: the validated run config and a `Plan` per
family (settings, granule index, rule helpers). Snakemake-free, so it is tested directly.

config/config.yaml is validated by ``RunConfig``, a model built from the family registry: its
``missions``, ``inputs``, ``manifests``, ``mission_config`` and ``overrides`` accept exactly the
registered family names. Each family's own YAML is validated by its settings model.
"""
from __future__ import annotations

import os
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, create_model, field_validator

from levelpipe.family import REGISTRY, Plan, Step, get_family
from levelpipe.provenance import code_digest
from levelpipe.settings import Settings, load_settings, validate


@lru_cache(maxsize=1)
def run_config_model() -> type[Settings]:
    """The model of config/config.yaml, from the registry (one source for the family names)."""
    name = Literal[tuple(REGISTRY)]  # type: ignore[valid-type]

    def unique(cls, missions):
        if len(set(missions)) != len(missions):
            raise ValueError("a mission is listed twice")
        return missions

    return create_model(
        "RunConfig", __base__=Settings,
        __validators__={"_unique": field_validator("missions")(classmethod(unique))},
        missions=(list[name], Field(description="families the run processes; leave one out to switch it off")),
        inputs=(dict[name, str], Field(description="raw-data directory per family, in its original layout "
                                                   "(relative paths: relative to where snakemake runs)")),
        manifests=(dict[name, str], Field(default_factory=dict, description=(
            "a granule manifest (levelpipe index <family> DIR) to use instead of walking the input directory"))),
        results=(str, Field(default="results", description="products go to <results>/<family>/<level>/")),
        logs=(str, Field(default="logs", description="job logs and benchmarks go to <logs>/<family>/<rule>/")),
        mission_config=(dict[name, str], Field(default_factory=dict, description=(
            "another YAML for a family's settings instead of config/<family>.yaml (workflow-relative)"))),
        overrides=(dict[name, dict[str, Any]], Field(default_factory=dict, description=(
            "values merged over a family's settings, e.g. {vzlusat1: {dose: {density_kg_m3: 5850}}}"))),
    )


def _package_dir(package: str) -> str:
    """levelpipe.asi -> asi (the package's folder below lib/levelpipe)."""
    return package.split(".", 1)[1].replace(".", "/")


def step_code_digest(step: Step, package: str) -> str:
    tables = tuple(f"{_package_dir(package)}/variables/{t}.yaml" for t in step.tables)
    data = tuple(f"{_package_dir(package)}/{d}" for d in step.data)
    return code_digest(step.module, data=tables + data)


class Run:
    """One run of the workflow: the validated config.yaml and a Plan per registered family."""

    def __init__(self, config: dict[str, Any], workflow_dir: str | os.PathLike):
        self.workflow_dir = Path(workflow_dir)
        self.config = validate(run_config_model(), config, "config.yaml (and --config/--configfile)")
        missing = [m for m in self.config.missions if m not in self.config.inputs and m not in self.config.manifests]
        if missing:
            from levelpipe.errors import ConfigError
            raise ConfigError(f"no directory given for mission {missing[0]!r}", where="config inputs")

    @property
    def missions(self) -> list[str]:
        return list(self.config.missions)

    def workflow_path(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        return path if path.is_absolute() else self.workflow_dir / path

    def settings(self, family: str) -> Settings:
        fam = get_family(family)
        path = self.workflow_path(self.config.mission_config.get(family, f"config/{family}.yaml"))
        return load_settings(fam.settings_model, path, self.config.overrides.get(family))

    @cached_property
    def plans(self) -> dict[str, Plan]:
        """A Plan for every registered family (inactive ones never load their settings or index)."""
        out = {}
        for name in REGISTRY:
            fam = get_family(name)
            manifest = self.config.manifests.get(name)
            out[name] = Plan(fam, lambda name=name: self.settings(name), self.config.inputs.get(name, ""),
                             manifest=manifest, workflow_dir=self.workflow_dir, active=name in self.missions,
                             code_digest=lambda step, pkg=fam.package: step_code_digest(step, pkg))
        return out

    def targets(self) -> list[str]:
        """Default products of every active family (what `rule all` asks for)."""
        return [t for m in self.missions for t in self.plans[m].family.targets(self.plans[m], self.result)]

    def result(self, family: str, *parts: str) -> str:
        return str(Path(self.config.results, family, *parts))

    def log(self, family: str, rule: str, granule: str = "all") -> str:
        return str(Path(self.config.logs, family, rule, f"{granule}.log"))

    def bench(self, family: str, rule: str, granule: str = "all") -> str:
        return str(Path(self.config.logs, family, rule, f"{granule}.benchmark.tsv"))
