"""Hostile and damaged VZLUSAT-1 files: readers raise only TimepixError (file and place), and one
bad file in a folder is flagged and counted while the rest of the folder is processed.

Mutations start from the bundled real files (fixed seed); crafted cases pin each kind of fault
the issue lists (bad UTF-8, deep JSON nesting, wrong types, huge positions, NaN and overflowing
times, integer overflow) with the message the user sees.
"""
from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from levelpipe.errors import TimepixError
from levelpipe.timepix.family import FAMILY
from levelpipe.timepix.formats import (MAX_MATRIX_BYTES, read_clusters, read_dsc, read_info_rows, read_info_table,
                                       read_matrix, read_metadata, read_statistics)
from levelpipe.timepix.fuzz import targets
from levelpipe.timepix.l0 import BAD_KINDS, FLAG_BAD_FILE, FLAG_CORRUPT, FLAG_REBUILT, folder_files, l0

from conftest import RESOURCES, family_settings, run_family_step

VZ = RESOURCES / "vzlusat1"
RAW = VZ / "raw" / "above_europe"
LAB = VZ / "labelled" / "above_europe"
CFG = family_settings("vzlusat1")

# Byte strings a damaged or hostile file may carry in place of a value.
TOKENS = [b"nan", b"NaN", b"inf", b"Infinity", b"-1", b"1e400", b"99999999999999999999", b"\xff\xfe", b"[" * 3000,
          b"{" * 3000, b'"x"', b"null", b"true", b"{}", b"[]", b"1.5", b"-99999999999", b"1_0", b"-9999",
          b"9999-99-99 99:99:99", b"\x00", b"1e19", b"4294967296", b"65536", b"2147483648", b"\r\n", b" "]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One to three edits: bit flip, inserted token, deleted run, a number replaced, truncation."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        k, i = rng.random(), rng.randrange(len(data) + 1)
        if k < 0.25 and data:
            data[min(i, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif k < 0.45:
            data[i:i] = rng.choice(TOKENS)
        elif k < 0.6:
            del data[i:rng.randrange(i, min(len(data), i + 50) + 1)]
        elif k < 0.92:
            while i < len(data) and not data[i:i + 1].isdigit():
                i += 1
            j = i
            while j < len(data) and (data[j:j + 1].isdigit() or data[j:j + 1] == b"."):
                j += 1
            data[i:j] = rng.choice(TOKENS)
        else:
            del data[i:]
    return bytes(data)


@pytest.mark.parametrize("name", sorted(targets()))
def test_mutated_real_files_raise_only_timepix_errors(tmp_path, name):
    read, seeds = targets()[name]
    assert seeds, f"no seed files for {name}"
    rng = random.Random(f"vzlusat1-{name}")
    refused = 0
    n = 60
    for k in range(n):
        seed = rng.choice(seeds)
        p = tmp_path / seed.name
        p.write_bytes(mutate(rng, seed.read_bytes()))
        try:
            result = read(p)
        except TimepixError as exc:
            refused += 1
            assert "\n" not in str(exc) and str(exc).startswith(str(p)), str(exc)
        else:
            # info.txt is read row by row: a bad row is listed, with file and line, not raised
            rows = getattr(result, "bad_rows", [])
            refused += bool(rows)
            assert all(str(e).startswith(f"{p}:line ") for _, e in rows)
    # The mutations do damage: most are caught (a flipped bit in free text is legitimately read).
    assert refused > n // 3, f"only {refused} of {n} mutants refused"
    for seed in seeds:  # and the real files themselves still read
        read(seed)


def _bad(tmp_path: Path, name: str, text: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text)
    return p


CLUSTER = (b'[\n{\n  "pos_x": 3,\n  "pos_y": 4,\n  "cluster_class": {\n    "name": "dot",\n'
           b'    "cluster_class": 1\n  },\n  "pixels": [\n    {\n      "x": 0,\n      "y": 0,\n'
           b'      "value": 38.37\n    }\n  ]\n}\n]')


@pytest.mark.parametrize("old, new, message", [
    (b"38.37", b"38.37\xff", r"not valid UTF-8:?.*|:byte \d+: cluster list is not valid UTF-8"),
    (b"[\n{", b"[" * 200000 + b"\n{", r"more JSON objects or arrays than the format allows"),
    (b"[\n{", b"[" * 3000 + b"\n{", r"JSON nested too deeply|invalid JSON"),
    (b'"pos_x": 3', b'"pos_x": "3"', r"cluster 0: pos_x/pos_y not integers"),
    (b'"pos_x": 3', b'"pos_x": 100000000000000000000000000000', r"number too large"),
    (b'"pos_x": 3', b'"pos_x": 300', r"cluster 0: pos_x/pos_y outside the 256x256 sensor"),
    (b'"x": 0', b'"x": true', r"cluster 0, pixel 0: pixel x/y not integers"),
    (b'"x": 0', b'"x": -1', r"pixel outside the 256x256 sensor"),
    (b'"x": 0', b'"x": 1', r"cluster 0: pos_x/pos_y is not the cluster's bounding-box corner"),
    (b"38.37", b"NaN", r"cluster 0, pixel 0: pixel value not a finite positive energy"),
    (b"38.37", b"1e400", r"pixel value not a finite positive energy"),
    (b"38.37", b"0", r"pixel value not a finite positive energy"),
    (b"38.37", b'"38.37"', r"value not a number"),
    (b'"cluster_class": 1\n', b'"cluster_class": [1]\n', r"cluster 0: cluster_class is not"),
    (b'"name": "dot"', b'"name": "track_curly"', r"cluster 0: unknown cluster class 'track_curly' \(id 1\)"),
    (b'"pixels": [', b'"pixels": {"a": [', r"cluster 0: pixels is not a non-empty list|invalid JSON"),
    (b"[\n{", b"{\n\"a\": {", r"not a list|invalid JSON"),
])
def test_crafted_cluster_lists(tmp_path, old, new, message):
    assert old in CLUSTER
    p = _bad(tmp_path, "5_fullres.clusters.txt", CLUSTER.replace(old, new, 1))
    with pytest.raises(TimepixError, match=message) as err:
        read_clusters(p)
    assert str(err.value).startswith(str(p))


def test_cluster_list_with_a_pixel_in_two_clusters(tmp_path):
    text = CLUSTER[:-2] + b",\n" + CLUSTER[2:]  # the same cluster twice
    with pytest.raises(TimepixError, match=r"cluster 1, pixel 0: pixel already in another cluster"):
        read_clusters(_bad(tmp_path, "5_fullres.clusters.txt", text))
    assert read_clusters(_bad(tmp_path, "6_fullres.clusters.txt", CLUSTER)).frame()[3, 4] == np.float32(38.37)


@pytest.mark.parametrize("text, message", [
    (b'{"dot": 1', r"invalid JSON"),
    (b'{"dot": "1"}', r"count of 'dot' is not an integer"),
    (b'{"dot": true}', r"count of 'dot' is not an integer"),
    (b'{"dot": -1}', r"count of 'dot' is not an integer"),
    (b'{"muon": 1}', r"unknown class 'muon'"),
    (b'{"dot": 1}', r"statistics lack class\(es\) blob_small"),
    (b'[1, 2]', r"more JSON objects or arrays"),
    (b'"dot"', r"statistics is a JSON str"),
    (b'{"dot": {"dot": {}}}', r"more JSON objects or arrays"),
    (b'{"dot": 1, "\xff": 2}', r"not valid UTF-8"),
])
def test_crafted_statistics(tmp_path, text, message):
    with pytest.raises(TimepixError, match=message):
        read_statistics(_bad(tmp_path, "5_fullres.statistics.txt", text))


META = (LAB / "7_fullres.metadata.txt").read_bytes()


@pytest.mark.parametrize("old, new, message", [
    (b"Time: 1521882009", b"Time: nan", r"line 20: bad value for 'Time': 'nan' \(not a number\)"),
    (b"Time: 1521882009", b"Time: 1e20", r"line 20: bad value for 'Time'.*outside"),
    (b"Threshold: 395", b"Threshold: 99999999999", r"line 4: bad value for 'Threshold'.*outside 0..65535"),
    (b"Image number: 20539", b"Image number: -1", r"bad value for 'Image number'.*outside 0..4294967295"),
    (b"Attitude: 0 0 0 0 -1 -1 -1", b"Attitude: 0 0 0 0 -1 -1 -1 5", r"'Attitude'.*8 words, at most 7"),
    (b"Attitude: 0 0 0 0 -1 -1 -1", b"Attitude: 0 0 0 0 -1 -1 1099511627776", r"'Attitude'.*outside"),
    (b"Position: -1 -1 -1", b"Position: -1 -9999 -1", r"'Position'.*-9999 is the fill value"),
    (b"Chunk ID: 14819", b"Chunk ID: 99999999999999999999999", r"'Chunk ID'.*outside"),
    (b"Pixel count (Original): 346", b"Pixel count (Original): 70000", r"'Pixel count \(Original\)'.*outside 0..65536"),
    (b"Acquisition time: 60.000", b"Acquisition time: -60", r"'Acquisition time'.*outside"),
    (b"Acquisition time: 60.000", b"Acquisition time: 60.5.0", r"'Acquisition time'.*not a number"),
    (b"Filtering: 0", b"Filtering: 0.5", r"'Filtering'.*not an integer"),
    (b"34.4928992664", b"94.4928992664", r"'latitude, longitude, altitude, tle_time'.*outside -90..90"),
    (b"2018-03-24 12:05:01", b"2018-02-30 12:05:01", r"tle_time.*day is out of range"),
    (b"2018-03-24 12:05:01", b"9999-03-24 12:05:01", r"tle_time.*outside the datetime64"),
    (b"comment: ", b"comment: a\x00b ", r"'comment'.*control character"),
    (b"Bias: 70", b"Bias: 7\xff0", r"line 5: bad value for 'Bias'"),
    (b"Time: 1521882009", b"Time 1521882009", r"line 20: metadata line without 'key: value'"),
])
def test_crafted_metadata(tmp_path, old, new, message):
    assert old in META, old
    p = _bad(tmp_path, "7_fullres.metadata.txt", META.replace(old, new, 1))
    with pytest.raises(TimepixError, match=message) as err:
        read_metadata(p)
    assert str(err.value).startswith(f"{p}:line ")


def test_oversized_and_special_files_are_refused_without_reading(tmp_path):
    big = tmp_path / "7_fullres.txt"
    with open(big, "wb") as f:
        f.truncate(MAX_MATRIX_BYTES + 1)  # sparse: nothing is allocated by the test either
    with pytest.raises(TimepixError, match=r"raw matrix of \d+ bytes exceeds the format's limit"):
        read_matrix(big)
    fifo = tmp_path / "7_fullres.metadata.txt"
    os.mkfifo(fifo)  # reading it would block forever
    with pytest.raises(TimepixError, match=r"metadata is not a regular file"):
        read_metadata(fifo)
    with pytest.raises(TimepixError, match=r"cannot read cluster list"):
        read_clusters(tmp_path / "missing_fullres.clusters.txt")


DSC = (RAW / "7_fullres.txt.dsc").read_bytes()


@pytest.mark.parametrize("old, new, message", [
    (b"double[1]\r\n60.0", b"double[1]\r\nnan", r"line 10: bad value for 'Acq time': 'nan'"),
    (b"1521881949.0", b"1e300", r"bad value for 'Start time'.*outside"),
    (b"double[3]\r\n34.4928992664 12.9405054281 509.132375",
     b"double[3]\r\n34.4928992664 12.9405054281", r"'Navigation': expected double\[2, 3\] values, found double\[3\] "
                                                   r"with 2 values"),
    (b"u32[1]\r\n20539", b"u32[1]\r\n4294967296", r"bad value for 'ImageID'.*outside 0..4294967295"),
    (b"1 100 255 127 127 0 395 7 130 128 80 85 128 128", b"1 100 255 127 127", r"'dacs': expected u16\[14\]"),
    (b"u16[14]\r\n1 100 255 127 127 0 395 7 130 128 80 85 128 128", b"u16[5]\r\n1 100 255 127 127",
     r"line 14: 'dacs': 5 values, the THL threshold is the 7th"),
    (b"u16[14]", b"u16[x]", r"'dacs': expected u16"),
])
def test_crafted_descriptions(tmp_path, old, new, message):
    assert old in DSC, old
    with pytest.raises(TimepixError, match=message):
        read_dsc(_bad(tmp_path, "7_fullres.txt.dsc", DSC.replace(old, new, 1)))


INFO = (LAB / "info.txt").read_bytes()


def test_bad_info_rows_are_listed_and_the_others_kept(tmp_path):
    lines = INFO.split(b"\r\n")
    assert lines[1].startswith(b"1, 16992,") and lines[2].startswith(b"2, 20531,")
    lines[1] = lines[1].replace(b"1517212288", b"nan")
    lines[2] = lines[2].replace(b"20531", b"99999999999")
    lines[3] = lines[3].rsplit(b",", 1)[0]
    lines.append(lines[4])  # a second row for image 4
    p = _bad(tmp_path, "info.txt", b"\r\n".join(lines))
    table = read_info_rows(p)
    assert len(table.rows) == 1269 - 3
    assert [(n, str(e).split(": ", 1)[1][:38]) for n, e in table.bad_rows] == [
        (1, "row not used: column 5 (time_unix) 'na"),
        (2, "row not used: column 2 (image_id) '999"),
        (3, "row not used: 10 columns, expected 11"),
        (4, "row not used: second row for image 4"),
    ]
    assert str(table.bad_rows[0][1]).startswith(f"{p}:line 2: ")
    with pytest.raises(TimepixError, match=r"info.txt:line 2: row not used"):
        read_info_table(p)


@pytest.mark.parametrize("edit, message", [
    (lambda b: b[:5000] + b"\x00\x01" + b[5000:], r"line \d+, column \d+: non-numeric value"),
    (lambda b: b[:5000] + b[5003:], r"line \d+, column \d+: non-numeric value|wrong row length"),  # 3 bytes lost
    (lambda b: b.replace(b"0.00 0.00", b"0.000.00", 1), r"line 1, column 1: non-numeric value '0.000.00'"),
    (lambda b: b.replace(b"0.00", b"nan", 1), r"line 1, column 1: non-numeric value 'nan'"),
    (lambda b: b.replace(b"3.79", b"-3.79", 1), r"line 1, column 94: non-numeric value '-3.79'"),
    (lambda b: b.replace(b"3.79", b"1e5", 1), r"line 1, column 94: non-numeric value '1e5'"),
    (lambda b: b.replace(b"3.79", b"9" * 400, 1), r"line 1, column 94: value too large to be finite"),
    (lambda b: b.replace(b" 0.00\r\n", b"\r\n0.00 ", 1), r"line 1: wrong row length: 255 values"),
])
def test_damaged_pixel_data_is_corrupt_not_shifted(tmp_path, edit, message):
    """A byte run lost or inserted inside the pixel data never gives a frame with shifted values."""
    p = _bad(tmp_path, "7_fullres.txt", edit((RAW / "7_fullres.txt").read_bytes()))
    with pytest.raises(TimepixError, match=message):
        read_matrix(p)


# --- one bad file in a folder ---------------------------------------------------------------

def _folder_l0(root: Path, folder: str = "above_europe"):
    return l0(folder_files(folder, FAMILY.index(root, CFG)[folder].files), CFG.l0)


@pytest.fixture(scope="module")
def clean_l0():
    return _folder_l0(VZ)


def test_bad_files_of_several_kinds_in_one_folder(tmp_path, clean_l0):
    root = tmp_path / "arch"
    shutil.copytree(VZ, root, ignore=shutil.ignore_patterns("SOURCE.md"))
    raw, lab = root / "raw" / "above_europe", root / "labelled" / "above_europe"
    (raw / "20_fullres.txt").write_bytes((raw / "20_fullres.txt").read_bytes()[:-7000])   # matrix lost
    (raw / "34_fullres.metadata.txt").write_text("Time: nan\n")                        # metadata unusable
    (lab / "1_fullres.statistics.txt").write_text((lab / "1_fullres.statistics.txt").read_text()
                                                  .replace('"dot": 163', '"dot": 164'))  # disagrees
    (lab / "11_fullres.clusters.txt").write_bytes(b"[\n{\xff")                              # frame lost
    out = tmp_path / "l0.nc"
    g = FAMILY.index(root, CFG)["above_europe"]
    run_family_step("vzlusat1", "l0", dict(g.files), {"out": out}, {"folder": "above_europe"})
    from levelpipe.io import read_netcdf
    ds = read_netcdf(out)
    assert {k: ds.attrs[k] for k in ds.attrs if k.startswith(("frames_decoded", "bad_frames_"))} == {
        "frames_decoded": 1, "bad_frames_matrix": 1, "bad_frames_clusters": 1, "bad_frames_metadata": 1,
        "bad_frames_description": 0, "bad_frames_statistics": 1, "bad_frames_info_row": 0, "bad_frames_total": 4}
    assert set(BAD_KINDS) == {k[len("bad_frames_"):] for k in ds.attrs if k.startswith("bad_frames_")} - {"total"}
    flags = dict(zip(ds.frame.values.tolist(), ds.frame_flags.values.tolist()))
    assert [n for n, f in flags.items() if f & FLAG_BAD_FILE] == [1, 11, 20, 34]
    assert not flags[7] & FLAG_BAD_FILE
    # 20: its raw matrix is truncated, the frame is rebuilt from its cluster list: same energies.
    assert flags[20] & FLAG_REBUILT and not flags[20] & FLAG_CORRUPT
    np.testing.assert_array_equal(ds.energy.sel(frame=20).values, clean_l0.energy.sel(frame=20).values)
    # 11: only a cluster list, and it is unreadable: NaN, corrupt.
    assert flags[11] & FLAG_CORRUPT and np.isnan(ds.energy.sel(frame=11).values).all()
    # 34: metadata from its .dsc still (time, position), the bad metadata file not used.
    assert ds.time.sel(frame=34).values == clean_l0.time.sel(frame=34).values
    assert ds.metadata_source.sel(frame=34).item() == "34_fullres.metadata.txt 34_fullres.txt.dsc info.txt#34"
    for n in (1, 7, 34):
        np.testing.assert_array_equal(ds.energy.sel(frame=n).values, clean_l0.energy.sel(frame=n).values)
    errors = ds.attrs["errors"]
    for where in ("20_fullres.txt:line 251: truncated line", "34_fullres.metadata.txt:line 1: bad value for 'Time'",
                  "1_fullres.statistics.txt: class counts (statistics, cluster list) differ: dot 164 != 163",
                  "11_fullres.clusters.txt:byte 3: cluster list is not valid UTF-8"):
        assert where in errors, errors


def test_one_mutated_file_never_stops_the_folder(tmp_path, clean_l0):
    """Fixed-seed mutations of every file of a real folder: L0 always completes; a file its reader
    refuses flags and counts its frame, and every other frame is unchanged."""
    root = tmp_path / "arch"
    shutil.copytree(VZ, root, ignore=shutil.ignore_patterns("SOURCE.md", "planetary_sweeps"))
    files = sorted(p for p in root.rglob("*") if p.is_file())
    readers = {"_fullres.txt": read_matrix, ".dsc": read_dsc, ".metadata.txt": read_metadata,
               ".clusters.txt": read_clusters, ".statistics.txt": read_statistics, "info.txt": read_info_rows}
    rng = random.Random("vzlusat1-folder")
    flagged = 0
    for _ in range(25):
        p = rng.choice(files)
        original = p.read_bytes()
        p.write_bytes(mutate(rng, original))
        try:
            reader = next(r for suffix, r in readers.items() if p.name.endswith(suffix))
            try:
                result = reader(p)
                refused = bool(getattr(result, "bad_rows", False))
            except TimepixError:
                refused = True
            ds = _folder_l0(root)
            n = int(p.name.split("_")[0]) if p.name != "info.txt" else None
            flags = dict(zip(ds.frame.values.tolist(), ds.frame_flags.values.tolist()))
            # L0 reads a frame's cluster list and statistics only to rebuild a frame without raw matrix
            used = not (p.suffixes[-2:] in ([".clusters", ".txt"], [".statistics", ".txt"]) and
                        (root / "raw" / "above_europe" / f"{n}_fullres.txt").exists())
            if refused and used and n is not None:
                assert flags[n] & FLAG_BAD_FILE and ds.attrs["bad_frames_total"] >= 1, p.name
                flagged += 1
            for m in flags:
                if m != n:
                    np.testing.assert_array_equal(ds.energy.sel(frame=m).values, clean_l0.energy.sel(frame=m).values)
        finally:
            p.write_bytes(original)
    assert flagged >= 5
