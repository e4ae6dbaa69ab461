"""Faults a `pycanal server` rides through (issue 8 item 6): a master that is down at start, a wrong password
fixed while the server runs, a broken destination next to a healthy one. A writer commits numbered rows, a
consumer acks every batch; nothing committed may be missing, repeats are counted."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from ha_helpers import PYCANAL, Consumer, Writer, check_delivery, wait_until
from pycanal.client.simple import SimpleConnector
from pycanal.sandbox import free_port

pytestmark = pytest.mark.integration


def conf_tree(root: Path, destinations: dict[str, dict[str, str]], **server: str) -> str:
    """canal.properties (tsdb on, as canal ships it) and one instance.properties per destination."""
    conf = root / "conf"
    conf.mkdir(parents=True)
    props = {
        "canal.destinations": ",".join(destinations),
        "canal.instance.global.spring.xml": "classpath:spring/file-instance.xml",
        "canal.file.flush.period": "100",
        "canal.instance.tsdb.enable": "true",
        "canal.auto.scan": "false",
        **server,
    }
    (conf / "canal.properties").write_text("".join(f"{k} = {v}\n" for k, v in props.items()))
    for dest, inst in destinations.items():
        (conf / dest).mkdir()
        (conf / dest / "instance.properties").write_text("".join(f"{k} = {v}\n" for k, v in inst.items()))
    return str(conf)


def instance(port: int, db: str, user: str = "canal", password: str = "canal", **extra: str) -> dict[str, str]:
    return {
        "canal.instance.master.address": f"127.0.0.1:{port}",
        "canal.instance.dbUsername": user,
        "canal.instance.dbPassword": password,
        "canal.instance.filter.regex": f"{db}\\\\.t",
        **{k.replace("__", "."): v for k, v in extra.items()},
    }


class Server:
    """`pycanal server -c CONF` as a user runs it, its log in a file."""

    def __init__(self, conf: str, log: Path) -> None:
        self.port = free_port()
        self.log_path = log
        self._log = open(log, "w")  # noqa: SIM115 - closed in stop()
        argv = [PYCANAL, "server", "-c", conf, "-D", f"canal.port={self.port}", "-D", "canal.ip=127.0.0.1"]
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def listening(self) -> bool:
        import socket

        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


def consumer(port: int, dest: str) -> Consumer:
    """The HA tests' recording consumer, on a SimpleConnector to this server."""
    return Consumer("", dest, SimpleConnector("127.0.0.1", port, dest, so_timeout=10.0))


def has_all(c: Consumer, n: int) -> bool:
    return c.received.has_all(n)


def one_line_per_attempt(log: str, marker: str) -> int:
    """Failed attempts are logged as single lines, never with a traceback; returns how many there were."""
    assert "Traceback" not in log, log[-3000:]
    return sum(marker in line for line in log.splitlines())


def test_master_down_at_start_and_up_15s_later(mariadb_factory, tmp_path):
    """Three destinations on a MariaDB that is down when the server starts: the schema history on (canal's
    default), off, and a start by timestamp. The server stays up, says truthfully that they are not dumping,
    retries with one line per attempt, and delivers every row once MariaDB is back."""
    box = mariadb_factory()
    db = "faults"
    box.execute(f"CREATE DATABASE {db}", f"CREATE TABLE {db}.t (id INT PRIMARY KEY)")
    journal, position = box.master_status()
    before_ms = int(time.time() * 1000) - 1000
    at = {"canal__instance__master__journal__name": journal, "canal__instance__master__position": str(position)}
    conf = conf_tree(
        tmp_path,
        {
            "tsdb_on": instance(box.port, db, **at),
            "tsdb_off": instance(box.port, db, canal__instance__tsdb__enable="false", **at),
            "by_time": instance(box.port, db, canal__instance__master__timestamp=str(before_ms)),
        },
    )
    box.stop()
    server = Server(conf, tmp_path / "server.log")
    consumers: list[Consumer] = []
    writer = None
    try:
        wait_until(server.listening, 60, f"the server to listen: {server.log()[-2000:]}")
        consumers = [consumer(server.port, d) for d in ("tsdb_on", "tsdb_off", "by_time")]
        for c in consumers:
            c.start()
        deadline = time.monotonic() + 15  # the outage: the server must stay up all along
        while time.monotonic() < deadline:
            assert server.proc.poll() is None, server.log()[-3000:]
            time.sleep(0.2)
        log = server.log()
        for dest in ("tsdb_on", "tsdb_off", "by_time"):
            assert f"destination {dest} started, but not dumping yet: retrying: " in log, log[-3000:]
            assert f"destination {dest} started\n" not in log
        attempts = one_line_per_attempt(log, "cannot dump from 127.0.0.1:")
        assert attempts >= 3 * 3, log[-3000:]  # backoff 1, 2, 4, 8 s: a few attempts each in 15 s
        box.start()
        writer = Writer(box, db, interval=0.01)
        writer.start()
        wait_until(lambda: writer.committed >= 200, 30, "rows written")
        committed = writer.stop()
        for c in consumers:
            wait_until(
                lambda c=c: has_all(c, committed), 60, f"every row at {c.conn.destination}: {server.log()[-2000:]}"
            )
        repeats = [check_delivery(c.received.ids(), committed) for c in consumers]
        assert repeats == [0, 0, 0]
        assert server.proc.poll() is None
        assert f"dumping from 127.0.0.1:{box.port} again" in server.log()
    finally:
        for c in consumers:
            c.stop()
        if writer is not None and writer.is_alive():
            writer.stop()
        code = server.stop()
    assert code == 0, server.log()[-3000:]


def test_broken_destination_fails_alone_and_a_fixed_password_is_picked_up(mariadb_factory, tmp_path):
    """Two destinations: `good` delivers every row throughout; `badpw` has a wrong password (schema
    history on), retries with one line per attempt naming the right advice, and delivers everything from
    its start position once the password is changed to what it is configured with."""
    box = mariadb_factory()
    db = "faults"
    box.execute(
        f"CREATE DATABASE {db}",
        f"CREATE TABLE {db}.t (id INT PRIMARY KEY)",
        "CREATE USER 'fixme'@'%' IDENTIFIED BY 'right'",
        "GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'fixme'@'%'",
    )
    journal, position = box.master_status()
    at = {"canal__instance__master__journal__name": journal, "canal__instance__master__position": str(position)}
    conf = conf_tree(
        tmp_path,
        {"good": instance(box.port, db, **at), "badpw": instance(box.port, db, "fixme", "typo", **at)},
    )
    server = Server(conf, tmp_path / "server.log")
    writer = Writer(box, db, interval=0.01)
    consumers: list[Consumer] = []
    try:
        wait_until(server.listening, 60, f"the server to listen: {server.log()[-2000:]}")
        consumers = [consumer(server.port, "good"), consumer(server.port, "badpw")]
        for c in consumers:
            c.start()
        writer.start()
        good, bad = consumers
        # the healthy destination delivers while the other is refused
        wait_until(lambda: len(good.received.rows) >= 100, 30, "rows at good")
        wait_until(lambda: server.log().count("refused the login of 'fixme'") >= 3, 30, "three refused attempts")
        log = server.log()
        assert "check canal.instance.dbUsername and canal.instance.dbPassword" in log
        assert "REPLICATION SLAVE" not in log.split("refused the login of 'fixme'")[1].splitlines()[0]
        assert "destination badpw started, but not dumping yet: retrying: " in log
        one_line_per_attempt(log, "refused the login")
        assert bad.received.rows == [] and server.proc.poll() is None
        box.execute("ALTER USER 'fixme'@'%' IDENTIFIED BY 'typo'")  # the password is fixed on the server
        wait_until(lambda: len(bad.received.rows) >= 100, 60, f"rows at badpw: {server.log()[-2000:]}")
        mark = writer.committed
        wait_until(lambda: writer.committed >= mark + 50, 30, "more rows written")
        committed = writer.stop()
        for c in consumers:
            wait_until(lambda c=c: has_all(c, committed), 60, f"every row at {c.conn.destination}")
        assert [check_delivery(c.received.ids(), committed) for c in consumers] == [0, 0]
    finally:
        for c in consumers:
            c.stop()
        if writer.is_alive():
            writer.stop()
        code = server.stop()
    assert code == 0, server.log()[-3000:]
