"""AIA cutouts (FITS) -> PNG frames and MP4 movies, and the PNG pixel <-> FITS pixel <->
helioprojective conversion the catalogue depends on (§3).

A frame is drawn like the seed's ``Basic_Image`` (§3.2): one WCSAxes, the data with
``origin="lower"``, sunpy's AIA colour map ``sdoaia<wavelength>`` and asinh stretch, title
``SDO-AIA   %Y-%b-%d %H:%M:%S``, default figure 6.4 x 4.8 in at 300 dpi = 1920 x 1440 px.
The PNG records where its axes sit (§3.4: ``im_ll_x, im_ll_y, im_ur_x, im_ur_y`` fractions of
the figure, origin bottom-left, plus ``width``, ``height``, ``dpi``) and every FITS header key
in its text chunks, so a click can be converted without any other file.

Drawing uses a bare Agg `Figure` (no pyplot state) and no software/date tag: same input, same bytes.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from levelpipe.io.atomic import atomic_output
from levelpipe.jets.errors import JetsError

#: PNG text keys of the axes placement (§3.2, base_visual.py:52-88)
AXES_KEYS = ("im_ll_x", "im_ll_y", "im_ur_x", "im_ur_y", "width", "height", "dpi")


# ----------------------------------------------------------------------------- FITS

def read_cutout(path: str | os.PathLike, fits_settings):
    """A cutout FITS file as a sunpy Map, with sizes and header checked before the data are read."""
    from astropy.io import fits
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise JetsError(f"cannot read ({err.strerror})", path) from None
    if size > fits_settings.max_file_bytes:
        raise JetsError(f"{size} bytes (limit {fits_settings.max_file_bytes}, fits.max_file_bytes)", path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # header cosmetics (e.g. BLANK on float data) are not faults
            warnings.filterwarnings("error", message=".*truncated.*")
            with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
                hdu = next((h for h in hdul if h.header.get("NAXIS", 0) == 2), None)
                if hdu is None:
                    raise JetsError("no 2-D image HDU", path)
                header = hdu.header.copy()
                missing = [k for k in fits_settings.required_keys if k not in header]
                if missing:
                    raise JetsError(f"header has no {missing[0]}", path, f"HDU {hdul.index_of(hdu)}")
                n1, n2 = header["NAXIS1"], header["NAXIS2"]
                if not (isinstance(n1, int) and isinstance(n2, int)) or n1 < 2 or n2 < 2 \
                        or n1 * n2 > fits_settings.max_pixels:
                    raise JetsError(f"image of {n1} x {n2} pixels (limit {fits_settings.max_pixels} pixels)", path)
                bits = abs(int(header.get("BITPIX", 8)))
                if hdu.fileinfo()["datLoc"] + n1 * n2 * bits // 8 > size:
                    raise JetsError("file shorter than its header says (truncated)", path)
                data = np.asarray(hdu.data, dtype=np.float64)
            return make_map(data, header, path)
    except JetsError:
        raise
    except Exception as err:  # noqa: BLE001 - astropy/sunpy raise many kinds on hostile headers
        # (VerifyError, ValueError, OSError, KeyError, warnings turned errors): all one-line here
        raise JetsError(f"not a readable FITS image ({_first_line(err)})", path) from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def make_map(data: np.ndarray, header, path=None):
    import sunpy.map
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            m = sunpy.map.Map(data, header)
            m.wcs  # noqa: B018 - builds the WCS: bad keys fail here, not while drawing
            m.date  # noqa: B018 - a bad DATE-OBS fails here, not while drawing
        except Exception as err:  # noqa: BLE001 - sunpy/astropy raise many kinds on odd headers
            raise JetsError(f"header does not make a map ({_first_line(err)})", path) from None
    return m


def frame_time(m) -> np.datetime64:
    """DATE-OBS of a map as datetime64[ns] UTC."""
    return np.datetime64(m.date.utc.isot.replace("Z", ""), "ns")


# ----------------------------------------------------------------------------- drawing

def _norm(m, asinh_a: float, vmin: float | None, vmax: float | None):
    from astropy.visualization import AsinhStretch, ImageNormalize
    if vmin is None or vmax is None:
        finite = m.data[np.isfinite(m.data)]
        vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if vmax <= vmin:
        vmax = vmin + 1.0
    # §3.2: sunpy AIAMap's ImageNormalize(stretch=AsinhStretch(0.01), clip=False)
    return ImageNormalize(vmin=vmin, vmax=vmax, stretch=AsinhStretch(asinh_a), clip=False)


def _cmap(m, name: str):
    import matplotlib
    if name == "auto":
        return m.cmap  # sunpy: sdoaia<wavelength> for AIA (§3.2)
    return matplotlib.colormaps[name]


def draw_frame(m, images, *, dpi: int | None = None, vmin: float | None = None, vmax: float | None = None,
               overlay=None):
    """The figure of one frame and where its axes sit after drawing.

    Decision (§10 Q8): the axes box is read after ``canvas.draw()``, when WCSAxes has applied
    the data aspect; the fractions are those of the saved PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    dpi = dpi or images.dpi
    fig = Figure(figsize=(images.width_in, images.height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1, projection=m.wcs)
    ax.imshow(m.data, origin="lower", cmap=_cmap(m, images.colormap), norm=_norm(m, images.asinh_a, vmin, vmax),
              interpolation="nearest")
    ax.set_xlabel("Solar X (arcsec)")
    ax.set_ylabel("Solar Y (arcsec)")
    ax.set_title(m.date.datetime.strftime(images.title_format))
    if overlay is not None:
        overlay(ax)
    fig.canvas.draw()
    box = ax.get_position()
    w_px, h_px = fig.get_size_inches() * dpi
    # Decision: width/height are the figure's size in pixels as a float, as the seed recorded
    # them (class.csv: #height 1440.0000000000002). The PNG has int(size) pixels; a natural-pixel
    # coordinate px sits at figure fraction px / width exactly, so the float is the right divisor.
    placement = {"im_ll_x": float(box.x0), "im_ll_y": float(box.y0), "im_ur_x": float(box.x1),
                 "im_ur_y": float(box.y1), "width": float(w_px), "height": float(h_px),
                 "dpi": float(dpi)}
    return fig, placement


def _png_bytes(fig, dpi: int, text: Mapping[str, str]) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None, **text})
    return buf.getvalue()


def header_text(header) -> dict[str, str]:
    """FITS header keys as PNG text (§3.2: every header key goes into the PNG)."""
    out = {}
    for card in header.cards:
        k = card.keyword
        if k and k not in ("COMMENT", "HISTORY", "") and k not in out:
            out[k] = str(card.value)
    return out


def render_png(m, path: str | os.PathLike, images, *, vmin=None, vmax=None) -> dict[str, float]:
    """One frame as PNG at `path` (atomic), at most `images.max_png_bytes`; returns its placement.

    Decision (§3.2): the seed shrank the dpi by sqrt(800 kB / FITS size) after saving, which gave
    frames of one subject different sizes; here the dpi is lowered only when the PNG itself is
    too big, by sqrt(limit / size), and the real size goes into the PNG and the manifest."""
    dpi = images.dpi
    for _ in range(8):
        fig, placement = draw_frame(m, images, dpi=dpi, vmin=vmin, vmax=vmax)
        text = {k: repr(v) for k, v in placement.items()} | {f"fits_{k}": v for k, v in header_text(m.fits_header).items()}
        data = _png_bytes(fig, dpi, text)
        if len(data) <= images.max_png_bytes:
            with atomic_output(path) as tmp:
                tmp.write_bytes(data)
            return placement
        dpi = max(10, int(dpi * np.sqrt(images.max_png_bytes / len(data)) * 0.98))
    raise JetsError(f"PNG still larger than {images.max_png_bytes} bytes at {dpi} dpi", path)


def read_placement(path: str | os.PathLike) -> dict[str, float]:
    """The axes placement a PNG made here records (§3.4)."""
    from PIL import Image
    path = Path(path)
    try:
        with Image.open(path) as im:
            text = dict(im.text)
            size = im.size
    except (OSError, ValueError) as err:
        raise JetsError(f"not a PNG ({err})", path) from None
    missing = [k for k in AXES_KEYS if k not in text]
    if missing:
        raise JetsError(f"PNG does not record {missing[0]} (not made by levelpipe, or before PNG metadata)", path)
    out = {k: float(text[k]) for k in AXES_KEYS}
    if abs(out["width"] - size[0]) >= 1 or abs(out["height"] - size[1]) >= 1:
        raise JetsError(f"PNG is {size[0]} x {size[1]} px but records {out['width']:g} x {out['height']:g}", path)
    return out


# ----------------------------------------------------------------------------- coordinates

@dataclass(frozen=True)
class Placement:
    """Where a frame's data sit in its PNG (§3.4)."""

    width: float
    height: float
    im_ll_x: float
    im_ll_y: float
    im_ur_x: float
    im_ur_y: float
    naxis1: int
    naxis2: int

    @classmethod
    def of(cls, placement: Mapping[str, float], naxis1: int, naxis2: int) -> "Placement":
        return cls(*(float(placement[k]) for k in ("width", "height", "im_ll_x", "im_ll_y", "im_ur_x", "im_ur_y")),
                   int(naxis1), int(naxis2))


def png_to_fits(px, py, p: Placement, *, legacy_half_pixel: bool = False):
    """PNG pixel (origin top-left, y down, continuous: 0 = the image's top/left edge) -> FITS
    pixel, 0-based (first pixel centre = 0).

    Decision (§3.4, §10 Q5): imshow puts the data edges at -0.5 and N-0.5, so the axes
    fraction a maps to i = a*N - 0.5. The originals omit the -0.5 (half a pixel off); that is
    `legacy_half_pixel`, kept to compare with the published catalogue. Every input is
    converted as a pixel: the originals' "x > 1 and y > 1 means pixels" guess is not copied."""
    px, py = np.asarray(px, dtype=float), np.asarray(py, dtype=float)
    u = px / p.width
    v = 1.0 - py / p.height
    a = (u - p.im_ll_x) / (p.im_ur_x - p.im_ll_x)
    b = (v - p.im_ll_y) / (p.im_ur_y - p.im_ll_y)
    shift = 0.0 if legacy_half_pixel else 0.5
    return a * p.naxis1 - shift, b * p.naxis2 - shift


def fits_to_png(i, j, p: Placement, *, legacy_half_pixel: bool = False):
    """The inverse of `png_to_fits`."""
    shift = 0.0 if legacy_half_pixel else 0.5
    a = (np.asarray(i, dtype=float) + shift) / p.naxis1
    b = (np.asarray(j, dtype=float) + shift) / p.naxis2
    u = p.im_ll_x + a * (p.im_ur_x - p.im_ll_x)
    v = p.im_ll_y + b * (p.im_ur_y - p.im_ll_y)
    return u * p.width, (1.0 - v) * p.height


def png_to_hpc(px, py, p: Placement, wcs, *, legacy_half_pixel: bool = False):
    """PNG pixel -> helioprojective (Tx, Ty) in arcsec as Quantity, through the frame's WCS."""
    import astropy.units as u
    i, j = png_to_fits(px, py, p, legacy_half_pixel=legacy_half_pixel)
    world = wcs.pixel_to_world_values(i, j)
    tx, ty = (u.Quantity(w, wcs.world_axis_units[k]) for k, w in enumerate(world))
    # helioprojective longitude comes back in [0, 360) deg; Tx is signed about disk centre
    tx = ((tx + 180 * u.deg) % (360 * u.deg) - 180 * u.deg).to(u.arcsec)
    return tx, ty.to(u.arcsec)


def hpc_to_png(tx, ty, p: Placement, wcs, *, legacy_half_pixel: bool = False):
    import astropy.units as u
    units = wcs.world_axis_units
    i, j = wcs.world_to_pixel_values(u.Quantity(tx).to_value(units[0]), u.Quantity(ty).to_value(units[1]))
    return fits_to_png(i, j, p, legacy_half_pixel=legacy_half_pixel)


# ----------------------------------------------------------------------------- movies

def _rgb(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def write_movie(maps: Sequence, path: str | os.PathLike, images, *, vmin=None, vmax=None) -> dict[str, float]:
    """The frames as an H.264 MP4 (yuv420p, `movie_fps`), CRF raised from `movie_crf` until the
    file is at most `movie_max_bytes` (§3.3: the 2023 video subjects). Returns crf and size.
    Frames are drawn one at a time and streamed to ffmpeg, so memory does not grow with the
    number of frames (a 4-hour event at 24 s has ~600)."""
    import imageio_ffmpeg
    if not maps:
        raise JetsError("no frames for a movie", path)
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    for crf in range(images.movie_crf, 52):
        try:
            with atomic_output(path) as tmp:
                proc = None
                for m in maps:
                    fig, _ = draw_frame(m, images, dpi=images.movie_dpi, vmin=vmin, vmax=vmax)
                    frame = _rgb(fig)
                    h, w = frame.shape[0] - frame.shape[0] % 2, frame.shape[1] - frame.shape[1] % 2
                    if proc is None:   # yuv420p needs even sides
                        cmd = [exe, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                               "-r", str(images.movie_fps), "-i", "-", "-an", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                               "-crf", str(crf), "-r", str(images.movie_fps), "-threads", "1", "-bitexact",
                               "-map_metadata", "-1", "-f", "mp4", str(tmp)]
                        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
                        size0 = (w, h)
                    if (w, h) != size0:
                        proc.kill()
                        raise JetsError(f"movie frames of different sizes ({size0} and {(w, h)})", path)
                    try:
                        proc.stdin.write(np.ascontiguousarray(frame[:h, :w]).tobytes())
                    except BrokenPipeError:
                        break
                proc.stdin.close()
                err = proc.stderr.read().decode(errors="replace").strip()
                if proc.wait() != 0:
                    raise JetsError(f"ffmpeg failed: {err.splitlines()[-1] if err else proc.returncode}", path)
                size = tmp.stat().st_size
                if size > images.movie_max_bytes:
                    raise _TooBig()
        except _TooBig:
            continue
        return {"crf": float(crf), "bytes": float(size), "frames": float(len(maps))}
    raise JetsError(f"movie larger than {images.movie_max_bytes} bytes at CRF 51", path)


class _TooBig(Exception):
    """The movie did not fit at this CRF (internal: the next CRF is tried)."""


def subject_range(maps: Iterable) -> tuple[float, float]:
    """One display range for the frames of a subject (min and max of all finite values)."""
    lo, hi = np.inf, -np.inf
    for m in maps:
        finite = m.data[np.isfinite(m.data)]
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    return (lo, hi) if np.isfinite(lo) else (0.0, 1.0)


def placement_json(p: Mapping[str, float]) -> str:
    return json.dumps({k: p[k] for k in AXES_KEYS}, sort_keys=True)
