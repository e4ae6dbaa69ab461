"""Where a dump starts: canal's start-position rules (canal-spec.md 4.4) and the timestamp search.

A dump always starts on a transaction boundary. A cursor names the *start* offset of the last acked
boundary event (a transaction end or a DDL), with ``included=false``: the dump starts at that offset and
the boundary event itself is not delivered again. A position found by timestamp is the *end* of the last
boundary event before the time, so nothing is skipped there.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from ..binlog.events import RotateEvent
from ..binlog.transactions import TransactionTracker
from ..errors import PositionNotFound
from ..model import LogPosition
from ..mysql.meta import MetaConnection
from ..mysql.packet import Value
from ..mysql.stream import BinlogStream
from ..mysql.tls import TlsSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DumpStart:
    """Where to send COM_BINLOG_DUMP, and whether the first event there was already delivered."""

    log_file: str | None = None  # None: the server's current end
    log_pos: int = 4
    gtid_set: str | None = None
    skip_first: bool = False  # the event at log_pos is the acked boundary: do not deliver it again
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Master:
    """A MySQL/MariaDB master as instance.properties describes it (master.* or standby.*)."""

    host: str
    port: int = 3306
    user: str = "canal"
    password: str = "canal"
    journal_name: str = ""
    position: int = 0
    timestamp: int = 0  # ms
    gtid: str = ""
    tls: TlsSettings | None = None  # sslMode and certificates, for every connection to this server

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def meta_connection(master: Master, *, read_timeout: float | None = None) -> MetaConnection:
    """A metadata session with ``master`` (opened on first use): the one path for its SQL."""
    return MetaConnection(
        master.host, master.port, master.user, master.password, tls=master.tls, read_timeout=read_timeout
    )


def meta_query(master: Master, sql: str) -> list[tuple[Value, ...]]:
    """One statement on a session of its own (closed after); errors are pycanal's typed errors."""
    with contextlib.closing(meta_connection(master)) as meta:
        return meta.query(sql)


def binary_logs(master: Master) -> list[str]:
    return [str(r[0]) for r in meta_query(master, "SHOW BINARY LOGS")]


def decide_start(
    master: Master,
    cursor: LogPosition | None,
    *,
    gtid_mode: bool = False,
    fallback_seconds: int = 60,
) -> DumpStart:
    """canal's findStartPosition for a connection to ``master`` (spec 4.4)."""
    if cursor is not None:
        pos = cursor.position
        if gtid_mode and pos.gtid:
            return DumpStart(gtid_set=pos.gtid, reason=f"stored cursor gtid {pos.gtid}")
        same = (cursor.identity.address, cursor.identity.port) == (master.host, master.port)
        if same and pos.journal_name and pos.position:
            return DumpStart(
                pos.journal_name,
                pos.position,
                skip_first=not pos.included,
                reason=f"stored cursor {pos.journal_name}:{pos.position}",
            )
        if pos.timestamp:
            ts = pos.timestamp - (0 if same else fallback_seconds * 1000)
            return find_by_timestamp(
                master,
                ts,
                reason=(
                    "stored cursor has no file position"
                    if same
                    else f"cursor came from {cursor.identity.address}:{cursor.identity.port}; "
                    f"relocating by time minus {fallback_seconds}s"
                ),
            )
    if gtid_mode and master.gtid:
        return DumpStart(gtid_set=master.gtid, reason=f"configured gtid {master.gtid}")
    if master.journal_name and master.position > 0:
        return DumpStart(
            master.journal_name, master.position, reason=f"configured position {master.journal_name}:{master.position}"
        )
    if master.timestamp > 0:
        return find_by_timestamp(
            master,
            master.timestamp,
            journal=master.journal_name or None,
            reason=f"configured timestamp {master.timestamp}",
        )
    return DumpStart(None, 4, reason="the server's current position")


def find_by_timestamp(master: Master, ts_ms: int, *, journal: str | None = None, reason: str = "") -> DumpStart:
    """The end of the last transaction boundary before ``ts_ms``, searching binlogs newest first."""
    files = [journal] if journal else list(reversed(binary_logs(master)))
    for name in files:
        found = _scan_file(master, name, ts_ms)
        if found is not None:
            return DumpStart(name, found, reason=f"{reason}: first transaction at or after {ts_ms}")
    if files:
        oldest = files[-1]
        return DumpStart(oldest, 4, reason=f"{reason}: every binlog is newer than {ts_ms}; from the oldest")
    raise PositionNotFound(f"no binlog on {master.address} to search for timestamp {ts_ms}")


def _scan_file(master: Master, name: str, ts_ms: int) -> int | None:
    """End offset of the last transaction boundary before ``ts_ms`` in one file, or None when the file
    has none (its first transaction is already at or after the time: look in the older file)."""
    best: int | None = None
    boundaries = TransactionTracker()
    stream = BinlogStream(
        master.host,
        master.port,
        master.user,
        master.password,
        _scan_server_id(),
        log_file=name,
        log_pos=4,
        stop_at_end=True,
        tls=master.tls,
    )
    with stream:
        for ev in stream:
            if isinstance(ev, RotateEvent):
                if ev.next_file != name:
                    break  # the end of this file
                continue
            h = ev.header
            if ev.log_file != name or not h.timestamp or h.type_code == 15:
                continue
            if h.timestamp * 1000 >= ts_ms:
                break
            if boundaries.feed(ev):
                best = h.log_pos
    return best


def _scan_server_id() -> int:
    import os

    return 0x7E000000 | (os.getpid() & 0xFFFFFF)
