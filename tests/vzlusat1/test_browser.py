"""The static HTML frame browser: page, batch files beside it, and rendering in headless Chromium.

L0 and L1 inputs are synthetic datasets of exactly the L0/L1 contract, written with the project's
netCDF writer; the clusters are placed so that orientation and class filtering are visible.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from conftest import family_settings
from levelpipe.errors import ConfigError, TimepixError
from levelpipe.io import write_netcdf
from levelpipe.timepix.browser import frames_dir, write_browser
from levelpipe.timepix.classes import CLASS_NAMES

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")

# Frames of the synthetic folder: {frame number: [(class, [(row, col, keV), ...]), ...]}.
DOT_AT = (10, 200)  # a lone bright pixel near the top right in row/col orientation
CLUSTERS = {
    7: [(1, [(*DOT_AT, 50.0)]),
        (5, [(r, 30, 20.0) for r in range(100, 111)])],
    20: [(2, [(128, 128, 30.0), (128, 129, 31.0), (129, 128, 32.0), (129, 129, 33.0)])],
    34: [],  # corrupt frame: NaN energies, no clusters
    40: [(1, [(5, 5, 12.0)]), (1, [(200, 60, 15.0)])],
}
UNCLUSTERED_PIXEL = (20, (250, 5, 3.0))  # a hit pixel of frame 20 that L1 put in no cluster
FLAG_CORRUPT = 2


@pytest.fixture
def browser_config():
    return family_settings("vzlusat1").section("browser")["browser"]


def _attrs(units, long_name, **kw):
    return {"units": units, "long_name": long_name, **kw}


def make_folder(tmp_path: Path) -> tuple[Path, Path]:
    """Write synthetic L0 and L1 products of one folder; return their paths."""
    frames = np.array(sorted(CLUSTERS), dtype=np.int32)
    n = frames.size
    energy = np.zeros((n, 256, 256), np.float32)
    for i, f in enumerate(frames):
        for _cls, pixels in CLUSTERS[f]:
            for r, c, e in pixels:
                energy[i, r, c] = e
    fi = list(frames).index(UNCLUSTERED_PIXEL[0])
    r, c, e = UNCLUSTERED_PIXEL[1]
    energy[fi, r, c] = e
    corrupt = list(frames).index(34)
    energy[corrupt] = np.nan
    flags = np.zeros(n, np.uint8)
    flags[corrupt] = FLAG_CORRUPT
    time = np.datetime64("2018-02-01T10:00:00", "ns") + np.arange(n) * np.timedelta64(90, "s")
    time[-1] = np.datetime64("NaT")
    per_frame = {
        "image_id": ("frame", np.array([101, 102, 103, -1], np.int64), _attrs("1", "image id on board")),
        "latitude": ("frame", np.array([48.1, 49.0, np.nan, 51.5]), _attrs("degrees_north", "latitude", standard_name="latitude")),
        "longitude": ("frame", np.array([14.2, 15.0, np.nan, 17.9]), _attrs("degrees_east", "longitude", standard_name="longitude")),
        "altitude": ("frame", np.full(n, 512.3), _attrs("km", "altitude")),
        "exposure": ("frame", np.full(n, 60.0), _attrs("s", "exposure time")),
        "measurement_mode": ("frame", np.ones(n, np.int8), {"long_name": "measurement mode",
                             "flag_values": np.array([0, 1, 2, 3], np.int8),
                             "flag_meanings": "unknown tot_energy mpx_counting toa_time"}),
        "threshold": ("frame", np.full(n, 380, np.int32), _attrs("1", "threshold DAC")),
        "bias": ("frame", np.full(n, 15.0), _attrs("V", "bias voltage")),
        "temperature": ("frame", np.array([21.5, 22.0, 22.5, 23.0]), _attrs("degC", "detector temperature")),
        "pixel_count": ("frame", np.count_nonzero(np.nan_to_num(energy), axis=(1, 2)).astype(np.int32),
                        _attrs("1", "number of hit pixels")),
        "frame_flags": ("frame", flags, {"long_name": "frame quality flags",
                                         "flag_masks": np.array([1, 2, 4, 8, 16], np.uint8),
                                         "flag_meanings": "no_metadata corrupt non_energy_mode rebuilt_from_clusters "
                                                          "metadata_from_info_table"}),
    }
    coords = {
        "frame": ("frame", frames, {"long_name": "frame number", "units": "1"}),
        "time": ("frame", time, {"standard_name": "time", "long_name": "end of exposure"}),
    }
    l0 = xr.Dataset({"energy": (("frame", "row", "col"), energy, _attrs("keV", "deposited energy per pixel")),
                     **per_frame},
                    coords={**coords, "row": ("row", np.arange(256), _attrs("1", "raw file line")),
                            "col": ("col", np.arange(256), _attrs("1", "raw file column"))})
    l0_path = tmp_path / "l0" / "folder_a.nc"
    write_netcdf(l0, l0_path, title="synthetic L0", summary="test", mission="vzlusat1", level="L0")

    cl_frame, cl_x, cl_y, cl_class, cl_start, cl_count, cl_energy = [], [], [], [], [], [], []
    p_row, p_col, p_e = [], [], []
    counts = np.zeros((n, 9), np.int32)
    for i, f in enumerate(frames):
        for cls, pixels in CLUSTERS[f]:
            cl_frame.append(f); cl_class.append(cls); cl_start.append(len(p_row)); cl_count.append(len(pixels))
            cl_x.append(min(p[0] for p in pixels)); cl_y.append(min(p[1] for p in pixels))
            cl_energy.append(sum(p[2] for p in pixels))
            for r, c, e in pixels:
                p_row.append(r); p_col.append(c); p_e.append(e)
            counts[i, cls - 1] += 1
    classes = np.arange(1, 10, dtype=np.int32)
    l1 = xr.Dataset(
        {
            "cluster_frame": ("cluster", np.array(cl_frame, np.int32), _attrs("1", "frame number of the cluster")),
            "cluster_pos_x": ("cluster", np.array(cl_x, np.int16), _attrs("1", "bounding box min row")),
            "cluster_pos_y": ("cluster", np.array(cl_y, np.int16), _attrs("1", "bounding box min col")),
            "cluster_class": ("cluster", np.array(cl_class, np.int8), _attrs("1", "track class id")),
            "cluster_pixel_start": ("cluster", np.array(cl_start, np.int64), _attrs("1", "first pixel index")),
            "cluster_pixel_count": ("cluster", np.array(cl_count, np.int32), _attrs("1", "pixels in cluster")),
            "cluster_energy": ("cluster", np.array(cl_energy, np.float32), _attrs("keV", "cluster energy")),
            "pixel_row": ("pixel", np.array(p_row, np.int16), _attrs("1", "pixel row")),
            "pixel_col": ("pixel", np.array(p_col, np.int16), _attrs("1", "pixel column")),
            "pixel_energy": ("pixel", np.array(p_e, np.float32), _attrs("keV", "pixel energy")),
            "class_counts": (("frame", "class"), counts, _attrs("1", "clusters per class")),
            "latitude": per_frame["latitude"], "longitude": per_frame["longitude"],
            "exposure": per_frame["exposure"],
        },
        coords={**coords, "class": ("class", classes, _attrs("1", "track class id")),
                "class_name": ("class", np.array([CLASS_NAMES[c] for c in classes]), {"long_name": "track class"})},
    )
    l1_path = tmp_path / "l1" / "folder_a.nc"
    write_netcdf(l1, l1_path, title="synthetic L1", summary="test", mission="vzlusat1", level="L1")
    return l0_path, l1_path


def embedded_data(html_text: str) -> dict:
    m = re.search(r'<script type="application/json" id="browser-data">(.*?)</script>', html_text, re.S)
    assert m, "no embedded data element"
    return json.loads(m.group(1))


def decode(b64: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype=dtype)


def batch(page: Path, k: int) -> dict:
    """Batch file k of a page: `timepixBrowserBatch({...});` -> the object."""
    text = (frames_dir(page) / f"{k:04d}.js").read_text()
    assert text.startswith("timepixBrowserBatch(") and text.endswith(");\n"), text[:80]
    return json.loads(text[len("timepixBrowserBatch("):-3])


# --- the page (no browser needed) --------------------------------------------------------------

def test_page_and_batch_files_are_local_and_sparse(tmp_path, browser_config):
    l0, l1 = make_folder(tmp_path)
    out = tmp_path / "browser" / "folder_a.html"
    assert write_browser(str(l0), str(l1), str(out), browser_config) == tmp_path / "browser" / "folder_a.frames"
    text = out.read_text()
    # Opens from disk: no network, no fetch; scripts only from the batch folder beside the page.
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", text)
    assert "fetch(" not in text and "XMLHttpRequest" not in text and "http://" not in text and "https://" not in text
    data = embedded_data(text)
    assert data["frames"]["frame"] == [7, 20, 34, 40]
    assert data["frames"]["time"][0] == "2018-02-01T10:00:00Z" and data["frames"]["time"][3] is None
    assert data["frames"]["latitude"][2] is None and data["frames"]["image_id"][3] == -1
    assert data["frames"]["class_counts"][0] == [1, 0, 0, 0, 1, 0, 0, 0, 0]
    assert data["frames"]["hits"] == [12, 5, 0, 2]  # per-frame hit pixels; the corrupt frame has none
    assert data["class_totals"] == [3, 1, 0, 0, 1, 0, 0, 0, 0] and data["n_clusters"] == 5
    assert {"mask": 2, "name": "corrupt"} in data["flag_names"] and data["mode_names"]["1"] == "tot_energy"
    assert data["config"]["batch_sizes"] == browser_config["batch_sizes"]
    assert data["batches"] == {"dir": "folder_a.frames", "frames_per_file": 50, "files": ["0000.js"],
                               "callback": "timepixBrowserBatch"}
    assert "pixels" not in data  # no pixel data in the page itself
    px = batch(out, 0)
    assert px["first"] == 0 and px["offset"] == [0, 12, 17, 17, 19]
    index = decode(px["index"], "<u2")
    energy = decode(px["energy"], "<f4")
    cls = decode(px["class"], "u1")
    rows, cols = index // 256, index % 256
    # Frame 7: the dot at DOT_AT (class 1) and the vertical straight track (class 5).
    f7 = slice(0, 12)
    dot = (rows[f7] == DOT_AT[0]) & (cols[f7] == DOT_AT[1])
    assert dot.sum() == 1 and cls[f7][dot][0] == 1 and energy[f7][dot][0] == 50.0
    assert set(cls[f7][~dot]) == {5} and set(cols[f7][~dot]) == {30}
    # Frame 20: the blob (class 2) and the pixel in no cluster (class 0, listed as "unclustered").
    f20 = slice(12, 17)
    assert sorted(cls[f20].tolist()) == [0, 2, 2, 2, 2]
    assert (rows[f20][cls[f20] == 0][0], cols[f20][cls[f20] == 0][0]) == UNCLUSTERED_PIXEL[1][:2]
    assert {"id": 0, "name": "unclustered"} in data["classes"]
    assert np.allclose(energy[12:17].sum(), 30 + 31 + 32 + 33 + 3)


def test_batches_split_the_frames(tmp_path, browser_config):
    l0, l1 = make_folder(tmp_path)
    out = tmp_path / "two.html"
    write_browser(str(l0), str(l1), str(out), {**browser_config, "frames_per_file": 3})
    assert embedded_data(out.read_text())["batches"]["files"] == ["0000.js", "0001.js"]
    first, second = batch(out, 0), batch(out, 1)
    assert (first["first"], first["offset"]) == (0, [0, 12, 17, 17]) and (second["first"], second["offset"]) == (3, [0, 2])
    assert sorted(decode(second["index"], "<u2").tolist()) == [5 * 256 + 5, 200 * 256 + 60]  # frame 40's dots


def test_page_is_reproducible(tmp_path, browser_config):
    l0, l1 = make_folder(tmp_path)
    a, b = tmp_path / "a" / "x.html", tmp_path / "b" / "x.html"
    write_browser(str(l0), str(l1), str(a), browser_config)
    write_browser(str(l0), str(l1), str(b), browser_config)
    assert a.read_bytes() == b.read_bytes()
    assert (frames_dir(a) / "0000.js").read_bytes() == (frames_dir(b) / "0000.js").read_bytes()


def test_page_survives_markup_in_names(tmp_path, browser_config):
    l0, l1 = make_folder(tmp_path)
    odd = tmp_path / "a<!--b<script>.nc"
    shutil.copy(l0, odd)
    out = tmp_path / "odd.html"
    write_browser(str(odd), str(l1), str(out), browser_config)
    text = out.read_text()
    data = embedded_data(text)
    assert data["folder"] == "a<!--b<script>"
    body = text.split('id="browser-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in body
    assert "<title>VZLUSAT-1 Timepix frames: a&lt;!--b&lt;script&gt;</title>" in text


def test_l1_clusters_of_unknown_frame_is_an_error(tmp_path, browser_config):
    l0, l1 = make_folder(tmp_path)
    ds = xr.open_dataset(l1).load()
    ds["cluster_frame"].values[0] = 999
    bad = tmp_path / "bad_l1.nc"
    write_netcdf(ds, bad, title="bad", summary="t", mission="vzlusat1", level="L1")
    with pytest.raises(TimepixError, match="999"):
        write_browser(str(l0), str(bad), str(tmp_path / "x.html"), browser_config)
    assert not (tmp_path / "x.html").exists()


@pytest.mark.parametrize("change, where", [
    ({"default_batch_size": 3}, "default_batch_size"),
    ({"batch_sizes": [1, 0]}, "batch_sizes"),
    ({"colour_scale": "sqrt"}, "colour_scale"),
    ({"colormap": "no_such_map"}, "colormap"),
    ({"background": "not-a-colour"}, "background"),
    ({"frames_per_file": 0}, "frames_per_file"),
])
def test_bad_browser_config_is_a_one_line_error(change, where):
    with pytest.raises(ConfigError, match=where) as err:
        family_settings("vzlusat1", {"browser": change})
    assert "\n" not in str(err.value) and "vzlusat1.yaml:browser" in str(err.value)


# --- rendering in headless Chromium ----------------------------------------------------------

def _chromium(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium not installed at /usr/bin/chromium (Debian package 'chromium'; "
                    "`make system-deps` installs it)")
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}",
           "--window-size=1400,1000", *args, url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(tmp_path)})
    shutil.rmtree(profile, ignore_errors=True)
    return proc


def _status(dom: str) -> tuple[dict, str]:
    m = re.search(r'<div id="status"([^>]*)>(.*?)</div>', dom, re.S)
    assert m, dom[:2000]
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', m.group(1)))
    return attrs, m.group(2)


@pytest.fixture(params=[50, 3], ids=["one_file", "two_files"])
def page(request, tmp_path, browser_config):
    l0, l1 = make_folder(tmp_path)
    out = tmp_path / "browser" / "folder_a.html"
    write_browser(str(l0), str(l1), str(out), {**browser_config, "frames_per_file": request.param})
    return out


@pytest.mark.browser
@pytest.mark.parametrize("fragment, first, last, drawn", [
    ("", 0, 1, 12),                    # first frame: dot + track
    ("#classes=1", 0, 1, 1),           # class filter: only the dot
    ("#frame=1&classes=2", 1, 2, 4),   # second frame, blobs only: the unclustered pixel is hidden
    ("#batch=5", 0, 4, 19),            # sum of all four frames (corrupt one contributes nothing)
])
def test_browser_renders_in_chromium(tmp_path, page, fragment, first, last, drawn):
    proc = _chromium(tmp_path, page.as_uri() + fragment, "--virtual-time-budget=5000", "--dump-dom")
    attrs, text = _status(proc.stdout)
    assert attrs.get("data-state") == "ready", text
    assert attrs["data-frames"] == "4" and "4 frames, 5 clusters" in text
    assert "dot=3 blob_small=1" in text and "track_straight=1" in text
    assert (int(attrs["data-first"]), int(attrs["data-last"]), int(attrs["data-drawn-pixels"])) == (first, last, drawn)
    # The metadata and class-count tables were filled in by the script.
    assert "2018-02-01 10:00:00" in proc.stdout and "tot_energy" in proc.stdout and "<td>380</td>" in proc.stdout


@pytest.mark.browser
@pytest.mark.parametrize("transpose", [False, True])
def test_browser_screenshot_orientation(tmp_path, page, transpose):
    png = tmp_path / f"shot_{int(transpose)}.png"
    fragment = "#classes=1" + ("&transpose=1" if transpose else "")
    proc = _chromium(tmp_path, page.as_uri() + fragment, "--virtual-time-budget=5000", f"--screenshot={png}")
    assert png.exists(), proc.stderr[-3000:]
    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    assert rgb.std() > 10  # not a blank page
    # The canvas is the big block of pure background black (#000000, the configured background):
    # rows and columns with a long run of black (text is #222 and short).
    black = (rgb == 0).all(axis=2)
    ys, xs = np.nonzero(black.sum(axis=1) > 500)[0], np.nonzero(black.sum(axis=0) > 500)[0]
    assert ys.size and xs.size, "no canvas-sized black area in the screenshot"
    top, bottom, left, right = ys.min(), ys.max(), xs.min(), xs.max()
    assert bottom - top > 700 and right - left > 700  # 256 x pixel_scale 3 = 768 screen pixels
    canvas = rgb[top:bottom + 1, left:right + 1]
    lit = canvas.max(axis=2) > 60
    assert lit.any(), "canvas has no drawn pixel"
    ly, lx = np.nonzero(lit)
    h, w = canvas.shape[:2]
    # Only the dot of frame 7 is shown (class filter). Row 10 / col 200: near the top right in the
    # raw-file orientation; the transposed view puts it near the bottom left.
    row, col = DOT_AT
    exp_y, exp_x = ((col + 0.5) / 256, (row + 0.5) / 256) if transpose else ((row + 0.5) / 256, (col + 0.5) / 256)
    assert abs(ly.mean() / h - exp_y) < 0.01 and abs(lx.mean() / w - exp_x) < 0.01
    assert lit.sum() <= 16  # one detector pixel = a 3 x 3 screen block


# Drives the page's own controls (buttons, selects, checkboxes, frame list, keyboard) after it has
# rendered and records status after each step; appended to a copy of the page in the test only.
_INTERACTION_SCRIPT = """
<script>
(async function () {
  const st = document.getElementById("status"), out = [];
  const renders = () => +(st.dataset.renders || 0);
  // A view may need a batch file first: wait until the page has drawn once more and is ready.
  async function settle(before) {
    while (st.dataset.state !== "ready" || renders() <= before) await new Promise(r => setTimeout(r, 5));
  }
  const rec = () => out.push([st.dataset.first, st.dataset.last, st.dataset.drawnPixels].join(":"));
  async function act(fn) { const before = renders(); fn(); await settle(before); rec(); }
  const choose = (id, v) => { const el = document.getElementById(id); el.value = v; el.dispatchEvent(new Event("change")); };
  await settle(0); rec();
  await act(() => document.getElementById("next").click());
  await act(() => document.querySelector('input[data-cls="0"]').click());
  await act(() => choose("batch", "2"));
  await act(() => document.getElementById("next").click());
  await act(() => document.getElementById("no-classes").click());
  await act(() => document.getElementById("all-classes").click());
  await act(() => document.getElementById("frames").rows[0].click());
  await act(() => document.dispatchEvent(new KeyboardEvent("keydown", {key: "ArrowRight"})));
  await act(() => { document.getElementById("transpose").click(); choose("scale", "linear"); });
  document.body.insertAdjacentHTML("beforeend", '<div id="selftest">' + out.join(",") + "</div>");
})();
</script>
"""


@pytest.mark.browser
def test_browser_controls_in_chromium(tmp_path, page):
    driven = page.with_name("driven.html")
    driven.write_text(page.read_text().replace("</body>", _INTERACTION_SCRIPT + "</body>"))
    shutil.copytree(frames_dir(page), frames_dir(driven))
    proc = _chromium(tmp_path, driven.as_uri(), "--virtual-time-budget=5000", "--dump-dom")
    found = re.findall(r'<div id="selftest">([0-9:,]*)</div>', proc.stdout)  # not the script's own text
    assert found, proc.stdout[-3000:]
    assert found[-1].split(",") == [
        "0:1:12",  # first frame: dot + track
        "1:2:5",   # next: the blob (4 pixels) and the unclustered pixel
        "1:2:4",   # untick "unclustered"
        "0:2:16",  # sum of 2 frames: batch starts at frame 0 -> 12 + 4
        "2:4:2",   # next batch: the corrupt frame (no pixels) + 2 dots
        "2:4:0",   # no class shown
        "2:4:2",   # all classes again
        "0:2:17",  # click the first frame in the list -> its batch
        "2:4:2",   # right arrow key -> next batch
        "2:4:2",   # transposed, linear scale: same pixels
    ]
    attrs, text = _status(proc.stdout)
    assert attrs["data-state"] == "ready" and "linear scale, transposed" in text


@pytest.mark.browser
def test_page_without_its_batch_folder_says_so(tmp_path, browser_config):
    l0, l1 = make_folder(tmp_path)
    out = tmp_path / "browser" / "folder_a.html"
    shutil.rmtree(write_browser(str(l0), str(l1), str(out), browser_config))
    proc = _chromium(tmp_path, out.as_uri(), "--virtual-time-budget=5000", "--dump-dom")
    attrs, text = _status(proc.stdout)
    assert attrs.get("data-state") == "error", text
    assert "cannot load folder_a.frames/0000.js (the page needs its folder folder_a.frames beside it)" in text
