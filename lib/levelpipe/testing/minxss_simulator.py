"""A simulator of MinXSS telemetry: HK, SCI (X123 spectra, compressed or not), ADCS1-4 and LOG
packets, written from the research notes' tables (shared/research/minxss.md §3-§8) **without**
the decoder's XTCE documents or code: the byte layouts below are a second, separate description
of the format, so that a mistake in either one shows up as a test failure.

Also: a stand-in TLE writer (invented orbital elements, marked as such) and `simulate_day`, the
generator of the bundled sample ``resources/minxss/raw/tlm_packets_2019_002_simulated.bin``.
"""
from __future__ import annotations

import datetime as _dt
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

# §5: UTC = GPS - 18 s from 2017-01-01 (17 s in 2016); the simulator's own statement of it.
GPS_EPOCH = _dt.datetime(1980, 1, 6)
SYNC = b"\xa5\xa5"
# §3 APIDs; playback copies are APID + 0x40.
APID = {"hk": 25, "log": 29, "adcs1": 38, "adcs2": 39, "adcs3": 40, "adcs4": 41, "sci": 44}
PLAYBACK = 0x40


def gps_minus_utc(t: _dt.datetime) -> int:
    return 18 if t >= _dt.datetime(2017, 1, 1) else 17


def gps_seconds(t: _dt.datetime) -> float:
    return (t - GPS_EPOCH).total_seconds() + gps_minus_utc(t)


# ---------------------------------------------------------------- packet building blocks (§3, §4)

def fletcher_check(body: bytes) -> bytes:
    """§4: Fletcher-16 mod 255 over `body` (bytes 0..L-5), cb0 = 255 - ((A + B) mod 255),
    cb1 = 255 - ((A + cb0) mod 255)."""
    a = b = 0
    for byte in body:
        a = (a + byte) % 255
        b = (b + a) % 255
    cb0 = 255 - ((a + b) % 255)
    cb1 = 255 - ((a + cb0) % 255)
    return bytes((cb0, cb1))


def primary_header(apid: int, seq_flags: int, seq: int, total_len: int) -> bytes:
    """§3: 0x08-led word with the 11-bit APID, flags + 14-bit count, length = total - 7 (BE)."""
    return struct.pack(">HHH", (0x0800 | apid) & 0xFFFF, (seq_flags << 14) | (seq & 0x3FFF), total_len - 7)


def secondary_header(stamp_gps: float, mode: int = 4, eclipse: int = 0, adcs_mode: int = 1,
                     adcs_state: int = 7) -> bytes:
    """§3: time (u32 s + u16 ms, little-endian), cdh_info, adcs_info."""
    sec = int(math.floor(stamp_gps))
    ms = int(round((stamp_gps - sec) * 1000))
    if ms == 1000:
        sec, ms = sec + 1, 0
    cdh = (eclipse & 1) << 3 | (mode & 7)
    adcs = (adcs_state & 7) << 5 | 1 << 4 | 1 << 3 | 1 << 2 | (adcs_mode & 1)
    return struct.pack("<IHBB", sec, ms, cdh, adcs)


def finish(head: bytes, payload: bytearray, total_len: int) -> bytes:
    """Header + payload padded to total - 4, then check bytes and sync."""
    body = bytearray(head) + payload
    body += bytes(total_len - 4 - len(body))
    if len(body) != total_len - 4:
        raise ValueError("payload too long")
    return bytes(body) + fletcher_check(bytes(body)) + SYNC


def _put(buf: bytearray, offset: int, fmt: str, value) -> None:
    """Write at a packet offset (buf starts at byte 12, after the time stamp)."""
    struct.pack_into(fmt, buf, offset - 12, value)


def _raw(value: float, scale: float, offset: float = 0.0) -> int:
    return int(round((value - offset) / scale))


# ---------------------------------------------------------------- HK (§6)

#: HK fields the simulator sets: name -> (offset, struct format, scale, offset) from §6.
HK_FIELDS = {
    "cmd_accept_count": (16, "<H", 1, 0), "cmd_reject_count": (18, "<H", 1, 0),
    "time_offset": (72, "<I", 1, 0),
    "cdh_batt_v": (78, "<H", 67.1 / 4096, 0), "cdh_5v": (82, "<H", 6.71 / 4096, 0),
    "cdh_3v": (84, "<H", 6.71 / 4096, 0), "cdh_temp": (86, "<h", 1 / 256, 0),
    "radio_received": (112, "<I", 1, 0), "radio_transmitted": (116, "<I", 1, 0),
    "eps_batt_cur": (148, "<H", 163.8 / 1638.4, 0),
    "eps_5v_cur": (156, "<H", 163.8 / 327.68, 0), "eps_5v_volt": (158, "<H", 32.76 / 32768, 0),
    "eps_batt_temp1": (170, "<H", 0.307, -373.0), "eps_batt_temp2": (174, "<H", 0.307, -373.0),
    "sps_xps_pwr_3v": (176, "<H", 7.0 / 1024, 0), "sps_xps_pwr_d5v": (180, "<H", 8.79 / 1024, 0),
    "sps_xps_pwr_a5v": (182, "<H", 8.79 / 1024, 0), "sps_xps_temp": (184, "<H", 0.8064, -250.0),
    "x123_brd_temp": (190, "<b", 1, 0), "xps_data": (192, "<I", 1, 0), "dark_data": (196, "<I", 1, 0),
    "sps_sum": (200, "<I", 1, 0), "sps_x": (204, "<h", 1, 0), "sps_y": (206, "<h", 1, 0),
    "x123_det_temp": (212, "<H", 0.1, 0),
    "sun_body_x": (218, "<b", 0.0256, 0), "sun_body_y": (219, "<b", 0.0256, 0), "sun_body_z": (220, "<b", 0.0256, 0),
    "wheel1_speed": (234, "<h", 0.025, 0), "wheel2_speed": (236, "<h", 0.025, 0), "wheel3_speed": (238, "<h", 0.025, 0),
}
#: cdh_enables bit numbers (§6, R1:611-620): the simulator's own list.
ENABLE_BITS = {"sps_xps": 0, "x123": 1, "adcs": 2, "comm": 3, "sdcard": 4, "ant_deploy": 5, "sa_deploy": 6,
               "batt_heater": 7, "inst_heater": 9, "eclipse_use_css": 10}


def hk_packet(stamp_gps: float, seq: int, values: Mapping[str, float], *, enables: Iterable[str] = (),
              fm_bits: int = 3, mode: int = 4, apid: int = APID["hk"]) -> bytes:
    payload = bytearray(254 - 12 - 4)
    payload[:2] = secondary_header(stamp_gps, mode=mode)[6:8]
    for name, v in values.items():
        off, fmt, scale, c0 = HK_FIELDS[name]
        _put(payload, off, fmt, _raw(v, scale, c0))
    _put(payload, 88, "<H", sum(1 << ENABLE_BITS[e] for e in enables))
    _put(payload, 47, "<B", 147)
    _put(payload, 51, "<B", (fm_bits & 3) << 4 | 6)
    head = primary_header(apid, 3, seq, 254) + secondary_header(stamp_gps, mode=mode)[:6]
    return finish(head, payload, 254)


# ---------------------------------------------------------------- SCI (§7)

def compress_spectrum(counts: Sequence[int]) -> tuple[int, bytes]:
    """§7 compression: 2-bit byte counts, 4 bins a header byte, header bytes istart..iend first,
    then each non-zero bin's little-endian bytes in bin order. Returns (cmp_info, raw bytes)."""
    c = [int(x) for x in counts]
    if len(c) != 1024 or min(c) < 0 or max(c) >= 1 << 24:
        raise ValueError("1024 bins of 0 .. 2**24 - 1")
    nbytes = [0 if v == 0 else 1 if v < 256 else 2 if v < 65536 else 3 for v in c]
    header = [sum(nbytes[4 * i + j] << (2 * j) for j in range(4)) for i in range(256)]
    used = [i for i, h in enumerate(header) if h]
    istart, iend = (used[0], used[-1]) if used else (0, 1)
    if istart == iend == 0:
        iend = 1  # cmp_info 0 would mean "uncompressed"
    out = bytearray(header[istart:iend + 1])
    for v, n in zip(c, nbytes):
        out += v.to_bytes(3, "little")[:n]
    return istart | (iend << 8), bytes(out)


def uncompressed_spectrum(counts: Sequence[int]) -> bytes:
    """§7 cmp_info = 0: three little-endian bytes per bin."""
    return b"".join(int(v).to_bytes(3, "little") for v in counts)


@dataclass
class SciRecord:
    stamp_gps: float                   # packet time stamp of the first segment (end of integration)
    counts: Sequence[int]              # 1024 bins, counts per integration
    compress: bool = True
    fm: int = 2
    real_time_ms: int = 10000
    accum_time_ms: int = 9900
    live_time_ms: int = 9800
    fast_count: int = 0
    slow_count: int = 0
    gp_count: int = 0
    sps: tuple[int, int, int, int] = (1_000_000, 1_000_000, 1_000_000, 1_000_000)
    xps: int = 5000
    dark: int = 40
    integration_s: int = 10
    hv_v: float = 180.0
    det_temp_k: float = 221.0
    brd_temp_c: int = 20
    flags: int = 0
    radio_flag_raw: int = 1            # §11: L0D subtracts 1
    read_errors: int = 0
    write_errors: int = 0
    mode: int = 4
    adcs_mode: int = 1
    eclipse: int = 0
    playback: bool = False
    extra: dict = field(default_factory=dict)


def sci_segments(rec: SciRecord, seq0: int) -> list[bytes]:
    """The 254-byte segments of one X123 record (§7): first segment bytes 12-249, then
    continuations with group count 1, 2, ... at 14 and 234 data bytes each."""
    if rec.compress:
        cmp_info, data = compress_spectrum(rec.counts)
    else:
        cmp_info, data = 0, uncompressed_spectrum(rec.counts)
    n_cont = max(0, math.ceil((len(data) - 168) / 234))
    apid = APID["sci"] + (PLAYBACK if rec.playback else 0)
    first = bytearray(254 - 12 - 4)
    sh = secondary_header(rec.stamp_gps, mode=rec.mode, eclipse=rec.eclipse, adcs_mode=rec.adcs_mode)
    first[0:2] = sh[6:8]
    _put(first, 14, "<I", rec.xps)
    _put(first, 18, "<I", rec.dark)
    for i, s in enumerate(rec.sps):
        _put(first, 22 + 4 * i, "<I", s)
    _put(first, 38, "<H", rec.integration_s)
    _put(first, 40, "<I", rec.fast_count)
    _put(first, 44, "<I", rec.slow_count)
    _put(first, 48, "<I", rec.gp_count)
    _put(first, 52, "<I", rec.accum_time_ms)
    _put(first, 56, "<I", rec.live_time_ms)
    _put(first, 60, "<I", rec.real_time_ms)
    _put(first, 64, "<h", _raw(rec.hv_v, 0.5))
    _put(first, 66, "<H", _raw(rec.det_temp_k, 0.1))
    _put(first, 68, "<b", rec.brd_temp_c)
    first[69 - 12:72 - 12] = rec.flags.to_bytes(3, "little")
    if rec.fm == 1:  # R1:906-908
        _put(first, 72, "<B", rec.read_errors)
        _put(first, 73, "<B", rec.radio_flag_raw)
        _put(first, 74, "<H", rec.write_errors)
    else:            # R2:918-922
        first[72 - 12:75 - 12] = (123456).to_bytes(3, "little")
        _put(first, 75, "<B", (min(rec.read_errors, 1) << 7) | (min(rec.write_errors, 1) << 6)
             | (rec.radio_flag_raw & 0x3F))
    _put(first, 76, "<H", cmp_info)
    _put(first, 78, "<H", len(data))
    _put(first, 80, "<H", 0)
    chunk = data[:168]
    first[82 - 12:82 - 12 + len(chunk)] = chunk
    flags0 = 3 if n_cont == 0 else 1
    segs = [finish(primary_header(apid, flags0, seq0, 254) + sh[:6], first, 254)]
    for g in range(1, n_cont + 1):
        cont = bytearray(254 - 12 - 4)
        cont[0:2] = sh[6:8]
        _put(cont, 14, "<H", g)
        piece = data[168 + (g - 1) * 234:168 + g * 234]
        cont[16 - 12:16 - 12 + len(piece)] = piece
        flags = 2 if g == n_cont else 0
        # continuation stamps: written a moment later (4 ms a segment)
        stamp = rec.stamp_gps + 0.004 * g
        segs.append(finish(primary_header(apid, flags, seq0 + g, 254) + secondary_header(
            stamp, mode=rec.mode, eclipse=rec.eclipse, adcs_mode=rec.adcs_mode)[:6], cont, 254))
    return segs


# ---------------------------------------------------------------- ADCS (§8) and LOG (§3)

def adcs_packet(k: int, stamp_gps: float, seq: int, values: Mapping[str, float], *, fm: int = 2,
                group: int = 0, playback: bool = False) -> bytes:
    """ADCS k (1-4): adcs_group u16 LE at 14; XACT fields big-endian (§8); FM1 220 bytes with
    six zero bytes before the check bytes, FM2 214 bytes (§3)."""
    total = 220 if fm == 1 else 214
    payload = bytearray(total - 12 - 4)
    sh = secondary_header(stamp_gps)
    payload[0:2] = sh[6:8]
    _put(payload, 14, "<H", group)
    layout = {
        1: {"tai_seconds": (68, ">I", 0.2), "eci1": (101, ">i", 2e-5), "eci2": (105, ">i", 2e-5),
            "eci3": (109, ">i", 2e-5), "ecef1": (113, ">i", 2e-5), "ecef2": (117, ">i", 2e-5),
            "ecef3": (121, ">i", 2e-5), "veci1": (125, ">i", 5e-9), "veci2": (129, ">i", 5e-9),
            "veci3": (133, ">i", 5e-9), "q1": (189, ">i", 5e-10), "q2": (193, ">i", 5e-10),
            "q3": (197, ">i", 5e-10), "q4": (201, ">i", 5e-10)},
        2: {"attitude_valid": (59, ">B", 1), "measured_attitude_valid": (60, ">B", 1), "mode": (110, ">B", 1),
            "wheel1": (124, ">h", 0.025), "wheel2": (126, ">h", 0.025), "wheel3": (128, ">h", 0.025)},
        3: {"sun_point_angle_error": (186, ">H", 0.003)},
        4: {"sunbody_x": (37, ">h", 1e-4), "sunbody_y": (39, ">h", 1e-4), "sunbody_z": (41, ">h", 1e-4)},
    }[k]
    for name, v in values.items():
        off, fmt, scale = layout[name]
        _put(payload, off, fmt, _raw(v, scale))
    apid = APID[f"adcs{k}"] + (PLAYBACK if playback else 0)
    return finish(primary_header(apid, 3, seq, total) + sh[:6], payload, total)


def log_packet(stamp_gps: float, seq: int, message: str) -> bytes:
    payload = bytearray(64 - 12 - 4)
    sh = secondary_header(stamp_gps)
    payload[0:2] = sh[6:8]
    text = message.encode("ascii")[:46]
    payload[2:2 + len(text)] = text
    return finish(primary_header(APID["log"], 3, seq, 64) + sh[:6], payload, 64)


# ---------------------------------------------------------------- framing variants (§2)

AX25_FM2 = bytes.fromhex("9a929cb0a6646086a240404040e103f0")  # §1/§2, verified on the real file


def ax25(packets: Iterable[bytes]) -> bytes:
    return b"".join(AX25_FM2 + p for p in packets)


def kiss(packets: Iterable[bytes]) -> bytes:
    """KISS frames C0 00 <AX.25 header + packet> C0 with C0 -> DB DC and DB -> DB DD (§2)."""
    out = bytearray()
    for p in packets:
        body = (AX25_FM2 + p).replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc")
        out += b"\xc0\x00" + body + b"\xc0"
    return bytes(out)


# ---------------------------------------------------------------- stand-in TLEs

def _tle_checksum(line: str) -> int:
    return sum(int(c) if c.isdigit() else 1 if c == "-" else 0 for c in line[:68]) % 10


def tle_lines(norad: int, epoch: _dt.datetime, *, inclination_deg: float, raan_deg: float, eccentricity: float,
              arg_perigee_deg: float, mean_anomaly_deg: float, mean_motion_rev_day: float, rev: int = 100,
              bstar: str = " 00000-0", designator: str = "18099A  ") -> tuple[str, str]:
    """A two-line element set in the standard fixed columns, checksums included."""
    day = (epoch - _dt.datetime(epoch.year, 1, 1)).total_seconds() / 86400.0 + 1.0
    l1 = (f"1 {norad:05d}U {designator:8s} {epoch.year % 100:02d}{day:012.8f}  .00000000  00000-0 {bstar} 0  999")
    ecc = f"{eccentricity:.7f}"[2:]
    l2 = (f"2 {norad:05d} {inclination_deg:8.4f} {raan_deg:8.4f} {ecc} {arg_perigee_deg:8.4f} "
          f"{mean_anomaly_deg:8.4f} {mean_motion_rev_day:11.8f}{rev:5d}")
    return l1 + str(_tle_checksum(l1)), l2 + str(_tle_checksum(l2))


#: Invented elements of a ~580 km, 97.7 deg sun-synchronous-like orbit. NOT MinXSS-2's orbit: no
#: real MinXSS TLE is public (§12); this only gives the chain a plausible track to work on.
STANDIN_ELEMENTS = dict(inclination_deg=97.7, eccentricity=0.0012, arg_perigee_deg=90.0,
                        mean_motion_rev_day=15.18)


def standin_tle_file(norad: int, epochs: Sequence[_dt.datetime]) -> str:
    """A TLE history text (3-line sets) with invented, mutually consistent elements."""
    out = []
    base = epochs[0]
    for i, e in enumerate(epochs):
        dt_days = (e - base).total_seconds() / 86400.0
        # keep the sets consistent: RAAN precesses ~0.9856 deg/day (sun-synchronous), the mean
        # anomaly advances with the mean motion
        raan = (30.0 + 0.9856 * dt_days) % 360
        ma = (10.0 + 360.0 * STANDIN_ELEMENTS["mean_motion_rev_day"] * dt_days) % 360
        l1, l2 = tle_lines(norad, e, raan_deg=raan, mean_anomaly_deg=ma, rev=100 + i * 15,
                           **STANDIN_ELEMENTS)
        out += ["MINXSS-2 STAND-IN (INVENTED ELEMENTS)", l1, l2]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- a simulated day

def _sun_unit(jd: float) -> np.ndarray:
    """§12 low-precision Sun direction (the simulator's own copy), of-date equatorial."""
    n = jd - 2451545.0
    L = math.radians((280.460 + 0.9856474 * n) % 360)
    g = math.radians((357.528 + 0.9856003 * n) % 360)
    lam = L + math.radians(1.915) * math.sin(g) + math.radians(0.020) * math.sin(2 * g)
    eps = math.radians(23.439 - 4e-7 * n)
    return np.array([math.cos(lam), math.cos(eps) * math.sin(lam), math.sin(eps) * math.sin(lam)])


def model_counts(rng: np.random.Generator, scale: float, real_time_s: float) -> np.ndarray:
    """A soft X-ray count spectrum of a quiet Sun seen through a Be window (shape only):
    counts per bin per integration, Poisson noise; bin i at -0.17 + 0.02975 i keV."""
    e = -0.17 + 0.02975 * np.arange(1024)
    window = 1.0 - np.exp(-np.clip(e / 1.2, 0, None) ** 6)    # Be cut-off below ~1 keV
    thermal = np.exp(-np.clip(e, 0, None) / 0.28)             # steeply falling quiet-Sun spectrum
    rate = 400.0 * scale * window * thermal                    # counts/s/bin
    return rng.poisson(rate * real_time_s).astype(np.int64)


def simulate_day(day: _dt.date, tle_text: str, *, hours: float = 3.0, sci_cadence_s: float = 10.0,
                 hk_cadence_s: float = 9.0, adcs_cadence_s: float = 30.0, seed: int = 2019,
                 hk_gap: tuple[float, float] = (5400.0, 5500.0), uncompressed_every: int = 20,
                 damage: bool = True) -> bytes:
    """A raw FM2 telemetry stream of `hours` from 00:00 UTC of `day`, time-ordered.

    SCI every `sci_cadence_s` (10 s integrations, 1 in `uncompressed_every` uncompressed), HK
    every `hk_cadence_s` with a gap `hk_gap` (seconds of day) longer than the 60 s limit, ADCS1-4
    every `adcs_cadence_s`, positions from the TLE (sgp4), eclipse from a cylindrical shadow with
    the SPS signal dropping inside it. With `damage`, a few packets are damaged on purpose (one
    bit flip, one truncation, 7 stray bytes inside a packet) and two are repeated as playback
    copies (APID + 0x40): the sample's expected counts are in resources/minxss/SOURCE.md.
    """
    from sgp4.api import Satrec, jday

    lines = [ln for ln in tle_text.splitlines() if ln.startswith(("1 ", "2 "))]
    sat = Satrec.twoline2rv(lines[0], lines[1])
    rng = np.random.default_rng(seed)
    start = _dt.datetime(day.year, day.month, day.day)
    end_s = hours * 3600.0
    events: list[tuple[float, bytes]] = []
    seq = {"hk": 0, "sci": 0, "adcs": 0, "log": 0}

    def orbit(t: _dt.datetime):
        jd, fr = jday(t.year, t.month, t.day, t.hour, t.minute, t.second + t.microsecond * 1e-6)
        _, r, v = sat.sgp4(jd, fr)
        return np.array(r), np.array(v), jd + fr

    def in_shadow(r: np.ndarray, jd: float) -> bool:
        s = _sun_unit(jd)
        d = float(r @ s)
        return d <= 0 and float(np.linalg.norm(r - d * s)) < 6378.137

    t = 0.0
    while t < end_s:
        mid = start + _dt.timedelta(seconds=t)
        r, _, jd = orbit(mid)
        dark = in_shadow(r, jd)
        scale = 1.0 + 0.5 * math.sin(2 * math.pi * t / 5400.0)
        rec = SciRecord(stamp_gps=0.0, counts=model_counts(rng, scale if not dark else 0.0, 10.0),
                        compress=(int(t / sci_cadence_s) % uncompressed_every) != 7)
        if dark:
            rec.sps = (900, 950, 920, 940)
            rec.eclipse = 1
        counts = np.asarray(rec.counts)
        rec.slow_count = int(counts.sum())
        rec.fast_count = int(counts.sum() * 1.3)
        rec.gp_count = rec.slow_count
        # §5/§7: the stamp is the end of the integration; the reader moves it back real_time/2
        rec.stamp_gps = gps_seconds(mid) + rec.real_time_ms / 2000.0
        segs = sci_segments(rec, seq["sci"])
        seq["sci"] += len(segs)
        for i, s in enumerate(segs):
            events.append((rec.stamp_gps + 0.004 * i, s))
        t += sci_cadence_s
    t = 0.0
    while t < end_s:
        if not (hk_gap[0] <= t < hk_gap[1]):
            mid = start + _dt.timedelta(seconds=t)
            r, _, jd = orbit(mid)
            vals = {"cdh_batt_v": 7.9 + 0.05 * math.sin(t / 600), "cdh_5v": 4.97, "cdh_3v": 3.36,
                    "cdh_temp": 5.0 + t / 3600, "radio_received": 20000 + int(t), "radio_transmitted": 17_000_000 + 10 * int(t),
                    "eps_5v_cur": 400.0, "eps_5v_volt": 4.975, "eps_batt_temp1": 9.0, "eps_batt_temp2": 9.5,
                    "sps_xps_pwr_3v": 3.4, "sps_xps_pwr_d5v": 5.07, "sps_xps_pwr_a5v": 5.1, "sps_xps_temp": 6.4,
                    "x123_brd_temp": 11, "xps_data": 37, "dark_data": 7, "sps_sum": 2_000_000, "sps_x": -2869,
                    "sps_y": 2595, "x123_det_temp": 225.8, "sun_body_x": 0.9984, "sun_body_y": -0.0512,
                    "sun_body_z": -0.0256, "wheel1_speed": 35.0 + 0.001 * t, "wheel2_speed": -112.25,
                    "wheel3_speed": 4.75, "time_offset": 4969, "cmd_accept_count": 1088, "cmd_reject_count": 2704}
            en = ["sps_xps", "x123", "adcs", "eclipse_use_css"] + (["batt_heater"] if t > 7200 else [])
            events.append((gps_seconds(mid) + 1.5, hk_packet(gps_seconds(mid) + 1.5, seq["hk"], vals, enables=en)))
            seq["hk"] += 1
        t += hk_cadence_s
    t = 0.0
    group = 0
    while t < end_s:
        mid = start + _dt.timedelta(seconds=t)
        r, v, jd = orbit(mid)
        theta = _gmst_rad(jd)
        ecef = np.array([math.cos(theta) * r[0] + math.sin(theta) * r[1],
                         -math.sin(theta) * r[0] + math.cos(theta) * r[1], r[2]])
        stamp = gps_seconds(mid) + 0.1
        vals = {
            1: {"tai_seconds": 1000.0 + t, "eci1": r[0], "eci2": r[1], "eci3": r[2],
                "ecef1": ecef[0], "ecef2": ecef[1], "ecef3": ecef[2], "veci1": v[0], "veci2": v[1], "veci3": v[2],
                "q1": 0.5, "q2": 0.5, "q3": 0.5, "q4": 0.5},
            2: {"attitude_valid": 1, "measured_attitude_valid": 1, "mode": 1, "wheel1": 35.0, "wheel2": -112.0,
                "wheel3": 4.75},
            3: {"sun_point_angle_error": 0.03 + 0.01 * math.sin(t / 300)},
            4: {"sunbody_x": 0.9984, "sunbody_y": -0.0512, "sunbody_z": -0.0256},
        }
        for k in (1, 2, 3, 4):
            events.append((stamp + 0.001 * k, adcs_packet(k, stamp + 0.001 * k, seq["adcs"], vals[k], group=group)))
            seq["adcs"] += 1
        group += 1
        t += adcs_cadence_s
    for i, t in enumerate((60.0, 3600.0, 7200.0)):
        stamp = gps_seconds(start + _dt.timedelta(seconds=t))
        events.append((stamp, log_packet(stamp, i, f"simulated log message {i}")))
    events.sort(key=lambda e: e[0])
    stream = [p for _, p in events]
    if damage:
        stream = damage_stream(stream)
    return b"".join(stream)


def damage_stream(stream: list[bytes]) -> list[bytes]:
    """The bundled sample's deliberate faults (see `simulate_day`): indices chosen among HK
    packets so no SCI record loses a segment; two playback duplicates of HK packets."""
    hk = [i for i, p in enumerate(stream) if ((p[0] & 7) << 8 | p[1]) == APID["hk"]]
    out = list(stream)
    flip, cut, stray, dup1, dup2 = hk[10], hk[20], hk[30], hk[40], hk[50]
    b = bytearray(out[flip])
    b[100] ^= 0x10
    out[flip] = bytes(b)
    out[cut] = out[cut][:150]
    out[stray] = out[stray][:120] + b"\x13\x37\x42\x99\x00\x11\x22" + out[stray][120:]
    for i in (dup2, dup1):  # playback copies: APID + 0x40, same sequence count and time
        p = bytearray(stream[i])
        p[1] |= PLAYBACK
        body = bytes(p[:-4])
        out.insert(i + 1, body + fletcher_check(body) + SYNC)
    return out


def _gmst_rad(jd_utc: float) -> float:
    """Greenwich mean sidereal time (astropy, IAU 1982), only to make onboard-style ECEF positions."""
    from astropy.time import Time

    return float(Time(jd_utc, format="jd", scale="utc").sidereal_time("mean", "greenwich",
                                                                      model="IAU1982").radian)


def write_day(path: str | Path, day: _dt.date, tle_text: str, **kwargs) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(simulate_day(day, tle_text, **kwargs))
    return path


SAMPLE_DAY = _dt.date(2019, 1, 2)   # inside MinXSS-2; sunpy's real GOES-15 test file covers 00:00-00:50
SAMPLE_TLE_EPOCHS = (_dt.datetime(2019, 1, 1, 12, 0, 0), _dt.datetime(2019, 1, 2, 6, 0, 0))


def write_sample(root: str | Path) -> list[Path]:
    """(Re)write the simulated parts of resources/minxss: the stand-in TLE file and the day."""
    root = Path(root)
    tle = root / "tle" / "00043758.tle"
    tle.parent.mkdir(parents=True, exist_ok=True)
    tle.write_text(standin_tle_file(43758, SAMPLE_TLE_EPOCHS))
    day = write_day(root / "raw" / "tlm_packets_2019_002_simulated.bin", SAMPLE_DAY, tle.read_text())
    return [tle, day]


if __name__ == "__main__":
    import sys

    for p in write_sample(sys.argv[1] if len(sys.argv) > 1 else "resources/minxss"):
        print(f"wrote {p} ({p.stat().st_size} bytes)")
