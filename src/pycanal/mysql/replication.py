"""A replication (binlog dump) connection: canal's per-attempt prelude, register, dump, raw events out.

One :class:`ReplicationConnection` is one dump attempt as canal's MysqlConnector makes it (canal-spec
section 6.1): session settings, checksum discovery, COM_REGISTER_SLAVE, then COM_BINLOG_DUMP from a
file and position, or from a GTID set (MariaDB: ``@slave_connect_state``; MySQL: COM_BINLOG_DUMP_GTID).
It yields raw event bytes and does not decode them (that is pycanal.binlog); reconnecting and choosing
the start position belong to the layer above. Imports: pycanal.errors, pycanal.mysql.*, logging.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from types import TracebackType

from ..errors import (
    AccessDeniedError,
    ConnectionLostError,
    LocalProtocolError,
    MySQLServerError,
    PositionNotFound,
    PrivilegeError,
)
from . import constants as C
from .connection import MySQLConnection
from .packet import check_mariadb_gtid_state, com_binlog_dump, com_binlog_dump_gtid, com_register_slave
from .tls import TlsSettings

log = logging.getLogger(__name__)

_ROTATE = 4
_HEADER_LEN = 19
_LOG_POS = struct.Struct("<I")

# canal's session prelude, in its order; failures are logged and ignored as canal does (spec 6.1 step 1).
# canal also sends "set names 'binary'", which only changes how query results are labelled; pycanal
# keeps the connection charset so SHOW/SELECT results stay text.
PRELUDE = (
    "set wait_timeout=9999999",
    "set net_write_timeout=7200",
    "set net_read_timeout=7200",
    "set @master_binlog_checksum= @@global.binlog_checksum",
    "set @slave_uuid=uuid()",
    "SET @mariadb_slave_capability='4'",
)


def show_master_status(conn: MySQLConnection) -> tuple[str, int]:
    """(file, position) of the master's binlog end.

    ``SHOW MASTER STATUS`` (MySQL <= 8.3, MariaDB), falling back to ``SHOW BINARY LOG STATUS`` (MySQL 8.2+,
    the only form in 8.4). An empty answer means the binlog is off: :class:`PositionNotFound`.
    """
    try:
        rows = conn.query("SHOW MASTER STATUS")
    except MySQLServerError as exc:
        if exc.errno != C.ER_PARSE_ERROR:
            raise
        rows = conn.query("SHOW BINARY LOG STATUS")
    if not rows or rows[0][0] is None or rows[0][1] is None:
        raise PositionNotFound(
            f"SHOW MASTER STATUS on {conn.host}:{conn.port} returned no position: is log-bin enabled?"
        )
    file, pos = rows[0][0], rows[0][1]
    return _text(file), int(_text(pos))


def binlog_files(conn: MySQLConnection) -> list[tuple[str, int]]:
    """``SHOW BINARY LOGS`` as [(file name, size in bytes)], oldest first."""
    return [(_text(row[0]), int(_text(row[1]))) for row in conn.query("SHOW BINARY LOGS")]


def _as_privilege_error(exc: AccessDeniedError, command: str) -> PrivilegeError:
    """MariaDB answers a replication command the user may not run with 1045 "Access denied for user";
    the session is already authenticated, so it is a missing privilege, not a wrong password."""
    return PrivilegeError(exc.errno, exc.sqlstate, f"{exc.message} ({command} needs the REPLICATION SLAVE privilege)")


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class ReplicationConnection:
    """Stream raw binlog events from a MySQL/MariaDB master, as one canal dump attempt does.

    Start from ``log_file``:``log_pos`` (``log_file=None``: the master's current end), or from
    ``gtid_set`` when given (MariaDB "domain-server-seq,..." or MySQL "uuid:1-5,..."; it takes precedence
    over the file). ``stop_at_end`` asks for BINLOG_DUMP_NON_BLOCK: the server sends EOF at its current
    end and iteration stops. ``read_timeout`` defaults to ``heartbeat_period + 10`` s (canal: 25 s), so
    silence longer than that raises :class:`ConnectionLostError`, like a dropped socket.

    Each event comes as its bytes from the 19-byte header through the checksum (``checksum`` says whether
    the last 4 bytes are a CRC32). ``log_file``/``log_pos`` follow the stream (ROTATE events and header
    end positions): the position after the last event read, which need not be a transaction boundary.
    ``tls`` (canal's sslMode and certificates) applies to this connection like to any other.
    """

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str | bytes,
        server_id: int,
        *,
        log_file: str | None = None,
        log_pos: int = 4,
        gtid_set: str | None = None,
        heartbeat_period: float = 15.0,
        stop_at_end: bool = False,
        read_timeout: float | None = None,
        connect_timeout: float = 10.0,
        buffer_size: int = 1 << 20,
        tls: TlsSettings | None = None,
    ) -> None:
        if not 0 < server_id <= 0xFFFFFFFF:
            raise LocalProtocolError(f"server_id must be in 1..4294967295, got {server_id}")
        if heartbeat_period < 0:
            raise LocalProtocolError(f"heartbeat_period must be >= 0, got {heartbeat_period}")
        if log_pos < 4:
            raise LocalProtocolError(f"binlog positions start at 4, got {log_pos}")
        self.host = host
        self.port = port
        self.user = user
        self.server_id = server_id
        self.heartbeat_period = heartbeat_period
        self.stop_at_end = stop_at_end
        if read_timeout is None and heartbeat_period > 0:
            read_timeout = heartbeat_period + 10.0
        self.read_timeout = read_timeout
        self.requested_file = log_file
        self.requested_pos = log_pos
        self.gtid_set = gtid_set
        self._conn = MySQLConnection(
            host,
            port,
            user,
            password,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            buffer_size=buffer_size,
            tls=tls,
        )
        self.checksum = False
        self.start_file: str | None = None
        self.start_pos: int | None = None
        self._file: str | None = None
        self._pos = 0
        self._last: bytes | None = None
        self._dumping = False
        self._ended = False
        self._lost = False

    # -- properties -------------------------------------------------------------------------------
    @property
    def connection(self) -> MySQLConnection:
        return self._conn

    @property
    def server_version(self) -> str:
        return self._conn.server_version

    @property
    def is_mariadb(self) -> bool:
        return self._conn.is_mariadb

    @property
    def log_file(self) -> str | None:
        """Binlog file of the last event read (from ROTATE events)."""
        return self._file

    @property
    def log_pos(self) -> int:
        """End position of the last event read in ``log_file`` (positions only grow within a file)."""
        last = self._last
        if last is not None:
            end = _LOG_POS.unpack_from(last, 13)[0]
            if end > self._pos:
                return end
        return self._pos

    # -- lifecycle ----------------------------------------------------------------------------------
    def connect(self) -> ReplicationConnection:
        """Connect, authenticate, run the prelude, register and send the dump command. Returns self."""
        if self._dumping or self._ended or self._lost:
            raise LocalProtocolError("a ReplicationConnection makes one dump attempt; create a new one")
        conn = self._conn
        try:
            conn.connect()
            self._prelude()
            if self.gtid_set is not None:
                self._dump_gtid()
            else:
                file, pos = self.requested_file, self.requested_pos
                if file is None:
                    file, pos = show_master_status(conn)
                self._register()
                self.start_file, self.start_pos = file, pos
                self._file, self._pos = file, pos
                flags = C.BINLOG_SEND_ANNOTATE_ROWS_EVENT | self._non_block()
                conn.send_payload(com_binlog_dump(self.server_id, file, pos, flags))
        except BaseException:
            conn.close()
            raise
        self._dumping = True
        log.info(
            "binlog dump from %s:%d (%s) started at %s, server_id %d, checksum %s",
            self.host,
            self.port,
            self.server_version,
            self.gtid_set if self.gtid_set is not None else f"{self.start_file}:{self.start_pos}",
            self.server_id,
            self.checksum,
        )
        return self

    def _non_block(self) -> int:
        return C.BINLOG_DUMP_NON_BLOCK if self.stop_at_end else 0

    def _prelude(self) -> None:
        conn = self._conn
        statements = list(PRELUDE)
        if self.heartbeat_period > 0:
            statements.append(f"SET @master_heartbeat_period={round(self.heartbeat_period * 1e9)}")
        for sql in statements:
            try:
                conn.execute(sql)
            except MySQLServerError as exc:
                log.warning("ignored failure of %r on %s:%d: %s", sql, self.host, self.port, exc)
        try:
            rows = conn.query("select @@global.binlog_checksum")
            value = _text(rows[0][0]) if rows and rows[0][0] is not None else "NONE"
        except MySQLServerError as exc:  # servers before 5.6.2 have no checksums
            log.info("no binlog_checksum on %s:%d (%s): events carry no CRC32", self.host, self.port, exc)
            value = "NONE"
        self.checksum = value.upper() not in ("NONE", "", "0", "OFF")

    def _register(self) -> None:
        conn = self._conn
        host, port = conn.local_address
        # canal also reports the password here; pycanal does not send it in the clear for SHOW SLAVE HOSTS.
        conn.send_payload(com_register_slave(self.server_id, host=host, user=self.user, port=port))
        try:
            conn.read_ok()
        except AccessDeniedError as exc:
            raise _as_privilege_error(exc, "COM_REGISTER_SLAVE") from exc

    def _dump_gtid(self) -> None:
        conn = self._conn
        assert self.gtid_set is not None
        if conn.is_mariadb:
            state = check_mariadb_gtid_state(self.gtid_set)
            conn.execute(f"SET @slave_connect_state='{state}'")
            conn.execute("SET @slave_gtid_strict_mode=0")
            conn.execute("SET @slave_gtid_ignore_duplicates=0")
            self._register()
            # With @slave_connect_state set MariaDB finds the start from the GTID state and ignores the
            # file name and position; the fake ROTATE it sends first names the real file.
            flags = C.BINLOG_SEND_ANNOTATE_ROWS_EVENT | self._non_block()
            conn.send_payload(com_binlog_dump(self.server_id, "", 4, flags))
        else:
            # canal: no COM_REGISTER_SLAVE before COM_BINLOG_DUMP_GTID.
            conn.send_payload(com_binlog_dump_gtid(self.server_id, self.gtid_set, flags=self._non_block()))

    def close(self) -> None:
        """Stop the dump and drop the socket; the server's dump thread ends on its next write.

        May be called from another thread: a reader blocked in :meth:`read_event` then gets ``None``.
        No COM_QUIT is sent, since a dump thread does not read commands.
        """
        self._dumping = False
        self._ended = True
        self._conn.abort()

    def __enter__(self) -> ReplicationConnection:
        return self.connect()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- events ------------------------------------------------------------------------------------
    def read_event(self) -> bytes | None:
        """The next raw event, or ``None`` once a non-blocking dump reached the end.

        ERR from the server raises its typed error (1236 -> BinlogPurgedError, DuplicateServerIdError...);
        a timeout or dropped socket raises :class:`ConnectionLostError` with the last good position.
        """
        if not self._dumping:
            if self._ended:
                return None
            if self._lost:
                raise LocalProtocolError("the dump connection was lost; make a new ReplicationConnection")
            raise LocalProtocolError("call connect() before reading events")
        try:
            event = self._conn.read_binlog_packet()
        except ConnectionLostError as exc:
            if self._ended:  # close() was called, maybe from another thread
                return None
            self._dumping = False
            self._lost = True
            raise ConnectionLostError(
                f"binlog stream from {self.host}:{self.port} lost: {exc}",
                log_file=self._file,
                log_pos=self.log_pos,
            ) from exc
        except AccessDeniedError as exc:
            self.close()
            raise _as_privilege_error(exc, "COM_BINLOG_DUMP") from exc
        except BaseException:
            self.close()
            raise
        if not event:
            self._ended = True
            self.close()
            return None
        if event[4] == _ROTATE:
            self._rotate(event)
        else:
            self._last = event
        return event

    def _rotate(self, event: bytes) -> None:
        end = len(event) - 4 if self.checksum else len(event)
        if end < _HEADER_LEN + 8:
            return  # malformed; the decoder reports it with context
        self._pos = int.from_bytes(event[_HEADER_LEN : _HEADER_LEN + 8], "little")
        self._file = event[_HEADER_LEN + 8 : end].decode("utf-8", "replace")
        self._last = None

    def __iter__(self) -> Iterator[bytes]:
        if not self._dumping and not self._ended:
            self.connect()
        return iter(self.read_event, None)
