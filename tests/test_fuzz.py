"""The fuzzing harness (levelpipe.fuzz): mutations do what they say, inputs are reproducible,
planted crashes, hangs and memory blow-ups are reported as such (and only as such), and a
small fixed-seed campaign over every real reader finds nothing."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from levelpipe import fuzz
from levelpipe.errors import LevelpipeError

SEED_A = bytes(range(256)) * 4          # 1 KiB, every byte value
SEED_B = b"levelpipe fuzz seed B\n" * 40


def _rngs(n=200):
    return [random.Random(f"test-{i}") for i in range(n)]


# ---------------------------------------------------------------- mutations, by their contracts

def test_flip_bits_changes_1_to_8_bits_and_nothing_else():
    for rng in _rngs():
        out = fuzz.flip_bits(SEED_A, rng)
        assert len(out) == len(SEED_A)
        changed = sum(bin(a ^ b).count("1") for a, b in zip(SEED_A, out))
        assert 1 <= changed <= 8


def test_insert_and_delete_change_one_contiguous_run():
    for rng in _rngs():
        out = fuzz.insert_bytes(SEED_B, rng)
        n = len(out) - len(SEED_B)
        assert n >= 1
        assert any(out[:p] + out[p + n:] == SEED_B for p in range(len(SEED_B) + 1))
        out = fuzz.delete_bytes(SEED_A, rng)
        n = len(SEED_A) - len(out)
        assert 1 <= n <= len(SEED_A) // 4
        assert any(SEED_A[:p] + SEED_A[p + n:] == out for p in range(len(out) + 1))


def test_truncate_keeps_a_strict_prefix():
    for rng in _rngs():
        out = fuzz.truncate(SEED_A, rng)
        assert len(out) < len(SEED_A) and SEED_A.startswith(out)


def test_duplicate_block_inserts_a_copy_of_a_block_of_the_file():
    for rng in _rngs():
        out = fuzz.duplicate_block(SEED_A, rng)
        n = len(out) - len(SEED_A)
        assert n >= 1
        # removing the n bytes at some position gives the original back, and they occur in it
        assert any(out[:p] + out[p + n:] == SEED_A and out[p:p + n] in SEED_A for p in range(len(SEED_A) + 1))


def test_large_length_writes_one_boundary_value_in_a_field():
    widths = set()
    for rng in _rngs(400):
        out = fuzz.large_length(SEED_A, rng)
        assert len(out) == len(SEED_A)
        diff = [i for i, (a, b) in enumerate(zip(SEED_A, out)) if a != b]
        if not diff:  # the value happened to equal the bytes already there
            continue
        assert diff[-1] - diff[0] < 8
        # some aligned window of width 1/2/4/8 covering the change holds a boundary value +-1
        ok = False
        for w in (1, 2, 4, 8):
            for start in range(diff[-1] - w + 1, diff[0] + 1):
                if start < 0 or start + w > len(out):
                    continue
                for order in ("little", "big"):
                    v = int.from_bytes(out[start:start + w], order)
                    mask = (1 << (8 * w)) - 1
                    if any(abs(v - (c & mask)) <= 1 for c in fuzz.INTERESTING):
                        ok = True
                        widths.add(w)
        assert ok, (diff, out[diff[0]:diff[-1] + 1])
    assert widths >= {2, 4, 8}


def test_splice_joins_a_prefix_of_one_seed_to_a_suffix_of_another():
    for rng in _rngs():
        out = fuzz.splice(SEED_A, rng, [SEED_B])
        assert any(out[:i] == SEED_A[:i] and SEED_B.endswith(out[i:]) for i in range(len(SEED_A) + 1))


def test_every_mutation_is_used_and_inputs_are_reproducible(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.dat.gz"
    a.write_bytes(SEED_A)
    import gzip
    b.write_bytes(gzip.compress(SEED_B, mtime=0))
    seeds = [fuzz.Seed.load(a), fuzz.Seed.load(b)]
    assert seeds[1].codec == "gzip" and seeds[1].inner == SEED_B
    runs = [[fuzz.generate(seeds, 7, "reader", i) for i in range(300)] for _ in range(2)]
    assert runs[0] == runs[1]
    assert [fuzz.generate(seeds, 8, "reader", i) for i in range(300)] != runs[0]
    used = {op.split(":")[-1] for _, _, ops in runs[0] for op in ops}
    assert used == set(fuzz.MUTATIONS)
    # mutations inside the gzip seed come back as valid gzip of changed content
    inner = [(data, ops) for name, data, ops in runs[0] if name == "b.dat.gz" and ops[0].startswith("gzip:")]
    assert inner and all(gzip.decompress(d) != SEED_B or ops for d, ops in inner)


# ---------------------------------------------------------------- planted faults

def _seed_files(tmp_path, n=2):
    paths = []
    for i in range(n):
        p = tmp_path / f"seed{i}.bin"
        p.write_bytes(bytes([65 + i]) * (50 + 17 * i))
        paths.append(p)
    return paths


def read_crash(path):
    return {}["no such key"]


def read_clean(path):
    raise LevelpipeError("bad", path)


def read_hang(path):
    time.sleep(3600)


def read_blowup(path):
    return bytearray(8 << 30)  # 8 GiB: refused under the worker's address-space limit


def read_segfault(path):
    os.kill(os.getpid(), signal.SIGSEGV)


def read_big(path):
    block = bytearray(300 << 20)  # 300 MiB, touched page by page: resident, not only reserved
    block[::4096] = b"\1" * len(block[::4096])
    return len(block)


def _mixed_outcome(data: bytes) -> str:
    """What read_mixed does with an input, decided from its length (the test's own rule)."""
    return ("ok", "error", "crash", "hang")[len(data) % 4]


def read_mixed(path):
    kind = _mixed_outcome(Path(path).read_bytes())
    if kind == "error":
        raise LevelpipeError("bad", path)
    if kind == "crash":
        raise ValueError("planted")
    if kind == "hang":
        time.sleep(3600)


def _run(target, tmp_path, **kw):
    options = dict(inputs=6, timeout=0.5, workers=2, mem_limit_mb=512, findings=tmp_path / "findings")
    options.update(kw)
    return fuzz.fuzz_target(fuzz.Target(target.__name__, target, _seed_files(tmp_path)), **options)


def test_planted_crash_is_a_crash_with_its_place(tmp_path):
    r = _run(read_crash, tmp_path)
    assert r.inputs == 6 and r.counts["crash"] == 6 and r.counts["error"] == 0
    (sig,) = {s for _, s in r.signatures}
    assert sig.startswith("KeyError at test_fuzz.py:") and "(read_crash)" in sig
    assert len(r.saved) == 6 and all(p.exists() for p in r.saved)


def test_levelpipe_error_is_not_a_finding(tmp_path):
    r = _run(read_clean, tmp_path, inputs=40)
    assert r.counts == {"ok": 0, "error": 40, "crash": 0, "hang": 0, "memory": 0}
    assert not r.failed(max_peak_mb=1024) and not r.saved


def test_planted_hang_is_measured_not_fatal(tmp_path):
    t0 = time.monotonic()
    r = _run(read_hang, tmp_path, inputs=4)
    assert r.counts["hang"] == 4 and r.inputs == 4
    # each hang costs its timeout (0.5 s), two at a time: not the 3600 s the reader asked for
    assert time.monotonic() - t0 < 30


def test_planted_memory_blowup_is_reported_as_memory(tmp_path):
    r = _run(read_blowup, tmp_path, inputs=4)
    assert r.counts["memory"] == 4 and r.counts["crash"] == 0


def test_planted_segfault_is_a_crash_by_signal(tmp_path):
    r = _run(read_segfault, tmp_path, inputs=3)
    assert r.counts["crash"] == 3
    assert {s for _, s in r.signatures} == {"died from signal 11 (SIGSEGV)"}


def test_peak_memory_is_the_readers(tmp_path):
    small = _run(read_clean, tmp_path, inputs=4)
    big = _run(read_big, tmp_path, inputs=4, mem_limit_mb=1024, timeout=30)
    assert big.counts["ok"] == 4
    # the 300 MiB the reader touched, whatever the worker inherited from this (pytest) process
    assert 290 * 1024 <= big.peak_kb <= 400 * 1024 and small.peak_kb < 50 * 1024
    assert big.base_kb > 0
    assert big.failed(max_peak_mb=250) and not big.failed(max_peak_mb=1024)


def test_outcomes_are_attributed_to_the_right_inputs_across_worker_restarts(tmp_path):
    seeds = _seed_files(tmp_path, 3)
    n = 48
    t = fuzz.Target("mixed", read_mixed, seeds)
    r = fuzz.fuzz_target(t, inputs=n, timeout=0.3, workers=2, mem_limit_mb=512, findings=tmp_path / "f",
                         campaign_seed=3, batch=5)
    loaded = [fuzz.Seed.load(p) for p in seeds]
    expected = {"ok": 0, "error": 0, "crash": 0, "hang": 0, "memory": 0}
    for i in range(n):
        expected[_mixed_outcome(fuzz.generate(loaded, 3, "mixed", i)[1])] += 1
    assert expected["hang"] and expected["crash"]  # the rule exercises restarts
    assert r.counts == expected and r.inputs == n
    # a saved finding is the very input that caused it
    for p in r.saved:
        i = int(p.name.split("-")[1])
        assert p.read_bytes() == fuzz.generate(loaded, 3, "mixed", i)[1]
        assert _mixed_outcome(p.read_bytes()) == p.name.split("-")[0]


def test_a_stall_that_does_not_repeat_is_not_a_hang(tmp_path):
    """An input that overran the timeout once (a loaded machine) and not when run again."""
    marks = tmp_path / "marks"
    marks.mkdir()

    def stalls_once(path):
        import hashlib
        mark = marks / hashlib.sha256(Path(path).read_bytes()).hexdigest()
        if not mark.exists():
            mark.touch()
            time.sleep(3600)

    r = fuzz.fuzz_target(fuzz.Target("stalls_once", stalls_once, _seed_files(tmp_path)), inputs=3, timeout=0.5,
                         workers=2, mem_limit_mb=512)
    assert r.counts["ok"] == 3 and r.counts["hang"] == 0 and r.stalls == 3


def test_prepare_runs_once_per_worker_and_is_not_timed(tmp_path):
    """A slow import in `prepare` (sunpy's) is not a hang of each worker's first input."""
    marks = tmp_path / "prepared"
    marks.mkdir()

    def prepare():
        time.sleep(1.0)  # twice the timeout below
        (marks / str(os.getpid())).touch()

    r = fuzz.fuzz_target(fuzz.Target("slow_import", lambda path: None, _seed_files(tmp_path), "", prepare),
                         inputs=6, timeout=0.5, workers=2, mem_limit_mb=512)
    assert r.counts["ok"] == 6 and r.counts["hang"] == 0 and r.stalls == 0
    assert 1 <= len(list(marks.iterdir())) <= 2


def test_time_box_stops_a_reader(tmp_path):
    def slow(path):
        time.sleep(0.05)
    t0 = time.monotonic()
    r = fuzz.fuzz_target(fuzz.Target("slow", slow, _seed_files(tmp_path)), inputs=100000, seconds=1.0,
                         workers=2, mem_limit_mb=512)
    assert 4 <= r.inputs < 200 and time.monotonic() - t0 < 10


def test_cli_prints_the_table_and_fails_on_findings(tmp_path):
    module = tmp_path / "planted_targets.py"
    seed = tmp_path / "s.bin"
    seed.write_bytes(b"x" * 64)
    module.write_text(
        "def _crash(path):\n    raise TypeError('planted')\n"
        f"def targets():\n    return {{'planted_crash': (_crash, [{str(seed)!r}])}}\n")
    proc = subprocess.run([sys.executable, "-m", "levelpipe.fuzz", "--module", str(module), "--only", "planted_*",
                           "--only", "config_yaml", "--inputs", "30", "--findings", str(tmp_path / "f")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if line[:1].isalpha()}
    assert rows["planted_crash"][1:6] == ["30", "0", "0", "30", "0"]
    assert rows["config_yaml"][1] == "30" and rows["config_yaml"][4:7] == ["0", "0", "0"]
    assert "FAILED" in proc.stdout.splitlines()[-1]


def test_a_broken_fuzz_module_is_reported_not_skipped(tmp_path):
    module = tmp_path / "broken.py"
    module.write_text("import levelpipe.no_such_module\n")
    found, problems = fuzz.discover(modules=[str(module)])
    assert "netcdf_product" in found and "config_yaml" in found
    assert list(problems) == [str(module)] and "ModuleNotFoundError" in problems[str(module)]


# ---------------------------------------------------------------- the real readers

def test_small_fixed_seed_campaign_over_every_reader_finds_nothing(tmp_path):
    found, problems = fuzz.discover()
    assert not problems
    assert {"netcdf_product", "config_yaml"} <= set(found)
    # at most 1.5 s per reader: the whole file stays within a minute with every family's readers
    campaign = fuzz.run_campaign(found, inputs=80, seconds=1.5, campaign_seed=20240601, timeout=10,
                                 findings=tmp_path / "findings", report=None)
    bad = [fuzz.format_row(r) + "".join(f"\n   {o} {s}: {m}" for (o, s), (_, _, m) in r.signatures.items())
           for r in campaign.results if r.failed(1024)]
    assert not bad, "\n".join(bad)
    assert all(r.inputs >= 5 for r in campaign.results), [fuzz.format_row(r) for r in campaign.results]


def test_the_hangs_found_in_read_netcdf_stay_fixed(tmp_path):
    """The kind of input that made libhdf5 loop forever (a global heap object of index 0 and
    size 0), rebuilt from the seed product: netCDF4 alone still hangs on it, read_netcdf refuses
    it at once with one line."""
    found, _ = fuzz.discover(packages=())
    seed = next(p for p in found["netcdf_product"].seeds if p.name == "product_small.nc")
    data = bytearray(seed.read_bytes())
    gcol = data.find(b"GCOL")
    assert gcol > 0
    obj = gcol + 16
    data[obj:obj + 2] = b"\0\0"
    data[obj + 8:obj + 16] = bytes(8)
    bad = tmp_path / "product_small.nc"
    bad.write_bytes(bytes(data))
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "-c", "import netCDF4, sys; netCDF4.Dataset(sys.argv[1])", str(bad)],
                       capture_output=True, timeout=5)
    t0 = time.monotonic()
    with pytest.raises(LevelpipeError, match="damaged HDF5 global heap") as err:
        found["netcdf_product"].read(bad)
    assert time.monotonic() - t0 < 2
    assert str(err.value).startswith(f"{bad}:byte {gcol}: ")
