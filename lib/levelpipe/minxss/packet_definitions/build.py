"""Writes the MinXSS XTCE packet definitions (``*.xml`` beside this file) from the field tables below.

The XML documents are the packet definitions: the pipeline's decoder (``levelpipe.minxss.xtce``)
and the reference decoder ``space_packet_parser`` both read them. This script is how they were
written, the way imap_processing writes its XTCE from spreadsheets (``ccsds/excel_to_xtce.py``):
run ``python -m levelpipe.minxss.packet_definitions.build`` after changing a table;
``tests/minxss/test_packet_definitions.py`` fails when the committed XML and this script differ.

Every table is transcribed from ``/work/shared/research/minxss.md`` (the section is named at each
table). Each row is ``(byte offset, name, type, unit, calibration, description)``; offsets are
0-based from the first byte of the CCSDS primary header (notes, preamble) and the script
refuses a table whose rows leave a gap or overlap, so a mistyped offset cannot slip through.
Bytes the notes do not describe (inside the XACT blocks of the ADCS packets) are written as
named binary fillers ``xact_bytes_<first>_<last>``, never as guessed fields.

Types: ``u8``/``s8``; ``u16le``/``s16le``/``u24le``/``u32le`` little-endian; ``s16be``/``u16be``/
``s32be``/``u32be`` big-endian (XACT data, §8); ``bits:N`` an N-bit field read most significant
bit first within the byte (a byte's fields are listed from bit 7 down); ``bin:N`` N raw bytes;
``str:N`` N bytes of US-ASCII text. Calibration: ``None`` (raw integer) or a tuple of polynomial
coefficients ``(c0, c1)`` giving ``c0 + c1 * raw``; ``("context", ...)`` see ``_context``.
"""
from __future__ import annotations

import sys
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
XTCE_NS = "http://www.omg.org/space/xtce"

# ---------------------------------------------------------------- headers (§3)

PRIMARY_HEADER = [
    # §3 "CCSDS primary header": big-endian bit fields of bytes 0-5.
    (0, "VERSION", "bits:3", "1", None, "CCSDS version number (0)"),
    (0, "TYPE", "bits:1", "1", None, "CCSDS packet type (0 = telemetry)"),
    (0, "SEC_HDR_FLG", "bits:1", "1", None, "secondary header flag (1)"),
    (0, "PKT_APID", "bits:11", "1", None,
     "application process id; playback copies are APID + 0x40 (§3)"),
    (2, "SEQ_FLGS", "bits:2", "1", None, "sequence flags: 1 first, 2 last, 3 unsegmented, 0 continuation"),
    (2, "SRC_SEQ_CTR", "bits:14", "1", None, "source sequence count"),
    (4, "PKT_LEN", "u16be", "1", None, "packet data length = total packet bytes - 7 (covers check bytes and sync)"),
]

SECONDARY_HEADER = [
    # §3 bytes 6-13.
    (6, "time_seconds", "u32le", "s", None, "spacecraft time stamp, whole GPS seconds (time the packet was written)"),
    (10, "time_milliseconds", "u16le", "ms", None, "spacecraft time stamp, milliseconds"),
    (12, "cdh_state", "bits:4", "1", None, "cdh_info bits 7-4: C&DH state"),
    (12, "eclipse_state", "bits:1", "1", None, "cdh_info bit 3: eclipse state"),
    (12, "spacecraft_mode", "bits:3", "1", None, "cdh_info bits 2-0: 1 phoenix, 2 safe, 4 science"),
    (13, "adcs_state", "bits:3", "1", None, "adcs_info bits 7-5"),
    (13, "attitude_valid", "bits:1", "1", None, "adcs_info bit 4"),
    (13, "refs_valid", "bits:1", "1", None, "adcs_info bit 3"),
    (13, "time_valid", "bits:1", "1", None, "adcs_info bit 2"),
    (13, "recommend_sun", "bits:1", "1", None, "adcs_info bit 1"),
    (13, "adcs_mode", "bits:1", "1", None, "adcs_info bit 0: 0 coarse (sun point), 1 fine point"),
]


def _check_trailer(at: int) -> list[tuple]:
    """§3/§4: check bytes at L-4 (cb0 + 256*cb1, as IDL compares them) and the A5A5 sync at L-2."""
    return [
        (at, "check_bytes", "u16le", "1", None, "Fletcher check bytes cb0 + 256*cb1 (§4)"),
        (at + 2, "sync_word", "u16be", "1", None, "end sync word, 0xA5A5"),
    ]


# ---------------------------------------------------------------- HK (§6), APID 25

def _u16(off, name, unit, cal, desc):
    return (off, name, "u16le", unit, cal, desc)


SA_I = (0.0, 163.8 / 327.68)       # §6 solar-array / 3 V / 5 V currents: x163.8/327.68 -> mA
V_EPS = (0.0, 32.76 / 32768)       # §6 EPS voltages: x32.76/32768 -> V
T256 = (0.0, 1.0 / 256)            # §6 s16 temperatures: /256 -> degC
SA_T = (-216.0, 0.1744)            # §6 panel temperatures: x0.1744 - 216 -> degC
# Decision: (Q12) follow IDL where peers disagree: cdh_enables bit 0 is SPS/XPS and bit 2 ADCS
# (R1:611-620); the battery temperature takes the FM1 formula when the HK flight-model bits say 1
# and the FM2 formula otherwise (FM2 reads 3, a mis-burn: §1), as R1/R2 do per flight model.
BATT_T = ("context", {1: (-250.2, 0.18766)}, (-373.0, 0.307))  # §6 FM1 / FM2 battery temperature
BATT_CD = (-61.6, 3.5568)          # §6 battery charge / discharge: x3.5568 - 61.6 -> mA
SPS_T = (-250.0, 0.8064)           # §6 SPS/XPS temperatures: x0.8064 - 250.0 -> degC

HK = [
    (14, "cmd_last_opcode", "u8", "1", None, "last command opcode"),
    (15, "cmd_last_status", "u8", "1", None, "last command status"),
    _u16(16, "cmd_accept_count", "1", None, "commands accepted"),
    _u16(18, "cmd_reject_count", "1", None, "commands rejected"),
]
for _i, _sd in enumerate(("hk", "log", "diag", "adcs", "ximg", "sci")):
    HK += [(20 + 4 * _i, f"sd_{_sd}_write_offset", "u24le", "1", None, f"SD card {_sd} write offset"),
           (23 + 4 * _i, f"sd_{_sd}_routing", "u8", "1", None, f"SD card {_sd} routing")]
_between = {47: ("fsw_major_minor", "flight software major/minor version"),
            55: ("param_set_hdr_byte1", "parameter set header byte 1"),
            59: ("param_set_hdr_byte2", "parameter set header byte 2"),
            63: ("sd_write_ctrl_block_addr", "SD card write control block address"),
            67: ("hk_byte67", "FM1: adcs_HighRateRunCounter; FM2: sd_EphemerisBlockAddr (R2:606)")}
for _i, _sd in enumerate(("hk", "log", "diag", "adcs", "ximg", "sci")):
    HK.append((44 + 4 * _i, f"sd_{_sd}_read_offset", "u24le", "1", None, f"SD card {_sd} read offset"))
    _b = 47 + 4 * _i
    if _b == 51:
        # §6 byte 51: patch = b & 0x0F, flight_model = (b & 0x30) >> 4, bit 6, bit 7 (R1:575-581).
        HK += [(51, "adcs_using_sps", "bits:1", "1", None, "fsw_patch byte bit 7"),
               (51, "adcs_gain_detuned", "bits:1", "1", None, "fsw_patch byte bit 6"),
               (51, "fsw_flight_model", "bits:2", "1", None,
                "flight-model bits of the firmware (FM2 reads 3: mis-burned, §1)"),
               (51, "fsw_patch", "bits:4", "1", None, "flight software patch number")]
    else:
        HK.append((_b, *_between[_b][:1], "u8", "1", None, _between[_b][1]))
HK += [
    _u16(68, "lockout_timeout_counter", "s", None, "lockout timeout counter"),
    _u16(70, "contact_tx_timeout_counter", "s", None, "contact transmit timeout counter"),
    # Unverified: §6 says only "32-bit" for time_offset; read as unsigned.
    (72, "time_offset", "u32le", "ms", None, "time offset (signedness not given in the notes: read unsigned)"),
    (76, "battery_heater_setpoint", "u8", "degC", None, "battery heater set point (unsigned, as IDL)"),
    (77, "instrument_heater_setpoint", "u8", "degC", None, "instrument heater set point (unsigned, as IDL)"),
    _u16(78, "cdh_batt_v", "V", (0.0, 67.1 / 4096), "C&DH battery voltage"),
    _u16(80, "cdh_batt_v2", "V", (0.0, 33.55 / 4096), "C&DH battery voltage 2"),
    _u16(82, "cdh_5v", "V", (0.0, 6.71 / 4096), "C&DH 5 V line (the L0D eps_5v_volt, §11)"),
    _u16(84, "cdh_3v", "V", (0.0, 6.71 / 4096), "C&DH 3.3 V line"),
    (86, "cdh_temp", "s16le", "degC", T256, "C&DH board temperature"),
    # §6 cdh_enables (u16 LE): byte 88 holds bits 7..0, byte 89 bits 15..8 (R1:611-620, R2:633).
    (88, "switch_battery_heater", "bits:1", "1", None, "cdh_enables bit 7: battery heater enabled"),
    (88, "enable_sa_deploy", "bits:1", "1", None, "cdh_enables bit 6: solar-array deploy enabled"),
    (88, "enable_ant_deploy", "bits:1", "1", None, "cdh_enables bit 5: antenna deploy enabled"),
    (88, "enable_sdcard", "bits:1", "1", None, "cdh_enables bit 4: SD card enabled"),
    (88, "enable_comm", "bits:1", "1", None, "cdh_enables bit 3: radio enabled"),
    (88, "switch_adcs", "bits:1", "1", None, "cdh_enables bit 2: ADCS enabled"),
    (88, "enable_x123", "bits:1", "1", None, "cdh_enables bit 1: X123 enabled"),
    (88, "switch_sps", "bits:1", "1", None, "cdh_enables bit 0: SPS/XPS enabled"),
    (89, "cdh_enables_bits_11_15", "bits:5", "1", None, "cdh_enables bits 15-11 (not described)"),
    (89, "enable_eclipse_use_css", "bits:1", "1", None, "cdh_enables bit 10: eclipse from CSS (FM2)"),
    (89, "enable_inst_heater", "bits:1", "1", None, "cdh_enables bit 9: instrument heater enabled"),
    (89, "enable_spare", "bits:1", "1", None, "cdh_enables bit 8: spare (FM1)"),
]
for _i, _name in enumerate(("cdh_i2c_err", "cdh_rtc_err", "cdh_spi_sd_err", "cdh_uart1_err", "cdh_uart2_err",
                            "cdh_uart3_err", "cdh_uart4_err")):
    HK.append(_u16(90 + 2 * _i, _name, "1", None, _name.replace("_", " ") + " count"))
HK += [
    _u16(104, "radio_counter", "1", None, "radio counter"),
    _u16(106, "radio_temp", "1", None, "radio temperature, raw DN (IDL applies no conversion)"),
    (108, "radio_time", "u24le", "1", None, "radio time"),
    (111, "radio_rssi", "u8", "1", None, "radio RSSI"),
    (112, "radio_received", "u32le", "byte", None, "bytes received by the radio"),
    (116, "radio_transmitted", "u32le", "byte", None, "bytes transmitted by the radio"),
    (120, "comm_last_cmd", "u8", "1", None, "radio last command"),
    (121, "comm_last_status", "u8", "1", None, "radio last status"),
    (122, "comm_temp", "s16le", "degC", T256, "radio temperature"),
    (124, "mb_temp1", "s16le", "degC", T256, "motherboard temperature 1"),
    (126, "mb_temp2", "s16le", "degC", T256, "motherboard temperature 2"),
    (128, "eps_temp1", "s16le", "degC", T256, "EPS temperature 1"),
    (130, "eps_temp2", "s16le", "degC", T256, "EPS temperature 2"),
    _u16(132, "eps_fg_volt", "V", (0.0, 1.0 / 6415), "fuel-gauge battery voltage"),
    _u16(134, "eps_fg_soc", "percent", (0.0, 1.0 / 256), "fuel-gauge state of charge"),
]
for _i in range(3):
    HK += [_u16(136 + 4 * _i, f"eps_sa{_i + 1}_cur", "mA", SA_I, f"solar array {_i + 1} current"),
           _u16(138 + 4 * _i, f"eps_sa{_i + 1}_volt", "V", V_EPS, f"solar array {_i + 1} voltage")]
HK += [
    _u16(148, "eps_batt_cur", "mA", (0.0, 163.8 / 1638.4), "battery current"),
    _u16(150, "eps_batt_volt", "V", V_EPS, "battery voltage"),
    _u16(152, "eps_3v_cur", "mA", SA_I, "EPS 3.3 V current"),
    _u16(154, "eps_3v_volt", "V", V_EPS, "EPS 3.3 V voltage"),
    _u16(156, "eps_5v_cur", "mA", SA_I, "EPS 5 V current"),
    _u16(158, "eps_5v_volt", "V", V_EPS, "EPS 5 V voltage (IDL's L0D eps_5v_volt is cdh_5v instead, §11)"),
    _u16(160, "eps_sa1_temp", "degC", SA_T, "solar panel 1 temperature"),
    _u16(162, "eps_sa2_temp", "degC", SA_T, "solar panel 2 temperature"),
    _u16(164, "eps_sa3_temp", "degC", SA_T, "solar panel 3 temperature"),
    _u16(166, "eps_batt_volt2", "V", (0.0, 14.1 / 4096), "battery voltage 2"),
    _u16(168, "eps_batt_charge", "mA", BATT_CD, "battery charge current"),
    _u16(170, "eps_batt_temp1", "degC", BATT_T, "battery temperature 1 (FM1 / FM2 formula by the FM bits)"),
    _u16(172, "eps_batt_discharge", "mA", BATT_CD, "battery discharge current"),
    _u16(174, "eps_batt_temp2", "degC", BATT_T, "battery temperature 2 (FM1 / FM2 formula by the FM bits)"),
    _u16(176, "sps_xps_pwr_3v", "V", (0.0, 7.0 / 1024), "SPS/XP 3.3 V power"),
    # §6 / Q13: IDL's formula int16((b178 << 6) + (b179 << 14)) / 256 wraps at 16 bits, which no
    # XTCE polynomial can say; the raw word is kept here and the formula applied in l0c.py.
    _u16(178, "sps_xps_pwr_temp_raw", "1", None, "SPS/XP power-board temperature word, raw (Q13)"),
    _u16(180, "sps_xps_pwr_d5v", "V", (0.0, 8.79 / 1024), "SPS/XP digital 5 V power"),
    _u16(182, "sps_xps_pwr_a5v", "V", (0.0, 8.79 / 1024), "SPS/XP analogue 5 V power"),
    _u16(184, "sps_xps_temperature", "degC", SPS_T, "SPS/XPS temperature (hk.sps_xps_temp)"),
    _u16(186, "xps_xps_temp", "degC", SPS_T, "XPS temperature"),
    _u16(188, "sps_xps_dac1", "V", (0.0, 2.28 / 4096), "SPS/XPS DAC 1"),
    (190, "x123_brd_temp", "s8", "degC", None, "X123 board temperature"),
    (191, "xact_command_reject_status", "u8", "1", None, "XACT command reject status"),
    (192, "xps_data_hk", "u32le", "1", None, "XP diode signal, DN (hk.xps_data)"),
    (196, "sps_dark_data_hk", "u32le", "1", None, "dark diode signal, DN (hk.dark_data)"),
    (200, "sps_sum_hk", "u32le", "1", None, "SPS quad-diode sum (the IDL comment says 1.0e-3 fA; hk.sps_sum)"),
    (204, "sps_x", "s16le", "1", None, "SPS x position, raw (range +-10000)"),
    (206, "sps_y", "s16le", "1", None, "SPS y position, raw (range +-10000)"),
    _u16(208, "x123_fast_count", "1", None, "X123 fast counter"),
    _u16(210, "x123_slow_count", "1", None, "X123 slow counter"),
    _u16(212, "x123_det_temp", "K", (0.0, 0.1), "X123 detector temperature"),
    (214, "xact_p5v_tracker_voltage", "u8", "V", (0.0, 0.025), "XACT 5 V tracker voltage"),
    (215, "xact_p12v_bus_voltage", "u8", "V", (0.0, 0.256), "XACT 12 V bus voltage"),
    (216, "xact_tracker_detector_temp", "s8", "degC", (0.0, 0.8), "XACT tracker detector temperature"),
    (217, "xact_wheel2_temp", "s8", "degC", (0.0, 1.28), "XACT wheel 2 temperature"),
    (218, "xact_measured_sun_body_vector_x", "s8", "1", (0.0, 0.0256), "XACT measured Sun vector, body x"),
    (219, "xact_measured_sun_body_vector_y", "s8", "1", (0.0, 0.0256), "XACT measured Sun vector, body y"),
    (220, "xact_measured_sun_body_vector_z", "s8", "1", (0.0, 0.0256), "XACT measured Sun vector, body z"),
]
for _i, _name in enumerate(("command_status", "command_accept_count", "command_accept_apid",
                            "command_accept_opcode", "command_reject_count", "command_reject_apid",
                            "command_reject_opcode")):
    HK.append((221 + _i, f"xact_{_name}", "u8", "1", None, f"XACT {_name.replace('_', ' ')}"))
for _i in range(3):
    HK.append((228 + 2 * _i, f"xact_wheel{_i + 1}_est_drag", "s16le", "rad s-2", (0.0, 0.01),
               f"XACT wheel {_i + 1} estimated drag"))
for _i in range(3):
    HK.append((234 + 2 * _i, f"xact_wheel{_i + 1}_measured_speed", "s16le", "rad s-1", (0.0, 0.025),
               f"XACT wheel {_i + 1} measured speed (HK XACT_Wheel{_i + 1}MeasSpeed)"))
for _i, _ax in enumerate("xyz"):
    HK.append((240 + 2 * _i, f"xact_body_frame_rate_{_ax}", "s16le", "rad s-1", (0.0, 0.00016384),
               f"XACT body-frame rate {_ax}"))
for _i, _name in enumerate(("bitflags", "counter", "cmd_reject_count", "cmd_accept_count")):
    HK.append((246 + _i, f"xact_lvl0_{_name}", "u8", "1", None, f"XACT level-0 {_name.replace('_', ' ')}"))
HK += _check_trailer(250)

# ---------------------------------------------------------------- SCI (§7), APID 44

SCI_FIRST_A = [
    (14, "xps_data_sci", "u32le", "1", None, "XP diode signal per integration, DN (sci.xps_data)"),
    (18, "sps_dark_data_sci", "u32le", "1", None, "dark diode signal, DN (sci.dark_data)"),
    (22, "sps_data_sci_1", "u32le", "1", None, "SPS quad diode 1 signal, DN"),
    (26, "sps_data_sci_2", "u32le", "1", None, "SPS quad diode 2 signal, DN"),
    (30, "sps_data_sci_3", "u32le", "1", None, "SPS quad diode 3 signal, DN"),
    (34, "sps_data_sci_4", "u32le", "1", None, "SPS quad diode 4 signal, DN"),
    _u16(38, "sps_xp_integration_time", "s", None, "SPS/XP integration time"),
    (40, "x123_fast_count", "u32le", "1", None, "X123 fast counter"),
    (44, "x123_slow_count", "u32le", "1", None, "X123 slow counter"),
    (48, "x123_gp_count", "u32le", "1", None, "X123 general-purpose counter"),
    (52, "x123_accum_time", "u32le", "ms", None, "X123 accumulation time"),
    (56, "x123_live_time", "u32le", "ms", None, "X123 live time"),
    (60, "x123_real_time", "u32le", "ms", None, "X123 real time"),
    (64, "x123_high_voltage", "s16le", "V", (0.0, 0.5), "X123 detector high voltage (sci.x123_hv)"),
    # §7 x123_det_temp x0.1 -> K; the L0D tag is in degC (minxss_make_level0d.pro:172, §11).
    _u16(66, "x123_detector_temperature", "degC", (-273.15, 0.1), "X123 detector temperature"),
    (68, "x123_board_temperature", "s8", "degC", None, "X123 board temperature (sci.x123_brd_temp)"),
    (69, "x123_flags", "u24le", "1", None, "X123 flags"),
]
# §11: the L0D x123_radio_flag is sci.x123_radio_flag - 1 (CU:434); the definitions carry it so.
RADIO_FLAG = (-1.0, 1.0)
SCI_FM1_STATUS = [  # §7 bytes 72-75, FM1 (R1:906-908)
    (72, "x123_read_errors", "u8", "1", None, "X123 read errors"),
    (73, "x123_radio_flag", "u8", "1", RADIO_FLAG, "X123 radio flag (raw - 1, as L0D)"),
    _u16(74, "x123_write_errors", "1", None, "X123 write errors"),
]
SCI_FM2_STATUS = [  # §7 bytes 72-75, FM2 (R2:918-922)
    (72, "sd_sci_write_offset", "u24le", "1", None, "SD card science write offset"),
    (75, "x123_read_errors", "bits:1", "1", None, "byte 75 bit 7: read error"),
    (75, "x123_write_errors", "bits:1", "1", None, "byte 75 bit 6: write error"),
    (75, "x123_radio_flag", "bits:6", "1", RADIO_FLAG, "byte 75 bits 5-0: X123 radio flag (raw - 1, as L0D)"),
]
SCI_FIRST_B = [
    _u16(76, "x123_cmp_info", "1", None, "compression: low byte first header index, high byte last; 0 none"),
    _u16(78, "x123_spect_len", "byte", None, "bytes of raw spectrum data in the whole record"),
    _u16(80, "x123_group_count", "1", None, "segment number within the record"),
    (82, "x123_spectrum_raw_first", "bin:168", "1", None, "raw spectrum bytes 0-167"),
] + _check_trailer(250)
SCI_CONT = [
    _u16(14, "x123_group_count", "1", None, "segment number within the record"),
    (16, "x123_spectrum_raw_continuation", "bin:234", "1", None,
     "raw spectrum bytes (group_count - 1) * 234 + 168 onward"),
] + _check_trailer(250)

# ---------------------------------------------------------------- LOG (§3), APID 29

LOG = [(14, "log_message", "str:46", "1", None, "log message, ASCII (R1:769-772)")] + _check_trailer(60)

# ---------------------------------------------------------------- ADCS (§8), APIDs 38-41

ADCS_TAIL_FM2 = [(209, "adcs_spare", "u8", "1", None, "spare byte")] + _check_trailer(210)
ADCS_TAIL_FM1 = [(209, "adcs_spare", "u8", "1", None, "spare byte"),
                 (210, "adcs_fm1_padding", "bin:6", "1", None,
                  "six zero bytes before the check bytes (FM1 flight-software bug, §3)")] + _check_trailer(216)
ADCS = {
    1: [(68, "tai_seconds", "u32be", "s", (0.0, 0.2), "XACT TAI seconds"),
        # Unverified: §8 gives julian_date_tai as "u32 BE, day" with no scale factor; kept raw.
        (76, "julian_date_tai", "u32be", "1", None, "XACT Julian date (TAI), raw: scale not given in the notes"),
        (80, "xact_time_valid", "u8", "1", None, "XACT time valid"),
        *[(101 + 4 * i, f"orbit_position_ECI{i + 1}", "s32be", "km", (0.0, 2e-5),
           f"XACT orbit position, ECI component {i + 1}") for i in range(3)],
        *[(113 + 4 * i, f"orbit_position_ECEF{i + 1}", "s32be", "km", (0.0, 2e-5),
           f"XACT orbit position, ECEF component {i + 1}") for i in range(3)],
        *[(125 + 4 * i, f"orbit_velocity_ECI{i + 1}", "s32be", "km s-1", (0.0, 5e-9),
           f"XACT orbit velocity, ECI component {i + 1}") for i in range(3)],
        *[(189 + 4 * i, f"attitude_quaternion{i + 1}", "s32be", "1", (0.0, 5e-10),
           f"XACT attitude quaternion component {i + 1}") for i in range(4)]],
    2: [(59, "xact_attitude_valid", "u8", "1", None, "XACT attitude valid"),
        (60, "measured_attitude_valid", "u8", "1", None, "XACT measured attitude valid"),
        (110, "xact_adcs_mode", "u8", "1", None, "XACT ADCS mode: 0 sun point, 1 fine point"),
        *[(124 + 2 * i, f"wheel_meas_speed{i + 1}", "s16be", "rad s-1", (0.0, 0.025),
           f"XACT wheel {i + 1} measured speed") for i in range(3)]],
    3: [(186, "xact_sun_point_angle_error", "u16be", "degree", (0.0, 0.003), "XACT Sun-point angle error")],
    4: [*[(37 + 2 * i, f"sunbody_{ax}", "s16be", "1", (0.0, 1e-4), f"XACT Sun vector, body {ax}")
          for i, ax in enumerate("xyz")]],
}
ADCS_APIDS = {1: 38, 2: 39, 3: 40, 4: 41}


def _with_fillers(rows: list[tuple], start: int, stop: int) -> list[tuple]:
    """`rows` (within [start, stop)) with binary fillers for the bytes the notes do not describe."""
    out, at = [], start
    for row in sorted(rows, key=lambda r: r[0]):
        if row[0] > at:
            out.append((at, f"xact_bytes_{at}_{row[0] - 1}", f"bin:{row[0] - at}", "1", None,
                        "XACT telemetry bytes the notes do not describe"))
        out.append(row)
        at = row[0] + _size_bits(row[2]) // 8
    if at < stop:
        out.append((at, f"xact_bytes_{at}_{stop - 1}", f"bin:{stop - at}", "1", None,
                    "XACT telemetry bytes the notes do not describe"))
    return out


# ---------------------------------------------------------------- XML writer

def _size_bits(kind: str) -> int:
    if kind.startswith("bits:"):
        return int(kind[5:])
    if kind.startswith(("bin:", "str:")):
        return 8 * int(kind[4:])
    return {"u8": 8, "s8": 8, "u16le": 16, "s16le": 16, "u16be": 16, "s16be": 16, "u24le": 24,
            "u32le": 32, "u32be": 32, "s32be": 32}[kind]


def check_layout(rows: list[tuple], start: int, name: str) -> int:
    """Refuse gaps and overlaps; returns the byte after the last row."""
    bit = start * 8
    for off, pname, kind, *_ in rows:
        if off * 8 > bit or off * 8 + 7 < bit or (bit % 8 == 0 and off * 8 != bit):
            raise SystemExit(f"{name}: {pname} at byte {off}, but the previous field ends at bit {bit}")
        bit += _size_bits(kind)
    if bit % 8:
        raise SystemExit(f"{name}: ends inside a byte (bit {bit})")
    return bit // 8


def _poly(cal) -> str:
    terms = "".join(f'<xtce:Term coefficient="{c!r}" exponent="{e}"/>' for e, c in enumerate(cal) if c != 0.0)
    return f"<xtce:PolynomialCalibrator>{terms}</xtce:PolynomialCalibrator>"


def _context(cal) -> str:
    """A calibrator chosen by the HK flight-model bits (byte 51), with a default for the rest."""
    _, by_fm, default = cal
    ctx = "".join(
        "<xtce:ContextCalibrator><xtce:ContextMatch>"
        f'<xtce:Comparison parameterRef="fsw_flight_model" value="{fm}" useCalibratedValue="false"/>'
        f"</xtce:ContextMatch><xtce:Calibrator>{_poly(c)}</xtce:Calibrator></xtce:ContextCalibrator>"
        for fm, c in by_fm.items())
    return f"<xtce:DefaultCalibrator>{_poly(default)}</xtce:DefaultCalibrator>" \
           f"<xtce:ContextCalibratorList>{ctx}</xtce:ContextCalibratorList>"


def _parameter_type(row: tuple) -> str:
    _, name, kind, unit, cal, _ = row
    tname = f"{name}_type"
    units = f"<xtce:UnitSet><xtce:Unit>{escape(unit)}</xtce:Unit></xtce:UnitSet>"
    if kind.startswith("bin:"):
        return (f'<xtce:BinaryParameterType name="{tname}">{units}<xtce:BinaryDataEncoding><xtce:SizeInBits>'
                f"<xtce:FixedValue>{_size_bits(kind)}</xtce:FixedValue></xtce:SizeInBits>"
                "</xtce:BinaryDataEncoding></xtce:BinaryParameterType>")
    if kind.startswith("str:"):
        return (f'<xtce:StringParameterType name="{tname}">{units}<xtce:StringDataEncoding encoding="US-ASCII">'
                f"<xtce:SizeInBits><xtce:Fixed><xtce:FixedValue>{_size_bits(kind)}</xtce:FixedValue></xtce:Fixed>"
                "</xtce:SizeInBits></xtce:StringDataEncoding></xtce:StringParameterType>")
    signed = kind.startswith("s")
    order = "leastSignificantByteFirst" if kind.endswith("le") else "mostSignificantByteFirst"
    enc_attrs = (f'sizeInBits="{_size_bits(kind)}" encoding="{"twosComplement" if signed else "unsigned"}" '
                 f'byteOrder="{order}"')
    if cal is None:
        body = f"<xtce:IntegerDataEncoding {enc_attrs}/>"
        return (f'<xtce:IntegerParameterType name="{tname}" signed="{str(signed).lower()}">{units}{body}'
                "</xtce:IntegerParameterType>")
    cals = _context(cal) if cal[0] == "context" else \
        f"<xtce:DefaultCalibrator>{_poly(cal)}</xtce:DefaultCalibrator>"
    return (f'<xtce:FloatParameterType name="{tname}">{units}<xtce:IntegerDataEncoding {enc_attrs}>{cals}'
            "</xtce:IntegerDataEncoding></xtce:FloatParameterType>")


def _apid_restriction(apid: int) -> str:
    """§3: the playback copy of a packet has APID + 0x40."""
    conds = "".join(
        f'<xtce:Condition><xtce:ParameterInstanceRef parameterRef="PKT_APID" useCalibratedValue="false"/>'
        f"<xtce:ComparisonOperator>==</xtce:ComparisonOperator><xtce:Value>{a}</xtce:Value></xtce:Condition>"
        for a in (apid, apid + 0x40))
    return f"<xtce:BooleanExpression><xtce:ORedConditions>{conds}</xtce:ORedConditions></xtce:BooleanExpression>"


def _seq_restriction(first: bool) -> str:
    """§7: a first segment has sequence-flags bit 0 set (1 or 3), a continuation not (0 or 2)."""
    values = (1, 3) if first else (0, 2)
    conds = "".join(
        f'<xtce:Condition><xtce:ParameterInstanceRef parameterRef="SEQ_FLGS" useCalibratedValue="false"/>'
        f"<xtce:ComparisonOperator>==</xtce:ComparisonOperator><xtce:Value>{v}</xtce:Value></xtce:Condition>"
        for v in values)
    return f"<xtce:BooleanExpression><xtce:ORedConditions>{conds}</xtce:ORedConditions></xtce:BooleanExpression>"


def _length_restriction(pkt_len: int) -> str:
    return f'<xtce:Comparison parameterRef="PKT_LEN" value="{pkt_len}" useCalibratedValue="false"/>'


def _container(name: str, rows: list[tuple], *, description: str, base: str | None = None,
               restriction: str | None = None, refs: tuple[str, ...] = (), abstract: bool = False) -> str:
    entries = "".join(f'<xtce:ContainerRefEntry containerRef="{r}"/>' for r in refs)
    entries += "".join(f'<xtce:ParameterRefEntry parameterRef="{row[1]}"/>' for row in rows)
    basexml = (f'<xtce:BaseContainer containerRef="{base}"><xtce:RestrictionCriteria>{restriction}'
               "</xtce:RestrictionCriteria></xtce:BaseContainer>") if base else ""
    return (f'<xtce:SequenceContainer name="{name}" abstract="{str(abstract).lower()}">'
            f"<xtce:LongDescription>{escape(description)}</xtce:LongDescription>{basexml}"
            f"<xtce:EntryList>{entries}</xtce:EntryList></xtce:SequenceContainer>")


def document(name: str, description: str, containers: list[str], rows: list[tuple]) -> str:
    seen: dict[str, tuple] = {}
    for row in PRIMARY_HEADER + SECONDARY_HEADER + rows:
        if row[1] in seen and seen[row[1]][2:5] != row[2:5]:
            raise SystemExit(f"{name}: parameter {row[1]} defined twice with different types")
        seen[row[1]] = row
    types = "\n".join(_parameter_type(r) for r in seen.values())
    params = "\n".join(f'<xtce:Parameter name="{r[1]}" parameterTypeRef="{r[1]}_type" '
                       f'shortDescription="{escape(r[5], {chr(34): "&quot;"})}"/>' for r in seen.values())
    header = [
        _container("CCSDSHeader", PRIMARY_HEADER, description="CCSDS primary header (§3)"),
        _container("MinXSSSecondaryHeader", SECONDARY_HEADER,
                   description="time stamp, cdh_info and adcs_info (§3)"),
        _container("CCSDSPacket", [], refs=("CCSDSHeader", "MinXSSSecondaryHeader"), abstract=True,
                   description="every MinXSS packet: primary and secondary header"),
    ]
    body = "\n".join(header + containers)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<!-- Written by levelpipe/minxss/packet_definitions/build.py from the tables of the research notes "
            f"(minxss.md); regenerate, do not edit by hand. -->\n"
            f'<xtce:SpaceSystem xmlns:xtce="{XTCE_NS}" name="{name}">\n'
            f'<xtce:Header date="2026-12-02" version="1.0" validationStatus="Working"/>\n'
            f"<xtce:LongDescription>{escape(description)}</xtce:LongDescription>\n"
            f"<xtce:TelemetryMetaData>\n<xtce:ParameterTypeSet>\n{types}\n</xtce:ParameterTypeSet>\n"
            f"<xtce:ParameterSet>\n{params}\n</xtce:ParameterSet>\n<xtce:ContainerSet>\n{body}\n"
            f"</xtce:ContainerSet>\n</xtce:TelemetryMetaData>\n</xtce:SpaceSystem>\n")


def documents() -> dict[str, str]:
    """File name -> XML text of every packet definition."""
    check_layout(PRIMARY_HEADER + SECONDARY_HEADER, 0, "headers")
    out = {}
    if check_layout(HK, 14, "HK") != 254:
        raise SystemExit("HK must be 254 bytes (§3)")
    out["hk.xml"] = document(
        "MinXSS_HK", "MinXSS housekeeping packet, APID 25 (playback 89), 254 bytes (§6); FM1 and FM2",
        [_container("HK", HK, base="CCSDSPacket", restriction=_apid_restriction(25),
                    description="housekeeping (§6)")], HK)
    for fm, status in ((1, SCI_FM1_STATUS), (2, SCI_FM2_STATUS)):
        first = SCI_FIRST_A + status + SCI_FIRST_B
        if check_layout(first, 14, f"SCI FM{fm} first") != 254 or check_layout(SCI_CONT, 14, "SCI cont") != 254:
            raise SystemExit("SCI segments must be 254 bytes (§7)")
        out[f"sci_fm{fm}.xml"] = document(
            f"MinXSS{fm}_SCI",
            f"MinXSS-{fm} science packet (X123, SPS, XP), APID 44 (playback 108), 254-byte segments (§7). "
            "The FM1 and FM2 flight software differ in bytes 72-75 of the first segment, so each FM has its "
            "own document.",
            [_container("SCI", [], base="CCSDSPacket", restriction=_apid_restriction(44), abstract=True,
                        description="science segment"),
             _container("SCIFirstSegment", first, base="SCI", restriction=_seq_restriction(True),
                        description="first segment of a spectrum record (sequence flags 1 or 3)"),
             _container("SCIContinuationSegment", SCI_CONT, base="SCI", restriction=_seq_restriction(False),
                        description="continuation segment (sequence flags 0 or 2)")],
            first + SCI_CONT)
    if check_layout(LOG, 14, "LOG") != 64:
        raise SystemExit("LOG must be 64 bytes (§3)")
    out["log.xml"] = document(
        "MinXSS_LOG", "MinXSS log message packet, APID 29 (playback 93), 64 bytes (§3)",
        [_container("LOG", LOG, base="CCSDSPacket", restriction=_apid_restriction(29),
                    description="log message")], LOG)
    for k, fields in ADCS.items():
        group = [(14, "adcs_group", "u16le", "1", None, "ADCS group counter")]
        body = group + _with_fillers(fields, 16, 209)
        check_layout(body, 14, f"ADCS{k}")
        if check_layout(body + ADCS_TAIL_FM2, 14, "ADCS FM2") != 214 or \
                check_layout(body + ADCS_TAIL_FM1, 14, "ADCS FM1") != 220:
            raise SystemExit("ADCS packets are 214 (FM2) / 220 (FM1) bytes (§3)")
        apid = ADCS_APIDS[k]
        out[f"adcs{k}.xml"] = document(
            f"MinXSS_ADCS{k}",
            f"MinXSS ADCS{k} packet, APID {apid} (playback {apid + 0x40}); XACT data big-endian (§8). "
            "FM1 packets are 220 bytes (6 zero bytes before the check bytes), FM2 214 (§3).",
            [_container(f"ADCS{k}", body, base="CCSDSPacket", restriction=_apid_restriction(apid), abstract=True,
                        description=f"ADCS{k} body"),
             _container(f"ADCS{k}FM2Tail", ADCS_TAIL_FM2, base=f"ADCS{k}", restriction=_length_restriction(207),
                        description="FM2 ending: spare, check bytes, sync (214 bytes)"),
             _container(f"ADCS{k}FM1Tail", ADCS_TAIL_FM1, base=f"ADCS{k}", restriction=_length_restriction(213),
                        description="FM1 ending: spare, 6 padding bytes, check bytes, sync (220 bytes)")],
            body + ADCS_TAIL_FM1)
    return out


def pretty(text: str) -> str:
    """The document indented, one element a line (what is committed)."""
    import xml.etree.ElementTree as ET

    ET.register_namespace("xtce", XTCE_NS)
    root = ET.fromstring(text, parser=ET.XMLParser(target=ET.TreeBuilder(insert_comments=True)))
    ET.indent(root, space="  ")
    head, _, _ = text.partition("<xtce:SpaceSystem")
    return head + ET.tostring(root, encoding="unicode") + "\n"


def main(argv: list[str]) -> int:
    for name, text in documents().items():
        (HERE / name).write_text(pretty(text))
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
