"""The one exception hierarchy of pycanal.

Every error pycanal raises derives from :class:`PycanalError`. Foreign exceptions (``OSError``,
``pymysql``, ``kazoo``, ``protobuf``) are translated at the boundary of the module that calls them and
kept as ``__cause__``. This module imports nothing from pycanal.
"""

from __future__ import annotations

from typing import Any


class PycanalError(Exception):
    """Root of every pycanal error."""


class ConfigError(PycanalError):
    """A configuration file, key or value is wrong; the message names file, key and value."""


class SandboxError(PycanalError):
    """A throwaway test server (MariaDB, ZooKeeper) could not be started or stopped."""


# --------------------------------------------------------------------------------------------------
# Protocol errors (h11 style): who is at fault decides the class.


class ProtocolError(PycanalError):
    """Abstract: a protocol exchange went wrong. Use one of the two children."""

    def __init__(self, msg: str, *args: Any) -> None:
        if type(self) is ProtocolError:
            raise TypeError("ProtocolError is abstract; raise LocalProtocolError or RemoteProtocolError")
        super().__init__(msg, *args)


class LocalProtocolError(ProtocolError):
    """The caller misused the API (for example dumping before connecting)."""


class RemoteProtocolError(ProtocolError):
    """The peer (MySQL server or canal peer) sent bytes that break the protocol."""


class InvalidGtidSet(ConfigError, LocalProtocolError):
    """A GTID set text is malformed (MySQL ``uuid[:tag]:1-5`` or MariaDB ``domain-server-seq``).

    A configuration error and a local protocol error at once: the text comes from configuration, a stored
    cursor or an API argument, and it is refused before anything is sent to the server."""


# --------------------------------------------------------------------------------------------------
# Binlog decoding


class DecodeError(PycanalError):
    """A binlog event could not be decoded. Carries where it happened."""

    def __init__(
        self,
        msg: str,
        *,
        log_file: str | None = None,
        log_pos: int | None = None,
        event_type: int | None = None,
    ) -> None:
        self.log_file = log_file
        self.log_pos = log_pos
        self.event_type = event_type
        where = []
        if log_file is not None or log_pos is not None:
            where.append(f"at {log_file or '?'}:{log_pos if log_pos is not None else '?'}")
        if event_type is not None:
            where.append(f"event type {event_type}")
        super().__init__(f"{msg} ({', '.join(where)})" if where else msg)
        self.reason = msg


class ChecksumError(DecodeError):
    """An event's CRC32 does not match its bytes."""


class UnknownEventError(DecodeError):
    """An event type code the decoder does not know. Never skipped silently."""


class TruncatedEventError(DecodeError):
    """An event is shorter than its header or its layout says."""


class TableMapMissing(DecodeError):
    """A rows event refers to a table id with no preceding TABLE_MAP."""


class ColumnCountMismatch(DecodeError):
    """A rows event and its TABLE_MAP (or schema) disagree on the columns."""


# --------------------------------------------------------------------------------------------------
# MySQL server errors: errno -> subclass, PyMySQL style.


class MySQLServerError(PycanalError):
    """An ERR packet from the server: errno, SQLSTATE and the server's own message.

    ``hint`` is pycanal's reading of it (what was refused, what to check); it is shown after the
    server's message, which stays unchanged in ``message``.
    """

    def __init__(self, errno: int, sqlstate: str, message: str, hint: str = "") -> None:
        self.errno = errno
        self.sqlstate = sqlstate
        self.message = message
        self.hint = hint
        text = f"MySQL error {errno} ({sqlstate}): {message}"
        super().__init__(f"{text}: {hint}" if hint else text)


class AccessDeniedError(MySQLServerError):
    """Wrong user or password (1045) or an unknown auth plugin."""


class PrivilegeError(MySQLServerError):
    """The user lacks a privilege the operation needs (1227, 1142, 1044)."""


class BinlogError(MySQLServerError):
    """The server refused to send the binlog (1236): the base of the cases below."""


class BinlogPurgedError(BinlogError):
    """The requested binlog file or position is no longer on the server."""


class DuplicateServerIdError(BinlogError):
    """Another replica with the same server id (or uuid) is connected."""


_ERRNO_CLASSES: dict[int, type[MySQLServerError]] = {
    1045: AccessDeniedError,
    1698: AccessDeniedError,
    1044: PrivilegeError,
    1142: PrivilegeError,
    1227: PrivilegeError,
    1236: BinlogError,
}


def server_error(errno: int, sqlstate: str, message: str) -> MySQLServerError:
    """Build the most specific :class:`MySQLServerError` for an ERR packet."""
    cls = _ERRNO_CLASSES.get(errno, MySQLServerError)
    if cls is BinlogError:
        low = message.lower()
        if "same server_id" in low or "same server id" in low or "same server_uuid" in low:
            cls = DuplicateServerIdError
        elif (
            "purged" in low
            or "could not find first log file" in low
            or "could not find gtid" in low
            or ("could not open log file" in low)
            or "binary log index" in low
        ):
            cls = BinlogPurgedError
    return cls(errno, sqlstate, message)


class ConnectionLostError(PycanalError):
    """The connection to the MySQL server dropped; carries the last good position."""

    def __init__(self, msg: str, *, log_file: str | None = None, log_pos: int | None = None) -> None:
        self.log_file = log_file
        self.log_pos = log_pos
        if log_file is not None:
            msg = f"{msg} (last good position {log_file}:{log_pos})"
        super().__init__(msg)


class TlsError(PycanalError):
    """TLS to a MySQL server cannot be set up as its sslMode asks: the server offers no TLS, its
    certificate fails verification, the TLS handshake fails, or the server requires TLS that sslMode
    DISABLED refuses. Retrying does not help; the configuration or the server has to change."""


class PositionNotFound(PycanalError):
    """No binlog position matches the requested start (timestamp, GTID)."""


# MariaDB 10.x ER_SLAVE_SAME_ID: sent to the older of two replicas that registered the same server_id.
_ERRNO_CLASSES[4052] = DuplicateServerIdError


# --------------------------------------------------------------------------------------------------
# Event store, meta managers and the embedded server (canal's CanalStoreException,
# CanalMetaManagerException and CanalServerException).


class StoreError(PycanalError):
    """The event store refused an operation (bad argument, or an ack that matches no stored event)."""


class StoreClosed(StoreError):
    """The event store was stopped: raised in putters and getters that were waiting, and on later use."""


class MetaError(PycanalError):
    """A meta manager (subscriptions, cursors, batches) could not do what was asked, e.g. write meta.dat."""


class BatchOrderError(MetaError):
    """A batch was acked or rolled back before an older outstanding one: canal requires id order."""

    def __init__(self, batch_id: int, first_id: int) -> None:
        self.batch_id = batch_id
        self.first_id = first_id
        super().__init__(f"batchId:{batch_id} is not the firstly:{first_id}")


class CanalServerError(PycanalError):
    """A get/ack/rollback request failed; ``code`` is the error code canal's server puts in its Ack packet."""

    GENERIC = 400  # everything the embedded server raises, auth failures, unsupported packets
    NULL_IDENTITY = 401  # "destination or clientId is null"
    BATCH_ID_UNSET = 402  # ack with batch id 0: "batchId should assign value"

    def __init__(self, message: str, code: int = GENERIC) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


class InstanceNotStarted(CanalServerError):
    """``destination:X should start first``: no running instance for the destination on this server."""


class NotSubscribed(CanalServerError):
    """``ClientIdentity:X should subscribe first``."""


class BatchNotFound(CanalServerError):
    """An ack or rollback names a batch id that is not outstanding (already acked, voided, or never given)."""


class BatchOutOfOrder(CanalServerError):
    """An ack or rollback names a batch that is not the oldest outstanding one."""


class UnackedBatch(CanalServerError):
    """The auto-ack ``get`` was called while batches from ``get_without_ack`` are still outstanding."""


# --------------------------------------------------------------------------------------------------
# Schema history (canal's TSDB)


class SchemaHistoryError(PycanalError):
    """The table schema history cannot go on: a DDL it cannot place, a store that fails, a position
    with no snapshot at or before it."""


class SchemaStoreUnavailable(SchemaHistoryError, ConnectionLostError):
    """The database holding the schema history (canal.instance.tsdb.url) cannot be reached or dropped the
    connection: a connection loss like any other, so it can be retried."""


class SchemaMismatchError(ColumnCountMismatch):
    """A TABLE_MAP does not match the table version the schema history has in force at that position.

    Raised instead of decoding values onto the wrong columns. ``table`` is ``schema.table``;
    ``binlog_shape`` and ``history_shape`` describe the columns each side has. The constructor keeps
    DecodeError's signature so the decoder can re-raise it with its position.
    """

    def __init__(
        self,
        msg: str,
        *,
        log_file: str | None = None,
        log_pos: int | None = None,
        event_type: int | None = None,
        table: str | None = None,
        binlog_shape: list[str] | None = None,
        history_shape: list[str] | None = None,
    ) -> None:
        super().__init__(msg, log_file=log_file, log_pos=log_pos, event_type=event_type)
        self.table = table
        self.binlog_shape = binlog_shape
        self.history_shape = history_shape


# --------------------------------------------------------------------------------------------------
# canal client (pycanal.client)


class AuthenticationFailed(CanalServerError):
    """The canal server refused the client's user name or password (``auth failed for user:X``)."""


class CanalConnectionError(ConnectionLostError):
    """A canal client could not reach its server, or the connection broke and was not re-established."""


# --------------------------------------------------------------------------------------------------
# ZooKeeper HA (pycanal.ha, pycanal.meta.zookeeper)


class HAError(PycanalError):
    """ZooKeeper coordination failed: bad running-node data, an admin request that cannot be honoured."""


class ZooKeeperUnavailable(HAError):
    """ZooKeeper could not be reached (or the session was lost) while an operation needed it."""


# canal cluster client (pycanal.client.cluster, pycanal.ha.client_running)


class ServerNotFound(CanalConnectionError):
    """ZooKeeper names no canal server for the destination: no running node, no cluster node
    (canal's ServerNotFoundException ``no alive canal server for {dest}``)."""


class ClientNotActive(HAError):
    """Another client of the same destination and client id holds the client running node; this one is
    standby and did not become active in the time it was given."""


# --------------------------------------------------------------------------------------------------
# MQ mode (pycanal.mq, pycanal.client.rabbitmq)


class MQError(PycanalError):
    """Delivery to or from a message broker failed. ``key`` names the configuration key to check, if one
    is to blame (``rabbitmq.host``, ``rabbitmq.exchange``, ...); the MQ worker retries every MQError."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        super().__init__(message)


class MQConnectionError(MQError):
    """The broker cannot be reached, or the connection (or channel) to it was lost."""


class MQRefusedError(MQError):
    """The broker refused what was asked: the login, the virtual host, a missing exchange or queue, a
    declaration that clashes with an existing one. Retrying helps only once the broker or the config changes."""


class MQDeliveryError(MQError):
    """The broker did not take a published message: it was nacked, returned as unroutable, or not
    confirmed in time."""
