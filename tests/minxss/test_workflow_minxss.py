"""The MinXSS chain in the default workflow on the bundled sample: products, values, reruns per
level, CF."""
from __future__ import annotations

import numpy as np
import pytest

from cfcheck import assert_cf_compliant
from conftest import snakemake
from levelpipe.io import read_netcdf

pytestmark = pytest.mark.integration

SIM, REAL = "2019-01-02", "2018-12-14"
PRODUCTS = [f"l0c/{REAL}_hk.nc", *[f"l0c/{SIM}_{k}.nc" for k in ("hk", "sci", "adcs", "log")], f"l0d/{SIM}.nc",
            f"l1/{SIM}.nc", f"l2/{SIM}_1minute.nc", f"l2/{SIM}_1hour.nc", f"l3/{SIM}_1day.nc",
            f"quicklook/{SIM}_spectrogram.png", f"quicklook/{SIM}_orbit.png"]


@pytest.fixture(scope="module")
def run(workflow_run):
    return workflow_run("minxss")


def test_products_exist_and_nothing_else(run):
    res = run / "results" / "minxss"
    assert sorted(str(p.relative_to(res)) for p in res.rglob("*") if p.is_file()) == sorted(PRODUCTS)
    assert (res / "quicklook" / f"{SIM}_orbit.png").read_bytes()[:4] == b"\x89PNG"


def test_values(run):
    res = run / "results" / "minxss"
    hk = read_netcdf(res / "l0c" / f"{SIM}_hk.nc")
    assert hk.attrs["bad_packets_total"] == 3 and hk.attrs["duplicates_removed"] == 2
    real = read_netcdf(res / "l0c" / f"{REAL}_hk.nc")
    assert real.seq_count.values.tolist() == [1146, 1152, 1155, 1158, 1161]
    assert "minxss" in real.attrs["source"] and real.attrs["processing_level"] == "L0C"
    l0d = read_netcdf(res / "l0d" / f"{SIM}.nc")
    assert l0d.sizes["time"] == 1080 and np.isfinite(l0d.goes_xrsb_flux.values).sum() > 0
    l1 = read_netcdf(res / "l1" / f"{SIM}.nc")
    assert l1.attrs["good_spectra"] > 500
    assert read_netcdf(res / "l3" / f"{SIM}_1day.nc").sizes["time"] == 1


def _load(path):
    ds = read_netcdf(path)
    ds.attrs.pop("date_created", None)
    return ds


def _planned(proc):
    table = proc.stdout.split("Job stats:")[1].split("total")[0]
    return {line.split()[0]: int(line.split()[1]) for line in table.splitlines()[3:] if line.strip()}


def test_a_config_change_reruns_exactly_its_level(run):
    proc = snakemake(run, "-n", "--config", "overrides={minxss: {l1: {selection: {max_fe25_rate: 150}}}}",
                     missions=["minxss"])
    assert _planned(proc) == {"calibrate_minxss_l1": 1, "average_minxss_l2": 1, "average_minxss_l3": 1, "all": 1}
    proc = snakemake(run, "-n", "--config", "overrides={minxss: {l0d: {limits: {hk_s: 30}}}}", missions=["minxss"])
    assert _planned(proc) == {"interpolate_minxss_l0d": 1, "calibrate_minxss_l1": 1, "average_minxss_l2": 1,
                              "average_minxss_l3": 1, "plot_minxss_quicklook": 1, "all": 1}


def test_rerun_per_level_gives_identical_products(run):
    res = run / "results" / "minxss"
    before = {p: _load(p) for p in sorted(res.rglob("*.nc")) if SIM in p.name}
    targets = [str(p.relative_to(run)) for p in before if p.parent.name in ("l2", "l3")]
    # force the SCI L0C: L0D, L1, L2 and L3 of the day rerun from new inputs
    proc = snakemake(run, "--forcerun", "decode_minxss_l0c_sci", *targets, missions=["minxss"])
    log = proc.stdout + proc.stderr
    for rule in ("decode_minxss_l0c_sci", "interpolate_minxss_l0d", "calibrate_minxss_l1", "average_minxss_l2",
                 "average_minxss_l3"):
        assert f"rule {rule}:" in log, rule
    for p, ds in before.items():
        assert ds.identical(_load(p)), p.name


def test_all_netcdf_products_pass_cf(run):
    # last in this module (the checker keeps netCDF handles open). The checker's cost grows with
    # the square of a file's variable count: the two HK products have the same variables, so
    # only one is checked.
    files = [f for f in sorted((run / "results" / "minxss").rglob("*.nc")) if f.name != f"{REAL}_hk.nc"]
    assert len(files) == 9
    for f in files:
        assert_cf_compliant(f)
