"""canal's TCP server (CanalServerWithNetty + its handlers), wire-compatible with canal's clients.

One thread per connection speaks canal-spec.md 1.4 over the embedded API: a handshake with a fresh seed,
then every frame is a ClientAuth until one passes (failures keep the connection open), then SUBSCRIPTION,
GET, CLIENTACK, CLIENTROLLBACK and UNSUBSCRIPTION with canal's replies, error codes and texts (no reply to a
successful ack or rollback; their errors are read by the client's next read).

Where canal trusts the peer, this server does not, so one bad client never hurts the others:

* a frame length above ``max_frame`` (or negative) is refused before anything is allocated;
* a GET that waits (timeout 0/omitted = until a full batch, or > 0) waits here, outside the embedded
  server's per-destination lock, watching the socket: a client that goes away ends the wait;
* a reply that the client does not read within ``send_timeout`` closes the connection;
* batches handed out on a connection and not acked when it ends are rolled back, so the next connection
  of the same client identity gets those rows again.
"""

from __future__ import annotations

import itertools
import logging
import re
import select
import selectors
import socket
import threading
import time
from collections.abc import Callable

from google.protobuf.message import Message as ProtoMessage

from ..errors import (
    BatchOutOfOrder,
    CanalServerError,
    ConfigError,
    LocalProtocolError,
    PycanalError,
    RemoteProtocolError,
)
from ..model import ClientIdentity
from ..protocol import packet as pb
from ..protocol.frames import (
    DEFAULT_MAX_FRAME,
    FrameDecoder,
    ack_packet,
    auth_failed_message,
    authenticate,
    error_packet,
    frame,
    handshake_packet,
    messages_packet,
    new_seed,
    parse_body,
    parse_packet,
    proto_text,
    raw_messages_packet,
    unsupported_message,
)
from ..store.memory import MEMSIZE, MemoryEventStore
from .embedded import CanalServerWithEmbedded, Message, TimeUnit

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_IDLE_TIMEOUT", "DEFAULT_SEND_TIMEOUT", "CanalTcpServer"]

DEFAULT_IDLE_TIMEOUT = 3600.0  # s: canal's idle close when the client gives no net_read/write_timeout
DEFAULT_SEND_TIMEOUT = 60.0  # s: a reply not taken by the client within this closes the connection
POLL_INTERVAL = 0.02  # s: how often a waiting GET looks at the store and the socket
_RECV_SIZE = 65536
_JAVA_SHORT = re.compile(r"[+-]?\d+")


class _Closed(Exception):
    """The connection is over: peer gone, idle, too slow to read, protocol broken, or server stopping."""


class _JavaError(Exception):
    """A failure that canal reports with a Java exception class in its error text."""

    def __init__(self, java_class: str, message: str) -> None:
        super().__init__(message)
        self.java_class = java_class
        self.message = message


def java_short(text: str) -> int:
    """``Short.parseShort``: an optional sign and decimal digits, within -32768..32767."""
    if not _JAVA_SHORT.fullmatch(text):
        raise _JavaError("java.lang.NumberFormatException", f'For input string: "{text}"')
    value = int(text)
    if not -(2**31) <= value < 2**31:
        raise _JavaError("java.lang.NumberFormatException", f'For input string: "{text}"')
    if not -(2**15) <= value < 2**15:
        raise _JavaError("java.lang.NumberFormatException", f'Value out of range. Value:"{text}" Radix:10')
    return value


def _null_identity(kind: str, msg: ProtoMessage) -> bytes:
    return error_packet(CanalServerError.NULL_IDENTITY, f"destination or clientId is null. {kind}: {proto_text(msg)}")


def _java_class(exc: BaseException) -> str:
    if isinstance(exc, _JavaError):
        return exc.java_class
    if isinstance(exc, BatchOutOfOrder):
        return "com.alibaba.otter.canal.meta.exception.CanalMetaManagerException"
    if isinstance(exc, CanalServerError):
        return "com.alibaba.otter.canal.server.exception.CanalServerException"
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


def _full_batch(store: MemoryEventStore, batch_size: int) -> bool:
    """Would a blocking store get return now? (The store's own wait condition, from its public counters.)"""
    m = store.metrics()
    if m.batch_mode == MEMSIZE:
        return m.put_mem_size - m.get_mem_size >= batch_size * m.memunit
    return batch_size < 1 or m.put_sequence - m.get_sequence >= batch_size


class _Session:
    """One client connection, served by its own thread."""

    def __init__(self, server: CanalTcpServer, sock: socket.socket, conn_id: int) -> None:
        self.server = server
        self.embedded = server.embedded
        self.sock = sock
        self.conn_id = conn_id
        try:
            peer, local = sock.getpeername(), sock.getsockname()
            self.channel = f"[id: 0x{conn_id:08x}, /{peer[0]}:{peer[1]} => /{local[0]}:{local[1]}]"
        except OSError:
            self.channel = f"[id: 0x{conn_id:08x}]"
        self.decoder = FrameDecoder(server.max_frame)
        self.seed = new_seed()
        self.user: str | None = None  # set once authenticated
        self.read_idle = self.write_idle = server.idle_timeout
        self.last_read = self.last_write = time.monotonic()
        self.handed: dict[tuple[str, int], set[int]] = {}  # batches given out here and not acked/rolled back
        self._poller = select.poll()
        self._poller.register(sock, select.POLLIN | select.POLLPRI)
        self._pipelined = False  # the client sent more while a GET waited: stop peeking for EOF
        self.thread = threading.Thread(target=self._run, name=f"canal-tcp-{conn_id}", daemon=True)

    # ------------------------------------------------------------------ I/O

    def abort(self) -> None:
        """From another thread: make every blocking call of this session return."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, packet: bytes) -> None:
        data = frame(packet)
        self.sock.settimeout(self.server.send_timeout)
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise _Closed(
                f"the client did not take a {len(data)}-byte reply within {self.server.send_timeout:g}s"
            ) from None
        except OSError as exc:
            raise _Closed(f"write failed: {exc}") from None
        self.last_write = time.monotonic()

    def _send_quietly(self, packet: bytes) -> None:
        try:
            self._send(packet)
        except _Closed:
            pass

    def _read_frame(self) -> bytes | None:
        """The next frame body; None when the client closed between frames."""
        while True:
            body = self.decoder.next_frame()
            if body is not None:
                return body
            now = time.monotonic()
            deadline = min(self.last_read + self.read_idle, self.last_write + self.write_idle)
            if now >= deadline:
                raise _Closed("idle timeout exceeds, close channel to save server resources")
            self.sock.settimeout(deadline - now)
            try:
                data = self.sock.recv(_RECV_SIZE)
            except TimeoutError:
                continue
            except OSError as exc:
                raise _Closed(f"read failed: {exc}") from None
            if not data:
                if self.server.stopping:
                    return None
                self.decoder.eof()
                return None
            self.last_read = time.monotonic()
            self.decoder.feed(data)

    def _wait_client(self, seconds: float) -> None:
        """Sleep up to ``seconds`` while a GET waits for data; raise _Closed if the client or server went away."""
        if self.server.stopping:
            raise _Closed("server stopping")
        if self._pipelined:
            self.server._stop_event.wait(seconds)
            return
        if not self._poller.poll(max(0, int(seconds * 1000))):
            return
        try:
            self.sock.settimeout(0)
            peek = self.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return
        except OSError as exc:
            raise _Closed(f"read failed: {exc}") from None
        if not peek:
            raise _Closed("client closed the connection while its GET waited for data")
        self._pipelined = True

    def _error_text(self, exc: BaseException) -> str:
        """canal's SessionHandler text for an exception (the Java stack trace is just its first line here)."""
        message = exc.message if isinstance(exc, CanalServerError | _JavaError) else str(exc)
        return f"something goes wrong with channel: {self.channel}, exception: {_java_class(exc)}: {message}"

    # ------------------------------------------------------------------ lifecycle

    def _run(self) -> None:
        reason = "closed by the client"
        try:
            self._send(handshake_packet(self.seed))
            while True:
                try:
                    body = self._read_frame()
                except RemoteProtocolError as exc:
                    log.warning("bad frame from %s: %s; closing", self.channel, exc)
                    self._send_quietly(error_packet(CanalServerError.GENERIC, self._error_text(exc)))
                    reason = str(exc)
                    return
                if body is None:
                    return
                if self.user is None:
                    self._on_auth(body)
                else:
                    self._on_packet(body)
        except _Closed as exc:
            reason = str(exc)
        except Exception:  # a bug: this connection ends, every other one goes on
            log.exception("unexpected error on %s", self.channel)
            reason = "internal error"
        finally:
            self._cleanup(reason)

    def _cleanup(self, reason: str) -> None:
        for key, ids in self.handed.items():
            if not ids:
                continue
            identity = ClientIdentity(*key)
            try:
                lost = ids & set(self.embedded.list_batch_ids(identity))
                if lost:
                    self.embedded.rollback(identity)
                    log.warning(
                        "%s ended with unacked batches %s of %s: rolled back for its next connection",
                        self.channel,
                        sorted(lost),
                        identity,
                    )
            except PycanalError as exc:
                log.info("%s: no rollback for %s: %s", self.channel, identity, exc)
        self._poller.unregister(self.sock)
        try:
            self.sock.close()
        finally:
            self.server._forget(self)
        log.info("connection %s closed: %s", self.channel, reason)

    # ------------------------------------------------------------------ authentication

    def _on_auth(self, body: bytes) -> None:
        """canal's ClientAuthenticationHandler: any frame before success is read as a ClientAuth."""
        try:
            auth = parse_body(pb.ClientAuth, parse_packet(body).body)
        except RemoteProtocolError as exc:
            self._send_quietly(error_packet(CanalServerError.GENERIC, self._error_text(exc)))
            raise _Closed(str(exc)) from None
        password = auth.password.decode("utf-8", "replace")
        if not authenticate(self.server.user, self.server.passwd, auth.username, password, self.seed):
            log.warning("auth failed for user:%s on %s", auth.username, self.channel)
            self._send(error_packet(CanalServerError.GENERIC, auth_failed_message(auth.username)))
            return
        if auth.destination and auth.client_id:  # optional subscribe with the auth; canal closes on failure
            try:
                identity = ClientIdentity(auth.destination, java_short(auth.client_id), auth.filter)
                self.embedded.subscribe(identity)
            except (CanalServerError, _JavaError) as exc:
                self._send_quietly(error_packet(CanalServerError.GENERIC, self._error_text(exc)))
                raise _Closed(f"subscribe with the auth failed: {exc}") from None
        if auth.net_read_timeout > 0:
            self.read_idle = auth.net_read_timeout / 1000.0
        if auth.net_write_timeout > 0:
            self.write_idle = auth.net_write_timeout / 1000.0
        self.user = auth.username
        self._send(ack_packet())
        log.info(
            "%s authenticated as %r (idle timeouts read %gs, write %gs)",
            self.channel,
            auth.username,
            self.read_idle,
            self.write_idle,
        )

    # ------------------------------------------------------------------ session

    def _on_packet(self, body: bytes) -> None:
        """canal's SessionHandler: one packet in, at most one packet out."""
        try:
            packet = parse_packet(body)
        except RemoteProtocolError as exc:
            self._send_quietly(error_packet(CanalServerError.GENERIC, self._error_text(exc)))
            raise _Closed(str(exc)) from None
        handler = _HANDLERS.get(packet.type)
        if handler is None:
            self._send(error_packet(CanalServerError.GENERIC, unsupported_message(packet.type)))
            return
        try:
            reply = handler(self, packet.body)
        except _Closed:
            raise
        except (CanalServerError, _JavaError, RemoteProtocolError, LocalProtocolError) as exc:
            log.info("%s: %s failed: %s", self.channel, pb.PacketType.Name(packet.type), exc)
            reply = error_packet(CanalServerError.GENERIC, self._error_text(exc))
        except Exception as exc:  # store/meta/unexpected: reported like canal reports any exception
            log.warning("%s: %s failed", self.channel, pb.PacketType.Name(packet.type), exc_info=True)
            reply = error_packet(CanalServerError.GENERIC, self._error_text(exc))
        if reply is not None:
            self._send(reply)

    def _subscription(self, body: bytes) -> bytes:
        sub = parse_body(pb.Sub, body)
        if not (sub.destination and sub.client_id):
            return _null_identity("Sub", sub)
        self.embedded.subscribe(ClientIdentity(sub.destination, java_short(sub.client_id), sub.filter))
        return ack_packet()

    def _unsubscription(self, body: bytes) -> bytes:
        unsub = parse_body(pb.Unsub, body)
        if not (unsub.destination and unsub.client_id):
            return _null_identity("Unsub", unsub)
        self.embedded.unsubscribe(ClientIdentity(unsub.destination, java_short(unsub.client_id), unsub.filter))
        return ack_packet()

    def _get(self, body: bytes) -> bytes:
        get = parse_body(pb.Get, body)
        if not (get.destination and get.client_id):
            return _null_identity("Get", get)
        identity = ClientIdentity(get.destination, java_short(get.client_id))
        if get.timeout == -1:  # canal's "no timeout control": take what is there
            msg = self.embedded.get_without_ack(identity, get.fetch_size, None)
        else:
            msg = self._waiting_get(identity, get.fetch_size, get.timeout, get.unit)
        if msg.batch_id == Message.EMPTY_BATCH_ID:
            return messages_packet(Message.EMPTY_BATCH_ID, ())
        self.handed.setdefault(identity.key(), set()).add(msg.batch_id)
        if msg.raw:
            return raw_messages_packet(msg.batch_id, msg.entries)
        return messages_packet(msg.batch_id, msg.entries)

    def _waiting_get(self, identity: ClientIdentity, batch_size: int, timeout: int, unit: int) -> Message:
        """getWithoutAck with a timeout: <= 0 waits for a full batch, > 0 up to the timeout for one, then takes
        what there is. The wait happens here, not inside the embedded server's lock, so it can end when the
        client disconnects or the server stops, and other clients of the destination are not held up."""
        self._pipelined = False
        deadline = None if timeout <= 0 else time.monotonic() + TimeUnit.from_wire(unit).to_seconds(timeout)
        self.embedded.list_batch_ids(identity)  # not running / not subscribed: fail now, as get would
        while True:
            instance = self.embedded.get_instance(identity.destination)
            if instance is None or not instance.is_running() or _full_batch(instance.store, batch_size):
                # a full batch is there (or the get fails at once): the short wait only covers a race with
                # another client of the destination taking it first
                return self.embedded.get_without_ack(identity, batch_size, 0.5, TimeUnit.SECONDS)
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return self.embedded.get_without_ack(identity, batch_size, None)
            self._wait_client(POLL_INTERVAL if deadline is None else min(POLL_INTERVAL, deadline - now))

    def _client_ack(self, body: bytes) -> bytes | None:
        ack = parse_body(pb.ClientAck, body)
        if not (ack.destination and ack.client_id):
            return _null_identity("Ack", ack)
        if ack.batch_id == 0:
            return error_packet(CanalServerError.BATCH_ID_UNSET, f"batchId should assign value. Ack: {proto_text(ack)}")
        if ack.batch_id == Message.EMPTY_BATCH_ID:
            return None  # the "no data" id: ignored
        identity = ClientIdentity(ack.destination, java_short(ack.client_id))
        self.embedded.ack(identity, ack.batch_id)
        self.handed.get(identity.key(), set()).discard(ack.batch_id)
        return None  # canal sends nothing back on success

    def _client_rollback(self, body: bytes) -> bytes | None:
        rb = parse_body(pb.ClientRollback, body)
        if not (rb.destination and rb.client_id):
            return _null_identity("Rollback", rb)
        identity = ClientIdentity(rb.destination, java_short(rb.client_id))
        self.embedded.rollback(identity, rb.batch_id or None)
        self.handed.pop(identity.key(), None)  # every outstanding batch is void now
        return None


_HANDLERS: dict[int, Callable[[_Session, bytes], bytes | None]] = {
    pb.SUBSCRIPTION: _Session._subscription,
    pb.UNSUBSCRIPTION: _Session._unsubscription,
    pb.GET: _Session._get,
    pb.CLIENTACK: _Session._client_ack,
    pb.CLIENTROLLBACK: _Session._client_rollback,
}


class CanalTcpServer:
    """canal's TCP endpoint over a :class:`CanalServerWithEmbedded`.

    ``host`` "" listens on every interface (canal.ip empty); ``port`` 0 takes a free port, see :attr:`port`.
    ``user``/``passwd`` are canal.user and canal.passwd (hex SHA1(SHA1(password))). ``max_frame`` bounds an
    inbound frame; ``send_timeout`` (s) is how long a reply may wait for a client that does not read;
    ``idle_timeout`` (s) closes a connection with no traffic when the client gave no net_read/write_timeout
    (and before authentication).
    """

    def __init__(
        self,
        embedded: CanalServerWithEmbedded,
        host: str = "",
        port: int = 11111,
        *,
        user: str | None = None,
        passwd: str | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        send_timeout: float = DEFAULT_SEND_TIMEOUT,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        backlog: int = 128,
    ) -> None:
        if user and not passwd:
            raise ConfigError(f"canal.user = {user} , but canal.passwd is empty")
        if passwd:
            try:
                if len(bytes.fromhex(passwd)) != 20:
                    raise ValueError
            except ValueError:
                raise ConfigError(f"canal.passwd must be 40 hex digits (SHA1(SHA1(password))), got {passwd!r}")
        if not 0 <= port <= 65535:
            raise ConfigError(f"port must be within 0..65535, got {port}")
        if send_timeout <= 0 or idle_timeout <= 0:
            raise ConfigError("send_timeout and idle_timeout must be positive")
        FrameDecoder(max_frame)  # validates max_frame
        self.embedded = embedded
        self.host = host
        self._requested_port = port
        self.user = user or None
        self.passwd = passwd or None
        self.max_frame = max_frame
        self.send_timeout = send_timeout
        self.idle_timeout = idle_timeout
        self.backlog = backlog
        self._listener: socket.socket | None = None
        self._bound: socket.socket | None = None  # bound, not listening yet
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._sessions: set[_Session] = set()
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._ids = itertools.count(1)
        self._port: int | None = None

    # ------------------------------------------------------------------ properties

    @property
    def port(self) -> int:
        """The bound port (the one picked by the system when 0 was asked); the asked one before start."""
        return self._port if self._port is not None else self._requested_port

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    @property
    def connections(self) -> int:
        """Connections open now."""
        with self._lock:
            return len(self._sessions)

    # ------------------------------------------------------------------ lifecycle

    def bind(self) -> int:
        """Reserve the port without accepting connections yet; returns the bound port.

        canal opens its port only once the destinations are started, so a client that connects the instant
        the port answers is served. Binding first keeps that order while the port is already known (and
        held) for ZooKeeper HA to advertise, also when canal.port is 0. Until :meth:`start` listens, a
        connection attempt is refused as if nothing were there.
        """
        if self._bound is not None:
            return self.port
        if self._listener is not None:
            raise LocalProtocolError("the server is already started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._requested_port))
        except OSError as exc:
            sock.close()
            raise ConfigError(f"cannot listen on {self.host or '*'}:{self._requested_port}: {exc}") from exc
        self._bound = sock
        self._port = sock.getsockname()[1]
        return self._port

    def start(self) -> None:
        """Listen (binding first unless :meth:`bind` did) and accept connections in a thread."""
        if self._listener is not None:
            raise LocalProtocolError("the server is already started")
        self.bind()
        listener, self._bound = self._bound, None
        assert listener is not None
        try:
            listener.listen(self.backlog)
            listener.setblocking(False)
        except OSError as exc:
            listener.close()
            raise ConfigError(f"cannot listen on {self.host or '*'}:{self._requested_port}: {exc}") from exc
        self._listener = listener
        self._wake_r, self._wake_w = socket.socketpair()
        self._stop_event.clear()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"canal-tcp-accept-{self._port}", daemon=True
        )
        self._accept_thread.start()
        log.info(
            "canal tcp server listening on %s:%d (destinations: %s)",
            self.host or "*",
            self._port,
            ", ".join(self.embedded.destinations()) or "none",
        )

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection (rolling back their unacked batches) and wait for them."""
        if self._bound is not None:
            self._bound.close()
            self._bound = None
        if self._listener is None:
            return
        self._stop_event.set()
        assert self._wake_w is not None and self._accept_thread is not None
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._accept_thread.join(timeout)
        with self._lock:
            sessions = list(self._sessions)
        for s in sessions:
            s.abort()
        deadline = time.monotonic() + timeout
        for s in sessions:
            s.thread.join(max(0.0, deadline - time.monotonic()))
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._listener = self._wake_r = self._wake_w = None
        self._accept_thread = None
        log.info("canal tcp server on port %s stopped", self._port)

    def __enter__(self) -> CanalTcpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals

    def _accept_loop(self) -> None:
        assert self._listener is not None and self._wake_r is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self._listener, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self.stopping:
                for key, _ in sel.select():
                    if key.fileobj is self._wake_r:
                        return
                    try:
                        conn, _addr = self._listener.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError as exc:  # e.g. out of file descriptors: back off instead of spinning
                        log.error("accept failed: %s", exc)
                        self._stop_event.wait(0.1)
                        continue
                    self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.setblocking(True)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            session = _Session(self, conn, next(self._ids))
        except OSError as exc:
            log.info("dropping a connection that failed at once: %s", exc)
            conn.close()
            return
        with self._lock:
            if self.stopping:
                session._poller.unregister(conn)
                conn.close()
                return
            self._sessions.add(session)
        log.info("client connected: %s", session.channel)
        session.thread.start()

    def _forget(self, session: _Session) -> None:
        with self._lock:
            self._sessions.discard(session)
