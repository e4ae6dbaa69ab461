"""canal's ``rabbitmq.host`` forms (host, host:port, and pycanal's amqp URI) and the other keys."""

from __future__ import annotations

import pytest

from pycanal.config.model import RabbitMQConfig
from pycanal.errors import ConfigError
from pycanal.mq.rabbitmq import RabbitMQSettings


def fields(s: RabbitMQSettings) -> tuple:
    return (s.host, s.port, s.virtual_host, s.username, s.password, s.tls)


def test_host_forms():
    s = RabbitMQSettings.from_config(RabbitMQConfig(host="mq.local"))
    assert fields(s) == ("mq.local", 5672, "/", "guest", "guest", False)
    s = RabbitMQSettings.from_config(RabbitMQConfig(host="10.0.0.1:5673", virtual_host="v", username="u", password="p"))
    assert fields(s) == ("10.0.0.1", 5673, "v", "u", "p", False)
    s = RabbitMQSettings.from_config(RabbitMQConfig(host="amqps://a%40b:p%3Aw@broker:5999/%2Fcanal"))
    assert fields(s) == ("broker", 5999, "/canal", "a@b", "p:w", True)
    s = RabbitMQSettings.from_config(RabbitMQConfig(host="amqp://x:y@broker/v1", username="k", virtual_host="v2"))
    assert (s.port, s.username, s.password, s.virtual_host) == (5672, "k", "y", "v2")  # the keys win


def test_declarations_need_all_four_keys():
    full = RabbitMQConfig(host="h", exchange="e", queue="q", routing_key="r", delivery_mode="topic")
    assert RabbitMQSettings.from_config(full).declares_binding
    assert not RabbitMQSettings.from_config(RabbitMQConfig(host="h", exchange="e", queue="q")).declares_binding


@pytest.mark.parametrize("host", ["", "h:x", "h:0", "h:70000", "http://h", ":5672"])
def test_bad_hosts_name_the_key(host):
    with pytest.raises(ConfigError, match=r"rabbitmq\.host"):
        RabbitMQSettings.from_config(RabbitMQConfig(host=host))
