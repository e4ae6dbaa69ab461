"""canal's CanalMQStarter: an MQ worker per destination running on this server, for ``canal.serverMode``.

The controller calls :meth:`MQStarter.start_destination` once a destination has started here (with
ZooKeeper HA: once this server holds its running node) and :meth:`MQStarter.stop_destination` before it
stops, so only the server running a destination produces it. Only RabbitMQ has a producer; the other
modes canal knows are refused by :func:`check_server_mode`, since no broker for them can be tested here.

Imports: config, errors, server.embedded, mq.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..config.model import InstanceConfig, ServerConfig
from ..errors import ConfigError
from ..server.embedded import CanalServerWithEmbedded
from .rabbitmq import RabbitMQProducer, RabbitMQSettings
from .worker import MQWorker, Producer

log = logging.getLogger(__name__)

__all__ = ["MQStarter", "check_server_mode", "is_mq_mode"]

KEY = "canal.serverMode"
MISSING_PRODUCERS = {"kafka": "Kafka", "rocketmq": "RocketMQ", "pulsarmq": "Pulsar"}


def is_mq_mode(cfg: ServerConfig) -> bool:
    return cfg.server_mode.lower() != "tcp"


def check_server_mode(cfg: ServerConfig) -> None:
    """Refuse the modes pycanal has no producer for, with the reason (docs/mq.md)."""
    mode = cfg.server_mode.lower()
    if mode in ("tcp", "rabbitmq"):
        return
    name = MISSING_PRODUCERS.get(mode, mode)
    written = next(
        (layer[KEY].strip() for layer in (cfg.overrides, cfg.environ, cfg.raw) if layer.get(KEY, "").strip()),
        cfg.server_mode,
    )
    raise ConfigError(
        f"{cfg.source}: canal.serverMode = {written}: pycanal has no {name} producer (no {name} broker "
        "can run where pycanal is tested, and an untested producer is not shipped); supported: tcp, rabbitMQ "
        "(see docs/mq.md)"
    )


class MQStarter:
    """The MQ workers of one server process, one per destination running here."""

    def __init__(
        self,
        config: ServerConfig,
        server: CanalServerWithEmbedded,
        *,
        producer_factory: Callable[[InstanceConfig], Producer] | None = None,
    ) -> None:
        check_server_mode(config)
        self.config = config
        self.server = server
        self.settings = RabbitMQSettings.from_config(config.mq.rabbitmq)  # a bad rabbitmq.host stops the start
        self._factory = producer_factory or (lambda _cfg: RabbitMQProducer(self.settings))
        self._workers: dict[str, MQWorker] = {}
        self._lock = threading.Lock()

    def start_destination(self, cfg: InstanceConfig) -> MQWorker:
        mq = self.config.mq
        worker = MQWorker(
            self.server,
            cfg.destination,
            self._factory(cfg),
            topic=cfg.mq.topic,
            dynamic_topic=cfg.mq.dynamic_topic,
            flat_message=mq.flat_message,
            batch_size=mq.canal_batch_size,
            get_timeout_ms=mq.canal_get_timeout_ms,
        )
        with self._lock:
            old = self._workers.pop(cfg.destination, None)
            self._workers[cfg.destination] = worker
        if old is not None:
            old.stop()
        worker.start()
        return worker

    def stop_destination(self, destination: str, *, fenced: bool = False, wait: bool = True) -> MQWorker | None:
        """Stop the destination's worker (``wait=False``: only signal it; join it with :meth:`MQWorker.join`)."""
        with self._lock:
            worker = self._workers.pop(destination, None)
        if worker is not None:
            worker.stop(fenced=fenced, wait=wait)
        return worker

    def worker(self, destination: str) -> MQWorker | None:
        return self._workers.get(destination)

    def stop(self) -> None:
        with self._lock:
            workers, self._workers = list(self._workers.values()), {}
        for w in workers:
            w.stop(wait=False)
        for w in workers:
            w.join()
