"""The metadata path (MetaConnection) against a real MariaDB: values, quoting per sql_mode, reopening,
and every failure as a pycanal error (never a PyMySQL one)."""

from __future__ import annotations

import pytest

from pycanal.errors import (
    AccessDeniedError,
    ConnectionLostError,
    LocalProtocolError,
    MySQLServerError,
    SchemaHistoryError,
    SchemaStoreUnavailable,
)
from pycanal.mysql.meta import MetaConnection
from pycanal.parse.parser import MysqlEventParser, ParserConfig, ParserStopped
from pycanal.parse.position import Master, binary_logs, decide_start, meta_query
from pycanal.sandbox.mariadb import MariaDBSandbox, free_port
from pycanal.schema.store import MySQLStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

NASTY = "a'b\"c\\d\x00e\nf\rg\x1ah%s%% é😀"


def meta(s: MariaDBSandbox, **kw: object) -> MetaConnection:
    return MetaConnection(s.host, s.port, s.user, s.password, **kw)  # type: ignore[arg-type]


def test_values_and_arguments_round_trip(mariadb: MariaDBSandbox) -> None:
    with meta(mariadb) as m:
        row = m.query("SELECT %s, %s, %s, %s, 1, NULL, CAST(2.50 AS DECIMAL(4,2))", (NASTY, b"\x00'\xff", None, 7))
        assert row == [(NASTY, b"\x00'\xff", None, "7", "1", None, "2.50")]
        # NO_BACKSLASH_ESCAPES: the server says so in its status flags, and quoting follows
        m.query("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
        assert m.query("SELECT %s, 'a\\b'", (NASTY,)) == [(NASTY, "a\\b")]
        m.query("SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')")
        assert m.query("SELECT %s, 'a\\\\b'", (NASTY,)) == [(NASTY, "a\\b")]
        assert m.query("SHOW VARIABLES LIKE 'log\\_bin'") == [("log_bin", "ON")]  # no args: % and \ as written


def test_server_errors_are_typed_and_the_session_goes_on(mariadb: MariaDBSandbox) -> None:
    with meta(mariadb) as m:
        with pytest.raises(MySQLServerError) as info:
            m.query("SELECT * FROM no_such_db.t")
        assert info.value.errno in (1049, 1146)
        with pytest.raises(LocalProtocolError, match="does not fit"):
            m.query("SELECT %s, %s", ("one",))
        assert m.query("SELECT 1") == [("1",)]
    with pytest.raises(LocalProtocolError, match="closed"):
        m.query("SELECT 1")


def test_a_dropped_session_is_reopened(mariadb: MariaDBSandbox) -> None:
    with meta(mariadb) as m:
        first = m.query("SELECT CONNECTION_ID()")[0][0]
        mariadb.execute(f"KILL {first}")
        second = m.query("SELECT CONNECTION_ID()")[0][0]  # the same call succeeds, on a new session
        assert second != first


def test_unreachable_master_is_connection_lost() -> None:
    dead = Master("127.0.0.1", free_port(), "canal", "canal")
    for call in (
        lambda: MetaConnection(dead.host, dead.port, "canal", "canal", connect_timeout=2).query("SELECT 1"),
        lambda: meta_query(dead, "SELECT 1"),
        lambda: binary_logs(dead),
        lambda: decide_start(Master(dead.host, dead.port, timestamp=1), None),  # a timestamp search
    ):
        with pytest.raises(ConnectionLostError, match="cannot connect to MySQL") as info:
            call()
        assert isinstance(info.value.__cause__, OSError)


def test_a_stopped_server_is_connection_lost(mariadb_factory) -> None:  # type: ignore[no-untyped-def]
    box = mariadb_factory()
    with meta(box, connect_timeout=2) as m:
        assert m.query("SELECT 1") == [("1",)]
        box.stop()
        with pytest.raises(ConnectionLostError):
            m.query("SELECT 1")


def test_wrong_password_says_the_login_was_refused(mariadb: MariaDBSandbox) -> None:
    with pytest.raises(AccessDeniedError) as info:
        MetaConnection(mariadb.host, mariadb.port, "canal", "not-canal").query("SELECT 1")
    err = info.value
    assert err.errno == 1045 and err.message.startswith("Access denied for user 'canal'")
    assert "refused user 'canal' with this password" in str(err)
    assert "REPLICATION" not in str(err)


def _stopped_parser(master: Master) -> ParserStopped:
    parser = MysqlEventParser("d", ParserConfig(master=master, stop_at_end=True, reconnect_max=0.2))
    with pytest.raises(ParserStopped) as info:
        parser.run()
    return info.value


def test_parser_tells_a_wrong_password_from_a_missing_privilege(mariadb: MariaDBSandbox) -> None:
    mariadb.execute(
        "CREATE USER IF NOT EXISTS norepl@'%' IDENTIFIED BY 'norepl'",
        "GRANT SELECT, REPLICATION CLIENT ON *.* TO norepl@'%'",
    )
    wrong = _stopped_parser(Master(mariadb.host, mariadb.port, "canal", "wrong"))
    assert isinstance(wrong.__cause__, AccessDeniedError)
    assert "refused the login of 'canal'" in str(wrong) and "dbPassword" in str(wrong)
    assert "REPLICATION SLAVE" not in str(wrong)
    missing = _stopped_parser(Master(mariadb.host, mariadb.port, "norepl", "norepl"))
    assert "grant the user REPLICATION SLAVE" in str(missing)


def test_schema_store_errors_are_pycanal_errors(mariadb: MariaDBSandbox) -> None:
    with pytest.raises(SchemaStoreUnavailable, match="unreachable") as info:
        MySQLStore.from_params(host="127.0.0.1", port=free_port(), user="canal", password="canal", database="x")
    assert isinstance(info.value, ConnectionLostError)  # a connection loss like any other
    with pytest.raises(SchemaHistoryError, match="Access denied") as denied:
        MySQLStore.from_params(host=mariadb.host, port=mariadb.port, user="canal", password="bad", database="x")
    assert not isinstance(denied.value, ConnectionLostError)


def test_schema_history_lets_a_lost_master_through(mariadb: MariaDBSandbox) -> None:
    # the parser reconnects on ConnectionLostError; wrapped in SchemaHistoryError it would stop instead
    from pycanal.schema.history import SchemaHistory
    from pycanal.schema.store import MemoryStore

    dead = MetaConnection("127.0.0.1", free_port(), "canal", "canal", connect_timeout=2)
    with pytest.raises(ConnectionLostError):
        SchemaHistory(MemoryStore(), destination="d", query=dead)

    def failing(sql: str, args: object) -> list[tuple[object, ...]]:
        with meta(mariadb) as m:
            return m.query("SELECT * FROM no_such_db.t")

    with pytest.raises(SchemaHistoryError, match="schema query failed") as info:
        SchemaHistory(MemoryStore(), destination="d", query=failing)
    assert isinstance(info.value.__cause__, MySQLServerError)
