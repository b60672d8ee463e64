"""Provenance: what went into a product, as digests a reader can check.

Products carry the levelpipe version, the SHA-256 of every input file and a digest of the
config section used; workflow rules carry `code_digest` of the code their step runs (its import
closure) in their params, so a library change reruns exactly the rules whose code it changes.
"""
from __future__ import annotations

import ast
import hashlib
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


_ROOT = Path(levelpipe.__file__).parent


def _module_file(name: str) -> Path | None:
    """The source file of a levelpipe module or package, without importing it."""
    if name != "levelpipe" and not name.startswith("levelpipe."):
        return None
    rel = Path(*name.split(".")[1:])
    for candidate in (_ROOT / rel / "__init__.py", (_ROOT / rel).with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, module: str) -> set[str]:
    """levelpipe modules `path` imports anywhere in its body (top level or inside functions)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)  # `from pkg import module`
    return {m for m in out if _module_file(m) is not None}


@lru_cache(maxsize=None)
def import_closure(*modules: str) -> tuple[Path, ...]:
    """Source files of `modules` and of every levelpipe module they import, transitively
    (package ``__init__`` files included: importing a module runs them)."""
    seen: dict[str, Path] = {}
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            raise ValueError(f"{name}: not a levelpipe module")
        seen[name] = path
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        todo.extend(_imports(path, name))
    return tuple(sorted(set(seen.values())))


@lru_cache(maxsize=None)
def code_digest(*modules: str, data: tuple[str, ...] = ()) -> str:
    """SHA-256 over the code a step runs: its modules' import closure within levelpipe, plus the
    package data files it reads (`data`: paths relative to the levelpipe package, globs allowed;
    e.g. its variables tables). A change elsewhere in the family does not change the digest,
    so it reruns only the steps whose code changed."""
    files = set(import_closure(*modules))
    for pattern in data:
        files.update(p for p in _ROOT.glob(pattern) if p.is_file())
    h = hashlib.sha256(levelpipe.__version__.encode())
    for f in sorted(files):
        h.update(f.relative_to(_ROOT).as_posix().encode() + b"\0")
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
