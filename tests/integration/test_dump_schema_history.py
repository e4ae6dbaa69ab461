"""`pycanal dump` over old binlog: each row carries the column names of its own moment.

The server writes ``binlog_row_metadata=MINIMAL`` (no column names in TABLE_MAP), so the names come from
the dump's in-memory schema history: seeded from the live server, changed by every DDL the dump reads.
When neither tells the shape the binlog has, the dump stops with SchemaMismatchError instead of
printing ``@1..@n``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from helpers import wait_for
from pycanal.cli import main
from pycanal.dump import dump_parser, iter_flat_messages
from pycanal.errors import SchemaMismatchError
from pycanal.parse.parser import ParserStopped
from pycanal.sandbox import MariaDBSandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def minimal() -> Iterator[MariaDBSandbox]:
    """A MariaDB whose TABLE_MAP events carry no column names."""
    with MariaDBSandbox(row_metadata="MINIMAL") as box:
        yield box


@pytest.fixture
def db(minimal: MariaDBSandbox) -> Iterator[str]:
    name = f"d_{uuid.uuid4().hex[:10]}"
    minimal.execute(f"CREATE DATABASE `{name}`")
    try:
        yield name
    finally:
        minimal.execute(f"DROP DATABASE IF EXISTS `{name}`")


def _cli(box: MariaDBSandbox, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    res = CliRunner().invoke(
        main, ["dump", "--host", "127.0.0.1", "--port", str(box.port), "--user", "canal", "--password", "canal", *args]
    )
    return res.exit_code, [json.loads(line) for line in res.stdout.splitlines() if line.strip()], res.stderr


def _dump(box: MariaDBSandbox, start: tuple[str, int], **kw: Any) -> list[dict[str, Any]]:
    return list(
        iter_flat_messages("127.0.0.1", box.port, "canal", "canal", server_id=6100, start=start, stop_at_end=True, **kw)
    )


def _rows(msgs: list[dict[str, Any]]) -> list[tuple[str, str, Any, Any]]:
    return [(m["type"], m["table"], m["data"], m["old"]) for m in msgs if not m["isDdl"] and m["type"] != "QUERY"]


def test_rows_carry_the_names_of_their_moment_across_alter_and_rename(minimal, db):
    start = minimal.master_status()  # before the CREATE; the live table ends up renamed and reshaped
    minimal.execute(
        f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, a VARCHAR(10))",
        f"INSERT INTO `{db}`.t VALUES (1, 'one')",
        f"ALTER TABLE `{db}`.t ADD COLUMN b INT AFTER id",
        f"INSERT INTO `{db}`.t VALUES (2, 20, 'two')",
        f"ALTER TABLE `{db}`.t DROP COLUMN a",
        f"UPDATE `{db}`.t SET b = 21 WHERE id = 2",
        f"ALTER TABLE `{db}`.t CHANGE b c INT",  # same binlog shape, new name
        f"INSERT INTO `{db}`.t VALUES (3, 30)",
        f"RENAME TABLE `{db}`.t TO `{db}`.u",
        f"INSERT INTO `{db}`.u VALUES (4, 40)",
        f"DELETE FROM `{db}`.u WHERE id = 1",
    )
    msgs = _dump(minimal, start, table_filter=f"{db}\\..*")
    assert _rows(msgs) == [
        ("INSERT", "t", [{"id": "1", "a": "one"}], None),
        ("INSERT", "t", [{"id": "2", "b": "20", "a": "two"}], None),
        ("UPDATE", "t", [{"id": "2", "b": "21"}], [{"b": "20"}]),
        ("INSERT", "t", [{"id": "3", "c": "30"}], None),
        ("INSERT", "u", [{"id": "4", "c": "40"}], None),
        ("DELETE", "u", [{"id": "1", "c": None}], None),
    ]
    first = next(m for m in msgs if m["type"] == "INSERT")
    assert first["mysqlType"] == {"id": "int(11)", "a": "varchar(10)"} and first["pkNames"] == ["id"]


def test_drop_and_create_again_with_other_names_and_shape(minimal, db):
    start = minimal.master_status()
    minimal.execute(
        f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, a VARCHAR(10))",
        f"INSERT INTO `{db}`.t VALUES (1, 'x')",
        f"DROP TABLE `{db}`.t",
        f"CREATE TABLE `{db}`.t (k INT PRIMARY KEY, v VARCHAR(10))",  # the same binlog shape
        f"INSERT INTO `{db}`.t VALUES (2, 'y')",
        f"DROP TABLE `{db}`.t",
        f"CREATE TABLE `{db}`.t (v VARCHAR(10), k BIGINT, w DATE)",
        f"INSERT INTO `{db}`.t VALUES ('z', 3, '2024-01-02')",
    )
    assert [r[2] for r in _rows(_dump(minimal, start, table_filter=f"{db}\\..*"))] == [
        [{"id": "1", "a": "x"}],
        [{"k": "2", "v": "y"}],
        [{"v": "z", "k": "3", "w": "2024-01-02"}],
    ]


def test_table_from_before_the_start_with_replayable_ddl_keeps_its_names(minimal, db):
    """The CREATE lies before the start, but the seed (today's table) plus the DDL read fit every row."""
    minimal.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, a VARCHAR(10))")
    start = minimal.master_status()
    minimal.execute(
        f"INSERT INTO `{db}`.t VALUES (1, 'x')",
        f"ALTER TABLE `{db}`.t ADD COLUMN b INT",
        f"INSERT INTO `{db}`.t VALUES (2, 'y', 7)",
        f"ALTER TABLE `{db}`.t DROP COLUMN b",
        f"INSERT INTO `{db}`.t VALUES (3, 'z')",
    )
    assert [r[2] for r in _rows(_dump(minimal, start, table_filter=f"{db}\\..*"))] == [
        [{"id": "1", "a": "x"}],
        [{"id": "2", "a": "y", "b": "7"}],
        [{"id": "3", "a": "z"}],
    ]


def test_table_from_before_the_start_altered_since_stops_with_schema_mismatch(minimal, db):
    minimal.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, a VARCHAR(10))")
    start = minimal.master_status()
    minimal.execute(f"INSERT INTO `{db}`.t VALUES (1, 'x')", f"ALTER TABLE `{db}`.t ADD COLUMN b INT")
    got: list[dict[str, Any]] = []
    with pytest.raises(ParserStopped) as info:
        for msg in iter_flat_messages(
            "127.0.0.1",
            minimal.port,
            "canal",
            "canal",
            server_id=6101,
            start=start,
            stop_at_end=True,
            table_filter=f"{db}\\..*",
        ):
            got.append(msg)
    assert got == []  # nothing printed under guessed names
    cause = info.value.__cause__
    assert isinstance(cause, SchemaMismatchError), repr(cause)
    assert cause.table == f"{db}.t" and cause.log_file == start[0] and cause.log_pos is not None
    text = str(info.value)
    assert f"{db}.t at {start[0]}:{cause.log_pos}" in text
    assert "before the table's CREATE" in text and "binlog_row_metadata=FULL" in text


def test_cli_stops_on_a_table_it_cannot_name_with_one_line_and_status_1(minimal, db):
    """The table is gone from the live server and no DDL the dump reads describes it. Run as a user
    runs it (a subprocess), so that anything logged besides the error line shows up on stderr."""
    minimal.execute(f"CREATE TABLE `{db}`.gone (id INT PRIMARY KEY, a VARCHAR(10))")
    f, p = minimal.master_status()
    minimal.execute(f"INSERT INTO `{db}`.gone VALUES (1, 'x')", f"DROP TABLE `{db}`.gone")
    exe = os.path.join(os.path.dirname(sys.executable), "pycanal")
    args = ["--port", str(minimal.port), "--start", f"{f}:{p}", "--stop-at-end", "--filter", f"{db}\\..*"]
    res = subprocess.run([exe, "dump", *args], capture_output=True, text=True, timeout=60)
    assert (res.returncode, res.stdout) == (1, ""), (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pycanal: error:"), res.stderr
    assert f"{db}.gone at {f}:" in lines[0] and "binlog_row_metadata=FULL" in lines[0]


def test_filter_ddl_of_filtered_tables_is_tracked_and_their_rows_never_stop_the_dump(minimal, db):
    minimal.execute(f"CREATE TABLE `{db}`.gone (id INT)")  # filtered out, unknowable, then dropped
    start = minimal.master_status()
    minimal.execute(
        f"INSERT INTO `{db}`.gone VALUES (1)",
        f"DROP TABLE `{db}`.gone",
        f"CREATE TABLE `{db}`.hidden (id INT PRIMARY KEY, a VARCHAR(10))",
        f"INSERT INTO `{db}`.hidden VALUES (1, 'x')",
        f"RENAME TABLE `{db}`.hidden TO `{db}`.shown",  # shown's shape comes from hidden's CREATE
        f"INSERT INTO `{db}`.shown VALUES (2, 'y')",
        f"ALTER TABLE `{db}`.shown ADD COLUMN b DATE",
        f"INSERT INTO `{db}`.shown VALUES (3, 'z', '2024-05-06')",
    )
    code, msgs, err = _cli(minimal, "--start", "{}:{}".format(*start), "--stop-at-end", "--filter", f"{db}\\.shown")
    assert code == 0, err
    assert {m["table"] for m in msgs} == {"shown"}
    assert [r[2] for r in _rows(msgs)] == [[{"id": "2", "a": "y"}], [{"id": "3", "a": "z", "b": "2024-05-06"}]]


def test_following_the_live_end_applies_the_ddl_it_reads_and_survives_a_reconnect(minimal, db):
    minimal.execute(f"CREATE TABLE `{db}`.gate (id INT)")
    got: list[dict[str, Any]] = []
    at_gate, release = threading.Event(), threading.Event()

    def emit(msg: dict[str, Any]) -> None:
        got.append(msg)
        if msg["table"] == "gate" and msg["type"] == "INSERT":
            at_gate.set()
            release.wait(30)  # hold the dump here while the DDL below runs on the server

    with dump_parser(
        "127.0.0.1", minimal.port, "canal", "canal", emit, server_id=6102, table_filter=f"{db}\\..*"
    ) as parser:
        parser.config.reconnect_min = 0.1
        t = threading.Thread(target=parser.run, name="test-dump")
        t.start()
        try:
            wait_for(lambda: parser.dumps >= 1, 20)  # the start (the current end) is decided
            minimal.execute(f"INSERT INTO `{db}`.gate VALUES (1)")
            wait_for(at_gate.is_set, 20)
            # when the dump reads these, the live table is already renamed and reshaped
            minimal.execute(
                f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, a VARCHAR(10))",
                f"INSERT INTO `{db}`.t VALUES (1, 'x')",
                f"ALTER TABLE `{db}`.t CHANGE a b VARCHAR(10)",
                f"INSERT INTO `{db}`.t VALUES (2, 'y')",
                f"RENAME TABLE `{db}`.t TO `{db}`.u",
                f"INSERT INTO `{db}`.u VALUES (3, 'z')",
            )
            release.set()
            wait_for(lambda: any(m["table"] == "u" and m["type"] == "INSERT" for m in got), 20)
            for row in minimal.execute("SHOW PROCESSLIST"):  # the dump reconnects from its last boundary
                if row[4] == "Binlog Dump":
                    minimal.execute(f"KILL {row[0]}")
            minimal.execute(f"ALTER TABLE `{db}`.u ADD COLUMN c INT", f"INSERT INTO `{db}`.u VALUES (4, 'w', 5)")
            wait_for(lambda: sum(m["table"] == "u" and m["type"] == "INSERT" for m in got) >= 2, 20)
        finally:
            release.set()
            parser.signal_stop()
            t.join(20)
    assert parser.error is None, parser.error
    assert [(r[1], r[2]) for r in _rows(got) if r[1] != "gate"] == [
        ("t", [{"id": "1", "a": "x"}]),
        ("t", [{"id": "2", "b": "y"}]),
        ("u", [{"id": "3", "b": "z"}]),
        ("u", [{"id": "4", "b": "w", "c": "5"}]),
    ]
    assert parser.dumps >= 2


def test_full_row_metadata_still_names_rows_of_tables_the_history_cannot_know(mariadb, fresh_db):
    """With binlog_row_metadata=FULL the binlog names the columns: a table altered and renamed since
    the start is printed as before, under the binlog's names."""
    db = fresh_db
    mariadb.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, a VARCHAR(10))")
    start = mariadb.master_status()
    mariadb.execute(
        f"INSERT INTO `{db}`.t VALUES (1, 'x')",
        f"ALTER TABLE `{db}`.t ADD COLUMN b INT",
        f"INSERT INTO `{db}`.t VALUES (2, 'y', 3)",
        f"RENAME TABLE `{db}`.t TO `{db}`.t2",
        f"INSERT INTO `{db}`.t2 VALUES (4, 'z', 5)",
    )
    rows = _rows(_dump(mariadb, start, table_filter=f"{db}\\..*"))
    assert [(r[1], r[2]) for r in rows] == [
        ("t", [{"id": "1", "a": "x"}]),
        ("t", [{"id": "2", "a": "y", "b": "3"}]),
        ("t2", [{"id": "4", "a": "z", "b": "5"}]),
    ]
