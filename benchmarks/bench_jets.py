"""Solar Jet Hunter speed targets, printed (not asserted): medians of interleaved rounds, wall
and CPU time, peers in the same run.

1. events/s, HEK JSON -> SQLite: the real hek_1.txt records repeated with new ids
   (kb_archivid, SOL_standard) to JETS_BENCH_HEK records; ours only (no offline peer parses a
   HEK response file).
2. frames/s, FITS -> PNG: the bundled cutouts at the config's 1920 x 1440 px; peer: the seed's
   way (pyplot figure at 300 dpi, sunpy ``Map.plot``, ``savefig``).
3. classifications/s, import -> catalogue: the real class.csv + old.csv repeated with new
   classification and subject ids to >= JETS_BENCH_CLASSIFICATIONS rows; ours (read_export +
   aggregate + build_catalogue) beside panoptes_aggregation's own command line (``extract`` per
   workflow + ``reduce`` per extractor, run as subprocesses, CPU from RUSAGE_CHILDREN) on the
   same file and configs. The CLI stops at the reductions; ours goes on to the catalogue.
"""
from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "resources" / "jets"
ROUNDS = int(os.environ.get("JETS_BENCH_ROUNDS", "3"))
N_HEK = int(os.environ.get("JETS_BENCH_HEK", "20000"))
N_CLS = int(os.environ.get("JETS_BENCH_CLASSIFICATIONS", "20000"))
N_FRAMES = int(os.environ.get("JETS_BENCH_FRAMES", "8"))


def settings():
    from levelpipe.jets.settings import JetsSettings
    from levelpipe.settings import load_settings
    return load_settings(JetsSettings, REPO / "config" / "jets.yaml")


def timed(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    ch0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    fn()
    ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = (ch1.ru_utime + ch1.ru_stime) - (ch0.ru_utime + ch0.ru_stime)
    return time.perf_counter() - w0, time.process_time() - c0 + child


def report(title, n, unit, results):
    print(f"\n{title} ({n} {unit}, {ROUNDS} interleaved rounds, medians)")
    for name, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(f"  {name:<44s} wall {wall:8.2f} s  cpu {cpu:8.2f} s  {n / wall:10.1f} {unit}/s (wall)  "
              f"{n / cpu:10.1f} {unit}/s (cpu)")


def bench_hek(tmp: Path, s) -> None:
    from levelpipe.jets import hek
    recs = json.loads((BUNDLE / "hek" / "hek_1.txt").read_text().split("\n", 1)[1])["result"]
    out = []
    for k in range(N_HEK):
        r = dict(recs[k % len(recs)])
        r["kb_archivid"] = f"{r['kb_archivid']}_{k}"
        r["SOL_standard"] = f"{r['SOL_standard']}_{k // 2}"
        out.append(r)
    src = tmp / "hek.json"
    src.write_text(json.dumps({"result": out, "overmax": False}))

    def ours():
        records = hek.read_hek_response(src, max_bytes=src.stat().st_size)  # one file of every page
        hek.write_event_db(tmp / "events.sqlite", records, s.hek.preferred_channel)
    results = {"levelpipe HEK JSON -> SQLite": []}
    for _ in range(ROUNDS):
        results["levelpipe HEK JSON -> SQLite"].append(timed(ours))
    report("HEK JSON -> SQLite", N_HEK, "events", results)


def bench_png(tmp: Path, s) -> None:
    import warnings
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import sunpy.map
    from levelpipe.jets import images
    paths = sorted((BUNDLE / "cutouts").glob("*/*.fits"))[:N_FRAMES]

    def ours():
        for k, p in enumerate(paths):
            images.render_png(images.read_cutout(p, s.fits), tmp / f"o{k}.png", s.images)

    def seed_way():  # kapsiak Basic_Image (jets.md §3.2): pyplot figure at 300 dpi, Map.plot, savefig
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for k, p in enumerate(paths):
                m = sunpy.map.Map(str(p))
                fig = plt.figure(dpi=300)
                ax = fig.add_subplot(1, 1, 1, projection=m)
                m.plot(axes=ax)
                fig.savefig(tmp / f"s{k}.png", dpi=300)
                plt.close(fig)
    results = {"levelpipe render_png": [], "seed way (pyplot + Map.plot)": []}
    for _ in range(ROUNDS):
        results["levelpipe render_png"].append(timed(ours))
        results["seed way (pyplot + Map.plot)"].append(timed(seed_way))
    report("FITS -> PNG (1920 x 1440)", len(paths), "frames", results)


def _repeated_export(tmp: Path) -> tuple[Path, int]:
    parts = [pd.read_csv(BUNDLE / "classifications" / f, dtype=str, keep_default_na=False)
             for f in ("class.csv", "old.csv")]
    base = pd.concat(parts, ignore_index=True)
    copies = -(-N_CLS // len(base))
    frames = []
    for k in range(copies):
        c = base.copy()
        c["classification_id"] = (c["classification_id"].astype(np.int64) + k * 10 ** 9).astype(str)
        old = c["subject_ids"].astype(np.int64)
        new = old + k * 10 ** 9
        c["subject_ids"] = new.astype(str)
        c["subject_data"] = [sd.replace(f'"{o}"', f'"{n}"', 1) for sd, o, n in zip(c["subject_data"], old, new)]
        frames.append(c)
    out = tmp / "export.csv"
    pd.concat(frames, ignore_index=True).to_csv(out, index=False)
    return out, copies * len(base)


def bench_classifications(tmp: Path, s) -> None:
    from levelpipe.jets import aggregation as agg
    from levelpipe.jets import catalogue as cg
    from levelpipe.jets import classifications as cls
    from levelpipe.jets import hek
    export, n = _repeated_export(tmp)
    events = hek.events_table(hek.read_hek_response(BUNDLE / "hek" / "hek_1.txt", max_bytes=10 ** 8).reports, 304)
    workflows = [w for w in s.aggregation.workflows if w.workflow_id in (15803, 13958)]
    aggregation = s.aggregation.model_copy(update={"workflows": workflows})
    configs = []
    for wf in workflows:
        ex = tmp / f"ex_{wf.workflow_id}.yaml"
        ex.write_text(yaml.safe_dump({"extractor_config": {k: list(v) for k, v in wf.extractor_config.items()},
                                      "workflow_id": wf.workflow_id, "workflow_version": {"min": wf.version_min}}))
        reds = []
        for name, r in wf.reducers.items():
            p = tmp / f"red_{wf.workflow_id}_{name}.yaml"
            p.write_text(yaml.safe_dump({"reducer_config": {r.reducer: dict(r.keywords)}}))
            reds.append((name, p))
        configs.append((wf.workflow_id, ex, reds))
    cli = str(Path(sys.executable).parent / "panoptes_aggregation")

    def ours():
        e = cls.read_export(export, s.classifications)
        results = agg.aggregate(e.rows, aggregation)
        cg.build_catalogue(results, e.subjects, events, aggregation, s.catalogue, False)

    def peer():
        for wid, ex, reds in configs:
            subprocess.run([cli, "extract", str(export), str(ex), "-o", f"w{wid}", "-d", str(tmp), "-hb"],
                           check=True, capture_output=True)
            for name, red in reds:
                subprocess.run([cli, "reduce", str(tmp / f"{name}_w{wid}.csv"), str(red), "-o", f"w{wid}_{name}",
                                "-d", str(tmp), "-hb"], check=True, capture_output=True)
    results = {"levelpipe import -> aggregation -> catalogue": [], "panoptes_aggregation CLI extract + reduce": []}
    for _ in range(ROUNDS):
        results["levelpipe import -> aggregation -> catalogue"].append(timed(ours))
        results["panoptes_aggregation CLI extract + reduce"].append(timed(peer))
    report("classification export -> catalogue", n, "classifications", results)


def main() -> None:
    s = settings()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bench_hek(tmp, s)
        bench_png(tmp, s)
        bench_classifications(tmp, s)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {peak:.0f} MiB; cores: {os.cpu_count()}; load: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
