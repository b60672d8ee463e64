"""The Solar Jet Hunter chain in the default workflow on the bundled sample: products, values,
CF, reruns per level."""
from __future__ import annotations

from pathlib import Path

import pytest

from cfcheck import assert_cf_compliant
from conftest import run_family_step, snakemake
from levelpipe.io import read_netcdf
from levelpipe.testing.jets_sample import EVENT_ID as EVENT

pytestmark = pytest.mark.integration


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


def _load(path):
    ds = read_netcdf(path)
    ds.attrs.pop("date_created", None)
    return ds


def _planned(proc) -> set[str]:
    table = proc.stdout.split("Job stats:")[1].split("total")[0]
    return {line.split()[0] for line in table.splitlines() if line.strip() and not line.startswith(("-", "job"))}


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}


def test_forcing_the_first_levels_reruns_every_level(run):
    """Snakemake's wiring: forcing the event database and the aggregation plans every level
    after them (subjects read the database; catalogue and quicklook follow)."""
    proc = snakemake(run, "-n", "--forcerun", "ingest_jets_events", "aggregate_jets_classifications", missions=["jets"])
    assert _planned(proc) == {"ingest_jets_events", "make_jets_subjects", "aggregate_jets_classifications",
                              "make_jets_catalogue", "plot_jets_quicklook", "all"}


def test_rerun_per_level_gives_identical_products(run, tmp_path, monkeypatch):
    """Every level run again, as its rule runs it (run_family_step: the rule's config narrowing,
    writer, rule name and input paths, inside the run's directory, SOURCE_DATE_EPOCH as the
    run had it), on the run's own inputs: every product is the same, byte for byte (netCDF:
    the same dataset and attributes). Decision: in process, not a second Snakemake run of the
    five jobs (~20 s of CPU, mostly process start-up and imports); the wiring that makes
    Snakemake rerun the levels is the dry run above."""
    from levelpipe.jets.family import ALL_EVENTS, FAMILY
    from jets_testlib import BUNDLE, settings
    res = Path("results") / "jets"
    monkeypatch.chdir(run)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    idx = FAMILY.index(BUNDLE, settings())
    whole, cutouts = idx[ALL_EVENTS], idx[EVENT].get("cutouts")
    again = tmp_path / "again"
    run_family_step("jets", "events", {"hek": whole.get("hek")}, {"events": str(again / "events.sqlite")})
    run_family_step("jets", "subjects", {"cutouts": cutouts, "events": [str(res / "events.sqlite")]},
                    {"subjects": str(again / "subjects" / EVENT), "frames": str(again / "frames" / f"{EVENT}.nc")},
                    wildcards={"event": EVENT})
    run_family_step("jets", "aggregate", {"classifications": whole.get("classifications"), "extracts": []},
                    {"extracts": str(again / "extracts"), "reductions": str(again / "reductions")})
    run_family_step("jets", "catalogue", {"reductions": str(res / "reductions"), "events": [str(res / "events.sqlite")]},
                    {"catalogue": str(again / "catalogue.nc"), "json": str(again / "catalogue.json"),
                     "csv": str(again / "catalogue.csv")})
    run_family_step("jets", "quicklook", {"cutouts": cutouts, "catalogue": str(res / "catalogue.nc")},
                    {"quicklook": str(again / "quicklook" / f"{EVENT}.png")}, wildcards={"event": EVENT})
    for name in ("events.sqlite", "catalogue.json", "catalogue.csv", f"quicklook/{EVENT}.png"):
        assert (again / name).read_bytes() == (res / name).read_bytes(), name
    for name in ("catalogue.nc", f"frames/{EVENT}.nc"):
        assert _load(again / name).identical(_load(res / name)), name
    for folder in (f"subjects/{EVENT}", "extracts", "reductions"):
        mine, theirs = _files(again / folder), _files(res / folder)
        assert mine.keys() == theirs.keys() and len(mine) > 2, folder
        assert [k for k in mine if mine[k] != theirs[k]] == [], folder


def test_catalogue_setting_reruns_only_the_catalogue_and_quicklook(run):
    proc = snakemake(run, "-n", "--config", "overrides={jets: {catalogue: {eps: 2.5}}}", missions=["jets"])
    assert _planned(proc) == {"make_jets_catalogue", "plot_jets_quicklook", "all"}


def test_all_netcdf_products_pass_cf(run):
    files = sorted((run / "results" / "jets").rglob("*.nc"))
    assert len(files) == 2
    for f in files:
        assert_cf_compliant(f)
