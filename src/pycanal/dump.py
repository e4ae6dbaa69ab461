"""``pycanal dump``: the instance's parser path, printing canal FlatMessages instead of storing Entries.

The same :class:`~pycanal.parse.parser.MysqlEventParser` decides where to start (file+position, time,
GTID, or the current end), reconnects from the last transaction boundary when the connection drops, and
stops with an error that says what to do; a :class:`FlatHandler` turns its events into FlatMessages.

Column names come from the instance's schema history (:class:`~pycanal.schema.history.SchemaHistory`),
kept in memory: seeded from the live server, rolled back to where each dump starts, and changed by every
DDL the dump reads, whatever the filters, so each row carries the names of its own position
(:class:`DumpSchema`).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .binlog.events import ColumnInfo, Event, QueryEvent, TableMapEvent, XidEvent
from .errors import SchemaHistoryError, SchemaMismatchError
from .filter import TableFilter
from .gtid import GtidTracker
from .model import EntryPosition, LogIdentity, LogPosition
from .mysql.meta import MetaConnection
from .mysql.tls import TlsSettings
from .parse.ddl import classify
from .parse.flat import FlatMessageConverter, is_transaction_marker
from .parse.parser import MysqlEventParser, ParserConfig
from .parse.position import DumpStart, Master
from .schema.history import SchemaHistory
from .schema.live import LiveSchema, QueryFn
from .schema.store import MemoryStore

Emit = Callable[[dict[str, Any]], None]


class DumpSchema:
    """The dump's schema resolver: the schema history, with the dump's rule for what it cannot know.

    A TABLE_MAP the history does not vouch for (see :mod:`pycanal.schema.history`) is, for a table the
    filters drop, left unnamed (its rows are not printed); when the binlog names its columns
    (``binlog_row_metadata=FULL``), resolved by name against the live table as before the history;
    else the dump stops with :class:`~pycanal.errors.SchemaMismatchError` saying how to get the names.
    """

    def __init__(
        self, history: SchemaHistory, live: LiveSchema, accepts: Callable[[str, str], bool] | None = None
    ) -> None:
        self.history = history
        self.live = live
        self.accepts = accepts

    def __call__(self, tm: TableMapEvent) -> tuple[ColumnInfo, ...] | None:
        try:
            return self.history.resolve(tm)
        except (SchemaMismatchError, SchemaHistoryError) as exc:
            if self.accepts is not None and not self.accepts(tm.schema, tm.table):
                return None  # its rows are not printed: their names do not matter
            if not isinstance(exc, SchemaMismatchError):
                raise
            if tm.has_names:
                return self.live(tm)
            raise SchemaMismatchError(
                f"{exc.reason}. The dump cannot name these columns: its schema history starts from the tables "
                "as they are now and follows the DDL it reads, and neither gives this shape here. Start the dump "
                "before the table's CREATE TABLE (or the DDL that gave it this shape), or set "
                "binlog_row_metadata=FULL on the server so that the binlog names the columns",
                log_file=exc.log_file,
                log_pos=exc.log_pos,
                event_type=exc.event_type,
                table=exc.table,
                binlog_shape=exc.binlog_shape,
                history_shape=exc.history_shape,
            ) from exc

    def apply_ddl(self, ev: QueryEvent, schema: str | None, table: str | None) -> None:
        """A DDL the dump read: into the history (as the instance's ``on_ddl``); the live cache forgets."""
        h = ev.header
        pos = EntryPosition(ev.log_file, h.start_pos, h.server_id, h.timestamp * 1000)
        self.history.apply_ddl(pos, ev.schema, ev.query, sql_mode=ev.sql_mode)
        self.live.invalidate(schema or None, table or None)

    def rollback(self, start: DumpStart) -> None:
        """The history as it was where a dump (or a reconnect) starts (as the instance's ``on_start``)."""
        if start.log_file:
            self.history.rollback(EntryPosition(start.log_file, start.log_pos, included=start.skip_first))


class FlatHandler:
    """Events -> FlatMessages, one per rows event or statement; DDL goes into the schema history."""

    def __init__(
        self,
        parser: MysqlEventParser,
        converter: FlatMessageConverter,
        emit: Emit,
        schema: DumpSchema,
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
            if res.is_ddl:  # the schema changed: later table maps are resolved again
                self.schema.apply_ddl(ev, res.schema, res.table)
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
        filt = TableFilter(table_filter, black_filter) if (table_filter or black_filter) else None
        schema = _dump_schema(meta, filt)
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
        gtid = GtidTracker(start_gtid) if start_gtid is not None else None
        parser: MysqlEventParser

        def handler(start_at: DumpStart, identity: LogIdentity) -> FlatHandler:
            converter.gtid = GtidTracker(start_at.gtid_set) if start_at.gtid_set is not None else gtid
            return FlatHandler(parser, converter, emit, schema, identity)

        converter = FlatMessageConverter(filt, gtid=gtid)
        parser = MysqlEventParser("dump", config, schema_resolver=schema, handler_factory=handler)
        parser.on_start = schema.rollback
        try:
            yield parser
        finally:
            schema.history.close()


def _dump_schema(query: QueryFn, filt: TableFilter | None) -> DumpSchema:
    """The schema history seeded as the instance's is (the live schema, as canal's first snapshot),
    kept in memory, over every table: a filtered table's DDL still counts (renamed into the filter)."""
    history = SchemaHistory(MemoryStore(), destination="dump", query=query, snapshot_interval_hours=0)
    return DumpSchema(history, LiveSchema(query), filt.accepts if filt is not None else None)


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
