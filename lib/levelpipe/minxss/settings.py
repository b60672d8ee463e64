"""Settings of the MinXSS chain (config/minxss.yaml): the one definition of its keys, types, units
and limits. Every constant of the research notes that a scientist might change lives here, with
the section of ``minxss.md`` it comes from; the code holds none."""
from __future__ import annotations

from typing import Annotated, Literal

import astropy.units as u
from pydantic import Field, model_validator

from levelpipe.settings import Settings, Unit

Seconds = Annotated[u.Quantity, Unit("s")]
PositiveSeconds = Annotated[u.Quantity, Unit("s", gt=0)]
#: a flight model number (1 MinXSS-1, 2 MinXSS-2); an int so that keys survive JSON (params) as text
FlightModelId = Annotated[int, Field(ge=1, le=2)]


class FramingSettings(Settings):
    """§2: how packets are found in a raw file."""

    header_window_bytes: int = Field(ge=0, description="bytes tolerated between packets (§2: 12 + 18)")
    kiss_header_window_bytes: int = Field(ge=0, description="the same for KISS and ham files (§2: + 18)")
    kiss_suffixes: list[str] = Field(description="file suffixes un-KISSed automatically (R1:90, R2:97)")
    ham_name_marker: str = Field(description="files whose name contains this get the KISS window (R1:105-110)")
    raw_suffixes: list[str] = Field(description="file suffixes the index takes as raw telemetry")
    max_file_bytes: int = Field(gt=0, description="larger raw files are refused (the whole file is read)")
    keep_bad_checksum: bool = Field(
        description="keep packets whose check bytes fail (flagged checksum_ok = 0) instead of skipping them")
    max_bad_fraction: float = Field(ge=0, le=1, description=(
        "a file whose rejected candidates exceed this fraction of all candidates fails the step"))


class FlightModelSettings(Settings):
    """§1, §5: what tells one flight model's packets from the other's, and its clock fixes."""

    norad_id: int = Field(gt=0, description="NORAD catalogue number (TLE file name, §12)")
    window_start_gps_s: Annotated[u.Quantity, Unit("s", ge=0)] = Field(
        description="first packet time (GPS seconds) kept for this FM (§1, L0B window)")
    window_end_gps_s: Annotated[u.Quantity, Unit("s", ge=0)] = Field(
        description="last packet time (GPS seconds) kept for this FM (§1, L0B window)")
    time_set_gps_s: Annotated[u.Quantity, Unit("s", ge=0)] = Field(
        description="first ground time-set (§5); earlier packets get early_clock_offset_s")
    early_clock_min_gps_s: Annotated[u.Quantity, Unit("s", ge=0)] = Field(
        description="lowest time the early-clock fix applies to (timeMin, §5: value not in the notes)")
    early_clock_offset_s: Seconds = Field(description="offset added before the time-set (§5, 'estimated')")
    clock_drift: list[tuple[float, float, float, float]] = Field(default_factory=list, description=(
        "FM1 drift (§5): rows [jd_from, jd_to, slope_s_per_day, intercept_s], offset = slope*JD + intercept "
        "for jd_from <= JD(UTC) < jd_to"))
    sci_definition: str = Field(description="XTCE document of this FM's SCI packet (packet_definitions/)")
    ax25_callsign_offset: int = Field(ge=0, description="where 9a 92 9c (MIN..) sits in the AX.25 header (§2)")

    @model_validator(mode="after")
    def _window(self):
        if self.window_end_gps_s <= self.window_start_gps_s:
            raise ValueError("window_end_gps_s must be after window_start_gps_s")
        return self


class TimeSettings(Settings):
    """§5: per-packet time shifts to mid-sample."""

    hk_shift_s: Seconds = Field(description="added to HK times (-1.5 s: half the 3 s cadence)")
    adcs_shift_s: Seconds = Field(description="added to ADCS1-4 times")
    log_shift_s: Seconds = Field(description="added to LOG times")
    sci_real_time_fraction: float = Field(description="SCI time += fraction * x123_real_time (-0.5)")
    index_margin_s: PositiveSeconds = Field(description=(
        "a raw file feeds every UTC day its packet stamps come within this of (time shifts, drift)"))


class L0CSettings(Settings):
    """§10, Q11: per-day packet tables."""

    dedup: Literal["apid_seq_time", "time"] = Field(description=(
        "duplicate key: APID (playback bit cleared), sequence count and time (Q11 proposal), or time only (IDL)"))
    sci_max_record_bytes: int = Field(gt=0, description="raw X123 buffer (§7: 3*1024 + 256)")
    x123_bins: int = Field(gt=0, description="bins of a decompressed spectrum (§7)")


class InterpolationLimits(Settings):
    hk_s: PositiveSeconds = Field(description="HK neighbours farther than this make the value bad (§11: 60 s)")
    adcs_s: PositiveSeconds = Field(description="ADCS neighbours farther than this make the value bad (§11: 300 s)")
    goes_s: PositiveSeconds = Field(description="GOES samples farther than this give NaN (Q7)")


class SaaSettings(Settings):
    """§12 SAA polygon (CG:get_saa_boundary.pro:36-43) and the `inside` test threshold."""

    latitude_deg: list[float] = Field(min_length=3)
    longitude_deg: list[float] = Field(min_length=3)
    winding_threshold_rad: float = Field(gt=0, description="inside if |sum of edge angles| > this (0.01)")

    @model_validator(mode="after")
    def _same_length(self):
        if len(self.latitude_deg) != len(self.longitude_deg):
            raise ValueError("latitude_deg and longitude_deg need the same number of vertices")
        return self


class FlareSettings(Settings):
    """Q8: the flare flag (no IDL definition exists)."""

    xrsb_threshold_w_m2: Annotated[u.Quantity, Unit("W m-2", gt=0)] = Field(
        description="flare where XRS-B >= this (C1 = 1e-6, find_flares.pro default)")
    flux_scale: Literal["true", "swpc"] = Field(description=(
        "compare the science-quality (true) flux, or the SWPC-scaled flux (x0.7 for XRS-B, §13)"))
    swpc_xrsb_factor: float = Field(gt=0, description="SWPC scaling of XRS-B (0.7, §13)")


class L0DSettings(Settings):
    """§11-§13: science-time grid, interpolation, orbit, Sun, SAA, eclipse, GOES."""

    limits: InterpolationLimits
    idl_compatible_interp_time: bool = Field(description=(
        "Q1: interpolate HK/ADCS to packet_time - real_time like IDL (true) or to the record mid-time"))
    flags_nearest_previous: bool = Field(description=(
        "Q4: flag/mode fields take the nearest previous sample within the limit (true) or IDL's linear mix"))
    eclipse_sps_sum_threshold: float = Field(gt=0, description="§11: eclipse if the SCI SPS diode sum < this (2e6)")
    sps_angle_scale_deg: float = Field(gt=0, description="Q3: sps_x_deg = raw / sps_angle_divisor * this (3.0)")
    sps_angle_divisor: float = Field(gt=0, description="Q3: 10000 (description) vs IDL L0D 1000")
    sps_hk_idl_divisor: float = Field(gt=0, description="Q3: IDL's L0D sps_x_hk = sps_x / this * scale (1000, CU:427)")
    sps_hk_idl_scale_deg: float = Field(gt=0, description="Q3: IDL's L0D sps_x_hk scale (3.0, CU:427)")
    eps_5v_volt_source: Literal["cdh_5v", "eps_5v_volt"] = Field(
        description="§11: IDL fills eps_5v_volt from hk.cdh_5v (CU:418)")
    geometry: Literal["wgs84", "idl"] = Field(description=(
        "Q6: geodetic WGS-84 via astropy (wgs84) or IDL's geocentric latitude and |r| - earth_radius_idl_km"))
    earth_radius_idl_km: Annotated[u.Quantity, Unit("km", gt=0)] = Field(description="§12: 6371 km")
    earth_radius_shadow_km: Annotated[u.Quantity, Unit("km", gt=0)] = Field(
        description="§12: radius of the cylindrical shadow (6378.137 km)")
    tle_extrapolation_days: Annotated[u.Quantity, Unit("day", ge=0)] = Field(
        description="§12: times up to this after the last TLE epoch are propagated (calc_voronoi2: 90 days)")
    saa: SaaSettings
    flare: FlareSettings


class SelectionSettings(Settings):
    """§14 good-spectrum cuts `wsci` (L1:141-214); bin indices are 0-based and inclusive."""

    max_radio_flag: float
    min_sps_sum_rate: float = Field(description="sum of SPS diodes / integration time > this (280000)")
    adcs_mode: int
    low_bins: tuple[int, int]
    low_rate_fraction_of_slow: float
    low_rate_floor: float
    peak_bins: tuple[int, int]
    peak_to_low_factor: float = Field(description="factor * peak >= low (0.5)")
    min_peak_rate: float
    max_fast_rate: float
    min_slow_rate: float
    max_eclipse: float = Field(description="eclipse < this")
    min_spacecraft_mode: int = Field(description="spacecraft_mode > this")
    fe25_bins: tuple[int, int]
    max_fe25_rate: float
    ratio_low_band_kev: tuple[float, float]
    ratio_high_band_kev: tuple[float, float]
    max_band_ratio: float
    max_read_errors: int
    max_write_errors: int
    check_bin: int
    max_check_bin_counts: float
    dark_max_sps_sum_rate: float = Field(description="dark spectra: SPS sum rate below this (28000)")
    min_tangent_ray_height_km: Annotated[u.Quantity, Unit("km")] = Field(
        description="spectra with a tangent-ray height below this are removed (L1:750-761)")


class EnergyScaleSettings(Settings):
    """§14: energy[i] = i * gain + offset (float32), per flight model (L1:306-321)."""

    gain_kev_per_bin: Annotated[u.Quantity, Unit("keV", gt=0)]
    offset_kev: Annotated[u.Quantity, Unit("keV")]


class ResponseSettings(Settings):
    """§14 / Q9: the stand-in instrument response built from physics (the team's is not public)."""

    deadtime_s: Annotated[u.Quantity, Unit("s", gt=0)] = Field(description="paralyzable dead time (Q9)")
    aperture_area_cm2: Annotated[u.Quantity, Unit("cm2", gt=0)]
    be_thickness_um: Annotated[u.Quantity, Unit("um", gt=0)]
    si_thickness_um: Annotated[u.Quantity, Unit("um", gt=0)]
    resolution_fwhm_kev: Annotated[u.Quantity, Unit("keV", gt=0)] = Field(description="at 5.9 keV (§14)")
    systematic_fraction: float = Field(ge=0, description="pre-flight systematic added in quadrature (0.10)")
    radio_flag_accum_reduction_ms: Annotated[u.Quantity, Unit("ms", ge=0)] = Field(
        description="accum_time reduced by this x radio_flag when radio_flag == 1 (L1:137-138)")
    efficiency_grid_kev: tuple[float, float, float] = Field(
        description="photon-energy grid of the efficiency: start, stop, step")


class L1Settings(Settings):
    response: dict[FlightModelId, ResponseSettings]
    selection: SelectionSettings


class AveragesSettings(Settings):
    """§15: UT-aligned averages; name -> bin length."""

    bins_minutes: dict[str, int] = Field(description="product name -> bin length in minutes")
    level: dict[str, str] = Field(description="product name -> processing level (L2, L3)")


class QuicklookSettings(Settings):
    width_in: float = Field(gt=0)
    height_in: float = Field(gt=0)
    dpi: int = Field(gt=0)
    coastline_resolution: Literal["c", "l", "i"]
    spectrogram_max_kev: Annotated[u.Quantity, Unit("keV", gt=0)]


class MinxssSettings(Settings):
    """config/minxss.yaml"""

    framing: FramingSettings
    flight_models: dict[FlightModelId, FlightModelSettings]
    time: TimeSettings
    energy_scale: dict[FlightModelId, EnergyScaleSettings]
    l0c: L0CSettings
    l0d: L0DSettings
    l1: L1Settings
    averages: AveragesSettings
    quicklook: QuicklookSettings
