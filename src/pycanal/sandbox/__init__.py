"""Throwaway real servers (MariaDB with a row binlog, ZooKeeper, RabbitMQ) for tests, benchmarks and demos."""

from .mariadb import MariaDBSandbox, free_port
from .rabbitmq import RabbitMQBroker, RabbitMQSandbox, amqp_answers
from .zookeeper import ZooKeeperEnsemble, ZooKeeperSandbox

__all__ = [
    "MariaDBSandbox",
    "RabbitMQBroker",
    "RabbitMQSandbox",
    "ZooKeeperEnsemble",
    "ZooKeeperSandbox",
    "amqp_answers",
    "free_port",
]
