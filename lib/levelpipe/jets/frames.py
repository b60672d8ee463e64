"""Level "subjects" of one event (a granule): its cutouts -> PNG frames, an MP4 movie, the
subjects and the panoptes-cli manifests (a folder), and a netCDF listing every frame.

Frames are ordered by DATE-OBS (§4.1: the seed ordered by image time); a cutout that cannot
be read is counted by kind, flagged in the netCDF and left out of the subjects.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from levelpipe.io.atomic import atomic_output
from levelpipe.io.variables import bad_count_attrs
from levelpipe.jets import images, subjects
from levelpipe.jets.errors import JetsError

BAD_KINDS = ("unreadable", "duplicate_time")
_WCS_HEADER = {"naxis1": "NAXIS1", "naxis2": "NAXIS2", "cunit1": "CUNIT1", "cunit2": "CUNIT2", "crval1": "CRVAL1",
               "crval2": "CRVAL2", "cdelt1": "CDELT1", "cdelt2": "CDELT2", "crpix1": "CRPIX1", "crpix2": "CRPIX2",
               "crota2": "CROTA2"}


def read_frames(paths, fits_settings):
    """(maps in time order, bad flag per input, errors) of an event's cutouts."""
    maps, bad, problems = {}, {}, []
    times = {}
    for p in sorted(map(str, paths)):
        try:
            m = images.read_cutout(p, fits_settings)
        except JetsError as err:
            bad[p] = "unreadable"
            problems.append(str(err))
            continue
        t = images.frame_time(m)
        if t in times:
            bad[p] = "duplicate_time"
            problems.append(f"{p}: same DATE-OBS as {times[t]}")
            continue
        times[t] = p
        maps[p] = m
    order = sorted(maps, key=lambda p: images.frame_time(maps[p]))
    return [(p, maps[p]) for p in order], bad, problems


def _wcs_keys(m) -> dict:
    h = m.fits_header
    return {k: (h.get(v, 0.0) if k not in ("cunit1", "cunit2") else str(h.get(v, "arcsec"))) for k, v in _WCS_HEADER.items()}


def build_subjects(paths, out_dir: Path, *, event_id: str, sol_standard: str, fits, images_settings, subject_settings):
    """Render every readable frame into `out_dir`, split into subjects, write the manifests and
    the movie. Returns (frame table as a Dataset, subjects)."""
    frames, bad, problems = read_frames(paths, fits)
    n_read = len(frames) + len(bad)
    if not frames:
        raise JetsError(f"no readable cutout among {n_read} files ({'; '.join(problems[:2])})", out_dir.name)
    windows = subjects.split(len(frames), subject_settings.frames_per_subject, subject_settings.overlap)
    # Decision (§10 Q7): with normalisation "subject", all frames of a subject share one display
    # range (no flicker); a frame in two subjects uses the range of the first one it belongs to.
    ranges: dict[int, tuple[float | None, float | None]] = {}
    for start, stop in windows:
        lo, hi = images.subject_range([m for _, m in frames[start:stop]])
        for k in range(start, stop):
            ranges.setdefault(k, (lo, hi) if images_settings.normalisation == "subject" else (None, None))
    records = []
    for k, (p, m) in enumerate(frames):
        name = Path(p).stem + ".png"
        vmin, vmax = ranges[k]
        placement = images.render_png(m, out_dir / name, images_settings, vmin=vmin, vmax=vmax)
        records.append({"file": name, "fits": os.path.basename(p), "time": str(images.frame_time(m))[:23],
                        "placement": placement, "wcs": _wcs_keys(m), "header": images.header_text(m.fits_header),
                        "map": m})
    subject_list = []
    cadence = np.median(np.diff([images.frame_time(m) for _, m in frames]).astype("timedelta64[ms]").astype(float)) / 1e3 \
        if len(frames) > 1 else 0.0
    for s, (start, stop) in enumerate(windows):
        subject_list.append({"key": f"{event_id}_{s:03d}", "event_id": event_id, "sol_standard": sol_standard,
                             "cadence_s": float(cadence), "frames": records[start:stop]})
    subjects.write_manifests(out_dir, subject_list, subject_settings)
    vmin, vmax = images.subject_range([m for _, m in frames]) if images_settings.normalisation == "subject" \
        else (None, None)
    movie = images.write_movie([r["map"] for r in records], out_dir / f"{event_id}.mp4", images_settings,
                               vmin=vmin, vmax=vmax)
    member = np.full((len(records), len(windows)), False)
    for s, (start, stop) in enumerate(windows):
        member[start:stop, s] = True
    def col(key):
        return np.array([r["placement"][key] for r in records], dtype=float)
    ds = xr.Dataset(
        {
            "file_name": ("time", np.array([r["file"] for r in records], dtype=object)),
            "fits_file": ("time", np.array([r["fits"] for r in records], dtype=object)),
            "im_ll_x": ("time", col("im_ll_x")), "im_ll_y": ("time", col("im_ll_y")),
            "im_ur_x": ("time", col("im_ur_x")), "im_ur_y": ("time", col("im_ur_y")),
            "png_width": ("time", col("width").astype(np.int32)), "png_height": ("time", col("height").astype(np.int32)),
            "crval1": ("time", np.array([r["wcs"]["crval1"] for r in records], dtype=float)),
            "crval2": ("time", np.array([r["wcs"]["crval2"] for r in records], dtype=float)),
            "cdelt1": ("time", np.array([r["wcs"]["cdelt1"] for r in records], dtype=float)),
            "cdelt2": ("time", np.array([r["wcs"]["cdelt2"] for r in records], dtype=float)),
            "crpix1": ("time", np.array([r["wcs"]["crpix1"] for r in records], dtype=float)),
            "crpix2": ("time", np.array([r["wcs"]["crpix2"] for r in records], dtype=float)),
            "subject_member": (("time", "subject"), member.astype(np.int8)),
            "subject_key": ("subject", np.array([s["key"] for s in subject_list], dtype=object)),
        },
        coords={"time": np.array([images.frame_time(r["map"]) for r in records], dtype="datetime64[ns]")},
    )
    ds.attrs.update(bad_count_attrs("frames", len(frames), {k: sum(1 for v in bad.values() if v == k) for k in BAD_KINDS},
                                    BAD_KINDS))
    ds.attrs["event_id"] = event_id
    ds.attrs["sol_standard"] = sol_standard
    ds.attrs["movie_crf"] = int(movie["crf"])
    ds.attrs["subjects"] = len(windows)
    if problems:
        ds.attrs["skipped_files"] = "\n".join(problems)
    return ds, subject_list


def _event_row(db: str | None, event_id: str):
    if not db:
        return None
    from levelpipe.jets.hek import read_events
    ev = read_events(db)
    hit = ev[ev["event_id"] == event_id]
    return hit.iloc[0] if len(hit) else None


def write_subjects(ctx) -> None:
    """Step `subjects`: one event's cutouts -> results/jets/subjects/<event>/ and frames/<event>.nc."""
    s = ctx.settings
    event_id = ctx.granule or Path(ctx.inputs.all[0]).parent.name
    row = _event_row(ctx.inputs.optional("events"), event_id)
    sol = row["sol_standard"] if row is not None else ""
    folder = Path(ctx.outputs.one("subjects"))
    with atomic_output(folder, suffix="") as tmp:
        tmp.unlink()
        tmp.mkdir()
        ds, _ = build_subjects(ctx.inputs["cutouts"], tmp, event_id=event_id, sol_standard=sol, fits=s.fits,
                               images_settings=s.images, subject_settings=s.subjects)
    ctx.write(ds, ctx.outputs.one("frames"), table="frames", inputs=ctx.inputs["cutouts"],
              title=f"Solar Jet Hunter frames of {event_id}",
              summary="AIA cutout frames of one HEK event rendered as Zooniverse subject images: the placement "
                      "of each PNG's axes, each frame's WCS and the subjects each frame belongs to.")
