"""Per-flight geometry and timing shared by the simulator and the level-1/2 steps.

A *flight config* is one of config/foxsi1.yaml, config/foxsi2.yaml (a dict): launch time,
frame period, gain files, detector rotation angles, plate scale, SPARCS scale and offset,
pointing schedule and altitude profile. Everything that differs between FOXSI-1 and FOXSI-2
is read from it; nothing flight-specific is in code.
"""
from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np

from levelpipe.errors import ConfigError
from levelpipe.foxsi import formats as fmt

ARCSEC_PER_RAD = 180.0 * 3600.0 / np.pi


def launch_time(flight: dict) -> np.datetime64:
    return np.datetime64(str(flight["launch_utc"]), "ns")


def launch_day(flight: dict) -> np.datetime64:
    """00:00 UTC of the launch day: origin of the WSMR time tags."""
    return launch_time(flight).astype("datetime64[D]").astype("datetime64[ns]")


def um_per_arcsec(flight: dict) -> float:
    """Focal-plane microns per arcsec of sky angle (plate scale)."""
    return float(flight["focal_length_mm"]) * 1000.0 / ARCSEC_PER_RAD


def rotation(flight: dict, det: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos, sin of the detector -> payload rotation angle for each detector number in `det`."""
    ang = np.deg2rad(np.asarray(flight["detector_rotation_deg"], dtype=np.float64))[det]
    return np.cos(ang), np.sin(ang)


def detector_to_payload(flight: dict, det, x_um, y_um) -> tuple[np.ndarray, np.ndarray]:
    """Detector coordinates (um from the detector centre) -> payload coordinates (arcsec).

    Decision: payload = R(angle) . detector / plate scale, a pure counter-clockwise rotation by
    the flight's detector_rotation_deg with no mirror flip; the angles are per flight config.
    """
    c, s = rotation(flight, np.asarray(det))
    k = 1.0 / um_per_arcsec(flight)
    return (c * x_um - s * y_um) * k, (s * x_um + c * y_um) * k


def payload_to_detector(flight: dict, det, x_as, y_as) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of detector_to_payload: payload arcsec -> detector um."""
    c, s = rotation(flight, np.asarray(det))
    k = um_per_arcsec(flight)
    return (c * x_as + s * y_as) * k, (-s * x_as + c * y_as) * k


def strip_centre_um(flight: dict, strip) -> np.ndarray:
    """Centre (um from the detector centre) of side strip 0..127."""
    return (np.asarray(strip, dtype=np.float64) - (fmt.N_SIDE_STRIPS - 1) / 2.0) * float(flight["strip_pitch_um"])


def strip_of_um(flight: dict, pos_um) -> np.ndarray:
    """Side strip number (0..127, -1 off the detector) under a position in um."""
    s = np.floor(np.asarray(pos_um) / float(flight["strip_pitch_um"]) + fmt.N_SIDE_STRIPS / 2.0).astype(np.int64)
    return np.where((s >= 0) & (s < fmt.N_SIDE_STRIPS), s, -1)


def target_centre(flight: dict, t_s) -> tuple[np.ndarray, np.ndarray]:
    """SPARCS target centre (heliocentric arcsec) at times t_s after launch; NaN outside the schedule."""
    t_s = np.asarray(t_s, dtype=np.float64)
    x = np.full(t_s.shape, np.nan)
    y = np.full(t_s.shape, np.nan)
    for tgt in flight["targets"]:  # a handful of targets: loop over the schedule, not the events
        sel = (t_s >= tgt["start_s"]) & (t_s < tgt["end_s"])
        x[sel] = tgt["x_arcsec"]
        y[sel] = tgt["y_arcsec"]
    return x, y


def pointing(flight: dict, t_s, pitch_counts, yaw_counts) -> tuple[np.ndarray, np.ndarray]:
    """Heliocentric arcsec of the optical axis: target centre + SPARCS yaw/pitch + pointing offset.

    Decision: SPARCS yaw moves the axis along heliocentric x and pitch along y, both with a
    positive sign; the flight's pointing_offset_arcsec (SPARCS boresight to FOXSI optical axis)
    is added. Heliocentric position of an event = payload position + this pointing.
    """
    cx, cy = target_centre(flight, t_s)
    k = float(flight["sparcs_arcsec_per_count"])
    ox, oy = flight["pointing_offset_arcsec"]
    return (cx + k * np.asarray(yaw_counts, dtype=np.float64) + ox,
            cy + k * np.asarray(pitch_counts, dtype=np.float64) + oy)


def altitude_km(flight: dict, t_s) -> np.ndarray:
    """Altitude (km) interpolated linearly in the flight's table; NaN outside it.

    Decision: never extrapolated - a time outside the tabulated profile has no altitude.
    """
    tab = flight["altitude"]
    return np.interp(np.asarray(t_s, dtype=np.float64), tab["time_s"], tab["altitude_km"],
                     left=np.nan, right=np.nan)


def inflight(flight: dict, t_s) -> np.ndarray:
    """Decision: in flight means 0 <= time after launch <= flight_duration_s (config)."""
    t_s = np.asarray(t_s, dtype=np.float64)
    return (t_s >= 0.0) & (t_s <= float(flight["flight_duration_s"]))


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
