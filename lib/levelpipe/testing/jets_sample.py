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

`make_hek_response`: a SIMULATED HEK search response for the simulated event of the cutouts,
written from the HEK field list, types and units of jets.md §1.4 (not copied from the real
``hek_1.txt``, whose licence is unknown) and in that file's structure (§9: a ``{"params": ...}``
line with the query, then ``{"result": [...]}``). Every free-text field says SIMULATED, and the
record id is not a HEK one, so the event database and the products that name the event say so.

Run as ``python -m levelpipe.testing.jets_sample SHARED_AIA_FILE OUT_DIR`` (the SOURCE.md
commands).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Mapping

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
#: the simulated event's SOL_standard, as `hek_event` computes it from the bundled cutouts (a
#: test checks that it still does); its event id (':' -> '-') names the cutouts folder
SOL_STANDARD = "SOL2011-02-15T00:00:00L021C105"
EVENT_ID = SOL_STANDARD.replace(":", "-")
#: Decision: the simulated event's HEK box is the simulated jet at its full length (base to
#: tip) padded by this many cutout pixels on every side, rounded outward to whole arcsec
HEK_BOX_PAD_PX = 2.0


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


# ------------------------------------------------------------------ simulated HEK response

#: §1.4: the HEK fields the chain needs, in the types the real records have (hek_1.txt,
#: measured in the notes; tests/jets/test_jets_sample.py compares with the real file)
HEK_FIELDS = ("SOL_standard", "kb_archivid", "event_type", "event_starttime", "event_endtime", "event_peaktime",
              "event_coordsys", "event_coordunit", "event_coord1", "event_coord2", "event_c1error", "event_c2error",
              "hpc_x", "hpc_y", "hpc_radius", "hpc_coord", "hpc_bbox", "boundbox_c1ll", "boundbox_c2ll",
              "boundbox_c1ur", "boundbox_c2ur", "hgs_x", "hgs_y", "hgc_x", "hgc_y", "hrc_r", "hrc_a", "frm_name",
              "frm_identifier", "frm_institute", "frm_humanflag", "search_frm_name", "obs_observatory",
              "obs_instrument", "obs_channelid", "search_channelid", "obs_meanwavel", "obs_wavelunit", "event_title",
              "event_description")
#: §1.1 / §1.4: HEK time format, no zone
HEK_TIME = "%Y-%m-%dT%H:%M:%S"
#: Measured on the real hek_1.txt (not in jets.md; test_jets_sample.py pins it on every record):
#: hrc_r = hpc_radius / 960 arcsec, i.e. HEK's heliocentric radius uses a fixed 960" solar radius.
HEK_HRC_RSUN_ARCSEC = 960.0
SIMULATED_NOTE = ("SIMULATED by levelpipe.testing.jets_sample: a jet added to a crop of sunpy's real AIA 171 A test "
                  "image (resources/jets/SOURCE.md); not a HEK event")


def sol_standard(start: str, carrington_lon_deg: float, lat_deg: float) -> str:
    """§1.4: ``SOL<start>L<Carrington longitude>C<colatitude>`` (degrees, three digits).

    Unverified: the rounding. jets.md gives the example only (L246 for 360 - 114.2, C049 for
    90 - 41.3); to the nearest degree is used here, and the real records agree within 1 deg."""
    lon = int(round(carrington_lon_deg % 360.0)) % 360
    colat = int(round(90.0 - lat_deg))
    return f"SOL{start}L{lon:03d}C{colat:03d}"


def hek_event(cutout_paths) -> dict:
    """Where and when the simulated jet of the cutouts is, in HEK's terms (§1.4).

    Decision: the event's interval spans the cutouts (first DATE-OBS down, last up to the
    second; the seed asked for cutouts over the HEK event's interval, §2.1); its peak is the
    frame where the jet reaches its full length; its box is `HEK_BOX_PAD_PX` around the jet
    at full length; its point (hpc_x, hpc_y, event_coord1/2) the box centre rounded to whole
    arcsec, the coordinate errors half the box sides (in the real records the point is the
    box centre within 0.5" and the errors half the sides within 1", measured on hek_1.txt by
    the test). Stonyhurst and Carrington coordinates come from sunpy at the event start with
    the frame's observer. Unverified: how HEK itself converts (every real record in hek_1.txt
    lies at or beyond the limb, so it cannot be compared there)."""
    import math
    import astropy.units as u
    import sunpy.map
    from astropy.coordinates import SkyCoord
    from astropy.time import Time
    from sunpy.coordinates import HeliographicCarrington, HeliographicStonyhurst
    paths = sorted(map(str, cutout_paths))
    maps = [sunpy.map.Map(p) for p in paths]
    times = sorted(m.date for m in maps)
    first = maps[0]
    j = JET
    t = math.radians(j["angle_deg"])
    bx, by = j["base"]
    tip = (bx + j["length_px"] * math.cos(t), by + j["length_px"] * math.sin(t))
    pad = HEK_BOX_PAD_PX
    xs = [min(bx, tip[0]) - pad, max(bx, tip[0]) + pad]
    ys = [min(by, tip[1]) - pad, max(by, tip[1]) + pad]
    corners = first.pixel_to_world([xs[0], xs[1], xs[1], xs[0]] * u.pix, [ys[0], ys[0], ys[1], ys[1]] * u.pix)
    tx, ty = corners.Tx.to_value(u.arcsec), corners.Ty.to_value(u.arcsec)
    box = (math.floor(tx.min()), math.ceil(tx.max()), math.floor(ty.min()), math.ceil(ty.max()))
    x, y = int(round((box[0] + box[1]) / 2)), int(round((box[2] + box[3]) / 2))
    start = Time(math.floor(times[0].unix), format="unix", scale="utc")
    end = Time(math.ceil(times[-1].unix), format="unix", scale="utc")
    peak_frame = j["start_frame"] + j["grow_frames"] - 1
    peak = Time(math.floor(times[peak_frame].unix), format="unix", scale="utc")
    point = SkyCoord(x * u.arcsec, y * u.arcsec, frame=first.coordinate_frame).replicate(obstime=start)
    hgs = point.transform_to(HeliographicStonyhurst(obstime=start))
    hgc = point.transform_to(HeliographicCarrington(observer="earth", obstime=start))
    hgc_lon = float(((hgc.lon.to_value(u.deg) + 180.0) % 360.0) - 180.0)   # §1.4 example: -114.24
    wave = first.wavelength
    return {
        "start": start.strftime(HEK_TIME), "end": end.strftime(HEK_TIME), "peak": peak.strftime(HEK_TIME),
        "hpc_x": x, "hpc_y": y, "box": box,
        "hgs_x": float(hgs.lon.to_value(u.deg)), "hgs_y": float(hgs.lat.to_value(u.deg)),
        "hgc_x": hgc_lon, "hgc_y": float(hgc.lat.to_value(u.deg)),
        "channel": int(round(wave.to_value(u.AA))), "wavelength_cm": float(f"{wave.to_value(u.cm):.10g}"),
        "observatory": str(first.meta["telescop"]).split("/")[0], "instrument": str(first.meta["telescop"]).split("/")[1],
        "sol_standard": sol_standard(start.strftime(HEK_TIME), hgc_lon, float(hgc.lat.to_value(u.deg))),
    }


def hek_record(event: Mapping) -> dict:
    """One HEK record (the §1.4 fields, real types) of `event` (from `hek_event`)."""
    import math
    x0, x1, y0, y1 = event["box"]
    x, y = event["hpc_x"], event["hpc_y"]
    radius = math.hypot(x, y)
    channel = str(event["channel"])
    stamp = event["start"].replace("-", "").replace(":", "").replace("T", "_")
    rec = {
        "SOL_standard": event["sol_standard"],
        # a record id outside HEK's ivo://helio-informatics.org/ namespace: nobody mistakes it for one
        "kb_archivid": f"ivo://levelpipe/SIMULATED/CJ{channel}_levelpipe_{stamp}",
        "event_type": "CJ",
        "event_starttime": event["start"], "event_endtime": event["end"], "event_peaktime": event["peak"],
        "event_coordsys": "UTC-HPC-TOPO", "event_coordunit": "arcsec",
        "event_coord1": x, "event_coord2": y,
        "event_c1error": (x1 - x0) / 2.0, "event_c2error": (y1 - y0) / 2.0,
        "hpc_x": x, "hpc_y": y,
        "hpc_radius": repr(radius),                      # §1.4: a string
        "hpc_coord": f"POINT({x} {y})",
        "hpc_bbox": f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))",   # closed ring
        # corners in the order the HEK spec names them (§1.3: the real ones often are not)
        "boundbox_c1ll": x0, "boundbox_c2ll": y0, "boundbox_c1ur": x1, "boundbox_c2ur": y1,
        "hgs_x": round(event["hgs_x"], 6), "hgs_y": round(event["hgs_y"], 6),
        "hgc_x": round(event["hgc_x"], 6), "hgc_y": round(event["hgc_y"], 6),
        "hrc_r": radius / HEK_HRC_RSUN_ARCSEC,
        "hrc_a": math.degrees(math.atan2(-x, y)) % 360.0,   # position angle from north through east
        "frm_name": "levelpipe_simulation", "frm_identifier": "levelpipe.testing.jets_sample",
        "frm_institute": "levelpipe (SIMULATED)", "frm_humanflag": "false",
        "search_frm_name": "levelpipe simulation",
        "obs_observatory": event["observatory"], "obs_instrument": event["instrument"],
        "obs_channelid": channel, "search_channelid": channel,
        "obs_meanwavel": event["wavelength_cm"], "obs_wavelunit": "cm",
        "event_title": "SIMULATED coronal jet (levelpipe sample, not a HEK event)",
        "event_description": SIMULATED_NOTE,
    }
    assert tuple(rec) == HEK_FIELDS
    return rec


def make_hek_response(cutout_dir: Path, out_path: Path) -> Path:
    """The simulated HEK response of the bundled event, in hek_1.txt's structure (§9): line 1
    the query of §1.1 for the event's UTC day, then the result."""
    from astropy.time import Time, TimeDelta
    event = hek_event(sorted(Path(cutout_dir).glob("*.fits")))
    day = Time(event["start"][:10] + "T00:00:00", scale="utc")
    params = {"cmd": "search", "type": "column", "cosec": 2, "event_type": "cj",
              "event_starttime": day.strftime(HEK_TIME), "event_endtime": (day + TimeDelta(1, format="jd")).strftime(HEK_TIME),
              "event_coordsys": "helioprojective", "x1": -1200, "y1": -1200, "x2": 1200, "y2": 1200}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps({"params": params}) + "\n" + json.dumps({"result": [hek_record(event)]}, indent=4)
                        + "\n")
    return out_path


if __name__ == "__main__":  # pragma: no cover - the bundle's build command (SOURCE.md)
    out = Path(sys.argv[2])
    make_cutouts(Path(sys.argv[1]), out / "cutouts" / EVENT_ID)
    computed = hek_event(sorted((out / "cutouts" / EVENT_ID).glob("*.fits")))["sol_standard"]
    if computed != SOL_STANDARD:
        raise SystemExit(f"the cutouts give {computed}, not SOL_STANDARD {SOL_STANDARD}: update SOL_STANDARD")
    make_hek_response(out / "cutouts" / EVENT_ID, out / "hek" / "sample_simulated_hek.txt")
