"""MinXSS time stamps: GPS seconds to UTC, the clock fixes and the per-packet shifts (notes §5).

Times leave this module as ``datetime64[ns]`` UTC, a POSIX-style count: a packet stamped inside
the leap second 2016-12-31T23:59:60 (inside the MinXSS-1 mission) is labelled 23:59:59.x, like
the second before it. Leap seconds come from astropy (its bundled IERS/leap-second table; nothing is
downloaded): UTC = GPS - (TAI - UTC - 19 s), 17 s in 2016 and 18 s from 2017-01-01 (§5).
"""
from __future__ import annotations

import numpy as np
from astropy.time import Time
from astropy.utils import iers

from levelpipe.minxss.settings import FlightModelSettings

iers.conf.auto_download = False  # §12: the bundled tables cover 2016-2019 offline

GPS_EPOCH = np.datetime64("1980-01-06T00:00:00", "ns")
NS = 1_000_000_000
JD_UNIX_EPOCH = 2440587.5


def _gps_minus_utc_ns(gps_seconds: np.ndarray) -> np.ndarray:
    """GPS - UTC (ns) at each whole GPS second, from astropy's leap-second table."""
    # The offset is a whole number of seconds; astropy's POSIX count ("unix") is defined inside
    # a leap second too, where a datetime64 string is not.
    unix = Time(gps_seconds.astype(np.float64), format="gps").unix
    since_epoch = unix - GPS_EPOCH.astype("datetime64[s]").astype(np.int64)
    return np.round(gps_seconds.astype(np.float64) - since_epoch).astype(np.int64) * NS


def gps_to_utc(seconds: np.ndarray, milliseconds: np.ndarray | None = None) -> np.ndarray:
    """UTC ``datetime64[ns]`` of GPS time stamps (whole seconds and milliseconds, §3).

    The GPS-UTC offset is taken from astropy at the first and last stamp; when they agree (no
    leap second in between, the usual case) it applies to all, otherwise astropy converts each
    distinct second. Exact integer nanoseconds: no float rounding of the 1e9-second counts.
    """
    sec = np.asarray(seconds, dtype=np.int64)
    ms = np.zeros_like(sec) if milliseconds is None else np.asarray(milliseconds, dtype=np.int64)
    if not sec.size:
        return np.empty(0, dtype="datetime64[ns]")
    ends = np.array([sec.min(), sec.max()])
    off = _gps_minus_utc_ns(ends)
    if off[0] == off[1]:
        offset = off[0]
    else:
        uniq, inv = np.unique(sec, return_inverse=True)
        offset = _gps_minus_utc_ns(uniq)[inv]
    return GPS_EPOCH + (sec * NS + ms * 1_000_000 - offset).astype("timedelta64[ns]")


def utc_to_gps_seconds(t: np.ndarray) -> np.ndarray:
    """GPS seconds (float64) of UTC ``datetime64`` times (inverse of `gps_to_utc`)."""
    t = np.asarray(t, dtype="datetime64[ns]")
    if not t.size:
        return np.empty(0)
    approx = ((t - GPS_EPOCH).astype(np.int64) // NS) + 18
    off = _gps_minus_utc_ns(np.array([approx.min(), approx.max()]))
    if off[0] == off[1]:
        offset = np.full(t.shape, off[0])
    else:
        offset = _gps_minus_utc_ns(approx)
    return ((t - GPS_EPOCH).astype(np.int64) + offset) / NS


def julian_date(t: np.ndarray) -> np.ndarray:
    """UTC Julian date of UTC ``datetime64`` times (IDL's ``gps2jd``, the L0C ``time_jd``)."""
    unix_ns = np.asarray(t, dtype="datetime64[ns]").astype(np.int64)
    return JD_UNIX_EPOCH + unix_ns / (86400.0 * NS)


def early_clock_offset_s(gps_seconds: np.ndarray, fm: FlightModelSettings) -> np.ndarray:
    """§5 early-mission fix: before the first ground time-set the clock was off by a fixed offset
    (MX:PS/minxss_sort_telemetry.pro:110-134); packets with timeMin <= t < timeSetAt get it."""
    g = np.asarray(gps_seconds, dtype=np.float64)
    lo, hi = fm.early_clock_min_gps_s.to_value("s"), fm.time_set_gps_s.to_value("s")
    return np.where((g >= lo) & (g < hi), fm.early_clock_offset_s.to_value("s"), 0.0)


def clock_drift_s(t_utc: np.ndarray, fm: FlightModelSettings) -> np.ndarray:
    """§5 FM1 clock drift (MX:PS/minxss1_time_offset.pro:21-22): piecewise linear in the UTC
    Julian date; zero for a flight model without drift rows."""
    jd = julian_date(t_utc)
    out = np.zeros(jd.shape)
    for lo, hi, slope, intercept in fm.clock_drift:
        sel = (jd >= lo) & (jd < hi)
        out[sel] = slope * jd[sel] + intercept
    return out


def seconds_to_ns(seconds: np.ndarray | float) -> np.ndarray:
    """Seconds (float) as a ``timedelta64[ns]``, rounded to the nanosecond."""
    return np.round(np.asarray(seconds, dtype=np.float64) * NS).astype(np.int64).astype("timedelta64[ns]")
