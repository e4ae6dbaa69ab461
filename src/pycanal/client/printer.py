"""Human-readable dumps of canal Entries, laid out as canal's example client prints them.

canal users know the output of ``SimpleCanalClientTest`` (``example/.../BaseCanalClientTest.java``) from
the quick-start guide; these functions produce the same text, one line per log call of the example,
without the logger prefix:

* a batch summary block of ``*`` lines (:func:`format_summary`);
* a TRANSACTIONBEGIN as a ``================> binlog[file:offset] , executeTime : ms(date) , gtid : (...) ,
  delay : Nms`` header followed by `` BEGIN ----> Thread id: N``; a TRANSACTIONEND as a dashed line,
  `` END ----> transaction id: X`` and the same header after it;
* a ROWDATA entry as ``----------------> binlog[file:offset] , name[schema,table] , eventType : INSERT ,
  executeTime : ms(date) , gtid : (...) , delay : N ms``, then ``ddl : true ,  sql ----> ...`` for DDL
  and QUERY, or one ``name : value    type=mysqlType    update=true`` line per column (before image for
  DELETE, after image otherwise; ``update=`` only when the column changed);
* XA props (keys ending in ``XA_TYPE``/``XA_XID``) as `` ------> XA_TYPE XID``.

Dates are local time (``yyyy-MM-dd HH:mm:ss``), like the JVM default time zone the example uses; the
delay is "now" minus the entry's execute time. Pass ``now_ms`` for reproducible output.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from ..protocol import entry as pb

SEP = "\n"
_TRANSACTION_LINE = "================> binlog[{}:{}] , executeTime : {}({}) , gtid : ({}) , delay : {}ms"
_ROW_LINE = (
    "----------------> binlog[{}:{}] , name[{},{}] , eventType : {} , executeTime : {}({}) , "
    "gtid : ({}) , delay : {} ms"
)


def _date(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms // 1000))


def _now_ms(now_ms: int | None) -> int:
    return int(time.time() * 1000) if now_ms is None else now_ms


def _event_type(value: int) -> str:
    try:
        return pb.EventType.Name(value)
    except ValueError:
        return "UNRECOGNIZED"


def _xa_line(props: Iterable[pb.Pair]) -> list[str]:
    xa_type = xa_xid = None
    for p in props:
        key = p.key.upper()
        if key.endswith("XA_TYPE"):
            xa_type = p.value
        elif key.endswith("XA_XID"):
            xa_xid = p.value
    if xa_type is not None and xa_xid is not None:
        return [f" ------> {xa_type} {xa_xid}"]
    return []


def _transaction_line(h: pb.Header, now: int) -> str:
    body = _TRANSACTION_LINE.format(
        h.logfileName, h.logfileOffset, h.executeTime, _date(h.executeTime), h.gtid, now - h.executeTime
    )
    return SEP + body + SEP


def _column_value(c: pb.Column) -> str:
    mysql_type = c.mysqlType.upper()
    if "BLOB" in mysql_type or "BINARY" in mysql_type:
        # canal carries binary values as ISO-8859-1 text; the example turns them back into UTF-8 text
        return c.value.encode("latin-1", "replace").decode("utf-8", "replace")
    return c.value  # a NULL column has no value: prints empty, as Java's getValue() gives ""


def format_columns(columns: Sequence[pb.Column]) -> list[str]:
    """One ``name : value    type=...    update=true`` line (with its trailing newline) per column."""
    lines = []
    for c in columns:
        line = f"{c.name} : {_column_value(c)}    type={c.mysqlType}"
        if c.updated:
            line += "    update=true"
        lines.append(line + SEP)
    return lines


def entry_lines(entry: pb.Entry, *, now_ms: int | None = None) -> list[str]:
    """The messages the example logs for one Entry, in order (each one log call)."""
    now = _now_ms(now_ms)
    h = entry.header
    kind = entry.entryType
    if kind == pb.TRANSACTIONBEGIN:
        begin = pb.TransactionBegin.FromString(entry.storeValue)
        return [_transaction_line(h, now), f" BEGIN ----> Thread id: {begin.threadId}", *_xa_line(begin.props)]
    if kind == pb.TRANSACTIONEND:
        end = pb.TransactionEnd.FromString(entry.storeValue)
        return [
            "----------------" + SEP,
            f" END ----> transaction id: {end.transactionId}",
            *_xa_line(end.props),
            _transaction_line(h, now),
        ]
    if kind != pb.ROWDATA:
        return []  # the example prints nothing for other entry types
    rc = pb.RowChange.FromString(entry.storeValue)
    out = [
        SEP
        + _ROW_LINE.format(
            h.logfileName,
            h.logfileOffset,
            h.schemaName,
            h.tableName,
            _event_type(rc.eventType),
            h.executeTime,
            _date(h.executeTime),
            h.gtid,
            now - h.executeTime,
        )
        + SEP
    ]
    if rc.eventType == pb.QUERY or rc.isDdl:
        out.append(f"ddl : {'true' if rc.isDdl else 'false'} ,  sql ----> {rc.sql}" + SEP)
        return out
    out.extend(_xa_line(rc.props))
    for rd in rc.rowDatas:
        out.extend(format_columns(rd.beforeColumns if rc.eventType == pb.DELETE else rd.afterColumns))
    return out


def format_entry(entry: pb.Entry | bytes, *, now_ms: int | None = None) -> str:
    """What canal's example client prints for one Entry (serialized Entries are decoded first)."""
    if not isinstance(entry, pb.Entry):
        entry = pb.Entry.FromString(entry)
    return "".join(line + "\n" for line in entry_lines(entry, now_ms=now_ms))


def _dump_position(entry: pb.Entry) -> str:
    h = entry.header
    pos = f"{h.logfileName}:{h.logfileOffset}:{h.executeTime}({_date(h.executeTime)})"
    if h.gtid:
        pos += f" gtid({h.gtid})"
    return pos


def format_summary(batch_id: int, entries: Sequence[pb.Entry], *, now_ms: int | None = None) -> str:
    """The example's ``****`` block for a non-empty batch: id, count, summed event lengths, time, range."""
    memsize = sum(e.header.eventLength for e in entries)
    start = _dump_position(entries[0]) if entries else "null"
    end = _dump_position(entries[-1]) if entries else "null"
    stars = "*" * 52
    body = (
        SEP + stars + SEP + f"* Batch Id: [{batch_id}] ,count : [{len(entries)}] , memsize : [{memsize}] , "
        f"Time : {_date(_now_ms(now_ms))}"
        + SEP
        + f"* Start : [{start}] "
        + SEP
        + f"* End : [{end}] "
        + SEP
        + stars
        + SEP
    )
    return body + "\n"


def format_flat(msg: dict[str, object], *, now_ms: int | None = None) -> str:
    """A FlatMessage (MQ mode) in the example client's layout: the row line without a binlog position
    (FlatMessage has none), then ``ddl : true ,  sql ----> ...`` or one ``name : value`` line per column
    of every row (``update=true`` where ``old`` names the column)."""
    es = int(msg.get("es") or 0)  # type: ignore[call-overload]
    head = (
        f"----------------> name[{msg.get('database')},{msg.get('table')}] , eventType : {msg.get('type')} , "
        f"executeTime : {es}({_date(es)}) , gtid : ({msg.get('gtid') or ''}) , delay : {_now_ms(now_ms) - es} ms"
    )
    lines = [head]
    rows = msg.get("data")
    if msg.get("isDdl") or not isinstance(rows, list):
        lines.append(f"ddl : {str(bool(msg.get('isDdl'))).lower()} ,  sql ----> {msg.get('sql')}")
        return SEP.join(lines)
    raw_types, raw_old = msg.get("mysqlType"), msg.get("old")
    types: dict[str, Any] = raw_types if isinstance(raw_types, dict) else {}
    old: list[Any] = raw_old if isinstance(raw_old, list) else []
    for i, row in enumerate(rows):
        changed = old[i] if i < len(old) and isinstance(old[i], dict) else {}
        for name, value in row.items():
            mark = "    update=true" if name in changed else ""
            lines.append(f"{name} : {'NULL' if value is None else value}    type={types.get(name, '')}{mark}")
        lines.append("")
    return SEP.join(lines).rstrip("\n")
