"""Subjects (§4.1) and manifests (§4.2): windows written out by hand from the notes."""
from __future__ import annotations

import csv
import io

import pytest

from levelpipe.jets import subjects

from jets_testlib import settings


@pytest.mark.parametrize("n, size, overlap, windows", [
    (30, 15, 2, [(0, 15), (13, 28), (15, 30)]),          # §4.1: [0-14], [13-27], [15-29]
    (10, 4, 2, [(0, 4), (2, 6), (4, 8), (6, 10)]),       # the seed docstring's case: third = items 5..8
    (28, 15, 2, [(0, 15), (13, 28)]),
    (15, 15, 2, [(0, 15)]),                              # N == size: the seed raised IndexError
    (7, 15, 2, [(0, 7)]),                                # N < size: one short subject
    (1, 15, 2, [(0, 1)]),
    (0, 15, 2, []),
])
def test_split(n, size, overlap, windows):
    assert subjects.split(n, size, overlap) == windows


def test_split_refuses_overlap_equal_to_size():
    with pytest.raises(ValueError):
        subjects.split(20, 5, 5)
    with pytest.raises(Exception, match="overlap"):
        settings(subjects={"frames_per_subject": 5, "overlap": 5})


def _subject(k, n=3):
    frames = [{"file": f"f{k}_{i}.png", "time": f"2011-02-15T00:0{i}:00.000",
               "placement": {"im_ll_x": 0.2, "im_ll_y": 0.11, "im_ur_x": 0.8, "im_ur_y": 0.88,
                             "width": 1920.0, "height": 1440.0000000000002},
               "wcs": {"naxis1": 32, "naxis2": 32, "cunit1": "arcsec", "cunit2": "arcsec", "crval1": -4.5, "crval2": 2.9,
                       "cdelt1": 19.18, "cdelt2": 19.18, "crpix1": 10.5, "crpix2": 30.5, "crota2": 0.02},
               "header": {"TELESCOP": "SDO/AIA", "COMMENT": 'quote " and, comma'}} for i in range(n)]
    return {"key": f"ev_{k:03d}", "event_id": "ev", "sol_standard": "SOL2011-02-15T00:00:00L000C000",
            "cadence_s": 12.0, "frames": frames}


def test_manifest_columns_hidden_indexed_and_in_frame_order():
    rows = subjects.manifest_rows([_subject(0)], indexed=["sol_standard"], with_headers=False)
    keys = list(rows[0])
    assert keys[:3] == ["#file_name_0", "#file_name_1", "#file_name_2"]   # media in frame order
    assert "%sol_standard" in keys and "#sol_standard" not in keys
    assert all(k.startswith(("#", "%")) for k in keys)
    assert rows[0]["#width"] == "1920.0" and rows[0]["#height"] == "1440.0000000000002"
    assert rows[0]["#crval1_2"] == "-4.5" and rows[0]["#crpix2"] == "30.5"
    assert not any(k.startswith("#fits_header") for k in keys)
    full = subjects.manifest_rows([_subject(0)], indexed=["sol_standard"], with_headers=True)
    assert "#fits_header_1" in full[0]


def test_manifest_reads_back_as_panoptes_cli_reads_it(tmp_path):
    subjects.write_manifests(tmp_path, [_subject(k) for k in range(3)], settings().subjects)
    rows = subjects.read_manifest(tmp_path / "meta.csv")
    assert [r["#subject_key"] for r in rows] == ["ev_000", "ev_001", "ev_002"]
    assert '"' in rows[0]["#fits_header_0"]   # the JSON header survives the CSV quoting


def test_manifest_split_into_parts_below_the_size_limit():
    rows = subjects.manifest_rows([_subject(k, 15) for k in range(40)], indexed=[], with_headers=True)
    parts = subjects.manifest_parts(rows, 60000)
    assert len(parts) > 1 and all(len(p.encode()) <= 60000 for p in parts)
    back = [r for p in parts for r in csv.DictReader(io.StringIO(p))]
    assert [r["#subject_key"] for r in back] == [f"ev_{k:03d}" for k in range(40)]
