"""The sandboxes start real servers configured as asked, and fail loudly when they cannot."""

from __future__ import annotations

import contextlib
import shutil
import socket
import time
from collections.abc import Callable, Iterator

import pymysql
import pytest
from kazoo.client import KazooClient, KazooState

from helpers import wait_for
from pycanal.errors import SandboxError
from pycanal.sandbox import MariaDBSandbox, ZooKeeperEnsemble, ZooKeeperSandbox

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def kazoo(hosts: str, timeout: float = 4.0) -> Iterator[KazooClient]:
    """A started kazoo client, always stopped and closed (its sockets would leak otherwise)."""
    client = KazooClient(hosts=hosts, timeout=timeout)
    client.start(timeout=10)
    try:
        yield client
    finally:
        client.stop()
        client.close()


def binlog_vars(sandbox: MariaDBSandbox) -> dict[str, str]:
    rows = sandbox.execute(
        "SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@binlog_row_metadata, @@server_id, "
        "@@binlog_annotate_row_events"
    )
    keys = ("log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata", "server_id", "annotate")
    return {k: str(v) for k, v in zip(keys, rows[0], strict=True)}


# -- MariaDB -------------------------------------------------------------------------------------------


def test_mariadb_has_the_binlog_settings(mariadb: MariaDBSandbox) -> None:
    assert binlog_vars(mariadb) == {
        "log_bin": "1",
        "binlog_format": "ROW",
        "binlog_row_image": "FULL",
        "binlog_row_metadata": "FULL",
        "server_id": "1",
        "annotate": "0",
    }
    assert mariadb.execute("SELECT @@bind_address, @@port") == [("127.0.0.1", mariadb.port)]


def test_replication_user_sees_master_status_move(mariadb: MariaDBSandbox, fresh_db: str) -> None:
    with contextlib.closing(mariadb.connect(user=mariadb.user)) as conn, conn.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        file_before, pos_before = cur.fetchone()[:2]
        mariadb.execute(
            "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))", "INSERT INTO t VALUES (1, 'a')", database=fresh_db
        )
        cur.execute("SHOW MASTER STATUS")
        file_after, pos_after = cur.fetchone()[:2]
    assert file_before.startswith("mysql-bin.")
    assert (file_after, pos_after) == mariadb.master_status()
    assert (file_after, pos_after) > (file_before, pos_before)
    # the replication user is not an admin
    with (
        contextlib.closing(mariadb.connect(user=mariadb.user)) as conn,
        conn.cursor() as cur,
        pytest.raises(pymysql.err.OperationalError) as err,
    ):
        cur.execute(f"DROP DATABASE `{fresh_db}`")
    assert err.value.args[0] == 1044


def test_fresh_db_is_empty_and_unique(mariadb: MariaDBSandbox, fresh_db: str) -> None:
    assert mariadb.execute(f"SHOW TABLES FROM `{fresh_db}`") == []
    assert mariadb.execute(f"SHOW DATABASES LIKE '{fresh_db}'") == [(fresh_db,)]


@pytest.mark.parametrize(("row_image", "server_id"), [("MINIMAL", 2), ("NOBLOB", 3)])
def test_mariadb_row_image_and_server_id(
    mariadb: MariaDBSandbox, mariadb_factory: Callable[..., MariaDBSandbox], row_image: str, server_id: int
) -> None:
    other = mariadb_factory(row_image=row_image, server_id=server_id)
    assert other.port != mariadb.port
    got = binlog_vars(other)
    assert (got["binlog_row_image"], got["server_id"], got["log_bin"]) == (row_image, str(server_id), "1")
    assert binlog_vars(mariadb)["server_id"] == "1"  # the session server is untouched and still up
    with contextlib.closing(other.connect(user=other.user)) as conn, conn.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        assert cur.fetchone()[0].startswith("mysql-bin.")


def test_mariadb_factory_passes_extra_options(mariadb_factory: Callable[..., MariaDBSandbox]) -> None:
    sandbox = mariadb_factory(extra={"max_connections": 17})
    assert sandbox.running
    assert sandbox.execute("SELECT @@max_connections") == [(17,)]


def test_mariadb_bad_options_are_rejected() -> None:
    with pytest.raises(SandboxError, match="row_image='WIDE'"):
        MariaDBSandbox(row_image="WIDE")
    with pytest.raises(SandboxError, match="server_id=0"):
        MariaDBSandbox(server_id=0)
    assert MariaDBSandbox(row_image="minimal").row_image == "MINIMAL"


def test_mariadb_missing_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    sandbox = MariaDBSandbox()
    with pytest.raises(SandboxError, match=r"mariadbd was not found.*apt-get install mariadb-server"):
        sandbox.start()
    assert sandbox.basedir is None and not sandbox.running


# -- ZooKeeper -----------------------------------------------------------------------------------------


def test_zookeeper_standalone_serves_kazoo(zookeeper: ZooKeeperSandbox) -> None:
    assert zookeeper.mode() == "standalone"
    assert zookeeper.address == f"127.0.0.1:{zookeeper.port}"
    with kazoo(zookeeper.hosts) as zk:
        zk.create("/sandbox-test/a", b"hello", makepath=True)
        data, stat = zk.get("/sandbox-test/a")
        zk.delete("/sandbox-test", recursive=True)
    assert (data, stat.version) == (b"hello", 0)


def test_ensemble_has_one_leader_and_survives_restart_all(zk_ensemble: ZooKeeperEnsemble) -> None:
    modes = sorted(str(node.mode()) for node in zk_ensemble.nodes)
    assert modes == ["follower", "follower", "leader"]
    leader = zk_ensemble.leader()
    assert leader is not None and leader.mode() == "leader"
    assert zk_ensemble.hosts.split(",") == [n.address for n in zk_ensemble.nodes]
    with kazoo(zk_ensemble.hosts) as zk:
        zk.create("/kept", b"v1")
    new_leader = zk_ensemble.restart_all()
    assert new_leader.mode() == "leader"
    assert sorted(str(n.mode()) for n in zk_ensemble.nodes) == ["follower", "follower", "leader"]
    with kazoo(zk_ensemble.hosts) as zk:
        assert zk.get("/kept")[0] == b"v1"


def test_ensemble_elects_new_leader_when_leader_dies(zk_ensemble: ZooKeeperEnsemble) -> None:
    old = zk_ensemble.leader()
    assert old is not None
    with kazoo(zk_ensemble.hosts) as zk:
        zk.create("/survivor", b"before")
        old.kill()
        assert not old.running and old.mode() is None
        new = wait_for(zk_ensemble.leader, timeout=10, message="a new leader after killing the old one")
        assert new is not old and new.running
        assert len(zk_ensemble.followers()) == 1
        # the client may not have noticed its server dropping it yet: retry on connection loss
        assert zk.retry(zk.get, "/survivor")[0] == b"before"
        zk.retry(zk.set, "/survivor", b"after")  # two of three nodes still make a quorum for writes
        assert zk.state == KazooState.CONNECTED
    old.start(timeout=15)  # the dead node rejoins as a follower, keeping its data dir
    assert old.mode() == "follower"
    with kazoo(old.hosts) as zk:
        assert wait_for(lambda: zk.get("/survivor")[0] == b"after", timeout=5)


def test_paused_server_suspends_the_session_and_recovers_after_resume() -> None:
    states: list[str] = []
    with ZooKeeperSandbox() as server, kazoo(server.hosts, timeout=2.0) as zk:
        zk.add_listener(states.append)
        zk.create("/owner", b"me", ephemeral=True)
        session_id = zk.client_id[0]
        session_timeout = zk._session_timeout / 1000.0  # negotiated; the server clamps it to 2..20 ticks
        assert session_timeout <= 2.0

        server.pause()
        paused_at = time.monotonic()
        assert server.paused and server.mode(timeout=0.3) is None
        wait_for(lambda: KazooState.SUSPENDED in states, timeout=5, message="kazoo SUSPENDED")
        assert KazooState.LOST not in states  # a frozen server cannot expire anything
        # The freeze must outlast the session timeout: that is the condition under test, not a settle delay.
        time.sleep(max(0.0, paused_at + session_timeout + 0.5 - time.monotonic()))
        assert KazooState.LOST not in states and zk.state == KazooState.SUSPENDED
        server.resume()

        wait_for(
            lambda: states[-1] == KazooState.CONNECTED,
            timeout=10,
            message=lambda: f"kazoo to reconnect (states {states})",
        )
        # On resume the server's expiry thread races the client's queued reconnect (it sat in the
        # listen backlog): usually the session expires (LOST, as production sees it), sometimes the
        # reconnect revalidates it first. Either way the client's view must be consistent.
        if KazooState.LOST in states:
            assert states[states.index(KazooState.SUSPENDED) :] == ["SUSPENDED", "LOST", "CONNECTED"]
            assert zk.client_id[0] != session_id
            assert zk.exists("/owner") is None  # the ephemeral went with the old session
            zk.create("/owner", b"me-again", ephemeral=True)
        else:
            assert states[states.index(KazooState.SUSPENDED) :] == ["SUSPENDED", "CONNECTED"]
            assert zk.client_id[0] == session_id
            assert zk.get("/owner")[0] == b"me"
            zk.set("/owner", b"me-again")
        assert zk.get("/owner")[0] == b"me-again"
        assert server.mode() == "standalone"


def test_zookeeper_missing_java_or_jar_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SandboxError, match=r"ZooKeeper jar /nonexistent/zk\.jar was not found.*apt-get"):
        ZooKeeperSandbox(jar="/nonexistent/zk.jar").start()
    with pytest.raises(SandboxError, match="java was not found"):
        ZooKeeperSandbox(java="/nonexistent/java").start()
    with pytest.raises(SandboxError, match="ZooKeeper jar"):
        ZooKeeperEnsemble(jar="/nonexistent/zk.jar").__enter__()
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    sandbox = ZooKeeperSandbox()
    with pytest.raises(SandboxError, match=r"java was not found.*not on PATH"):
        sandbox.start()
    assert sandbox.basedir is None and not sandbox.running


def test_zookeeper_that_exits_is_reported_with_its_log() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        sandbox = ZooKeeperSandbox(port=busy.getsockname()[1])
        with pytest.raises(SandboxError, match=r"(?s)exited with 1.*BindException"):
            sandbox.__enter__()
    assert not sandbox.running and sandbox.basedir is None
