"""A small fixed-seed part of the fuzz campaign (levelpipe.asi.fuzz.targets): mutated seeds of
every ASI reader give results or one-line LevelpipeErrors naming the file, nothing else; plus
the inputs earlier campaigns found."""
from __future__ import annotations

import time

import numpy as np
import pytest

from levelpipe.asi.fuzz import SEEDS, targets
from levelpipe.errors import LevelpipeError

MUTATIONS = 40


def _mutate(rng, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(0, max(1, len(b))))
        op = int(rng.integers(0, 5))
        if op == 0 and b:
            b[i] ^= 1 << int(rng.integers(0, 8))
        elif op == 1:
            del b[i:i + int(rng.integers(1, 64))]
        elif op == 2:
            b[i:i] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
        elif op == 3:
            b = b[:i]
        else:
            j = int(rng.integers(0, max(1, len(b))))
            b[i:i] = b[j:j + int(rng.integers(1, 256))]
    return bytes(b)


@pytest.mark.parametrize("name", sorted(targets()))
def test_mutated_seeds_give_results_or_one_line_errors(tmp_path, name):
    fn, seeds = targets()[name]
    assert seeds, name
    rng = np.random.default_rng(sum(map(ord, name)))
    for k in range(MUTATIONS):
        seed = seeds[k % len(seeds)]
        path = tmp_path / seed.name
        path.write_bytes(_mutate(rng, seed.read_bytes()))
        t = time.monotonic()
        try:
            fn(path)
        except LevelpipeError as err:
            text = str(err)
            assert "\n" not in text and text.startswith(str(path)), text
        assert time.monotonic() - t < 10, (name, k)


def test_an_hdf5_file_that_hangs_the_hdf5_library_is_one_error(tmp_path):
    """Found by fuzzing: one byte changed in a variable-length string attribute makes the HDF5
    library loop forever in the attribute read; the read runs in a child process with a limit."""
    from levelpipe.asi.readers import read_rgb
    from levelpipe.asi.settings import ReadingSettings
    from levelpipe.errors import AsiError
    found = SEEDS / "regressions" / "20211030_0600_gill_rgb-04_full.h5"
    t = time.monotonic()
    with pytest.raises(AsiError, match="did not return within 1 s"):
        read_rgb(found, ReadingSettings(hdf5_timeout_s=1))
    assert time.monotonic() - t < 8
    # the next file is read by a fresh child process
    assert read_rgb(SEEDS / "20211030_0600_gill_rgb-04_full.h5").images.shape == (2, 20, 24, 3)
