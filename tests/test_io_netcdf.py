"""The one netCDF writer: CF/ACDD attributes, provenance digests, atomicity, reproducibility."""
import hashlib

import numpy as np
import pytest
import xarray as xr

import levelpipe
from levelpipe.errors import LevelpipeError
from levelpipe.io import read_netcdf, write_netcdf
from levelpipe.provenance import config_digest

from cfcheck import assert_cf_compliant


def _ds():
    t = np.array(["2018-03-24T09:00:09", "2018-03-24T09:10:09"], dtype="datetime64[ns]")
    return xr.Dataset(
        {"dose_rate": ("time", [1.5, 2.5], {"units": "uGy min-1", "long_name": "dose rate in silicon"})},
        coords={"time": ("time", t, {"standard_name": "time", "long_name": "frame time", "axis": "T"})},
    )


def test_writer_adds_provenance_and_passes_cf(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "raw").mkdir()
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_bytes(b"calibration")
    src = tmp_path / "raw" / "input.txt"
    src.write_bytes(b"raw bytes")
    out = write_netcdf(_ds(), tmp_path / "p.nc", title="t", summary="s", mission="vzlusat1",
                       level="L1", inputs=[src, outside], config={"density_kg_m3": 2329})
    ds = read_netcdf(out)
    assert ds.attrs["levelpipe_version"] == levelpipe.__version__
    # inside the run directory: relative names; outside: absolute
    assert ds.attrs["input_sha256"].splitlines() == sorted([
        f"raw/input.txt {hashlib.sha256(b'raw bytes').hexdigest()}",
        f"{outside.as_posix()} {hashlib.sha256(b'calibration').hexdigest()}"])
    assert ds.attrs["config_digest"] == config_digest({"density_kg_m3": 2329})
    assert ds.attrs["Conventions"].startswith("CF-1.10")
    assert ds.attrs["time_coverage_start"] == "2018-03-24T09:00:09.000Z"
    np.testing.assert_array_equal(ds.dose_rate.values, [1.5, 2.5])
    assert_cf_compliant(out)


def test_writer_is_reproducible(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    a = read_netcdf(write_netcdf(_ds(), tmp_path / "a.nc", title="t", summary="s", mission="m", level="L1"))
    b = read_netcdf(write_netcdf(_ds(), tmp_path / "b.nc", title="t", summary="s", mission="m", level="L1"))
    assert a.identical(b) and a.attrs == b.attrs


def test_variable_without_units_is_refused_and_no_file_left(tmp_path):
    ds = _ds()
    ds["bad"] = ("time", [1, 2], {"long_name": "no units"})
    with pytest.raises(LevelpipeError, match="bad.*no units"):
        write_netcdf(ds, tmp_path / "x.nc", title="t", summary="s", mission="m", level="L1")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_partial_file(tmp_path):
    ds = _ds()
    ds["obj"] = ("time", np.array([object(), object()]), {"long_name": "unwritable", "units": "1"})
    with pytest.raises(ValueError):  # netCDF4 cannot store arbitrary objects
        write_netcdf(ds, tmp_path / "y.nc", title="t", summary="s", mission="m", level="L1")
    assert list(tmp_path.iterdir()) == []


def test_error_message_names_file_and_place():
    err = LevelpipeError("non-numeric value 'x'", "a/7_fullres.txt", "line 3, column 12")
    assert str(err) == "a/7_fullres.txt:line 3, column 12: non-numeric value 'x'"
