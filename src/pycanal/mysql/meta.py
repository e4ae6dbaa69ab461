"""Metadata SQL on a MySQL master: the one path for every query that is not the binlog dump.

Positions (SHOW BINARY LOGS, SHOW MASTER STATUS), the binlog format check, heartbeat detection and the
schema sources (information_schema, SHOW CREATE TABLE snapshots) all go through :class:`MetaConnection`,
so they share one client, one TLS set-up and one error vocabulary: an unreachable or dropped server is
:class:`ConnectionLostError`, a refused login :class:`AccessDeniedError` (or :class:`TlsError`), anything
else the server says a :class:`MySQLServerError` subclass. Values come back as the text protocol gives
them: ``str``, ``bytes`` for binary strings, ``None`` for NULL (numbers and dates are ``str``).

Arguments are quoted client-side, PyMySQL style (``%s`` placeholders, ``%%`` for a percent sign), for the
session's sql_mode: with NO_BACKSLASH_ESCAPES only quotes are doubled. The session charset is always
utf8mb4, where backslash escaping is safe. Imports: pycanal.errors, pycanal.mysql.{connection,packet,tls}.
"""

from __future__ import annotations

import datetime
import decimal
import logging
import math
import threading
from collections.abc import Mapping, Sequence
from types import TracebackType

from ..errors import ConnectionLostError, LocalProtocolError, RemoteProtocolError
from . import constants as C
from .connection import MySQLConnection
from .packet import Value
from .tls import TlsSettings

log = logging.getLogger(__name__)

Args = Sequence[object] | Mapping[str, object]

_BACKSLASH_ESCAPES = {
    0: "\\0",
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    0x1A: "\\Z",
    ord("'"): "\\'",
    ord('"'): '\\"',
    ord("\\"): "\\\\",
}


def quote_string(text: str, *, no_backslash_escapes: bool = False) -> str:
    """A single-quoted SQL string literal for ``text``."""
    if no_backslash_escapes:
        return "'" + text.replace("'", "''") + "'"
    return "'" + text.translate(_BACKSLASH_ESCAPES) + "'"


def literal(value: object, *, no_backslash_escapes: bool = False) -> str:
    """The SQL literal for one argument: NULL, a number, a quoted string, X'..' for bytes, a quoted date."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LocalProtocolError(f"{value!r} has no SQL literal")
        return repr(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise LocalProtocolError(f"{value!r} has no SQL literal")
        return str(value)
    if isinstance(value, str):
        return quote_string(value, no_backslash_escapes=no_backslash_escapes)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "X'" + bytes(value).hex() + "'"
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        text = value.isoformat(" ") if isinstance(value, datetime.datetime) else value.isoformat()
        return "'" + text + "'"
    raise LocalProtocolError(f"no SQL literal for a {type(value).__name__} argument: {value!r}")


def format_query(sql: str, args: Args | None, *, no_backslash_escapes: bool = False) -> str:
    """``sql`` with its ``%s`` (or ``%(name)s``) placeholders replaced by quoted ``args``.

    ``args=None`` sends ``sql`` as it is; any other value, even empty, formats it (``%%`` becomes ``%``).
    """
    if args is None:
        return sql
    try:
        if isinstance(args, Mapping):
            return sql % {k: literal(v, no_backslash_escapes=no_backslash_escapes) for k, v in args.items()}
        return sql % tuple(literal(v, no_backslash_escapes=no_backslash_escapes) for v in args)
    except (TypeError, ValueError, KeyError) as exc:
        raise LocalProtocolError(f"query {sql!r} does not fit its arguments {args!r}: {exc}") from exc


class MetaConnection:
    """One metadata session with a MySQL server: opened on first use, reopened after a failure.

    Thread-safe: queries from several threads take turns on the session. A query that fails because a
    session used before has dropped (the server's wait_timeout, a restart) runs once more on a new one;
    a failure to open a session is raised at once. Callable as ``meta(sql, args)``, the query function
    the schema sources take.
    """

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str | bytes,
        *,
        tls: TlsSettings | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self.tls = tls
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._conn: MySQLConnection | None = None
        self._lock = threading.Lock()
        self._closed = False

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _open(self) -> MySQLConnection:
        if self._closed:
            raise LocalProtocolError(f"the metadata connection to {self.address} is closed")
        conn = MySQLConnection(
            self.host,
            self.port,
            self.user,
            self._password,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            buffer_size=256 * 1024,
            tls=self.tls,
        )
        conn.connect()
        try:
            if not conn.server_status & C.SERVER_STATUS_AUTOCOMMIT:
                conn.execute("SET autocommit=1")  # each metadata read sees the latest committed schema
        except BaseException:
            conn.abort()
            raise
        return conn

    def connect(self) -> MetaConnection:
        """Open the session now (queries open it lazily); errors as for :meth:`query`. Returns self."""
        with self._lock:
            if self._conn is None:
                self._conn = self._open()
        return self

    def query(self, sql: str, args: Args | None = None) -> list[tuple[Value, ...]]:
        """Rows of one statement; see the module docstring for values, arguments and errors."""
        with self._lock:
            for attempt in (1, 2):
                conn = self._conn
                reused = conn is not None
                if conn is None:
                    conn = self._conn = self._open()
                text = format_query(sql, args, no_backslash_escapes=conn.no_backslash_escapes)
                try:
                    return conn.query(text)
                except ConnectionLostError as exc:
                    self._drop()
                    if not reused or attempt == 2:
                        raise
                    log.info("metadata connection to %s dropped (%s); reopening it", self.address, exc)
                except RemoteProtocolError:
                    self._drop()
                    raise
                except BaseException:
                    if not conn.connected:
                        self._drop()
                    raise
        raise AssertionError("unreachable")

    __call__ = query

    @property
    def cipher(self) -> str | None:
        """The TLS cipher of the open session (``None``: plaintext, or no session open)."""
        conn = self._conn
        return None if conn is None else conn.cipher

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort()

    def close(self) -> None:
        """Close the session (COM_QUIT); later queries raise LocalProtocolError."""
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __enter__(self) -> MetaConnection:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
