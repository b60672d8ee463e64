"""VZLUSAT-1 track classifier on the real labelled frames: agreement with the archive labels held
out by frame and by folder, what class weights, candidate features and more data change, how good
the probabilities are against sklearn's calibration (the peer), and what training costs.

All figures are pooled leave-one-group-out predictions on the bundled labelled frames (7 frames,
2 folders, 3,131 clusters), each repeated over forest seeds so that a difference can be told from
the seed's own spread (mean +- standard deviation over seeds). Nothing here is tuned to one split.

1. class_weight (config classifier.class_weight) x seeds: non-dot agreement and per-class recall,
   by frame and by folder, through the library's own `train_classifier` (its training report);
   training time (wall and CPU, medians of interleaved rounds).
2. Feature sets, held out by frame: the 25 features of before issue 11, each group added since
   (ideas from the existing documented features, extended by standard morphology: Baca et al.
   2019 is not available offline), the library's 30, and candidates that were not adopted.
3. Learning curve: the fraction of the other frames' clusters trained on, held out by frame.
4. Probabilities held out by frame: the forest's votes, the library's temperature scaling, and
   sklearn's CalibratedClassifierCV (3-fold, sigmoid and isotonic).
Run: python benchmarks/bench_vzlusat1_classifier.py [n_seeds]
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))

import numpy as np  # noqa: E402
from sklearn.calibration import CalibratedClassifierCV  # noqa: E402

from levelpipe.family import get_family  # noqa: E402
from levelpipe.settings import load_settings  # noqa: E402
from levelpipe.timepix.classes import CLASS_NAMES  # noqa: E402
from levelpipe.timepix.classifier import (CLASSES, TrackClassifier, clusters_from_list, make_forest,  # noqa: E402
                                          probability_scores, train_classifier)
from levelpipe.timepix.clusters import FEATURE_NAMES, features  # noqa: E402
from levelpipe.timepix.formats import read_clusters  # noqa: E402

SAMPLE = REPO / "resources" / "vzlusat1" / "labelled"
N_SEEDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
SEEDS = [42 + k for k in range(N_SEEDS)]
SHOWN = ("blob_small", "blob_big", "blob_branched", "track_straight", "track_curly", "other", "track_lowres")


# --- candidate features (a study, not library code) ---------------------------------------------

_NEIGHBOURS_8 = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def _lookup(sorted_keys, k):
    i = np.minimum(np.searchsorted(sorted_keys, k), sorted_keys.size - 1)
    return sorted_keys[i] == k


def candidate_features(cl) -> dict[str, np.ndarray]:
    """Per-cluster candidates that are not library features, vectorised like them."""
    n, lab, s = cl.n, cl.label, cl.pixel_start
    r, c = cl.row.astype(np.int64), cl.col.astype(np.int64)
    e, cnt = cl.energy.astype(np.float64), cl.pixel_count.astype(np.float64)

    def tot(x):
        return np.bincount(lab, x, minlength=n)
    key = (lab * 258 + r + 1) * 258 + c + 1       # padded grid: a neighbour never wraps
    keys = np.sort(key)
    ring = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]  # circular order
    inside = np.stack([_lookup(keys, key + dr * 258 + dc) for dr, dc in ring], axis=1)
    n8 = inside.sum(axis=1)
    runs = np.sum(inside & ~np.roll(inside, -1, axis=1), axis=1)  # crossing number
    out = {"fork_fraction": tot(((n8 >= 3) & (n8 <= 4)).astype(float)) / cnt,
           "thick_fraction": tot((n8 >= 5).astype(float)) / cnt,
           "crossing_ends": tot((runs == 1).astype(float)), "crossing_branches": tot((runs >= 3).astype(float))}
    depth, alive, k = np.zeros(key.size), np.ones(key.size, bool), 0
    while alive.any():                              # 8-neighbour erosions until the pixel goes
        k += 1
        depth[alive] = k
        ak = np.sort(key[alive])
        alive = alive & np.all([_lookup(ak, key + dr * 258 + dc) for dr, dc in _NEIGHBOURS_8], axis=0)
    out["erosion_depth"] = np.maximum.reduceat(depth, s)
    etot = tot(e)
    d = e - (etot / cnt)[lab]
    var = tot(d * d) / cnt
    with np.errstate(invalid="ignore", divide="ignore"):
        out["energy_skewness"] = np.nan_to_num(tot(d ** 3) / cnt / var ** 1.5)
        out["energy_kurtosis"] = np.nan_to_num(tot(d ** 4) / cnt / var ** 2)
    out["edge_energy_fraction"] = tot(e * (n8 < 8)) / etot
    return out


ORIGINAL = FEATURE_NAMES[:FEATURE_NAMES.index("energy_per_length") + 1]  # the 25 before issue 11
ADDED = {
    "shape (max radius, curvature and residual of a quadratic fit, straightness)":
        ("radius_max", "radius_max_norm", "curvature", "quadratic_residual", "straightness"),
}
CANDIDATES = {
    "neighbour topology (fork/thick fractions, crossing-number ends and branches)":
        ("fork_fraction", "thick_fraction", "crossing_ends", "crossing_branches"),
    "thickness (erosion depth)": ("erosion_depth",),
    "energy distribution (skewness, kurtosis, edge energy fraction)":
        ("energy_skewness", "energy_kurtosis", "edge_energy_fraction"),
}


# --- helpers ---------------------------------------------------------------------------------

def load():
    files = sorted(SAMPLE.rglob("*_fullres.clusters.txt"))
    X, C, y, frame = [], [], [], []
    for p in files:
        cl = clusters_from_list(read_clusters(p))
        X.append(features(cl))
        C.append(candidate_features(cl))
        y.append(read_clusters(p).class_id.astype(np.int64))
        frame += [str(p)] * cl.n
    cand = {k: np.concatenate([c[k] for c in C]) for k in C[0]}
    return files, np.vstack(X), cand, np.concatenate(y), np.array(frame)


def held_out(X, y, groups, settings, train_fraction=1.0, rng=None):
    pred = np.zeros_like(y)
    for g in np.unique(groups):
        test = groups == g
        train = np.flatnonzero(~test)
        if train_fraction < 1:
            train = rng.choice(train, int(train_fraction * train.size), replace=False)
        pred[test] = TrackClassifier.fit(X[train], y[train], settings).predict(X[test])
    return pred


def non_dot(pred, y):
    m = y != 1
    return float(np.mean(pred[m] == y[m]))


def mean_sd(values) -> str:
    return f"{np.mean(values):.3f}+-{np.std(values):.3f}"


def main() -> None:
    warnings.filterwarnings("ignore", category=UserWarning)  # OOB warnings of small folds
    fam = get_family("vzlusat1")
    base = load_settings(fam.settings_model, REPO / "config" / "vzlusat1.yaml").classifier
    files, X, cand, y, frame = load()
    print(f"classifier study: {y.size} labelled clusters in {len(files)} frames, seeds {SEEDS}, "
          f"{base.n_estimators} trees")

    # 1. class weights through the library's training (its report), interleaved with the seeds
    rows, times = {}, {}
    with tempfile.TemporaryDirectory() as d:
        for seed in SEEDS:
            for cw in (None, "balanced", "balanced_subsample"):
                s = base.model_copy(update={"class_weight": cw, "seed": seed})
                w, c = time.perf_counter(), time.process_time()
                report = train_classifier(files, Path(d) / "m.pkl", Path(d) / "r.json", s)
                times.setdefault(cw, []).append((time.perf_counter() - w, time.process_time() - c))
                rows.setdefault(cw, []).append(report)
    print("\n1. class_weight, held out by frame / by folder (mean+-sd over seeds):")
    for cw, reports in rows.items():
        for scheme in ("cv_by_frame", "cv_by_folder"):
            recall = {n: mean_sd([r[scheme]["per_class"][n]["recall"] for r in reports]) for n in SHOWN}
            print(f"  {str(cw):19s} {scheme[3:]:9s} non-dot {mean_sd([r[scheme]['non_dot_agreement'] for r in reports])} "
                  + " ".join(f"{n}={v}" for n, v in recall.items()))
        w, c = np.median(times[cw], axis=0)
        print(f"  {'':19s} training with both CVs (9 extra forests): {w:.1f} s wall / {c:.1f} s CPU (median)")

    # 2. features, by frame: the 25 of before, each added group, the library's 30, candidates on top
    print("\n2. feature sets (held out by frame, class_weight null):")
    col = {n: X[:, i] for i, n in enumerate(FEATURE_NAMES)} | cand
    sets = {f"the original {len(ORIGINAL)}": ORIGINAL}
    sets |= {f"{len(ORIGINAL)} + {k}": ORIGINAL + v for k, v in ADDED.items()}
    sets[f"all {len(FEATURE_NAMES)} (the library's)"] = FEATURE_NAMES
    sets |= {f"{len(FEATURE_NAMES)} + candidate {k}": FEATURE_NAMES + v for k, v in CANDIDATES.items()}
    for label, names in sets.items():
        Xs = np.column_stack([col[n] for n in names])
        runs = [held_out(Xs, y, frame, base.model_copy(update={"seed": s})) for s in SEEDS]
        recall = {CLASS_NAMES[c]: mean_sd([np.mean(p[y == c] == c) for p in runs]) for c in (4, 5, 6)}
        print(f"  {label[:86]:86s} non-dot {mean_sd([non_dot(p, y) for p in runs])} "
              + " ".join(f"{k}={v}" for k, v in recall.items()))

    # 3. learning curve, by frame
    print("\n3. learning curve (fraction of the other frames' clusters trained on, by frame):")
    rng = np.random.default_rng(0)
    for f in (0.25, 0.5, 0.75, 1.0):
        runs = [held_out(X, y, frame, base.model_copy(update={"seed": s}), f, rng) for s in SEEDS]
        print(f"  {f:4.2f}: non-dot {mean_sd([non_dot(p, y) for p in runs])}")

    # 4. probabilities, by frame: votes, temperature scaling, sklearn's calibration (the peer)
    print("\n4. probabilities held out by frame (clusters of a class absent from the fold's training left out):")
    probs = {k: np.zeros((y.size, CLASSES.size)) for k in ("forest votes", "temperature scaling (ours)",
                                                         "sklearn sigmoid, 3-fold", "sklearn isotonic, 3-fold")}
    scored = np.zeros(y.size, bool)
    for g in np.unique(frame):
        test = frame == g
        scored[test] = np.isin(y[test], y[~test])
        model = TrackClassifier.fit(X[~test], y[~test], base)
        probs["forest votes"][test] = model.votes(X[test])
        probs["temperature scaling (ours)"][test] = model.predict_proba(X[test])
        # the peer needs 3 examples of a class to calibrate it
        keep = ~test & np.isin(y, [c for c in CLASSES if np.sum(y[~test] == c) >= 3])
        for method, key in (("sigmoid", "sklearn sigmoid, 3-fold"), ("isotonic", "sklearn isotonic, 3-fold")):
            peer = CalibratedClassifierCV(make_forest(base), method=method, cv=3).fit(X[keep], y[keep])
            p = np.zeros((test.sum(), CLASSES.size))
            p[:, np.searchsorted(CLASSES, peer.classes_)] = peer.predict_proba(X[test])
            probs[key][test] = p
    for k, p in probs.items():
        sc = probability_scores(p[scored], y[scored])
        nd = scored & (y != 1)
        print(f"  {k:28s} log loss {sc['log_loss']:.3f}  Brier {sc['brier']:.4f}  ECE {sc['ece']:.4f}  "
              f"(non-dot ECE {probability_scores(p[nd], y[nd])['ece']:.4f}, {scored.sum()} clusters)")
    print(f"\nclasses: {', '.join(f'{c}={n}' for c, n in CLASS_NAMES.items())}")


if __name__ == "__main__":
    main()
