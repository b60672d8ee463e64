"""The MinXSS chain on the bundled sample, step by step through the family's writers: the index,
L0C (real and simulated packets), L0D with every tag of the notes' §11 table, L1, L2/L3, the
quicklooks; every product CF-clean."""
from __future__ import annotations

import numpy as np
import pytest

from cfcheck import cf_errors
from conftest import REPO, RESOURCES
from levelpipe.io.netcdf import read_netcdf
from levelpipe.minxss.family import FAMILY
from levelpipe.settings import load_settings
from levelpipe.steps import Files, StepContext

SETTINGS = load_settings(FAMILY.settings_model, REPO / "config" / "minxss.yaml")
DAY = "2019-01-02"
#: §11 "Field sources for L0D": every tag, written out from the notes' table
L0D_TAGS = """flight_model spacecraft_mode adcs_mode eclipse radio_transmitted radio_received eps_5v_cur
eps_5v_volt sps_xps_pwr_3v sps_xps_pwr_a5v sps_xps_pwr_d5v switch_sps switch_adcs switch_battery_heater
measured_attitude_valid xact_wheel1_measured_speed xact_wheel2_measured_speed xact_wheel3_measured_speed
attitude_quaternion1 attitude_quaternion2 attitude_quaternion3 attitude_quaternion4
xact_measured_sun_body_vector_x xact_measured_sun_body_vector_y xact_measured_sun_body_vector_z
xact_sun_point_angle_error orbit_position_ECI1 orbit_position_ECI2 orbit_position_ECI3 orbit_position_ECEF1
orbit_position_ECEF2 orbit_position_ECEF3 sps_xps_temperature sps_dark_data_hk sps_dark_data_sci sps_sum_hk
sps_xp_integration_time sps_x_hk sps_y_hk sps_data_sci xps_data_hk xps_data_sci x123_board_temperature
x123_detector_temperature x123_accum_time x123_live_time x123_real_time x123_cmp_info x123_flags
x123_read_errors x123_write_errors x123_gp_count x123_spect_len x123_fast_count x123_slow_count
x123_high_voltage x123_radio_flag x123_spectrum longitude latitude altitude sun_right_ascension
sun_declination earth_sun_distance spacecraft_in_saa time""".split()
#: seed tags decided in Q3/Q7/Q8 (sps_xps_count and xps_fov_map have no definition: not produced)
SEED_TAGS = "goes_xrsa_flux goes_xrsb_flux flare_flag sps_x_deg sps_y_deg x123_group_count".split()


@pytest.fixture(scope="module")
def index():
    return FAMILY.index(RESOURCES / "minxss", SETTINGS)


@pytest.fixture(scope="module")
def chain(tmp_path_factory, index):
    out = tmp_path_factory.mktemp("minxss")
    g = index[DAY]

    def run(step, inputs, outputs, day=DAY):
        spec = FAMILY.steps[step]
        # the family's writer with the context a rule gives it (the registry line comes with the workflow)
        ctx = StepContext(FAMILY, step, Files(inputs), Files(outputs), SETTINGS.section(*spec.sections), {"day": day})
        spec.resolve()(ctx)

    l0c = {k: str(out / f"l0c/{DAY}_{k}.nc") for k in ("hk", "sci", "adcs", "log")}
    for k, path in l0c.items():
        run(f"l0c_{k}", {"raw": g.get("raw")}, {k: path})
    l0d = str(out / f"l0d/{DAY}.nc")
    run("l0d", {"sci": [l0c["sci"]], "hk": [l0c["hk"]], "adcs": [l0c["adcs"]], "tle": g.get("tle"),
                "goes": g.get("goes")}, {"l0d": l0d})
    l1 = str(out / f"l1/{DAY}.nc")
    run("l1", {"l0d": l0d}, {"l1": l1})
    l2 = {"1minute": str(out / f"l2/{DAY}_1minute.nc"), "1hour": str(out / f"l2/{DAY}_1hour.nc")}
    run("l2", {"l1": l1, "goes": g.get("goes")}, l2)
    l3 = {"1day": str(out / f"l3/{DAY}_1day.nc")}
    run("l3", {"l1": l1, "goes": g.get("goes")}, l3)
    png = {"spectrogram": str(out / f"quicklook/{DAY}_spectrogram.png"), "orbit": str(out / f"quicklook/{DAY}_orbit.png")}
    run("quicklook", {"l0d": l0d}, png)
    real = {"hk": str(out / "l0c/2018-12-14_hk.nc")}
    run("l0c_hk", {"raw": index["2018-12-14"].get("raw")}, real, day="2018-12-14")
    return {"l0c": l0c, "l0d": l0d, "l1": l1, **l2, **l3, **png, "real_hk": real["hk"]}


def test_index_days_and_roles(index):
    assert index.names == ["2018-12-14", DAY] and not index.refused
    real = index["2018-12-14"]
    assert set(real.files) == {"raw", "hk", "tle"} and len(real.get("hk")) == 2
    sim = index[DAY]
    assert set(sim.files) == {"raw", "hk", "sci", "adcs", "log", "tle", "goes"}
    assert sim.get("tle")[0].endswith("00043758.tle")


def test_small_products_are_cf_clean(chain):
    # The checker's cost grows with the square of the variable count (HK has ~170: ~30 s);
    # the workflow test checks every product once, these few are cheap.
    for key in ("l1", "1day"):
        assert cf_errors(chain[key]) == [], key
    assert cf_errors(chain["l0c"]["log"]) == []


def test_l0c_counts_of_the_bundled_day(chain):
    hk = read_netcdf(chain["l0c"]["hk"])
    # SOURCE.md: one bit flip, one truncation, 7 stray bytes inside a packet, two playback copies
    assert hk.attrs["bad_packets_bad_checksum"] == 1 and hk.attrs["bad_packets_truncated"] == 1
    assert hk.attrs["bad_packets_bad_sync"] == 1 and hk.attrs["bad_packets_total"] == 3
    assert hk.attrs["duplicates_removed"] == 2
    assert np.all(np.diff(hk.time.values) > np.timedelta64(0, "ns"))
    for k in ("time", "apid", "seq_count", "checksum_ok", "flight_model"):
        assert k in hk.variables
    sci = read_netcdf(chain["l0c"]["sci"])
    assert sci.sizes["time"] == 1080 and sci.attrs["records_decoded"] == 1080
    assert read_netcdf(chain["l0c"]["log"]).log_message.values.tolist()[0] == "simulated log message 0"


def test_real_packets_through_l0c(chain):
    hk = read_netcdf(chain["real_hk"])
    assert hk.seq_count.values.tolist() == [1146, 1152, 1155, 1158, 1161]  # the AX.25 copies de-duplicated
    assert hk.attrs["duplicates_removed"] == 2
    assert abs(hk.cdh_batt_v.values[0] - 7.92881) < 5e-6 and hk.flight_model.values[0] == 2
    assert hk.cdh_batt_v.attrs["units"] == "V"


def test_l0d_has_every_tag(chain):
    ds = read_netcdf(chain["l0d"])
    missing = [t for t in L0D_TAGS + SEED_TAGS if t not in ds.variables]
    assert not missing
    assert "sps_xps_count" not in ds.variables and "xps_fov_map" not in ds.variables
    assert ds.x123_spectrum.attrs["units"] == "count" and ds.x123_detector_temperature.attrs["units"] == "degC"
    assert "STAND-IN" in ds.attrs["orbit_source"]
    # the simulated HK gap (01:30:00-01:31:40) is longer than 60 s: bad values there
    gap = (ds.time.values > np.datetime64("2019-01-02T01:30:20")) & (ds.time.values < np.datetime64("2019-01-02T01:30:40"))
    assert np.all(np.isnan(ds.eps_5v_cur.values[gap]))
    assert np.all(ds.switch_sps.values[~np.isnan(ds.eps_5v_cur.values)] == 1)
    assert set(np.unique(ds.spacecraft_in_saa.values)) == {0, 1}
    # GOES only where the real file has data (00:00-00:50)
    has = np.isfinite(ds.goes_xrsb_flux.values)
    assert ds.time.values[has].max() <= np.datetime64("2019-01-02T00:50:00")
    assert np.all(ds.flare_flag.values[has] == 0) and np.all(ds.flare_flag.values[~has] == 255)


def test_l1_and_averages(chain):
    l1 = read_netcdf(chain["l1"])
    assert l1.attrs["good_spectra"] > 500 and "stand-in" in l1.attrs["response"]
    assert l1.attrs["rejected_by_eclipse"] == int((l1.eclipse.values == 1).sum())
    good = l1.good_spectrum.values == 1
    assert np.all(l1.selection_flags.values[good] == 0)
    m1 = read_netcdf(chain["1minute"])
    assert int(m1.number_spectra.sum()) == int(good.sum())
    centres = m1.nominal_time.values
    assert np.all((centres - centres.astype("datetime64[m]")) == np.timedelta64(30, "s"))
    # GOES at the bin centre: halfway between the file's one-minute samples
    import xarray as xr
    g = xr.open_dataset(RESOURCES / "minxss" / "goes" / "sci_xrsf-l2-avg1m_g15_d20190102_truncated.nc")
    k = int(np.flatnonzero(np.isfinite(m1.goes_xrsb_flux.values))[0])
    j = int(np.searchsorted(g.time.values, centres[k]))
    want = 0.5 * (float(g.xrsb_flux.values[j - 1]) + float(g.xrsb_flux.values[j]))
    assert m1.goes_xrsb_flux.values[k] == pytest.approx(want, rel=1e-6)
    d1 = read_netcdf(chain["1day"])
    assert d1.sizes["time"] == 1 and d1.nominal_time.values[0] == np.datetime64("2019-01-02T12:00:00")
    assert int(d1.number_spectra.values[0]) == int(good.sum())


def test_quicklooks_written(chain):
    for key in ("spectrogram", "orbit"):
        data = open(chain[key], "rb").read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000
