"""canal's MysqlEventParser: dump the binlog, turn events into entries, hand them to the sink.

One thread per instance. It decides where to start (:mod:`.position`), dumps, converts, groups entries
into transactions and puts them into the sink (which blocks when the store is full). A dropped connection
is retried with backoff from the last transaction boundary handed to the sink, so nothing is skipped and
nothing is delivered twice within this process. Errors that retrying cannot fix (a purged binlog, missing
privileges, a binlog format other than ROW, a schema that does not match the binlog) stop the parser
with an error that says what to do. With a standby master configured, repeated failures of the
master's heartbeat switch the dump to the standby, relocated by time (canal-spec.md 6.5).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..binlog.decoder import BinlogDecoder, SchemaResolver
from ..binlog.events import Event, IncidentEvent, QueryEvent
from ..binlog.transactions import closes_transaction
from ..errors import (
    AccessDeniedError,
    BinlogPurgedError,
    ColumnCountMismatch,
    ConfigError,
    ConnectionLostError,
    DecodeError,
    MySQLServerError,
    PositionNotFound,
    PrivilegeError,
    PycanalError,
    TableMapMissing,
    TlsError,
)
from ..model import EntryPosition, LogIdentity, LogPosition
from ..mysql.meta import MetaConnection
from ..mysql.stream import BinlogStream
from .ddl import DdlResult
from .entries import EntryConverter, ParsedEntry
from .position import DumpStart, Master, decide_start, meta_connection, meta_query
from .txbuffer import TransactionBuffer

log = logging.getLogger(__name__)

Sink = Callable[[list[ParsedEntry]], None]
# a heartbeat that gets no answer for this long failed (a frozen master accepts TCP but never answers)
_HEARTBEAT_TIMEOUT = 10.0
CursorProvider = Callable[[], LogPosition | None]


class EventHandler(Protocol):
    """What the parser hands decoded events to. ``last_ack`` is the last position a restart may resume
    from (a transaction end or DDL whose effects were handed on); ``reset`` drops a partial transaction."""

    last_ack: LogPosition | None

    def handle(self, ev: Event) -> None: ...

    def reset(self) -> None: ...


HandlerFactory = Callable[[DumpStart, LogIdentity], EventHandler]


class EntryHandler:
    """canal's path: events -> Entries (:class:`EntryConverter`) -> transaction buffer -> sink."""

    def __init__(self, parser: MysqlEventParser, start: DumpStart, identity: LogIdentity) -> None:
        cfg = parser.config
        options: dict[str, Any] = cfg.converter_options
        self.converter = EntryConverter(
            gtid_mode=cfg.gtid_mode, gtid_start=start.gtid_set or "", on_ddl=parser.on_ddl, **options
        )
        parser._converter = self.converter
        self.identity = identity
        self.parser = parser
        self.sink = parser.sink
        if parser.on_identity is not None:
            parser.on_identity(identity)  # positions name the master the entries come from
        self.buffer = TransactionBuffer(self._flush, cfg.transaction_size)
        self.last_ack: LogPosition | None = None

    def _flush(self, chunk: list[ParsedEntry]) -> None:
        self.sink(chunk)
        if self.parser.switch_time is not None:
            self.parser.count_replayed(chunk)
        for e in reversed(chunk):
            if e.is_ack_point:
                self.last_ack = LogPosition(
                    self.identity, EntryPosition(e.log_file, e.offset, e.server_id, e.execute_time, e.gtid or None)
                )
                break

    def handle(self, ev: Event) -> None:
        add = self.buffer.add
        for e in self.converter.convert(ev):
            add(e)

    def reset(self) -> None:
        self.buffer.reset()


class ParserStopped(PycanalError):
    """The parser stopped on an error retrying cannot fix; ``str()`` says what to do."""


@dataclass
class ParserConfig:
    master: Master
    standby: Master | None = None
    slave_id: int = 0
    gtid_mode: bool = False
    transaction_size: int = 1024
    fallback_seconds: int = 60
    heartbeat_period: float = 15.0
    detecting_enable: bool = False
    detecting_sql: str = "select 1"
    detecting_interval: float = 3.0
    detecting_retry_threshold: int = 3
    heartbeat_ha_enable: bool = False
    binlog_formats: tuple[str, ...] = ("ROW",)
    binlog_images: tuple[str, ...] = ("FULL", "MINIMAL", "NOBLOB")
    filter_table_error: bool = False  # canal.instance.filter.table.error: skip rows of tables in error
    stop_at_end: bool = False  # stop at the current end of the binlog instead of following it
    # a refused login or a missing privilege is retried (a server: the user may fix it while it runs)
    # instead of stopping the parser (a one-shot command)
    retry_refusals: bool = False
    auto_reset_latest_pos: bool = False  # canal.auto.reset.latest.pos.mode: a purged binlog skips to the end
    reconnect_min: float = 1.0
    reconnect_max: float = 10.0
    converter_options: dict[str, object] = field(default_factory=dict)


class MysqlEventParser:
    """Runs the dump loop in a thread; see the module docstring."""

    def __init__(
        self,
        destination: str,
        config: ParserConfig,
        sink: Sink | None = None,
        cursor_provider: CursorProvider | None = None,
        *,
        schema_resolver: SchemaResolver | None = None,
        on_ddl: Callable[[QueryEvent, DdlResult], None] | None = None,
        handler_factory: HandlerFactory | None = None,
    ) -> None:
        self.destination = destination
        self.config = config
        self.sink: Sink = sink or (lambda chunk: None)
        self.handler_factory: HandlerFactory = handler_factory or (
            lambda start, identity: EntryHandler(self, start, identity)
        )
        self.cursor_provider = cursor_provider or (lambda: None)
        self.schema_resolver = schema_resolver
        self.on_ddl = on_ddl
        self.running_master = config.master
        self.error: BaseException | None = None  # what stopped the parser for good
        self.last_error: BaseException | None = None  # the last failure retried, until a dump works again
        self.failures = 0  # failed attempts in a row
        self.dumping = False  # a dump connection is delivering events now
        self._reset_to_end = False  # the next dump starts at the current end (auto reset after a purge)
        self.last_position: LogPosition | None = None  # the last boundary handed to the sink
        self.switches = 0
        self.events = 0
        self.dumps = 0  # dump attempts (1 + reconnects)
        # after a standby switch: the time of the last transaction delivered from the old master, and the
        # rows delivered again from the new one up to that time (the fallback window's repeats)
        self.switch_time: int | None = None
        self.replayed_rows = 0
        self.on_identity: Callable[[LogIdentity], None] | None = None
        self.on_start: Callable[[DumpStart], None] | None = None  # e.g. the schema history's rollback
        self._stop = threading.Event()
        # set once the first dump attempt has settled: the server sent its first event (so a dump from the
        # current end has fixed its start position) or the attempt failed
        self.ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream: BinlogStream | None = None
        self._detect_failures = 0
        self._switch_requested = threading.Event()
        self._detector: threading.Thread | None = None
        self._converter: EntryConverter | None = None
        self._handler: EventHandler | None = None
        self._decoder: BinlogDecoder | None = None
        self._raises = False  # run(): the caller gets the error and reports it

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"parser-{self.destination}", daemon=True)
        self._thread.start()
        if self.config.detecting_enable and self.config.standby is not None and self.config.heartbeat_ha_enable:
            self._detector = threading.Thread(target=self._detect, name=f"detect-{self.destination}", daemon=True)
            self._detector.start()

    def signal_stop(self) -> None:
        """Ask the dump loop to end, without waiting (the owner may still have to unblock the sink)."""
        self._stop.set()
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()

    def invalidate_tables(self) -> None:
        """Forget the decoder's table layouts (the schema source changed, e.g. after a DDL)."""
        if self._decoder is not None:
            self._decoder.invalidate_tables()

    def set_converter_options(self, options: dict[str, object]) -> None:
        """New filters (a subscriber's filter replaced the instance's): apply them from the next event."""
        self.config.converter_options = options
        conv = self._converter
        if conv is not None:
            for key, value in options.items():
                if key in ("field_filter", "field_black_filter"):
                    from .entries import parse_field_filter

                    value = parse_field_filter(value)  # type: ignore[arg-type]
                setattr(conv, key, value)

    def stop(self, timeout: float = 10.0) -> None:
        self.signal_stop()
        for t in (self._thread, self._detector):
            if t is not None and t is not threading.current_thread():
                t.join(timeout)
        self._thread = self._detector = None

    def run(self) -> None:
        """Run the dump loop in the calling thread until it stops (``stop_at_end``, an error, or
        :meth:`signal_stop` from another thread); raise the error that stopped it, if any (not logged
        as well: the caller reports it)."""
        self._stop.clear()
        self._raises = True
        self._run()
        if self.error is not None:
            raise self.error

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # -- checks -----------------------------------------------------------------------------------------
    def _check_master(self, master: Master) -> None:
        """binlog_format and binlog_row_image must be ones the instance accepts (canal's preDump); checked
        on every dump attempt, so a server that was down at start is checked once it answers (its errors
        are the dump loop's: retried, or stopped with advice)."""
        sql = "SHOW VARIABLES WHERE Variable_name IN ('binlog_format', 'binlog_row_image', 'log_bin')"
        rows = {str(r[0]): r[1] for r in meta_query(master, sql)}
        fmt = str(rows.get("binlog_format", "")).upper()
        image = str(rows.get("binlog_row_image", "FULL")).upper()
        if str(rows.get("log_bin", "ON")).upper() in ("OFF", "0"):
            raise ParserStopped(f"{master.address} has no binary log: start it with log-bin")
        if fmt and fmt not in self.config.binlog_formats:
            raise ParserStopped(
                f"{master.address} has binlog_format={fmt}; canal.instance.binlog.format accepts "
                f"{','.join(self.config.binlog_formats)}: set binlog_format=ROW on the server"
            )
        if image and image not in self.config.binlog_images:
            raise ParserStopped(
                f"{master.address} has binlog_row_image={image}; canal.instance.binlog.image accepts "
                f"{','.join(self.config.binlog_images)}"
            )

    # -- main loop --------------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self.ready.set()

    def _loop(self) -> None:
        delay = self.config.reconnect_min
        while not self._stop.is_set():
            try:
                self._dump_once()
                delay = self.config.reconnect_min
                if self._switch_requested.is_set():
                    self._switch()
                elif self.config.stop_at_end:
                    return
            except BinlogPurgedError as exc:
                if self.config.auto_reset_latest_pos and not self._reset_to_end:
                    # canal.auto.reset.latest.pos.mode: the user chose to skip to the end rather than stop
                    log.error(
                        "%s: the binlog to resume from (%s) is gone on %s (%s); canal.auto.reset.latest.pos.mode "
                        "is on, so the dump restarts at the server's current end: the changes in between are "
                        "NOT delivered",
                        self.destination,
                        self._where(),
                        self.running_master.address,
                        exc,
                    )
                    self._reset_to_end = True
                    self.last_position = None
                    continue
                self._fail(
                    ParserStopped(
                        f"{self.destination}: the binlog to resume from is gone on {self.running_master.address} "
                        f"({exc}). Nothing was skipped. Reset the cursor (delete meta.dat or the ZooKeeper "
                        "cursor) and set canal.instance.master.journal.name/position or timestamp to a binlog the "
                        "server still has (SHOW BINARY LOGS)."
                    ),
                    exc,
                )
                return
            except (AccessDeniedError, PrivilegeError, TlsError) as exc:
                # a refused login, a missing grant, TLS not as sslMode asks: a server keeps trying (the
                # user may fix it while it runs), a one-shot command stops with the advice
                if not self.config.retry_refusals:
                    self._fail(ParserStopped(f"{self.destination}: {_refusal(self.running_master, exc)}"), exc)
                    return
                if not self._retry(exc, _refusal(self.running_master, exc), delay):
                    break
                delay = min(delay * 2, self.config.reconnect_max)
            except (ColumnCountMismatch, DecodeError, ConfigError, PositionNotFound, ParserStopped) as exc:
                self._fail(
                    exc
                    if isinstance(exc, ParserStopped)
                    else ParserStopped(f"{self.destination}: stopped at {self._where()}: {exc}"),
                    exc,
                )
                return
            except (ConnectionLostError, OSError, MySQLServerError) as exc:
                if self._switch_requested.is_set() and not self._stop.is_set():
                    self._switch()
                    continue
                if not self._retry(exc, f"cannot dump from {self.running_master.address}: {exc}", delay):
                    break
                delay = min(delay * 2, self.config.reconnect_max)
            except Exception as exc:  # a bug or an unexpected failure: stop loudly, never skip
                if self._stop.is_set():
                    break  # stopping: the store was closed under a blocked put
                self._fail(ParserStopped(f"{self.destination}: parser failed at {self._where()}: {exc!r}"), exc)
                return

    def _retry(self, exc: BaseException, what: str, delay: float) -> bool:
        """One line per failed attempt (the traceback only at debug), then wait; False when stopping."""
        self.ready.set()
        self.last_error = exc
        self.failures += 1
        if self._stop.is_set():
            return False
        wait = delay * (1 + random.random() * 0.5)
        log.warning(
            "%s: %s; retrying in %.1fs from %s (attempt %d)",
            self.destination,
            what,
            wait,
            self._where(),
            self.failures,
        )
        log.debug("%s: the failure in full", self.destination, exc_info=exc)
        return not self._stop.wait(wait)

    @property
    def state(self) -> str:
        """``stopped: <error>``, ``retrying: <error>``, ``dumping`` or ``starting`` (what an operator sees)."""
        if self.error is not None:
            return f"stopped: {self.error}"
        if self.dumping:
            return "dumping"
        if self.last_error is not None:
            return f"retrying: {self.last_error}"
        return "starting"

    def _fail(self, err: BaseException, cause: BaseException) -> None:
        err.__cause__ = cause
        self.error = err
        log.log(logging.DEBUG if self._raises else logging.ERROR, "%s", err)

    def _where(self) -> str:
        p = self.last_position
        return f"{p.position.journal_name}:{p.position.position}" if p else "the start position"

    def _start(self) -> DumpStart:
        if self._reset_to_end:
            self._reset_to_end = False
            return DumpStart(None, 4, reason="canal.auto.reset.latest.pos.mode after a purged binlog")
        cursor = self.last_position or self.cursor_provider()
        return decide_start(
            self.running_master, cursor, gtid_mode=self.config.gtid_mode, fallback_seconds=self.config.fallback_seconds
        )

    def _dump_once(self) -> None:
        master = self.running_master
        self._check_master(master)
        start = self._start()
        self.dumps += 1
        if self.on_start is not None:
            self.on_start(start)
        log.info(
            "%s: dumping %s from %s (%s)",
            self.destination,
            master.address,
            f"{start.log_file}:{start.log_pos}" if start.log_file else start.gtid_set or "current end",
            start.reason,
        )
        handler = self.handler_factory(start, LogIdentity(master.host, master.port))
        decoder = self._decoder = BinlogDecoder(
            schema_resolver=self.schema_resolver, skip_table_errors=self.config.filter_table_error
        )
        stream = BinlogStream(
            master.host,
            master.port,
            master.user,
            master.password,
            self._server_id(),
            log_file=start.log_file,
            log_pos=start.log_pos,
            gtid_set=start.gtid_set,
            heartbeat_period=self.config.heartbeat_period,
            decoder=decoder,
            stop_at_end=self.config.stop_at_end,
            tls=master.tls,
        )
        self._stream = stream
        skip = start.skip_first
        handle = handler.handle
        try:
            with stream:
                first = True
                for ev in stream:
                    if first:
                        first = False
                        self._connected(master)
                    if self._stop.is_set() or self._switch_requested.is_set():
                        return
                    h = ev.header
                    if skip and h.log_pos and h.type_code not in (4, 15):
                        skip = False
                        if ev.log_file == start.log_file and h.start_pos == start.log_pos and _closes(ev):
                            continue  # the acked transaction end or DDL itself: delivered before
                    self.events += 1
                    if isinstance(ev, IncidentEvent) and ev.incident:
                        raise ParserStopped(
                            f"{self.destination}: {master.address} wrote an INCIDENT (lost events: "
                            f"{ev.message or 'no message'}) at {ev.log_file}:{h.start_pos}; its binlog is "
                            "missing changes, so pycanal stopped instead of skipping them. Resynchronise the "
                            "target, then start after this position."
                        )
                    try:
                        handle(ev)
                    except TableMapMissing as exc:
                        raise ParserStopped(
                            f"{self.destination}: the dump started inside a transaction at {self._where()} "
                            f"({exc}); start from a transaction boundary"
                        ) from exc
                    if handler.last_ack is not None:
                        self.last_position = handler.last_ack
        finally:
            handler.reset()  # a partial transaction comes again after the reconnect
            if handler.last_ack is not None:
                self.last_position = handler.last_ack
            self._stream = None
            self._handler = None
            self.dumping = False

    def _connected(self, master: Master) -> None:
        """The dump is under way (its first event arrived)."""
        if self.last_error is not None:
            log.info("%s: dumping from %s again after %d failed attempts", self.destination, master.address,
                     self.failures)  # fmt: skip
        self.last_error = None
        self.failures = 0
        self.dumping = True
        self.ready.set()

    def _server_id(self) -> int:
        if self.config.slave_id > 0:
            return self.config.slave_id
        return ((hash(self.destination) & 0x7F) << 24) | (random.getrandbits(23) + 1)

    # -- heartbeat detection and standby switch -----------------------------------------------------------
    def _detect(self) -> None:
        cfg = self.config
        meta: MetaConnection | None = None
        meta_for: Master | None = None
        try:
            while not self._stop.wait(cfg.detecting_interval):
                master = self.running_master
                if meta is None or meta_for != master:  # one session per master, kept between heartbeats
                    if meta is not None:
                        meta.close()
                    meta, meta_for = meta_connection(master, read_timeout=_HEARTBEAT_TIMEOUT), master
                self._heartbeat(meta)
        finally:
            if meta is not None:
                meta.close()

    def _heartbeat(self, meta: MetaConnection) -> None:
        """Run the detecting SQL; past the retry threshold of failures, ask for the standby switch."""
        cfg = self.config
        try:
            meta.query(cfg.detecting_sql)
            self._detect_failures = 0
        except Exception as exc:
            self._detect_failures += 1
            log.warning(
                "%s: heartbeat %r on %s failed (%d/%d): %s",
                self.destination,
                cfg.detecting_sql,
                self.running_master.address,
                self._detect_failures,
                cfg.detecting_retry_threshold,
                exc,
            )
            if self._detect_failures > cfg.detecting_retry_threshold:
                self._detect_failures = 0
                self._switch_requested.set()
                stream = self._stream
                if stream is not None:
                    with contextlib.suppress(Exception):
                        stream.close()

    def count_replayed(self, chunk: list[ParsedEntry]) -> None:
        """Count the rows the new master delivers up to the old master's last transaction time: an upper
        bound of the repeats, since binlog times have second resolution."""
        assert self.switch_time is not None
        for e in chunk:
            if e.execute_time <= self.switch_time:
                self.replayed_rows += e.rows
            else:
                log.warning(
                    "%s: after the switch to %s, %d row changes came from up to the old master's last "
                    "transaction time: at most that many were delivered twice (binlog times have "
                    "second resolution)",
                    self.destination,
                    self.running_master.address,
                    self.replayed_rows,
                )
                self.switch_time = None
                return

    def _switch(self) -> None:
        """Toggle master and standby; the next dump relocates by time minus the fallback interval."""
        self._switch_requested.clear()
        cfg = self.config
        if cfg.standby is None:
            return
        old = self.running_master
        self.running_master = cfg.standby if old == cfg.master else cfg.master
        self.switches += 1
        self.replayed_rows = 0
        last = self.last_position
        self.switch_time = last.position.timestamp if last is not None else None
        # the cursor's identity is the old master's: decide_start relocates by its timestamp
        log.warning(
            "%s: switched from %s to %s; relocating by time minus %ss, so row changes of the last %ss "
            "before the switch may be delivered again",
            self.destination,
            old.address,
            self.running_master.address,
            cfg.fallback_seconds,
            cfg.fallback_seconds,
        )


def _refusal(master: Master, exc: BaseException) -> str:
    """What a refused login or command means, and what to do about it."""
    if isinstance(exc, TlsError):
        return f"no TLS connection to {master.address} as its canal.instance.*.sslMode asks: {exc}"
    if isinstance(exc, PrivilegeError):
        return (
            f"{master.address} refused a command ({exc}): grant the user REPLICATION SLAVE, REPLICATION CLIENT "
            "and SELECT"
        )
    return (
        f"{master.address} refused the login of {master.user!r} ({exc}): check canal.instance.dbUsername and "
        "canal.instance.dbPassword"
    )


def _closes(ev: Event) -> bool:
    """A transaction end or a DDL: the events a cursor stops on that carry something already delivered."""
    return closes_transaction(ev)
