"""ASI products: keograms (geographic latitude axis), multi-site mosaics, MP4 movies, quicklooks."""
from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import xarray as xr

from levelpipe.asi.family import mosaic_time
from levelpipe.asi.l2 import frames_per_read
from levelpipe.errors import AsiError
from levelpipe.io import atomic_output, read_netcdf

LOG = logging.getLogger("levelpipe.asi.products")

# levelpipe.plotting (matplotlib, scipy) is imported by the functions that draw, not here: the
# movie step, which draws nothing, starts 0.6 s of CPU faster without it.


def display_range(values: np.ndarray, percentiles: Sequence[float]) -> tuple[float, float]:
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, percentiles)
    return float(lo), float(hi if hi > lo else lo + 1.0)


def _scale_uint8(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    scaled = (np.nan_to_num(values, nan=lo) - lo) / (hi - lo)
    return (np.clip(scaled, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _units_label(da: xr.DataArray) -> str:
    return "R" if da.attrs.get("units") == "1e10 m-2 s-1" else da.attrs.get("units", "")


def granule_hour(granule: str) -> tuple[np.datetime64, np.datetime64]:
    """Start and end (UTC) of a site-hour granule's hour."""
    from levelpipe.asi.family import granule_parts
    _i, _s, _d, day, hour = granule_parts(granule)
    start = np.datetime64(f"{day.isoformat()}T{hour:02d}:00", "ns")
    return start, start + np.timedelta64(1, "h")


def _time_axis(ax, start: np.datetime64, end: np.datetime64) -> None:
    """An hour-long UTC time axis, HH:MM labels every 10 minutes."""
    import matplotlib.dates as mdates
    ax.set_xlim(start.astype("datetime64[us]").item(), end.astype("datetime64[us]").item())
    ax.xaxis.set_major_locator(mdates.MinuteLocator(byminute=range(0, 60, 10)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    ax.set_xlabel(f"time (UTC) on {np.datetime_as_string(start, unit='D')}")


def frame_columns(time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column edges for drawing frames at their own times: each frame spans half the median
    cadence on either side (never past the midpoint to its neighbour); returns (edges, which)
    where `which[k]` is the frame index of column k or -1 for a gap between frames."""
    t = time.astype("datetime64[ns]").astype(np.int64).astype(np.float64)
    n = t.size
    half = 0.5 * float(np.median(np.diff(t))) if n > 1 else 0.5e9
    mid = 0.5 * (t[1:] + t[:-1])
    left = np.maximum(t - half, np.concatenate([[-np.inf], mid]))
    right = np.minimum(t + half, np.concatenate([mid, [np.inf]]))
    edges = np.empty(2 * n)
    edges[0::2], edges[1::2] = left, right
    which = np.full(2 * n - 1, -1)
    which[0::2] = np.arange(n)
    return edges.astype(np.int64).astype("datetime64[ns]"), which


def _wrapped(text: str, width_in: float, fontsize: float) -> str:
    """`text` broken into lines that fit `width_in` inches at `fontsize` points (an average
    glyph is about 0.6 em wide)."""
    import textwrap
    chars = max(12, int(width_in * 72.0 / (0.6 * fontsize)))
    return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))


def _colorbar(fig, ax, mappable, label: str) -> None:
    cb = fig.colorbar(mappable, ax=ax, shrink=0.85, pad=0.02)
    cb.set_label(label)


def _thin_ticks(fig, axis, min_bins: int = 2) -> None:
    """Fewer major ticks on `axis` until no two tick labels overlap (after layout)."""
    from matplotlib.ticker import MaxNLocator
    nbins = 9
    while True:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        boxes = [t.get_window_extent(renderer) for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
        boxes.sort(key=lambda b: b.x0)
        if nbins <= min_bins or all(a.x1 + 2 < b.x0 for a, b in zip(boxes, boxes[1:])):
            return
        nbins -= 1
        axis.set_major_locator(MaxNLocator(nbins=nbins, steps=[1, 2, 5, 10]))


# --- keogram ---------------------------------------------------------------------------------

def keogram(l2: xr.Dataset) -> xr.Dataset:
    """North-south slice through the site: (time, latitude) from the L2 longitude column nearest
    the site longitude (geographic latitude axis)."""
    site_lon = float(l2.attrs.get("site_longitude_deg", np.nan))
    lon = l2["longitude"].values
    if not np.isfinite(site_lon):
        site_lon = float(lon[lon.size // 2])
    j = int(np.argmin(np.abs((lon - site_lon + 180.0) % 360.0 - 180.0)))
    img = l2["image"]
    if "channel" in img.dims:
        img = img.mean("channel")
    keo = img.isel(longitude=j)
    valid_rows = np.isfinite(keo.values).any(axis=0)
    keo = keo.isel(latitude=np.flatnonzero(valid_rows)) if valid_rows.any() else keo
    ds = xr.Dataset({"keogram": (("time", "latitude"), keo.values.astype(np.float32),
                                 {"units": l2["image"].attrs.get("units", "1")})},
                    coords={"time": ("time", l2["time"].values), "latitude": ("latitude", keo["latitude"].values),
                            "longitude": ((), float(lon[j]))},
                    attrs={k: v for k, v in l2.attrs.items() if k.startswith(("instrument", "site_", "device",
                                                                              "projection", "skymap"))})
    ds.attrs["keogram_longitude_deg"] = float(lon[j])
    return ds


def write_keogram(ctx) -> None:
    """Step `keogram` (rule make_asi_keogram): L2 -> keogram netCDF and PNG."""
    cfg = ctx.settings.keogram
    l2 = read_netcdf(ctx.inputs.one())
    ds = keogram(l2)
    ctx.write(ds, ctx.outputs.one("nc"), table="keogram", title=f"UCalgary ASI keogram, {ctx.granule}",
              summary="North-south slice of L2 images through the site longitude versus time.")
    from levelpipe.plotting import save_png
    save_png(keogram_figure(ds, ctx.granule, cfg.percentiles, _units_label(l2["image"])), ctx.outputs.one("png"))


def keogram_figure(ds: xr.Dataset, granule: str, percentiles: Sequence[float], units: str):
    """The keogram over its whole hour, each frame drawn at its own time (gaps left blank)."""
    from levelpipe.plotting import new_figure
    lo, hi = display_range(ds["keogram"].values, percentiles)
    fig = new_figure(9, 4)
    ax = fig.add_subplot()
    edges, which = frame_columns(ds["time"].values)
    keo = ds["keogram"].values
    columns = np.where(which[:, None] >= 0, keo[np.maximum(which, 0)], np.nan)
    lat = ds["latitude"].values
    dlat = np.diff(lat).mean() if lat.size > 1 else 0.05
    lat_edges = np.concatenate([lat - dlat / 2, [lat[-1] + dlat / 2]])
    m = ax.pcolormesh(edges.astype("datetime64[us]").astype(object), lat_edges, columns.T, vmin=lo, vmax=hi,
                      cmap="gray", shading="flat")
    ax.set_facecolor("#c8d0e0")  # minutes without frames stand out from the dark sky
    _colorbar(fig, ax, m, units)
    _time_axis(ax, *granule_hour(granule))
    ax.set_ylabel("geographic latitude (deg N)")
    title = (f"keogram {granule}\n{ds.attrs['keogram_longitude_deg']:.1f} E, "
             f"{ds.attrs.get('projection_altitude_km', float('nan')):g} km, {ds.sizes['time']} frames")
    ax.set_title(_wrapped(title, 0.8 * fig.get_figwidth(), 10), fontsize=10)
    return fig


# --- mosaic ----------------------------------------------------------------------------------

def mosaic(l2_paths: Sequence[str | os.PathLike], when: np.datetime64, tolerance_s: float) -> xr.Dataset:
    """Combine the L2 frames of several sites at the frame time nearest `when` on their common
    lattice grid.

    Decision (planning from the frames that exist): the mosaic is made at the frame time, among
    all the sites' frames, nearest the requested time; each site contributes its frame nearest
    that time if it lies within `tolerance_s`, else the site is skipped and counted
    (``sites_without_frame``). The product records the requested time and the offset.

    Decision: where fields of view overlap, the site that sees the cell at higher elevation
    wins (less path-length smearing), as in UCalgary/pyaurorax mosaics.
    """
    if not l2_paths:
        raise AsiError("no L2 site-hour given for the mosaic")
    # each site-hour is opened lazily and only the frame used is read: memory is one frame per
    # site, not the sites' hours
    with contextlib.ExitStack() as stack:
        l2s = [stack.enter_context(_open_product(p)) for p in l2_paths]
        all_times = np.concatenate([ds["time"].values for ds in l2s])
        if all_times.size == 0:
            raise AsiError("no frame in any L2 site-hour of the mosaic", l2_paths[0])
        epoch = all_times[int(np.argmin(np.abs(all_times - when)))]
        tol = np.timedelta64(int(round(tolerance_s * 1e9)), "ns")
        frames, skipped = [], []
        for ds in l2s:
            dt = np.abs(ds["time"].values - epoch)
            k = int(np.argmin(dt))
            site = f"{ds.attrs['site_uid']}_{ds.attrs['device_uid']}"
            if dt[k] > tol:
                skipped.append(site)
                continue
            img = ds["image"].isel(time=k).load()
            if "channel" in img.dims:
                img = img.mean("channel")
            grid = ds[["latitude", "longitude", "elevation"]].load()
            grid.attrs = dict(ds.attrs)
            frames.append((grid, img, ds["time"].values[k]))
    res_lat = float(np.diff(frames[0][0]["latitude"].values[:2])[0])
    res_lon = float(np.diff(frames[0][0]["longitude"].values[:2])[0])
    lat_idx = [np.rint(f[0]["latitude"].values / res_lat).astype(int) for f in frames]
    lon_idx = [np.rint(f[0]["longitude"].values / res_lon).astype(int) for f in frames]
    i0, i1 = min(a.min() for a in lat_idx), max(a.max() for a in lat_idx)
    j0, j1 = min(a.min() for a in lon_idx), max(a.max() for a in lon_idx)
    shape = (i1 - i0 + 1, j1 - j0 + 1)
    mosaic = np.full(shape, np.nan, dtype=np.float32)
    best_el = np.full(shape, -np.inf)
    source = np.full(shape, -1, dtype=np.int16)
    for n, ((ds, img, _t), li, lj) in enumerate(zip(frames, lat_idx, lon_idx)):
        sl = (slice(li[0] - i0, li[-1] - i0 + 1), slice(lj[0] - j0, lj[-1] - j0 + 1))
        el = np.where(np.isfinite(img.values), ds["elevation"].values, -np.inf)
        better = el > best_el[sl]
        mosaic[sl] = np.where(better, img.values, mosaic[sl])
        source[sl] = np.where(better, n, source[sl])
        best_el[sl] = np.where(better, el, best_el[sl])
    sites = [f"{f[0].attrs['site_uid']}_{f[0].attrs['device_uid']}" for f in frames]
    offset = (epoch - when) / np.timedelta64(1, "ns") * 1e-9
    out = xr.Dataset(
        {"image": (("latitude", "longitude"), mosaic, {"units": frames[0][1].attrs.get("units", "1")}),
         "source_site": (("latitude", "longitude"), source),
         "frame_time": ("site", np.array([f[2] for f in frames], dtype="datetime64[ns]")),
         },
        coords={"latitude": ("latitude", np.arange(i0, i1 + 1) * res_lat),
                "longitude": ("longitude", np.arange(j0, j1 + 1) * res_lon),
                "site": ("site", np.array(sites))},
        attrs={"mosaic_time": np.datetime_as_string(epoch, unit="ms") + "Z",
               "requested_time": np.datetime_as_string(when, unit="s") + "Z",
               "requested_time_offset_s": float(offset),
               "site_list": " ".join(sites),
               "sites_without_frame": len(skipped), "sites_without_frame_list": " ".join(skipped),
               "projection_altitude_km": float(frames[0][0].attrs.get("projection_altitude_km", np.nan))},
    )
    return out


def write_mosaic(ctx) -> None:
    """Step `mosaic` (rule make_asi_mosaic): the L2 of every site of an instrument near a time ->
    mosaic netCDF and PNG."""
    cfg = ctx.settings.mosaic
    name = ctx.wildcards["asi_mosaic"]
    when = mosaic_time(name)
    l2_paths = ctx.inputs.all
    ds = mosaic(l2_paths, np.datetime64(when, "ns"), cfg.time_tolerance_s.to_value("s"))
    used = [p for p in l2_paths if any(s in Path(p).name for s in ds.attrs["site_list"].split())]
    if ds.attrs["sites_without_frame"]:
        LOG.warning("mosaic %s: %d site(s) without a frame within %g s of %s: %s", name,
                    ds.attrs["sites_without_frame"], cfg.time_tolerance_s.to_value("s"), ds.attrs["mosaic_time"],
                    ds.attrs["sites_without_frame_list"])
    ctx.write(ds, ctx.outputs.one("nc"), table="mosaic", title=f"UCalgary ASI mosaic {name}",
              summary=(f"Multi-site mosaic of L2 frames at {ds.attrs['mosaic_time']} (the frame time nearest "
                       f"the requested {when} UTC); higher elevation wins overlaps."),
              inputs=used)
    from levelpipe.plotting import save_png
    save_png(mosaic_figure(ds, name, cfg.percentiles, cfg.coastline_resolution), ctx.outputs.one("png"))


def mosaic_figure(ds: xr.Dataset, name: str, percentiles: Sequence[float], coastline_resolution: str):
    from levelpipe.plotting import coastline_segments, new_figure
    lo, hi = display_range(ds["image"].values, percentiles)
    lat, lon = ds["latitude"].values, ds["longitude"].values
    aspect = 1.0 / np.cos(np.radians(float(lat.mean())))
    span_x, span_y = float(np.ptp(lon)) or 1.0, float(np.ptp(lat) * aspect) or 1.0
    fig = new_figure(float(np.clip(4.5 * span_x / span_y, 4.5, 12.0)) + 1.5, 5.5)
    ax = fig.add_subplot()
    m = ax.pcolormesh(lon, lat, ds["image"].values, vmin=lo, vmax=hi, cmap="gray", shading="nearest")
    _colorbar(fig, ax, m, _units_label(ds["image"]))
    for seg_lon, seg_lat in coastline_segments((lat.min(), lat.max()), (lon.min(), lon.max()), coastline_resolution):
        ax.plot(seg_lon, seg_lat, color="gold", lw=0.6)
    ax.set_xlim(lon.min(), lon.max())
    ax.set_ylim(lat.min(), lat.max())
    ax.set_aspect(aspect)
    ax.set_xlabel("geographic longitude (deg E)")
    ax.set_ylabel("geographic latitude (deg N)")
    skipped = ds.attrs.get("sites_without_frame_list", "")
    title = (f"{name} at {ds.attrs['mosaic_time']}, {ds.attrs['projection_altitude_km']:g} km\n"
             f"{ds.attrs['site_list']}" + (f" (no frame: {skipped})" if skipped else ""))
    fig.suptitle(_wrapped(title, 0.9 * fig.get_figwidth(), 10), fontsize=10)
    _thin_ticks(fig, ax.xaxis)
    return fig


# --- movie and quicklook ---------------------------------------------------------------------

def _open_product(path):
    """A level product opened lazily (values are read when asked for)."""
    try:
        return xr.open_dataset(path, engine="netcdf4")
    except (OSError, ValueError) as err:
        raise AsiError(f"cannot open product ({' '.join(str(err).split())})", path) from None


def write_movie(ctx) -> None:
    """Step `movie` (rule make_asi_movie): MP4 (H.264 via the ffmpeg shipped with imageio-ffmpeg)
    of an L1 site-hour, north up, the frames read and encoded a chunk at a time."""
    import imageio.v2 as imageio
    cfg = ctx.settings.movie
    with _open_product(ctx.inputs.one()) as l1:
        image = l1["image"]
        n, step = image.shape[0], frames_per_read(image)
        lo, hi = display_range(image[:: max(1, n // 50)].values, cfg.percentiles)
        with atomic_output(ctx.outputs.one()) as tmp:
            with imageio.get_writer(tmp, format="FFMPEG", fps=cfg.fps, codec="libx264", quality=8,
                                    pixelformat="yuv420p", macro_block_size=16,
                                    ffmpeg_params=["-threads", "1", "-fflags", "+bitexact"]) as w:
                for s in range(0, n, step):  # a chunk of the file at a time, not the hour
                    chunk = image[s:s + step].values
                    for frame in chunk:  # the encoder consumes frames one by one
                        # display orientation: row 0 at the bottom (origin="lower"): flip for video
                        video = _scale_uint8(frame[::-1], lo, hi)
                        if video.ndim == 2:
                            video = np.repeat(video[..., None], 3, axis=2)
                        # pad to a multiple of 16 pixels (H.264 macroblocks) instead of resampling
                        ph, pw = (-video.shape[0]) % 16, (-video.shape[1]) % 16
                        w.append_data(np.pad(video, ((0, ph), (0, pw), (0, 0))))


def write_quicklook(ctx) -> None:
    """Step `quicklook` (rule plot_asi_quicklook): first, middle and last frame of a site-hour
    (north up, east left) and the mean signal over the hour."""
    with _open_product(ctx.inputs.one()) as l1:
        from levelpipe.plotting import save_png
        save_png(quicklook_figure(l1, ctx.granule, ctx.settings.keogram.percentiles), ctx.outputs.one())


def quicklook_figure(l1: xr.Dataset, granule: str, percentiles: Sequence[float]):
    """First, middle and last frame and the mean over the hour; `l1` may be opened lazily (only
    those frames and a chunk at a time for the mean are read)."""
    import matplotlib as mpl

    from levelpipe.plotting import new_figure
    image = l1["image"]
    n, step = image.shape[0], frames_per_read(image)
    picks = sorted({0, n // 2, n - 1})
    img = dict(zip(picks, image[picks].values))
    mean = np.concatenate([np.nanmean(image[s:s + step].values.reshape(min(step, n - s), -1), axis=1)
                           for s in range(0, n, step)])
    lo, hi = display_range(np.stack(list(img.values())), percentiles)
    units = _units_label(l1["image"])
    fig = new_figure(4.2 * len(picks) + 5.0, 4.6)
    axes = fig.subplots(1, len(picks) + 1, width_ratios=[1.0] * len(picks) + [1.3])
    for ax, k in zip(axes, picks):
        frame = img[k]
        if frame.ndim == 3:  # RGB: every channel through the same display range
            ax.imshow(_scale_uint8(frame, lo, hi), origin="lower")
            mappable = mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(lo, hi), cmap="gray")
            label = f"{units} (each of R, G, B)"
        else:
            mappable = ax.imshow(frame, origin="lower", cmap="gray", vmin=lo, vmax=hi)
            label = units
        _colorbar(fig, ax, mappable, label)
        ax.set_title(np.datetime_as_string(l1["time"].values[k], unit="s").replace("T", " "), fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[-1].plot(l1["time"].values.astype("datetime64[us]").astype(object), mean, ".-")
    axes[-1].set_ylabel(f"mean ({units})")
    _time_axis(axes[-1], *granule_hour(granule))
    title = f"{granule} ({n} frame{'s' if n != 1 else ''})\n{l1.attrs.get('calibration_level', '')}"
    fig.suptitle(_wrapped(title, 0.9 * fig.get_figwidth(), 11), fontsize=11)
    return fig
