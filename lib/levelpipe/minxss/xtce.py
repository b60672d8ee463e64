"""The pipeline's own reader of the XTCE packet definitions, and a numpy decoder built from them.

``space_packet_parser`` reads the same documents (``packet_definitions/*.xml``) one packet at a
time in Python; it is the reference the tests compare against. This module reads them once
into fixed layouts (every MinXSS packet shape has a fixed size: no field's length depends on
another), then decodes every packet of one shape at once: each field is a few numpy shifts and
masks over a ``(packets, bytes)`` array, so a whole file costs a few hundred vector operations,
not a Python loop per packet.

Only the XTCE the documents use is supported: integer, float-from-integer, binary and fixed
ASCII string parameter types; polynomial default and context calibrators; sequence containers
with ``ParameterRefEntry``/``ContainerRefEntry``; inheritance restricted by ``Comparison``,
``ComparisonList`` or ``BooleanExpression`` (OR/AND of ``Condition``s on fixed values). Anything
else is refused when the document is loaded, so a definition cannot be silently misread.
"""
from __future__ import annotations

import operator
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from levelpipe.errors import LevelpipeError

DEFINITIONS = Path(__file__).resolve().parent / "packet_definitions"

_OPS: dict[str, Callable] = {"==": operator.eq, "eq": operator.eq, "!=": operator.ne, "neq": operator.ne,
                             "<": operator.lt, "lt": operator.lt, "&lt;": operator.lt, ">": operator.gt,
                             "gt": operator.gt, "&gt;": operator.gt, "<=": operator.le, "leq": operator.le,
                             "&lt;=": operator.le, ">=": operator.ge, "geq": operator.ge, "&gt;=": operator.ge}


class XtceError(LevelpipeError):
    """A packet definition this reader cannot interpret."""


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _children(el: ET.Element, name: str | None = None) -> list[ET.Element]:
    return [c for c in el if isinstance(c.tag, str) and (name is None or _local(c.tag) == name)]


@dataclass(frozen=True)
class Condition:
    """``parameter <op> value`` on a parameter's raw or calibrated value."""

    parameter: str
    op: str
    value: float
    calibrated: bool

    def evaluate(self, values: Mapping[str, "Decoded"]) -> np.ndarray:
        v = values[self.parameter]
        data = v.calibrated if self.calibrated and v.calibrated is not None else v.raw
        return _OPS[self.op](data, self.value)


@dataclass(frozen=True)
class Criteria:
    """A tree of conditions: ``kind`` is "all" or "any" of ``terms`` (Conditions or Criteria)."""

    kind: str
    terms: tuple

    def evaluate(self, values: Mapping[str, "Decoded"], n: int) -> np.ndarray:
        out = np.ones(n, dtype=bool) if self.kind == "all" else np.zeros(n, dtype=bool)
        for t in self.terms:
            r = t.evaluate(values) if isinstance(t, Condition) else t.evaluate(values, n)
            out = (out & r) if self.kind == "all" else (out | r)
        return out

    def parameters(self) -> set[str]:
        out: set[str] = set()
        for t in self.terms:
            out |= {t.parameter} if isinstance(t, Condition) else t.parameters()
        return out


@dataclass(frozen=True)
class Encoding:
    kind: str  # "uint", "int", "binary", "string"
    bits: int
    little_endian: bool = False
    polynomial: tuple[tuple[float, int], ...] | None = None  # (coefficient, exponent) terms in document order
    context: tuple[tuple[Criteria, tuple[tuple[float, int], ...]], ...] = ()


@dataclass(frozen=True)
class Parameter:
    name: str
    encoding: Encoding
    unit: str
    description: str


@dataclass(frozen=True)
class Entry:
    parameter: Parameter
    bit_offset: int


@dataclass(frozen=True)
class Container:
    name: str
    entries: tuple[str | tuple[str], ...]  # parameter names, or (container name,) for a ContainerRefEntry
    base: str | None
    restriction: Criteria | None
    abstract: bool
    description: str


@dataclass
class Decoded:
    """One parameter over many packets: raw integers (or bytes/strings) and calibrated values."""

    parameter: Parameter
    raw: np.ndarray
    calibrated: np.ndarray | None = None

    @property
    def value(self) -> np.ndarray:
        return self.calibrated if self.calibrated is not None else self.raw


@dataclass(frozen=True)
class Layout:
    """One concrete packet shape: the chain of containers from the root to a leaf."""

    name: str
    chain: tuple[str, ...]
    entries: tuple[Entry, ...]
    n_bytes: int


@dataclass
class DecodedGroup:
    layout: Layout
    rows: np.ndarray  # indices into the packets given to `decode`
    values: dict[str, Decoded] = field(default_factory=dict)


def _float(text: str | None, path: Path, where: str) -> float:
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise XtceError(f"not a number: {text!r}", path, where) from None


def _polynomial(el: ET.Element, path: Path, where: str) -> tuple[tuple[float, int], ...]:
    poly = _child(el, "PolynomialCalibrator")
    if poly is None or len(_children(el)) != 1:
        raise XtceError("only PolynomialCalibrator is supported", path, where)
    terms: list[tuple[float, int]] = []
    for term in _children(poly):
        if _local(term.tag) != "Term":
            raise XtceError(f"unexpected <{_local(term.tag)}> in a polynomial", path, where)
        exp = int(_float(term.get("exponent"), path, where))
        if exp < 0 or exp > 8 or exp in [e for _, e in terms]:
            raise XtceError(f"bad or repeated exponent {exp}", path, where)
        terms.append((_float(term.get("coefficient"), path, where), exp))
    if not terms:
        raise XtceError("a polynomial without terms", path, where)
    return tuple(terms)


def _condition(el: ET.Element, path: Path, where: str) -> Condition:
    tag = _local(el.tag)
    if tag == "Comparison":
        return Condition(el.get("parameterRef", ""), el.get("comparisonOperator", "=="),
                         _float(el.get("value"), path, where),
                         el.get("useCalibratedValue", "true").lower() == "true")
    if tag == "Condition":
        refs = _children(el, "ParameterInstanceRef")
        op, value = _child(el, "ComparisonOperator"), _child(el, "Value")
        if len(refs) != 1 or op is None or value is None:
            raise XtceError("a Condition must compare one parameter with a fixed Value", path, where)
        return Condition(refs[0].get("parameterRef", ""), (op.text or "").strip(),
                         _float(value.text, path, where),
                         refs[0].get("useCalibratedValue", "true").lower() == "true")
    raise XtceError(f"unsupported match element <{tag}>", path, where)


def _boolean(el: ET.Element, path: Path, where: str) -> Criteria:
    tag = _local(el.tag)
    kind = {"ORedConditions": "any", "ANDedConditions": "all", "BooleanExpression": "all",
            "ComparisonList": "all", "ContextMatch": "all", "RestrictionCriteria": "all"}.get(tag)
    if kind is None:
        raise XtceError(f"unsupported match element <{tag}>", path, where)
    terms = []
    for c in el:
        if not isinstance(c.tag, str):
            continue
        ctag = _local(c.tag)
        if ctag in ("Comparison", "Condition"):
            terms.append(_condition(c, path, where))
        else:
            terms.append(_boolean(c, path, where))
    if not terms:
        raise XtceError(f"empty <{tag}>", path, where)
    return Criteria(kind, tuple(terms))


def _encoding(type_el: ET.Element, path: Path) -> tuple[Encoding, str]:
    tname = type_el.get("name", "?")
    ttag = _local(type_el.tag)
    unit_set = _child(type_el, "UnitSet")
    units = [u.text or "" for u in unit_set] if unit_set is not None else []
    unit = units[0].strip() if units else "1"
    enc_tags = [c for c in type_el if isinstance(c.tag, str) and _local(c.tag).endswith("DataEncoding")]
    if len(enc_tags) != 1:
        raise XtceError("a parameter type needs exactly one data encoding", path, tname)
    enc = enc_tags[0]
    etag = _local(enc.tag)
    if etag == "BinaryDataEncoding":
        size = enc.find("./{*}SizeInBits/{*}FixedValue")
        if size is None:
            raise XtceError("only fixed-size binary encodings are supported", path, tname)
        bits = int(_float(size.text, path, tname))
        if bits <= 0 or bits % 8:
            raise XtceError("binary size must be a positive number of bytes", path, tname)
        return Encoding("binary", bits), unit
    if etag == "StringDataEncoding":
        size = enc.find("./{*}SizeInBits/{*}Fixed/{*}FixedValue")
        if size is None or enc.get("encoding", "UTF-8") not in ("US-ASCII", "UTF-8"):
            raise XtceError("only fixed-size ASCII strings are supported", path, tname)
        bits = int(_float(size.text, path, tname))
        if bits <= 0 or bits % 8:
            raise XtceError("string size must be a positive number of bytes", path, tname)
        return Encoding("string", bits), unit
    if etag != "IntegerDataEncoding" or ttag not in ("IntegerParameterType", "FloatParameterType"):
        raise XtceError(f"unsupported encoding <{etag}> in <{ttag}>", path, tname)
    bits = int(_float(enc.get("sizeInBits"), path, tname))
    signed = enc.get("encoding", "unsigned") in ("signed", "twosComplement", "twosCompliment")
    if enc.get("encoding", "unsigned") not in ("unsigned", "signed", "twosComplement", "twosCompliment"):
        raise XtceError(f"unsupported integer encoding {enc.get('encoding')!r}", path, tname)
    little = enc.get("byteOrder", "mostSignificantByteFirst") == "leastSignificantByteFirst"
    if not 1 <= bits <= 64 or (little and bits % 8):
        raise XtceError(f"unsupported integer size {bits} bits", path, tname)
    poly = None
    context: list[tuple[Criteria, tuple[float, ...]]] = []
    for c in enc:
        ctag = _local(c.tag) if isinstance(c.tag, str) else ""
        if ctag == "DefaultCalibrator":
            poly = _polynomial(c, path, tname)
        elif ctag == "ContextCalibratorList":
            for cc in c:
                match, cal = _child(cc, "ContextMatch"), _child(cc, "Calibrator")
                if match is None or cal is None:
                    raise XtceError("a ContextCalibrator needs ContextMatch and Calibrator", path, tname)
                context.append((_boolean(match, path, tname), _polynomial(cal, path, tname)))
        elif ctag:
            raise XtceError(f"unsupported <{ctag}> in an integer encoding", path, tname)
    if ttag == "FloatParameterType" and poly is None:
        raise XtceError("a float parameter from an integer encoding needs a calibrator", path, tname)
    return Encoding("int" if signed else "uint", bits, little, poly, tuple(context)), unit


class Definition:
    """One XTCE document, read into fixed packet layouts."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            root = ET.parse(self.path).getroot()
        except (OSError, ET.ParseError, LookupError) as err:  # LookupError: unknown <?xml encoding?>
            raise XtceError(f"cannot read packet definition ({err})", self.path) from None
        try:
            self._read(root)
        except XtceError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as err:
            raise XtceError(f"malformed packet definition ({type(err).__name__}: {err})", self.path) from None

    def _read(self, root: ET.Element) -> None:
        self.name = root.get("name", self.path.stem)
        tm = root.find("./{*}TelemetryMetaData")
        if tm is None:
            raise XtceError("no TelemetryMetaData", self.path)
        types = {}
        for t in tm.find("./{*}ParameterTypeSet") or []:
            types[t.get("name")] = _encoding(t, self.path)
        self.parameters: dict[str, Parameter] = {}
        for p in tm.find("./{*}ParameterSet") or []:
            ref = p.get("parameterTypeRef")
            if ref not in types:
                raise XtceError(f"unknown parameter type {ref!r}", self.path, p.get("name"))
            enc, unit = types[ref]
            self.parameters[p.get("name")] = Parameter(p.get("name"), enc, unit, p.get("shortDescription", ""))
        self.containers: dict[str, Container] = {}
        for c in tm.find("./{*}ContainerSet") or []:
            name = c.get("name")
            entries: list = []
            for e in c.find("./{*}EntryList") or []:
                tag = _local(e.tag)
                if tag == "ParameterRefEntry":
                    if e.get("parameterRef") not in self.parameters:
                        raise XtceError(f"unknown parameter {e.get('parameterRef')!r}", self.path, name)
                    if len(e):
                        raise XtceError("entry locations and conditions are not supported", self.path, name)
                    entries.append(e.get("parameterRef"))
                elif tag == "ContainerRefEntry":
                    entries.append((e.get("containerRef"),))
                else:
                    raise XtceError(f"unsupported entry <{tag}>", self.path, name)
            base_el = c.find("./{*}BaseContainer")
            base, restriction = None, None
            if base_el is not None:
                base = base_el.get("containerRef")
                rc = base_el.find("./{*}RestrictionCriteria")
                if rc is not None:
                    restriction = _boolean(rc, self.path, name)
            desc = c.find("./{*}LongDescription")
            self.containers[name] = Container(name, tuple(entries), base, restriction,
                                              c.get("abstract", "false").lower() == "true",
                                              (desc.text or "") if desc is not None else "")
        self.layouts = self._layouts()

    def restricted_values(self, parameter: str) -> set[int]:
        """Every fixed value some container's restriction compares `parameter` with (e.g. the
        APIDs a document covers)."""
        out: set[int] = set()

        def walk(c):
            for t in c.terms:
                if isinstance(t, Condition):
                    if t.parameter == parameter:
                        out.add(int(t.value))
                else:
                    walk(t)
        for c in self.containers.values():
            if c.restriction is not None:
                walk(c.restriction)
        return out

    @property
    def lengths(self) -> tuple[int, ...]:
        """The packet lengths (bytes) of this document's layouts."""
        return tuple(sorted({layout.n_bytes for layout in self.layouts}))

    def _flatten(self, name: str, depth: int = 0) -> list[str]:
        if depth > 16 or name not in self.containers:
            raise XtceError(f"unknown or recursive container {name!r}", self.path)
        out: list[str] = []
        for e in self.containers[name].entries:
            out += self._flatten(e[0], depth + 1) if isinstance(e, tuple) else [e]
        return out

    def _layouts(self) -> list[Layout]:
        children: dict[str, list[str]] = {}
        for c in self.containers.values():
            if c.base:
                children.setdefault(c.base, []).append(c.name)
        roots = [c.name for c in self.containers.values() if c.base is None and c.name in children]
        layouts: list[Layout] = []

        def walk(name: str, chain: tuple[str, ...], params: list[str]) -> None:
            params = params + self._flatten(name)
            kids = children.get(name, [])
            if not kids:
                if self.containers[name].abstract:
                    return
                entries, bit = [], 0
                for p in params:
                    entries.append(Entry(self.parameters[p], bit))
                    bit += self.parameters[p].encoding.bits
                if bit % 8:
                    raise XtceError(f"layout {name} ends inside a byte", self.path)
                layouts.append(Layout(name, chain + (name,), tuple(entries), bit // 8))
                return
            for k in kids:
                walk(k, chain + (name,), params)

        for r in roots:
            walk(r, (), [])
        if not layouts:
            raise XtceError("no concrete packet layout", self.path)
        return layouts

    # ------------------------------------------------------------ decoding

    def decode(self, packets: np.ndarray) -> list[DecodedGroup]:
        """Decode ``packets`` (uint8, shape (n, bytes), one packet a row, all the same length).

        Returns one group per layout that matched some packets (rows index into `packets`).
        Packets whose restriction criteria match no layout are in no group.
        """
        packets = np.ascontiguousarray(packets, dtype=np.uint8)
        if packets.ndim != 2:
            raise XtceError("decode needs a 2-D array of packets", self.path)
        n, width = packets.shape
        groups = []
        for layout in self.layouts:
            if layout.n_bytes != width:
                continue
            rows = np.arange(n)
            values: dict[str, Decoded] = {}
            # Restrictions along the chain refer to fields of earlier containers; decode what
            # they need for the remaining rows, then keep only the rows that match.
            for cname in layout.chain:
                c = self.containers[cname]
                if c.restriction is None or not rows.size:
                    continue
                need = {e.parameter.name: e for e in layout.entries if e.parameter.name in c.restriction.parameters()}
                part = packets if rows.size == n else packets[rows]
                sub = {k: _decode_entry(part, e, {}) for k, e in need.items()}
                keep = c.restriction.evaluate(sub, rows.size)
                rows = rows[keep]
            if not rows.size:
                continue
            data = packets if rows.size == n else packets[rows]
            for e in layout.entries:
                values[e.parameter.name] = _decode_entry(data, e, values)
            groups.append(DecodedGroup(layout, rows, values))
        return groups


def _extract_uint(data: np.ndarray, bit_offset: int, bits: int, little: bool) -> np.ndarray:
    """Generic path: any bit offset and size up to 64, most significant bit first (or little-
    endian bytes when `little` and byte-aligned)."""
    first, last = bit_offset // 8, (bit_offset + bits - 1) // 8
    cols = data[:, first:last + 1].astype(np.uint64)
    acc = np.zeros(data.shape[0], dtype=np.uint64)
    order = range(cols.shape[1] - 1, -1, -1) if little else range(cols.shape[1])
    for k in order:
        acc = (acc << np.uint64(8)) | cols[:, k]
    shift = (last + 1) * 8 - (bit_offset + bits)
    if shift:
        acc >>= np.uint64(shift)
    if bits < 64:
        acc &= np.uint64((1 << bits) - 1)
    return acc


def _integer(data: np.ndarray, o: int, enc: Encoding) -> np.ndarray:
    """Raw integers of one field for every row, in the smallest native dtype that holds them."""
    bits, signed = enc.bits, enc.kind == "int"
    if o % 8 == 0 and bits in (8, 16, 32, 64):
        k = bits // 8
        block = np.ascontiguousarray(data[:, o // 8:o // 8 + k])
        dt = np.dtype(f"{'<' if enc.little_endian or k == 1 else '>'}{'i' if signed else 'u'}{k}")
        return block.view(dt).ravel().astype(dt.newbyteorder("="))
    if bits <= 8 and o // 8 == (o + bits - 1) // 8 and not signed:  # a bit field inside one byte
        return (data[:, o // 8] >> np.uint8(8 - o % 8 - bits)) & np.uint8((1 << bits) - 1)
    u = _extract_uint(data, o, bits, enc.little_endian and o % 8 == 0)
    if not signed:
        return u.astype(np.int64) if bits < 64 else u
    raw = u.astype(np.int64)
    return np.where(raw >= (1 << (bits - 1)), raw - (1 << bits), raw)


def _decode_entry(data: np.ndarray, entry: Entry, done: Mapping[str, Decoded]) -> Decoded:
    p, enc = entry.parameter, entry.parameter.encoding
    o = entry.bit_offset
    if enc.kind == "binary":
        return Decoded(p, data[:, o // 8:o // 8 + enc.bits // 8])
    if enc.kind == "string":
        raw = data[:, o // 8:o // 8 + enc.bits // 8]
        text = np.ascontiguousarray(raw).view(f"S{raw.shape[1]}").ravel()
        return Decoded(p, np.char.decode(np.char.rstrip(text, b"\x00"), "ascii", errors="replace"))
    raw = _integer(data, o, enc)
    if enc.polynomial is None:
        return Decoded(p, raw)
    cal = _poly(enc.polynomial, raw)
    for crit, coeffs in enc.context:
        mask = crit.evaluate(done, data.shape[0])
        if mask.any():
            cal = np.where(mask, _poly(coeffs, raw), cal)
    return Decoded(p, raw, cal)


def _poly(terms: tuple[tuple[float, int], ...], raw: np.ndarray) -> np.ndarray:
    # Term by term in document order, c * raw**e with raw an integer: the same operations as
    # the XTCE reference reader, so both give the same float64 bits.
    out = np.zeros(raw.shape, dtype=np.float64)
    wide = raw.astype(np.int64) if any(e > 1 for _, e in terms) else raw  # raw**e must not wrap
    for c, e in terms:
        out = out + c * (wide ** e if e != 1 else wide)
    return out


@lru_cache(maxsize=None)
def load(name: str) -> Definition:
    """A packet definition by file stem (``"hk"``, ``"sci_fm2"``, ``"adcs1"``, ...)."""
    return Definition(DEFINITIONS / f"{name}.xml")
