"""What the sink puts into the event store, and what a get returns (canal's store ``Event``/``Events``).

The store knows no MySQL and no binlog: an event is a serialized canal Entry plus the few facts the store
needs without parsing it again (where it came from, its types, whether a cursor may stop there, its size).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model import LogPosition
from .range import PositionRange

# canal EntryType / EventType numbers (EntryProtocol.proto); plain ints so the store imports no protobuf.
TRANSACTIONBEGIN = 1
ROWDATA = 2
TRANSACTIONEND = 3
CREATE = 4
ALTER = 5
ERASE = 6
TRUNCATE = 8
RENAME = 9
CINDEX = 10
DINDEX = 11

#: The event types canal's store calls DDL (``isDdl``): ack points, and isolated batches with ddl isolation.
#: QUERY (7) is not among them, although its RowChange says ``isDdl=true``.
DDL_EVENT_TYPES = frozenset((CREATE, ALTER, ERASE, TRUNCATE, RENAME, CINDEX, DINDEX))


def is_ddl(event_type: int) -> bool:
    """canal's store-side DDL test: the header event type only."""
    return event_type in DDL_EVENT_TYPES


def ack_point(entry_type: int, event_type: int, gtid: str | None) -> bool:
    """canal's rule for where a client cursor may stop (spec section 2).

    A transaction end, a DDL, or a transaction begin when there is no gtid: resuming by GTID set from a
    BEGIN would make MySQL skip that whole transaction, so in GTID mode only ends and DDL count.
    """
    return (
        entry_type == TRANSACTIONEND or (entry_type == TRANSACTIONBEGIN and not gtid) or event_type in DDL_EVENT_TYPES
    )


@dataclass(slots=True)
class StoreEvent:
    """One canal Entry in the store. Built once per entry on the hot path, so a plain slots class.

    ``position`` is the start offset of the binlog event with ``included=False`` (it is also what a cursor
    becomes when this event is an ack point); ``size`` is ``len(raw)`` and drives MEMSIZE accounting.
    Use :meth:`of` to have ``size`` and ``is_ack_point`` computed.
    """

    raw: bytes
    position: LogPosition
    entry_type: int
    event_type: int
    is_ack_point: bool
    gtid: str
    execute_time: int  # ms
    size: int
    rows: int = 0

    @classmethod
    def of(
        cls,
        raw: bytes,
        position: LogPosition,
        entry_type: int,
        event_type: int,
        gtid: str = "",
        execute_time: int = 0,
        rows: int = 0,
    ) -> StoreEvent:
        """Build an event, computing ``size`` and ``is_ack_point`` with canal's rule."""
        return cls(
            raw,
            position,
            entry_type,
            event_type,
            ack_point(entry_type, event_type, gtid),
            gtid,
            execute_time,
            len(raw),
            rows,
        )


@dataclass(slots=True)
class Events:
    """The result of a get: the events handed out and the range they cover (None when empty)."""

    events: list[StoreEvent] = field(default_factory=list)
    position_range: PositionRange | None = None

    def __len__(self) -> int:
        return len(self.events)

    def __bool__(self) -> bool:
        return bool(self.events)
