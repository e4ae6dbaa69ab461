"""Server HA through a real ZooKeeper: election, takeover with the ZooKeeper cursor, release, move, fencing.

Two CanalControllers (or one in a child process, for kill -9) share one destination on the session MariaDB.
Timings are shortened through pycanal's keys: 1 s takeover delay, 4 s session timeout, 300 ms cursor flush.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from helpers import wait_for
from instance_helpers import drain, rows_of, write_conf
from pycanal.client.simple import SimpleConnector
from pycanal.errors import (
    BatchOrderError,
    CanalServerError,
    HAError,
    InstanceNotStarted,
    MetaError,
    ZooKeeperUnavailable,
)
from pycanal.ha import admin, paths
from pycanal.ha.running import ZooKeeperHA
from pycanal.meta.zookeeper import ZooKeeperMetaManager
from pycanal.model import ClientIdentity, EntryPosition, LogIdentity, LogPosition
from pycanal.sandbox import ZooKeeperSandbox
from pycanal.sandbox.zookeeper import free_ports
from pycanal.server.controller import CanalController
from pycanal.server.main import run_server
from pycanal.store.range import PositionRange

pytestmark = pytest.mark.integration

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DELAY_S = 1.0
CURSOR_JSON = re.compile(
    rb'\{"@type":"com\.alibaba\.otter\.canal\.protocol\.position\.LogPosition","identity":\{"slaveId":-1,'
    rb'"sourceAddress":\{"address":"127\.0\.0\.1","port":\d+\}\},"postion":\{("gtid":"[^"]*",)?"included":false,'
    rb'"journalName":"[^"]+","position":\d+,"serverId":1,"timestamp":\d+\}\}'
)


@contextmanager
def kazoo(hosts: str) -> Iterator[KazooClient]:
    zk = KazooClient(hosts=hosts, timeout=10)
    zk.start(10)
    try:
        yield zk
    finally:
        zk.stop()
        zk.close()


def setup_destination(mariadb, db: str, tmp_path) -> tuple[str, str]:
    """A fresh destination name and its conf dir, starting at the current binlog end (so nothing is lost
    before the first cursor is flushed)."""
    dest = f"ha_{uuid.uuid4().hex[:8]}"
    mariadb.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")
    journal, position = mariadb.master_status()
    conf = write_conf(
        tmp_path,
        mariadb.port,
        dest,
        canal__instance__filter__regex=f"{db}\\\\.t",
        canal__instance__master__journal__name=journal,
        canal__instance__master__position=str(position),
    )
    return dest, conf


def ha_overrides(hosts: str, port: int, **extra: str) -> dict[str, str]:
    return {
        "canal.zkServers": hosts,
        "canal.port": str(port),
        "canal.register.ip": "127.0.0.1",
        "canal.instance.global.spring.xml": "classpath:spring/default-instance.xml",
        "canal.zookeeper.flush.period": "300",
        "canal.zookeeper.running.delay": str(int(DELAY_S * 1000)),
        "canal.zookeeper.session.timeout": "4000",
        "canal.auto.scan": "false",
        **extra,
    }


def insert(mariadb, db: str, ids: range) -> None:
    for i in ids:
        mariadb.execute(f"INSERT INTO `{db}`.t VALUES ({i})")  # one transaction each


def ids_of(rows) -> list[int]:
    return [int(r[3]["id"]) for r in rows if r[0] == "INSERT"]


def running_bytes(zk: KazooClient, dest: str) -> bytes | None:
    node = zk.exists(paths.destination_server_running(dest))
    return None if node is None else zk.get(paths.destination_server_running(dest))[0]


def zk_cursor(zk: KazooClient, dest: str) -> bytes | None:
    path = paths.cursor_path(dest, 1001)
    return zk.get(path)[0] if zk.exists(path) else None


# ------------------------------------------------------------------------------------------------------


def test_one_server_runs_it_the_other_takes_over_from_the_zk_cursor(mariadb, fresh_db, zookeeper, tmp_path):
    dest, conf = setup_destination(mariadb, fresh_db, tmp_path)
    pa, pb = free_ports(2)
    a = CanalController(conf, overrides=ha_overrides(zookeeper.hosts, pa), environ={})
    b = CanalController(conf, overrides=ha_overrides(zookeeper.hosts, pb), environ={})
    ident = ClientIdentity(dest, 1001)
    with kazoo(zookeeper.hosts) as zk:
        try:
            a.start()
            wait_for(lambda: a.embedded.is_start(dest), 15)
            b.start()
            wait_for(lambda: zk.exists(paths.destination_cluster_node(dest, f"127.0.0.1:{pb}")), 10)
            # exactly one runs it: canal's running node names A, B only watches
            assert running_bytes(zk, dest) == b'{"active":true,"address":"127.0.0.1:%d"}' % pa
            assert not b.embedded.is_start(dest) and not b.instances
            assert sorted(zk.get_children(paths.CANAL_CLUSTER_ROOT_NODE)) >= sorted(
                [f"127.0.0.1:{pa}", f"127.0.0.1:{pb}"]
            )
            with pytest.raises(InstanceNotStarted, match="should start first"):
                b.embedded.subscribe(ident)

            a.embedded.subscribe(ident)
            # written by the meta manager's background task, as canal's PeriodMixedMetaManager does
            wait_for(lambda: "1001" in zk.get_children(paths.destination_path(dest)), 5)
            insert(mariadb, fresh_db, range(1, 5))
            assert ids_of(drain(a.embedded, ident, 4)) == [1, 2, 3, 4]
            cursor = a.instances[dest].meta_manager.get_cursor(ident)
            raw = wait_for(
                lambda: zk_cursor(zk, dest) == cursor.dumps(with_type=True).encode() and zk_cursor(zk, dest),
                5,
                message="A's cursor flushed to ZooKeeper",
            )
            assert CURSOR_JSON.fullmatch(raw), raw  # canal's bytes: @type first, alphabetical, `postion`
            assert LogPosition.loads(raw) == cursor

            insert(mariadb, fresh_db, range(5, 7))
            assert ids_of(drain(a.embedded, ident, 2)) == [5, 6]  # acked, maybe not flushed yet
            last = a.instances[dest].meta_manager.get_cursor(ident)
            t0 = time.monotonic()
            a.stop()  # graceful: serving stops, the cursor is flushed, then the node is released
            assert not a.embedded.is_start(dest)
            assert zk_cursor(zk, dest) == last.dumps(with_type=True).encode()
            wait_for(lambda: b.embedded.is_start(dest), 10)
            took = time.monotonic() - t0
            assert took >= DELAY_S * 0.9, f"B took over after {took:.2f}s, before its {DELAY_S}s delay"
            assert running_bytes(zk, dest) == b'{"active":true,"address":"127.0.0.1:%d"}' % pb
            assert not zk.exists(paths.canal_cluster_node(f"127.0.0.1:{pa}"))

            p = last.position
            assert f"  client 1001: cursor {p.journal_name}:{p.position} at " in admin.admin_show(zookeeper.hosts, dest)
            b.embedded.subscribe(ident)  # as the client's reconnect does
            insert(mariadb, fresh_db, range(7, 9))
            assert ids_of(drain(b.embedded, ident, 2)) == [7, 8]  # from A's cursor: nothing again, nothing lost

            # canal's release signal (active=false): B stops serving and deletes the node; as the only
            # candidate it contends again after its delay and resumes where it was
            assert admin.release(zk, dest).address == f"127.0.0.1:{pb}"
            wait_for(lambda: not b.embedded.is_start(dest), 5)
            wait_for(lambda: b.embedded.is_start(dest), 10)
            b.embedded.subscribe(ident)
            insert(mariadb, fresh_db, range(9, 10))
            assert ids_of(drain(b.embedded, ident, 1)) == [9]
        finally:
            a.stop()
            b.stop()
        assert running_bytes(zk, dest) is None
        assert zk.get_children(paths.destination_cluster_root(dest)) == []
        assert zk_cursor(zk, dest) is not None  # the cursor outlives the servers


CHILD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
from instance_helpers import rows_of
from pycanal.model import ClientIdentity
from pycanal.protocol import entry as pb
from pycanal.server.controller import CanalController

conf, dest, out, overrides = sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
ctl = CanalController(conf, overrides=overrides, environ={})
ctl.start()
ident = ClientIdentity(dest, 1001)
while not ctl.embedded.is_start(dest):
    time.sleep(0.02)
ctl.embedded.subscribe(ident)
with open(out, "a") as f:
    f.write("START\n")
    f.flush()
    while True:
        msg = ctl.embedded.get_without_ack(ident, 50, timeout=200)
        if msg.batch_id == -1:
            continue
        lines = []
        for raw in msg.entries:  # every row, and every transaction end with its binlog position
            e = pb.Entry.FromString(raw)
            if e.entryType == pb.TRANSACTIONEND:
                lines.append(f"E {e.header.logfileName} {e.header.logfileOffset}")
            lines += [f"R {r[3]['id']}" for r in rows_of([raw]) if r[0] == "INSERT"]
        f.write("".join(x + "\n" for x in lines))
        f.flush()
        os.fsync(f.fileno())
        ctl.embedded.ack(ident, msg.batch_id)  # written before the ack: a kill in between is a real crash
"""


def _received(out: str) -> list[tuple[int, tuple[str, int] | None]]:
    """(row id, position of its transaction end, if that arrived) in arrival order."""
    rows: list[list] = []
    with open(out) as f:
        for line in f:
            kind, *rest = line.split()
            if kind == "R":
                rows.append([int(rest[0]), None])
            elif kind == "E":
                for r in rows:
                    if r[1] is None:
                        r[1] = (rest[0], int(rest[1]))
    return [(i, e) for i, e in rows]


def test_kill_minus_9_of_the_owner(mariadb, fresh_db, zookeeper, tmp_path):
    """The owner dies with acked cursors not yet flushed: the standby takes over once the session expired
    and its delay passed, and delivers exactly the rows after the last flushed cursor."""
    dest, conf = setup_destination(mariadb, fresh_db, tmp_path)
    pa, pb = free_ports(2)
    out = str(tmp_path / "a.txt")
    err = open(tmp_path / "a.err", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            TESTS_DIR,
            conf,
            dest,
            out,
            json.dumps(ha_overrides(zookeeper.hosts, pa, **{"canal.zookeeper.flush.period": "1000"})),
        ],
        stderr=err,
        stdout=subprocess.DEVNULL,
    )
    b = CanalController(conf, overrides=ha_overrides(zookeeper.hosts, pb), environ={})
    ident = ClientIdentity(dest, 1001)
    with kazoo(zookeeper.hosts) as zk:
        try:
            wait_for(
                lambda: os.path.exists(out) and "START" in Path(out).read_text(),
                30,
                message=lambda: f"the child to run {dest}: {(tmp_path / 'a.err').read_text()[-2000:]}",
            )
            b.start()
            wait_for(lambda: zk.exists(paths.destination_cluster_node(dest, f"127.0.0.1:{pb}")), 10)
            assert running_bytes(zk, dest) == b'{"active":true,"address":"127.0.0.1:%d"}' % pa
            insert(mariadb, fresh_db, range(1, 6))
            wait_for(lambda: len(_received(out)) == 5 and _received(out)[-1][1] is not None, 15)
            fifth = _received(out)[-1][1]
            wait_for(
                lambda: (
                    (c := zk_cursor(zk, dest)) is not None
                    and (LogPosition.loads(c).position.journal_name, LogPosition.loads(c).position.position) == fifth
                ),
                10,
                message="the cursor of row 5 flushed",
            )
            insert(mariadb, fresh_db, range(6, 11))
            wait_for(lambda: len(_received(out)) == 10, 15)
            proc.send_signal(signal.SIGKILL)  # at once: rows 6-10 are acked, their cursor most likely not flushed
            proc.wait(10)
            t0 = time.monotonic()
            insert(mariadb, fresh_db, range(11, 15))
            wait_for(lambda: b.embedded.is_start(dest), 20, message="B to take over")
            took = time.monotonic() - t0
            assert took >= DELAY_S * 0.9
            final = LogPosition.loads(zk_cursor(zk, dest)).position
            through = {i for i, e in _received(out) if e is not None and e <= (final.journal_name, final.position)}
            assert set(range(1, 6)) <= through
            expected = [i for i in range(1, 15) if i not in through]
            b.embedded.subscribe(ident)
            got = ids_of(drain(b.embedded, ident, len(expected)))
            print(f"\ntakeover after {took:.1f}s; {10 - len(through)} acked rows were not flushed and came again")
            assert got == expected  # nothing lost, nothing through the flushed cursor again
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            err.close()
            b.stop()


def test_suspended_owner_stops_before_another_server_wins(mariadb, fresh_db, zk_ensemble, tmp_path):
    """Fencing: A talks to one ensemble member only; freezing that member suspends A's connection. A must
    stop serving at once, well before its session expires and B (on the other members) takes over."""
    dest, conf = setup_destination(mariadb, fresh_db, tmp_path)
    lone = zk_ensemble.followers()[0]
    rest = ",".join(n.address for n in zk_ensemble.nodes if n is not lone)
    pa, pb = free_ports(2)
    a = CanalController(conf, overrides=ha_overrides(lone.address, pa), environ={})
    b = CanalController(conf, overrides=ha_overrides(rest, pb), environ={})
    ident = ClientIdentity(dest, 1001)
    with kazoo(rest) as zk:
        try:
            a.start()
            wait_for(lambda: a.embedded.is_start(dest), 15)
            b.start()
            wait_for(lambda: zk.exists(paths.destination_cluster_node(dest, f"127.0.0.1:{pb}")), 10)
            a.embedded.subscribe(ident)
            insert(mariadb, fresh_db, range(1, 4))
            assert ids_of(drain(a.embedded, ident, 3)) == [1, 2, 3]
            wait_for(lambda: zk_cursor(zk, dest) is not None, 5)

            # watch both servers from here, every 10 ms, until B serves
            seen: dict[str, float] = {}

            def watch() -> None:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and "b_serves" not in seen:
                    now = time.time()
                    if not a.embedded.is_start(dest):
                        seen.setdefault("a_stopped", now)
                    if b.embedded.is_start(dest):
                        seen.setdefault("b_serves", now)
                        seen["a_serving_then"] = float(a.embedded.is_start(dest))
                    time.sleep(0.01)

            watcher = threading.Thread(target=watch)
            watcher.start()
            paused_at = time.time()
            lone.pause()
            try:
                watcher.join(40)
                assert "b_serves" in seen, f"B never took over: {seen}"
                stat = zk.exists(paths.destination_server_running(dest))
                assert running_bytes(zk, dest) == b'{"active":true,"address":"127.0.0.1:%d"}' % pb
                assert seen["a_serving_then"] == 0.0
                # A stopped (fenced on SUSPENDED) before B's running node even existed
                assert seen["a_stopped"] < stat.ctime / 1000.0, (seen, stat.ctime, paused_at)
                assert not a.instances
            finally:
                lone.resume()
            # A gets its connection back, finds its session expired and B holding the node: it stays standby
            wait_for(lambda: a.ha is not None and a.ha.connected, 20)
            mon = a.ha.get(dest)
            wait_for(lambda: mon.active_data is not None and mon.active_data.address == f"127.0.0.1:{pb}", 10)
            assert not a.embedded.is_start(dest) and b.embedded.is_start(dest)
            b.embedded.subscribe(ident)
            insert(mariadb, fresh_db, range(4, 6))
            got = ids_of(drain(b.embedded, ident, 2))
            assert got[-2:] == [4, 5] and set(got) <= {1, 2, 3, 4, 5}  # from the flushed cursor
        finally:
            a.stop()
            b.stop()


def test_move_and_release_honour_the_preferred_server(zookeeper):
    """Without MariaDB: three servers' monitors with recording callbacks, moved around with the admin API."""
    dest = f"mv_{uuid.uuid4().hex[:8]}"
    events: list[tuple[str, str]] = []
    servers = []
    for name in ("s1", "s2", "s3"):
        ha = ZooKeeperHA(zookeeper.hosts, f"127.0.0.1:{name}", delay_s=3.0, session_timeout_s=4)
        ha.start()
        servers.append(ha)
    try:
        mons = {}
        for ha in servers:
            name = ha.address.rsplit(":", 1)[1]
            mons[name] = ha.add(
                dest, lambda n=name: events.append((n, "enter")), lambda graceful, n=name: events.append((n, "exit"))
            )
            if name == "s1":
                wait_for(mons["s1"].is_active, 10)
        with kazoo(zookeeper.hosts) as zk:
            wait_for(lambda: len(zk.get_children(paths.destination_cluster_root(dest))) == 3, 10)
            status = admin.destination_status(zk, dest)
            assert status.running.address == "127.0.0.1:s1" and len(status.candidates) == 3
            with pytest.raises(HAError, match="not a candidate"):
                admin.move(zk, dest, "127.0.0.1:nope")
            t0 = time.monotonic()
            assert admin.move(zk, dest, "127.0.0.1:s3", wait_s=10) == "127.0.0.1:s3"
            assert time.monotonic() - t0 < 2.0  # the preferred server does not wait the 3 s delay
            assert not zk.exists(paths.preferred_path(dest))  # the winner consumed the hint
            wait_for(lambda: len(events) == 3, 5)  # the node is taken just before on_enter runs
            assert events == [("s1", "enter"), ("s1", "exit"), ("s3", "enter")]
            text = admin.admin_show(zookeeper.hosts, dest)
            assert text.splitlines()[1] == (
                f"destination {dest}: running on 127.0.0.1:s3 (candidates: 127.0.0.1:s1, 127.0.0.1:s2, 127.0.0.1:s3)"
            )
            shown = json.loads(admin.admin_show(zookeeper.hosts, dest, as_json=True))
            assert shown["destinations"][0]["running"] == {"active": True, "address": "127.0.0.1:s3"}
            assert "127.0.0.1:s1" in shown["servers"]
            assert admin.admin_move(zookeeper.hosts, dest, "127.0.0.1:s3") == f"{dest}: now running on 127.0.0.1:s3"
            # a plain release: everybody (the releaser included) waits the delay
            t0 = time.monotonic()
            admin.release(zk, dest)
            winner = admin.wait_running(zk, dest, timeout=10)
            assert time.monotonic() - t0 >= 2.7
            wait_for(lambda: len(events) == 5, 5)
            assert events[3:] == [("s3", "exit"), (winner.rsplit(":", 1)[1], "enter")]
            with pytest.raises(HAError, match="no server runs it"):
                admin.admin_release(zookeeper.hosts, f"none_{uuid.uuid4().hex[:6]}")
            with pytest.raises(ZooKeeperUnavailable, match="unreachable"):
                admin.admin_show(f"127.0.0.1:{free_ports(1)[0]}", timeout=0.5)
    finally:
        for ha in servers:
            ha.stop()
    assert sum(e[1] == "enter" for e in events) == sum(e[1] == "exit" for e in events)


def test_connection_drop_fences_then_resumes_and_expiry_retakes(zookeeper):
    """kazoo's own ways (its test harness's) to force SUSPENDED and LOST on the holder: a dropped connection
    stops the destination at once and, the session surviving, the node is still its own and it resumes; an
    expired session stops it too, and once the old node is gone the previous holder retakes at once while
    the other server would wait its delay."""
    from kazoo.protocol.connection import _CONNECTION_DROP, _SESSION_EXPIRED

    dest = f"fd_{uuid.uuid4().hex[:8]}"
    events: list[tuple[str, str, bool]] = []
    one = ZooKeeperHA(zookeeper.hosts, "127.0.0.1:one", delay_s=30.0, session_timeout_s=2)
    two = ZooKeeperHA(zookeeper.hosts, "127.0.0.1:two", delay_s=30.0, session_timeout_s=2)
    try:
        for ha in (one, two):
            ha.start()
            name = ha.address.rsplit(":", 1)[1]
            mon = ha.add(
                dest,
                lambda n=name: events.append((n, "enter", True)),
                lambda graceful, n=name: events.append((n, "exit", graceful)),
            )
            if name == "one":
                wait_for(mon.is_active, 10)
        holder = one.get(dest)
        with kazoo(zookeeper.hosts) as zk:
            wait_for(lambda: len(zk.get_children(paths.destination_cluster_root(dest))) == 2, 10)
            owner = zk.exists(paths.destination_server_running(dest)).ephemeralOwner
            one.zk._call(_CONNECTION_DROP, None)
            wait_for(lambda: len(events) == 3, 10)
            assert events == [("one", "enter", True), ("one", "exit", False), ("one", "enter", True)]
            assert zk.exists(paths.destination_server_running(dest)).ephemeralOwner == owner  # same node
            t0 = time.monotonic()
            one.zk._call(_SESSION_EXPIRED, None)
            wait_for(lambda: len(events) == 5, 15)
            assert events[3:] == [("one", "exit", False), ("one", "enter", True)]
            assert time.monotonic() - t0 < 10  # well under the other server's 30 s delay
            assert zk.exists(paths.destination_server_running(dest)).ephemeralOwner != owner
            assert holder.holds_running() and not two.get(dest).is_active()
    finally:
        one.stop()
        two.stop()


def test_zookeeper_meta_manager_keeps_canals_layout(zookeeper):
    dest = f"meta_{uuid.uuid4().hex[:8]}"
    ident = ClientIdentity(dest, 1001, "db\\..*")
    pos = LogPosition(LogIdentity("127.0.0.1", 3306), EntryPosition("mysql-bin.000001", 4, 1, 1700000000000, ""))
    later = LogPosition(pos.identity, EntryPosition("mysql-bin.000001", 120, 1, 1700000000001, ""))
    with kazoo(zookeeper.hosts) as zk:
        meta = ZooKeeperMetaManager(zk)
        meta.start()
        meta.subscribe(ident)
        meta.subscribe(ClientIdentity(dest, 7))
        zk.ensure_path(paths.destination_server_running(dest))  # not a client: ignored like canal does
        assert meta.list_all_subscribe_info(dest) == [ClientIdentity(dest, 7), ident]
        assert meta.list_all_subscribe_info(dest)[1].filter == "db\\..*"
        assert zk.get(paths.filter_path(dest, 1001))[0] == b"db\\..*"  # raw text, not JSON
        assert meta.get_cursor(ident) is None
        meta.update_cursor(ident, pos)
        assert zk.get(paths.cursor_path(dest, 1001))[0] == pos.dumps(with_type=True).encode()
        assert CURSOR_JSON.fullmatch(zk.get(paths.cursor_path(dest, 1001))[0])
        assert meta.get_cursor(ident) == pos
        r1, r2 = PositionRange(pos, later, later, 3), PositionRange(later, later, None, 4)
        assert meta.add_batch(ident, r1) == 1 and meta.add_batch(ident, r2) == 2
        assert sorted(zk.get_children(paths.batch_mark_path(dest, 1001))) == ["0000000001", "0000000002"]
        assert zk.get(paths.batch_mark_with_id_path(dest, 1001, 1))[0] == r1.dumps(with_type=True).encode()
        assert meta.list_all_batchs(ident) == {1: r1, 2: r2}
        assert meta.get_first_batch(ident) == r1 and meta.get_last_batch(ident) == r2
        with pytest.raises(BatchOrderError):
            meta.remove_batch(ident, 2)
        assert meta.remove_batch(ident, 1) == r1 and meta.remove_batch(ident, 1) is None
        assert meta.add_batch(ident, r1) == 3  # ids keep counting up
        meta.clear_all_batchs(ident)
        assert meta.list_all_batchs(ident) == {}
        meta.unsubscribe(ident)  # canal quirk 11: the client node goes, cursor and all
        assert not zk.exists(paths.client_id_node_path(dest, 1001))
        assert meta.list_all_subscribe_info(dest) == [ClientIdentity(dest, 7)]
        guarded = ZooKeeperMetaManager(zk, write_guard=lambda: False)
        guarded.start()
        with pytest.raises(MetaError, match="no longer holds"):
            guarded.update_cursor(ident, pos)
        assert guarded.get_cursor(ClientIdentity(dest, 7)) is None  # reads are not guarded


def test_zookeeper_unreachable_at_start_then_up(mariadb, fresh_db, tmp_path, caplog):
    """run_server with canal.zkServers pointing at a ZooKeeper that is not up yet: the TCP port serves at
    once, clients get "should start first", an error says why; once ZooKeeper starts, the destination runs."""
    dest, conf = setup_destination(mariadb, fresh_db, tmp_path)
    zk_port, tcp_port = free_ports(2)
    stop = threading.Event()
    ready = threading.Event()
    result: list[object] = []

    def serve() -> None:
        try:
            result.append(
                run_server(
                    conf,
                    ha_overrides(f"127.0.0.1:{zk_port}", tcp_port, **{"canal.ip": "127.0.0.1"}),
                    ready=lambda s: ready.set(),
                    environ={},
                    stop=stop,
                )
            )
        except BaseException as exc:  # reported by the assertions below
            result.append(exc)
            ready.set()

    caplog.set_level(logging.ERROR, logger="pycanal.ha.running")
    thread = threading.Thread(target=serve)
    thread.start()
    zk_sandbox = None
    try:
        assert ready.wait(20) and not result, result
        client = SimpleConnector("127.0.0.1", tcp_port, dest, rollback_on_connect=False, reconnect=False)
        client.connect()
        try:
            with pytest.raises(CanalServerError, match="should start first"):
                client.subscribe()
            wait_for(lambda: "is unreachable" in caplog.text, 10, message="the unreachable error")
            assert f"127.0.0.1:{zk_port}" in caplog.text and dest in caplog.text
            zk_sandbox = ZooKeeperSandbox(port=zk_port).start()
            with kazoo(zk_sandbox.hosts) as zk:
                wait_for(
                    lambda: running_bytes(zk, dest) == b'{"active":true,"address":"127.0.0.1:%d"}' % tcp_port,
                    20,
                    message="the server to take its destination once ZooKeeper is up",
                )

            def subscribed() -> bool:
                try:
                    client.subscribe()
                    return True
                except InstanceNotStarted:  # the node is taken just before the instance starts
                    return False

            wait_for(subscribed, 10)
            insert(mariadb, fresh_db, range(1, 3))
            got: list[int] = []
            deadline = time.monotonic() + 15
            while len(got) < 2 and time.monotonic() < deadline:
                msg = client.get(100, 500)
                got += ids_of(rows_of(msg.raw))
            assert got == [1, 2]
        finally:
            client.disconnect()
    finally:
        stop.set()
        thread.join(30)
        if zk_sandbox is not None:
            zk_sandbox.cleanup()
    assert result == [0]
