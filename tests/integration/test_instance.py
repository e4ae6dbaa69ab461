"""A whole instance (parser -> sink -> store -> meta) behind the embedded API, on a real MariaDB."""

from __future__ import annotations

import json
import os

import pytest

from helpers import wait_for
from instance_helpers import drain, make_instance, rows_of, write_conf
from pycanal.model import ClientIdentity
from pycanal.server.embedded import CanalServerWithEmbedded

pytestmark = pytest.mark.integration


@pytest.fixture
def served(mariadb, fresh_db, tmp_path):
    """An instance of destination 'example' following the session MariaDB, filtered to a fresh database."""
    conf = write_conf(tmp_path, mariadb.port, canal__instance__filter__regex=f"{fresh_db}\\\\..*")
    mariadb.execute(f"CREATE TABLE `{fresh_db}`.t (id INT PRIMARY KEY, v VARCHAR(20))")
    inst = make_instance(conf)
    server = CanalServerWithEmbedded()
    server.register(inst)
    inst.start()
    try:
        yield server, inst, conf
    finally:
        inst.stop()


def test_get_ack_rows_in_order(mariadb, fresh_db, served):
    server, inst, _ = served
    ident = ClientIdentity("example", 1001)
    server.subscribe(ident)
    mariadb.execute(*(f"INSERT INTO `{fresh_db}`.t VALUES ({i}, 'v{i}')" for i in range(50)))
    rows = drain(server, ident, 50)
    assert [r[3]["id"] for r in rows] == [str(i) for i in range(50)]
    assert all(r[:3] == ("INSERT", fresh_db, "t") for r in rows)
    assert inst.error is None


def test_outstanding_batches_rollback_and_redelivery(mariadb, fresh_db, served):
    server, inst, _ = served
    ident = ClientIdentity("example", 1001)
    server.subscribe(ident)
    mariadb.execute(*(f"INSERT INTO `{fresh_db}`.t VALUES ({i}, 'x')" for i in range(30)))
    wait_for(lambda: inst.store.put_sequence >= 89, 10)  # 30 x (BEGIN, INSERT, END) in the store
    # MEMSIZE (canal.properties' default): a batch size of 1 means 1 KiB, some entries per batch
    first = server.get_without_ack(ident, 1, timeout=2)
    second = server.get_without_ack(ident, 1, timeout=2)
    assert first.batch_id > 0 and second.batch_id == first.batch_id + 1
    got = rows_of(first.entries) + rows_of(second.entries)
    assert got and [r[3]["id"] for r in got] == [str(i) for i in range(len(got))]
    from pycanal.errors import PycanalError

    with pytest.raises(PycanalError, match=f"batchId:{second.batch_id} is not the firstly:{first.batch_id}"):
        server.ack(ident, second.batch_id)
    server.rollback(ident)  # every outstanding batch is void: the same rows come again
    again = drain(server, ident, 30)
    assert [r[3]["id"] for r in again] == [str(i) for i in range(30)]


def test_cursor_persisted_in_meta_dat_and_resumed_after_restart(mariadb, fresh_db, served, tmp_path):
    server, inst, conf = served
    ident = ClientIdentity("example", 1001)
    server.subscribe(ident)
    mariadb.execute(*(f"INSERT INTO `{fresh_db}`.t VALUES ({i}, 'a')" for i in range(10)))
    assert [r[3]["id"] for r in drain(server, ident, 10)] == [str(i) for i in range(10)]
    inst.stop()  # flushes meta.dat
    with open(os.path.join(conf, "example", "meta.dat")) as f:
        meta = json.load(f)
    cursor = meta["clientDatas"][0]["cursor"]
    assert meta["destination"] == "example" and cursor["postion"]["journalName"].startswith("mysql-bin.")
    assert cursor["identity"]["sourceAddress"] == {"address": "127.0.0.1", "port": mariadb.port}
    # rows written while it was down arrive after the restart, and nothing before them again
    mariadb.execute(*(f"INSERT INTO `{fresh_db}`.t VALUES ({i}, 'b')" for i in range(10, 15)))
    inst2 = make_instance(conf)
    server.register(inst2)
    inst2.start()
    try:
        server.subscribe(ident)
        rows = drain(server, ident, 5)
        assert [r[3]["id"] for r in rows] == ["10", "11", "12", "13", "14"]
    finally:
        inst2.stop()


def test_subscriber_filter_replaces_instance_filter(mariadb, fresh_db, served):
    server, _, _ = served
    mariadb.execute(f"CREATE TABLE `{fresh_db}`.other (id INT)")
    ident = ClientIdentity("example", 1001, f"{fresh_db}\\.other")
    server.subscribe(ident)
    mariadb.execute(f"INSERT INTO `{fresh_db}`.t VALUES (1, 'no')", f"INSERT INTO `{fresh_db}`.other VALUES (7)")
    rows = drain(server, ident, 1)
    assert rows == [("INSERT", fresh_db, "other", {"id": "7"})]


def purge_first_binlog(box) -> None:
    """Rotate twice and purge mysql-bin.000001."""
    box.execute("FLUSH BINARY LOGS", "FLUSH BINARY LOGS")
    current = box.master_status()[0]

    def purged() -> bool:  # MariaDB keeps a file until InnoDB made its commits durable: retry
        box.execute(f"PURGE BINARY LOGS TO '{current}'")
        return "mysql-bin.000001" not in [r[0] for r in box.execute("SHOW BINARY LOGS")]

    wait_for(purged, 15)


def test_purged_binlog_stops_the_instance_with_advice(mariadb_factory, tmp_path):
    box = mariadb_factory()
    box.execute("CREATE DATABASE p", "CREATE TABLE p.t (id INT)", "INSERT INTO p.t VALUES (1)")
    conf = write_conf(
        tmp_path,
        box.port,
        canal__instance__master__journal__name="mysql-bin.000001",
        canal__instance__master__position="4",
    )
    purge_first_binlog(box)
    inst = make_instance(conf)
    inst.start()
    try:
        err = wait_for(lambda: inst.error, 20)
        assert "binlog to resume from is gone" in str(err) and "SHOW BINARY LOGS" in str(err)
        assert not inst.is_running()
    finally:
        inst.stop()


def test_auto_reset_latest_pos_mode_skips_a_purged_binlog_to_the_end(mariadb_factory, tmp_path, caplog):
    box = mariadb_factory()
    box.execute("CREATE DATABASE p", "CREATE TABLE p.t (id INT)", "INSERT INTO p.t VALUES (1)")
    conf = write_conf(
        tmp_path,
        box.port,
        canal__instance__master__journal__name="mysql-bin.000001",
        canal__instance__master__position="4",
        canal__instance__filter__regex="p\\\\..*",
    )
    with open(os.path.join(conf, "canal.properties"), "a") as f:
        f.write("canal.auto.reset.latest.pos.mode = true\n")
    purge_first_binlog(box)
    inst = make_instance(conf)
    server = CanalServerWithEmbedded()
    server.register(inst)
    with caplog.at_level("ERROR", logger="pycanal.parse.parser"):
        inst.start()
    try:
        ident = ClientIdentity("example", 1001)
        server.subscribe(ident)
        wait_for(lambda: inst.state == "dumping", 20)
        box.execute("INSERT INTO p.t VALUES (2)")
        assert drain(server, ident, 1) == [("INSERT", "p", "t", {"id": "2"})]  # row 1 was in the purged file
        assert inst.error is None
        assert any("NOT delivered" in r.getMessage() for r in caplog.records), caplog.text
    finally:
        inst.stop()


def test_statement_binlog_format_is_refused(mariadb_factory, tmp_path):
    box = mariadb_factory(binlog_format="STATEMENT")
    conf = write_conf(tmp_path, box.port, canal__instance__binlog__format="ROW")
    inst = make_instance(conf)
    from pycanal.parse.parser import ParserStopped

    inst.start()  # the check runs in the dump loop: this destination stops alone, start() does not raise
    try:
        wait_for(lambda: inst.error is not None, 10)
        assert isinstance(inst.error, ParserStopped) and "binlog_format=STATEMENT" in str(inst.error)
        assert inst.state.startswith("stopped: ") and not inst.is_running()
    finally:
        inst.stop()
