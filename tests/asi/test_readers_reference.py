"""Our readers against pyucalgarysrs (the UCalgary reference) on the real sample files.

Pins the orientation decision (readers.ORIENTATION): after it, every image is pixel-identical
and every timestamp identical to what pyucalgarysrs returns for the same file.
"""
from __future__ import annotations

import warnings

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


@pytest.mark.parametrize("pattern,reader", CASES)
def test_pixel_identical_and_same_timestamps(pattern, reader, srs_readers):
    files = sorted(shared_data("asi").glob(pattern))
    assert files, pattern
    for f in files:
        ours = read_raw(f)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = getattr(srs_readers, reader)([str(f)], quiet=True)
        ref_images = np.moveaxis(np.asarray(ref.data), -1, 0)  # (row, col[, ch], n) -> (n, row, col[, ch])
        assert ours.n_bad == 0
        assert ours.images.shape == ref_images.shape, f.name
        assert ours.images.dtype == ref_images.dtype
        np.testing.assert_array_equal(ours.images, ref_images, err_msg=f.name)
        ref_times = np.array(ref.timestamp, dtype="datetime64[ns]")
        np.testing.assert_array_equal(ours.time, ref_times, err_msg=f.name)


def test_site_hour_assembly_identical_to_reference(srs_readers):
    files = sorted(shared_data("asi").glob("*_themis19_full.pgm.gz"))
    ours = read_files(files, expected_frames=5)  # forces the buffer to grow
    ref = srs_readers.read_themis([str(f) for f in files], quiet=True)
    np.testing.assert_array_equal(ours.images, np.moveaxis(ref.data, 2, 0))
    np.testing.assert_array_equal(ours.time, np.array(ref.timestamp, dtype="datetime64[ns]"))
    assert ours.images.shape == (40, 256, 256)
