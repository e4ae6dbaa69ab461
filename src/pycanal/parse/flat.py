"""Binlog events -> canal FlatMessage dicts (canal-spec.md section 8.2), with canal's quirks.

One message per rows event (INSERT/UPDATE/DELETE), per DDL or other statement, and per ROWS_QUERY /
ANNOTATE_ROWS text (a QUERY message with an empty database, as canal emits it). BEGIN and COMMIT give no
message (the statements canal makes TRANSACTIONBEGIN/END entries of, :func:`.entries.transaction_entry_type`).
Quirks kept because canal consumers see them (MQMessageUtils.messageConverter): ``sqlType``
takes the last row's value for a column, ``pkNames`` comes from the first row, and the set of changed
columns behind ``old`` accumulates over the rows of one event.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from ..binlog.events import (
    Event,
    GtidEvent,
    MariaGtidEvent,
    QueryEvent,
    RowsEvent,
    RowsQueryEvent,
    TableMapEvent,
)
from ..filter import TableFilter
from ..gtid import GtidTracker
from ..protocol.flat import new_message
from .columns import ColumnMeta, TableLayouts, table_columns
from .ddl import classify
from .entries import transaction_entry_type


class _Layout:
    """Names, key flags and static types for one (table map, present columns) pair."""

    __slots__ = ("metas", "mysql_types", "names", "pk_names", "sql_types", "unsigned")

    def __init__(self, metas: list[ColumnMeta], present: tuple[int, ...]) -> None:
        self.metas = [metas[i] for i in present]
        self.names = [m.name for m in self.metas]
        self.mysql_types = {m.name: m.mysql_type for m in self.metas}
        self.sql_types = {m.name: m.sql_type for m in self.metas}
        self.pk_names = [m.name for m in self.metas if m.is_key] or None
        self.unsigned = [(k, m) for k, m in enumerate(self.metas) if m.unsigned_threshold]


class FlatTable:
    """What the FlatMessage builder derives from one table layout: canal's column descriptions, and a
    :class:`_Layout` per set of present columns (built on first use)."""

    __slots__ = ("layouts", "metas")

    def __init__(self, table: TableMapEvent) -> None:
        self.metas = table_columns(table)
        self.layouts: dict[tuple[int, ...], _Layout] = {}

    def layout(self, present: tuple[int, ...]) -> _Layout:
        lay = self.layouts.get(present)
        if lay is None:
            lay = self.layouts[present] = _Layout(self.metas, present)
        return lay


def _sql_types(lay: _Layout, last_row: list[str | None]) -> dict[str, int]:
    """Static types, with the last row deciding NULL and unsigned-overflow types as canal does."""
    types = dict(lay.sql_types)
    for k, m in enumerate(lay.metas):
        v = last_row[k]
        if v is None or m.unsigned_threshold:
            types[m.name] = m.sql_type_of(v)
    return types


def rows_message(
    ev: RowsEvent,
    *,
    batch_id: int = 0,
    gtid: str = "",
    ts: int | None = None,
    tables: TableLayouts[FlatTable] | None = None,
) -> dict[str, Any]:
    """The FlatMessage of one rows event. ``tables``: a cache of table layouts (a FlatMessageConverter
    keeps one); without it the layout is derived for this call only."""
    table = ev.table
    flat_table = tables.get(table) if tables is not None else FlatTable(table)
    sql_types: dict[str, int] | None
    old: list[dict[str, str | None]] | None = None
    if ev.kind == "UPDATE":
        assert ev.present_after is not None
        layouts = flat_table.layouts
        lay = layouts.get(ev.present_after) or flat_table.layout(ev.present_after)
        before_lay = layouts.get(ev.present) or flat_table.layout(ev.present)
        names = lay.names
        before_names = before_lay.names
        data = [dict(zip(names, after)) for _, after in ev.rows]
        old = []
        changed: set[str] = set()  # accumulates across rows, as canal's updateSet does
        if ev.present == ev.present_after:  # FULL image: compare position by position
            for before, after in ev.rows:
                changed.update([n for n, b, a in zip(names, before, after) if b != a])
                old.append({n: v for n, v in zip(before_names, before) if n in changed})
        else:
            before_pos = {i: k for k, i in enumerate(ev.present)}
            for before, after in ev.rows:
                for k, i in enumerate(ev.present_after):
                    bk = before_pos.get(i)
                    if bk is None or before[bk] != after[k]:
                        changed.add(names[k])
                old.append({n: v for n, v in zip(before_names, before) if n in changed})
        last = ev.rows[-1][1] if ev.rows else None
    else:
        lay = flat_table.layouts.get(ev.present) or flat_table.layout(ev.present)
        names = lay.names
        data = [dict(zip(names, row)) for row in ev.rows]
        last = ev.rows[-1] if ev.rows else None
    sql_types = _sql_types(lay, last) if last is not None else None
    return new_message(
        data=data or None,
        database=table.schema,
        es=ev.header.timestamp * 1000,
        gtid=gtid,
        id=batch_id,
        isDdl=False,
        mysqlType=dict(lay.mysql_types) if names else None,
        old=old,
        pkNames=list(lay.pk_names) if lay.pk_names else None,
        sql="",
        sqlType=sql_types,
        table=table.table,
        ts=int(time.time() * 1000) if ts is None else ts,
        type=ev.kind,
    )


def query_message(ev: QueryEvent, *, batch_id: int = 0, gtid: str = "", ts: int | None = None) -> dict[str, Any]:
    """The FlatMessage of a DDL or other statement (not BEGIN/COMMIT)."""
    res = classify(ev.query, ev.schema)
    return new_message(
        database=res.schema,
        es=ev.header.timestamp * 1000,
        gtid=gtid,
        id=batch_id,
        isDdl=res.is_ddl,
        sql=ev.query,
        table=res.table,
        ts=int(time.time() * 1000) if ts is None else ts,
        type=res.type,
    )


def is_transaction_marker(query: str) -> bool:
    """The statement becomes a TRANSACTIONBEGIN/END entry, which canal's FlatMessages leave out."""
    return transaction_entry_type(query) is not None


class FlatMessageConverter:
    """Turns a decoded event stream into FlatMessages, applying an optional canal table filter.

    ``track_gtid``: fill ``gtid`` with the executed GTID set accumulated so far (canal does so only in
    GTID mode; otherwise it is "").
    """

    def __init__(
        self,
        table_filter: TableFilter | None = None,
        *,
        gtid: GtidTracker | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table_filter = table_filter
        self.gtid = gtid
        self.clock = clock
        self.batch_id = 0
        self._tables: TableLayouts[FlatTable] = TableLayouts(FlatTable)

    def _gtid_text(self) -> str:
        return str(self.gtid) if self.gtid is not None else ""

    def convert(self, ev: Event) -> Iterator[dict[str, Any]]:
        if isinstance(ev, RowsEvent):
            if self.table_filter is not None and not self.table_filter.accepts(ev.schema, ev.table_name):
                return
            self.batch_id += 1
            yield rows_message(
                ev, batch_id=self.batch_id, gtid=self._gtid_text(), ts=int(self.clock() * 1000), tables=self._tables
            )
        elif isinstance(ev, QueryEvent):
            if is_transaction_marker(ev.query):
                return
            res = classify(ev.query, ev.schema)
            if res.table and self.table_filter is not None and not self.table_filter.accepts(res.schema, res.table):
                return
            self.batch_id += 1
            yield query_message(ev, batch_id=self.batch_id, gtid=self._gtid_text(), ts=int(self.clock() * 1000))
        elif isinstance(ev, RowsQueryEvent):
            self.batch_id += 1
            yield new_message(
                database="",
                es=ev.header.timestamp * 1000,
                gtid=self._gtid_text(),
                id=self.batch_id,
                isDdl=False,
                sql=ev.query,
                table="",
                ts=int(self.clock() * 1000),
                type="QUERY",
            )
        elif isinstance(ev, (GtidEvent, MariaGtidEvent)) and self.gtid is not None:
            self.gtid.add(ev)
        elif hasattr(ev, "events"):  # TRANSACTION_PAYLOAD: its inner events, in order
            for inner in ev.events:  # type: ignore[attr-defined,unused-ignore]
                yield from self.convert(inner)
