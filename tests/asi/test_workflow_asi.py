"""The ASI chain in the default workflow on the bundled sample: products, values, CF, reruns."""
from __future__ import annotations

import numpy as np
import pytest

from cfcheck import assert_cf_compliant
from conftest import snakemake
from levelpipe.io import read_netcdf

pytestmark = pytest.mark.integration

GRANULES = ["themis_gill_themis19_20140310_ut06", "themis_tpas_themis15_20140310_ut06",
            "trex_nir_gill_nir-216_20220307_ut06", "rego_gill_rego-652_20140310_ut06"]


@pytest.fixture(scope="module")
def run(workflow_run):
    return workflow_run("asi")


def test_products_exist(run):
    res = run / "results" / "asi"
    for g in GRANULES:
        for sub, ext in (("l1", "nc"), ("l2", "nc"), ("keogram", "nc"), ("keogram", "png"),
                         ("quicklook", "png"), ("movie", "mp4")):
            assert (res / sub / f"{g}.{ext}").stat().st_size > 0, (sub, g)
    assert (res / "l1" / "trex_rgb_gill_rgb-04_20200508_ut06.nc").exists()
    assert (res / "mosaic" / "themis_20140310T060010.png").exists()
    mp4 = (res / "movie" / f"{GRANULES[0]}.mp4").read_bytes()
    assert mp4[4:8] == b"ftyp"


def test_values(run):
    res = run / "results" / "asi"
    l1 = read_netcdf(res / "l1" / f"{GRANULES[0]}.nc")
    assert l1.sizes["time"] == 20 and l1["image"].dtype == np.float32
    assert l1["image"].attrs["units"] == "count" and int(l1["skipped_frames"].sum()) == 0
    nir = read_netcdf(res / "l1" / f"{GRANULES[2]}.nc")
    assert nir["image"].attrs["units"] == "1e10 m-2 s-1" and nir.attrs["detector_uid"] == "23216"
    np.testing.assert_allclose(nir["exposure"].values, 5.0)
    l2 = read_netcdf(res / "l2" / f"{GRANULES[3]}.nc")
    prof = l2["image"].isel(time=0).mean("longitude").values
    assert abs(float(l2["latitude"][np.nanargmax(prof)]) - 57.5) <= 0.1
    mosaic = read_netcdf(res / "mosaic" / "themis_20140310T060010.nc")
    assert set(mosaic["site"].values) == {"gill_themis19", "tpas_themis15"}


def _load(path):
    ds = read_netcdf(path)
    ds.attrs.pop("date_created", None)
    return ds


def test_rerun_per_level_gives_identical_products(run):
    res = run / "results" / "asi"
    levels = ("l1", "l2", "keogram", "mosaic")
    before = {p: _load(p) for lvl in levels for p in sorted((res / lvl).glob("*.nc"))}
    # force L1 and ask for the keograms and mosaics: every level below L1 reruns from new inputs
    targets = [str(p.relative_to(run)) for p in before if p.parent.name in ("keogram", "mosaic")]
    proc = snakemake(run, "--forcerun", "calibrate_asi_l1", *targets, missions=["asi"])
    log = proc.stdout + proc.stderr
    for rule in ("calibrate_asi_l1", "project_asi_l2", "make_asi_keogram", "make_asi_mosaic"):
        assert f"rule {rule}:" in log, rule
    for p, ds in before.items():
        after = _load(p)
        assert ds.identical(after), p.name


def test_all_netcdf_products_pass_cf(run):
    # last in this module: the compliance checker keeps netCDF handles open, and opening the
    # same files again afterwards has crashed the HDF5 library in this process
    files = sorted((run / "results" / "asi").rglob("*.nc"))
    assert len(files) >= 14
    for f in files:
        assert_cf_compliant(f)


def _planned(proc):
    table = proc.stdout.split("Job stats:")[1].split("total")[0]
    return {line.split()[0]: int(line.split()[1]) for line in table.splitlines()[3:] if line.strip()}


def test_new_calibration_or_skymap_file_reruns_only_the_granules_it_applies_to(tmp_path):
    """The index chooses each granule's calibration files and skymap once and declares only
    those, so a new file reruns exactly the granules whose choice it changes."""
    import shutil
    from conftest import REPO
    root = tmp_path / "asi"
    shutil.copytree(REPO / "resources" / "asi", root)
    wd = tmp_path / "wd"
    cfg = f"inputs={{asi: {root}}}"
    snakemake(wd, "--config", cfg, missions=["asi"])
    assert "Nothing to be done" in (lambda p: p.stdout + p.stderr)(snakemake(wd, "-n", "--config", cfg,
                                                                             missions=["asi"]))
    cal = root / "GO-Canada" / "REGO" / "calibration"
    # a newer flatfield for the REGO camera: only the REGO site-hour and what is made from it
    shutil.copyfile(cal / "REGO_flatfield_15652_20140101-+_v01.sav", cal / "REGO_flatfield_15652_20140301-+_v01.sav")
    planned = _planned(snakemake(wd, "-n", "--config", cfg, missions=["asi"]))
    assert planned == {"calibrate_asi_l1": 1, "project_asi_l2": 1, "make_asi_keogram": 1, "make_asi_movie": 1,
                       "plot_asi_quicklook": 1, "all": 1}, planned
    # a file for another camera, or valid only later, changes nothing
    shutil.move(cal / "REGO_flatfield_15652_20140301-+_v01.sav", cal / "REGO_flatfield_15649_20140301-+_v01.sav")
    shutil.copyfile(cal / "REGO_flatfield_15649_20140301-+_v01.sav", cal / "REGO_flatfield_15652_20150101-+_v01.sav")
    proc = snakemake(wd, "-n", "--config", cfg, missions=["asi"])
    assert "Nothing to be done" in proc.stdout + proc.stderr
    # a newer skymap for tpas: its L2 and keogram, and the mosaic it is part of
    sky = root / "THEMIS" / "asi" / "skymaps" / "tpas"
    new = sky / "tpas_20140301" / "themis_skymap_tpas_20140301-+_v01.sav"
    new.parent.mkdir()
    shutil.copyfile(next(sky.rglob("*.sav")), new)
    planned = _planned(snakemake(wd, "-n", "--config", cfg, missions=["asi"]))
    assert planned == {"project_asi_l2": 1, "make_asi_keogram": 1, "make_asi_mosaic": 1, "all": 1}, planned
