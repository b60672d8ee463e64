"""Per-flight geometry and timing shared by the simulator and the level-1/2 steps.

Every function takes a `config.Flight` (built once from config/foxsi1.yaml or foxsi2.yaml by
`Flight.from_config`: launch time, frame period, gain files, detector rotation angles, plate
scale, SPARCS scale and offset, pointing schedule and altitude profile) and astropy Quantities,
and returns Quantities. Everything that differs between FOXSI-1 and FOXSI-2 is read from the
flight; nothing flight-specific is in code. Each function strips units once on entry and works
on plain float64 arrays, so it costs the same as the unit-less arithmetic it wraps.
"""
from __future__ import annotations

import fnmatch
from pathlib import Path

import astropy.units as u
import numpy as np

from levelpipe.errors import ConfigError
from levelpipe.foxsi import formats as fmt
from levelpipe.foxsi.config import Flight

ARCSEC_PER_RAD = 180.0 * 3600.0 / np.pi
PLATE_SCALE_UNIT = u.um / u.arcsec


def _value(q, unit: u.UnitBase) -> np.ndarray:
    """Plain float64 values of Quantity `q` in `unit` (a view when no conversion is needed);
    a plain number is dimensionless and refused (UnitConversionError)."""
    return np.asarray(u.Quantity(q, copy=None).to_value(unit), dtype=np.float64)


def _s(t) -> np.ndarray:
    """Plain float64 seconds of a time-after-launch Quantity."""
    return _value(t, u.s)


def plate_scale(flight: Flight) -> u.Quantity:
    """Focal-plane distance per sky angle (um / arcsec): focal length x 1 rad."""
    # The same float arithmetic as um = mm * 1000 / (arcsec per rad): products stay bit-identical.
    return (flight.focal_length.to_value(u.mm) * 1000.0 / ARCSEC_PER_RAD) * PLATE_SCALE_UNIT


def rotation(flight: Flight, det: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos, sin of the detector -> payload rotation angle for each detector number in `det`."""
    ang = np.deg2rad(flight.detector_rotation.to_value(u.deg))[det]
    return np.cos(ang), np.sin(ang)


def detector_to_payload(flight: Flight, det, x, y) -> tuple[u.Quantity, u.Quantity]:
    """Detector coordinates (length from the detector centre) -> payload coordinates (arcsec).

    Decision: payload = R(angle) . detector / plate scale, a pure counter-clockwise rotation by
    the flight's detector_rotation_deg with no mirror flip; the angles are per flight config.
    """
    c, s = rotation(flight, np.asarray(det))
    x_um, y_um = _value(x, u.um), _value(y, u.um)
    k = 1.0 / plate_scale(flight).to_value(PLATE_SCALE_UNIT)
    return ((c * x_um - s * y_um) * k) << u.arcsec, ((s * x_um + c * y_um) * k) << u.arcsec


def payload_to_detector(flight: Flight, det, x, y) -> tuple[u.Quantity, u.Quantity]:
    """Inverse of detector_to_payload: payload angles -> detector positions (um)."""
    c, s = rotation(flight, np.asarray(det))
    x_as, y_as = _value(x, u.arcsec), _value(y, u.arcsec)
    k = plate_scale(flight).to_value(PLATE_SCALE_UNIT)
    return ((c * x_as + s * y_as) * k) << u.um, ((-s * x_as + c * y_as) * k) << u.um


def strip_centre(flight: Flight, strip) -> u.Quantity:
    """Centre (um from the detector centre) of side strip 0..127."""
    pitch = flight.strip_pitch.to_value(u.um)
    return ((np.asarray(strip, dtype=np.float64) - (fmt.N_SIDE_STRIPS - 1) / 2.0) * pitch) << u.um


def strip_of(flight: Flight, pos) -> np.ndarray:
    """Side strip number (0..127, -1 off the detector) under a position (length from the centre)."""
    pitch = flight.strip_pitch.to_value(u.um)
    s = np.floor(_value(pos, u.um) / pitch + fmt.N_SIDE_STRIPS / 2.0).astype(np.int64)
    return np.where((s >= 0) & (s < fmt.N_SIDE_STRIPS), s, -1)


def target_centre(flight: Flight, t) -> tuple[u.Quantity, u.Quantity]:
    """SPARCS target centre (heliocentric arcsec) at times `t` after launch; NaN outside the schedule."""
    t_s = _s(t)
    x = np.full(t_s.shape, np.nan)
    y = np.full(t_s.shape, np.nan)
    for tgt in flight.targets:  # a handful of targets: loop over the schedule, not the events
        sel = (t_s >= tgt.start.to_value(u.s)) & (t_s < tgt.end.to_value(u.s))
        x[sel] = tgt.x.to_value(u.arcsec)
        y[sel] = tgt.y.to_value(u.arcsec)
    return x << u.arcsec, y << u.arcsec


def pointing(flight: Flight, t, pitch_counts, yaw_counts) -> tuple[u.Quantity, u.Quantity]:
    """Heliocentric position (arcsec) of the optical axis: target centre + SPARCS yaw/pitch + offset.

    pitch_counts, yaw_counts: raw SPARCS fine-pointing counts (plain integers).
    Decision: SPARCS yaw moves the axis along heliocentric x and pitch along y, both with a
    positive sign; the flight's pointing_offset_arcsec (SPARCS boresight to FOXSI optical axis)
    is added. Heliocentric position of an event = payload position + this pointing.
    """
    cx, cy = (c.to_value(u.arcsec) for c in target_centre(flight, t))
    k = flight.sparcs_scale.to_value(u.arcsec)
    ox, oy = flight.pointing_offset.to_value(u.arcsec)
    return ((cx + k * np.asarray(yaw_counts, dtype=np.float64) + ox) << u.arcsec,
            (cy + k * np.asarray(pitch_counts, dtype=np.float64) + oy) << u.arcsec)


def altitude(flight: Flight, t) -> u.Quantity:
    """Altitude (km) at times `t` after launch, interpolated linearly in the flight's profile; NaN outside.

    Decision: never extrapolated - a time outside the tabulated profile has no altitude.
    """
    return np.interp(_s(t), flight.altitude_time.to_value(u.s), flight.altitude.to_value(u.km),
                     left=np.nan, right=np.nan) << u.km


def inflight(flight: Flight, t) -> np.ndarray:
    """Decision: in flight means 0 <= time after launch <= flight_duration_s (config)."""
    t_s = _s(t)
    return (t_s >= 0.0) & (t_s <= flight.flight_duration.to_value(u.s))


def flight_for_file(path, flight_by_file: list[dict]) -> str:
    """Name of the flight a telemetry file belongs to: first matching glob of `flight_by_file`.

    Decision: the flight is chosen by file name in config (neither frame format carries a flight
    identifier); the default config maps *foxsi1* names to FOXSI-1 and everything else to FOXSI-2.
    """
    name = Path(path).name
    for rule in flight_by_file:
        if fnmatch.fnmatch(name, rule["pattern"]):
            return rule["flight"]
    raise ConfigError(f"no flight_by_file pattern matches {name!r}", path)
