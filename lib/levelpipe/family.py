"""The family skeleton: what every data family implements, and the registry of families.

A family (``lib/levelpipe/<package>/family.py``, one ``FAMILY`` object) says

- its config key and settings model (``name``, ``settings_model``; config/<name>.yaml);
- how its raw tree becomes granules (``index``: one walk, returns a ``GranuleIndex`` whose
  granules list their files by role) and which roles a manifest may use;
- its steps (``steps``): one per level or product, each a writer ``write_<level>(ctx)`` that
  calls the pure ``<level>(...) -> xarray.Dataset`` of the same module and writes it through
  ``ctx.write`` (``levelpipe.steps``). A step names the settings sections it reads, the
  variables tables it writes, its threads and its measured memory.

``rules/<name>.smk`` holds the family's Snakemake rules; each rule runs ``scripts/run_step.py``
with ``params: step=PLAN["<name>"].params("<step>")``, so the rule, the step and the library
function are one line apart. ``REGISTRY`` below is the one list of families: it feeds the
known missions, the top-level config model (``missions``, ``inputs``, ``manifests`` keys) and the
rules files the Snakefile includes. A family is switched off by leaving it out of
``missions`` in config.yaml.

Nothing here imports Snakemake or the heavy scientific stack: the workflow imports this module
when it parses, in every process (on a cluster, twice per job).
"""
from __future__ import annotations

import importlib
import math
import os
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

from levelpipe.errors import ConfigError
from levelpipe.index import GRANULE_WILDCARD, FileCache, GranuleIndex, read_manifest
from levelpipe.settings import Settings

#: family name (the config key) -> module defining FAMILY
REGISTRY: dict[str, str] = {
    "vzlusat1": "levelpipe.timepix.family",
    "foxsi": "levelpipe.foxsi.family",
    "asi": "levelpipe.asi.family",
    "jets": "levelpipe.jets.family",
    "minxss": "levelpipe.minxss.family",
}


@lru_cache(maxsize=None)
def get_family(name: str) -> "Family":
    if name not in REGISTRY:
        raise ConfigError(f"unknown family {name!r} (known: {', '.join(REGISTRY)})")
    return importlib.import_module(REGISTRY[name]).FAMILY


def families() -> list["Family"]:
    return [get_family(n) for n in REGISTRY]


@dataclass(frozen=True)
class Step:
    """One step of a family: a Snakemake rule running one library writer.

    function: ``"module:function"`` taking a ``StepContext``. sections: the settings sections
    the step reads (their values go into params, so a change reruns exactly the steps that read
    it, and into the product's provenance). tables: the variables tables it writes.
    threads: the threads the step uses (it is given exactly this many, fewer if the machine has
    fewer). mem_mb, mem_mb_per_input_mb: peak memory measured in ``make bench``/job benchmarks,
    a fixed part and a part per MB of the granule's raw files (known from the index at planning,
    whatever level the step is: products grow with the raw data they come from).
    """

    rule: str
    function: str
    level: str
    sections: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    threads: int = 1
    mem_mb: int = 500
    mem_mb_per_input_mb: float = 0.0
    data: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        return self.function.partition(":")[0]

    def resolve(self) -> Callable:
        module, _, name = self.function.partition(":")
        return getattr(importlib.import_module(module), name)


class Family:
    """Base of every family; subclasses set the class attributes and implement `index`."""

    name: ClassVar[str]
    package: ClassVar[str]
    title: ClassVar[str]
    settings_model: ClassVar[type[Settings]]
    #: the granule wildcard (e.g. "site_hour") and what one granule is, in the field's words
    granule: ClassVar[str]
    granule_description: ClassVar[str]
    #: roles a granule's files can have, role -> description (manifest column `role`)
    roles: ClassVar[Mapping[str, str]]
    required_roles: ClassVar[tuple[str, ...]] = ()
    steps: ClassVar[Mapping[str, Step]]
    #: steps whose config depends on the granule (`step_config` narrows it); the others get
    #: one params dict for all their jobs, which keeps planning cheap
    per_granule_config: ClassVar[frozenset[str]] = frozenset()
    #: what the raw tree holds, for the error when it holds nothing of the family's layout
    layout: ClassVar[str]

    def index(self, root: Path, settings: Settings, cache: FileCache | None = None) -> GranuleIndex:
        """One walk of `root`; `cache` keeps what the walk learns inside files between runs."""
        raise NotImplementedError  # pragma: no cover - abstract

    def targets(self, plan: "Plan", result: Callable[..., str]) -> list[str]:  # pragma: no cover
        """The family's default products (what `rule all` asks for), as paths from `result`."""
        raise NotImplementedError

    def step_config(self, step: str, plain: Mapping[str, Any], granule: str | None) -> dict[str, Any]:
        """The config a step's job gets (params and provenance) from the plain settings
        (``Settings.plain()``): by default its sections; a family narrows it per granule where a
        section has per-granule parts. Called once per job at planning: keep it cheap."""
        return {s: plain[s] for s in self.steps[step].sections}

    @property
    def granule_pattern(self) -> str:
        return GRANULE_WILDCARD

    def __repr__(self) -> str:
        return f"<family {self.name}>"


class Plan:
    """A family as one run sees it: validated settings and the granule index, plus the helpers
    its rules use (input functions, params, threads, resources). Snakemake-free and testable."""

    def __init__(self, family: Family, settings: Settings | Callable[[], Settings], root: str | os.PathLike,
                 manifest: str | os.PathLike | None = None, code_digest: Callable[[Step], str] | None = None,
                 workflow_dir: str | os.PathLike | None = None, active: bool = True):
        self.family = family
        self.active = active  # in this run's missions: its settings are loaded when the rules parse
        self.workflow_dir = Path(workflow_dir) if workflow_dir is not None else None
        self._settings = settings
        self.root = Path(root)
        self.manifest = manifest
        self._code_digest = code_digest

    @cached_property
    def settings(self) -> Settings:
        """The family's validated settings (loaded on first use: a family that is not run never
        reads its config)."""
        return self._settings() if callable(self._settings) else self._settings

    @cached_property
    def index(self) -> GranuleIndex:
        if self.manifest:
            index = read_manifest(self.manifest, self.family.name, self.family.roles, self.family.required_roles)
        else:
            if not self.root.is_dir():
                raise ConfigError(f"{self.root}: not a directory", where=f"config inputs.{self.family.name}")
            import inspect
            if "cache" in inspect.signature(self.family.index).parameters:
                cache = FileCache(Path(".levelpipe") / "index-cache" / f"{self.family.name}.json")
                index = self.family.index(self.root, self.settings, cache=cache).sorted()
                cache.save()
            else:
                index = self.family.index(self.root, self.settings).sorted()
        if not index.granules:
            where = f"config manifests.{self.family.name}" if self.manifest else f"config inputs.{self.family.name}"
            refused = f" ({len(index.refused)} refused: {next(iter(index.refused.items()))})" if index.refused else ""
            raise ConfigError(f"{self.manifest or self.root}: no {self.family.layout} found{refused}", where=where)
        return index

    @property
    def granules(self) -> list[str]:
        return self.index.names

    def report_refused(self, index: GranuleIndex) -> None:
        """One warning line per refused granule (the run goes on with the others)."""
        import logging
        log = logging.getLogger("levelpipe")
        for name, reason in index.refused.items():
            log.warning("levelpipe %s: granule %r not processed: %s", self.family.name, name, reason)

    def derived(self, fn: Callable[["Plan"], Any]) -> Any:
        """`fn(plan)`, computed once per run: products made from several granules (ASI mosaics)
        and inputs that are not granules (the classifier's training set) are planned like this."""
        cache = self.__dict__.setdefault("_derived", {})
        if fn not in cache:
            cache[fn] = fn(self)
        return cache[fn]

    def files(self, *roles: str) -> Callable:
        """Input function: the granule's files of `roles` as named inputs (for ``unpack``)."""
        wildcard = self.family.granule

        def inputs(wildcards) -> dict[str, list[str]]:
            g = self.index[getattr(wildcards, wildcard)]
            return {r: g.get(r) for r in roles}
        return inputs

    def params(self, step: str) -> Callable | dict[str, Any]:
        """The step's params: what the job needs besides its files, and what reruns it when
        changed (the config it reads, the digest of the code it imports). A function of the
        wildcards only for steps whose config depends on the granule."""
        wildcard = self.family.granule

        def params(wildcards) -> dict[str, Any]:
            granule = getattr(wildcards, wildcard, None)
            return {"family": self.family.name, "step": step,
                    "config": self.family.step_config(step, self.plain, granule),
                    "code": self.code(step)}
        if step in self.family.per_granule_config or not self.active:
            return params
        return params(None)

    @cached_property
    def plain(self) -> dict[str, Any]:
        """The settings as plain data, dumped once per run (params are built from it per job)."""
        return self.settings.plain()

    def raw_mb(self, granule: str) -> float:
        """Size of a granule's raw files in MB (stat once per granule)."""
        cache = self.__dict__.setdefault("_raw_mb", {})
        if granule not in cache:
            total = 0
            for p in set(self.index[granule].all_files()):  # a file listed under several roles counts once
                try:
                    total += os.stat(p).st_size
                except OSError:
                    pass
            cache[granule] = total / 1e6
        return cache[granule]

    def code(self, step: str) -> str:
        return self._code_digest(self.family.steps[step]) if self._code_digest else ""

    def threads(self, step: str) -> int:
        return self.family.steps[step].threads

    def mem_mb(self, step: str) -> Callable | int:
        spec = self.family.steps[step]
        wildcard = self.family.granule
        if not spec.mem_mb_per_input_mb:
            return spec.mem_mb

        def mem_mb(wildcards) -> int:
            granule = getattr(wildcards, wildcard, None)
            size_mb = self.raw_mb(granule) if spec.mem_mb_per_input_mb and granule else 0.0
            return int(math.ceil(spec.mem_mb + spec.mem_mb_per_input_mb * size_mb))
        return mem_mb

