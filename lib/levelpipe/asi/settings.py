"""Settings of the all-sky-imager chain (config/asi.yaml): the one definition of its keys,
types, units and limits. The schema config/schemas/asi.schema.yaml is generated from it."""
from __future__ import annotations

import datetime as _dt
from typing import Annotated, Literal

import astropy.units as u
from pydantic import ConfigDict, Field, field_validator

from levelpipe.settings import Settings, Unit

Instrument = Literal["themis", "rego", "trex_nir", "trex_blue", "trex_rgb"]
INSTRUMENTS: tuple[str, ...] = Instrument.__args__
Percentiles = Annotated[tuple[Annotated[float, Field(ge=0, le=100)], Annotated[float, Field(ge=0, le=100)]],
                        Field(description="low and high percentile of finite values mapped to the display range")]


class InstrumentSettings(Settings):
    """Constants of one imager family."""

    nominal_exposure_s: Annotated[u.Quantity, Unit("s", gt=0)] = Field(
        description="exposure used for frames whose header gives none (flagged)")
    frames_per_minute: int = Field(ge=1, description="nominal cadence; sizes the site-hour buffer")
    calibrate: Literal["dark", "rayleighs"] = Field(
        description="dark: dark-subtracted counts; rayleighs: dark, flatfield and Rayleighs files")


class CalibrationSettings(Settings):
    dark_box_px: int = Field(ge=1, description="side of the corner box whose mean is each frame's dark level (px)")
    device_detector: dict[str, str] = Field(
        default_factory=dict, description="device UID -> detector UID, for headers without a camera serial number")


class ReadingSettings(Settings):
    """Bounds that keep a damaged or hostile raw file from costing unbounded memory or time, and
    what a site-hour must decode to be written. Every reader checks the first three against
    what a file declares (frame dimensions, member sizes, inflated size) before allocating.
    The defaults are what readers use when called without settings (tests, fuzzing, notebooks)."""

    model_config = ConfigDict(**Settings.model_config, validate_default=True)

    max_frame_side_px: int = Field(
        2560, ge=1, description=("largest frame width or height accepted (px); frames declaring more are "
                                 "counted as too_large (default: the largest sensor side in the real headers, "
                                 "TREx Blueline 'CCD xsize 2560 pixels')"))
    max_frames_per_file: int = Field(
        1200, ge=1, description="most frames (PGM frames, PNG members, HDF5 frames) read from one raw file")
    max_file_mib: Annotated[u.Quantity, Unit("MiB", gt=0)] = Field(
        64, description="largest raw file, after decompression (MiB); a file inflating to more is refused")
    max_header_bytes: int = Field(65536, ge=64, description="longest PGM frame header (bytes)")
    frame_time_slack_s: Annotated[u.Quantity, Unit("s", ge=0)] = Field(
        60, description=("a frame whose header time lies further than this outside its file name's minute "
                         "is counted as bad_time"))
    hdf5_timeout_s: Annotated[u.Quantity, Unit("s", gt=0)] = Field(
        5, description=("longest time one HDF5 file may take to read (the HDF5 library can loop forever on a "
                        "damaged file; it reads in a child process that is stopped after this)"))
    min_good_fraction: float = Field(
        0.5, ge=0, le=1, description=("the L1 step fails when fewer than this share of the frames met "
                                      "(decoded + counted bad + nominal frames of unreadable files) decoded"))


class L2Settings(Settings):
    altitude_km: dict[Instrument, Annotated[u.Quantity, Unit("km", gt=0)]] = Field(
        description="emission altitude of the projection per instrument (within the skymap's altitudes)")
    min_elevation_deg: Annotated[u.Quantity, Unit("deg", ge=0, le=90)] = Field(
        description="pixels below this elevation are dropped")
    lat_resolution_deg: Annotated[u.Quantity, Unit("deg", gt=0)] = Field(description="grid latitude step")
    lon_resolution_deg: Annotated[u.Quantity, Unit("deg", gt=0)] = Field(description="grid longitude step")
    project: list[Instrument] = Field(description="instruments that get an L2 projection (need a skymap)")


class KeogramSettings(Settings):
    percentiles: Percentiles


class MosaicSettings(Settings):
    instruments: list[Instrument] = Field(description="instrument families to mosaic")
    times: list[Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")]] = Field(
        description="UTC times of the mosaics (YYYY-MM-DDTHH:MM:SS)")
    time_tolerance_s: Annotated[u.Quantity, Unit("s", ge=0)] = Field(
        description="largest distance of the frame used from the mosaic time")
    percentiles: Percentiles
    coastline_resolution: Literal["c", "l", "i"] = Field(description="GSHHS shoreline detail on mosaic PNGs")

    @field_validator("times")
    @classmethod
    def _real_times(cls, times: list[str]) -> list[str]:
        for t in times:
            _dt.datetime.fromisoformat(t)  # a 2014-02-30 fails here with a clear message
        return times


class MovieSettings(Settings):
    fps: int = Field(ge=1, description="frames per second")
    percentiles: Percentiles


class ArchiveSettings(Settings):
    enabled: bool = Field(description="must be true for any download to happen")
    base_url: str = Field(description="root URL that the local layout mirrors")
    timeout_s: Annotated[u.Quantity, Unit("s", gt=0)] = Field(description="per-request timeout")
    deadline_s: Annotated[u.Quantity, Unit("s", gt=0)] = Field(
        description="overall time allowed for one file, retries included (a server trickling bytes cannot hold it)")
    retries: int = Field(ge=0, description="retries after a failed or short transfer (not after 4xx but 408/429)")


class AsiSettings(Settings):
    """config/asi.yaml"""

    instruments: dict[Instrument, InstrumentSettings]
    reading: ReadingSettings
    calibration: CalibrationSettings
    l2: L2Settings
    keogram: KeogramSettings
    mosaic: MosaicSettings
    movie: MovieSettings
    archive: ArchiveSettings
