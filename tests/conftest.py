"""Fixtures that start real servers: MariaDB with a row binlog, ZooKeeper (standalone, ensemble), and RabbitMQ
(the broker on 127.0.0.1:5672 when one answers, else a node of our own).

Servers start lazily, only for the tests that ask for them, and are always stopped and removed.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# `from helpers import wait_for` in every test module, whatever the import mode or package layout.
_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from pycanal.sandbox import (  # noqa: E402
    MariaDBSandbox,
    RabbitMQBroker,
    RabbitMQSandbox,
    ZooKeeperEnsemble,
    ZooKeeperSandbox,
    amqp_answers,
)
from pycanal.sandbox.rabbitmq import SYSTEM_CTL  # noqa: E402


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDBSandbox]:
    """One MariaDB 10.11 for the session: ROW binlog, FULL row image, FULL row metadata, server_id 1."""
    sandbox = MariaDBSandbox(row_image="FULL")
    with sandbox:
        yield sandbox


@pytest.fixture
def mariadb_factory() -> Iterator[Callable[..., MariaDBSandbox]]:
    """Call with MariaDBSandbox kwargs (row_image="MINIMAL", server_id=2, ...) for extra started servers."""
    made: list[MariaDBSandbox] = []

    def make(**kwargs: Any) -> MariaDBSandbox:
        sandbox = MariaDBSandbox(**kwargs)
        made.append(sandbox)
        try:
            sandbox.start()
        except BaseException:
            sandbox.cleanup()
            raise
        return sandbox

    yield make
    for sandbox in reversed(made):
        sandbox.cleanup()


@pytest.fixture
def fresh_db(mariadb: MariaDBSandbox) -> Iterator[str]:
    """The name of a new, empty database in the session MariaDB, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    mariadb.execute(f"CREATE DATABASE `{name}`")
    try:
        yield name
    finally:
        mariadb.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture(scope="session")
def zookeeper() -> Iterator[ZooKeeperSandbox]:
    """One standalone ZooKeeper for the session; tests should use their own znode paths."""
    with ZooKeeperSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def zk_ensemble() -> Iterator[ZooKeeperEnsemble]:
    """A fresh 3-node loopback ensemble with a quorum, for tests that kill, pause or restart nodes."""
    with ZooKeeperEnsemble(size=3) as ensemble:
        yield ensemble


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[RabbitMQBroker]:
    """RabbitMQ for the session: the broker answering on 127.0.0.1:5672 (guest/guest, its rabbitmqctl), or,
    when none does (or PYCANAL_RABBITMQ=own), a node of our own on free ports. Tests use their own vhost."""
    if os.environ.get("PYCANAL_RABBITMQ") != "own" and amqp_answers("127.0.0.1", 5672) and os.path.exists(SYSTEM_CTL):
        yield RabbitMQBroker("127.0.0.1", 5672)
        return
    with RabbitMQSandbox() as sandbox:
        yield sandbox.broker


@pytest.fixture
def rabbit_vhost(rabbitmq: RabbitMQBroker) -> Iterator[str]:
    """A virtual host of this test's own (guest may use it), deleted with all it holds afterwards."""
    name = rabbitmq.add_vhost()
    try:
        yield name
    finally:
        rabbitmq.delete_vhost(name)
