"""canal's TCP framing and server packets, sans-IO: bytes in, bytes out, no sockets (canal-spec.md 1.1-1.7).

Every message is a 4-byte big-endian signed length followed by a serialized ``Packet``. canal reads any
length it is given; :class:`FrameDecoder` refuses negative lengths and lengths above ``max_frame`` so a
bogus header cannot make the reader allocate gigabytes. The builders return the ``Packet`` bytes (wrap them
with :func:`frame`) exactly as canal's server writes them, including the hand-written raw-mode MESSAGES
packet that has no ``version`` field. The scramble functions are canal's SecurityUtil: the client sends
``hex(SHA1(seed + SHA1(SHA1(P))) XOR SHA1(P))`` and the server, which stores only ``SHA1(SHA1(P))``, checks it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import struct
from collections.abc import Sequence
from typing import TypeVar

from google.protobuf import text_format
from google.protobuf.message import DecodeError, Message

from ..errors import LocalProtocolError, RemoteProtocolError
from . import CanalProtocol_pb2 as pb

__all__ = [
    "DEFAULT_MAX_FRAME",
    "HEADER_LENGTH",
    "SEED_LENGTH",
    "VERSION",
    "FrameDecoder",
    "ack_packet",
    "auth_failed_message",
    "authenticate",
    "check_password",
    "empty_messages_packet",
    "error_packet",
    "frame",
    "handshake_packet",
    "messages_packet",
    "new_seed",
    "packet_type_name",
    "parse_body",
    "parse_packet",
    "password_hash",
    "proto_text",
    "raw_messages_packet",
    "scramble",
    "unsupported_message",
]

HEADER_LENGTH = 4
DEFAULT_MAX_FRAME = 16 * 1024 * 1024  # inbound limit: client packets are tiny, 16 MiB is generous
MAX_JAVA_INT = 2**31 - 1
VERSION = 1  # canal's NettyUtils.VERSION, set on every packet the server builds with protobuf
SEED_LENGTH = 8

_HEADER = struct.Struct(">i")
_M = TypeVar("_M", bound=Message)


# ------------------------------------------------------------------------------------------------ framing


def frame(body: bytes) -> bytes:
    """The length header and ``body``: one frame on the wire."""
    if len(body) > MAX_JAVA_INT:
        raise LocalProtocolError(f"a frame body of {len(body)} bytes does not fit canal's 32-bit length")
    return _HEADER.pack(len(body)) + body


class FrameDecoder:
    """Splits a byte stream into frame bodies. Feed it what the socket gave, then take frames until None.

    A length that is negative or above ``max_frame`` raises :class:`RemoteProtocolError` (naming the
    length) as soon as the 4 header bytes are in, before any of the body is buffered; the decoder then
    stays broken, since the stream can no longer be split.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if not 0 <= max_frame <= MAX_JAVA_INT:
            raise LocalProtocolError(f"max_frame must be within 0..{MAX_JAVA_INT}, got {max_frame}")
        self.max_frame = max_frame
        self._buf = bytearray()
        self._need: int | None = None  # body length of the frame whose header was read
        self._error: RemoteProtocolError | None = None

    def feed(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._buf += data

    def next_frame(self) -> bytes | None:
        """The next whole frame body, or None until more bytes arrive."""
        if self._error is not None:
            raise self._error
        if self._need is None:
            if len(self._buf) < HEADER_LENGTH:
                return None
            (length,) = _HEADER.unpack_from(self._buf)
            if length < 0:
                self._error = RemoteProtocolError(f"negative frame length {length} (header {self._buf[:4].hex()})")
                raise self._error
            if length > self.max_frame:
                self._error = RemoteProtocolError(
                    f"frame length {length} exceeds the maximum of {self.max_frame} bytes"
                )
                raise self._error
            del self._buf[:HEADER_LENGTH]
            self._need = length
        if len(self._buf) < self._need:
            return None
        body = bytes(self._buf[: self._need])
        del self._buf[: self._need]
        self._need = None
        return body

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame held (a consumed header counts 4)."""
        return len(self._buf) + (0 if self._need is None else HEADER_LENGTH)

    def eof(self) -> None:
        """The peer closed the stream: raise RemoteProtocolError if it stopped in the middle of a frame."""
        if self._error is not None:
            raise self._error
        if self._need is not None:
            raise RemoteProtocolError(
                f"connection closed in the middle of a frame: {len(self._buf)} of {self._need} body bytes"
            )
        if self._buf:
            raise RemoteProtocolError(
                f"connection closed in the middle of a frame header: {len(self._buf)} of {HEADER_LENGTH} bytes"
            )


# ------------------------------------------------------------------------------------------------ parsing


def parse_packet(data: bytes) -> pb.Packet:
    """A frame body as a Packet; broken protobuf is the peer's fault."""
    return parse_body(pb.Packet, data)


def parse_body(cls: type[_M], data: bytes) -> _M:
    """``data`` parsed as ``cls`` (Sub, Get, ClientAuth...), RemoteProtocolError if it is not one."""
    try:
        return cls.FromString(data)
    except DecodeError as exc:
        raise RemoteProtocolError(f"cannot parse {cls.__name__}: {exc}") from exc


def proto_text(msg: Message) -> str:
    """A message as Java's ``toString()`` prints it (protobuf text format), for canal's error texts."""
    return text_format.MessageToString(msg)


def packet_type_name(code: int) -> str:
    """The enum name Java prints for a packet type; proto3 Java says UNRECOGNIZED for unknown numbers."""
    try:
        return pb.PacketType.Name(code)
    except ValueError:
        return "UNRECOGNIZED"


# ------------------------------------------------------------------------------------------------ server packets


def _packet(ptype: int, body: bytes | None = None) -> bytes:
    p = pb.Packet(version=VERSION, type=ptype)  # type: ignore[arg-type]
    if body:
        p.body = body
    return p.SerializeToString()


def handshake_packet(seeds: bytes) -> bytes:
    """HANDSHAKE{seeds}: the first packet of every connection."""
    if len(seeds) != SEED_LENGTH:
        raise LocalProtocolError(f"a handshake seed has {SEED_LENGTH} bytes, got {len(seeds)}")
    return _packet(pb.HANDSHAKE, pb.Handshake(seeds=seeds).SerializeToString())


def ack_packet() -> bytes:
    """The success ACK (an empty Ack body, so no body field at all): ``10 01 18 03``."""
    return _packet(pb.ACK)


def error_packet(code: int, message: str) -> bytes:
    """An ACK-typed error: 400 generic/auth/unsupported, 401 missing destination or client id, 402 ack of 0."""
    return _packet(pb.ACK, pb.Ack(error_code=code, error_message=message).SerializeToString())


def empty_messages_packet() -> bytes:
    """What "no data" looks like: MESSAGES{version 1, Messages{batch_id -1}}."""
    return messages_packet(-1, ())


def messages_packet(batch_id: int, entries: Sequence[bytes]) -> bytes:
    """MESSAGES built the normal way (with ``version`` 1): the empty result and non-raw stores."""
    return _packet(pb.MESSAGES, pb.Messages(batch_id=batch_id, messages=list(entries)).SerializeToString())


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64: two's complement, 10 bytes
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def raw_messages_packet(batch_id: int, entries: Sequence[bytes]) -> bytes:
    """MESSAGES as canal's session handler hand-writes it for a raw-mode store: field 3 (type) and field 5
    (body) only, no ``version``; the body is ``batch_id`` then one field 2 per serialized Entry."""
    parts = [b"\x08", _varint(batch_id)]
    for entry in entries:
        parts += (b"\x12", _varint(len(entry)), entry)
    body = b"".join(parts)
    return b"".join((b"\x18", _varint(pb.MESSAGES), b"\x2a", _varint(len(body)), body))


def auth_failed_message(user: str) -> str:
    return f"auth failed for user:{user}"


def unsupported_message(ptype: int) -> str:
    return f"packet type: {packet_type_name(ptype)} is NOT supported!"


# ------------------------------------------------------------------------------------------------ passwords


def new_seed() -> bytes:
    return os.urandom(SEED_LENGTH)


def _utf8(value: str | bytes | None) -> bytes:
    if value is None:
        return b""
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _sha1(*parts: bytes) -> bytes:
    h = hashlib.sha1()
    for p in parts:
        h.update(p)
    return h.digest()


def password_hash(password: str | bytes) -> str:
    """The ``canal.passwd`` value for a plaintext password: hex SHA1(SHA1(P)), upper case like MySQL's."""
    return _sha1(_sha1(_utf8(password))).hex().upper()


def scramble(password: str | bytes | None, seed: bytes) -> str:
    """Client side: the lower-case hex text canal's client sends as ClientAuth.password ("" for no password)."""
    if password is None:
        return ""
    s1 = _sha1(_utf8(password))
    x = _sha1(seed, _sha1(s1))
    return bytes(a ^ b for a, b in zip(x, s1)).hex()


_HEX40 = re.compile(r"[0-9a-fA-F]{40}")


def check_password(stored_hex: str, seed: bytes, received: str | bytes) -> bool:
    """Server side: does ``received`` (the client's hex scramble) prove the password whose double SHA1 is
    ``stored_hex`` (canal.passwd)? Malformed input is simply a wrong password."""
    try:
        stored = bytes.fromhex(stored_hex.strip())
        text = received.decode("utf-8") if isinstance(received, bytes) else received
    except (ValueError, UnicodeDecodeError):
        return False
    if len(stored) != 20 or not _HEX40.fullmatch(text):
        return False
    x = _sha1(seed, stored)
    candidate = bytes(a ^ b for a, b in zip(bytes.fromhex(text), x))
    return hmac.compare_digest(_sha1(candidate), stored)


def authenticate(conf_user: str | None, conf_passwd: str | None, user: str, password: str | bytes, seed: bytes) -> bool:
    """canal's server policy: no ``canal.user`` or the same user, then no ``canal.passwd`` accepts anything,
    an empty password is refused, else the scramble must match. Another user name is refused."""
    if conf_user and conf_user != user:
        return False
    if not conf_passwd:
        return True
    if not password:
        return False
    return check_password(conf_passwd, seed, password)
