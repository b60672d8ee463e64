"""PNG frames: size and recorded axes of §3.2, the PNG <-> FITS <-> arcsec conversion of §3.4
(round trip, a known feature of the real AIA file), movies, and hostile FITS files."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from levelpipe.jets import images
from levelpipe.jets.errors import JetsError

from conftest import shared_data
from jets_testlib import BUNDLE, settings

SAMPLE = sorted((BUNDLE / "cutouts").glob("*/*.fits"))


@pytest.fixture(scope="module")
def real_frame(tmp_path_factory):
    """The real 128^2 AIA frame rendered as the seed did (1920 x 1440 px, 300 dpi)."""
    s = settings()
    m = images.read_cutout(shared_data("jets") / "aia_171_level1.fits", s.fits)
    png = tmp_path_factory.mktemp("img") / "aia.png"
    placement = images.render_png(m, png, s.images)
    return m, png, placement


def test_frame_size_and_recorded_axes(real_frame):
    m, png, placement = real_frame
    with Image.open(png) as im:
        assert im.size == (1920, 1440)   # 6.4 x 4.8 in at 300 dpi (§3.2)
        text = dict(im.text)
    assert images.read_placement(png) == placement
    assert text["fits_WAVELNTH"] == "171" and text["fits_CTYPE1"] == "HPLN-TAN"
    # matplotlib's default subplot box: bottom .11, top .88, shrunk horizontally to the square data
    assert placement["im_ll_y"] == pytest.approx(0.11) and placement["im_ur_y"] == pytest.approx(0.88)
    w = (placement["im_ur_x"] - placement["im_ll_x"]) * 1920
    h = (placement["im_ur_y"] - placement["im_ll_y"]) * 1440
    assert w == pytest.approx(h, abs=0.5)


def test_axes_frame_is_drawn_where_the_png_says(real_frame):
    """Independent check of the recorded placement: the black axes spines in the pixels."""
    _, png, p = real_frame
    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    top, bottom = int((1 - p["im_ur_y"]) * 1440) + 10, int((1 - p["im_ll_y"]) * 1440) - 10
    black = (rgb[top:bottom].sum(axis=2) < 30).mean(axis=0)   # share of black pixels per column
    dark = np.flatnonzero(black > 0.95)                       # the two vertical spines
    left, right = p["im_ll_x"] * 1920, p["im_ur_x"] * 1920
    assert abs(dark.min() - left) <= 2 and abs(dark.max() - right) <= 2


def test_round_trip_png_arcsec_png_within_a_hundredth_pixel(real_frame):
    m, _, placement = real_frame
    p = images.Placement.of(placement, 128, 128)
    rng = np.random.default_rng(3)
    px = rng.uniform(450, 1500, 200)
    py = rng.uniform(180, 1270, 200)
    for legacy in (False, True):
        tx, ty = images.png_to_hpc(px, py, p, m.wcs, legacy_half_pixel=legacy)
        bx, by = images.hpc_to_png(tx, ty, p, m.wcs, legacy_half_pixel=legacy)
        assert np.max(np.hypot(bx - px, by - py)) < 0.01


def test_axes_centre_is_pixel_63_5_and_legacy_is_half_a_pixel_off(real_frame):
    """§3.4, measured in the notes on this file: the axes centre is pixel 63.5 = CRPIX - 1,
    i.e. (-4.53", 2.87"); the originals' mapping gives (5.06", 12.46")."""
    m, _, placement = real_frame
    p = images.Placement.of(placement, 128, 128)
    cx = (p.im_ll_x + p.im_ur_x) / 2 * p.width
    cy = (1 - (p.im_ll_y + p.im_ur_y) / 2) * p.height
    i, j = images.png_to_fits(cx, cy, p)
    assert (i, j) == pytest.approx((63.5, 63.5))
    tx, ty = images.png_to_hpc(cx, cy, p, m.wcs)
    assert (tx.value, ty.value) == pytest.approx((-4.53, 2.87), abs=0.01)
    lx, ly = images.png_to_hpc(cx, cy, p, m.wcs, legacy_half_pixel=True)
    assert (lx.value, ly.value) == pytest.approx((5.06, 12.46), abs=0.01)


def test_brightest_feature_of_the_real_file_lands_within_one_aia_pixel(real_frame):
    """Find the brightest spot in the rendered PNG, convert its PNG position to arcsec, and
    compare with sunpy's world coordinate of the brightest FITS pixel (row 50, column 70)."""
    import astropy.units as u
    m, png, placement = real_frame
    p = images.Placement.of(placement, 128, 128)
    lum = np.asarray(Image.open(png).convert("RGB")).astype(float).sum(axis=2)
    x0, y0 = images.fits_to_png(-0.5, 127.5, p)
    x1, y1 = images.fits_to_png(127.5, -0.5, p)
    sub = lum[int(y0) + 2:int(y1) - 2, int(x0) + 2:int(x1) - 2]
    ys, xs = np.nonzero(sub >= sub.max())
    px, py = xs.mean() + int(x0) + 2 + 0.5, ys.mean() + int(y0) + 2 + 0.5   # pixel centres
    tx, ty = images.png_to_hpc(px, py, p, m.wcs)
    j, i = np.unravel_index(np.argmax(m.data), m.data.shape)
    truth = m.pixel_to_world(i * u.pix, j * u.pix)
    pixel = m.scale.axis1.to_value(u.arcsec / u.pix)
    assert abs(tx.value - truth.Tx.to_value(u.arcsec)) < pixel
    assert abs(ty.value - truth.Ty.to_value(u.arcsec)) < pixel


def test_subject_normalisation_gives_one_range(tmp_path):
    s = settings()
    maps = [images.read_cutout(p, s.fits) for p in SAMPLE[:3]]
    lo, hi = images.subject_range(maps)
    assert lo == min(float(m.data.min()) for m in maps) and hi == max(float(m.data.max()) for m in maps)


def test_png_above_the_limit_is_rendered_smaller(tmp_path):
    s = settings(images={"max_png_bytes": 60000})
    m = images.read_cutout(SAMPLE[0], s.fits)
    placement = images.render_png(m, tmp_path / "f.png", s.images)
    assert (tmp_path / "f.png").stat().st_size <= 60000 and placement["dpi"] < 300
    assert images.read_placement(tmp_path / "f.png")["width"] == placement["width"]
    with Image.open(tmp_path / "f.png") as im:
        assert im.size == (int(placement["width"]), int(placement["height"]))


def test_movie(tmp_path):
    s = settings()
    maps = [images.read_cutout(p, s.fits) for p in SAMPLE[:6]]
    info = images.write_movie(maps, tmp_path / "m.mp4", s.images)
    import imageio_ffmpeg
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "m.mp4"))
    meta = next(reader)
    n = sum(1 for _ in reader)
    assert n == 6 and meta["fps"] == 10 and tuple(meta["size"]) == (960, 720)
    assert info["bytes"] <= s.images.movie_max_bytes


def _fits_bytes():
    return SAMPLE[0].read_bytes()


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b[: len(b) // 2 + 100], "truncated"),
    (lambda b: b"NOT A FITS FILE" * 300, "not a readable FITS image"),
    (lambda b: b.replace(b"NAXIS1  =                   32", b"NAXIS1  =              9999999"), "pixels|truncated"),
    (lambda b: b"", "not a readable FITS image"),
    (lambda b: b.replace(b"CRVAL1  =", b"XRVAL1  ="), "header has no CRVAL1"),
])
def test_hostile_fits_gives_one_line_error(tmp_path, mutate, message):
    p = tmp_path / "bad.fits"
    p.write_bytes(mutate(_fits_bytes()))
    with pytest.raises(JetsError, match=message) as err:
        images.read_cutout(p, settings().fits)
    assert str(err.value).startswith(str(p)) and "\n" not in str(err.value)


def test_oversized_fits_refused_before_reading(tmp_path):
    s = settings(fits={"max_file_bytes": 5000})
    with pytest.raises(JetsError, match="limit 5000"):
        images.read_cutout(SAMPLE[0], s.fits)


def test_brightest_feature_of_the_bundled_real_crop_within_one_aia_pixel(tmp_path):
    """The same check on the bundle (frame 0 has no simulated jet: the real data, cropped), so
    it runs without ../shared."""
    import astropy.units as u
    s = settings()
    m = images.read_cutout(SAMPLE[0], s.fits)
    placement = images.render_png(m, tmp_path / "f.png", s.images)
    n2, n1 = m.data.shape
    p = images.Placement.of(placement, n1, n2)
    lum = np.asarray(Image.open(tmp_path / "f.png").convert("RGB")).astype(float).sum(axis=2)
    x0, y0 = images.fits_to_png(-0.5, n2 - 0.5, p)
    x1, y1 = images.fits_to_png(n1 - 0.5, -0.5, p)
    sub = lum[int(y0) + 2:int(y1) - 2, int(x0) + 2:int(x1) - 2]
    ys, xs = np.nonzero(sub >= sub.max())
    tx, ty = images.png_to_hpc(xs.mean() + int(x0) + 2.5, ys.mean() + int(y0) + 2.5, p, m.wcs)
    j, i = np.unravel_index(np.argmax(m.data), m.data.shape)
    truth = m.pixel_to_world(i * u.pix, j * u.pix)
    pixel = m.scale.axis1.to_value(u.arcsec / u.pix)
    assert abs(tx.value - truth.Tx.to_value(u.arcsec)) < pixel and abs(ty.value - truth.Ty.to_value(u.arcsec)) < pixel
