"""The FOXSI family: one granule per telemetry file, and its steps.

Index (one walk of the input folder):

- every ``.dat`` (GSE formatter frames) and ``.log`` (WSMR records) file is a granule named by its
  path below the input folder without the suffix, role ``telemetry``; its flight comes from its
  name (``flights.<key>.flight_files``) or from config ``files`` (``flights.flight_of``), else the
  granule is refused with the reason, and so is a GSE file whose first frame's UTC cannot be
  known (``flights.gse_start``);
- the flight's peaks files (role ``peaks``), LISS pitch and yaw files and tracking file (roles
  ``liss_pitch``, ``liss_yaw``, ``tracking``) are looked up by name anywhere in the folder, so a
  job declares exactly the calibration and pointing files it reads.

Decision: a ``.dat`` file that starts with the IDL save signature (the team's calibration tables
such as ``al_atten_len.dat`` are IDL save files) is not telemetry and is skipped.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from levelpipe.family import Family, Step
from levelpipe.index import GranuleIndex

from levelpipe.foxsi.settings import FoxsiSettings

_TELEMETRY = (".dat", ".log")
_IDL_SAVE = b"SR\x00\x04"


def _is_idl_save(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == _IDL_SAVE
    except OSError:
        return False


class FoxsiFamily(Family):
    name = "foxsi"
    package = "levelpipe.foxsi"
    title = "FOXSI sounding rocket (Focusing Optics X-ray Solar Imager)"
    settings_model = FoxsiSettings
    granule = "recording"
    granule_description = "one telemetry file (.dat GSE formatter frames or .log WSMR records)"
    layout = "telemetry files (.dat formatter, .log WSMR)"
    roles = {
        "telemetry": "the .dat or .log telemetry file",
        "peaks": "peaks (gain) file of one of the flight's detectors",
        "liss_pitch": "LISS pitch text file of the flight",
        "liss_yaw": "LISS yaw text file of the flight",
        "tracking": "tracking (altitude) text file of the flight",
    }
    required_roles = ("telemetry",)
    # steps that read `flights` or `files` get only their granule's flight (see step_config)
    per_granule_config = frozenset({"l0", "l1", "l2", "spectrum", "lightcurve"})
    # Memory, per MB of the granule's raw files: peak RSS (VmHWM) of each step run alone on the
    # benchmark's 210 MB WSMR file (405k frames, 141k events): l0 283 MB, l1 407 MB, l2 227 MB,
    # spectrum 363 MB; rounded up.
    steps = {
        "l0": Step(rule="decode_foxsi_l0", function="levelpipe.foxsi.l0:write_l0", level="L0",
                   sections=("flights", "files", "decode", "l0"), tables=("l0_detector", "l0_housekeeping"),
                   mem_mb=200, mem_mb_per_input_mb=0.8),
        "l1": Step(rule="calibrate_foxsi_l1", function="levelpipe.foxsi.l1:write_l1", level="L1",
                   sections=("flights", "l1", "housekeeping", "ancillary"), tables=("l1", "l1_housekeeping"),
                   mem_mb=200, mem_mb_per_input_mb=1.2),
        "l2": Step(rule="calibrate_foxsi_l2", function="levelpipe.foxsi.l2:write_l2", level="L2",
                   sections=("flights", "l0", "l2"), tables=("l2",), mem_mb=150, mem_mb_per_input_mb=0.6),
        "image": Step(rule="make_foxsi_images", function="levelpipe.foxsi.products:write_image",
                      level="L2 image", sections=("products",), tables=("image",), mem_mb=150,
                      mem_mb_per_input_mb=1.2),
        "spectrum": Step(rule="make_foxsi_spectra", function="levelpipe.foxsi.products:write_spectrum",
                         level="L2 spectrum", sections=("flights", "l1", "products"), tables=("spectrum",),
                         mem_mb=150, mem_mb_per_input_mb=1.2),
        "lightcurve": Step(rule="make_foxsi_lightcurves", function="levelpipe.foxsi.products:write_lightcurve",
                           level="L2 lightcurve", sections=("flights", "l1", "products"), tables=("lightcurve",),
                           mem_mb=150, mem_mb_per_input_mb=1.2),
        "quicklook": Step(rule="plot_foxsi_quicklook", function="levelpipe.foxsi.quicklook:write_quicklook",
                          level="L2 quicklook", mem_mb=400),
    }

    def index(self, root: Path, settings: FoxsiSettings) -> GranuleIndex:
        from levelpipe.errors import FoxsiError
        from levelpipe.foxsi.flights import flight_of, gse_start

        telemetry: list[str] = []
        by_name: dict[str, str] = {}
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for fn in sorted(filenames):
                path = os.path.join(dirpath, fn)
                if fn.lower().endswith(_TELEMETRY) and not fn.startswith("."):
                    if not (fn.lower().endswith(".dat") and _is_idl_save(path)):
                        telemetry.append(path)
                        continue
                by_name.setdefault(fn, path)
        index = GranuleIndex(self.name, str(root))
        for path in telemetry:
            rel = Path(path).relative_to(root)
            name = rel.with_suffix("").as_posix()
            try:
                ff = flight_of(path, settings.flights, settings.files)
                if path.lower().endswith(".dat"):
                    gse_start(path, ff)
            except FoxsiError as err:
                index.refused[name] = err.message
                continue
            fl = ff.flight
            files: dict[str, list[str]] = {"telemetry": [path]}
            files["peaks"] = [by_name[d.peaks_file] for d in fl.detectors if d.peaks_file and d.peaks_file in by_name]
            for role, fn in (("liss_pitch", fl.liss_pitch_file), ("liss_yaw", fl.liss_yaw_file),
                             ("tracking", fl.tracking_file)):
                if fn and fn in by_name:
                    files[role] = [by_name[fn]]
            index.add(name, files)
        return index

    def targets(self, plan, result) -> list[str]:
        out = []
        for g in plan.granules:
            out += [result(self.name, d, f"{g}.nc") for d in ("images", "spectra", "lightcurves")]
            out += [result(self.name, "quicklook", f"{g}_{p}.png") for p in ("image", "spectrum", "lightcurve",
                                                                           "housekeeping")]
        return out

    def step_config(self, step: str, plain, granule: str | None) -> dict[str, Any]:
        """Per-granule config: a file's steps get only its flight (and its `files` entry), so a
        change to one flight's constants reruns no other flight's files. `plain`: the settings
        as plain data (Settings.plain())."""
        cfg = super().step_config(step, plain, granule)
        if granule is None or not ({"flights", "files"} & set(cfg)):
            return cfg
        key = self._flight_key(granule, plain)
        if key is None:
            return cfg
        if "flights" in cfg:
            cfg["flights"] = {key: cfg["flights"][key]}
        if "files" in cfg:
            stem = granule.rsplit("/", 1)[-1]
            cfg["files"] = {k: v for k, v in cfg["files"].items() if Path(k).stem == stem}
        return cfg

    @staticmethod
    def _flight_key(granule: str, plain) -> str | None:
        """The flight of a granule (a telemetry file's path without its suffix), from the names."""
        stem = granule.rsplit("/", 1)[-1]
        keys = {key for key, fl in plain["flights"].items() for fn in fl["flight_files"] if Path(fn).stem == stem}
        keys |= {f["flight"] for fn, f in plain["files"].items() if Path(fn).stem == stem}
        return keys.pop() if len(keys) == 1 else None


FAMILY = FoxsiFamily()
