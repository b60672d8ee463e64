"""The Solar Jet Hunter chain in the default workflow on the bundled sample: products, values,
CF, reruns per level."""
from __future__ import annotations

import json

import pytest

from cfcheck import assert_cf_compliant
from conftest import snakemake
from levelpipe.io import read_netcdf

pytestmark = pytest.mark.integration

EVENT = "sample_SOL2011-02-15T00-00-00"


@pytest.fixture(scope="module")
def run(workflow_run):
    return workflow_run("jets")


def test_products_exist(run):
    res = run / "results" / "jets"
    for p in ("events.sqlite", "catalogue.nc", "catalogue.json", "catalogue.csv", f"frames/{EVENT}.nc",
              f"quicklook/{EVENT}.png", f"subjects/{EVENT}/meta_reduced.csv", f"subjects/{EVENT}/{EVENT}.mp4",
              "extracts/shape_extractor_rotateRectangle_15803.csv",
              "reductions/shape_reducer_dbscan_15803_shape_extractor_rotateRectangle.csv"):
        assert (res / p).stat().st_size > 0, p
    assert len(list((res / "subjects" / EVENT).glob("*.png"))) == 24


def test_values(run):
    res = run / "results" / "jets"
    cat = read_netcdf(res / "catalogue.nc")
    assert cat.sizes["cluster"] == 1 and str(cat.cluster_id.values[0]) == "sjh_2011-02-15T00_1"
    doc = json.loads((res / "catalogue.json").read_text())
    assert len(doc) == 1 and len(doc[0]["jets"]) == 2
    frames = read_netcdf(res / "frames" / f"{EVENT}.nc")
    assert frames.sizes["time"] == 24 and frames.attrs["subjects"] == 2


def _load(path):
    ds = read_netcdf(path)
    ds.attrs.pop("date_created", None)
    return ds


def test_rerun_per_level_gives_identical_products(run):
    res = run / "results" / "jets"
    before = {p: _load(p) for p in (res / "catalogue.nc", res / "frames" / f"{EVENT}.nc")}
    csv_before = (res / "catalogue.csv").read_text()
    proc = snakemake(run, "--forcerun", "ingest_jets_events", "aggregate_jets_classifications",
                     "make_jets_subjects", missions=["jets"])
    log = proc.stdout + proc.stderr
    for rule in ("ingest_jets_events", "aggregate_jets_classifications", "make_jets_subjects",
                 "make_jets_catalogue", "plot_jets_quicklook"):
        assert f"rule {rule}:" in log, rule
    for p, ds in before.items():
        assert ds.identical(_load(p)), p.name
    assert (res / "catalogue.csv").read_text() == csv_before


def test_catalogue_setting_reruns_only_the_catalogue_and_quicklook(run):
    proc = snakemake(run, "-n", "--config", "overrides={jets: {catalogue: {eps: 2.5}}}", missions=["jets"])
    table = proc.stdout.split("Job stats:")[1].split("total")[0]
    planned = {line.split()[0] for line in table.splitlines()
               if line.strip() and not line.startswith(("-", "job"))}
    assert planned == {"make_jets_catalogue", "plot_jets_quicklook", "all"}


def test_all_netcdf_products_pass_cf(run):
    files = sorted((run / "results" / "jets").rglob("*.nc"))
    assert len(files) == 2
    for f in files:
        assert_cf_compliant(f)
