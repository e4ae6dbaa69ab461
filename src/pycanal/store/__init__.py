"""The event store between sink and clients: canal's memory ring buffer. Knows no MySQL and no binlog."""

from .event import DDL_EVENT_TYPES, Events, StoreEvent, ack_point, is_ddl
from .memory import ITEMSIZE, MEMSIZE, MemoryEventStore, StoreMetrics
from .range import PositionRange

__all__ = [
    "DDL_EVENT_TYPES",
    "ITEMSIZE",
    "MEMSIZE",
    "Events",
    "MemoryEventStore",
    "PositionRange",
    "StoreEvent",
    "StoreMetrics",
    "ack_point",
    "is_ddl",
]
