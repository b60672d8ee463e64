"""Quicklook of one folder: summed frame, clusters per class and dose rate per frame."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import LogNorm

from levelpipe.io import read_netcdf
from levelpipe.plotting import new_figure, save_png


def plot_quicklook(l0_path: str | Path, l1_path: str | Path, l2_path: str | Path, out_png: str | Path) -> None:
    l0, l1, l2 = read_netcdf(l0_path), read_netcdf(l1_path), read_netcdf(l2_path)
    fig = new_figure(15, 4.6, dpi=90)
    axes = fig.subplots(1, 3)
    summed = np.nansum(l0.energy.values, axis=0)
    ax = axes[0]
    im = ax.imshow(np.where(summed > 0, summed, np.nan), origin="upper", cmap="viridis",
                   norm=LogNorm(vmin=max(np.nanmin(summed[summed > 0]), 1e-3) if (summed > 0).any() else 1,
                                vmax=max(np.nanmax(summed), 1.0)), interpolation="nearest")
    ax.set(title=f"L0: {l0.sizes['frame']} frames summed", xlabel="column (raw file column)",
           ylabel="row (raw file line)")
    fig.colorbar(im, ax=ax, label="keV")
    ax = axes[1]
    counts = np.clip(l1.class_counts.values, 0, None)
    bottom = np.zeros(l1.sizes["frame"])
    x = np.arange(l1.sizes["frame"])
    for k, name in enumerate(l1.class_name.values):
        ax.bar(x, counts[:, k], bottom=bottom, label=str(name))
        bottom += counts[:, k]
    ax.set(title="L1: clusters per class", xlabel="frame", ylabel="clusters")
    ax.set_xticks(x, [str(f) for f in l1.frame.values], rotation=90, fontsize=7)
    ax.legend(fontsize=7, ncol=2)
    ax = axes[2]
    ax.plot(x, l2.dose_rate.values, "o-")
    ax.set(title=f"L2: dose rate (density {l2.attrs['density_kg_m3']:g} kg/m³)", xlabel="frame",
           ylabel="µGy/min")
    ax.set_xticks(x, [str(f) for f in l2.frame.values], rotation=90, fontsize=7)
    fig.suptitle(f"VZLUSAT-1 Timepix — {l0.attrs.get('folder', '')}")
    save_png(fig, out_png)


def write_quicklook(ctx) -> None:
    """Step `quicklook` (rule plot_vzlusat1_quicklook): L0, L1, L2 of a folder -> one PNG."""
    plot_quicklook(ctx.inputs.one("l0"), ctx.inputs.one("l1"), ctx.inputs.one("l2"), ctx.outputs.one())
