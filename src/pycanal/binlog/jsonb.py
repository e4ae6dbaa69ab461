"""MySQL 8 binary JSON (column type 245) and PARTIAL_UPDATE_ROWS JSON diffs: bytes in, text out.

Two renderings are offered because the two programs pycanal imitates disagree:

* ``style="mysql"`` (default) is MySQL's own text, what ``SELECT json_col`` prints (``Json_wrapper::
  to_string`` in sql-common/json_dom.cc): ``{"a": 1, "b": [1, 2]}``, keys in stored order, strings
  escaped like JSON (``\\"``, ``\\\\``, ``\\n``..., other control characters as ``\\u00xx``, everything else
  kept), doubles through ``my_gcvt`` plus ``.0`` when that shows neither a point nor an exponent, opaque
  DATE/TIME/DATETIME/TIMESTAMP as quoted text with 6 fraction digits (DATE without time), opaque DECIMAL
  as a bare number, opaque VAR_STRING as a string, any other opaque as ``"base64:typeNN:..."``. An empty
  value is JSON null.
* ``style="canal"`` is what canal puts in ``Column.value`` (dbsync ``JsonConversion.toJsonString``): the
  same layout, but keys are not escaped, strings only get ``\\"`` and ``\\\\``, doubles are Java's
  ``Double.toString``, opaque DATE/DATETIME/TIMESTAMP all print ``yyyy-MM-dd HH:mm:ss.ffffff`` (zero:
  ``0000-00-00 00:00:00``), opaque TIME ``[-]HH:mm:ss.ffffff`` (zero: ``00:00:00``), other opaque values
  are their bytes as UTF-8 text, and an empty value is the empty string.

The binary layout is json_binary.cc's: a type byte, then small (16-bit offsets) or large (32-bit) objects
and arrays whose entries inline literals and small ints, strings with a 7-bit varint length, opaque
values with a MySQL field type byte. Offsets inside a container count from its element-count field.

Diffs (``binlog_row_value_options=PARTIAL_JSON``) are parsed into :class:`JsonDiff`, can be applied to a
full document (:func:`apply_json_diff`, with MySQL's ``apply_json_diffs`` rules) or rendered as
mysqlbinlog and canal render them (:func:`render_json_diff`).

Pure: imports only the standard library, pycanal.errors and javafmt (for canal's doubles).
"""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..errors import DecodeError
from .javafmt import java_double_str

__all__ = [
    "DIFF_INSERT",
    "DIFF_REMOVE",
    "DIFF_REPLACE",
    "JsonDiff",
    "apply_json_diff",
    "decode_json",
    "mysql_double_str",
    "parse_json_diff",
    "render_json_diff",
]

Style = Literal["mysql", "canal"]

# JSON diff operations (enum_json_diff_operation)
DIFF_REPLACE = 0
DIFF_INSERT = 1
DIFF_REMOVE = 2
_OP_NAMES = ("REPLACE", "INSERT", "REMOVE")

# value types (json_binary.h)
_SMALL_OBJECT, _LARGE_OBJECT, _SMALL_ARRAY, _LARGE_ARRAY = 0x0, 0x1, 0x2, 0x3
_LITERAL, _INT16, _UINT16, _INT32, _UINT32, _INT64, _UINT64, _DOUBLE, _STRING, _OPAQUE = (
    0x4,
    0x5,
    0x6,
    0x7,
    0x8,
    0x9,
    0xA,
    0xB,
    0xC,
    0xF,
)
# MySQL field types that opaque values carry and that get their own rendering
_FT_TIMESTAMP, _FT_DATE, _FT_TIME, _FT_DATETIME, _FT_VAR_STRING, _FT_NEWDECIMAL = 7, 10, 11, 12, 253, 246

_INLINE_LARGE = frozenset((_INT32, _UINT32))
_MAX_DEPTH = 150  # MySQL stops at 100 levels; a little slack, but no unbounded recursion on bad input

_u16 = struct.Struct("<H").unpack_from
_u32 = struct.Struct("<I").unpack_from
_SCALARS = {  # type -> (struct, width)
    _INT16: (struct.Struct("<h").unpack_from, 2),
    _UINT16: (struct.Struct("<H").unpack_from, 2),
    _INT32: (struct.Struct("<i").unpack_from, 4),
    _UINT32: (struct.Struct("<I").unpack_from, 4),
    _INT64: (struct.Struct("<q").unpack_from, 8),
    _UINT64: (struct.Struct("<Q").unpack_from, 8),
}
_unpack_double = struct.Struct("<d").unpack_from
_unpack_q = struct.Struct("<q").unpack_from


class _Raw(str):
    """A scalar already rendered in its final text (numbers, dates, opaque values)."""

    __slots__ = ()


# A decoded document: dict (stored key order), list, str (a JSON string), int, bool, None or _Raw.
Node = dict | list | str | int | bool | None


# --- double text ---------------------------------------------------------------------------------------

_GCVT_WIDTH = 34  # MY_GCVT_MAX_FIELD_WIDTH = DBL_DIG + 4 + max(5, MAX_DECPT_FOR_F_FORMAT)
_MAX_DECPT_F = 15  # MAX_DECPT_FOR_F_FORMAT = DBL_DIG


def mysql_double_str(x: float) -> str:
    """A double as MySQL prints it inside JSON: ``my_gcvt(x, DOUBLE, 34)`` then ``.0`` if needed.

    ``my_gcvt`` takes the shortest round-trip digits (dtoa mode 4 with 34 digits allowed) and picks fixed
    notation when it fits and the point position is in [-14, 15] (so ``1e-7`` prints ``0.0000001`` and
    ``1e15`` prints ``1e15``), exponent notation (``1.5e-20``, ``1e100``, no ``+``) otherwise.
    """
    r = repr(x)
    if -1e15 < x < 1e15 and "e" not in r:  # repr's fixed notation is exactly my_gcvt's here
        return r
    if not math.isfinite(x):  # cannot be stored in JSON; my_gcvt would print 0
        return "0.0"
    neg = math.copysign(1.0, x) < 0
    ax = -x if neg else x
    width = _GCVT_WIDTH - (1 if x < 0 else 0)
    if ax == 0.0:
        digits, decpt = "0", 1
    else:
        r = repr(ax)
        exp = 0
        if "e" in r:
            r, e = r.split("e")
            exp = int(e)
        ipart, _, fpart = r.partition(".")
        alld = ipart + fpart
        stripped = alld.lstrip("0")
        decpt = len(ipart) + exp - (len(alld) - len(stripped))
        digits = stripped.rstrip("0")
    n = len(digits)
    exp_len = 1 + (decpt >= 101 or decpt <= -99) + (decpt >= 11 or decpt <= -9)
    flen = n - decpt + 2 if decpt <= 0 else (n + 1 if decpt < n else decpt)
    have_space = flen <= width
    force_e = decpt <= 0 and width <= 2 - decpt and width >= 3 + exp_len
    use_f = (
        have_space or (decpt <= width and (decpt >= -1 or (decpt == -2 and (n > 1 or not force_e))) and not force_e)
    ) and (not have_space or (decpt >= -_MAX_DECPT_F + 1 and (decpt <= _MAX_DECPT_F or n > decpt)))
    sign = "-" if neg else ""
    if use_f:
        # With 17 digits at most and a 33+ wide field, the fixed form never needs truncating.
        if decpt <= 0:
            text = f"0.{'0' * -decpt}{digits}"
        elif decpt >= n:
            text = digits + "0" * (decpt - n)
        else:
            text = f"{digits[:decpt]}.{digits[decpt:]}"
        if "." not in text:
            text += ".0"
        return sign + text
    exponent = decpt - 1
    mant = digits[0] + ("." + digits[1:] if n > 1 else "")
    return f"{sign}{mant}e{exponent}"


# --- binary DECIMAL (opaque NEWDECIMAL payload) ---------------------------------------------------------

_DIG2BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)


def _decimal_str(data: bytes, precision: int, scale: int) -> str:
    """MySQL's binary DECIMAL (decimal2bin) as decimal2string prints it: ``-12.340``."""
    if not (0 < precision <= 65 and 0 <= scale <= 30 and scale <= precision):
        raise DecodeError(f"JSON opaque DECIMAL has a bad precision/scale ({precision},{scale})")
    intg = precision - scale
    intg0, intg0x = divmod(intg, 9)
    frac0, frac0x = divmod(scale, 9)
    size = intg0 * 4 + _DIG2BYTES[intg0x] + frac0 * 4 + _DIG2BYTES[frac0x]
    if len(data) < size:
        raise DecodeError(f"JSON opaque DECIMAL({precision},{scale}) needs {size} bytes, has {len(data)}")
    raw = bytearray(data[:size])
    negative = not raw[0] & 0x80
    raw[0] ^= 0x80
    if negative:
        raw = bytearray(b ^ 0xFF for b in raw)
    pos = 0
    parts: list[str] = []
    lead = _DIG2BYTES[intg0x]
    if lead:
        parts.append(str(int.from_bytes(raw[:lead], "big")).zfill(intg0x))
        pos = lead
    for _ in range(intg0):
        parts.append(str(int.from_bytes(raw[pos : pos + 4], "big")).zfill(9))
        pos += 4
    idigits = "".join(parts)
    parts = []
    for _ in range(frac0):
        parts.append(str(int.from_bytes(raw[pos : pos + 4], "big")).zfill(9))
        pos += 4
    trail = _DIG2BYTES[frac0x]
    if trail:
        parts.append(str(int.from_bytes(raw[pos : pos + trail], "big")).zfill(frac0x))
    fpart = "".join(parts)
    if len(idigits) > intg or len(fpart) > scale:  # a group held more digits than it may (bad bytes)
        raise DecodeError(f"JSON opaque DECIMAL({precision},{scale}) has a digit group out of range")
    ipart = idigits.lstrip("0") or "0"
    text = f"{ipart}.{fpart}" if scale else ipart
    if negative and text.strip("0.") != "":
        text = "-" + text
    return text


# --- opaque temporal values (8-byte packed integers, my_time.h) -----------------------------------------


def _packed(data: bytes, what: str) -> int:
    if len(data) < 8:
        raise DecodeError(f"JSON opaque {what} needs 8 bytes, has {len(data)}")
    return _unpack_q(data, 0)[0]


def _mysql_temporal(field_type: int, data: bytes) -> str:
    """my_TIME_to_str(..., 6) of a packed DATE/TIME/DATETIME/TIMESTAMP."""
    if field_type == _FT_TIME:
        v = _packed(data, "TIME")
        neg = v < 0
        v = -v if neg else v
        hms, frac = v >> 24, v % (1 << 24)
        hour, minute, second = (hms >> 12) % (1 << 10), (hms >> 6) % 64, hms % 64
        return f"{'-' if neg else ''}{hour:02d}:{minute:02d}:{second:02d}.{frac:06d}"
    v = _packed(data, "DATE" if field_type == _FT_DATE else "DATETIME")
    v = -v if v < 0 else v
    frac, ymdhms = v % (1 << 24), v >> 24
    ymd, hms = ymdhms >> 17, ymdhms % (1 << 17)
    ym = ymd >> 5
    year, month, day = ym // 13, ym % 13, ymd % 32
    if field_type == _FT_DATE:
        return f"{year:04d}-{month:02d}-{day:02d}"
    hour, minute, second = hms >> 12, (hms >> 6) % 64, hms % 64
    return f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}.{frac:06d}"


def _canal_temporal(field_type: int, data: bytes) -> str:
    """JsonConversion's text: TIME ``[-]HH:mm:ss.ffffff``, DATE/DATETIME/TIMESTAMP all as datetimes."""
    if field_type == _FT_TIME:
        v = _packed(data, "TIME")
        if v == 0:
            return "00:00:00"
        u = -v if v < 0 else v
        intpart, frac = u >> 24, u % (1 << 24)
        hours = (intpart >> 12) % (1 << 10)
        # canal prints hours above 100 in full and otherwise two digits (so 100 comes out as "00").
        htext = str(hours) if hours > 100 else f"{hours % 100:02d}"
        return f"{'-' if v < 0 else ''}{htext}:{(intpart >> 6) % 64:02d}:{intpart % 64:02d}.{frac:06d}"
    v = _packed(data, "DATE" if field_type == _FT_DATE else "DATETIME")
    if v == 0:
        return "0000-00-00 00:00:00"
    u = -v if v < 0 else v
    intpart, frac = u >> 24, u % (1 << 24)
    ymd, hms = intpart >> 17, intpart % (1 << 17)
    ym = ymd >> 5
    return (
        f"{ym // 13:04d}-{ym % 13:02d}-{ymd % 32:02d} {hms >> 12:02d}:{(hms >> 6) % 64:02d}:{hms % 64:02d}.{frac:06d}"
    )


def _mysql_base64(data: bytes) -> str:
    """mysys base64_encode: standard alphabet, a newline after every 76 output characters."""
    b64 = base64.b64encode(data).decode("ascii")
    if len(b64) > 76:
        b64 = "\n".join(b64[i : i + 76] for i in range(0, len(b64), 76))
    return b64


# --- binary parser -------------------------------------------------------------------------------------

_json_escape = json.encoder.encode_basestring  # MySQL's double_quote rules


def _canal_quote(s: str) -> str:
    if "\\" in s or '"' in s:
        s = s.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def _canal_key(s: str) -> str:
    return f'"{s}"'


_i16 = struct.Struct("<h").unpack_from
_LITERAL_TEXT = ("null", "true", "false")
_LITERAL_NODE = (None, True, False)


class _Parser:
    """Walks binary JSON once, either emitting final text (``tree=False``) or building a :data:`Node` tree.

    In text mode every value comes back as its rendered ``str``; in tree mode JSON strings are plain
    ``str``, other scalars ``_Raw`` (their final text), containers dict/list, literals None/True/False.
    """

    __slots__ = ("buf", "canal", "key", "lits", "quote", "raw", "tree")

    def __init__(self, buf: bytes, canal: bool, tree: bool) -> None:
        self.buf = buf
        self.canal = canal
        self.tree = tree
        self.lits = _LITERAL_NODE if tree else _LITERAL_TEXT
        self.raw = _Raw if tree else str
        ident = _identity
        self.quote = ident if tree else (_canal_quote if canal else _json_escape)
        self.key = ident if tree else (_canal_key if canal else _json_escape)

    def text(self, start: int, end: int, what: str) -> str:
        raw = self.buf[start:end]
        if self.canal:  # Java's new String(bytes, UTF-8) replaces bad sequences
            return raw.decode("utf-8", "replace")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"JSON {what} at offset {start} is not valid UTF-8: {exc.reason}") from None

    def varlen(self, pos: int, end: int, what: str) -> tuple[int, int]:
        """read_variable_length: 7 bits a byte, low bits first, at most 5 bytes, at most 32 bits."""
        buf = self.buf
        if pos < end and buf[pos] < 0x80:  # the common one-byte case
            return buf[pos], pos + 1
        value = 0
        for i in range(5):
            if pos + i >= end:
                break
            b = buf[pos + i]
            value |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                if value > 0xFFFFFFFF:
                    break
                return value, pos + i + 1
        raise DecodeError(f"JSON {what} length at offset {pos} is malformed or truncated")

    def value(self, t: int, pos: int, end: int, depth: int) -> Node:
        if t <= _LARGE_ARRAY:
            if depth > _MAX_DEPTH:
                raise DecodeError(f"JSON document nests deeper than {_MAX_DEPTH} levels")
            return self.container(pos, end, t & 1 == 1, t <= _LARGE_OBJECT, depth + 1)
        return self.scalar(t, pos, end)

    def container(self, base: int, end: int, large: bool, is_obj: bool, depth: int) -> Node:
        buf = self.buf
        osz = 4 if large else 2
        read = _u32 if large else _u16
        if end - base < 2 * osz:
            raise DecodeError(f"JSON {'object' if is_obj else 'array'} at offset {base} is truncated (no header)")
        count = read(buf, base)[0]
        size = read(buf, base + osz)[0]
        if size > end - base:
            raise DecodeError(
                f"JSON {'object' if is_obj else 'array'} at offset {base} claims {size} bytes, only {end - base} remain"
            )
        kes = osz + 2
        ves = osz + 1
        keys_at = base + 2 * osz
        values_at = keys_at + (count * kes if is_obj else 0)
        header = values_at + count * ves - base
        if header > size:
            raise DecodeError(
                f"JSON {'object' if is_obj else 'array'} at offset {base} has {count} entries "
                f"that do not fit in {size} bytes"
            )
        cend = base + size
        items: list[Node] = []
        append = items.append
        lits = self.lits
        raw = self.raw
        for ve in range(values_at, values_at + count * ves, ves):
            t = buf[ve]
            if t == _INT16:
                append(raw(_i16(buf, ve + 1)[0]))
            elif t == _UINT16:
                append(raw(_u16(buf, ve + 1)[0]))
            elif t == _LITERAL:
                lit = buf[ve + 1]
                if lit > 2:
                    raise DecodeError(f"JSON literal at offset {ve + 1} has unknown value 0x{lit:02x}")
                append(lits[lit])
            elif large and t in _INLINE_LARGE:
                append(self.scalar(t, ve + 1, ve + ves))
            else:
                off = read(buf, ve + 1)[0]
                if off < header or off >= size:
                    raise DecodeError(
                        f"JSON {'object' if is_obj else 'array'} at offset {base}: "
                        f"entry {(ve - values_at) // ves} points outside it ({off})"
                    )
                append(self.value(t, base + off, cend, depth))
        if not is_obj:
            return items if self.tree else "[" + ", ".join(items) + "]"  # type: ignore[arg-type]
        keys: list[str] = []
        for i in range(count):
            ke = keys_at + i * kes
            koff = read(buf, ke)[0]
            klen = _u16(buf, ke + osz)[0]
            if koff < header or koff + klen > size:
                raise DecodeError(f"JSON object at offset {base}: key {i} points outside it ({koff}+{klen})")
            keys.append(self.text(base + koff, base + koff + klen, "object key"))
        if self.tree:
            obj = dict(zip(keys, items, strict=True))
            if len(obj) != count:
                raise DecodeError(f"JSON object at offset {base} has duplicate keys")
            return obj
        key = self.key
        return "{" + ", ".join([f"{key(k)}: {v}" for k, v in zip(keys, items, strict=True)]) + "}"

    def scalar(self, t: int, pos: int, end: int) -> Node:
        buf = self.buf
        if t == _STRING:
            n, start = self.varlen(pos, end, "string")
            if start + n > end:
                raise DecodeError(f"JSON string at offset {pos} is truncated ({n} bytes declared)")
            return self.quote(self.text(start, start + n, "string"))
        if t == _LITERAL:
            if pos >= end:
                raise DecodeError(f"JSON literal at offset {pos} is truncated")
            lit = buf[pos]
            if lit > 2:
                raise DecodeError(f"JSON literal at offset {pos} has unknown value 0x{lit:02x}")
            return self.lits[lit]
        if t == _DOUBLE:
            if end - pos < 8:
                raise DecodeError(f"JSON double at offset {pos} is truncated")
            d = _unpack_double(buf, pos)[0]
            return self.raw(java_double_str(d) if self.canal else mysql_double_str(d))
        if t == _OPAQUE:
            return self.opaque(pos, end)
        spec = _SCALARS.get(t)
        if spec is None:
            raise DecodeError(f"JSON value at offset {pos - 1} has unknown type 0x{t:02x}")
        unpack, width = spec
        if end - pos < width:
            raise DecodeError(f"JSON {width * 8}-bit integer at offset {pos} is truncated")
        return self.raw(unpack(buf, pos)[0])

    def opaque(self, pos: int, end: int) -> Node:
        if pos >= end:
            raise DecodeError(f"JSON opaque value at offset {pos} is truncated (no field type)")
        ft = self.buf[pos]
        n, start = self.varlen(pos + 1, end, "opaque value")
        if start + n > end:
            raise DecodeError(f"JSON opaque value at offset {pos} is truncated ({n} bytes declared)")
        data = self.buf[start : start + n]
        if ft == _FT_NEWDECIMAL:
            if n < 2:
                raise DecodeError(f"JSON opaque DECIMAL at offset {pos} has no precision/scale")
            return self.raw(_decimal_str(data[2:], data[0], data[1]))
        if ft in (_FT_DATE, _FT_TIME, _FT_DATETIME, _FT_TIMESTAMP):  # JSON strings
            return self.quote(_canal_temporal(ft, data) if self.canal else _mysql_temporal(ft, data))
        if self.canal:
            return self.quote(self.text(start, start + n, "opaque value"))
        if ft == _FT_VAR_STRING:
            return self.quote(self.text(start, start + n, "opaque string"))
        return self.quote(f"base64:type{ft}:{_mysql_base64(data)}")


def _identity(s: str) -> str:
    return s


def _parse(data: bytes, canal: bool, tree: bool = True) -> Node:
    """Decode binary JSON into a tree (``tree=True``) or straight into its text."""
    if not data:
        if tree:
            return _Raw("") if canal else None
        return "" if canal else "null"
    data = bytes(data)
    return _Parser(data, canal, tree).value(data[0], 1, len(data), 0)


# --- rendering -----------------------------------------------------------------------------------------


def _render(node: Node, canal: bool) -> str:
    """Text of a tree (used after applying diffs, and for mysqlbinlog's CAST(...) values)."""
    out: list[str] = []
    quote = _canal_quote if canal else _json_escape
    key_quote = _canal_key if canal else _json_escape
    append = out.append

    def walk(n: Node) -> None:
        if type(n) is _Raw:
            append(n)
        elif isinstance(n, str):
            append(quote(n))
        elif isinstance(n, dict):
            append("{")
            first = True
            for k, v in n.items():
                if not first:
                    append(", ")
                first = False
                append(key_quote(k))
                append(": ")
                walk(v)
            append("}")
        elif isinstance(n, list):
            append("[")
            for i, v in enumerate(n):
                if i:
                    append(", ")
                walk(v)
            append("]")
        elif n is True:
            append("true")
        elif n is False:
            append("false")
        elif n is None:
            append("null")
        else:  # pragma: no cover - the parsers make nothing else
            raise TypeError(f"unexpected JSON node {n!r}")

    walk(node)
    return "".join(out)


def decode_json(data: bytes, style: Style = "mysql") -> str:
    """Render one binary JSON column value as text (see the module docstring for the two styles).

    Raises :class:`~pycanal.errors.DecodeError` on malformed or truncated input.
    """
    if style not in ("mysql", "canal"):
        raise ValueError(f"unknown JSON style {style!r}")
    return _parse(data, style == "canal", tree=False)  # type: ignore[return-value]


# --- JSON diffs ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JsonDiff:
    """One logged JSON change: ``operation`` (DIFF_REPLACE/INSERT/REMOVE), MySQL path text, new value.

    ``value`` is the new value in MySQL text (None for REMOVE); ``raw`` is its binary JSON, kept so it can
    be rendered in other styles.
    """

    operation: int
    path: str
    value: str | None
    raw: bytes | None = None

    @property
    def function(self) -> str:
        """The SQL function mysqlbinlog names this change after."""
        if self.operation == DIFF_REPLACE:
            return "JSON_REPLACE"
        if self.operation == DIFF_REMOVE:
            return "JSON_REMOVE"
        return "JSON_ARRAY_INSERT" if self.path.endswith("]") else "JSON_INSERT"


def _lenenc(buf: bytes, pos: int, what: str) -> tuple[int, int]:
    """net_field_length_checked: 1, 3, 4 or 9 bytes."""
    if pos >= len(buf):
        raise DecodeError(f"JSON diff {what} length at offset {pos} is truncated")
    first = buf[pos]
    if first < 251:
        return first, pos + 1
    width = {252: 2, 253: 3, 254: 8}.get(first)
    if width is None:
        raise DecodeError(f"JSON diff {what} length at offset {pos} has bad prefix 0x{first:02x}")
    if pos + 1 + width > len(buf):
        raise DecodeError(f"JSON diff {what} length at offset {pos} is truncated")
    return int.from_bytes(buf[pos + 1 : pos + 1 + width], "little"), pos + 1 + width


def parse_json_diff(data: bytes) -> list[JsonDiff]:
    """Parse a partial JSON column value: a list of (operation, path, [value]) entries."""
    buf = bytes(data)
    diffs: list[JsonDiff] = []
    pos, end = 0, len(buf)
    while pos < end:
        op = buf[pos]
        if op > DIFF_REMOVE:
            raise DecodeError(f"JSON diff at offset {pos} has invalid operation code {op}")
        plen, pos = _lenenc(buf, pos + 1, "path")
        if pos + plen > end:
            raise DecodeError(f"JSON diff path at offset {pos} is truncated ({plen} bytes declared)")
        if plen == 0:
            raise DecodeError(f"JSON diff at offset {pos} has an empty path")
        try:
            path = buf[pos : pos + plen].decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(f"JSON diff path at offset {pos} is not valid UTF-8") from None
        pos += plen
        if op == DIFF_REMOVE:
            diffs.append(JsonDiff(op, path, None, None))
            continue
        vlen, pos = _lenenc(buf, pos, "value")
        if pos + vlen > end:
            raise DecodeError(f"JSON diff value at offset {pos} is truncated ({vlen} bytes declared)")
        raw = buf[pos : pos + vlen]
        pos += vlen
        diffs.append(JsonDiff(op, path, decode_json(raw), raw))
    return diffs


_BINLOG_QUOTE = {
    0x08: "\\b",
    0x0C: "\\f",
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
    0x5C: "\\\\",
    0x27: "\\'",
}
_BINLOG_QUOTE.update({c: f"\\x{c:02x}" for c in range(32) if c not in _BINLOG_QUOTE})


def _binlog_quoted(text: str) -> str:
    """mysqlbinlog's my_b_write_quoted: single quotes, C-style escapes, other control bytes as \\xNN."""
    return "'" + text.translate(_BINLOG_QUOTE) + "'"


def _binlog_value(diff: JsonDiff) -> str:
    """json_wrapper_to_string(json_type=false): bare scalars, quoted strings, CAST(... AS JSON) containers."""
    node = _parse(diff.raw or b"", False)
    if isinstance(node, (dict, list)):
        return f"CAST({_binlog_quoted(_render(node, False))} AS JSON)"
    if type(node) is _Raw or node is None or isinstance(node, bool):
        return _render(node, False)
    assert isinstance(node, str)
    return _binlog_quoted(node)


def render_json_diff(
    column_ref: str, diffs: Sequence[JsonDiff], style: Literal["mysqlbinlog", "canal"] = "mysqlbinlog"
) -> str:
    """Render diffs as nested JSON function calls over ``column_ref``.

    Consecutive changes with the same function share one call; calls nest in order, so
    ``[REPLACE a, REPLACE b, INSERT c]`` gives ``JSON_INSERT(JSON_REPLACE(@2, 'a', 1, 'b', 2), 'c', 3)``.

    * ``"mysqlbinlog"``: exactly ``mysqlbinlog -v`` (log_event.cc ``print_json_diff``), including its
      ``"\\n###      "`` line breaks between calls and arguments; values are SQL-ish: numbers bare,
      strings and dates in single quotes, objects/arrays as ``CAST('...' AS JSON)``.
    * ``"canal"``: exactly canal's ``JsonDiffConversion.print_json_diff``: one line (``, `` where
      mysqlbinlog breaks lines, nothing between nested function names), the path in single quotes as is,
      values in canal's JSON text. canal passes the column *name* as ``column_ref``.
    """
    if style not in ("mysqlbinlog", "canal"):
        raise ValueError(f"unknown JSON diff style {style!r}")
    canal = style == "canal"
    names = [d.function for d in diffs]
    out: list[str] = []
    printed = False
    for i in range(len(names) - 1, -1, -1):
        if i == 0 or names[i - 1] != names[i]:
            if printed and not canal:
                out.append("\n###      ")
            out.append(names[i] + "(")
            printed = True
    out.append(column_ref)
    if not diffs:
        return "".join(out)
    out.append(", ")
    last = len(diffs) - 1
    for i, d in enumerate(diffs):
        out.append(f"'{d.path}'" if canal else _binlog_quoted(d.path))
        if d.operation != DIFF_REMOVE:
            out.append(", ")
            if canal:
                out.append(decode_json(d.raw or b"", "canal"))
            else:
                out.append(_binlog_value(d))
        if i == last or names[i + 1] != names[i]:
            out.append(")")
        if i != last:
            out.append(", " if canal else ",\n###      ")
    return "".join(out)


# --- applying diffs to a text document -----------------------------------------------------------------


def _parse_path(path: str) -> list[str | tuple[str, int]]:
    """Split a MySQL JSON path into legs: member names (str) and array cells (("idx"|"last", n)).

    Accepts what Json_path::to_string prints: ``$``, ``.name``, ``."quoted name"``, ``[3]``, ``[last]``,
    ``[last-2]``; wildcards and ranges are not valid in diffs and are rejected.
    """
    p = path.strip()
    if not p.startswith("$"):
        raise DecodeError(f"JSON path {path!r} does not start with $")
    legs: list[str | tuple[str, int]] = []
    i, n = 1, len(p)
    while i < n:
        c = p[i]
        if c in " \t\n\r":
            i += 1
        elif c == ".":
            i += 1
            while i < n and p[i] in " \t":
                i += 1
            if i < n and p[i] == '"':
                j = i + 1
                while j < n and p[j] != '"':
                    j += 2 if p[j] == "\\" else 1
                if j >= n:
                    raise DecodeError(f"JSON path {path!r} has an unterminated quoted member")
                try:
                    legs.append(json.loads(p[i : j + 1]))
                except ValueError:
                    raise DecodeError(f"JSON path {path!r} has a bad quoted member") from None
                i = j + 1
            else:
                j = i
                while j < n and p[j] not in '.[ \t"*':
                    j += 1
                if j == i:
                    raise DecodeError(f"JSON path {path!r} has an empty or wildcard member at {i}")
                legs.append(p[i:j])
                i = j
        elif c == "[":
            j = p.find("]", i)
            if j < 0:
                raise DecodeError(f"JSON path {path!r} has an unterminated array index")
            inner = p[i + 1 : j].replace(" ", "")
            try:
                if inner.isdigit():
                    legs.append(("idx", int(inner)))
                elif inner == "last":
                    legs.append(("last", 0))
                elif inner.startswith("last-") and inner[5:].isdigit():
                    legs.append(("last", int(inner[5:])))
                else:
                    raise ValueError
            except ValueError:
                raise DecodeError(f"JSON path {path!r} has an unsupported array index [{inner}]") from None
            i = j + 1
        else:
            raise DecodeError(f"JSON path {path!r} has an unexpected character {c!r} at {i}")
    return legs


def _index(leg: tuple[str, int], size: int) -> int:
    kind, n = leg
    return n if kind == "idx" else size - 1 - n


def _seek(doc: Node, legs: Sequence[str | tuple[str, int]]) -> Node:
    """seek_exact_path: follow member and cell legs; None-object sentinel when missing."""
    node = doc
    for leg in legs:
        if isinstance(node, list) and isinstance(leg, tuple):
            i = _index(leg, len(node))
            if not 0 <= i < len(node):
                return _MISSING
            node = node[i]
        elif isinstance(node, dict) and isinstance(leg, str):
            if leg not in node:
                return _MISSING
            node = node[leg]
        else:
            return _MISSING
    return node


_MISSING: Node = _Raw("\x00missing")  # identity-compared sentinel


def _mysql_key_order(obj: dict[str, Node]) -> dict[str, Node]:
    """MySQL keeps object members sorted by key length, then bytes (Json_key_comparator)."""
    return dict(sorted(obj.items(), key=lambda kv: (len(kv[0].encode("utf-8")), kv[0].encode("utf-8"))))


def apply_json_diff(doc: str, diffs: Sequence[JsonDiff]) -> str:
    """Apply diffs to a full document in MySQL text and return the new document in MySQL text.

    Follows MySQL's ``apply_json_diffs``: REPLACE needs the path to exist; INSERT adds a missing object
    member (kept in MySQL key order) or inserts into an array (an index past the end appends); REMOVE
    needs the path to exist. A diff that MySQL would reject raises :class:`DecodeError`, since the
    document then does not match the row the diff was logged for. Numbers keep their exact text.
    """
    try:
        root: Node = json.loads(doc, parse_float=_Raw, parse_int=_Raw, parse_constant=_reject_constant)
    except ValueError as exc:
        raise DecodeError(f"JSON document to patch is not valid JSON: {exc}") from None
    for d in diffs:
        legs = _parse_path(d.path)
        if not legs:
            raise DecodeError(f"JSON diff {_OP_NAMES[d.operation]} on the document root is not allowed")
        parent = _seek(root, legs[:-1])
        leg = legs[-1]
        what = f"JSON diff {_OP_NAMES[d.operation]} {d.path!r}"
        if parent is _MISSING:
            raise DecodeError(f"{what}: the parent of the path does not exist")
        value = None if d.operation == DIFF_REMOVE else _parse(d.raw or b"", False)
        if d.operation == DIFF_REPLACE:
            if isinstance(parent, dict) and isinstance(leg, str) and leg in parent:
                parent[leg] = value
            elif isinstance(parent, list) and isinstance(leg, tuple) and 0 <= _index(leg, len(parent)) < len(parent):
                parent[_index(leg, len(parent))] = value
            else:
                raise DecodeError(f"{what}: the path does not exist")
        elif d.operation == DIFF_INSERT:
            if isinstance(parent, dict) and isinstance(leg, str):
                if leg in parent:
                    raise DecodeError(f"{what}: the member already exists")
                parent[leg] = value
                ordered = _mysql_key_order(parent)
                parent.clear()
                parent.update(ordered)
            elif isinstance(parent, list) and isinstance(leg, tuple):
                i = _index(leg, len(parent))
                parent.insert(min(max(i, 0), len(parent)), value)
            else:
                raise DecodeError(f"{what}: the parent is not an object/array matching the path")
        else:
            if isinstance(parent, dict) and isinstance(leg, str) and leg in parent:
                del parent[leg]
            elif isinstance(parent, list) and isinstance(leg, tuple) and 0 <= _index(leg, len(parent)) < len(parent):
                del parent[_index(leg, len(parent))]
            else:
                raise DecodeError(f"{what}: the path does not exist")
    return _render(root, False)


def _reject_constant(name: str) -> Node:
    raise ValueError(f"{name} is not valid JSON")
