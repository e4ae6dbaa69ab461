"""Transaction boundaries of a binlog event stream: where a dump may resume without landing mid-transaction.

A *boundary* is the position right after an event that ends an event group: after it, the next event
starts a new transaction (or a statement that stands alone), so a dump started there neither repeats
half a transaction nor starts inside one. This module is the one place that decides which events end
a group; the stream's reconnect position, the timestamp search and the parser's resume rule all ask it.

The rules follow MySQL's own boundary parser (``libs/mysql/binlog/event/trx_boundary_parser.cpp``) and
MariaDB's binlog format:

* a GTID event (MySQL: GTID, ANONYMOUS_GTID, GTID_TAGGED) opens an event group but not a transaction:
  the statement after it (a DDL) ends the group;
* ``BEGIN`` and ``XA START ...`` open a transaction; so does a MariaDB GTID event without
  ``FL_STANDALONE`` (MariaDB writes no ``BEGIN``: its GTID event is the transaction's start);
* XID, XA_PREPARE (the end of an XA transaction's prepared group; also ``XA COMMIT ... ONE PHASE``),
  and the queries ``COMMIT``, ``ROLLBACK`` (not ``ROLLBACK TO`` a savepoint), ``XA COMMIT`` and
  ``XA ROLLBACK`` end one; ``XA END`` does not (its XA_PREPARE follows);
* any other query (a DDL, or a statement-format DML) ends its group when no transaction is open, and is
  just a statement inside one when one is (so a STATEMENT-format ``INSERT`` between ``BEGIN`` and
  ``COMMIT`` is not a boundary);
* INTVAR, RAND, USER_VAR, TABLE_MAP and ROWS_QUERY/ANNOTATE_ROWS only prepare the statement that follows;
  a rows event ends its group only outside a transaction and with its end-of-statement flag;
* TRANSACTION_PAYLOAD (MySQL 8 compression) holds a whole transaction: a boundary after it;
* ROTATE falls between transactions; INCIDENT ends whatever was open; the rest (format description,
  previous GTIDs, heartbeats, MariaDB GTID lists and checkpoints, ignorable events) changes nothing.

Pure: events in, answers out. Imports only :mod:`pycanal.binlog.events`.
"""

from __future__ import annotations

from enum import Enum

from .events import (
    Event,
    GtidEvent,
    IncidentEvent,
    IntVarEvent,
    LoadBlockEvent,
    MariaGtidEvent,
    QueryEvent,
    RandEvent,
    RotateEvent,
    RowsEvent,
    RowsQueryEvent,
    TableMapEvent,
    TransactionPayloadEvent,
    UserVarEvent,
    XaPrepareEvent,
    XidEvent,
)

__all__ = ["QueryKind", "TransactionTracker", "closes_transaction", "opens_transaction", "query_kind"]


class QueryKind(Enum):
    """What a QUERY event's statement does to the transaction around it."""

    BEGIN = "BEGIN"
    XA_START = "XA START"
    XA_END = "XA END"
    COMMIT = "COMMIT"
    ROLLBACK = "ROLLBACK"
    XA_PREPARE = "XA PREPARE"
    XA_COMMIT = "XA COMMIT"
    XA_ROLLBACK = "XA ROLLBACK"
    STATEMENT = "STATEMENT"  # anything else: a DDL, or a statement-format DML


#: Kinds that end an open transaction.
ENDS = frozenset(
    (QueryKind.COMMIT, QueryKind.ROLLBACK, QueryKind.XA_PREPARE, QueryKind.XA_COMMIT, QueryKind.XA_ROLLBACK)
)
#: Kinds that open one.
OPENS = frozenset((QueryKind.BEGIN, QueryKind.XA_START))


def query_kind(sql: str) -> QueryKind:
    """Classify a QUERY event's text (leading and trailing blanks and case do not matter)."""
    head = sql.lstrip()[:12].upper()
    if not head:
        return QueryKind.STATEMENT
    first = head[0]
    if first == "B":
        return QueryKind.BEGIN if sql.strip().upper() == "BEGIN" else QueryKind.STATEMENT
    if first == "C":
        return QueryKind.COMMIT if sql.strip().upper() == "COMMIT" else QueryKind.STATEMENT
    if first == "R":
        if head.startswith("ROLLBACK") and not _rollback_to(sql):
            return QueryKind.ROLLBACK
        return QueryKind.STATEMENT
    if first == "X":
        for kind in (QueryKind.XA_START, QueryKind.XA_END, QueryKind.XA_PREPARE, QueryKind.XA_COMMIT):
            if head.startswith(kind.value):
                return kind
        if head.startswith("XA ROLLBACK"):
            return QueryKind.XA_ROLLBACK
    return QueryKind.STATEMENT


def _rollback_to(sql: str) -> bool:
    """``ROLLBACK [WORK] TO [SAVEPOINT] x`` undoes part of a transaction and keeps it open."""
    words = sql.strip().upper().split()
    return "TO" in words[1:3]


def opens_transaction(ev: Event) -> bool:
    """Whether ``ev`` opens a transaction: ``BEGIN``, ``XA START``, or a MariaDB GTID event of a
    transaction (one without ``FL_STANDALONE``)."""
    if isinstance(ev, QueryEvent):
        return query_kind(ev.query) in OPENS
    if isinstance(ev, MariaGtidEvent):
        return not ev.standalone
    return False


def closes_transaction(ev: Event) -> bool:
    """Whether ``ev``, read where no transaction is open, ends one or is a statement complete in itself.

    True for XID, XA_PREPARE and every QUERY but ``BEGIN`` and ``XA START``. This is the question a
    resume asks of the event a cursor names: such an event was delivered in full before. A
    TRANSACTION_PAYLOAD is a whole transaction, not the end of one, and the positions of the events
    inside it all name the payload: it is not counted.
    """
    if isinstance(ev, (XidEvent, XaPrepareEvent)):
        return True
    if isinstance(ev, QueryEvent):
        return query_kind(ev.query) not in OPENS
    return False


_NONE, _GROUP, _TRANSACTION = 0, 1, 2  # between groups; in a group (after a GTID); in a transaction


class TransactionTracker:
    """Follows a stream's event groups; :meth:`feed` says whether the position after an event is a
    transaction boundary. Start it where the stream starts (it assumes no transaction is open there)."""

    __slots__ = ("_state",)

    def __init__(self) -> None:
        self._state = _NONE

    @property
    def in_transaction(self) -> bool:
        """A transaction is open (BEGIN, XA START or a MariaDB transactional GTID seen, no end yet)."""
        return self._state == _TRANSACTION

    @property
    def in_group(self) -> bool:
        """An event group is open: the position after the last event is not a boundary."""
        return self._state != _NONE

    def reset(self) -> None:
        self._state = _NONE

    def feed(self, ev: Event) -> bool:
        """Account for ``ev``; True when it ends an event group, so the position right after it is a
        transaction boundary. An event that belongs to no group (a format description, a heartbeat, a
        GTID list...) ends nothing and returns False, though a boundary just before it still holds."""
        state = self._state
        if isinstance(ev, (RowsEvent, TableMapEvent)):
            if state == _TRANSACTION:
                return False
            if isinstance(ev, RowsEvent) and ev.end_of_statement:
                self._state = _NONE
                return True
            self._state = _GROUP  # the rows of this statement are still to come
            return False
        if isinstance(ev, QueryEvent):
            kind = query_kind(ev.query)
            if kind in OPENS:
                self._state = _TRANSACTION
                return False
            if kind in ENDS or state != _TRANSACTION:
                self._state = _NONE
                return True
            return False  # a statement inside the open transaction (XA END among them)
        if isinstance(ev, (XidEvent, XaPrepareEvent, TransactionPayloadEvent, IncidentEvent)):
            self._state = _NONE
            return True
        if isinstance(ev, GtidEvent):
            self._state = _GROUP
            return False
        if isinstance(ev, MariaGtidEvent):
            self._state = _GROUP if ev.standalone else _TRANSACTION
            return False
        if isinstance(ev, (IntVarEvent, RandEvent, UserVarEvent, RowsQueryEvent, LoadBlockEvent)):
            if state == _NONE:
                self._state = _GROUP
            return False
        if isinstance(ev, RotateEvent):
            self._state = _NONE
            return True
        return False  # format description, heartbeats, GTID lists...: no change
