"""Running one step: what a writer receives (``StepContext``) and the one entry every rule uses.

Every rule's ``script:`` is ``scripts/run_step.py``, which calls ``run_snakemake(snakemake)``.
That sets up the job's log (``levelpipe.runlog.job_log``), builds the context from the rule's
input, output, params and threads, and calls the step's writer. A writer calls the level's
pure function and hands the dataset to ``ctx.write``, which applies the product's variables
table and writes it with provenance (inputs, config, history naming the rule and function).

``run_step`` does the same without Snakemake (tests, notebooks, other schedulers).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from pydantic import TypeAdapter

from levelpipe.errors import ConfigError
from levelpipe.family import Family, Step, get_family


class Files:
    """Named file lists (a rule's input or output): ``files["raw"]`` is a list,
    ``files.one("l1")`` the single file of a name, ``files.all`` every file in order."""

    def __init__(self, named: Mapping[str, Sequence[str] | str] | None = None,
                 positional: Iterable[str] = ()):
        self.named = {k: [v] if isinstance(v, (str, os.PathLike)) else [os.fspath(x) for x in v]
                      for k, v in (named or {}).items()}
        self.all = [os.fspath(p) for p in positional] or [p for ps in self.named.values() for p in ps]

    def __getitem__(self, name: str) -> list[str]:
        return self.named.get(name, [])

    def __contains__(self, name: str) -> bool:
        return bool(self.named.get(name))

    def one(self, name: str | None = None) -> str:
        paths = self.all if name is None else self[name]
        if len(paths) != 1:
            raise ConfigError(f"step expects exactly one {name or 'file'}, has {len(paths)}")
        return paths[0]

    def optional(self, name: str) -> str | None:
        paths = self[name]
        return paths[0] if paths else None

    @classmethod
    def from_snakemake(cls, namedlist) -> "Files":
        return cls(dict(namedlist.items()), list(namedlist))


class Sections:
    """The settings sections a step was given, each validated into its typed model."""

    def __init__(self, model, config: Mapping[str, Any]):
        fields = model.model_fields
        unknown = [k for k in config if k not in fields]
        if unknown:
            raise ConfigError(f"config section {unknown[0]!r} is not in {model.__name__}")
        self._values = {k: TypeAdapter(fields[k].annotation).validate_python(v) for k, v in config.items()}

    def __getattr__(self, name: str):
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(f"settings section {name!r} was not given to this step") from None


@dataclass
class StepContext:
    family: Family
    step: str
    inputs: Files
    outputs: Files
    config: dict[str, Any]
    wildcards: dict[str, str] = field(default_factory=dict)
    threads: int = 1
    rule: str | None = None

    @property
    def spec(self) -> Step:
        return self.family.steps[self.step]

    @property
    def settings(self) -> Sections:
        return Sections(self.family.settings_model, self.config)

    @property
    def granule(self) -> str | None:
        return self.wildcards.get(self.family.granule)

    def write(self, ds, path: str | os.PathLike, *, table: str, title: str, summary: str,
              inputs: Iterable[str | os.PathLike] | None = None, config: Mapping[str, Any] | None = None,
              references: str | None = None, extra_attrs: Mapping[str, Any] | None = None) -> Path:
        """Write a product of this step: its variables table applied, provenance from the step."""
        from levelpipe.io.netcdf import write_netcdf
        from levelpipe.io.variables import load_table
        if table not in self.spec.tables:
            raise ConfigError(f"step {self.step!r} does not declare table {table!r}")
        return write_netcdf(
            ds, path, title=title, summary=summary, mission=self.family.name, level=self.spec.level,
            inputs=self.inputs.all if inputs is None else inputs,
            config=self.config if config is None else config, references=references,
            extra_attrs=extra_attrs, table=load_table(self.family.package, table),
            history=f"{self.rule or self.spec.rule}: {self.spec.function}",
        )


def run_step(family: str, step: str, inputs: Files, outputs: Files, config: Mapping[str, Any],
             wildcards: Mapping[str, str] | None = None, threads: int = 1, rule: str | None = None) -> Any:
    fam = get_family(family)
    if step not in fam.steps:
        raise ConfigError(f"family {family!r} has no step {step!r}")
    ctx = StepContext(fam, step, inputs, outputs, dict(config), dict(wildcards or {}), int(threads), rule)
    return fam.steps[step].resolve()(ctx)


def run_snakemake(smk) -> None:
    """The body of scripts/run_step.py: run the step named in ``params.step`` for this job."""
    from levelpipe.runlog import job_log
    log = smk.log[0] if len(smk.log) else None
    with job_log(log, rule=smk.rule):
        p = smk.params.step
        run_step(p["family"], p["step"], Files.from_snakemake(smk.input), Files.from_snakemake(smk.output),
                 p["config"], dict(smk.wildcards.items()), smk.threads, smk.rule)
