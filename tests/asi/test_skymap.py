"""Skymaps: best-skymap selection over many dates and versions, reading (orientation), altitude
interpolation, preparation vs pyaurorax, lens model read identically by pyucalgarysrs."""
from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest
from astropy import units as u

from conftest import shared_data
from levelpipe.asi.skymap import (interpolate_altitude, parse_skymap_name, pixel_polygons, prepare_skymap,
                                  read_skymap, select_best)
from levelpipe.testing.asi_lens_model import write_lens_model_skymap
from levelpipe.errors import AsiError

NAMES = [
    "themis_skymap_gill_20060101-20091231_vXX.sav",
    "themis_skymap_gill_20070301-20091231_v01.sav",
    "themis_skymap_gill_20070301-20091231_v02.sav",
    "themis_skymap_gill_20100101-+_vXX.sav",
    "themis_skymap_gill_20100101-+_v01.sav",
    "themis_skymap_gill_20120815-+_v01.sav",
    "themis_skymap_gill_20120815-+_v03.sav",
    "themis_skymap_gill_20120815-+_v02.sav",
    "themis_skymap_gill_20150101-20151231_v01.sav",
    "themis_skymap_rank_20150601-+_v09.sav",
]


@pytest.mark.parametrize("day,expected", [
    ("2005-12-31", None),                                             # before any skymap
    ("2006-01-01", "themis_skymap_gill_20060101-20091231_vXX.sav"),
    ("2007-02-28", "themis_skymap_gill_20060101-20091231_vXX.sav"),
    ("2007-03-01", "themis_skymap_gill_20070301-20091231_v02.sav"),   # newer start, then highest version
    ("2009-12-31", "themis_skymap_gill_20070301-20091231_v02.sav"),   # stop date inclusive
    ("2010-01-01", "themis_skymap_gill_20100101-+_v01.sav"),          # numbered beats vXX
    ("2012-08-14", "themis_skymap_gill_20100101-+_v01.sav"),
    ("2012-08-15", "themis_skymap_gill_20120815-+_v03.sav"),
    ("2015-06-01", "themis_skymap_gill_20150101-20151231_v01.sav"),  # latest valid-from wins
    ("2016-01-01", "themis_skymap_gill_20120815-+_v03.sav"),          # closed interval ended
    ("2030-01-01", "themis_skymap_gill_20120815-+_v03.sav"),
])
def test_best_skymap_over_dates_and_versions(day, expected):
    names = [n for n in map(parse_skymap_name, NAMES) if (n.project, n.site) == ("themis", "gill")]
    best = select_best(names, np.datetime64(day))
    assert (best.path.name if best else None) == expected


def test_version_ranking_and_tie_break():
    a, b, c = (parse_skymap_name(n) for n in ("rego_skymap_gill_20200101-+_vXX.sav",
                                               "rego_skymap_gill_20200101-+_v10.sav",
                                               "rego_skymap_gill_20200101-+_v9.sav"))
    assert a.version_rank < c.version_rank < b.version_rank
    assert select_best([a, b, c], dt.date(2021, 1, 1)) is b


@pytest.fixture(scope="module")
def lens_skymap(tmp_path_factory):
    d = tmp_path_factory.mktemp("sky")
    return write_lens_model_skymap(d, project="themis", site="gill", imager="themis19", site_latitude=56.35,
                                   site_longitude=-94.66, site_altitude_m=0.0, shape=(64, 64), centre_px=(32, 32),
                                   horizon_radius_px=31.0, east_left=True, rotation_deg=0.0,
                                   altitudes_km=[90, 110, 150], valid_from="20140101", version="01", decimals=4)


def test_lens_model_read_identically_by_pyucalgarysrs(lens_skymap):
    pyucalgarysrs = pytest.importorskip("pyucalgarysrs")
    ours = read_skymap(lens_skymap)
    ref = pyucalgarysrs.PyUCalgarySRS().data.readers.read_skymap([str(lens_skymap)], quiet=True).data[0]
    np.testing.assert_array_equal(ours.elevation, ref.full_elevation)
    np.testing.assert_array_equal(ours.azimuth, ref.full_azimuth)
    np.testing.assert_array_equal(ours.map_latitude, ref.full_map_latitude)
    np.testing.assert_array_equal(ours.map_longitude, ref.full_map_longitude)
    assert ours.version == ref.version.lstrip("v") and ref.generation_info.valid_interval_start == dt.datetime(2014, 1, 1)


def test_lens_model_orientation_north_up_east_left(lens_skymap):
    prep = prepare_skymap(read_skymap(lens_skymap), 110 * u.km, 0 * u.deg)
    c = 32
    assert prep.latitude[c + 10, c] > prep.latitude[c, c] > prep.latitude[c - 10, c]   # row up = north
    assert prep.longitude[c, c + 10] < prep.longitude[c, c] < prep.longitude[c, c - 10]  # col right = west
    assert np.nanmax(prep.elevation) > 85


def test_altitude_interpolation_linear_no_extrapolation(lens_skymap):
    sky = read_skymap(lens_skymap)
    lat110, lon110 = interpolate_altitude(sky, 110 * u.km)
    np.testing.assert_array_equal(lat110, sky.map_latitude[1])
    lat130, _ = interpolate_altitude(sky, 130 * u.km)
    np.testing.assert_allclose(lat130, 0.5 * (sky.map_latitude[1] + sky.map_latitude[2]))
    with pytest.raises(AsiError, match="outside"):
        interpolate_altitude(sky, 200 * u.km)


def test_longitude_interpolation_across_the_dateline(lens_skymap):
    sky = read_skymap(lens_skymap)
    sky.site_longitude = 179.9
    sky.map_longitude = np.where(np.isfinite(sky.map_longitude), sky.map_longitude - sky.map_longitude[1, 32, 32] + 179.9,
                                 np.nan) % 360.0
    _, lon = interpolate_altitude(sky, 100 * u.km)
    finite = lon[np.isfinite(lon)]
    assert finite.min() < -170 and finite.max() > 170         # wraps, not smeared through 0
    assert not np.any((finite > -150) & (finite < 150))


def test_min_elevation_cut(lens_skymap):
    prep = prepare_skymap(read_skymap(lens_skymap), 110 * u.km, 20 * u.deg)
    assert np.all(prep.elevation[prep.usable] >= 20)
    assert np.any(np.isfinite(prep.elevation) & ~prep.usable)


def test_real_skymap_polygons_match_pyaurorax():
    """Our vectorised preparation equals pyaurorax's per-pixel interp1d on the real gako skymap
    (a band of rows, to keep the test fast)."""
    pytest.importorskip("pyaurorax")
    import pyucalgarysrs
    from pyaurorax.tools.mosaic import _prep_skymaps
    path = next(shared_data("asi").glob("themis_skymap_gako_*.sav"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_sky = pyucalgarysrs.PyUCalgarySRS().data.readers.read_skymap([str(path)], quiet=True).data[0]
    rows = slice(100, 131)  # 30 pixel rows need 31 corner rows
    ref_sky.full_elevation = ref_sky.full_elevation[rows]
    ref_sky.full_azimuth = ref_sky.full_azimuth[rows]
    ref_sky.full_map_latitude = ref_sky.full_map_latitude[:, rows.start:rows.stop + 1]
    ref_sky.full_map_longitude = ref_sky.full_map_longitude[:, rows.start:rows.stop + 1]
    flatten = getattr(_prep_skymaps, "__flatten_skymap")
    ref = flatten({"skymap": ref_sky, "height_km": 120.0, "i": 0})
    ours_sky = read_skymap(path)
    ours_sky.elevation = ours_sky.elevation[rows]
    ours_sky.map_latitude = ours_sky.map_latitude[:, rows.start:rows.stop + 1]
    ours_sky.map_longitude = ours_sky.map_longitude[:, rows.start:rows.stop + 1]
    lat, lon = pixel_polygons(prepare_skymap(ours_sky, 120 * u.km, 0 * u.deg))
    h, w = ours_sky.elevation.shape
    # pyaurorax leaves the last pixel row and column empty; compare where it filled polygons
    filled = np.any(ref["polyfill_lat"] != 0, axis=0).reshape(h, w)
    assert filled.sum() > 1000
    mask = filled.ravel()
    np.testing.assert_allclose(lat[:, mask], ref["polyfill_lat"][:, mask], atol=1e-4)
    np.testing.assert_allclose(lon[:, mask], ref["polyfill_lon"][:, mask], atol=1e-4)
