"""MQ-mode machinery for the tests: a canal conf dir in rabbitMQ mode, `pycanal server` in a thread, and a
queue reader that records FlatMessages (from JSON or protobuf deliveries) while acking them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from instance_helpers import write_conf
from pycanal.client.rabbitmq import RabbitMQConsumer
from pycanal.sandbox import RabbitMQBroker
from pycanal.server.main import run_server


def mq_overrides(
    broker: RabbitMQBroker, vhost: str, *, queue: str = "", flat: bool = True, **extra: str
) -> dict[str, str]:
    """-D values that put a conf dir in rabbitMQ mode against ``vhost`` (the default exchange)."""
    return {
        "canal.serverMode": "rabbitMQ",
        "rabbitmq.host": f"{broker.host}:{broker.port}",
        "rabbitmq.virtual.host": vhost,
        "rabbitmq.username": broker.username,
        "rabbitmq.password": broker.password,
        "rabbitmq.queue": queue,
        "canal.mq.flatMessage": "true" if flat else "false",
        "canal.auto.scan": "false",
        **extra,
    }


def mq_destination(mariadb: Any, db: str, root: Path, dest: str, **instance: str) -> str:
    """A destination on ``db`` starting at the binlog end now; its canal.mq.topic is the destination name."""
    journal, position = mariadb.master_status()
    return write_conf(
        root,
        mariadb.port,
        dest,
        canal__instance__filter__regex=f"{db}\\\\..*",
        canal__instance__master__journal__name=journal,
        canal__instance__master__position=str(position),
        canal__mq__topic=dest,
        **instance,
    )


@contextmanager
def server_thread(conf: str, overrides: dict[str, str], timeout: float = 60.0) -> Iterator[threading.Thread]:
    """`pycanal server` (run_server) in a thread until the block ends; raises what it raised."""
    stop, ready = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_server(conf, overrides, ready=lambda _server: ready.set(), stop=stop)
        except BaseException as exc:
            errors.append(exc)
            ready.set()

    t = threading.Thread(target=run, name="mq-server", daemon=True)
    t.start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        assert time.monotonic() < deadline, "the server did not start"
    if errors:
        raise errors[0]
    try:
        yield t
    finally:
        stop.set()
        t.join(60)
        if errors:
            raise errors[0]


class QueueReader(threading.Thread):
    """Consumes a queue with manual acks, recording (FlatMessage, redelivered) pairs; acks after recording."""

    def __init__(self, url: str, queue: str) -> None:
        super().__init__(name=f"reader-{queue}", daemon=True)
        self.consumer = RabbitMQConsumer(url, queue, max_backoff=0.5)
        self.messages: list[dict[str, Any]] = []
        self.deliveries = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:  # connects in get(), retrying until the server has declared the queue
            for delivery in self.consumer:
                self.messages.extend(delivery.flat_messages())
                self.deliveries += 1
                self.consumer.ack(delivery)
        except BaseException as exc:
            self.error = exc

    def inserted_ids(self) -> list[int]:
        return [int(row["id"]) for m in self.messages if m["type"] == "INSERT" for row in m["data"] or ()]

    def stop(self) -> None:
        self.consumer.stop()
        self.join(15)
        self.consumer.close()
        if self.error is not None:
            raise AssertionError(f"the queue reader failed: {self.error!r}")


class MQServerProc:
    """`pycanal server` in MQ mode as a child process (for kill -9), logging to a file."""

    def __init__(self, conf: str, overrides: dict[str, str], log_path: Path) -> None:
        import subprocess
        import sys

        pycanal = str(Path(sys.executable).with_name("pycanal"))
        argv = [pycanal, "server", "-c", conf]
        for k, v in overrides.items():
            argv += ["-D", f"{k}={v}"]
        self.log_path = log_path
        self._log = open(log_path, "a")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def delivery_report(name: str, ids: list[int], committed: int) -> int:
    """Every committed id arrived at least once, first occurrences in binlog order; prints and returns the
    number of duplicates (at-least-once: a batch published again after a failure)."""
    from ha_helpers import check_delivery

    repeats = check_delivery(ids, committed)
    print(f"\n[mq-faults] {name}: {committed} rows committed, all delivered, {repeats} duplicates")
    return repeats
