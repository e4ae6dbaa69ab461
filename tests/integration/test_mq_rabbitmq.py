"""The RabbitMQ producer and consumer against a real broker (no MariaDB): confirms, canal's message
properties and declarations, every refusal as one typed error naming its key, the consumer's manual acks
and reconnection, and the own-node sandbox that runs when no broker answers on 5672."""

from __future__ import annotations

import socket
import uuid

import pika
import pytest

from pycanal.client.rabbitmq import RabbitMQConsumer
from pycanal.config.model import RabbitMQConfig
from pycanal.errors import MQConnectionError, MQDeliveryError, MQRefusedError
from pycanal.mq.messages import Outgoing
from pycanal.mq.rabbitmq import RabbitMQProducer, RabbitMQSettings
from pycanal.sandbox import RabbitMQSandbox, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def settings(broker, vhost: str, **keys: str) -> RabbitMQSettings:
    return RabbitMQSettings.from_config(RabbitMQConfig(host=f"{broker.host}:{broker.port}", virtual_host=vhost, **keys))


def msgs(key: str, n: int, start: int = 0) -> list[Outgoing]:
    return [Outgoing(key, key, f'{{"n":{i}}}'.encode()) for i in range(start, start + n)]


def drain(consumer: RabbitMQConsumer, n: int, timeout: float = 10.0, ack: bool = False) -> list:
    got = []
    for _ in range(n):
        d = consumer.get(timeout)
        assert d is not None, f"only {len(got)} of {n} deliveries arrived"
        got.append(d)
        if ack:
            assert consumer.ack(d)
    return got


def queue_info(broker, vhost: str) -> dict[str, list[str]]:
    out = broker.ctl("list_queues", "-p", vhost, "name", "durable", "messages", "--no-table-headers", "-q")
    return {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}


def test_batch_is_confirmed_persistent_and_in_order(rabbitmq, rabbit_vhost):
    producer = RabbitMQProducer(settings(rabbitmq, rabbit_vhost, queue="example"))
    producer.connect()
    try:
        producer.publish(msgs("example", 500))
    finally:
        producer.close()
    assert queue_info(rabbitmq, rabbit_vhost)["example"] == ["true", "500"]  # declared durable, all there
    with RabbitMQConsumer(rabbitmq.url(rabbit_vhost), "example") as consumer:
        got = drain(consumer, 500, ack=True)  # prefetch is 256: more come only as earlier ones are acked
        assert [d.flat_messages()[0]["n"] for d in got] == list(range(500))
    conn = pika.BlockingConnection(pika.URLParameters(rabbitmq.url(rabbit_vhost)))
    try:
        producer = RabbitMQProducer(settings(rabbitmq, rabbit_vhost, queue="example"))
        producer.connect()
        producer.publish(msgs("example", 1))
        producer.close()
        method, props, _body = conn.channel().basic_get("example", auto_ack=True)
        assert method is not None
        assert (props.content_type, props.delivery_mode, props.priority) == ("text/plain", 2, 0)  # canal's
    finally:
        conn.close()


def test_exchange_queue_and_binding_declared_when_all_are_set(rabbitmq, rabbit_vhost):
    s = settings(rabbitmq, rabbit_vhost, exchange="canal", queue="q1", routing_key="example", delivery_mode="direct")
    producer = RabbitMQProducer(s)
    producer.connect()
    producer.publish(msgs("example", 3))
    with pytest.raises(MQDeliveryError, match=r"returned a message to routing key 'other'.*canal.mq.topic"):
        producer.publish(msgs("other", 1))  # mandatory: unroutable is an error, never a silent loss
    assert not producer.connected  # a failed batch drops the connection; the worker connects again
    assert queue_info(rabbitmq, rabbit_vhost)["q1"] == ["true", "3"]
    exchanges = rabbitmq.ctl("list_exchanges", "-p", rabbit_vhost, "name", "type", "durable", "-q")
    assert any(line.split() == ["canal", "direct", "true"] for line in exchanges.splitlines())


def test_default_exchange_unroutable_message_is_returned(rabbitmq, rabbit_vhost):
    producer = RabbitMQProducer(settings(rabbitmq, rabbit_vhost))
    producer.connect()
    with pytest.raises(MQDeliveryError, match=r"routing key 'example'.*exchange '\(default\)'") as info:
        producer.publish(msgs("example", 2))
    assert info.value.key == "canal.mq.topic"


def test_missing_exchange_names_the_key(rabbitmq, rabbit_vhost):
    producer = RabbitMQProducer(settings(rabbitmq, rabbit_vhost, exchange="nosuch", queue="q"))
    with pytest.raises(MQRefusedError, match=r"rabbitmq.exchange = 'nosuch' does not exist") as info:
        producer.connect()
    assert info.value.key == "rabbitmq.exchange"


def test_refused_login_missing_vhost_and_unreachable_host(rabbitmq, rabbit_vhost):
    with pytest.raises(MQRefusedError, match=r"refused the login of rabbitmq.username = 'guest'") as info:
        RabbitMQProducer(settings(rabbitmq, rabbit_vhost, password="wrong")).connect()
    assert info.value.key == "rabbitmq.username"
    with pytest.raises(MQRefusedError, match=r"rabbitmq.virtual.host = 'nosuch-vhost'") as info:
        RabbitMQProducer(settings(rabbitmq, "nosuch-vhost")).connect()
    assert info.value.key == "rabbitmq.virtual.host"
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    s_unreach = RabbitMQSettings.from_config(RabbitMQConfig(host=f"127.0.0.1:{port}"))
    with pytest.raises(MQConnectionError, match=f"cannot reach RabbitMQ at 127.0.0.1:{port}.*rabbitmq.host") as info:
        RabbitMQProducer(s_unreach, connect_timeout=3).connect()
    assert info.value.key == "rabbitmq.host"


def test_consumer_gets_unacked_deliveries_again_after_the_broker_closes_connections(rabbitmq, rabbit_vhost):
    producer = RabbitMQProducer(settings(rabbitmq, rabbit_vhost, queue="example"))
    producer.connect()
    producer.publish(msgs("example", 3))
    producer.close()
    with RabbitMQConsumer(rabbitmq.url(rabbit_vhost), "example", max_backoff=0.5) as consumer:
        first, second, _third = drain(consumer, 3)
        assert consumer.ack(first)
        rabbitmq.close_connections(rabbit_vhost)
        again = drain(consumer, 2)  # reconnects; what was not acked comes again
        assert [d.flat_messages()[0]["n"] for d in again] == [1, 2] and all(d.redelivered for d in again)
        assert consumer.ack(second) is False  # a delivery of the old connection: nothing to ack any more
        assert all(consumer.ack(d) for d in again)
        assert consumer.get(0.3) is None
    with pytest.raises(MQRefusedError, match=r"queue 'nosuch'"):
        RabbitMQConsumer(rabbitmq.url(rabbit_vhost), "nosuch").connect()


def test_own_node_on_free_ports(tmp_path):
    """The path taken on a machine without a running broker: our own node, its own epmd, its rabbitmqctl."""
    port = free_port()
    with RabbitMQSandbox(str(tmp_path / "node"), port=port) as node:
        broker = node.broker
        assert broker.port == port and node.dist_port != port
        vhost = broker.add_vhost()
        producer = RabbitMQProducer(settings(broker, vhost, queue=f"q-{uuid.uuid4().hex[:6]}"))
        producer.connect()
        producer.publish(msgs(producer.settings.queue, 2))
        producer.close()
        with RabbitMQConsumer(broker.url(vhost), producer.settings.queue) as consumer:
            assert [d.flat_messages()[0]["n"] for d in drain(consumer, 2)] == [0, 1]
        assert vhost in broker.ctl("list_vhosts", "-q")
        epmd, server = node.epmd, node.process
    assert server is not None and server.poll() is not None  # stopped by PID, with its epmd
    assert epmd is not None and epmd.poll() is not None
