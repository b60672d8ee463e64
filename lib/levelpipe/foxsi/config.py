"""FOXSI configuration: the flight files and config/foxsi.yaml sections as typed objects with units.

The YAML files carry plain numbers whose unit is in the key name (`frame_period_s`,
`hv_volts_per_count`, `x_arcsec`, ...). That naming convention is read in exactly one place,
the `from_config` constructors below: everything else in the FOXSI library receives an
astropy `Quantity` (or an astropy `Time` for absolute times) and converts it to the unit it
computes in with `.to_value(unit)` once, outside its vectorised code. A value handed to these
classes directly (tests, notebooks) is converted from whatever compatible unit it carries; a
plain number where a quantity is expected is refused (`astropy.units.UnitsError`), never
silently assumed to be in some unit.

The raw validated dicts still travel through Snakemake `params` and into each product's
provenance (`config_json`); the typed objects are built from them at the start of each step.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import jsonschema
import numpy as np
import yaml
from astropy.time import Time

from levelpipe.errors import ConfigError

# CF `units` strings used by the housekeeping config -> astropy units.
# Decision: CF writes Celsius "degC", astropy "deg_C"; the config keeps the CF spelling (it goes
# into the product) and this table gives the astropy unit of the calibrated value.
CF_TO_ASTROPY = {"V": u.V, "degC": u.deg_C}


def load_flight_config(path: str | os.PathLike, schema_path: str | os.PathLike) -> dict:
    """The flight config in `path` (YAML), validated against `$defs/flight` of `schema_path`.

    Returns the plain dict (what Snakemake params and provenance carry); `Flight.from_config`
    turns it into quantities.
    """
    path = Path(path)
    try:
        flight = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read flight config ({err})", path) from err
    schema = yaml.safe_load(Path(schema_path).read_text())
    try:
        jsonschema.validate(flight, {"$ref": "#/$defs/flight", "$defs": schema["$defs"]})
    except jsonschema.ValidationError as err:
        where = "/".join(map(str, err.absolute_path)) or None
        raise ConfigError(err.message, path, where) from err
    if len(flight["altitude"]["time_s"]) != len(flight["altitude"]["altitude_km"]):
        raise ConfigError("altitude time_s and altitude_km differ in length", path, "altitude")
    # What the schema cannot check (a parseable launch time) fails here, at workflow start.
    # Decision: a launch inside a leap second (hh:59:60) is refused: frame times are datetime64
    # UTC labels without leap seconds (CF units_metadata "leap_seconds: none").
    try:
        _ = Time(str(flight["launch_utc"]), format="isot", scale="utc").datetime64  # raises on hh:59:60
    except ValueError as err:
        raise ConfigError(f"launch_utc is not an ISO 8601 UTC time ({err})", path, "launch_utc") from err
    return flight


def _q(value, unit: u.UnitBase) -> u.Quantity:
    """`value` (a Quantity in any unit compatible with `unit`) converted to `unit`, as float64.

    Decision: a plain number is dimensionless and so refused for a physical `unit`
    (astropy UnitConversionError) rather than taken to be in `unit`: only the YAML key names
    (`*_s`, `*_arcsec`, ...) say what unit a bare number is in, and only `from_config` reads them.
    """
    return u.Quantity(value, dtype=np.float64).to(unit)


# The classes are frozen (a step cannot change its config by accident) and compare by identity
# (eq=False): their fields hold arrays, for which == is element-wise.


def _set(obj, name: str, value) -> None:
    object.__setattr__(obj, name, value)  # frozen dataclasses normalise their fields in __post_init__


@dataclass(frozen=True, eq=False)
class Target:
    """One entry of the pointing schedule: SPARCS target centre between two times after launch."""

    name: str
    start: u.Quantity  # time after launch (s)
    end: u.Quantity  # time after launch (s)
    x: u.Quantity  # heliocentric x of the target centre (arcsec)
    y: u.Quantity  # heliocentric y of the target centre (arcsec)

    def __post_init__(self):
        for name, unit in (("start", u.s), ("end", u.s), ("x", u.arcsec), ("y", u.arcsec)):
            _set(self, name, _q(getattr(self, name), unit))


@dataclass(frozen=True, eq=False)
class Flight:
    """Everything that differs between FOXSI flights, with units (built from config/foxsi<N>.yaml).

    launch: launch time (astropy Time, UTC); launch_frame_counter: formatter frame counter at
    launch; frame_period, flight_duration: s; gain_files: {"D0".."D6": peaks file name or None};
    detector_rotation: (7,) deg, detector -> payload, counter-clockwise; strip_pitch: um;
    focal_length: mm; sparcs_scale: arcsec per SPARCS count; pointing_offset: (2,) arcsec
    (heliocentric x, y); targets: the pointing schedule; altitude_time: (k,) s after launch and
    altitude: (k,) km, the altitude profile.
    """

    name: str
    launch: Time
    launch_frame_counter: int
    frame_period: u.Quantity
    flight_duration: u.Quantity
    gain_files: dict
    detector_rotation: u.Quantity
    strip_pitch: u.Quantity
    focal_length: u.Quantity
    sparcs_scale: u.Quantity
    pointing_offset: u.Quantity
    targets: tuple
    altitude_time: u.Quantity
    altitude: u.Quantity

    def __post_init__(self):
        launch = self.launch if isinstance(self.launch, Time) else Time(self.launch, scale="utc")
        _set(self, "launch", launch.utc)
        for name, unit in (("frame_period", u.s), ("flight_duration", u.s), ("detector_rotation", u.deg),
                           ("strip_pitch", u.um), ("focal_length", u.mm), ("sparcs_scale", u.arcsec),
                           ("pointing_offset", u.arcsec), ("altitude_time", u.s), ("altitude", u.km)):
            _set(self, name, _q(getattr(self, name), unit))
        _set(self, "targets", tuple(self.targets))
        _set(self, "launch_frame_counter", int(self.launch_frame_counter))
        if self.altitude_time.shape != self.altitude.shape:
            raise ConfigError(f"{self.name}: altitude profile times and altitudes differ in length")

    @classmethod
    def from_config(cls, cfg: dict) -> "Flight":
        """The flight of a validated flight-config dict (units from the key names)."""
        return cls(
            name=cfg["name"],
            launch=Time(str(cfg["launch_utc"]), format="isot", scale="utc"),
            launch_frame_counter=cfg["launch_frame_counter"],
            frame_period=cfg["frame_period_s"] * u.s,
            flight_duration=cfg["flight_duration_s"] * u.s,
            gain_files=dict(cfg["gain_files"]),
            detector_rotation=cfg["detector_rotation_deg"] * u.deg,
            strip_pitch=cfg["strip_pitch_um"] * u.um,
            focal_length=cfg["focal_length_mm"] * u.mm,
            sparcs_scale=cfg["sparcs_arcsec_per_count"] * u.arcsec,
            pointing_offset=cfg["pointing_offset_arcsec"] * u.arcsec,
            targets=tuple(Target(name=t["name"], start=t["start_s"] * u.s, end=t["end_s"] * u.s,
                                 x=t["x_arcsec"] * u.arcsec, y=t["y_arcsec"] * u.arcsec) for t in cfg["targets"]),
            altitude_time=cfg["altitude"]["time_s"] * u.s,
            altitude=cfg["altitude"]["altitude_km"] * u.km,
        )

    def replace(self, **changes) -> "Flight":
        """A copy with some fields changed (converted like the constructor's)."""
        return dataclasses.replace(self, **changes)

    @property
    def launch_datetime64(self) -> np.datetime64:
        """Launch time as numpy datetime64[ns] UTC, for vectorised arithmetic on frame times."""
        return np.datetime64(self.launch.datetime64, "ns")

    @property
    def launch_day(self) -> np.datetime64:
        """00:00 UTC of the launch day as datetime64[ns]: the origin of the WSMR time tags."""
        return self.launch_datetime64.astype("datetime64[D]").astype("datetime64[ns]")

    def time_since_launch(self, times: np.ndarray) -> u.Quantity:
        """Seconds after launch (Quantity, negative before) of UTC datetime64 `times`."""
        return ((np.asarray(times) - self.launch_datetime64) / np.timedelta64(1, "s")) * u.s


@dataclass(frozen=True, eq=False)
class DecodeSettings:
    """config/foxsi.yaml `decode`: byteorder (auto/big/little), sniff_bytes, max_missing_run
    (frames) and wsmr_time_tolerance (s)."""

    byteorder: str
    sniff_bytes: int
    max_missing_run: int
    wsmr_time_tolerance: u.Quantity

    def __post_init__(self):
        _set(self, "wsmr_time_tolerance", _q(self.wsmr_time_tolerance, u.s))

    @classmethod
    def from_config(cls, cfg: dict) -> "DecodeSettings":
        return cls(byteorder=cfg["byteorder"], sniff_bytes=int(cfg["sniff_bytes"]),
                   max_missing_run=int(cfg["max_missing_run"]),
                   wsmr_time_tolerance=cfg["wsmr_time_tolerance_s"] * u.s)


@dataclass(frozen=True, eq=False)
class HousekeepingChannel:
    """One multiplexed housekeeping channel: value = raw * scale + offset.

    units: the CF units string written to the product ("V" or "degC"); scale: Quantity per raw
    count and offset: Quantity, both in the channel's physical unit.
    """

    name: str
    long_name: str
    units: str
    scale: u.Quantity
    offset: u.Quantity

    @property
    def unit(self) -> u.UnitBase:
        return CF_TO_ASTROPY[self.units]

    def __post_init__(self):
        _set(self, "scale", _q(self.scale, self.unit))
        _set(self, "offset", _q(self.offset, self.unit))

    @classmethod
    def from_config(cls, ch: dict) -> "HousekeepingChannel":
        unit = CF_TO_ASTROPY[ch["units"]]
        return cls(name=ch["name"], long_name=ch["long_name"], units=ch["units"],
                   scale=ch["scale"] * unit, offset=ch["offset"] * unit)


@dataclass(frozen=True, eq=False)
class L1Settings:
    """config/foxsi.yaml `l1`: hit threshold (ADC counts, a plain number), HV monitor scale
    (V per count), nominal HV and tolerance (V), livetime and trigger-time ticks (s), and the
    eight housekeeping channels."""

    hit_threshold_adc: float
    hv_per_count: u.Quantity
    hv_nominal: u.Quantity
    hv_tolerance: u.Quantity
    livetime_tick: u.Quantity
    trigger_tick: u.Quantity
    housekeeping: tuple

    def __post_init__(self):
        for name, unit in (("hv_per_count", u.V), ("hv_nominal", u.V), ("hv_tolerance", u.V),
                           ("livetime_tick", u.s), ("trigger_tick", u.s)):
            _set(self, name, _q(getattr(self, name), unit))
        _set(self, "hit_threshold_adc", float(self.hit_threshold_adc))
        _set(self, "housekeeping", tuple(self.housekeeping))

    @classmethod
    def from_config(cls, cfg: dict) -> "L1Settings":
        return cls(hit_threshold_adc=cfg["hit_threshold_adc"], hv_per_count=cfg["hv_volts_per_count"] * u.V,
                   hv_nominal=cfg["hv_nominal_v"] * u.V, hv_tolerance=cfg["hv_tolerance_v"] * u.V,
                   livetime_tick=cfg["livetime_tick_s"] * u.s, trigger_tick=cfg["trigger_tick_s"] * u.s,
                   housekeeping=tuple(HousekeepingChannel.from_config(ch) for ch in cfg["housekeeping"]))

    def hv_nominal_mask(self, hv: u.Quantity) -> np.ndarray:
        """True where the detector HV is within hv_tolerance of hv_nominal."""
        hv_v = u.Quantity(hv, copy=None).to_value(u.V)  # no copy of an event-length array in V
        return np.abs(hv_v - self.hv_nominal.to_value(u.V)) <= self.hv_tolerance.to_value(u.V)


@dataclass(frozen=True, eq=False)
class L2Settings:
    """config/foxsi.yaml `l2`: energy_side, which side's hit strip gives the event energy (p or n)."""

    energy_side: str

    @classmethod
    def from_config(cls, cfg: dict) -> "L2Settings":
        return cls(energy_side=cfg["energy_side"])


@dataclass(frozen=True, eq=False)
class ProductSettings:
    """config/foxsi.yaml `products`: event selection and the image, spectrum and lightcurve grids.

    image_band, lightcurve_band: (2,) keV; image_pixel, image_half_width: arcsec;
    spectrum_min, spectrum_max, spectrum_bin: keV; lightcurve_bin: s.
    """

    require_inflight: bool
    require_hv_nominal: bool
    error_mask: int
    image_band: u.Quantity
    image_pixel: u.Quantity
    image_half_width: u.Quantity
    spectrum_min: u.Quantity
    spectrum_max: u.Quantity
    spectrum_bin: u.Quantity
    lightcurve_band: u.Quantity
    lightcurve_bin: u.Quantity

    def __post_init__(self):
        for name, unit in (("image_band", u.keV), ("image_pixel", u.arcsec), ("image_half_width", u.arcsec),
                           ("spectrum_min", u.keV), ("spectrum_max", u.keV), ("spectrum_bin", u.keV),
                           ("lightcurve_band", u.keV), ("lightcurve_bin", u.s)):
            _set(self, name, _q(getattr(self, name), unit))
        _set(self, "error_mask", int(self.error_mask))

    @classmethod
    def from_config(cls, cfg: dict) -> "ProductSettings":
        im, sp, lc = cfg["image"], cfg["spectrum"], cfg["lightcurve"]
        return cls(require_inflight=bool(cfg["require_inflight"]), require_hv_nominal=bool(cfg["require_hv_nominal"]),
                   error_mask=cfg["error_mask"], image_band=im["energy_band_kev"] * u.keV,
                   image_pixel=im["pixel_arcsec"] * u.arcsec, image_half_width=im["half_width_arcsec"] * u.arcsec,
                   spectrum_min=sp["min_kev"] * u.keV, spectrum_max=sp["max_kev"] * u.keV,
                   spectrum_bin=sp["bin_kev"] * u.keV, lightcurve_band=lc["energy_band_kev"] * u.keV,
                   lightcurve_bin=lc["bin_s"] * u.s)
