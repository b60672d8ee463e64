"""Level 1: labelled clusters of one folder, and the compatibility export in the archive's format.

Only frames measured in energy (ToT) mode that are not corrupt are clustered: the features and
the classifier are defined on keV, so clusters of counting- or ToA-mode frames would carry
meaningless classes. Decision: such frames stay in L1 as frames with `classified = 0` and no
clusters; they never reach the energy, dose or flux products.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from levelpipe.io import atomic_output, read_netcdf
from levelpipe.timepix.classes import CLASS_NAMES
from levelpipe.timepix.classifier import classify, load_model
from levelpipe.timepix.clusters import FEATURE_NAMES, FEATURE_UNIT_NOTES, FEATURE_UNITS, features, find_clusters
from levelpipe.timepix.export import write_frame
from levelpipe.timepix.l0 import FLAG_CORRUPT, FLAG_NON_ENERGY_MODE

N_CLASSES = len(CLASS_NAMES)


def label_frames(l0: xr.Dataset, model) -> xr.Dataset:
    """Cluster and classify the usable frames of an L0 dataset into an L1 dataset."""
    usable = (l0.frame_flags.values & (FLAG_CORRUPT | FLAG_NON_ENERGY_MODE)) == 0
    idx = np.flatnonzero(usable)
    cl = find_clusters(l0.energy.values[idx])
    X = features(cl)
    cls, proba = classify(model, X)
    frame_of_cluster = l0.frame.values[idx][cl.frame_index]
    counts = np.zeros((l0.sizes["frame"], N_CLASSES), dtype=np.int32)
    np.add.at(counts, (idx[cl.frame_index], cls.astype(np.int64) - 1), 1)
    counts[~usable] = -1

    def v(dims, data, units, long_name, **extra):
        attrs = {"long_name": long_name, **extra}
        if units is not None:
            attrs["units"] = units
        return (dims, data, attrs)

    class_flags = dict(flag_values=np.arange(1, N_CLASSES + 1, dtype=np.int8),
                       flag_meanings=" ".join(CLASS_NAMES.values()))
    data = {
        "cluster_frame": v("cluster", frame_of_cluster.astype(np.int32), "1", "frame number of the cluster"),
        "cluster_pos_x": v("cluster", cl.pos_x, "1", "first row of the cluster bounding box (pos_x)"),
        "cluster_pos_y": v("cluster", cl.pos_y, "1", "first column of the cluster bounding box (pos_y)"),
        "cluster_class": v("cluster", cls, None, "track class from the random-forest classifier", **class_flags),
        "cluster_class_probability": v(("cluster", "class"), proba, "1",
                                       "calibrated probability of each track class for the cluster"),
        "cluster_pixel_start": v("cluster", cl.pixel_start, "1", "index of the cluster's first pixel"),
        "cluster_pixel_count": v("cluster", cl.pixel_count, "1", "pixels in the cluster"),
        "cluster_energy": v("cluster", cl.total_energy, "keV", "energy deposited by the cluster"),
        "pixel_row": v("pixel", cl.row, "1", "pixel row (line of the raw text file)"),
        "pixel_col": v("pixel", cl.col, "1", "pixel column (column of the raw text file)"),
        "pixel_energy": v("pixel", cl.energy, "keV", "energy deposited in the pixel"),
        "class_counts": v(("frame", "class"), counts, "1", "clusters per class in the frame (-1: not classified)",
                          _FillValue=-1),
        "classified": v("frame", usable.astype(np.int8), None, "frame was clustered and classified",
                        flag_values=np.array([0, 1], np.int8), flag_meanings="not_classified classified"),
        "frame_flags": l0.frame_flags.variable,
        "latitude": l0.latitude.variable, "longitude": l0.longitude.variable,
        "altitude": l0.altitude.variable, "exposure": l0.exposure.variable,
        "measurement_mode": l0.measurement_mode.variable, "image_id": l0.image_id.variable,
    }
    for k, (name, unit) in enumerate(zip(FEATURE_NAMES, FEATURE_UNITS)):
        data[f"feature_{name}"] = v("cluster", X[:, k].astype(np.float32), unit,
                                    f"classifier feature: {name.replace('_', ' ')}{FEATURE_UNIT_NOTES.get(name, '')}")
    ds = xr.Dataset(data, coords={
        "frame": l0.frame, "time": l0.time,
        "class": ("class", np.arange(1, N_CLASSES + 1, dtype=np.int8), {"long_name": "track class id", "units": "1"}),
        "class_name": ("class", np.array(list(CLASS_NAMES.values()), dtype=object), {"long_name": "track class name"}),
    })
    ds.attrs.update(folder=l0.attrs.get("folder", ""), clusters=int(cl.n),
                    frames_classified=int(usable.sum()), frames_not_classified=int((~usable).sum()),
                    corrupt_frames=int(l0.attrs.get("corrupt_frames", 0)))
    return ds


def write_l1(ctx) -> None:
    """Step `l1` (rule classify_vzlusat1_clusters): L0 + model -> results/vzlusat1/l1/<folder>.nc."""
    l0 = read_netcdf(ctx.inputs.one("l0"))
    model, prov = load_model(ctx.inputs.one("model"))
    ds = label_frames(l0, model)
    ctx.write(ds, ctx.outputs.one(), table="l1",
              title=f"VZLUSAT-1 Timepix level 1 labelled clusters, folder {ds.attrs['folder']}",
              summary="8-connected particle-track clusters of the energy-mode frames of one folder, their 30 "
                      "features, random-forest track classes and calibrated class probabilities, with "
                      "per-frame class counts.",
              references="Baca et al., IROS 2019 (track classes)",
              extra_attrs={"classifier_config_digest": prov["config_digest"],
                           "classifier_cv_by_folder_accuracy": prov["cv_by_folder_accuracy"],
                           "classifier_cv_by_frame_accuracy": prov["cv_by_frame_accuracy"],
                           "classifier_temperature": prov["temperature"]})


def write_labelled(ctx) -> None:
    """Step `labelled` (rule export_vzlusat1_labelled): L1 -> the archive's labelled layout."""
    export_labelled(ctx.inputs.one(), ctx.outputs.one())


def export_labelled(l1_path: str | Path, out_dir: str | Path) -> int:
    """Write `<N>_fullres.clusters.txt` and `.statistics.txt` for every classified frame; returns count."""
    l1 = read_netcdf(l1_path)
    frames = l1.frame.values[l1.classified.values == 1]
    cf = l1.cluster_frame.values  # clusters are ordered by frame
    first, stop = np.searchsorted(cf, frames, "left"), np.searchsorted(cf, frames, "right")
    start, count = l1.cluster_pixel_start.values, l1.cluster_pixel_count.values
    with atomic_output(out_dir, suffix="") as tmp:
        tmp.unlink()
        tmp.mkdir()
        for n, a, b in zip(frames, first, stop):
            sel = np.arange(a, b)
            if sel.size:
                px = slice(int(start[sel[0]]), int(start[sel[-1]] + count[sel[-1]]))
                pstart = start[sel] - start[sel[0]]
            else:
                px, pstart = slice(0, 0), start[sel]
            write_frame(tmp, int(n), pos_x=l1.cluster_pos_x.values[sel], pos_y=l1.cluster_pos_y.values[sel],
                        class_id=l1.cluster_class.values[sel], pixel_start=pstart, pixel_count=count[sel],
                        row=l1.pixel_row.values[px], col=l1.pixel_col.values[px], energy=l1.pixel_energy.values[px])
    return int(frames.size)
