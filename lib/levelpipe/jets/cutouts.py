"""Cutout clients: JSOC export with im_patch (the current route, §2.2) and the LMSAL SSW
cutout service (the seed's route, §2.1). Both are off by default (``cutouts.service: none``).

Decision (§2.2): the HTTP is done here with requests, following the protocol drms implements
(jsoc_fetch ``op=exp_request`` / ``op=exp_status``, the same query keys), rather than through
drms' client: drms' urlopen calls have no retries, a fixed 60 s timeout and write downloads in
place, while the brief asks for retries with backoff, size checks and no partial FITS left.

Decision (§10 Q4): JSOC is the recommended service (unambiguous ``@24s`` sampling, used by the
team since 2024); the SSW client is kept for the legacy route. Unverified: whether the SSW
service is still alive and whether its ``max_frames`` samples the whole interval.

Every file is downloaded to a temporary name, checked (size announced = size received, within
``cutouts.max_file_bytes``, a FITS image whose data fit in the file) and only then renamed.
"""
from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from levelpipe.io.atomic import atomic_output
from levelpipe.jets.errors import JetsError
from levelpipe.jets.hek import http_get

#: §2.2: DRMS record-set time format (sunpy jsoc.py:561-640)
TAI_FORMAT = "%Y.%m.%d_%H:%M:%S_TAI"
#: §2.2 drms client.py:121-170: 0 done, 1/2 pending, 6 not found yet (pending a few times)
STATUS_DONE, STATUS_PENDING, STATUS_NOT_FOUND = 0, (1, 2), 6
NOT_FOUND_TOLERATED = 5
#: §2.1: the SSW job id and the job page's "finished" marker (cutout.py:201-247)
SSW_JOB_ID = re.compile(r'<param name="JobID">(.*?)</param>')
SSW_DONE_MARK = "Per-Wave file lists"
SSW_LIST_LINK = re.compile(r'<p><a href="(.*?)">')
SSW_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def _session():
    import requests
    return requests.Session()


def field_of_view(event, min_fov_arcsec: float) -> tuple[float, float, float, float]:
    """(x centre, y centre, width, height) in arcsec of an event's cutout: centred on hpc_x,
    hpc_y, sides max(min FOV, bounding-box side) (§2.1, seed since 2021-10).

    Decision: the seed's field of view for both services. The 2024 JSOC tutorial centres on a
    catalogued jet's base instead (§2.2), which needs the catalogue first; HEK events have only
    their box."""
    w = max(min_fov_arcsec, abs(float(event.bbox_x_max) - float(event.bbox_x_min)))
    h = max(min_fov_arcsec, abs(float(event.bbox_y_max) - float(event.bbox_y_min)))
    return float(event.hpc_x), float(event.hpc_y), w, h


def _tai(iso: str) -> str:
    from astropy.time import Time
    return Time(iso, scale="utc").tai.strftime(TAI_FORMAT)


def jsoc_recordset(event, cut) -> str:
    """``series[start-end@<cadence>s][<wavelength>]{segment}`` with TAI times (§2.2)."""
    j = cut.jsoc
    return (f"{j.series}[{_tai(event.start_time)}-{_tai(event.end_time)}@{int(cut.cadence_s.to_value('s'))}s]"
            f"[{int(cut.wavelength_angstrom.to_value('angstrom'))}]{{{j.segment}}}")


def jsoc_process(event, cut) -> str:
    """The im_patch process string of drms' exp_request (§2.2, drms json.py:305-405)."""
    x, y, w, h = field_of_view(event, cut.min_fov_arcsec.to_value("arcsec"))
    j = cut.jsoc
    from astropy.time import Time
    keys = {"t_ref": Time(event.start_time, scale="utc").isot, "t": int(not j.tracking), "r": int(j.register_frames),
            "c": int(j.nan_off_limb), "locunits": "arcsec", "boxunits": "arcsec", "x": x, "y": y, "width": w,
            "height": h}
    return "n=0|im_patch," + ",".join(f"{k}={v}" for k, v in keys.items())


def jsoc_request_params(event, cut) -> dict[str, Any]:
    j = cut.jsoc
    if not j.notify or "@" not in j.notify:
        raise JetsError("cutouts.jsoc.notify must be an e-mail address registered at JSOC", where="cutouts.jsoc")
    return {"op": "exp_request", "format": "json", "ds": jsoc_recordset(event, cut), "notify": j.notify,
            "method": "url", "protocol": "fits", "process": jsoc_process(event, cut),
            "requester": j.notify.split("@")[0]}


def _json(resp, url: str, what: str) -> dict:
    import requests
    try:
        doc = resp.json()
    except (ValueError, requests.RequestException):
        raise JetsError("answer is not JSON", url, what) from None
    finally:
        resp.close()
    if not isinstance(doc, dict):
        raise JetsError("answer is not a JSON object", url, what)
    return doc


def _safe_name(name: str, url: str) -> str:
    base = name.rsplit("/", 1)[-1]
    if not base or base in (".", "..") or not re.fullmatch(r"[A-Za-z0-9_.+-]+", base):
        raise JetsError(f"refusing file name {name!r}", url)
    return base


def check_fits(path: Path, max_bytes: int) -> None:
    """A downloaded file is a FITS file whose image data fit in it (no truncated data)."""
    from astropy.io import fits
    size = path.stat().st_size
    if size == 0 or size > max_bytes:
        raise JetsError(f"{size} bytes (allowed 1..{max_bytes})", path)
    try:
        with fits.open(path, memmap=False) as hdul:
            for hdu in hdul:
                n = hdu.header.get("NAXIS", 0)
                if n:
                    need = abs(int(hdu.header["BITPIX"])) // 8 * int(np.prod([hdu.header[f"NAXIS{k}"] for k in range(1, n + 1)]))
                    if hdu.fileinfo()["datLoc"] + need > size:
                        raise JetsError("FITS data longer than the file (truncated)", path)
    except JetsError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise JetsError(f"not a FITS file ({str(err).splitlines()[0] if str(err) else type(err).__name__})", path) from None


def download(session, url: str, dest: Path, cut, *, sleep=time.sleep) -> Path:
    """One file to `dest`, retried when cut off; nothing is left at `dest` unless it is complete."""
    import requests
    last = ""
    for attempt in range(cut.http.retries + 1):
        if attempt:
            sleep(float(cut.http.backoff_s.to_value("s")) * 2 ** (attempt - 1))
        resp = http_get(session, url, None, cut.http, what=dest.name, stream=True, sleep=sleep)
        announced = resp.headers.get("Content-Length")
        try:
            with atomic_output(dest) as tmp:
                got = 0
                with open(tmp, "wb") as f:
                    try:
                        for chunk in resp.iter_content(1 << 16):
                            got += len(chunk)
                            if got > cut.max_file_bytes:
                                raise JetsError(f"more than {cut.max_file_bytes} bytes (cutouts.max_file_bytes)", url)
                            f.write(chunk)
                    except requests.RequestException as err:
                        raise _CutOff(f"transfer cut off after {got} bytes ({type(err).__name__})") from None
                if announced is not None and int(announced) != got:
                    raise _CutOff(f"{got} of {announced} announced bytes")
                check_fits(tmp, cut.max_file_bytes)
            return dest
        except _CutOff as err:
            last = str(err)
            continue
        finally:
            resp.close()
    raise JetsError(f"{last} after {cut.http.retries + 1} attempt(s)", url)


class _CutOff(Exception):
    """A transfer ended early (internal: retried)."""


def jsoc_export(event, cut, out_dir: Path, session=None, *, sleep=time.sleep,
                clock: Callable[[], float] = time.monotonic) -> list[Path]:
    """Request, wait for and download one event's cutouts from JSOC (§2.2)."""
    session = session or _session()
    j = cut.jsoc
    url = j.fetch_url
    doc = _json(http_get(session, url, jsoc_request_params(event, cut), cut.http, what="exp_request", sleep=sleep),
                url, "exp_request")
    rid = doc.get("requestid") or doc.get("reqid")
    status = doc.get("status")
    if not rid or not isinstance(rid, str):
        raise JetsError(f"export refused (status {status!r}: {doc.get('error', 'no request id')})", url, "exp_request")
    t0, not_found = clock(), 0
    while True:
        doc = _json(http_get(session, url, {"op": "exp_status", "requestid": rid}, cut.http, what=f"exp_status {rid}",
                             sleep=sleep), url, f"exp_status {rid}")
        status = doc.get("status")
        if status == STATUS_DONE:
            break
        if status == STATUS_NOT_FOUND and not_found < NOT_FOUND_TOLERATED:
            not_found += 1
        elif status not in STATUS_PENDING:
            raise JetsError(f"export failed (status {status!r}: {doc.get('error', '')})", url, f"request {rid}")
        wait = doc.get("wait")
        wait = float(wait) if isinstance(wait, (int, float)) and wait > 0 else float(j.poll_interval_s.to_value("s"))
        if clock() - t0 + wait > j.export_timeout_s.to_value("s"):
            raise JetsError(f"export still pending after {j.export_timeout_s.to_value('s'):g} s "
                            f"(cutouts.jsoc.export_timeout_s)", url, f"request {rid}")
        sleep(wait)
    data, folder = doc.get("data"), doc.get("dir")
    if not isinstance(data, list) or not isinstance(folder, str):
        raise JetsError("finished export lists no 'dir' and 'data'", url, f"request {rid}")
    if len(data) > cut.max_frames:
        raise JetsError(f"{len(data)} files, more than cutouts.max_frames = {cut.max_frames}", url, f"request {rid}")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for item in data:
        name = item.get("filename") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise JetsError("file list entry without a filename", url, f"request {rid}")
        file_url = j.download_base_url.rstrip("/") + "/" + folder.strip("/") + "/" + name.rsplit("/", 1)[-1]
        paths.append(download(session, file_url, out_dir / _safe_name(name, url), cut, sleep=sleep))
    return paths


def ssw_params(event, cut) -> dict[str, Any]:
    """The seed's SSW request (§2.1, cutout.py:58-159). Unverified: the service's full parameter
    list (its API page is not in the page store) and whether max_frames samples the interval."""
    from astropy.time import Time
    x, y, w, h = field_of_view(event, cut.min_fov_arcsec.to_value("arcsec"))
    t0, t1 = Time(event.start_time, scale="utc"), Time(event.end_time, scale="utc")
    n = max(1, math.ceil((t1 - t0).to_value("s") / cut.cadence_s.to_value("s")))
    return {"xcen": x, "ycen": y, "fovx": w, "fovy": h, "notrack": 1, "queue_job": 1,
            "waves": int(cut.wavelength_angstrom.to_value("angstrom")),
            "starttime": t0.strftime(SSW_TIME_FORMAT), "endtime": t1.strftime(SSW_TIME_FORMAT), "max_frames": n}


def _text(resp, url: str, what: str, limit: int) -> str:
    from levelpipe.jets.hek import _read_body
    return _read_body(resp, limit, url, what).decode("utf-8", errors="replace")


def ssw_cutouts(event, cut, out_dir: Path, session=None, *, sleep=time.sleep,
                clock: Callable[[], float] = time.monotonic) -> list[Path]:
    """Submit, poll, list and download one event's cutouts from the SSW service (§2.1)."""
    session = session or _session()
    s = cut.ssw
    page = _text(http_get(session, s.submit_url, ssw_params(event, cut), cut.http, what="submit", stream=True,
                          sleep=sleep), s.submit_url, "submit", cut.max_file_bytes)
    m = SSW_JOB_ID.search(page)
    if not m or not re.fullmatch(r"[A-Za-z0-9_.-]+", m.group(1)):
        raise JetsError("answer has no usable JobID", s.submit_url, "submit")
    job_url = s.data_url.rstrip("/") + "/" + m.group(1) + "/"
    t0 = clock()
    while True:
        page = _text(http_get(session, job_url, None, cut.http, what="job page", stream=True, sleep=sleep), job_url,
                     "job page", cut.max_file_bytes)
        if SSW_DONE_MARK in page:
            break
        wait = float(s.poll_interval_s.to_value("s"))
        if clock() - t0 + wait > s.job_timeout_s.to_value("s"):
            raise JetsError(f"job not finished after {s.job_timeout_s.to_value('s'):g} s (cutouts.ssw.job_timeout_s)",
                            job_url)
        sleep(wait)
    link = SSW_LIST_LINK.search(page)
    if not link:
        raise JetsError("finished job page has no per-wave list link", job_url)
    listing = _text(http_get(session, job_url + link.group(1), None, cut.http, what="file list", stream=True,
                             sleep=sleep), job_url, "file list", cut.max_file_bytes)
    names = [ln.strip().rsplit("/", 1)[-1] for ln in listing.splitlines() if ln.strip()]
    if len(names) > cut.max_frames:
        raise JetsError(f"{len(names)} files, more than cutouts.max_frames = {cut.max_frames}", job_url)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [download(session, job_url + n, out_dir / _safe_name(n, job_url), cut, sleep=sleep) for n in names]


def fetch_cutouts(event, cut, out_dir: Path, session=None, **kw) -> list[Path]:
    """The configured service's cutouts of one event (an error when the service is 'none')."""
    if cut.service == "jsoc":
        return jsoc_export(event, cut, out_dir, session, **kw)
    if cut.service == "ssw":
        return ssw_cutouts(event, cut, out_dir, session, **kw)
    raise JetsError("cutouts.service is 'none': nothing is downloaded", where="cutouts.service")


def write_cutouts(ctx) -> None:
    """Step `cutouts` (only when cutouts.service is jsoc or ssw): one event's frames from the
    service into results/jets/cutouts/<event>/ (the folder appears only when every file arrived)."""
    from levelpipe.jets.hek import read_events
    s = ctx.settings.cutouts
    events = read_events(ctx.inputs.one("events"))
    hit = events[events["event_id"] == ctx.granule]
    if hit.empty:
        raise JetsError(f"event {ctx.granule!r} is not in the event database", ctx.inputs.one("events"))
    out = Path(ctx.outputs.one("cutouts"))
    with atomic_output(out, suffix="") as tmp:
        tmp.unlink()
        fetch_cutouts(hit.iloc[0], s, tmp)
