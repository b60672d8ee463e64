"""VZLUSAT-1 browser of a real-size folder: page + batch files written, and opened in headless Chromium.

Builds a folder of 1,300 frames (the size of a full archive folder) from the real frames of the
bundled sample, frames of varied occupancy (levelpipe.timepix.synthetic: 253 to ~7,800 hit
pixels), runs L0 and L1 on it as the workflow does, then in interleaved rounds:

- writes the browser (the configured frames per batch file) and, as the peer side by side, the
  same page unpaged (every frame in one file, as the page was before paging: all pixels loaded
  when it opens);
- opens each in headless Chromium at the first frame, at a sum of 50 frames and in the middle of
  the folder; "ready" is the page's own time from navigation start to the first frame drawn
  (``performance.now()``, status data-ready-ms); the Chromium process's wall time (start-up
  included) and CPU time (all its processes) are printed beside it.

Figures are medians over the rounds; CPU time is printed beside wall time because on a shared
machine wall time alone drifts with the load. Target: a full folder opens in under 2 s.
Run: python benchmarks/bench_vzlusat1_browser.py [n_frames] [rounds]
"""
from __future__ import annotations

import os
import re
import resource
import shutil
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

from levelpipe.family import get_family  # noqa: E402
from levelpipe.settings import load_settings  # noqa: E402
from levelpipe.steps import Files, run_step  # noqa: E402
from levelpipe.timepix.browser import frames_dir, write_browser  # noqa: E402
from levelpipe.timepix.synthetic import build_folder  # noqa: E402

SAMPLE = REPO / "resources" / "vzlusat1"
N_FRAMES = int(sys.argv[1]) if len(sys.argv) > 1 else 1300
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
VIEWS = {"first frame": "", "sum of 50": "#batch=50", "middle": f"#frame={N_FRAMES // 2}"}
# A small forest is enough here: the browser's work does not depend on how well clusters are classified.
BENCH_OVERRIDES = {"classifier": {"n_estimators": 20}}


def step(settings, name: str, inputs: dict, outputs: dict, folder: str = "bench") -> None:
    fam = get_family("vzlusat1")
    run_step("vzlusat1", name, Files(inputs), Files(outputs), fam.step_config(name, settings, folder),
             {"folder": folder})


def products(tmp: Path, settings) -> tuple[Path, Path]:
    built = build_folder(SAMPLE, tmp / "archive", N_FRAMES)
    print(f"folder: {built.frames} frames from {built.distinct} distinct real frames, hit pixels per frame "
          f"{built.hit_pixels.min()}..{built.hit_pixels.max()} (median {int(np.median(built.hit_pixels))})")
    g = get_family("vzlusat1").index(tmp / "archive", settings)["bench"]
    step(settings, "l0", dict(g.files), {"out": tmp / "l0.nc"})
    training = sorted(str(p) for p in (SAMPLE / "labelled").rglob("*_fullres.clusters.txt"))
    step(settings, "model", {"training": training}, {"model": tmp / "m.pkl", "report": tmp / "r.json"})
    step(settings, "l1", {"l0": tmp / "l0.nc", "model": tmp / "m.pkl"}, {"out": tmp / "l1.nc"})
    return tmp / "l0.nc", tmp / "l1.nc"


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def open_page(page: Path, fragment: str, profile: Path) -> dict:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,1000", "--dump-dom",
           page.as_uri() + fragment]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HOME": str(profile)}).stdout
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    shutil.rmtree(profile, ignore_errors=True)
    m = re.search(r'<div id="status"([^>]*)>', dom)
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', m.group(1))) if m else {}
    return {"wall": wall, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "ready": attrs.get("data-state") == "ready",
            "ready_ms": float(attrs["data-ready-ms"]) if "data-ready-ms" in attrs else float("nan")}


def size_mb(page: Path) -> tuple[float, float, int]:
    files = sorted(frames_dir(page).iterdir())
    return page.stat().st_size / 1e6, sum(f.stat().st_size for f in files) / 1e6, len(files)


def main() -> None:
    settings = load_settings(get_family("vzlusat1").settings_model, REPO / "config" / "vzlusat1.yaml",
                             BENCH_OVERRIDES)
    browser = settings.section("browser")["browser"]
    variants = {"paged": browser, "unpaged (peer)": {**browser, "frames_per_file": N_FRAMES}}
    have_chromium = Path(CHROMIUM).exists()
    with tempfile.TemporaryDirectory(prefix="lp-bench-vz-browser-") as d:
        tmp = Path(d)
        l0, l1 = products(tmp, settings)
        write = {k: [] for k in variants}
        loads = {(k, v): [] for k in variants for v in VIEWS}
        for r in range(ROUNDS):
            for k, cfg in variants.items():  # interleaved: every variant once per round
                page = tmp / k.split()[0] / "bench.html"
                write[k].append(timed(lambda: write_browser(l0, l1, page, cfg)))
                if have_chromium:
                    for v, fragment in VIEWS.items():
                        loads[(k, v)].append(open_page(page, fragment, tmp / f"profile-{r}"))
        print(f"browser of {N_FRAMES} frames, {ROUNDS} interleaved rounds, medians (wall / CPU):")
        for k, cfg in variants.items():
            page = tmp / k.split()[0] / "bench.html"
            html_mb, batch_mb, n_files = size_mb(page)
            w = np.median(write[k], axis=0)
            print(f"  {k:15s} write {w[0]:6.2f} s wall / {w[1]:6.2f} s CPU; page {html_mb:5.2f} MB + "
                  f"{n_files} batch file(s) {batch_mb:6.1f} MB ({cfg['frames_per_file']} frames per file)")
            if not have_chromium:
                continue
            for v in VIEWS:
                runs = loads[(k, v)]
                ready = np.median([x["ready_ms"] for x in runs]) / 1e3
                wall = np.median([x["wall"] for x in runs])
                cpu = np.median([x["cpu"] for x in runs])
                ok = all(x["ready"] for x in runs)
                print(f"      open at {v:12s}: ready {ready:5.2f} s after navigation; Chromium process "
                      f"{wall:5.2f} s wall / {cpu:5.2f} s CPU{'' if ok else '  (NOT READY in some round)'}")
        if not have_chromium:
            print("  page opening not timed: no chromium (make system-deps installs it)")
        print("  target: a full folder opens (ready) in under 2 s")


if __name__ == "__main__":
    main()
