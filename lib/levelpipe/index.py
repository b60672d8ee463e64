"""The granule index: which granules a family's raw tree holds, and exactly which files each uses.

A family builds its index once per run from one walk of its input directory
(``Family.index``); every rule's input function looks granules up in it, and no job searches
the archive. The index can be written as a manifest (``levelpipe index <family> DIR``), a TSV a
user can read and edit (drop a granule, pin another skymap) and give back to the workflow with
``manifests: {<family>: FILE}`` in the config.

Manifest format (tab-separated, ``#`` lines are comments)::

    # levelpipe granule index
    # family: asi
    # root: /data/ucalgary
    granule	role	path
    themis_gill_themis19_20140310_ut06	raw	THEMIS/asi/stream0/2014/03/10/gill_themis19/ut06/...
    themis_gill_themis19_20140310_ut06	skymap	THEMIS/asi/skymaps/gill/gill_20140101/...

``path`` is relative to ``root`` unless absolute. One row per file; a granule's rows with the
same role keep their order.
"""
from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from levelpipe.errors import ConfigError

#: A granule name becomes a wildcard value and part of file paths: path components of letters,
#: digits and ``_-+=,@.``, none starting with a dot, joined by ``/`` (nested archive folders).
_COMPONENT = r"[A-Za-z0-9_+=,@-][A-Za-z0-9_+=,@.-]*"
GRANULE_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
#: The same as a Snakemake wildcard constraint (matched against whole path segments).
GRANULE_WILDCARD = rf"{_COMPONENT}(?:/{_COMPONENT})*"


def check_granule_name(name: str) -> str | None:
    """Why `name` cannot be a granule name, or None when it can."""
    if not name:
        return "empty granule name"
    if len(name) > 200:
        return "granule name longer than 200 characters"
    if not GRANULE_NAME.match(name):
        bad = sorted({c for c in name if not re.match(r"[A-Za-z0-9_+=,@./-]", c)})
        if bad:
            return f"granule name has characters a path or wildcard cannot carry: {' '.join(map(repr, bad))}"
        return "granule name has an empty, '.' or '..' path component or one starting with '.'"
    return None


@dataclass(frozen=True)
class Granule:
    """One unit of work: its name and its files by role (e.g. raw, skymap, flatfield)."""

    name: str
    files: Mapping[str, tuple[str, ...]]

    def get(self, role: str) -> list[str]:
        return list(self.files.get(role, ()))

    def one(self, role: str) -> str | None:
        paths = self.files.get(role, ())
        return paths[0] if paths else None

    def all_files(self) -> list[str]:
        return [p for paths in self.files.values() for p in paths]


@dataclass
class GranuleIndex:
    """The granules of one family's input tree.

    `refused` holds names that were found but cannot be processed (name -> one-line reason);
    they are reported, never silently dropped, and never stop the other granules.
    """

    family: str
    root: str
    granules: dict[str, Granule] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.granules)

    def __contains__(self, name: str) -> bool:
        return name in self.granules

    def __getitem__(self, name: str) -> Granule:
        try:
            return self.granules[name]
        except KeyError:
            raise ConfigError(f"no granule {name!r} in the {self.family} index", self.root) from None

    @property
    def names(self) -> list[str]:
        return list(self.granules)

    def add(self, name: str, files: Mapping[str, Iterable[str | os.PathLike]]) -> None:
        """Add a granule; an unusable name or a repeated one goes to `refused` instead."""
        reason = check_granule_name(name)
        if reason is None and name in self.granules:
            reason = "granule name given twice"
        if reason:
            self.refused[name] = reason
            return
        self.granules[name] = Granule(name, {r: tuple(os.fspath(p) for p in ps) for r, ps in files.items()
                                             if ps})

    def refuse(self, name: str, reason: str) -> None:
        self.granules.pop(name, None)
        self.refused[name] = reason

    def sorted(self) -> "GranuleIndex":
        return GranuleIndex(self.family, self.root, dict(sorted(self.granules.items())),
                            dict(sorted(self.refused.items())))

    # ------------------------------------------------------------- manifest

    def to_tsv(self) -> str:
        root = Path(self.root)
        buf = io.StringIO()
        buf.write(f"# levelpipe granule index\n# family: {self.family}\n# root: {self.root}\n")
        buf.write(f"# {len(self.granules)} granules, {len(self.refused)} refused\n")
        for name, reason in self.refused.items():
            buf.write(f"# refused: {_one_line(name)}: {reason}\n")
        w = csv.writer(buf, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        w.writerow(["granule", "role", "path"])
        for g in self.granules.values():
            for role, paths in g.files.items():
                for p in paths:
                    w.writerow([g.name, role, _relative(p, root)])
        return buf.getvalue()

    def write(self, path: str | os.PathLike) -> Path:
        from levelpipe.io.atomic import atomic_output  # keeps this module light at parse time
        path = Path(path)
        with atomic_output(path) as tmp:
            tmp.write_text(self.to_tsv())
        return path


class FileCache:
    """What the index learned by looking inside files (which days a telemetry file covers, a
    camera's serial number), kept between runs so that planning reads a file again only when its
    size or modification time, or the settings that shape the look (`key`), change.

    Snakemake parses the workflow in every process it starts (on a cluster, twice per job); the
    cache keeps those parses at a stat per file. It lives in the working directory
    (``.levelpipe/index-cache/<family>.json``), is written atomically, and a damaged or foreign
    cache file is ignored (the looks are simply redone).
    """

    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path else None
        self._entries: dict[str, list] = {}
        self._dirty = False
        if self.path is not None and self.path.is_file():
            try:
                import json
                data = json.loads(self.path.read_text())
                if isinstance(data, dict):
                    self._entries = {k: v for k, v in data.items() if isinstance(v, list) and len(v) == 4}
            except (OSError, ValueError):
                self._entries = {}

    def lookup(self, path: str | os.PathLike, key: str, compute):
        """`compute()` for `path`, or the value kept from a run that saw the same file and key.
        Values must be JSON data."""
        full = os.path.abspath(path)
        st = os.stat(full)
        entry = self._entries.get(full)
        if entry is not None and entry[:3] == [st.st_size, st.st_mtime_ns, key]:
            return entry[3]
        value = compute()
        self._entries[full] = [st.st_size, st.st_mtime_ns, key, value]
        self._dirty = True
        return value

    def save(self) -> None:
        if not self._dirty or self.path is None:
            return
        import json
        from levelpipe.io.atomic import atomic_output
        try:
            with atomic_output(self.path) as tmp:
                tmp.write_text(json.dumps(self._entries, separators=(",", ":")))
        except OSError:
            return  # a read-only working directory only costs the next parse its looks
        self._dirty = False


def _one_line(text: str) -> str:
    return text.replace("\n", "\\n").replace("\t", "\\t")


def _relative(path: str, root: Path) -> str:
    p = Path(path)
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return p.as_posix()


def read_manifest(path: str | os.PathLike, family: str, roles: Mapping[str, str],
                  required: Sequence[str] = (), check_files: bool = True) -> GranuleIndex:
    """A manifest written by `GranuleIndex.write` (and perhaps edited), validated.

    Malformed rows are errors naming the line; a granule whose files are missing, whose name is
    unusable or that lacks a `required` role is refused (reported), not fatal.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read manifest ({err})", path) from None
    header: dict[str, str] = {}
    rows: list[tuple[int, list[str]]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            key, sep, value = line[1:].strip().partition(": ")
            if sep and key in ("family", "root"):
                header[key] = value
            continue
        if line.strip():
            rows.append((lineno, next(csv.reader([line], delimiter="\t"))))
    if header.get("family", family) != family:
        raise ConfigError(f"manifest is for family {header['family']!r}, not {family!r}", path)
    if not rows or rows[0][1] != ["granule", "role", "path"]:
        raise ConfigError("first row must be the columns granule, role, path", path)
    root = Path(header.get("root", path.parent))
    files: dict[str, dict[str, list[str]]] = {}
    for lineno, row in rows[1:]:
        if len(row) != 3 or not all(row):
            raise ConfigError("expected three non-empty tab-separated fields: granule, role, path", path,
                              f"line {lineno}")
        name, role, p = row
        if role not in roles:
            raise ConfigError(f"unknown role {role!r} (known: {', '.join(roles)})", path, f"line {lineno}")
        full = Path(p) if Path(p).is_absolute() else root / p
        files.setdefault(name, {}).setdefault(role, []).append(str(full))
    index = GranuleIndex(family, str(root))
    for name, by_role in files.items():
        index.add(name, by_role)
        if name not in index.granules:
            continue
        lacking = [r for r in required if r not in by_role]
        gone = [p for ps in by_role.values() for p in ps if check_files and not os.path.exists(p)]
        if lacking:
            index.refuse(name, f"no {lacking[0]} file in the manifest")
        elif gone:
            index.refuse(name, f"{gone[0]}: file listed in the manifest does not exist")
    return index
