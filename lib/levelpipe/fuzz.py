"""Mutation fuzzing of every reader of every family: ``make fuzz`` / ``python -m levelpipe.fuzz``.

Readers come from each family's ``levelpipe.<package>.fuzz`` module (packages in
``FAMILY_PACKAGES``; a module that does not exist yet is simply absent), whose ``targets()``
returns ``{name: (read, [seed files])}`` or ``{name: (read, [seed files], prepare)}``:
``read(path)`` reads one file exactly as the pipeline does and may raise nothing but
``LevelpipeError``; ``prepare()``, if given, runs once in every new worker before any input is
timed (imports that take seconds, such as sunpy's, would otherwise count against the first
input of each worker as a hang on a loaded machine). This module adds its own targets for what
every family shares: the netCDF product reader (``levelpipe.io.read_netcdf``) and the config
reader (``levelpipe.settings.read_yaml``).

Each input is a seed file changed by one to four stacked mutations (``MUTATIONS``: bit flips,
byte insertions and deletions, truncation, duplicated blocks, large length fields, splices of
two seeds; inside gzip/bzip2 seeds also the decompressed bytes, recompressed). Input ``i`` of
reader ``R`` depends only on the campaign seed, ``R``, ``i`` and the seed files (``generate``),
so any finding can be made again from its index, and the counts of a campaign bounded by
``--inputs`` do not depend on the machine.

Inputs run in worker processes (one per core), each under an address-space limit
(``RLIMIT_AS``: its size at start plus ``--mem-limit-mb``) and watched by the parent, so one
hang or blow-up is measured, not fatal. Per input the outcome is one of

- ok: the reader returned; error: it raised ``LevelpipeError`` (the expected answer to a
  damaged file);
- crash: any other exception, or the worker died from a signal (segmentation fault, abort);
- hang: still running after ``--timeout`` seconds (10 by default), twice (the second time
  in a fresh worker, so that a machine too loaded to run it in time is not blamed on the
  reader); the worker is killed each time;
- memory: ``MemoryError`` under the limit: the reader asked for far more than the file holds;

and the memory the reader added: the worker's peak resident size (``VmHWM``, reset before
each input) above its size when it started. (A worker is forked from the campaign's process
and starts with all of its pages, e.g. ~0.9 GB inside the full test suite, ~0.15 GB under
``make fuzz``; those are shown as ``base MB``, and are not the reader's.) The inputs of
crashes, hangs and memory blow-ups are saved under ``--findings`` with their index. The exit
status is 1 if any reader had one, peaked above ``--max-peak-mb``, or could not be loaded.
"""
from __future__ import annotations

import argparse
import bz2
import contextlib
import faulthandler
import fnmatch
import gzip
import importlib
import importlib.util
import multiprocessing
import multiprocessing.connection
import os
import random
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

from levelpipe.errors import LevelpipeError

#: packages below levelpipe whose ``fuzz`` module, when it exists, lists readers to fuzz
FAMILY_PACKAGES = ("asi", "timepix", "foxsi", "minxss", "jets")

Reader = Callable[[Path], object]

OK, ERROR, CRASH, HANG, MEMORY = "ok", "error", "crash", "hang", "memory"
FINDINGS = (CRASH, HANG, MEMORY)


# ------------------------------------------------------------------------------ mutations
# Each takes the input, a random.Random and the other seeds' bytes and returns new bytes.

#: values a corrupted length, count or offset field typically takes
INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF,
               0x80000000, 0xFFFFFFFF, 0x100000000, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000,
               0xFFFFFFFFFFFFFFFF)


def flip_bits(data: bytes, rng: random.Random, others=()) -> bytes:
    """1 to 8 distinct bits inverted."""
    if not data:
        return data
    out = bytearray(data)
    for bit in rng.sample(range(len(data) * 8), min(len(data) * 8, rng.randint(1, 8))):
        out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def _run_length(rng: random.Random, size: int) -> int:
    """Mostly short runs, sometimes long ones (up to a quarter of the file)."""
    longest = max(1, size // 4)
    return rng.randint(1, min(16, longest)) if rng.random() < 0.7 else rng.randint(1, longest)


def insert_bytes(data: bytes, rng: random.Random, others=()) -> bytes:
    """A run of random, repeated or boundary bytes inserted at one position."""
    n = _run_length(rng, max(len(data), 64))
    kind = rng.random()
    if kind < 0.4:
        run = rng.randbytes(n)
    elif kind < 0.7:
        run = bytes([rng.choice((0x00, 0xFF, 0x0A, 0x20, 0x7F, 0x80))]) * n
    else:
        run = bytes(rng.choice(INTERESTING) & 0xFF for _ in range(n))
    p = rng.randint(0, len(data))
    return data[:p] + run + data[p:]


def delete_bytes(data: bytes, rng: random.Random, others=()) -> bytes:
    """One contiguous run of bytes removed."""
    if not data:
        return data
    n = _run_length(rng, len(data))
    p = rng.randint(0, len(data) - n)
    return data[:p] + data[p + n:]


def truncate(data: bytes, rng: random.Random, others=()) -> bytes:
    """The file cut short (a transfer that stopped), anywhere from empty to one byte short."""
    if not data:
        return data
    return data[:rng.randint(0, len(data) - 1)]


def duplicate_block(data: bytes, rng: random.Random, others=()) -> bytes:
    """A block of the file copied in again, right after itself or elsewhere (a repeated
    packet or frame)."""
    if not data:
        return data
    n = _run_length(rng, len(data))
    start = rng.randint(0, len(data) - n)
    block = data[start:start + n]
    p = start + n if rng.random() < 0.5 else rng.randint(0, len(data))
    return data[:p] + block + data[p:]


def large_length(data: bytes, rng: random.Random, others=()) -> bytes:
    """A 1-, 2-, 4- or 8-byte field overwritten with a boundary value (as a length, count or
    offset would be read), in either byte order."""
    width = rng.choice([w for w in (1, 2, 4, 8) if w <= len(data)] or [0])
    if not width:
        return data
    value = rng.choice(INTERESTING) & ((1 << (8 * width)) - 1)
    if rng.random() < 0.25 and value:
        value = (value - 1) if rng.random() < 0.5 else min(value + 1, (1 << (8 * width)) - 1)
    field_bytes = value.to_bytes(width, rng.choice(("little", "big")))
    p = rng.randint(0, len(data) - width)
    return data[:p] + field_bytes + data[p + width:]


def splice(data: bytes, rng: random.Random, others=()) -> bytes:
    """The start of this input joined to the end of another seed (or of itself elsewhere)."""
    other = rng.choice(list(others)) if others else data
    i = rng.randint(0, len(data))
    j = rng.randint(0, len(other))
    return data[:i] + other[j:]


MUTATIONS: dict[str, Callable[..., bytes]] = {
    "flip_bits": flip_bits, "insert_bytes": insert_bytes, "delete_bytes": delete_bytes,
    "truncate": truncate, "duplicate_block": duplicate_block, "large_length": large_length,
    "splice": splice,
}
#: how many mutations are stacked on one input (mostly one: the damage of a single event)
_STACK = (1, 1, 1, 1, 2, 2, 3, 4)


def mutate(data: bytes, rng: random.Random, others: Iterable[bytes] = ()) -> tuple[bytes, list[str]]:
    """`data` with 1 to 4 random mutations; also returns their names."""
    others = list(others)
    names = []
    for _ in range(rng.choice(_STACK)):
        name = rng.choice(tuple(MUTATIONS))
        data = MUTATIONS[name](data, rng, others)
        names.append(name)
    return data, names


# ------------------------------------------------------------------------------ seeds, inputs

_CODECS = {b"\x1f\x8b": ("gzip", lambda b: gzip.compress(b, compresslevel=1, mtime=0), gzip.decompress),
           b"BZh": ("bzip2", lambda b: bz2.compress(b, compresslevel=1), bz2.decompress)}
#: decompressed seeds larger than this are mutated only as compressed bytes
_MAX_INNER = 64 << 20


@dataclass(frozen=True)
class Seed:
    name: str
    data: bytes
    #: decompressed content and the codec to recompress it, for gzip/bzip2 seeds
    inner: bytes | None = None
    codec: str | None = None

    @classmethod
    def load(cls, path: Path) -> "Seed":
        data = Path(path).read_bytes()
        for magic, (codec, _, decompress) in _CODECS.items():
            if data.startswith(magic):
                with contextlib.suppress(Exception):
                    inner = decompress(data)
                    if len(inner) <= _MAX_INNER:
                        return cls(Path(path).name, data, inner, codec)
        return cls(Path(path).name, data)


def _compress(codec: str, data: bytes) -> bytes:
    return next(c[1] for c in _CODECS.values() if c[0] == codec)(data)


def generate(seeds: list[Seed], campaign_seed: int, reader: str, index: int) -> tuple[str, bytes, list[str]]:
    """Input `index` of `reader`: (file name, bytes, mutations applied). Deterministic."""
    rng = random.Random(f"levelpipe-fuzz:{campaign_seed}:{reader}:{index}")
    seed = rng.choice(seeds)
    if seed.inner is not None and rng.random() < 0.5:
        others = [s.inner for s in seeds if s.inner is not None and s is not seed]
        inner, names = mutate(seed.inner, rng, others)
        return seed.name, _compress(seed.codec, inner), [f"{seed.codec}:{n}" for n in names]
    data, names = mutate(seed.data, rng, [s.data for s in seeds if s is not seed])
    return seed.name, data, names


# ------------------------------------------------------------------------------ targets

@dataclass
class Target:
    name: str
    read: Reader
    seeds: list[Path]
    source: str = ""
    prepare: Callable[[], None] | None = None


def _repo() -> Path:
    return Path(__file__).resolve().parents[2]


def _product_seeds(directory: Path) -> list[Path]:
    """Two small levelpipe products (one with a compressed variable, flags, times and a
    string attribute), written by the one writer so the reader sees what the pipeline makes."""
    import numpy as np
    import xarray as xr

    from levelpipe.io.netcdf import write_netcdf
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / "product_small.nc", directory / "product_compressed.nc"]
    if all(p.exists() for p in paths):
        return paths
    t = np.datetime64("2020-01-01T00:00:00", "ns") + np.arange(8) * np.timedelta64(1, "s")
    rng = np.random.default_rng(0)
    small = xr.Dataset(
        {"counts": (("time",), np.arange(8, dtype=np.int32), {"units": "1", "long_name": "counts"}),
         "quality_flag": (("time",), np.array([0, 1, 0, 2, 0, 0, 1, 0], dtype=np.uint8),
                          {"long_name": "quality", "flag_masks": np.array([1, 2], dtype=np.uint8),
                           "flag_meanings": "saturated corrupt"}),
         "rate": (("time",), np.linspace(0, 1, 8), {"units": "s-1", "long_name": "rate"})},
        coords={"time": t})
    big = xr.Dataset(
        {"image": (("y", "x"), rng.integers(0, 4000, (64, 80)).astype(np.float32),
                   {"units": "R", "long_name": "brightness"})},
        coords={"y": ("y", np.arange(64.0), {"units": "1", "long_name": "row"}),
                "x": ("x", np.arange(80.0), {"units": "1", "long_name": "column"})})
    saved = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = "1700000000"  # seeds are the same bytes on every run
    try:
        for ds, path in zip((small, big), paths):
            write_netcdf(ds, path, title="fuzz seed", summary="seed product for levelpipe.fuzz",
                         mission="fuzz", level="L1", config={"seed": path.stem})
    finally:
        if saved is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = saved
    return paths


def _work_root() -> Path:
    """Scratch space for inputs: memory-backed /dev/shm where there is one (inputs are written
    once each), else the temp directory."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm
    return Path(tempfile.gettempdir())


def targets() -> dict[str, tuple[Reader, list[Path]]]:
    """The harness's own targets: what all families share."""
    from levelpipe.io.netcdf import read_netcdf
    from levelpipe.settings import read_yaml
    seeds_dir = _work_root() / f"levelpipe-fuzz-seeds-{os.getuid()}"
    config = sorted((_repo() / "config").glob("*.yaml"))
    return {"netcdf_product": (read_netcdf, _product_seeds(seeds_dir)),
            "config_yaml": (read_yaml, config)}


def _load_module(spec: str):
    """A module by name, or a .py file by path (for targets outside the package, e.g. tests)."""
    if spec.endswith(".py"):
        path = Path(spec).resolve()
        loader = importlib.util.spec_from_file_location(f"_levelpipe_fuzz_{path.stem}", path)
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
        return module
    return importlib.import_module(spec)


def discover(packages: Iterable[str] = FAMILY_PACKAGES, modules: Iterable[str] = (),
             builtin: bool = True) -> tuple[dict[str, Target], dict[str, str]]:
    """Every target: {name: Target}, and {module: one-line problem} for fuzz modules that exist
    but cannot be imported or listed (they must not vanish silently from a campaign)."""
    found: dict[str, Target] = {}
    problems: dict[str, str] = {}
    specs = []
    for package in packages:
        name = f"levelpipe.{package}.fuzz"
        try:
            if importlib.util.find_spec(f"levelpipe.{package}") and importlib.util.find_spec(name):
                specs.append(name)
        except Exception as err:  # noqa: BLE001 - the family package itself fails to import
            problems[name] = f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"
    specs += list(modules)
    for spec in ([None] if builtin else []) + specs:
        try:
            listed = targets() if spec is None else _load_module(spec).targets()
            spec = spec or "levelpipe.fuzz"
            for name, (read, seeds, *prepare) in listed.items():
                if name in found:
                    raise ValueError(f"target {name!r} also defined by {found[name].source}")
                found[name] = Target(name, read, [Path(s) for s in seeds], spec, *prepare)
        except Exception as err:  # noqa: BLE001 - reported as a problem of that module
            problems[spec or "levelpipe.fuzz"] = f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"
    return found, problems


# ------------------------------------------------------------------------------ workers

def _status_kb(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name):
                return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    # "5" resets the peak resident set size (VmHWM) to the current one (Linux >= 4.0)
    with contextlib.suppress(OSError):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")


_PACKAGE_DIR = str(Path(__file__).resolve().parent)


def _signature(err: BaseException) -> str:
    """Exception type and the innermost frame in the levelpipe package (else the innermost of
    all), so that one defect hit by many inputs is listed once."""
    frames = traceback.extract_tb(err.__traceback__)
    ours = [f for f in frames if f.filename.startswith(_PACKAGE_DIR) and f.filename != __file__]
    frame = (ours or frames or [None])[-1]
    where = f" at {Path(frame.filename).name}:{frame.lineno} ({frame.name})" if frame else ""
    return f"{type(err).__name__}{where}"


def _die_with_parent() -> None:
    # A worker stuck in a hanging input must not outlive a parent that was interrupted.
    with contextlib.suppress(Exception):
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _worker(conn, current, started, target: Target, seeds: list[Seed], campaign_seed: int,
            scratch: Path, mem_limit_mb: int, quiet: bool) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C for everyone
    # a crash by signal is the parent's to report; a traceback dump inherited from the parent
    # (pytest enables faulthandler) would only print to the parent's terminal
    faulthandler.disable()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if mem_limit_mb:
        soft = _status_kb("VmSize:") * 1024 + mem_limit_mb * (1 << 20)
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        resource.setrlimit(resource.RLIMIT_AS, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
    if quiet:  # C libraries (HDF5's error stack) print to the file descriptors directly
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
    import logging
    import warnings
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    scratch.mkdir(parents=True, exist_ok=True)
    last: Path | None = None
    if target.prepare is not None:
        with contextlib.suppress(Exception):  # a failing import fails the reader, timed, below
            target.prepare()
    base_kb = _status_kb("VmRSS:")
    conn.send(("base", base_kb))
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        start, stop = task
        for i in range(start, stop):
            current.value = i
            started.value = time.monotonic()
            name, data, _ = generate(seeds, campaign_seed, target.name, i)
            if last is not None:
                with contextlib.suppress(OSError):
                    last.unlink()
            path = scratch / name
            path.write_bytes(data)
            last = path
            _reset_peak()
            t0 = time.perf_counter()
            detail = None
            try:
                target.read(path)
                outcome = OK
            except LevelpipeError:
                outcome = ERROR
            except MemoryError as err:
                outcome, detail = MEMORY, (_signature(err), " ".join(str(err).split())[:200])
            except BaseException as err:  # noqa: BLE001 - what the campaign is looking for
                outcome, detail = CRASH, (_signature(err), " ".join(str(err).split())[:200])
            dt = time.perf_counter() - t0
            started.value = 0.0
            conn.send((i, outcome, dt, max(0, _status_kb("VmHWM:") - base_kb), detail))
        conn.send(None)


class _Worker:
    def __init__(self, ctx, target, seeds, campaign_seed, scratch, mem_limit_mb, quiet):
        self.conn, child = ctx.Pipe()
        self.current = ctx.Value("q", -1, lock=False)
        self.started = ctx.Value("d", 0.0, lock=False)
        self.proc = ctx.Process(target=_worker, args=(child, self.current, self.started, target, seeds,
                                                      campaign_seed, scratch, mem_limit_mb, quiet), daemon=True)
        self.proc.start()
        child.close()
        self.batch: list[int] | None = None  # [next unreported index, stop]
        self.done = 0

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, OSError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.join()
        self.conn.close()


# ------------------------------------------------------------------------------ campaign

@dataclass
class Result:
    name: str
    inputs: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys((OK, ERROR, CRASH, HANG, MEMORY), 0))
    #: memory a reader added above its worker's size at start (max over inputs), kB
    peak_kb: int = 0
    #: the largest size a worker started with (pages inherited from the campaign process), kB
    base_kb: int = 0
    peak_index: int = -1
    slowest_s: float = 0.0
    slowest_index: int = -1
    seconds: float = 0.0
    #: (outcome, signature) -> [count, first index, first message]
    signatures: dict[tuple[str, str], list] = field(default_factory=dict)
    saved: list[Path] = field(default_factory=list)
    note: str = ""
    #: inputs that exceeded the timeout once but finished in time when run again
    stalls: int = 0

    @property
    def findings(self) -> int:
        return sum(self.counts[k] for k in FINDINGS)

    def failed(self, max_peak_mb: float | None) -> bool:
        over = max_peak_mb is not None and self.peak_kb > max_peak_mb * 1024
        return bool(self.findings or over or self.note)


def _record(res: Result, target: Target, seeds: list[Seed], campaign_seed: int, i: int, outcome: str,
            dt: float, peak_kb: int, detail, findings: Path | None, save_limit: int) -> None:
    res.inputs += 1
    res.counts[outcome] += 1
    if peak_kb > res.peak_kb:
        res.peak_kb, res.peak_index = peak_kb, i
    if dt > res.slowest_s:
        res.slowest_s, res.slowest_index = dt, i
    if outcome in FINDINGS:
        sig, message = detail or (outcome, "")
        entry = res.signatures.setdefault((outcome, sig), [0, i, message])
        entry[0] += 1
        if findings is not None and entry[0] <= save_limit:
            name, data, ops = generate(seeds, campaign_seed, target.name, i)
            out = findings / target.name / f"{outcome}-{i:07d}-{name}"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
            with open(findings / target.name / "findings.tsv", "a") as f:
                f.write(f"{out.name}\t{i}\t{outcome}\t{sig}\t{'+'.join(ops)}\t{message}\n")
            res.saved.append(out)


def fuzz_target(target: Target, *, inputs: int, seconds: float = 0, campaign_seed: int = 0,
                timeout: float = 10.0, workers: int | None = None, mem_limit_mb: int = 2048,
                findings: Path | None = None, quiet: bool = True, batch: int = 16,
                recycle: int = 2000, save_limit: int = 10, work: Path | None = None) -> Result:
    """Run inputs 0..`inputs`-1 of `target` (fewer if `seconds` runs out first)."""
    res = Result(target.name)
    seeds = []
    for p in target.seeds:
        try:
            seeds.append(Seed.load(p))
        except OSError as err:
            res.note = f"seed {p}: {err.strerror}"
            return res
    if not seeds:
        res.note = "no seed files"
        return res
    if findings is not None and (findings / target.name / "findings.tsv").exists():
        shutil.rmtree(findings / target.name)  # the previous campaign's findings of this reader
    if not workers:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    ctx = multiprocessing.get_context("fork")
    root = Path(tempfile.mkdtemp(prefix="levelpipe-fuzz-", dir=work or _work_root()))
    t_start = time.monotonic()
    deadline = t_start + seconds if seconds else float("inf")
    pending: list[list[int]] = []  # ranges handed back by workers that died
    retried: set[int] = set()  # inputs that exceeded the timeout once
    next_index = 0
    pool: list[_Worker] = []

    def spawn(k: int) -> _Worker:
        return _Worker(ctx, target, seeds, campaign_seed, root / f"w{k}", mem_limit_mb, quiet)

    def take() -> list[int] | None:
        nonlocal next_index
        if time.monotonic() >= deadline:
            return None
        if pending:
            return pending.pop()
        if next_index >= inputs:
            return None
        rng = [next_index, min(next_index + batch, inputs)]
        next_index = rng[1]
        return rng

    def retire(k: int, w: _Worker, lost: str | None) -> None:
        """Replace worker k; the input it was running gets outcome `lost` (hang or crash)."""
        w.kill()
        started = w.started.value
        running = max(w.batch[0], w.current.value) if started else w.batch[0]
        dt = time.monotonic() - started if started else 0.0
        i, stop = running, w.batch[1]
        if lost == HANG and i < stop and i not in retried:
            # once more in a fresh worker before it counts: on a loaded machine a process can
            # stall past the timeout without the reader being at fault
            retried.add(i)
            if i + 1 < stop:
                pending.append([i + 1, stop])
            pending.append([i, i + 1])
            pool[k] = spawn(k)
            return
        if lost is not None and i < stop:
            code = w.proc.exitcode or 0
            if lost == HANG:
                detail = ("hang", f"still running after {timeout:g} s")
            elif code < 0:
                detail = (f"died from signal {-code} ({signal.Signals(-code).name})", "")
            else:
                detail = (f"worker exited with status {code}", "")
            _record(res, target, seeds, campaign_seed, i, lost, dt, 0, detail, findings, save_limit)
            i += 1
        if i < stop:
            pending.append([i, stop])
        pool[k] = spawn(k)

    def drain(w: _Worker) -> None:
        while w.conn.poll():
            try:
                msg = w.conn.recv()
            except (EOFError, OSError):
                return
            if msg is None:
                w.batch = None
                continue
            if msg[0] == "base":
                res.base_kb = max(res.base_kb, msg[1])
                continue
            i, outcome, dt, peak, detail = msg
            _record(res, target, seeds, campaign_seed, i, outcome, dt, peak, detail, findings, save_limit)
            w.done += 1
            if w.batch is not None:
                w.batch[0] = i + 1
            if outcome == MEMORY:
                w.done = recycle  # its heap may stay grown: measure the next inputs in a fresh one

    try:
        pool = [spawn(k) for k in range(workers)]
        while True:
            for k, w in enumerate(pool):
                if w.batch is None:
                    if w.done >= recycle:
                        w.conn.send(None)
                        w.proc.join()
                        w.conn.close()
                        pool[k] = w = spawn(k)
                    task = take()
                    if task is not None:
                        w.batch = task
                        w.conn.send(tuple(task))
            busy = [w for w in pool if w.batch is not None]
            if not busy:
                break
            multiprocessing.connection.wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=0.05)
            now = time.monotonic()
            for k, w in enumerate(pool):
                if w.batch is None:
                    continue
                drain(w)
                if w.batch is None:
                    continue
                if not w.proc.is_alive():
                    drain(w)
                    retire(k, w, CRASH if w.started.value else None)
                else:
                    started = w.started.value  # read once: the worker clears it when done
                    if started and now - started > timeout:
                        retire(k, w, HANG)
    finally:
        for w in pool:
            with contextlib.suppress(Exception):
                w.kill()
        shutil.rmtree(root, ignore_errors=True)
    res.seconds = time.monotonic() - t_start
    res.stalls = len(retried) - res.counts[HANG]
    return res


@dataclass
class Campaign:
    results: list[Result]
    problems: dict[str, str]
    max_peak_mb: float | None

    @property
    def ok(self) -> bool:
        return not self.problems and not any(r.failed(self.max_peak_mb) for r in self.results)


_HEADER = (f"{'reader':<28} {'inputs':>8} {'ok':>8} {'errors':>8} {'crashes':>7} {'hangs':>5} "
           f"{'memory':>6} {'peak MB':>8} {'base MB':>7} {'slowest s':>9} {'inputs/s':>8}")


def format_row(r: Result) -> str:
    if r.note:
        return f"{r.name:<28} {r.note}"
    c = r.counts
    rate = r.inputs / r.seconds if r.seconds else 0.0
    return (f"{r.name:<28} {r.inputs:>8} {c[OK]:>8} {c[ERROR]:>8} {c[CRASH]:>7} {c[HANG]:>5} "
            f"{c[MEMORY]:>6} {r.peak_kb / 1024:>8.0f} {r.base_kb / 1024:>7.0f} {r.slowest_s:>9.2f} {rate:>8.0f}")


def run_campaign(found: Mapping[str, Target], *, inputs: int, seconds: float = 0, campaign_seed: int = 0,
                 timeout: float = 10.0, workers: int | None = None, mem_limit_mb: int = 2048,
                 max_peak_mb: float | None = 1024, findings: Path | None = None, only: Iterable[str] = (),
                 problems: Mapping[str, str] | None = None, report: Callable[[str], None] | None = print,
                 **options) -> Campaign:
    """Fuzz every target in `found` (or those matching the `only` patterns) in turn."""
    only = list(only)
    chosen = [t for n, t in found.items() if not only or any(fnmatch.fnmatch(n, p) for p in only)]
    say = report or (lambda _line: None)
    say(f"levelpipe fuzz: {len(chosen)} reader(s), seed {campaign_seed}, up to {inputs} inputs"
        f"{f' or {seconds:g} s' if seconds else ''} each, timeout {timeout:g} s, "
        f"address-space limit +{mem_limit_mb} MB per worker")
    say(_HEADER)
    results = []
    for t in chosen:
        r = fuzz_target(t, inputs=inputs, seconds=seconds, campaign_seed=campaign_seed, timeout=timeout,
                        workers=workers, mem_limit_mb=mem_limit_mb, findings=findings, **options)
        results.append(r)
        say(format_row(r))
    campaign = Campaign(results, dict(problems or {}), max_peak_mb)
    for r in results:
        for (outcome, sig), (count, first, message) in sorted(r.signatures.items()):
            say(f"  {r.name}: {count} x {outcome} {sig} (first: input {first}): {message}")
        if r.saved:
            say(f"  {r.name}: inputs saved in {r.saved[0].parent}")
        if r.stalls:
            say(f"  {r.name}: {r.stalls} input(s) exceeded the timeout once, not when run again (machine load)")
        if max_peak_mb is not None and r.peak_kb > max_peak_mb * 1024:
            say(f"  {r.name}: peak memory {r.peak_kb / 1024:.0f} MB (input {r.peak_index}) over {max_peak_mb:g} MB")
    for module, problem in campaign.problems.items():
        say(f"  {module}: cannot load its targets: {problem}")
    total = sum(r.inputs for r in results)
    say(f"levelpipe fuzz: {total} inputs, {sum(r.counts[CRASH] for r in results)} crashes, "
        f"{sum(r.counts[HANG] for r in results)} hangs, {sum(r.counts[MEMORY] for r in results)} memory "
        f"blow-ups; {'OK' if campaign.ok else 'FAILED'}")
    return campaign


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m levelpipe.fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=1000, help="inputs per reader (default 1000)")
    ap.add_argument("--seconds", type=float, default=0, help="time budget per reader, 0 = none (default)")
    ap.add_argument("--seed", type=int, default=0, help="campaign seed (default 0)")
    ap.add_argument("--timeout", type=float, default=10.0, help="an input running longer is a hang (default 10 s)")
    ap.add_argument("--mem-limit-mb", type=int, default=2048,
                    help="address space a worker may add to its size at start (default 2048)")
    ap.add_argument("--max-peak-mb", type=float, default=1024,
                    help="a reader whose peak resident memory exceeds this fails (default 1024)")
    ap.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    ap.add_argument("--only", action="append", default=[], metavar="PATTERN",
                    help="only readers matching this glob (repeatable)")
    ap.add_argument("--module", action="append", default=[], metavar="MODULE",
                    help="also the targets() of this module or .py file (repeatable)")
    ap.add_argument("--findings", type=Path, default=Path("logs/fuzz"),
                    help="where inputs of crashes, hangs and blow-ups are saved (default logs/fuzz)")
    ap.add_argument("--list", action="store_true", help="list the readers and their seeds, run nothing")
    ap.add_argument("--verbose", action="store_true", help="let readers print to the terminal")
    args = ap.parse_args(argv)
    # Workers are forked and run one input each at a time: thread pools of numerical
    # libraries would only oversubscribe the cores and make fork unsafe.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    found, problems = discover(modules=args.module)
    if args.list:
        for t in found.values():
            print(f"{t.name:<28} {t.source}: {len(t.seeds)} seed(s): {', '.join(p.name for p in t.seeds)}")
        for module, problem in problems.items():
            print(f"{module}: {problem}")
        return 1 if problems else 0
    campaign = run_campaign(found, inputs=args.inputs, seconds=args.seconds, campaign_seed=args.seed,
                            timeout=args.timeout, workers=args.workers, mem_limit_mb=args.mem_limit_mb,
                            max_peak_mb=args.max_peak_mb, findings=args.findings, only=args.only,
                            problems=problems, quiet=not args.verbose)
    return 0 if campaign.ok else 1


if __name__ == "__main__":
    sys.exit(main())
