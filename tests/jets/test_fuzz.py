"""The fuzz targets run on their seeds, and on a few cheap mutations raise only JetsError."""
from __future__ import annotations

import random

import pytest

from levelpipe.jets.errors import JetsError
from levelpipe.jets.fuzz import targets


@pytest.mark.parametrize("name", sorted(targets()))
def test_targets_read_their_seeds_and_survive_mutations(name, tmp_path):
    read, seeds, *prepare = targets()[name]
    for ready in prepare:
        ready()
    assert seeds, f"{name} has no seed"
    rng = random.Random(5)
    for seed in seeds[:2]:
        read(seed)
        data = seed.read_bytes()
        for k in range(12):
            b = bytearray(data)
            for _ in range(1 + k):
                b[rng.randrange(len(b))] = rng.randrange(256)
            cut = bytes(b[: rng.randrange(len(b) + 1)]) if k % 3 == 0 else bytes(b)
            p = tmp_path / f"m{k}{seed.suffix}"
            p.write_bytes(cut)
            try:
                read(p)
            except JetsError as err:
                assert "\n" not in str(err)
