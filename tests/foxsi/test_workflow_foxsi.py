"""The FOXSI chain in the default workflow: every product, CF, values against the simulator, reruns."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from cfcheck import assert_cf_compliant
from conftest import snakemake
from foxsi_testlib import CAL
from levelpipe.io import read_netcdf
from levelpipe.testing import foxsi_simulator as S

pytestmark = pytest.mark.integration
GRANULES = ["foxsi2_wsmr_sample", "foxsi1_gse_sample"]
PRODUCTS = ["l0/{g}_d0.nc", "l0/{g}_hk.nc", "l1/{g}.nc", "l1/{g}_hk.nc", "l2/{g}.nc", "images/{g}.nc",
            "spectra/{g}.nc", "lightcurves/{g}.nc"]
PLOTS = ["image", "spectrum", "lightcurve", "housekeeping"]


@pytest.fixture(scope="module")
def run(workflow_run) -> Path:
    return workflow_run("foxsi") / "results" / "foxsi"


@pytest.fixture(scope="module")
def truths():
    return {sc["name"]: S.simulate(sc) for sc in S.sample_scenarios(CAL)}


def test_every_product_and_quicklook(run):
    for g in GRANULES:
        for d in range(7):
            assert (run / "l0" / f"{g}_d{d}.nc").is_file()
        for f in PRODUCTS:
            assert (run / f.format(g=g)).is_file()
        for p in PLOTS:
            png = run / "quicklook" / f"{g}_{p}.png"
            assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("f", PRODUCTS)
def test_cf_compliant(run, f):
    assert_cf_compliant(run / f.format(g="foxsi2_wsmr_sample"))


def test_level0_holds_the_simulated_frames_and_fault_counts(run, truths):
    for g in GRANULES:
        sim = truths[g]
        intact = np.flatnonzero(sim.intact)
        hk = read_netcdf(run / "l0" / f"{g}_hk.nc")
        assert hk["frame_counter"].values.tolist() == sim.counter[intact].tolist()
        for kind, n in sim.fault_counts.items():
            assert hk.attrs[f"bad_frames_{kind}"] == n, (g, kind)
        for d in range(7):
            ds = read_netcdf(run / "l0" / f"{g}_d{d}.nc")
            assert ds.attrs["bad_frames_total"] == hk.attrs["bad_frames_total"]
            block = sim.frames[intact, 23 + 33 * d: 56 + 33 * d]
            rows = np.flatnonzero(block[:, :32].any(axis=1))
            assert ds["trigger_time"].values.tolist() == block[rows, 0].tolist()
            assert ds["common_mode"].values.tolist() == block[rows][:, [8, 16, 24, 32]].tolist()
    assert sum(truths["foxsi1_gse_sample"].fault_counts.values()) > 5


def test_level2_and_products(run):
    l2 = read_netcdf(run / "l2" / "foxsi2_wsmr_sample.nc")
    e = l2["energy"].values
    for line in (13.93, 17.61, 59.54):
        near = np.abs(e - line) < 0.7
        assert near.sum() > 50 and abs(np.median(e[near]) - line) < 0.15
    img = read_netcdf(run / "images" / "foxsi2_wsmr_sample.nc")
    assert img.attrs["image_frame"] == "heliocentric"
    iy, ix = np.unravel_index(int(np.argmax(img["counts_combined"].values)), img["counts_combined"].shape)
    assert abs(float(img.x[ix]) + 820) < 30 and abs(float(img.y[iy]) - 190) < 30  # the simulated source
    spec = read_netcdf(run / "spectra" / "foxsi2_wsmr_sample.nc")
    assert spec["counts"].sel(detector=[2, 3]).sum() == 0  # CdTe: no peaks file, no energies
    assert 0 < float(spec["exposure"].sel(detector=0)) < 600 * 0.002
    img1 = read_netcdf(run / "images" / "foxsi1_gse_sample.nc")
    assert img1.attrs["image_frame"] == "payload"  # no FOXSI-1 pointing file here
    # every product carries the file's frame counts
    hk0 = read_netcdf(run / "l0" / "foxsi1_gse_sample_hk.nc")
    for f in PRODUCTS:
        ds = read_netcdf(run / f.format(g="foxsi1_gse_sample"))
        for k in ("frames_decoded", "bad_frames_checksum", "bad_frames_duplicate", "bad_frames_total"):
            assert ds.attrs[k] == hk0.attrs[k], (f, k)


def _snapshot(root: Path) -> dict[str, xr.Dataset]:
    return {str(p.relative_to(root)): read_netcdf(p) for p in sorted(root.rglob("*.nc"))}


def test_reruns_per_level_and_identical_products(workflow_run):
    workdir = workflow_run("foxsi")
    root = workdir / "results" / "foxsi"
    before = _snapshot(root)
    pngs = {p: p.read_bytes() for p in root.rglob("*.png")}
    dry = snakemake(workdir, "-n", "--forcerun", "calibrate_foxsi_l2", missions=["foxsi"])
    assert "calibrate_foxsi_l2" in dry.stdout and "make_foxsi_spectra" in dry.stdout
    assert "decode_foxsi_l0" not in dry.stdout and "calibrate_foxsi_l1" not in dry.stdout
    # rerun one granule from its raw file: the same products, byte-identical quicklooks
    g = "foxsi1_gse_sample"
    targets = [f"results/foxsi/quicklook/{g}_{p}.png" for p in PLOTS]
    snakemake(workdir, "--forcerun", "decode_foxsi_l0", "--", *targets, missions=["foxsi"])
    after = _snapshot(root)
    assert before.keys() == after.keys()
    for name in before:
        assert before[name].identical(after[name]), name
    for p, data in pngs.items():
        assert p.read_bytes() == data, p
