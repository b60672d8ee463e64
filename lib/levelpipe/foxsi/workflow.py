"""What the FOXSI rules need to know about their inputs: granules, flights, per-job config.

Kept in the library (not in rules/foxsi.smk) so the rules file holds only rules and the logic
is testable without Snakemake. Nothing here imports Snakemake: `wildcards` is any object with
a `recording` attribute (the granule: one telemetry file).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from levelpipe.errors import ConfigError
from levelpipe.foxsi.config import load_flight_config
from levelpipe.foxsi.flight import flight_for_file
from levelpipe.foxsi.formats import FILE_TYPES


class FoxsiInputs:
    """Telemetry files of the input folder and the flight config of each.

    config: the validated config/foxsi.yaml; input_dir: folder of .dat/.log files;
    resolve: maps a workflow-relative path from the config to a real path.
    """

    def __init__(self, config: dict, input_dir, resolve: Callable[[str], Path], schema_path):
        self.config = config
        self.flights = {name: load_flight_config(resolve(path), schema_path)
                        for name, path in config["flights"].items()}
        self.calibration_dir = Path(resolve(config["calibration_dir"]))
        # Decision: the granule is one telemetry file (a flight recording), named by its stem;
        # two files with the same stem (e.g. x.dat and x.log) would collide and are refused.
        self.files: dict[str, Path] = {}
        for path in sorted(p for p in Path(input_dir).iterdir() if p.suffix.lower() in FILE_TYPES):
            if path.stem in self.files:
                raise ConfigError(f"foxsi granule {path.stem!r} already given by {self.files[path.stem]}", path)
            self.files[path.stem] = path
        for path in self.files.values():
            name = flight_for_file(path, config["flight_by_file"])
            if name not in self.flights:
                raise ConfigError(f"flight_by_file names unknown flight {name!r}", path)

    @property
    def granules(self) -> list[str]:
        return list(self.files)

    def flight(self, granule: str) -> dict:
        return self.flights[flight_for_file(self.files[granule], self.config["flight_by_file"])]

    def telemetry(self, wildcards) -> str:
        return str(self.files[wildcards.recording])

    def params(self, *sections: str) -> Callable:
        """A params function giving the config sections a step uses plus the granule's flight."""
        def cfg(wildcards):
            return {**{s: self.config[s] for s in sections}, "flight": self.flight(wildcards.recording)}
        return cfg

    def gain_files(self, wildcards) -> list[str]:
        gains = self.flight(wildcards.recording)["gain_files"].values()
        return [str(self.calibration_dir / g) for g in gains if g]
