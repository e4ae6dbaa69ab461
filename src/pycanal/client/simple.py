"""canal's ``SimpleCanalConnector`` in Python: one TCP connection to one canal server and destination.

Behaviour kept from the Java client (canal-spec.md 1.4-1.7): the handshake must have version 1; the
password goes out as the hex scramble of the handshake seed; ``net_read/write_timeout`` carry the idle
timeout in ms; ``connect()`` subscribes again with the remembered filter and then sends a rollback of
everything (``rollback_on_connect``); every Get carries ``timeout`` (-1 when none is given) and ``unit``,
and asks for 1000 entries when the batch size is <= 0; ``get()`` is ``get_without_ack()`` plus ``ack()``;
the client id is 1001 unless told otherwise.

What this client adds, because the Java one gets it wrong or leaves it to the caller:

* **Deferred errors, without losing the stream.** canal answers an ack or rollback only when it fails,
  so its error arrives as the reply to the *next* request. When a request gets an error while such
  answers are outstanding, the client sends a HEARTBEAT packet (canal answers unknown packet types
  with exactly one error) and reads up to its answer: the errors before it are raised (the first one,
  with the others as notes), and a batch that arrived behind them is kept and handed out by the next
  ``get_without_ack`` (a rollback or reconnect discards it, since the server voids it too). Java's client
  instead raises and stays one reply behind for the rest of the session. A server that does not answer
  the probe makes the read time out after ``so_timeout``, which is then handled as a broken connection.
* **Reconnects** (``reconnect=True``): a call that finds the connection broken (reset, closed, read
  timeout) reconnects, authenticates, subscribes again with the remembered filter, rolls back (when
  ``rollback_on_connect``), and repeats the call, up to ``retry_times`` reconnects, sleeping
  ``retry_interval`` between attempts that could not reach the server. Data after the last ack is then
  delivered again (at least once, never lost). Batch ids handed out before such a rollback are void:
  acking one raises :class:`~pycanal.errors.BatchNotFound` at once, without asking a server whose batch
  ids may have restarted from 1 and would match the wrong batch (once the new session hands out the same
  id again, it is that batch's id); ``get()`` fetches again when its own batch was voided between its get
  and its ack. With ``rollback_on_connect=False`` batch ids survive a reconnect, which is only right
  when the server did not restart.
* Read timeouts follow the request: ``so_timeout`` plus the time the server was asked to wait; a Get
  with ``timeout=0`` (wait for a full batch) waits without a client-side limit.

Thread safety: calls are serialized, except that ``ack`` and ``rollback`` may be sent while another
thread waits for a Get (as canal's client allows), so a full store can be drained by acking.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

from ..errors import (
    BatchNotFound,
    CanalConnectionError,
    CanalServerError,
    LocalProtocolError,
    RemoteProtocolError,
)
from ..protocol import packet as cp
from ..protocol.frames import FrameDecoder, frame, parse_packet
from . import codec
from .base import AddressProvider, LiveConnection, Message, static_address

log = logging.getLogger(__name__)

DEFAULT_CLIENT_ID = 1001
DEFAULT_MAX_FRAME = 512 * 1024 * 1024  # a batch can hold big rows; this only stops a corrupt length
_RECV_SIZE = 256 * 1024
_MAX_VOIDED = 10_000

T = TypeVar("T")


class _Closed(ConnectionError):
    """The server closed the connection (possibly in the middle of a frame)."""


class _VoidedBatch(BatchNotFound):
    """An ack of a batch that a rollback (the caller's, or the one after a reconnect) already voided."""


class SimpleConnector:
    """A canal client for one destination on one server (or on whatever ``address_provider`` names).

    ``so_timeout`` and ``idle_timeout`` are seconds. ``filter``, when not None, is subscribed on every
    connect, as the Java client's ``setFilter``; ``subscribe()`` remembers its filter the same way.
    """

    def __init__(
        self,
        host: str | None,
        port: int | None,
        destination: str,
        *,
        username: str | None = "",
        password: str | None = "",
        client_id: int = DEFAULT_CLIENT_ID,
        filter: str | None = None,
        so_timeout: float = 60.0,
        idle_timeout: float = 3600.0,
        rollback_on_connect: bool = True,
        reconnect: bool = True,
        retry_times: int = 3,
        retry_interval: float = 5.0,
        max_frame: int = DEFAULT_MAX_FRAME,
        address_provider: AddressProvider | None = None,
    ) -> None:
        if not destination:
            raise LocalProtocolError("destination must not be empty")
        codec.subscribe_packet(destination, client_id, None)  # validates client_id (a Java short)
        if so_timeout <= 0:
            raise LocalProtocolError(f"so_timeout must be > 0 seconds, got {so_timeout}")
        if not 0 <= idle_timeout * 1000 <= codec.MAX_JAVA_INT:
            raise LocalProtocolError(f"idle_timeout must be 0..{codec.MAX_JAVA_INT / 1000:.0f} s, got {idle_timeout}")
        if retry_times < 0 or retry_interval < 0:
            raise LocalProtocolError("retry_times and retry_interval must be >= 0")
        if address_provider is None:
            if host is None or port is None:
                raise LocalProtocolError("give host and port, or an address_provider")
            address_provider = static_address(host, port)
        FrameDecoder(max_frame)  # validates max_frame
        self.destination = destination
        self.client_id = client_id
        self._username = username
        self._password = password
        self._filter = filter  # remembered: subscribed again on every (re)connect when not None
        self._so_timeout = float(so_timeout)
        self._idle_timeout_ms = int(idle_timeout * 1000)
        self._rollback_on_connect = rollback_on_connect
        self._reconnect = reconnect
        self._retry_times = retry_times
        self._retry_interval = retry_interval
        self._max_frame = max_frame
        self._address_provider = address_provider
        self._address: tuple[str, int] | None = None

        self._io_lock = threading.RLock()  # one request/reply exchange (or a reconnect) at a time
        self._write_lock = threading.RLock()  # whole frames on the socket; guards _unconfirmed
        self._sock: socket.socket | None = None
        self._decoder = FrameDecoder(max_frame)
        self._connected = False  # between connect() and disconnect()
        self._unconfirmed = 0  # acks/rollbacks sent whose failure reply could still arrive
        self._outstanding: list[int] = []  # batch ids handed out and not acked, oldest first
        self._voided: dict[int, str] = {}  # batch id -> what voided it
        self._stash: Message | None = None  # a batch that arrived behind a deferred error

    # ------------------------------------------------------------------ public API

    @property
    def address(self) -> tuple[str, int] | None:
        """The server of the current (or last) connection."""
        return self._address

    @property
    def filter(self) -> str | None:
        """The remembered subscription filter (None: nothing to subscribe on connect)."""
        return self._filter

    def connect(self) -> None:
        """Connect, authenticate, subscribe with the remembered filter, roll back (``rollback_on_connect``).

        Does nothing while a connection is up; after a connection was lost (and ``reconnect`` is off)
        it connects again. One attempt: failures raise CanalConnectionError or the server's error.
        """
        with self._io_lock:
            if self._connected and self._sock is not None:
                return
            try:
                self._establish()
            except OSError as exc:
                raise CanalConnectionError(f"cannot connect to canal server {self._where()}: {exc}") from exc
            self._connected = True

    def disconnect(self) -> None:
        """Close the connection (the server keeps the subscription, cursor and outstanding batches)."""
        self._connected = False
        with self._write_lock:
            self._close_socket()
        self._stash = None

    def check_valid(self) -> bool:
        """Whether the connector is connected (canal's simple connector has no client HA to ask)."""
        return self._connected

    def live_connection(self) -> LiveConnection | None:
        """The connection in use (server, this end's ``ip:port``), or None when there is none: not
        connected, disconnected, or the socket was lost and not reopened yet.

        Read under the lock that guards the socket, so it never sees one half replaced: a (re)connect in
        progress in another thread is waited for. This is what a cluster connector asks before each call.
        """
        with self._write_lock:
            sock = self._sock
            if not self._connected or sock is None or self._address is None:
                return None
            try:
                host, port = sock.getsockname()[:2]
                local: str | None = f"{host}:{port}"
            except OSError:
                local = None
            return LiveConnection(self._address, local)

    def __enter__(self) -> SimpleConnector:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.disconnect()

    def __repr__(self) -> str:
        state = "connected" if self._sock is not None else "not connected"
        return f"SimpleConnector({self._where()}, destination={self.destination!r}, {state})"

    def subscribe(self, filter: str | None = None) -> None:
        """Subscribe; a non-empty ``filter`` replaces the instance's table filter on the server.

        ``filter`` None re-uses the remembered filter ("" if none). The filter is remembered for
        reconnects once the server accepted it.
        """
        text = filter if filter is not None else (self._filter or "")
        request = codec.subscribe_packet(self.destination, self.client_id, text)

        def op() -> None:
            reply, deferred = self._exchange(request, self._so_timeout)

            def accept(p: cp.Packet) -> None:
                codec.check_ack(p, "subscribe")
                self._filter = text

            self._deliver(reply, deferred, accept)

        self._run("subscribe", op)

    def unsubscribe(self) -> None:
        """Unsubscribe. canal's server then forgets this client's cursor (ZooKeeper meta deletes it)."""
        request = codec.unsubscribe_packet(self.destination, self.client_id)

        def op() -> None:
            reply, deferred = self._exchange(request, self._so_timeout)

            def accept(p: cp.Packet) -> None:
                codec.check_ack(p, "unsubscribe")
                self._filter = None
                self._void_outstanding("unsubscribe")
                self._stash = None

            self._deliver(reply, deferred, accept)

        self._run("unsubscribe", op)

    def get_without_ack(self, batch_size: int, timeout: int | None = None, unit: str | int = "ms") -> Message:
        """The next batch, to be acked (or rolled back) later; batch id -1 means no data.

        ``timeout`` None (or negative): return what the server has now. 0: the server waits until
        ``batch_size`` is reached, however long. > 0: it waits up to ``timeout`` ``unit``s, then returns
        what it has. ``unit``: ``"ns"``, ``"us"``, ``"ms"``, ``"s"``, ``"min"``, ``"h"``, ``"d"`` or a
        Java TimeUnit ordinal. ``batch_size`` <= 0 asks for 1000 (entries, or KB in canal's MEMSIZE mode).
        """
        request = codec.get_packet(self.destination, self.client_id, batch_size, timeout, unit)
        wait = codec.wire_timeout(timeout)
        if wait == codec.NO_TIMEOUT:
            read_timeout: float | None = self._so_timeout
        elif wait == 0:
            read_timeout = None
        else:
            read_timeout = self._so_timeout + wait * codec.unit_seconds(codec.unit_code(unit))

        def op() -> Message:
            if self._stash is not None:
                msg, self._stash = self._stash, None
                return msg
            reply, deferred = self._exchange(request, read_timeout)
            got: list[Message] = []

            def accept(p: cp.Packet) -> None:
                msg = codec.messages_of(p)
                if msg.batch_id != Message.EMPTY_BATCH_ID:
                    self._outstanding.append(msg.batch_id)
                    self._voided.pop(msg.batch_id, None)
                got.append(msg)

            try:
                self._deliver(reply, deferred, accept)
            except CanalServerError:
                if got and not got[0].is_empty:
                    self._stash = got[0]  # handed out by the next call
                raise
            return got[0]

        return self._run("get", op)

    def get(self, batch_size: int, timeout: int | None = None, unit: str | int = "ms") -> Message:
        """``get_without_ack`` then ``ack`` (canal's client acks even the empty batch -1, which the server
        ignores). If a reconnect voided the batch in between, its data is fetched again."""
        for _ in range(self._retry_times + 1):
            msg = self.get_without_ack(batch_size, timeout, unit)
            try:
                self.ack(msg.batch_id)
            except _VoidedBatch:
                log.info("batch %s was voided by a reconnect before its ack; fetching it again", msg.batch_id)
                continue
            return msg
        raise CanalConnectionError(f"get: the connection to {self._where()} kept breaking between get and ack")

    def ack(self, batch_id: int) -> None:
        """Confirm a batch (the oldest outstanding one: canal requires order). The server answers only when
        the ack fails, so such an error is raised by the next call that reads a reply."""
        if batch_id == 0:
            raise CanalServerError("batchId should assign value", CanalServerError.BATCH_ID_UNSET)
        request = codec.ack_packet(self.destination, self.client_id, batch_id)

        def op() -> None:
            with self._write_lock:  # a reconnect voids batches under this lock too
                reason = self._voided.get(batch_id)
                if reason is not None:
                    raise _VoidedBatch(
                        f"ack error , clientId:{self.client_id} batchId:{batch_id} is not exist , please check"
                        f" (voided by {reason}: its data is delivered again)"
                    )
                self._send(request)
                if batch_id != Message.EMPTY_BATCH_ID:  # canal ignores -1 without a reply
                    self._unconfirmed += 1
                    if batch_id in self._outstanding:
                        self._outstanding.remove(batch_id)

        self._run_write("ack", op)

    def rollback(self, batch_id: int | None = None) -> None:
        """Hand out everything after the last ack again. ``batch_id`` (None/0 = all) must be the oldest
        outstanding batch; either way every outstanding batch is void afterwards. A batch that a
        reconnect already voided needs no rollback: nothing is sent for it."""
        bid = 0 if batch_id is None else batch_id
        request = codec.rollback_packet(self.destination, self.client_id, bid)

        def op() -> None:
            with self._write_lock:
                if bid and bid in self._voided:
                    return
                self._send(request)
                self._unconfirmed += 1
                self._void_outstanding(f"rollback({bid})")
                self._stash = None

        self._run_write("rollback", op)

    # ------------------------------------------------------------------ connection

    def _where(self) -> str:
        if self._address is None:
            return "<not connected yet>"
        return f"{self._address[0]}:{self._address[1]}"

    def _close_socket(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv
            except OSError:
                pass
            sock.close()

    def _void_outstanding(self, reason: str) -> None:
        for bid in self._outstanding:
            self._voided[bid] = reason
        self._outstanding.clear()
        while len(self._voided) > _MAX_VOIDED:  # keep the newest; ids that old are not acked any more
            del self._voided[next(iter(self._voided))]

    def _open(self) -> None:
        """Dial, read the handshake, authenticate."""
        host, port = self._address = self._address_provider()
        sock = socket.create_connection((host, port), timeout=self._so_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._decoder = FrameDecoder(self._max_frame)
        self._unconfirmed = 0
        seed = codec.parse_handshake(self._recv_body(self._so_timeout))
        self._send(codec.auth_packet(self._username, self._password, seed, self._idle_timeout_ms))
        codec.check_ack(parse_packet(self._recv_body(self._so_timeout)), "authentication")
        log.info("connected to canal server %s:%s, destination %s", host, port, self.destination)

    def _establish(self) -> None:
        """A new session: open, subscribe with the remembered filter, roll back. Closes on any failure."""
        with self._write_lock:
            try:
                self._open()
                self._stash = None
                if self._filter is not None:
                    reply, deferred = self._exchange(
                        codec.subscribe_packet(self.destination, self.client_id, self._filter), self._so_timeout
                    )
                    self._deliver(reply, deferred, lambda p: codec.check_ack(p, "subscribe"))
                if self._rollback_on_connect:
                    self._send(codec.rollback_packet(self.destination, self.client_id, 0))
                    self._unconfirmed += 1
                    self._void_outstanding("the rollback after (re)connecting")
            except BaseException:
                self._close_socket()
                raise

    def _run(self, what: str, op: Callable[[], T]) -> T:
        """Run ``op`` on a live connection, reconnecting (when enabled) if it finds the connection broken."""
        with self._io_lock:
            attempts = 1 + (self._retry_times if self._reconnect else 0)
            last: Exception | None = None
            unreachable = False
            for attempt in range(attempts):
                if not self._connected:
                    if attempt:
                        raise CanalConnectionError(f"{what}: disconnected while waiting: {last}") from last
                    raise LocalProtocolError(f"{what}: not connected; call connect() first")
                try:
                    if self._sock is None:
                        if not self._reconnect:
                            raise CanalConnectionError(
                                f"{what}: the connection to {self._where()} was lost "
                                "(reconnect is off); call connect() again"
                            )
                        if attempt and unreachable and self._retry_interval:
                            time.sleep(self._retry_interval)
                        log.warning("%s: reconnecting to canal server %s", what, self._where())
                        unreachable = True
                        self._establish()
                        unreachable = False
                    return op()
                except OSError as exc:
                    last = exc
                    with self._write_lock:
                        self._close_socket()
                    log.warning("%s: connection to canal server %s failed: %s", what, self._where(), exc)
                except RemoteProtocolError:
                    with self._write_lock:
                        self._close_socket()  # the byte stream cannot be trusted any more
                    raise
            raise CanalConnectionError(
                f"{what}: no working connection to canal server {self._where()} after {attempts} attempt(s): {last}"
            ) from last

    def _run_write(self, what: str, op: Callable[[], None]) -> None:
        """A request without a reply (ack, rollback): through :meth:`_run` (and its reconnects), or, while
        another thread waits for a reply, written beside it at once (that thread handles a reconnect)."""
        if self._io_lock.acquire(blocking=False):
            try:
                self._run(what, op)
            finally:
                self._io_lock.release()
            return
        if not self._connected or self._sock is None:
            self._run(what, op)  # wait for the other thread, then reconnect if needed
            return
        try:
            op()
        except OSError as exc:
            with self._write_lock:
                self._close_socket()
            raise CanalConnectionError(
                f"{what}: connection to canal server {self._where()} broke: {exc}"
                " (after the reconnect the batch is delivered again)"
            ) from exc

    # ------------------------------------------------------------------ frames

    def _send(self, packet: bytes) -> None:
        sock = self._sock
        if sock is None:
            raise _Closed("not connected")
        with self._write_lock:
            sock.sendall(frame(packet))

    def _recv_body(self, timeout: float | None) -> bytes:
        sock = self._sock
        if sock is None:
            raise _Closed("not connected")
        decoder = self._decoder
        sock.settimeout(timeout)
        while (body := decoder.next_frame()) is None:
            chunk = sock.recv(_RECV_SIZE)
            if not chunk:
                try:
                    decoder.eof()
                except RemoteProtocolError as exc:
                    raise _Closed(f"the canal server closed the connection: {exc}") from exc
                raise _Closed("the canal server closed the connection")
            decoder.feed(chunk)
        return body

    def _confirm(self, count: int) -> None:
        with self._write_lock:
            self._unconfirmed -= count

    def _exchange(self, request: bytes, timeout: float | None) -> tuple[cp.Packet | None, list[CanalServerError]]:
        """Send a request and read its reply, sorting out the failure answers of earlier acks/rollbacks.

        Returns (reply, deferred errors). The reply is None when every packet up to the probe answer was
        an error, i.e. this request failed too and the errors cannot be told apart.
        """
        with self._write_lock:
            self._send(request)
            pending = self._unconfirmed
        first = parse_packet(self._recv_body(timeout))
        if first.type != cp.ACK or codec.error_of(first) is None:
            self._confirm(pending)  # a success reply: every ack/rollback before it went through
            return first, []
        if pending == 0:
            return first, []  # this request's own error
        # An error while ack/rollback answers may be outstanding: theirs or ours? Mark the stream.
        with self._write_lock:
            self._send(codec.probe_packet())
            pending = self._unconfirmed
        replies = [first]
        while True:
            p = parse_packet(self._recv_body(timeout))
            if codec.is_probe_reply(p):
                break
            replies.append(p)
            if len(replies) > pending + 1:
                raise RemoteProtocolError(
                    f"{len(replies)} replies for one request and {pending} acks/rollbacks before the probe's answer"
                )
        self._confirm(pending)
        ok = [p for p in replies if p.type != cp.ACK or codec.error_of(p) is None]
        errors = [e for p in replies if (e := codec.error_of(p) if p.type == cp.ACK else None) is not None]
        if len(ok) > 1:
            raise RemoteProtocolError(f"{len(ok)} success replies for one request")
        return (ok[0] if ok else None), errors

    @staticmethod
    def _deliver(
        reply: cp.Packet | None, deferred: list[CanalServerError], accept: Callable[[cp.Packet], None]
    ) -> None:
        """Apply ``accept`` to the reply (it raises the reply's own error), then raise deferred errors."""
        if reply is not None:
            accept(reply)
        if not deferred:
            return
        err = deferred[0]
        for other in deferred[1:]:
            err.add_note(f"also reported: [{other.code}] {other}")
        if reply is not None:
            err.add_note(
                "reported for an earlier ack or rollback (canal answers those only when they fail); "
                "the request itself succeeded"
            )
        else:
            err.add_note(
                "canal answers an ack or rollback only when it fails: this error may belong to an "
                "earlier ack or rollback rather than to this request"
            )
        raise err
