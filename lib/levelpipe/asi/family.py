"""The all-sky-imager family: site-hour granules of a UCalgary archive and their steps.

Index (one walk of the input tree, in the data server's ``sort_by_project`` layout):

- raw minute files below a ``stream0*`` folder, grouped by site-hour
  (``<instrument>_<site>_<device>_<YYYYMMDD>_ut<HH>``), role ``raw``;
- skymaps (``*_skymap_*.sav`` below ``<project>/skymap*/``): the best one for the granule's
  instrument, site and day is chosen here, once, and is the granule's only ``skymap`` file;
- calibration files (below ``<project>/calibration/``): for instruments calibrated to Rayleighs,
  the best flatfield and Rayleighs file for the granule's detector and day (the detector UID is
  the camera serial number in the first frame's header, read from the file's first 64 KiB, or
  the configured device table), roles ``flatfield`` and ``rayleighs``.

So a job declares exactly the files it reads, and a new calibration file reruns only the
granules whose choice it changes.
"""
from __future__ import annotations

import datetime as _dt
import os
import re
from pathlib import Path
from typing import Any

from levelpipe.family import Family, Step
from levelpipe.index import GranuleIndex

from levelpipe.asi.settings import INSTRUMENTS, AsiSettings

_RAW_SUFFIXES = (".pgm", ".pgm.gz", ".pgm.bz2", ".h5", ".png", ".png.tar")
_GRANULE = re.compile(rf"^({'|'.join(INSTRUMENTS)})_([a-z0-9]+)_([a-z0-9-]+)_(\d{{8}})_ut(\d{{2}})$")


def granule_parts(name: str) -> tuple[str, str, str, _dt.date, int]:
    """(instrument, site, device, day, hour) of a site-hour granule name."""
    m = _GRANULE.match(name)
    if not m:
        raise ValueError(f"not an ASI site-hour granule: {name!r}")
    instrument, site, device, day, hour = m.groups()
    return instrument, site, device, _dt.datetime.strptime(day, "%Y%m%d").date(), int(hour)


class AsiFamily(Family):
    name = "asi"
    package = "levelpipe.asi"
    title = "UCalgary all-sky imagers (THEMIS, REGO, TREx)"
    settings_model = AsiSettings
    granule = "site_hour"
    granule_description = "one imager at one site for one UT hour"
    layout = "raw imager files in the data server's layout (.pgm[.gz|.bz2], .h5, .png)"
    roles = {
        "raw": "one-minute raw file (PGM, HDF5, PNG or PNG tar)",
        "skymap": "the skymap chosen for the granule (IDL .sav)",
        "flatfield": "the flatfield file chosen for the granule's detector",
        "rayleighs": "the Rayleighs-per-DN/s file chosen for the granule's detector",
    }
    required_roles = ("raw",)
    per_granule_config = frozenset({"l1", "l2"})
    granule_pattern = _GRANULE.pattern.strip("^$")
    steps = {
        "l1": Step(rule="calibrate_asi_l1", function="levelpipe.asi.l1:write_l1", level="L1",
                   sections=("instruments", "calibration"), tables=("l1",), threads=2,
                   mem_mb=400, mem_mb_per_input_mb=12.0),
        "l2": Step(rule="project_asi_l2", function="levelpipe.asi.l2:write_l2", level="L2",
                   sections=("l2",), tables=("l2",), mem_mb=600, mem_mb_per_input_mb=2.0),
        "keogram": Step(rule="make_asi_keogram", function="levelpipe.asi.products:write_keogram",
                        level="L2 keogram", sections=("keogram",), tables=("keogram",),
                        mem_mb=400, mem_mb_per_input_mb=2.0),
        "mosaic": Step(rule="make_asi_mosaic", function="levelpipe.asi.products:write_mosaic",
                       level="L2 mosaic", sections=("mosaic",), tables=("mosaic",),
                       mem_mb=500, mem_mb_per_input_mb=1.0),
        "movie": Step(rule="make_asi_movie", function="levelpipe.asi.products:write_movie",
                      level="L1 movie", sections=("movie",), mem_mb=500, mem_mb_per_input_mb=2.0),
        "quicklook": Step(rule="plot_asi_quicklook", function="levelpipe.asi.products:write_quicklook",
                          level="L1 quicklook", sections=("keogram",), mem_mb=500, mem_mb_per_input_mb=2.0),
    }

    def index(self, root: Path, settings: AsiSettings) -> GranuleIndex:
        from levelpipe.asi.calibration import best_calibration, detector_uid, parse_calibration_name
        from levelpipe.asi.readers import parse_filename, peek_metadata
        from levelpipe.asi.skymap import INSTRUMENT_SKYMAP_PREFIX, parse_skymap_name, select_best
        from levelpipe.errors import AsiError

        raw: dict[str, list[str]] = {}
        skymaps, calibrations, refused = [], [], {}
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel = Path(dirpath).relative_to(root).parts
            in_stream = any(p.startswith("stream0") for p in rel)
            for fn in sorted(filenames):
                path = os.path.join(dirpath, fn)
                lower = fn.lower()
                if in_stream and lower.endswith(_RAW_SUFFIXES):
                    try:
                        info = parse_filename(fn)
                    except AsiError as err:
                        refused[path] = err.message
                        continue
                    t = info.start.astype("datetime64[m]").item()
                    raw.setdefault(f"{info.instrument}_{info.site}_{info.device}_{t:%Y%m%d}_ut{t:%H}",
                                   []).append(path)
                elif lower.endswith(".sav") and any(p.lower().startswith("skymap") for p in rel):
                    try:
                        skymaps.append(parse_skymap_name(path))
                    except AsiError:
                        pass
                elif lower.endswith(".sav") and "calibration" in (p.lower() for p in rel):
                    try:
                        calibrations.append(parse_calibration_name(path))
                    except AsiError:
                        pass
        index = GranuleIndex(self.name, str(root))
        by_site: dict[tuple[str, str], list] = {}
        for s in skymaps:
            by_site.setdefault((s.project, s.site), []).append(s)
        for name in sorted(raw):
            instrument, site, device, day, _ = granule_parts(name)
            files: dict[str, list[str]] = {"raw": sorted(raw[name])}
            if instrument in settings.l2.project:
                best = select_best(by_site.get((INSTRUMENT_SKYMAP_PREFIX[instrument], site), []), day)
                if best is not None:
                    files["skymap"] = [str(best.path)]
            icfg = settings.instruments.get(instrument)
            if icfg is not None and icfg.calibrate == "rayleighs":
                detector = detector_uid(peek_metadata(files["raw"][0]), device,
                                        settings.calibration.device_detector)
                for kind in ("flatfield", "rayleighs"):
                    best = best_calibration(calibrations, kind, detector, day) if detector else None
                    if best is not None:
                        files[kind] = [str(best.path)]
            index.add(name, files)
        for path, reason in refused.items():
            index.refused[path] = reason
        return index

    def targets(self, plan, result) -> list[str]:
        projected = l2_granules(plan.index)
        return [
            *[result(self.name, d, f"{g}.{e}") for g in plan.granules for d, e in
              (("l1", "nc"), ("quicklook", "png"), ("movie", "mp4"))],
            *[result(self.name, d, f"{g}.{e}") for g in projected for d, e in
              (("l2", "nc"), ("keogram", "nc"), ("keogram", "png"))],
            *[result(self.name, "mosaic", f"{m}.{e}") for m in plan.derived(mosaics) for e in ("nc", "png")],
        ]

    def step_config(self, step: str, plain, granule: str | None) -> dict[str, Any]:
        """Per-granule config: a site-hour's L1 gets only its instrument's constants and its L2
        only its instrument's altitude, so changing REGO's settings reruns no THEMIS job."""
        cfg = super().step_config(step, plain, granule)
        if granule is None or step not in ("l1", "l2"):
            return cfg
        instrument = next(i for i in INSTRUMENTS if granule.startswith(i + "_"))
        if step == "l1":
            cfg["instruments"] = {k: v for k, v in cfg["instruments"].items() if k == instrument}
        else:
            cfg["l2"] = {**cfg["l2"], "altitude_km": {k: v for k, v in cfg["l2"]["altitude_km"].items()
                                                      if k == instrument}}
        return cfg


FAMILY = AsiFamily()


def l2_granules(index: GranuleIndex) -> list[str]:
    """Site-hours that get an L2 projection: those the index found a skymap for."""
    return [g for g, gr in index.granules.items() if gr.one("skymap")]


def mosaics(plan) -> dict[str, list[str]]:
    """{mosaic name: L2 granules it combines} for each configured instrument and time of a run.

    A mosaic `<instrument>_<YYYYMMDD>T<HHMMSS>` takes the site-hours of that instrument whose
    hour (widened by the time tolerance) holds the time.
    """
    import numpy as np
    index, cfg = plan.index, plan.settings.mosaic
    tol = np.timedelta64(int(round(cfg.time_tolerance_s.to_value("s") * 1e9)), "ns")
    out: dict[str, list[str]] = {}
    for instrument in cfg.instruments:
        for when in cfg.times:
            t = np.datetime64(when, "ns")
            members = []
            for g in l2_granules(index):
                inst, _site, _device, day, hour = granule_parts(g)
                start = np.datetime64(f"{day.isoformat()}T{hour:02d}:00", "ns")
                if inst == instrument and start - tol <= t < start + np.timedelta64(1, "h") + tol:
                    members.append(g)
            if members:
                out[f"{instrument}_{when.replace('-', '').replace(':', '')}"] = sorted(members)
    return out


def mosaic_time(name: str) -> str:
    """The UTC time (YYYY-MM-DDTHH:MM:SS) of a mosaic name `<instrument>_<YYYYMMDD>T<HHMMSS>`."""
    stamp = name.rsplit("_", 1)[1]
    return _dt.datetime.strptime(stamp, "%Y%m%dT%H%M%S").isoformat()
