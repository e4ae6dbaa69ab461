"""canal's CanalServerWithEmbedded: subscribe/get/ack/rollback over the instances of this process.

The TCP server (and an in-process client) call this API; it holds no sockets. Semantics and error texts
are canal's (canal-spec.md section 2):

* Batch ids count from 1 per client and restart with the instance; -1 means "no data" and is never
  recorded (so ``ack(-1)`` is ignored, as canal's session handler ignores it).
* ``get_without_ack`` continues after the last batch handed out while batches are outstanding, else
  from the client cursor; several batches may be outstanding.
* ``ack`` must name the oldest outstanding batch; it moves the client cursor to the batch's ack point
  (if the batch has one) and frees the store up to the batch end.
* ``rollback`` (all, or batch id 0) forgets every outstanding batch and hands everything after the last
  ack out again. ``rollback(batch_id)`` checks the id like ack does, and then also forgets every
  outstanding batch: canal resets the store the same way but keeps the later batch records, whose data is
  then delivered again under new ids, so acking them fails ("is not the firstly") or corrupts the cursor.
  Here such a stale id is simply "not exist".

Locks: per destination, one lock serializes gets and rollbacks (a blocking get holds it, as canal's
``synchronized (canalInstance)`` does) and a second one serializes acks, so an ack is never stuck behind
a get that waits for data only that ack can make room for.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Protocol, runtime_checkable

from ..errors import (
    BatchNotFound,
    BatchOrderError,
    BatchOutOfOrder,
    CanalServerError,
    InstanceNotStarted,
    MetaError,
    NotSubscribed,
    StoreError,
    UnackedBatch,
)
from ..meta.base import MetaManager
from ..model import ClientIdentity, LogPosition
from ..store.event import Events
from ..store.memory import MemoryEventStore

log = logging.getLogger(__name__)


class TimeUnit(IntEnum):
    """Java's TimeUnit by ordinal, as the ``unit`` field of a Get packet carries it."""

    NANOSECONDS = 0
    MICROSECONDS = 1
    MILLISECONDS = 2
    SECONDS = 3
    MINUTES = 4
    HOURS = 5
    DAYS = 6

    def to_seconds(self, value: float) -> float:
        return value * _SECONDS[self]

    @classmethod
    def from_wire(cls, code: int) -> TimeUnit:
        """canal's session handler: an unknown unit code means milliseconds."""
        try:
            return cls(code)
        except ValueError:
            return cls.MILLISECONDS


_SECONDS = {
    TimeUnit.NANOSECONDS: 1e-9,
    TimeUnit.MICROSECONDS: 1e-6,
    TimeUnit.MILLISECONDS: 1e-3,
    TimeUnit.SECONDS: 1.0,
    TimeUnit.MINUTES: 60.0,
    TimeUnit.HOURS: 3600.0,
    TimeUnit.DAYS: 86400.0,
}


@dataclass(slots=True)
class Message:
    """A get result: batch id (-1 = no data) and the serialized canal Entries (raw mode)."""

    batch_id: int
    entries: list[bytes] = field(default_factory=list)
    raw: bool = True

    EMPTY_BATCH_ID: ClassVar[int] = -1


@runtime_checkable
class InstanceHandle(Protocol):
    """What the server needs from a canal instance (one destination)."""

    @property
    def destination(self) -> str: ...

    @property
    def store(self) -> MemoryEventStore: ...

    @property
    def meta_manager(self) -> MetaManager: ...

    def is_running(self) -> bool: ...

    def subscribe_change(self, identity: ClientIdentity) -> None:
        """A client subscribed with a non-empty filter: it replaces the instance's table filter."""


def java_identity_str(identity: ClientIdentity) -> str:
    """ClientIdentity as canal's toString prints it. An empty filter prints as ``<null>``: canal builds the
    identity of get/ack/rollback requests without a filter, and those are where this text shows up."""
    return (
        f"ClientIdentity[destination={identity.destination},clientId={identity.client_id},"
        f"filter={identity.filter or '<null>'}]"
    )


class _Slot:
    __slots__ = ("ack_lock", "get_lock", "instance")

    def __init__(self, instance: InstanceHandle) -> None:
        self.instance = instance
        self.get_lock = threading.RLock()
        self.ack_lock = threading.RLock()


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """Store and meta failures reach callers as CanalServerError (400), like canal's session handler."""
    try:
        yield
    except BatchOrderError as exc:
        raise BatchOutOfOrder(str(exc)) from exc
    except (StoreError, MetaError) as exc:
        raise CanalServerError(str(exc)) from exc


class CanalServerWithEmbedded:
    """The get/ack/rollback API for every instance of this process. Thread-safe.

    Normally one per process (:meth:`instance`); separate objects are allowed, as in canal, for tests.
    """

    _singleton: ClassVar[CanalServerWithEmbedded | None] = None
    _singleton_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()

    @classmethod
    def instance(cls) -> CanalServerWithEmbedded:
        """The process-wide server."""
        with cls._singleton_lock:
            if cls._singleton is None:
                cls._singleton = cls()
            return cls._singleton

    # ------------------------------------------------------------------ instances

    def register(self, instance: InstanceHandle) -> None:
        """Serve ``instance``'s destination (replacing a previous instance of it, whose batches are gone)."""
        with self._lock:
            self._slots[instance.destination] = _Slot(instance)

    def unregister(self, destination: str) -> InstanceHandle | None:
        with self._lock:
            slot = self._slots.pop(destination, None)
        return None if slot is None else slot.instance

    def get_instance(self, destination: str) -> InstanceHandle | None:
        slot = self._slots.get(destination)
        return None if slot is None else slot.instance

    def destinations(self) -> list[str]:
        with self._lock:
            return sorted(self._slots)

    def is_start(self, destination: str) -> bool:
        slot = self._slots.get(destination)
        return slot is not None and slot.instance.is_running()

    # ------------------------------------------------------------------ checks

    def _slot(self, identity: ClientIdentity) -> _Slot:
        if not identity.destination:
            raise CanalServerError("destination or clientId is null", CanalServerError.NULL_IDENTITY)
        slot = self._slots.get(identity.destination)
        if slot is None or not slot.instance.is_running():
            raise InstanceNotStarted(f"destination:{identity.destination} should start first")
        return slot

    @staticmethod
    def _has_subscribe(meta: MetaManager, identity: ClientIdentity) -> bool:
        with _mapped_errors():
            return meta.is_started() and meta.has_subscribe(identity)

    def _check_subscribe(self, slot: _Slot, identity: ClientIdentity) -> None:
        if not self._has_subscribe(slot.instance.meta_manager, identity):
            raise NotSubscribed(f"ClientIdentity:{java_identity_str(identity)} should subscribe first")

    # ------------------------------------------------------------------ subscriptions

    def subscribe(self, identity: ClientIdentity) -> None:
        """Subscribe (again: the filter is replaced); a new client's cursor is the store's first event."""
        slot = self._slot(identity)
        instance = slot.instance
        meta = instance.meta_manager
        with _mapped_errors():
            if not meta.is_started():
                meta.start()
            meta.subscribe(identity)
            position = meta.get_cursor(identity)
            if position is None:
                position = instance.store.first_position()
                if position is not None:
                    meta.update_cursor(identity, position)
                log.info("subscribe successfully, %s with first position:%s", identity, position)
            else:
                log.info("subscribe successfully, %s use last cursor position:%s", identity, position)
        if identity.filter:
            instance.subscribe_change(identity)

    def unsubscribe(self, identity: ClientIdentity) -> None:
        """Drop the subscription (canal does not require the instance to be running for this)."""
        if not identity.destination:
            raise CanalServerError("destination or clientId is null", CanalServerError.NULL_IDENTITY)
        slot = self._slots.get(identity.destination)
        if slot is None:
            raise InstanceNotStarted(f"destination:{identity.destination} should start first")
        with _mapped_errors():
            slot.instance.meta_manager.unsubscribe(identity)
        log.info("unsubscribe successfully, %s", identity)

    def list_all_subscribe(self, destination: str) -> list[ClientIdentity]:
        slot = self._slots.get(destination)
        if slot is None:
            raise InstanceNotStarted(f"destination:{destination} should start first")
        with _mapped_errors():
            return slot.instance.meta_manager.list_all_subscribe_info(destination)

    # ------------------------------------------------------------------ get

    @staticmethod
    def _events(
        store: MemoryEventStore,
        start: LogPosition | None,
        batch_size: int,
        timeout: float | None,
        unit: TimeUnit,
    ) -> Events:
        if timeout is None:
            return store.try_get(start, batch_size)
        if timeout <= 0:
            return store.get(start, batch_size, None)  # wait for a full batch, however long
        return store.get(start, batch_size, TimeUnit.from_wire(int(unit)).to_seconds(timeout))

    def get(
        self,
        identity: ClientIdentity,
        batch_size: int,
        timeout: float | None = None,
        unit: TimeUnit = TimeUnit.MILLISECONDS,
    ) -> Message:
        """Get and ack at once (embedded use). Fails if batches from get_without_ack are outstanding."""
        slot = self._slot(identity)
        self._check_subscribe(slot, identity)
        meta = slot.instance.meta_manager
        with slot.get_lock:
            with _mapped_errors():
                last = meta.get_last_batch(identity)
                if last is not None:
                    raise UnackedBatch(
                        f"clientId:{identity.client_id} has last batch:[{last.java_str()}] isn't ack , maybe loss data"
                    )
                start = meta.get_cursor(identity)
                events = self._events(slot.instance.store, start, batch_size, timeout, unit)
                if not events.events:
                    return Message(Message.EMPTY_BATCH_ID, [], True)
                assert events.position_range is not None
                batch_id = meta.add_batch(identity, events.position_range)
            self.ack(identity, batch_id)
            return Message(batch_id, [e.raw for e in events.events], True)

    def get_without_ack(
        self,
        identity: ClientIdentity,
        batch_size: int,
        timeout: float | None = None,
        unit: TimeUnit = TimeUnit.MILLISECONDS,
    ) -> Message:
        """Hand out the next batch and record it under a new batch id.

        ``timeout`` None: take what is there now. <= 0: wait for a full batch. > 0: wait up to ``timeout``
        (in ``unit``) for a full batch, then take what is there. No data: batch id -1.
        """
        slot = self._slot(identity)
        self._check_subscribe(slot, identity)
        instance = slot.instance
        meta = instance.meta_manager
        with slot.get_lock, _mapped_errors():
            last = meta.get_last_batch(identity)
            start: LogPosition | None
            if last is not None:
                start = last.start  # streaming: the store continues after its get cursor
            else:
                start = meta.get_cursor(identity)
                if start is None:
                    start = instance.store.first_position()
            events = self._events(instance.store, start, batch_size, timeout, unit)
            if not events.events:
                return Message(Message.EMPTY_BATCH_ID, [], True)
            assert events.position_range is not None
            batch_id = meta.add_batch(identity, events.position_range)
            return Message(batch_id, [e.raw for e in events.events], True)

    def list_batch_ids(self, identity: ClientIdentity) -> list[int]:
        """Outstanding batch ids, ascending."""
        slot = self._slot(identity)
        self._check_subscribe(slot, identity)
        with _mapped_errors():
            return sorted(slot.instance.meta_manager.list_all_batchs(identity))

    # ------------------------------------------------------------------ ack / rollback

    def ack(self, identity: ClientIdentity, batch_id: int) -> None:
        """Confirm the oldest outstanding batch. -1 (the "no data" id) is ignored; 0 is an error (402)."""
        if batch_id == Message.EMPTY_BATCH_ID:
            return
        if batch_id == 0:
            raise CanalServerError("batchId should assign value", CanalServerError.BATCH_ID_UNSET)
        slot = self._slot(identity)
        self._check_subscribe(slot, identity)
        instance = slot.instance
        meta = instance.meta_manager
        with slot.ack_lock, _mapped_errors():
            position_range = meta.remove_batch(identity, batch_id)
            if position_range is None:
                raise BatchNotFound(
                    f"ack error , clientId:{identity.client_id} batchId:{batch_id} is not exist , please check"
                )
            if position_range.ack is not None:
                meta.update_cursor(identity, position_range.ack)
                log.debug("ack successfully, clientId:%s batchId:%s", identity.client_id, batch_id)
            instance.store.ack(position_range.end, position_range.end_seq)

    def rollback(self, identity: ClientIdentity, batch_id: int | None = None) -> None:
        """Hand out everything after the last ack again; ``batch_id`` (not None, not 0) must be the oldest
        outstanding batch. Every outstanding batch is void afterwards. Not subscribed: nothing happens."""
        slot = self._slot(identity)
        instance = slot.instance
        meta = instance.meta_manager
        if not self._has_subscribe(meta, identity):
            return  # canal's client rolls back on connect, before it subscribes
        with slot.get_lock, slot.ack_lock, _mapped_errors():
            if batch_id is not None and batch_id != 0:
                position_range = meta.remove_batch(identity, batch_id)
                if position_range is None:
                    raise BatchNotFound(
                        f"rollback error, clientId:{identity.client_id} batchId:{batch_id} is not exist , please check"
                    )
            meta.clear_all_batchs(identity)
            instance.store.rollback()
            log.info("rollback successfully, clientId:%s batchId:%s", identity.client_id, batch_id)
