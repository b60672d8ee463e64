"""A full disk (or an exhausted file-size limit) gives one line that says so, naming the product,
and leaves neither the product nor a temporary file behind — for netCDF products and for the
other atomic outputs (PNG, MP4, pickle/JSON files, directory products).

The full disk is a small tmpfs mounted for the test (needs root); the file-size limit is
RLIMIT_FSIZE in a child process (works everywhere)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from levelpipe.io.atomic import OutputError, atomic_output
from levelpipe.io.netcdf import write_netcdf

REPO = Path(__file__).resolve().parents[1]


def _noise_dataset(n=200_000) -> xr.Dataset:
    # random doubles do not compress: ~1.6 MB whatever the writer does
    return xr.Dataset({"noise": (("x",), np.random.default_rng(1).random(n), {"units": "1", "long_name": "noise"})})


@pytest.fixture
def full_disk(tmp_path):
    """A 512 KiB tmpfs (64 inodes), unmounted afterwards."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root (the RLIMIT_FSIZE tests cover the rest)")
    mnt = tmp_path / "small"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,nr_inodes=64,mode=0755", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _assert_disk_full(err: OutputError, product: Path, when: str = "while writing") -> None:
    text = str(err)
    assert "\n" not in text
    assert text.startswith(f"{product}: no space left on device {when} (disk full: ")
    assert text.endswith(f"bytes free on the filesystem of {product.parent})")
    assert not product.exists()
    assert [p.name for p in product.parent.iterdir()] == []  # no temporary file either


def test_netcdf_product_on_a_full_disk(full_disk):
    out = full_disk / "l1.nc"
    with pytest.raises(OutputError) as err:
        write_netcdf(_noise_dataset(), out, title="t", summary="s", mission="test", level="L1")
    _assert_disk_full(err.value, out)
    # (the space itself comes back only when the process ends: netCDF4 keeps the file it could
    # not close open, and the job's process ends right after the error)


def test_png_on_a_full_disk(full_disk):
    from levelpipe.plotting.figures import new_figure, save_png
    fig = new_figure(10, 10, dpi=100)
    fig.add_subplot().imshow(np.random.default_rng(2).random((800, 800)))
    out = full_disk / "quicklook.png"
    with pytest.raises(OutputError) as err:
        save_png(fig, out)
    _assert_disk_full(err.value, out)


def test_mp4_on_a_full_disk(full_disk):
    import imageio
    out = full_disk / "movie.mp4"
    frames = np.random.default_rng(3).integers(0, 255, (20, 256, 256, 3), dtype=np.uint8)
    with pytest.raises(OutputError) as err:
        with atomic_output(out) as tmp:  # as levelpipe.asi.products.write_movie does
            with imageio.get_writer(tmp, format="FFMPEG", fps=10, codec="libx264", quality=8,
                                    pixelformat="yuv420p", macro_block_size=16) as w:
                for frame in frames:
                    w.append_data(frame)
    # imageio-ffmpeg reports no error when ffmpeg fails: the movie is refused after the fact
    _assert_disk_full(err.value, out, "after writing: the file may be incomplete")


def test_plain_file_on_a_full_disk(full_disk):
    out = full_disk / "classifier.pkl"
    with pytest.raises(OutputError) as err:
        with atomic_output(out) as tmp:  # as the classifier and the JSON report are written
            with open(tmp, "wb") as f:
                f.write(np.random.default_rng(4).bytes(2 << 20))
    _assert_disk_full(err.value, out)


def test_directory_product_on_a_full_disk(full_disk):
    out = full_disk / "labelled"
    with pytest.raises(OutputError) as err:
        with atomic_output(out, suffix="") as tmp:  # as the VZLUSAT-1 labelled export
            tmp.unlink()
            tmp.mkdir()
            for n in range(40):
                (tmp / f"{n}_fullres.clusters.txt").write_bytes(np.random.default_rng(n).bytes(32 << 10))
    _assert_disk_full(err.value, out)


def test_no_inodes_left(full_disk):
    n = 0
    with pytest.raises(OSError):
        while True:  # use up the 64 inodes
            (full_disk / f"f{n}").touch()
            n += 1
    out = full_disk / "report.json"
    with pytest.raises(OutputError) as err:
        with atomic_output(out) as tmp:
            tmp.write_text(json.dumps({"a": 1}))
    text = str(err.value)
    assert text.startswith(f"{out}: no space left on device creating the product (disk full: ")
    assert "no inodes free" in text and not out.exists()


def test_a_job_on_a_full_disk_says_so_in_one_line_and_in_its_log(full_disk, tmp_path):
    """What a user sees when a rule's product does not fit: the terminal line of job_log."""
    log = tmp_path / "job.log"
    out = full_disk / "l2.nc"
    script = textwrap.dedent(f"""
        import numpy as np, xarray as xr
        from levelpipe.runlog import job_log
        from levelpipe.io.netcdf import write_netcdf
        ds = xr.Dataset({{"noise": (("x",), np.random.default_rng(1).random(200_000), {{"units": "1", "long_name": "n"}})}})
        with job_log({str(log)!r}, rule="project_asi_l2"):
            write_netcdf(ds, {str(out)!r}, title="t", summary="s", mission="test", level="L2")
        """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.startswith("levelpipe:")]
    assert len(lines) == 1
    assert lines[0].startswith(f"levelpipe: project_asi_l2: {out}: no space left on device while writing (disk full: ")
    assert "NetCDF: HDF error" not in lines[0]
    assert f"{out}: no space left on device" in log.read_text()


def _in_child_with_fsize(limit: int, body: str) -> subprocess.CompletedProcess:
    code = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, resource.RLIM_INFINITY))
        """) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("kind", ["netcdf", "bytes"])
def test_file_size_limit(tmp_path, kind):
    out = tmp_path / f"product-{uuid.uuid4().hex[:6]}.{'nc' if kind == 'netcdf' else 'bin'}"
    if kind == "netcdf":
        body = f"""
            import numpy as np, xarray as xr
            from levelpipe.io.netcdf import write_netcdf
            ds = xr.Dataset({{"noise": (("x",), np.random.default_rng(1).random(200_000), {{"units": "1", "long_name": "n"}})}})
            try:
                write_netcdf(ds, {str(out)!r}, title="t", summary="s", mission="test", level="L1")
            except Exception as err:
                print(type(err).__name__, err)
            """
    else:
        body = f"""
            from levelpipe.io.atomic import atomic_output
            try:
                with atomic_output({str(out)!r}) as tmp:
                    tmp.write_bytes(bytes(1 << 20))
            except Exception as err:
                print(type(err).__name__, err)
            """
    proc = _in_child_with_fsize(300_000, body)
    assert proc.stdout.strip() == (f"OutputError {out}: file size limit reached while writing "
                                   f"(ulimit -f: 300000 bytes per file)"), proc.stdout + proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_other_write_errors_are_not_called_disk_full(tmp_path):
    out = tmp_path / "x.nc"
    with pytest.raises(ZeroDivisionError):
        with atomic_output(out):
            1 / 0
    assert list(tmp_path.iterdir()) == []
