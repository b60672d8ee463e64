"""Quicklook of one event: an AIA frame with the catalogue's jet boxes and base points drawn
in helioprojective arcsec (on the frame's WCS axes)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from levelpipe.io.atomic import atomic_output
from levelpipe.jets import images
from levelpipe.jets.errors import JetsError


def clusters_in_view(cat, m, t_first, t_last) -> np.ndarray:
    """Indices of catalogue clusters seen in this event's frames.

    Decision: a cluster belongs to the event when its time span overlaps the frames' span and
    its mean base point lies inside the frame; clusters carry the SOL_standard of their
    subjects, but cutouts need not come from an event of the database (the bundled sample)."""
    if cat.sizes.get("cluster", 0) == 0:
        return np.array([], dtype=int)
    t0 = cat["time"].values
    t1 = cat["end_time"].values
    overlap = (t0 <= t_last) & (t1 >= t_first)
    import astropy.units as u
    i, j = m.wcs.world_to_pixel_values(cat["base_x"].values / 3600.0, cat["base_y"].values / 3600.0) \
        if m.wcs.world_axis_units[0] == "deg" else m.wcs.world_to_pixel_values(cat["base_x"].values, cat["base_y"].values)
    n2, n1 = m.data.shape
    inside = (i >= -0.5) & (i <= n1 - 0.5) & (j >= -0.5) & (j <= n2 - 0.5)
    del u
    return np.flatnonzero(overlap & inside)


def quicklook(frame_paths, cat, images_settings, look, fits_settings):
    """The figure (Agg, no pyplot) of the frame nearest the first cluster's time, with every
    cluster in view: its box (HPC extent of its jets' boxes) and mean base point +- std."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    maps = [images.read_cutout(p, fits_settings) for p in sorted(map(str, frame_paths))]
    if not maps:
        raise JetsError("no cutout for a quicklook")
    times = np.array([images.frame_time(m) for m in maps])
    chosen = clusters_in_view(cat, maps[len(maps) // 2], times.min(), times.max())
    # the middle of the first cluster's span: the jet is visible there, not at its first subject's start
    target = (cat["time"].values[chosen[0]] + (cat["end_time"].values[chosen[0]] - cat["time"].values[chosen[0]]) / 2) \
        if len(chosen) else times[len(times) // 2]
    m = maps[int(np.argmin(np.abs(times - target)))]
    fig = Figure(figsize=(look.width_in, look.height_in), dpi=look.dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1, projection=m.wcs)
    ax.imshow(m.data, origin="lower", cmap=images._cmap(m, images_settings.colormap),
              norm=images._norm(m, images_settings.asinh_a, None, None), interpolation="nearest")
    ax.set_xlabel("Solar X (arcsec)")
    ax.set_ylabel("Solar Y (arcsec)")
    world = ax.get_transform("world")
    scale = 1 / 3600.0 if m.wcs.world_axis_units[0] == "deg" else 1.0
    for k in chosen:
        x0, x1 = cat["box_x_min"].values[k], cat["box_x_max"].values[k]
        y0, y1 = cat["box_y_min"].values[k], cat["box_y_max"].values[k]
        xs = np.array([x0, x1, x1, x0, x0]) * scale
        ys = np.array([y0, y0, y1, y1, y0]) * scale
        ax.plot(xs, ys, transform=world, color=look.box_color, lw=1.2)
        bx, by = cat["base_x"].values[k], cat["base_y"].values[k]
        ax.errorbar([bx * scale], [by * scale], xerr=[cat["base_x_std"].values[k] * scale],
                    yerr=[cat["base_y_std"].values[k] * scale], transform=world, color=look.start_color,
                    marker="o", ms=4, lw=1)
        ax.text(x1 * scale, y1 * scale, str(cat["cluster_id"].values[k]), transform=world, color=look.box_color,
                fontsize=7)
        jets = np.flatnonzero(cat["jet_cluster"].values == k)
        ax.plot(cat["jet_end_x"].values[jets] * scale, cat["jet_end_y"].values[jets] * scale, "x",
                transform=world, color=look.end_color, ms=4)
    ax.set_title(f"{m.date.datetime.strftime(images_settings.title_format)}   {len(chosen)} jet cluster(s)")
    return fig


def write_quicklook(ctx) -> None:
    """Step `quicklook`: one event's frame with the catalogue drawn on it (PNG)."""
    from levelpipe.io import read_netcdf
    s = ctx.settings
    cat = read_netcdf(ctx.inputs.one("catalogue"))
    fig = quicklook(ctx.inputs["cutouts"], cat, s.images, s.quicklook, s.fits)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=s.quicklook.dpi, metadata={"Software": None})
    with atomic_output(Path(ctx.outputs.one("quicklook"))) as tmp:
        tmp.write_bytes(buf.getvalue())
