"""The ASI chain in the default workflow on the bundled sample: products, values, CF, reruns."""
from __future__ import annotations

import numpy as np
import pytest

from cfcheck import assert_cf_compliant
from conftest import snakemake
from levelpipe.io import read_netcdf

pytestmark = pytest.mark.integration

GRANULES = ["themis_gill_themis19_20140310_ut06", "themis_tpas_themis15_20140310_ut06",
            "trex_nir_gill_nir-216_20220307_ut06", "rego_gill_rego-652_20140310_ut06"]


@pytest.fixture(scope="module")
def run(workflow_run):
    return workflow_run("asi")


def test_products_exist(run):
    res = run / "results" / "asi"
    for g in GRANULES:
        for sub, ext in (("l1", "nc"), ("l2", "nc"), ("keogram", "nc"), ("keogram", "png"),
                         ("quicklook", "png"), ("movie", "mp4")):
            assert (res / sub / f"{g}.{ext}").stat().st_size > 0, (sub, g)
    assert (res / "l1" / "trex_rgb_gill_rgb-04_20200508_ut06.nc").exists()
    assert (res / "mosaic" / "themis_20140310T060010.png").exists()
    mp4 = (res / "movie" / f"{GRANULES[0]}.mp4").read_bytes()
    assert mp4[4:8] == b"ftyp"


def test_values(run):
    res = run / "results" / "asi"
    l1 = read_netcdf(res / "l1" / f"{GRANULES[0]}.nc")
    assert l1.sizes["time"] == 20 and l1["image"].dtype == np.float32
    assert l1["image"].attrs["units"] == "count" and int(l1["skipped_frames"].sum()) == 0
    nir = read_netcdf(res / "l1" / f"{GRANULES[2]}.nc")
    assert nir["image"].attrs["units"] == "1e10 m-2 s-1" and nir.attrs["detector_uid"] == "23216"
    np.testing.assert_allclose(nir["exposure"].values, 5.0)
    l2 = read_netcdf(res / "l2" / f"{GRANULES[3]}.nc")
    prof = l2["image"].isel(time=0).mean("longitude").values
    assert abs(float(l2["latitude"][np.nanargmax(prof)]) - 57.5) <= 0.1
    mosaic = read_netcdf(res / "mosaic" / "themis_20140310T060010.nc")
    assert set(mosaic["site"].values) == {"gill_themis19", "tpas_themis15"}


def _load(path):
    ds = read_netcdf(path)
    ds.attrs.pop("date_created", None)
    return ds


def test_rerun_per_level_gives_identical_products(run):
    res = run / "results" / "asi"
    levels = ("l1", "l2", "keogram", "mosaic")
    # the mosaic and the keogram of one of its two THEMIS site-hours: every level
    chains = ("themis_gill_themis19", "themis_tpas_themis15", "themis_2014")
    before = {p: _load(p) for lvl in levels for p in sorted((res / lvl).glob("*.nc")) if p.name.startswith(chains)}
    # force L1 and ask for those: every level below L1 reruns from new inputs
    targets = [str(p.relative_to(run)) for p in before
               if p.parent.name == "mosaic" or (p.parent.name == "keogram" and p.name.startswith(chains[0]))]
    proc = snakemake(run, "--forcerun", "calibrate_asi_l1", *targets, missions=["asi"])
    log = proc.stdout + proc.stderr
    for rule in ("calibrate_asi_l1", "project_asi_l2", "make_asi_keogram", "make_asi_mosaic"):
        assert f"rule {rule}:" in log, rule
    for p, ds in before.items():
        after = _load(p)
        assert ds.identical(after), p.name


def test_all_netcdf_products_pass_cf(run):
    # last in this module: the compliance checker keeps netCDF handles open, and opening the
    # same files again afterwards has crashed the HDF5 library in this process
    files = sorted((run / "results" / "asi").rglob("*.nc"))
    assert len(files) >= 14
    for f in files:
        assert_cf_compliant(f)


def _planned(proc):
    table = proc.stdout.split("Job stats:")[1].split("total")[0]
    return {line.split()[0]: int(line.split()[1]) for line in table.splitlines()[3:] if line.strip()}


def _retimed_minute(path, keep_from_s: float = 0.0, shift_s: float = 0.0) -> None:
    """Rewrite a real-format PGM minute file in place: frames before `keep_from_s` seconds into
    the minute dropped, the others' "Image request start" moved by `shift_s` (frames split by
    this test's own scan of the known 256x256 layout)."""
    import gzip
    import re
    buf = gzip.decompress(path.read_bytes())
    stamp = re.compile(rb'#"Image request start" (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}) UTC')
    frames, pos = [], 0
    while True:
        end = buf.find(b"\n256 256\n65535\n", pos)
        if end < 0:
            break
        stop = end + len(b"\n256 256\n65535\n") + 256 * 256 * 2
        frames.append(buf[pos:stop])
        pos = stop
    out = []
    for frame in frames:
        t = np.datetime64(stamp.search(frame).group(1).decode().replace(" ", "T"), "us")
        if (t - t.astype("datetime64[m]")) / np.timedelta64(1, "s") < keep_from_s:
            continue
        new = np.datetime_as_string(t + np.timedelta64(int(shift_s * 1e6), "us"), unit="us").replace("T", " ")
        out.append(stamp.sub(f'#"Image request start" {new} UTC'.encode(), frame))
    path.write_bytes(gzip.compress(b"".join(out), 6, mtime=0))


def _shifted_archive(root):
    """The bundled THEMIS and REGO archive with hours that start at other frame times: the real
    gill minute keeps only its frames from 06:00:30, the simulated tpas one is moved by +41.3 s;
    plus one TREx spectrograph minute file in the server layout (TREx NIR and RGB are left out
    to keep the run short: they play no part in the mosaic or the REGO calibration choice)."""
    import shutil
    from conftest import REPO
    shutil.copytree(REPO / "resources" / "asi", root, ignore=shutil.ignore_patterns("fuzz", "TREx"))
    _retimed_minute(next(root.rglob("*_gill_themis19_full.pgm.gz")), keep_from_s=30)
    _retimed_minute(next(root.rglob("*_tpas_themis15_full.pgm.gz")), shift_s=41.3)
    spect = root / "TREx/spectrograph/stream0/2023/05/03/luck_spect-02/ut06/20230503_0600_luck_spect-02_spectra.pgm.gz"
    spect.parent.mkdir(parents=True)
    shutil.copyfile(next(root.rglob("*_gill_themis19_full.pgm.gz")), spect)


def test_default_config_runs_on_an_archive_with_other_frame_times_and_says_what_it_refused(shifted_run):
    """Mosaics are made at the frame time nearest the configured one; a site with no frame
    within the tolerance of it is skipped and counted; spectrograph files are refused, in the log."""
    wd, _root, log = shifted_run
    m = read_netcdf(wd / "results" / "asi" / "mosaic" / "themis_20140310T060010.nc")
    assert m.attrs["mosaic_time"].startswith("2014-03-10T06:00:30.")       # gill's first frame
    assert m.attrs["requested_time"] == "2014-03-10T06:00:10Z"
    assert 20 <= m.attrs["requested_time_offset_s"] <= 21
    assert list(m["site"].values) == ["gill_themis19"]
    assert (m.attrs["sites_without_frame"], m.attrs["sites_without_frame_list"]) == (1, "tpas_themis15")
    assert "trex_spect_luck_spect-02_20230503_ut06" in log and "spectrograph" in log and "not processed" in log
    l1 = read_netcdf(wd / "results" / "asi" / "l1" / "themis_gill_themis19_20140310_ut06.nc")
    assert l1.sizes["time"] == 10 and l1.attrs["bad_frames_total"] == 0


@pytest.fixture(scope="module")
def shifted_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("asi-shifted")
    root = tmp / "asi"
    _shifted_archive(root)
    wd = tmp / "wd"
    proc = snakemake(wd, "--config", f"inputs={{asi: {root}}}", missions=["asi"])
    return wd, root, proc.stdout + proc.stderr


def test_new_calibration_or_skymap_file_reruns_only_the_granules_it_applies_to(shifted_run):
    """The index chooses each granule's calibration files and skymap once and declares only
    those, so a new file reruns exactly the granules whose choice it changes."""
    import shutil
    wd, root, _log = shifted_run
    cfg = f"inputs={{asi: {root}}}"
    assert "Nothing to be done" in (lambda p: p.stdout + p.stderr)(snakemake(wd, "-n", "--config", cfg,
                                                                             missions=["asi"]))
    cal = root / "GO-Canada" / "REGO" / "calibration"
    # a newer flatfield for the REGO camera: only the REGO site-hour and what is made from it
    shutil.copyfile(cal / "REGO_flatfield_15652_20140101-+_v01.sav", cal / "REGO_flatfield_15652_20140301-+_v01.sav")
    planned = _planned(snakemake(wd, "-n", "--config", cfg, missions=["asi"]))
    assert planned == {"calibrate_asi_l1": 1, "project_asi_l2": 1, "make_asi_keogram": 1, "make_asi_movie": 1,
                       "plot_asi_quicklook": 1, "all": 1}, planned
    # a file for another camera, or valid only later, changes nothing
    shutil.move(cal / "REGO_flatfield_15652_20140301-+_v01.sav", cal / "REGO_flatfield_15649_20140301-+_v01.sav")
    shutil.copyfile(cal / "REGO_flatfield_15649_20140301-+_v01.sav", cal / "REGO_flatfield_15652_20150101-+_v01.sav")
    proc = snakemake(wd, "-n", "--config", cfg, missions=["asi"])
    assert "Nothing to be done" in proc.stdout + proc.stderr
    # a newer skymap for tpas: its L2 and keogram, and the mosaic it is part of
    sky = root / "THEMIS" / "asi" / "skymaps" / "tpas"
    new = sky / "tpas_20140301" / "themis_skymap_tpas_20140301-+_v01.sav"
    new.parent.mkdir()
    shutil.copyfile(next(sky.rglob("*.sav")), new)
    planned = _planned(snakemake(wd, "-n", "--config", cfg, missions=["asi"]))
    assert planned == {"project_asi_l2": 1, "make_asi_keogram": 1, "make_asi_mosaic": 1, "all": 1}, planned
