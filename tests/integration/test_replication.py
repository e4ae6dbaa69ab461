"""pycanal.mysql against a real MariaDB 10.11 (MariaDBSandbox): auth, queries, binlog dump, failures.

Events are not decoded here (that is pycanal.binlog); the tests read the 19-byte header themselves and
check every event's CRC32.
"""

from __future__ import annotations

import base64
import struct
import threading
import time
import zlib
from collections.abc import Iterator

import pytest

from helpers import wait_for
from pycanal.errors import (
    AccessDeniedError,
    BinlogError,
    BinlogPurgedError,
    ConnectionLostError,
    DuplicateServerIdError,
    LocalProtocolError,
    MySQLServerError,
    PrivilegeError,
)
from pycanal.mysql.auth import AuthExchange, ed25519_public_key
from pycanal.mysql.connection import MySQLConnection
from pycanal.mysql.packet import parse_auth_switch
from pycanal.mysql.replication import ReplicationConnection, binlog_files, show_master_status
from pycanal.sandbox.mariadb import MariaDBSandbox, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ROTATE, QUERY, FORMAT_DESCRIPTION, XID, TABLE_MAP, WRITE_ROWS_V1, HEARTBEAT = 4, 2, 15, 16, 19, 23, 27
MARIA_GTID, MARIA_GTID_LIST = 162, 163
ARTIFICIAL = 0x20


def header(event: bytes) -> tuple[int, int, int, int, int, int]:
    """(timestamp, type, server_id, size, log_pos, flags)."""
    return struct.unpack_from("<IBIIIH", event)


def crc_ok(event: bytes) -> bool:
    return zlib.crc32(event[:-4]) == struct.unpack_from("<I", event, len(event) - 4)[0]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[MariaDBSandbox]:
    with MariaDBSandbox() as s:
        s.execute(
            "CREATE DATABASE d",
            "CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(20))",
            "INSTALL SONAME 'auth_ed25519'",
            "CREATE USER ed@'%' IDENTIFIED VIA ed25519 USING PASSWORD('s3cret-ed')",
            "GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO ed@'%'",
            "CREATE USER noslave@'%' IDENTIFIED BY 'noslave'",
            "GRANT SELECT, REPLICATION CLIENT ON *.* TO noslave@'%'",
        )
        yield s


_ids = iter(range(1000, 100000))


def repl(s: MariaDBSandbox, **kw: object) -> ReplicationConnection:
    kw.setdefault("server_id", next(_ids))
    return ReplicationConnection("127.0.0.1", s.port, s.user, s.password, **kw)  # type: ignore[arg-type]


def read_until(r: ReplicationConnection, etype: int, limit: int = 200) -> list[bytes]:
    """Events up to and including the first of ``etype`` (each read is bounded by the read timeout)."""
    got = []
    for _ in range(limit):
        ev = r.read_event()
        assert ev is not None, f"stream ended before event type {etype}"
        got.append(ev)
        if ev[4] == etype:
            return got
    raise AssertionError(f"no event of type {etype} in {limit} events")


# --------------------------------------------------------------------------------------------------
# plain connections and auth


def test_native_auth_query_and_errors(sandbox: MariaDBSandbox) -> None:
    with MySQLConnection("127.0.0.1", sandbox.port, "canal", "canal") as c:
        assert c.server_version == sandbox.execute("SELECT VERSION()")[0][0]
        assert c.is_mariadb
        rows = c.query("SELECT 1, NULL, 'é', x'00ff', CONNECTION_ID()")
        assert rows == [("1", None, "é", b"\x00\xff", str(c.connection_id))]
        assert [col.name for col in c.last_columns][:2] == ["1", "NULL"]
        with pytest.raises(MySQLServerError) as info:
            c.query("SELECT * FROM d.nope")
        assert info.value.errno == 1146 and "doesn't exist" in info.value.message
        assert c.query("SELECT 2") == [("2",)]  # still usable after an ERR
        c.execute("SET @x = 5")
        assert c.query("SELECT @x") == [("5",)]
        c.ping()
    with pytest.raises(LocalProtocolError, match="closed"):
        c.query("SELECT 1")


def test_ed25519_auth(sandbox: MariaDBSandbox) -> None:
    created = sandbox.execute("SHOW CREATE USER ed")[0][0]
    assert base64.b64encode(ed25519_public_key(b"s3cret-ed")).rstrip(b"=").decode() in created
    with MySQLConnection("127.0.0.1", sandbox.port, "ed", "s3cret-ed") as c:
        assert c.query("SELECT CURRENT_USER()") == [("ed@%",)]
    with pytest.raises(AccessDeniedError, match="Access denied for user 'ed'"):
        MySQLConnection("127.0.0.1", sandbox.port, "ed", "wrong").connect()


def test_ed25519_many_logins(sandbox: MariaDBSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    # One nonce in 256 ends in 0x00; trimming it failed about one login in 256. Log in until at least
    # 1000 logins and two nonces ending in 0x00 were seen (about 1 ms a login here).
    nonces: list[bytes] = []
    receive = AuthExchange.receive

    def watch(self: AuthExchange, payload: bytes) -> bytes | None:
        if payload[:1] == b"\xfe":
            nonces.append(parse_auth_switch(payload)[1])  # observe only: the real exchange goes on
        return receive(self, payload)

    monkeypatch.setattr(AuthExchange, "receive", watch)
    logins = 0
    started = time.monotonic()
    while logins < 1000 or sum(n[-1] == 0 for n in nonces) < 2:
        assert logins < 10000 and time.monotonic() - started < 30, f"{logins} logins, {len(nonces)} nonces"
        with MySQLConnection("127.0.0.1", sandbox.port, "ed", "s3cret-ed", connect_timeout=5) as c:
            assert c.connected
        logins += 1
    assert len(nonces) == logins and all(len(n) == 32 for n in nonces)
    assert sum(0 in n[:-1] for n in nonces) > 0  # and 0x00 inside a nonce, about 12% of them


def test_ed25519_user_can_dump(sandbox: MariaDBSandbox) -> None:
    r = ReplicationConnection("127.0.0.1", sandbox.port, "ed", "s3cret-ed", next(_ids), stop_at_end=True)
    with r:
        events = list(r)
    assert events[0][4] == ROTATE


def test_wrong_password_is_access_denied(sandbox: MariaDBSandbox) -> None:
    with pytest.raises(AccessDeniedError) as info:
        MySQLConnection("127.0.0.1", sandbox.port, "canal", "not-canal").connect()
    assert info.value.errno == 1045
    assert info.value.message == "Access denied for user 'canal'@'127.0.0.1' (using password: YES)"


def test_connect_refused_is_connection_lost() -> None:
    with pytest.raises(ConnectionLostError, match="cannot connect") as info:
        MySQLConnection("127.0.0.1", free_port(), "u", "p", connect_timeout=2).connect()
    assert isinstance(info.value.__cause__, OSError)


def test_user_without_replication_slave(sandbox: MariaDBSandbox) -> None:
    # MariaDB answers COM_REGISTER_SLAVE with 1045 "Access denied" for an authenticated user that lacks
    # REPLICATION SLAVE; pycanal reports it as the privilege problem it is.
    r = ReplicationConnection("127.0.0.1", sandbox.port, "noslave", "noslave", next(_ids))
    with pytest.raises(PrivilegeError) as info:
        r.connect()
    assert info.value.errno == 1045
    assert info.value.message.startswith("Access denied for user 'noslave'@'%'")
    assert "REPLICATION SLAVE" in info.value.message
    assert isinstance(info.value.__cause__, AccessDeniedError)
    assert not r.connection.connected


def test_helpers(sandbox: MariaDBSandbox) -> None:
    with MySQLConnection("127.0.0.1", sandbox.port, "canal", "canal") as c:
        assert show_master_status(c) == sandbox.master_status()
        files = binlog_files(c)
    expected = sandbox.execute("SHOW BINARY LOGS")
    assert files == [(str(row[0]), int(row[1])) for row in expected]


# --------------------------------------------------------------------------------------------------
# binlog dumps


def test_dump_from_file_and_position(sandbox: MariaDBSandbox) -> None:
    file, pos = sandbox.master_status()
    sandbox.execute("INSERT INTO d.t VALUES (1, 'one')")
    end = sandbox.master_status()
    with repl(sandbox, log_file=file, log_pos=pos, stop_at_end=True) as r:
        assert r.checksum is True
        assert r.is_mariadb and "MariaDB" in r.server_version
        events = list(r)
        assert r.read_event() is None  # stays ended
        assert (r.log_file, r.log_pos) == end
    assert all(crc_ok(ev) for ev in events)
    assert all(header(ev)[3] == len(ev) for ev in events)
    _, etype, _, _, _, flags = header(events[0])
    assert etype == ROTATE and flags & ARTIFICIAL
    assert struct.unpack_from("<Q", events[0], 19)[0] == pos
    assert events[0][27:-4].decode() == file
    assert events[1][4] == FORMAT_DESCRIPTION
    real = [ev for ev in events[2:] if header(ev)[4] > pos]
    assert [ev[4] for ev in real] == [MARIA_GTID, TABLE_MAP, WRITE_ROWS_V1, XID]
    assert header(real[-1])[4] == end[1]


def test_dump_from_current_end(sandbox: MariaDBSandbox) -> None:
    sandbox.execute("INSERT INTO d.t VALUES (2, 'before')")
    start = sandbox.master_status()
    with repl(sandbox, heartbeat_period=1.0) as r:
        assert (r.start_file, r.start_pos) == start
        sandbox.execute("INSERT INTO d.t VALUES (3, 'after')")
        events = read_until(r, WRITE_ROWS_V1)
    assert events[0][4] == ROTATE
    rows = events[-1]
    assert b"after" in rows and b"before" not in b"".join(events)
    assert header(rows)[4] > start[1]


def test_dump_from_mariadb_gtid(sandbox: MariaDBSandbox) -> None:
    sandbox.execute("INSERT INTO d.t VALUES (4, 'gtid-before')")
    gtid = str(sandbox.execute("SELECT @@gtid_binlog_pos")[0][0])
    _domain, server, seq = (int(x) for x in gtid.split("-"))
    sandbox.execute("INSERT INTO d.t VALUES (5, 'gtid-next')")
    with repl(sandbox, gtid_set=gtid, stop_at_end=True) as r:
        events = list(r)
        assert r.log_file == sandbox.master_status()[0]
    assert all(crc_ok(ev) for ev in events)
    gtid_events = [ev for ev in events if ev[4] == MARIA_GTID]
    assert len(gtid_events) == 1  # only the transaction after the requested GTID
    assert struct.unpack_from("<Q", gtid_events[0], 19)[0] == seq + 1
    assert header(gtid_events[0])[2] == server
    assert b"gtid-next" in b"".join(events) and b"gtid-before" not in b"".join(events)
    with pytest.raises(LocalProtocolError, match="domain-server-seq"):
        repl(sandbox, gtid_set="0-1-2'; drop database d; --").connect()


def test_future_mariadb_gtid_is_binlog_error(sandbox: MariaDBSandbox) -> None:
    with repl(sandbox, gtid_set="0-1-999999", stop_at_end=True) as r, pytest.raises(BinlogError) as info:
        list(r)
    assert info.value.errno == 1236
    assert "not in the master's binlog" in info.value.message


def test_stop_at_end_terminates_on_idle_server(sandbox: MariaDBSandbox) -> None:
    file, pos = sandbox.master_status()
    started = time.monotonic()
    with repl(sandbox, log_file=file, log_pos=pos, stop_at_end=True, heartbeat_period=30.0) as r:
        events = list(r)
    assert time.monotonic() - started < 5  # did not wait for a heartbeat or new events
    assert [ev[4] for ev in events][:2] == [ROTATE, FORMAT_DESCRIPTION]
    assert not r.connection.connected


def test_missing_and_purged_binlog(sandbox: MariaDBSandbox) -> None:
    with repl(sandbox, log_file="mysql-bin.999999") as r, pytest.raises(BinlogPurgedError) as info:
        r.read_event()
    assert info.value.errno == 1236
    assert info.value.message == "Could not find first log file name in binary log index file"

    with MySQLConnection("127.0.0.1", sandbox.port, "canal", "canal") as c:
        first = binlog_files(c)[0][0]
    sandbox.execute("FLUSH BINARY LOGS")
    current = sandbox.master_status()[0]

    def purged() -> bool:
        # MariaDB keeps a file until InnoDB has made its commits durable (about once a second with
        # innodb_flush_log_at_trx_commit=2), so PURGE is retried until the file is gone.
        sandbox.execute(f"PURGE BINARY LOGS TO '{current}'")
        return first not in [row[0] for row in sandbox.execute("SHOW BINARY LOGS")]

    wait_for(purged, timeout=10, message=f"PURGE BINARY LOGS to remove {first}")
    with repl(sandbox, log_file=first, log_pos=4) as r, pytest.raises(BinlogPurgedError) as info:
        r.read_event()
    assert "Could not find first log file name" in info.value.message
    assert not r.connection.connected


def test_duplicate_server_id_kills_the_older_dump(sandbox: MariaDBSandbox) -> None:
    server_id = next(_ids)
    with repl(sandbox, server_id=server_id) as older:
        assert older.read_event() is not None
        with repl(sandbox, server_id=server_id) as newer:
            assert newer.read_event() is not None
            # MariaDB 10.11 keeps the newcomer and sends the older connection ERR 4052 (ER_SLAVE_SAME_ID).
            with pytest.raises(DuplicateServerIdError) as info:
                read_until(older, -1)
            assert info.value.errno == 4052
            assert "same server_uuid/server_id is already connected" in info.value.message
            sandbox.execute("INSERT INTO d.t VALUES (6, 'newer-still-reads')")
            assert b"newer-still-reads" in read_until(newer, WRITE_ROWS_V1)[-1]


def test_heartbeat_arrives_when_idle(sandbox: MariaDBSandbox) -> None:
    with repl(sandbox, heartbeat_period=0.3) as r:
        assert r.read_timeout == pytest.approx(10.3)
        started = time.monotonic()
        events = read_until(r, HEARTBEAT)
        elapsed = time.monotonic() - started
    assert elapsed < 3.0
    beat = events[-1]
    assert crc_ok(beat)
    assert beat[19:-4].decode() == sandbox.master_status()[0]  # heartbeat body: current file name


def test_silence_past_read_timeout_is_connection_lost(sandbox: MariaDBSandbox) -> None:
    with repl(sandbox, heartbeat_period=0, read_timeout=0.5) as r:
        started = time.monotonic()
        with pytest.raises(ConnectionLostError, match="read timeout") as info:
            read_until(r, -1)
        assert 0.4 < time.monotonic() - started < 5
    assert info.value.log_file == sandbox.master_status()[0]
    assert info.value.log_pos == sandbox.master_status()[1]
    assert isinstance(info.value.__cause__, ConnectionLostError)
    assert isinstance(info.value.__cause__.__cause__, TimeoutError)


def test_server_killed_mid_stream_is_connection_lost() -> None:
    with MariaDBSandbox() as s:
        s.execute("CREATE DATABASE k", "CREATE TABLE k.t (id INT PRIMARY KEY)", "INSERT INTO k.t VALUES (1)")
        end = s.master_status()
        with repl(s, log_file=end[0], log_pos=4, heartbeat_period=5) as r:
            read_until(r, WRITE_ROWS_V1)
            s.kill()
            with pytest.raises(ConnectionLostError) as info:
                read_until(r, -1)
            with pytest.raises(LocalProtocolError, match="was lost"):
                r.read_event()
        assert "lost" in str(info.value)
        assert (info.value.log_file, info.value.log_pos) == end
        assert not r.connection.connected


def test_close_from_another_thread_ends_a_blocked_read(sandbox: MariaDBSandbox) -> None:
    r = repl(sandbox, heartbeat_period=0, read_timeout=30).connect()
    read_until(r, FORMAT_DESCRIPTION)
    result: list[object] = []
    reader = threading.Thread(target=lambda: result.append(read_until_end(r)))
    reader.start()
    reader.join(0.3)
    assert reader.is_alive()  # blocked: nothing to read, no heartbeat
    started = time.monotonic()
    r.close()
    reader.join(5)
    assert not reader.is_alive() and time.monotonic() - started < 5
    assert result == ["ended"]
    with pytest.raises(LocalProtocolError, match="one dump attempt"):
        r.connect()


def read_until_end(r: ReplicationConnection) -> str:
    while r.read_event() is not None:
        pass
    return "ended"


def test_event_larger_than_one_packet(sandbox: MariaDBSandbox) -> None:
    """A rows event over 16 MiB comes in several packets; it must come out whole with a valid CRC."""
    sandbox.execute("CREATE TABLE d.big (id INT PRIMARY KEY, b LONGBLOB)")
    file, pos = sandbox.master_status()
    sandbox.execute("INSERT INTO d.big VALUES (1, REPEAT('b', 17 * 1024 * 1024))")
    with repl(sandbox, log_file=file, log_pos=pos, stop_at_end=True) as r:
        events = list(r)
    big = [ev for ev in events if ev[4] == WRITE_ROWS_V1]
    assert len(big) == 1
    assert len(big[0]) > 0xFFFFFF
    assert header(big[0])[3] == len(big[0]) and crc_ok(big[0])
    assert big[0].count(b"b" * 1024) >= 17 * 1024
