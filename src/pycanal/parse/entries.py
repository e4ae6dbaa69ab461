"""Decoded binlog events -> canal Entries, as canal's LogEventConvert builds them (canal-spec.md 1.8).

One :class:`EntryConverter` per parser. It applies the parser-side filters canal applies here (table
white/black lists on rows and DDL, field filters, the DML/DDL/DCL query filters, ``filter.rows``), keeps
the current GTID (and, in GTID mode, the executed set) for the headers, and tells a schema history about
each DDL it sees, even a filtered one, as canal does.

An entry comes out as a :class:`ParsedEntry`: the protobuf, and what the store needs to know of it
without parsing it again (position, type, whether a cursor may stop there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..binlog.events import (
    Event,
    GtidEvent,
    HeartbeatEvent,
    IntVarEvent,
    MariaGtidEvent,
    QueryEvent,
    RandEvent,
    RowsEvent,
    RowsQueryEvent,
    TableMapEvent,
    TransactionPayloadEvent,
    UserVarEvent,
    XidEvent,
)
from ..filter import TableFilter
from ..gtid import GtidTracker
from ..protocol import entry as pb
from ..protocol.rowchange import ColumnEncoder, encode_row_change, encode_row_data
from .columns import TableLayouts, table_columns
from .ddl import DdlResult, classify

_KIND = {"INSERT": pb.INSERT, "UPDATE": pb.UPDATE, "DELETE": pb.DELETE}
_EVENT_TYPE_VALUE = {name: pb.EventType.Value(name) for name in pb.EventType.keys()}  # noqa: SIM118
_DDL_TYPES = frozenset((pb.CREATE, pb.ALTER, pb.ERASE, pb.RENAME, pb.TRUNCATE, pb.CINDEX, pb.DINDEX))

DdlListener = Callable[[QueryEvent, DdlResult], None]


@dataclass(slots=True)
class ParsedEntry:
    entry: pb.Entry
    log_file: str
    offset: int  # start offset of the binlog event
    server_id: int
    execute_time: int  # ms
    entry_type: int
    event_type: int
    is_ddl: bool
    gtid: str
    rows: int = 0

    @property
    def is_ack_point(self) -> bool:
        """canal moves a cursor only to a transaction end, a BEGIN without gtid, or a DDL (spec section 2)."""
        if self.entry_type == pb.TRANSACTIONEND:
            return True
        if self.entry_type == pb.TRANSACTIONBEGIN:
            return not self.gtid
        return self.entry_type == pb.ROWDATA and self.event_type in _DDL_TYPES


def parse_field_filter(text: str | None) -> dict[str, list[str]]:
    """canal's field filter ``db.t1:c1/c2,db.t2:c3`` -> {"DB.T1": ["C1", "C2"], ...} (exact, upper-cased)."""
    out: dict[str, list[str]] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        table, sep, cols = part.partition(":")
        if not sep:
            continue
        out[table.strip().upper()] = [c.strip().upper() for c in cols.split("/") if c.strip()]
    return out


def transaction_entry_type(query: str) -> int | None:
    """The entry type canal's LogEventConvert makes of a QUERY that marks a transaction, else None.

    ``XA START ...`` and any text ending in ``BEGIN`` become TRANSACTIONBEGIN; ``XA END ...`` and any text
    ending in ``COMMIT`` become TRANSACTIONEND; ``XA COMMIT`` and ``XA ROLLBACK`` are ROWDATA (None here).
    This is canal's entry mapping, the one FlatMessages follow too; where a dump may resume is another
    question (:mod:`pycanal.binlog.transactions`).
    """
    head = query.lstrip()[:12].upper()
    if head.startswith("XA START"):
        return pb.TRANSACTIONBEGIN
    if head.startswith("XA END"):
        return pb.TRANSACTIONEND
    if head.startswith(("XA COMMIT", "XA ROLLBACK")):
        return None
    tail = query.rstrip()[-6:].upper()
    if tail.endswith("BEGIN"):
        return pb.TRANSACTIONBEGIN
    if tail.endswith("COMMIT"):
        return pb.TRANSACTIONEND
    return None


class EntryConverter:
    """canal's LogEventConvert: events in, :class:`ParsedEntry` out (zero, one, or several per event)."""

    def __init__(
        self,
        *,
        table_filter: TableFilter | None = None,
        field_filter: str | None = None,
        field_black_filter: str | None = None,
        filter_query_dml: bool = False,
        filter_query_dcl: bool = False,
        filter_query_ddl: bool = False,
        filter_rows: bool = False,
        filter_dml_insert: bool = False,
        filter_dml_update: bool = False,
        filter_dml_delete: bool = False,
        gtid_mode: bool = False,
        gtid_start: str = "",
        on_ddl: DdlListener | None = None,
    ) -> None:
        self.table_filter = table_filter or TableFilter()
        self.field_filter = parse_field_filter(field_filter)
        self.field_black_filter = parse_field_filter(field_black_filter)
        self.filter_query_dml = filter_query_dml
        self.filter_query_dcl = filter_query_dcl
        self.filter_query_ddl = filter_query_ddl
        self.filter_rows = filter_rows
        # canal.instance.filter.dml.insert/update/delete: row changes of these kinds produce no entry
        self.filter_dml_insert = filter_dml_insert
        self.filter_dml_update = filter_dml_update
        self.filter_dml_delete = filter_dml_delete
        self.gtid = GtidTracker(gtid_start) if gtid_mode else None
        self.on_ddl = on_ddl
        self._cur_gtid = ""
        self._cur_sn = ""
        self._cur_lct = ""
        self._tables: TableLayouts[_EntryTable] = TableLayouts(_EntryTable)

    # -------------------------------------------------------------------------------------------------
    def convert(self, ev: Event) -> list[ParsedEntry]:
        if isinstance(ev, RowsEvent):
            e = self._rows(ev)
            return [e] if e is not None else []
        if isinstance(ev, QueryEvent):
            e = self._query(ev)
            return [e] if e is not None else []
        if isinstance(ev, XidEvent):
            end = pb.TransactionEnd(transactionId=str(ev.xid))
            return [self._entry(ev, pb.TRANSACTIONEND, end.SerializeToString(), "", "", None)]
        if isinstance(ev, (GtidEvent, MariaGtidEvent)):
            self._gtid(ev)
            if isinstance(ev, MariaGtidEvent) and not ev.standalone:
                # MariaDB writes no BEGIN statement: its GTID event opens the transaction
                # (mariadb-binlog prints START TRANSACTION there). canal's consumers expect a
                # TRANSACTIONBEGIN, so it is made from this event; MariaDB logs no thread id here.
                begin = pb.TransactionBegin(threadId=0)
                return [self._entry(ev, pb.TRANSACTIONBEGIN, begin.SerializeToString(), "", "", None)]
            return []
        if isinstance(ev, RowsQueryEvent):
            if self.filter_query_dml:
                return []
            table = classify(ev.query, "").table if ev.type_name == "ROWS_QUERY" else ""
            return [self._query_entry(ev, ev.query, table)]
        if isinstance(ev, (UserVarEvent, IntVarEvent, RandEvent)):
            if self.filter_query_dml:
                return []
            return [self._query_entry(ev, _statement_text(ev), "")]
        if isinstance(ev, HeartbeatEvent):
            header = pb.Header(eventType=pb.MHEARTBEAT)
            return [
                ParsedEntry(
                    pb.Entry(header=header, entryType=pb.HEARTBEAT),
                    ev.log_file,
                    0,
                    0,
                    0,
                    pb.HEARTBEAT,
                    pb.MHEARTBEAT,
                    False,
                    "",
                )
            ]
        if isinstance(ev, TransactionPayloadEvent):
            out: list[ParsedEntry] = []
            for inner in ev.events:
                # inner events carry no position of their own: their entries take the payload's
                out.extend(self.convert(replace(inner, header=ev.header, log_file=ev.log_file)))
            return out
        return []

    # -------------------------------------------------------------------------------------------------
    def _gtid(self, ev: GtidEvent | MariaGtidEvent) -> None:
        if isinstance(ev, GtidEvent):
            if ev.anonymous:
                self._cur_gtid = self._cur_sn = self._cur_lct = ""
                if ev.sequence_number is not None:
                    self._cur_sn = str(ev.sequence_number)
                    self._cur_lct = str(ev.last_committed)
                return
            self._cur_gtid = ev.gtid
            self._cur_sn = "" if ev.sequence_number is None else str(ev.sequence_number)
            self._cur_lct = "" if ev.last_committed is None else str(ev.last_committed)
        else:
            self._cur_gtid = ev.gtid
            self._cur_sn = self._cur_lct = ""
        if self.gtid is not None:
            self.gtid.add(ev)

    def _header(
        self, ev: Event, schema: str | None, table: str | None, event_type: int | None, rows: int = -1
    ) -> pb.Header:
        h = ev.header
        header = pb.Header(
            version=1,
            logfileName=ev.log_file,
            logfileOffset=h.start_pos,
            serverId=h.server_id,
            serverenCode="UTF-8",
            executeTime=h.timestamp * 1000,
            sourceType=pb.MYSQL,
            eventLength=h.event_size,
        )
        if event_type is not None:
            header.eventType = event_type  # type: ignore[assignment]  # protobuf enums are ints
        if schema:
            header.schemaName = schema
        if table:
            header.tableName = table
        gtid = str(self.gtid) if self.gtid is not None else ""
        if gtid:
            header.gtid = gtid
        props = header.props
        if self.gtid is None:  # canal tracks the current GTID only in GTID mode
            if rows > 0:
                props.add(key="rowsCount", value=str(rows))
            return header
        if self._cur_gtid:
            props.add(key="curtGtid", value=self._cur_gtid)
        if self._cur_sn:
            props.add(key="curtGtidSn", value=self._cur_sn)
        if self._cur_lct:
            props.add(key="curtGtidLct", value=self._cur_lct)
        if rows > 0:
            props.add(key="rowsCount", value=str(rows))
        return header

    def _entry(
        self,
        ev: Event,
        entry_type: int,
        store_value: bytes,
        schema: str | None,
        table: str | None,
        event_type: int | None,
        *,
        is_ddl: bool = False,
        rows: int = -1,
    ) -> ParsedEntry:
        header = self._header(ev, schema, table, event_type, rows)
        e = pb.Entry(header=header, entryType=entry_type, storeValue=store_value)  # type: ignore[arg-type]
        h = ev.header
        return ParsedEntry(
            e,
            ev.log_file,
            h.start_pos,
            h.server_id,
            h.timestamp * 1000,
            entry_type,
            event_type or 0,
            is_ddl,
            header.gtid,
            max(rows, 0),
        )

    def _query_entry(self, ev: Event, sql: str, table: str) -> ParsedEntry:
        rc = pb.RowChange(sql=sql, eventType=pb.QUERY)
        return self._entry(ev, pb.ROWDATA, rc.SerializeToString(), "", table, pb.QUERY)

    def _query(self, ev: QueryEvent) -> ParsedEntry | None:
        q = ev.query
        upper = q.lstrip()[:12].upper()
        marker = transaction_entry_type(q)
        if marker == pb.TRANSACTIONBEGIN:
            begin = pb.TransactionBegin(threadId=ev.thread_id)
            if upper.startswith("XA START"):
                begin.props.add(key="XA_TYPE", value="XA START")
                begin.props.add(key="XA_XID", value=q.lstrip()[8:])
            return self._entry(ev, pb.TRANSACTIONBEGIN, begin.SerializeToString(), "", "", None)
        if marker == pb.TRANSACTIONEND:
            end = pb.TransactionEnd(transactionId="0")
            if upper.startswith("XA END"):
                end.props.add(key="XA_TYPE", value="XA END")
                end.props.add(key="XA_XID", value=q.lstrip()[6:])
            return self._entry(ev, pb.TRANSACTIONEND, end.SerializeToString(), "", "", None)
        for kw, et in (("XA COMMIT", pb.XACOMMIT), ("XA ROLLBACK", pb.XAROLLBACK)):
            if upper.startswith(kw):
                rc = pb.RowChange(sql=q, eventType=et)
                rc.props.add(key="XA_TYPE", value=kw)
                rc.props.add(key="XA_XID", value=q.lstrip()[len(kw) :])
                return self._entry(ev, pb.ROWDATA, rc.SerializeToString(), "", "", et)
        res = classify(q, ev.schema)
        event_type = _EVENT_TYPE_VALUE[res.type]
        is_dml = event_type in (pb.INSERT, pb.UPDATE, pb.DELETE)
        if not self._query_passes(res, event_type):
            # canal still applies a filtered table's DDL to nothing; DDL on filtered tables is skipped
            return None
        if not is_dml and self.on_ddl is not None:
            self.on_ddl(ev, res)  # the schema history follows DDL even when filter.query.ddl drops it
        if self.filter_query_ddl and not is_dml:
            return None
        rc = pb.RowChange(isDdl=not is_dml, sql=q, eventType=event_type)  # type: ignore[arg-type]
        if ev.schema:
            rc.ddlSchemaName = ev.schema
        return self._entry(ev, pb.ROWDATA, rc.SerializeToString(), res.schema, res.table, event_type, is_ddl=not is_dml)

    def _query_passes(self, res: DdlResult, event_type: int) -> bool:
        """canal's processFilter, inverted: True when the statement is delivered."""
        if event_type in _DDL_TYPES:
            if not res.table:
                return True  # canal raises here unless filter.query.ddl; the classifier found no table
            return self.table_filter.accepts(res.schema, res.table)
        if event_type in (pb.INSERT, pb.UPDATE, pb.DELETE):
            return not self.filter_query_dml
        return not self.filter_query_dcl

    def _rows(self, ev: RowsEvent) -> ParsedEntry | None:
        if self.filter_rows:
            return None
        kind = ev.kind
        if (
            (kind == "INSERT" and self.filter_dml_insert)
            or (kind == "UPDATE" and self.filter_dml_update)
            or (kind == "DELETE" and self.filter_dml_delete)
        ):
            return None
        table = ev.table
        if not self.table_filter.accepts(table.schema, table.table):
            return None
        layout = self._tables.get(table)
        metas = layout.metas
        full = f"{table.schema}.{table.table}".upper()
        keep = self.field_filter.get(full)
        drop = self.field_black_filter.get(full)

        def wanted(name: str) -> bool:
            if keep:
                return name.upper() in keep
            return not drop or name.upper() not in drop

        encs = layout.encoders
        before_pairs = [(encs[i], k) for k, i in enumerate(ev.present) if wanted(metas[i].name)]
        row_datas = []
        if ev.kind == "UPDATE":
            assert ev.present_after is not None
            after_pairs = [(encs[i], k) for k, i in enumerate(ev.present_after) if wanted(metas[i].name)]
            if ev.present == ev.present_after:  # full images: compare position by position
                for before, after in ev.rows:
                    bcols = [e.encode(before[k], False) for e, k in before_pairs]
                    acols = [e.encode(after[k], before[k] != after[k]) for e, k in after_pairs]
                    row_datas.append(encode_row_data(bcols, acols))
            else:  # MINIMAL/NOBLOB: a column with no before value counts as updated, as in canal
                before_at = {i: k for k, i in enumerate(ev.present)}
                after_idx = [
                    (encs[i], k, before_at.get(i)) for k, i in enumerate(ev.present_after) if wanted(metas[i].name)
                ]
                for before, after in ev.rows:
                    bcols = [e.encode(before[k], False) for e, k in before_pairs]
                    acols = [e.encode(after[k], bk is None or before[bk] != after[k]) for e, k, bk in after_idx]
                    row_datas.append(encode_row_data(bcols, acols))
        elif ev.kind == "INSERT":
            for row in ev.rows:
                row_datas.append(encode_row_data((), [e.encode(row[k], True) for e, k in before_pairs]))
        else:
            for row in ev.rows:
                row_datas.append(encode_row_data([e.encode(row[k], False) for e, k in before_pairs], ()))
        store_value = encode_row_change(ev.table_id, _KIND[ev.kind], row_datas)
        return self._entry(ev, pb.ROWDATA, store_value, table.schema, table.table, _KIND[ev.kind], rows=len(ev.rows))


class _EntryTable:
    """What EntryConverter derives from one table layout: canal's column descriptions and their encoders."""

    __slots__ = ("encoders", "metas")

    def __init__(self, table: TableMapEvent) -> None:
        self.metas = table_columns(table)
        self.encoders = [ColumnEncoder(m.index, m) for m in self.metas]


def _statement_text(ev: Event) -> str:
    """The statement a USER_VAR / INTVAR / RAND event stands for, as mysqlbinlog prints it."""
    if isinstance(ev, IntVarEvent):
        return f"SET {'LAST_INSERT_ID' if ev.kind == 1 else 'INSERT_ID'}={ev.value}"
    if isinstance(ev, RandEvent):
        return f"SET @@RAND_SEED1={ev.seed1}, @@RAND_SEED2={ev.seed2}"
    assert isinstance(ev, UserVarEvent)
    if ev.is_null:
        return f"SET @`{ev.name}`:=NULL"
    if isinstance(ev.value, str):
        return "SET @`" + ev.name + "`:='" + ev.value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return f"SET @`{ev.name}`:={ev.value}"
