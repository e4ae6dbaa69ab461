"""canal's CanalController: the instances of one server process, from canal.properties.

It starts the configured destinations (``canal.destinations``, or every instance folder when that is
empty), registers them with the embedded server, and with ``canal.auto.scan`` watches the conf dir:
a new instance folder starts an instance, a removed one stops it, a changed instance.properties
restarts it. The TCP server and ZooKeeper HA sit on top of this.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from ..config import InstanceScanner, ServerConfig, load_instance_config, load_server_config
from ..instance import CanalInstance
from .embedded import CanalServerWithEmbedded

log = logging.getLogger(__name__)


class CanalController:
    def __init__(self, conf_dir: str, *, overrides: Mapping[str, str] | None = None,
                 environ: Mapping[str, str] | None = None,
                 embedded: CanalServerWithEmbedded | None = None) -> None:
        self.conf_dir = conf_dir
        self.config: ServerConfig = load_server_config(conf_dir, overrides=overrides, environ=environ)
        self.embedded = embedded or CanalServerWithEmbedded()
        self.instances: dict[str, CanalInstance] = {}
        self.scanner: InstanceScanner | None = None
        self._lock = threading.RLock()

    # -- instances ----------------------------------------------------------------------------------------
    def start_instance(self, destination: str) -> CanalInstance:
        with self._lock:
            if destination in self.instances:
                return self.instances[destination]
            cfg = load_instance_config(self.conf_dir, destination, self.config)
            inst = CanalInstance(cfg)
            self.embedded.register(inst)
            inst.start()
            self.instances[destination] = inst
            log.warning("destination %s started", destination)
            return inst

    def stop_instance(self, destination: str) -> None:
        with self._lock:
            inst = self.instances.pop(destination, None)
            if inst is None:
                return
            self.embedded.unregister(destination)
            inst.stop()
            log.warning("destination %s stopped", destination)

    def restart_instance(self, destination: str) -> None:
        with self._lock:
            self.stop_instance(destination)
            self.start_instance(destination)

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> None:
        dests = self.config.resolve_destinations()
        for dest in dests:
            self.start_instance(dest)
        if self.config.auto_scan:
            self.scanner = InstanceScanner(
                self.config.conf_dir, float(self.config.auto_scan_interval_s), on_start=self.start_instance,
                on_stop=self.stop_instance, on_restart=self.restart_instance, known=dests,
            )
            self.scanner.start()

    def stop(self) -> None:
        if self.scanner is not None:
            self.scanner.stop()
            self.scanner = None
        for dest in list(self.instances):
            self.stop_instance(dest)

    def __enter__(self) -> CanalController:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
