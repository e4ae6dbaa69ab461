"""The canal client's side of the wire protocol, sans-IO: the packets it sends and the checks on replies.

Each builder returns the serialized ``Packet`` exactly as canal's Java ``SimpleCanalConnector`` builds it
(wrap it with :func:`pycanal.protocol.frames.frame`): no ``version`` field, ``Get`` always carries
``auto_ack=false``, a ``timeout`` (-1 = "return what is there") and a ``unit``, ``ClientAuth`` carries the
idle timeout in milliseconds as both net timeouts and the password as the lower-case hex scramble of the
handshake seed. The parsers turn the server's replies into values or into typed errors: an ACK-typed
error packet becomes the :class:`~pycanal.errors.CanalServerError` subclass that matches canal's message
(the message and canal's code are kept), a broken or unexpected packet a :class:`RemoteProtocolError`.
"""

from __future__ import annotations

from ..errors import (
    AuthenticationFailed,
    BatchNotFound,
    BatchOutOfOrder,
    CanalServerError,
    InstanceNotStarted,
    LocalProtocolError,
    NotSubscribed,
    RemoteProtocolError,
    UnackedBatch,
)
from ..protocol import packet as cp
from ..protocol.frames import packet_type_name, parse_body, parse_packet, scramble
from .base import Message

HANDSHAKE_VERSION = 1  # the only protocol version canal's client accepts
DEFAULT_FETCH_SIZE = 1000  # what canal's client asks for when the batch size is <= 0
NO_TIMEOUT = -1  # Get.timeout for "take what is there now"
MAX_JAVA_INT = 2**31 - 1
MAX_JAVA_LONG = 2**63 - 1

# Java's TimeUnit ordinals, as Get.unit carries them, by the names a Python caller may use.
_UNITS: dict[str, int] = {}
for _code, _names in enumerate(
    (
        ("ns", "nanoseconds"),
        ("us", "µs", "microseconds"),
        ("ms", "milliseconds"),
        ("s", "sec", "seconds"),
        ("min", "minutes"),
        ("h", "hours"),
        ("d", "days"),
    )
):
    for _name in _names:
        _UNITS[_name] = _code
_UNIT_SECONDS = (1e-9, 1e-6, 1e-3, 1.0, 60.0, 3600.0, 86400.0)

# canal's error texts (server/embedded, meta) -> the typed error a caller can catch.
_ERROR_CLASSES: tuple[tuple[str, type[CanalServerError]], ...] = (
    ("auth failed", AuthenticationFailed),
    ("should start first", InstanceNotStarted),
    ("should subscribe first", NotSubscribed),
    ("is not the firstly", BatchOutOfOrder),
    ("is not exist", BatchNotFound),
    ("isn't ack", UnackedBatch),
)

UNSUPPORTED_MARK = "NOT supported"


def unit_code(unit: str | int) -> int:
    """A Get ``unit``: a name (``"ms"``, ``"s"``, ``"MILLISECONDS"``...) or a Java TimeUnit ordinal 0..6."""
    if isinstance(unit, bool):
        raise LocalProtocolError(f"unknown time unit {unit!r}")
    if isinstance(unit, int):
        if 0 <= unit < len(_UNIT_SECONDS):
            return int(unit)
        raise LocalProtocolError(f"time unit code must be 0..6 (Java TimeUnit ordinal), got {unit}")
    code = _UNITS.get(str(unit).strip().lower())
    if code is None:
        raise LocalProtocolError(f"unknown time unit {unit!r}; use one of ns, us, ms, s, min, h, d")
    return code


def unit_seconds(code: int) -> float:
    return _UNIT_SECONDS[code]


def server_error(code: int, message: str) -> CanalServerError:
    """The typed error for an ACK-typed error packet: class by canal's message text, ``code`` kept."""
    for mark, cls in _ERROR_CLASSES:
        if mark in message:
            return cls(message, code)
    return CanalServerError(message, code)


# ------------------------------------------------------------------------------------------------ requests


def _request(ptype: int, body: bytes) -> bytes:
    p = cp.Packet(type=ptype)  # type: ignore[arg-type]
    if body:
        p.body = body
    return p.SerializeToString()


def _client_id(client_id: int) -> str:
    if isinstance(client_id, bool) or not isinstance(client_id, int) or not -(2**15) <= client_id < 2**15:
        raise LocalProtocolError(f"client_id must be a 16-bit signed integer (a Java short), got {client_id!r}")
    return str(client_id)


def auth_packet(username: str | None, password: str | None, seed: bytes, idle_timeout_ms: int) -> bytes:
    """CLIENTAUTHENTICATION: user, hex scramble of the password with the seed (no password: empty), and the
    idle timeout (ms) as both net timeouts, after which the server closes a silent connection."""
    if not 0 <= idle_timeout_ms <= MAX_JAVA_INT:
        raise LocalProtocolError(f"idle timeout must be 0..{MAX_JAVA_INT} ms, got {idle_timeout_ms}")
    auth = cp.ClientAuth(
        username=username or "",
        password=scramble(password, seed).encode("ascii"),
        net_read_timeout=idle_timeout_ms,
        net_write_timeout=idle_timeout_ms,
    )
    return _request(cp.CLIENTAUTHENTICATION, auth.SerializeToString())


def subscribe_packet(destination: str, client_id: int, filter: str | None) -> bytes:
    sub = cp.Sub(destination=destination, client_id=_client_id(client_id), filter=filter or "")
    return _request(cp.SUBSCRIPTION, sub.SerializeToString())


def unsubscribe_packet(destination: str, client_id: int) -> bytes:
    unsub = cp.Unsub(destination=destination, client_id=_client_id(client_id))
    return _request(cp.UNSUBSCRIPTION, unsub.SerializeToString())


def get_packet(destination: str, client_id: int, batch_size: int, timeout: int | None, unit: str | int) -> bytes:
    """GET: ``batch_size`` <= 0 asks for 1000; ``timeout`` None or negative is sent as -1 (no waiting),
    0 makes the server wait for a full batch however long, > 0 waits up to that long in ``unit``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size > MAX_JAVA_INT:
        raise LocalProtocolError(f"batch_size must be an int up to {MAX_JAVA_INT}, got {batch_size!r}")
    get = cp.Get(
        destination=destination,
        client_id=_client_id(client_id),
        fetch_size=DEFAULT_FETCH_SIZE if batch_size <= 0 else batch_size,
        timeout=wire_timeout(timeout),
        unit=unit_code(unit),
        auto_ack=False,
    )
    return _request(cp.GET, get.SerializeToString())


def wire_timeout(timeout: int | None) -> int:
    if timeout is None:
        return NO_TIMEOUT
    if isinstance(timeout, bool) or not isinstance(timeout, int):
        raise LocalProtocolError(f"timeout must be a whole number of units (or None), got {timeout!r}")
    if timeout > MAX_JAVA_LONG:
        raise LocalProtocolError(f"timeout {timeout} does not fit a Java long")
    return NO_TIMEOUT if timeout < 0 else timeout


def _batch_id(batch_id: int) -> int:
    if isinstance(batch_id, bool) or not isinstance(batch_id, int) or not -(2**63) <= batch_id <= MAX_JAVA_LONG:
        raise LocalProtocolError(f"batch id must be a 64-bit integer, got {batch_id!r}")
    return batch_id


def ack_packet(destination: str, client_id: int, batch_id: int) -> bytes:
    ack = cp.ClientAck(destination=destination, client_id=_client_id(client_id), batch_id=_batch_id(batch_id))
    return _request(cp.CLIENTACK, ack.SerializeToString())


def rollback_packet(destination: str, client_id: int, batch_id: int = 0) -> bytes:
    """CLIENTROLLBACK; batch 0 rolls back every outstanding batch."""
    rb = cp.ClientRollback(destination=destination, client_id=_client_id(client_id), batch_id=_batch_id(batch_id))
    return _request(cp.CLIENTROLLBACK, rb.SerializeToString())


def probe_packet() -> bytes:
    """A HEARTBEAT packet: canal's server answers every type it does not handle with exactly one error
    ("packet type: HEARTBEAT is NOT supported!") and no side effect, which marks a point in the reply stream."""
    return _request(cp.HEARTBEAT, b"")


# ------------------------------------------------------------------------------------------------ replies


def parse_handshake(data: bytes) -> bytes:
    """The seed of the server's HANDSHAKE; canal's client insists on version 1 and the HANDSHAKE type."""
    p = parse_packet(data)
    if p.version != HANDSHAKE_VERSION:
        raise RemoteProtocolError(f"unsupported version at this client: handshake version {p.version}")
    if p.type != cp.HANDSHAKE:
        raise RemoteProtocolError(f"expect handshake but found other type: {packet_type_name(p.type)}")
    return parse_body(cp.Handshake, p.body).seeds


def error_of(p: cp.Packet) -> CanalServerError | None:
    """The typed error an ACK packet carries, None for a success ACK (error_code absent or <= 0)."""
    ack = parse_body(cp.Ack, p.body)
    if ack.error_code > 0:
        return server_error(ack.error_code, ack.error_message)
    return None


def is_probe_reply(p: cp.Packet) -> bool:
    if p.type != cp.ACK:
        return False
    ack = parse_body(cp.Ack, p.body)
    return ack.error_code > 0 and UNSUPPORTED_MARK in ack.error_message and "HEARTBEAT" in ack.error_message


def check_ack(p: cp.Packet, what: str) -> None:
    """The reply to auth/subscribe/unsubscribe: a success ACK, or raise its error."""
    if p.type != cp.ACK:
        raise RemoteProtocolError(
            f"unexpected packet type {packet_type_name(p.type)} when the ack of {what} is expected"
        )
    err = error_of(p)
    if err is not None:
        raise err


def messages_of(p: cp.Packet) -> Message:
    """The reply to a GET: MESSAGES (``version`` may be absent: canal's raw-mode packets have none) or an
    ACK-typed error, raised. The Entries stay serialized until :attr:`Message.entries` is read."""
    if p.type == cp.MESSAGES:
        if p.compression not in (cp.COMPRESSIONCOMPATIBLEPROTO2, cp.NONE):
            raise RemoteProtocolError(f"compression is not supported in this connector: {p.compression}")
        messages = parse_body(cp.Messages, p.body)
        return Message(messages.batch_id, raw=list(messages.messages))
    if p.type == cp.ACK:
        err = error_of(p)
        if err is None:
            raise RemoteProtocolError("a success ACK where MESSAGES was expected")
        raise err
    raise RemoteProtocolError(f"unexpected packet type: {packet_type_name(p.type)}")
