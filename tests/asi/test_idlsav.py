"""Our IDL save writer produces files scipy.io.readsav (hence pyucalgarysrs) reads back exactly."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.io import readsav

from levelpipe.testing.idlsav_writer import IdlStruct, write_sav


@pytest.mark.parametrize("compress", [True, False])
def test_roundtrip_struct_arrays_scalars(tmp_path, compress):
    rng = np.random.default_rng(1)
    inner = IdlStruct("GEN", {"author": "a b", "stop": "+", "vec": np.array([1.5, -2.0]),
                              "img_flip": np.array([1, 0], np.uint8), "ratio": 0.25,
                              "pair": np.array([-1, 7], np.int16), "empty": ""})
    outer = IdlStruct("SKY", {"generation_info": inner, "site_uid": "gill", "n": np.int32(-5),
                              "lat": np.float32(56.35), "rows": np.arange(12, dtype=np.uint16).reshape(3, 4),
                              "cube": rng.random((2, 3, 4)).astype(np.float32), "big": np.uint32(4000000000)})
    path = tmp_path / "x.sav"
    write_sav(path, {"skymap": outer, "factor": np.float64(11.5), "grid": np.ones((4, 5), np.float32)},
              date="Thu May 03 12:01:05 2012", compress=compress)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = readsav(str(path), python_dict=True)
    s = d["skymap"][0]
    assert s.site_uid == b"gill" and s.n == -5 and s.big == 4000000000
    assert s.lat == np.float32(56.35)
    np.testing.assert_array_equal(s.rows, outer["rows"])
    np.testing.assert_array_equal(s.cube, outer["cube"])
    g = s.generation_info[0]
    assert g.author == b"a b" and g.stop == b"+" and g.ratio == 0.25
    np.testing.assert_array_equal(g.vec, [1.5, -2.0])
    np.testing.assert_array_equal(g["img_flip"], [1, 0])
    np.testing.assert_array_equal(g.pair, [-1, 7])
    assert d["factor"] == 11.5 and d["grid"].shape == (4, 5)


def test_bytes_are_reproducible(tmp_path):
    v = {"a": np.arange(10, dtype=np.float32)}
    write_sav(tmp_path / "1.sav", v, date="Mon Jan 01 00:00:00 2024")
    write_sav(tmp_path / "2.sav", v, date="Mon Jan 01 00:00:00 2024")
    assert (tmp_path / "1.sav").read_bytes() == (tmp_path / "2.sav").read_bytes()
