"""Throwaway real servers (MariaDB with a row binlog, ZooKeeper) for tests, benchmarks and demos."""

from .mariadb import MariaDBSandbox, free_port
from .zookeeper import ZooKeeperEnsemble, ZooKeeperSandbox

__all__ = ["MariaDBSandbox", "ZooKeeperEnsemble", "ZooKeeperSandbox", "free_port"]
