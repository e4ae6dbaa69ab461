"""Machinery for HA fault tests and the HA benchmark: `pycanal server` subprocesses, a steady writer, a
ClusterConnector consumer (in-process or as a subprocess), and the delivery checks.

Everything records wall-clock times (time.time) so subprocess records compare with the test's own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instance_helpers import rows_of, write_conf
from pycanal.client.cluster import ClusterConnector
from pycanal.ha import admin
from pycanal.sandbox import free_port

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
PYCANAL = os.path.join(os.path.dirname(sys.executable), "pycanal")
RUNNING_DELAY_MS = 1000
SESSION_TIMEOUT_MS = 4000


def wait_until(pred: Callable[[], Any], timeout: float, what: str, step: float = 0.02) -> Any:
    """Poll ``pred`` until truthy (its value) or raise AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def make_destination(mariadb: Any, db: str, root: Path) -> tuple[str, str]:
    """A table ``db.t``, a unique destination and its conf dir starting at the binlog end now."""
    dest = f"hf_{uuid.uuid4().hex[:8]}"
    mariadb.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")
    journal, position = mariadb.master_status()
    conf = write_conf(
        root,
        mariadb.port,
        dest,
        canal__instance__filter__regex=f"{db}\\\\.t",
        canal__instance__master__journal__name=journal,
        canal__instance__master__position=str(position),
    )
    return dest, conf


class ServerProc:
    """One `pycanal server` child process on a fixed real port (HA needs the advertised port)."""

    def __init__(self, conf: str, zk_hosts: str, log_path: Path, **extra: str) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log_path = log_path
        defines = {
            "canal.zkServers": zk_hosts,
            "canal.port": str(self.port),
            "canal.ip": "127.0.0.1",
            "canal.register.ip": "127.0.0.1",
            "canal.auto.scan": "false",
            "canal.instance.global.spring.xml": "classpath:spring/default-instance.xml",
            "canal.zookeeper.flush.period": "300",
            "canal.zookeeper.running.delay": str(RUNNING_DELAY_MS),
            "canal.zookeeper.session.timeout": str(SESSION_TIMEOUT_MS),
            **extra,
        }
        argv = [PYCANAL, "server", "-c", conf]
        for k, v in defines.items():
            argv += ["-D", f"{k}={v}"]
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


class Writer(threading.Thread):
    """Commits one row per transaction (ids 0, 1, ...) every ``interval`` seconds until stopped."""

    def __init__(self, mariadb: Any, db: str, interval: float = 0.015) -> None:
        super().__init__(name="ha-writer", daemon=True)
        self.conn = mariadb.connect()
        self.db, self.interval = db, interval
        self.committed = 0  # ids 0 .. committed-1 are committed
        self._halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.conn.cursor() as cur:
                while not self._halt.is_set():
                    cur.execute(f"INSERT INTO `{self.db}`.t VALUES ({self.committed})")
                    self.conn.commit()
                    self.committed += 1
                    self._halt.wait(self.interval)
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def stop(self) -> int:
        self._halt.set()
        self.join(10)
        if self.conn.open:
            self.conn.close()
        if self.error is not None:
            raise AssertionError(f"the writer failed: {self.error!r}")
        return self.committed


@dataclass
class Received:
    """Every row as delivered: (id, wall time, server address)."""

    rows: list[tuple[int, float, str]] = field(default_factory=list)

    def ids(self) -> list[int]:
        return [r[0] for r in self.rows]

    def has_all(self, n: int) -> bool:
        return len(set(self.ids()) & set(range(n))) == n


def connector(zk_hosts: str, dest: str, **kw: Any) -> ClusterConnector:
    kw = {
        "so_timeout": 3.0,
        "retry_interval": 0.05,
        "max_retry_interval": 0.3,
        "retry_times": 200,
        "running_delay": 0.5,
        "zk_session_timeout": 4.0,
        "zk_connect_timeout": 10.0,
        "client_id": 1001,
        **kw,
    }
    return ClusterConnector(zk_hosts, dest, **kw)


class Consumer(threading.Thread):
    """A ClusterConnector (client 1001; or the connector given) that records rows (get_without_ack, then
    ack) until stopped."""

    def __init__(self, zk_hosts: str, dest: str, conn: Any = None) -> None:
        super().__init__(name=f"consumer-{dest}", daemon=True)
        self.conn = conn if conn is not None else connector(zk_hosts, dest)
        self.received = Received()
        self._halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.conn.connect()
            self.conn.subscribe()
            while not self._halt.is_set():
                msg = self.conn.get_without_ack(200, 200)
                if msg.batch_id == -1:
                    continue
                now = time.time()
                addr = self.conn.address
                where = f"{addr[0]}:{addr[1]}" if addr else "?"
                self.received.rows += [(int(r[3]["id"]), now, where) for r in rows_of(msg.raw) if r[0] == "INSERT"]
                self.conn.ack(msg.batch_id)
        except BaseException as exc:  # reported by stop()
            if not self._halt.is_set():
                self.error = exc

    def stop(self) -> None:
        self._halt.set()
        self.join(15)
        self.conn.disconnect()
        if self.error is not None:
            raise AssertionError(f"the consumer failed: {self.error!r}")


CONSUMER_CHILD = r"""
import os, sys, time
sys.path.insert(0, sys.argv[1])
from ha_helpers import connector
from instance_helpers import rows_of

hosts, dest, out = sys.argv[2], sys.argv[3], sys.argv[4]
conn = connector(hosts, dest)
conn.connect()
with open(out, "a") as f:
    f.write(f"START {time.time()}\n")
    f.flush()
    conn.subscribe()
    while True:
        msg = conn.get_without_ack(200, 200)
        if msg.batch_id == -1:
            continue
        now = time.time()
        f.write("".join(f"R {r[3]['id']} {now}\n" for r in rows_of(msg.raw) if r[0] == "INSERT"))
        f.flush()
        os.fsync(f.fileno())
        conn.ack(msg.batch_id)  # recorded before the ack: a kill in between is a real crash
"""


class ConsumerProc:
    """The consumer above in a child process, recording to a file (for kill -9 of a client)."""

    def __init__(self, zk_hosts: str, dest: str, out: Path) -> None:
        self.out = out
        self._err = open(out.with_suffix(".err"), "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CONSUMER_CHILD, TESTS_DIR, zk_hosts, dest, str(out)],
            stdout=subprocess.DEVNULL,
            stderr=self._err,
        )

    def rows(self) -> list[tuple[int, float]]:
        if not self.out.exists():
            return []
        out = []
        for line in self.out.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "R":
                out.append((int(parts[1]), float(parts[2])))
        return out

    def started(self) -> bool:
        return self.out.exists() and "START" in self.out.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._err.close()


def check_delivery(ids: list[int], committed: int) -> int:
    """Every committed id arrived at least once and first occurrences are in binlog (id) order; returns the
    number of repeated rows."""
    firsts: list[int] = []
    seen: set[int] = set()
    for i in ids:
        if i not in seen:
            seen.add(i)
            firsts.append(i)
    missing = sorted(set(range(committed)) - seen)
    assert not missing, f"{len(missing)} committed rows never arrived, first {missing[:10]}"
    assert firsts == sorted(firsts), "rows arrived out of binlog order"
    assert firsts[:committed] == list(range(committed))
    return len(ids) - len(seen)


def running(zk: Any, dest: str) -> str | None:
    """The address of the server running ``dest`` (None: nobody)."""
    return admin.running_address(zk, dest)


@dataclass
class Failover:
    seconds: float
    repeats: int
    rows: int


class Cluster:
    """Two server processes, a writer and an in-process consumer on one destination."""

    def __init__(self, mariadb: Any, db: str, zk_hosts: str, root: Path, zk: Any) -> None:
        self.mariadb, self.db, self.zk_hosts, self.root, self.zk = mariadb, db, zk_hosts, root, zk
        self.dest, self.conf = make_destination(mariadb, db, root)
        self.servers: list[ServerProc] = []
        self.writer: Writer | None = None
        self.consumer: Consumer | None = None

    def start(self, interval: float = 0.015) -> None:
        """Server A (which takes the destination), then B, then writer and consumer; rows flowing."""
        a = ServerProc(self.conf, self.zk_hosts, self.root / "a.log")
        self.servers.append(a)
        wait_until(lambda: running(self.zk, self.dest) == a.address, 30, f"A to run {self.dest}: {a.log()[-1500:]}")
        b = ServerProc(self.conf, self.zk_hosts, self.root / "b.log")
        self.servers.append(b)
        wait_until(
            lambda: b.address in admin.destination_status(self.zk, self.dest).candidates,
            30,
            f"B to register: {b.log()[-1500:]}",
        )
        self.consumer = Consumer(self.zk_hosts, self.dest)
        self.consumer.start()
        self.writer = Writer(self.mariadb, self.db, interval)
        self.writer.start()
        wait_until(lambda: len(self.consumer.received.rows) >= 20, 30, "the first rows to arrive")

    def server(self, address: str) -> ServerProc:
        return next(s for s in self.servers if s.address == address)

    def finish(self, t0: float, new_address: str, extra_rows: int = 30, since: float | None = None) -> Failover:
        """After a fault at ``t0``: wait for the new server to deliver, keep writing a little, stop the writer
        and check that everything committed arrived in order."""
        assert self.consumer is not None and self.writer is not None
        rec = self.consumer.received

        def first_new() -> float | None:
            return next((t for _, t, a in rec.rows if t >= (since or t0) and a == new_address), None)

        first = wait_until(first_new, 30, f"a row from {new_address}")
        mark = self.writer.committed
        wait_until(lambda: self.writer.committed >= mark + extra_rows, 10, "more rows written")
        committed = self.writer.stop()
        wait_until(lambda: rec.has_all(committed), 30, f"all {committed} rows to arrive")
        repeats = check_delivery(rec.ids(), committed)
        return Failover(first - t0, repeats, committed)

    def close(self) -> None:
        for part in (self.writer, self.consumer):
            if part is not None:
                try:
                    part.stop()
                except AssertionError:
                    pass  # already reported by the test, or the test failed earlier
        for s in self.servers:
            s.stop()


def kill_running(cluster: Cluster) -> tuple[float, str]:
    """kill -9 the server running the destination; (fault time, the other's address)."""
    old = running(cluster.zk, cluster.dest)
    proc = cluster.server(old)
    t0 = time.time()
    proc.signal(signal.SIGKILL)
    proc.proc.wait(10)
    return t0, next(s.address for s in cluster.servers if s.address != old)


def release_running(cluster: Cluster) -> tuple[float, str, float]:
    """canal's graceful release (active=false) of the running server; (fault time, the new running server,
    when it took the node). The releaser contends again too: whoever wins after the delay is the new one."""
    t0 = time.time()
    admin.release(cluster.zk, cluster.dest)
    wait_until(lambda: running(cluster.zk, cluster.dest) is None, 10, "the release to take effect")
    new = wait_until(lambda: running(cluster.zk, cluster.dest), 30, "a server to run it again")
    return t0, new, time.time()
