"""The schema history against a real MariaDB: DDL mid-stream, replay from before it, restart, the
TABLE_MAP check, the live fallback, mysqlType text against information_schema, and the MySQL store."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from pycanal.binlog.decoder import BinlogDecoder, read_binlog_file
from pycanal.binlog.events import MariaGtidEvent, QueryEvent, RowsEvent
from pycanal.errors import SchemaMismatchError
from pycanal.filter import TableFilter
from pycanal.model import EntryPosition
from pycanal.mysql.meta import MetaConnection
from pycanal.sandbox import MariaDBSandbox
from pycanal.schema.history import SchemaHistory
from pycanal.schema.store import HistoryRow, MemoryStore, MySQLStore, SnapshotRow, SqliteStore

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def live_query(sandbox: MariaDBSandbox) -> Iterator[MetaConnection]:
    """The instance's path: a metadata session as the replication user."""
    with MetaConnection(sandbox.host, sandbox.port, sandbox.user, sandbox.password) as meta:
        yield meta


def replay(sandbox: MariaDBSandbox, start: tuple[str, int], history: SchemaHistory) -> list[tuple[Any, ...]]:
    """Decode the binlog from ``start`` the way the parser will: DDL into the history as it passes,
    rows through ``history.resolver``. Returns (table, [(name, mysqlType)], values) per inserted row."""
    sandbox.execute("FLUSH BINARY LOGS")
    files = [str(r[0]) for r in sandbox.execute("SHOW BINARY LOGS")]
    files = files[files.index(start[0]) :]
    out: list[tuple[Any, ...]] = []
    gtid = None
    for name in files:
        decoder = BinlogDecoder(log_file=name, schema_resolver=history.resolver)
        for ev in read_binlog_file(os.path.join(sandbox.datadir, name), decoder):
            if name == start[0] and ev.header.start_pos < start[1]:
                continue
            if isinstance(ev, MariaGtidEvent):
                gtid = ev.gtid
            elif isinstance(ev, QueryEvent):
                pos = event_position(ev, gtid)
                if history.apply_ddl(pos, ev.schema, ev.query, sql_mode=ev.sql_mode):
                    decoder.invalidate_tables()
            elif isinstance(ev, RowsEvent) and ev.kind == "INSERT":
                cols = [(c.name, c.mysql_type) for c in ev.table.columns]
                for row in ev.rows:
                    out.append((ev.table_name, cols, row))
    return out


def event_position(ev: Any, gtid: str | None = None) -> EntryPosition:
    return EntryPosition(ev.log_file, ev.header.start_pos, ev.header.server_id, ev.header.timestamp * 1000, gtid)


def ddl_positions(sandbox: MariaDBSandbox, start: tuple[str, int], needle: str) -> list[EntryPosition]:
    """Positions of the QUERY events whose text contains ``needle``."""
    sandbox.execute("FLUSH BINARY LOGS")
    files = [str(r[0]) for r in sandbox.execute("SHOW BINARY LOGS")]
    out = []
    for name in files[files.index(start[0]) :]:
        for ev in read_binlog_file(os.path.join(sandbox.datadir, name), BinlogDecoder(log_file=name)):
            if isinstance(ev, QueryEvent) and needle in ev.query and (name, ev.header.start_pos) >= start:
                out.append(event_position(ev))
    return out


STEPS = (
    "INSERT INTO t VALUES (1, 'x', 1.50)",
    "ALTER TABLE t ADD COLUMN c datetime(3) AFTER id, MODIFY a varchar(20), DROP COLUMN b",
    "INSERT INTO t (id, c, a) VALUES (2, '2024-01-02 03:04:05.678', 'y')",
    "ALTER TABLE t CHANGE a aa varchar(20) NOT NULL, ADD UNIQUE KEY (aa)",
    "INSERT INTO t VALUES (3, NULL, 'z')",
    "RENAME TABLE t TO t2",
    "INSERT INTO t2 VALUES (4, NULL, 'w')",
)
EXPECTED = [
    ("t", [("id", "int(11)"), ("a", "varchar(10)"), ("b", "decimal(5,2)")], ["1", "x", "1.50"]),
    ("t", [("id", "int(11)"), ("c", "datetime(3)"), ("a", "varchar(20)")], ["2", "2024-01-02 03:04:05.678", "y"]),
    ("t", [("id", "int(11)"), ("c", "datetime(3)"), ("aa", "varchar(20)")], ["3", None, "z"]),
    ("t2", [("id", "int(11)"), ("c", "datetime(3)"), ("aa", "varchar(20)")], ["4", None, "w"]),
]


def test_alter_mid_stream_replay_and_restart(mariadb: MariaDBSandbox, fresh_db: str, tmp_path: Any) -> None:
    db = fresh_db
    mariadb.execute("CREATE TABLE t (id int PRIMARY KEY, a varchar(10), b decimal(5,2))", database=db)
    start = mariadb.master_status()
    path = str(tmp_path / "example" / "tsdb.sqlite3")
    flt = TableFilter(f"{db}\\..*")
    with live_query(mariadb) as query:
        history = SchemaHistory(SqliteStore(path), destination="example", query=query, table_filter=flt)
        assert [c.name for c in history.table(db, "t").columns] == ["id", "a", "b"]  # initial snapshot
        mariadb.execute(*STEPS, database=db)

        # forward: each row decodes with the schema of its moment
        assert replay(mariadb, start, history) == EXPECTED
        assert [c.name for c in history.table(db, "t2").columns] == ["id", "c", "aa"]
        assert history.table(db, "t") is None

        # replay from before the ALTERs, in the same process
        start_pos = EntryPosition(start[0], start[1], 1, 0)
        history.rollback(start_pos)
        assert [c.column_type for c in history.table(db, "t").columns] == ["int(11)", "varchar(10)", "decimal(5,2)"]
        assert replay(mariadb, start, history) == EXPECTED
        history.close()

        # restart: a new history on the same file; rollback to just before the second ALTER
        second_alter = ddl_positions(mariadb, start, "CHANGE a aa")[0]
        restarted = SchemaHistory(SqliteStore(path), destination="example", query=query, table_filter=flt)
        restarted.rollback(second_alter)
        t = restarted.table(db, "t")
        assert t is not None and [(c.name, c.column_type) for c in t.columns] == EXPECTED[1][1]
        assert t.primary_key() == ["id"]
        restarted.rollback(start_pos)
        assert replay(mariadb, start, restarted) == EXPECTED
        restarted.close()


def test_wrong_history_raises_and_accept_live(mariadb: MariaDBSandbox, fresh_db: str) -> None:
    db = fresh_db
    mariadb.execute("CREATE TABLE t (id int PRIMARY KEY, a varchar(10), b decimal(5,2))", database=db)
    start = mariadb.master_status()
    mariadb.execute("INSERT INTO t VALUES (1, 'x', 1.50)", database=db)
    early = EntryPosition("mysql-bin.000000", 4, 1, 0)
    for wrong, problem in (
        ("CREATE TABLE t (id int, a varchar(10), b decimal(5,2), x int)", "the binlog has 3 columns, the history 4"),
        ("CREATE TABLE t (id int, aa varchar(10), b decimal(5,2))", "column 2 is 'a' in the binlog, 'aa' in"),
        ("CREATE TABLE t (id int, a varchar(10), b decimal(6,2))", "the binlog has decimal(5,2)"),
        ("CREATE TABLE t (id int, a varchar(10), b double)", "binlog type NEWDECIMAL, history double"),
    ):
        history = SchemaHistory(MemoryStore(), destination="d", server_charset="utf8mb4")
        history.apply_ddl(early, db, wrong)
        with pytest.raises(SchemaMismatchError) as info:
            replay(mariadb, start, history)
        err = info.value
        assert err.table == f"{db}.t"
        assert problem in str(err)
        assert err.log_file == start[0] and err.log_pos is not None and err.log_pos >= start[1]
        assert err.binlog_shape is not None and err.binlog_shape[:2] == ["id:LONG", "a:VARCHAR/40"]
        assert err.history_shape is not None and err.history_shape[0] == "id:int(11)"

    # the same wrong history with accept_live: the live table matches the binlog, so it is taken
    with live_query(mariadb) as query:
        store = MemoryStore()
        history = SchemaHistory(
            store, destination="d", query=query, accept_live=True, table_filter=lambda s, t: s == db
        )
        history.apply_ddl(early, db, "CREATE TABLE t (id int, a varchar(10), b decimal(5,2), extra int)")
        rows = replay(mariadb, start, history)
        assert rows == [("t", [("id", "int(11)"), ("a", "varchar(10)"), ("b", "decimal(5,2)")], ["1", "x", "1.50"])]
        live_rows = [r for r in store.history("d") if r.extra.get("source") == "live"]
        assert len(live_rows) == 1 and live_rows[0].sql_table == "t" and "4" in live_rows[0].extra["reason"]


def test_unparsed_ddl_falls_back_to_live(mariadb: MariaDBSandbox, fresh_db: str) -> None:
    """A CREATE TABLE written under sql_mode=ORACLE (VARCHAR2, NUMBER, DATE as DATETIME) is stored but
    not interpreted: the table turns uncertain and is read live at its first TABLE_MAP, where the live
    shape matches the binlog. A table renamed in from outside the filter is read live the same way.
    Without a live server both raise."""
    db = fresh_db
    mariadb.execute("CREATE TABLE hidden (id int PRIMARY KEY, note varchar(5))", database=db)
    start = mariadb.master_status()
    flt = lambda s, t: s == db and t != "hidden"  # noqa: E731
    with live_query(mariadb) as query:
        store = MemoryStore()
        history = SchemaHistory(store, destination="d", query=query, table_filter=flt)
        mariadb.execute(
            "SET sql_mode=ORACLE",
            "CREATE TABLE o (a VARCHAR2(10), n NUMBER(5), d DATE)",
            "INSERT INTO o VALUES ('x', 1, NULL)",
            database=db,
        )
        mariadb.execute("RENAME TABLE hidden TO shown", "INSERT INTO shown VALUES (7, 'n')", database=db)
        rows = replay(mariadb, start, history)
    assert rows == [
        ("o", [("a", "varchar(10)"), ("n", "decimal(5,0)"), ("d", "datetime")], ["x", "1", None]),
        ("shown", [("id", "int(11)"), ("note", "varchar(5)")], ["7", "n"]),
    ]
    stored = store.history("d")
    assert [r.extra.get("source", "ddl") for r in stored] == ["ddl", "live", "ddl", "live"]
    assert stored[0].extra.get("unparsed") is True and stored[0].sql_table == "o"
    assert history.table(db, "o").uncertain is None

    offline = SchemaHistory(MemoryStore(), destination="d", server_charset="utf8mb4", table_filter=flt)
    with pytest.raises(SchemaMismatchError, match=r"not understood.*no live server"):
        replay(mariadb, start, offline)


def test_system_versioning_hidden_columns(mariadb: MariaDBSandbox, fresh_db: str) -> None:
    """MariaDB system-versioned tables carry row_start/row_end in the binlog though information_schema
    and SHOW CREATE TABLE do not show them; the history models them, also from SHOW CREATE TABLE."""
    db = fresh_db
    start = mariadb.master_status()
    with live_query(mariadb) as query:
        history = SchemaHistory(MemoryStore(), destination="d", query=query, table_filter=lambda s, t: s == db)
        mariadb.execute(
            "CREATE TABLE v (id int PRIMARY KEY, a int)",
            "INSERT INTO v VALUES (1, 2)",
            "ALTER TABLE v ADD SYSTEM VERSIONING",
            "INSERT INTO v VALUES (3, 4)",
            database=db,
        )
        rows = replay(mariadb, start, history)
        from_show = SchemaHistory(MemoryStore(), destination="e", query=query, table_filter=lambda s, t: s == db)
    assert [[n for n, _ in r[1]] for r in rows] == [["id", "a"], ["id", "a", "row_start", "row_end"]]
    assert rows[1][1][2] == ("row_start", "timestamp(6)")
    for h in (history, from_show):
        assert h.table(db, "v").primary_key() == ["id", "row_end"]


# Declared types (as users write them) for the wide-table check; one table, so one row event.
WIDE_TYPES = [
    "int",
    "int unsigned",
    "int(5) zerofill",
    "integer(3)",
    "tinyint",
    "tinyint unsigned",
    "tinyint(1)",
    "bool",
    "smallint",
    "smallint unsigned zerofill",
    "mediumint",
    "middleint",
    "bigint",
    "bigint unsigned",
    "bigint zerofill",
    "int1",
    "int2",
    "int3",
    "int4",
    "int8",
    "int signed",
    "decimal",
    "decimal(10,2)",
    "decimal(65,30)",
    "dec(4)",
    "numeric(5)",
    "fixed(3,1)",
    "decimal(5,2) unsigned",
    "float",
    "float(10)",
    "float(30)",
    "float(7,3)",
    "float unsigned",
    "double",
    "double precision(6,2)",
    "real",
    "double(10,2) zerofill",
    "float4",
    "float8",
    "bit",
    "bit(5)",
    "bit(64)",
    "date",
    "time",
    "time(6)",
    "datetime",
    "datetime(3)",
    "datetime(0)",
    "timestamp(3) NULL",
    "year",
    "year(2)",
    "char",
    "char(3)",
    "char(0)",
    "varchar(255)",
    "varchar(10) binary",
    "char(3) byte",
    "varchar(5) byte",
    "national char(5)",
    "nchar varchar(4)",
    "nvarchar(5)",
    "character varying(5)",
    "char(5) ascii",
    "char(5) unicode",
    "varchar(5) character set binary",
    "char(4) charset binary",
    "varchar(3) collate utf8mb4_bin",
    "char(5) character set latin1 binary",
    "varchar(20) character set utf8",
    "binary",
    "binary(16)",
    "varbinary(100)",
    "tinytext",
    "text",
    "text(10)",
    "text(100)",
    "text(70000)",
    "mediumtext",
    "longtext",
    "long",
    "long varchar",
    "long varbinary",
    "tinytext character set latin1",
    "text character set binary",
    "tinyblob",
    "blob",
    "blob(10)",
    "blob(300)",
    "mediumblob",
    "longblob",
    "json",
    "enum('a','b,c','d''e')",
    r"enum('a\\b','f  ')",
    "enum('x','y') character set binary",
    "set('x','y','z')",
    "geometry",
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
    "inet6",
    "uuid",
    "int GENERATED ALWAYS AS (c1 + 1) VIRTUAL",
    "varchar(20) AS (concat(c1, 'x')) PERSISTENT",
    "int INVISIBLE",
]


def test_mysql_type_matches_information_schema(mariadb: MariaDBSandbox, fresh_db: str) -> None:
    db = fresh_db
    cols = ",\n".join(f"c{i} {t}" for i, t in enumerate(WIDE_TYPES))
    create = f"CREATE TABLE wide (\n{cols},\n serial_col serial\n) DEFAULT CHARSET=utf8mb4"
    start = mariadb.master_status()
    with live_query(mariadb) as query:
        # history A learns the table from the DDL text in the binlog
        from_ddl = SchemaHistory(MemoryStore(), destination="a", query=query, table_filter=lambda s, t: s == db)
        mariadb.execute(create, "INSERT INTO wide (c0) VALUES (1)", database=db)
        info = mariadb.execute(
            "SELECT COLUMN_NAME, COLUMN_TYPE, COLLATION_NAME, COLUMN_KEY FROM information_schema.COLUMNS "
            f"WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = 'wide' ORDER BY ORDINAL_POSITION"
        )
        rows = replay(mariadb, start, from_ddl)
        # history B reads it from SHOW CREATE TABLE (the initial snapshot)
        from_show = SchemaHistory(MemoryStore(), destination="b", query=query, table_filter=lambda s, t: s == db)
    expected = [(str(n), str(t)) for n, t, _, _ in info]
    assert len(expected) == len(WIDE_TYPES) + 1
    assert len(rows) == 1 and rows[0][1] == expected  # ColumnInfo.mysql_type from the history, via the binlog
    for hist in (from_ddl, from_show):
        t = hist.table(db, "wide")
        assert t is not None
        assert [(c.name, c.column_type) for c in t.columns] == expected
        assert [c.collation for c in t.columns] == [None if x is None else str(x) for _, _, x, _ in info]
        assert t.primary_key() == [str(n) for n, _, _, k in info if k == "PRI"]


def test_mysql_store_round_trip(mariadb: MariaDBSandbox, fresh_db: str) -> None:
    def connect() -> Any:
        return mariadb.connect(database=fresh_db)

    store = MySQLStore(connect)
    pos = EntryPosition("mysql-bin.000003", 1234, 1, 1_700_000_000_000, "0-1-7")
    row = HistoryRow(
        pos,
        "ALTER TABLE `t` ADD `x` int",
        use_schema="db",
        sql_schema="db",
        sql_table="t",
        sql_type="ALTER",
        extra={"sql_mode": 5},
    )
    first = store.add_history("dest", row)
    assert store.add_history("dest", HistoryRow(pos, "something else")) == first  # duplicate position kept
    sid = store.add_snapshot("dest", SnapshotRow(pos, {"db": "CREATE TABLE `t` (`x` int(11)); \n"}, {"history_id": 1}))
    store.close()
    again = MySQLStore(connect)
    (got,) = again.history("dest")
    assert (got.id, got.position, got.sql_text, got.sql_type, got.extra) == (
        first,
        pos,
        "ALTER TABLE `t` ADD `x` int",
        "ALTER",
        {"sql_mode": 5, "gtid": "0-1-7"},
    )
    (snap,) = again.snapshots("dest")
    assert snap.id == sid and snap.position == pos and snap.extra["history_id"] == 1
    assert again.snapshot_data("dest", sid) == {"db": "CREATE TABLE `t` (`x` int(11)); \n"}
    assert again.history("other") == []
    names = {str(r[0]) for r in mariadb.execute("SHOW TABLES", database=fresh_db)}
    assert names == {"meta_history", "meta_snapshot"}
    again.close()


def test_history_filter_and_unique_destination(mariadb: MariaDBSandbox, fresh_db: str) -> None:
    """The initial snapshot reads only tables passing the filter, and DDL on other tables is not stored."""
    db = fresh_db
    mariadb.execute("CREATE TABLE keep (a int)", "CREATE TABLE skip_me (a int)", database=db)
    with live_query(mariadb) as query:
        store = MemoryStore()
        history = SchemaHistory(
            store, destination=f"d{uuid.uuid4().hex[:6]}", query=query, table_filter=TableFilter(f"{db}\\.keep")
        )
    assert history.table(db, "keep") is not None and history.table(db, "skip_me") is None
    pos = EntryPosition("mysql-bin.000001", 100, 1, 1000)
    assert history.apply_ddl(pos, db, "ALTER TABLE skip_me ADD b int") == []
    assert store.history(history.destination) == []
