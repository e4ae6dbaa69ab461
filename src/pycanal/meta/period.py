"""canal's PeriodMixedMetaManager: memory first, changed cursors pushed to a backend every ``period_ms``.

canal uses it with the ZooKeeper meta manager as backend (default-instance.xml). Subscriptions, cursors and
batches are read lazily from the backend the first time a destination or client is touched. Subscribe and
unsubscribe are forwarded at once but asynchronously, in order, on the flush thread; cursors are forwarded
only when they changed, at most once per period. Batches are never written to the backend (after a failover
clients get everything after their cursor again).

Like canal, :meth:`stop` does not push the cursors changed since the last period unless asked: when an HA
standby has already taken over, a late write would replace its newer cursor.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping

from ..errors import ConfigError
from ..model import ClientIdentity, LogPosition
from ..store.range import PositionRange
from .base import MetaManager
from .memory import MemoryMetaManager

log = logging.getLogger(__name__)


class PeriodMixedMetaManager(MemoryMetaManager):
    """Memory meta manager backed by another (synchronous) meta manager, flushed periodically."""

    def __init__(self, backend: MetaManager, period_ms: int = 1000) -> None:
        super().__init__()
        if period_ms <= 0:
            raise ConfigError(f"canal.zookeeper.flush.period must be positive, got {period_ms!r}")
        self.backend = backend
        self.period_ms = period_ms
        self._dirty: set[ClientIdentity] = set()
        self._tasks: queue.Queue[Callable[[], object] | None] = queue.Queue()  # None = stop
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ loading from the backend

    def _load_clients(self, destination: str) -> list[ClientIdentity]:
        return self.backend.list_all_subscribe_info(destination)

    def _load_cursor(self, identity: ClientIdentity) -> LogPosition | None:
        return self.backend.get_cursor(identity)

    def _load_batches(self, identity: ClientIdentity) -> Mapping[int, PositionRange]:
        return self.backend.list_all_batchs(identity)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            if not self.backend.is_started():
                self.backend.start()
            super().start()
            self._dirty.clear()
            self._tasks = queue.Queue()
            self._thread = threading.Thread(target=self._run, name="pycanal-meta-period-flush", daemon=True)
            self._thread.start()

    def stop(self, flush: bool = False) -> None:
        """Stop once queued subscribe/unsubscribe calls ran; ``flush=True`` also pushes changed cursors."""
        thread = self._thread
        self._thread = None
        if thread is not None:
            self._tasks.put(None)
            if thread is not threading.current_thread():
                thread.join()
        try:
            if flush and self._started:
                self.flush()
        finally:
            with self._lock:
                self._dirty.clear()
                super().stop()
            if self.backend.is_started():
                self.backend.stop()

    # ------------------------------------------------------------------ writes

    def subscribe(self, identity: ClientIdentity) -> None:
        super().subscribe(identity)
        self._tasks.put(lambda: self.backend.subscribe(identity))

    def unsubscribe(self, identity: ClientIdentity) -> None:
        super().unsubscribe(identity)
        self._tasks.put(lambda: self.backend.unsubscribe(identity))

    def update_cursor(self, identity: ClientIdentity, position: LogPosition) -> None:
        with self._lock:
            super().update_cursor(identity, position)
            self._dirty.add(identity)

    def flush(self) -> None:
        """Push every changed cursor to the backend now (a failed one stays pending for the next period)."""
        with self._lock:
            if not self._started:
                return
            dirty = list(self._dirty)
            self._dirty.clear()
            # an identity unsubscribed meanwhile is skipped: its backend record may be deleted already
            pending = [(c, self._cursors.get(c)) for c in dirty if self.has_subscribe(c)]
        for identity, cursor in pending:
            if cursor is None:
                continue
            try:
                self.backend.update_cursor(identity, cursor)
            except Exception:
                log.exception("period update %s cursor failed; retrying next period", identity)
                with self._lock:
                    if self._started:
                        self._dirty.add(identity)

    def _run(self) -> None:
        period = self.period_ms / 1000.0
        next_tick = time.monotonic() + period
        while True:
            try:
                task = self._tasks.get(timeout=max(0.0, next_tick - time.monotonic()))
            except queue.Empty:
                pass
            else:
                if task is None:
                    return
                try:
                    task()
                except Exception:
                    log.exception("forwarding a subscription change to the meta backend failed")
            if time.monotonic() >= next_tick:
                self.flush()
                next_tick = time.monotonic() + period
