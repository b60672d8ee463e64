"""Quicklook, keogram and mosaic figures: a colour bar with units on every image panel, no
text outside the figure (single-frame quicklooks included), time axes spanning the site-hour,
longitude tick labels that never overlap."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from conftest import family_settings, run_family_step
from levelpipe.asi.family import FAMILY
from levelpipe.asi.products import granule_hour, keogram_figure, mosaic_figure, quicklook_figure
from levelpipe.io import read_netcdf

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "asi"
RGB = "trex_rgb_gill_rgb-04_20200508_ut06"      # one frame
THEMIS = "themis_gill_themis19_20140310_ut06"   # 20 frames


@pytest.fixture(scope="module")
def l1s(tmp_path_factory):
    out = tmp_path_factory.mktemp("ql")
    index = FAMILY.index(RESOURCES, family_settings("asi"))
    return {g: read_netcdf(run_family_step("asi", "l1", dict(index[g].files), {"out": out / f"{g}.nc"},
                                           {"site_hour": g})) for g in (RGB, THEMIS)}


def _texts_inside(fig):
    """Whether everything drawn (titles, labels, tick labels, colour bars) lies on the canvas:
    the figure's tight bounding box is what bbox_inches="tight" would crop to."""
    fig.canvas.draw()
    tight = fig.get_tightbbox(fig.canvas.get_renderer())
    width, height = fig.get_size_inches()
    slack = 1.0 / fig.dpi
    inside = tight.x0 >= -slack and tight.y0 >= -slack and tight.x1 <= width + slack and tight.y1 <= height + slack
    return [] if inside else [f"drawn area {tight} exceeds the {width}x{height} in figure"]


def _colorbars(fig):
    return [ax for ax in fig.axes if hasattr(ax, "_colorbar")]


def _hours(ax):
    import matplotlib.dates as mdates
    lo, hi = (np.datetime64(mdates.num2date(x).replace(tzinfo=None), "s") for x in ax.get_xlim())
    return lo, hi


@pytest.mark.parametrize("granule,panels", [(RGB, 1), (THEMIS, 3)])
def test_quicklook_colour_bars_titles_and_hour_axis(l1s, granule, panels):
    fig = quicklook_figure(l1s[granule], granule, family_settings("asi").keogram.percentiles)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == panels
    bars = _colorbars(fig)
    assert len(bars) == panels and all("count" in b.get_ylabel() for b in bars)
    assert _texts_inside(fig) == []
    mean_ax = [ax for ax in fig.axes if ax.lines][0]
    start, end = granule_hour(granule)
    assert _hours(mean_ax) == (start.astype("datetime64[s]"), end.astype("datetime64[s]"))


def test_keogram_spans_the_hour_with_a_colour_bar(l1s):
    times = l1s[THEMIS]["time"].values
    ds = xr.Dataset({"keogram": (("time", "latitude"), np.random.default_rng(0).random((times.size, 40)))},
                    coords={"time": times, "latitude": np.linspace(52, 61, 40)},
                    attrs={"keogram_longitude_deg": -94.7, "projection_altitude_km": 110.0})
    fig = keogram_figure(ds, THEMIS, (1, 99), "count")
    start, end = granule_hour(THEMIS)
    assert _hours(fig.axes[0]) == (start.astype("datetime64[s]"), end.astype("datetime64[s]"))
    assert len(_colorbars(fig)) == 1 and _texts_inside(fig) == []


@pytest.mark.parametrize("lon_span", [8.0, 40.0, 110.0])
def test_mosaic_longitude_labels_never_overlap(lon_span):
    lat = np.arange(48.0, 66.0, 0.05)
    lon = np.arange(-150.0, -150.0 + lon_span, 0.1)
    img = np.random.default_rng(1).random((lat.size, lon.size)).astype(np.float32)
    ds = xr.Dataset({"image": (("latitude", "longitude"), img, {"units": "count"})},
                    coords={"latitude": lat, "longitude": lon},
                    attrs={"mosaic_time": "2014-03-10T06:00:09.060Z", "projection_altitude_km": 110.0,
                           "site_list": "gill_themis19 tpas_themis15 fsmi_themis06 atha_themis02",
                           "sites_without_frame_list": "rank_themis21"})
    fig = mosaic_figure(ds, "themis_20140310T060010", (1, 99), "c")
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    boxes = sorted((t.get_window_extent(renderer) for t in ax.xaxis.get_ticklabels() if t.get_text()),
                   key=lambda b: b.x0)
    assert len(boxes) >= 2
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:]))
    assert len(_colorbars(fig)) == 1 and _texts_inside(fig) == []
