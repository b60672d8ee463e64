"""Provenance: what went into a product, as digests a reader can check.

Products carry the levelpipe version, the SHA-256 of every input file and a digest of the
config section used; workflow rules carry `code_digest` of the modules they run in their params,
so a library change reruns exactly the rules it affects.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import levelpipe

_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def canonical_json(obj: Any) -> str:
    """Key-sorted compact JSON: the same config always gives the same text and digest."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_digest(section: Mapping[str, Any] | None) -> str:
    return hashlib.sha256(canonical_json(section or {}).encode()).hexdigest()


@lru_cache(maxsize=None)
def code_digest(*packages: str) -> str:
    """SHA-256 over the source of the named levelpipe modules/packages (e.g. "levelpipe.timepix").

    A package contributes every .py file below it, in sorted order, so the digest changes
    exactly when code the rule runs changes. The shared core (io, errors, provenance) is always
    included because every product goes through it.
    """
    names = ("levelpipe.io", "levelpipe.errors", "levelpipe.provenance") + tuple(packages)
    h = hashlib.sha256(levelpipe.__version__.encode())
    for name in sorted(set(names)):
        mod = importlib.import_module(name)
        root = Path(mod.__file__)
        files = sorted(root.parent.rglob("*.py")) if root.name == "__init__.py" else [root]
        for f in files:
            h.update(str(f.relative_to(Path(levelpipe.__file__).parent)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def input_digests(paths: Iterable[str | os.PathLike]) -> dict[str, str]:
    """{file name: sha256} in sorted order.

    Names are relative to the directory the step runs in (for the workflow: its working
    directory, so `results/...` and `resources/...` read the same on every machine); a file
    outside it is named by its absolute path.
    """
    cwd = Path.cwd().resolve()
    out = {}
    for p in sorted(Path(p).resolve() for p in paths):
        try:
            name = p.relative_to(cwd).as_posix()
        except ValueError:
            name = p.as_posix()
        out[name] = sha256_file(p)
    return dict(sorted(out.items()))
