"""A decoded binlog stream: a replication connection driving the sans-IO decoder.

:class:`BinlogStream` yields decoded events and knows, at any time, the last good position: the end of
the last whole event it handed out, and the start of the last transaction boundary (a position a
restart can resume from without landing mid-transaction; :mod:`pycanal.binlog.transactions` decides
which). A dropped connection raises :class:`ConnectionLostError` carrying that position.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..binlog.decoder import BinlogDecoder, SchemaResolver
from ..binlog.events import Event, HeartbeatEvent, RotateEvent
from ..binlog.transactions import TransactionTracker
from ..errors import ConnectionLostError
from .replication import ReplicationConnection
from .tls import TlsSettings


@dataclass
class StreamPosition:
    """Where the stream is: the end of the last event, and the last transaction boundary."""

    log_file: str = ""
    log_pos: int = 4
    boundary_file: str = ""
    boundary_pos: int = 4
    timestamp: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class BinlogStream:
    """Decoded events from a MySQL/MariaDB master; see :class:`ReplicationConnection` for arguments."""

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str,
        server_id: int,
        *,
        log_file: str | None = None,
        log_pos: int = 4,
        gtid_set: str | None = None,
        stop_at_end: bool = False,
        heartbeat_period: float = 15.0,
        schema_resolver: SchemaResolver | None = None,
        decoder: BinlogDecoder | None = None,
        tls: TlsSettings | None = None,
    ) -> None:
        self.conn = ReplicationConnection(
            host,
            port,
            user,
            password,
            server_id,
            log_file=log_file,
            log_pos=log_pos,
            gtid_set=gtid_set,
            stop_at_end=stop_at_end,
            heartbeat_period=heartbeat_period,
            tls=tls,
        )
        self.decoder = decoder or BinlogDecoder(schema_resolver=schema_resolver)
        self.position = StreamPosition()

    def __enter__(self) -> BinlogStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def __iter__(self) -> Iterator[Event]:
        conn = self.conn
        conn.connect()
        self.decoder.checksum = conn.checksum
        pos = self.position
        if conn.start_file:
            pos.log_file = pos.boundary_file = conn.start_file
            pos.log_pos = pos.boundary_pos = conn.start_pos or 4
            self.decoder.log_file = conn.start_file
        decode = self.decoder.decode
        boundaries = TransactionTracker()
        while True:
            try:
                raw = conn.read_event()
            except ConnectionLostError as exc:
                raise ConnectionLostError(
                    f"binlog stream lost: {exc.args[0] if exc.args else exc}",
                    log_file=pos.boundary_file or pos.log_file,
                    log_pos=pos.boundary_pos,
                ) from exc
            if raw is None:
                return
            ev = decode(raw)
            h = ev.header
            if isinstance(ev, RotateEvent):
                # a rotate always falls between transactions
                pos.log_file, pos.log_pos = ev.next_file, ev.position
                pos.boundary_file, pos.boundary_pos = ev.next_file, ev.position
                boundaries.reset()
            elif h.log_pos and not isinstance(ev, HeartbeatEvent):
                pos.log_pos = h.log_pos
                pos.log_file = ev.log_file
                if h.timestamp:
                    pos.timestamp = h.timestamp
                if boundaries.feed(ev):
                    pos.boundary_file, pos.boundary_pos = ev.log_file, h.log_pos
            yield ev
