"""Decoded events are never written after decoding, and the parse layer keeps its caches to itself.

* With every event attribute made write-once, the decoder (with a schema resolver), EntryConverter and
  FlatMessageConverter run over synthetic and real binlogs: any later write fails the test.
* The TABLE_MAP's parts are immutable values; a schema resolver returns new columns, the TABLE_MAP it was
  given stays as the binlog wrote it.
* The binlog decoder keeps the row decoder beside the table map, per table id and column signature; the
  parse layer keeps its own layouts (:class:`pycanal.parse.columns.TableLayouts`).
"""

from __future__ import annotations

import dataclasses
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from pycanal.binlog import constants as C
from pycanal.binlog.decoder import BinlogDecoder, read_binlog_file
from pycanal.binlog.events import ColumnInfo, Event, EventHeader, RowsEvent, TableMapEvent
from pycanal.errors import DecodeError
from pycanal.parse.columns import TableLayouts
from pycanal.parse.entries import EntryConverter
from pycanal.parse.flat import FlatMessageConverter
from pycanal.protocol import entry as pb
from pycanal.schema.live import LiveSchema

FIXTURES = os.path.normpath(
    os.environ.get(
        "PYCANAL_FIXTURES",
        os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "fixtures", "mysql-binlog"),
    )
)

# -- synthetic events ----------------------------------------------------------------------------------------


def event(type_code: int, body: bytes, *, log_pos: int = 1000) -> bytes:
    size = C.HEADER_LEN + len(body) + 4
    data = struct.pack("<IBIIIH", 1700000000, type_code, 1, size, log_pos, 0) + body
    return data + struct.pack("<I", zlib.crc32(data))


def table_map(table_id: int = 7, table: bytes = b"t") -> bytes:
    body = table_id.to_bytes(6, "little") + b"\x01\x00" + b"\x02db\x00" + bytes([len(table)]) + table + b"\x00"
    body += b"\x02" + bytes([C.MYSQL_TYPE_LONG, C.MYSQL_TYPE_VARCHAR]) + b"\x02\x40\x00" + b"\xff"
    return event(C.TABLE_MAP, body)


def write_rows(table_id: int = 7) -> bytes:
    body = table_id.to_bytes(6, "little") + b"\x01\x00" + b"\x02\x00" + b"\x02\xff"
    body += b"\x00" + struct.pack("<i", 5) + b"\x02hi"
    return event(C.WRITE_ROWS_V2, body)


def update_rows(table_id: int = 7) -> bytes:
    body = table_id.to_bytes(6, "little") + b"\x01\x00" + b"\x02\x00" + b"\x02\xff\xff"
    body += b"\x00" + struct.pack("<i", 5) + b"\x02hi" + b"\x00" + struct.pack("<i", 5) + b"\x02ho"
    return event(C.UPDATE_ROWS_V2, body)


def query(sql: bytes) -> bytes:
    return event(C.QUERY, struct.pack("<IIBHH", 9, 0, 2, 0, 0) + b"db\x00" + sql)


def xid() -> bytes:
    return event(C.XID, struct.pack("<Q", 77))


class FakeLive:
    """information_schema for LiveSchema: db.t is (id int unsigned PK, v varchar(16) utf8mb4)."""

    def __init__(self) -> None:
        self.column_queries = 0

    def __call__(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        if "COLLATIONS" in sql:
            return [("utf8mb4_general_ci", 45)]
        self.column_queries += 1
        if tuple(args) == ("db", "t"):
            return [("id", "int(10) unsigned", "PRI", None), ("v", "varchar(16)", "", "utf8mb4_general_ci")]
        return []


# -- write-once events ---------------------------------------------------------------------------------------


def _write_once(self: object, name: str, value: object) -> None:
    try:
        getattr(self, name)
    except AttributeError:
        object.__setattr__(self, name, value)  # the first write: the event is being built
        return
    raise AssertionError(f"{type(self).__name__}.{name} was written after the event was built")


@pytest.fixture
def write_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(Event, "__setattr__", _write_once)
    yield


def _consume(events: Sequence[Event]) -> int:
    entries, flat = EntryConverter(), FlatMessageConverter(clock=lambda: 0.0)
    n = 0
    for ev in events:
        n += len(entries.convert(ev))
        n += len(list(flat.convert(ev)))
    return n


def test_the_write_once_guard_catches_a_write(write_once):
    ev = BinlogDecoder(checksum=True).decode(xid())
    with pytest.raises(AssertionError, match=r"XidEvent\.xid was written"):
        ev.xid = 78  # type: ignore[misc]


def test_nothing_writes_synthetic_events(write_once):
    live = FakeLive()
    dec = BinlogDecoder(checksum=True, log_file="mysql-bin.000001", schema_resolver=LiveSchema(live))
    raw = [query(b"BEGIN"), table_map(), write_rows(), table_map(), update_rows(), xid(), query(b"DROP TABLE x")]
    events = [dec.decode(r) for r in raw]
    assert _consume(events) > 0
    rows = events[2]
    assert isinstance(rows, RowsEvent) and rows.rows == [["5", "hi"]]
    assert [c.name for c in rows.table.columns] == ["id", "v"]


@pytest.mark.skipif(not os.path.isdir(FIXTURES), reason=f"no fixtures at {FIXTURES}")
@pytest.mark.parametrize(
    "name",
    [
        "json.binlog.000001",  # PARTIAL_UPDATE_ROWS, JSON
        "mysql-enum-string-set.000001",  # ENUM/SET values from optional metadata
        "binlog_transaction_with_GTID_TAG.000001",  # tagged GTIDs, PREVIOUS_GTIDS
        "binlog-invisible-columns.000001",
    ],
)
def test_nothing_writes_real_binlogs(write_once, name):
    events = list(read_binlog_file(os.path.join(FIXTURES, "rust_mysql_common", name)))
    assert _consume(events) > 0


@pytest.mark.skipif(not os.path.isdir(FIXTURES), reason=f"no fixtures at {FIXTURES}")
def test_nothing_writes_compressed_transactions(write_once):
    from pycanal.binlog.events import TransactionPayloadEvent

    folder = os.path.join(FIXTURES, "rust_mysql_common")
    for name in sorted(os.listdir(folder)):
        try:
            events = list(read_binlog_file(os.path.join(folder, name)))
        except DecodeError:
            continue  # the truncated and corrupt ones
        if any(isinstance(e, TransactionPayloadEvent) for e in events):
            entries = [e for ev in events for e in EntryConverter().convert(ev)]
            assert any(e.entry_type == pb.ROWDATA for e in entries)
            for ev in events:  # the payload's inner events keep their own header
                if isinstance(ev, TransactionPayloadEvent):
                    assert all(inner.header.log_pos == 0 for inner in ev.events)
            return
    pytest.skip("no fixture with a TRANSACTION_PAYLOAD")


# -- immutable parts, resolvers ------------------------------------------------------------------------------


def test_table_map_parts_are_immutable():
    tm = BinlogDecoder(checksum=True).decode(table_map())
    assert isinstance(tm, TableMapEvent)
    assert isinstance(tm.columns, tuple) and isinstance(tm.primary_key, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        tm.columns[0].name = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        tm.header.log_pos = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        tm.optional_metadata[1] = b""  # type: ignore[index]


def test_the_resolver_returns_new_columns_and_leaves_the_table_map_alone():
    seen: list[TableMapEvent] = []

    def resolver(tm: TableMapEvent) -> tuple[ColumnInfo, ...]:
        seen.append(tm)
        return tuple(dataclasses.replace(c, name=f"c{c.index}", mysql_type="x") for c in tm.columns)

    dec = BinlogDecoder(checksum=True, schema_resolver=resolver)
    tm = dec.decode(table_map())
    assert [c.name for c in tm.columns] == ["c0", "c1"]
    (given,) = seen
    assert given is not tm and [c.name for c in given.columns] == [None, None]  # as the binlog wrote it
    assert [c.mysql_type for c in given.columns] == [None, None]


@pytest.mark.parametrize(("answer", "names"), [(None, [None, None]), ((), None), ("one", None)])
def test_resolver_answers(answer, names):
    def resolver(tm: TableMapEvent) -> Any:
        return tm.columns[:1] if answer == "one" else answer

    dec = BinlogDecoder(checksum=True, schema_resolver=resolver)
    if names is None:
        with pytest.raises(DecodeError, match="the schema resolver gave"):
            dec.decode(table_map())
    else:
        assert [c.name for c in dec.decode(table_map()).columns] == names  # None: nothing to add


def test_repeated_table_map_reuses_columns_and_row_decoder():
    live = FakeLive()
    dec = BinlogDecoder(checksum=True, schema_resolver=LiveSchema(live))
    first, second = dec.decode(table_map()), dec.decode(table_map())
    assert first is not second and first.columns is second.columns  # one resolution
    assert live.column_queries == 1
    dec.invalidate_tables()
    third = dec.decode(table_map())
    assert live.column_queries == 1  # LiveSchema's own cache answered; the decoder asked again
    assert third.columns == first.columns and third.columns is not first.columns
    assert dec._row_decoders[(7, third.columns)] is dec._row_decoders[(7, first.columns)]  # equal layout: reused
    assert len(dec._row_decoders) == 1
    dec.decode(table_map(table_id=8))
    assert len(dec._row_decoders) == 2  # keyed by table id and column signature
    assert dec.tables[7] is third and set(dec.tables) == {7, 8}


# -- the parse layer's layout cache --------------------------------------------------------------------------


def _tm(table_id: int, table: str, columns: tuple[ColumnInfo, ...], schema: str = "db") -> TableMapEvent:
    h = EventHeader(1, C.TABLE_MAP, 1, 40, 1000, 0)
    return TableMapEvent(h, "f", table_id, schema, table, columns, False, ())


COLS = (ColumnInfo(0, C.MYSQL_TYPE_LONG, 0, False, name="id"),)
COLS_EQUAL = (ColumnInfo(0, C.MYSQL_TYPE_LONG, 0, False, name="id"),)
COLS_RENAMED = (ColumnInfo(0, C.MYSQL_TYPE_LONG, 0, False, name="key"),)
COLS_TYPED = (ColumnInfo(0, C.MYSQL_TYPE_LONG, 0, False, name="id", mysql_type="int(11)"),)


@pytest.mark.parametrize(
    ("second", "built"),
    [
        (_tm(7, "t", COLS), 1),  # the same columns object: a lookup
        (_tm(7, "t", COLS_EQUAL), 1),  # equal columns (rebuilt after invalidate_tables): reused
        (_tm(7, "t", COLS_RENAMED), 2),  # a column renamed
        (_tm(7, "t", COLS_TYPED), 2),  # a resolved column-type text
        (_tm(7, "u", COLS), 2),  # another table under the same id
        (_tm(7, "t", COLS, schema="db2"), 2),
        (_tm(8, "t", COLS), 2),  # another table id
    ],
)
def test_table_layouts(second, built):
    calls: list[TableMapEvent] = []
    layouts: TableLayouts[int] = TableLayouts(lambda t: calls.append(t) or len(calls))
    first = _tm(7, "t", COLS)
    assert layouts.get(first) == 1 and layouts.get(first) == 1
    assert layouts.get(second) == built
    assert layouts.get(second) == built  # and cached from now on
    assert len(calls) == built


def test_table_layouts_are_bounded():
    layouts: TableLayouts[int] = TableLayouts(lambda t: t.table_id, limit=3)
    for i in range(5):
        layouts.get(_tm(i, "t", COLS))
    assert len(layouts) <= 3


def test_converters_keep_their_own_layouts():
    dec = BinlogDecoder(checksum=True, log_file="f", schema_resolver=LiveSchema(FakeLive()))
    events = [dec.decode(r) for r in (table_map(), write_rows(), table_map(), update_rows())]
    entries, flat = EntryConverter(), FlatMessageConverter(clock=lambda: 0.0)
    for ev in events:
        entries.convert(ev)
        list(flat.convert(ev))
    assert len(entries._tables) == 1 and len(flat._tables) == 1
    (flat_table,) = (v for *_, v in flat._tables._by_id.values())
    assert set(flat_table.layouts) == {(0, 1)}  # one layout per set of present columns
    assert not hasattr(events[0], "__dict__")  # nothing can be hung on an event
