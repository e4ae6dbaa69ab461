"""GTID sets (pycanal.gtid): the one parser, printer and binary codec for MySQL and MariaDB sets."""

from __future__ import annotations

import os
import struct

import pytest

from pycanal.binlog import constants as C
from pycanal.binlog.events import EventHeader, GtidEvent, MariaGtidEvent
from pycanal.errors import ConfigError, InvalidGtidSet, LocalProtocolError
from pycanal.gtid import (
    GtidTracker,
    MariaGtidState,
    MysqlGtidSet,
    is_maria_gtid_set,
    parse_gtid_set,
    varlen_decode,
    varlen_encode,
)

U1 = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
U2 = "00000000-0000-0000-0000-000000000001"
FIXTURES = os.path.normpath(
    os.environ.get(
        "PYCANAL_FIXTURES",
        os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "fixtures", "mysql-binlog"),
    )
)

# -- MySQL text --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical", "as_dict"),
    [
        ("", "", {}),
        (" , ,\n", "", {}),
        (f"{U1}:1-5", f"{U1}:1-5", {(U1, ""): ((1, 5),)}),
        (f"{U1}:7", f"{U1}:7", {(U1, ""): ((7, 7),)}),
        (f"{U1}:1-5:7:6:10-12", f"{U1}:1-7:10-12", {(U1, ""): ((1, 7), (10, 12))}),  # merged, sorted
        (f"{U1}:3-3:1-2", f"{U1}:1-3", {(U1, ""): ((1, 3),)}),
        (
            f"{U1}:1-5,\n {U2}:3, {U1}:13-20",
            f"{U2}:3,{U1}:1-5:13-20",
            {(U1, ""): ((1, 5), (13, 20)), (U2, ""): ((3, 3),)},
        ),
        (f" {U1} : 1 - 5 ", f"{U1}:1-5", {(U1, ""): ((1, 5),)}),  # blanks around the elements
        (f"{U1.upper()}:1", f"{U1}:1", {(U1, ""): ((1, 1),)}),  # uuids are case-insensitive
        (f"{U1.replace('-', '')}:1", f"{U1}:1", {(U1, ""): ((1, 1),)}),  # 32 hex digits
        # tagged GTIDs (MySQL 8.4): untagged intervals first, then each tag in order, tags lower-cased
        (f"{U1}:mytag:1-2", f"{U1}:mytag:1-2", {(U1, "mytag"): ((1, 2),)}),
        (f"{U1}:1-13:mytag:1-2", f"{U1}:1-13:mytag:1-2", {(U1, ""): ((1, 13),), (U1, "mytag"): ((1, 2),)}),
        (
            f"{U1}:zz:4,{U1}:MyTag:1:2,{U1}:1-3",
            f"{U1}:1-3:mytag:1-2:zz:4",
            {(U1, ""): ((1, 3),), (U1, "mytag"): ((1, 2),), (U1, "zz"): ((4, 4),)},
        ),
        (f"{U1}:_t9:5:a:1", f"{U1}:_t9:5:a:1", {(U1, "_t9"): ((5, 5),), (U1, "a"): ((1, 1),)}),
        (f"{U1}:{'t' * 32}:1", f"{U1}:{'t' * 32}:1", {(U1, "t" * 32): ((1, 1),)}),
        (f"{U1}:{(1 << 63) - 2}", f"{U1}:{(1 << 63) - 2}", {(U1, ""): (((1 << 63) - 2, (1 << 63) - 2),)}),
    ],
)
def test_mysql_text(text, canonical, as_dict):
    parsed = MysqlGtidSet.parse(text)
    assert parsed.as_dict() == as_dict
    assert str(parsed) == canonical
    assert MysqlGtidSet.parse(str(parsed)) == parsed  # the printed text reads back to the same set
    assert bool(parsed) == bool(as_dict)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("nope:1-5", "not a server uuid"),
        ("0-1-5:1", "not a server uuid"),
        (U1, "has no interval"),
        (f"{U1}:", "neither an interval nor a tag"),
        (f"{U1}:1-5,{U2}", "has no interval"),
        (f"{U1}:5-3", "bad interval"),
        (f"{U1}:0-3", "bad interval"),
        (f"{U1}:0", "bad interval"),
        (f"{U1}:{1 << 63}", "bad interval"),
        (f"{U1}:x-3", "neither an interval nor a tag"),
        (f"{U1}:1-", "neither an interval nor a tag"),
        (f"{U1}:-1", "neither an interval nor a tag"),
        (f"{U1}:1--2", "neither an interval nor a tag"),
        (f"{U1}:tag", "tag 'tag' has no interval"),
        (f"{U1}:a:b:1", "tag 'a' has no interval"),
        (f"{U1}:1:a", "tag 'a' has no interval"),
        (f"{U1}:9tag:1", "neither an interval nor a tag"),
        (f"{U1}:my-tag:1", "neither an interval nor a tag"),
        (f"{U1}:{'t' * 33}:1", "neither an interval nor a tag"),
    ],
)
def test_mysql_text_refused(text, match):
    with pytest.raises(InvalidGtidSet, match=match):
        MysqlGtidSet.parse(text)


def test_invalid_gtid_set_is_a_config_and_a_local_protocol_error():
    # the text may come from configuration or from an API call about to send it to MySQL
    with pytest.raises(ConfigError):
        parse_gtid_set("garbage:1")
    with pytest.raises(LocalProtocolError):
        parse_gtid_set("0-1-x")


def test_of_merges_and_sorts():
    s = MysqlGtidSet.of({(U2, ""): [(5, 9), (1, 4)], (U1, "b"): [(3, 3)], (U1, ""): [(2, 2), (1, 1)], (U2, "x"): []})
    assert s.intervals == (((U2, ""), ((1, 9),)), ((U1, ""), ((1, 2),)), ((U1, "b"), ((3, 3),)))  # U2 sorts first
    assert s.tagged and not MysqlGtidSet.parse(f"{U1}:1").tagged
    assert s.last_numbers() == {(U1, ""): 2, (U1, "b"): 3, (U2, ""): 9}


# -- MySQL binary ------------------------------------------------------------------------------------------


def test_encode_classic_layout():
    got = MysqlGtidSet.parse(f"{U1}:1-5:7,{U2}:1-3").encode()
    expected = (
        struct.pack("<Q", 2)
        + bytes(15) + b"\x01" + struct.pack("<QQQ", 1, 1, 4)  # U2 sorts first; ends are exclusive
        + bytes.fromhex(U1.replace("-", "")) + struct.pack("<QQQQQ", 2, 1, 6, 7, 8)
    )  # fmt: skip
    assert got == expected
    assert MysqlGtidSet.parse("").encode() == bytes(8)


def test_encode_tagged_layout():
    got = MysqlGtidSet.parse(f"{U2}:1-3:mytag:7").encode()
    expected = (
        b"\x01" + (2).to_bytes(6, "little") + b"\x01"  # format 1, count, format 1
        + bytes(15) + b"\x01" + b"\x00" + struct.pack("<QQQ", 1, 1, 4)  # untagged: an empty tag
        + bytes(15) + b"\x01" + bytes((5 << 1,)) + b"mytag" + struct.pack("<QQQ", 1, 7, 8)
    )  # fmt: skip
    assert got == expected


@pytest.mark.parametrize(
    "text", ["", f"{U1}:1-5:7", f"{U1}:1-5,{U2}:1-3:9", f"{U1}:t:1", f"{U1}:1-13:mytag:1-2,{U2}:a:1:b:2-9"]
)
def test_decode_reads_back_encode(text):
    s = MysqlGtidSet.parse(text)
    data = s.encode()
    assert MysqlGtidSet.decode(data) == (s, len(data))
    assert MysqlGtidSet.decode(b"xx" + data + b"crc!", 2) == (s, 2 + len(data))


@pytest.mark.parametrize("cut", [1, 8, 9, 20, 30, 40])
def test_decode_truncated(cut):
    data = MysqlGtidSet.parse(f"{U1}:1-13:mytag:1-2").encode()
    with pytest.raises((IndexError, struct.error)):
        MysqlGtidSet.decode(data[: len(data) - cut])


@pytest.mark.skipif(not os.path.isdir(FIXTURES), reason=f"no fixtures at {FIXTURES}")
@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("binlog_transaction_with_GTID_TAG.000001", "55778904-0299-11f1-b1b8-4ef0c4956feb:1-13:mytag:1-2"),
        ("binlog_transaction_previous_GTID_no_tag.000001", "b9b88c66-0755-11f1-9899-4a9da94c4d71:1-2"),
    ],
)
def test_codec_against_mysql_84_previous_gtids(name, text):
    """MySQL 8.4 wrote these PREVIOUS_GTIDS bodies; the encoder must produce the very same bytes."""
    with open(os.path.join(FIXTURES, "rust_mysql_common", name), "rb") as f:
        data = f.read()
    pos = 4
    while data[pos + 4] != C.PREVIOUS_GTIDS:
        pos += int.from_bytes(data[pos + 9 : pos + 13], "little")
    size = int.from_bytes(data[pos + 9 : pos + 13], "little")
    body = data[pos + C.HEADER_LEN : pos + size - 4]  # without the CRC32
    decoded, end = MysqlGtidSet.decode(body)
    assert (str(decoded), end) == (text, len(body))
    assert MysqlGtidSet.parse(text).encode() == body


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (5, b"\x0a"),
        (127, b"\xfe"),
        (128, (128 << 2 | 1).to_bytes(2, "little")),
        ((1 << 14) - 1, ((1 << 14) - 1 << 2 | 1).to_bytes(2, "little")),
        (1 << 14, (1 << 14 << 3 | 3).to_bytes(3, "little")),
        ((1 << 56) - 1, ((1 << 56) - 1 << 8 | 0x7F).to_bytes(8, "little")),
        (1 << 56, b"\xff" + (1 << 56).to_bytes(8, "little")),
        ((1 << 64) - 1, b"\xff" * 9),
    ],
)
def test_varlen(value, encoded):
    assert varlen_encode(value) == encoded
    assert varlen_decode(b"?" + encoded + b"!", 1) == (value, 1 + len(encoded))


# -- MariaDB -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("0-1-100", "0-1-100"),
        (" 0-1-100, 1-2-5 ", "0-1-100,1-2-5"),
        ("1-2-5,0-1-100,", "0-1-100,1-2-5"),  # one per domain, in domain order
        (f"{(1 << 32) - 1}-{(1 << 32) - 1}-{(1 << 64) - 1}", f"{(1 << 32) - 1}-{(1 << 32) - 1}-{(1 << 64) - 1}"),
    ],
)
def test_maria_text(text, canonical):
    state = MariaGtidState.parse(text)
    assert str(state) == canonical
    assert MariaGtidState.parse(canonical) == state


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("0-1", "not domain-server-seq"),
        ("0-1-2-3", "not domain-server-seq"),
        ("0-1-x", "not domain-server-seq"),
        ("0-1-1'; drop table x; --", "not domain-server-seq"),
        (f"{U1}:1", "not domain-server-seq"),
        ("0-1-5,0-2-6", "domain 0 appears twice"),
        (f"{1 << 32}-1-1", "out of range"),
        (f"0-1-{1 << 64}", "out of range"),
    ],
)
def test_maria_text_refused(text, match):
    with pytest.raises(InvalidGtidSet, match=match):
        MariaGtidState.parse(text)


@pytest.mark.parametrize(
    ("text", "maria"),
    [("0-1-5", True), (" 0-1-5,1-1-7", True), (f"{U1}:1-5", False), ("", False), ("  ", False), ("0-1", False)],
)
def test_form_detection(text, maria):
    assert is_maria_gtid_set(text) is maria
    if text.strip() and text != "0-1":
        assert isinstance(parse_gtid_set(text), MariaGtidState if maria else MysqlGtidSet)


# -- the executed set of a stream --------------------------------------------------------------------------


def _h(type_code: int, server_id: int = 1) -> EventHeader:
    return EventHeader(1_700_000_000, type_code, server_id, 40, 1000, 0)


def mysql_gtid(gno: int, sid: str = U1, tag: str = "", anonymous: bool = False) -> GtidEvent:
    t = C.GTID_TAGGED if tag else C.ANONYMOUS_GTID if anonymous else C.GTID
    return GtidEvent(_h(t), "f", anonymous, 1, sid, gno, tag)


def maria_gtid(domain: int, server: int, seq: int) -> MariaGtidEvent:
    return MariaGtidEvent(_h(C.MARIA_GTID, server), "f", domain, seq, 0)


@pytest.mark.parametrize(
    ("start", "events", "text", "current"),
    [
        ("", [mysql_gtid(1), mysql_gtid(2), mysql_gtid(3)], f"{U1}:1-3", f"{U1}:3"),
        (f"{U1}:1-5", [mysql_gtid(6), mysql_gtid(8)], f"{U1}:1-6:8", f"{U1}:8"),
        (f"{U1}:1-5:7", [mysql_gtid(6)], f"{U1}:1-7", f"{U1}:6"),  # fills the hole
        (f"{U1}:1-5", [mysql_gtid(3)], f"{U1}:1-5", f"{U1}:3"),  # already in the set
        (f"{U1}:1-5", [mysql_gtid(1, U2), mysql_gtid(6)], f"{U2}:1,{U1}:1-6", f"{U1}:6"),
        (
            f"{U1}:1-13",
            [mysql_gtid(1, tag="MyTag"), mysql_gtid(2, tag="mytag")],
            f"{U1}:1-13:mytag:1-2",
            f"{U1}:mytag:2",
        ),
        (f"{U1}:1-3", [mysql_gtid(0, anonymous=True)], f"{U1}:1-3", ""),  # anonymous: no GTID, nothing added
        ("0-1-5", [maria_gtid(0, 1, 6), maria_gtid(1, 2, 1)], "0-1-6,1-2-1", "1-2-1"),
        ("1-1-9", [maria_gtid(0, 3, 4)], "0-3-4,1-1-9", "0-3-4"),
        ("", [maria_gtid(0, 1, 7)], "0-1-7", "0-1-7"),
    ],
)
def test_tracker(start, events, text, current):
    tracker = GtidTracker(start)
    for ev in events:
        tracker.add(ev)
    assert str(tracker) == text
    assert tracker.current == current
    assert str(parse_gtid_set(text)) == text  # the tracker prints what the parser reads


def test_tracker_refuses_a_bad_start():
    with pytest.raises(InvalidGtidSet):
        GtidTracker("0-1")
