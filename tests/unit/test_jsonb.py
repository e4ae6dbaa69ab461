"""MySQL binary JSON decoding, JSON diffs and their renderings (pycanal.binlog.jsonb).

Binary documents are built by a small encoder below that writes json_binary.cc's layout; real bytes
from MySQL 8.0.22 / 9.0.1 binlogs (shared fixtures) pin the encoder and the decoder to the real thing.
"""

from __future__ import annotations

import base64
import json
import math
import random
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import shared_fixture
from pycanal.binlog.jsonb import (
    DIFF_INSERT,
    DIFF_REMOVE,
    DIFF_REPLACE,
    JsonDiff,
    apply_json_diff,
    decode_json,
    mysql_double_str,
    parse_json_diff,
    render_json_diff,
)
from pycanal.errors import DecodeError

# --- a test-only encoder for MySQL binary JSON ----------------------------------------------------------


class U(int):
    """Marks an int to be stored with an unsigned type."""


@dataclass(frozen=True)
class Opaque:
    field_type: int
    data: bytes


def _varlen(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _scalar(v: object) -> tuple[int, bytes]:
    if v is None:
        return 0x4, b"\x00"
    if v is True:
        return 0x4, b"\x01"
    if v is False:
        return 0x4, b"\x02"
    if isinstance(v, U):
        for t, fmt, hi in ((0x6, "<H", 0xFFFF), (0x8, "<I", 0xFFFFFFFF), (0xA, "<Q", 2**64 - 1)):
            if v <= hi:
                return t, struct.pack(fmt, v)
    if isinstance(v, int):
        for t, fmt, lo, hi in ((0x5, "<h", -(2**15), 2**15 - 1), (0x7, "<i", -(2**31), 2**31 - 1)):
            if lo <= v <= hi:
                return t, struct.pack(fmt, v)
        return 0x9, struct.pack("<q", v)
    if isinstance(v, float):
        return 0xB, struct.pack("<d", v)
    if isinstance(v, str):
        raw = v.encode("utf-8")
        return 0xC, _varlen(len(raw)) + raw
    if isinstance(v, bytes):  # a raw (possibly invalid) string payload
        return 0xC, _varlen(len(v)) + v
    if isinstance(v, Opaque):
        return 0xF, bytes([v.field_type]) + _varlen(len(v.data)) + v.data
    raise TypeError(v)


def _container(v: dict | list, large: bool) -> bytes:
    is_obj = isinstance(v, dict)
    items = list(v.items()) if is_obj else [(None, x) for x in v]
    osz = 4 if large else 2
    fmt = "<I" if large else "<H"
    n = len(items)
    header = 2 * osz + (n * (osz + 2) if is_obj else 0) + n * (osz + 1)
    key_entries, value_entries, blob = [], [], bytearray()
    off = header
    if is_obj:
        for k, _ in items:
            kb = k.encode("utf-8")
            key_entries.append(struct.pack(fmt, off) + struct.pack("<H", len(kb)))
            blob += kb
            off += len(kb)
    for _, x in items:
        t, payload = _typed(x)
        inline = t in (0x4, 0x5, 0x6) or (large and t in (0x7, 0x8))
        if inline:
            value_entries.append(bytes([t]) + payload.ljust(osz, b"\x00"))
        else:
            value_entries.append(bytes([t]) + struct.pack(fmt, off))
            blob += payload
            off += len(payload)
    return struct.pack(fmt, n) + struct.pack(fmt, off) + b"".join(key_entries + value_entries) + blob


def _typed(v: object, large: bool | None = None) -> tuple[int, bytes]:
    if isinstance(v, (dict, list)):
        base = 0x0 if isinstance(v, dict) else 0x2
        if large is None:
            try:
                body = _container(v, False)
            except struct.error:  # an offset does not fit in 16 bits
                return base + 1, _container(v, True)
            if len(body) > 0xFFFF:
                return base + 1, _container(v, True)
            return base, body
        return base + large, _container(v, large)
    return _scalar(v)


def enc(v: object, large: bool | None = None) -> bytes:
    t, payload = _typed(v, large)
    return bytes([t]) + payload


def mysql_order(d: dict) -> dict:
    return dict(sorted(d.items(), key=lambda kv: (len(kv[0].encode()), kv[0].encode())))


def packed_datetime(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> bytes:
    ymd = ((y * 13 + mo) << 5) | d
    hms = (h << 12) | (mi << 6) | s
    return struct.pack("<q", (((ymd << 17) | hms) << 24) + us)


def packed_time(h: int, mi: int, s: int, us: int = 0, neg: bool = False) -> bytes:
    v = (((h << 12) | (mi << 6) | s) << 24) + us
    return struct.pack("<q", -v if neg else v)


# --- real MySQL bytes ----------------------------------------------------------------------------------

# The JSON column (type byte first) of the 8 rows in rust_mysql_common/json-opaque.binlog (MySQL 9.0.1),
# then its MySQL text and its canal text.
OPAQUE_ROWS = [
    ("0001000f000b0001000f0c00610f0155", '{"a": "base64:type15:VQ=="}', '{"a": "U"}'),
    ("00010016000b0001000f0c00620a080000000000e48b19", '{"b": "2012-03-18"}', '{"b": "2012-03-18 00:00:00.000000"}'),
    (
        "00010016000b0001000f0c00630c08000000adb7e48b19",
        '{"c": "2012-03-18 11:30:45.000000"}',
        '{"c": "2012-03-18 11:30:45.000000"}',
    ),
    ("00010016000b0001000f0c00630b08f1fb09ee77050000", '{"c": "87:31:46.654321"}', '{"c": "87:31:46.654321"}'),
    ("00010014000b0001000f0c0064f6060603807b01c8", '{"d": 123.456}', '{"d": 123.456}'),
    ("00010015000b0001000f0c0065f6070b028000000900", '{"e": 9.00}', '{"e": 9.00}'),
    (
        "0001001c000b000100020c006504001000050000050100040100040200",
        '{"e": [0, 1, true, false]}',
        '{"e": [0, 1, true, false]}',
    ),
    ("0001000c000b00010004000065", '{"e": null}', '{"e": null}'),
]


@pytest.mark.parametrize(("hexbytes", "mysql", "canal"), OPAQUE_ROWS)
def test_real_opaque_rows(hexbytes: str, mysql: str, canal: str) -> None:
    data = bytes.fromhex(hexbytes)
    assert decode_json(data) == mysql
    assert decode_json(data, "canal") == canal


def test_encoder_matches_real_mysql_bytes() -> None:
    real = bytes.fromhex(OPAQUE_ROWS[6][0])
    assert enc({"e": [0, 1, True, False]}) == real
    assert enc({"b": Opaque(10, packed_datetime(2012, 3, 18))}) == bytes.fromhex(OPAQUE_ROWS[1][0])


def _walk_rows_json(path: Path) -> list[bytes]:
    """JSON column values of the WRITE/UPDATE rows in json.binlog.000001 (table: INT, JSON, VARCHAR, INT)."""
    d = path.read_bytes()
    out, pos = [], 4
    while pos < len(d):
        typ, size = d[pos + 4], struct.unpack_from("<I", d, pos + 9)[0]
        body = d[pos + 19 : pos + size - 4]
        if typ in (30, 31):
            p = 8 + struct.unpack_from("<H", body, 8)[0]
            p += 1 + (1 if typ == 30 else 2)  # column count, column bitmap(s)
            while p < len(body):
                p += 1 + 4  # null bitmap, id
                n = struct.unpack_from("<I", body, p)[0]
                out.append(body[p + 4 : p + 4 + n])
                p += 4 + n
                p += 2 + struct.unpack_from("<H", body, p)[0] + 4  # name, age
        pos += size
    return out


def test_real_documents_from_mysql_8_binlog() -> None:
    docs = [decode_json(v) for v in _walk_rows_json(shared_fixture("rust_mysql_common", "json.binlog.000001"))]
    assert docs[:3] == [
        '{"age": 24, "data": "xxxxxxxxxx", "name": "Joe"}',
        '{"age": 32, "data": "yyyyyyyyyy", "name": "Sue"}',
        '{"age": 40, "data": "zzzzzzzzzz", "name": "Pete"}',
    ]
    assert docs[6:8] == [  # first UPDATE row: before, after
        '{"age": 24, "data": "xxxxxxxxxx", "name": "Joe"}',
        '{"age": 25, "data": "xxxxxxxxxx", "name": "Joe"}',
    ]
    assert len(docs) == 6 + 12


def test_real_partial_update_diff() -> None:
    d = (shared_fixture("rust_mysql_common", "json.binlog.000001")).read_bytes()
    # PARTIAL_UPDATE_ROWS @3750, first row: before image (null bitmap, id) then value_options, partial bits.
    body = d[3750 + 19 :]
    p = 8 + struct.unpack_from("<H", body, 8)[0] + 1 + 1 + 1
    p += 1 + 4  # before image: null bitmap + id 1
    assert body[p] == 1 and body[p + 1] == 1  # value_options=PARTIAL_JSON, partial bit for the JSON column
    p += 2 + 1  # after image null bitmap
    n = struct.unpack_from("<I", body, p)[0]
    diffs = parse_json_diff(body[p + 4 : p + 4 + n])
    assert diffs == [JsonDiff(DIFF_REPLACE, "$.age", "26", b"\x05\x1a\x00")]
    assert render_json_diff("@2", diffs) == "JSON_REPLACE(@2, '$.age', 26)"
    assert render_json_diff("json_col", diffs, "canal") == "JSON_REPLACE(json_col, '$.age', 26)"
    before = '{"age": 25, "data": "xxxxxxxxxx", "name": "Joe"}'
    assert apply_json_diff(before, diffs) == '{"age": 26, "data": "xxxxxxxxxx", "name": "Joe"}'


# --- scalars --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (-5, "-5"),
        (-32768, "-32768"),
        (U(65535), "65535"),
        (2**31 - 1, "2147483647"),
        (-(2**31), "-2147483648"),
        (U(2**32 - 1), "4294967295"),
        (-(2**63), "-9223372036854775808"),
        (2**40, "1099511627776"),
        (U(2**64 - 1), "18446744073709551615"),
        (1.5, "1.5"),
        ("", '""'),
        ("abc", '"abc"'),
    ],
)
def test_top_level_scalars(value: object, text: str) -> None:
    assert decode_json(enc(value)) == text
    assert decode_json(enc(value), "canal") == text


def test_empty_value_is_null_in_mysql_and_empty_in_canal() -> None:
    assert decode_json(b"") == "null"
    assert decode_json(b"", "canal") == ""


def test_string_escapes_mysql_style() -> None:
    s = 'q"b\\n\nt\tb\bf\fr\r\x01\x1f\x7f/é✓😀'
    expected = '"q\\"b\\\\n\\nt\\tb\\bf\\fr\\r\\u0001\\u001f\x7f/é✓😀"'
    assert decode_json(enc(s)) == expected
    assert json.loads(expected) == s  # it is valid JSON for the same string


def test_string_escapes_canal_style_only_quote_and_backslash() -> None:
    s = 'q"b\\n\nt\x01é'
    assert decode_json(enc(s), "canal") == '"q\\"b\\\\n\nt\x01é"'


def test_keys_escaped_in_mysql_style_and_raw_in_canal() -> None:
    doc = {'k"\n': 1}
    assert decode_json(enc(doc)) == '{"k\\"\\n": 1}'
    assert decode_json(enc(doc), "canal") == '{"k"\n": 1}'


def test_long_string_uses_multibyte_length() -> None:
    s = "x" * 20000  # 3-byte varint length
    assert enc(s)[1:4] == bytes([0xA0, 0x9C, 0x01])
    assert decode_json(enc(s)) == f'"{s}"'


# --- doubles -------------------------------------------------------------------------------------------

MYSQL_DOUBLES = [
    (1.5, "1.5"),
    (3.14, "3.14"),
    (1.0, "1.0"),
    (-2.0, "-2.0"),
    (0.0, "0.0"),
    (-0.0, "-0.0"),
    (0.1, "0.1"),
    (0.1 + 0.2, "0.30000000000000004"),
    (1e-7, "0.0000001"),
    (1e-15, "0.000000000000001"),
    (1e-16, "1e-16"),
    (1.5e-20, "1.5e-20"),
    (1e14, "100000000000000.0"),
    (1e15, "1e15"),
    (1234567890123456.7, "1234567890123456.8"),
    (123456789012345678.0, "1.2345678901234568e17"),
    (1e100, "1e100"),
    (-1e-300, "-1e-300"),
    (1.7976931348623157e308, "1.7976931348623157e308"),
    (5e-324, "5e-324"),
]


@pytest.mark.parametrize(("value", "text"), MYSQL_DOUBLES)
def test_mysql_double_text(value: float, text: str) -> None:
    assert mysql_double_str(value) == text
    assert decode_json(enc(value)) == text


@pytest.mark.parametrize(
    ("value", "text"), [(1.0, "1.0"), (1e-7, "1.0E-7"), (1e15, "1.0E15"), (-0.0, "-0.0"), (3.14, "3.14")]
)
def test_canal_doubles_are_java_text(value: float, text: str) -> None:
    assert decode_json(enc([value]), "canal") == f"[{text}]"


def test_double_text_round_trips() -> None:
    rnd = random.Random(7)
    for _ in range(2000):
        x = struct.unpack("<d", rnd.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(x):
            assert float(mysql_double_str(x)) == x


# --- containers -----------------------------------------------------------------------------------------


def test_nested_objects_and_arrays() -> None:
    doc = {"id": 1, "tags": ["a", "b", [], {}], "o": {"x": None, "y": [1.5, True, {"z": "w"}]}, "n": U(7)}
    text = decode_json(enc(doc))
    assert text == ('{"id": 1, "tags": ["a", "b", [], {}], "o": {"x": null, "y": [1.5, true, {"z": "w"}]}, "n": 7}')
    assert json.loads(text) == json.loads(json.dumps(doc))


def test_keys_come_out_in_stored_order() -> None:
    assert decode_json(enc({"b": 1, "a": 2})) == '{"b": 1, "a": 2}'
    assert decode_json(enc(mysql_order({"bb": 1, "a": 2, "c": 3}))) == '{"a": 2, "c": 3, "bb": 1}'


def test_every_scalar_type_inside_small_and_large_containers() -> None:
    values = [
        None,
        True,
        False,
        -7,
        U(7),
        70000,
        U(70000),
        -(2**40),
        U(2**64 - 1),
        2.5,
        "s",
        Opaque(246, b"\x02\x00\x81"),
    ]
    expected = '[null, true, false, -7, 7, 70000, 70000, -1099511627776, 18446744073709551615, 2.5, "s", 1]'
    small = enc(values, large=False)
    large = enc(values, large=True)
    assert small[0] == 0x2 and large[0] == 0x3
    assert decode_json(small) == expected
    assert decode_json(large) == expected
    obj = {f"k{i}": v for i, v in enumerate(values)}
    assert decode_json(enc(obj, large=True)) == decode_json(enc(obj, large=False))


def test_large_object_over_64k() -> None:
    doc = {"big": "é" * 40000, "list": list(range(3000)), "n": -1}
    data = enc(doc)
    assert data[0] == 0x1 and len(data) > 0xFFFF  # the encoder had to use the large format
    text = decode_json(data)
    assert json.loads(text) == doc
    assert text.startswith('{"big": "éé') and text.endswith('2999], "n": -1}')


def test_large_array_with_inlined_int32() -> None:
    arr = [2**31 - 1, -(2**31), U(2**32 - 1)] + ["x" * 30000] * 3
    data = enc(arr)
    assert data[0] == 0x3
    assert decode_json(data).startswith("[2147483647, -2147483648, 4294967295, ")


# --- opaque values --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opaque", "mysql", "canal"),
    [
        (Opaque(10, packed_datetime(2012, 3, 18)), '"2012-03-18"', '"2012-03-18 00:00:00.000000"'),
        (Opaque(10, b"\x00" * 8), '"0000-00-00"', '"0000-00-00 00:00:00"'),
        (
            Opaque(12, packed_datetime(2012, 3, 18, 11, 30, 45)),
            '"2012-03-18 11:30:45.000000"',
            '"2012-03-18 11:30:45.000000"',
        ),
        (
            Opaque(7, packed_datetime(1999, 12, 31, 23, 59, 59, 999999)),
            '"1999-12-31 23:59:59.999999"',
            '"1999-12-31 23:59:59.999999"',
        ),
        (Opaque(11, packed_time(87, 31, 46, 654321)), '"87:31:46.654321"', '"87:31:46.654321"'),
        (Opaque(11, packed_time(838, 59, 59, 0, neg=True)), '"-838:59:59.000000"', '"-838:59:59.000000"'),
        (Opaque(11, packed_time(5, 4, 3)), '"05:04:03.000000"', '"05:04:03.000000"'),
        (Opaque(11, packed_time(100, 0, 1)), '"100:00:01.000000"', '"00:00:01.000000"'),  # canal's quirk
        (Opaque(11, b"\x00" * 8), '"00:00:00.000000"', '"00:00:00"'),
        (Opaque(246, bytes([6, 3]) + bytes.fromhex("807b01c8")), "123.456", "123.456"),
        (Opaque(246, bytes([11, 2]) + bytes.fromhex("8000000900")), "9.00", "9.00"),
        (Opaque(246, bytes([11, 2]) + bytes(b ^ 0xFF for b in bytes.fromhex("8000000900"))), "-9.00", "-9.00"),
        (Opaque(246, bytes([5, 5]) + bytes.fromhex("803039")), "0.12345", "0.12345"),
        (Opaque(246, bytes([20, 0]) + bytes.fromhex("800000000a00000000")), "10000000000", "10000000000"),
        (Opaque(15, b"U"), '"base64:type15:VQ=="', '"U"'),
        (Opaque(252, b"\x00\xff"), '"base64:type252:AP8="', '"\x00\ufffd"'),
        (Opaque(253, "plain ✓".encode()), '"plain ✓"', '"plain ✓"'),
        (Opaque(16, b"\x01"), '"base64:type16:AQ=="', '"\x01"'),
    ],
)
def test_opaque_values(opaque: Opaque, mysql: str, canal: str) -> None:
    assert decode_json(enc(opaque)) == mysql
    assert decode_json(enc(opaque), "canal") == canal


def test_long_opaque_base64_breaks_lines_every_76_chars() -> None:
    data = bytes(range(100))
    text = json.loads(decode_json(enc(Opaque(252, data))))
    assert text.startswith("base64:type252:")
    lines = text.removeprefix("base64:type252:").split("\n")
    assert [len(x) for x in lines] == [76, 60]
    assert base64.b64decode("".join(lines)) == data


# --- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x0d", "unknown type 0x0d"),
        (b"\x04", "literal"),
        (b"\x04\x03", "unknown value 0x03"),
        (b"\x05\x01", "truncated"),
        (b"\x0b\x00\x00", "double"),
        (b"\x0c\x05ab", "string"),
        (b"\x0c\x80\x80\x80\x80\x80", "length"),
        (b"\x0c\xff\xff\xff\xff\x7f", "length"),  # more than 32 bits
        (b"\x00\x01", "header"),
        (b"\x00\x01\x00\x20\x00", "claims 32 bytes"),
        (b"\x02\x05\x00\x04\x00", "do not fit"),
        (b"\x02\x01\x00\x07\x00\x0c\x00\x00", "points outside"),
        (b"\x0f", "field type"),
        (b"\x0f\x0a\x08\x00", "truncated"),
        (b"\x0f\x0a\x02\x00\x00", "needs 8 bytes"),
        (b"\x0f\xf6\x02\x42\x00", "precision/scale"),
        (b"\x0f\xf6\x03\x06\x03\x80", "needs 4 bytes"),
        (b"\x0c\x02\xc3\x28", "not valid UTF-8"),
        (b"\x0f\xf6\x03\x02\x00\xff", "digit group out of range"),  # DECIMAL(2,0) holding 127
    ],
)
def test_bad_bytes_raise_decode_error(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_json(data)


def test_every_truncation_of_a_document_is_an_error() -> None:
    data = enc({"a": [1, "two", 3.0, {"b": Opaque(12, packed_datetime(2020, 1, 2))}], "c": "x" * 300})
    decode_json(data)
    for cut in range(1, len(data)):
        with pytest.raises(DecodeError):
            decode_json(data[:cut])


def test_object_key_outside_the_object_is_an_error() -> None:
    data = bytearray(enc({"a": 1}))
    data[5] = 0x40  # key offset far past the end
    with pytest.raises(DecodeError, match="key 0 points outside"):
        decode_json(bytes(data))


def test_bad_style_is_rejected() -> None:
    with pytest.raises(ValueError, match="style"):
        decode_json(b"", "java")  # type: ignore[arg-type]


def test_deep_nesting_is_limited() -> None:
    doc: object = 1
    for _ in range(200):
        doc = [doc]
    with pytest.raises(DecodeError, match="nests deeper"):
        decode_json(enc(doc))


# --- JSON diffs -----------------------------------------------------------------------------------------


def diff_bytes(*ops: tuple[int, str, object]) -> bytes:
    out = bytearray()
    for op, path, value in ops:
        p = path.encode()
        out += bytes([op, len(p)]) + p
        if op != DIFF_REMOVE:
            v = value if isinstance(value, bytes) else enc(value)
            out += (bytes([len(v)]) if len(v) < 251 else b"\xfc" + struct.pack("<H", len(v))) + v
    return bytes(out)


def test_parse_json_diff_operations() -> None:
    data = diff_bytes(
        (DIFF_REPLACE, "$.age", 26),
        (DIFF_INSERT, "$.tags[1]", "x"),
        (DIFF_INSERT, '$."new key"', {"a": [1]}),
        (DIFF_REMOVE, "$.old", None),
        (DIFF_REPLACE, "$.blob", "y" * 300),
    )
    diffs = parse_json_diff(data)
    assert [(d.operation, d.path, d.value) for d in diffs] == [
        (DIFF_REPLACE, "$.age", "26"),
        (DIFF_INSERT, "$.tags[1]", '"x"'),
        (DIFF_INSERT, '$."new key"', '{"a": [1]}'),
        (DIFF_REMOVE, "$.old", None),
        (DIFF_REPLACE, "$.blob", '"' + "y" * 300 + '"'),
    ]
    assert [d.function for d in diffs] == [
        "JSON_REPLACE",
        "JSON_ARRAY_INSERT",
        "JSON_INSERT",
        "JSON_REMOVE",
        "JSON_REPLACE",
    ]
    assert parse_json_diff(b"") == []


def test_diff_with_empty_value_means_null() -> None:
    assert parse_json_diff(diff_bytes((DIFF_REPLACE, "$.a", b"")))[0].value == "null"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x03\x01$", "invalid operation code 3"),
        (b"\x00", "path length"),
        (b"\x00\x05$.a", "path at offset 2 is truncated"),
        (b"\x00\x00", "empty path"),
        (b"\x00\x03$.a", "value length"),
        (b"\x00\x03$.a\x05\x05\x01", "value at offset 6 is truncated"),
        (b"\x00\x03$.a\xfb", "bad prefix 0xfb"),
        (b"\x00\x03$.a\x01\x0d", "unknown type"),
        (b"\x02\x02$\xff", "not valid UTF-8"),
    ],
)
def test_bad_diffs_raise_decode_error(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        parse_json_diff(data)


def _diffs(*ops: tuple[int, str, object]) -> list[JsonDiff]:
    return parse_json_diff(diff_bytes(*ops))


def test_render_single_op_both_styles() -> None:
    d = _diffs((DIFF_REPLACE, "$.age", 26))
    assert render_json_diff("@2", d) == "JSON_REPLACE(@2, '$.age', 26)"
    assert render_json_diff("doc", d, "canal") == "JSON_REPLACE(doc, '$.age', 26)"


def test_render_groups_and_nests_like_mysqlbinlog() -> None:
    d = _diffs(
        (DIFF_REPLACE, "$.a", 1),
        (DIFF_REPLACE, "$.b", "it's"),
        (DIFF_INSERT, "$.c", {"k": [1, 2.0]}),
        (DIFF_INSERT, "$.l[0]", None),
        (DIFF_REMOVE, "$.z", None),
    )
    sep = "\n###      "
    assert render_json_diff("@2", d) == (
        f"JSON_REMOVE({sep}JSON_ARRAY_INSERT({sep}JSON_INSERT({sep}JSON_REPLACE(@2, '$.a', 1,{sep}"
        f"'$.b', 'it\\'s'),{sep}'$.c', CAST('{{\"k\": [1, 2.0]}}' AS JSON)),{sep}'$.l[0]', null),{sep}'$.z')"
    )
    assert render_json_diff("doc", d, "canal") == (
        "JSON_REMOVE(JSON_ARRAY_INSERT(JSON_INSERT(JSON_REPLACE(doc, '$.a', 1, '$.b', \"it's\"), "
        "'$.c', {\"k\": [1, 2.0]}), '$.l[0]', null), '$.z')"
    )


def test_render_value_kinds_mysqlbinlog() -> None:
    d = _diffs(
        (DIFF_REPLACE, "$.s", "a\nb\\"),
        (DIFF_REPLACE, "$.d", Opaque(10, packed_datetime(2020, 2, 29))),
        (DIFF_REPLACE, "$.n", Opaque(246, bytes([6, 3]) + bytes.fromhex("807b01c8"))),
        (DIFF_REPLACE, "$.f", 1e15),
        (DIFF_REPLACE, "$.t", True),
        (DIFF_REPLACE, "$.o", Opaque(15, b"U")),
    )
    sep = ",\n###      "
    assert render_json_diff("@1", d) == (
        f"JSON_REPLACE(@1, '$.s', 'a\\nb\\\\'{sep}'$.d', '2020-02-29'{sep}'$.n', 123.456{sep}"
        f"'$.f', 1e15{sep}'$.t', true{sep}'$.o', 'base64:type15:VQ==')"
    )
    assert render_json_diff("c", d, "canal") == (
        "JSON_REPLACE(c, '$.s', \"a\nb\\\\\", '$.d', \"2020-02-29 00:00:00.000000\", '$.n', 123.456, "
        "'$.f', 1.0E15, '$.t', true, '$.o', \"U\")"
    )


def test_render_empty_diff_is_the_column() -> None:
    assert render_json_diff("@3", []) == "@3"
    assert render_json_diff("@3", [], "canal") == "@3"


# --- applying diffs -------------------------------------------------------------------------------------


def test_apply_replace_insert_remove() -> None:
    doc = '{"a": 1, "b": [1, 2, 3], "bb": {"x": 1.0}, "num": 9.00}'
    d = _diffs(
        (DIFF_REPLACE, "$.a", "one"),
        (DIFF_INSERT, "$.b[1]", 15),
        (DIFF_INSERT, "$.b[99]", 4),
        (DIFF_REMOVE, "$.b[0]", None),
        (DIFF_INSERT, "$.bb.y", [True]),
        (DIFF_INSERT, "$.c", None),
        (DIFF_REMOVE, "$.bb.x", None),
        (DIFF_REPLACE, "$.b[last]", 0.5),
    )
    assert apply_json_diff(doc, d) == '{"a": "one", "b": [15, 2, 3, 0.5], "c": null, "bb": {"y": [true]}, "num": 9.00}'


def test_apply_quoted_members_and_unicode() -> None:
    doc = '{"a b": {"é": [1, 2]}}'
    d = _diffs((DIFF_REPLACE, '$."a b"."é"[1]', "ü\n"), (DIFF_INSERT, '$."a b".k', 1))
    assert apply_json_diff(doc, d) == '{"a b": {"k": 1, "é": [1, "ü\\n"]}}'


def test_apply_keeps_number_text() -> None:
    doc = "[1e15, 100000000000000.0, 0.0000001, 123.4500, -0]"
    assert apply_json_diff(doc, []) == doc


@pytest.mark.parametrize(
    ("doc", "op", "message"),
    [
        ('{"a": 1}', (DIFF_REPLACE, "$.b", 1), "does not exist"),
        ('{"a": 1}', (DIFF_INSERT, "$.a", 1), "already exists"),
        ('{"a": 1}', (DIFF_REMOVE, "$.b", None), "does not exist"),
        ('{"a": 1}', (DIFF_INSERT, "$.x.y", 1), "parent"),
        ('{"a": 1}', (DIFF_INSERT, "$[0]", 1), "not an object/array"),
        ("[1]", (DIFF_REPLACE, "$[5]", 1), "does not exist"),
        ("[1]", (DIFF_REPLACE, "$", 1), "root"),
        ("[1]", (DIFF_REPLACE, "$[*]", 1), "unsupported array index"),
        ("[1]", (DIFF_REPLACE, "$.*", 1), "wildcard"),
        ("[1]", (DIFF_REPLACE, "a", 1), "does not start with"),
    ],
)
def test_apply_rejected_diffs_raise(doc: str, op: tuple[int, str, object], message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        apply_json_diff(doc, _diffs(op))


def test_apply_to_invalid_document_raises() -> None:
    with pytest.raises(DecodeError, match="not valid JSON"):
        apply_json_diff("{nope", [])


# --- cross-check against a real server ------------------------------------------------------------------


@pytest.mark.integration
def test_double_text_matches_mariadb_my_gcvt() -> None:
    """MariaDB's JSON_ARRAY prints doubles with the same my_gcvt MySQL uses (minus MySQL's ".0")."""
    from pycanal.sandbox.mariadb import MariaDBSandbox

    rnd = random.Random(11)
    vals = [rnd.choice((1, -1)) * rnd.random() * 10.0 ** rnd.randint(-320, 300) for _ in range(600)]
    vals += [v for v, _ in MYSQL_DOUBLES if v != 0.0]
    with MariaDBSandbox() as s:
        conn = s.connect()
        try:
            cur = conn.cursor()
            for i in range(0, len(vals), 200):
                chunk = vals[i : i + 200]
                lits = ",".join(r if "e" in (r := repr(v)) else r + "e0" for v in chunk)
                cur.execute(f"SELECT JSON_ARRAY({lits})")
                got = cur.fetchone()[0][1:-1].split(", ")
                for v, text in zip(chunk, got, strict=True):
                    if "." not in text and "e" not in text:
                        text += ".0"
                    assert mysql_double_str(v) == text, v
        finally:
            conn.close()
