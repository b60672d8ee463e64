"""Small seed files for fuzzing the ASI readers (resources/asi/fuzz), rebuilt byte for byte by

    .venv/bin/python -m levelpipe.testing.asi_fuzz_seeds resources/asi/fuzz

PGM seeds keep the real THEMIS and TREx NIR frame headers of the bundled real files (frame 0
with its long header, frame 1 with its short one) with the frames cropped to 16 x 16 pixels of
their real pixel values; the RGB PNG seeds are 20 x 24 crops of the bundled real PNG; the HDF5
seed follows the layout pyucalgarysrs reads (data/read/_trex_rgb.py lines 297-354) with those
crops; the skymap and calibration seeds are small lens-model / simulated IDL saves. Small seeds
keep a mutation fuzzer fast: every mutation reaches the same code as a full-size file.
"""
from __future__ import annotations

import argparse
import bz2
import gzip
import io
import re
import tarfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
RESOURCES = REPO / "resources" / "asi"
CROP = 16
_HEADER_END = re.compile(rb"\n(\d+) (\d+)\n65535\n")


def _real_frames(path: Path, n: int) -> list[tuple[bytes, np.ndarray]]:
    """The first `n` (header text up to the dimensions, pixels) of a real PGM minute file,
    split by this module's own simple scan (the files are known to be clean)."""
    buf = gzip.decompress(path.read_bytes())
    out, pos = [], 0
    for _ in range(n):
        m = _HEADER_END.search(buf, pos)
        w, h = int(m.group(1)), int(m.group(2))
        pixels = np.frombuffer(buf, ">u2", w * h, m.end()).reshape(h, w)
        out.append((buf[pos:m.start() + 1], pixels))
        pos = m.end() + w * h * 2
    return out


def _cropped_pgm(path: Path) -> bytes:
    parts = []
    for head, pixels in _real_frames(path, 2):
        h, w = pixels.shape
        crop = pixels[h // 2 - CROP // 2:h // 2 + CROP // 2, w // 2 - CROP // 2:w // 2 + CROP // 2]
        parts.append(head + f"{CROP} {CROP}\n65535\n".encode() + np.ascontiguousarray(crop, ">u2").tobytes())
    return b"".join(parts)


def _png_crops() -> list[bytes]:
    from PIL import Image
    src = next(RESOURCES.rglob("*_rgb-04_320ms_full.png"))
    with Image.open(src) as im:
        rgb = np.asarray(im.convert("RGB"))
    out = []
    for k in range(2):
        crop = rgb[200 + 10 * k:220 + 10 * k, 260:284]
        b = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(crop)).save(b, format="PNG", optimize=False, compress_level=6)
        out.append(b.getvalue())
    return out


def build_seeds(out: str | Path) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    made = []

    def write(name: str, data: bytes) -> None:
        (out / name).write_bytes(data)
        made.append(out / name)

    themis = _cropped_pgm(next(RESOURCES.rglob("20140310_0600_gill_themis19_full.pgm.gz")))
    nir = _cropped_pgm(next(RESOURCES.rglob("20220307_0600_gill_nir-216_8446.pgm.gz")))
    write("20140310_0600_gill_themis19_full.pgm", themis)
    write("20140310_0600_gill_themis19_full.pgm.gz", gzip.compress(themis, 6, mtime=0))
    write("20140310_0600_gill_themis19_full.pgm.bz2", bz2.compress(themis, 9))
    write("20220307_0600_gill_nir-216_8446.pgm.gz", gzip.compress(nir, 6, mtime=0))
    pngs = _png_crops()
    write("20200508_060500_122643_gill_rgb-04_320ms_full.png", pngs[0])
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for k, data in enumerate(pngs):
            info = tarfile.TarInfo(f"20211030_06000{3 * k}_149606_gill_rgb-04_320ms_burst.png")
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tf.addfile(info, io.BytesIO(data))
    write("20211030_0600_gill_rgb-04_burst.png.tar", tar.getvalue())
    made.append(_h5_seed(out / "20211030_0600_gill_rgb-04_full.h5", pngs))
    made += _sav_seeds(out)
    return made


def _h5_seed(path: Path, pngs: list[bytes]) -> Path:
    import h5py
    from PIL import Image
    frames = np.stack([np.asarray(Image.open(io.BytesIO(p)).convert("RGB")) for p in pngs], axis=-1)
    path.unlink(missing_ok=True)
    with h5py.File(path, "w", track_order=True) as f:
        f.create_dataset("data/images", data=frames)   # (row, col, channel, frame)
        f.create_dataset("data/timestamp", data=np.array([b"2021-10-30 06:00:00.149606 UTC",
                                                          b"2021-10-30 06:00:03.149606 UTC"]))
        meta = f.create_group("metadata/file")
        meta.attrs["site_unique_id"] = "gill"
        meta.attrs["imager_unique_id"] = "rgb-04"
        for k in range(2):
            frame = f.create_group(f"metadata/frame/frame{k}")
            frame.attrs["image_request_start_timestamp"] = f"2021-10-30 06:00:0{3 * k}.149606 UTC"
            frame.attrs["subframe_requested_exposure"] = "320.000 ms"
    return path


def _sav_seeds(out: Path) -> list[Path]:
    from levelpipe.testing.asi_lens_model import write_lens_model_skymap
    from levelpipe.testing.asi_simulator import SITES, write_calibration_files
    lat, lon = SITES["gill"]
    sky = write_lens_model_skymap(out, project="themis", site="gill", imager="themis19", site_latitude=lat,
                                  site_longitude=lon, site_altitude_m=0.0, shape=(CROP, CROP),
                                  centre_px=(CROP / 2, CROP / 2), horizon_radius_px=CROP / 2 - 0.5, east_left=True,
                                  rotation_deg=0.0, altitudes_km=[90.0, 110.0, 150.0], valid_from="20140101",
                                  version="01", decimals=2)
    cal = write_calibration_files(out, project="REGO", detector="15652", valid_from="20140101", version="01",
                                  shape=(CROP, CROP), rayleighs_per_dn_per_s=11.5, vignetting_strength=0.25)
    return [sky, *cal]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="directory for the seeds, e.g. resources/asi/fuzz")
    for p in build_seeds(ap.parse_args(argv).out):
        print(p)


if __name__ == "__main__":
    main()
