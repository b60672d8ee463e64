"""Readers of the VZLUSAT-1 archive files, on the bundled real files and on broken copies."""
import numpy as np
import pytest

from levelpipe.errors import TimepixError
from levelpipe.timepix.formats import (MODES, read_clusters, read_dsc, read_info_table, read_matrix,
                                       read_metadata)

from conftest import RESOURCES

VZ = RESOURCES / "vzlusat1"
RAW = VZ / "raw" / "above_europe"
LAB = VZ / "labelled" / "above_europe"


def test_raw_matrix_equals_frame_rebuilt_from_cluster_list():
    for n, nonzero in [(7, 346), (20, 3824), (34, 4957)]:
        m = read_matrix(RAW / f"{n}_fullres.txt")
        assert m.shape == (256, 256) and m.dtype == np.float32
        assert np.count_nonzero(m) == nonzero
        np.testing.assert_array_equal(read_clusters(LAB / f"{n}_fullres.clusters.txt").frame(), m)


def test_orientation_row_is_line_of_file():
    # First cluster of frame 7: pos_x=0, pos_y=93, one pixel of 3.79 keV -> line 1, column 94.
    m = read_matrix(RAW / "7_fullres.txt")
    assert m[0, 93] == pytest.approx(3.79)
    line = (RAW / "7_fullres.txt").read_text().splitlines()[0].split()
    assert float(line[93]) == pytest.approx(3.79)


def test_both_metadata_key_styles():
    new = read_metadata(LAB / "7_fullres.metadata.txt")
    old = read_metadata(LAB / "11_fullres.metadata.txt")
    assert new.exposure == 60.0 and old.exposure == 60.0
    assert (new.latitude, new.longitude, new.altitude) == (34.4928992664, 12.9405054281, 509.132375)
    assert (old.latitude, old.longitude, old.altitude) == (61.1432728759, 13.9159921915, None)
    assert new.tle_time == "2018-03-24 12:05:01" and old.tle_time == "2018-03-24 18:05:01"
    assert new.measurement_mode == MODES["tot_energy"]
    assert (new.image_id, new.threshold, new.bias, new.temperature) == (20539, 395, 70.0, 11.0)
    assert (new.chunk_id_first, new.chunk_id_last) == (14819, 14836)
    assert new.time_unix == 1521882009 and new.pixel_count_original == 346


def test_dsc_time_is_end_of_exposure_and_old_navigation():
    d7 = read_dsc(RAW / "7_fullres.txt.dsc")
    assert d7.time_unix == 1521881949.0 + 60.0 == read_metadata(LAB / "7_fullres.metadata.txt").time_unix
    assert d7.threshold == 395 and d7.altitude == pytest.approx(509.132375)
    d20 = read_dsc(RAW / "20_fullres.txt.dsc")  # old style: latitude, longitude only
    assert d20.latitude == pytest.approx(64.6612232791) and d20.altitude is None and d20.image_id == 20556


def test_info_table():
    info = read_info_table(LAB / "info.txt")
    assert len(info) == 1269
    assert info[1].image_id == 16992 and info[1].exposure == 300 and info[1].pixel_count_original == 4453


# --- bad input -----------------------------------------------------------------------------

def _copy(tmp_path, text: bytes):
    p = tmp_path / "7_fullres.txt"
    p.write_bytes(text)
    return p


def test_truncated_matrix(tmp_path):
    lines = (RAW / "7_fullres.txt").read_bytes().splitlines(keepends=True)
    with pytest.raises(TimepixError, match=r"7_fullres.txt:line 101: truncated matrix: 100 lines"):
        read_matrix(_copy(tmp_path, b"".join(lines[:100])))
    cut = b"".join(lines)[:-300]  # cut inside the last line
    with pytest.raises(TimepixError, match=r"line 256: truncated line"):
        read_matrix(_copy(tmp_path, cut))


def test_non_numeric_value(tmp_path):
    lines = (RAW / "7_fullres.txt").read_bytes().splitlines(keepends=True)
    tokens = lines[2].split(b" ")
    tokens[11] = b"x.00"
    lines[2] = b" ".join(tokens)
    with pytest.raises(TimepixError, match=r"7_fullres.txt:line 3, column 12: non-numeric value 'x.00'"):
        read_matrix(_copy(tmp_path, b"".join(lines)))


def test_wrong_shape(tmp_path):
    rows = [" ".join(["0.00"] * 128) for _ in range(512)]
    with pytest.raises(TimepixError, match=r"line 1: wrong row length: 128 values"):
        read_matrix(_copy(tmp_path, "\r\n".join(rows).encode()))


def test_missing_metadata_file_is_a_clear_error(tmp_path):
    with pytest.raises(TimepixError, match=r"nothing.metadata.txt: cannot read metadata"):
        read_metadata(tmp_path / "nothing.metadata.txt")


def test_unknown_class_in_cluster_list(tmp_path):
    text = (LAB / "7_fullres.clusters.txt").read_text().replace('"name": "dot"', '"name": "muon"', 1)
    p = tmp_path / "7_fullres.clusters.txt"
    p.write_text(text)
    with pytest.raises(TimepixError, match=r"cluster 0: unknown cluster class 'muon'"):
        read_clusters(p)
