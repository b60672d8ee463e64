"""The packet definitions, tables and config as data: the committed files are what their
generators write, the simulator is independent of the decoder, the config loads."""
from __future__ import annotations

import ast

import numpy as np
import pytest

from conftest import REPO
from levelpipe.minxss import tables, xtce
from levelpipe.minxss.packet_definitions import build
from levelpipe.minxss.settings import MinxssSettings
from levelpipe.settings import json_schema, load_settings, schema_yaml


def test_committed_xtce_is_what_build_writes():
    for name, text in build.documents().items():
        assert (xtce.DEFINITIONS / name).read_text() == build.pretty(text), name


def test_committed_l0c_tables_are_what_the_generator_writes():
    for kind in tables.DOCS:
        assert (tables.HERE / f"l0c_{kind}.yaml").read_text() == tables.render(kind), kind


def test_committed_schema_matches_the_model():
    text = schema_yaml(json_schema(MinxssSettings, "config/minxss.yaml: the MinXSS chain"))
    assert (REPO / "config" / "schemas" / "minxss.schema.yaml").read_text() == text


def test_config_loads_and_refuses_nonsense():
    s = load_settings(MinxssSettings, REPO / "config" / "minxss.yaml")
    assert s.l0d.limits.hk_s.to_value("s") == 60 and s.l0d.limits.adcs_s.to_value("s") == 300
    assert len(s.l0d.saa.latitude_deg) == 33
    from levelpipe.errors import ConfigError
    with pytest.raises(ConfigError, match="l0d.limits.hk_s"):
        load_settings(MinxssSettings, REPO / "config" / "minxss.yaml", {"l0d": {"limits": {"hk_s": -1}}})


def test_simulator_does_not_use_the_decoder():
    src = (REPO / "lib" / "levelpipe" / "testing" / "minxss_simulator.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert not any(m.startswith("levelpipe") for m in imported), imported
    assert "packet_definitions" not in src


def test_definitions_cover_the_notes_sizes():
    assert xtce.load("hk").lengths == (254,)
    assert xtce.load("log").lengths == (64,)
    assert xtce.load("sci_fm2").lengths == (254,)
    for k in (1, 2, 3, 4):
        d = xtce.load(f"adcs{k}")
        assert d.lengths == (214, 220) and d.restricted_values("PKT_APID") == {37 + k, 37 + k + 0x40}


def test_unsupported_xtce_is_refused(tmp_path):
    text = (xtce.DEFINITIONS / "log.xml").read_text().replace("PolynomialCalibrator", "SplineCalibrator")
    text = text.replace('<xtce:StringDataEncoding encoding="US-ASCII">', '<xtce:StringDataEncoding encoding="UTF-16">')
    f = tmp_path / "bad.xml"
    f.write_text(text)
    with pytest.raises(xtce.XtceError, match="bad.xml"):
        xtce.Definition(f)


def test_bit_fields_and_byte_orders_by_hand():
    """One packet built by hand from §3/§6/§8: the decoder's reading of it."""
    p = np.zeros(214, dtype=np.uint8)
    p[0:6] = [0x08, 0x26, 0xC0, 0x05, 0x00, 214 - 7]          # APID 38, flags 3, count 5
    p[12], p[13] = 0b0101_1_100, 0b110_1_0_1_1_0             # cdh_info, adcs_info
    p[101:105] = [0xFF, 0xFF, 0xFF, 0x9C]                     # s32 BE -100 -> -100 * 2e-5 km
    p[14:16] = [0x34, 0x12]                                   # adcs_group u16 LE
    p[212:214] = 0xA5
    g = xtce.load("adcs1").decode(p[None, :])[0].values
    assert g["PKT_APID"].raw[0] == 38 and g["SEQ_FLGS"].raw[0] == 3 and g["SRC_SEQ_CTR"].raw[0] == 5
    assert (g["cdh_state"].raw[0], g["eclipse_state"].raw[0], g["spacecraft_mode"].raw[0]) == (5, 1, 4)
    assert (g["adcs_state"].raw[0], g["attitude_valid"].raw[0], g["refs_valid"].raw[0], g["time_valid"].raw[0],
            g["recommend_sun"].raw[0], g["adcs_mode"].raw[0]) == (6, 1, 0, 1, 1, 0)
    assert g["orbit_position_ECI1"].value[0] == pytest.approx(-100 * 2e-5)
    assert g["adcs_group"].raw[0] == 0x1234


def test_unknown_xml_encoding_is_an_xtce_error(tmp_path):
    """Found by `make fuzz`: expat raises LookupError for an unknown <?xml encoding?>."""
    f = tmp_path / "bad.xml"
    f.write_bytes(b'<?xml version="1.0" encoding="UTFm8"?>\n<a/>\n')
    with pytest.raises(xtce.XtceError, match="bad.xml.*cannot read packet definition"):
        xtce.Definition(f)
