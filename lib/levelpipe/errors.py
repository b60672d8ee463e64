"""One exception hierarchy for the whole project.

Every error names the file and, where it applies, the place in it (line, byte offset, frame), so
a failing rule prints one line a user can act on: ``path:where: what is wrong``.
"""
from __future__ import annotations

import os


class LevelpipeError(Exception):
    """Root of all levelpipe errors."""

    def __init__(self, message: str, path: str | os.PathLike | None = None, where: str | None = None):
        self.message = message
        self.path = os.fspath(path) if path is not None else None
        self.where = where
        super().__init__(str(self))

    def __str__(self) -> str:  # one line: file:place: message
        parts = [p for p in (self.path, self.where) if p]
        prefix = ":".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class ConfigError(LevelpipeError):
    """A configuration value is missing, out of range or inconsistent."""


class TimepixError(LevelpipeError):
    """VZLUSAT-1 Timepix input that cannot be read."""


class FoxsiError(LevelpipeError):
    """FOXSI telemetry or calibration input that cannot be read."""


class AsiError(LevelpipeError):
    """All-sky-imager raw, skymap or calibration input that cannot be read."""


class ArchiveError(LevelpipeError):
    """A download or archive-layout problem (size or checksum mismatch, bad response)."""
