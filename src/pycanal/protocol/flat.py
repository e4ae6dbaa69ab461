"""canal Entries -> FlatMessage dicts, as canal's ``MQMessageUtils.messageConverter`` builds them.

This is the consumer-side twin of :mod:`pycanal.parse.flat` (which builds the same JSON straight from
binlog events): it works on the protobuf Entries a canal server (Java or pycanal) hands out, so a client
can print or forward canal-json without a MySQL connection. canal's quirks are kept on purpose, because
Flink/TiCDC/Paimon ``canal-json`` readers were written against them (canal-spec.md section 8.2):

* one message per Entry that is not a TRANSACTIONBEGIN/TRANSACTIONEND (so, in practice, per ROWDATA);
* DDL (``isDdl``): ``data``, ``mysqlType``, ``sqlType``, ``old`` and ``pkNames`` are null;
* rows are only read for INSERT/UPDATE/DELETE; DELETE rows come from the before image, others from the
  after image; a row with no columns is left out of ``data`` (its ``old`` entry is still added);
* ``sqlType``/``mysqlType`` keep the first-seen column order, with the value of the *last* row;
* ``pkNames`` are the key columns of the first row only;
* ``old`` (UPDATE only) holds, per row, the before values of every column marked ``updated`` in this
  row *or any earlier row* of the entry (canal's ``updateSet`` is never cleared), so it may be ``{}``;
* empty maps and lists become null; keys are alphabetical and nulls are kept (fastjson2 ``WriteNulls``);
* ``ts`` is the wall clock in milliseconds when the message is built.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ..errors import RemoteProtocolError
from . import entry as pb

KEYS = (
    "data",
    "database",
    "es",
    "gtid",
    "id",
    "isDdl",
    "mysqlType",
    "old",
    "pkNames",
    "sql",
    "sqlType",
    "table",
    "ts",
    "type",
)


def new_message(**fields: Any) -> dict[str, Any]:
    """A FlatMessage dict: every key of :data:`KEYS` in canal's (alphabetical) order, null unless given.
    The one place both FlatMessage builders (this module, and :mod:`pycanal.parse.flat` from binlog events)
    take their keys from."""
    msg: dict[str, Any] = dict.fromkeys(KEYS)
    msg.update(fields)
    return msg


_DML = (pb.INSERT, pb.UPDATE, pb.DELETE)
_TRANSACTION = (pb.TRANSACTIONBEGIN, pb.TRANSACTIONEND)


class HasEntries(Protocol):
    """A get result (pycanal.client.Message): its batch id and its decoded Entries."""

    @property
    def batch_id(self) -> int: ...

    @property
    def entries(self) -> list[pb.Entry]: ...


def event_type_name(value: int) -> str:
    """The enum constant name Java's ``EventType.toString()`` gives; values it does not know are UNRECOGNIZED."""
    try:
        return pb.EventType.Name(value)
    except ValueError:
        return "UNRECOGNIZED"


def _as_entry(item: pb.Entry | bytes) -> pb.Entry:
    if isinstance(item, pb.Entry):
        return item
    try:
        return pb.Entry.FromString(item)
    except Exception as exc:  # protobuf's DecodeError
        raise RemoteProtocolError(f"not a serialized canal Entry: {exc}") from exc


def flat_message(entry: pb.Entry, batch_id: int, *, ts: int | None = None) -> dict[str, Any] | None:
    """The FlatMessage of one Entry; None for TRANSACTIONBEGIN/TRANSACTIONEND."""
    if entry.entryType in _TRANSACTION:
        return None
    try:
        rc = pb.RowChange.FromString(entry.storeValue)
    except Exception as exc:
        raise RemoteProtocolError(
            f"Entry at {entry.header.logfileName}:{entry.header.logfileOffset} has no valid RowChange: {exc}"
        ) from exc
    header = entry.header
    event_type = rc.eventType
    msg = new_message(
        database=header.schemaName,
        es=header.executeTime,
        gtid=header.gtid,
        id=batch_id,
        isDdl=rc.isDdl,
        sql=rc.sql,
        table=header.tableName,
        ts=int(time.time() * 1000) if ts is None else ts,
        type=event_type_name(event_type),
    )
    if rc.isDdl:
        return msg
    sql_type: dict[str, int] = {}
    mysql_type: dict[str, str] = {}
    data: list[dict[str, str | None]] = []
    old: list[dict[str, str | None]] = []
    pk_names: list[str] = []
    update_set: set[str] = set()  # canal's updateSet: grows over the rows of the entry, never cleared
    first_row = True
    if event_type in _DML:
        is_update = event_type == pb.UPDATE
        for rd in rc.rowDatas:
            columns = rd.beforeColumns if event_type == pb.DELETE else rd.afterColumns
            row: dict[str, str | None] = {}
            for c in columns:
                name = c.name
                if first_row and c.isKey:
                    pk_names.append(name)
                sql_type[name] = c.sqlType
                mysql_type[name] = c.mysqlType
                row[name] = None if c.isNull else c.value
                if c.updated:
                    update_set.add(name)
            first_row = False
            if row:
                data.append(row)
            if is_update:
                old.append({c.name: (None if c.isNull else c.value) for c in rd.beforeColumns if c.name in update_set})
    msg.update(
        data=data or None,
        mysqlType=mysql_type or None,
        old=old or None,
        pkNames=pk_names or None,
        sqlType=sql_type or None,
    )
    return msg


def flat_messages(
    message_or_entries: HasEntries | Iterable[pb.Entry | bytes],
    batch_id: int | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> list[dict[str, Any]]:
    """FlatMessages of a get result, in Entry order (canal's ``messageConverter``).

    ``message_or_entries`` is a client Message (its ``batch_id`` is used unless ``batch_id`` is given) or
    Entries, decoded or serialized (then ``batch_id`` is required). ``ts`` comes from ``clock`` (seconds),
    read once per message as canal does.
    """
    if hasattr(message_or_entries, "batch_id") and hasattr(message_or_entries, "entries"):
        if batch_id is None:
            batch_id = message_or_entries.batch_id
        items: Iterable[pb.Entry | bytes] = message_or_entries.entries
    else:
        items = message_or_entries
    if batch_id is None:
        raise TypeError("flat_messages: batch_id is required when converting bare Entries")
    out = []
    for item in items:
        msg = flat_message(_as_entry(item), batch_id, ts=int(clock() * 1000))
        if msg is not None:
            out.append(msg)
    return out


def to_json(message: dict[str, Any]) -> str:
    """One FlatMessage as canal writes it: compact, keys in the (alphabetical) order of :data:`KEYS`."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)
