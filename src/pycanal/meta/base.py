"""The meta manager contract: who subscribed to a destination, each client's cursor, its outstanding batches.

These are canal's CanalMetaManager operations (canal-spec.md section 4). Implementations: memory only,
file (``meta.dat``), and memory with a periodic flush to a backend (the ZooKeeper meta manager, which
implements this same interface synchronously, is the intended backend).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..model import ClientIdentity, LogPosition
from ..store.range import PositionRange


class MetaManager(ABC):
    """Subscriptions, cursors and batch records per client identity (destination + client id)."""

    @abstractmethod
    def start(self) -> None:
        """Begin; a started manager starts empty or reloads what it persisted."""

    @abstractmethod
    def stop(self) -> None:
        """End; in-memory state (batches, and for memory managers everything) is dropped."""

    @abstractmethod
    def is_started(self) -> bool: ...

    @abstractmethod
    def subscribe(self, identity: ClientIdentity) -> None:
        """Add the client, or replace its record (the filter may change) if it is already there."""

    @abstractmethod
    def has_subscribe(self, identity: ClientIdentity) -> bool: ...

    @abstractmethod
    def unsubscribe(self, identity: ClientIdentity) -> None: ...

    @abstractmethod
    def list_all_subscribe_info(self, destination: str) -> list[ClientIdentity]:
        """The subscribed clients of a destination, in subscription order (a copy)."""

    @abstractmethod
    def get_cursor(self, identity: ClientIdentity) -> LogPosition | None:
        """The client's last acked position (start offset of an ack-point event), or None."""

    @abstractmethod
    def update_cursor(self, identity: ClientIdentity, position: LogPosition) -> None: ...

    @abstractmethod
    def add_batch(self, identity: ClientIdentity, position_range: PositionRange, batch_id: int | None = None) -> int:
        """Record a batch; without ``batch_id`` the next id (1, 2, ... per client) is used. Returns the id."""

    @abstractmethod
    def get_batch(self, identity: ClientIdentity, batch_id: int) -> PositionRange | None: ...

    @abstractmethod
    def remove_batch(self, identity: ClientIdentity, batch_id: int) -> PositionRange | None:
        """Remove and return a batch; None if it is not recorded. Raises BatchOrderError unless it is the
        smallest outstanding id: acks and rollbacks must come in the order batches were handed out."""

    @abstractmethod
    def list_all_batchs(self, identity: ClientIdentity) -> dict[int, PositionRange]:
        """Outstanding batches by id, ascending (a copy)."""

    @abstractmethod
    def clear_all_batchs(self, identity: ClientIdentity) -> None: ...

    @abstractmethod
    def get_first_batch(self, identity: ClientIdentity) -> PositionRange | None:
        """The outstanding batch with the smallest id."""

    @abstractmethod
    def get_last_batch(self, identity: ClientIdentity) -> PositionRange | None:
        """The outstanding batch with the largest id (canal's ``getLastestBatch``)."""
