"""canal's instance: one destination's parser -> sink -> store, with its meta manager.

:class:`CanalInstance` wires the parts from an :class:`~pycanal.config.InstanceConfig` and gives the
embedded server what it needs (:class:`~pycanal.server.embedded.InstanceHandle`): the store, the meta
manager, whether it runs, and the subscriber-filter change. The parser resumes from the smallest cursor
of the subscribed clients, as canal's MetaLogPositionManager does.
"""

from __future__ import annotations

import logging
import threading

from .config import InstanceConfig
from .errors import ConfigError
from .filter import TableFilter
from .meta import FileMixedMetaManager, MemoryMetaManager, MetaManager
from .model import ClientIdentity, LogIdentity, LogPosition
from .parse.parser import MysqlEventParser, ParserConfig
from .parse.position import Master
from .sink import EntryEventSink
from .store.memory import MemoryEventStore

log = logging.getLogger(__name__)


def _master(cfg: InstanceConfig, standby: bool = False) -> Master | None:
    src = cfg.standby if standby else cfg.master
    if src is None or src.address is None:
        return None
    return Master(
        host=src.address.host, port=src.address.port, user=cfg.db_username, password=cfg.db_password,
        journal_name=src.journal_name or "", position=src.position or 0, timestamp=src.timestamp or 0,
        gtid=src.gtid or "",
    )


def min_cursor(cursors: list[LogPosition]) -> LogPosition | None:
    """The earliest of the clients' cursors: by file and offset for one server, else by timestamp."""
    best: LogPosition | None = None
    for c in cursors:
        if best is None:
            best = c
            continue
        if c.identity == best.identity:
            if c.position.key() < best.position.key():
                best = c
        elif (c.position.timestamp or 0) < (best.position.timestamp or 0):
            best = c
    return best


class CanalInstance:
    """One destination. ``start()`` runs it; ``error`` holds what stopped it, if anything did."""

    def __init__(self, config: InstanceConfig, *, meta_manager: MetaManager | None = None) -> None:
        self.config = config
        self.destination = config.destination
        master = _master(config)
        if master is None:
            raise ConfigError(f"{config.source}: canal.instance.master.address is not set for {config.destination}")
        self.master = master
        mem = config.memory
        self.store = MemoryEventStore(mem.buffer_size, mem.buffer_memunit, mem.batch_mode, config.get_ddl_isolation)
        self.meta_manager = meta_manager or self._default_meta()
        f = config.filter
        self._white = f.regex
        self.sink = EntryEventSink(self.store, LogIdentity(master.host, master.port),
                                   filter_transaction_entry=f.transaction_entry)
        det = config.detecting
        self.parser_config = ParserConfig(
            master=master, standby=_master(config, standby=True), slave_id=config.slave_id,
            gtid_mode=config.gtid_on, transaction_size=config.transaction_size,
            fallback_seconds=config.fallback_interval_s, detecting_enable=det.enable,
            detecting_sql=det.sql or "select 1", detecting_interval=float(det.interval_s),
            detecting_retry_threshold=det.retry_threshold, heartbeat_ha_enable=det.heartbeat_ha_enable,
            binlog_formats=config.binlog_formats or ("ROW", "STATEMENT", "MIXED"),
            binlog_images=config.binlog_images or ("FULL", "MINIMAL", "NOBLOB"),
            converter_options=self._converter_options(f.regex),
        )
        self.parser: MysqlEventParser | None = None
        self._lock = threading.Lock()
        self._started = False

    def _default_meta(self) -> MetaManager:
        flavour = self.config.meta_flavour
        if flavour in ("memory", "group"):
            return MemoryMetaManager()
        if flavour == "file" or flavour is None:
            return FileMixedMetaManager(self.config.data_dir, self.config.file_flush_period_ms)
        raise ConfigError(
            f"{self.config.source}: {self.config.spring_xml} keeps cursors in ZooKeeper; give the instance a "
            "ZooKeeper meta manager (canal.zkServers) or use file-instance.xml"
        )

    def _converter_options(self, white: str) -> dict[str, object]:
        f = self.config.filter
        return {
            "table_filter": TableFilter(white, f.black_regex),
            "field_filter": f.field, "field_black_filter": f.black_field,
            "filter_query_dml": f.query_dml, "filter_query_dcl": f.query_dcl, "filter_query_ddl": f.query_ddl,
            "filter_rows": f.rows,
        }

    # -- InstanceHandle ---------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self._started and self.parser is not None and self.parser.error is None

    @property
    def error(self) -> BaseException | None:
        return None if self.parser is None else self.parser.error

    def subscribe_change(self, identity: ClientIdentity) -> None:
        """A subscriber's non-empty filter replaces the instance's white list, as in canal."""
        if identity.filter and identity.filter != self._white:
            log.warning("%s: table filter changed by %s to %r", self.destination, identity.client_id,
                        identity.filter)
            self._white = identity.filter
            opts = self._converter_options(identity.filter)
            self.parser_config.converter_options = opts
            if self.parser is not None:
                self.parser.set_converter_options(opts)

    # -- lifecycle ----------------------------------------------------------------------------------------
    def _cursor(self) -> LogPosition | None:
        clients = self.meta_manager.list_all_subscribe_info(self.destination)
        return min_cursor([c for c in (self.meta_manager.get_cursor(i) for i in clients) if c is not None])

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            if not self.meta_manager.is_started():
                self.meta_manager.start()
            self.store.start()
            for ident in self.meta_manager.list_all_subscribe_info(self.destination):
                if ident.filter:
                    self.subscribe_change(ident)  # the stored subscriber filters come back first
            self.parser = MysqlEventParser(self.destination, self.parser_config, self.sink.put, self._cursor)
            self.parser.on_identity = self.sink.set_identity
            self.parser.start()
            self._started = True
            log.info("%s: instance started on %s", self.destination, self.master.address)

    def stop(self) -> None:
        with self._lock:
            if not self._started:
                return
            self._started = False
            if self.parser is not None:
                self.parser.signal_stop()
            self.store.stop()  # wakes a put blocked on a full store
            if self.parser is not None:
                self.parser.stop()
            self.meta_manager.stop()
            log.info("%s: instance stopped", self.destination)
