"""VZLUSAT-1 speed: frames/s for raw text -> L0 and clusters/s for raw -> labelled JSON, one core.

Builds a folder of >= 1000 frames by repeating the 3 bundled real raw frames (with their
metadata and .dsc), then times each stage on one process. Target: >= 10,000 clusters/s.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from levelpipe.timepix.classifier import train_classifier  # noqa: E402
from levelpipe.timepix.clusters import features, find_clusters  # noqa: E402
from levelpipe.timepix.l0 import build_l0, folder_files, read_folder  # noqa: E402
from levelpipe.timepix.l1 import build_l1, export_labelled  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "resources" / "vzlusat1"
N_FRAMES = int(sys.argv[1]) if len(sys.argv) > 1 else 1002


def make_folder(root: Path, n_frames: int) -> None:
    src = SAMPLE / "raw" / "above_europe"
    dst = root / "raw" / "bench"
    dst.mkdir(parents=True)
    originals = [7, 20, 34]
    for i in range(n_frames):
        n = originals[i % 3]
        for suffix in ("txt", "txt.dsc", "metadata.txt"):
            f = src / f"{n}_fullres.{suffix}"
            if f.exists():
                shutil.copyfile(f, dst / f"{i + 1}_fullres.{suffix}")


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="lp-bench-vz-"))
    try:
        make_folder(tmp, N_FRAMES)
        train_classifier(SAMPLE / "labelled", tmp / "model.pkl", tmp / "report.json",
                         {"seed": 42, "n_estimators": 200})
        cfg = {"assume_energy_mode_when_unknown": True}

        t0 = time.perf_counter()
        ds = read_folder(folder_files(tmp, "bench"), cfg)
        t_read = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_l0(tmp, "bench", tmp / "l0.nc", cfg)
        t_l0 = time.perf_counter() - t0

        t0 = time.perf_counter()
        cl = find_clusters(ds.energy.values)
        t_label = time.perf_counter() - t0
        t0 = time.perf_counter()
        features(cl)
        t_feat = time.perf_counter() - t0

        t0 = time.perf_counter()
        build_l1(tmp / "l0.nc", tmp / "model.pkl", tmp / "l1.nc")
        t_l1 = time.perf_counter() - t0
        t0 = time.perf_counter()
        export_labelled(tmp / "l1.nc", tmp / "labelled")
        t_json = time.perf_counter() - t0

        n = cl.n
        total = t_l0 + t_l1 + t_json
        print(f"VZLUSAT-1 benchmark: {N_FRAMES} frames, {n} clusters, 1 core")
        print(f"  raw text -> frames in memory : {N_FRAMES / t_read:9.1f} frames/s ({t_read:.2f} s)")
        print(f"  raw text -> L0 netCDF        : {N_FRAMES / t_l0:9.1f} frames/s ({t_l0:.2f} s)")
        print(f"  8-connected labelling        : {n / t_label:9.0f} clusters/s ({t_label:.2f} s)")
        print(f"  25 features                  : {n / t_feat:9.0f} clusters/s ({t_feat:.2f} s)")
        print(f"  L0 -> L1 (cluster+classify)  : {n / t_l1:9.0f} clusters/s ({t_l1:.2f} s)")
        print(f"  L1 -> labelled JSON export   : {n / t_json:9.0f} clusters/s ({t_json:.2f} s)")
        print(f"  raw -> labelled JSON overall : {n / total:9.0f} clusters/s ({total:.2f} s)  target >= 10000")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
