"""canal's MemoryMetaManager: everything in memory, lost on stop. The base of the file and period managers.

Subclasses fill the maps lazily from what they persist through three hooks (``_load_clients``,
``_load_cursor``, ``_load_batches``), as canal's computing maps do, so a destination's file or znodes are
read the first time that destination is touched.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from ..errors import BatchOrderError, MetaError
from ..model import ClientIdentity, LogPosition
from ..store.range import PositionRange
from .base import MetaManager


class _Batches:
    """One client's outstanding batches and its id counter (canal's MemoryClientIdentityBatch)."""

    __slots__ = ("next_id", "ranges")

    def __init__(self) -> None:
        self.ranges: dict[int, PositionRange] = {}
        self.next_id = 1  # survives clear(): ids restart at 1 only when the manager restarts

    def add(self, position_range: PositionRange, batch_id: int | None) -> int:
        if batch_id is None:
            batch_id = self.next_id
            self.next_id += 1
        elif self.next_id < batch_id + 1:
            self.next_id = batch_id + 1
        self.ranges[batch_id] = position_range
        return batch_id


class MemoryMetaManager(MetaManager):
    """All state in memory. Thread-safe; every operation needs :meth:`start` first."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._started = False
        self._clear_state()

    def _clear_state(self) -> None:
        self._destinations: dict[str, list[ClientIdentity]] = {}
        self._cursors: dict[ClientIdentity, LogPosition | None] = {}
        self._batches: dict[ClientIdentity, _Batches] = {}

    # ------------------------------------------------------------------ persistence hooks

    def _load_clients(self, destination: str) -> list[ClientIdentity]:
        return []

    def _load_cursor(self, identity: ClientIdentity) -> LogPosition | None:
        return None

    def _load_batches(self, identity: ClientIdentity) -> Mapping[int, PositionRange]:
        return {}

    # ------------------------------------------------------------------ lazy maps (call with the lock held)

    def _check_started(self) -> None:
        if not self._started:
            raise MetaError(f"{type(self).__name__} is not started")

    def _clients(self, destination: str) -> list[ClientIdentity]:
        clients = self._destinations.get(destination)
        if clients is None:
            clients = list(self._load_clients(destination))
            self._destinations[destination] = clients
        return clients

    def _cursor_of(self, identity: ClientIdentity) -> LogPosition | None:
        try:
            return self._cursors[identity]
        except KeyError:
            position = self._load_cursor(identity)
            self._cursors[identity] = position
            return position

    def _batches_of(self, identity: ClientIdentity) -> _Batches:
        batches = self._batches.get(identity)
        if batches is None:
            batches = _Batches()
            for batch_id, position_range in sorted(self._load_batches(identity).items()):
                batches.add(position_range, batch_id)
            self._batches[identity] = batches
        return batches

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        with self._lock:
            self._clear_state()
            self._started = True

    def stop(self) -> None:
        with self._lock:
            self._started = False
            self._clear_state()

    def is_started(self) -> bool:
        return self._started

    # ------------------------------------------------------------------ subscriptions

    def subscribe(self, identity: ClientIdentity) -> None:
        with self._lock:
            self._check_started()
            clients = self._clients(identity.destination)
            if identity in clients:
                clients.remove(identity)  # equality ignores the filter: this replaces the old record
            clients.append(identity)

    def has_subscribe(self, identity: ClientIdentity) -> bool:
        with self._lock:
            self._check_started()
            return identity in self._clients(identity.destination)

    def unsubscribe(self, identity: ClientIdentity) -> None:
        with self._lock:
            self._check_started()
            clients = self._clients(identity.destination)
            if identity in clients:
                clients.remove(identity)

    def list_all_subscribe_info(self, destination: str) -> list[ClientIdentity]:
        with self._lock:
            self._check_started()
            return list(self._clients(destination))

    # ------------------------------------------------------------------ cursors

    def get_cursor(self, identity: ClientIdentity) -> LogPosition | None:
        with self._lock:
            self._check_started()
            return self._cursor_of(identity)

    def update_cursor(self, identity: ClientIdentity, position: LogPosition) -> None:
        with self._lock:
            self._check_started()
            self._cursors[identity] = position

    # ------------------------------------------------------------------ batches

    def add_batch(self, identity: ClientIdentity, position_range: PositionRange, batch_id: int | None = None) -> int:
        with self._lock:
            self._check_started()
            return self._batches_of(identity).add(position_range, batch_id)

    def get_batch(self, identity: ClientIdentity, batch_id: int) -> PositionRange | None:
        with self._lock:
            self._check_started()
            return self._batches_of(identity).ranges.get(batch_id)

    def remove_batch(self, identity: ClientIdentity, batch_id: int) -> PositionRange | None:
        with self._lock:
            self._check_started()
            ranges = self._batches_of(identity).ranges
            if batch_id not in ranges:
                return None
            first = min(ranges)
            if first != batch_id:
                raise BatchOrderError(batch_id, first)
            return ranges.pop(batch_id)

    def list_all_batchs(self, identity: ClientIdentity) -> dict[int, PositionRange]:
        with self._lock:
            self._check_started()
            return dict(sorted(self._batches_of(identity).ranges.items()))

    def clear_all_batchs(self, identity: ClientIdentity) -> None:
        with self._lock:
            self._check_started()
            self._batches_of(identity).ranges.clear()

    def get_first_batch(self, identity: ClientIdentity) -> PositionRange | None:
        with self._lock:
            self._check_started()
            ranges = self._batches_of(identity).ranges
            return ranges[min(ranges)] if ranges else None

    def get_last_batch(self, identity: ClientIdentity) -> PositionRange | None:
        with self._lock:
            self._check_started()
            ranges = self._batches_of(identity).ranges
            return ranges[max(ranges)] if ranges else None
