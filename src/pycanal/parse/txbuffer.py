"""canal's EventTransactionBuffer: groups entries into transaction-sized puts (canal-spec.md 6.4).

BEGIN flushes what was buffered and then buffers itself; END buffers itself and flushes; DDL, other
non-DML ROWDATA and HEARTBEAT entries flush at once; DML entries are buffered; a full buffer flushes the
partial chunk (a huge transaction reaches the sink as several puts; no BEGIN/END is made up). GTIDLOG
entries never get here (the converter keeps GTIDs in the headers instead).
"""

from __future__ import annotations

from collections.abc import Callable

from ..protocol import entry as pb
from .entries import ParsedEntry

Flush = Callable[[list[ParsedEntry]], None]
_DML = frozenset((pb.INSERT, pb.UPDATE, pb.DELETE))


class TransactionBuffer:
    def __init__(self, flush: Flush, size: int = 1024) -> None:
        if size <= 0 or size & (size - 1):
            raise ValueError(f"canal.instance.transaction.size must be a power of two, got {size}")
        self.size = size
        self._flush = flush
        self._buf: list[ParsedEntry] = []

    def add(self, e: ParsedEntry) -> None:
        t = e.entry_type
        if t == pb.TRANSACTIONBEGIN:
            self.flush()
            self._put(e)
        elif t == pb.TRANSACTIONEND:
            self._put(e)
            self.flush()
        elif t == pb.ROWDATA:
            self._put(e)
            if e.event_type not in _DML:
                self.flush()
        elif t == pb.HEARTBEAT:
            self._put(e)
            self.flush()

    def _put(self, e: ParsedEntry) -> None:
        self._buf.append(e)
        if len(self._buf) >= self.size:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            chunk, self._buf = self._buf, []
            self._flush(chunk)

    def reset(self) -> None:
        """Drop what is buffered (after a reconnect the same events come again)."""
        self._buf = []

    def __len__(self) -> int:
        return len(self._buf)
