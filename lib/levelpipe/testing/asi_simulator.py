"""Simulated UCalgary imager files in the real formats, and the bundled-sample builder.

- `write_pgm_minute`: a one-minute concatenated 16-bit PGM file with per-frame `#"Key" value`
  headers (gzip with mtime 0, so the bytes are reproducible).
- `simulate_site_hour`: an auroral arc seen through a lens-model skymap, in FILE orientation,
  with a corner dark level and Poisson noise (deterministic for a seed); REGO is 512x512.
- `write_calibration_files`: flatfield and Rayleighs IDL saves for a detector.
- `build_sample`: the documented deterministic command that (re)creates the simulated part of
  resources/asi:  ``python -m levelpipe.testing.asi_simulator resources/asi``
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gzip
import io
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from astropy import units as u

from levelpipe.testing.idlsav_writer import write_sav
from levelpipe.testing.asi_lens_model import lens_model_geometry, look_to_latlon, write_lens_model_skymap

# Where each family lives below the data server's sort_by_project/ tree (archive.py uses it too).
PROJECT_PATH = {"themis": "THEMIS/asi", "rego": "GO-Canada/REGO", "trex_nir": "TREx/NIR",
                "trex_blue": "TREx/blueline", "trex_rgb": "TREx/RGB"}


def pgm_frame(image: np.ndarray, header: Mapping[str, str]) -> bytes:
    """One binary 16-bit PGM frame (file orientation) with its metadata comment lines."""
    h, w = image.shape
    lines = [f'#"{k}" {v}' for k, v in header.items()]
    head = "P5\n" + "\n".join(lines) + f"\n{w} {h}\n65535\n"
    return head.encode("latin1") + np.ascontiguousarray(image, dtype=">u2").tobytes()


def write_pgm_minute(path: str | os.PathLike, images: np.ndarray, headers: Sequence[Mapping[str, str]],
                     compresslevel: int = 6) -> Path:
    """Write frames (frame, row, col) uint16 in file orientation as a .pgm/.pgm.gz/.pgm.bz2."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = b"".join(pgm_frame(im, hd) for im, hd in zip(images, headers))
    if path.name.endswith(".gz"):
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=compresslevel) as g:
            g.write(payload)
        payload = buf.getvalue()
    elif path.name.endswith(".bz2"):
        import bz2
        payload = bz2.compress(payload)
    path.write_bytes(payload)
    return path


def raw_path(root: str | os.PathLike, instrument: str, site: str, device: str, minute: np.datetime64,
             mode: str) -> Path:
    """Where a raw minute file lives in the archive layout (mirrors the data server URLs)."""
    t = minute.astype("datetime64[m]").item()
    name = f"{t:%Y%m%d_%H%M}_{site}_{device}_{mode}.pgm.gz"
    return (Path(root) / PROJECT_PATH[instrument] / "stream0" / f"{t:%Y}" / f"{t:%m}" / f"{t:%d}"
            / f"{site}_{device}" / f"ut{t:%H}" / name)


def simulate_site_hour(root: str | os.PathLike, *, instrument: str, site: str, device: str, mode: str,
                       hour: str, minutes: int, frames_per_minute: int, frames_written: int | None = None, shape: tuple[int, int],
                       site_latitude: float, site_longitude: float, horizon_radius_px: float,
                       east_left: bool, altitude_km: float, exposure_s: float, camera_serial: str | None,
                       arc_latitude: float, arc_width_deg: float, arc_counts: float, background_counts: float,
                       dark_counts: float, seed: int, compresslevel: int = 6) -> list[Path]:
    """Write `minutes` one-minute PGM files of a simulated site-hour; returns their paths.

    Frames are `60 / frames_per_minute` s apart; only the first `frames_written` of each minute
    are written when given (small bundled samples).

    The scene: a zonal auroral arc (Gaussian in latitude at `altitude_km`, drifting 0.5 deg
    poleward over the hour) on a flat background, multiplied by a cos(zenith) vignetting, plus
    a dark level; counts Poisson-distributed; pixels outside the fisheye circle see only dark.
    """
    rng = np.random.default_rng(seed)
    h, w = shape
    el, az, _, _ = lens_model_geometry(shape, (h / 2, w / 2), horizon_radius_px, east_left)
    sky = np.isfinite(el)
    lat, _ = look_to_latlon(site_latitude, site_longitude, np.where(sky, el, 45.0), np.where(sky, az, 0.0),
                            altitude_km * u.km)
    vignetting = np.where(sky, np.cos(np.radians(90.0 - np.where(sky, el, 0.0))) ** 0.3, 0.0)
    start = np.datetime64(hour, "m")
    paths = []
    cadence = 60.0 / frames_per_minute
    for m in range(minutes):
        t0 = start + np.timedelta64(m, "m")
        k = np.arange(frames_written or frames_per_minute)
        frame_times = t0 + (k * cadence * 1e6).astype("timedelta64[us]")
        drift = 0.5 * (m + k / frames_per_minute) / 60.0
        arc = np.exp(-0.5 * ((lat[None] - arc_latitude - drift[:, None, None]) / arc_width_deg) ** 2)
        signal = (background_counts + arc_counts * arc) * vignetting[None]
        counts = rng.poisson(signal + dark_counts).astype(np.float64)
        images = np.clip(counts, 0, 65535).astype(np.uint16)
        headers = []
        for t in frame_times:
            ts = np.datetime_as_string(t, unit="us").replace("T", " ") + " UTC"
            hd = {"Project unique ID": instrument, "Site unique ID": site, "Imager unique ID": device,
                  "Mode unique ID": mode, "Geographic latitude": f"{site_latitude:.6f}",
                  "Geographic longitude": f"{site_longitude:.6f}"}
            if camera_serial:
                hd["Camera Serial Number"] = camera_serial
            hd.update({"Exposure options": f"WIDTH={w} HEIGHT={h} MSEC={exposure_s * 1000:.0f}",
                       "Image request start": ts,
                       "Exposure plus readout": f"{exposure_s * 1000 + 1:.4f} ms"})
            headers.append(hd)
        paths.append(write_pgm_minute(raw_path(root, instrument, site, device, t0, mode), images, headers,
                                      compresslevel))
    return paths


def write_calibration_files(directory: str | os.PathLike, *, project: str, detector: str, valid_from: str,
                            version: str, shape: tuple[int, int], rayleighs_per_dn_per_s: float,
                            vignetting_strength: float) -> tuple[Path, Path]:
    """Flatfield (1 + a r^2 multiplier, file orientation) and Rayleighs (scalar) IDL saves."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    h, w = shape
    r, c = np.meshgrid((np.arange(h) + 0.5 - h / 2) / (h / 2), (np.arange(w) + 0.5 - w / 2) / (w / 2), indexing="ij")
    # rounded to 1e-3 (the precision of a real flatfield) so the bundled files compress well
    ff = np.round(1.0 + vignetting_strength * (r ** 2 + c ** 2), 3).astype(np.float32)
    key = project.lower()
    date = _dt.datetime.strptime(valid_from, "%Y%m%d").strftime("%a %b %d %H:%M:%S %Y")
    ff_path = directory / f"{project}_flatfield_{detector}_{valid_from}-+_v{version}.sav"
    ry_path = directory / f"{project}_Rayleighs_{detector}_{valid_from}-+_v{version}.sav"
    common = {"author": "levelpipe simulator", "input_data_dir": "simulated", "skymap_filename": "none (simulated)"}
    write_sav(ff_path, {f"{key}_flat_field_multiplier": ff, **common}, date=date)
    write_sav(ry_path, {f"{key}_rper_dnpersecond": np.float64(rayleighs_per_dn_per_s), **common}, date=date)
    return ff_path, ry_path


# --- the bundled sample --------------------------------------------------------------------

# Sites (geographic, from the UCalgary site lists / raw headers).
SITES = {"gill": (56.3539, -94.6557), "tpas": (53.8170, -101.2380)}


def skymap_dir(root: Path, instrument: str, site: str, valid_from: str) -> Path:
    sky = "skymaps" if instrument == "themis" else "skymap"
    return root / PROJECT_PATH[instrument] / sky / site / f"{site}_{valid_from}"


def build_sample(root: str | os.PathLike) -> list[Path]:
    """(Re)create the simulated and lens-model part of resources/asi (deterministic)."""
    root = Path(root)
    out: list[Path] = []
    lens = dict(altitudes_km=[90.0, 110.0, 150.0], east_left=True, rotation_deg=0.0, site_altitude_m=0.0)
    # lens-model skymaps for the real THEMIS (gill) and TREx NIR (gill) samples and the simulated sites
    for instrument, project, site, imager, shape, radius, valid_from, alts, east_left in [
        ("themis", "themis", "gill", "themis19", (256, 256), 125.0, "20140101", [90.0, 110.0, 150.0], True),
        ("themis", "themis", "tpas", "themis15", (256, 256), 125.0, "20140101", [90.0, 110.0, 150.0], True),
        ("trex_nir", "nir", "gill", "nir-216", (256, 256), 125.0, "20220101", [90.0, 110.0, 150.0], True),
        ("rego", "rego", "gill", "rego-652", (512, 512), 250.0, "20140101", [230.0], False),
    ]:
        lat, lon = SITES[site]
        kw = {**lens, "altitudes_km": alts, "east_left": east_left}
        out.append(write_lens_model_skymap(
            skymap_dir(root, instrument, site, valid_from), project=project, site=site, imager=imager,
            site_latitude=lat, site_longitude=lon, shape=shape, centre_px=(shape[0] / 2, shape[1] / 2),
            horizon_radius_px=radius, valid_from=valid_from, version="01", decimals=2, **kw))
    # calibration for the real TREx NIR detector 23216 (header Camera Serial Number) and REGO 15652
    out += write_calibration_files(root / PROJECT_PATH["trex_nir"] / "calibration", project="NIR", detector="23216",
                                   valid_from="20210101", version="01", shape=(256, 256),
                                   rayleighs_per_dn_per_s=4.2, vignetting_strength=0.3)
    out += write_calibration_files(root / PROJECT_PATH["rego"] / "calibration", project="REGO", detector="15652",
                                   valid_from="20140101", version="01", shape=(512, 512),
                                   rayleighs_per_dn_per_s=11.5, vignetting_strength=0.25)
    # a THEMIS neighbour of Gillam (The Pas), 6 frames at the time of the real gill sample, for the mosaic
    lat, lon = SITES["tpas"]
    out += simulate_site_hour(root, instrument="themis", site="tpas", device="themis15", mode="full",
                              hour="2014-03-10T06:00", minutes=1, frames_per_minute=20, frames_written=6, shape=(256, 256),
                              site_latitude=lat, site_longitude=lon, horizon_radius_px=125.0, east_left=True,
                              altitude_km=110.0, exposure_s=1.0, camera_serial=None, arc_latitude=56.0,
                              arc_width_deg=0.4, arc_counts=3000.0, background_counts=2000.0,
                              dark_counts=3300.0, seed=20140310)
    # a REGO 512x512 sample (2 frames) at Gillam, calibrated through detector 15652
    lat, lon = SITES["gill"]
    out += simulate_site_hour(root, instrument="rego", site="gill", device="rego-652", mode="6300",
                              hour="2014-03-10T06:00", minutes=1, frames_per_minute=20, frames_written=2, shape=(512, 512),
                              site_latitude=lat, site_longitude=lon, horizon_radius_px=250.0, east_left=False,
                              altitude_km=230.0, exposure_s=2.0, camera_serial="15652", arc_latitude=57.5,
                              arc_width_deg=0.5, arc_counts=600.0, background_counts=60.0,
                              dark_counts=1000.0, seed=20140311)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="directory to (re)create the simulated sample in, e.g. resources/asi")
    args = ap.parse_args(argv)
    for p in build_sample(args.root):
        print(p)


if __name__ == "__main__":
    main()
