"""The server process: canal's CanalLauncher, i.e. the instances of a conf dir behind canal's TCP port, or
in MQ mode (``canal.serverMode = rabbitMQ``) feeding a broker, with no TCP port (canal forces
``canal.withoutNetty`` in MQ mode)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

from ..errors import ConfigError
from .controller import CanalController
from .tcp import CanalTcpServer

log = logging.getLogger(__name__)

__all__ = ["run_server"]


def run_server(
    conf_dir: str,
    overrides: Mapping[str, str] | None = None,
    *,
    ready: Callable[[CanalTcpServer | None], None] | None = None,
    environ: Mapping[str, str] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Start the instances of ``conf_dir`` and serve them on canal.ip:canal.port until SIGTERM/SIGINT (or
    until ``stop`` is set, for callers off the main thread, where signals cannot be caught). Returns 0.

    ``overrides`` are ``-D`` style canal.properties values; ``environ`` the environment to read them from
    too (the CLI passes ``os.environ``; None reads none). ``ready`` is called with the listening server,
    whose ``port`` is the real one when canal.port is 0 (with None in MQ mode, once the destinations
    started). Instances are stopped (flushing their meta) before returning, also when starting fails.
    Server modes without a producer (kafka, rocketMQ, pulsarMQ) raise ConfigError.
    """
    controller = CanalController(conf_dir, overrides=overrides, environ=dict(environ or {}))
    cfg = controller.config
    stop_event = stop or threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():

        def _on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s, stopping", signal.Signals(signum).name)
            stop_event.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, _on_signal)
    try:
        if controller.mq is not None:
            _run_mq(controller, ready, stop_event)
            log.info("pycanal server stopped")
            return 0
        server = CanalTcpServer(controller.embedded, cfg.ip, cfg.port, user=cfg.user, passwd=cfg.passwd)
        # canal's order: destinations first, then the port, so a client connecting the instant the port
        # answers is served. The port is bound (not yet listening) before, so that ZooKeeper HA advertises
        # the port really held, also when canal.port is 0.
        port = server.bind()
        try:
            try:
                controller.start(port)
                server.start()
                log.info(
                    "pycanal server listening on %s:%d, destinations: %s",
                    cfg.ip or "*",
                    server.port,
                    ", ".join(controller.embedded.destinations()) or "none",
                )
                if ready is not None:
                    ready(server)
                while not stop_event.wait(0.5):
                    pass
            finally:
                controller.stop()
        finally:
            server.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("pycanal server stopped")
    return 0


def _run_mq(
    controller: CanalController, ready: Callable[[CanalTcpServer | None], None] | None, stop_event: threading.Event
) -> None:
    """MQ mode: the destinations and their MQ workers, no TCP port. With ZooKeeper HA the advertised
    address is canal.ip:canal.port, which is then not bound: it has to be a real port, unique per server."""
    cfg = controller.config
    if cfg.zk_servers.strip() and cfg.port == 0:
        raise ConfigError(
            f"{cfg.source}: canal.port = 0 with canal.zkServers in MQ mode: the port is not opened in MQ mode "
            "but names this server in ZooKeeper, so give each server its own"
        )
    try:
        controller.start(cfg.port)
        log.info(
            "pycanal server in %s mode, destinations: %s",
            cfg.server_mode,
            ", ".join(controller.embedded.destinations()) or "none",
        )
        if ready is not None:
            ready(None)
        while not stop_event.wait(0.5):
            pass
    finally:
        controller.stop()
