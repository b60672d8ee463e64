"""What the ASI workflow rules need at DAG-build time: granules and their input files.

Kept in the library (not in rules/asi.smk) so the rules file holds rules only and the logic is
testable: site-hours found in the input archive, each granule's raw files, candidate calibration
files, best skymap, the granules that get an L2, and the configured mosaics.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from levelpipe.asi.archive import find_site_hours
from levelpipe.asi.readers import FileName, parse_filename
from levelpipe.asi.simulate import PROJECT_PATH
from levelpipe.asi.skymap import best_skymap
from levelpipe.errors import AsiError


class AsiInputs:
    """Granules (<instrument>_<site>_<device>_<YYYYMMDD>_ut<HH>) of an input archive."""

    def __init__(self, root: str | os.PathLike, cfg: Mapping[str, Any]):
        self.root = Path(root)
        self.cfg = cfg
        self.site_hours = find_site_hours(self.root)
        self._skymaps = {g: self._find_skymap(g) for g in self.site_hours}
        self.l2_granules = [g for g in self.site_hours
                            if self.info(g).instrument in cfg["l2"]["project"] and self._skymaps[g]]
        self.mosaics = self._find_mosaics()

    def info(self, granule: str) -> FileName:
        return parse_filename(self.site_hours[granule][0])

    def raw(self, granule: str) -> list[str]:
        return [str(p) for p in self.site_hours[granule]]

    def calibration_files(self, granule: str) -> list[str]:
        """Candidate flatfield/Rayleighs files (the best one is chosen from the raw header)."""
        instrument = self.info(granule).instrument
        if self.cfg["instruments"][instrument]["calibrate"] != "rayleighs":
            return []
        return sorted(str(p) for p in (self.root / PROJECT_PATH[instrument] / "calibration").glob("*.sav"))

    def skymap(self, granule: str) -> str | None:
        return self._skymaps[granule]

    def _find_skymap(self, granule: str) -> str | None:
        info = self.info(granule)
        try:
            return str(best_skymap(self.root, info.instrument, info.site, info.start))
        except AsiError:
            return None

    def _find_mosaics(self) -> dict[str, tuple[str, list[str]]]:
        """{name: (time, granules)} for each configured instrument and time that has data."""
        cfg = self.cfg["mosaic"]
        tol = np.timedelta64(int(cfg["time_tolerance_s"] * 1e9), "ns")
        out = {}
        for instrument in cfg["instruments"]:
            for when in cfg["times"]:
                t = np.datetime64(when, "ns")
                granules = []
                for g in self.l2_granules:
                    info = self.info(g)
                    hour = info.start.astype("datetime64[h]").astype("datetime64[ns]")
                    if info.instrument == instrument and hour - tol <= t < hour + np.timedelta64(1, "h") + tol:
                        granules.append(g)
                if granules:
                    out[f"{instrument}_{when.replace('-', '').replace(':', '')}"] = (when, sorted(granules))
        return out
