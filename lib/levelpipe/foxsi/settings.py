"""Settings of the FOXSI chain (config/foxsi.yaml): the one definition of its keys, types, units
and limits. The schema config/schemas/foxsi.schema.yaml is generated from it
(``levelpipe schema --write``; tests/test_skeleton.py checks they agree).

Facts of the flights (launch times, detectors, rotation angles, offsets) come from
``../shared/research/foxsi.md`` §3 and live in the YAML, not here; this module only says what
each key is.
"""
from __future__ import annotations

import datetime as _dt
from typing import Annotated, Literal

import astropy.units as u
from pydantic import Field, field_validator, model_validator

from levelpipe.settings import Settings, Unit

N_DETECTORS = 7
_ISO = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$"


def _check_utc(value: str) -> str:
    t = _dt.datetime.fromisoformat(value)  # 2014-02-30 or 12:60 fail here with a clear message
    if t.tzinfo is not None:
        raise ValueError("give UTC without a time zone")
    return value


class DetectorSettings(Settings):
    """One detector position D0..D6 of a flight."""

    serial: int | None = Field(description="detector number (e.g. 108); null where the notes give none (CdTe)")
    material: Literal["Si", "CdTe"] = Field(description="Si: 75 um strips, y reflected; CdTe: 60 um, angle negated")
    peaks_file: str | None = Field(description="per-strip gain (peaks) file name; null: no energies")


class FlightSettings(Settings):
    """Everything that differs between flights."""

    name: str
    launch_utc: Annotated[str, Field(pattern=_ISO, description="launch time, UTC (ISO 8601, no zone)")]
    flight_files: list[str] = Field(description="names of the flight's real telemetry files (select this flight)")
    detectors: list[DetectorSettings] = Field(min_length=N_DETECTORS, max_length=N_DETECTORS)
    rotation_deg: Annotated[u.Quantity, Unit("deg", shape=(N_DETECTORS,))] = Field(
        description="detector -> payload rotation of D0..D6, counter-clockwise")
    xy_offset_arcsec: Annotated[u.Quantity, Unit("arcsec", shape=(2,))] = Field(
        description="added to payload + pitch / - yaw to give heliocentric x, y")
    keep_only_nominal_hv: bool = Field(description="L1 keeps only events at the nominal HV (FOXSI-2 on)")
    gse_file_name_utc_offset_h: Annotated[u.Quantity, Unit("h")] | None = Field(
        description="UTC offset of the time in GSE file names data_YYMMDD_HHMMSS.dat; null: not known")
    liss_pitch_file: str | None = Field(description="LISS pitch text file name (time after launch, arcsec)")
    liss_yaw_file: str | None = Field(description="LISS yaw text file name (time after launch, arcsec)")
    tracking_file: str | None = Field(description="payload tracking text file name (altitude)")

    @field_validator("launch_utc")
    @classmethod
    def _launch(cls, v: str) -> str:
        return _check_utc(v)


class FileSettings(Settings):
    """A telemetry file whose name is not one of a flight's `flight_files`."""

    flight: str = Field(description="key of `flights`")
    start_utc: Annotated[str, Field(pattern=_ISO)] | None = Field(
        default=None, description="UTC of the first frame (GSE .dat files without a time in their name)")

    @field_validator("start_utc")
    @classmethod
    def _start(cls, v: str | None) -> str | None:
        return None if v is None else _check_utc(v)


class DecodeSettings(Settings):
    byteorder: Literal["auto", "little", "big"] = Field(description="auto: from the sync words of each file")
    sniff_bytes: int = Field(ge=1024, description="bytes at the start of a file used to detect the byte order")
    chunk_bytes: int = Field(ge=1 << 16, le=1 << 30, description="bytes decoded at a time (bounds the memory)")
    slot_tolerance_bytes: int = Field(ge=0, le=128, description=(
        "a start sync this close to where a damaged frame must start marks that frame (bytes)"))
    max_missing_run: int = Field(ge=1, description="a forward counter jump above this is a counter reset (frames)")
    max_overlap_rounds: int = Field(ge=1, le=64, description="rounds of checks of overlapping candidates")
    min_decoded_fraction: float = Field(ge=0, le=1, description="a file decoding fewer of its framed records fails")
    wsmr_clock_tolerance_s: Annotated[u.Quantity, Unit("s", gt=0)] = Field(
        description="a WSMR time further than this from the one the frame clock predicts is flagged and replaced")


class Level0Settings(Settings):
    inflight_hv_v: Annotated[u.Quantity, Unit("V")] = Field(description="in flight: HV above this (IDL: 190 V)")
    max_common_mode: int = Field(ge=0, description="error_flag when any common mode exceeds this (10-bit ADC: 1023)")


class HousekeepingSettings(Settings):
    """Conversions of the 12-bit housekeeping values (notes §1d.2) and the detector thermistors."""

    full_scale: float = Field(gt=0, description="raw value at full scale (12 bit: 4095)")
    t_ref_zero_raw: float = Field(
        description="T_ref [degC] = (raw - t_ref_zero_raw) x t_ref_degc_per_raw + t_ref_at_zero_degc")
    t_ref_degc_per_raw: float
    t_ref_at_zero_degc: float
    plus_5v_full_scale_v: float = Field(description="+5 V = this x raw / full_scale")
    minus_5v_offset_v: float = Field(description="-5 V = this - minus_5v_span_v x raw / full_scale")
    minus_5v_span_v: float
    v3p3_full_scale_v: float
    v1p5_full_scale_v: float
    thermistor_series_ohm: float = Field(gt=0, description="R = series / (full_scale / raw - 1)")
    thermistor_a: float = Field(description="Steinhart-Hart: T = 1/(a + b ln R + c ln^3 R) - kelvin_offset")
    thermistor_b: float
    thermistor_c: float
    kelvin_offset: float
    detector_thermistor: dict[int, int] = Field(description="detector position -> thermistor number (1..11)")

    @field_validator("detector_thermistor")
    @classmethod
    def _thermistors(cls, v: dict[int, int]) -> dict[int, int]:
        for det, therm in v.items():
            if not 0 <= det < N_DETECTORS or not 1 <= therm <= 11:
                raise ValueError(f"detector {det} -> thermistor {therm}: detectors are 0..6, thermistors 1..11")
        return v


class AncillarySettings(Settings):
    """Layout of the tracking text file (notes §2b.7)."""

    tracking_time_column: int = Field(ge=0, description="column (from 0) holding time after launch (s)")
    tracking_altitude_column: int = Field(ge=0, description="column (from 0) holding the altitude")
    tracking_altitude_unit: Literal["m", "km"]


class Level1Settings(Settings):
    hv_nominal_v: Annotated[u.Quantity, Unit("V", gt=0)] = Field(description="the detectors' bias (200 V)")
    settle_after_launch_s: Annotated[u.Quantity, Unit("s", ge=0)] = Field(
        description="error bit 3 before launch + this (WSMR data)")
    livetime_min_us: Annotated[u.Quantity, Unit("us")] = Field(description="error bit 6 below this")
    livetime_max_us: Annotated[u.Quantity, Unit("us")] = Field(description="error bit 6 above this")
    si_edge_low: int = Field(description="error bit 5 (Si): a hit pixel below this ...")
    si_edge_high: int = Field(description="... or above this")
    si_pitch_um: Annotated[u.Quantity, Unit("um", gt=0)]
    cdte_pitch_um: Annotated[u.Quantity, Unit("um", gt=0)]
    focal_length_m: Annotated[u.Quantity, Unit("m", gt=0)]


class Level2Settings(Settings):
    fit_degree: int = Field(ge=1, le=4, description="degree of the ADC(E) fit through the peaks (IDL: 2)")
    energy_grid_kev: Annotated[u.Quantity, Unit("keV", shape=(3,))] = Field(
        description="first, last, step of the energy grid the fit is evaluated on (IDL: 0, 99.9, 0.1)")
    common_mode_dither: Literal["none", "seeded"] = Field(
        description="IDL adds U(-0.5, 0.5) to the common mode; seeded: the same, from dither_seed")
    dither_seed: int = Field(ge=0)
    energy_side: Literal["n", "p"] = Field(description="side whose hit energy is the event energy in products")


class ImageSettings(Settings):
    energy_band_kev: Annotated[u.Quantity, Unit("keV", shape=(2,))]
    pixel_arcsec: Annotated[u.Quantity, Unit("arcsec", gt=0)]
    half_width_arcsec: Annotated[u.Quantity, Unit("arcsec", gt=0)]


class SpectrumSettings(Settings):
    min_kev: Annotated[u.Quantity, Unit("keV")]
    max_kev: Annotated[u.Quantity, Unit("keV")]
    bin_kev: Annotated[u.Quantity, Unit("keV", gt=0)]


class LightcurveSettings(Settings):
    energy_band_kev: Annotated[u.Quantity, Unit("keV", shape=(2,))]
    bin_s: Annotated[u.Quantity, Unit("s", gt=0)]


class ProductSettings(Settings):
    require_inflight: bool
    error_mask: int = Field(ge=0, le=127, description="events with any of these L1 error bits are left out")
    image: ImageSettings
    spectrum: SpectrumSettings
    lightcurve: LightcurveSettings


class FoxsiSettings(Settings):
    """config/foxsi.yaml"""

    flights: dict[str, FlightSettings]
    files: dict[str, FileSettings] = Field(description="telemetry file name -> flight, for other names")
    decode: DecodeSettings
    l0: Level0Settings
    housekeeping: HousekeepingSettings
    ancillary: AncillarySettings
    l1: Level1Settings
    l2: Level2Settings
    products: ProductSettings

    @model_validator(mode="after")
    def _known_flights(self) -> "FoxsiSettings":
        for name, f in self.files.items():
            if f.flight not in self.flights:
                raise ValueError(f"files.{name}: unknown flight {f.flight!r} (known: {', '.join(self.flights)})")
        seen: dict[str, str] = {}
        for key, fl in self.flights.items():
            for fn in fl.flight_files:
                if fn in seen:
                    raise ValueError(f"flights.{key}: {fn} is already a file of flight {seen[fn]}")
                seen[fn] = key
        return self
