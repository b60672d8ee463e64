"""FOXSI speed: raw telemetry -> L0 decode (MB/s per core) and L0 -> L2 (events/s).

Generates a >= 200 MB simulated GSE file (deterministic) in a temporary folder, decodes it once
to warm the page cache, then times the decoder (sync search, byte order, checksum, counters,
per-detector event extraction) and the in-memory L0 -> L1 -> L2 chain. The file is deleted
afterwards. Run:  python benchmarks/bench_foxsi_decode.py
"""
from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import astropy.units as u
import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))

from levelpipe.foxsi import calibration, config, decode, l0, l1, l2, simulator  # noqa: E402

TARGET_MB = 200
REPEATS = 5


def main() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cfg = yaml.safe_load((REPO / "config" / "foxsi.yaml").read_text())
    flight = simulator.load_flight("foxsi2")
    n_frames = int(np.ceil(TARGET_MB * 1e6 / 512))
    duration = n_frames * flight.frame_period
    start = 60.0 * u.s
    end = start + duration + 10 * u.s
    flight = flight.replace(flight_duration=end, targets=[dataclasses.replace(flight.targets[0], end=end)])
    sc = simulator.default_scenario()
    sc.update(file_type="gse", duration=duration, start=start, seed=7)
    sc["hv"] = dict(sc["hv"], ramp_start=59.0 * u.s, ramp_duration=1.0 * u.s)
    cal = REPO / "resources" / "foxsi" / "calibration"
    t = time.perf_counter()
    sim = simulator.simulate(flight, sc, cal)
    t_sim = time.perf_counter() - t
    with tempfile.TemporaryDirectory(prefix="bench_foxsi_") as tmp:
        path = Path(tmp) / "bench_foxsi.dat"
        path.write_bytes(sim.data)
        size_mb = path.stat().st_size / 1e6
        n_events = sim.events["det"].size
        del sim
        decode.decode_file(path)  # warm the page cache
        best = np.inf
        for _ in range(REPEATS):
            t = time.perf_counter()
            dec = decode.decode_file(path)
            dets, hk = l0.level0(dec, flight)
            best = min(best, time.perf_counter() - t)
        print(f"FOXSI simulated GSE file: {size_mb:.1f} MB, {dec.counter.size} frames, {n_events} events "
              f"(simulated in {t_sim:.1f} s)")
        print(f"raw -> L0 (decode + per-detector L0 datasets), best of {REPEATS}: {best:.3f} s "
              f"= {size_mb / best:.0f} MB/s per core (target >= 250 MB/s)")
        # The same frames in big-endian order (byte swap needed while decoding).
        swapped = Path(tmp) / "bench_foxsi_big.dat"
        swapped.write_bytes(np.fromfile(path, dtype="<u2").astype(">u2").tobytes())
        decode.decode_file(swapped)
        best_big = np.inf
        for _ in range(REPEATS):
            t = time.perf_counter()
            dec_big = decode.decode_file(swapped)
            l0.level0(dec_big, flight)
            best_big = min(best_big, time.perf_counter() - t)
        assert dec_big.byteorder == "big" and dec_big.counter.size == dec.counter.size
        print(f"raw -> L0, same file big-endian, best of {REPEATS}: {best_big:.3f} s "
              f"= {size_mb / best_big:.0f} MB/s per core")
        gains = calibration.load_gains(flight.gain_files, cal)
        l1cfg, l2cfg = config.L1Settings.from_config(cfg["l1"]), config.L2Settings.from_config(cfg["l2"])
        t = time.perf_counter()
        ev1 = l1.level1_events(dets, flight, l1cfg)
        t1 = time.perf_counter() - t
        t = time.perf_counter()
        ev2 = l2.level2_events(ev1, flight, gains, l2cfg)
        t2 = time.perf_counter() - t
        n = ev2.sizes["event"]
        print(f"L0 -> L1: {t1:.2f} s, L1 -> L2: {t2:.2f} s for {n} events "
              f"= {n / (t1 + t2):,.0f} events/s (in memory, one core)")


if __name__ == "__main__":
    main()
