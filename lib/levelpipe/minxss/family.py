"""The MinXSS family: UTC-day granules of MinXSS-1/-2 raw telemetry and their steps.

Input tree (below ``inputs.minxss``; folder names are free):

- raw telemetry files (``framing.raw_suffixes``: HYDRA/ISIS ``tlm_packets_*`` streams, AX.25 or
  KISS captures, §2), anywhere;
- TLE histories ``<NORAD id, 8 digits>.tle`` (§12), anywhere;
- GOES XRS one-minute files ``sci_xrsf-l2-avg1m_g<NN>_d<YYYYMMDD>_*.nc`` (§13), anywhere.

Decision: (raw files to days) file names do not tell which days a file's packets belong to
(ground files are named by the receive date, and playbacks carry older data), so the index
reads each raw file once with a framing pass and the raw time stamps only (``packets.scan_days``:
numpy over the whole file, no field decoded, no check bytes). A file feeds every day its
packets fall on (widened by ``time.index_margin_s``), so a file spanning midnight feeds both
days. The granule ``<YYYY-MM-DD>`` lists its raw files under the packet types they hold that
day (roles ``hk``, ``sci``, ``adcs``, ``log``, by the same corrected times L0C computes); role ``raw``
lists every file L0C of the day reads: those plus files with packets within the margin of the
day (a record's continuation segments, a packet the clock fixes move). L0C writes one product per
type present, and only days with SCI records get L0D and the levels above. A day's
TLE file is its flight model's (by the L0B time windows, §1); its GOES files are those of the
day and the neighbouring days (for interpolation across midnight), of the first satellite of
``goes_satellites`` that has the day.
"""
from __future__ import annotations

import datetime as _dt
import os
import re
from pathlib import Path

from levelpipe.family import Family, Step
from levelpipe.index import FileCache, GranuleIndex

from levelpipe.minxss.settings import MinxssSettings

TYPES = ("hk", "sci", "adcs", "log")
#: the XTCE documents every L0C step reads (their digest reruns L0C when a definition changes)
DEFINITION_FILES = tuple(f"packet_definitions/{n}.xml" for n in
                         ("hk", "sci_fm1", "sci_fm2", "log", "adcs1", "adcs2", "adcs3", "adcs4"))
_TLE = re.compile(r"^(\d{8})\.tle$")
_GOES = re.compile(r"^sci_xrsf-l2-avg1m_g(\d{2})_d(\d{8})_.*\.nc$")
#: §13: MinXSS-1 should use GOES-15; MinXSS-2 has GOES-15 and GOES-16 (15 first: the bundled file)
GOES_SATELLITES = (15, 16, 14, 13, 17)


class MinxssFamily(Family):
    name = "minxss"
    package = "levelpipe.minxss"
    title = "MinXSS-1 and MinXSS-2 CubeSats (X123 soft X-ray spectrometer)"
    settings_model = MinxssSettings
    granule = "day"
    granule_description = "one UTC day"
    granule_pattern = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    layout = "raw MinXSS telemetry files (.bin, .kss, .kiss, .dat, .tlm), TLE files <NORAD>.tle, GOES XRS netCDF"
    roles = {
        "raw": "raw telemetry file the day's L0C reads",
        "hk": "raw telemetry file holding HK packets of the day",
        "sci": "raw telemetry file holding SCI packets of the day",
        "adcs": "raw telemetry file holding ADCS packets of the day",
        "log": "raw telemetry file holding LOG packets of the day",
        "tle": "TLE history of the day's flight model (<NORAD id>.tle)",
        "goes": "GOES XRS one-minute file of the day or a neighbouring day",
    }
    required_roles = ("raw",)
    # Memory: peak RSS measured on one simulated 24-hour day (8.5 MB raw, 8640 records) and, for
    # L0C, a 105 MB raw file (910 MB): L0C 280 MB, L0D 340 MB, L1 770 MB, L2/L3 720 MB, quicklook
    # 640 MB; the figures below leave some room.
    steps = {
        **{f"l0c_{k}": Step(rule=f"decode_minxss_l0c_{k}", function="levelpipe.minxss.l0c:write_l0c", level="L0C",
                            sections=("framing", "flight_models", "time", "l0c"), tables=(f"l0c_{k}",),
                            data=DEFINITION_FILES, mem_mb=300, mem_mb_per_input_mb=8.0) for k in TYPES},
        "l0d": Step(rule="interpolate_minxss_l0d", function="levelpipe.minxss.l0d:write_l0d", level="L0D",
                    sections=("l0d",), tables=("l0d",), mem_mb=450),
        "l1": Step(rule="calibrate_minxss_l1", function="levelpipe.minxss.l1:write_l1", level="L1",
                   sections=("l1", "energy_scale"), tables=("l1",), mem_mb=1000),
        "l2": Step(rule="average_minxss_l2", function="levelpipe.minxss.averages:write_l2", level="L2",
                   sections=("averages", "l1", "l0d"), tables=("average",), mem_mb=900),
        "l3": Step(rule="average_minxss_l3", function="levelpipe.minxss.averages:write_l3", level="L3",
                   sections=("averages", "l1", "l0d"), tables=("average",), mem_mb=900),
        "quicklook": Step(rule="plot_minxss_quicklook", function="levelpipe.minxss.quicklook:write_quicklooks",
                          level="L0D quicklook", sections=("quicklook", "l0d", "energy_scale"), mem_mb=800),
    }

    def index(self, root: Path, settings: MinxssSettings, cache: FileCache | None = None) -> GranuleIndex:
        from levelpipe.minxss.errors import MinxssError
        from levelpipe.minxss.packets import scan_days
        from levelpipe.provenance import config_digest

        cache = cache or FileCache(None)
        # what decides a file's days: the framing and the clock (flight-model windows, shifts)
        look = config_digest(settings.section("framing", "flight_models", "time"))

        def days_of(path):
            days, near = scan_days(path, settings)
            return [{d: sorted(k) for d, k in days.items()}, sorted(near)]

        raw_sfx = tuple(s.lower() for s in settings.framing.raw_suffixes)
        by_day: dict[str, dict[str, list[str]]] = {}
        tles: dict[int, str] = {}
        goes: dict[tuple[int, str], list[str]] = {}
        refused: dict[str, str] = {}
        near_files: dict[str, list[str]] = {}
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for fn in sorted(filenames):
                path = os.path.join(dirpath, fn)
                if m := _TLE.match(fn):
                    tles[int(m.group(1))] = path
                elif m := _GOES.match(fn):
                    goes.setdefault((int(m.group(1)), m.group(2)), []).append(path)
                elif fn.lower().endswith(raw_sfx):
                    try:
                        days, near = cache.lookup(path, look, lambda path=path: days_of(path))
                    except MinxssError as err:
                        refused[path] = err.message
                        continue
                    if not days:
                        refused[path] = "no MinXSS packet inside a flight model's time window"
                    for day, kinds in days.items():
                        for k in kinds:
                            by_day.setdefault(day, {}).setdefault(k, []).append(path)
                    for day in near:
                        near_files.setdefault(day, []).append(path)
        index = GranuleIndex(self.name, str(root))
        for day in sorted(by_day):
            files = {"raw": sorted(set(near_files.get(day, [])) | {p for ps in by_day[day].values() for p in ps})}
            files.update({k: sorted(by_day[day][k]) for k in TYPES if k in by_day[day]})
            fm = flight_model_of_day(day, settings)
            if fm is not None and settings.flight_models[fm].norad_id in tles:
                files["tle"] = [tles[settings.flight_models[fm].norad_id]]
            files["goes"] = goes_files(day, goes)
            index.add(day, files)
        index.refused.update(refused)
        return index


    def targets(self, plan, result) -> list[str]:
        out = []
        for day in plan.granules:
            g = plan.index[day]
            out += [result(self.name, "l0c", f"{day}_{k}.nc") for k in TYPES if g.get(k)]
            if g.get("sci"):
                out += [result(self.name, "l0d", f"{day}.nc"), result(self.name, "l1", f"{day}.nc")]
                cfg = plan.settings.averages
                out += [result(self.name, cfg.level[n].lower(), f"{day}_{n}.nc") for n in cfg.bins_minutes]
                out += [result(self.name, "quicklook", f"{day}_{q}.png") for q in ("spectrogram", "orbit")]
        return out


def flight_model_of_day(day: str, settings: MinxssSettings) -> int | None:
    """The flight model whose L0B window overlaps the UTC day (§1; the windows are disjoint)."""
    from levelpipe.minxss.clock import utc_to_gps_seconds
    import numpy as np

    lo = np.datetime64(day, "ns")
    g0, g1 = utc_to_gps_seconds(np.array([lo, lo + np.timedelta64(1, "D")]))
    for k, f in settings.flight_models.items():
        if g0 <= f.window_end_gps_s.to_value("s") and g1 >= f.window_start_gps_s.to_value("s"):
            return k
    return None


def goes_files(day: str, goes: dict[tuple[int, str], list[str]]) -> list[str]:
    d = _dt.date.fromisoformat(day)
    near = [(d + _dt.timedelta(days=k)).strftime("%Y%m%d") for k in (-1, 0, 1)]
    for sat in GOES_SATELLITES:
        if (sat, near[1]) in goes:
            return sorted(p for n in near for p in goes.get((sat, n), []))
    return []


def neighbours(index: GranuleIndex, day: str, role: str) -> list[str]:
    """The days D-1, D, D+1 that have packets of `role` (L0D reads their L0C products)."""
    d = _dt.date.fromisoformat(day)
    out = []
    for k in (-1, 0, 1):
        n = (d + _dt.timedelta(days=k)).isoformat()
        if n in index and index[n].get(role):
            out.append(n)
    return out


FAMILY = MinxssFamily()
