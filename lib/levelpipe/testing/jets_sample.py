"""The bundled Solar Jet Hunter sample (resources/jets/), made from the real AIA file.

`make_cutouts`: a 32 x 32 pixel cutout of the real ``aia_171_level1.fits`` (sunpy's test file,
2011-02-15, 19.18"/px) around its brightest active region, repeated as `n_frames` frames 12 s
apart (DATE-OBS shifted), with a SIMULATED jet added: a Gaussian ridge from a fixed base that
grows at constant speed to its full length and fades. Only DATE-OBS/T_OBS and the data differ
from the real frame; the WCS, observer and other keys are the real ones (a trimmed header).

`make_classifications`: SIMULATED volunteers' classifications of the sample's subjects in the
export format of §5.1-5.2 (workflow 15803's layout: T0 question, T1 start point, T2 end point,
T3 rotateRectangle), written from the notes and not from levelpipe's reader: marks are placed
with their own PNG-pixel formula (§3.4 written out again here) on the PNGs' recorded axes.

Run as ``python -m levelpipe.testing.jets_sample SHARED_AIA_FILE OUT_DIR`` (the SOURCE.md
commands).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

#: header keys kept from the real frame (WCS, time, observer, instrument)
KEEP_KEYS = ("TELESCOP", "INSTRUME", "WAVELNTH", "WAVEUNIT", "DATE-OBS", "T_OBS", "EXPTIME", "QUALITY",
             "LVL_NUM", "CTYPE1", "CTYPE2", "CUNIT1", "CUNIT2", "CRVAL1", "CRVAL2", "CDELT1", "CDELT2",
             "CRPIX1", "CRPIX2", "CROTA2", "RSUN_OBS", "RSUN_REF", "DSUN_OBS", "HGLN_OBS", "HGLT_OBS",
             "CRLN_OBS", "CRLT_OBS", "HAEX_OBS", "HAEY_OBS", "HAEZ_OBS", "PIXLUNIT", "IMG_TYPE", "ORIGIN")

#: the simulated jet, in pixels of the cutout (0-based) and frames
CROP = (54, 34, 32)            # x0, y0 (0-based, in the 128^2 frame), side
JET = {"base": (5.0, 17.0), "angle_deg": 60.0, "length_px": 12.0, "width_px": 0.8, "amplitude_dn": 2500.0,
       "start_frame": 3, "grow_frames": 8, "end_frame": 20}
CADENCE_S = 12.0
N_FRAMES = 24
EVENT_ID = "sample_SOL2011-02-15T00-00-00"


def jet_image(frame: int, shape=(32, 32)) -> np.ndarray:
    """The simulated jet's added brightness (DN) in one frame."""
    j = JET
    if not j["start_frame"] <= frame <= j["end_frame"]:
        return np.zeros(shape)
    grow = min(1.0, (frame - j["start_frame"] + 1) / j["grow_frames"])
    fade = 1.0 - max(0, frame - (j["start_frame"] + j["grow_frames"])) / (j["end_frame"] - j["start_frame"] + 2)
    length = j["length_px"] * grow
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    t = np.radians(j["angle_deg"])
    dx, dy = xx - j["base"][0], yy - j["base"][1]
    along = dx * np.cos(t) + dy * np.sin(t)
    across = -dx * np.sin(t) + dy * np.cos(t)
    inside = (along >= 0) & (along <= length)
    return j["amplitude_dn"] * fade * inside * np.exp(-0.5 * (across / j["width_px"]) ** 2)


def make_cutouts(aia_file: Path, out_dir: Path) -> list[Path]:
    from astropy.io import fits
    from astropy.time import Time, TimeDelta
    with fits.open(aia_file) as hdul:
        hdu = hdul[0] if hdul[0].data is not None else hdul[1]
        data = np.asarray(hdu.data, dtype=np.float64)
        head = hdu.header
    x0, y0, side = CROP
    crop = data[y0:y0 + side, x0:x0 + side]
    t0 = Time(head["DATE-OBS"], scale="utc")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(N_FRAMES):
        h = fits.Header()
        for key in KEEP_KEYS:
            if key in head:
                h[key] = head[key]
        h["CRPIX1"] = head["CRPIX1"] - x0   # FITS: the crop's first pixel is x0 + 1 of the full frame
        h["CRPIX2"] = head["CRPIX2"] - y0
        t = t0 + TimeDelta(k * CADENCE_S, format="sec")
        h["DATE-OBS"] = t.isot
        h["T_OBS"] = (t + TimeDelta(float(head.get("EXPTIME", 0)) / 2, format="sec")).isot + "Z"
        h["COMMENT"] = "levelpipe sample: real AIA 171 frame, cropped; DATE-OBS shifted; SIMULATED jet added"
        img = (crop + jet_image(k, crop.shape)).astype(np.float32)
        p = out_dir / f"aia_171_{t.strftime('%Y%m%d_%H%M%S')}_{k:02d}.fits"
        fits.PrimaryHDU(img, h).writeto(p, overwrite=True)
        paths.append(p)
    return paths


# ------------------------------------------------------------------ simulated classifications

def _png_xy(i, j, meta: dict, k: int) -> tuple[float, float]:
    """FITS pixel (0-based) -> PNG pixel of frame k, written from §3.4 (not levelpipe's code):
    axes fraction a = (i + 1/2) / NAXIS1; figure fraction u = ll_x + a (ur_x - ll_x); px = u W;
    py = (1 - v) H with y down."""
    n1, n2 = float(meta[f"#naxis1_{k}"]), float(meta[f"#naxis2_{k}"])
    W, H = float(meta[f"#width_{k}"]), float(meta[f"#height_{k}"])
    llx, lly, urx, ury = (float(meta[f"#{c}_{k}"]) for c in ("im_ll_x", "im_ll_y", "im_ur_x", "im_ur_y"))
    u = llx + (i + 0.5) / n1 * (urx - llx)
    v = lly + (j + 0.5) / n2 * (ury - lly)
    return u * W, (1.0 - v) * H


def make_classifications(manifest: Path, out_csv: Path, *, volunteers: int = 6, seed: int = 11,
                         first_subject_id: int = 90000001, first_classification_id: int = 700000001) -> Path:
    """Simulated volunteers who saw the sample's subjects (rows of `manifest`)."""
    import csv
    rng = np.random.default_rng(seed)
    with open(manifest, newline="") as f:
        subjects = list(csv.DictReader(f))
    rows = []
    cid = first_classification_id
    j = JET
    for s_i, meta in enumerate(subjects):
        sid = first_subject_id + s_i
        n = int(meta["#frame_per_sub"])
        frames = [int(meta[f"#file_name_{k}"].rsplit("_", 1)[1].split(".")[0]) for k in range(n)]
        visible = [k for k, fr in enumerate(frames) if j["start_frame"] <= fr <= j["end_frame"]]
        for v in range(volunteers):
            created = f"2026-11-0{1 + s_i} 10:{v:02d}:00 UTC"
            user = f"sim-volunteer-{v}"
            sees = bool(visible) and rng.random() < 0.9
            ann = [{"task": "T0", "task_label": "See A Jet?", "value": "Yes" if sees else "No\n"}]
            if sees:
                k_start, k_end = visible[0], visible[-1]
                k_box = min(visible, key=lambda k: abs(frames[k] - (j["start_frame"] + j["grow_frames"] - 1)))
                bx, by = j["base"]
                sx, sy = _png_xy(bx + rng.normal(0, 0.4), by + rng.normal(0, 0.4), meta, k_start)
                ex, ey = _png_xy(bx + rng.normal(0, 0.4), by + rng.normal(0, 0.4), meta, k_end)
                # the box from the base to the tip, drawn in PNG pixels: PFE rotateRectangle has
                # (x, y) = top-left of the unrotated box, angle clockwise on screen (§3.4)
                t = np.radians(j["angle_deg"])
                length = j["length_px"] * (1 + rng.normal(0, 0.05))
                cx_f, cy_f = bx + 0.5 * length * np.cos(t), by + 0.5 * length * np.sin(t)
                cx, cy = _png_xy(cx_f, cy_f, meta, k_box)
                px_per_fits = (float(meta[f"#im_ur_x_{k_box}"]) - float(meta[f"#im_ll_x_{k_box}"])) \
                    * float(meta[f"#width_{k_box}"]) / float(meta[f"#naxis1_{k_box}"])
                w, h = length * px_per_fits, 4.0 * j["width_px"] * px_per_fits * (1 + rng.normal(0, 0.05))
                angle = -j["angle_deg"] + rng.normal(0, 2.0)   # y up in FITS -> clockwise on the y-down screen
                ann += [
                    {"task": "T1", "task_label": "Start Point/Frame\n",
                     "value": [{"x": sx, "y": sy, "tool": 0, "frame": k_start, "details": [], "tool_label": "Start"}]},
                    {"task": "T2", "task_label": "End Point/Frame\n",
                     "value": [{"x": ex, "y": ey, "tool": 0, "frame": k_end, "details": [], "tool_label": "End"}]},
                    {"task": "T3", "task_label": "Bounding Boxes\n",
                     "value": [{"x": cx - w / 2, "y": cy - h / 2, "tool": 0, "angle": angle, "frame": k_box,
                                "width": w, "height": h, "details": [], "tool_label": "Rect"}]},
                ]
            else:
                ann += [{"task": "T1", "task_label": "Start Point/Frame\n", "value": []},
                        {"task": "T2", "task_label": "End Point/Frame\n", "value": []},
                        {"task": "T3", "task_label": "Bounding Boxes\n", "value": []}]
            dims = [{"clientWidth": 758, "clientHeight": 569, "naturalWidth": int(float(meta[f"#width_{k}"])),
                     "naturalHeight": int(float(meta[f"#height_{k}"]))} for k in range(n)]
            subject_meta = {"retired": None, **{k: v for k, v in meta.items() if v != ""}}
            rows.append({
                "classification_id": cid, "user_name": user, "user_id": 9000 + v, "user_ip": f"simulated{v:04d}",
                "workflow_id": 15803, "workflow_name": "Charlie_Test_1", "workflow_version": "16.16",
                "created_at": created, "gold_standard": "", "expert": "",
                "metadata": json.dumps({"source": "simulated", "subject_dimensions": dims}),
                "annotations": json.dumps(ann), "subject_data": json.dumps({str(sid): subject_meta}),
                "subject_ids": sid})
            cid += 1
    cols = ["classification_id", "user_name", "user_id", "user_ip", "workflow_id", "workflow_name",
            "workflow_version", "created_at", "gold_standard", "expert", "metadata", "annotations",
            "subject_data", "subject_ids"]
    with open(out_csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    return out_csv


if __name__ == "__main__":  # pragma: no cover - the bundle's build command (SOURCE.md)
    make_cutouts(Path(sys.argv[1]), Path(sys.argv[2]) / "cutouts" / EVENT_ID)
