"""The library chain through files, outside Snakemake: a recording before the HV is up (no events)."""
from __future__ import annotations

import astropy.units as u
import numpy as np

from cfcheck import assert_cf_compliant
from foxsi_testlib import CAL, flight2, flight2_config, foxsi_config, scenario  # noqa: F401  (fixtures)
from levelpipe.foxsi import l0, l1, l2, products, quicklook, simulator
from levelpipe.io import read_netcdf


def test_recording_without_events_runs_through_every_level(tmp_path, flight2, flight2_config, foxsi_config):
    sc = scenario(file_type="gse", duration=1.0 * u.s, start=10.0 * u.s)  # HV ramp starts at T+62 s
    sim = simulator.simulate(flight2, sc, CAL)
    assert sim.events["det"].size == 0
    raw = tmp_path / "prelaunch.dat"
    raw.write_bytes(sim.data)
    cfg = {**foxsi_config, "flight": flight2_config}
    dets = [tmp_path / f"l0_d{d}.nc" for d in range(7)]
    l0.make_l0(raw, dets, tmp_path / "l0_hk.nc", cfg)
    l1.make_l1(dets, tmp_path / "l0_hk.nc", tmp_path / "l1.nc", tmp_path / "l1_hk.nc", cfg)
    l2.make_l2(tmp_path / "l1.nc", tmp_path / "l2.nc", cfg, CAL)
    products.make_image(tmp_path / "l2.nc", tmp_path / "img.nc", cfg)
    products.make_spectrum(tmp_path / "l2.nc", tmp_path / "l1_hk.nc", tmp_path / "spec.nc", cfg)
    products.make_lightcurve(tmp_path / "l2.nc", tmp_path / "l1_hk.nc", tmp_path / "lc.nc", cfg)
    outs = {k: tmp_path / f"{k}.png" for k in ("image", "spectrum", "lightcurve", "housekeeping")}
    quicklook.make_quicklooks(tmp_path / "img.nc", tmp_path / "spec.nc", tmp_path / "lc.nc", tmp_path / "l1_hk.nc",
                              outs, cfg)
    assert read_netcdf(tmp_path / "l2.nc").sizes["event"] == 0
    assert int(read_netcdf(tmp_path / "spec.nc")["counts"].sum()) == 0
    assert np.all(read_netcdf(tmp_path / "l1_hk.nc")["hv"].values == 0.0)
    assert all(p.stat().st_size > 0 for p in outs.values())
    assert_cf_compliant(tmp_path / "l2.nc")
