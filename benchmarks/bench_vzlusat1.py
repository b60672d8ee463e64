"""VZLUSAT-1 chain speed and memory per step, on real-size folders of frames of varied occupancy.

Folders are built from the real frames of the bundled sample (levelpipe.timepix.synthetic): the
3 raw frames, the 4 frames rebuilt from the real labelled cluster lists and 2 denser frames made
of real clusters placed together, cycled: 253 to ~7,800 hit pixels per frame. Two sizes, a
quarter folder and a full archive folder (1,300 frames), give the memory per input MB.

1. Every step of the workflow runs as its rule does (levelpipe.steps.run_step with the step's
   config), each in its own process, so its wall time, CPU time (user + system) and peak memory
   (ru_maxrss from wait4) are its own. Rounds are interleaved (every step of every size once per
   round) and the medians printed, with CPU beside wall: on a shared machine wall time drifts with
   the load, CPU time much less. Peak memory is fitted as a fixed part plus a part per MB of input
   (Snakemake's input.size_mb) from the two sizes: the figures behind Step.mem_mb and
   mem_mb_per_input_mb in levelpipe/timepix/family.py.
2. The hot stages in one process on the full folder (CPU time, medians over the rounds):
   raw text -> frames, 8-connected labelling, features, classification, L1 -> labelled JSON.
   Target: raw -> labelled JSON >= 10,000 clusters/s on one core.
Run: python benchmarks/bench_vzlusat1.py [n_frames] [rounds]
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))

import numpy as np  # noqa: E402

SAMPLE = REPO / "resources" / "vzlusat1"
STEPS = ("l0", "l1", "labelled", "l2", "quicklook", "browser", "maps")


def _settings():
    from levelpipe.family import get_family
    from levelpipe.settings import load_settings
    return load_settings(get_family("vzlusat1").settings_model, REPO / "config" / "vzlusat1.yaml")


def child(step: str, spec: str) -> None:
    """Run one step in this process (the parent measures it)."""
    from levelpipe.family import get_family
    from levelpipe.steps import Files, run_step
    io = json.loads(Path(spec).read_text())
    run_step("vzlusat1", step, Files(io["inputs"]), Files(io["outputs"]),
             get_family("vzlusat1").step_config(step, _settings(), io["folder"]), {"folder": io["folder"]})


def step_files(step: str, d: Path, raw_files: dict, training: list[str]) -> dict:
    """Inputs and outputs of a step for the folder in `d`, as its rule gives them."""
    io = {
        "l0": (raw_files, {"out": d / "l0.nc"}),
        "model": ({"training": training}, {"model": d.parent / "model.pkl", "report": d.parent / "report.json"}),
        "l1": ({"l0": d / "l0.nc", "model": d.parent / "model.pkl"}, {"out": d / "l1.nc"}),
        "labelled": ({"l1": d / "l1.nc"}, {"out": d / "labelled"}),
        "l2": ({"l1": d / "l1.nc"}, {"out": d / "l2.nc"}),
        "quicklook": ({"l0": d / "l0.nc", "l1": d / "l1.nc", "l2": d / "l2.nc"}, {"out": d / "quicklook.png"}),
        "browser": ({"l0": d / "l0.nc", "l1": d / "l1.nc"}, {"page": d / "browser" / "bench.html",
                                                            "frames": d / "browser" / "bench.frames"}),
        "maps": ({"l2": [d / "l2.nc"]}, {"dose": d / "maps" / "dose_rate.png",
                                         "flux": [d / "maps" / f"flux_{s}.png" for s in ("all", "electrons_gamma",
                                                                                         "protons_ions")]}),
    }[step]
    return {"inputs": {k: [str(p) for p in (v if isinstance(v, (list, tuple)) else [v])] for k, v in io[0].items()},
            "outputs": {k: [str(p) for p in (v if isinstance(v, (list, tuple)) else [v])] for k, v in io[1].items()},
            "folder": "bench"}


def measure(step: str, spec: dict) -> dict:
    """Wall, CPU and peak RSS of one step run in a child process."""
    spec_file = Path(spec["outputs"][next(iter(spec["outputs"]))][0]).parent / f".{step}.spec.json"
    spec_file.parent.mkdir(parents=True, exist_ok=True)
    spec_file.write_text(json.dumps(spec))  # 1,300 frames' files are too long for a command line
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", step, str(spec_file)])
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"step {step} failed ({proc.returncode})")
    size = sum(os.path.getsize(p) for ps in spec["inputs"].values() for p in ps if os.path.isfile(p))
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
            "input_mb": size / 1e6}


def stages(d: Path, model_path: Path, rounds: int) -> None:
    """The hot stages in this process, CPU time, on the folder in `d`."""
    from levelpipe.timepix.classifier import classify, load_model
    from levelpipe.timepix.clusters import features, find_clusters
    from levelpipe.timepix.formats import read_matrix
    from levelpipe.timepix.l1 import export_labelled
    raws = sorted((d / "archive" / "raw" / "bench").glob("*_fullres.txt"))
    model, _ = load_model(model_path)
    out: dict[str, list[float]] = {}
    for _ in range(rounds):
        t = time.process_time()
        frames = np.stack([read_matrix(p) for p in raws])
        out.setdefault("read", []).append(time.process_time() - t)
        t = time.process_time()
        cl = find_clusters(frames)
        out.setdefault("label", []).append(time.process_time() - t)
        t = time.process_time()
        X = features(cl)
        out.setdefault("features", []).append(time.process_time() - t)
        t = time.process_time()
        classify(model, X)
        out.setdefault("classify", []).append(time.process_time() - t)
        t = time.process_time()
        export_labelled(d / "l1.nc", d / "labelled-stage")
        out.setdefault("export", []).append(time.process_time() - t)
        del frames
    m = {k: float(np.median(v)) for k, v in out.items()}
    n, f = cl.n, len(raws)
    print(f"\n2. hot stages, one process, {f} frames, {n} clusters ({n / f:.0f} per frame), CPU time (median):")
    print(f"  raw text -> frames           : {f / m['read']:9.1f} frames/s   ({m['read']:.2f} s)")
    print(f"  8-connected labelling        : {n / m['label']:9.0f} clusters/s ({m['label']:.2f} s)")
    print(f"  {X.shape[1]} features                  : {n / m['features']:9.0f} clusters/s ({m['features']:.2f} s)")
    print(f"  classification (forest)      : {n / m['classify']:9.0f} clusters/s ({m['classify']:.2f} s)")
    print(f"  L1 -> labelled JSON export   : {n / m['export']:9.0f} clusters/s ({m['export']:.2f} s)")
    total = sum(m.values())
    print(f"  raw -> labelled JSON overall : {n / total:9.0f} clusters/s ({total:.2f} s)  target >= 10000")


def main(n_frames: int, rounds: int) -> None:
    from levelpipe.family import get_family
    from levelpipe.timepix.family import FAMILY
    from levelpipe.timepix.synthetic import build_folder
    settings = _settings()
    sizes = (max(n_frames // 4, 1), n_frames)
    training = sorted(str(p) for p in (SAMPLE / "labelled").rglob("*_fullres.clusters.txt"))
    with tempfile.TemporaryDirectory(prefix="lp-bench-vz-") as tmp:
        dirs, raw_files = {}, {}
        for n in sizes:
            d = Path(tmp) / f"f{n}"
            built = build_folder(SAMPLE, d / "archive", n)
            dirs[n], raw_files[n] = d, dict(FAMILY.index(d / "archive", settings)["bench"].files)
            print(f"folder of {n} frames: hit pixels per frame {built.hit_pixels.min()}..{built.hit_pixels.max()} "
                  f"(median {int(np.median(built.hit_pixels))}, {built.distinct} distinct real frames)")
        runs: dict[tuple[str, int], list[dict]] = {}
        for _ in range(rounds):
            runs.setdefault(("model", 0), []).append(measure("model", step_files("model", dirs[sizes[0]], {}, training)))
            for n in sizes:
                for step in STEPS:
                    runs.setdefault((step, n), []).append(measure(step, step_files(step, dirs[n], raw_files[n], training)))
        print(f"\n1. steps in their own process, {rounds} interleaved rounds, medians:")
        print(f"  {'step':10s} {'frames':>6s} {'input MB':>9s} {'wall s':>7s} {'CPU s':>7s} {'peak MB':>8s}")
        for (step, n), rs in runs.items():
            med = {k: float(np.median([r[k] for r in rs])) for k in rs[0]}
            print(f"  {step:10s} {n or '-':>6} {med['input_mb']:9.1f} {med['wall']:7.2f} {med['cpu']:7.2f} {med['rss_mb']:8.0f}")
        print("\n  peak memory = fixed + per input MB (fitted on the two sizes) vs levelpipe.timepix.family:")
        spec = get_family("vzlusat1").steps
        for step in ("model",) + STEPS:
            if step == "model":
                rs = runs[("model", 0)]
                fixed, per = float(np.median([r["rss_mb"] for r in rs])), 0.0
            else:
                a, b = ({k: float(np.median([r[k] for r in runs[(step, n)]])) for k in ("rss_mb", "input_mb")}
                        for n in sizes)
                per = max((b["rss_mb"] - a["rss_mb"]) / max(b["input_mb"] - a["input_mb"], 1e-9), 0.0)
                fixed = a["rss_mb"] - per * a["input_mb"]
            s = spec[step]
            print(f"  {step:10s} measured {fixed:6.0f} MB + {per:5.2f} x input MB;  family.py: "
                  f"{s.mem_mb} MB + {s.mem_mb_per_input_mb} x input MB")
        stages(dirs[sizes[-1]], dirs[sizes[0]].parent / "model.pkl", rounds)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 1300, int(sys.argv[2]) if len(sys.argv) > 2 else 3)
