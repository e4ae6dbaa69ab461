"""canal's CanalController: the instances of one server process, from canal.properties.

It starts the configured destinations (``canal.destinations``, or every instance folder when that is
empty), registers them with the embedded server, and with ``canal.auto.scan`` watches the conf dir:
a new instance folder starts an instance, a removed one stops it, a changed instance.properties
restarts it. The TCP server sits on top of this; in MQ mode (``canal.serverMode = rabbitMQ``) an MQ worker
per running destination (:mod:`pycanal.mq`) takes its place, started after the destination and stopped
before it (at once and without acking when fenced off).

With ``canal.zkServers`` set, every destination goes through its ZooKeeper running monitor
(:mod:`pycanal.ha.running`): the destination runs here only while this server holds its running node, and
stops at once when ZooKeeper is lost. ZooKeeper being unreachable is logged and retried, never fatal: the
destinations are simply not served ("should start first") until it is back. Instances on
default-instance.xml keep their cursors in ZooKeeper (PeriodMixedMetaManager over ZooKeeperMetaManager).

pycanal-only keys: ``canal.zookeeper.running.delay`` (ms, default 5000: how long a server that was not the
last holder waits before contending for a vacant running node) and ``canal.zookeeper.session.timeout``
(ms, default 90000 as canal asks; ZooKeeper caps it at 20 ticks).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from ..config import InstanceConfig, InstanceScanner, ServerConfig, load_instance_config, load_server_config
from ..errors import ConfigError
from ..instance import CanalInstance
from .embedded import CanalServerWithEmbedded

if TYPE_CHECKING:
    from ..ha.running import ZooKeeperHA
    from ..mq.starter import MQStarter

log = logging.getLogger(__name__)

RUNNING_DELAY_KEY = "canal.zookeeper.running.delay"
SESSION_TIMEOUT_KEY = "canal.zookeeper.session.timeout"
DEFAULT_META_ZK = "127.0.0.1:2181"  # default-instance.xml's fallback when canal.zkServers is empty


def extra_ms(cfg: ServerConfig, key: str, default: int, lo: int = 0) -> int:
    """A pycanal-only millisecond setting, looked up like canal's keys: -D override, environment, file."""
    for origin, layer in (("-D", cfg.overrides), ("environment", cfg.environ), (cfg.source, cfg.raw)):
        if key in layer:
            text = layer[key].strip()
            try:
                value = int(text)
            except ValueError:
                raise ConfigError(f"{origin}: {key} = {text!r} is not a whole number of milliseconds") from None
            if value < lo:
                raise ConfigError(f"{origin}: {key} = {value} must be at least {lo}")
            return value
    return default


class CanalController:
    def __init__(
        self,
        conf_dir: str,
        *,
        overrides: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
        embedded: CanalServerWithEmbedded | None = None,
    ) -> None:
        self.conf_dir = conf_dir
        self.config: ServerConfig = load_server_config(conf_dir, overrides=overrides, environ=environ or {})
        self.embedded = embedded or CanalServerWithEmbedded()
        self.instances: dict[str, CanalInstance] = {}  # the destinations running here
        self.scanner: InstanceScanner | None = None
        self.ha: ZooKeeperHA | None = None  # when canal.zkServers is set
        self._meta_zk: Any = None  # kazoo client for default-instance.xml without canal.zkServers
        self._lock = threading.RLock()
        self._warned_file_meta = False
        self.mq: MQStarter | None = None  # canal.serverMode other than tcp
        if self.config.server_mode.lower() != "tcp":
            from ..mq.starter import MQStarter

            self.mq = MQStarter(self.config, self.embedded)

    # -- instances ----------------------------------------------------------------------------------------
    def start_instance(self, destination: str) -> CanalInstance | None:
        """Start ``destination`` here; with HA, start contending for it (None: it may run elsewhere)."""
        if self.ha is not None:
            self.ha.add(destination, partial(self._enter, destination), partial(self._deactivate, destination))
            return self.instances.get(destination)
        return self._activate(destination)

    def stop_instance(self, destination: str) -> None:
        """Stop ``destination`` here; with HA, also stop contending (its running node is released)."""
        if self.ha is not None:
            self.ha.remove(destination)
        self._deactivate(destination)

    def restart_instance(self, destination: str) -> None:
        """Restart with the current instance.properties (with HA: only if it runs here, keeping the node)."""
        if self.ha is not None:
            monitor = self.ha.get(destination)
            if monitor is None:
                self.start_instance(destination)
            else:
                monitor.restart()
            return
        with self._lock:
            self._deactivate(destination)
            self._activate(destination)

    def _enter(self, destination: str) -> None:
        self._activate(destination)

    def _activate(self, destination: str) -> CanalInstance:
        with self._lock:
            if destination in self.instances:
                return self.instances[destination]
            cfg = load_instance_config(self.conf_dir, destination, self.config)
            inst = self._new_instance(cfg)
            self.embedded.register(inst)
            try:
                inst.start()
            except BaseException:
                self.embedded.unregister(destination)
                inst.stop()
                raise
            self.instances[destination] = inst
            if self.mq is not None:
                self.mq.start_destination(cfg)
            state = inst.state
            if state == "dumping":
                log.info("destination %s started", destination)
            else:  # serving what it has; the parser keeps trying its master with backoff
                log.warning("destination %s started, but not dumping yet: %s", destination, state)
            return inst

    def _deactivate(self, destination: str, graceful: bool = True) -> None:
        """Stop serving at once (clients get "should start first"), then stop the instance. Gracefully,
        the cursors acked since the last periodic ZooKeeper flush are written first."""
        with self._lock:
            inst = self.instances.pop(destination, None)
            if inst is None:
                return
            # MQ: no batch may be published or acked once the destination stops here; fenced off, the
            # batch in flight is abandoned at once (the instance stopping below ends a blocked get).
            mq = self.mq
            worker = None if mq is None else mq.stop_destination(destination, fenced=not graceful, wait=graceful)
            self.embedded.unregister(destination)
            if graceful:
                flush = getattr(inst.meta_manager, "flush", None)
                if callable(flush) and inst.meta_manager.is_started():
                    try:
                        flush()
                    except Exception:
                        log.exception("%s: flushing the cursors before stopping failed", destination)
            inst.stop()
            if worker is not None:
                worker.join()
            if graceful:
                log.info("destination %s stopped", destination)
            else:
                log.warning("destination %s stopped (fenced off)", destination)

    def _new_instance(self, cfg: InstanceConfig) -> CanalInstance:
        flavour = cfg.meta_flavour
        if flavour != "default":
            if self.ha is not None and flavour == "file" and not self._warned_file_meta:
                self._warned_file_meta = True
                log.warning(
                    "%s uses %s: its cursors stay in this server's meta.dat, so a server taking it over "
                    "starts without them; use default-instance.xml (cursors in ZooKeeper) for HA",
                    cfg.destination,
                    cfg.spring_xml,
                )
            return CanalInstance(cfg)
        from ..meta.period import PeriodMixedMetaManager
        from ..meta.zookeeper import ZooKeeperMetaManager

        guard = None
        if self.ha is not None:
            zk = self.ha.zk
            monitor = self.ha.get(cfg.destination)
            guard = None if monitor is None else monitor.holds_running
        else:
            zk = self._fallback_zk()
        backend = ZooKeeperMetaManager(zk, write_guard=guard)
        return CanalInstance(cfg, meta_manager=PeriodMixedMetaManager(backend, cfg.zookeeper_flush_period_ms))

    def _fallback_zk(self) -> Any:
        with self._lock:
            if self._meta_zk is None:
                from ..ha.zk import make_client

                log.warning(
                    "default-instance.xml without canal.zkServers: cursors go to ZooKeeper at %s "
                    "(canal's fallback), and there is no HA",
                    DEFAULT_META_ZK,
                )
                self._meta_zk = make_client(DEFAULT_META_ZK, self._session_timeout_s())
                self._meta_zk.start_async()
            return self._meta_zk

    def _session_timeout_s(self) -> float:
        return extra_ms(self.config, SESSION_TIMEOUT_KEY, 90000, lo=1) / 1000.0

    def _start_ha(self, port: int | None) -> None:
        from ..ha.running import ZooKeeperHA, server_address
        from ..ha.zk import parse_zk_servers

        cfg = self.config
        hosts = parse_zk_servers(cfg.zk_servers)
        address = server_address(cfg.register_ip, cfg.ip, port or cfg.port)
        delay_s = extra_ms(cfg, RUNNING_DELAY_KEY, 5000) / 1000.0
        self.ha = ZooKeeperHA(hosts, address, session_timeout_s=self._session_timeout_s(), delay_s=delay_s)
        self.ha.start()
        log.info("HA through ZooKeeper %s as %s (takeover delay %gs)", hosts, address, delay_s)

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self, port: int | None = None) -> None:
        """Start the destinations; ``port`` is the TCP port really bound (canal.port 0 picks one), the one
        advertised in ZooKeeper."""
        self._check_conf_dir()
        if self.config.zk_servers.strip():
            self._start_ha(port)
        dests = self.config.resolve_destinations()
        for dest in dests:
            try:
                self.start_instance(dest)
            except Exception as exc:  # one destination fails alone, never the server or the others
                log.error("destination %s not started: %s", dest, exc)
                log.debug("destination %s: the failure in full", dest, exc_info=exc)
        if self.config.auto_scan:
            self.scanner = InstanceScanner(
                self.config.conf_dir,
                float(self.config.auto_scan_interval_s),
                on_start=self.start_instance,
                on_stop=self.stop_instance,
                on_restart=self.restart_instance,
                known=dests,
            )
            self.scanner.start()

    def _check_conf_dir(self) -> None:
        """Instance folders are looked up in canal.conf.dir: a path that is not a folder is a config error
        (and never a reason for the auto-scan to stop instances)."""
        cfg = self.config
        if os.path.isdir(cfg.conf_dir):
            return
        written = next(
            (
                f"{layer[key]!r} ({origin})"
                for origin, layer in (("-D", cfg.overrides), ("environment", cfg.environ), (cfg.source, cfg.raw))
                if (key := "canal.conf.dir") in layer and layer[key].strip()
            ),
            "unset: the folder of canal.properties",
        )
        raise ConfigError(
            f"canal.conf.dir = {written} resolves to {cfg.conf_dir}, which is not a directory; instance folders "
            "are looked up there (relative paths are taken from <home>/bin as canal's startup.sh runs, and "
            "../conf means the folder holding canal.properties)"
        )

    def stop(self) -> None:
        if self.scanner is not None:
            self.scanner.stop()
            self.scanner = None
        if self.ha is not None:
            self.ha.stop()  # every monitor releases its node, stopping its destination first
            self.ha = None
        for dest in list(self.instances):
            self._deactivate(dest)
        if self._meta_zk is not None:
            try:
                self._meta_zk.stop()
            finally:
                self._meta_zk.close()
                self._meta_zk = None

    def __enter__(self) -> CanalController:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
