"""Pure tests of pycanal.mysql.packet and pycanal.mysql.auth: no sockets, no servers."""

from __future__ import annotations

import hashlib
import struct

import nacl.signing
import pymysql._auth as pymysql_auth
import pytest

from pycanal.errors import (
    AccessDeniedError,
    BinlogError,
    BinlogPurgedError,
    DuplicateServerIdError,
    LocalProtocolError,
    MySQLServerError,
    PrivilegeError,
    RemoteProtocolError,
)
from pycanal.mysql import constants as C
from pycanal.mysql.auth import (
    AuthExchange,
    ed25519_public_key,
    rsa_encrypt_password,
    scramble_caching_sha2,
    scramble_native,
    sign_ed25519,
)
from pycanal.mysql.packet import (
    PacketFramer,
    PacketReader,
    TextResult,
    binlog_event_from_payload,
    build_handshake_response,
    check_mariadb_gtid_state,
    com_binlog_dump,
    com_binlog_dump_gtid,
    com_query,
    com_register_slave,
    encode_gtid_set,
    encode_text_row,
    lenenc_bytes,
    lenenc_int,
    parse_auth_switch,
    parse_eof,
    parse_err,
    parse_handshake,
    parse_ok,
    plugin_scramble,
)


def wire(payload: bytes, seq: int = 0) -> bytes:
    """Independent framing of a short payload (< 16 MiB)."""
    return struct.pack("<I", len(payload) | (seq << 24)) + payload


def tr(data: bytes, *, after: int = 0) -> list[list[bytes]]:
    """Feed ``data`` whole, byte by byte, and followed by a trailing partial packet (h11's tr()).

    Returns the packets each way produced; they must all agree.
    """
    results = []
    for mode in ("whole", "bytewise", "trailing"):
        framer = PacketFramer(buffer_size=1)  # smallest buffer: exercises compaction and growth
        for _ in range(after):
            framer.frame(b"")  # advance the shared sequence as a sent command would
        got: list[bytes] = []
        chunks = [data] if mode != "bytewise" else [data[i : i + 1] for i in range(len(data))]
        if mode == "trailing":
            chunks = [data + b"\x05\x00\x00"]  # start of a next header only
        for chunk in chunks:
            framer.feed(chunk)
            while (pkt := framer.next_packet()) is not None:
                got.append(pkt)
        assert framer.buffered == (3 if mode == "trailing" else 0)
        results.append(got)
    assert results[0] == results[1] == results[2]
    return results


# --------------------------------------------------------------------------------------------------
# framing


def test_frame_small_payload_exact_bytes() -> None:
    framer = PacketFramer()
    assert framer.frame(b"\x03select 1") == b"\x09\x00\x00\x00\x03select 1"
    assert framer.sequence == 1
    assert framer.frame(b"") == b"\x00\x00\x00\x01"
    framer.reset_sequence()
    assert framer.sequence == 0


def test_read_packets_whole_bytewise_and_trailing() -> None:
    payloads = [b"\x00\x01\x02", b"", b"x" * 300, b"\xff" * 70000]
    data = b"".join(wire(p, i) for i, p in enumerate(payloads))
    assert tr(data)[0] == payloads


def test_sequence_wraps_after_255() -> None:
    data = b"".join(wire(bytes([i & 0xFF]), i & 0xFF) for i in range(300))
    framer = PacketFramer()
    framer.feed(data)
    got = [framer.next_packet() for _ in range(300)]
    assert got == [bytes([i & 0xFF]) for i in range(300)]
    assert framer.sequence == 300 & 0xFF


def test_out_of_order_sequence_is_a_remote_error() -> None:
    framer = PacketFramer()
    framer.feed(wire(b"abc", seq=2))
    with pytest.raises(RemoteProtocolError, match="sequence id 2, expected 0"):
        framer.next_packet()


@pytest.mark.parametrize("size", [C.MAX_PAYLOAD, C.MAX_PAYLOAD + 10, 2 * C.MAX_PAYLOAD])
def test_multi_packet_payload_round_trip(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    assert len(payload) == size
    sent = PacketFramer().frame(payload)
    # independent check of the split: full chunks of 0xFFFFFF, then a short (maybe empty) one
    n_full = size // C.MAX_PAYLOAD
    assert len(sent) == size + 4 * (n_full + 1)
    for i in range(n_full):
        off = i * (C.MAX_PAYLOAD + 4)
        assert sent[off : off + 4] == b"\xff\xff\xff" + bytes([i])
    last = n_full * (C.MAX_PAYLOAD + 4)
    assert sent[last : last + 4] == struct.pack("<I", (size % C.MAX_PAYLOAD) | (n_full << 24))
    framer = PacketFramer(buffer_size=4096)
    step = 1 << 20
    got = None
    for pos in range(0, len(sent), step):
        framer.feed(sent[pos : pos + step])
        pkt = framer.next_packet()
        if pkt is not None:
            assert got is None
            got = pkt
    assert got == payload
    assert framer.sequence == (n_full + 1) & 0xFF
    assert framer.buffered == 0


def test_writable_commit_is_recv_into_shaped() -> None:
    framer = PacketFramer(buffer_size=1)
    data = wire(b"a" * 200_000) + wire(b"b", 1)
    pos = 0
    got = []
    while len(got) < 2:
        view = framer.writable()
        n = min(len(view), 7000, len(data) - pos)
        view[:n] = data[pos : pos + n]
        del view
        framer.commit(n)
        pos += n
        while (pkt := framer.next_packet()) is not None:
            got.append(pkt)
    assert got == [b"a" * 200_000, b"b"]
    with pytest.raises(LocalProtocolError):
        framer.commit(10**9)


def test_next_event_fast_and_slow_paths() -> None:
    event = bytes(19) + b"body"
    framer = PacketFramer()
    framer.feed(wire(b"\x00" + event, 1) + wire(b"\xfe\x00\x00\x02\x00", 2))
    with pytest.raises(RemoteProtocolError, match="expected 0"):
        framer.next_event()
    framer = PacketFramer()
    framer.feed(wire(b"\x00" + event, 0)[:10])
    assert framer.next_event() is None
    framer.feed(wire(b"\x00" + event, 0)[10:] + wire(b"\xfe\x00\x00\x02\x00", 1))
    assert framer.next_event() == event
    assert framer.next_event() == b""  # EOF of a non-blocking dump
    err = b"\xff\xd4\x04#HY000Could not find first log file name in binary log index file"
    framer.feed(wire(err, 2))
    with pytest.raises(BinlogPurgedError) as info:
        framer.next_event()
    assert info.value.errno == 1236
    assert info.value.message == "Could not find first log file name in binary log index file"


def test_next_event_spanning_packets() -> None:
    event = bytes(19) + b"e" * C.MAX_PAYLOAD  # with the 0x00 marker: one full packet and a 20-byte one
    sent = PacketFramer().frame(b"\x00" + event) + wire(b"\xfe\x00\x00\x02\x00", 2)
    framer = PacketFramer(buffer_size=4096)
    got = []
    for pos in range(0, len(sent), 1 << 20):
        framer.feed(sent[pos : pos + (1 << 20)])
        while (ev := framer.next_event()) is not None:
            got.append(ev)
    assert got == [event, b""]


def test_binlog_payload_rejects_garbage() -> None:
    with pytest.raises(RemoteProtocolError, match="unexpected packet 0x05"):
        binlog_event_from_payload(b"\x05" + bytes(30))
    with pytest.raises(RemoteProtocolError, match="shorter than a header"):
        binlog_event_from_payload(b"\x00abc")
    with pytest.raises(RemoteProtocolError):
        binlog_event_from_payload(b"")


# --------------------------------------------------------------------------------------------------
# read cursor and length-encoded values


LENENC_CASES = [
    (0, b"\x00"),
    (250, b"\xfa"),
    (251, b"\xfc\xfb\x00"),
    (0xFFFF, b"\xfc\xff\xff"),
    (0x10000, b"\xfd\x00\x00\x01"),
    (0xFFFFFF, b"\xfd\xff\xff\xff"),
    (0x1000000, b"\xfe\x00\x00\x00\x01\x00\x00\x00\x00"),
    (2**64 - 1, b"\xfe" + b"\xff" * 8),
]


@pytest.mark.parametrize(("value", "encoded"), LENENC_CASES)
def test_lenenc_int_round_trip(value: int, encoded: bytes) -> None:
    assert lenenc_int(value) == encoded
    rd = PacketReader(encoded + b"tail")
    assert rd.read_lenenc_int() == value
    assert rd.read_rest() == b"tail"


def test_lenenc_edge_cases() -> None:
    assert PacketReader(b"\xfb").read_lenenc_int() is None
    assert PacketReader(b"\xfb").read_lenenc_bytes() is None
    with pytest.raises(RemoteProtocolError, match="0xFF"):
        PacketReader(b"\xff").read_lenenc_int()
    with pytest.raises(RemoteProtocolError, match="truncated"):
        PacketReader(b"\xfd\x01\x00").read_lenenc_int()
    with pytest.raises(RemoteProtocolError, match="truncated"):
        PacketReader(b"\x05abc").read_lenenc_bytes()
    with pytest.raises(LocalProtocolError):
        lenenc_int(-1)
    with pytest.raises(LocalProtocolError):
        lenenc_int(2**64)
    assert lenenc_bytes(b"x" * 300) == b"\xfc\x2c\x01" + b"x" * 300


def test_reader_fixed_widths_and_strings() -> None:
    data = bytes(range(1, 30)) + b"abc\0rest"
    rd = PacketReader(data)
    assert rd.read_u8() == 0x01
    assert rd.read_u16() == 0x0302
    assert rd.read_u24() == 0x060504
    assert rd.read_u32() == 0x0A090807
    assert rd.read_u48() == 0x100F0E0D0C0B
    assert rd.read_u64() == 0x1817161514131211
    assert rd.read_uint(5) == 0x1D1C1B1A19
    assert rd.read_nul_bytes() == b"abc"
    with pytest.raises(RemoteProtocolError, match="unterminated"):
        rd.read_nul_bytes()
    assert rd.read_nul_bytes(allow_eof=True) == b"rest"
    assert rd.at_end()
    with pytest.raises(RemoteProtocolError):
        rd.read_u8()


# --------------------------------------------------------------------------------------------------
# ERR / OK / EOF


def err_packet(errno: int, message: str, sqlstate: str | None = "HY000") -> bytes:
    marker = b"#" + sqlstate.encode() if sqlstate is not None else b""
    return b"\xff" + struct.pack("<H", errno) + marker + message.encode()


@pytest.mark.parametrize(
    ("errno", "message", "cls"),
    [
        (1045, "Access denied for user 'x'@'localhost' (using password: YES)", AccessDeniedError),
        (1227, "Access denied; you need (at least one of) the REPLICATION SLAVE privilege(s)", PrivilegeError),
        (1236, "Could not find first log file name in binary log index file", BinlogPurgedError),
        (
            1236,
            "A slave with the same server_uuid/server_id as this slave has connected to the master",
            DuplicateServerIdError,
        ),
        (1236, "binlog truncated in the middle of event", BinlogError),
        (1146, "Table 'd.nope' doesn't exist", MySQLServerError),
    ],
)
def test_parse_err_gives_typed_class(errno: int, message: str, cls: type[MySQLServerError]) -> None:
    err = parse_err(err_packet(errno, message, "42S02"))
    assert type(err) is cls
    assert (err.errno, err.sqlstate, err.message) == (errno, "42S02", message)


def test_parse_err_without_sqlstate_marker() -> None:
    err = parse_err(err_packet(1040, "Too many connections", None))
    assert (err.errno, err.sqlstate, err.message) == (1040, "HY000", "Too many connections")
    with pytest.raises(RemoteProtocolError):
        parse_err(b"\x00\x00")


def test_parse_ok_and_eof() -> None:
    ok = parse_ok(b"\x00\xfc\x00\x01\x05\x02\x00\x01\x00info")
    assert (ok.affected_rows, ok.last_insert_id, ok.status, ok.warnings, ok.info) == (256, 5, 2, 1, "info")
    with pytest.raises(AccessDeniedError):
        parse_ok(err_packet(1045, "denied"))
    with pytest.raises(RemoteProtocolError):
        parse_ok(b"\x03abc")
    eof = parse_eof(b"\xfe\x01\x00\x08\x00")
    assert (eof.warnings, eof.status) == (1, C.SERVER_MORE_RESULTS_EXISTS)
    with pytest.raises(RemoteProtocolError):
        parse_eof(b"\xfe" + bytes(9))


# --------------------------------------------------------------------------------------------------
# handshake

# Captured from Debian's MariaDB 10.11.19 (the sandbox) with a raw socket, framing header removed.
MARIADB_HANDSHAKE = bytes.fromhex(
    "0a352e352e352d31302e31312e31392d4d6172696144422d302b646562313275312d6c6f6700070000002d502b236d"
    "7d4d4700fef72d0200ff81150000000000001d0000005a70464c2d3975667c604b38006d7973716c5f6e61746976"
    "655f70617373776f726400"
)


def test_parse_real_mariadb_handshake() -> None:
    hs = parse_handshake(MARIADB_HANDSHAKE)
    assert hs.protocol_version == 10
    assert hs.server_version == "10.11.19-MariaDB-0+deb12u1-log"
    assert hs.is_mariadb
    assert hs.connection_id == 7
    assert hs.scramble == b"-P+#m}MG" + b"ZpFL-9uf|`K8"
    assert len(hs.scramble) == 20
    assert hs.charset == 45
    assert hs.status == C.SERVER_STATUS_AUTOCOMMIT
    assert hs.capabilities & C.CLIENT_PROTOCOL_41
    assert hs.capabilities & C.CLIENT_PLUGIN_AUTH
    assert not hs.capabilities & C.CLIENT_LONG_PASSWORD  # MariaDB's CLIENT_MYSQL bit
    assert hs.mariadb_capabilities == 0x1D
    assert hs.auth_plugin == "mysql_native_password"


def test_handshake_errors() -> None:
    with pytest.raises(MySQLServerError, match="Too many connections"):
        parse_handshake(err_packet(1040, "Too many connections", None))
    with pytest.raises(RemoteProtocolError, match="protocol version 9"):
        parse_handshake(b"\x09" + MARIADB_HANDSHAKE[1:])
    with pytest.raises(RemoteProtocolError, match="truncated"):
        parse_handshake(MARIADB_HANDSHAKE[:40])


def test_build_handshake_response_layout() -> None:
    caps = C.DEFAULT_CLIENT_FLAGS
    auth = bytes(range(20))
    out = build_handshake_response(
        capabilities=caps,
        charset=45,
        user="canal",
        auth_response=auth,
        auth_plugin="mysql_native_password",
        database="db1",
    )
    rd = PacketReader(out)
    assert rd.read_u32() == caps | C.CLIENT_CONNECT_WITH_DB
    assert rd.read_u32() == C.MAX_PAYLOAD
    assert rd.read_u8() == 45
    assert rd.read_bytes(23) == bytes(23)
    assert rd.read_nul_bytes() == b"canal"
    assert rd.read_lenenc_bytes() == auth
    assert rd.read_nul_bytes() == b"db1"
    assert rd.read_nul_bytes() == b"mysql_native_password"
    assert rd.at_end()
    old = build_handshake_response(
        capabilities=C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION,
        charset=33,
        user="u",
        auth_response=b"abc",
        auth_plugin="x",
    )
    assert old[32:] == b"u\x00\x03abc"
    with pytest.raises(LocalProtocolError):
        build_handshake_response(capabilities=0, charset=33, user="u", auth_response=b"", auth_plugin="x")


def test_parse_auth_switch() -> None:
    # the data is returned exactly as sent, terminator included: the plugin decides what it is
    assert parse_auth_switch(b"\xfeclient_ed25519\x00" + b"s" * 32) == ("client_ed25519", b"s" * 32)
    assert parse_auth_switch(b"\xfemysql_native_password\x00" + b"n" * 20 + b"\x00") == (
        "mysql_native_password",
        b"n" * 20 + b"\x00",
    )
    assert parse_auth_switch(b"\xfe") == ("mysql_old_password", b"")


# --------------------------------------------------------------------------------------------------
# auth data by length: scramble bytes are random, so 0x00 may end them (1 time in 256) or sit inside

ED_NONCES = [
    bytes(range(1, 32)) + b"\x00",  # ends in 0x00: the nonce that failed before (got 31 bytes)
    b"\x00" * 32,
    bytes(range(16)) + b"\x00" + bytes(range(100, 115)),  # 0x00 first and in the middle
    b"\x00\x00" + bytes(range(200, 229)) + b"\x00",
]
SHA_SCRAMBLES = [
    bytes(range(1, 20)) + b"\x00",  # the 20th byte is 0x00, before the NUL terminator
    b"ab\x00cd\x00" + bytes(range(40, 54)),
    b"\x00" * 20,
]


def handshake(auth: bytes, plugin: bytes, data_len: int) -> bytes:
    """A protocol-10 handshake carrying ``auth`` (parts 1 and 2, part 2 padded to 13 bytes)."""
    caps = C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION | C.CLIENT_PLUGIN_AUTH | C.CLIENT_SSL
    part2 = auth[8:].ljust(max(13, data_len - 8), b"\x00")
    return (
        b"\x0a" + b"10.11.19-MariaDB\x00" + struct.pack("<I", 7) + auth[:8] + b"\x00"
        + struct.pack("<HBHH", caps & 0xFFFF, 45, C.SERVER_STATUS_AUTOCOMMIT, caps >> 16)
        + bytes((data_len,)) + bytes(6) + bytes(4) + part2 + plugin + b"\x00"
    )  # fmt: skip


@pytest.mark.parametrize("scramble", SHA_SCRAMBLES)
@pytest.mark.parametrize("plugin", ["mysql_native_password", "caching_sha2_password"])
def test_handshake_scramble_by_length(plugin: str, scramble: bytes) -> None:
    hs = parse_handshake(handshake(scramble + b"\x00", plugin.encode(), 21))
    assert hs.auth_data == scramble + b"\x00"
    assert hs.scramble == scramble
    assert hs.auth_plugin == plugin
    assert hs.capabilities & C.CLIENT_SSL
    auth = AuthExchange("secret", plugin, hs.auth_data)
    expected = scramble_native if plugin == "mysql_native_password" else scramble_caching_sha2
    assert auth.scramble == scramble
    assert auth.initial_response() == expected(b"secret", scramble)
    # a server that counts only the 20 scramble bytes in auth_plugin_data_len: same scramble
    assert parse_handshake(handshake(scramble, plugin.encode(), 20)).scramble == scramble


@pytest.mark.parametrize("scramble", SHA_SCRAMBLES)
@pytest.mark.parametrize("plugin", ["mysql_native_password", "caching_sha2_password"])
@pytest.mark.parametrize("terminated", [True, False])
def test_switch_to_sha_plugins_keeps_zero_bytes(plugin: str, scramble: bytes, terminated: bool) -> None:
    packet = b"\xfe" + plugin.encode() + b"\x00" + scramble + (b"\x00" if terminated else b"")
    assert plugin_scramble(*parse_auth_switch(packet)) == scramble
    auth = AuthExchange("secret", "mysql_native_password", b"x" * 20 + b"\x00")
    expected = scramble_native if plugin == "mysql_native_password" else scramble_caching_sha2
    assert auth.receive(packet) == expected(b"secret", scramble)
    assert auth.plugin == plugin and auth.scramble == scramble


@pytest.mark.parametrize("nonce", ED_NONCES)
def test_switch_to_ed25519_keeps_zero_bytes(nonce: bytes) -> None:
    packet = b"\xfeclient_ed25519\x00" + nonce
    assert parse_auth_switch(packet) == ("client_ed25519", nonce)
    assert plugin_scramble("client_ed25519", nonce) == nonce
    auth = AuthExchange("s3cret-ed", "mysql_native_password", b"x" * 20)
    signature = auth.receive(packet)
    assert signature is not None and len(signature) == 64
    assert signature == sign_ed25519(b"s3cret-ed", nonce)
    nacl.signing.VerifyKey(ed25519_public_key(b"s3cret-ed")).verify(nonce, signature)  # signs all 32 bytes


@pytest.mark.parametrize(
    ("plugin", "data"),
    [
        ("client_ed25519", bytes(31)),  # what the old trimming produced from a nonce ending in 0x00
        ("client_ed25519", bytes(32) + b"\x01"),
        ("client_ed25519", bytes(34)),
        ("mysql_native_password", bytes(19)),
        ("mysql_native_password", bytes(20) + b"\x01"),
        ("caching_sha2_password", bytes(22)),
    ],
)
def test_scramble_of_wrong_length_is_a_remote_error(plugin: str, data: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match=rf"{plugin} expects a \d+-byte scramble"):
        plugin_scramble(plugin, data)
    with pytest.raises(RemoteProtocolError, match="scramble"):
        AuthExchange("pw", "mysql_native_password", b"x" * 20).receive(b"\xfe" + plugin.encode() + b"\x00" + data)


def test_unknown_plugin_data_is_kept_whole() -> None:
    assert plugin_scramble("dialog", b"Password: \x00") == b"Password: \x00"


# --------------------------------------------------------------------------------------------------
# commands


def test_command_payloads_exact_bytes() -> None:
    assert com_query("select 'é'") == b"\x03select '\xc3\xa9'"
    assert com_binlog_dump(7, "mysql-bin.000002", 1234, C.BINLOG_DUMP_NON_BLOCK) == (
        b"\x12" + struct.pack("<IHI", 1234, 1, 7) + b"mysql-bin.000002"
    )
    assert com_register_slave(9, host="h", user="canal", port=3306) == (
        b"\x15" + struct.pack("<I", 9) + b"\x01h" + b"\x05canal" + b"\x00" + struct.pack("<HII", 3306, 0, 0)
    )
    for bad in (0, 2**32):
        with pytest.raises(LocalProtocolError, match="server_id"):
            com_binlog_dump(bad, "f", 4)
    with pytest.raises(LocalProtocolError, match="32 bits"):
        com_binlog_dump(1, "f", 2**32)
    with pytest.raises(LocalProtocolError, match="255"):
        com_register_slave(1, host="h" * 256)


U1 = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
U2 = "00000000-0000-0000-0000-000000000001"


def test_gtid_set_binary_encoding() -> None:
    got = encode_gtid_set(f"{U1}:1-5:7,{U2}:1-3")
    expected = (
        struct.pack("<Q", 2)
        + bytes(15) + b"\x01" + struct.pack("<QQQ", 1, 1, 4)  # U2 sorts first; end is exclusive
        + bytes.fromhex(U1.replace("-", "")) + struct.pack("<QQQQQ", 2, 1, 6, 7, 8)
    )  # fmt: skip
    assert got == expected
    assert encode_gtid_set("") == bytes(8)
    packet = com_binlog_dump_gtid(5, f"{U2}:1-3", flags=C.BINLOG_DUMP_NON_BLOCK)
    data = encode_gtid_set(f"{U2}:1-3")
    assert packet == b"\x1e" + struct.pack("<HIIQI", 5, 5, 0, 4, len(data)) + data


def test_gtid_dump_of_a_tagged_set() -> None:
    # Tagged GTIDs (MySQL 8.4) used to be refused here; the set is now sent in MySQL's tagged layout.
    packet = com_binlog_dump_gtid(5, f"{U1}:1-3:mytag:7")
    data = encode_gtid_set(f"{U1}:1-3:mytag:7")
    assert data[:8] == b"\x01\x02\x00\x00\x00\x00\x00\x01"  # format 1, two (uuid, tag) entries, format 1
    assert packet.endswith(struct.pack("<I", len(data)) + data)


@pytest.mark.parametrize(("text", "match"), [("nope:1-5", "not a server uuid"), (U1, "no interval")])
def test_gtid_set_bad_input(text: str, match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):  # InvalidGtidSet, a LocalProtocolError
        encode_gtid_set(text)


def test_mariadb_gtid_state_check() -> None:
    assert check_mariadb_gtid_state(" 0-1-100, 1-2-5 ") == "0-1-100,1-2-5"
    assert check_mariadb_gtid_state("1-2-5,0-1-100") == "0-1-100,1-2-5"
    with pytest.raises(LocalProtocolError, match="domain-server-seq"):
        check_mariadb_gtid_state("0-1-1'; drop table x; --")


# --------------------------------------------------------------------------------------------------
# text result sets


def column_def(name: str, ftype: int, charset: int) -> bytes:
    return (
        lenenc_bytes(b"def") + lenenc_bytes(b"db") + lenenc_bytes(b"t") + lenenc_bytes(b"t")
        + lenenc_bytes(name.encode()) + lenenc_bytes(name.encode()) + b"\x0c"
        + struct.pack("<HIBHB", charset, 11, ftype, 0, 0) + b"\x00\x00"
    )  # fmt: skip


def test_text_result_set() -> None:
    eof = b"\xfe\x00\x00\x02\x00"
    packets = [
        b"\x03",
        column_def("id", 3, 63),
        column_def("name", C.FIELD_TYPE_VAR_STRING, 45),
        column_def("blob", C.FIELD_TYPE_BLOB, 63),
        eof,
        encode_text_row([b"1", "é".encode(), b"\x00\xfe"]),
        encode_text_row([b"2", None, None]),
        eof,
    ]
    result = TextResult("utf-8")
    done = [result.feed(p) for p in packets]
    assert done == [False] * 7 + [True]
    assert [c.name for c in result.columns] == ["id", "name", "blob"]
    assert result.rows == [("1", "é", b"\x00\xfe"), ("2", None, None)]
    with pytest.raises(LocalProtocolError):
        result.feed(eof)


def test_text_result_ok_only_and_errors() -> None:
    result = TextResult()
    assert result.feed(b"\x00\x01\x00\x02\x00\x00\x00")
    assert result.rows == [] and result.ok is not None and result.ok.affected_rows == 1
    result = TextResult()
    for p in (b"\x01", column_def("a", 3, 63), b"\xfe\x00\x00\x02\x00"):
        result.feed(p)
    with pytest.raises(MySQLServerError, match="Query execution was interrupted"):
        result.feed(err_packet(1317, "Query execution was interrupted"))
    result = TextResult()
    for p in (b"\x01", column_def("a", 3, 63), b"\xfe\x00\x00\x02\x00"):
        result.feed(p)
    with pytest.raises(RemoteProtocolError, match="trailing"):
        result.feed(encode_text_row([b"1", b"2"]))
    with pytest.raises(RemoteProtocolError, match="LOCAL INFILE"):
        TextResult().feed(b"\xfbfile.csv")


def test_text_result_keeps_first_of_several_result_sets() -> None:
    more = struct.pack("<BHH", 0xFE, 0, C.SERVER_MORE_RESULTS_EXISTS)
    packets = [b"\x01", column_def("a", 3, 63), more, encode_text_row([b"1"]), more,
               b"\x01", column_def("b", 3, 63), more, encode_text_row([b"2"]), more,
               b"\x00\x00\x00\x02\x00\x00\x00"]  # fmt: skip
    result = TextResult()
    assert [result.feed(p) for p in packets][-1]
    assert result.rows == [("1",)]
    assert [c.name for c in result.columns] == ["a"]


# --------------------------------------------------------------------------------------------------
# auth


def test_native_scramble_vector() -> None:
    scramble = bytes(range(1, 21))
    # computed from the definition SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))), cross-checked with PyMySQL
    s1 = hashlib.sha1(b"canal").digest()
    mix = hashlib.sha1(scramble + hashlib.sha1(s1).digest()).digest()
    expected = bytes(a ^ b for a, b in zip(s1, mix, strict=True))
    assert scramble_native(b"canal", scramble) == expected
    assert expected == pymysql_auth.scramble_native_password(b"canal", scramble)
    assert expected.hex() == "959b04441931dc118ed69ba93d10d19cd9ca670c"
    assert scramble_native(b"", scramble) == b""


def test_caching_sha2_scramble_vector() -> None:
    # No MySQL 8 server here: the vector is computed by the documented algorithm (sha2_password.cc) and
    # cross-checked with PyMySQL's independent implementation.
    nonce = bytes(range(20))
    s1 = hashlib.sha256(b"secret").digest()
    mix = hashlib.sha256(hashlib.sha256(s1).digest() + nonce).digest()
    expected = bytes(a ^ b for a, b in zip(s1, mix, strict=True))
    assert scramble_caching_sha2(b"secret", nonce) == expected
    assert expected == pymysql_auth.scramble_caching_sha2(b"secret", nonce)
    assert expected.hex() == "6c84c617ec1f26456a02c42ed7cb02eca7d8511333f98bc9b31e5f68ce1665d5"
    assert scramble_caching_sha2(b"", nonce) == b""


@pytest.mark.parametrize("password", [b"", b"x", b"secret", bytes(range(32)), b"p" * 100])
def test_ed25519_signature_shape_and_validity(password: bytes) -> None:
    message = hashlib.sha256(password + b"scramble").digest()
    sig = sign_ed25519(password, message)
    assert len(sig) == 64
    # a valid ed25519 signature under the key MariaDB derives from the password
    nacl.signing.VerifyKey(ed25519_public_key(password)).verify(message, sig)
    if len(password) == 32:  # then MariaDB's scheme is standard ed25519 with the password as seed
        assert sig == nacl.signing.SigningKey(password).sign(message).signature
    assert sig == pymysql_auth.ed25519_password(password, message)


def test_ed25519_public_key_matches_mariadb() -> None:
    # SHOW CREATE USER after IDENTIFIED VIA ed25519 USING PASSWORD('secret') on MariaDB 10.11
    import base64

    assert base64.b64encode(ed25519_public_key(b"secret")).rstrip(b"=") == (
        b"ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY"
    )


def test_auth_exchange_switch_to_ed25519() -> None:
    auth = AuthExchange("secret", "mysql_native_password", b"a" * 20)
    assert auth.initial_response() == scramble_native(b"secret", b"a" * 20)
    nonce = b"n" * 32
    reply = auth.receive(b"\xfeclient_ed25519\x00" + nonce)
    assert reply == sign_ed25519(b"secret", nonce)
    assert not auth.done
    assert auth.receive(b"\x00\x00\x00\x02\x00\x00\x00") is None
    assert auth.done


def test_auth_exchange_unknown_default_plugin_starts_native() -> None:
    auth = AuthExchange("pw", "client_ed25519", b"b" * 20)
    assert auth.plugin == "mysql_native_password"
    with pytest.raises(AccessDeniedError, match="mysql_clear_password") as info:
        auth.receive(b"\xfemysql_clear_password\x00")
    assert info.value.errno == C.CR_AUTH_PLUGIN_CANNOT_LOAD
    with pytest.raises(AccessDeniedError, match="Access denied"):
        AuthExchange("pw", "mysql_native_password", b"b" * 20).receive(err_packet(1045, "Access denied"))


def test_caching_sha2_fast_and_full_auth() -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    nonce = bytes(range(40, 60))
    fast = AuthExchange("secret", "caching_sha2_password", nonce)
    assert fast.initial_response() == scramble_caching_sha2(b"secret", nonce)
    assert fast.receive(b"\x01\x03") is None and not fast.done
    assert fast.receive(b"\x00\x00\x00\x02\x00\x00\x00") is None and fast.done

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    full = AuthExchange("secret", "caching_sha2_password", nonce)
    full.initial_response()
    assert full.receive(b"\x01\x04") == b"\x02"  # ask for the public key
    encrypted = full.receive(b"\x01" + pem)
    assert encrypted is not None
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    plain = key.decrypt(encrypted, oaep)
    assert bytes(b ^ nonce[i % 20] for i, b in enumerate(plain)) == b"secret\x00"
    assert full.receive(b"\x00\x00\x00\x02\x00\x00\x00") is None and full.done
    with pytest.raises(RemoteProtocolError, match="public key"):
        rsa_encrypt_password(b"x", nonce, b"not a pem")


def test_auth_more_data_for_wrong_plugin_is_remote_error() -> None:
    with pytest.raises(RemoteProtocolError, match="AuthMoreData"):
        AuthExchange("pw", "mysql_native_password", b"c" * 20).receive(b"\x01\x03")
