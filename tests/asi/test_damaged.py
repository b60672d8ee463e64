"""Damaged and hostile raw, skymap and calibration files: every one is a one-line AsiError naming
the file, or its bad frames are counted by kind and skipped while every intact frame comes back
exactly; never a traceback, a hang or a memory blow-up.

Damaged files are built here from frames written by the simulator's own PGM writer
(levelpipe.testing.asi_simulator.pgm_frame), or from the bundled real THEMIS minute file, and
each damage is applied to bytes the test locates itself.
"""
from __future__ import annotations

import bz2
import gzip
import io
import signal
import struct
import tarfile
import time
import tracemalloc
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from conftest import family_settings
from levelpipe.asi.calibration import read_flatfield, read_rayleighs
from levelpipe.asi.l1 import l1
from levelpipe.asi.readers import FRAME_ERROR_KINDS, read_pgm, read_raw, read_rgb
from levelpipe.asi.skymap import read_skymap
from levelpipe.errors import AsiError
from levelpipe.testing.asi_simulator import pgm_frame

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "asi"
REAL_THEMIS = next(RESOURCES.rglob("20140310_0600_gill_themis19_full.pgm.gz"))
SHAPE = (12, 16)  # rows, cols of the small test frames
FRAMES_PER_FILE = 20
N_FILES = 100


@contextmanager
def within(seconds: float):
    """Fail instead of hanging: SIGALRM after `seconds` of wall time."""
    def alarm(*_):
        raise TimeoutError(f"took more than {seconds} s")
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _header(f: int, k: int, stamp: str | None = None) -> dict[str, str]:
    """Header of frame k of minute file f (06:00 + f minutes)."""
    h = {"Site unique ID": "gill", "Imager unique ID": "themis19", "Mode unique ID": "full",
         "Exposure options": "WIDTH=512 HEIGHT=256 XBIN=2 YBIN=1 MSEC=999"}
    if stamp is not False:
        h["Image request start"] = stamp or f"2014-03-10 {6 + f // 60:02d}:{f % 60:02d}:{3 * k:02d}.063119 UTC"
    h["Exposure plus initial readout"] = "985.07 ms"
    return h


# Damage kinds: what each does to one frame's bytes and which count it must raise.
def _garble_magic(head, pixels):
    return b"Q5" + head[2:] + pixels


def _delete_bytes(head, pixels):
    return head + pixels[:100] + pixels[107:]


def _insert_bytes(head, pixels):
    return head + pixels[:100] + b"\x55" * 9 + pixels[100:]


def _flip_width_digit(head, pixels):
    dims = f"\n{SHAPE[1]} {SHAPE[0]}\n".encode()
    return head.replace(dims, f"\n{SHAPE[1] + 1} {SHAPE[0]}\n".encode()) + pixels


DAMAGE = {  # kind -> (function of (header bytes, pixel bytes), expected count key)
    "garbled_magic": (_garble_magic, "bad_header"),
    "deleted_run_in_pixels": (_delete_bytes, "length_mismatch"),
    "inserted_run_in_pixels": (_insert_bytes, "length_mismatch"),
    "flipped_bit_in_width": (_flip_width_digit, "length_mismatch"),
    "no_timestamp": (None, "no_timestamp"),
    "impossible_timestamp": (None, "bad_time"),
    "other_size": (None, "size_mismatch"),
    "truncated_last_frame": (None, "truncated"),
}


def _damaged_archive(root: Path, suffix: str, seed: int = 11):
    """N_FILES minute files of FRAMES_PER_FILE frames; 1 % of all frames damaged in each way
    (never two neighbours, truncation only on last frames, other sizes never on first ones).
    Returns (paths, intact images in file order (oriented as read), their times, expected counts)."""
    rng = np.random.default_rng(seed)
    total = N_FILES * FRAMES_PER_FILE
    per_kind = total // 100
    taken = np.zeros(total + 2, bool)
    plan: dict[int, str] = {}
    for kind in DAMAGE:
        pos = np.arange(total)
        k_in_file = pos % FRAMES_PER_FILE
        if kind == "truncated_last_frame":
            candidates = pos[k_in_file == FRAMES_PER_FILE - 1]
        else:
            candidates = pos[(k_in_file != FRAMES_PER_FILE - 1) & ((k_in_file != 0) | (kind != "other_size"))]
        candidates = candidates[~taken[candidates] & ~taken[candidates + 1] & ~taken[np.maximum(candidates - 1, 0)]]
        chosen = rng.choice(candidates, per_kind, replace=False)
        for c in chosen:
            taken[c] = True
            plan[int(c)] = kind
    paths, intact, times = [], [], []
    for f in range(N_FILES):
        parts = []
        for k in range(FRAMES_PER_FILE):
            g = f * FRAMES_PER_FILE + k
            image = rng.integers(0, 65535, size=SHAPE, dtype=np.uint16)
            kind = plan.get(g)
            header = _header(f, k)
            if kind == "no_timestamp":
                header = _header(f, k, stamp=False)
            elif kind == "impossible_timestamp":
                header = _header(f, k, stamp=header["Image request start"].replace("2014-", "2041-"))
            elif kind == "other_size":
                image = image[:, :10]
            raw = pgm_frame(image, header)
            cut = len(raw) - image.nbytes
            head, pixels = raw[:cut], raw[cut:]
            if kind in DAMAGE and DAMAGE[kind][0] is not None:
                raw = DAMAGE[kind][0](head, pixels)
            elif kind == "truncated_last_frame":
                raw = raw[:-100]
            if kind is None:
                intact.append(image[::-1])  # documented orientation: rows flipped for THEMIS
                times.append(np.datetime64(header["Image request start"][:-4], "ns"))
            parts.append(raw)
        hour, minute = 6 + f // 60, f % 60
        path = root / f"20140310_{hour:02d}{minute:02d}_gill_themis19_full{suffix}"
        payload = b"".join(parts)
        path.write_bytes(gzip.compress(payload, 1, mtime=0) if suffix == ".pgm.gz" else payload)
        paths.append(path)
    expected = dict.fromkeys(FRAME_ERROR_KINDS, 0)
    for kind in plan.values():
        expected[DAMAGE[kind][1]] += 1
    return paths, intact, times, expected


@pytest.mark.parametrize("suffix", [".pgm", ".pgm.gz"])
def test_one_percent_damaged_each_way_all_intact_frames_back_every_damaged_one_counted(tmp_path, suffix):
    paths, intact, times, expected = _damaged_archive(tmp_path, suffix)
    got_images, got_times = [], []
    counted = dict.fromkeys(FRAME_ERROR_KINDS, 0)
    with within(60):
        for p in paths:
            fr = read_raw(p)
            got_images.extend(fr.images)
            got_times.extend(fr.time)
            for k, v in fr.errors.items():
                counted[k] += v
            assert not fr.stream_damage
    assert len(got_images) == len(intact) == N_FILES * FRAMES_PER_FILE - sum(expected.values())
    np.testing.assert_array_equal(np.stack(got_images), np.stack(intact))  # none accepted with wrong values
    np.testing.assert_array_equal(np.array(got_times), np.array(times))
    assert counted == expected


def _clean_frames():
    clean = read_pgm(REAL_THEMIS)
    assert clean.images.shape[0] == 20 and clean.n_bad == 0
    return clean


def _frames_before(clean_payload: bytes, damaged_payload: bytes) -> int:
    """How many frames of the clean stream lie wholly before the first byte the damaged
    stream decodes differently (located by the test with its own inflate)."""
    n = min(len(clean_payload), len(damaged_payload))
    a = np.frombuffer(clean_payload[:n], np.uint8)
    b = np.frombuffer(damaged_payload[:n], np.uint8)
    diff = np.flatnonzero(a != b)
    first = int(diff[0]) if diff.size else n
    ends = [m + 7 + 256 * 256 * 2 for m in _all(clean_payload, b"\n65535\n")]
    return sum(e <= first for e in ends)


def _all(buf: bytes, needle: bytes) -> list[int]:
    out, i = [], buf.find(needle)
    while i >= 0:
        out.append(i)
        i = buf.find(needle, i + 1 + 256 * 256 * 2)
    return out


def _salvage(data: bytes) -> bytes:
    d, out = zlib.decompressobj(31), []
    for i in range(0, len(data), 256):
        try:
            out.append(d.decompress(data[i:i + 256]))
        except zlib.error:
            break
    return b"".join(out)


def test_flipped_bits_in_a_real_gz_keep_the_frames_before_the_damage_and_count_the_rest(tmp_path):
    clean = _clean_frames()
    data = REAL_THEMIS.read_bytes()
    clean_payload = gzip.decompress(data)
    by_bytes = {im.tobytes() for im in clean.images}
    rng = np.random.default_rng(3)
    path = tmp_path / REAL_THEMIS.name
    for _ in range(12):
        damaged = bytearray(data)
        pos = int(rng.integers(20, len(data) - 8))
        damaged[pos] ^= 1 << int(rng.integers(0, 8))
        path.write_bytes(bytes(damaged))
        with within(20):
            fr = read_pgm(path)
        before = _frames_before(clean_payload, _salvage(bytes(damaged)))
        got = [im.tobytes() for im in fr.images]
        assert got[:before] == [im.tobytes() for im in clean.images[:before]], pos  # kept, in order
        assert fr.images.shape[0] + fr.n_bad == 20, (pos, fr.errors)          # the rest counted
        wrong = sum(g not in by_bytes for g in got)
        assert wrong == 0 or fr.stream_check_failed, pos                     # never passed as clean
        assert fr.stream_damage


def test_a_broken_deflate_stream_keeps_what_decoded_and_estimates_the_loss(tmp_path):
    """gzip of stored blocks with one block's length field destroyed: inflate stops there; the
    frames before are exact and the frames after are counted (from the gzip size trailer)."""
    clean = _clean_frames()
    payload = gzip.decompress(REAL_THEMIS.read_bytes())
    data = bytearray(gzip.compress(payload, 0, mtime=0))
    at = len(data) // 2
    block = data.find(b"\x00\xff\xff\x00\x00", at) - 0  # a stored block header: BFINAL/BTYPE, LEN, NLEN
    data[block + 3] ^= 0xFF                              # NLEN no longer the complement of LEN
    path = tmp_path / REAL_THEMIS.name
    path.write_bytes(bytes(data))
    fr = read_pgm(path)
    n = fr.images.shape[0]
    assert 5 <= n < 20
    np.testing.assert_array_equal(fr.images, clean.images[:n])
    assert fr.images.shape[0] + fr.n_bad == 20, fr.errors
    assert fr.errors["lost_in_damaged_stream"] >= 1 and not fr.stream_check_failed


@pytest.mark.parametrize("fraction", [0.3, 0.75])
def test_truncated_compressed_files_count_the_frames_due_in_the_l1_step(tmp_path, fraction):
    clean = _clean_frames()
    cfg = family_settings("asi")
    for compress, suffix in ((lambda b: REAL_THEMIS.read_bytes(), ".pgm.gz"),
                             (lambda b: bz2.compress(b, 1), ".pgm.bz2")):
        path = tmp_path / REAL_THEMIS.name.replace(".pgm.gz", suffix)
        data = compress(gzip.decompress(REAL_THEMIS.read_bytes()))
        path.write_bytes(data[: int(len(data) * fraction)])
        fr = read_pgm(path)
        n = fr.images.shape[0]
        np.testing.assert_array_equal(fr.images, clean.images[:n])
        ds = l1([path], instruments=cfg.instruments, calibration=cfg.calibration,
                reading=cfg.reading.model_copy(update={"min_good_fraction": 0.0}))
        # THEMIS minute files are due 20 frames (frames_per_minute): the shortfall is counted
        assert ds.attrs["frames_decoded"] + ds.attrs["bad_frames_total"] == 20, (suffix, ds.attrs)
        assert ds.attrs["bad_frames_lost_in_damaged_stream"] >= 1


def test_a_damaged_bz2_block_keeps_the_blocks_before(tmp_path):
    clean = _clean_frames()
    data = bytearray(bz2.compress(gzip.decompress(REAL_THEMIS.read_bytes()), 1))
    data[len(data) // 2] ^= 0x10
    path = tmp_path / REAL_THEMIS.name.replace(".pgm.gz", ".pgm.bz2")
    path.write_bytes(bytes(data))
    fr = read_pgm(path)
    n = fr.images.shape[0]
    assert 3 <= n < 20 and fr.n_bad >= 1 and fr.stream_damage
    np.testing.assert_array_equal(fr.images, clean.images[:n])


def test_blank_header_lines_cost_no_time(tmp_path):
    path = tmp_path / "20140310_0600_gill_themis19_full.pgm.gz"
    path.write_bytes(gzip.compress(b"P5\n" + b"\n" * 60000 + b"P5\n" * 30000, 9, mtime=0))
    assert len(path.read_bytes()) < 400
    t = time.process_time()
    with within(10):
        fr = read_pgm(path)
    assert time.process_time() - t < 1.0
    assert fr.images.shape[0] == 0 and fr.errors["bad_header"] == 1


def _peak_mb(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()
    return peak


def test_a_gz_that_inflates_to_gibibytes_is_refused_with_bounded_memory(tmp_path):
    member = gzip.compress(b"\0" * (8 << 20), 9, mtime=0)
    path = tmp_path / "20140310_0600_gill_themis19_full.pgm.gz"
    path.write_bytes(member * 256)  # 2 GiB inflated, ~2 MB on disk
    limit = family_settings("asi").reading.max_file_mib.to_value("MiB")

    def read():
        with pytest.raises(AsiError, match="inflates to more than") as err:
            read_pgm(path)
        assert str(err.value).startswith(str(path))
    with within(20):
        assert _peak_mb(read) < 3 * limit


def test_hdf5_declaring_a_huge_dataset_is_refused_before_reading(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "20211030_0600_gill_rgb-04_full.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data/images", shape=(2000, 2000, 3, 1000), dtype="u1", chunks=(100, 100, 3, 1),
                         compression="gzip")
        f.create_dataset("data/timestamp", data=np.array([b"2021-10-30 06:00:00.000000 UTC"] * 1000))
        f.create_group("metadata/file")
    assert path.stat().st_size < 1 << 20
    with within(20):
        assert _peak_mb(lambda: pytest.raises(AsiError, read_rgb, path)) < 50
    with pytest.raises(AsiError, match="declares more than"):
        read_rgb(path)


def _png(width: int, height: int, rows: int = 2) -> bytes:
    """A PNG whose header declares width x height, with the data of only a few rows (hand-made
    chunks, so the test does not depend on the decoder it checks)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (rows * (width + 1)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_a_13000_pixel_png_is_counted_not_decoded(tmp_path):
    path = tmp_path / "20200508_060500_122643_gill_rgb-04_320ms_full.png"
    path.write_bytes(_png(13000, 13000))
    with within(20):
        assert _peak_mb(lambda: read_rgb(path)) < 50
    fr = read_rgb(path)
    assert fr.images.shape[0] == 0 and fr.errors["too_large"] == 1


def test_a_sparse_png_tar_member_is_counted_not_read(tmp_path):
    path = tmp_path / "20211030_0600_gill_rgb-04_burst.png.tar"
    good = io.BytesIO()
    from PIL import Image
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(good, format="PNG")
    info = tarfile.TarInfo("20211030_060000_000000_gill_rgb-04_320ms_burst.png")
    info.size = good.tell()
    sparse = tarfile.TarInfo("20211030_060003_000000_gill_rgb-04_320ms_burst.png")
    sparse.type, sparse.size = tarfile.GNUTYPE_SPARSE, 512
    head = bytearray(sparse.tobuf(tarfile.GNU_FORMAT))
    real = 3 << 30  # 3 GiB of holes, 512 bytes stored
    head[386:398] = b"%011o\0" % (real - 512)
    head[398:410] = b"%011o\0" % 512
    head[483:495] = b"%011o\0" % real
    head[148:156] = b" " * 8
    head[148:156] = b"%06o\0 " % sum(head)
    with open(path, "wb") as f:
        f.write(info.tobuf(tarfile.GNU_FORMAT))
        f.write(good.getvalue().ljust(-(-info.size // 512) * 512, b"\0"))
        f.write(bytes(head) + b"\0" * 512 + b"\0" * 1024)
    with within(20):
        assert _peak_mb(lambda: read_rgb(path)) < 50
    fr = read_rgb(path)
    assert fr.images.shape[0] == 1 and fr.errors["too_large"] == 1


def _self_pointing_sav(path: Path) -> Path:
    """56 bytes: the IDL save signature and one record whose next-record offset is itself."""
    body = b"SR\x00\x04" + struct.pack(">iIII", 10, 4, 0, 0)
    path.write_bytes(body.ljust(56, b"\0"))
    return path


@pytest.mark.parametrize("reader,name", [
    (read_skymap, "themis_skymap_gill_20140101-+_v01.sav"),
    (lambda p: read_flatfield(p, "rego"), "REGO_flatfield_15652_20140101-+_v01.sav"),
    (read_rayleighs, "REGO_Rayleighs_15652_20140101-+_v01.sav"),
])
def test_self_pointing_idl_save_is_one_error_not_a_hang(tmp_path, reader, name):
    path = _self_pointing_sav(tmp_path / name)
    with within(10), pytest.raises(AsiError) as err:
        reader(path)
    assert str(err.value).startswith(f"{path}:byte 4:") and "\n" not in str(err.value)


def test_no_asi_module_calls_scipy_readsav_directly():
    """Every IDL save goes through levelpipe.io.idlsav.read_sav (record chain checked first)."""
    lib = Path(__file__).resolve().parents[2] / "lib" / "levelpipe"
    import re
    call = re.compile(r"(?<![\w.])readsav\(|scipy\.io\.readsav\(|from scipy\.io import readsav")
    offenders = [str(p) for p in [*(lib / "asi").rglob("*.py"), *(lib / "testing").glob("asi_*.py")]
                 if call.search(p.read_text())]
    assert offenders == []


def test_one_unreadable_file_is_counted_and_the_hour_kept(tmp_path):
    cfg = family_settings("asi")
    good = tmp_path / REAL_THEMIS.name
    good.write_bytes(REAL_THEMIS.read_bytes())
    bad = tmp_path / "20140310_0601_gill_themis19_full.pgm.gz"
    bad.write_bytes(gzip.compress(b"\0" * (80 << 20), 1, mtime=0))  # inflates beyond the limit
    ds = l1([good, bad], instruments=cfg.instruments, calibration=cfg.calibration, reading=cfg.reading)
    assert ds.sizes["time"] == 20 and ds.attrs["files_unreadable"] == 1
    assert "inflates to more than" in str(ds["file_error"].values[1]) and ds["file_error"].values[0] == ""
    # an hour that decodes almost nothing fails loudly instead
    with pytest.raises(AsiError, match="min_good_fraction"):
        l1([good, bad], instruments=cfg.instruments, calibration=cfg.calibration,
           reading=cfg.reading.model_copy(update={"min_good_fraction": 0.9}))
