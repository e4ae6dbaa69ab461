"""Binlog event values produced by :mod:`pycanal.binlog.decoder`.

Events are slotted values, named after MySQL's events without the ``_EVENT`` suffix: the decoder builds
each one whole and nothing writes to it afterwards (``tests/unit/test_immutable_events.py`` runs the decoder,
the schema resolvers and both converters with every event attribute write-once to prove it). They are not
``frozen`` dataclasses only because a frozen dataclass's ``__init__`` costs about a microsecond more per
event on the decode path. What they hold is immutable too: the header and the TABLE_MAP's columns are
frozen values (:class:`EventHeader`, a tuple of :class:`ColumnInfo`), and a schema source that knows more
about a table returns new columns instead of filling these in (see
:data:`pycanal.binlog.decoder.SchemaResolver`). The rows of a rows event are the one exception: plain lists
of values, handed over to the consumer. Every event carries its common :class:`EventHeader` and the binlog
file it was read from, so a consumer can always say where a value came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from . import constants as C


@dataclass(slots=True, frozen=True)
class EventHeader:
    """The 19-byte v4 common header. ``log_pos`` is the position *after* the event."""

    timestamp: int
    type_code: int
    server_id: int
    event_size: int
    log_pos: int
    flags: int

    @property
    def start_pos(self) -> int:
        """Offset of the event's first byte in its binlog file (canal's ``logfileOffset``)."""
        return self.log_pos - self.event_size if self.log_pos else 0


@dataclass(slots=True)
class Event:
    header: EventHeader
    log_file: str

    @property
    def type_name(self) -> str:
        return C.EVENT_NAMES.get(self.header.type_code, f"UNKNOWN({self.header.type_code})")


@dataclass(slots=True)
class FormatDescriptionEvent(Event):
    binlog_version: int
    server_version: str
    create_timestamp: int
    header_length: int
    post_header_lengths: bytes
    checksum_alg: int

    @property
    def is_mariadb(self) -> bool:
        return "mariadb" in self.server_version.lower()


@dataclass(slots=True)
class RotateEvent(Event):
    """Switch to ``next_file`` at ``position``. ``artificial`` marks the fake rotate at dump start."""

    position: int
    next_file: str

    @property
    def artificial(self) -> bool:
        return bool(self.header.flags & C.LOG_EVENT_ARTIFICIAL_F) or self.header.log_pos == 0


@dataclass(slots=True)
class QueryEvent(Event):
    thread_id: int
    exec_time: int
    error_code: int
    schema: str
    query: str
    status_vars: bytes
    sql_mode: int | None = None
    charset: tuple[int, int, int] | None = None  # client, connection, server collation ids
    time_zone: str | None = None
    compressed: bool = False
    load_file_id: int | None = None  # EXECUTE_LOAD_QUERY: the LOAD DATA file it executes


@dataclass(slots=True)
class LoadBlockEvent(Event):
    """BEGIN_LOAD_QUERY / APPEND_BLOCK (a block of a LOAD DATA file) or DELETE_FILE (empty block)."""

    file_id: int
    block: bytes


@dataclass(slots=True)
class XidEvent(Event):
    xid: int


@dataclass(slots=True)
class XaPrepareEvent(Event):
    one_phase: bool
    format_id: int
    gtrid: bytes
    bqual: bytes


@dataclass(slots=True)
class StopEvent(Event):
    pass


@dataclass(slots=True)
class IncidentEvent(Event):
    incident: int
    message: str


@dataclass(slots=True)
class HeartbeatEvent(Event):
    """Master heartbeat (v1: the binlog name in the body; v2: tagged fields)."""

    log_ident: str
    position: int | None = None


@dataclass(slots=True)
class IntVarEvent(Event):
    kind: int  # 1 LAST_INSERT_ID, 2 INSERT_ID
    value: int


@dataclass(slots=True)
class RandEvent(Event):
    seed1: int
    seed2: int


@dataclass(slots=True)
class UserVarEvent(Event):
    name: str
    is_null: bool
    value_type: int
    charset: int
    value: Any
    flags: int = 0


@dataclass(slots=True)
class RowsQueryEvent(Event):
    """MySQL ROWS_QUERY or MariaDB ANNOTATE_ROWS: the statement text behind the next rows events."""

    query: str


@dataclass(slots=True)
class GtidEvent(Event):
    """MySQL GTID / ANONYMOUS_GTID / GTID_TAGGED."""

    anonymous: bool
    commit_flag: int
    sid: str  # uuid text
    gno: int
    tag: str = ""
    last_committed: int | None = None
    sequence_number: int | None = None
    immediate_commit_timestamp: int | None = None
    original_commit_timestamp: int | None = None
    transaction_length: int | None = None

    @property
    def gtid(self) -> str:
        return f"{self.sid}:{self.tag}:{self.gno}" if self.tag else f"{self.sid}:{self.gno}"


@dataclass(slots=True)
class PreviousGtidsEvent(Event):
    """MySQL PREVIOUS_GTIDS: the executed set before this file, as MySQL's text form."""

    gtid_set: str


@dataclass(slots=True)
class MariaGtidEvent(Event):
    """MariaDB GTID: starts an event group ``domain-server-seq``."""

    domain_id: int
    seq_no: int
    flags2: int
    commit_id: int | None = None
    xid: tuple[int, bytes, bytes] | None = None

    FL_STANDALONE = 1

    @property
    def gtid(self) -> str:
        return f"{self.domain_id}-{self.header.server_id}-{self.seq_no}"

    @property
    def standalone(self) -> bool:
        """True when the group has no BEGIN (a DDL or other self-committing statement)."""
        return bool(self.flags2 & 1)


@dataclass(slots=True)
class MariaGtidListEvent(Event):
    gtids: tuple[str, ...]


@dataclass(slots=True)
class BinlogCheckpointEvent(Event):
    log_file_checkpoint: str


@dataclass(slots=True)
class TransactionPayloadEvent(Event):
    """MySQL 8 compressed transaction: ``events`` are the decoded inner events, in order."""

    compression_type: int
    payload_size: int
    uncompressed_size: int
    events: tuple[Event, ...] = ()


@dataclass(slots=True)
class IgnorableEvent(Event):
    """An event the server flagged LOG_EVENT_IGNORABLE_F, or a type documented as safe to pass
    over (TRANSACTION_CONTEXT, VIEW_CHANGE, MariaDB START_ENCRYPTION). Kept, never dropped silently:
    the consumer sees it and its type."""

    body: bytes


@dataclass(slots=True, frozen=True)
class ColumnInfo:
    """One column as TABLE_MAP describes it, with the optional metadata spread per column."""

    index: int
    type: int  # the real type (STRING columns carrying ENUM/SET are resolved)
    meta: int
    nullable: bool
    name: str | None = None
    unsigned: bool | None = None  # None: server did not say (no SIGNEDNESS metadata)
    charset: int | None = None  # collation id; 63 is binary
    enum_values: tuple[str, ...] | None = None
    set_values: tuple[str, ...] | None = None
    geometry_type: int | None = None
    visible: bool = True
    is_pk: bool = False
    binlog_type: int = 0  # the type byte as written in the TABLE_MAP
    mysql_type: str | None = None  # full column-type text, from a schema source when one is known

    @property
    def is_binary(self) -> bool:
        return self.charset == 63


_NO_METADATA: Mapping[int, bytes] = MappingProxyType({})


@dataclass(slots=True)
class TableMapEvent(Event):
    """A table's id, name and column layout. ``columns`` are the resolved ones when a schema source
    resolved the table (:data:`pycanal.binlog.decoder.SchemaResolver`), else what the binlog says."""

    table_id: int
    schema: str
    table: str
    columns: tuple[ColumnInfo, ...]
    has_names: bool  # binlog_row_metadata=FULL: names come from the binlog itself
    primary_key: tuple[int, ...]
    optional_metadata: Mapping[int, bytes] = field(default_factory=lambda: _NO_METADATA)  # read-only
    # set when the schema source rejected this table and the user chose to skip its rows
    # (canal.instance.filter.table.error=true); its rows events then decode as IgnorableEvent
    table_error: str | None = None

    @property
    def column_count(self) -> int:
        return len(self.columns)


@dataclass(slots=True)
class RowsEvent(Event):
    """WRITE / UPDATE / DELETE rows (v1, v2, MariaDB compressed, MySQL partial update).

    ``present`` lists the column indexes in the (before) image; ``present_after`` those of the
    after image of an UPDATE. Values are aligned with those lists, so a column absent from a
    MINIMAL or NOBLOB image is absent, distinct from a present NULL (``None``).
    Values are already in canal's text form (see :mod:`pycanal.binlog.rows`).
    """

    table_id: int
    flags: int
    table: TableMapEvent
    present: tuple[int, ...]
    present_after: tuple[int, ...] | None
    rows: list[Any]  # WRITE/DELETE: list[list[str|None]]; UPDATE: list[tuple[before, after]]
    kind: str  # "INSERT", "UPDATE", "DELETE"
    compressed: bool = False
    partial: bool = False

    @property
    def schema(self) -> str:
        return self.table.schema

    @property
    def table_name(self) -> str:
        return self.table.table

    @property
    def end_of_statement(self) -> bool:
        return bool(self.flags & C.ROWS_END_OF_STATEMENT_F)
