"""Proof under faults: a 3-node ZooKeeper ensemble, two `pycanal server` processes on one destination, a
writer committing a row every 15 ms and a ClusterConnector consumer (client 1001).

In every scenario each committed row arrives at least once and first occurrences follow the binlog; the
failover time and the repeated rows are printed (run with -s to see them). Servers run with a 1 s running
delay and a 4 s ZooKeeper session timeout.
"""

from __future__ import annotations

import itertools
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from kazoo.client import KazooClient

from ha_helpers import (
    Cluster,
    ConsumerProc,
    ServerProc,
    check_delivery,
    connector,
    kill_running,
    make_destination,
    release_running,
    running,
    wait_until,
)
from pycanal.client.simple import SimpleConnector
from pycanal.errors import CanalServerError
from pycanal.ha import admin
from pycanal.sandbox import ZooKeeperSandbox, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@contextmanager
def kazoo(hosts: str) -> Iterator[KazooClient]:
    zk = KazooClient(hosts=hosts, timeout=10)
    zk.start(15)
    try:
        yield zk
    finally:
        zk.stop()
        zk.close()


@contextmanager
def cluster(mariadb, db: str, zk_ensemble, tmp_path) -> Iterator[Cluster]:
    with kazoo(zk_ensemble.hosts) as zk:
        c = Cluster(mariadb, db, zk_ensemble.hosts, tmp_path, zk)
        try:
            c.start()
            yield c
        finally:
            c.close()


def report(name: str, seconds: float, repeats: int, rows: int) -> None:
    print(f"\n[ha-faults] {name}: failover {seconds:.2f}s, {repeats} repeated rows of {rows}")


@pytest.mark.parametrize("fault", ["kill -9", "release"])
def test_server_failover_delivers_everything_in_order(fault, mariadb, fresh_db, zk_ensemble, tmp_path):
    with cluster(mariadb, fresh_db, zk_ensemble, tmp_path) as c:
        old = running(c.zk, c.dest)
        if fault == "kill -9":
            t0, new = kill_running(c)
            since = t0
            assert new != old
        else:
            t0, new, since = release_running(c)
            assert c.server(old).alive()  # a release stops serving, not the process
        result = c.finish(t0, new, since=since)
        report(fault, result.seconds, result.repeats, result.rows)
        assert result.seconds >= 0.9  # nobody takes over before the running delay
        if fault == "kill -9":  # the session must expire first
            assert result.seconds >= 0.9 * 4
        assert result.repeats < result.rows


def test_suspended_server_is_fenced_after_it_resumes(mariadb, fresh_db, zk_ensemble, tmp_path):
    """SIGSTOP past the session timeout: the other server takes over; after SIGCONT the old one stays
    standby, refuses clients and delivers nothing more."""
    with cluster(mariadb, fresh_db, zk_ensemble, tmp_path) as c:
        old_addr = running(c.zk, c.dest)
        old = c.server(old_addr)
        new_addr = next(s.address for s in c.servers if s is not old)
        t0 = time.time()
        old.signal(signal.SIGSTOP)
        try:
            wait_until(lambda: running(c.zk, c.dest) == new_addr, 20, "the other server to take over")
        finally:
            old.signal(signal.SIGCONT)
        resumed = time.time()
        # the old server's session expired while it was stopped: it comes back as a standby candidate
        wait_until(
            lambda: old_addr in admin.destination_status(c.zk, c.dest).candidates,
            20,
            f"the old server to register again: {old.log()[-1500:]}",
        )
        result = c.finish(t0, new_addr)
        assert old.alive()
        status = admin.destination_status(c.zk, c.dest)
        assert status.running is not None and status.running.address == new_addr and status.running.active
        late = [(i, a) for i, t, a in c.consumer.received.rows if t > resumed + 1.0 and a == old_addr]
        assert late == []  # the consumer got nothing from the fenced server once it resumed
        probe = SimpleConnector("127.0.0.1", old.port, c.dest, rollback_on_connect=False, reconnect=False)
        probe.connect()
        try:
            with pytest.raises(CanalServerError, match="should start first"):
                probe.subscribe()
        finally:
            probe.disconnect()
        report("SIGSTOP", result.seconds, result.repeats, result.rows)
        assert result.seconds >= 0.9 * 4


@pytest.mark.parametrize("fault", ["leader kill", "restart all"])
def test_zookeeper_faults_lose_nothing(fault, mariadb, fresh_db, zk_ensemble, tmp_path):
    """The ensemble loses its leader (a new one is elected) or restarts whole: serving pauses while the
    servers' sessions are suspended and resumes; nothing is lost or reordered."""
    with cluster(mariadb, fresh_db, zk_ensemble, tmp_path) as c:
        rec = c.consumer.received
        t0 = time.time()
        if fault == "leader kill":
            leader = wait_until(zk_ensemble.leader, 10, "a leader")
            leader.kill()
            wait_until(
                lambda: any(n.mode(timeout=0.5) == "leader" for n in zk_ensemble.nodes if n is not leader),
                30,
                "a new leader",
            )
        else:
            zk_ensemble.restart_all()
        holder = wait_until(lambda: running(c.zk, c.dest), 30, "a server to run the destination")
        result = c.finish(t0, holder)
        times = [t0] + [t for _, t, _a in rec.rows if t > t0]
        outage = max(b - a for a, b in itertools.pairwise(times))  # the longest delivery gap
        report(f"{fault} (longest delivery gap)", outage, result.repeats, result.rows)
        assert all(s.alive() for s in c.servers)


def test_kill_minus_9_of_the_active_client(mariadb, fresh_db, zk_ensemble, tmp_path):
    """Two consumer processes share client 1001: the active one is killed; the standby takes over from the
    acked cursor and everything committed arrives (across both) in order."""
    with kazoo(zk_ensemble.hosts) as zk:
        c = Cluster(mariadb, fresh_db, zk_ensemble.hosts, tmp_path, zk)
        consumers: list[ConsumerProc] = []
        try:
            a = ServerProc(c.conf, c.zk_hosts, tmp_path / "a.log")
            c.servers.append(a)
            wait_until(lambda: running(zk, c.dest) == a.address, 30, f"A to run it: {a.log()[-1500:]}")
            first = ConsumerProc(c.zk_hosts, c.dest, tmp_path / "c1.txt")
            consumers.append(first)
            wait_until(first.started, 20, "the first consumer")
            from ha_helpers import Writer

            c.writer = Writer(mariadb, fresh_db)
            c.writer.start()
            wait_until(lambda: len(first.rows()) >= 20, 20, "the first consumer to receive")
            second = ConsumerProc(c.zk_hosts, c.dest, tmp_path / "c2.txt")
            consumers.append(second)
            wait_until(second.started, 20, "the standby consumer")
            assert wait_until(lambda: len(first.rows()) >= 60, 20, "more rows") and second.rows() == []
            t0 = time.time()
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(10)
            took = wait_until(lambda: second.rows() and second.rows()[0][1] - t0, 30, "the standby to receive")
            mark = c.writer.committed
            wait_until(lambda: c.writer.committed >= mark + 30, 10, "more rows written")
            committed = c.writer.stop()
            wait_until(
                lambda: {i for i, _ in first.rows() + second.rows()} >= set(range(committed)),
                30,
                "all rows across both consumers",
            )
            repeats = check_delivery([i for i, _ in first.rows()] + [i for i, _ in second.rows()], committed)
            # the standby starts at or before the first row the killed one did not ack
            assert second.rows()[0][0] <= max(i for i, _ in first.rows()) + 1
            report("client kill -9", took, repeats, committed)
            assert took >= 0.5  # the standby waits its running delay
        finally:
            for p in consumers:
                p.stop()
            c.close()


def test_zookeeper_unreachable_at_server_start(mariadb, fresh_db, tmp_path):
    """The server process starts with ZooKeeper down: it logs a clear error, keeps retrying without
    crashing, and runs the destination once ZooKeeper comes up."""
    dest, conf = make_destination(mariadb, fresh_db, tmp_path)
    zk_port = free_port()
    hosts = f"127.0.0.1:{zk_port}"
    server = ServerProc(conf, hosts, tmp_path / "s.log")
    sandbox = None
    try:
        wait_until(lambda: "is unreachable" in server.log(), 20, "the unreachable error")
        assert hosts in server.log() and server.alive()
        probe = SimpleConnector("127.0.0.1", server.port, dest, rollback_on_connect=False, reconnect=False)
        wait_until(lambda: _connects(probe), 10, "the TCP port")
        try:
            with pytest.raises(CanalServerError, match="should start first"):
                probe.subscribe()
        finally:
            probe.disconnect()
        sandbox = ZooKeeperSandbox(port=zk_port).start()
        with kazoo(sandbox.hosts) as zk:
            wait_until(lambda: running(zk, dest) == server.address, 30, f"the server to run it: {server.log()[-1500:]}")
        mariadb.execute(*(f"INSERT INTO `{fresh_db}`.t VALUES ({i})" for i in range(5)))
        conn = connector(sandbox.hosts, dest)
        conn.connect()
        try:
            conn.subscribe()
            got: list[int] = []
            deadline = time.monotonic() + 20
            while len(got) < 5 and time.monotonic() < deadline:
                msg = conn.get(100, 300)
                from instance_helpers import rows_of

                got += [int(r[3]["id"]) for r in rows_of(msg.raw) if r[0] == "INSERT"]
            assert got == [0, 1, 2, 3, 4]
        finally:
            conn.disconnect()
        assert server.alive()
    finally:
        server.stop()
        if sandbox is not None:
            sandbox.cleanup()


def _connects(probe: SimpleConnector) -> bool:
    try:
        probe.connect()
        return True
    except OSError:
        return False
