"""Particle-track clusters: 8-connected components of non-zero pixels, and their features.

All frames of a folder are labelled in one `scipy.ndimage.label` call on the (frame, row, col)
stack with a structuring element that connects the 8 in-plane neighbours only, so no cluster
spans two frames. Labels come out in raster order of each cluster's first pixel (frame, then row,
then column), which is exactly the order of clusters in the archive's `*.clusters.txt` files;
pixels of a cluster are kept in row-major order, as in those files.

Features are computed for all clusters at once with `np.bincount` / `ufunc.reduceat` over the
flat pixel arrays: no Python loop over clusters or frames.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# In-plane 8-connectivity for a (frame, row, col) stack.
_STRUCTURE = np.zeros((3, 3, 3), dtype=bool)
_STRUCTURE[1] = True



@dataclass
class Clusters:
    """Clusters of a stack of frames as flat arrays (pixels of cluster k at [start[k], start[k]+count[k]))."""

    frame_index: np.ndarray  # (n,) int32 index into the stack
    pixel_start: np.ndarray  # (n,) int64
    pixel_count: np.ndarray  # (n,) int32
    row: np.ndarray          # (m,) int16
    col: np.ndarray          # (m,) int16
    energy: np.ndarray       # (m,) float32 keV
    label: np.ndarray        # (m,) int64 cluster index of each pixel (0-based)

    @property
    def n(self) -> int:
        return int(self.pixel_count.size)

    @property
    def pos_x(self) -> np.ndarray:
        return np.minimum.reduceat(self.row, self.pixel_start).astype(np.int16) if self.n else self.row[:0]

    @property
    def pos_y(self) -> np.ndarray:
        return np.minimum.reduceat(self.col, self.pixel_start).astype(np.int16) if self.n else self.col[:0]

    @property
    def total_energy(self) -> np.ndarray:
        return np.bincount(self.label, self.energy, minlength=self.n).astype(np.float32)


def find_clusters(frames: np.ndarray) -> Clusters:
    """8-connected clusters of the non-zero pixels of a (n_frames, 256, 256) stack.

    NaN frames (corrupt) contain no clusters.
    """
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[None]
    hit = np.nan_to_num(frames, nan=0.0) > 0
    labels, n = ndimage.label(hit, structure=_STRUCTURE)
    f, r, c = np.nonzero(labels)                 # C order: frame, row, col
    lab = labels[f, r, c].astype(np.int64) - 1
    order = np.argsort(lab, kind="stable")       # group by cluster, keep row-major inside
    f, r, c, lab = f[order], r[order], c[order], lab[order]
    counts = np.bincount(lab, minlength=n).astype(np.int32)
    starts = np.zeros(n, dtype=np.int64)
    if n:
        starts[1:] = np.cumsum(counts, dtype=np.int64)[:-1]
    return Clusters(frame_index=f[starts].astype(np.int32) if n else np.zeros(0, np.int32),
                    pixel_start=starts, pixel_count=counts, row=r.astype(np.int16), col=c.astype(np.int16),
                    energy=frames[f, r, c].astype(np.float32), label=lab)


#: The 30 morphological and energy features, in the column order of `features()`.
FEATURE_NAMES = (
    "pixel_count",          # pixels in the cluster
    "energy_total",         # keV deposited
    "energy_max",           # keV in the brightest pixel
    "energy_min",           # keV in the faintest pixel
    "energy_mean",          # keV per pixel
    "energy_std",           # keV, population standard deviation over pixels
    "energy_max_fraction",  # energy_max / energy_total
    "bbox_rows",            # extent in rows (pixels)
    "bbox_cols",            # extent in columns (pixels)
    "bbox_fill",            # pixel_count / (bbox_rows * bbox_cols)
    "bbox_aspect",          # min(bbox) / max(bbox)
    "axis_major_std",       # sqrt of the larger eigenvalue of the pixel-position covariance (px)
    "axis_minor_std",       # sqrt of the smaller eigenvalue (px)
    "linearity",            # 1 - minor/major eigenvalue ratio (0 for a round or 1-px cluster)
    "length",               # extent along the major axis (px, inclusive)
    "width",                # extent along the minor axis (px, inclusive)
    "inner_pixels",         # pixels with all 8 neighbours in the cluster
    "inner_fraction",       # inner_pixels / pixel_count
    "perimeter",            # pixel edges shared with background (4-neighbour sense)
    "compactness",          # perimeter^2 / (4 pi pixel_count)
    "neighbours_mean",      # mean number of 8-neighbours inside the cluster
    "end_pixels",           # pixels with exactly one 8-neighbour (track ends)
    "chain_fraction",       # fraction of pixels with exactly two 8-neighbours (thin track body)
    "radius_rms",           # energy-weighted rms distance from the energy centroid (px)
    "energy_per_length",    # energy_total / length (keV/px), a stopping-power proxy
    # Added for issue 11: extensions of the principal axes above (held out by frame on the real
    # labelled frames, 3 seeds: non-dot agreement 0.894 -> 0.899, blob_branched recall 0.807 ->
    # 0.826, track_curly unchanged at 0.87; benchmarks/bench_vzlusat1_classifier.py, which also
    # shows the candidates not adopted).
    "radius_max",           # largest distance of a pixel from the centroid (px)
    "radius_max_norm",      # radius_max / sqrt(pixel_count)
    "curvature",            # |c2| of across = c0 + c1 along + c2 along^2, least squares (1/px)
    "quadratic_residual",   # rms residual across the major axis of that fit (px)
    "straightness",         # length / pixel_count (1 for a thin straight track)
)


#: Units of each feature, aligned with FEATURE_NAMES. Lengths are in pixels (55 um pitch);
#: UDUNITS has no pixel unit, so they are "1" in netCDF and the long_name says "pixels".
FEATURE_UNITS = (
    "1", "keV", "keV", "keV", "keV", "keV", "1", "1", "1", "1", "1", "1", "1", "1",
    "1", "1", "1", "1", "1", "1", "1", "1", "1", "1", "keV",
    "1", "1", "1", "1", "1",
)
#: What the long_name of a feature adds about its unit (pixels are not a UDUNITS unit).
FEATURE_UNIT_NOTES = {
    **dict.fromkeys(("bbox_rows", "bbox_cols", "axis_major_std", "axis_minor_std", "length", "width", "perimeter",
                     "radius_rms", "radius_max", "quadratic_residual"), " (pixels)"),
    "energy_per_length": " (per pixel of length)",
    "curvature": " (per pixel)",
}

# The ring of 8 neighbours; its odd places are the 4-neighbours.
_RING = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]


def _ring_members(cl: Clusters, sorted_key: np.ndarray) -> np.ndarray:
    """(m, 8) bool: which of each pixel's 8 neighbours (circular order _RING) are in its cluster.

    `sorted_key` is the sorted (cluster, row, col) key of every pixel; neighbours are looked up
    in it by binary search: O(m log m), no dense label image, so memory stays proportional to
    the number of hit pixels.
    """
    out = np.zeros((cl.label.size, len(_RING)), dtype=bool)
    r = cl.row.astype(np.int64)
    c = cl.col.astype(np.int64)
    for j, (dr, dc) in enumerate(_RING):
        rr, cc = r + dr, c + dc
        inside = (rr >= 0) & (rr < 256) & (cc >= 0) & (cc < 256)
        k = (cl.label * 256 + rr) * 256 + cc
        idx = np.searchsorted(sorted_key, k)
        idx[idx >= sorted_key.size] = 0
        out[:, j] = inside & (sorted_key[idx] == k)
    return out


def features(cl: Clusters) -> np.ndarray:
    """(n_clusters, 30) float64 feature matrix, columns as FEATURE_NAMES."""
    n = cl.n
    if n == 0:
        return np.zeros((0, len(FEATURE_NAMES)))
    lab, s = cl.label, cl.pixel_start
    e = cl.energy.astype(np.float64)
    r = cl.row.astype(np.float64)
    c = cl.col.astype(np.float64)
    cnt = cl.pixel_count.astype(np.float64)

    def total(x):
        return np.bincount(lab, x, minlength=n)

    e_tot = total(e)
    e_max = np.maximum.reduceat(e, s)
    e_min = np.minimum.reduceat(e, s)
    e_mean = e_tot / cnt
    e_std = np.sqrt(np.maximum(total(e * e) / cnt - e_mean ** 2, 0.0))
    rows = np.maximum.reduceat(r, s) - np.minimum.reduceat(r, s) + 1
    cols = np.maximum.reduceat(c, s) - np.minimum.reduceat(c, s) + 1

    # Principal axes of the pixel positions (unweighted).
    mr, mc = total(r) / cnt, total(c) / cnt
    dr, dc = r - mr[lab], c - mc[lab]
    srr, scc, src = total(dr * dr) / cnt, total(dc * dc) / cnt, total(dr * dc) / cnt
    half_trace = (srr + scc) / 2
    disc = np.sqrt(np.maximum(((srr - scc) / 2) ** 2 + src ** 2, 0.0))
    lam1, lam2 = half_trace + disc, np.maximum(half_trace - disc, 0.0)
    theta = 0.5 * np.arctan2(2 * src, srr - scc)         # major-axis direction in (row, col)
    ur, uc = np.cos(theta)[lab], np.sin(theta)[lab]
    along = dr * ur + dc * uc
    across = -dr * uc + dc * ur
    length = np.maximum.reduceat(along, s) - np.minimum.reduceat(along, s) + 1
    width = np.maximum.reduceat(across, s) - np.minimum.reduceat(across, s) + 1
    with np.errstate(invalid="ignore", divide="ignore"):
        linearity = np.where(lam1 > 0, 1 - lam2 / lam1, 0.0)

    keys = np.sort((cl.label * 256 + cl.row.astype(np.int64)) * 256 + cl.col.astype(np.int64))
    ring = _ring_members(cl, keys)
    n8 = ring.sum(axis=1)
    n4 = ring[:, 1::2].sum(axis=1)
    inner = total((n8 == 8).astype(float))
    perimeter = total(4.0 - n4)
    ends = total((n8 == 1).astype(float))
    chain = total((n8 == 2).astype(float)) / cnt

    # Quadratic fit across = c0 + c1 along + c2 along^2 on the principal axes, all clusters at
    # once (normal equations; the pseudo-inverse makes clusters of one or two columns harmless).
    fit = cl.pixel_count >= 3
    coef = np.zeros((n, 3))
    if fit.any():
        powers = [total(along ** k) for k in range(5)]
        normal = np.stack([np.stack([powers[i + j] for j in range(3)], -1) for i in range(3)], -2)
        rhs = np.stack([total(across * along ** k) for k in range(3)], -1)
        coef[fit] = (np.linalg.pinv(normal[fit]) @ rhs[fit][..., None])[..., 0]
    residual = across - (coef[lab, 0] + coef[lab, 1] * along + coef[lab, 2] * along ** 2)
    radius_max = np.maximum.reduceat(np.hypot(dr, dc), s)

    # Energy-weighted spread.
    with np.errstate(invalid="ignore", divide="ignore"):
        wr, wc = total(e * r) / e_tot, total(e * c) / e_tot
        radius = np.sqrt(total(e * ((r - wr[lab]) ** 2 + (c - wc[lab]) ** 2)) / e_tot)
    radius = np.nan_to_num(radius)

    cols_out = [
        cnt, e_tot, e_max, e_min, e_mean, e_std, e_max / e_tot,
        rows, cols, cnt / (rows * cols), np.minimum(rows, cols) / np.maximum(rows, cols),
        np.sqrt(lam1), np.sqrt(lam2), linearity, length, width,
        inner, inner / cnt, perimeter, perimeter ** 2 / (4 * np.pi * cnt), total(n8.astype(float)) / cnt,
        ends, chain, radius, e_tot / length,
        radius_max, radius_max / np.sqrt(cnt), np.abs(coef[:, 2]), np.sqrt(total(residual ** 2) / cnt),
        length / cnt,
    ]
    out = np.column_stack(cols_out)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
