"""MQ mode under faults, with a writer committing a row every 15 ms and a consumer acking every delivery:
the broker closes every connection, the server is killed -9 and restarted, and (ZooKeeper HA, a 3-node
ensemble) the running server of two is killed -9. In each case every committed row reaches the queue at
least once, first occurrences in binlog order; duplicates are counted and printed (run with -s)."""

from __future__ import annotations

import signal
import time

import pytest
from kazoo.client import KazooClient

from ha_helpers import RUNNING_DELAY_MS, ServerProc, Writer, running, wait_until
from helpers import wait_for
from mq_helpers import MQServerProc, QueueReader, delivery_report, mq_destination, mq_overrides
from pycanal.ha import admin

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def start_flow(mariadb, db: str, reader: QueueReader) -> Writer:
    reader.start()
    writer = Writer(mariadb, db)
    writer.start()
    wait_for(lambda: len(reader.inserted_ids()) >= 20, 60, message="the first rows to arrive")
    return writer


def finish(name: str, writer: Writer, reader: QueueReader) -> int:
    mark = writer.committed
    wait_for(lambda: writer.committed >= mark + 30, 20, message="more rows written")
    committed = writer.stop()
    wait_for(lambda: set(range(committed)) <= set(reader.inserted_ids()), 60, message="every row to arrive")
    return delivery_report(name, reader.inserted_ids(), committed)


def test_broker_closes_every_connection(mariadb, fresh_db, rabbitmq, rabbit_vhost, tmp_path):
    mariadb.execute(f"CREATE TABLE `{fresh_db}`.t (id INT PRIMARY KEY)")
    dest = "faults_close"
    conf = mq_destination(mariadb, fresh_db, tmp_path, dest)
    server = MQServerProc(conf, mq_overrides(rabbitmq, rabbit_vhost, queue=dest), tmp_path / "server.log")
    reader = QueueReader(rabbitmq.url(rabbit_vhost), dest)
    writer = None
    try:
        writer = start_flow(mariadb, fresh_db, reader)
        for _ in range(3):  # the producer's and the consumer's connections, three times over
            seen = len(reader.inserted_ids())
            rabbitmq.close_connections(rabbit_vhost)
            wait_for(lambda s=seen: len(reader.inserted_ids()) >= s + 20, 60, message="rows flowing again")
        finish("close_all_connections x3", writer, reader)
        assert "closed the connection" in server.log() or "CONNECTION_FORCED" in server.log()
    finally:
        if writer is not None and writer.is_alive():
            writer.stop()
        reader.stop()
        server.stop()


def test_server_killed_and_restarted(mariadb, fresh_db, rabbitmq, rabbit_vhost, tmp_path):
    mariadb.execute(f"CREATE TABLE `{fresh_db}`.t (id INT PRIMARY KEY)")
    dest = "faults_kill"
    conf = mq_destination(mariadb, fresh_db, tmp_path, dest)
    overrides = mq_overrides(rabbitmq, rabbit_vhost, queue=dest)
    server = MQServerProc(conf, overrides, tmp_path / "server.log")
    reader = QueueReader(rabbitmq.url(rabbit_vhost), dest)
    writer = None
    try:
        writer = start_flow(mariadb, fresh_db, reader)
        server.kill()
        seen = len(reader.inserted_ids())
        wait_for(lambda: writer.committed >= reader_max(reader) + 20, 20, message="rows written while down")
        server = MQServerProc(conf, overrides, tmp_path / "server.log")
        wait_for(lambda: len(reader.inserted_ids()) >= seen + 20, 60, message="rows from the restarted server")
        finish("kill -9 and restart", writer, reader)
    finally:
        if writer is not None and writer.is_alive():
            writer.stop()
        reader.stop()
        server.stop()


def reader_max(reader: QueueReader) -> int:
    ids = reader.inserted_ids()
    return max(ids) if ids else 0


def test_ha_standby_produces_from_the_acked_cursor(mariadb, fresh_db, rabbitmq, rabbit_vhost, zk_ensemble, tmp_path):
    mariadb.execute(f"CREATE TABLE `{fresh_db}`.t (id INT PRIMARY KEY)")
    dest = "faults_ha"
    conf = mq_destination(mariadb, fresh_db, tmp_path, dest)
    zk = KazooClient(hosts=zk_ensemble.hosts, timeout=10)
    zk.start(15)
    mq = mq_overrides(rabbitmq, rabbit_vhost, queue=dest)
    servers: list[ServerProc] = []
    reader = QueueReader(rabbitmq.url(rabbit_vhost), dest)
    writer = None
    try:
        a = ServerProc(conf, zk_ensemble.hosts, tmp_path / "a.log", **mq)
        servers.append(a)
        wait_until(lambda: running(zk, dest) == a.address, 30, f"A to run {dest}: {a.log()[-1500:]}")
        b = ServerProc(conf, zk_ensemble.hosts, tmp_path / "b.log", **mq)
        servers.append(b)
        wait_until(lambda: b.address in admin.destination_status(zk, dest).candidates, 30, "B to register")
        writer = start_flow(mariadb, fresh_db, reader)
        assert "MQ worker started" not in b.log()  # the standby does not produce
        t0 = time.time()
        a.signal(signal.SIGKILL)
        a.proc.wait(10)
        wait_until(lambda: running(zk, dest) == b.address, 30, f"B to take over: {b.log()[-1500:]}")
        seen = len(reader.inserted_ids())
        wait_for(lambda: len(reader.inserted_ids()) >= seen + 20, 60, message="rows produced by B")
        took = time.time() - t0
        repeats = finish("HA kill -9 of the running server", writer, reader)
        print(f"[mq-faults] HA: B produced {took:.1f}s after the kill; {repeats} duplicates")
        assert took >= RUNNING_DELAY_MS / 1000 * 0.9
        assert "MQ worker started" in b.log()
    finally:
        if writer is not None and writer.is_alive():
            writer.stop()
        reader.stop()
        for s in servers:
            s.stop()
        zk.stop()
        zk.close()


def test_ha_suspended_server_stops_producing_at_once(mariadb, fresh_db, rabbitmq, rabbit_vhost, zk_ensemble, tmp_path):
    """ZooKeeper frozen (every node SIGSTOPped): the running server goes SUSPENDED and its worker stops at
    once, before any other server could take over; nothing is published while the writer goes on. When
    ZooKeeper comes back the server holds its node again and delivers everything."""
    mariadb.execute(f"CREATE TABLE `{fresh_db}`.t (id INT PRIMARY KEY)")
    dest = "faults_fence"
    conf = mq_destination(mariadb, fresh_db, tmp_path, dest)
    zk = KazooClient(hosts=zk_ensemble.hosts, timeout=10)
    zk.start(15)
    a = ServerProc(conf, zk_ensemble.hosts, tmp_path / "a.log", **mq_overrides(rabbitmq, rabbit_vhost, queue=dest))
    reader = QueueReader(rabbitmq.url(rabbit_vhost), dest)
    writer = None
    try:
        wait_until(lambda: running(zk, dest) == a.address, 30, f"A to run {dest}: {a.log()[-1500:]}")
        writer = start_flow(mariadb, fresh_db, reader)
        for node in zk_ensemble.nodes:
            node.pause()
        try:
            wait_until(lambda: "stopped (fenced off)" in a.log(), 20, f"A to fence itself: {a.log()[-1500:]}")
            mark = writer.committed
            wait_for(lambda: writer.committed >= mark + 30, 20, message="rows written after the fence")
            frozen = reader.deliveries  # in-flight deliveries from before the fence have landed by now
            mark = writer.committed
            wait_for(lambda: writer.committed >= mark + 60, 20, message="more rows written while fenced")
            assert reader.deliveries == frozen  # nothing published while SUSPENDED
        finally:
            for node in zk_ensemble.nodes:
                node.resume()
        finish("HA fenced on SUSPENDED, then back", writer, reader)
    finally:
        if writer is not None and writer.is_alive():
            writer.stop()
        reader.stop()
        a.stop()
        zk.stop()
        zk.close()
