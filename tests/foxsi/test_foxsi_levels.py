"""Level 1 / level 2 against the simulated truth, and the decisions the levels make."""
from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest

from levelpipe.foxsi import calibration, decode, flight as fl, l0, l1, l2, simulator
from foxsi_testlib import (CAL, as_bytes, flight1, flight2, foxsi_config, l1_settings, l2_settings,  # noqa: F401
                           scenario, sim2)


def _chain(sim, flight, l1cfg, l2cfg):
    dec = decode.decode_bytes(as_bytes(sim), sim.file_type)
    dets, hk = l0.level0(dec, flight)
    ev1 = l1.level1_events(dets, flight, l1cfg)
    gains = calibration.load_gains(flight.gain_files, CAL)
    return ev1, l2.level2_events(ev1, flight, gains, l2cfg), gains, hk


def _truth(sim):
    t = sim.events
    order = np.lexsort((t["det"], t["frame_counter"]))
    return {k: v[order] for k, v in t.items()}


@pytest.fixture(scope="module")
def chain2(sim2, flight2, l1_settings, l2_settings):
    return _chain(sim2, flight2, l1_settings, l2_settings)


def test_positions_within_strip_quantisation(chain2, sim2, flight2):
    ev1, ev2, _, _ = chain2
    t = _truth(sim2)
    np.testing.assert_array_equal(ev2["frame_counter"].values, t["frame_counter"])
    np.testing.assert_array_equal(ev2["hit_strip_p"].values, t["strip_p"])
    np.testing.assert_array_equal(ev2["hit_strip_n"].values, t["strip_n"])
    half = flight2.strip_pitch / 2
    assert np.abs(ev1["det_x"].values * u.um - t["det_x"]).max() <= half + 1e-9 * u.um
    assert np.abs(ev1["det_y"].values * u.um - t["det_y"]).max() <= half + 1e-9 * u.um
    # Heliocentric: a strip cell is a square of side pitch -> at most pitch/sqrt(2) from its centre,
    # plus the SPARCS count rounding (half a count on each axis).
    cell = flight2.strip_pitch / np.sqrt(2) / fl.plate_scale(flight2)
    d = np.hypot(ev2["hit_xy_solar_x"].values * u.arcsec - t["helio_x"],
                 ev2["hit_xy_solar_y"].values * u.arcsec - t["helio_y"])
    assert d.max() <= cell + flight2.sparcs_scale


def test_energies_within_gain_quantisation(chain2, sim2):
    _, ev2, gains, _ = chain2
    t = _truth(sim2)
    ok = ev2["l2_flag"].values == 0
    assert ok.sum() > 4000
    det = ev2["det_num"].values[ok].astype(int)
    asic = ev2["hit_asic_p"].values[ok].astype(int)
    ch = ev2["hit_channel_p"].values[ok].astype(int)
    adc = ev2["hit_adc_p"].values[ok]
    # Half an ADC count (the rounding to integer ADC) through the local gain bounds the error.
    bound = np.empty(adc.size)
    for d in np.unique(det):
        s = det == d
        g = gains[d]
        e0 = g.energy_of(asic[s], ch[s], adc[s]).to_value(u.keV)
        bound[s] = np.maximum(np.abs(g.energy_of(asic[s], ch[s], adc[s] + 0.5).to_value(u.keV) - e0),
                              np.abs(e0 - g.energy_of(asic[s], ch[s], adc[s] - 0.5).to_value(u.keV)))
    err = np.abs(ev2["hit_energy"].values[ok] - t["energy"][ok].to_value(u.keV))
    assert np.all(err <= bound + 1e-9)
    assert np.median(err) < 0.05


def test_nan_gain_strips_and_cdte_flagged_not_guessed(chain2):
    _, ev2, gains, _ = chain2
    flag = ev2["l2_flag"].values
    e = ev2["hit_energy_p"].values
    nan_strip = (flag & l2.L2_BITS["p_side_no_gain"]) > 0
    assert nan_strip.sum() > 0 and np.isnan(e[nan_strip]).all()
    asic, ch, det = (ev2[v].values[nan_strip].astype(int) for v in ("hit_asic_p", "hit_channel_p", "det_num"))
    assert not any(gains[d].valid[a, c] for d, a, c in zip(det, asic, ch))
    cdte = np.isin(ev2["det_num"].values, [2, 3])  # FOXSI-2 D2, D3 have no peaks file
    assert cdte.sum() > 0
    assert ((flag[cdte] & l2.L2_BITS["no_gain_file"]) > 0).all() and np.isnan(e[cdte]).all()


def test_calibration_lines_back_within_half_kev(flight1, l1_settings, l2_settings):
    """13.93, 17.61, 26.34 and 59.54 keV lines on detectors whose peaks files cover each line."""
    flight = flight1.replace(gain_files={**flight1.gain_files, "D2": "peaks_det102_20171031.sav",
                                         "D5": "peaks_det105_20171031.sav"})
    lines = [13.93, 17.61, 26.34, 59.54]
    sc = scenario(file_type="gse", duration=20.0 * u.s, rate_per_detector=90.0 * u.Hz, sources=[],
                  background_weight=1.0,
                  spectrum={"lines": lines * u.keV, "line_weight": 1.0, "continuum_kt": 1.0 * u.keV,
                            "continuum_min": 4.0 * u.keV, "continuum_max": 5.0 * u.keV},
                  hv={"ramp_start": 0.0 * u.s, "ramp_duration": 1.0 * u.s, "bias": 200.0 * u.V,
                      "per_count": 0.125 * u.V, "depleted_below": 0.0 * u.V})
    sim = simulator.simulate(flight, sc, CAL)
    _, ev2, gains, _ = _chain(sim, flight, l1_settings, l2_settings)
    e = ev2["hit_energy"].values
    det = ev2["det_num"].values
    checked = 0
    for d, gain in gains.items():
        covered = [c.to_value(u.keV) for c in gain.lines]  # energies measured on every valid strip, per ASIC
        for line in lines:
            if not all(np.any(np.isclose(c, line, atol=0.05)) for c in covered[2:]):
                continue  # this detector's p-side peaks do not include the line
            sel = (det == d) & (np.abs(e - line) < 2.0)
            assert sel.sum() > 50
            assert abs(np.median(e[sel]) - line) < 0.5
            checked += 1
    assert checked >= 10  # 13.9/17.6/59.5 on every Si detector, 26.3 on the 2017 files


def test_readout_channels_decision():
    mask = np.zeros((1, 4, 4), np.uint16)
    mask[0, 0, 0] = 0b1110  # channels 1, 2, 3
    mask[0, 1, 3] = 0x8000  # channel 63
    mask[0, 2, 1] = 0x0001  # channel 16
    mask[0, 3, :] = 0x0011  # channels 0, 4, 16, 20, ... (8 bits: too many)
    ch, n = l1.readout_channels(mask)
    assert ch[0, 0].tolist() == [1, 2, 3]
    assert ch[0, 1].tolist() == [63, -1, -1]
    assert ch[0, 2].tolist() == [16, -1, -1]
    assert n[0].tolist() == [3, 1, 1, 8]


def test_hit_associated_unrelated_and_error_bits():
    """p side: hit on ASIC 3 ch 10 with neighbours, noise on ASIC 2 (unrelated). n side: nothing."""
    mask = np.zeros((1, 4, 4), np.uint16)
    strip = np.zeros((1, 4, 3), np.uint16)
    cm = np.zeros((1, 4), np.uint16)
    mask[0, 3, 0] = 0b11100000000  # channels 8, 9, 10
    strip[0, 3] = [53, 55, 400]
    cm[0, 3] = 50
    mask[0, 2, 2] = 0b111  # channels 32, 33, 34
    strip[0, 2] = [60, 58, 61]
    cm[0, 2] = 57
    h = l1.hits(mask, strip, cm, threshold=20)
    assert h["hit_strip_p"][0] == 64 + 10 and h["hit_adc_p"][0] == 350
    assert h["assoc_strip_p"][0].tolist() == [64 + 8, 64 + 9]
    assert h["assoc_adc_p"][0].tolist() == [3, 5]
    assert h["unrel_strip_p"][0].tolist() == [32, 33, 34]
    assert h["unrel_adc_p"][0].tolist() == [3, 1, 4]
    assert h["hit_strip_n"][0] == -1
    assert h["error_flag"][0] == l1.ERROR_BITS["no_n_side_hit"]
    strip[0, 3] = [53, 300, 1023]
    strip[0, 2] = [60, 200, 61]
    h = l1.hits(mask, strip, cm, threshold=20)
    bits = l1.ERROR_BITS
    assert h["error_flag"][0] == (bits["no_n_side_hit"] | bits["p_side_both_asics"] | bits["adc_saturated"]
                                  | bits["charge_shared"])
    strip[0, 1, 0] = 5  # ADC in a slot with no mask bit
    assert l1.hits(mask, strip, cm, threshold=20)["error_flag"][0] & bits["readout_inconsistent"]
    assert len(bits) == 7


def test_livetime_hv_altitude_inflight(chain2, flight2, foxsi_config, l1_settings, sim2):
    ev1, _, _, hk0 = chain2
    c = foxsi_config["l1"]
    # Decision pinned: livetime = ticks x tick; fraction relative to the frame period.
    dead = simulator.default_scenario()["livetime_dead_ticks_per_event"]
    tick = l1_settings.livetime_tick
    expect = ((flight2.frame_period / tick).to_value(u.one) - dead) * tick
    np.testing.assert_allclose(ev1["livetime"].values * u.s, expect)
    np.testing.assert_allclose(ev1["livetime_fraction"].values, (expect / flight2.frame_period).to_value(u.one))
    assert np.all(ev1["hv"].values >= 195.0) and np.all(ev1["hv_nominal"].values == 1)
    t = flight2.time_since_launch(ev1["time"].values)
    np.testing.assert_allclose(ev1["altitude"].values, np.interp(t.to_value(u.s), flight2.altitude_time.to_value(u.s),
                                                                 flight2.altitude.to_value(u.km)))
    assert np.all(ev1["inflight"].values == 1)
    assert fl.inflight(flight2, [-1.0, 0.0, 900.0, 900.5] * u.s).tolist() == [False, True, True, False]
    assert fl.inflight(flight2, [0.0, 15.0, 15.1] * u.min).tolist() == [True, True, False]  # converted to s
    assert np.isnan(fl.altitude(flight2, [-5.0, 1e4] * u.s)).all()  # never extrapolated
    hk1 = l1.level1_housekeeping(hk0, flight2, l1_settings)
    hv = hk1["hv"].values
    assert hv[0] == 0.0 and hv[-1] == 200.0 and np.all(np.diff(hv) >= 0)  # the ramp
    for k, ch in enumerate(c["housekeeping"]):
        v = hk1[ch["name"]].values
        at = hk0["hk_channel"].values == k
        assert np.isnan(v[~at]).all()
        np.testing.assert_allclose(v[at], hk0["hk_value"].values[at] * ch["scale"] + ch["offset"])
        assert hk1[ch["name"]].attrs["units"] in ("V", "degC")


def test_rotation_and_pointing_decisions(flight2):
    det = np.arange(7)
    x, y = np.full(7, 750.0) * u.um, np.full(7, -300.0) * u.um
    px, py = fl.detector_to_payload(flight2, det, x, y)
    assert px.unit == u.arcsec and py.unit == u.arcsec
    bx, by = fl.payload_to_detector(flight2, det, px, py)
    np.testing.assert_allclose(bx, x)
    np.testing.assert_allclose(by, y)
    # D5 of FOXSI-2 is rotated by +90 deg: detector +x is payload +y.
    px, py = fl.detector_to_payload(flight2, np.array([5]), [1.0] * u.mm, [0.0] * u.mm)
    np.testing.assert_allclose(px, [0.0] * u.arcsec, atol=1e-9 * u.arcsec)
    np.testing.assert_allclose(py, 1000.0 * u.um / fl.plate_scale(flight2))
    cx, cy = fl.pointing(flight2, [10.0, 200.0, 5000.0] * u.s, np.array([10, 0, 0]), np.array([-20, 0, 0]))
    ox, oy = flight2.pointing_offset.to_value(u.arcsec)
    assert cx.unit == u.arcsec
    assert cx[0].value == -850.0 - 2.0 + ox and cy[0].value == 150.0 + 1.0 + oy
    assert cx[1].value == 0.0 + ox and np.isnan(cx[2])
