"""`pycanal dump` and the decoded stream against a real MariaDB: transactions, rotation, filters, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from pycanal.binlog.events import MariaGtidEvent, RotateEvent, RowsEvent, XidEvent
from pycanal.cli import iter_flat_messages, main
from pycanal.mysql.stream import BinlogStream

pytestmark = pytest.mark.integration


def _dump(mariadb, *args: str) -> tuple[int, list[dict], str]:
    res = CliRunner().invoke(
        main,
        ["dump", "--host", "127.0.0.1", "--port", str(mariadb.port), "--user", "canal", "--password", "canal", *args],
    )
    lines = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    return res.exit_code, lines, res.stderr


def _start(mariadb) -> str:
    f, p = mariadb.master_status()
    return f"{f}:{p}"


def test_transactions_across_tables_rotation_and_multirow(mariadb, fresh_db):
    db = fresh_db
    start = _start(mariadb)
    mariadb.execute(
        f"CREATE TABLE `{db}`.a (id INT PRIMARY KEY, v VARCHAR(10))",
        f"CREATE TABLE `{db}`.b (id BIGINT UNSIGNED PRIMARY KEY, n DECIMAL(8,3))",
    )
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute(f"INSERT INTO `{db}`.a VALUES (1,'x'),(2,'y'),(3,'z')")
        cur.execute(f"INSERT INTO `{db}`.b VALUES (18446744073709551615, 1.5)")
        cur.execute(f"UPDATE `{db}`.a SET v = 'w' WHERE id >= 2")
        cur.execute("COMMIT")
    mariadb.execute("FLUSH BINARY LOGS")  # rotation mid-stream
    mariadb.execute(f"DELETE FROM `{db}`.a WHERE id = 1", f"INSERT INTO `{db}`.b VALUES (1, -0.001)")
    code, msgs, err = _dump(mariadb, "--start", start, "--stop-at-end", "--filter", f"{db}\\..*")
    assert code == 0, err
    kinds = [(m["type"], m["table"]) for m in msgs]
    assert kinds == [
        ("CREATE", "a"),
        ("CREATE", "b"),
        ("INSERT", "a"),
        ("INSERT", "b"),
        ("UPDATE", "a"),
        ("DELETE", "a"),
        ("INSERT", "b"),
    ]
    ins_a = msgs[2]
    assert ins_a["data"] == [{"id": "1", "v": "x"}, {"id": "2", "v": "y"}, {"id": "3", "v": "z"}]
    assert ins_a["pkNames"] == ["id"] and ins_a["mysqlType"] == {"id": "int(11)", "v": "varchar(10)"}
    assert ins_a["sqlType"] == {"id": 4, "v": 12} and ins_a["old"] is None and ins_a["isDdl"] is False
    big = msgs[3]
    assert big["data"] == [{"id": "18446744073709551615", "n": "1.500"}]
    assert big["sqlType"] == {"id": 3, "n": 3}  # BIGINT UNSIGNED past 2^63-1: DECIMAL, as canal
    upd = msgs[4]
    assert upd["data"] == [{"id": "2", "v": "w"}, {"id": "3", "v": "w"}]
    assert upd["old"] == [{"v": "y"}, {"v": "z"}]
    assert msgs[6]["data"] == [{"id": "1", "n": "-0.001"}]
    assert list(msgs[0]) == sorted(msgs[0])  # keys alphabetical, as canal's fastjson2


def test_stream_positions_follow_rotation(mariadb, fresh_db):
    db = fresh_db
    mariadb.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")
    f0, p0 = mariadb.master_status()
    mariadb.execute(f"INSERT INTO `{db}`.t VALUES (1)", "FLUSH BINARY LOGS", f"INSERT INTO `{db}`.t VALUES (2)")
    f1, p1 = mariadb.master_status()
    assert f1 != f0
    stream = BinlogStream("127.0.0.1", mariadb.port, "canal", "canal", 4242, log_file=f0, log_pos=p0, stop_at_end=True)
    seen = []
    with stream:
        for ev in stream:
            if isinstance(ev, RowsEvent) and ev.schema == db:
                seen.append((ev.log_file, ev.rows[0][0]))
            if isinstance(ev, XidEvent):
                assert stream.position.boundary_pos == ev.header.log_pos
    assert seen == [(f0, "1"), (f1, "2")]
    assert (stream.position.log_file, stream.position.log_pos) == (f1, p1)


def test_start_from_gtid(mariadb, fresh_db):
    db = fresh_db
    mariadb.execute(f"CREATE TABLE `{db}`.g (id INT PRIMARY KEY)")
    mariadb.execute(f"INSERT INTO `{db}`.g VALUES (1)")
    gtid = str(mariadb.execute("SELECT @@gtid_binlog_pos")[0][0])
    mariadb.execute(f"INSERT INTO `{db}`.g VALUES (2)", f"INSERT INTO `{db}`.g VALUES (3)")
    msgs = list(
        iter_flat_messages(
            "127.0.0.1",
            mariadb.port,
            "canal",
            "canal",
            server_id=4243,
            start_gtid=gtid,
            stop_at_end=True,
            table_filter=f"{db}\\.g",
        )
    )
    assert [m["data"][0]["id"] for m in msgs] == ["2", "3"]
    last = str(mariadb.execute("SELECT @@gtid_binlog_pos")[0][0])
    assert msgs[-1]["gtid"] == last  # the executed set, as canal's header gtid in GTID mode


def test_gtid_events_carry_domain_server_sequence(mariadb, fresh_db):
    f, p = mariadb.master_status()
    mariadb.execute(f"CREATE TABLE `{fresh_db}`.x (id INT)")
    with BinlogStream(
        "127.0.0.1", mariadb.port, "canal", "canal", 4244, log_file=f, log_pos=p, stop_at_end=True
    ) as stream:
        gtids = [ev for ev in stream if isinstance(ev, MariaGtidEvent)]
    assert gtids and gtids[-1].gtid == str(mariadb.execute("SELECT @@gtid_binlog_pos")[0][0])
    assert gtids[-1].standalone  # a DDL: no BEGIN


def test_follow_mode_receives_heartbeats_when_idle(mariadb):
    from pycanal.binlog.events import HeartbeatEvent

    f, p = mariadb.master_status()
    stream = BinlogStream(
        "127.0.0.1", mariadb.port, "canal", "canal", 4246, log_file=f, log_pos=p, heartbeat_period=0.2
    )
    with stream:
        for ev in stream:
            if isinstance(ev, HeartbeatEvent):
                assert ev.log_ident == f and ev.position == p
                break


def test_wrong_password_is_one_clear_line(mariadb):
    res = CliRunner().invoke(main, ["dump", "--port", str(mariadb.port), "--password", "nope", "--stop-at-end"])
    assert res.exit_code == 1
    assert res.stderr.startswith("pycanal: error:") and "canal" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_purged_binlog_is_one_clear_line(mariadb):
    code, msgs, err = _dump(mariadb, "--start", "mysql-bin.999999:4", "--stop-at-end")
    assert code == 1 and msgs == []
    assert "pycanal: error:" in err and "1236" in err


def test_filter_excludes_other_tables_and_black_list(mariadb, fresh_db):
    db = fresh_db
    start = _start(mariadb)
    mariadb.execute(
        f"CREATE TABLE `{db}`.keep1 (id INT)",
        f"CREATE TABLE `{db}`.skip1 (id INT)",
        f"INSERT INTO `{db}`.keep1 VALUES (1)",
        f"INSERT INTO `{db}`.skip1 VALUES (1)",
    )
    code, msgs, _ = _dump(
        mariadb, "--start", start, "--stop-at-end", "--filter", f"{db}\\..*", "--black-filter", f"{db}\\.skip.*"
    )
    assert code == 0
    assert {m["table"] for m in msgs} == {"keep1"}


def test_rotate_event_first_then_events(mariadb):
    f, p = mariadb.master_status()
    with BinlogStream(
        "127.0.0.1", mariadb.port, "canal", "canal", 4245, log_file=f, log_pos=p, stop_at_end=True
    ) as stream:
        first = next(iter(stream))
    assert isinstance(first, RotateEvent) and first.artificial and first.next_file == f


def test_dump_sandbox_command_runs_end_to_end():
    """The README's main command, as a user runs it (a subprocess, exit status 0)."""
    exe = os.path.join(os.path.dirname(sys.executable), "pycanal")
    res = subprocess.run([exe, "dump", "--sandbox"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert all(line.startswith("# ") for line in res.stderr.splitlines()), res.stderr  # nothing but notes
    msgs = [json.loads(line) for line in res.stdout.splitlines()]
    types = [m["type"] for m in msgs]
    assert types == ["QUERY", "CREATE", "INSERT", "UPDATE", "ALTER", "INSERT", "DELETE"]
    assert msgs[5]["data"][0]["email"] == "carol@example.com"
