"""Where a dump starts (canal-spec.md 4.4): file+position, timestamp, GTID, default; and reconnects."""

from __future__ import annotations

import threading
import time

import pytest

from helpers import wait_for
from pycanal.dump import dump_parser, iter_flat_messages
from pycanal.model import EntryPosition, LogIdentity, LogPosition
from pycanal.parse.position import Master, decide_start, find_by_timestamp

pytestmark = pytest.mark.integration


def _ids(msgs, table):
    return [row["id"] for m in msgs if m["table"] == table and m["type"] == "INSERT" for row in m["data"]]


def _dump(mariadb, db, **kw):
    return list(
        iter_flat_messages(
            "127.0.0.1",
            mariadb.port,
            "canal",
            "canal",
            server_id=5000 + len(kw),
            stop_at_end=True,
            table_filter=f"{db}\\..*",
            **kw,
        )
    )


def test_start_by_file_position(mariadb, fresh_db):
    mariadb.execute(f"CREATE TABLE `{fresh_db}`.s (id INT)", f"INSERT INTO `{fresh_db}`.s VALUES (1)")
    pos = mariadb.master_status()
    mariadb.execute(f"INSERT INTO `{fresh_db}`.s VALUES (2)", f"INSERT INTO `{fresh_db}`.s VALUES (3)")
    assert _ids(_dump(mariadb, fresh_db, start=pos), "s") == ["2", "3"]


def test_start_by_timestamp_finds_the_first_transaction_at_or_after_it(mariadb, fresh_db):
    db = fresh_db
    mariadb.execute(f"CREATE TABLE `{db}`.ts (id INT)", f"INSERT INTO `{db}`.ts VALUES (1)")
    # the binlog has second resolution: cross a second boundary, then note the time
    t0 = time.time()
    wait_for(lambda: int(time.time()) > int(t0) + 0, 3)
    mark = int(time.time()) * 1000
    mariadb.execute("FLUSH BINARY LOGS")  # the search must look across files too
    mariadb.execute(f"INSERT INTO `{db}`.ts VALUES (2)", f"INSERT INTO `{db}`.ts VALUES (3)")
    assert _ids(_dump(mariadb, db, start_timestamp=mark), "ts") == ["2", "3"]
    start = find_by_timestamp(Master("127.0.0.1", mariadb.port), mark)
    assert start.log_file and start.log_pos >= 4 and not start.skip_first


def test_start_by_mariadb_gtid(mariadb, fresh_db):
    db = fresh_db
    mariadb.execute(f"CREATE TABLE `{db}`.g (id INT)", f"INSERT INTO `{db}`.g VALUES (1)")
    gtid = str(mariadb.execute("SELECT @@gtid_binlog_pos")[0][0])
    mariadb.execute(f"INSERT INTO `{db}`.g VALUES (2)")
    msgs = _dump(mariadb, db, start_gtid=gtid)
    assert _ids(msgs, "g") == ["2"]
    assert msgs[-1]["gtid"] == str(mariadb.execute("SELECT @@gtid_binlog_pos")[0][0])


def test_default_start_is_the_current_end(mariadb, fresh_db):
    db = fresh_db
    mariadb.execute(f"CREATE TABLE `{db}`.d (id INT)", f"INSERT INTO `{db}`.d VALUES (1)")
    got: list[dict] = []
    with dump_parser(
        "127.0.0.1", mariadb.port, "canal", "canal", got.append, server_id=5101, table_filter=f"{db}\\..*"
    ) as parser:
        t = threading.Thread(target=parser.run)
        t.start()
        try:
            wait_for(lambda: parser.events > 0, 10)  # connected and reading (the fake rotate counts)
            mariadb.execute(f"INSERT INTO `{db}`.d VALUES (2)")
            wait_for(lambda: _ids(got, "d"), 10)
        finally:
            parser.signal_stop()
            t.join(10)
    assert _ids(got, "d") == ["2"]


def test_cursor_rules():
    m = Master("db1", 3306)
    same = LogPosition(LogIdentity("db1", 3306), EntryPosition("mysql-bin.000007", 1234, 1, 1_700_000_000_000))
    start = decide_start(m, same)
    assert (start.log_file, start.log_pos, start.skip_first) == ("mysql-bin.000007", 1234, True)
    gtid = LogPosition(LogIdentity("db1", 3306), EntryPosition("f", 4, 1, 1, gtid="0-1-9"))
    assert decide_start(m, gtid, gtid_mode=True).gtid_set == "0-1-9"
    assert decide_start(Master("db1", 3306, journal_name="mysql-bin.000002", position=99), None).log_pos == 99
    assert decide_start(Master("db1", 3306), None).log_file is None  # the current end


def test_reconnects_after_the_connection_is_killed_without_loss_or_repeat(mariadb, fresh_db):
    db = fresh_db
    mariadb.execute(f"CREATE TABLE `{db}`.r (id INT PRIMARY KEY)")
    start = mariadb.master_status()
    got: list[dict] = []
    with dump_parser(
        "127.0.0.1", mariadb.port, "canal", "canal", got.append, server_id=5102, start=start, table_filter=f"{db}\\..*"
    ) as parser:
        parser.config.reconnect_min = 0.1
        t = threading.Thread(target=parser.run)
        t.start()
        try:
            for batch in range(3):
                mariadb.execute(*(f"INSERT INTO `{db}`.r VALUES ({batch * 10 + i})" for i in range(10)))
                wait_for(lambda b=batch: len(_ids(got, "r")) >= (b + 1) * 10, 15)
                # kill the binlog dump thread's connection on the server side
                for row in mariadb.execute("SHOW PROCESSLIST"):
                    if row[4] == "Binlog Dump":
                        mariadb.execute(f"KILL {row[0]}")
        finally:
            parser.signal_stop()
            t.join(10)
    assert _ids(got, "r") == [str(i) for i in range(30)]
    assert parser.dumps >= 3  # it did reconnect, each time from the last transaction boundary
