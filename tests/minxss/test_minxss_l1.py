"""Level 1 and the averages: energy scale and spectral shape against the real MinXSS-1 L1 flare,
dead time, the stand-in efficiency, the selection cuts, and the averaging rules."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from conftest import REPO, shared_data
from levelpipe.minxss import averages, l1
from levelpipe.minxss.settings import MinxssSettings
from levelpipe.settings import load_settings

SETTINGS = load_settings(MinxssSettings, REPO / "config" / "minxss.yaml")
FLARE = "MinXSS_one_flare.csv"


def test_energy_scale_and_known_answers_of_the_real_flare():
    times, energy, irr = l1.read_level1_csv(shared_data("minxss") / FLARE)
    assert energy[0] == -0.17000000178813934 and energy[1] == -0.14025001227855682
    assert abs(energy[73] - 2.00175) < 5e-6 and abs(energy[1023] - 30.26424) < 5e-6
    assert irr.shape == (380, 1024)
    assert str(times[0])[:23] == "2016-07-23T00:02:15.758" and str(times[-1])[:23] == "2016-07-23T04:59:55.810"
    k = int(np.nanargmax(irr[:, 73]))
    assert str(times[k])[:23] == "2016-07-23T02:14:25.570" and abs(irr[k, 73] - 1.728e7) < 5e3
    ours = l1.energy_scale(SETTINGS.energy_scale[1], 1024)
    assert np.array_equal(ours, energy.astype(np.float32))  # bit for bit


def test_flare_shape_through_our_response():
    r = l1.flare_round_trip(shared_data("minxss") / FLARE, SETTINGS)
    assert r["same_energy_scale"] and r["peak_time"].startswith("2016-07-23T02:14:25.570")
    # ratio ours / real of band-integrated irradiance, forward model -> our inversion
    assert abs(r["1-1.5 keV"] - 1) < 0.08
    for band in ("1.5-2 keV", "2-3 keV", "3-5 keV", "5-8 keV"):
        assert abs(r[band] - 1) < 0.03, (band, r[band])


def test_dead_time_lower_branch():
    tau = 4.8e-6
    m = np.array([0.0, 1e3, 5e4, 7.6e4, 1e6])
    n = l1.true_rate(m, tau)
    ok = np.isfinite(n)
    assert ok.tolist() == [True, True, True, True, False]  # 1e6 * tau > 1/e: no solution
    assert np.allclose(n[ok] * np.exp(-n[ok] * tau), m[ok], rtol=1e-12)
    assert np.all(n[ok] <= 1 / tau)


def test_efficiency_is_be_transmission_times_si_absorption():
    import xraydb
    r = SETTINGS.l1.response[1]
    e, eff = l1.detector_efficiency(r)
    at = 5.9
    be = np.exp(-xraydb.mu_elam("Be", at * 1000) * xraydb.atomic_density("Be") * 25.1996e-4)
    si = 1 - np.exp(-xraydb.mu_elam("Si", at * 1000, kind="photo") * xraydb.atomic_density("Si") * 500e-4)
    assert np.interp(at, e, eff) == pytest.approx(float(be * si), rel=1e-3)
    assert np.interp(1.0, e, eff) < 0.3 < np.interp(3.0, e, eff)  # the Be window cuts the soft end


def _l0d(tmp_path, n=4, **over):
    rng = np.random.default_rng(1)
    t = np.datetime64("2019-01-02T00:00:05", "ns") + np.arange(n) * np.timedelta64(10, "s")
    spec = np.zeros((n, 1024), dtype=np.float32)
    spec[:, 36:41] = 40.0        # peak bins 0.9-1.0 keV
    spec[:, 41:200] = rng.poisson(30.0, (n, 159))
    base = dict(
        x123_spectrum=(("time", "bin"), spec), flight_model=(("time",), np.full(n, 2, np.int8)),
        x123_radio_flag=(("time",), np.zeros(n)), x123_accum_time=(("time",), np.full(n, 9900)),
        x123_fast_count=(("time",), np.full(n, 6000)), x123_slow_count=(("time",), np.full(n, 5000)),
        sps_data_sci=(("time", "sps_diode"), np.full((n, 4), 1_000_000)),
        sps_xp_integration_time=(("time",), np.full(n, 10)), earth_sun_distance=(("time",), np.full(n, 0.98)),
        adcs_mode=(("time",), np.ones(n, np.uint8)), eclipse=(("time",), np.zeros(n, np.uint8)),
        spacecraft_mode=(("time",), np.full(n, 4, np.uint8)), x123_read_errors=(("time",), np.zeros(n)),
        x123_write_errors=(("time",), np.zeros(n)), tangent_ray_height=(("time",), np.full(n, 500.0)),
        spacecraft_in_saa=(("time",), np.zeros(n, np.uint8)))
    for k in ("longitude", "latitude", "altitude", "solar_zenith_angle", "goes_xrsa_flux", "goes_xrsb_flux",
              "x123_detector_temperature", "time_jd", "time_tai"):
        base[k] = (("time",), np.zeros(n))
    base["flare_flag"] = (("time",), np.zeros(n, np.uint8))
    for k, v in over.items():
        base[k] = (base[k][0], v)
    ds = xr.Dataset(base, coords={"time": t})
    path = tmp_path / "l0d.nc"
    ds.to_netcdf(path)
    return path


def test_selection_cuts(tmp_path):
    radio = np.array([0.0, 2.0, 0.0, 0.0])
    eclipse = np.array([0, 0, 1, 0], np.uint8)
    trh = np.array([500.0, 500.0, 500.0, 100.0])
    ds = l1.l1(_l0d(tmp_path, x123_radio_flag=radio, eclipse=eclipse, tangent_ray_height=trh), settings=SETTINGS)
    bits = {name: 1 << i for i, name in enumerate(l1.CUTS)}
    f = ds.selection_flags.values
    assert f[0] == 0 and ds.good_spectrum.values.tolist() == [1, 0, 0, 0]
    assert f[1] & bits["radio_flag"] and f[2] & bits["eclipse"] and f[3] & bits["tangent_ray"]
    assert ds.attrs["rejected_by_radio_flag"] == 1 and ds.attrs["good_spectra"] == 1
    # count rate = counts / accum_time; irradiance at 1 AU = rate * dead-time factor / response / area * d^2
    r = SETTINGS.l1.response[2]
    rate = 40.0 / 9.9
    assert ds.count_rate.values[0, 38] == pytest.approx(rate * ds.deadtime_correction_factor.values[0])
    want = ds.count_rate.values[0, 38] / ds.bin_response.values[38] / r.aperture_area_cm2.to_value("cm2") * 0.98 ** 2
    assert ds.irradiance.values[0, 38] == pytest.approx(want)
    assert ds.irradiance.values[0, 38] / ds.irradiance_uncertainty.values[0, 38] == pytest.approx(
        1 / np.sqrt(1 / 40 + 0.1 ** 2))
    # radio_flag == 1: 263 ms less accumulation (L1:137-138)
    ds = l1.l1(_l0d(tmp_path, x123_radio_flag=np.ones(4)), settings=SETTINGS)
    assert ds.accumulation_time.values[0] == pytest.approx(9.9 - 0.263)


def test_averages_on_ut_bins(tmp_path):
    ds = l1.l1(_l0d(tmp_path, n=12), settings=SETTINGS)  # 00:00:05 .. 00:01:55, every 10 s
    from levelpipe.io.netcdf import write_netcdf
    from levelpipe.io.variables import load_table
    p = tmp_path / "l1.nc"
    write_netcdf(ds, p, title="t", summary="s", mission="minxss", level="L1", table=load_table("levelpipe.minxss", "l1"))
    a = averages.average(p, [], 1, settings=SETTINGS)
    assert a.number_spectra.values.tolist() == [6, 6]
    assert [str(x)[:19] for x in a.nominal_time.values] == ["2019-01-02T00:00:30", "2019-01-02T00:01:30"]
    assert str(a.time.values[0])[:19] == "2019-01-02T00:00:30"  # mean of :05 .. :55
    np.testing.assert_allclose(a.irradiance.values[0], ds.irradiance.values[:6].astype(float).mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(a.count_rate_precision.values[0], ds.count_rate_precision.values[:6].astype(float).mean(axis=0) / np.sqrt(6), rtol=1e-6)
    np.testing.assert_allclose(a.count_rate_stddev.values[0], ds.count_rate.values[:6].astype(float).std(axis=0), rtol=1e-5, atol=1e-5)
    assert np.all(np.isnan(a.goes_xrsb_flux.values))
    day = averages.average(p, [], 1440, settings=SETTINGS)
    assert day.number_spectra.values.tolist() == [12]
