"""canal's EntryEventSink: parsed transaction chunks in, store events out (canal-spec.md 6.3, 6.4).

Heartbeat entries are dropped here (they only keep the parser's clock). A chunk that carries no row data
(an "empty transaction": BEGIN/END whose rows were all filtered out) is dropped too, except one every
5 seconds of binlog time or every 8192 skipped, so consumers' cursors keep moving. With
``filter_transaction_entry`` the BEGIN/END entries themselves are dropped on the same rule. The put blocks
while the store is full: back-pressure, nothing dropped.
"""

from __future__ import annotations

from typing import Protocol

from .model import EntryPosition, LogIdentity, LogPosition
from .parse.entries import ParsedEntry
from .protocol import entry as pb
from .store.event import StoreEvent

_EMPTY_INTERVAL_MS = 5000
_EMPTY_COUNT = 8192


class EventStoreLike(Protocol):
    def put(self, events: list[StoreEvent], timeout: float | None = None) -> bool: ...


class EntryEventSink:
    def __init__(self, store: EventStoreLike, identity: LogIdentity, *, filter_transaction_entry: bool = False) -> None:
        self.store = store
        self.identity = identity
        self.filter_transaction_entry = filter_transaction_entry
        self._last_empty_time = 0
        self._skipped_empty = 0
        self._last_tx_time = 0
        self._skipped_tx = 0
        self.rows = 0
        self.entries = 0

    def set_identity(self, identity: LogIdentity) -> None:
        """The master the entries come from (changes after a standby switch)."""
        self.identity = identity

    def put(self, chunk: list[ParsedEntry]) -> None:
        entries = [e for e in chunk if e.entry_type != pb.HEARTBEAT]
        if not entries:
            return
        if not any(e.entry_type == pb.ROWDATA for e in entries) and not self._keep_empty(entries):
            return
        if self.filter_transaction_entry:
            entries = self._drop_transaction_entries(entries)
            if not entries:
                return
        ident = self.identity
        events = []
        for e in entries:
            pos = LogPosition(ident, EntryPosition(e.log_file, e.offset, e.server_id, e.execute_time, e.gtid or None))
            events.append(
                StoreEvent.of(
                    e.entry.SerializeToString(), pos, e.entry_type, e.event_type, e.gtid, e.execute_time, e.rows
                )
            )
            self.rows += e.rows
        self.entries += len(events)
        self.store.put(events)

    def _keep_empty(self, entries: list[ParsedEntry]) -> bool:
        when = entries[-1].execute_time
        if when - self._last_empty_time >= _EMPTY_INTERVAL_MS or self._skipped_empty >= _EMPTY_COUNT:
            self._last_empty_time = when
            self._skipped_empty = 0
            return True
        self._skipped_empty += 1
        return False

    def _drop_transaction_entries(self, entries: list[ParsedEntry]) -> list[ParsedEntry]:
        out = []
        for e in entries:
            if e.entry_type in (pb.TRANSACTIONBEGIN, pb.TRANSACTIONEND):
                if e.execute_time - self._last_tx_time >= _EMPTY_INTERVAL_MS or self._skipped_tx >= _EMPTY_COUNT:
                    self._last_tx_time = e.execute_time
                    self._skipped_tx = 0
                    out.append(e)
                else:
                    self._skipped_tx += 1
            else:
                out.append(e)
        return out
