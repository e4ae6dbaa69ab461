"""`pycanal server` in rabbitMQ mode against a real MariaDB and RabbitMQ: what reaches the queue equals
`pycanal dump` for the same binlog (FlatMessage JSON and protobuf), canal's dynamic-topic routing, and every
bad input as one clear line naming its key, retried, with nothing acked."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pika
import pytest

from helpers import wait_for
from instance_helpers import write_conf
from mq_helpers import QueueReader, mq_destination, mq_overrides, server_thread
from pycanal.dump import iter_flat_messages
from pycanal.errors import ConfigError

PYCANAL = str(Path(sys.executable).with_name("pycanal"))
pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def every_change_type(mariadb, db: str) -> None:
    """Changes of every type canal names: rows of many column types, DDL of each kind, the last an ERASE."""
    t = f"`{db}`.f"
    mariadb.execute(
        f"CREATE TABLE {t} (id INT UNSIGNED PRIMARY KEY, name VARCHAR(20), price DECIMAL(8,2), "
        "at DATETIME(3), kind ENUM('a','b'), tags SET('x','y'), data BLOB, n TINYINT UNSIGNED, doc JSON, "
        "txt TEXT CHARACTER SET utf8mb4, d DATE, f DOUBLE)",
        f"INSERT INTO {t} VALUES (1, 'a', 1.50, '2024-01-02 03:04:05.678', 'b', 'x,y', x'00ff', 255, "
        "'{\"k\": [1, 2]}', 'héllo \"q\" 😀\\n', '2024-02-29', 1.5e10), "
        "(3, 'c', -2.25, '2000-01-01', 'a', '', '', 0, NULL, '', NULL, -0.5), "
        "(4294967295, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        f"UPDATE {t} SET name = 'z' WHERE id IN (1, 3)",
        f"UPDATE {t} SET price = price + 1 WHERE id = 1",
        f"DELETE FROM {t} WHERE id = 3",
        f"ALTER TABLE {t} ADD COLUMN extra INT",
        f"CREATE INDEX idx_name ON {t} (name)",
        f"INSERT INTO {t} (id, extra) VALUES (5, 7)",
        f"DROP INDEX idx_name ON {t}",
        f"RENAME TABLE {t} TO `{db}`.g",
        f"TRUNCATE TABLE `{db}`.g",
        f"DROP TABLE `{db}`.g",
    )


def strip(msgs: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if k not in ("id", "ts")} for m in msgs]


@pytest.mark.parametrize("flat", [True, False], ids=["flat", "protobuf"])
def test_queue_equals_pycanal_dump(flat, mariadb, fresh_db, rabbitmq, rabbit_vhost, tmp_path):
    dest = f"mq_{'flat' if flat else 'pb'}"
    journal, position = mariadb.master_status()
    conf = mq_destination(mariadb, fresh_db, tmp_path, dest)
    with server_thread(conf, mq_overrides(rabbitmq, rabbit_vhost, queue=dest, flat=flat)):
        reader = QueueReader(rabbitmq.url(rabbit_vhost), dest)
        reader.start()
        try:
            every_change_type(mariadb, fresh_db)
            wait_for(
                lambda: reader.messages and reader.messages[-1]["type"] == "ERASE",
                60,
                message=lambda: f"{[m['type'] for m in reader.messages]}",
            )
        finally:
            reader.stop()
    dumped = list(
        iter_flat_messages(
            "127.0.0.1",
            mariadb.port,
            "canal",
            "canal",
            server_id=4811 + flat,
            start=(journal, position),
            stop_at_end=True,
            table_filter=f"{fresh_db}\\..*",
        )
    )
    got = reader.messages
    assert [m["type"] for m in got] == [
        "CREATE", "INSERT", "UPDATE", "UPDATE", "DELETE", "ALTER", "CINDEX", "INSERT", "DINDEX", "RENAME",
        "TRUNCATE", "ERASE",
    ]  # fmt: skip
    assert strip(got) == strip(dumped)
    assert [list(m) for m in got] == [list(m) for m in dumped]  # canal's key order too
    assert got[2]["old"] == [{"name": "a"}, {"name": "c"}]


def test_dynamic_topic_routing_with_canals_example_rules(mariadb, rabbitmq, rabbit_vhost, tmp_path):
    """canal's shipped example: mytest1.user,topic2:mytest2\\..*,.*\\..* (queues named as canal's RabbitMQ
    producer routes: the topic with '.' made '_')."""
    dbs = ("mytest1", "mytest2", "mytest3")
    for db in dbs:
        mariadb.execute(f"DROP DATABASE IF EXISTS {db}", f"CREATE DATABASE {db}")
    try:
        journal, position = mariadb.master_status()
        conf = write_conf(
            tmp_path,
            mariadb.port,
            "routed",
            canal__instance__filter__regex="mytest[123]\\\\..*",
            canal__instance__master__journal__name=journal,
            canal__instance__master__position=str(position),
            canal__mq__topic="example",
            canal__mq__dynamicTopic="mytest1.user,topic2:mytest2\\\\..*,.*\\\\..*",
        )
        queues = ("mytest1_user", "topic2", "mytest3_orders", "mytest1_other")
        conn = pika.BlockingConnection(pika.URLParameters(rabbitmq.url(rabbit_vhost)))
        ch = conn.channel()
        for q in queues:
            ch.queue_declare(q, durable=True)
        conn.close()
        with server_thread(conf, mq_overrides(rabbitmq, rabbit_vhost)):
            readers = {q: QueueReader(rabbitmq.url(rabbit_vhost), q) for q in queues}
            for r in readers.values():
                r.start()
            try:
                mariadb.execute(
                    "CREATE TABLE mytest1.user (id INT PRIMARY KEY)",
                    "CREATE TABLE mytest2.a (id INT PRIMARY KEY)",
                    "CREATE TABLE mytest3.orders (id INT PRIMARY KEY)",
                    "CREATE TABLE mytest1.other (id INT PRIMARY KEY)",
                    "INSERT INTO mytest1.user VALUES (1), (2)",
                    "INSERT INTO mytest2.a VALUES (3)",
                    "INSERT INTO mytest3.orders VALUES (4)",
                    "INSERT INTO mytest1.other VALUES (5)",
                    "ALTER TABLE mytest1.user ADD COLUMN c INT",
                    "INSERT INTO mytest1.user VALUES (6, 0)",
                )
                wait_for(lambda: len(readers["mytest1_user"].messages) == 4, 60)
                wait_for(lambda: all(len(r.messages) == 2 for q, r in readers.items() if q != "mytest1_user"), 30)
            finally:
                for r in readers.values():
                    r.stop()
        user = readers["mytest1_user"].messages
        assert [(m["type"], m["table"]) for m in user] == [
            ("CREATE", "user"),
            ("INSERT", "user"),
            ("ALTER", "user"),
            ("INSERT", "user"),
        ]
        assert readers["mytest1_user"].inserted_ids() == [1, 2, 6]
        assert readers["topic2"].inserted_ids() == [3]  # named rule
        assert readers["mytest3_orders"].inserted_ids() == [4]  # catch-all rule, lower-cased
        assert readers["mytest1_other"].inserted_ids() == [5]
    finally:
        for db in dbs:
            mariadb.execute(f"DROP DATABASE IF EXISTS {db}")


@pytest.mark.parametrize(
    ("keys", "line"),
    [
        ({"rabbitmq.password": "wrong"}, "refused the login of rabbitmq.username = 'guest'"),
        ({"rabbitmq.exchange": "nosuch"}, "rabbitmq.exchange = 'nosuch' does not exist"),
        ({"rabbitmq.virtual.host": "nosuch-vhost"}, "rabbitmq.virtual.host = 'nosuch-vhost'"),
        ({"rabbitmq.host": "127.0.0.1:1"}, "cannot reach RabbitMQ at 127.0.0.1:1 (rabbitmq.host = '127.0.0.1')"),
    ],
    ids=["login", "exchange", "vhost", "host"],
)
def test_bad_broker_settings_one_line_naming_the_key_retried_nothing_acked(
    keys, line, mariadb, fresh_db, rabbitmq, rabbit_vhost, tmp_path, caplog
):
    """The server keeps trying with one line per attempt; once the setting is fixed (same conf dir, same
    meta.dat) the changes written meanwhile arrive: nothing was acked while the broker refused."""
    dest = "bad_input"
    conf = mq_destination(mariadb, fresh_db, tmp_path, dest)
    caplog.set_level(logging.INFO, logger="pycanal")
    with server_thread(conf, mq_overrides(rabbitmq, rabbit_vhost, queue=dest, **keys)):
        mariadb.execute(f"CREATE TABLE `{fresh_db}`.t (id INT PRIMARY KEY)", f"INSERT INTO `{fresh_db}`.t VALUES (1)")
        wait_for(lambda: sum(line in r.getMessage() for r in caplog.records) >= 2, 30, message="two attempts logged")
    failures = [r.getMessage() for r in caplog.records if line in r.getMessage()]
    assert all("\n" not in m and "nothing acked, retrying in" in m for m in failures), failures
    with server_thread(conf, mq_overrides(rabbitmq, rabbit_vhost, queue=dest)):
        reader = QueueReader(rabbitmq.url(rabbit_vhost), dest)
        reader.start()
        try:
            wait_for(lambda: reader.inserted_ids() == [1], 30, message=lambda: f"{reader.messages}")
        finally:
            reader.stop()
    assert [m["type"] for m in reader.messages] == ["CREATE", "INSERT"]


def test_server_modes_without_a_producer_are_refused(tmp_path, mariadb):
    conf = write_conf(tmp_path, mariadb.port, "x")
    for mode, name in (("kafka", "Kafka"), ("rocketMQ", "RocketMQ"), ("pulsarMQ", "Pulsar")):
        refused = pytest.raises(ConfigError, match=rf"canal\.serverMode = {mode}: pycanal has no {name} producer")
        with refused, server_thread(conf, {"canal.serverMode": mode}):
            pass
    no_host = pytest.raises(ConfigError, match=r"rabbitmq\.host is not set")
    with no_host, server_thread(conf, {"canal.serverMode": "rabbitMQ"}):
        pass


def _tail(url: str, queue: str, out: Path, lines: int, *flags: str) -> list[str]:
    """`pycanal tail --rabbitmq` until ``out`` has ``lines`` lines; those lines."""
    with open(out, "w") as f:
        proc = subprocess.Popen([PYCANAL, "tail", "--rabbitmq", url, "--queue", queue, *flags], stdout=f)
        try:
            wait_for(lambda: len(out.read_text().splitlines()) >= lines, 30, message=lambda: out.read_text())
        finally:
            proc.terminate()
            proc.wait(10)
    return out.read_text().splitlines()


def test_tail_reads_a_queue_as_json_and_as_text(mariadb, fresh_db, rabbitmq, rabbit_vhost, tmp_path):
    dest = "tailed"
    url = rabbitmq.url(rabbit_vhost)
    conf = mq_destination(mariadb, fresh_db, tmp_path, dest)
    with server_thread(conf, mq_overrides(rabbitmq, rabbit_vhost, queue=dest)):
        mariadb.execute(
            f"CREATE TABLE `{fresh_db}`.t (id INT PRIMARY KEY, v VARCHAR(5))",
            f"INSERT INTO `{fresh_db}`.t VALUES (1, 'a'), (2, NULL)",
            f"UPDATE `{fresh_db}`.t SET v = 'b' WHERE id = 1",
        )
        lines = _tail(url, dest, tmp_path / "tail.jsonl", 3, "--json")
        assert [json.loads(x)["type"] for x in lines] == ["CREATE", "INSERT", "UPDATE"]
        assert lines[1].startswith('{"data":[{"id":"1","v":"a"},{"id":"2","v":null}],"database":')
        mariadb.execute(f"DELETE FROM `{fresh_db}`.t WHERE id = 2")
        text = _tail(url, dest, tmp_path / "tail.txt", 3)
    assert text[0].startswith(f"----------------> name[{fresh_db},t] , eventType : DELETE , executeTime : ")
    assert text[1:3] == ["id : 2    type=int(11)", "v : NULL    type=varchar(5)"]
    missing = subprocess.run(
        [PYCANAL, "tail", "--rabbitmq", url, "--queue", "nosuch"], capture_output=True, text=True, timeout=30
    )
    assert missing.returncode == 1 and "refused to consume queue 'nosuch'" in missing.stderr
