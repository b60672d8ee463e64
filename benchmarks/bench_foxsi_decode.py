"""FOXSI speed: raw telemetry -> L0 (MB/s per core) and L0 -> L2 (events/s), in the real layout.

Files: a >= 200 MB GSE .dat and a >= 200 MB WSMR .log written by the independent simulator
(levelpipe.testing.foxsi_simulator; 0.1 % of frames damaged, each detector with an event in 5 %
of frames, i.e. 25 events/s per detector), cached in benchmarks/results/foxsi/.

Measured, as medians of interleaved rounds (CPU time of this process beside wall time; numpy
single-threaded, so CPU time is per core):

- raw -> L0: ``levelpipe.foxsi.l0.level0`` (read in chunks, sync search, byte order, XOR, fault
  counting, duplicates, per-detector events, hits, times, the eight datasets in memory);
- the decoder alone (``decode_file``);
- peer: the IDL pipeline's way (``formatter_data_to_level0.pro``: reshape the file into records
  at fixed offsets, no sync or checksum), written here in numpy and extracting the same words;
  it is only correct on an undamaged file, so it runs on the .dat file before damage;
- L0 -> L2: ``level1`` + ``level2`` on the L0 datasets in memory (events/s);
- peak memory (max RSS) of raw -> L0 and L0 -> L2 in a fresh process, per MB of input.

Run: python benchmarks/bench_foxsi_decode.py [--rounds N]
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))

from levelpipe.foxsi.decode import DecodeLimits, decode_file  # noqa: E402
from levelpipe.foxsi.l0 import level0  # noqa: E402
from levelpipe.foxsi.l1 import level1  # noqa: E402
from levelpipe.foxsi.l2 import level2  # noqa: E402
from levelpipe.foxsi.settings import FoxsiSettings  # noqa: E402
from levelpipe.settings import load_settings  # noqa: E402
from levelpipe.testing import foxsi_simulator as S  # noqa: E402

OUT = REPO / "benchmarks" / "results" / "foxsi"
CAL = REPO / "resources" / "foxsi" / "calibration"
TARGET_BYTES = 200 * 1024 * 1024
FAULTS = {"bit_flip": 0.0002, "drop_bytes": 0.0002, "insert_bytes": 0.0002, "sync_loss": 0.0002, "missing": 0.0002}


def _settings() -> FoxsiSettings:
    return load_settings(FoxsiSettings, REPO / "config" / "foxsi.yaml")


def make_files() -> dict[str, Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    files = {}
    for kind, name, rec in (("gse", "data_141211_115911.dat", 512), ("wsmr", "36_295_Krucker_FLIGHT_HOT_TM2.log", 518)):
        for damaged in (True, False):
            if kind == "wsmr" and not damaged:
                continue
            path = OUT / (name if damaged else "intact_" + name.replace("data_", "").replace(".dat", "") + ".dat")
            n = TARGET_BYTES // rec + 64
            if not path.exists() or path.stat().st_size < TARGET_BYTES:
                sc = S.default_scenario()
                sc.update(kind=kind, n_frames=n, seed=4242, event_probability=0.05, hv_ramp_frames=1,
                          faults=FAULTS if damaged else {}, peaks=[CAL / "peaks_det108.sav", CAL / "peaks_det101.sav",
                                                                   None, None, CAL / "peaks_det104.sav",
                                                                   CAL / "peaks_det105.sav", CAL / "peaks_det102.sav"])
                path.write_bytes(S.simulate(sc).data)
            files[f"{kind}{'' if damaged else '_intact'}"] = path
    return files


def idl_reshape(path: Path) -> dict:
    """What formatter_data_to_level0.pro does: the file as (n, 256) words from byte 0."""
    w = np.fromfile(path, dtype="<u2")
    fr = w[: w.size // 256 * 256].reshape(-1, 256)
    counter = (fr[:, 4].astype(np.int64) << 16) | fr[:, 5]
    clock = (fr[:, 1].astype(np.int64) << 32) | (fr[:, 2].astype(np.int64) << 16) | fr[:, 3]
    out = {"counter": counter, "clock": clock, "hv": fr[:, 13].copy()}
    for d in range(7):
        b = fr[:, 23 + 33 * d: 56 + 33 * d]
        rows = np.flatnonzero(b[:, :32].any(axis=1))
        blk = b[rows]
        strips = blk[:, 1:].reshape(-1, 4, 8)[:, :, 4:7]
        out[d] = (rows, strips >> 10, strips & 0x3FF, blk[:, 1:].reshape(-1, 4, 8)[:, :, 7].copy())
    return out


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - w0, time.process_time() - c0, result


_HWM = ("import re; print(json.dumps({'maxrss_mb': int(re.search(r'VmHWM:\\s+(\\d+)', "
        "open('/proc/self/status').read()).group(1)) / 1024}))")


def _peak_rss_mb(code: str) -> float:
    """Peak resident memory of `code` run in a fresh process (VmHWM: ru_maxrss would carry the
    forking parent's peak over the exec)."""
    proc = subprocess.run([sys.executable, "-c", code + "; import json; " + _HWM], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO / "lib")})
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])["maxrss_mb"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    s = _settings()
    files = make_files()
    lim = DecodeLimits.from_settings(s.decode)
    sizes = {k: p.stat().st_size / 1e6 for k, p in files.items()}
    print("files: " + ", ".join(f"{p.name} {sizes[k]:.1f} MB" for k, p in files.items()))
    cases = {
        "raw->L0 .dat (levelpipe)": ("gse", lambda: level0(files["gse"], flights=s.flights, files=s.files,
                                                          decode=s.decode, l0=s.l0)),
        "raw->L0 .log (levelpipe)": ("wsmr", lambda: level0(files["wsmr"], flights=s.flights, files=s.files,
                                                           decode=s.decode, l0=s.l0)),
        "decoder only .dat": ("gse", lambda: decode_file(files["gse"], lim)),
        "decoder only .log": ("wsmr", lambda: decode_file(files["wsmr"], lim)),
        "peer: IDL fixed-offset reshape, intact .dat": ("gse_intact", lambda: idl_reshape(files["gse_intact"])),
        "raw->L0 intact .dat (levelpipe, same file as peer)": (
            "gse_intact", lambda: level0(files["gse_intact"], flights=s.flights, files=s.files | _intact_entry(s),
                                         decode=s.decode, l0=s.l0)),
    }
    for fn in (c[1] for c in cases.values()):  # warm the page cache and imports
        fn()
    wall = {k: [] for k in cases}
    cpu = {k: [] for k in cases}
    for _ in range(args.rounds):  # interleaved: every case once per round
        for name, (_key, fn) in cases.items():
            w, c, _ = _timed(fn)
            wall[name].append(w)
            cpu[name].append(c)
    print(f"\nraw -> L0, medians of {args.rounds} interleaved rounds (MB/s per core: numpy single-threaded)")
    print(f"{'case':55s} {'wall s':>8s} {'cpu s':>8s} {'MB/s wall':>10s} {'MB/s cpu':>10s}")
    for name, (key, _) in cases.items():
        mw, mc = statistics.median(wall[name]), statistics.median(cpu[name])
        print(f"{name:55s} {mw:8.3f} {mc:8.3f} {sizes[key] / mw:10.0f} {sizes[key] / mc:10.0f}")

    products = level0(files["wsmr"], flights=s.flights, files=s.files, decode=s.decode, l0=s.l0)
    fl = s.flights["foxsi2"]
    dets = [products[f"d{d}"] for d in range(7)]
    n_events = sum(d.sizes["event"] for d in dets)
    peaks = {d: CAL / det.peaks_file if det.peaks_file else None for d, det in enumerate(fl.detectors)}
    anc = REPO / "resources" / "foxsi" / "ancillary"

    def chain():
        ev = level1(dets, products["hk"], flight=fl, l1=s.l1, housekeeping=s.housekeeping, ancillary=s.ancillary,
                    tracking=anc / fl.tracking_file)["events"]
        return level2(ev, flight=fl, l0=s.l0, l2=s.l2, peaks=peaks, liss_pitch=anc / fl.liss_pitch_file,
                      liss_yaw=anc / fl.liss_yaw_file)
    chain()
    w_l, c_l = [], []
    for _ in range(args.rounds):
        w, c, _ = _timed(chain)
        w_l.append(w)
        c_l.append(c)
    mw, mc = statistics.median(w_l), statistics.median(c_l)
    print(f"\nL0 -> L2 (level1 + level2 in memory), {n_events} events of {files['wsmr'].name}: "
          f"wall {mw:.3f} s, cpu {mc:.3f} s -> {n_events / mw:,.0f} events/s wall, {n_events / mc:,.0f} events/s cpu")

    setup = ("import sys; sys.path.insert(0, 'lib'); from pathlib import Path;"
             "from levelpipe.settings import load_settings; from levelpipe.foxsi.settings import FoxsiSettings;"
             "from levelpipe.foxsi.l0 import level0; from levelpipe.foxsi.l1 import level1;"
             "from levelpipe.foxsi.l2 import level2; s = load_settings(FoxsiSettings, 'config/foxsi.yaml')")
    base = _peak_rss_mb(setup)
    raw = _peak_rss_mb(setup + f"; p = level0({str(files['wsmr'])!r}, flights=s.flights, files=s.files, "
                       "decode=s.decode, l0=s.l0)")
    chain_code = (setup + f"; p = level0({str(files['wsmr'])!r}, flights=s.flights, files=s.files, decode=s.decode, "
                  "l0=s.l0); fl = s.flights['foxsi2']; cal = Path('resources/foxsi/calibration');"
                  "anc = Path('resources/foxsi/ancillary');"
                  "peaks = {d: cal / x.peaks_file if x.peaks_file else None for d, x in enumerate(fl.detectors)};"
                  "ev = level1([p[f'd{d}'] for d in range(7)], p['hk'], flight=fl, l1=s.l1, housekeeping=s.housekeeping,"
                  " ancillary=s.ancillary, tracking=anc / fl.tracking_file)['events'];"
                  "level2(ev, flight=fl, l0=s.l0, l2=s.l2, peaks=peaks, liss_pitch=anc / fl.liss_pitch_file,"
                  " liss_yaw=anc / fl.liss_yaw_file)")
    full = _peak_rss_mb(chain_code)
    mb = sizes["wsmr"]
    print(f"\npeak RSS (fresh process, {mb:.0f} MB .log): imports {base:.0f} MB; raw -> L0 {raw:.0f} MB "
          f"({(raw - base) / mb:.2f} MB per input MB); raw -> L0 -> L2 {full:.0f} MB ({(full - base) / mb:.2f} MB per input MB)")
    print(f"max RSS of this benchmark process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def _intact_entry(s: FoxsiSettings) -> dict:
    from levelpipe.foxsi.settings import FileSettings
    return {"intact_141211_115911.dat": FileSettings(flight="foxsi2", start_utc="2014-12-11T18:59:11")}


if __name__ == "__main__":
    main()
