"""canal's instance: one destination's parser -> sink -> store, with its meta manager.

:class:`CanalInstance` wires the parts from an :class:`~pycanal.config.InstanceConfig` and gives the
embedded server what it needs (:class:`~pycanal.server.embedded.InstanceHandle`): the store, the meta
manager, whether it runs, and the subscriber-filter change. The parser resumes from the smallest cursor
of the subscribed clients, as canal's MetaLogPositionManager does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

from .binlog.events import QueryEvent
from .config import InstanceConfig
from .errors import ConfigError
from .filter import TableFilter
from .meta import FileMixedMetaManager, MemoryMetaManager, MetaManager
from .model import ClientIdentity, EntryPosition, LogIdentity, LogPosition
from .mysql.meta import MetaConnection
from .mysql.packet import Value
from .parse.ddl import DdlResult
from .parse.parser import MysqlEventParser, ParserConfig
from .parse.position import DumpStart, Master, meta_connection
from .sink import EntryEventSink
from .store.memory import MemoryEventStore

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 30.0  # how long start() waits for the first dump attempt to settle


def _master(cfg: InstanceConfig, standby: bool = False) -> Master | None:
    src = cfg.standby if standby else cfg.master
    if src is None or src.address is None:
        return None
    return Master(
        host=src.address.host,
        port=src.address.port,
        user=cfg.db_username,
        password=cfg.db_password,
        journal_name=src.journal_name or "",
        position=src.position or 0,
        timestamp=src.timestamp or 0,
        gtid=src.gtid or "",
        tls=src.ssl.tls_settings(),
    )


def min_cursor(cursors: list[LogPosition]) -> LogPosition | None:
    """The earliest of the clients' cursors: by binlog file number and offset for one server
    (:meth:`EntryPosition.compare`), else (other server, or other binlog base name) by timestamp."""
    best: LogPosition | None = None
    for c in cursors:
        if best is None:
            best = c
            continue
        order = c.position.compare(best.position) if c.identity == best.identity else None
        if order is not None:
            if order < 0:
                best = c
        elif (c.position.timestamp or 0) < (best.position.timestamp or 0):
            best = c
    return best


class LiveQuery:
    """SQL on the running master for the schema sources: one metadata session, replaced when the parser
    switches to the other master."""

    def __init__(self, master: Callable[[], Master]) -> None:
        self._master = master
        self._meta: MetaConnection | None = None
        self._meta_for: Master | None = None
        self._lock = threading.Lock()

    def __call__(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Value, ...]]:
        m = self._master()
        with self._lock:
            if self._meta is None or self._meta_for != m:
                if self._meta is not None:
                    self._meta.close()
                self._meta, self._meta_for = meta_connection(m), m
            meta = self._meta
        return meta.query(sql, args)

    def close(self) -> None:
        with self._lock:
            meta, self._meta = self._meta, None
        if meta is not None:
            meta.close()


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
        self.sink = EntryEventSink(
            self.store, LogIdentity(master.host, master.port), filter_transaction_entry=f.transaction_entry
        )
        det = config.detecting
        self.parser_config = ParserConfig(
            master=master,
            standby=_master(config, standby=True),
            slave_id=config.slave_id,
            gtid_mode=config.gtid_on,
            transaction_size=config.transaction_size,
            fallback_seconds=config.fallback_interval_s,
            detecting_enable=det.enable,
            detecting_sql=det.sql or "select 1",
            detecting_interval=float(det.interval_s),
            detecting_retry_threshold=det.retry_threshold,
            heartbeat_ha_enable=det.heartbeat_ha_enable,
            binlog_formats=config.binlog_formats or ("ROW", "STATEMENT", "MIXED"),
            binlog_images=config.binlog_images or ("FULL", "MINIMAL", "NOBLOB"),
            converter_options=self._converter_options(f.regex),
            filter_table_error=f.table_error,
            retry_refusals=True,  # a server keeps trying: the password or a grant may be fixed meanwhile
            auto_reset_latest_pos=config.auto_reset_latest_pos_mode,
        )
        self.parser: MysqlEventParser | None = None
        self.history: Any = None
        self._query: LiveQuery | None = None
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
            "field_filter": f.field,
            "field_black_filter": f.black_field,
            "filter_query_dml": f.query_dml,
            "filter_query_dcl": f.query_dcl,
            "filter_query_ddl": f.query_ddl,
            "filter_rows": f.rows,
            "filter_dml_insert": f.dml_insert,
            "filter_dml_update": f.dml_update,
            "filter_dml_delete": f.dml_delete,
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
            log.warning("%s: table filter changed by %s to %r", self.destination, identity.client_id, identity.filter)
            self._white = identity.filter
            opts = self._converter_options(identity.filter)
            self.parser_config.converter_options = opts
            if self.parser is not None:
                self.parser.set_converter_options(opts)

    # -- lifecycle ----------------------------------------------------------------------------------------
    def _cursor(self) -> LogPosition | None:
        clients = self.meta_manager.list_all_subscribe_info(self.destination)
        return min_cursor([c for c in (self.meta_manager.get_cursor(i) for i in clients) if c is not None])

    def _schema_source(self) -> tuple[Any, Callable[[QueryEvent, DdlResult], None]]:
        """The schema history (canal's TSDB) when enabled, else the live information_schema.

        The history reads the master when it is first built (server facts, the initial snapshot), so it
        is built at the first dump attempt (:meth:`_on_dump_start`), where a master that is down is
        retried like the dump itself, never at start."""
        cfg = self.config
        if cfg.tsdb.enable:

            def resolve(tm: Any) -> Any:
                assert self.history is not None, "the schema history is built before the dump starts"
                return self.history.resolve(tm)

            def on_ddl(ev: QueryEvent, res: DdlResult) -> None:
                h = ev.header
                pos = EntryPosition(ev.log_file, h.start_pos, h.server_id, h.timestamp * 1000)
                history = self.history
                assert history is not None
                if history.apply_ddl(pos, ev.schema, ev.query, sql_mode=ev.sql_mode) and self.parser:
                    self.parser.invalidate_tables()

            return resolve, on_ddl
        from .schema.live import LiveSchema

        assert self._query is not None
        live = LiveSchema(self._query)

        def on_ddl_live(ev: QueryEvent, res: DdlResult) -> None:
            live.invalidate(res.schema or None, res.table or None)
            if self.parser:
                self.parser.invalidate_tables()

        return live, on_ddl_live

    def _build_history(self) -> Any:
        from .schema.history import SchemaHistory

        cfg = self.config
        f = cfg.filter
        store = self._history_store()
        try:
            return SchemaHistory(
                store,
                destination=self.destination,
                query=self._query,
                table_filter=TableFilter(f.regex, f.black_regex),
                snapshot_interval_hours=cfg.tsdb.snapshot_interval_h,
                snapshot_expire_hours=cfg.tsdb.snapshot_expire_h,
            )
        except BaseException:
            with contextlib.suppress(Exception):
                store.close()
            raise

    def _history_store(self) -> Any:
        """sqlite under the instance's data dir (canal's embedded H2), or canal.instance.tsdb.url's MySQL."""
        from .schema.store import DEFAULT_FILE_NAME, MySQLStore, SqliteStore

        tsdb = self.config.tsdb
        url = tsdb.url.strip()
        if not url or url.startswith("jdbc:h2:"):  # canal's embedded H2 lives in canal.instance.tsdb.dir
            return SqliteStore(os.path.join(tsdb.dir, DEFAULT_FILE_NAME))
        m = re.fullmatch(r"jdbc:(?:mysql|mariadb)://([^/:?]+)(?::(\d+))?/([^?;]+).*", url)
        if m is None:
            raise ConfigError(
                f"{self.config.source}: canal.instance.tsdb.url {url!r} is neither jdbc:h2 nor "
                "jdbc:mysql://host:port/database"
            )
        return MySQLStore.from_params(
            host=m.group(1),
            port=int(m.group(2) or 3306),
            user=tsdb.db_username,
            password=tsdb.db_password,
            database=m.group(3),
        )

    def _on_dump_start(self, start: DumpStart) -> None:
        """Build the schema history on the first attempt, then put it back where the dump starts (canal's
        TSDB rollback)."""
        if self.config.tsdb.enable and self.history is None:
            self.history = self._build_history()
        if self.history is not None and start.log_file:
            # a skipped boundary event was delivered before: a DDL there is part of the history
            self.history.rollback(EntryPosition(start.log_file, start.log_pos, included=start.skip_first))

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
            self._query = LiveQuery(lambda: self.parser.running_master if self.parser else self.master)
            resolver, on_ddl = self._schema_source()
            self.parser = MysqlEventParser(
                self.destination,
                self.parser_config,
                self.sink.put,
                self._cursor,
                schema_resolver=resolver,
                on_ddl=on_ddl,
            )
            self.parser.on_identity = self.sink.set_identity
            self.parser.on_start = self._on_dump_start
            self.parser.start()
            self._started = True
        # A dump from the master's current end fixes its position when it connects: wait for that (or for
        # the first failure) so that rows written once the server is up are not before the start.
        parser = self.parser
        if not parser.ready.wait(READY_TIMEOUT_S):
            log.warning(
                "%s: the dump from %s has not started after %gs; serving anyway",
                self.destination,
                self.master.address,
                READY_TIMEOUT_S,
            )
        log.info("%s: instance started on %s (%s)", self.destination, self.master.address, parser.state)

    @property
    def state(self) -> str:
        """What an operator needs to know: ``dumping``, ``retrying: <why>``, ``stopped: <why>``, ..."""
        if not self._started or self.parser is None:
            return "stopped"
        return self.parser.state

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
            if self.history is not None:
                self.history.close()
                self.history = None
            if self._query is not None:
                self._query.close()
            self.meta_manager.stop()
            log.info("%s: instance stopped", self.destination)
