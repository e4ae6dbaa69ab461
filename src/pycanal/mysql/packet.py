"""Sans-IO MySQL client protocol: packet framing, a read cursor, and the packets pycanal sends or parses.

Nothing here touches a socket: :class:`PacketFramer` turns bytes into payloads and payloads into bytes,
the ``parse_*`` functions read payloads, the ``com_*`` / ``build_*`` functions return payloads. The
commands pycanal sends to a master follow canal's MysqlConnector (canal-spec section 6.1).
Imports: pycanal.errors, pycanal.gtid (GTID set text and binary), pycanal.mysql.constants and the standard library.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..errors import LocalProtocolError, MySQLServerError, RemoteProtocolError, server_error
from ..gtid import MariaGtidState, MysqlGtidSet
from . import constants as C

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_unpack_u32_from = _U32.unpack_from


# --------------------------------------------------------------------------------------------------
# Read cursor


class PacketReader:
    """A read cursor over one payload; every read past the end raises :class:`RemoteProtocolError`."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def _take(self, n: int) -> int:
        start = self.pos
        end = start + n
        if end > len(self.data):
            raise RemoteProtocolError(
                f"packet truncated: wanted {n} bytes at offset {start}, packet is {len(self.data)} bytes"
            )
        self.pos = end
        return start

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def peek_u8(self) -> int:
        if self.pos >= len(self.data):
            raise RemoteProtocolError(f"packet truncated at offset {self.pos}")
        return self.data[self.pos]

    def read_u8(self) -> int:
        return self.data[self._take(1)]

    def read_u16(self) -> int:
        return _U16.unpack_from(self.data, self._take(2))[0]

    def read_u24(self) -> int:
        return int.from_bytes(self.data[self._take(3) : self.pos], "little")

    def read_u32(self) -> int:
        return _U32.unpack_from(self.data, self._take(4))[0]

    def read_u48(self) -> int:
        return int.from_bytes(self.data[self._take(6) : self.pos], "little")

    def read_u64(self) -> int:
        return _U64.unpack_from(self.data, self._take(8))[0]

    def read_uint(self, size: int) -> int:
        """Little-endian unsigned int of ``size`` bytes (1..8)."""
        return int.from_bytes(self.data[self._take(size) : self.pos], "little")

    def read_bytes(self, n: int) -> bytes:
        start = self._take(n)
        return bytes(self.data[start : self.pos])

    def read_rest(self) -> bytes:
        start, self.pos = self.pos, len(self.data)
        return bytes(self.data[start:])

    def read_nul_bytes(self, *, allow_eof: bool = False) -> bytes:
        """Bytes up to a NUL (consumed, not returned). ``allow_eof``: a missing NUL ends at the packet end."""
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            if not allow_eof:
                raise RemoteProtocolError(f"unterminated string at offset {self.pos}")
            return self.read_rest()
        value = bytes(self.data[self.pos : end])
        self.pos = end + 1
        return value

    def read_lenenc_int(self) -> int | None:
        """A length-encoded integer; ``None`` for the 0xFB NULL marker."""
        first = self.read_u8()
        if first < 0xFB:
            return first
        if first == 0xFB:
            return None
        if first == 0xFC:
            return self.read_u16()
        if first == 0xFD:
            return self.read_u24()
        if first == 0xFE:
            return self.read_u64()
        raise RemoteProtocolError(f"0xFF is not a valid length-encoded integer (offset {self.pos - 1})")

    def read_lenenc_bytes(self) -> bytes | None:
        """A length-encoded string; ``None`` for NULL."""
        n = self.read_lenenc_int()
        if n is None:
            return None
        return self.read_bytes(n)


def lenenc_int(n: int) -> bytes:
    """Encode ``n`` as a length-encoded integer."""
    if n < 0:
        raise LocalProtocolError(f"length-encoded integers are unsigned, got {n}")
    if n < 0xFB:
        return bytes((n,))
    if n <= 0xFFFF:
        return b"\xfc" + _U16.pack(n)
    if n <= 0xFFFFFF:
        return b"\xfd" + n.to_bytes(3, "little")
    if n <= 0xFFFFFFFFFFFFFFFF:
        return b"\xfe" + _U64.pack(n)
    raise LocalProtocolError(f"{n} does not fit a length-encoded integer (max 2**64-1)")


def lenenc_bytes(data: bytes) -> bytes:
    return lenenc_int(len(data)) + data


# --------------------------------------------------------------------------------------------------
# Framing


class PacketFramer:
    """Both directions of MySQL packet framing, sharing the sequence id as the protocol requires.

    Incoming bytes go into one reused ``bytearray`` (``writable()`` + ``commit()`` let a caller
    ``recv_into`` it with no extra copy; ``feed()`` is the plain variant). ``next_packet()`` returns one
    whole payload or ``None`` until enough bytes arrived; payloads of 0xFFFFFF bytes are joined with
    their continuation packets. A sequence id out of order raises :class:`RemoteProtocolError`.
    """

    MIN_READ = 64 * 1024

    def __init__(self, buffer_size: int = 1 << 20) -> None:
        self._buf = bytearray(max(buffer_size, 2 * self.MIN_READ))
        self._mv = memoryview(self._buf)
        self._r = 0  # start of unread data
        self._w = 0  # end of received data
        self._need = 0  # bytes (from _r) the incomplete packet at _r needs
        self._seq = 0
        self._parts: list[bytes] = []

    # -- sequence -------------------------------------------------------------------------------
    @property
    def sequence(self) -> int:
        """The sequence id the next packet (either direction) must carry."""
        return self._seq

    def reset_sequence(self) -> None:
        """A new command starts at sequence id 0."""
        self._seq = 0

    # -- outgoing -------------------------------------------------------------------------------
    def frame(self, payload: bytes) -> bytes:
        """Wire bytes for ``payload``: split into 0xFFFFFF chunks (plus an empty one if it ends on a boundary)."""
        seq = self._seq
        n = len(payload)
        if n < C.MAX_PAYLOAD:
            self._seq = (seq + 1) & 0xFF
            return _U32.pack(n | (seq << 24)) + payload
        out = []
        pos = 0
        while True:
            chunk = payload[pos : pos + C.MAX_PAYLOAD]
            out.append(_U32.pack(len(chunk) | (seq << 24)))
            out.append(chunk)
            seq = (seq + 1) & 0xFF
            pos += C.MAX_PAYLOAD
            if len(chunk) < C.MAX_PAYLOAD:
                break
        self._seq = seq
        return b"".join(out)

    # -- incoming -------------------------------------------------------------------------------
    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as packets."""
        return self._w - self._r

    def writable(self) -> memoryview:
        """Free space at the end of the buffer for ``sock.recv_into``; follow with ``commit(n)``.

        Do not keep the view: the buffer may be compacted or replaced by the next call.
        """
        r, w = self._r, self._w
        if r == w:
            self._r = self._w = r = w = 0
        cap = len(self._buf)
        need = max(self._need, w - r)
        if cap - w < self.MIN_READ or r + need > cap:
            tail = self._mv[r:w].tobytes()
            if need + self.MIN_READ > cap:
                self._buf = bytearray(max(need + self.MIN_READ, 2 * cap))
                self._mv = memoryview(self._buf)
            self._mv[: len(tail)] = tail
            self._r, self._w = 0, len(tail)
        return self._mv[self._w :]

    def commit(self, n: int) -> None:
        """``n`` bytes were written into the view ``writable()`` returned."""
        if n < 0 or self._w + n > len(self._buf):
            raise LocalProtocolError(f"commit({n}) does not fit the writable space")
        self._w += n

    def feed(self, data: bytes) -> None:
        """Append received bytes (the copying variant of writable/commit)."""
        pos = 0
        while pos < len(data):
            view = self.writable()
            n = min(len(view), len(data) - pos)
            view[:n] = data[pos : pos + n]
            del view
            self.commit(n)
            pos += n

    def next_packet(self) -> bytes | None:
        """One whole payload, or ``None`` if more bytes are needed."""
        while True:
            r = self._r
            avail = self._w - r
            if avail < 4:
                self._need = 4
                return None
            hdr = _unpack_u32_from(self._buf, r)[0]
            n = hdr & 0xFFFFFF
            end = r + 4 + n
            if end > self._w:
                self._need = 4 + n
                return None
            seq = hdr >> 24
            if seq != self._seq:
                raise RemoteProtocolError(f"packet out of order: sequence id {seq}, expected {self._seq}")
            self._seq = (seq + 1) & 0xFF
            self._r = end
            self._need = 0
            if n == C.MAX_PAYLOAD:
                self._parts.append(self._mv[r + 4 : end].tobytes())
                continue
            if self._parts:
                self._parts.append(self._mv[r + 4 : end].tobytes())
                payload = b"".join(self._parts)
                self._parts.clear()
                return payload
            return self._mv[r + 4 : end].tobytes()

    def next_event(self) -> bytes | None:
        """One COM_BINLOG_DUMP reply: the event bytes without the leading 0x00 in one copy.

        Returns ``None`` when more bytes are needed and ``b""`` for the EOF that ends a non-blocking
        dump. An ERR packet raises its typed :class:`MySQLServerError`.
        """
        r = self._r
        if self._w - r >= 5 and not self._parts:
            hdr = _unpack_u32_from(self._buf, r)[0]
            n = hdr & 0xFFFFFF
            end = r + 4 + n
            if 20 <= n < C.MAX_PAYLOAD and end <= self._w and self._buf[r + 4] == 0:
                seq = hdr >> 24
                if seq != self._seq:
                    raise RemoteProtocolError(f"packet out of order: sequence id {seq}, expected {self._seq}")
                self._seq = (seq + 1) & 0xFF
                self._r = end
                self._need = 0
                return self._mv[r + 5 : end].tobytes()
        payload = self.next_packet()
        if payload is None:
            return None
        return binlog_event_from_payload(payload)


def binlog_event_from_payload(payload: bytes) -> bytes:
    """Interpret one binlog-dump reply payload: event (without 0x00), ``b""`` for EOF, raise on ERR."""
    if not payload:
        raise RemoteProtocolError("empty packet in the binlog stream")
    first = payload[0]
    if first == C.OK:
        if len(payload) < 20:
            raise RemoteProtocolError(f"binlog event packet of {len(payload)} bytes is shorter than a header")
        return payload[1:]
    if first == C.ERR:
        raise parse_err(payload)
    if first == C.EOF and len(payload) < 9:
        return b""
    raise RemoteProtocolError(f"unexpected packet 0x{first:02x} ({len(payload)} bytes) in the binlog stream")


# --------------------------------------------------------------------------------------------------
# Generic responses


def parse_err(payload: bytes) -> MySQLServerError:
    """The typed :class:`MySQLServerError` for an ERR packet (returned, for the caller to raise)."""
    if not payload or payload[0] != C.ERR:
        raise RemoteProtocolError(f"not an ERR packet: {payload[:16]!r}")
    rd = PacketReader(payload, 1)
    errno = rd.read_u16()
    sqlstate = "HY000"
    if rd.remaining >= 6 and rd.data[rd.pos] == 0x23:  # '#' marks a 4.1 SQLSTATE
        rd.pos += 1
        sqlstate = rd.read_bytes(5).decode("ascii", "replace")
    message = rd.read_rest().decode("utf-8", "replace")
    return server_error(errno, sqlstate, message)


@dataclass(frozen=True)
class OkPacket:
    affected_rows: int
    last_insert_id: int
    status: int
    warnings: int
    info: str = ""


def parse_ok(payload: bytes) -> OkPacket:
    """An OK packet (0x00, or 0xFE with CLIENT_DEPRECATE_EOF); ERR raises the typed server error."""
    if payload and payload[0] == C.ERR:
        raise parse_err(payload)
    if not payload or payload[0] not in (C.OK, C.EOF):
        raise RemoteProtocolError(f"expected an OK packet, got {payload[:16]!r}")
    rd = PacketReader(payload, 1)
    affected = rd.read_lenenc_int() or 0
    insert_id = rd.read_lenenc_int() or 0
    status = rd.read_u16() if rd.remaining >= 2 else 0
    warnings = rd.read_u16() if rd.remaining >= 2 else 0
    info = rd.read_rest().decode("utf-8", "replace")
    return OkPacket(affected, insert_id, status, warnings, info)


def is_eof(payload: bytes) -> bool:
    """True for an EOF packet (0xFE and shorter than 9 bytes; longer 0xFE payloads are data)."""
    return bool(payload) and payload[0] == C.EOF and len(payload) < 9


@dataclass(frozen=True)
class EofPacket:
    warnings: int
    status: int


def parse_eof(payload: bytes) -> EofPacket:
    if not is_eof(payload):
        raise RemoteProtocolError(f"expected an EOF packet, got {payload[:16]!r}")
    if len(payload) >= 5:
        return EofPacket(_U16.unpack_from(payload, 1)[0], _U16.unpack_from(payload, 3)[0])
    return EofPacket(0, 0)


# --------------------------------------------------------------------------------------------------
# Handshake


@dataclass(frozen=True)
class Handshake:
    """The server's Initial Handshake Packet (protocol 10)."""

    protocol_version: int
    server_version: str  # MariaDB's "5.5.5-" replication prefix removed
    connection_id: int
    scramble: bytes  # the 4.1 scramble: the first 20 bytes of auth_data (fewer only from a pre-4.1 server)
    capabilities: int
    charset: int
    status: int
    auth_plugin: str
    mariadb_capabilities: int = 0
    auth_data: bytes = b""  # auth-plugin-data parts 1 and 2 cut to auth_plugin_data_len, terminator included

    @property
    def is_mariadb(self) -> bool:
        return "mariadb" in self.server_version.lower()


def parse_handshake(payload: bytes) -> Handshake:
    """Parse the Initial Handshake Packet; an ERR (too many connections, host blocked) raises it."""
    if payload and payload[0] == C.ERR:
        raise parse_err(payload)
    rd = PacketReader(payload)
    proto = rd.read_u8()
    if proto != 10:
        raise RemoteProtocolError(f"unsupported handshake protocol version {proto} (only 10 is spoken)")
    version = rd.read_nul_bytes().decode("utf-8", "replace")
    if version.startswith("5.5.5-") and "mariadb" in version.lower():
        version = version[len("5.5.5-") :]
    conn_id = rd.read_u32()
    scramble = rd.read_bytes(8)
    rd.read_u8()  # filler
    caps = rd.read_u16()
    charset = status = 0
    plugin = "mysql_native_password"
    maria_caps = 0
    if not rd.at_end():
        charset = rd.read_u8()
        status = rd.read_u16()
        caps |= rd.read_u16() << 16
        data_len = rd.read_u8()
        rd.read_bytes(6)
        maria_caps = rd.read_u32()  # reserved (zero) on MySQL
        if caps & C.CLIENT_SECURE_CONNECTION:
            scramble += rd.read_bytes(max(13, data_len - 8))
            if caps & C.CLIENT_PLUGIN_AUTH and data_len > 8:
                scramble = scramble[:data_len]  # by its length: scramble bytes are random, 0x00 included
        if caps & C.CLIENT_PLUGIN_AUTH:
            plugin = rd.read_nul_bytes(allow_eof=True).decode("ascii", "replace") or plugin
    return Handshake(proto, version, conn_id, scramble[:20], caps, charset, status, plugin, maria_caps, scramble)


def build_handshake_response(
    *,
    capabilities: int,
    charset: int,
    user: str,
    auth_response: bytes,
    auth_plugin: str,
    database: str | None = None,
    max_packet: int = C.MAX_PAYLOAD,
) -> bytes:
    """HandshakeResponse41. ``capabilities`` must already be the negotiated set."""
    if not capabilities & C.CLIENT_PROTOCOL_41:
        raise LocalProtocolError("only the 4.1 handshake response is supported")
    caps = capabilities
    if database:
        caps |= C.CLIENT_CONNECT_WITH_DB
    out = [_U32.pack(caps), _U32.pack(max_packet), bytes((charset,)), bytes(23), user.encode("utf-8"), b"\0"]
    if caps & C.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA:
        out.append(lenenc_bytes(auth_response))
    elif caps & C.CLIENT_SECURE_CONNECTION:
        if len(auth_response) > 255:
            raise LocalProtocolError("auth response longer than 255 bytes needs PLUGIN_AUTH_LENENC_CLIENT_DATA")
        out += [bytes((len(auth_response),)), auth_response]
    else:
        out += [auth_response, b"\0"]
    if database:
        out += [database.encode("utf-8"), b"\0"]
    if caps & C.CLIENT_PLUGIN_AUTH:
        out += [auth_plugin.encode("ascii"), b"\0"]
    return b"".join(out)


def parse_auth_switch(payload: bytes) -> tuple[str, bytes]:
    """AuthSwitchRequest (0xFE plugin NUL data) -> (plugin name, plugin data exactly as sent).

    The data runs to the end of the packet and is not trimmed here: whether its last byte is a
    terminator depends on the plugin (see :func:`plugin_scramble`). A bare 0xFE is the pre-4.1 "old
    password" request, which reports as plugin ``mysql_old_password``.
    """
    if not payload or payload[0] != C.AUTH_SWITCH:
        raise RemoteProtocolError(f"not an auth switch request: {payload[:16]!r}")
    if len(payload) == 1:
        return "mysql_old_password", b""
    rd = PacketReader(payload, 1)
    plugin = rd.read_nul_bytes(allow_eof=True).decode("ascii", "replace")
    return plugin, rd.read_rest()


# The scramble each plugin pycanal speaks takes from its auth data, by length. mysql_native_password and
# caching_sha2_password send 20 bytes and a NUL terminator; MariaDB's client_ed25519 sends 32 raw bytes
# and nothing after them (server_ed25519.c writes NONCE_BYTES). Scramble bytes are random, so a 0x00
# at the end (1 time in 256) or in the middle is data: nothing is ever trimmed by value.
SCRAMBLE_LENGTHS = {"mysql_native_password": 20, "caching_sha2_password": 20, "client_ed25519": 32}


def plugin_scramble(plugin: str, data: bytes) -> bytes:
    """The scramble ``plugin`` signs or hashes, cut from its auth data by the plugin's length.

    One NUL terminator after the scramble is allowed; a shorter or longer payload is a protocol error.
    Data of plugins not in :data:`SCRAMBLE_LENGTHS` is returned as sent.
    """
    n = SCRAMBLE_LENGTHS.get(plugin)
    if n is None:
        return data
    if len(data) == n or (len(data) == n + 1 and data[n] == 0):
        return data[:n]
    raise RemoteProtocolError(
        f"{plugin} expects a {n}-byte scramble (and at most a NUL terminator), got {len(data)} bytes"
    )


def build_ssl_request(*, capabilities: int, charset: int, max_packet: int = C.MAX_PAYLOAD) -> bytes:
    """SSLRequest: the first 32 bytes of HandshakeResponse41 with CLIENT_SSL; TLS starts after it."""
    if not capabilities & C.CLIENT_SSL:
        raise LocalProtocolError("an SSLRequest must carry the CLIENT_SSL capability")
    return _U32.pack(capabilities) + _U32.pack(max_packet) + bytes((charset,)) + bytes(23)


# --------------------------------------------------------------------------------------------------
# Commands


def com_query(sql: str | bytes, encoding: str = "utf-8") -> bytes:
    return bytes((C.COM_QUERY,)) + (sql.encode(encoding) if isinstance(sql, str) else sql)


def com_ping() -> bytes:
    return bytes((C.COM_PING,))


def com_quit() -> bytes:
    return bytes((C.COM_QUIT,))


def _short_string(value: bytes, what: str) -> bytes:
    if len(value) > 255:
        raise LocalProtocolError(f"COM_REGISTER_SLAVE {what} is longer than 255 bytes")
    return bytes((len(value),)) + value


def com_register_slave(
    server_id: int,
    *,
    host: str = "",
    user: str = "",
    password: str = "",
    port: int = 0,
    rank: int = 0,
    master_id: int = 0,
) -> bytes:
    """COM_REGISTER_SLAVE (0x15): what SHOW SLAVE HOSTS reports about this replica."""
    _check_server_id(server_id)
    return b"".join(
        (
            bytes((C.COM_REGISTER_SLAVE,)),
            _U32.pack(server_id),
            _short_string(host.encode("utf-8"), "host"),
            _short_string(user.encode("utf-8"), "user"),
            _short_string(password.encode("utf-8"), "password"),
            _U16.pack(port & 0xFFFF),
            _U32.pack(rank),
            _U32.pack(master_id),
        )
    )


def _check_server_id(server_id: int) -> None:
    if not 0 < server_id <= 0xFFFFFFFF:
        raise LocalProtocolError(f"server_id must be in 1..4294967295, got {server_id}")


def com_binlog_dump(server_id: int, log_file: str, log_pos: int, flags: int = 0) -> bytes:
    """COM_BINLOG_DUMP (0x12): stream from ``log_file``:``log_pos`` (position is 32-bit on the wire)."""
    _check_server_id(server_id)
    if not 0 <= log_pos <= 0xFFFFFFFF:
        raise LocalProtocolError(f"binlog position {log_pos} does not fit COM_BINLOG_DUMP's 32 bits")
    return (
        bytes((C.COM_BINLOG_DUMP,))
        + _U32.pack(log_pos)
        + _U16.pack(flags)
        + _U32.pack(server_id)
        + log_file.encode("utf-8")
    )


def com_binlog_dump_gtid(
    server_id: int,
    gtid_set: str,
    *,
    log_file: str = "",
    log_pos: int = 4,
    flags: int = C.BINLOG_THROUGH_GTID,
) -> bytes:
    """COM_BINLOG_DUMP_GTID (0x1e, MySQL): stream every transaction not in ``gtid_set``."""
    _check_server_id(server_id)
    name = log_file.encode("utf-8")
    out = [
        bytes((C.COM_BINLOG_DUMP_GTID,)),
        _U16.pack(flags | C.BINLOG_THROUGH_GTID),
        _U32.pack(server_id),
        _U32.pack(len(name)),
        name,
        _U64.pack(log_pos),
    ]
    data = encode_gtid_set(gtid_set)
    out += [_U32.pack(len(data)), data]
    return b"".join(out)


# --------------------------------------------------------------------------------------------------
# GTID sets


def encode_gtid_set(text: str) -> bytes:
    """Binary GTID set for COM_BINLOG_DUMP_GTID (:meth:`pycanal.gtid.MysqlGtidSet.encode`); tagged sets
    use MySQL 8.4's tagged layout. Malformed text raises InvalidGtidSet (a LocalProtocolError)."""
    return MysqlGtidSet.parse(text).encode()


def check_mariadb_gtid_state(text: str) -> str:
    """Validate a MariaDB GTID position ("0-1-100,1-2-5", domain-server-seq) and return it normalized
    (:class:`pycanal.gtid.MariaGtidState`). Malformed text raises InvalidGtidSet (a LocalProtocolError)."""
    return str(MariaGtidState.parse(text))


# --------------------------------------------------------------------------------------------------
# Text-protocol result sets


@dataclass(frozen=True)
class ColumnDef:
    """Column Definition 41 (only what a text-protocol reader needs, plus names for humans)."""

    schema: str
    table: str
    name: str
    org_name: str
    charset: int
    length: int
    type: int
    flags: int
    decimals: int


def parse_column_def(payload: bytes) -> ColumnDef:
    rd = PacketReader(payload)

    def text() -> str:
        return (rd.read_lenenc_bytes() or b"").decode("utf-8", "replace")

    text()  # catalog, always "def"
    schema, table = text(), text()
    text()  # org_table
    name, org_name = text(), text()
    rd.read_lenenc_int()  # length of the fixed fields (0x0c)
    charset = rd.read_u16()
    length = rd.read_u32()
    ftype = rd.read_u8()
    flags = rd.read_u16()
    decimals = rd.read_u8()
    return ColumnDef(schema, table, name, org_name, charset, length, ftype, flags, decimals)


Value = str | bytes | None


def _column_converter(col: ColumnDef, encoding: str | None) -> Callable[[bytes], str | bytes] | None:
    """None = keep bytes; else a decoder. Binary string columns stay bytes, the rest become str."""
    if col.type in C.BYTES_FIELD_TYPES and (col.charset == C.BINARY_CHARSET or encoding is None):
        return None
    enc = encoding or "utf-8"
    return lambda raw: raw.decode(enc, "surrogateescape")


@dataclass
class TextResult:
    """State machine for one COM_QUERY response in the text protocol; ``feed`` payloads until ``done``.

    Values are ``str`` (numbers, dates and text columns, decoded with the connection's charset),
    ``bytes`` (binary string columns) or ``None`` (SQL NULL). If the server sends more result sets
    (a CALL), only the first one's columns and rows are kept; the rest are read and dropped.
    """

    encoding: str | None = "utf-8"
    columns: list[ColumnDef] = field(default_factory=list)
    rows: list[tuple[Value, ...]] = field(default_factory=list)
    ok: OkPacket | None = None
    done: bool = False
    status: int = 0  # server status flags of the last OK/EOF (NO_BACKSLASH_ESCAPES, IN_TRANS...)
    _state: str = "head"
    _ncols: int = 0
    _convs: list[Callable[[bytes], str | bytes] | None] = field(default_factory=list)
    _sets: int = 0
    _cols: list[ColumnDef] = field(default_factory=list)

    def feed(self, payload: bytes) -> bool:
        """Consume one packet; True once the whole response was read. ERR raises the server error."""
        if self.done:
            raise LocalProtocolError("result set already complete")
        if not payload:
            raise RemoteProtocolError("empty packet in a result set")
        first = payload[0]
        if first == C.ERR:
            self.done = True
            raise parse_err(payload)
        state = self._state
        if state == "rows":
            if first == C.EOF and len(payload) < 9:
                self._end(parse_eof(payload).status)
            elif self._sets == 0:
                self.rows.append(self._parse_row(payload))
        elif state == "head":
            if first == C.OK:
                ok = parse_ok(payload)
                if self._sets == 0:
                    self.ok = ok
                self._end(ok.status)
            elif first == C.LOCAL_INFILE:
                self.done = True
                raise RemoteProtocolError("server asked for LOCAL INFILE, which pycanal never allows")
            else:
                n = PacketReader(payload).read_lenenc_int()
                if not n:
                    raise RemoteProtocolError(f"bad column count packet {payload[:16]!r}")
                self._ncols = n
                self._cols = []
                self._state = "columns"
        elif state == "columns":
            self._cols.append(parse_column_def(payload))
            if len(self._cols) == self._ncols:
                self._state = "columns_eof"
        elif state == "columns_eof":
            parse_eof(payload)
            if self._sets == 0:
                self.columns = self._cols
                self._convs = [_column_converter(c, self.encoding) for c in self._cols]
            self._state = "rows"
        return self.done

    def _end(self, status: int) -> None:
        self.status = status
        self._sets += 1
        if status & C.SERVER_MORE_RESULTS_EXISTS:
            self._state = "head"
        else:
            self.done = True

    def _parse_row(self, payload: bytes) -> tuple[Value, ...]:
        rd = PacketReader(payload)
        out: list[Value] = []
        for conv in self._convs:
            raw = rd.read_lenenc_bytes()
            if raw is None or conv is None:
                out.append(raw)
            else:
                out.append(conv(raw))
        if not rd.at_end():
            raise RemoteProtocolError(f"{rd.remaining} trailing bytes after a {len(self._convs)}-column row")
        return tuple(out)


def encode_text_row(values: Iterable[bytes | None]) -> bytes:
    """A text-protocol row payload (for tests and fakes)."""
    return b"".join(b"\xfb" if v is None else lenenc_bytes(v) for v in values)
