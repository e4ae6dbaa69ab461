"""canal's EntryEventSink rules: heartbeats dropped, empty transactions thinned, transaction entries filter."""

from __future__ import annotations

from pycanal.model import LogIdentity
from pycanal.parse.entries import ParsedEntry
from pycanal.protocol import entry as pb
from pycanal.sink import EntryEventSink


class Store:
    def __init__(self) -> None:
        self.puts: list[list[int]] = []

    def put(self, events, timeout=None):
        self.puts.append([e.entry_type for e in events])
        return True


def pe(entry_type: int, event_type: int = 0, t: int = 0) -> ParsedEntry:
    return ParsedEntry(pb.Entry(entryType=entry_type), "mysql-bin.000001", 4, 1, t, entry_type, event_type, False, "")


B, R, E, H = pb.TRANSACTIONBEGIN, pb.ROWDATA, pb.TRANSACTIONEND, pb.HEARTBEAT


def test_heartbeats_never_reach_the_store():
    store = Store()
    sink = EntryEventSink(store, LogIdentity("h", 1))
    sink.put([pe(H)])
    sink.put([pe(B), pe(R, pb.INSERT), pe(H), pe(E)])
    assert store.puts == [[B, R, E]]


def test_empty_transactions_pass_once_per_5_seconds():
    store = Store()
    sink = EntryEventSink(store, LogIdentity("h", 1))
    for t in (10_000, 11_000, 14_999, 15_000, 15_001):  # ms of binlog time
        sink.put([pe(B, t=t), pe(E, t=t)])
    assert len(store.puts) == 2  # at 10 s and at 15 s: the cursors keep moving, the rest is thinned
    sink.put([pe(B, t=15_002), pe(R, pb.UPDATE, t=15_002), pe(E, t=15_002)])
    assert store.puts[-1] == [B, R, E]  # a transaction with rows always passes


def test_filter_transaction_entry_drops_begin_end_but_keeps_rows():
    store = Store()
    sink = EntryEventSink(store, LogIdentity("h", 1), filter_transaction_entry=True)
    t0 = 1_700_000_000_000
    sink.put([pe(B, t=t0), pe(R, pb.INSERT, t=t0), pe(E, t=t0)])
    sink.put([pe(B, t=t0 + 1_000), pe(R, pb.INSERT, t=t0 + 1_000), pe(E, t=t0 + 1_000)])
    assert store.puts == [[B, R], [R]]  # one transaction entry per 5 s survives (the cursor still moves)
    assert sink.entries == 3
