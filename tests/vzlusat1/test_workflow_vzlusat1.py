"""The VZLUSAT-1 chain run by Snakemake on the bundled sample: products, CF, reruns."""
import json

import numpy as np
import xarray as xr

from levelpipe.io import read_netcdf

from cfcheck import assert_cf_compliant
from conftest import RESOURCES, snakemake

VZ = RESOURCES / "vzlusat1"


def _strip(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.attrs.pop("date_created", None)
    return ds


def test_products(workflow_run):
    wd = workflow_run("vzlusat1")
    res = wd / "results" / "vzlusat1"
    for level in ("l0", "l1", "l2"):
        for folder in ("above_europe", "planetary_sweeps/12_2020-06-09"):
            assert_cf_compliant(res / level / f"{folder}.nc")
    l2 = read_netcdf(res / "l2" / "above_europe.nc")
    assert l2.sizes["frame"] == 5 and np.all(l2.valid.values == 1)
    assert np.all(l2.dose_rate.values > 0)
    report = json.loads((res / "model" / "training_report.json").read_text())
    assert report["cv_by_frame"]["accuracy"] > 0.95
    # The compatibility export of the labelled layout equals the archive's own files.
    for n in (1, 7, 11, 20, 34):
        for kind in ("clusters", "statistics"):
            assert (res / "labelled" / "above_europe" / f"{n}_fullres.{kind}.txt").read_bytes() == \
                (VZ / "labelled" / "above_europe" / f"{n}_fullres.{kind}.txt").read_bytes()
    assert (res / "quicklook" / "above_europe.png").stat().st_size > 10_000
    for name in ("dose_rate", "flux_all", "flux_electrons_gamma", "flux_protons_ions"):
        assert (res / "maps" / f"{name}.png").stat().st_size > 10_000
    page = (res / "browser" / "planetary_sweeps" / "12_2020-06-09.html").read_text()
    assert "planetary_sweeps/12_2020-06-09" in page and "<script" in page
    assert sorted((res / "browser" / "planetary_sweeps" / "12_2020-06-09.frames").glob("[!.]*")) == \
        [res / "browser" / "planetary_sweeps" / "12_2020-06-09.frames" / "0000.js"]  # besides Snakemake's timestamp
    l1 = read_netcdf(res / "l1" / "above_europe.nc")
    assert l1.cluster_class_probability.sizes["class"] == 9
    l0 = read_netcdf(res / "l0" / "above_europe.nc")
    assert l0.attrs["frames_decoded"] == 5 and l0.attrs["bad_frames_total"] == 0
    # every rule wrote a log and a benchmark
    assert list((wd / "logs" / "vzlusat1" / "build_vzlusat1_l0").glob("*.benchmark.tsv"))


def test_forcerun_gives_identical_products(workflow_run):
    wd = workflow_run("vzlusat1")
    res = wd / "results" / "vzlusat1"
    paths = [res / lvl / "above_europe.nc" for lvl in ("l0", "l1", "l2")]
    before = [_strip(read_netcdf(p)) for p in paths]
    model_before = (res / "model" / "classifier.pkl").read_bytes()
    snakemake(wd, "--forcerun", "build_vzlusat1_l0", "train_vzlusat1_classifier", missions=["vzlusat1"])
    after = [_strip(read_netcdf(p)) for p in paths]
    for a, b in zip(before, after):
        assert a.identical(b) and a.attrs == b.attrs
    assert (res / "model" / "classifier.pkl").read_bytes() == model_before


def test_config_change_reruns_only_dose(workflow_run):
    wd = workflow_run("vzlusat1")
    proc = snakemake(wd, "-n", "--config", "overrides={vzlusat1: {dose: {density_kg_m3: 5850}}}",
                     missions=["vzlusat1"])
    table = proc.stdout.split("Job stats:")[1].split("total")[0]
    planned = {line.split()[0] for line in table.splitlines()[3:] if line.strip()}
    # the dose and everything made from it, nothing upstream (L0, model, L1, export, browser)
    assert planned == {"compute_vzlusat1_dose", "plot_vzlusat1_quicklook", "plot_vzlusat1_maps", "all"}
