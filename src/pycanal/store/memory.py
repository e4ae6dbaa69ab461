"""canal's MemoryEventStoreWithBuffer: a ring buffer with put, get and ack cursors (canal-spec.md section 3).

Three sequences start at -1 and only grow (except rollback, which moves get back to ack):
``put`` = last slot written, ``get`` = last slot handed out, ``ack`` = last slot freed; ack <= get <= put.
A put of N events fits when ``put + N - size <= min(get, ack)`` and, in MEMSIZE mode, when the bytes put
but not acked are below ``size * memunit``. A put that does not fit blocks: this is the back-pressure that
stops the parser when clients do not keep up, so a huge transaction streams through in bounded memory.

Differences from the Java class, all invisible to clients: slots are released on every ack (Java keeps
them in ITEMSIZE mode until overwritten), the last acked position is kept apart so first/latest position
work after the slot is released, byte counters are kept in both batch modes (Java only in MEMSIZE), a DDL
handed out alone counts toward the get byte counter (Java forgets it), and an ack never runs past the
get cursor (Java would, after a rollback, and then re-deliver freed slots).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from ..errors import ConfigError, StoreClosed, StoreError
from ..model import LogPosition
from .event import DDL_EVENT_TYPES, Events, StoreEvent
from .range import PositionRange, java_str

INIT_SEQUENCE = -1
ITEMSIZE = "ITEMSIZE"
MEMSIZE = "MEMSIZE"


@dataclass(frozen=True, slots=True)
class StoreMetrics:
    """A consistent snapshot of the store's counters (canal's store gauges and counters)."""

    buffer_size: int
    memunit: int
    batch_mode: str
    put_sequence: int
    get_sequence: int
    ack_sequence: int
    put_mem_size: int
    get_mem_size: int
    ack_mem_size: int
    put_rows: int
    get_rows: int
    ack_rows: int
    put_exec_time: int  # ms: execute time of the first event of the last put/get/ack that had one
    get_exec_time: int
    ack_exec_time: int
    put_blocking_ms: float  # total time put() waited for space: canal's sink blocking time

    @property
    def unacked(self) -> int:
        """Events in the store: put but not yet acked (never more than buffer_size)."""
        return self.put_sequence - self.ack_sequence


def _excluded(position: LogPosition) -> LogPosition:
    return position.with_included(False) if position.position.included else position


def _matches(event: StoreEvent, position: LogPosition) -> bool:
    """canal's CanalEventUtils.checkPosition: same timestamp, and same offset and file unless both blank."""
    p = position.position
    if p.timestamp != event.execute_time:
        return False
    if not (p.journal_name or "").strip() and p.position is None:
        return True  # a timestamp-only position
    ep = event.position.position
    return p.position == ep.position and p.journal_name == ep.journal_name


class MemoryEventStore:
    """The ring buffer between the sink (put) and the clients (get, ack, rollback). Thread-safe."""

    def __init__(
        self,
        buffer_size: int = 16384,
        memunit: int = 1024,
        batch_mode: str = MEMSIZE,
        ddl_isolation: bool = False,
    ) -> None:
        if not isinstance(buffer_size, int) or buffer_size <= 0 or buffer_size & (buffer_size - 1):
            raise ConfigError(f"canal.instance.memory.buffer.size must be a power of 2, got {buffer_size!r}")
        if not isinstance(memunit, int) or memunit <= 0:
            raise ConfigError(f"canal.instance.memory.buffer.memunit must be a positive integer, got {memunit!r}")
        mode = str(batch_mode).upper()
        if mode not in (ITEMSIZE, MEMSIZE):
            raise ConfigError(f"canal.instance.memory.batch.mode must be MEMSIZE or ITEMSIZE, got {batch_mode!r}")
        self._size = buffer_size
        self._mask = buffer_size - 1
        self._memunit = memunit
        self._mem_limit = buffer_size * memunit
        self._batch_mode = mode
        self._memsize = mode == MEMSIZE
        self._ddl_isolation = bool(ddl_isolation)
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._not_empty = threading.Condition(self._lock)
        self._closed = False
        self._reset()

    def _reset(self) -> None:
        self._entries: list[StoreEvent | None] = [None] * self._size
        self._put = self._get = self._ack = INIT_SEQUENCE
        self._put_mem = self._get_mem = self._ack_mem = 0
        self._put_rows = self._get_rows = self._ack_rows = 0
        now = int(time.time() * 1000)
        self._put_exec = self._get_exec = self._ack_exec = now
        self._ack_position: LogPosition | None = None  # position of the event at the ack sequence
        self._put_blocking_ns = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Re-open a stopped store, empty, with all sequences back at -1. A new store is already started."""
        with self._lock:
            if self._closed:
                self._reset()
                self._closed = False

    def stop(self) -> None:
        """Drop every event and wake all waiting putters and getters, which raise :class:`StoreClosed`."""
        with self._lock:
            self._closed = True
            self._reset()
            self._not_full.notify_all()
            self._not_empty.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("the event store is stopped")

    # ------------------------------------------------------------------ put

    def _has_free(self, n: int) -> bool:
        if self._put + n - self._size > min(self._get, self._ack):
            return False
        return not self._memsize or self._put_mem - self._ack_mem < self._mem_limit

    def put(self, events: list[StoreEvent], timeout: float | None = None) -> bool:
        """Store ``events`` in order, waiting for space: forever (None) or up to ``timeout`` seconds.

        Returns False if the time ran out (nothing stored). Raises StoreClosed if the store stops meanwhile.
        """
        n = len(events)
        if n == 0:
            return True
        if n > self._size:
            raise StoreError(f"cannot put {n} events at once into a store of {self._size} slots")
        with self._lock:
            self._check_open()
            if not self._has_free(n):
                started = time.monotonic_ns()
                deadline = None if timeout is None else time.monotonic() + timeout
                try:
                    while True:
                        if deadline is None:
                            self._not_full.wait()
                        else:
                            remaining = deadline - time.monotonic()
                            if remaining <= 0:
                                return False
                            self._not_full.wait(remaining)
                        self._check_open()
                        if self._has_free(n):
                            break
                finally:
                    self._put_blocking_ns += time.monotonic_ns() - started
            self._do_put(events, n)
        return True

    def try_put(self, events: list[StoreEvent]) -> bool:
        """Store ``events`` if they fit now; False (nothing stored) if not."""
        n = len(events)
        if n == 0:
            return True
        with self._lock:
            self._check_open()
            if not self._has_free(n):
                return False
            self._do_put(events, n)
        return True

    def _do_put(self, events: list[StoreEvent], n: int) -> None:
        entries = self._entries
        mask = self._mask
        mem = rows = exec_time = 0
        seq = self._put
        for ev in events:
            seq += 1
            entries[seq & mask] = ev
            mem += ev.size
            rows += ev.rows
            if not exec_time and ev.execute_time > 0:
                exec_time = ev.execute_time
        self._put = seq
        self._put_mem += mem
        self._put_rows += rows
        if exec_time:
            self._put_exec = exec_time
        self._not_empty.notify_all()

    # ------------------------------------------------------------------ get

    def _first_next(self, start: LogPosition | None) -> int:
        # canal re-delivers the event at the get cursor when the start position says included=true; cursors
        # are always written with included=false. Honour it only while that event is still held.
        cur = self._get
        if start is not None and start.position.included and cur > self._ack:
            return cur
        return cur + 1

    def _has_unget(self, start: LogPosition | None, batch_size: int) -> bool:
        if self._memsize:
            return self._put_mem - self._get_mem >= batch_size * self._memunit
        return self._get < self._put and self._first_next(start) + batch_size - 1 <= self._put

    def _check_batch_size(self, batch_size: int) -> None:
        # MEMSIZE with 0 still hands out one event, as canal does; ITEMSIZE needs at least one.
        if batch_size < (0 if self._memsize else 1):
            raise StoreError(f"batch size must be positive, got {batch_size}")

    def get(self, start: LogPosition | None, batch_size: int, timeout: float | None = None) -> Events:
        """Hand out the next batch after the get cursor.

        ``timeout`` None or <= 0: wait until a full batch exists (ITEMSIZE: ``batch_size`` events; MEMSIZE:
        ``batch_size * memunit`` bytes not yet handed out). > 0: wait up to that many seconds for a full
        batch, then return whatever there is (possibly nothing). ``start`` only matters for its
        ``included`` flag.
        """
        self._check_batch_size(batch_size)
        with self._lock:
            self._check_open()
            if timeout is None or timeout <= 0:
                while not self._has_unget(start, batch_size):
                    self._not_empty.wait()
                    self._check_open()
            else:
                deadline = time.monotonic() + timeout
                while not self._has_unget(start, batch_size):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._not_empty.wait(remaining)
                    self._check_open()
            return self._do_get(start, batch_size)

    def try_get(self, start: LogPosition | None, batch_size: int) -> Events:
        """Hand out what is there now, up to one batch, without waiting."""
        self._check_batch_size(batch_size)
        with self._lock:
            self._check_open()
            return self._do_get(start, batch_size)

    def _do_get(self, start: LogPosition | None, batch_size: int) -> Events:
        cur = self._get
        put = self._put
        if cur >= put:
            return Events()
        seq = self._first_next(start)
        entries = self._entries
        mask = self._mask
        isolate = self._ddl_isolation
        out: list[StoreEvent] = []
        mem = 0
        if self._memsize:
            # add events while the bytes so far are within budget: at least one, may overshoot by one
            limit = batch_size * self._memunit
            end = cur
            while mem <= limit and seq <= put:
                ev = entries[seq & mask]
                assert ev is not None  # slots up to the put cursor are filled
                if isolate and ev.event_type in DDL_EVENT_TYPES:
                    if not out:
                        out.append(ev)
                        mem += ev.size
                        end = seq
                    else:
                        end = seq - 1
                    break
                out.append(ev)
                mem += ev.size
                end = seq
                seq += 1
        else:
            end = min(seq + batch_size - 1, put)
            while seq <= end:
                ev = entries[seq & mask]
                assert ev is not None  # slots up to the put cursor are filled
                if isolate and ev.event_type in DDL_EVENT_TYPES:
                    if not out:
                        out.append(ev)
                        mem += ev.size
                        end = seq
                    else:
                        end = seq - 1
                    break
                out.append(ev)
                mem += ev.size
                seq += 1
        ack = None
        for ev in reversed(out):
            if ev.is_ack_point:
                ack = ev.position
                break
        rows = exec_time = 0
        for ev in out:
            rows += ev.rows
            if not exec_time and ev.execute_time > 0:
                exec_time = ev.execute_time
        self._get = end
        self._get_mem += mem
        self._get_rows += rows
        if exec_time:
            self._get_exec = exec_time
        return Events(out, PositionRange(out[0].position, out[-1].position, ack, end))

    # ------------------------------------------------------------------ ack / rollback

    def ack(self, position: LogPosition, end_seq: int = -1) -> None:
        """Free the events up to the batch end: ``end_seq`` (>= 0) names its sequence and the event there
        must match ``position`` (timestamp, offset, file); with ``end_seq`` < 0 the first matching event
        after the ack cursor is taken. No match: StoreError "no match ack position...".
        """
        with self._lock:
            self._check_open()
            first = self._ack + 1
            last = self._get if end_seq <= 0 else min(end_seq, self._get)
            entries = self._entries
            mask = self._mask
            mem = rows = exec_time = 0
            for seq in range(first, last + 1):
                ev = entries[seq & mask]
                assert ev is not None  # slots up to the put cursor are filled
                assert ev is not None  # slots between ack and get are always held
                if not exec_time and ev.execute_time > 0:
                    exec_time = ev.execute_time
                rows += ev.rows
                mem += ev.size
                if (end_seq < 0 or seq == end_seq) and _matches(ev, position):
                    for s in range(first, seq + 1):
                        entries[s & mask] = None
                    self._ack = seq
                    self._ack_position = _excluded(ev.position)
                    self._ack_mem += mem
                    self._ack_rows += rows
                    if exec_time:
                        self._ack_exec = exec_time
                    self._not_full.notify_all()
                    return
            raise StoreError(f"no match ack position{java_str(position)}")

    def rollback(self) -> None:
        """Move the get cursor back to the ack cursor: everything not acked is handed out again."""
        with self._lock:
            self._check_open()
            self._get = self._ack
            self._get_mem = self._ack_mem

    # ------------------------------------------------------------------ positions

    def first_position(self) -> LogPosition | None:
        """Where a brand-new subscriber starts (included=false): the last acked event, or the first event
        when nothing was acked yet; None for an empty store that never held anything."""
        with self._lock:
            self._check_open()
            ack, put = self._ack, self._put
            if ack == INIT_SEQUENCE and ack < put:
                ev = self._entries[(ack + 1) & self._mask]
                assert ev is not None
                return _excluded(ev.position)
            if ack > INIT_SEQUENCE:
                return self._ack_position
            return None

    def latest_position(self) -> LogPosition | None:
        """The last event put: included=true while it is not acked, included=false once it is."""
        with self._lock:
            self._check_open()
            put = self._put
            if put == INIT_SEQUENCE:
                return None
            if put != self._ack:
                ev = self._entries[put & self._mask]
                assert ev is not None
                return ev.position.with_included(True)
            return self._ack_position

    # ------------------------------------------------------------------ metrics and settings

    @property
    def buffer_size(self) -> int:
        return self._size

    @property
    def memunit(self) -> int:
        return self._memunit

    @property
    def batch_mode(self) -> str:
        return self._batch_mode

    @property
    def ddl_isolation(self) -> bool:
        return self._ddl_isolation

    @property
    def put_sequence(self) -> int:
        return self._put

    @property
    def get_sequence(self) -> int:
        return self._get

    @property
    def ack_sequence(self) -> int:
        return self._ack

    def metrics(self) -> StoreMetrics:
        with self._lock:
            return StoreMetrics(
                self._size,
                self._memunit,
                self._batch_mode,
                self._put,
                self._get,
                self._ack,
                self._put_mem,
                self._get_mem,
                self._ack_mem,
                self._put_rows,
                self._get_rows,
                self._ack_rows,
                self._put_exec,
                self._get_exec,
                self._ack_exec,
                self._put_blocking_ns / 1e6,
            )
