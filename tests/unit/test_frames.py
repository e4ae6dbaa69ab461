"""canal's framing, server packets and password scramble, byte for byte (canal-spec.md 1.1, 1.5-1.7)."""

from __future__ import annotations

import pytest

from pycanal.errors import LocalProtocolError, RemoteProtocolError
from pycanal.protocol import packet as pb
from pycanal.protocol.frames import (
    FrameDecoder,
    ack_packet,
    auth_failed_message,
    authenticate,
    check_password,
    empty_messages_packet,
    error_packet,
    frame,
    handshake_packet,
    messages_packet,
    packet_type_name,
    parse_body,
    parse_packet,
    password_hash,
    proto_text,
    raw_messages_packet,
    scramble,
    unsupported_message,
)
from pycanal.server.tcp import _JavaError, java_short

SEED = bytes(range(1, 9))

# ------------------------------------------------------------------------------------------------ framing


def _decode_all(decoder: FrameDecoder, data: bytes, chunk: int) -> list[bytes]:
    out = []
    for i in range(0, len(data), chunk):
        decoder.feed(data[i : i + chunk])
        while (body := decoder.next_frame()) is not None:
            out.append(body)
    return out


STREAM = frame(b"\x10\x01\x18\x03") + frame(b"") + frame(b"x" * 300)
FRAMES = [b"\x10\x01\x18\x03", b"", b"x" * 300]


@pytest.mark.parametrize("chunk", [len(STREAM), 1, 3], ids=["whole", "byte-by-byte", "3-byte-chunks"])
def test_decoder_splits_frames_however_the_bytes_arrive(chunk):
    d = FrameDecoder()
    assert _decode_all(d, STREAM, chunk) == FRAMES
    assert d.buffered == 0
    d.eof()  # between frames: a clean close


def test_decoder_keeps_trailing_bytes_for_the_next_frame():
    d = FrameDecoder()
    d.feed(STREAM + b"\x00\x00\x00\x05ab")
    assert [d.next_frame() for _ in range(3)] == FRAMES
    assert d.next_frame() is None and d.buffered == 4 + 2
    d.feed(b"cde")
    assert d.next_frame() == b"abcde"
    assert d.next_frame() is None


def test_frame_header_is_big_endian_length():
    assert frame(ack_packet()).hex() == "0000000410011803"
    assert frame(b"\xaa" * 258)[:4] == b"\x00\x00\x01\x02"


def test_two_gigabyte_length_is_refused_before_any_body():
    d = FrameDecoder(max_frame=16 * 1024 * 1024)
    d.feed(b"\x7f\xff\xff\xff")  # 2 GiB - 1, nothing else sent
    with pytest.raises(RemoteProtocolError, match="frame length 2147483647 exceeds the maximum of 16777216"):
        d.next_frame()
    with pytest.raises(RemoteProtocolError, match="2147483647"):  # the stream cannot be split any more
        d.feed(b"more")


def test_negative_length_is_refused():
    d = FrameDecoder()
    d.feed(b"\xff\xff\xff\xfe\x00")
    with pytest.raises(RemoteProtocolError, match="negative frame length -2"):
        d.next_frame()


def test_max_frame_boundary():
    d = FrameDecoder(max_frame=10)
    d.feed(frame(b"0123456789"))
    assert d.next_frame() == b"0123456789"
    d.feed(frame(b"0123456789A"))
    with pytest.raises(RemoteProtocolError, match="frame length 11 exceeds the maximum of 10 bytes"):
        d.next_frame()
    with pytest.raises(LocalProtocolError):
        FrameDecoder(max_frame=-1)


def test_truncated_frame_is_reported_at_eof():
    d = FrameDecoder()
    d.feed(b"\x00\x00\x00\x0aabc")
    assert d.next_frame() is None and d.buffered == 7
    with pytest.raises(RemoteProtocolError, match="in the middle of a frame: 3 of 10 body bytes"):
        d.eof()
    h = FrameDecoder()
    h.feed(b"\x00\x00")
    assert h.next_frame() is None
    with pytest.raises(RemoteProtocolError, match="frame header: 2 of 4 bytes"):
        h.eof()


# ---------------------------------------------------------------------------------------- golden packets (1.6, 1.7)


def test_handshake_packet_golden():
    assert handshake_packet(SEED).hex() == "100118012a0a12080102030405060708"
    assert frame(handshake_packet(SEED)).hex() == "00000010100118012a0a12080102030405060708"
    with pytest.raises(LocalProtocolError):
        handshake_packet(b"short")


def test_ack_packets_golden():
    assert ack_packet().hex() == "10011803"
    pkt = error_packet(400, "auth failed for user:x")
    body = "0890031216" + b"auth failed for user:x".hex()
    assert pkt.hex() == "100118032a1b" + body
    ack = pb.Ack.FromString(parse_packet(pkt).body)
    assert (ack.error_code, ack.error_message) == (400, "auth failed for user:x")
    assert pb.Ack.FromString(parse_packet(error_packet(401, "m")).body).error_code == 401
    assert pb.Ack.FromString(parse_packet(error_packet(402, "m")).body).error_code == 402


def test_empty_messages_golden():
    assert empty_messages_packet().hex() == "100118072a0b08ffffffffffffffffff01"
    assert messages_packet(-1, ()) == empty_messages_packet()


def test_raw_messages_are_hand_written_without_version():
    # field 3 = MESSAGES, field 5 = body {field 1 batch id, field 2 per entry}; no field 2 (version)
    assert raw_messages_packet(5, [b"ab", b""]).hex() == "18072a080805120261621200"
    entries = [b"\x0a\x00" * 100, b"z"]
    pkt = raw_messages_packet(300, entries)
    assert pkt.hex().startswith("18072ad10108ac0212c801")
    expected = pb.Packet(type=pb.MESSAGES, body=pb.Messages(batch_id=300, messages=entries).SerializeToString())
    assert pkt == expected.SerializeToString()
    back = parse_packet(pkt)
    assert not back.HasField("version") and list(pb.Messages.FromString(back.body).messages) == entries


def test_non_raw_messages_carry_version():
    pkt = messages_packet(7, [b"e"])
    assert pkt.hex() == "100118072a050807120165"


@pytest.mark.parametrize(
    ("cls", "golden", "fields"),
    [
        (
            pb.Get,
            "0a076578616d706c6512043130303118e80720ffffffffffffffffff0128023000",
            {
                "destination": "example",
                "client_id": "1001",
                "fetch_size": 1000,
                "timeout": -1,
                "unit": 2,
                "auto_ack": False,
            },
        ),
        (
            pb.Sub,
            "0a076578616d706c651204313030313a062e2a5c2e2e2a",
            {"destination": "example", "client_id": "1001", "filter": ".*\\..*"},
        ),
        (
            pb.ClientAck,
            "0a076578616d706c651204313030311807",
            {"destination": "example", "client_id": "1001", "batch_id": 7},
        ),
        (pb.Messages, "08ffffffffffffffffff01", {"batch_id": -1}),
        (pb.Handshake, "12080102030405060708", {"seeds": SEED}),
    ],
    ids=["get", "sub", "clientack", "messages", "handshake"],
)
def test_client_bodies_golden(cls, golden, fields):
    msg = parse_body(cls, bytes.fromhex(golden))
    assert {k: getattr(msg, k) for k in fields} == fields
    assert cls(**fields).SerializeToString().hex() == golden


def test_broken_protobuf_is_a_remote_error():
    with pytest.raises(RemoteProtocolError, match="cannot parse Packet"):
        parse_packet(b"GET / HTTP/1.1")


def test_error_texts():
    assert auth_failed_message("bob") == "auth failed for user:bob"
    assert unsupported_message(pb.SHUTDOWN) == "packet type: SHUTDOWN is NOT supported!"
    assert unsupported_message(99) == "packet type: UNRECOGNIZED is NOT supported!"
    assert packet_type_name(pb.HEARTBEAT) == "HEARTBEAT"
    assert proto_text(pb.Sub(destination="example")) == 'destination: "example"\n'


# ------------------------------------------------------------------------------------------------ scramble (1.5)


def test_scramble_vector():
    assert scramble("123456", SEED) == "90e636eb4878fb59e80b3ee6412a784df5aae30d"
    assert scramble(b"123456", SEED) == "90e636eb4878fb59e80b3ee6412a784df5aae30d"
    assert scramble(None, SEED) == ""


def test_password_hash_is_canal_passwd():
    assert password_hash("123456") == "6BB4837EB74329105EE4568DDA7DC67ED2CA2AD9"
    assert password_hash("canal") == "E3619321C1A937C46A0D8BD1DAC39F93B27D4458"


def test_check_password():
    stored = "6BB4837EB74329105EE4568DDA7DC67ED2CA2AD9"
    token = "90e636eb4878fb59e80b3ee6412a784df5aae30d"
    assert check_password(stored, SEED, token)
    assert check_password(stored.lower(), SEED, token.upper().encode())  # hex is case-insensitive
    assert not check_password(stored, bytes(8), token)  # another seed
    assert not check_password(stored, SEED, scramble("1234567", SEED))
    assert not check_password(stored, SEED, token[:-2])  # short
    assert not check_password(stored, SEED, "zz" * 20)  # not hex
    assert not check_password(stored, SEED, b"\xff" * 40)  # not text
    assert not check_password("not hex", SEED, token)


def test_authenticate_policy():
    stored = password_hash("secret")
    good = scramble("secret", SEED)
    assert authenticate(None, None, "anyone", "", SEED)  # nothing configured: everybody
    assert authenticate("canal", None, "canal", "whatever", SEED)
    assert not authenticate("canal", None, "other", "", SEED)  # another user name
    assert authenticate("canal", stored, "canal", good, SEED)
    assert authenticate(None, stored, "anyone", good, SEED)  # no user: only the password counts
    assert not authenticate("canal", stored, "canal", "", SEED)  # empty password with a configured one
    assert not authenticate("canal", stored, "canal", scramble("wrong", SEED), SEED)
    assert not authenticate("canal", stored, "bob", good, SEED)


# ------------------------------------------------------------------------------------------------ client id


@pytest.mark.parametrize(("text", "value"), [("1001", 1001), ("-32768", -32768), ("+7", 7), ("32767", 32767)])
def test_java_short_accepts(text, value):
    assert java_short(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", 'For input string: "abc"'),
        ("1 ", 'For input string: "1 "'),
        ("1_0", 'For input string: "1_0"'),
        ("+", 'For input string: "+"'),
        ("32768", 'Value out of range. Value:"32768" Radix:10'),
        ("99999999999", 'For input string: "99999999999"'),
    ],
)
def test_java_short_refuses(text, message):
    with pytest.raises(_JavaError) as info:
        java_short(text)
    assert info.value.message == message and info.value.java_class == "java.lang.NumberFormatException"
