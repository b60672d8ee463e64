"""Our readers against pyucalgarysrs (the UCalgary reference) on the real sample files.

Pins the orientation decision (readers.ORIENTATION): after it, every image is pixel-identical
and every timestamp identical to what pyucalgarysrs returns for the same file.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_data
from levelpipe.asi.readers import read_files, read_raw

pyucalgarysrs = pytest.importorskip("pyucalgarysrs")


@pytest.fixture(scope="module")
def srs_readers():
    return pyucalgarysrs.PyUCalgarySRS().data.readers


CASES = [
    ("*_themis19_full.pgm.gz", "read_themis"),
    ("*_nir-216_8446.pgm.gz", "read_trex_nir"),
    ("*_blue-814_full.pgm.gz", "read_trex_blue"),
    ("*_rgb-04_320ms_*.png", "read_trex_rgb"),
]


def _reference(srs_readers, reader, files):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(srs_readers, reader)([str(f) for f in files], quiet=True)


@pytest.mark.parametrize("pattern,reader", CASES)
def test_pixel_identical_and_same_timestamps(pattern, reader, srs_readers):
    files = sorted(shared_data("asi").glob(pattern))
    assert files, pattern
    for f in files:
        ours = read_raw(f)
        ref = _reference(srs_readers, reader, [f])
        ref_images = np.moveaxis(np.asarray(ref.data), -1, 0)  # (row, col[, ch], n) -> (n, row, col[, ch])
        assert ours.n_bad == 0
        assert ours.images.shape == ref_images.shape, f.name
        assert ours.images.dtype == ref_images.dtype
        np.testing.assert_array_equal(ours.images, ref_images, err_msg=f.name)
        ref_times = np.array(ref.timestamp, dtype="datetime64[ns]")
        np.testing.assert_array_equal(ours.time, ref_times, err_msg=f.name)
        if not f.name.endswith(".png"):  # PNG metadata are made from the file name, differently
            assert ours.metadata == ref.metadata, f.name


def test_site_hour_assembly_identical_to_reference(srs_readers):
    """What was read, frame by frame, against pyucalgarysrs on the same files (however many
    files and frames the shared folder holds)."""
    files = sorted(shared_data("asi").glob("*_themis19_full.pgm.gz"))
    ref = _reference(srs_readers, "read_themis", files)
    ref_images = np.moveaxis(ref.data, 2, 0)
    ours = read_files(files, expected_frames=max(1, ref_images.shape[0] // 4))  # forces the buffer to grow
    assert ours.images.shape == ref_images.shape and ours.n_bad == 0
    np.testing.assert_array_equal(ours.images, ref_images)
    np.testing.assert_array_equal(ours.time, np.array(ref.timestamp, dtype="datetime64[ns]"))
    assert ours.metadata == ref.metadata


def test_blueline_header_quirks(srs_readers, tmp_path):
    """The real Blueline header spells "Camera serial sumber", and frames after the first lack
    the site and imager ids: the detector UID is read anyway, every frame carries the ids (as
    pyucalgarysrs fills them in), and the L1 product names the camera and the site position."""
    from conftest import family_settings
    from levelpipe.asi.calibration import detector_uid
    from levelpipe.asi.l1 import l1
    f = next(shared_data("asi").glob("*_blue-814_full.pgm.gz"))
    ours = read_raw(f)
    ref = _reference(srs_readers, "read_trex_blue", [f])
    assert "Camera serial sumber" in ours.metadata[0] and "Site unique ID" not in _raw_header(f, 1)
    assert [(m["Site unique ID"], m["Imager unique ID"]) for m in ours.metadata] == \
        [(m["Site unique ID"], m["Imager unique ID"]) for m in ref.metadata] == [("gill", "blue-814")] * 20
    assert detector_uid(ours.metadata[0], "blue-814", {}) == "VSC-09814"
    cfg = family_settings("asi")
    ds = l1([f], instruments=cfg.instruments, calibration=cfg.calibration, reading=cfg.reading)
    assert ds.attrs["detector_uid"] == "VSC-09814"
    assert (ds.attrs["site_latitude_deg"], ds.attrs["site_longitude_deg"]) == (56.376723, -94.643664)


def _raw_header(path, k):
    """The k-th frame header of a PGM minute file, split by hand (independent of our reader)."""
    import gzip
    buf = gzip.open(path).read()
    pos = 0
    for _ in range(k + 1):
        start = buf.index(b"P5\n", pos)
        end = buf.index(b"\n65535\n", start) + 7
        width, height = map(int, buf[:end - 7].rsplit(b"\n", 1)[1].split())
        pos = end + width * height * 2
    return buf[start:end].decode("latin1")


RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "asi"


def test_rego_orientation_matches_reference_on_simulated_file(srs_readers):
    """No real REGO file is available offline; the bundled simulated one has the real format,
    so it pins REGO's extra column flip against pyucalgarysrs (images, skymap, flatfield)."""
    from levelpipe.asi.calibration import read_flatfield
    from levelpipe.asi.skymap import read_skymap
    raw = next(RESOURCES.rglob("*_rego-652_6300.pgm.gz"))
    ours = read_raw(raw)
    ref = srs_readers.read_rego([str(raw)], quiet=True)
    np.testing.assert_array_equal(ours.images, np.moveaxis(ref.data, -1, 0))
    np.testing.assert_array_equal(ours.time, np.array(ref.timestamp, dtype="datetime64[ns]"))
    sky_path = next(RESOURCES.rglob("rego_skymap_*.sav"))
    sky, ref_sky = read_skymap(sky_path), srs_readers.read_skymap([str(sky_path)], quiet=True).data[0]
    np.testing.assert_array_equal(sky.elevation, ref_sky.full_elevation)
    np.testing.assert_array_equal(sky.map_longitude, ref_sky.full_map_longitude)
    ff_path = next(RESOURCES.rglob("REGO_flatfield_*.sav"))
    ref_ff = srs_readers.read_calibration([str(ff_path)], quiet=True).data[0]
    np.testing.assert_array_equal(read_flatfield(ff_path, "rego"), ref_ff.flat_field_multiplier)


@pytest.mark.parametrize("name", ["20211030_0600_gill_rgb-04_full.h5", "20211030_0600_gill_rgb-04_burst.png.tar"])
def test_rgb_hdf5_and_png_tar_layouts_read_as_pyucalgarysrs_reads_them(srs_readers, name):
    """No real RGB HDF5 or PNG tar file is available: the bundled seeds are built in the layout
    pyucalgarysrs reads (levelpipe.testing.asi_fuzz_seeds), and both readers must agree on them."""
    f = RESOURCES / "fuzz" / name
    ours = read_raw(f)
    ref = _reference(srs_readers, "read_trex_rgb", [f])
    np.testing.assert_array_equal(ours.images, np.moveaxis(np.asarray(ref.data), -1, 0))
    np.testing.assert_array_equal(ours.time, np.array(ref.timestamp, dtype="datetime64[ns]"))
