"""Level 0D rules: the 60 s / 300 s edges, Q4/Q5, the §9 interpolation known answers, the §12 SAA
points and Sun values, and an orbit position against sgp4 run directly."""
from __future__ import annotations

import numpy as np
import pytest
from astropy.time import Time

from conftest import REPO, RESOURCES
from levelpipe.minxss import geometry, packets
from levelpipe.minxss.l0d import interpolate
from levelpipe.minxss.settings import MinxssSettings
from levelpipe.settings import load_settings

SETTINGS = load_settings(MinxssSettings, REPO / "config" / "minxss.yaml")
T0 = np.datetime64("2019-01-02T00:00:00", "ns")
S = np.timedelta64(1, "s")
MS = np.timedelta64(1, "ms")


def _limit(kind):
    return np.timedelta64(int(getattr(SETTINGS.l0d.limits, f"{kind}_s").to_value("s")), "s")


@pytest.mark.parametrize("kind", ["hk", "adcs"])
def test_limit_edges_just_inside_and_just_outside(kind):
    lim = _limit(kind)
    ts = np.array([T0, T0 + 2 * lim + 2 * S])                 # two samples 2*limit + 2 s apart
    v = np.array([10.0, 20.0])
    inside = np.array([T0 + lim, T0 + lim + 2 * S])           # exactly `limit` from one neighbour
    vals, bad = interpolate(ts, v, inside, lim)
    # t0+lim: lower exactly at the limit (not bad), upper at lim + 2 s (bad)
    assert bad.tolist() == [True, True]
    ts = np.array([T0, T0 + 2 * lim])
    vals, bad = interpolate(ts, v, np.array([T0 + lim]), lim)
    assert not bad[0] and vals[0] == pytest.approx(15.0)      # both neighbours exactly at the limit
    ts = np.array([T0, T0 + 2 * lim + 2 * MS])
    vals, bad = interpolate(ts, v, np.array([T0 + lim + MS]), lim)
    assert bad[0] and np.isnan(vals[0])                       # both 1 ms beyond: strictly farther
    ts = np.array([T0, T0 + lim + 10 * S])
    vals, bad = interpolate(ts, v, np.array([T0 + lim - MS, T0 + lim + MS]), lim)
    assert not bad[0] and bad[1]                              # lower 1 ms inside, then 1 ms outside


def test_no_extrapolation_and_exact_sample_time():
    ts = np.array([T0, T0 + 10 * S])
    v = np.array([1.0, 3.0])
    vals, bad = interpolate(ts, v, np.array([T0 - S, T0, T0 + 10 * S, T0 + 11 * S]), _limit("hk"))
    assert bad.tolist() == [True, False, False, True]
    assert vals[1] == 1.0 and vals[2] == 3.0                  # Q5: the sample's own value


def test_flags_take_the_nearest_previous_sample():
    ts = np.array([T0, T0 + 30 * S])
    v = np.array([0.0, 1.0])
    vals, bad = interpolate(ts, v, np.array([T0 + 29 * S, T0 + 30 * S, T0 + 90 * S, T0 + 91 * S]),
                            _limit("hk"), rule="flag")
    assert vals[:3].tolist() == [0.0, 1.0, 1.0] and bad.tolist() == [False, False, False, True]
    lin, _ = interpolate(ts, v, np.array([T0 + 15 * S]), _limit("hk"))
    assert lin[0] == 0.5                                      # IDL's linear rule gives a fraction


def test_known_answers_interpolated_across_the_real_packets():
    """§9: cdh_batt_v 7.921222 V and XACT_Wheel1MeasSpeed 35.30973 rad/s at GPS 1228845793.0."""
    r = packets.read_file(RESOURCES / "minxss" / "raw" / "Min_pkt_data_20181214.bin", SETTINGS)
    hk = r.packets["hk"].columns
    target = np.array([np.datetime64("2018-12-14T18:02:55", "ns")])  # GPS 1228845793.0 - 18 s
    v, bad = interpolate(hk["time"], hk["cdh_batt_v"], target, _limit("hk"))
    assert not bad[0] and abs(v[0] - 7.921222) < 5e-7
    v, _ = interpolate(hk["time"], hk["xact_wheel1_measured_speed"], target, _limit("hk"))
    assert abs(v[0] - 35.30973) < 5e-6


def test_saa_points_of_the_notes():
    saa = SETTINGS.l0d.saa
    inside = [(-45, -25), (-60, -30), (0, -30), (20, -40), (35, -30), (-90, -20), (-30, 3)]
    outside = [(0, 50), (45, -30), (-100, -20)]
    pts = np.array(inside + outside, dtype=float)
    got = geometry.in_saa(pts[:, 0], pts[:, 1], saa.longitude_deg, saa.latitude_deg, saa.winding_threshold_rad)
    assert got.tolist() == [True] * len(inside) + [False] * len(outside)
    assert len(saa.latitude_deg) == 33


def test_sun_of_the_notes():
    t = Time("2018-12-14T18:02:48.157", scale="utc")
    ra, dec, dist = geometry.sun_vector(np.array([t.jd]))
    assert abs(ra[0] - 262.0474) < 5e-5 and abs(dec[0] + 23.2348) < 5e-5 and abs(dist[0] - 0.984320) < 5e-7
    from astropy.coordinates import TETE, get_sun
    tete = get_sun(t).transform_to(TETE(obstime=t))
    assert abs(tete.ra.deg - 262.0439) < 5e-5 and abs(tete.dec.deg + 23.2339) < 5e-5
    assert abs(ra[0] - tete.ra.deg) < 0.01 and abs(dec[0] - tete.dec.deg) < 0.01


def test_orbit_position_against_sgp4_directly():
    from sgp4.api import Satrec

    tle = geometry.read_tle(RESOURCES / "minxss" / "tle" / "00043758.tle")
    assert tle.epochs_jd.size == 2
    (a1, a2), (b1, b2) = tle.lines
    sa, sb = Satrec.twoline2rv(a1, a2), Satrec.twoline2rv(b1, b2)
    e0, e1 = tle.epochs_jd
    # at the first epoch only the first set counts (f = 0)
    got = geometry.teme_positions(tle, np.array([e0]), 90.0)[0]
    err, want, _ = sa.sgp4(sa.jdsatepoch, sa.jdsatepochF)
    assert err == 0 and np.allclose(got, want, atol=1e-6)
    # a quarter of the way: the blend of both, each propagated by sgp4 itself
    jd = e0 + 0.25 * (e1 - e0)
    whole = np.floor(jd - 0.5) + 0.5
    _, ra, _ = sa.sgp4(whole, jd - whole)
    _, rb, _ = sb.sgp4(whole, jd - whole)
    got = geometry.teme_positions(tle, np.array([jd]), 90.0)[0]
    assert np.allclose(got, 0.75 * np.array(ra) + 0.25 * np.array(rb), atol=1e-6)
    # before the first epoch nothing, 100 days after the last nothing (90-day extrapolation)
    assert np.all(np.isnan(geometry.teme_positions(tle, np.array([e0 - 1, e1 + 100]), 90.0)))
    # IDL mode: atan2 formulas on the TEME vector with the IAU-1982 GMST, |r| - 6371 km
    t = Time(jd, format="jd", scale="utc")
    lon, lat, alt, _ = geometry.geographic(got[None, :], np.array([t.datetime64]), "idl", 6371.0)
    gmst = t.sidereal_time("mean", "greenwich", model="IAU1982").deg
    assert lon[0] == pytest.approx((np.degrees(np.arctan2(got[1], got[0])) - gmst + 180) % 360 - 180)
    assert lat[0] == pytest.approx(np.degrees(np.arctan2(got[2], np.hypot(got[0], got[1]))))
    assert alt[0] == pytest.approx(np.linalg.norm(got) - 6371.0)
    lon_w, lat_w, alt_w, _ = geometry.geographic(got[None, :], np.array([t.datetime64]), "wgs84", 6371.0)
    # geodetic vs geocentric: a few tenths of a degree and some km, as §12 says (Q6)
    assert abs(lon_w[0] - lon[0]) < 0.05 and abs(lat_w[0] - lat[0]) < 0.3 and abs(alt_w[0] - alt[0]) < 25


def test_shadow_cylinder():
    s = np.array([[1.0, 0.0, 0.0]] * 3)
    r = np.array([[-7000.0, 0.0, 0.0], [-7000.0, 6400.0, 0.0], [7000.0, 0.0, 0.0]])
    assert geometry.in_shadow(r, s, 6378.137).tolist() == [True, False, False]


# ---------------------------------------------------------------- decisions on a short simulated stream

import datetime as _dt  # noqa: E402

from levelpipe.io.netcdf import write_netcdf  # noqa: E402
from levelpipe.io.variables import load_table  # noqa: E402
from levelpipe.minxss import l0c, l0d  # noqa: E402
from levelpipe.testing import minxss_simulator as sim  # noqa: E402


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("l0d")
    start = _dt.datetime(2019, 1, 2, 0, 10)
    g0 = sim.gps_seconds(start)
    stream, seq = [], 0
    for i in range(6):  # SCI records every 10 s from 00:10:00 (real_time 10 s)
        rec = sim.SciRecord(g0 + 10 * i + 5, np.r_[np.full(100, 5), np.zeros(924)].astype(int))
        segs = sim.sci_segments(rec, seq)
        seq += len(segs)
        stream += segs
    for i in range(-2, 10):  # HK every 6 s, the wheel speed ramps 1 rad/s per HK sample
        stream.append(sim.hk_packet(g0 + 6 * i + 1.5, 100 + i, {"wheel1_speed": 10.0 + i, "sps_x": -2869},
                                    enables=["sps_xps"] + (["batt_heater"] if i < 4 else [])))
    f = tmp / "s.bin"
    f.write_bytes(b"".join(stream))
    paths = {}
    for kind, ds in l0c.l0c([f], "2019-01-02", settings=SETTINGS).items():
        if kind.startswith("_"):
            continue
        paths[kind] = tmp / f"{kind}.nc"
        write_netcdf(ds, paths[kind], title="t", summary="s", mission="minxss", level="L0C",
                     table=load_table("levelpipe.minxss", f"l0c_{kind}"))
    return paths


def _run(small, **l0d_over):
    s = SETTINGS.model_copy(update={"l0d": SETTINGS.l0d.model_copy(update=l0d_over)})
    goes = [RESOURCES / "minxss" / "goes" / "sci_xrsf-l2-avg1m_g15_d20190102_truncated.nc"]
    return l0d.l0d([small["sci"]], [small["hk"]], [], RESOURCES / "minxss" / "tle" / "00043758.tle", goes,
                   "2019-01-02", settings=s)


def test_q1_interpolation_target(small):
    mid = _run(small)
    idl = _run(small, idl_compatible_interp_time=True)
    # HK sample k at 00:10:00 + 6k s has wheel speed 10 + k: at time T the value is 10 + T/6
    t = (mid.time.values - np.datetime64("2019-01-02T00:10:00")) / np.timedelta64(1, "s")
    np.testing.assert_allclose(mid.xact_wheel1_measured_speed.values, 10 + t / 6, atol=1e-9)
    np.testing.assert_allclose(idl.xact_wheel1_measured_speed.values, 10 + (t - 5) / 6, atol=1e-9)
    assert idl.attrs["interpolation_target"].endswith("(IDL)")


def test_q3_q4_q8_fields(small):
    ds = _run(small)
    assert np.allclose(ds.sps_x_hk.values, -2869 / 1000 * 3.0) and np.allclose(ds.sps_x_deg.values, -2869 / 1e4 * 3.0)
    # battery heater off from the HK sample at 00:10:24: the record at 00:10:20 sits between an "on"
    # (00:10:18) and an "off" sample; the nearest previous gives 1, IDL's blend 0.67 truncates to 0
    assert ds.switch_battery_heater.values.tolist() == [1, 1, 1, 0, 0, 0]
    lin = _run(small, flags_nearest_previous=False)
    assert lin.switch_battery_heater.values.tolist() == [1, 1, 0, 0, 0, 0]
    # GOES at 00:10-00:11 is ~1e-8 W m-2: no flare at the C1 threshold, a "flare" at 1e-9
    assert np.all(ds.flare_flag.values == 0)
    import astropy.units as u
    low = _run(small, flare=SETTINGS.l0d.flare.model_copy(update={"xrsb_threshold_w_m2": 1e-9 * u.W / u.m ** 2}))
    assert np.all(low.flare_flag.values == 1)


def test_q12_battery_formula_follows_the_fm_bits(tmp_path):
    g = sim.gps_seconds(_dt.datetime(2019, 1, 2, 1))
    p = bytearray(sim.hk_packet(g, 1, {"eps_batt_temp1": 9.0}))
    raw = p[170] | p[171] << 8
    for bits, want in ((3, raw * 0.307 - 373.0), (2, raw * 0.307 - 373.0), (1, raw * 0.18766 - 250.2)):
        q = bytearray(p)
        q[51] = (q[51] & ~0x30) | bits << 4
        body = bytes(q[:-4])
        f = tmp_path / f"fm{bits}.bin"
        f.write_bytes(body + sim.fletcher_check(body) + sim.SYNC)
        hk = packets.read_file(f, SETTINGS).packets["hk"].columns
        assert hk["eps_batt_temp1"][0] == pytest.approx(want), bits


def test_q13_power_board_temperature_formula(tmp_path):
    g = sim.gps_seconds(_dt.datetime(2019, 1, 2, 1))
    p = bytearray(sim.hk_packet(g, 1, {}))
    p[178], p[179] = 0x34, 0x03            # word 0x0334: int16((0x34 << 6) + (0x03 << 14)) / 256
    body = bytes(p[:-4])
    f = tmp_path / "t.bin"
    f.write_bytes(body + sim.fletcher_check(body) + sim.SYNC)
    hk = packets.read_file(f, SETTINGS).packets["hk"].columns
    v = (0x34 << 6) + (0x03 << 14)
    want = (v - 65536 if v >= 32768 else v) / 256
    assert hk["sps_xps_pwr_temp"][0] == pytest.approx(want)


def test_a_goes_file_that_would_hang_libhdf5_is_refused_at_once(tmp_path):
    """Found by `make fuzz`: a global heap object of index 0 and size 0 makes libhdf5 loop for
    ever inside netCDF4.Dataset; read_goes checks the heaps first (levelpipe.io.hdf5)."""
    import time

    from levelpipe.minxss.errors import MinxssError
    from levelpipe.minxss.goes import read_goes

    src = RESOURCES / "minxss" / "goes" / "sci_xrsf-l2-avg1m_g15_d20190102_truncated.nc"
    data = bytearray(src.read_bytes())
    obj = data.find(b"GCOL") + 16
    data[obj:obj + 2] = b"\0\0"
    data[obj + 8:obj + 16] = bytes(8)
    bad = tmp_path / src.name
    bad.write_bytes(bytes(data))
    t0 = time.monotonic()
    with pytest.raises(MinxssError, match="damaged HDF5 global heap") as err:
        read_goes([bad])
    assert time.monotonic() - t0 < 2
    assert str(err.value).startswith(str(bad)) and "\n" not in str(err.value)
