"""Random-forest track classifier, trained on the archive's labelled cluster lists.

The archive labels were themselves produced by a random forest over morphological features
(Baca et al., IROS 2019). We retrain one on our 25 features (`clusters.FEATURE_NAMES`) from the
labelled layout, seeded so the model is reproducible, and measure how well it agrees with the
archive labels on folders it has not seen (leave-one-folder-out) and, as a finer check, on frames
it has not seen (leave-one-frame-out).
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
from sklearn.ensemble import RandomForestClassifier

import levelpipe
from levelpipe.errors import TimepixError
from levelpipe.io import atomic_output
from levelpipe.provenance import config_digest, input_digests
from levelpipe.timepix.classes import CLASS_NAMES
from levelpipe.timepix.clusters import FEATURE_NAMES, Clusters, features
from levelpipe.timepix.formats import ClusterList, read_clusters
from levelpipe.timepix.settings import ClassifierSettings

MODEL_FORMAT = "levelpipe-timepix-rf-1"


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
        random_state=settings.seed,
        n_jobs=1,  # deterministic and leaves the other cores to Snakemake
    )


def grouped_cv(X: np.ndarray, y: np.ndarray, groups: np.ndarray, settings: ClassifierSettings) -> dict[str, Any]:
    """Leave-one-group-out predictions pooled over all folds: accuracy and per-class recall."""
    pred = np.zeros_like(y)
    folds = {}
    for g in np.unique(groups):
        test = groups == g
        model = make_forest(settings).fit(X[~test], y[~test])
        pred[test] = model.predict(X[test])
        folds[str(g)] = {"n": int(test.sum()), "accuracy": float(np.mean(pred[test] == y[test])),
                         "classes_in_training": sorted(CLASS_NAMES[int(c)] for c in np.unique(y[~test]))}
    per_class = {}
    for cid, name in CLASS_NAMES.items():
        m = y == cid
        if m.any():
            per_class[name] = {"n": int(m.sum()), "recall": float(np.mean(pred[m] == cid))}
    return {"groups": int(np.unique(groups).size), "n": int(y.size),
            "accuracy": float(np.mean(pred == y)), "per_class": per_class, "folds": folds}


def train_classifier(training_files, model_path: str | Path, report_path: str | Path,
                     settings: ClassifierSettings) -> dict[str, Any]:
    """Train on the labelled cluster lists `training_files`; write model and CV report."""
    config = settings.model_dump(mode="json")
    data = load_training_set(training_files)
    X, y = data["X"], data["y"]
    report = {
        "levelpipe_version": levelpipe.__version__,
        "features": list(FEATURE_NAMES),
        "clusters": int(y.size),
        "class_counts": {CLASS_NAMES[c]: int(np.sum(y == c)) for c in CLASS_NAMES},
        "cv_by_folder": grouped_cv(X, y, data["folder"], settings),
        "cv_by_frame": grouped_cv(X, y, data["frame"], settings),
    }
    model = make_forest(settings).fit(X, y)
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
        "cv_by_folder_accuracy": report["cv_by_folder"]["accuracy"],
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


def load_model(path: str | Path) -> tuple[RandomForestClassifier, dict[str, Any]]:
    """Load a model written by `train_classifier`; refuses files of another format or feature set."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            obj = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise TimepixError(f"cannot load classifier: {exc}", path) from None
    prov = obj.get("provenance", {}) if isinstance(obj, dict) else {}
    if prov.get("format") != MODEL_FORMAT or prov.get("feature_names") != list(FEATURE_NAMES):
        raise TimepixError("not a levelpipe Timepix classifier for this feature set", path)
    return obj["model"], prov


def classify(model: RandomForestClassifier, X: np.ndarray) -> np.ndarray:
    if X.shape[0] == 0:
        return np.zeros(0, dtype=np.int8)
    return model.predict(X).astype(np.int8)
