"""What every canal client connector shares: the get result, the connector interface, the address hook.

:class:`Connector` is the surface of canal's Java ``CanalConnector``; :class:`~pycanal.client.SimpleConnector`
implements it against one server, and a cluster connector (ZooKeeper discovery) can implement it by
driving a SimpleConnector whose :data:`AddressProvider` names the currently running server.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar, Protocol, runtime_checkable

from ..errors import RemoteProtocolError
from ..protocol import entry as pb

AddressProvider = Callable[[], tuple[str, int]]
"""Called before every connection attempt (the first and each reconnect) for the server to dial."""


def static_address(host: str, port: int) -> AddressProvider:
    """The provider of a fixed server (canal's simple connector)."""
    address = (host, port)
    return lambda: address


@dataclass(frozen=True, slots=True)
class LiveConnection:
    """The connection a connector is using right now: the server it dialled and this end's ``ip:port``
    (None when the socket cannot say, e.g. just closed)."""

    server: tuple[str, int]
    local: str | None


class Message:
    """A get result: the batch id (-1 = no data) and the Entries.

    ``raw`` holds the serialized Entries as the server sent them; ``entries`` decodes them on first use
    and keeps the result (canal's ``lazyParseEntry``), so a consumer that forwards bytes pays nothing
    for decoding and one that reads columns pays once. A Message can also be built from decoded Entries.
    """

    __slots__ = ("_entries", "batch_id", "raw")

    EMPTY_BATCH_ID: ClassVar[int] = -1

    def __init__(
        self, batch_id: int, entries: Sequence[pb.Entry] | None = None, raw: Sequence[bytes] | None = None
    ) -> None:
        self.batch_id = batch_id
        self._entries = list(entries) if entries is not None else None
        if raw is None:
            raw = [e.SerializeToString() for e in self._entries or ()]
        self.raw = list(raw)

    @property
    def entries(self) -> list[pb.Entry]:
        """The decoded Entries (decoded once, on first access)."""
        if self._entries is None:
            out = []
            for i, data in enumerate(self.raw):
                try:
                    out.append(pb.Entry.FromString(data))
                except Exception as exc:  # protobuf's DecodeError
                    raise RemoteProtocolError(f"batch {self.batch_id}: entry {i} is not a canal Entry: {exc}") from exc
            self._entries = out
        return self._entries

    @property
    def is_empty(self) -> bool:
        return self.batch_id == self.EMPTY_BATCH_ID or not self.raw

    def __len__(self) -> int:
        return len(self.raw)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self.batch_id == other.batch_id and self.raw == other.raw

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Message(batch_id={self.batch_id}, entries={len(self.raw)})"


@runtime_checkable
class Connector(Protocol):
    """canal's ``CanalConnector``: connect, subscribe, get/ack/rollback batches of one destination.

    ``get`` is ``get_without_ack`` followed by ``ack``. Batches must be acked in the order they were
    handed out; a rollback (all, or of the oldest batch) makes every outstanding batch void and the data
    after the last ack is handed out again.
    """

    destination: str

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def check_valid(self) -> bool: ...

    def subscribe(self, filter: str | None = None) -> None: ...

    def unsubscribe(self) -> None: ...

    def get(self, batch_size: int, timeout: int | None = None, unit: str | int = "ms") -> Message: ...

    def get_without_ack(self, batch_size: int, timeout: int | None = None, unit: str | int = "ms") -> Message: ...

    def ack(self, batch_id: int) -> None: ...

    def rollback(self, batch_id: int | None = None) -> None: ...

    def __enter__(self) -> Connector: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
