"""MQ-mode readers for run.py: sandbox MariaDB -> `pycanal server` (canal.serverMode = rabbitMQ, canal's
default batch of 50 MEMSIZE units, publisher confirms) -> a RabbitMQ queue -> a consumer in this process
that acks every message and reads every value of the workload table's rows.

The broker is the one answering on 127.0.0.1:5672 (a virtual host of our own, removed afterwards), or a
node of our own when none answers (started once, stopped at exit).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from pycanal.protocol import entry as pb
from pycanal.sandbox import RabbitMQBroker, RabbitMQSandbox, amqp_answers
from workload import DATABASE, TABLE

_ROWS = (pb.INSERT, pb.UPDATE, pb.DELETE)
_ROW_TYPES = ("INSERT", "UPDATE", "DELETE")
_broker: RabbitMQBroker | None = None


def broker() -> RabbitMQBroker:
    global _broker
    if _broker is None:
        if amqp_answers("127.0.0.1", 5672):
            _broker = RabbitMQBroker("127.0.0.1", 5672)
        else:
            node = RabbitMQSandbox().start()
            atexit.register(node.cleanup)
            _broker = node.broker
    return _broker


@contextlib.contextmanager
def mq_server(sandbox: Any, start: tuple[str, int], slave_id: int, *, flat: bool) -> Iterator[tuple[str, str]]:
    """`pycanal server` in rabbitMQ mode from ``start`` into queue 'example' of a fresh virtual host;
    yields (amqp URI of the vhost, queue). The queue exists before this yields."""
    from instance_helpers import write_conf

    b = broker()
    vhost = b.add_vhost()
    try:
        import pika

        conn = pika.BlockingConnection(pika.URLParameters(b.url(vhost)))
        conn.channel().queue_declare("example", durable=True)
        conn.close()
        with tempfile.TemporaryDirectory() as tmp:
            conf = write_conf(
                tmp,
                sandbox.port,
                canal__instance__master__journal__name=start[0],
                canal__instance__master__position=str(start[1]),
                canal__instance__mysql__slaveId=str(slave_id),
                canal__mq__topic="example",
            )
            defines = {
                "canal.serverMode": "rabbitMQ",
                "rabbitmq.host": f"{b.host}:{b.port}",
                "rabbitmq.virtual.host": vhost,
                "rabbitmq.queue": "example",
                "canal.mq.flatMessage": "true" if flat else "false",
                "canal.auto.scan": "false",
            }
            argv = [os.path.join(os.path.dirname(sys.executable), "pycanal"), "server", "-c", conf]
            for k, v in defines.items():
                argv += ["-D", f"{k}={v}"]
            proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
            try:
                yield b.url(vhost), "example"
            finally:
                proc.terminate()
                proc.wait(30)
    finally:
        b.delete_vhost(vhost)


def _touch_flat(msg: dict[str, Any]) -> int:
    if msg["type"] not in _ROW_TYPES or msg["table"] != TABLE or msg["database"] != DATABASE:
        return 0
    for row in msg["data"]:
        for _v in row.values():
            pass
    for row in msg["old"] or ():
        for _v in row.values():
            pass
    return len(msg["data"])


def _touch_entries(entries: list[pb.Entry]) -> int:
    rows = 0
    for e in entries:
        if e.entryType != pb.ROWDATA or e.header.tableName != TABLE or e.header.schemaName != DATABASE:
            continue
        rc = pb.RowChange.FromString(e.storeValue)
        if rc.eventType not in _ROWS:
            continue
        for rd in rc.rowDatas:
            for c in rd.beforeColumns:
                c.value  # noqa: B018 - touch every value
            for c in rd.afterColumns:
                c.value  # noqa: B018
            rows += 1
    return rows


def run_mq(sandbox: Any, start: tuple[str, int], expected: int, slave_id: int, *, flat: bool) -> tuple[int, int, float]:
    """(rows, messages, seconds) from spawning the server to the last row consumed."""
    from pycanal.client.rabbitmq import RabbitMQConsumer

    rows = messages = 0
    t0 = time.perf_counter()
    with mq_server(sandbox, start, slave_id, flat=flat) as (url, queue):
        t0 = time.perf_counter()  # the vhost and queue are set up: the server process starts now
        with RabbitMQConsumer(url, queue, prefetch=1000) as consumer:
            while rows < expected:
                d = consumer.get(30.0)
                if d is None:
                    raise RuntimeError(f"no message for 30 s after {rows} of {expected} rows")
                if flat:
                    rows += _touch_flat(json.loads(d.body))
                else:
                    rows += _touch_entries(d.entries())
                messages += 1
                consumer.ack(d)
        seconds = time.perf_counter() - t0
    return rows, messages, seconds
