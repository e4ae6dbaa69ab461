"""``pycanal dump``: the instance's parser path, printing canal FlatMessages instead of storing Entries.

The same :class:`~pycanal.parse.parser.MysqlEventParser` decides where to start (file+position, time,
GTID, or the current end), reconnects from the last transaction boundary when the connection drops, and
stops with an error that says what to do; a :class:`FlatHandler` turns its events into FlatMessages.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .binlog.events import Event, QueryEvent, XidEvent
from .filter import TableFilter
from .gtid import GtidTracker
from .model import EntryPosition, LogIdentity, LogPosition
from .mysql.meta import MetaConnection
from .mysql.tls import TlsSettings
from .parse.ddl import classify
from .parse.flat import FlatMessageConverter, is_transaction_marker
from .parse.parser import MysqlEventParser, ParserConfig
from .parse.position import DumpStart, Master
from .schema.live import LiveSchema

Emit = Callable[[dict[str, Any]], None]


class FlatHandler:
    """Events -> FlatMessages, one per rows event or statement; DDL refreshes the live schema."""

    def __init__(
        self,
        parser: MysqlEventParser,
        converter: FlatMessageConverter,
        emit: Emit,
        schema: LiveSchema,
        identity: LogIdentity,
    ) -> None:
        self.parser = parser
        self.converter = converter
        self.emit = emit
        self.schema = schema
        self.identity = identity
        self.last_ack: LogPosition | None = None

    def handle(self, ev: Event) -> None:
        emit = self.emit
        for msg in self.converter.convert(ev):
            emit(msg)
        if isinstance(ev, XidEvent):
            self._ack(ev)
        elif isinstance(ev, QueryEvent) and not is_transaction_marker(ev.query):
            res = classify(ev.query, ev.schema)
            if res.is_ddl:  # the live schema changed: re-read it for later table maps
                self.schema.invalidate(res.schema or None, res.table or None)
                self.parser.invalidate_tables()
            self._ack(ev)

    def _ack(self, ev: Event) -> None:
        h = ev.header
        gtid = str(self.converter.gtid) if self.converter.gtid is not None else None
        self.last_ack = LogPosition(
            self.identity, EntryPosition(ev.log_file, h.start_pos, h.server_id, h.timestamp * 1000, gtid)
        )

    def reset(self) -> None:
        pass


@contextlib.contextmanager
def dump_parser(
    host: str,
    port: int,
    user: str,
    password: str,
    emit: Emit,
    *,
    server_id: int,
    start: tuple[str | None, int] = (None, 4),
    start_gtid: str | None = None,
    start_timestamp: int = 0,
    stop_at_end: bool = False,
    table_filter: str | None = None,
    black_filter: str | None = None,
    tls: TlsSettings | None = None,
) -> Iterator[MysqlEventParser]:
    """A parser that prints through ``emit``; run it with ``parser.run()``. Connection problems raise
    pycanal's typed errors at once (ConnectionLostError, AccessDeniedError, TlsError)."""
    with MetaConnection(host, port, user, password, tls=tls).connect() as meta:
        schema = LiveSchema(meta)
        master = Master(
            host,
            port,
            user,
            password,
            journal_name=start[0] or "",
            position=start[1] if start[0] else 0,
            timestamp=start_timestamp,
            gtid=start_gtid or "",
            tls=tls,
        )
        config = ParserConfig(
            master=master,
            slave_id=server_id,
            gtid_mode=start_gtid is not None,
            stop_at_end=stop_at_end,
            binlog_formats=("ROW", "MIXED"),
        )
        filt = TableFilter(table_filter, black_filter) if (table_filter or black_filter) else None
        gtid = GtidTracker(start_gtid) if start_gtid is not None else None
        parser: MysqlEventParser

        def handler(start_at: DumpStart, identity: LogIdentity) -> FlatHandler:
            converter.gtid = GtidTracker(start_at.gtid_set) if start_at.gtid_set is not None else gtid
            return FlatHandler(parser, converter, emit, schema, identity)

        converter = FlatMessageConverter(filt, gtid=gtid)
        parser = MysqlEventParser("dump", config, schema_resolver=schema, handler_factory=handler)
        yield parser


_END = object()


def iter_flat_messages(host: str, port: int, user: str, password: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """The FlatMessages of :func:`dump_parser` as an iterator (the parser runs in a thread)."""
    q: queue.Queue[Any] = queue.Queue(maxsize=256)
    failure: list[BaseException] = []

    with dump_parser(host, port, user, password, q.put, **kwargs) as parser:

        def run() -> None:
            try:
                parser.run()
            except BaseException as exc:
                failure.append(exc)
            finally:
                q.put(_END)

        t = threading.Thread(target=run, name="dump-parser", daemon=True)
        t.start()
        try:
            while (item := q.get()) is not _END:
                yield item
            if failure:
                raise failure[0]
        finally:
            parser.signal_stop()
            while t.is_alive():  # let a producer blocked on a full queue finish
                with contextlib.suppress(queue.Empty):
                    q.get(timeout=0.05)
            t.join()
