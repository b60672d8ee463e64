"""Random-forest track classifier, trained on the archive's labelled cluster lists, with calibrated
class probabilities.

The archive labels were themselves produced by a random forest over morphological features
(Baca et al., IROS 2019). We retrain one on our 30 features (`clusters.FEATURE_NAMES`) from the
labelled layout, seeded so the model is reproducible, and measure how well it agrees with the
archive labels on frames it has not seen (leave-one-frame-out) and on folders it has not seen
(leave-one-folder-out): per-class recall and precision, the confusion matrix, and how good the
class probabilities are (log loss, Brier score, expected calibration error).

Decision (probabilities): a forest's class votes are not calibrated probabilities; on the real
labelled frames held out one at a time they are under-confident (expected calibration error
0.029 overall, 0.074 on non-dot clusters). We calibrate them by temperature scaling,
p_k ~ v_k ** (1 / T) with v the votes (floored at half a tree's vote, so that no class is
impossible), T fitted by maximum likelihood on the forest's own out-of-bag votes: no data are
held back from training and no second model is fitted. It keeps the forest's decision (the class
is the most probable one either way). Held out by frame (benchmarks/bench_vzlusat1_classifier.py)
it lowered the log loss from 0.127 to 0.116 and the calibration error to 0.009 (non-dot 0.022);
sklearn's CalibratedClassifierCV on the same folds (the peer, 3-fold, 4 forests per fold) gave
log loss 0.147 / ECE 0.029 (sigmoid) and 1.9 / 0.004 (isotonic: well calibrated on average but
it gives some true classes probability ~0).
"""
from __future__ import annotations

import json
import os
import pickle
import platform
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from scipy.optimize import minimize_scalar
from sklearn.ensemble import RandomForestClassifier

import levelpipe
from levelpipe.errors import TimepixError
from levelpipe.io import atomic_output
from levelpipe.provenance import config_digest, input_digests
from levelpipe.timepix.classes import CLASS_NAMES
from levelpipe.timepix.clusters import FEATURE_NAMES, Clusters, features
from levelpipe.timepix.formats import ClusterList, read_clusters
from levelpipe.timepix.settings import ClassifierSettings

MODEL_FORMAT = "levelpipe-timepix-rf-2"
#: every class id, in the order of the probability columns (L1 `class` coordinate)
CLASSES = np.array(sorted(CLASS_NAMES), dtype=np.int64)
# Search range of the temperature: from sharpening the votes twentyfold to flattening them
# twentyfold (fitted values on the real labelled frames: 0.65 to 0.72).
_TEMPERATURE_RANGE = (0.05, 20.0)
# Bins of the expected calibration error (the usual ten of width 0.1 in confidence).
_ECE_BINS = 10


def clusters_from_list(cl: ClusterList) -> Clusters:
    n = cl.pixel_count.size
    return Clusters(frame_index=np.zeros(n, np.int32), pixel_start=cl.pixel_start, pixel_count=cl.pixel_count,
                    row=cl.row, col=cl.col, energy=cl.energy,
                    label=np.repeat(np.arange(n, dtype=np.int64), cl.pixel_count))


def load_training_set(files) -> dict[str, Any]:
    """Features, labels and groups of the labelled cluster lists `files` (`*_fullres.clusters.txt`).

    Decision: a file's folder (its CV group) is its directory relative to the deepest directory
    all the files' folders share, i.e. the archive folder name below `labelled/` when there are
    two folders or more (with a single folder every file is in group ".").
    """
    files = sorted(Path(f) for f in files)
    if not files:
        raise TimepixError("no labelled cluster lists (*_fullres.clusters.txt) given")
    parents = sorted({f.parent.resolve() for f in files})
    root = Path(os.path.commonpath(parents)) if len(parents) > 1 else parents[0]
    X, y, folder, frame = [], [], [], []
    for path in files:
        cl = read_clusters(path)
        X.append(features(clusters_from_list(cl)))
        y.append(cl.class_id.astype(np.int64))
        rel = path.parent.resolve().relative_to(root).as_posix()
        folder += [rel] * cl.class_id.size
        frame += [f"{rel}/{path.name.split('_')[0]}"] * cl.class_id.size
    return {"X": np.vstack(X), "y": np.concatenate(y), "folder": np.array(folder),
            "frame": np.array(frame), "files": files}


def make_forest(settings: ClassifierSettings) -> RandomForestClassifier:
    return RandomForestClassifier(
        n_estimators=settings.n_estimators,
        min_samples_leaf=settings.min_samples_leaf,
        max_features=settings.max_features,
        class_weight=settings.class_weight,
        oob_score=True,  # the out-of-bag votes calibrate the probabilities
        random_state=settings.seed,
        n_jobs=1,  # deterministic and leaves the other cores to Snakemake
    )


def _scaled(votes: np.ndarray, temperature: float, floor: float) -> np.ndarray:
    z = np.log(np.maximum(votes, floor)) / temperature
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


class TrackClassifier:
    """The forest and its temperature, pickled as one object; probabilities over every class id
    (CLASSES order; a class absent from the training set has probability 0)."""

    def __init__(self, forest: RandomForestClassifier, temperature: float, floor: float):
        self.forest, self.temperature, self.floor = forest, float(temperature), float(floor)

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, settings: ClassifierSettings) -> "TrackClassifier":
        forest = make_forest(settings).fit(X, y)
        floor = 0.5 / settings.n_estimators
        oob = forest.oob_decision_function_
        seen = np.all(np.isfinite(oob), axis=1)  # a sample in every tree's bootstrap has no OOB vote
        column = np.searchsorted(forest.classes_, y[seen])
        votes = oob[seen]

        def nll(t: float) -> float:
            return -float(np.mean(np.log(_scaled(votes, t, floor)[np.arange(column.size), column])))
        temperature = minimize_scalar(nll, bounds=_TEMPERATURE_RANGE, method="bounded").x if column.size else 1.0
        return cls(forest, temperature, floor)

    def votes(self, X: np.ndarray) -> np.ndarray:
        out = np.zeros((X.shape[0], CLASSES.size))
        if X.shape[0]:
            out[:, np.searchsorted(CLASSES, self.forest.classes_)] = self.forest.predict_proba(X)
        return out

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        votes = self.forest.predict_proba(X) if X.shape[0] else np.zeros((0, self.forest.classes_.size))
        out = np.zeros((X.shape[0], CLASSES.size))
        out[:, np.searchsorted(CLASSES, self.forest.classes_)] = _scaled(votes, self.temperature, self.floor)
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        return CLASSES[np.argmax(self.predict_proba(X), axis=1)] if X.shape[0] else np.zeros(0, np.int64)


def probability_scores(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Log loss, multi-class Brier score and top-label expected calibration error of probabilities
    `p` (columns CLASSES) for true classes `y`."""
    if not y.size:
        return {"log_loss": float("nan"), "brier": float("nan"), "ece": float("nan")}
    col = np.searchsorted(CLASSES, y)
    truth = np.zeros_like(p)
    truth[np.arange(y.size), col] = 1
    confidence = p.max(axis=1)
    correct = (np.argmax(p, axis=1) == col).astype(float)
    bins = np.minimum((confidence * _ECE_BINS).astype(int), _ECE_BINS - 1)
    n = np.bincount(bins, minlength=_ECE_BINS)
    gap = np.abs(np.bincount(bins, confidence, _ECE_BINS) - np.bincount(bins, correct, _ECE_BINS))
    return {"log_loss": float(-np.mean(np.log(np.maximum(p[np.arange(y.size), col], np.finfo(float).tiny)))),
            "brier": float(np.mean(np.sum((p - truth) ** 2, axis=1))),
            "ece": float(np.sum(gap[n > 0]) / y.size)}


def grouped_cv(X: np.ndarray, y: np.ndarray, groups: np.ndarray, settings: ClassifierSettings) -> dict[str, Any]:
    """Leave-one-group-out predictions pooled over all folds: agreement with the archive labels
    (all clusters and non-dot ones), per-class recall and precision, confusion matrix, and the
    quality of the forest's votes and of the calibrated probabilities."""
    pred = np.zeros_like(y)
    votes = np.zeros((y.size, CLASSES.size))
    proba = np.zeros((y.size, CLASSES.size))
    # A cluster whose class is absent from its fold's training set gets probability 0 for it (no
    # model can do better); the probability scores are over the other clusters.
    scorable = np.zeros(y.size, dtype=bool)
    folds = {}
    for g in np.unique(groups):
        test = groups == g
        model = TrackClassifier.fit(X[~test], y[~test], settings)
        scorable[test] = np.isin(y[test], y[~test])
        votes[test] = model.votes(X[test])
        proba[test] = model.predict_proba(X[test])
        pred[test] = CLASSES[np.argmax(proba[test], axis=1)]
        folds[str(g)] = {"n": int(test.sum()), "accuracy": float(np.mean(pred[test] == y[test])),
                         "temperature": model.temperature,
                         "classes_in_training": sorted(CLASS_NAMES[int(c)] for c in np.unique(y[~test]))}
    per_class = {}
    for cid, name in CLASS_NAMES.items():
        m, p = y == cid, pred == cid
        if m.any():
            per_class[name] = {"n": int(m.sum()), "recall": float(np.mean(pred[m] == cid)),
                               "precision": float(np.mean(y[p] == cid)) if p.any() else None}
    present = [c for c in CLASSES if (y == c).any() or (pred == c).any()]
    confusion = {CLASS_NAMES[int(t)]: {CLASS_NAMES[int(q)]: int(np.sum((y == t) & (pred == q))) for q in present}
                 for t in present}
    non_dot = y != 1
    s, sn = scorable, scorable & non_dot
    return {"groups": int(np.unique(groups).size), "n": int(y.size),
            "accuracy": float(np.mean(pred == y)),
            "non_dot_agreement": float(np.mean(pred[non_dot] == y[non_dot])) if non_dot.any() else None,
            "per_class": per_class, "confusion_true_by_predicted": confusion,
            "probability": {"clusters_scored": int(s.sum()), "clusters_of_a_class_not_in_training": int((~s).sum()),
                            "forest_votes": probability_scores(votes[s], y[s]),
                            "calibrated": probability_scores(proba[s], y[s]),
                            "forest_votes_non_dot": probability_scores(votes[sn], y[sn]),
                            "calibrated_non_dot": probability_scores(proba[sn], y[sn])},
            "folds": folds}


def train_classifier(training_files, model_path: str | Path, report_path: str | Path,
                     settings: ClassifierSettings) -> dict[str, Any]:
    """Train on the labelled cluster lists `training_files`; write model and CV report."""
    config = settings.model_dump(mode="json")
    data = load_training_set(training_files)
    X, y = data["X"], data["y"]
    model = TrackClassifier.fit(X, y, settings)
    report = {
        "levelpipe_version": levelpipe.__version__,
        "features": list(FEATURE_NAMES),
        "clusters": int(y.size),
        "class_counts": {CLASS_NAMES[c]: int(np.sum(y == c)) for c in CLASS_NAMES},
        "calibration": {"method": "temperature scaling of the forest's votes, fitted on its out-of-bag votes",
                        "temperature": model.temperature, "vote_floor": model.floor},
        "cv_by_folder": grouped_cv(X, y, data["folder"], settings),
        "cv_by_frame": grouped_cv(X, y, data["frame"], settings),
    }
    report["training_accuracy"] = float(np.mean(model.predict(X) == y))
    provenance = {
        "format": MODEL_FORMAT,
        "levelpipe_version": levelpipe.__version__,
        "sklearn_version": sklearn.__version__,
        "python": platform.python_version(),
        "input_sha256": input_digests(data["files"]),
        "config": dict(config),
        "config_digest": config_digest(config),
        "feature_names": list(FEATURE_NAMES),
        "class_names": CLASS_NAMES,
        "temperature": model.temperature,
        "cv_by_folder_accuracy": report["cv_by_folder"]["accuracy"],
        "cv_by_frame_accuracy": report["cv_by_frame"]["accuracy"],
    }
    with atomic_output(model_path) as tmp:
        with open(tmp, "wb") as f:
            pickle.dump({"model": model, "provenance": provenance}, f, protocol=4)
    with atomic_output(report_path) as tmp:
        Path(tmp).write_text(json.dumps(report, indent=2) + "\n")
    return report


def write_model(ctx) -> None:
    """Step `model` (rule train_vzlusat1_classifier): labelled cluster lists -> model + CV report."""
    train_classifier(ctx.inputs["training"], ctx.outputs.one("model"), ctx.outputs.one("report"),
                     ctx.settings.classifier)


def load_model(path: str | Path) -> tuple[TrackClassifier, dict[str, Any]]:
    """Load a model written by `train_classifier`; refuses files of another format or feature set."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            obj = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise TimepixError(f"cannot load classifier: {exc}", path) from None
    prov = obj.get("provenance", {}) if isinstance(obj, dict) else {}
    if prov.get("format") != MODEL_FORMAT or prov.get("feature_names") != list(FEATURE_NAMES) \
            or not isinstance(obj.get("model"), TrackClassifier):
        raise TimepixError("not a levelpipe Timepix classifier of this format and feature set", path)
    return obj["model"], prov


def classify(model: TrackClassifier, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class id (int8) and calibrated class probabilities (float32, columns CLASSES) of each cluster."""
    proba = model.predict_proba(X)
    cls = CLASSES[np.argmax(proba, axis=1)] if X.shape[0] else np.zeros(0, np.int64)
    return cls.astype(np.int8), proba.astype(np.float32)
