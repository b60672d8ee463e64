"""A static HTML frame browser for one VZLUSAT-1 Timepix folder, paged: frames load on demand.

`write_browser(l0, l1, out_html, config)` writes the page ``<folder>.html`` and, next to it, the
folder ``<folder>.frames/`` of batch files (``0000.js``, ``0001.js``, ...), each holding the hit
pixels of ``browser.frames_per_file`` consecutive frames. The page holds the code (inline
JavaScript), the style (inline CSS) and what every view needs at once (the frame list with its
metadata and class counts, the colour map, the settings: JSON in a
``<script type="application/json">`` element); it loads a batch file only when a view shows one
of its frames, by adding a ``<script>`` element with the file's relative path (what a page opened
from disk, file://, may do; it may not fetch). Nothing comes from the network. So a folder of
1,300 frames opens as fast as a small one, and memory grows only with the batches viewed.

The page shows the folder's frame list with metadata (image id, UTC time, position, exposure,
mode, threshold, bias, temperature, flags), draws a frame on a canvas, gives its clusters per
class (from L1), lets the user sum N consecutive frames (N from ``browser.batch_sizes``), show
only clusters of selected classes, choose a log or linear colour scale, and transpose the view.
A URL fragment selects the initial view, e.g. ``page.html#frame=4&batch=10&classes=1,2&scale=linear``.

Decision (orientation): a frame is drawn as ``image[row, col]`` with row 0 at the top and col 0
at the left, where L0 ``row`` = the raw ``*_fullres.txt`` file's line index (``pos_x + x`` of a
cluster) and L0 ``col`` = the column index in that line (``pos_y + y``). This is how the raw
text matrix reads and how numpy/matplotlib show ``image[row, col]``. The official VZLUSAT-1
image browser draws the transposed matrix (its horizontal axis is our row); the page's
"transposed" checkbox reproduces that view for comparison with published figures.

Pixel encoding (batch files): only non-zero pixels are stored, frame after frame: their flat
index ``row * n_cols + col`` (uint16 for 256x256), energy (float32, keV) and cluster class (uint8;
0 for a pixel that is in no L1 cluster), each array base64-encoded little-endian bytes, plus the
offset of each frame's first pixel within the batch. That is ~9.3 characters per hit pixel. A
batch file is one call ``timepixBrowserBatch({...})`` of a JSON object.
"""
from __future__ import annotations

import base64
import html
import json
import logging
import os
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.colors import to_rgb

import levelpipe
from levelpipe.errors import ConfigError, TimepixError
from levelpipe.io.atomic import atomic_output
from levelpipe.io.netcdf import read_netcdf

log = logging.getLogger("levelpipe.timepix.browser")

#: Class id given to a hit pixel that belongs to no L1 cluster (shown as "unclustered").
UNCLUSTERED = 0

_META_DECIMALS = {"latitude": 4, "longitude": 4, "altitude": 2, "exposure": 6, "bias": 2, "temperature": 2}


def _browser_style(config: Mapping[str, Any]) -> dict[str, Any]:
    """The page settings of the (validated) `browser:` section, background as RGB."""
    return {"batch_sizes": list(config["batch_sizes"]), "default_batch_size": config["default_batch_size"],
            "colour_scale": config["colour_scale"], "pixel_scale": config["pixel_scale"],
            "background_rgb": [round(255 * v) for v in to_rgb(config["background"])]}


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _json_column(values: np.ndarray, decimals: int | None = None) -> list:
    """A per-frame column as JSON values: NaN/NaT -> null, floats rounded for compactness."""
    if np.issubdtype(values.dtype, np.datetime64):
        return [None if np.isnat(t) else np.datetime_as_string(t, unit="s") + "Z" for t in values]
    if values.dtype.kind == "f":
        rounded = np.round(values.astype(np.float64), decimals) if decimals is not None else values
        return [None if not np.isfinite(v) else float(v) for v in rounded]
    if values.dtype.kind in "iub":
        return [int(v) for v in values]
    return [str(v) for v in values]


def _flag_table(var: xr.DataArray, mask_attr: str) -> list[tuple[int, str]]:
    values = np.atleast_1d(var.attrs.get(mask_attr, []))
    names = str(var.attrs.get("flag_meanings", "")).split()
    if len(values) != len(names):
        return []
    return [(int(v), n) for v, n in zip(values, names)]


def _pixel_classes(l1: xr.Dataset, frame_numbers: np.ndarray, l1_path: str):
    """L0 frame index, row, col and class of every L1 cluster pixel."""
    counts = l1["cluster_pixel_count"].values.astype(np.int64)
    starts = l1["cluster_pixel_start"].values.astype(np.int64)
    n_pix_total = int(counts.sum())
    # Pixel positions of each cluster's pixels (contiguous runs starting at cluster_pixel_start).
    within = np.arange(n_pix_total) - np.repeat(np.cumsum(counts) - counts, counts)
    pix = np.repeat(starts, counts) + within
    if pix.size and (pix.max() >= l1.sizes.get("pixel", 0) or pix.min() < 0):
        raise TimepixError("cluster_pixel_start/count point outside the pixel arrays", l1_path)
    order = np.argsort(frame_numbers, kind="stable")
    pos = np.searchsorted(frame_numbers[order], l1["cluster_frame"].values)
    pos = np.clip(pos, 0, max(len(order) - 1, 0))
    known = frame_numbers[order][pos] == l1["cluster_frame"].values if len(order) else np.zeros(0, bool)
    if not np.all(known):
        bad = np.unique(l1["cluster_frame"].values[~known])
        raise TimepixError(f"L1 clusters of frame(s) {bad[:5].tolist()} not in L0", l1_path)
    frame_index = np.repeat(order[pos], counts)
    rows = l1["pixel_row"].values[pix].astype(np.int64)
    cols = l1["pixel_col"].values[pix].astype(np.int64)
    classes = np.repeat(l1["cluster_class"].values.astype(np.uint8), counts)
    return frame_index, rows, cols, classes


def _collect_pixels(l0: xr.Dataset, start: int, stop: int, l1_keys: np.ndarray, l1_classes: np.ndarray,
                    index_dtype: np.dtype):
    """Non-zero finite L0 pixels of frames [start, stop) (frame order), with their L1 cluster class."""
    n_pix = l0.sizes["row"] * l0.sizes["col"]
    energy = l0["energy"].isel(frame=slice(start, stop)).transpose("frame", "row", "col").values
    n = energy.shape[0]
    # Decision: drawn pixels are the finite, non-zero L0 values; a corrupt frame (NaN) has none.
    hit = np.isfinite(energy) & (energy != 0)
    f, flat = np.nonzero(hit.reshape(n, n_pix))
    keys = (f + start).astype(np.int64) * n_pix + flat
    where = np.clip(np.searchsorted(l1_keys, keys), 0, max(l1_keys.size - 1, 0))
    found = (l1_keys[where] == keys) if l1_keys.size else np.zeros(keys.size, bool)
    cls = np.where(found, l1_classes[where] if l1_keys.size else 0, UNCLUSTERED).astype(np.uint8)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(f, minlength=n))])
    return offsets, flat.astype(index_dtype), energy.reshape(n, n_pix)[f, flat].astype("<f4"), cls


def frames_dir(out_html: str | os.PathLike) -> Path:
    """The folder of batch files next to a page: ``<name>.html`` -> ``<name>.frames``."""
    return Path(out_html).with_suffix(".frames")


BATCH_CALLBACK = "timepixBrowserBatch"


def _batch_file(number: int, first: int, offsets, index, energy, pclass, index_dtype) -> str:
    payload = {"batch": number, "first": first, "offset": offsets.tolist(),
               "index_dtype": f"uint{8 * index_dtype.itemsize}", "index": _b64(index), "energy": _b64(energy),
               "class": _b64(pclass)}
    return f"{BATCH_CALLBACK}({json.dumps(payload, separators=(',', ':'))});\n"


def write_batches(l0: xr.Dataset, l1: xr.Dataset, l1_path: str, out_dir: Path, frames_per_file: int):
    """Write the batch files of a folder into `out_dir`; returns (file names, hit pixels per frame,
    whether any hit pixel is in no L1 cluster). Memory: one batch of frames at a time."""
    frames = l0["frame"].values.astype(np.int64)
    n_rows, n_cols = l0.sizes["row"], l0.sizes["col"]
    n_pix = n_rows * n_cols
    index_dtype = np.dtype("<u2") if n_pix <= 65536 else np.dtype("<u4")
    fi, rows, cols, classes = _pixel_classes(l1, frames, l1_path)
    keys = fi * n_pix + rows * n_cols + cols
    order = np.argsort(keys, kind="stable")
    keys, classes = keys[order], classes[order]
    names, hits, unclustered = [], np.zeros(frames.size, dtype=np.int64), False
    for number, start in enumerate(range(0, frames.size, frames_per_file)):
        stop = min(start + frames_per_file, frames.size)
        offsets, index, energy, pclass = _collect_pixels(l0, start, stop, keys, classes, index_dtype)
        hits[start:stop] = np.diff(offsets)
        unclustered |= bool(np.any(pclass == UNCLUSTERED))
        name = f"{number:04d}.js"
        (out_dir / name).write_text(_batch_file(number, start, offsets, index, energy, pclass, index_dtype),
                                    encoding="ascii")
        names.append(name)
    return names, hits, unclustered


def page_data(l0: xr.Dataset, l1: xr.Dataset, l0_path: str, l1_path: str, config: Mapping[str, Any],
              batch_dir: str, batch_files: list[str], hits: np.ndarray, unclustered: bool) -> dict[str, Any]:
    """The JSON object embedded in the page: frame list, metadata, settings, where the batches are."""
    cfg = _browser_style(config)
    frames = l0["frame"].values.astype(np.int64)
    n_rows, n_cols = l0.sizes["row"], l0.sizes["col"]
    meta = {}
    for name in ("image_id", "time", "latitude", "longitude", "altitude", "exposure", "measurement_mode",
                 "threshold", "bias", "temperature", "pixel_count", "frame_flags"):
        if name in l0.variables:
            meta[name] = _json_column(l0[name].values, _META_DECIMALS.get(name))
        else:
            meta[name] = [None] * len(frames)
    meta["frame"] = [int(f) for f in frames]
    meta["hits"] = [int(h) for h in hits]
    modes = dict(_flag_table(l0["measurement_mode"], "flag_values"))
    flags = _flag_table(l0["frame_flags"], "flag_masks")
    units = {k: str(l0[k].attrs.get("units", "")) for k in ("altitude", "exposure", "bias", "temperature")
             if k in l0.variables}
    units["energy"] = str(l0["energy"].attrs.get("units", "keV"))
    # The archive folder (may be nested, e.g. planetary_sweeps/12_2020-06-09) from L0's
    # `folder` attribute; the file name when a product has none.
    folder = str(l0.attrs.get("folder") or Path(l0_path).stem)

    class_ids = [int(c) for c in l1["class"].values]
    names = ([str(n) for n in l1["class_name"].values] if "class_name" in l1.variables
             else [str(c) for c in class_ids])
    counts = l1["class_counts"].transpose("frame", "class").values.astype(np.int64)
    count_row = {int(f): i for i, f in enumerate(l1["frame"].values)}
    meta["class_counts"] = [counts[count_row[int(f)]].tolist() if int(f) in count_row else None for f in frames]
    class_list = [{"id": c, "name": n} for c, n in zip(class_ids, names)]
    if unclustered:
        class_list.append({"id": UNCLUSTERED, "name": "unclustered"})

    lut = (np.asarray(colormaps[config["colormap"]](np.linspace(0, 1, 256)))[:, :3] * 255).round().astype(np.uint8)
    n_clusters = int(l1.sizes.get("cluster", 0))
    n_hits = int(hits.sum())
    log.info("browser %s: %d frames, %d hit pixels, %d clusters, %d batch files", folder, len(frames), n_hits,
             n_clusters, len(batch_files))
    return {
        "folder": folder,
        "subtitle": (f"{len(frames)} frames, {n_hits} hit pixels, {n_clusters} clusters; "
                     f"from {Path(l0_path).name} (L0) and {Path(l1_path).name} (L1), levelpipe {levelpipe.__version__}"),
        "orientation_note": ("Orientation: row (raw-file line, pos_x + x) runs down, column (raw-file column, "
                             "pos_y + y) runs right, row 0 at the top. The official VZLUSAT-1 browser shows the "
                             "transpose (tick 'transposed')."),
        "shape": [int(n_rows), int(n_cols)],
        "units": units,
        "config": cfg,
        "classes": class_list,
        "class_totals": counts.sum(axis=0).tolist() if counts.size else [0] * len(class_ids),
        "n_clusters": n_clusters,
        "unclustered_id": UNCLUSTERED,
        "mode_names": {str(k): v for k, v in modes.items()},
        "flag_names": [{"mask": m, "name": n} for m, n in flags],
        "colormap": _b64(lut),
        "frames": meta,
        "batches": {"dir": batch_dir, "frames_per_file": int(config["frames_per_file"]), "files": batch_files,
                    "callback": BATCH_CALLBACK},
    }


def write_browser(l0_path: str, l1_path: str, out_html: str, config: Mapping[str, Any]) -> Path:
    """Write the browser page of one folder and its batch files (``frames_dir(out_html)``).

    config: the ``browser:`` section: batch_sizes (list of N for "sum N consecutive frames"),
    default_batch_size (one of them), colour_scale (log | linear, initial), colormap (matplotlib
    name), pixel_scale (screen pixels per detector pixel), background (colour of empty pixels),
    frames_per_file (frames per batch file). Returns the batch folder.
    """
    l0_path, l1_path, out_html = os.fspath(l0_path), os.fspath(l1_path), Path(out_html)
    batches = frames_dir(out_html)
    l1 = read_netcdf(l1_path)
    with xr.open_dataset(l0_path, engine="netcdf4") as l0:
        for name in ("energy", "frame_flags", "measurement_mode", "time"):
            if name not in l0.variables:
                raise TimepixError(f"L0 product lacks {name!r}", l0_path)
        with atomic_output(batches, suffix="") as tmp:
            tmp.unlink()
            tmp.mkdir()
            files, hits, unclustered = write_batches(l0, l1, l1_path, tmp, int(config["frames_per_file"]))
        data = page_data(l0, l1, l0_path, l1_path, config, batches.name, files, hits, unclustered)
    template = resources.files("levelpipe.timepix").joinpath("browser_template.html").read_text(encoding="utf-8")
    # No "<" inside the <script> element (no "</script>" or "<!--" from a folder name or a string);
    # "\u003c" is the same character to the JSON parser.
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    title = html.escape(f"VZLUSAT-1 Timepix frames: {data['folder']}")
    page = template.replace("__TITLE__", title).replace("__BROWSER_DATA__", payload)
    with atomic_output(out_html) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return batches


def write_browser_page(ctx) -> None:
    """Step `browser` (rule write_vzlusat1_browser): L0 + L1 -> the page and its batch files."""
    page = ctx.outputs.one("page")
    if "frames" in ctx.outputs and Path(ctx.outputs.one("frames")) != frames_dir(page):
        raise ConfigError(f"the browser writes its batch files to {frames_dir(page)}, not {ctx.outputs.one('frames')}")
    write_browser(ctx.inputs.one("l0"), ctx.inputs.one("l1"), page, ctx.config["browser"])
