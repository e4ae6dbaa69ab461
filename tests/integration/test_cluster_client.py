"""ClusterConnector against a real ZooKeeper and real pycanal servers (run_server on threads).

The tests write the server running node themselves (canal's ServerRunningData JSON) to point the client at
one server and then another; the servers here keep their cursors in meta.dat, so a "switch" with cursor
hand-over stops the first server (flushing meta.dat) and starts the second on the same conf dir.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

from helpers import wait_for
from instance_helpers import rows_of, write_conf
from pycanal.client import Message
from pycanal.client.cluster import ClusterConnector
from pycanal.errors import (
    BatchNotFound,
    CanalConnectionError,
    ClientNotActive,
    LocalProtocolError,
    ServerNotFound,
    ZooKeeperUnavailable,
)
from pycanal.ha import paths
from pycanal.ha.client_running import ClientRunningMonitor
from pycanal.ha.data import ClientRunningData, ServerRunningData, parse_client_running
from pycanal.sandbox.zookeeper import free_ports
from pycanal.server.main import run_server
from pycanal.server.tcp import CanalTcpServer

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"


class ServerThread:
    """``run_server`` on a thread with the given conf dir, stopped on purpose."""

    def __init__(self, conf: str, overrides: dict[str, str] | None = None) -> None:
        self.conf = conf
        self.overrides = {
            "canal.port": "0",
            "canal.auto.scan": "false",
            "canal.instance.memory.batch.mode": "ITEMSIZE",
            **(overrides or {}),
        }
        self.port = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failure: list[BaseException] = []

    def start(self) -> ServerThread:
        ready = threading.Event()

        def on_ready(server: CanalTcpServer) -> None:
            self.port = server.port
            ready.set()

        def run() -> None:
            try:
                run_server(self.conf, self.overrides, ready=on_ready, stop=self._stop)
            except BaseException as exc:
                self._failure.append(exc)
                ready.set()

        self._thread = threading.Thread(target=run, name="test-canal-server", daemon=True)
        self._thread.start()
        assert ready.wait(20), "the server did not come up within 20 s"
        if self._failure:
            raise self._failure[0]
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(20)
        assert not self._thread.is_alive(), "the server did not stop within 20 s"
        self._thread = None


class Env:
    """A fresh database with table t, a unique destination, a ZooKeeper admin session, servers to start."""

    def __init__(self, mariadb, db: str, zookeeper, admin: KazooClient, tmp_path: Path) -> None:
        self.mariadb, self.db, self.zookeeper, self.admin, self.tmp_path = mariadb, db, zookeeper, admin, tmp_path
        self.dest = f"d{uuid.uuid4().hex[:10]}"
        self.next_id = 0
        self.servers: list[ServerThread] = []
        self.connectors: list[ClusterConnector] = []
        mariadb.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")

    def conf(self, name: str) -> str:
        """A conf dir whose instance starts at the binlog end now."""
        journal, position = self.mariadb.master_status()
        return write_conf(
            self.tmp_path / name,
            self.mariadb.port,
            self.dest,
            canal__instance__filter__regex=f"{self.db}\\\\..*",
            canal__instance__master__journal__name=journal,
            canal__instance__master__position=position,
        )

    def server(self, conf: str, overrides: dict[str, str] | None = None) -> ServerThread:
        s = ServerThread(conf, overrides)
        self.servers.append(s)
        return s.start()

    def insert(self, n: int) -> list[str]:
        """n single-row transactions (three entries each in ITEMSIZE mode); their ids."""
        ids = [str(i) for i in range(self.next_id, self.next_id + n)]
        self.next_id += n
        self.mariadb.execute(*(f"INSERT INTO `{self.db}`.t VALUES ({i})" for i in ids))
        return ids

    def point_running(self, port: int) -> None:
        """Write the server running node as a canal server would (ephemeral, canal's JSON)."""
        path = paths.destination_server_running(self.dest)
        data = ServerRunningData(f"{HOST}:{port}").to_bytes()
        try:
            self.admin.set(path, data)
        except NoNodeError:
            self.admin.create(path, data, ephemeral=True, makepath=True)

    def client_running(self) -> ClientRunningData:
        raw, _ = self.admin.get(paths.destination_client_running(self.dest, 1001))
        return parse_client_running(raw)

    def connector(self, zk: str | KazooClient | None = None, **kw: object) -> ClusterConnector:
        kw = {
            "so_timeout": 5.0,
            "retry_interval": 0.05,
            "max_retry_interval": 0.5,
            "retry_times": 10,
            "running_delay": 0.2,
            "zk_session_timeout": 4.0,
            "zk_connect_timeout": 5.0,
            **kw,
        }
        c = ClusterConnector(zk or self.zookeeper.hosts, self.dest, **kw)  # type: ignore[arg-type]
        self.connectors.append(c)
        return c

    def close(self) -> None:
        for c in self.connectors:
            c.disconnect()
        for s in self.servers:
            s.stop()


@pytest.fixture
def admin(zookeeper) -> Iterator[KazooClient]:
    zk = KazooClient(hosts=zookeeper.hosts, timeout=10.0)
    zk.start(timeout=10)
    try:
        yield zk
    finally:
        zk.stop()
        zk.close()


@pytest.fixture
def env(mariadb, fresh_db, zookeeper, admin, tmp_path) -> Iterator[Env]:
    e = Env(mariadb, fresh_db, zookeeper, admin, tmp_path)
    try:
        yield e
    finally:
        e.close()


def ids(msg: Message) -> list[str]:
    return [r[3]["id"] for r in rows_of(msg.raw)]


def collect(c: ClusterConnector, n: int, timeout: float = 15.0) -> list[str]:
    """get (with ack) until n rows arrived; their ids in order."""
    got: list[str] = []
    wait_for(
        lambda: got.extend(ids(c.get(30, 200))) or len(got) >= n, timeout, message=lambda: f"{len(got)} of {n} rows"
    )
    return got


# ------------------------------------------------------------------------------------------------ server switch


def test_follows_the_running_server_and_resumes_after_the_last_ack(env):
    conf = env.conf("shared")
    a = env.server(conf)
    env.point_running(a.port)
    c = env.connector()
    c.connect()
    c.subscribe()
    assert c.address == (HOST, a.port) and c.running_address == (HOST, a.port)
    first = env.insert(4)
    assert collect(c, 4) == first
    pending = env.insert(3)
    unacked = c.get_without_ack(9, 5000)  # ITEMSIZE: three transactions of three entries
    assert ids(unacked) == pending

    # failover: the first server goes away (flushing its cursor), the second takes the running node
    a.stop()
    b = env.server(conf)
    env.point_running(b.port)
    later = env.insert(2)
    assert collect(c, 5) == pending + later  # the unacked batch again, nothing acked twice, nothing lost
    assert c.address == (HOST, b.port)
    with pytest.raises(BatchNotFound, match="voided"):
        c.ack(unacked.batch_id)  # the reconnect's rollback voided it: its data was delivered again


def test_starts_on_a_cluster_server_and_switches_when_the_running_node_moves(env):
    a = env.server(env.conf("a"))
    env.admin.create(paths.destination_cluster_node(env.dest, f"{HOST}:{a.port}"), ephemeral=True, makepath=True)
    with env.connector() as c:
        c.subscribe()
        assert c.running_address is None and c.address == (HOST, a.port)  # canal's lazy start via the list
        first = env.insert(3)
        assert collect(c, 3) == first
        b = env.server(env.conf("b"))  # starts where the client's cursor is now
        env.point_running(b.port)
        wait_for(lambda: c.running_address == (HOST, b.port), 5)
        later = env.insert(2)
        assert collect(c, 2) == later
        # server a still runs and has the same rows: only a switch on the watch moves the client to b
        assert c.address == (HOST, b.port)


def test_follows_pycanal_server_ha_and_resumes_from_the_zookeeper_cursor(env):
    """No hand-written running node: two HA servers elect one, keep the cursor in ZooKeeper, and the second
    takes over when the first stops (after canal.zookeeper.running.delay)."""
    conf = env.conf("ha")
    ports = free_ports(2)

    def ha(port: int) -> dict[str, str]:
        return {
            "canal.zkServers": env.zookeeper.hosts,
            "canal.port": str(port),
            "canal.register.ip": HOST,
            "canal.instance.global.spring.xml": "classpath:spring/default-instance.xml",
            "canal.zookeeper.flush.period": "200",
            "canal.zookeeper.running.delay": "500",
            "canal.zookeeper.session.timeout": "4000",
        }

    a = env.server(conf, ha(ports[0]))
    wait_for(lambda: env.admin.exists(paths.destination_server_running(env.dest)), 10)
    b = env.server(conf, ha(ports[1]))
    with env.connector() as c:
        c.subscribe()
        assert c.address == (HOST, ports[0]) and c.running_address == (HOST, ports[0])
        first = env.insert(3)
        assert collect(c, 3) == first
        pending = env.insert(2)
        assert ids(c.get_without_ack(6, 5000)) == pending  # not acked when the first server goes

        a.stop()  # releases the running node and flushes the cursor; b contends after 0.5 s
        wait_for(lambda: c.running_address == (HOST, ports[1]), 10)
        later = env.insert(1)
        assert collect(c, 3) == pending + later
        assert c.address == (HOST, ports[1])
    b.stop()


# ------------------------------------------------------------------------------------------------ client HA


def test_one_active_client_per_client_id_and_the_standby_takes_over(env, zookeeper):
    a = env.server(env.conf("a"))
    env.point_running(a.port)
    zk1 = KazooClient(hosts=zookeeper.hosts, timeout=4.0)
    zk1.start(timeout=10)
    try:
        c1 = env.connector(zk1, active_timeout=0.3)
        c1.connect()
        c1.subscribe()
        c2 = env.connector(active_timeout=0.3)
        c2.connect()  # standby: returns at once
        assert c1.is_active and not c2.is_active and not c2.check_valid()
        assert env.client_running() == ClientRunningData(1001, c1.local_address)  # canal's ip:port rewrite
        first = env.insert(2)
        assert collect(c1, 2) == first
        with pytest.raises(ClientNotActive, match="is standby"):
            c2.get(10)
        pending = env.insert(2)
        assert ids(c1.get_without_ack(6, 5000)) == pending  # unacked when c1 dies

        zk1.stop()  # c1's process "dies": its session ends, the ephemeral node with it
        assert c2.wait_active(10)
        wait_for(lambda: not c1.is_active, 5)
        with pytest.raises(ClientNotActive):
            c1.get(10)
        later = env.insert(1)
        assert collect(c2, 3) == pending + later
        assert env.client_running() == ClientRunningData(1001, c2.local_address)

        c3 = env.connector()
        c3.connect()
        assert not c3.is_active
        c2.disconnect()  # graceful: releases the node
        assert c3.wait_active(10)
        more = env.insert(1)
        assert collect(c3, 1) == more

        # a standby call waits as long as it takes (canal), but disconnect() ends the wait at once
        c4 = env.connector()
        c4.connect()
        outcome: list[object] = []

        def wait_in_get() -> None:
            try:
                outcome.append(c4.get(10))
            except CanalConnectionError as exc:
                outcome.append(exc)

        waiter = threading.Thread(target=wait_in_get)
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive()
        c4.disconnect()
        waiter.join(5)
        assert not waiter.is_alive() and isinstance(outcome[0], CanalConnectionError)
        assert "the connector was disconnected" in str(outcome[0])
    finally:
        for c in env.connectors:
            c.disconnect()
        zk1.close()


def test_a_suspended_client_hands_out_nothing_until_zookeeper_is_back(env, zookeeper):
    a = env.server(env.conf("a"))
    env.point_running(a.port)
    c = env.connector(zk_session_timeout=4.0)
    c.connect()
    c.subscribe()
    first = env.insert(1)
    assert collect(c, 1) == first
    result: dict[str, object] = {}

    def fetch() -> None:
        try:
            result["msg"] = c.get_without_ack(3, 10_000)  # waits on the server for one transaction
            result["at"] = time.monotonic()
        except BaseException as exc:
            result["error"] = exc

    fetcher = threading.Thread(target=fetch, daemon=True)
    fetcher.start()
    zookeeper.pause()
    try:
        wait_for(lambda: not c.is_active, 8, message="the client to notice ZooKeeper is gone (SUSPENDED)")
        row = env.insert(1)  # the server hands it to the waiting get, the connector must not
        fetcher.join(1.0)
        assert fetcher.is_alive(), f"a batch was handed out while not active: {result}"
    finally:
        resumed = time.monotonic()  # before resume(): the client may be back before that call returns
        zookeeper.resume()
    fetcher.join(20)
    assert not fetcher.is_alive() and "error" not in result, result
    msg = result["msg"]
    assert isinstance(msg, Message) and ids(msg) == row and result["at"] >= resumed
    c.ack(msg.batch_id)
    assert c.is_active and c.get(30).is_empty


# ------------------------------------------------------------------------------------------------ clear errors


def test_unreachable_zookeeper_is_a_clear_error():
    (port,) = free_ports(1)
    c = ClusterConnector(f"{HOST}:{port}", "example", zk_connect_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(ZooKeeperUnavailable, match=f"ZooKeeper {HOST}:{port} is unreachable: no connection within 1s"):
        c.connect()
    assert time.monotonic() - started < 5
    assert not c.check_valid()
    with pytest.raises(LocalProtocolError, match="not connected"):
        c.get(10)


def test_unreachable_servers_are_a_clear_error_after_the_retries(zookeeper, admin):
    dest = f"d{uuid.uuid4().hex[:10]}"
    dead = free_ports(3)
    client_node = paths.destination_client_running(dest, 1001)
    kw = {"retry_times": 2, "retry_interval": 0.05, "so_timeout": 2.0, "zk_session_timeout": 4.0}

    # nothing in ZooKeeper for the destination
    with pytest.raises(ServerNotFound, match=f"gave up after 3 attempt.*no alive canal server for {dest}"):
        ClusterConnector(zookeeper.hosts, dest, **kw).connect()

    # only dead servers in the cluster list
    for port in dead[:2]:
        admin.create(paths.destination_cluster_node(dest, f"{HOST}:{port}"), ephemeral=True, makepath=True)
    with pytest.raises(CanalConnectionError, match="gave up after 3 attempt") as info:
        ClusterConnector(zookeeper.hosts, dest, **kw).connect()
    assert not isinstance(info.value, ServerNotFound)
    assert any(f"{HOST}:{port}" in str(info.value) for port in dead[:2])

    # a running node naming a dead server
    admin.create(
        paths.destination_server_running(dest), ServerRunningData(f"{HOST}:{dead[2]}").to_bytes(), ephemeral=True
    )
    started = time.monotonic()
    with pytest.raises(CanalConnectionError, match=f"gave up after 3 attempt.*{HOST}:{dead[2]}"):
        ClusterConnector(zookeeper.hosts, dest, **kw).connect()
    assert time.monotonic() - started < 5
    assert admin.exists(client_node) is None  # a failed connect leaves no client running node behind


# ------------------------------------------------------------------------------------------------ the monitor alone


class Sessions:
    """Started kazoo sessions, each stopped and closed at the end."""

    def __init__(self, hosts: str) -> None:
        self.hosts = hosts
        self.made: list[KazooClient] = []

    def new(self, **kw: object) -> KazooClient:
        zk = KazooClient(hosts=self.hosts, timeout=4.0, **kw)  # type: ignore[arg-type]
        self.made.append(zk)
        zk.start(timeout=10)
        return zk

    def close(self) -> None:
        for zk in self.made:
            zk.stop()
            zk.close()


@pytest.fixture
def sessions(zookeeper) -> Iterator[Sessions]:
    s = Sessions(zookeeper.hosts)
    try:
        yield s
    finally:
        s.close()


def monitor(zk: KazooClient, dest: str, events: list[str], name: str, delay: float) -> ClientRunningMonitor:
    return ClientRunningMonitor(
        zk,
        dest,
        1001,
        address=f"10.0.0.{name}",
        delay=delay,
        on_active=lambda: events.append(f"{name} active"),
        on_inactive=lambda: events.append(f"{name} inactive"),
    )


def test_monitor_releases_on_active_false_and_recontends_at_once_when_its_node_is_deleted(sessions, admin):
    dest = f"d{uuid.uuid4().hex[:10]}"
    path = paths.destination_client_running(dest, 1001)
    events: list[str] = []
    m1 = monitor(sessions.new(), dest, events, "1", delay=0.2)
    m2 = monitor(sessions.new(), dest, events, "2", delay=3.0)
    try:
        m1.start()
        m2.start()
        assert m1.active and not m2.active and m2.holder == ClientRunningData(1001, "10.0.0.1")
        assert parse_client_running(admin.get(path)[0]) == ClientRunningData(1001, "10.0.0.1")

        # someone deletes the node: its holder takes it back at once, the standby would wait 3 s
        admin.delete(path)
        wait_for(lambda: events == ["1 active", "1 inactive", "1 active"], 2, message=lambda: str(events))
        assert m1.active and not m2.active

        # canal's manual release: active=false written into the holder's node
        admin.set(path, ClientRunningData(1001, "10.0.0.1", active=False).to_bytes())
        wait_for(lambda: events[3:4] == ["1 inactive"], 2, message=lambda: str(events))
        # both contend again after their delay: the released one after 0.2 s, the other after 3 s
        wait_for(lambda: m1.active, 2)
        assert not m2.active
    finally:
        m1.stop()
        m2.stop()
    assert admin.exists(path) is None  # stop released it


def test_monitor_stops_on_session_expiry_and_contends_again(sessions, admin):
    dest = f"d{uuid.uuid4().hex[:10]}"
    events: list[str] = []
    zk = sessions.new()
    m = monitor(zk, dest, events, "1", delay=0.2)
    m.start()
    try:
        epoch = m.epoch
        # expire the session the way kazoo's test harness does: close it from a second client
        sessions.new(client_id=zk.client_id).stop()
        wait_for(lambda: events[1:2] == ["1 inactive"], 10, message=lambda: str(events))
        wait_for(lambda: m.active, 10)  # a new session, the node created again
        assert events == ["1 active", "1 inactive", "1 active"] and m.epoch >= epoch + 2
        _, stat = admin.get(paths.destination_client_running(dest, 1001))
        assert stat.ephemeralOwner == zk.client_id[0]
    finally:
        m.stop()
