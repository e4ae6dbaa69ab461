"""Events from a real MariaDB binlog -> canal Entries, field by field (canal-spec.md 1.8)."""

from __future__ import annotations

import pytest

from binlog_helpers import events_from_files
from pycanal.filter import TableFilter
from pycanal.parse.entries import EntryConverter, ParsedEntry
from pycanal.parse.txbuffer import TransactionBuffer
from pycanal.protocol import entry as pb

pytestmark = pytest.mark.integration


def convert(events, **kw) -> list[ParsedEntry]:
    conv = EntryConverter(**kw)
    return [e for ev in events for e in conv.convert(ev)]


def _kinds(entries: list[ParsedEntry]) -> list[str]:
    out = []
    for e in entries:
        if e.entry_type == pb.ROWDATA:
            out.append(pb.EventType.Name(e.event_type))
        else:
            out.append(pb.EntryType.Name(e.entry_type))
    return out


def test_transaction_entries_and_columns(mariadb, fresh_db):
    db = fresh_db
    mariadb.execute(
        f"CREATE TABLE `{db}`.u (id INT UNSIGNED PRIMARY KEY, name VARCHAR(20), score DECIMAL(6,2), note TEXT)"
    )
    start = mariadb.master_status()
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute(f"INSERT INTO `{db}`.u VALUES (4294967295, 'a', 1.50, NULL), (2, 'b', NULL, 'x')")
        cur.execute(f"UPDATE `{db}`.u SET name = 'c' WHERE id = 2")
        cur.execute(f"DELETE FROM `{db}`.u WHERE id = 4294967295")
        cur.execute("COMMIT")
    entries = convert(events_from_files(mariadb, start), table_filter=TableFilter(f"{db}\\..*"))
    assert _kinds(entries) == ["TRANSACTIONBEGIN", "INSERT", "UPDATE", "DELETE", "TRANSACTIONEND"]
    begin, ins, upd, dele, end = entries
    # MariaDB writes no BEGIN statement; the GTID event opens the transaction and carries no thread id
    assert begin.offset < ins.offset and pb.TransactionBegin.FromString(begin.entry.storeValue).threadId == 0
    assert pb.TransactionEnd.FromString(end.entry.storeValue).transactionId.isdigit()
    assert end.is_ack_point and begin.is_ack_point and not ins.is_ack_point  # no gtid mode: BEGIN too

    h = ins.entry.header
    assert (h.version, h.serverenCode, h.sourceType, h.schemaName, h.tableName) == (1, "UTF-8", pb.MYSQL, db, "u")
    assert h.logfileName == start[0] and h.logfileOffset == ins.offset and h.eventLength > 0
    assert h.executeTime % 1000 == 0 and h.eventType == pb.INSERT
    assert {p.key: p.value for p in h.props} == {"rowsCount": "2"}
    rc = pb.RowChange.FromString(ins.entry.storeValue)
    assert rc.eventType == pb.INSERT and rc.HasField("isDdl") and not rc.isDdl and rc.tableId > 0
    first = rc.rowDatas[0]
    assert not first.beforeColumns
    cols = [
        (c.index, c.name, c.isKey, c.updated, c.isNull, c.value, c.sqlType, c.mysqlType) for c in first.afterColumns
    ]
    assert cols == [
        (0, "id", True, True, False, "4294967295", -5, "int(10) unsigned"),  # bumped: past INT's range
        (1, "name", False, True, False, "a", 12, "varchar(20)"),
        (2, "score", False, True, False, "1.50", 3, "decimal(6,2)"),
        (3, "note", False, True, True, "", 2005, "text"),
    ]
    assert pb.RowChange.FromString(ins.entry.storeValue).rowDatas[1].afterColumns[0].sqlType == 4

    urc = pb.RowChange.FromString(upd.entry.storeValue)
    rd = urc.rowDatas[0]
    assert [c.value for c in rd.beforeColumns] == ["2", "b", "", "x"]
    assert [(c.name, c.updated) for c in rd.afterColumns] == [
        ("id", False),
        ("name", True),
        ("score", False),
        ("note", False),
    ]
    assert all(not c.updated for c in rd.beforeColumns)
    drc = pb.RowChange.FromString(dele.entry.storeValue)
    assert [c.value for c in drc.rowDatas[0].beforeColumns][:2] == ["4294967295", "a"]
    assert not drc.rowDatas[0].afterColumns


def test_ddl_entries_filters_and_schema_listener(mariadb, fresh_db):
    db = fresh_db
    start = mariadb.master_status()
    mariadb.execute(
        f"CREATE TABLE `{db}`.keep (id INT)",
        f"CREATE TABLE `{db}`.skip (id INT)",
        f"ALTER TABLE `{db}`.keep ADD COLUMN v INT",
        f"TRUNCATE TABLE `{db}`.keep",
        f"CREATE INDEX ix ON `{db}`.keep (v)",
        f"RENAME TABLE `{db}`.skip TO `{db}`.skip2",
    )
    seen = []
    entries = convert(
        events_from_files(mariadb, start),
        table_filter=TableFilter(f"{db}\\.keep"),
        on_ddl=lambda ev, res: seen.append((res.type, res.table)),
    )
    assert _kinds(entries) == ["CREATE", "ALTER", "TRUNCATE", "CINDEX"]
    rc = pb.RowChange.FromString(entries[1].entry.storeValue)
    assert rc.isDdl and rc.sql.startswith("ALTER TABLE") and rc.eventType == pb.ALTER
    assert entries[1].entry.header.schemaName == db and entries[1].entry.header.tableName == "keep"
    assert all(e.is_ack_point for e in entries)
    # filtered DDL is not delivered and not applied; delivered DDL reaches the schema listener
    assert ("CREATE", "keep") in seen and ("CREATE", "skip") not in seen
    # filter.query.ddl drops the entries but still tells the schema history
    seen.clear()
    dropped = convert(
        events_from_files(mariadb, start),
        table_filter=TableFilter(f"{db}\\.keep"),
        filter_query_ddl=True,
        on_ddl=lambda ev, res: seen.append(res.type),
    )
    assert dropped == [] and seen == ["CREATE", "ALTER", "TRUNCATE", "CINDEX"]


def test_field_filters_and_filter_rows(mariadb, fresh_db):
    db = fresh_db
    mariadb.execute(f"CREATE TABLE `{db}`.f (id INT PRIMARY KEY, a INT, b INT, secret VARCHAR(10))")
    start = mariadb.master_status()
    mariadb.execute(f"INSERT INTO `{db}`.f VALUES (1, 2, 3, 'pw')")
    events = events_from_files(mariadb, start)
    white = convert(events, field_filter=f"{db}.f:id/B")
    cols = pb.RowChange.FromString(white[1].entry.storeValue).rowDatas[0].afterColumns
    assert [c.name for c in cols] == ["id", "b"]
    black = convert(events, field_black_filter=f"{db}.F:secret")
    cols = pb.RowChange.FromString(black[1].entry.storeValue).rowDatas[0].afterColumns
    assert [c.name for c in cols] == ["id", "a", "b"]
    assert _kinds(convert(events, filter_rows=True)) == ["TRANSACTIONBEGIN", "TRANSACTIONEND"]


def test_dml_type_filters(mariadb, fresh_db):
    """canal.instance.filter.dml.insert/update/delete drop the row changes of that kind (the transaction
    markers stay, as in canal)."""
    db = fresh_db
    mariadb.execute(f"CREATE TABLE `{db}`.d (id INT PRIMARY KEY, v INT)")
    start = mariadb.master_status()
    mariadb.execute(
        f"INSERT INTO `{db}`.d VALUES (1, 1)", f"UPDATE `{db}`.d SET v = 2", f"DELETE FROM `{db}`.d WHERE id = 1"
    )
    events = events_from_files(mariadb, start)

    def rows(**flags: bool) -> list[str]:
        return [k for k in _kinds(convert(events, **flags)) if k in ("INSERT", "UPDATE", "DELETE")]

    assert rows() == ["INSERT", "UPDATE", "DELETE"]
    assert rows(filter_dml_insert=True) == ["UPDATE", "DELETE"]
    assert rows(filter_dml_update=True) == ["INSERT", "DELETE"]
    assert rows(filter_dml_delete=True) == ["INSERT", "UPDATE"]
    assert rows(filter_dml_insert=True, filter_dml_update=True, filter_dml_delete=True) == []


def test_gtid_mode_headers(mariadb, fresh_db):
    db = fresh_db
    mariadb.execute(f"CREATE TABLE `{db}`.g (id INT)")
    start = mariadb.master_status()
    mariadb.execute(f"INSERT INTO `{db}`.g VALUES (1)")
    gtid = str(mariadb.execute("SELECT @@gtid_binlog_pos")[0][0])
    entries = convert(events_from_files(mariadb, start), gtid_mode=True)
    ins = next(e for e in entries if e.event_type == pb.INSERT)
    assert ins.entry.header.gtid == gtid
    props = {p.key: p.value for p in ins.entry.header.props}
    assert props["curtGtid"] == gtid.split(",")[-1] and props["rowsCount"] == "1"
    begin = entries[0]
    assert begin.entry_type == pb.TRANSACTIONBEGIN and not begin.is_ack_point  # GTID mode: only ends


def test_transaction_buffer_flush_rules():
    flushed: list[list[str]] = []
    buf = TransactionBuffer(lambda chunk: flushed.append([_kinds([e])[0] for e in chunk]), size=4)

    def pe(entry_type, event_type=0):
        return ParsedEntry(pb.Entry(), "f", 4, 1, 0, entry_type, event_type, False, "")

    buf.add(pe(pb.TRANSACTIONBEGIN))
    for _ in range(5):
        buf.add(pe(pb.ROWDATA, pb.INSERT))
    buf.add(pe(pb.TRANSACTIONEND))
    buf.add(pe(pb.ROWDATA, pb.ALTER))
    assert flushed == [
        ["TRANSACTIONBEGIN", "INSERT", "INSERT", "INSERT"],
        ["INSERT", "INSERT", "TRANSACTIONEND"],
        ["ALTER"],
    ]
    with pytest.raises(ValueError, match="power of two"):
        TransactionBuffer(lambda c: None, size=1000)


def test_xa_transaction(mariadb, fresh_db):
    db = fresh_db
    mariadb.execute(f"CREATE TABLE `{db}`.x (id INT)")
    start = mariadb.master_status()
    with mariadb.connect() as conn, conn.cursor() as cur:
        for q in (
            "XA START 'x1'",
            f"INSERT INTO `{db}`.x VALUES (1)",
            "XA END 'x1'",
            "XA PREPARE 'x1'",
            "XA COMMIT 'x1'",
        ):
            cur.execute(q)
    events = events_from_files(mariadb, start)
    assert any(ev.type_name == "XA_PREPARE" for ev in events)  # decoded, not skipped
    entries = convert(events)
    assert _kinds(entries) == ["TRANSACTIONBEGIN", "INSERT", "TRANSACTIONEND", "XACOMMIT"]
    end = pb.TransactionEnd.FromString(entries[2].entry.storeValue)
    assert {p.key: p.value for p in end.props} == {"XA_TYPE": "XA END", "XA_XID": " X'7831',X'',1"}
    commit = pb.RowChange.FromString(entries[3].entry.storeValue)
    assert commit.eventType == pb.XACOMMIT and commit.sql.startswith("XA COMMIT")


def test_query_dml_and_dcl_filters(mariadb_factory):
    box = mariadb_factory(binlog_format="MIXED", annotate_rows=True)
    start = box.master_status()
    box.execute(
        "CREATE DATABASE q",
        "CREATE TABLE q.t (id INT)",
        "INSERT INTO q.t VALUES (1)",
        "GRANT SELECT ON q.* TO 'canal'@'%'",
    )
    events = events_from_files(box, start, resolver=False)
    kinds = _kinds(convert(events))
    assert "QUERY" in kinds and "INSERT" in kinds  # CREATE DATABASE / GRANT are QUERY; the INSERT statement too
    no_dcl = _kinds(convert(events, filter_query_dcl=True))
    assert no_dcl.count("QUERY") < kinds.count("QUERY")
    no_dml = convert(events, filter_query_dml=True)
    assert "INSERT" not in _kinds(no_dml)  # statement-format DML dropped
