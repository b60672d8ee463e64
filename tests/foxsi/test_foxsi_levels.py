"""Levels 0-2 against the IDL algorithms of the notes (§2), written out in foxsi_testlib as plain
loops, on simulated events: hits and positions exactly, livetime exactly, energies within 0.1 keV."""
from __future__ import annotations

import numpy as np
import pytest

from foxsi_testlib import (ANCILLARY, CAL, idl_energy, idl_hit, idl_livetime, idl_payload, idl_pixel, settings,
                           settings_with)
from levelpipe.foxsi import ancillary
from levelpipe.foxsi.calibration import read_peaks
from levelpipe.foxsi.decode import decode_bytes
from levelpipe.foxsi.flights import FileFlight
from levelpipe.foxsi.l0 import level0_from
from levelpipe.foxsi.l1 import level1
from levelpipe.foxsi.l2 import level2
from levelpipe.testing import foxsi_simulator as S

SERIALS2 = {0: 108, 1: 101, 4: 104, 5: 105, 6: 102}


def _run(key, scenario, s=None):
    s = s or settings()
    sim = S.simulate(scenario)
    tel = decode_bytes(sim.data, scenario["kind"])
    fl = s.flights[key]
    l0 = level0_from(tel, FileFlight(key, fl, None), None, s.decode, s.l0)
    tracking = ANCILLARY / fl.tracking_file if fl.tracking_file else None
    l1 = level1([l0[f"d{d}"] for d in range(7)], l0["hk"], flight=fl, l1=s.l1, housekeeping=s.housekeeping,
                ancillary=s.ancillary, tracking=tracking)
    peaks = {d: CAL / det.peaks_file if det.peaks_file else None for d, det in enumerate(fl.detectors)}
    liss = (ANCILLARY / fl.liss_pitch_file, ANCILLARY / fl.liss_yaw_file) if fl.liss_pitch_file else (None, None)
    l2 = level2(l1["events"], flight=fl, l0=s.l0, l2=s.l2, peaks=peaks, liss_pitch=liss[0], liss_yaw=liss[1])
    return sim, l0, l1, l2


@pytest.fixture(scope="module")
def flight2():
    sc = S.default_scenario()
    sc.update(n_frames=2500, seed=99, peaks=[CAL / "peaks_det108.sav", CAL / "peaks_det101.sav", None, None,
                                            CAL / "peaks_det104.sav", CAL / "peaks_det105.sav", CAL / "peaks_det102.sav"])
    return _run("foxsi2", sc)


@pytest.fixture(scope="module")
def flight1():
    sc = S.default_scenario()
    sc.update(kind="gse", n_frames=1500, seed=98, materials=["Si"] * 7, xy_offset_arcsec=[0.0, 0.0],
              peaks=[CAL / f"peaks_det{d}.sav" for d in (108, 109, 102, 103, 104, 105, 106)])
    return _run("foxsi1", sc)


def _l0_events(l0):
    out = []
    for d in range(7):
        ds = l0[f"d{d}"]
        for i in range(ds.sizes["event"]):
            out.append((d, ds, i))
    return out


def test_level0_hits_follow_the_idl_rule(flight2):
    _, l0, _, _ = flight2
    ties = shared = 0
    for d, ds, i in _l0_events(l0):
        adcs, chans = ds["strip_data"].values[i].tolist(), ds["strip_channel"].values[i].tolist()
        want = idl_hit(adcs, chans)
        assert ds["hit_asic"].values[i].tolist() == [w[0] for w in want]
        assert ds["hit_strip"].values[i].tolist() == [w[1] for w in want]
        assert ds["hit_adc"].values[i].tolist() == [w[2] for w in want]
        ties += any(max(adcs[a]) == max(adcs[a ^ 1]) > 0 for a in (0, 2))
        shared += any(w[0] >= 0 and max(adcs[w[0]]) != adcs[w[0]][1] for w in want)
    assert ties > 20 and shared > 20  # the tie rule and "strip of word B, ADC of the maximum" are exercised


def test_level1_positions_match_idl_exactly(flight2):
    _, _, l1, _ = flight2
    ev = l1["events"]
    fl = settings().flights["foxsi2"]
    for i in range(ev.sizes["event"]):
        d = int(ev["det_num"].values[i])
        mat = fl.detectors[d].material
        xy = {"x": -1, "y": -1}
        for s, side in enumerate("np"):
            a, ch = int(ev["hit_asic"].values[i, s]), int(ev["hit_strip"].values[i, s])
            if a >= 0:
                axis, pix = idl_pixel(mat, side, a, ch)
                xy[axis] = pix
        assert ev["hit_xy_det"].values[i].tolist() == [xy["x"], xy["y"]]
        if xy["x"] >= 0 and xy["y"] >= 0:
            px, py = idl_payload(mat, float(fl.rotation_deg.value[d]), xy["x"], xy["y"])
            assert ev["hit_xy_pay"].values[i].tolist() == pytest.approx([px, py], abs=1e-9)


def test_level1_pixels_are_the_simulated_photon_pixels(flight2):
    """Where the IDL hit is the simulated strip (no tie won by the other ASIC, no empty side),
    the pixel is the simulated one: the simulator's inverse mapping and L1's agree."""
    sim, _, l1, _ = flight2
    ev = l1["events"]
    t = sim.events
    key = {(int(f), int(d)): k for k, (f, d) in enumerate(zip(t["frame"], t["det"]))}
    frame_of_counter = {int(c): i for i, c in enumerate(sim.counter)}
    n = 0
    for i in range(ev.sizes["event"]):
        k = key[(frame_of_counter[int(ev["frame_counter"].values[i])], int(ev["det_num"].values[i]))]
        if ev["hit_asic"].values[i].tolist() == [t["n_asic"][k], t["p_asic"][k]] and \
                ev["hit_strip"].values[i].tolist() == [t["n_chan"][k], t["p_chan"][k]]:
            assert ev["hit_xy_det"].values[i].tolist() == [t["x"][k], t["y"][k]]
            n += 1
    assert n > 0.8 * ev.sizes["event"]


def test_livetime_is_the_idl_formula_exactly(flight2, flight1):
    for _, _, l1, _ in (flight2, flight1):
        ev = l1["events"]
        wrapped = 0
        for i in range(ev.sizes["event"]):
            idl = idl_livetime(int(ev["trigger_time"].values[i]), int(ev["frame_time"].values[i]),
                               int(ev["det_num"].values[i]))
            got = float(ev["livetime"].values[i])
            if idl >= 2 ** 16 * 0.1:  # IDL's one-way wrap (§4): levelpipe subtracts it too
                assert got == idl - 2 ** 16 * 0.1
                wrapped += 1
            else:
                assert got == idl
        assert wrapped > 0


def _idl_error_bits(ev, i, fl):
    """§2b.8, one event."""
    bits = 0
    d = int(ev["det_num"].values[i])
    asic, cm, adc = ev["hit_asic"].values[i], ev["hit_cm"].values[i], ev["hit_adc"].values[i]
    if int(ev["l0_error_flag"].values[i]):
        bits |= 1
    if (asic == -1).any():
        bits |= 2
    if asic[1] >= 0 and cm[1] == 0:
        bits |= 4
    hv = int(float(ev["hv"].values[i]))  # IDL: ishft(HV, -4) / 8 in integers
    t_launch = 69060.0 if "wsmr_time" in ev else None
    if hv != 200 or (t_launch is not None and float(ev["wsmr_time"].values[i]) < t_launch + 90):
        bits |= 8
    if any(asic[k] >= 0 and cm[k] > adc[k] for k in range(2)):
        bits |= 16
    if fl.detectors[d].material == "Si":
        xy = ev["hit_xy_det"].values[i]
        if any(v >= 0 and (v < 3 or v > 124) for v in xy):
            bits |= 32
    lt = float(ev["livetime"].values[i])
    if not (1 <= lt <= 2000):
        bits |= 64
    return bits


def test_error_bits_are_the_seven_idl_bits(flight2):
    _, _, l1, _ = flight2
    ev = l1["events"]
    fl = settings().flights["foxsi2"]
    seen = 0
    for i in range(ev.sizes["event"]):
        want = _idl_error_bits(ev, i, fl)
        assert int(ev["error_flag"].values[i]) == want, i
        seen |= want
    assert seen == 0b1110111  # every bit but 3 (HV is 200 V after the ramp, and 150 s > 90 s)


def test_from_foxsi2_on_only_nominal_hv_events_are_kept(flight2, flight1):
    for (_, l0, l1, _), key in ((flight2, "foxsi2"), (flight1, "foxsi1")):
        total = sum(l0[f"d{d}"].sizes["event"] for d in range(7))
        at_200 = sum(int(((l0[f"d{d}"]["hv_raw"].values >> 4) // 8 == 200).sum()) for d in range(7))
        assert at_200 < total  # the simulated HV ramp has events below 200 V
        n1 = l1["events"].sizes["event"]
        assert n1 == (at_200 if settings().flights[key].keep_only_nominal_hv else total)


def test_energies_within_0_1_kev_of_the_idl_method(flight2):
    _, _, l1, l2 = flight2
    ev = l2
    rng = np.random.default_rng(0)
    peaks = {d: read_peaks(CAL / f"peaks_det{n}.sav") for d, n in SERIALS2.items()}
    idx = rng.choice(ev.sizes["event"], 400, replace=False)
    compared = 0
    for i in idx:
        d = int(ev["det_num"].values[i])
        for s in range(2):
            asic, strip = int(ev["hit_asic"].values[i, s]), int(ev["hit_strip"].values[i, s])
            got = float(ev["hit_energy"].values[i, s])
            if d not in peaks:  # CdTe: no peaks file, no energy
                assert np.isnan(got)
                continue
            if asic < 0 or int(ev["hit_cm"].values[i, s]) > 1023:
                assert np.isnan(got)
                continue
            want = idl_energy(*peaks[d], asic, strip, float(ev["hit_adc"].values[i, s] - ev["hit_cm"].values[i, s]))
            if np.isnan(want):
                assert np.isnan(got)
            else:
                assert abs(got - want) < 0.1
                compared += 1
        s = 1
        if d in peaks and int(ev["hit_asic"].values[i, s]) >= 0 and int(ev["hit_cm"].values[i, s]) <= 1023:
            for r in range(3):
                want = idl_energy(*peaks[d], int(ev["hit_asic"].values[i, s]), int(ev["assoc_channel"].values[i, s, r]),
                                  float(ev["assoc_adc"].values[i, s, r] - ev["hit_cm"].values[i, s]))
                got = float(ev["assoc_energy"].values[i, s, r])
                assert (np.isnan(got) and np.isnan(want)) or abs(got - want) < 0.1
    assert compared > 400


def test_energies_recover_the_simulated_photons(flight2):
    sim, _, _, l2 = flight2
    e = l2["energy"].values
    ok = (l2["error_flag"].values == 0) & np.isfinite(e)
    for line in (13.93, 17.61, 59.54):
        near = ok & (np.abs(e - line) < 1.0)
        assert near.sum() > 30 and abs(np.median(e[near]) - line) < 0.1


def test_common_mode_dither_difference_is_measured(flight2):
    """Decision pinned: no dither by default. With the IDL dither (seeded) energies move by up to
    half an ADC count's worth: median 0.03 keV, 99 % below 0.09 keV; up to 0.4 keV on the strips
    whose fitted gain is small and negative (peaks_det108 ASIC 0)."""
    _, _, l1, l2 = flight2
    assert l2.attrs["common_mode_dither"] == "none"
    s = settings_with(l2={"common_mode_dither": "seeded"})
    fl = s.flights["foxsi2"]
    peaks = {d: CAL / det.peaks_file if det.peaks_file else None for d, det in enumerate(fl.detectors)}
    seeded = level2(l1["events"], flight=fl, l0=s.l0, l2=s.l2, peaks=peaks)
    again = level2(l1["events"], flight=fl, l0=s.l0, l2=s.l2, peaks=peaks)
    diff = np.abs(seeded["hit_energy"].values - l2["hit_energy"].values)
    diff = diff[np.isfinite(diff)]
    print(f"dither |dE|: median {np.median(diff):.4f} keV, 99 % {np.percentile(diff, 99):.4f}, max {diff.max():.4f}")
    assert 0.01 < np.median(diff) < 0.05 and np.percentile(diff, 99) < 0.1 and diff.max() < 0.5
    np.testing.assert_array_equal(seeded["hit_energy"].values, again["hit_energy"].values)  # seeded: repeatable


def test_heliocentric_positions_follow_the_idl_signs(flight2):
    sim, _, _, l2 = flight2
    pitch = ancillary.read_liss(ANCILLARY / "foxsi2_LISS_pitch_STANDIN.txt")
    yaw = ancillary.read_liss(ANCILLARY / "foxsi2_LISS_yaw_STANDIN.txt")
    t = l2["wsmr_time"].values - 69060.0
    for i in range(0, l2.sizes["event"], 37):
        j = int(np.argmin(np.abs(pitch.t - t[i])))  # nearest sample
        px, py = l2["hit_xy_pay"].values[i]
        want = [px + pitch.values[j] + 360.0, py - yaw.values[j] - 180.0]
        np.testing.assert_allclose(l2["hit_xy_solar"].values[i], want, atol=1e-9)
    # and the simulated photons come back within a pixel of where they were on the sky
    tr = sim.events
    frame_of_counter = {int(c): i for i, c in enumerate(sim.counter)}
    key = {(int(f), int(d)): k for k, (f, d) in enumerate(zip(tr["frame"], tr["det"]))}
    good = np.flatnonzero(np.isfinite(l2["hit_xy_solar"].values).all(axis=1))
    off = []
    for i in good:
        k = key[(frame_of_counter[int(l2["frame_counter"].values[i])], int(l2["det_num"].values[i]))]
        if tr["on_detector"][k] and l2["hit_xy_det"].values[i].tolist() == [tr["x"][k], tr["y"][k]]:
            off.append(np.hypot(*(l2["hit_xy_solar"].values[i] - [tr["helio_x"][k], tr["helio_y"][k]])))
    assert len(off) > 100 and max(off) < 7.74 * 0.71 + 0.02  # half a pixel diagonal


def test_detector_temperature_and_altitude(flight2):
    _, l0, l1, _ = flight2
    ev, hk = l1["events"], l1["hk"]
    d1 = ev["det_num"].values == 1
    assert np.isfinite(ev["temperature"].values[d1]).all()
    assert np.isnan(ev["temperature"].values[ev["det_num"].values == 0]).all()  # D0 has no thermistor
    np.testing.assert_allclose(hk["detector_temperature"].values[:, 1], hk["therm7"].values)
    # altitude interpolated on the time after launch from the stand-in tracking file
    tr = ancillary.read_tracking(ANCILLARY / "foxsi2_altitude_STANDIN.txt", 1, 9)
    want = np.interp(ev["wsmr_time"].values - 69060.0, tr.t, tr.values)
    np.testing.assert_allclose(ev["altitude"].values, want)


def test_cdte_and_over_range_common_modes_have_no_energy(flight2):
    _, _, _, l2 = flight2
    cdte = np.isin(l2["det_num"].values, [2, 3])
    assert np.isnan(l2["hit_energy"].values[cdte]).all() and (l2["l2_flag"].values[cdte] & 1).all()
    over = (l2["hit_cm"].values > 1023) & (l2["hit_asic"].values >= 0)
    assert over.any() and np.isnan(l2["hit_energy"].values[over]).all()
    assert (l2["l2_flag"].values[over.any(axis=1)] & 4).all()
