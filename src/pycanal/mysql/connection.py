"""A blocking MySQL client connection: the only module of pycanal.mysql that owns a socket.

It drives the sans-IO pieces (:mod:`.packet` framing and parsing, :mod:`.auth`) over TCP, with TLS
when :class:`~.tls.TlsSettings` ask for it (SSLRequest, then the handshake continues inside TLS).
``OSError`` and socket timeouts are translated here into :class:`ConnectionLostError` (the original kept
as ``__cause__``), TLS set-up failures into :class:`TlsError`; ERR packets become typed
:class:`MySQLServerError` subclasses. The socket is closed as soon as it is known to be broken.
Imports: pycanal.errors, pycanal.mysql.*, socket, ssl, logging.
"""

from __future__ import annotations

import logging
import socket
import ssl
from types import TracebackType

from ..errors import (
    AccessDeniedError,
    ConnectionLostError,
    LocalProtocolError,
    MySQLServerError,
    RemoteProtocolError,
    TlsError,
)
from . import constants as C
from .auth import AuthExchange
from .packet import (
    ColumnDef,
    Handshake,
    OkPacket,
    PacketFramer,
    TextResult,
    Value,
    build_handshake_response,
    build_ssl_request,
    com_ping,
    com_query,
    com_quit,
    parse_handshake,
    parse_ok,
)
from .tls import REQUIRED, TlsSettings

log = logging.getLogger(__name__)


class MySQLConnection:
    """One MySQL/MariaDB client session over TCP.

    Not connected until :meth:`connect` (or ``with``, or the first command, which connects lazily).
    ``connect_timeout`` bounds the TCP connect and every read until authentication is done (canal: 10 s
    connect, 5 s auth reads); ``read_timeout`` bounds each read afterwards (``None`` = wait forever, as
    canal's plain queries do). ``charset`` is the session character set sent in the handshake.
    ``tls``: whether and how to use TLS (``None``: never, as sslMode DISABLED).
    """

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str | bytes,
        *,
        database: str | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float | None = None,
        charset: str = "utf8mb4",
        buffer_size: int = 1 << 20,
        tls: TlsSettings | None = None,
    ) -> None:
        if charset not in C.CHARSET_IDS:
            raise LocalProtocolError(f"unknown charset {charset!r}; use one of {', '.join(C.CHARSET_IDS)}")
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self.database = database
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.charset = charset
        self.encoding = C.CHARSET_CODECS[charset]
        self._buffer_size = buffer_size
        self.tls = tls
        self._sock: socket.socket | None = None
        self._framer = PacketFramer(buffer_size)
        self._closed = False
        self.handshake: Handshake | None = None
        self.capabilities = 0
        self.last_columns: list[ColumnDef] = []
        self.last_ok: OkPacket | None = None
        self.server_status = 0  # status flags of the last OK/EOF (from the handshake at first)

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._sock is not None

    @property
    def server_version(self) -> str:
        return self._require_handshake().server_version

    @property
    def is_mariadb(self) -> bool:
        return self._require_handshake().is_mariadb

    @property
    def connection_id(self) -> int:
        """The server's thread id for this session (what ``KILL`` takes)."""
        return self._require_handshake().connection_id

    @property
    def cipher(self) -> str | None:
        """The TLS cipher of this session, or ``None`` when it runs in plaintext."""
        sock = self._sock
        if isinstance(sock, ssl.SSLSocket):
            found = sock.cipher()
            return found[0] if found else None
        return None

    @property
    def tls_version(self) -> str | None:
        sock = self._sock
        return sock.version() if isinstance(sock, ssl.SSLSocket) else None

    @property
    def no_backslash_escapes(self) -> bool:
        """The session's sql_mode has NO_BACKSLASH_ESCAPES: string literals may only double quotes."""
        return bool(self.server_status & C.SERVER_STATUS_NO_BACKSLASH_ESCAPES)

    @property
    def local_address(self) -> tuple[str, int]:
        sock = self._require_sock()
        host, port = sock.getsockname()[:2]
        return str(host), int(port)

    def _require_handshake(self) -> Handshake:
        if self.handshake is None:
            raise LocalProtocolError("not connected yet")
        return self.handshake

    def connect(self) -> MySQLConnection:
        """Open the TCP connection and authenticate. Returns self."""
        if self._closed:
            raise LocalProtocolError("connection is closed; make a new MySQLConnection")
        if self._sock is not None:
            return self
        where = f"{self.host}:{self.port}"
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            raise ConnectionLostError(f"cannot connect to MySQL at {where}: {exc}") from exc
        self._sock = sock
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._framer = PacketFramer(self._buffer_size)
            self._authenticate()
            self._require_sock().settimeout(self.read_timeout)
        except AccessDeniedError as exc:
            self.abort()
            err = self._login_refused(exc)
            if err is exc:
                raise
            raise err from exc
        except BaseException:
            self.abort()
            raise
        log.debug(
            "connected to %s (%s) as %s, thread %d%s",
            where,
            self.server_version,
            self.user,
            self.connection_id,
            f", {self.tls_version} {self.cipher}" if self.cipher else "",
        )
        return self

    def _authenticate(self) -> None:
        hs = parse_handshake(self.read_packet())
        self.handshake = hs
        self.server_status = hs.status
        if not hs.capabilities & C.CLIENT_PROTOCOL_41:
            raise RemoteProtocolError(f"server {hs.server_version} does not speak protocol 4.1")
        caps = C.DEFAULT_CLIENT_FLAGS & (hs.capabilities | C.CLIENT_LONG_PASSWORD)
        if self.database:
            caps |= C.CLIENT_CONNECT_WITH_DB
        secure = False
        tls = self.tls
        if tls is not None and tls.enabled:
            if hs.capabilities & C.CLIENT_SSL:
                caps |= C.CLIENT_SSL
                self._send(build_ssl_request(capabilities=caps, charset=C.CHARSET_IDS[self.charset]))
                self._start_tls(tls)
                secure = True
            elif tls.required:
                raise TlsError(
                    f"{tls.describe()}, but the MySQL server at {self.host}:{self.port} ({hs.server_version}) "
                    "offers no TLS: give the server ssl_cert and ssl_key (SHOW VARIABLES LIKE 'have_ssl' "
                    "must say YES), or use sslMode PREFERRED or DISABLED"
                )
        self.capabilities = caps
        auth = AuthExchange(self._password, hs.auth_plugin, hs.auth_data, secure=secure)
        self._send(
            build_handshake_response(
                capabilities=caps,
                charset=C.CHARSET_IDS[self.charset],
                user=self.user,
                auth_response=auth.initial_response(),
                auth_plugin=auth.plugin,
                database=self.database,
            )
        )
        while not auth.done:
            reply = auth.receive(self.read_packet())
            if reply is not None:
                self._send(reply)
        if auth.ok is not None:
            self.server_status = auth.ok.status

    def _start_tls(self, tls: TlsSettings) -> None:
        """Wrap the socket after the SSLRequest; the handshake response then goes inside TLS."""
        sock = self._require_sock()
        where = f"{self.host}:{self.port}"
        if self._framer.buffered:
            raise RemoteProtocolError(f"the server at {where} sent data before the TLS handshake")
        try:
            self._sock = tls.context().wrap_socket(sock, server_hostname=self.host)
        except ssl.SSLCertVerificationError as exc:
            raise TlsError(
                f"the certificate of the MySQL server at {where} failed verification ({tls.describe()}): "
                f"{exc.verify_message or exc.reason or exc}"
            ) from exc
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, TimeoutError) as exc:
            raise ConnectionLostError(f"connection to MySQL at {where} lost during the TLS handshake: {exc}") from exc
        except ssl.SSLError as exc:
            raise TlsError(f"TLS handshake with the MySQL server at {where} failed ({tls.describe()}): {exc}") from exc
        except OSError as exc:
            raise ConnectionLostError(f"connection to MySQL at {where} lost during the TLS handshake: {exc}") from exc

    def _login_refused(self, exc: AccessDeniedError) -> MySQLServerError | TlsError:
        """Say why a login was refused. MariaDB answers a plaintext login to a server that requires TLS
        (require_secure_transport, or a user with REQUIRE SSL) with the same 1045 as a wrong password;
        when the server offers TLS and this session did not use it, one TLS login settles which it is."""
        where = f"{self.host}:{self.port}"
        if exc.errno not in (C.ER_ACCESS_DENIED, C.ER_ACCESS_DENIED_NO_PASSWORD):
            return exc
        hs = self.handshake
        plaintext = self.tls is None or not self.tls.enabled
        if hs is not None and plaintext and hs.capabilities & C.CLIENT_SSL and self._tls_login_works():
            return TlsError(
                f"the MySQL server at {where} requires TLS (require_secure_transport=ON, or the user is "
                f"created with REQUIRE SSL/X509): it refused the plaintext login of {self.user!r} "
                f"({exc.message}) and accepts it over TLS. Set sslMode to REQUIRED (or VERIFY_CA / "
                "VERIFY_IDENTITY) for this server"
            )
        return AccessDeniedError(
            exc.errno,
            exc.sqlstate,
            exc.message,
            f"the server at {where} refused user {self.user!r} with this password (or from this host): "
            "check the user name and password",
        )

    def _tls_login_works(self) -> bool:
        probe = MySQLConnection(
            self.host,
            self.port,
            self.user,
            self._password,
            database=self.database,
            connect_timeout=self.connect_timeout,
            charset=self.charset,
            buffer_size=64 * 1024,
            tls=TlsSettings(REQUIRED),
        )
        try:
            probe.connect()
        except Exception as exc:  # the probe only informs the message of the first failure
            log.debug("TLS login probe to %s:%d failed: %s", self.host, self.port, exc)
            return False
        probe.close()
        return True

    def close(self) -> None:
        """Send COM_QUIT (best effort) and close the socket. Idempotent."""
        sock = self._sock
        self._closed = True
        if sock is None:
            return
        try:
            self._framer.reset_sequence()
            sock.settimeout(1.0)
            sock.sendall(self._framer.frame(com_quit()))
        except OSError:
            pass
        self.abort()

    def abort(self) -> None:
        """Close the socket without a goodbye. Idempotent.

        Safe to call from another thread to stop a blocked reader: ``shutdown`` wakes a ``recv`` that a
        plain ``close`` would leave blocked on Linux; the reader then raises ConnectionLostError.
        """
        sock, self._sock = self._sock, None
        self._closed = True
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def __enter__(self) -> MySQLConnection:
        return self.connect()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- raw I/O ----------------------------------------------------------------------------------
    def _require_sock(self) -> socket.socket:
        if self._sock is None:
            if self._closed:
                raise LocalProtocolError("connection is closed")
            self.connect()
        assert self._sock is not None
        return self._sock

    def _lost(self, what: str) -> ConnectionLostError:
        self.abort()
        return ConnectionLostError(f"connection to MySQL at {self.host}:{self.port} lost: {what}")

    def _send(self, payload: bytes) -> None:
        sock = self._require_sock()
        try:
            sock.sendall(self._framer.frame(payload))
        except OSError as exc:
            raise self._lost(f"send failed: {exc}") from exc

    def _fill(self) -> None:
        """Receive more bytes into the framer's buffer (blocking, bounded by the socket timeout)."""
        sock = self._sock
        if sock is None:
            if self._closed:  # closed (maybe by another thread) while a read was under way
                raise ConnectionLostError(f"connection to MySQL at {self.host}:{self.port} was closed locally")
            raise LocalProtocolError("not connected")
        try:
            n = sock.recv_into(self._framer.writable())
        except TimeoutError as exc:
            raise self._lost(f"no data for {sock.gettimeout()} s (read timeout)") from exc
        except OSError as exc:
            raise self._lost(str(exc) or type(exc).__name__) from exc
        except (ValueError, AttributeError) as exc:
            # an SSLSocket that abort() shut down from another thread mid-read drops its SSL object
            if self._closed:
                raise ConnectionLostError(f"connection to MySQL at {self.host}:{self.port} was closed locally") from exc
            raise
        if not n:
            raise self._lost("the server closed the connection")
        self._framer.commit(n)

    def read_packet(self) -> bytes:
        """The next whole payload from the server (multi-packet payloads joined)."""
        framer = self._framer
        try:
            while (pkt := framer.next_packet()) is None:
                self._fill()
        except RemoteProtocolError:
            self.abort()
            raise
        return pkt

    def read_binlog_packet(self) -> bytes:
        """The next COM_BINLOG_DUMP reply: event bytes without the 0x00 marker, ``b""`` at EOF.

        The hot path of a binlog reader: one copy out of the reused receive buffer. An ERR packet
        raises its typed :class:`MySQLServerError`.
        """
        framer = self._framer
        try:
            while (ev := framer.next_event()) is None:
                self._fill()
        except RemoteProtocolError:
            self.abort()
            raise
        return ev

    def send_command(self, command: int, payload: bytes = b"") -> None:
        """Start a new command (sequence id 0): ``command`` byte followed by ``payload``."""
        self._require_sock()
        self._framer.reset_sequence()
        self._send(bytes((command,)) + payload)

    def send_payload(self, payload: bytes) -> None:
        """Start a new command whose payload already begins with the command byte."""
        self._require_sock()
        self._framer.reset_sequence()
        self._send(payload)

    def set_read_timeout(self, timeout: float | None) -> None:
        """Change the per-read timeout (``None`` = block)."""
        self.read_timeout = timeout
        if self._sock is not None:
            self._sock.settimeout(timeout)

    # -- commands ---------------------------------------------------------------------------------
    def read_ok(self) -> OkPacket:
        """Read a reply that must be OK; ERR raises the typed server error."""
        return parse_ok(self.read_packet())

    def query(self, sql: str | bytes) -> list[tuple[Value, ...]]:
        """Run one statement with the text protocol and return its rows.

        Values are ``str`` (text, numbers and dates as the server prints them), ``bytes`` (binary string
        columns) or ``None``. Column definitions are left in ``last_columns``.
        """
        result = self._run(sql)
        self.last_columns = result.columns
        return result.rows

    def execute(self, sql: str | bytes) -> None:
        """Run one statement and drop whatever it returns; errors still raise."""
        self._run(sql)

    def _run(self, sql: str | bytes) -> TextResult:
        self.send_payload(com_query(sql, self.encoding or "utf-8"))
        result = TextResult(self.encoding)
        try:
            while not result.feed(self.read_packet()):
                pass
        except MySQLServerError:
            if not result.done:  # cannot resync the stream after an unexpected error
                self.abort()
            raise
        except RemoteProtocolError:
            self.abort()
            raise
        self.last_ok = result.ok
        self.server_status = result.status
        return result

    def ping(self) -> None:
        """COM_PING: cheap liveness check."""
        self.send_payload(com_ping())
        self.read_ok()
