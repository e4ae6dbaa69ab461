"""Schema history stores: round trips, duplicate positions, snapshot replacement and deletion, reopening."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from pycanal.errors import SchemaHistoryError
from pycanal.model import EntryPosition
from pycanal.schema.store import INIT_POSITION, HistoryRow, MemoryStore, SnapshotRow, SqliteStore, is_init

P1 = EntryPosition("mysql-bin.000001", 120, 1, 1_700_000_000_000, "0-1-5")
P2 = EntryPosition("mysql-bin.000002", 4, 1, 1_700_000_100_000)


@pytest.fixture(params=["sqlite", "memory"])
def store(request: Any, tmp_path: Any) -> Iterator[Any]:
    s = SqliteStore(str(tmp_path / "d" / "tsdb.sqlite3")) if request.param == "sqlite" else MemoryStore()
    yield s
    s.close()


def test_history_round_trip_and_duplicates(store: Any) -> None:
    a = store.add_history("dest", HistoryRow(P1, "ALTER TABLE t ADD x int", "db", "db", "t", "ALTER", {"k": 1}))
    b = store.add_history("dest", HistoryRow(P2, "DROP TABLE t", "db", "db", "t", "ERASE"))
    assert store.add_history("dest", HistoryRow(P1, "other text")) == a  # canal: unique on the position
    assert store.add_history("other", HistoryRow(P1, "x")) not in (a, b)  # per destination
    rows = store.history("dest")
    assert [(r.id, r.position, r.sql_text, r.use_schema, r.sql_table, r.sql_type) for r in rows] == [
        (a, P1, "ALTER TABLE t ADD x int", "db", "t", "ALTER"),
        (b, P2, "DROP TABLE t", "db", "t", "ERASE"),
    ]
    assert rows[0].extra == {"k": 1, "gtid": "0-1-5"} and rows[1].extra == {}


def test_snapshots_replace_and_delete(store: Any) -> None:
    s0 = store.add_snapshot("dest", SnapshotRow(INIT_POSITION, {"db": "CREATE TABLE `t` (`a` int(11)); \n"}, {}))
    s1 = store.add_snapshot("dest", SnapshotRow(P1, {"db": "v1"}, {"history_id": 3}))
    assert store.add_snapshot("dest", SnapshotRow(P1, {"db": "v2"}, {"history_id": 4})) == s1  # replaced
    snaps = store.snapshots("dest")
    assert [(s.id, s.position, s.data, s.extra.get("history_id")) for s in snaps] == [
        (s0, INIT_POSITION, None, None),
        (s1, P1, None, 4),
    ]
    assert is_init(snaps[0].position) and not is_init(snaps[1].position)
    assert store.snapshot_data("dest", s1) == {"db": "v2"}
    store.delete_snapshots("dest", [s0])
    assert [s.id for s in store.snapshots("dest")] == [s1]
    with pytest.raises(SchemaHistoryError, match="is gone"):
        store.snapshot_data("dest", s0)


def test_sqlite_reopen_and_errors(tmp_path: Any) -> None:
    store = SqliteStore.for_instance(str(tmp_path), "example")
    assert store.path == os.path.join(str(tmp_path), "example", "tsdb.sqlite3")
    rid = store.add_history("example", HistoryRow(P1, "CREATE TABLE t (a int)", "db"))
    store.close()
    with pytest.raises(SchemaHistoryError, match="closed"):
        store.history("example")
    again = SqliteStore.for_instance(str(tmp_path), "example")
    assert [(r.id, r.sql_text, r.position) for r in again.history("example")] == [(rid, "CREATE TABLE t (a int)", P1)]
    # canal's column names, so a tool that reads canal's tables reads these
    conn = sqlite3.connect(again.path)
    names = [r[1] for r in conn.execute("PRAGMA table_info(meta_history)")]
    conn.close()
    assert names[3:] == [
        "destination",
        "binlog_file",
        "binlog_offest",
        "binlog_master_id",
        "binlog_timestamp",
        "use_schema",
        "sql_schema",
        "sql_table",
        "sql_text",
        "sql_type",
        "extra",
    ]
    conn = sqlite3.connect(again.path)
    conn.execute("UPDATE meta_history SET extra = 'not json'")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaHistoryError, match="bad JSON"):
        again.history("example")
    again.close()
    (tmp_path / "file").write_text("x")
    with pytest.raises(SchemaHistoryError, match="cannot open"):
        SqliteStore(str(tmp_path / "file" / "sub" / "tsdb.sqlite3"))
