"""The FOXSI chain in the default workflow: products, values against the simulator, CF, reruns."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from cfcheck import assert_cf_compliant
from conftest import snakemake
from foxsi_testlib import CAL
from levelpipe.foxsi import formats as fmt, simulator
from levelpipe.io import read_netcdf

pytestmark = pytest.mark.integration
GRANULES = {"foxsi2_launch_short": "foxsi2", "foxsi1_gse_short": "foxsi1"}
LEVEL_FILES = ["l0/{g}_d0.nc", "l0/{g}_d6.nc", "l0/{g}_hk.nc", "l1/{g}.nc", "l1/{g}_hk.nc", "l2/{g}.nc",
               "images/{g}.nc", "spectra/{g}.nc", "lightcurves/{g}.nc"]
PLOTS = ["image", "spectrum", "lightcurve", "housekeeping"]


@pytest.fixture(scope="module")
def run(workflow_run) -> Path:
    return workflow_run("foxsi") / "results" / "foxsi"


@pytest.fixture(scope="module")
def truths():
    return {sc["name"]: simulator.simulate(simulator.load_flight(flight), sc, CAL)
            for flight, sc in simulator.sample_scenarios()}


def test_every_product_and_quicklook(run):
    for g in GRANULES:
        for f in LEVEL_FILES:
            assert (run / f.format(g=g)).is_file()
        for d in range(fmt.N_DETECTORS):
            assert (run / "l0" / f"{g}_d{d}.nc").is_file()
        for p in PLOTS:
            png = run / "quicklook" / f"{g}_{p}.png"
            assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("f", LEVEL_FILES)
def test_cf_compliant(run, f):
    assert_cf_compliant(run / f.format(g="foxsi1_gse_short"))


def test_level0_files_round_trip_and_fault_counts(run, truths):
    for g in GRANULES:
        sim = truths[g]
        for d in range(fmt.N_DETECTORS):
            ds = read_netcdf(run / "l0" / f"{g}_d{d}.nc")
            sel = (sim.events["det"] == d) & np.isin(sim.events["frame_counter"], sim.intact_counters)
            for var, key in (("frame_counter", "frame_counter"), ("mask", "mask"), ("strip_data", "strip_data"),
                             ("common_mode", "common_mode"), ("trigger_time", "trigger_time")):
                np.testing.assert_array_equal(ds[var].values, sim.events[key][sel], err_msg=f"{g} D{d} {var}")
            for kind in fmt.FAULT_KINDS:
                assert ds.attrs[f"bad_frames_{kind}"] == int(ds[f"bad_frames_{kind}"]) == sim.fault_counts[kind]
    assert sum(truths["foxsi1_gse_short"].fault_counts.values()) > 0


def test_level2_and_products_values(run, truths):
    l2 = read_netcdf(run / "l2" / "foxsi2_launch_short.nc")
    e = l2["hit_energy"].values
    for line in (13.93, 17.61, 59.54):
        sel = np.abs(e - line) < 1.0
        assert sel.sum() > 100 and abs(np.median(e[sel]) - line) < 0.5
    assert l2["hit_energy"].attrs["units"] == "keV" and l2["hit_xy_solar_x"].attrs["units"] == "arcsec"
    spec = read_netcdf(run / "spectra" / "foxsi2_launch_short.nc")
    assert spec["counts"].sel(detector=[2, 3]).sum() == 0  # CdTe: no gain file, no energies
    assert spec["events_without_energy"].sel(detector=[2, 3]).values.min() > 0
    peak = spec["counts"].sel(detector=0).sel(energy=59.54, method="nearest")
    assert peak > 20
    assert 0 < float(spec["livetime"].sel(detector=0)) < 40.0  # HV nominal for ~38 s, livetime < 1
    img = read_netcdf(run / "images" / "foxsi2_launch_short.nc")
    comb = img["counts_combined"]
    iy, ix = np.unravel_index(int(np.argmax(comb.values)), comb.shape)
    # Brightest pixel on the main simulated source at (-820, 190) arcsec.
    assert abs(float(img.x[ix]) + 820) < 30 and abs(float(img.y[iy]) - 190) < 30
    lc = read_netcdf(run / "lightcurves" / "foxsi2_launch_short.nc")
    assert np.isnan(lc["count_rate"].values[:15]).all()  # HV still ramping
    assert np.nanmedian(lc["count_rate"].sel(detector=0).values) > 5
    hk = read_netcdf(run / "l1" / "foxsi1_gse_short_hk.nc")
    assert hk.attrs["flight"] == "FOXSI-1" and hk["hv"].attrs["units"] == "V"


def _snapshot(root: Path) -> dict[str, xr.Dataset]:
    out = {}
    for p in sorted(root.rglob("*.nc")):
        ds = read_netcdf(p)
        ds.attrs.pop("date_created", None)
        out[str(p.relative_to(root))] = ds
    return out


def test_rerun_gives_identical_products(workflow_run):
    workdir = workflow_run("foxsi")
    root = workdir / "results" / "foxsi"
    before = _snapshot(root)
    pngs = {p: p.read_bytes() for p in root.rglob("*.png")}
    dry = snakemake(workdir, "-n", "--forcerun", "calibrate_foxsi_l2", missions=["foxsi"])
    # Rerunning one level reruns it and what depends on it, nothing upstream.
    assert "calibrate_foxsi_l2" in dry.stdout, dry.stdout
    assert "decode_foxsi_l0" not in dry.stdout and "calibrate_foxsi_l1" not in dry.stdout, dry.stdout
    snakemake(workdir, "--forcerun", "decode_foxsi_l0", missions=["foxsi"])
    after = _snapshot(root)
    assert before.keys() == after.keys()
    for name in before:
        assert before[name].identical(after[name]), name
    for p, data in pngs.items():
        assert p.read_bytes() == data, p
