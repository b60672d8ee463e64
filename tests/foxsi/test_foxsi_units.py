"""Units across the FOXSI module boundaries: config -> Quantities once, conversions, refusals."""
from __future__ import annotations

import copy

import astropy.units as u
import numpy as np
import pytest
import yaml
from astropy.time import Time

from levelpipe.errors import ConfigError
from levelpipe.foxsi import calibration, decode, flight as fl, l0, l2, products, simulator
from levelpipe.foxsi.config import (DecodeSettings, Flight, HousekeepingChannel, L1Settings, ProductSettings,
                                    load_flight_config)
from foxsi_testlib import CAL, REPO, as_bytes, flight2, flight2_config, foxsi_config, scenario  # noqa: F401


def test_flight_from_config_carries_units(flight2_config):
    f = Flight.from_config(flight2_config)
    assert isinstance(f.launch, Time) and f.launch.scale == "utc"
    assert f.launch_datetime64 == np.datetime64("2014-12-11T19:11:00", "ns")
    assert f.launch_day == np.datetime64("2014-12-11T00:00:00", "ns")
    assert f.frame_period == 10 * u.ms and f.frame_period.unit == u.s
    assert f.flight_duration == 15 * u.min
    assert f.detector_rotation.unit == u.deg and f.detector_rotation.shape == (7,)
    assert f.pointing_offset.unit == u.arcsec and f.pointing_offset[1] == 2 * u.arcsec
    assert f.targets[0].x == -850 * u.arcsec and f.targets[1].start == 150 * u.s
    assert f.altitude.unit == u.km and f.altitude_time.unit == u.s
    assert f.sparcs_scale == 0.1 * u.arcsec and f.strip_pitch == 75 * u.um
    # The unit comes from the key name: a different number under the same key is read in that unit.
    assert Flight.from_config(dict(flight2_config, frame_period_s=0.02)).frame_period == 20 * u.ms


def test_unparseable_launch_time_is_a_config_error(flight2_config, tmp_path):
    schema = REPO / "config" / "schemas" / "foxsi.schema.yaml"
    p = tmp_path / "f.yaml"
    for bad in ("11 Dec 2014", "2016-12-31T23:59:60.5"):  # not ISO; inside a leap second (Decision)
        p.write_text(yaml.safe_dump(dict(flight2_config, launch_utc=bad)))
        with pytest.raises(ConfigError, match="f.yaml:launch_utc: launch_utc is not an ISO 8601"):
            load_flight_config(p, schema)
    p.write_text(yaml.safe_dump(dict(flight2_config, launch_utc="2014-12-11T19:11:00.123456789")))
    f = Flight.from_config(load_flight_config(p, schema))
    assert f.launch_datetime64 == np.datetime64("2014-12-11T19:11:00.123456789", "ns")  # ns kept


def test_value_in_another_unit_is_converted_not_misread(flight2):
    """Decision pinned: every field is converted to its working unit on construction."""
    g = flight2.replace(frame_period=10 * u.ms, flight_duration=0.25 * u.h,
                        detector_rotation=flight2.detector_rotation.to(u.rad),
                        pointing_offset=flight2.pointing_offset.to(u.arcmin),
                        altitude=flight2.altitude.to(u.m), strip_pitch=0.075 * u.mm,
                        launch=Time("2014-12-11T19:11:00", scale="utc").tai)
    assert g.frame_period.unit == u.s and g.frame_period.value == pytest.approx(0.01)
    assert g.flight_duration.to_value(u.s) == pytest.approx(900.0)
    assert g.launch.scale == "utc" and g.launch_datetime64 == flight2.launch_datetime64
    t = [0.0, 100.0, 899.0, 901.0] * u.s
    assert fl.inflight(g, t).tolist() == fl.inflight(flight2, t).tolist()
    np.testing.assert_allclose(fl.altitude(g, t), fl.altitude(flight2, t))
    assert fl.altitude(g, t).unit == u.km
    det = np.arange(7)
    for a, b in zip(fl.detector_to_payload(g, det, [300.0] * 7 * u.um, [-10.0] * 7 * u.um),
                    fl.detector_to_payload(flight2, det, [0.3] * 7 * u.mm, [-0.01] * 7 * u.mm)):
        np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(fl.pointing(g, t, np.zeros(4), np.zeros(4))[1],
                               fl.pointing(flight2, t, np.zeros(4), np.zeros(4))[1])
    assert fl.strip_of(g, [0.0, 4.7] * u.mm).tolist() == [64, 126]


def test_plain_numbers_refused_where_a_quantity_is_expected(flight2, foxsi_config):
    with pytest.raises(u.UnitsError):
        flight2.replace(frame_period=0.01)
    with pytest.raises(u.UnitsError):
        flight2.replace(frame_period=0.01 * u.m)  # wrong dimension
    with pytest.raises(u.UnitsError):
        fl.inflight(flight2, [1.0, 2.0])  # seconds? minutes? refused
    with pytest.raises(u.UnitsError):
        fl.strip_of(flight2, [0.0])
    with pytest.raises(u.UnitsError):
        L1Settings(**{**vars(L1Settings.from_config(foxsi_config["l1"])), "hv_nominal": 200.0})


def test_settings_from_config_and_conversions(foxsi_config):
    d = DecodeSettings.from_config(foxsi_config["decode"])
    assert d.wsmr_time_tolerance == 50 * u.ms
    s1 = L1Settings.from_config(foxsi_config["l1"])
    assert s1.hv_per_count == 0.125 * u.V and s1.livetime_tick == 1 * u.us and s1.trigger_tick.unit == u.s
    assert s1.hit_threshold_adc == 20.0  # ADC counts stay plain numbers
    kv = L1Settings(**{**vars(s1), "hv_nominal": 0.2 * u.kV, "hv_tolerance": 5000 * u.mV})
    assert kv.hv_nominal.unit == u.V and kv.hv_nominal_mask([196.0, 194.0] * u.V).tolist() == [True, False]
    p = ProductSettings.from_config(foxsi_config["products"])
    assert p.image_band.unit == u.keV and p.image_pixel == 8 * u.arcsec and p.lightcurve_bin == 1 * u.s
    ev = ProductSettings(**{**vars(p), "image_band": [4000.0, 15000.0] * u.eV})
    np.testing.assert_allclose(ev.image_band.value, [4.0, 15.0])


def test_housekeeping_units_cf_and_astropy(foxsi_config):
    """Decision pinned: config units keep the CF spelling (degC), the astropy unit is deg_C."""
    chans = L1Settings.from_config(foxsi_config["l1"]).housekeeping
    t = chans[0]
    assert isinstance(t, HousekeepingChannel) and t.units == "degC" and t.unit == u.deg_C
    assert t.scale == 0.1 * u.deg_C and t.offset == -50 * u.deg_C
    assert chans[4].unit == u.V and chans[4].scale == 2 * u.mV


def test_frame_times_same_for_equal_quantities_in_other_units(flight2):
    sim = simulator.simulate(flight2, scenario(file_type="gse", duration=0.5 * u.s), CAL)
    dec = decode.decode_bytes(as_bytes(sim), sim.file_type)
    a, _, _ = l0.frame_times(dec, flight2)
    b, _, _ = l0.frame_times(dec, flight2.replace(frame_period=10_000 * u.us))
    np.testing.assert_array_equal(a, b)
    c, _, _ = l0.frame_times(dec, flight2.replace(frame_period=20 * u.ms))  # a real change shows
    assert (c[1] - c[0]) == np.timedelta64(20, "ms")


def test_energy_of_returns_kev_and_adc_of_converts():
    g = calibration.read_peaks(CAL / "peaks_det108.sav")
    assert g.energy.unit == u.keV
    a, c = np.array([2, 3]), np.array([10, 20])
    e = g.energy_of(a, c, np.array([400.0, 900.0]))
    assert isinstance(e, u.Quantity) and e.unit == u.keV
    adc = g.adc_of(a, c, [13.93, 59.54] * u.keV)
    assert not isinstance(adc, u.Quantity)  # ADC counts: plain numbers
    np.testing.assert_allclose(g.adc_of(a, c, [13930.0, 59540.0] * u.eV), adc)
    np.testing.assert_allclose(g.adc_of(a, c, [0.01393, 0.05954] * u.MeV), adc)
    with pytest.raises(u.UnitsError):
        g.adc_of(a, c, np.array([13.93, 59.54]))
    assert all(isinstance(lines, u.Quantity) and lines.unit == u.keV for lines in g.lines)


def test_strip_energies_are_kev_quantities():
    gains = calibration.load_gains({"D0": "peaks_det108.sav", "D1": None}, CAL)
    e, usable = l2.strip_energies(gains, np.array([0, 0, 1]), np.array([2, -1, 2]), np.array([10, 10, 10]),
                                  np.array([400.0, 400.0, 400.0]))
    assert e.unit == u.keV and usable.tolist() == [True, False, False]
    assert np.isfinite(e[0]) and np.isnan(e[1:]).all()
    assert e[0] == gains[0].energy_of(np.array([2]), np.array([10]), np.array([400.0]))[0]


def test_simulator_converts_scenario_units_and_refuses_plain_numbers(flight2):
    base = scenario(file_type="gse", duration=2.0 * u.s, start=70.0 * u.s)
    ref = simulator.simulate(flight2, base, CAL)
    other = copy.deepcopy(base)
    other.update(duration=2000.0 * u.ms, start=70.0 / 60.0 * u.min, tick=1000.0 * u.ns,
                 rate_per_detector=0.04 * u.kHz)
    other["hv"] = {k: v.to(u.kV) if v.unit == u.V else v for k, v in other["hv"].items()}
    sim = simulator.simulate(flight2, other, CAL)
    assert sim.data == ref.data  # conversions exact enough to give the same telemetry bytes
    for key, unit in simulator.TRUTH_UNITS.items():
        assert sim.events[key].unit == unit
    # Photon energies and sky positions given in other units land on the same photons.
    moved = copy.deepcopy(base)
    moved["spectrum"] = {**base["spectrum"], "lines": base["spectrum"]["lines"].to(u.eV),
                         "continuum_min": 4000.0 * u.eV}
    moved["sources"] = [{**s, "x": s["x"].to(u.deg), "y": s["y"].to(u.arcmin)} for s in base["sources"]]
    sim = simulator.simulate(flight2, moved, CAL)
    np.testing.assert_allclose(sim.events["energy"], ref.events["energy"], rtol=1e-12)
    np.testing.assert_allclose(sim.events["helio_x"], ref.events["helio_x"], rtol=1e-12)
    with pytest.raises(u.UnitsError):
        simulator.simulate(flight2, dict(base, duration=2.0), CAL)
    bad = copy.deepcopy(base)
    bad["sources"][0]["x"] = -820.0
    with pytest.raises(u.UnitsError):
        simulator.simulate(flight2, bad, CAL)


def test_products_accept_settings_in_other_units(flight2, foxsi_config):
    """The image grid and energy band are converted: the same image from arcmin / eV settings."""
    import xarray as xr

    p = ProductSettings.from_config(foxsi_config["products"])
    n = 5
    l2ds = xr.Dataset({
        "error_flag": (("event",), np.zeros(n, np.uint8)), "inflight": (("event",), np.ones(n, np.int8)),
        "hv_nominal": (("event",), np.ones(n, np.int8)),
        "hit_energy": (("event",), np.array([5.0, 6.0, 20.0, 7.0, np.nan])),
        "hit_xy_solar_x": (("event",), np.array([-850.0, -840.0, -850.0, -2000.0, -850.0])),
        "hit_xy_solar_y": (("event",), np.array([150.0, 150.0, 150.0, 150.0, 150.0])),
        "det_num": (("event",), np.array([0, 1, 0, 0, 0], np.int8))},
        coords={"time": (("event",), flight2.launch_datetime64 + np.arange(n) * np.timedelta64(1, "s"))})
    a = products.image(l2ds, flight2, p)
    b = products.image(l2ds, flight2, ProductSettings(**{
        **vars(p), "image_band": p.image_band.to(u.eV), "image_pixel": p.image_pixel.to(u.arcmin),
        "image_half_width": p.image_half_width.to(u.arcmin)}))
    assert int(a["counts_combined"].sum()) == 2  # 20 keV outside the band, -2000" off the grid, NaN energy
    np.testing.assert_array_equal(a["counts"].values, b["counts"].values)
    np.testing.assert_allclose(a.x.values, b.x.values)
