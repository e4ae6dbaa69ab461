"""MemoryEventStore: canal's ring buffer semantics (canal-spec.md sections 2 and 3)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from pycanal.errors import ConfigError, StoreClosed, StoreError
from pycanal.model import EntryPosition, LogIdentity, LogPosition
from pycanal.protocol import entry as pb
from pycanal.store import (
    DDL_EVENT_TYPES,
    ITEMSIZE,
    MEMSIZE,
    MemoryEventStore,
    PositionRange,
    StoreEvent,
    ack_point,
)
from pycanal.store import event as store_event

IDENT = LogIdentity("127.0.0.1", 3306)
BEGIN, ROW, END = pb.TRANSACTIONBEGIN, pb.ROWDATA, pb.TRANSACTIONEND


def pos(
    offset: int,
    ts: int | None = None,
    journal: str = "mysql-bin.000001",
    gtid: str = "",
) -> LogPosition:
    ts = 1_000_000 + offset if ts is None else ts
    return LogPosition(IDENT, EntryPosition(journal, offset, 1, ts, gtid))


def ev(
    offset: int, entry_type: int = ROW, event_type: int = pb.INSERT, size: int = 10, rows: int = 1, gtid: str = ""
) -> StoreEvent:
    p = pos(offset, gtid=gtid)
    raw = bytes([offset % 256]) * size
    return StoreEvent.of(raw, p, entry_type, event_type, gtid, p.position.timestamp or 0, rows)


def txn(first_offset: int, n_rows: int, size: int = 10) -> list[StoreEvent]:
    out = [ev(first_offset, BEGIN, 0, size, 0)]
    out += [ev(first_offset + 1 + i, ROW, pb.INSERT, size) for i in range(n_rows)]
    out.append(ev(first_offset + 1 + n_rows, END, 0, size, 0))
    return out


def offsets(events) -> list[int]:
    return [e.position.position.position for e in events]


def run_thread(fn) -> tuple[threading.Thread, dict]:
    box: dict = {}

    def target():
        try:
            box["result"] = fn()
        except BaseException as exc:  # handed to the test thread
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, box


# ---------------------------------------------------------------------------------------------- construction


@pytest.mark.parametrize("size", [0, 3, 1000, 16383, -4])
def test_buffer_size_must_be_power_of_two(size):
    with pytest.raises(ConfigError, match="power of 2"):
        MemoryEventStore(buffer_size=size)


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match=r"batch\.mode"):
        MemoryEventStore(batch_mode="ROWS")
    with pytest.raises(ConfigError, match="memunit"):
        MemoryEventStore(memunit=0)
    assert MemoryEventStore(1).buffer_size == 1
    assert MemoryEventStore(batch_mode="itemsize").batch_mode == ITEMSIZE


def test_type_numbers_match_the_protobuf_enums():
    ours = (store_event.TRANSACTIONBEGIN, store_event.ROWDATA, store_event.TRANSACTIONEND)
    assert ours == (BEGIN, ROW, END)
    assert {pb.CREATE, pb.ALTER, pb.ERASE, pb.RENAME, pb.TRUNCATE, pb.CINDEX, pb.DINDEX} == DDL_EVENT_TYPES


@pytest.mark.parametrize(
    ("entry_type", "event_type", "gtid", "expected"),
    [
        (END, 0, "", True),
        (END, 0, "uuid:1-5", True),
        (BEGIN, 0, "", True),
        (BEGIN, 0, "uuid:1-5", False),  # GTID mode: resuming from a BEGIN would skip the transaction
        (ROW, pb.INSERT, "", False),
        (ROW, pb.QUERY, "", False),  # QUERY is isDdl in its RowChange but not an ack point
        (ROW, pb.ALTER, "", True),
        (ROW, pb.TRUNCATE, "uuid:1-5", True),
        (ROW, pb.CINDEX, "", True),
    ],
)
def test_ack_point_rule(entry_type, event_type, gtid, expected):
    assert ack_point(entry_type, event_type, gtid) is expected


def test_store_event_of_computes_size_and_ack_point():
    e = StoreEvent.of(b"abcdef", pos(4), END, 0, "", 123, 0)
    assert (e.size, e.is_ack_point, e.execute_time, e.gtid) == (6, True, 123, "")


# ---------------------------------------------------------------------------------------------- ring buffer


def test_sequences_start_at_minus_one_and_ranges_describe_batches():
    store = MemoryEventStore(8, batch_mode=ITEMSIZE)
    m = store.metrics()
    assert (m.put_sequence, m.get_sequence, m.ack_sequence) == (-1, -1, -1)
    assert store.try_get(None, 5).events == []
    events = txn(100, 3)  # BEGIN 100, rows 101-103, END 104
    assert store.try_put(events)
    got = store.try_get(None, 3)
    assert offsets(got.events) == [100, 101, 102]
    r = got.position_range
    assert (r.start, r.end, r.ack, r.end_seq) == (pos(100), pos(102), pos(100), 2)  # BEGIN w/o gtid acks
    got = store.try_get(None, 3)
    assert offsets(got.events) == [103, 104]
    assert (got.position_range.ack, got.position_range.end_seq) == (pos(104), 4)
    m = store.metrics()
    assert (m.put_sequence, m.get_sequence, m.ack_sequence) == (4, 4, -1)


def test_batch_without_ack_point_has_no_ack_position():
    store = MemoryEventStore(8, batch_mode=ITEMSIZE)
    store.put([ev(i, gtid="u:1") for i in range(3)])
    assert store.try_get(None, 3).position_range.ack is None
    store.put([ev(10, BEGIN, 0, gtid="u:1-2")])  # a BEGIN with gtid is no ack point either
    assert store.try_get(None, 3).position_range.ack is None


def test_put_blocks_at_buffer_size_until_ack_frees_slots():
    store = MemoryEventStore(4, batch_mode=ITEMSIZE)
    assert store.try_put([ev(i) for i in range(4)])
    assert not store.try_put([ev(4)])
    got = store.try_get(None, 2)  # getting alone frees nothing: min(get, ack) = ack
    assert not store.try_put([ev(4)])
    assert store.put([ev(4)], timeout=0.05) is False
    store.ack(got.position_range.end, got.position_range.end_seq)
    assert store.try_put([ev(4), ev(5)])
    assert not store.try_put([ev(6)])
    assert store.metrics().unacked == 4
    with pytest.raises(StoreError, match="cannot put 5 events at once"):
        store.put([ev(i) for i in range(5)])


def test_ring_wraps_around_in_order():
    store = MemoryEventStore(4, batch_mode=ITEMSIZE)
    seen = []
    for start in range(0, 100, 3):
        assert store.try_put([ev(i) for i in range(start, start + 3)])
        got = store.try_get(None, 10)
        seen += offsets(got.events)
        store.ack(got.position_range.end, got.position_range.end_seq)
    assert seen == list(range(102))
    assert store.ack_sequence == 101


def test_memsize_put_limit_is_checked_before_adding():
    store = MemoryEventStore(4, memunit=10, batch_mode=MEMSIZE)  # 40 bytes
    assert store.try_put([ev(0, size=30)])
    assert store.try_put([ev(1, size=30)])  # 30 < 40 before adding: accepted, now 60 outstanding
    assert not store.try_put([ev(2, size=1)])
    got = store.try_get(None, 1)  # 10-byte budget: one event
    assert offsets(got.events) == [0]
    store.ack(got.position_range.end, got.position_range.end_seq)
    assert store.try_put([ev(2, size=1)])
    m = store.metrics()
    assert (m.put_mem_size, m.get_mem_size, m.ack_mem_size) == (61, 30, 30)


def test_memsize_budget_takes_at_least_one_and_may_overshoot_by_one():
    store = MemoryEventStore(16, memunit=100, batch_mode=MEMSIZE)
    store.put([ev(i, size=60) for i in range(5)])
    # budget 100 bytes: 60 (0 <= 100, add) -> 120 (60 <= 100, add) -> stop
    assert offsets(store.try_get(None, 1).events) == [0, 1]
    assert offsets(store.try_get(None, 2).events) == [2, 3, 4]  # 0,60,120,180 <= 200
    store.put([ev(10, size=500)])
    assert offsets(store.try_get(None, 1).events) == [10]  # bigger than the budget: still handed out
    store.put([ev(11, size=5)])
    assert offsets(store.try_get(None, 0).events) == [11]  # batch 0 in MEMSIZE: one event, as canal


def test_itemsize_budget_counts_events():
    store = MemoryEventStore(16, batch_mode=ITEMSIZE)
    store.put([ev(i, size=10_000) for i in range(5)])
    assert offsets(store.try_get(None, 3).events) == [0, 1, 2]
    assert offsets(store.try_get(None, 3).events) == [3, 4]
    with pytest.raises(StoreError, match="batch size"):
        store.try_get(None, 0)


@pytest.mark.parametrize("mode", [ITEMSIZE, MEMSIZE])
def test_ddl_isolation_returns_ddl_alone(mode):
    def fill(store):
        store.put([ev(0), ev(1), ev(2, ROW, pb.ALTER), ev(3), ev(4, ROW, pb.QUERY), ev(5)])

    store = MemoryEventStore(16, memunit=1024, batch_mode=mode, ddl_isolation=True)
    fill(store)
    batches = [offsets(store.try_get(None, 100).events) for _ in range(3)]
    assert batches == [[0, 1], [2], [3, 4, 5]]  # QUERY is not isolated
    assert store.try_get(None, 100).events == []
    plain = MemoryEventStore(16, memunit=1024, batch_mode=mode)
    fill(plain)
    assert offsets(plain.try_get(None, 100).events) == [0, 1, 2, 3, 4, 5]


# ---------------------------------------------------------------------------------------------- blocking


def test_timed_get_returns_what_there_is_after_the_timeout():
    store = MemoryEventStore(16, batch_mode=ITEMSIZE)
    store.put([ev(0)])
    t0 = time.monotonic()
    got = store.get(None, 3, timeout=0.1)
    assert time.monotonic() - t0 >= 0.09
    assert offsets(got.events) == [0]
    t0 = time.monotonic()
    assert store.get(None, 3, timeout=0.05).events == []
    assert time.monotonic() - t0 < 2


def test_timed_get_returns_at_once_when_a_full_batch_exists():
    store = MemoryEventStore(16, batch_mode=ITEMSIZE)
    store.put([ev(i) for i in range(3)])
    t0 = time.monotonic()
    assert offsets(store.get(None, 3, timeout=5).events) == [0, 1, 2]
    assert time.monotonic() - t0 < 1


@pytest.mark.parametrize("timeout", [None, 0, -1])
def test_blocking_get_waits_for_a_full_itemsize_batch(timeout):
    store = MemoryEventStore(16, batch_mode=ITEMSIZE)
    t, box = run_thread(lambda: store.get(None, 3, timeout))
    store.put([ev(0), ev(1)])
    t.join(0.1)
    assert t.is_alive(), "a blocking get must wait for 3 events"
    store.put([ev(2), ev(3)])
    t.join(5)
    assert not t.is_alive()
    assert offsets(box["result"].events) == [0, 1, 2]


def test_blocking_get_waits_for_memsize_budget_bytes():
    store = MemoryEventStore(16, memunit=100, batch_mode=MEMSIZE)
    t, box = run_thread(lambda: store.get(None, 2))  # 200 bytes
    store.put([ev(0, size=150)])
    t.join(0.1)
    assert t.is_alive()
    store.put([ev(1, size=50)])
    t.join(5)
    assert offsets(box["result"].events) == [0, 1]


def test_blocked_put_resumes_after_ack():
    store = MemoryEventStore(2, batch_mode=ITEMSIZE)
    store.put([ev(0), ev(1)])
    t, box = run_thread(lambda: store.put([ev(2)]))
    t.join(0.1)
    assert t.is_alive() and store.put_sequence == 1
    got = store.try_get(None, 1)
    store.ack(got.position_range.end, got.position_range.end_seq)
    t.join(5)
    assert not t.is_alive() and box["result"] is True
    assert store.put_sequence == 2
    assert store.metrics().put_blocking_ms > 0


def test_stop_wakes_blocked_putters_and_getters():
    full = MemoryEventStore(1, batch_mode=ITEMSIZE)
    full.put([ev(0)])
    tp, bp = run_thread(lambda: full.put([ev(1)]))
    empty = MemoryEventStore(4, batch_mode=ITEMSIZE)
    tg, bg = run_thread(lambda: empty.get(None, 1))
    full.stop()
    empty.stop()
    tp.join(5)
    tg.join(5)
    assert isinstance(bp.get("error"), StoreClosed)
    assert isinstance(bg.get("error"), StoreClosed)
    with pytest.raises(StoreClosed):
        empty.try_put([ev(0)])
    empty.start()
    assert empty.try_put([ev(0)]) and empty.put_sequence == 0


# ------------------------------------------------------------------------------------------ ack / rollback


def test_ack_verifies_the_event_at_end_seq():
    store = MemoryEventStore(16, batch_mode=ITEMSIZE)
    store.put([ev(i) for i in range(6)])
    got = store.try_get(None, 3)
    with pytest.raises(StoreError, match=r"^no match ack positionLogPosition\[.*position=1,"):
        store.ack(pos(1), got.position_range.end_seq)  # right event, wrong sequence
    with pytest.raises(StoreError, match="no match ack position"):
        store.ack(pos(2, ts=5), got.position_range.end_seq)  # timestamp differs
    with pytest.raises(StoreError, match="no match ack position"):
        store.ack(pos(4), 4)  # handed out? no: beyond the get cursor
    assert store.ack_sequence == -1
    store.ack(got.position_range.end, got.position_range.end_seq)
    assert store.ack_sequence == 2


def test_ack_without_seq_takes_the_first_match_and_timestamp_only_positions():
    store = MemoryEventStore(16, batch_mode=ITEMSIZE)
    store.put([ev(i) for i in range(4)])
    store.try_get(None, 4)
    store.ack(pos(1))
    assert store.ack_sequence == 1
    store.ack(LogPosition(IDENT, EntryPosition(timestamp=1_000_003)))  # no file, no offset: time only
    assert store.ack_sequence == 3


def test_rollback_hands_out_everything_after_the_ack_again():
    store = MemoryEventStore(16, batch_mode=ITEMSIZE)
    store.put([ev(i) for i in range(6)])
    b1 = store.try_get(None, 2)
    store.try_get(None, 2)
    store.ack(b1.position_range.end, b1.position_range.end_seq)
    store.rollback()
    assert (store.get_sequence, store.ack_sequence) == (1, 1)
    assert offsets(store.try_get(None, 10).events) == [2, 3, 4, 5]
    m = store.metrics()
    assert m.get_mem_size == m.put_mem_size == 60


def test_first_and_latest_position():
    store = MemoryEventStore(16, batch_mode=ITEMSIZE)
    assert store.first_position() is None and store.latest_position() is None
    store.put([ev(0), ev(1), ev(2)])
    assert store.first_position() == pos(0)
    assert store.latest_position() == pos(2).with_included(True)
    got = store.try_get(None, 2)
    store.ack(got.position_range.end, got.position_range.end_seq)
    assert store.first_position() == pos(1)  # the last acked event, included=false
    got = store.try_get(None, 2)
    store.ack(got.position_range.end, got.position_range.end_seq)
    assert store.first_position() == pos(2) == store.latest_position()
    assert not store.first_position().position.included


def test_metrics_count_rows_and_execute_times():
    store = MemoryEventStore(16, batch_mode=ITEMSIZE)
    store.put([ev(0, rows=3), ev(1, rows=4)])
    got = store.try_get(None, 1)
    store.ack(got.position_range.end, got.position_range.end_seq)
    m = store.metrics()
    assert (m.put_rows, m.get_rows, m.ack_rows) == (7, 3, 3)
    assert (m.put_exec_time, m.get_exec_time, m.ack_exec_time) == (1_000_000, 1_000_000, 1_000_000)


def test_position_range_json_is_canals():
    r = PositionRange(pos(4), pos(9), pos(8), 12)
    d = json.loads(r.dumps())
    assert list(d) == ["ack", "end", "endSeq", "start"]
    assert d["endSeq"] == 12 and d["ack"]["postion"]["position"] == 8
    assert PositionRange.loads(r.dumps()) == r
    no_ack = PositionRange(pos(4), pos(9))
    assert "ack" not in json.loads(no_ack.dumps())
    typed = json.loads(r.dumps(with_type=True))
    assert next(iter(typed)) == "@type" and next(iter(typed["start"])) == "@type"
    assert PositionRange.loads(r.dumps(with_type=True)) == r
    with pytest.raises(ConfigError):
        PositionRange.loads('{"start": null}')


# ---------------------------------------------------------------------------------------------- back-pressure


class TrackedEvent(StoreEvent):
    """Counts live instances so the test can see how many events exist at once."""

    __slots__ = ()
    live = 0
    max_live = 0
    lock = threading.Lock()

    def __del__(self) -> None:
        with TrackedEvent.lock:
            TrackedEvent.live -= 1


def test_million_row_transaction_streams_in_bounded_memory():
    """The parser side (producer) blocks on put; the client side gets and acks. Events are created on
    the fly and never all held: live events stay within the buffer plus one chunk and one batch."""
    size, chunk_len, batch = 1024, 64, 256
    n_rows = 1_000_000
    store = MemoryEventStore(size, memunit=1024, batch_mode=ITEMSIZE)
    raw = b"r" * 40
    row_pos = pos(10)  # rows share one position object: only the store's bookkeeping is under test
    TrackedEvent.live = TrackedEvent.max_live = 0

    def make(entry_type: int, p: LogPosition) -> TrackedEvent:
        is_row = entry_type == ROW
        e = TrackedEvent(
            raw,
            p,
            entry_type,
            pb.INSERT if is_row else 0,
            not is_row,
            "",
            p.position.timestamp or 0,
            len(raw),
            1 if is_row else 0,
        )
        with TrackedEvent.lock:
            TrackedEvent.live += 1
            TrackedEvent.max_live = max(TrackedEvent.max_live, TrackedEvent.live)
        return e

    def produce() -> None:
        store.put([make(BEGIN, pos(4))])
        chunk: list[StoreEvent] = []
        for _ in range(n_rows):
            chunk.append(make(ROW, row_pos))
            if len(chunk) == chunk_len:
                store.put(chunk)
                chunk = []
        store.put([*chunk, make(END, pos(99))])

    stats = {"events": 0, "rows": 0, "max_unacked": 0, "acks": [], "types": []}

    def consume() -> None:
        total = n_rows + 2
        while stats["events"] < total:
            got = store.get(None, batch, timeout=1.0)
            if not got.events:
                continue
            stats["max_unacked"] = max(stats["max_unacked"], store.metrics().unacked)
            stats["events"] += len(got.events)
            stats["rows"] += sum(e.rows for e in got.events)
            stats["types"] += [e.entry_type for e in got.events if e.entry_type != ROW]
            r = got.position_range
            stats["acks"].append(r.ack)
            store.ack(r.end, r.end_seq)
            del got

    producer, pbox = run_thread(produce)
    consumer, cbox = run_thread(consume)
    producer.join(60)
    consumer.join(60)
    assert not producer.is_alive() and not consumer.is_alive()
    assert "error" not in pbox and "error" not in cbox, (pbox, cbox)
    assert stats["events"] == n_rows + 2 and stats["rows"] == n_rows
    assert stats["types"] == [BEGIN, END]
    assert stats["max_unacked"] <= size
    assert TrackedEvent.max_live <= size + chunk_len + batch + 1
    m = store.metrics()
    assert m.put_blocking_ms > 0, "the producer never had to wait: the test did not exercise back-pressure"
    assert (m.put_sequence, m.ack_sequence) == (n_rows + 1, n_rows + 1)
    # only the first batch (BEGIN) and the last (END) carry an ack point: the cursor stays put in between
    acks = stats["acks"]
    assert acks[0] == pos(4) and acks[-1] == pos(99) and all(a is None for a in acks[1:-1])
