"""SchemaHistory without a server: position order, apply/rollback/snapshots/restart, the TABLE_MAP
check and fill, and the live fallback against a scripted query callable."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest

from helpers import shared_fixture
from pycanal.binlog import constants as C
from pycanal.binlog.events import ColumnInfo, EventHeader, TableMapEvent
from pycanal.errors import SchemaHistoryError, SchemaMismatchError
from pycanal.filter import TableFilter
from pycanal.model import EntryPosition
from pycanal.schema.history import SchemaHistory, precedes
from pycanal.schema.store import INIT_POSITION, MemoryStore, SqliteStore

HOUR = 3600 * 1000


def pos(offset: int, file: int = 1, ts: int = 0, server: int = 1, gtid: str | None = None) -> EntryPosition:
    return EntryPosition(f"mysql-bin.{file:06d}", offset, server, ts, gtid)


def table_map(
    schema: str,
    table: str,
    columns: list[tuple[str | None, int, int]],
    *,
    at: int = 500,
    pk: list[int] | None = None,
    charset: int | None = None,
) -> TableMapEvent:
    cols = [
        ColumnInfo(i, t, m, True, name=n, charset=charset if t in (15, 254, 252) else None)
        for i, (n, t, m) in enumerate(columns)
    ]
    header = EventHeader(1_700_000_000, C.TABLE_MAP, 1, 50, at + 50, 0)
    return TableMapEvent(header, "mysql-bin.000001", 7, schema, table, cols, any(n for n, _, _ in columns), pk or [])


def history(**kw: Any) -> SchemaHistory:
    kw.setdefault("server_charset", "utf8mb4")
    return SchemaHistory(kw.pop("store", None) or MemoryStore(), destination="d", **kw)


# --- positions -----------------------------------------------------------------------------------


def test_precedes() -> None:
    assert precedes(pos(100), pos(200)) and not precedes(pos(200), pos(100))
    assert not precedes(pos(100), pos(100)) and precedes(pos(100), pos(100), inclusive=True)
    assert precedes(pos(900, file=9), pos(4, file=10))  # numeric suffix, not string order
    assert precedes(EntryPosition("b.999999", 4, 1), EntryPosition("b.1000000", 4, 1))
    assert precedes(INIT_POSITION, pos(4)) and not precedes(pos(4), INIT_POSITION)
    # another server: GTIDs when both have comparable ones, else timestamps (equal counts as before)
    assert precedes(pos(900, server=1, gtid="0-1-5"), pos(4, server=2, gtid="0-2-6"))
    assert not precedes(pos(4, server=1, gtid="0-1-7"), pos(900, server=2, gtid="0-2-6"))
    assert precedes(
        pos(4, server=1, gtid="3e11fa47-71ca-11e1-9e33-c80aa9429562:1-9"),
        pos(4, server=2, gtid="3e11fa47-71ca-11e1-9e33-c80aa9429562:1-10"),
    )
    assert precedes(pos(900, server=1, ts=1000), pos(4, server=2, ts=1000))
    assert not precedes(pos(4, server=1, ts=2000), pos(900, server=2, ts=1000))
    with pytest.raises(SchemaHistoryError, match="cannot order"):
        precedes(EntryPosition(None, None, 1), EntryPosition(None, None, 2))


# --- apply, rollback, snapshots ------------------------------------------------------------------


def test_apply_ddl_records_only_ddl_and_not_twice() -> None:
    store = MemoryStore()
    h = history(store=store)
    assert h.apply_ddl(pos(100), "db", "BEGIN") == []
    assert h.apply_ddl(pos(110), "db", "INSERT INTO t VALUES (1)") == []
    assert h.apply_ddl(pos(120), "db", "CREATE TABLE t (a int)") == [("db", "t")]
    assert h.apply_ddl(pos(130), "db", "ALTER TABLE t ADD b int") == [("db", "t")]
    assert h.apply_ddl(pos(130), "db", "ALTER TABLE t ADD b int") == []  # delivered again: not re-applied
    assert [c.name for c in h.table("db", "t").columns] == ["a", "b"]
    rows = store.history("d")
    assert [(r.position.position, r.sql_type, r.use_schema, r.sql_table) for r in rows] == [
        (120, "CREATE", "db", "t"),
        (130, "ALTER", "db", "t"),
    ]
    assert h.position == pos(130) and h.version == 2
    h.apply_ddl(pos(140), "db", "CREATE TABLE x (a int BOGUS)", sql_mode=4)
    assert store.history("d")[-1].extra == {"sql_mode": 4, "unparsed": True}


def test_rollback_replays_up_to_position_and_is_exclusive() -> None:
    h = history()
    h.apply_ddl(pos(100), "db", "CREATE TABLE t (a int)")
    h.apply_ddl(pos(200), "db", "ALTER TABLE t ADD b int")
    h.apply_ddl(pos(300), "db", "ALTER TABLE t CHANGE b c varchar(3)")
    h.apply_ddl(pos(400), "db", "DROP TABLE t")
    expect = {100: None, 150: ["a"], 200: ["a"], 250: ["a", "b"], 350: ["a", "c"], 500: None}
    for at, names in expect.items():
        h.rollback(pos(at))
        t = h.table("db", "t")
        assert (None if t is None else [c.name for c in t.columns]) == names, at
    h.rollback(EntryPosition("mysql-bin.000001", 200, 1, 0, included=True))
    assert [c.name for c in h.table("db", "t").columns] == ["a", "b"]
    # forward again from 250: the stored rows are re-applied as the stream passes them
    h.rollback(pos(250))
    assert h.apply_ddl(pos(300), "db", "ALTER TABLE t CHANGE b c varchar(3)") == [("db", "t")]
    assert [c.column_type for c in h.table("db", "t").columns] == ["int(11)", "varchar(3)"]


def test_snapshots_serve_rollback_and_restart(tmp_path: Any) -> None:
    path = str(tmp_path / "tsdb.sqlite3")
    h = history(store=SqliteStore(path), snapshot_interval_hours=1)
    h.apply_ddl(pos(100, ts=0), "db", "CREATE TABLE t (a int)")
    h.apply_ddl(pos(200, ts=HOUR // 2), "db", "ALTER TABLE t ADD b int")  # too soon for a snapshot
    assert h.store.snapshots("d") == []
    h.apply_ddl(pos(300, ts=2 * HOUR), "db", "ALTER TABLE t ADD c int")  # an hour passed: snapshot
    (snap,) = h.store.snapshots("d")
    assert snap.position == pos(300, ts=2 * HOUR) and snap.extra["history_id"] == 3
    h.apply_ddl(pos(400, ts=2 * HOUR), "db", "ALTER TABLE t ADD d int")
    h.close()

    again = history(store=SqliteStore(path))  # restart: newest snapshot + the rows after it
    assert [c.name for c in again.table("db", "t").columns] == ["a", "b", "c", "d"]
    again.rollback(pos(350))
    assert [c.name for c in again.table("db", "t").columns] == ["a", "b", "c"]
    again.rollback(pos(250))  # before the snapshot's last row: rebuilt from the rows alone
    assert [c.name for c in again.table("db", "t").columns] == ["a", "b"]
    again.close()


def test_purge_keeps_a_base_and_rows_rebuild_older_positions() -> None:
    store = MemoryStore()
    h = history(store=store, snapshot_expire_hours=10, snapshot_interval_hours=0)
    h.apply_ddl(pos(100, ts=0), "db", "CREATE TABLE t (a int)")
    h.snapshot(pos(150, ts=1 * HOUR))
    h.apply_ddl(pos(200, ts=2 * HOUR), "db", "ALTER TABLE t ADD b int")
    h.snapshot(pos(250, ts=3 * HOUR))
    h.apply_ddl(pos(300, ts=30 * HOUR), "db", "ALTER TABLE t ADD c int")
    h.snapshot(pos(350, ts=30 * HOUR))  # purges snapshots older than 20h, keeping the newest of them
    assert [s.position.position for s in store.snapshots("d")] == [250, 350]
    h.rollback(pos(260))
    assert [c.name for c in h.table("db", "t").columns] == ["a", "b"]
    h.rollback(pos(120))  # before every snapshot left: rebuilt from the rows
    assert [c.name for c in h.table("db", "t").columns] == ["a"]


# --- the TABLE_MAP check -------------------------------------------------------------------------

T_COLS = [("id", C.MYSQL_TYPE_LONG, 0), ("a", C.MYSQL_TYPE_VARCHAR, 40), ("b", C.MYSQL_TYPE_NEWDECIMAL, (5 << 8) | 2)]


def test_resolver_fills_columns() -> None:
    h = history()
    h.apply_ddl(
        pos(100),
        "db",
        "CREATE TABLE t (id int unsigned PRIMARY KEY, a varchar(10), b decimal(5,2), e enum('x','y'), j json)",
    )
    tm = table_map(
        "db",
        "t",
        [
            (None, C.MYSQL_TYPE_LONG, 0),
            (None, C.MYSQL_TYPE_VARCHAR, 40),
            (None, C.MYSQL_TYPE_NEWDECIMAL, (5 << 8) | 2),
            (None, C.MYSQL_TYPE_ENUM, 0xF701),
            (None, C.MYSQL_TYPE_BLOB, 4),
        ],
    )
    before = tm.columns
    resolved = h.resolver(tm)
    assert tm.columns is before and all(c.mysql_type is None for c in tm.columns)  # the TABLE_MAP is untouched
    assert [(c.name, c.mysql_type, c.unsigned, c.charset, c.is_pk) for c in resolved] == [
        ("id", "int(10) unsigned", True, None, True),
        ("a", "varchar(10)", None, 45, False),
        ("b", "decimal(5,2)", False, None, False),
        ("e", "enum('x','y')", None, 45, False),
        ("j", "longtext", None, 46, False),
    ]
    assert resolved[3].enum_values == ("x", "y")
    other = table_map("db", "not_mine", T_COLS)
    assert history(table_filter=TableFilter("db\\.t")).resolver(other) is None  # filtered out: nothing to add


@pytest.mark.parametrize(
    ("ddl", "problem"),
    [
        ("CREATE TABLE t (id int, a varchar(10))", "the binlog has 3 columns, the history 2"),
        (
            "CREATE TABLE t (id int, aa varchar(10), b decimal(5,2))",
            "column 2 is 'a' in the binlog, 'aa' in the history",
        ),
        (
            "CREATE TABLE t (id bigint, a varchar(10), b decimal(5,2))",
            "column 1 (id): binlog type LONG, history bigint",
        ),
        ("CREATE TABLE t (id int, a varchar(20), b decimal(5,2))", "column 2 (a): the binlog has 40 bytes long"),
        ("CREATE TABLE t (id int, a varchar(10), b decimal(6,2))", "column 3 (b): the binlog has decimal(5,2)"),
    ],
)
def test_resolver_mismatch(ddl: str, problem: str) -> None:
    h = history()
    h.apply_ddl(pos(100), "db", ddl)
    with pytest.raises(SchemaMismatchError) as info:
        h.resolver(table_map("db", "t", T_COLS, at=700))
    err = info.value
    assert problem in str(err)
    assert (err.table, err.log_file, err.log_pos, err.event_type) == ("db.t", "mysql-bin.000001", 700, C.TABLE_MAP)
    assert err.binlog_shape == ["id:LONG", "a:VARCHAR/40", "b:NEWDECIMAL/1282"]
    assert "mysql-bin.000001:700" in str(err) and err.history_shape[0].startswith("id:")


def test_other_shape_checks() -> None:
    h = history()
    h.apply_ddl(pos(100), "db", "CREATE TABLE t (a datetime(3), b text, c bit(5), d char(3) CHARACTER SET latin1)")
    good = [
        (None, C.MYSQL_TYPE_DATETIME2, 3),
        (None, C.MYSQL_TYPE_BLOB, 2),
        (None, C.MYSQL_TYPE_BIT, 5),
        (None, C.MYSQL_TYPE_STRING, 0xFE03),
    ]
    h.resolver(table_map("db", "t", good))
    for i, bad in (
        (0, (None, C.MYSQL_TYPE_DATETIME2, 6)),
        (1, (None, C.MYSQL_TYPE_BLOB, 3)),
        (2, (None, C.MYSQL_TYPE_BIT, 0x100)),
        (3, (None, C.MYSQL_TYPE_STRING, 0xFE06)),
    ):
        cols = list(good)
        cols[i] = bad
        with pytest.raises(SchemaMismatchError, match=f"column {i + 1} "):
            h.resolver(table_map("db", "t", cols))


def test_unknown_table_without_live_server_raises() -> None:
    h = history()
    with pytest.raises(SchemaMismatchError, match=r"unknown to the schema history.*no live server"):
        h.resolver(table_map("db", "t", T_COLS))
    h.apply_ddl(pos(100), "db", "CREATE TABLE t (id int, a varchar(10), b decimal(5,2)) GARBAGE GARBAGE (")
    with pytest.raises(SchemaMismatchError, match="not understood"):
        h.resolver(table_map("db", "t", T_COLS))


# --- live server ---------------------------------------------------------------------------------


class FakeServer:
    """Answers the queries SchemaHistory sends, from a dict of SHOW CREATE TABLE texts."""

    def __init__(self, tables: dict[tuple[str, str], str]) -> None:
        self.tables = tables
        self.sent: list[str] = []

    def __call__(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        self.sent.append(sql)
        if sql.startswith("SELECT VERSION()"):
            return [("10.11.6-MariaDB-log", "utf8mb4", "utf8mb4_general_ci", 0)]
        if "information_schema.COLLATIONS" in sql:
            return [
                ("utf8mb4_general_ci", "utf8mb4", 45, "Yes"),
                ("utf8mb4_bin", "utf8mb4", 46, ""),
                ("latin1_swedish_ci", "latin1", 8, "Yes"),
            ]
        if "information_schema.SCHEMATA" in sql:
            return [("information_schema", "utf8mb3", "utf8mb3_general_ci"), ("db", "latin1", "latin1_swedish_ci")]
        if sql.startswith("SHOW FULL TABLES FROM `db`"):
            return [(t, "BASE TABLE") for (s, t) in self.tables if s == "db"]
        if "information_schema.TABLES" in sql:
            return [(args[1],)] if tuple(args) in self.tables else []
        m = re.fullmatch(r"SHOW CREATE TABLE `(.+)`\.`(.+)`", sql)
        if m:
            return [(m.group(2), self.tables[(m.group(1), m.group(2))])]
        raise AssertionError(f"unexpected query {sql}")


def test_initial_snapshot_and_live_fallback() -> None:
    server = FakeServer(
        {
            ("db", "t"): "CREATE TABLE `t` (`id` int(11), `a` varchar(10), `b` decimal(5,2)) "
            "ENGINE=InnoDB DEFAULT CHARSET=latin1",
            ("db", "skip"): "CREATE TABLE `skip` (`x` int)",
        }
    )
    store = MemoryStore()
    h = SchemaHistory(store, destination="d", query=server, table_filter=TableFilter(black="db\\.skip"))
    assert not any("`skip`" in q for q in server.sent if q.startswith("SHOW CREATE"))
    (snap,) = store.snapshots("d")
    assert snap.position == INIT_POSITION and h.table("db", "skip") is None
    tm = table_map("db", "t", [("id", 3, 0), ("a", 15, 10), ("b", 246, (5 << 8) | 2)])
    assert h.resolver(tm)[1].charset == 8  # latin1_swedish_ci, from the table's charset

    # a table created LIKE an unknown one is read live when it shows up, and recorded
    h.apply_ddl(pos(100), "db", "CREATE TABLE u LIKE elsewhere.src")
    server.tables[("db", "u")] = "CREATE TABLE `u` (`id` int(11)) DEFAULT CHARSET=latin1"
    h.resolver(table_map("db", "u", [("id", 3, 0)], at=900))
    live = [r for r in store.history("d") if r.extra.get("source") == "live"]
    assert [(r.position.position, r.sql_table) for r in live] == [(900, "u")]
    assert h.table("db", "u").uncertain is None

    # live table that does not match the binlog either: raise, naming the live shape
    h.apply_ddl(pos(1000), "db", "CREATE TABLE w LIKE elsewhere.src")
    server.tables[("db", "w")] = "CREATE TABLE `w` (`id` int(11), `z` int(11))"
    with pytest.raises(SchemaMismatchError, match="does not match the live schema"):
        h.resolver(table_map("db", "w", [("id", 3, 0)], at=1100))

    # replay after rollback: the live row stored at that TABLE_MAP is used, not today's live table
    server.tables[("db", "u")] = "CREATE TABLE `u` (`id` int(11), `later` int(11))"
    h.rollback(pos(950))
    h.resolver(table_map("db", "u", [("id", 3, 0)], at=900))
    assert [c.name for c in h.table("db", "u").columns] == ["id"]


def test_accept_live() -> None:
    server = FakeServer({("db", "t"): "CREATE TABLE `t` (`id` int(11), `a` varchar(10), `b` decimal(5,2))"})
    strict = SchemaHistory(MemoryStore(), destination="d", query=server)
    strict.apply_ddl(pos(100), "db", "ALTER TABLE t DROP COLUMN b")
    with pytest.raises(SchemaMismatchError, match="the binlog has 3 columns, the history 2"):
        strict.resolver(table_map("db", "t", T_COLS))
    lenient = SchemaHistory(MemoryStore(), destination="d", query=server, accept_live=True)
    lenient.apply_ddl(pos(100), "db", "ALTER TABLE t DROP COLUMN b")
    tm = table_map("db", "t", T_COLS)
    assert [c.mysql_type for c in lenient.resolver(tm)] == ["int(11)", "varchar(10)", "decimal(5,2)"]
    assert lenient.store.history("d")[-1].extra["source"] == "live"


# --- real MySQL binlogs (shared fixtures) --------------------------------------------------------


def replay_fixture(name: str) -> list[TableMapEvent]:
    """Decode a MySQL binlog with a history built from the DDL in the file itself."""

    from pycanal.binlog.decoder import BinlogDecoder, read_binlog_file
    from pycanal.binlog.events import FormatDescriptionEvent, QueryEvent
    from pycanal.schema.tables import dialect_for_version

    path = str(shared_fixture("rust_mysql_common", name))
    decoder = BinlogDecoder(log_file=name)
    maps: list[TableMapEvent] = []
    h: SchemaHistory | None = None
    for ev in read_binlog_file(path, decoder):
        if isinstance(ev, FormatDescriptionEvent) and h is None:
            h = SchemaHistory(MemoryStore(), destination="d", dialect=dialect_for_version(ev.server_version))
            decoder.schema_resolver = h.resolver
        elif isinstance(ev, QueryEvent) and h is not None:
            p = EntryPosition(ev.log_file, ev.header.start_pos, ev.header.server_id, ev.header.timestamp * 1000)
            if h.apply_ddl(p, ev.schema, ev.query, sql_mode=ev.sql_mode):
                decoder.invalidate_tables()
        elif isinstance(ev, TableMapEvent):
            maps.append(ev)
    return maps


@pytest.mark.parametrize(
    ("name", "table", "types"),
    [
        (
            "mysql-enum-string-set.000001",
            "t",
            ["char(128)", "varchar(300)", "enum('var1','variant2','foo')", "set('one','two','three','four')", "text"],
        ),
        ("mysql_type_bit.000001", "foo", ["bit(3)", "text", "bit(8)"]),
        # MySQL 8.0.26: no integer display widths
        (
            "binlog-invisible-columns.000001",
            "t1",
            ["int unsigned", "int unsigned", "int", "text", "blob", "bigint unsigned"],
        ),
        ("vector.binlog", "bar", ["bigint unsigned", "vector(2)", "text", "vector(4)"]),
        # MySQL 8.0.17: INDEX i((a+1)) keeps a hidden column between a and the later-added b
        ("rpl_unfiltered_hidden_gcol.000001", "t", ["int(11)", "", "text"]),
    ],
)
def test_mysql_fixture_binlogs(name: str, table: str, types: list[str]) -> None:
    maps = [m for m in replay_fixture(name) if m.table == table]
    assert maps and all([c.mysql_type for c in m.columns] == types for m in maps)
