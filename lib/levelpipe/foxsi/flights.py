"""Which flight a telemetry file belongs to, and the times that follow from it.

Neither frame format names its flight (§1a), so the file name does: the real flight files of
the data description select their flight (``flights.<key>.flight_files``); any other file must be
given its flight in ``files``, or it is refused with one line.

Times here are numpy ``datetime64[ns]`` UTC (frame and event times: one per frame, vectorised);
a launch is also available as seconds of its UTC day, the unit of the WSMR time words (§1e).
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np

from levelpipe.errors import FoxsiError
from levelpipe.foxsi.settings import FileSettings, FlightSettings

# §1a.2: gsetest3 names its files data_%y%m%d_%H%M%S.dat.
GSE_NAME = re.compile(r"^data_(\d{6})_(\d{6})\.dat$")
NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class FileFlight:
    """A telemetry file's flight: its key, settings and, for a named file, its `files` entry."""

    key: str
    flight: FlightSettings
    entry: FileSettings | None

    @property
    def launch(self) -> np.datetime64:
        return np.datetime64(self.flight.launch_utc, "ns")

    @property
    def launch_day(self) -> np.datetime64:
        """00:00 UTC of the launch day: the origin of the WSMR seconds of day (§1e)."""
        return self.launch.astype("datetime64[D]").astype("datetime64[ns]")

    @property
    def launch_sod(self) -> float:
        """Launch time in seconds of its UTC day (t_launch of the IDL code, §3)."""
        return float((self.launch - self.launch_day) / np.timedelta64(1, "ns")) / NS_PER_S


def flight_of(path: str | Path, flights: dict[str, FlightSettings], files: dict[str, FileSettings]) -> FileFlight:
    """The flight of telemetry file `path`, by its name (see module docstring)."""
    name = Path(path).name
    for key, fl in flights.items():
        if name in fl.flight_files:
            return FileFlight(key, fl, files.get(name))
    if name in files:
        entry = files[name]
        if entry.flight not in flights:
            raise FoxsiError(f"config files.{name} names flight {entry.flight!r}, not in flights", path)
        return FileFlight(entry.flight, flights[entry.flight], entry)
    known = ", ".join(f for fl in flights.values() for f in fl.flight_files)
    raise FoxsiError(f"not a flight file name ({known}) and not in config files: give its flight there "
                     f"(files: {{{name}: {{flight: ...}}}})", path)


def gse_start(path: str | Path, ff: FileFlight) -> np.datetime64:
    """UTC of the first frame of a GSE ``.dat`` file: `files.<name>.start_utc` when given, else the
    time in its data_YYMMDD_HHMMSS name shifted by the flight's gse_file_name_utc_offset_h."""
    name = Path(path).name
    if ff.entry is not None and ff.entry.start_utc:
        return np.datetime64(ff.entry.start_utc, "ns")
    m = GSE_NAME.match(name)
    if not m:
        raise FoxsiError("a GSE file without a data_YYMMDD_HHMMSS name needs its first frame's UTC in config "
                         f"(files: {{{name}: {{flight: {ff.key}, start_utc: ...}}}})", path)
    if ff.flight.gse_file_name_utc_offset_h is None:
        raise FoxsiError(f"flights.{ff.key}.gse_file_name_utc_offset_h is null: the time in the name cannot "
                         "be converted to UTC; give files.<name>.start_utc", path)
    try:
        local = _dt.datetime.strptime(m.group(1) + m.group(2), "%y%m%d%H%M%S")
    except ValueError as err:
        raise FoxsiError(f"file name time is not a date ({err})", path) from None
    offset_ns = int(round(ff.flight.gse_file_name_utc_offset_h.to_value(u.h) * 3600 * NS_PER_S))
    return np.datetime64(local, "ns") - np.timedelta64(offset_ns, "ns")
