"""Writes the L0C variables tables (``variables/l0c_<type>.yaml``) from the XTCE definitions, so
the products' names, units and descriptions are the definitions' own; run
``python -m levelpipe.minxss.tables`` after changing a definition (a test checks they agree).
The other tables (L0D, L1, averages) are written by hand."""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

from levelpipe.minxss import xtce

HERE = Path(__file__).resolve().parent / "variables"
_HEADER = {"VERSION", "TYPE", "SEC_HDR_FLG", "PKT_LEN", "sync_word", "check_bytes", "time_seconds",
           "time_milliseconds", "PKT_APID", "SRC_SEQ_CTR", "SEQ_FLGS", "sps_xps_pwr_temp_raw", "adcs_fm1_padding",
           "x123_spectrum_raw_first", "x123_spectrum_raw_continuation"}
DOCS = {"hk": ("hk",), "sci": ("sci_fm1", "sci_fm2"), "adcs": ("adcs1", "adcs2", "adcs3", "adcs4"), "log": ("log",)}

COMMON = {
    "time": {"dims": ["time"], "dtype": "datetime64[ns]", "standard_name": "time",
             "long_name": "packet time, UTC, moved to mid-sample (research notes §5)"},
    "apid": {"dims": ["time"], "dtype": "int16", "units": "1",
             "long_name": "CCSDS application process id (playback copies + 64)"},
    "seq_count": {"dims": ["time"], "dtype": "int16", "units": "1", "long_name": "CCSDS source sequence count"},
    "checksum_ok": {"dims": ["time"], "dtype": "int8", "long_name": "Fletcher check bytes verified (§4)",
                    "flag_values": {"failed": 0, "verified": 1}},
    "flight_model": {"dims": ["time"], "dtype": "int8", "long_name": "flight model (1 MinXSS-1, 2 MinXSS-2), by time window",
                     "flag_values": {"minxss1": 1, "minxss2": 2}},
    "time_jd": {"dims": ["time"], "dtype": "float64", "units": "day",
                "long_name": "UTC Julian date of time (IDL time_jd)"},
    "packet_time_gps": {"dims": ["time"], "dtype": "float64", "units": "s",
                        "long_name": "raw spacecraft time stamp, GPS seconds since 1980-01-06 (before fixes and shifts)"},
    "source_file": {"dims": ["time"], "dtype": "int32", "units": "1",
                    "long_name": "index of the raw file the packet came from (input_file)"},
    "input_file": {"dims": ["input_file"], "dtype": "str", "long_name": "raw telemetry file name"},
}
ATTRS = {"packets_decoded": "packets decoded from the input files (all types)",
         "bad_packets_*": "rejected candidates by reason over the input files (bad_length, truncated, bad_sync, "
                          "stray_bytes, bad_checksum, unsupported_apid, outside_window)",
         "framing_bytes": "bytes tolerated between packets (AX.25/KISS leftovers)",
         "stray_byte_count": "bytes in runs counted as stray_bytes",
         "bad_counts_scope": "what the packet counts cover",
         "duplicates_removed": "duplicate packets removed (Q11 key)"}


def _dtype(p: xtce.Parameter, per_type: bool) -> str:
    e = p.encoding
    if e.kind == "string":
        return "str"
    if e.polynomial is not None or per_type:
        return "float64"
    size = 8 if e.bits <= 8 else 16 if e.bits <= 16 else 32 if e.bits <= 32 else 64
    return f"{'int' if e.kind == 'int' else 'uint'}{size}"


def l0c_table(kind: str) -> dict:
    variables = dict(COMMON)
    seen = {}
    for doc in DOCS[kind]:
        d = xtce.load(doc)
        for layout in d.layouts:
            for e in layout.entries:
                p = e.parameter
                if p.name in _HEADER or p.name.startswith("xact_bytes_") or p.name in seen:
                    continue
                if kind == "sci" and layout.name == "SCIContinuationSegment":
                    continue
                if kind == "sci" and p.name.startswith("sps_data_sci_"):
                    continue
                seen[p.name] = p
                per_type = kind == "adcs" and p.name != "adcs_group"
                var = {"dims": ["time"], "dtype": _dtype(p, per_type), "long_name": p.description}
                if var["dtype"] != "str":
                    var["units"] = p.unit
                if per_type:
                    var["fill"] = "NaN"
                    var["comment"] = f"from {doc.upper()} packets; NaN on the other ADCS types"
                if kind == "sci" and d.name.startswith("MinXSS") and doc == "sci_fm2" and p.name == "sd_sci_write_offset":
                    var["optional"] = True
                    var["comment"] = "MinXSS-2 only"
                variables[p.name] = var
    if kind == "hk":
        variables["sps_xps_pwr_temp"] = {
            "dims": ["time"], "dtype": "float64", "units": "degC",
            "long_name": "SPS/XP power-board temperature: IDL int16(64 * word) / 256 (provisional, Q13)"}
    if kind == "sci":
        variables.update({
            "bin": {"dims": ["bin"], "dtype": "int16", "units": "1", "long_name": "X123 spectrum bin (0-1023)"},
            "sps_diode": {"dims": ["sps_diode"], "dtype": "int8", "units": "1", "long_name": "SPS quad diode number"},
            "sps_data_sci": {"dims": ["time", "sps_diode"], "dtype": "uint32", "units": "1",
                             "long_name": "SPS quad diode signals per integration, DN"},
            "x123_spectrum": {"dims": ["time", "bin"], "dtype": "float32", "units": "count", "fill": "NaN",
                              "long_name": "X123 spectrum, counts per integration (decompressed, §7)",
                              "comment": "NaN where the record is incomplete or its compressed data overran"},
            "segments_expected": {"dims": ["time"], "dtype": "int16", "units": "1",
                                  "long_name": "segments the record's spect_len needs (§7)"},
            "segments_received": {"dims": ["time"], "dtype": "int16", "units": "1",
                                  "long_name": "segments found for the record"},
            "record_complete": {"dims": ["time"], "dtype": "int8", "long_name": "every segment found and decoded",
                                "flag_values": {"incomplete": 0, "complete": 1}},
        })
        variables["time"] = dict(variables["time"], long_name="record time: first segment's stamp minus "
                                                              "x123_real_time / 2, UTC (§5, R1:889)")
        variables["seq_count"] = dict(variables["seq_count"], long_name="sequence count of the first segment")
        variables["checksum_ok"] = dict(variables["checksum_ok"], long_name="check bytes of every segment verified")
    attrs = dict(ATTRS)
    if kind == "sci":
        attrs.update({"records_decoded": "complete records with a decompressed spectrum",
                      "bad_records_*": "records by fault: incomplete, bad_spect_len, decompression_overrun, "
                                       "orphan_segment (continuations with no first segment)"})
    return {"product": f"l0c_{kind}", "path": f"results/minxss/l0c/<day>_{kind}.nc",
            "description": f"MinXSS Level 0C {kind} packets of one UTC day: decoded with the XTCE definitions "
                           "(lib/levelpipe/minxss/packet_definitions), de-duplicated (Q11), time-sorted, physical units.",
            "attributes": attrs, "variables": variables}


def render(kind: str) -> str:
    head = "# Written by `python -m levelpipe.minxss.tables` from the XTCE definitions; do not edit by hand.\n"
    return head + yaml.safe_dump(l0c_table(kind), sort_keys=False, width=110, allow_unicode=True)


def main() -> int:
    for kind in DOCS:
        (HERE / f"l0c_{kind}.yaml").write_text(render(kind))
    return 0


if __name__ == "__main__":
    sys.exit(main())
