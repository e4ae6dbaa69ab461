"""Transaction boundaries (pycanal.binlog.transactions): the one rule for where a dump may resume.

Each stream below is an event group as MySQL or MariaDB writes it; the marks say after which events a
dump may resume without landing inside a transaction.
"""

from __future__ import annotations

import pytest

from pycanal.binlog import constants as C
from pycanal.binlog.events import (
    Event,
    EventHeader,
    FormatDescriptionEvent,
    GtidEvent,
    HeartbeatEvent,
    IncidentEvent,
    IntVarEvent,
    MariaGtidEvent,
    QueryEvent,
    RotateEvent,
    RowsEvent,
    RowsQueryEvent,
    TableMapEvent,
    TransactionPayloadEvent,
    UserVarEvent,
    XaPrepareEvent,
    XidEvent,
)
from pycanal.binlog.transactions import (
    QueryKind,
    TransactionTracker,
    closes_transaction,
    opens_transaction,
    query_kind,
)

F = "mysql-bin.000001"


def _h(type_code: int, flags: int = 0) -> EventHeader:
    return EventHeader(1_700_000_000, type_code, 1, 40, 1000, flags)


def gtid() -> Event:
    return GtidEvent(_h(C.GTID), F, False, 1, "3e11fa47-71ca-11e1-9e33-c80aa9429562", 7)


def maria_gtid(flags2: int = 0) -> Event:
    return MariaGtidEvent(_h(C.MARIA_GTID), F, 0, 42, flags2)


def q(sql: str) -> Event:
    return QueryEvent(_h(C.QUERY), F, 1, 0, 0, "db", sql, b"")


TABLE = TableMapEvent(_h(C.TABLE_MAP), F, 70, "db", "t", (), False, ())


def tm() -> Event:
    return TABLE


def rows(end: bool = True) -> Event:
    flags = C.ROWS_END_OF_STATEMENT_F if end else 0
    return RowsEvent(_h(C.WRITE_ROWS_V2), F, 70, flags, TABLE, (0,), None, [["1"]], "INSERT")


def xid() -> Event:
    return XidEvent(_h(C.XID), F, 9)


def xa_prepare(one_phase: bool = False) -> Event:
    return XaPrepareEvent(_h(C.XA_PREPARE), F, one_phase, 1, b"g", b"")


def intvar() -> Event:
    return IntVarEvent(_h(C.INTVAR), F, 2, 5)


def uservar() -> Event:
    return UserVarEvent(_h(C.USER_VAR), F, "v", True, 0, 0, None)


def annotate() -> Event:
    return RowsQueryEvent(_h(C.MARIA_ANNOTATE_ROWS), F, "insert into t values (1)")


def payload() -> Event:
    return TransactionPayloadEvent(_h(C.TRANSACTION_PAYLOAD), F, 0, 10, 20)


def rotate() -> Event:
    return RotateEvent(_h(C.ROTATE), F, 4, "mysql-bin.000002")


def fde() -> Event:
    return FormatDescriptionEvent(_h(C.FORMAT_DESCRIPTION), F, 4, "8.0.36", 0, 19, b"", 1)


def heartbeat() -> Event:
    return HeartbeatEvent(_h(C.HEARTBEAT), F, F, 1000)


def incident() -> Event:
    return IncidentEvent(_h(C.INCIDENT), F, 1, "lost events")


STREAMS = {
    "MySQL InnoDB transaction": [(gtid(), 0), (q("BEGIN"), 0), (tm(), 0), (rows(), 0), (xid(), 1)],
    "MySQL DDL": [(gtid(), 0), (q("CREATE TABLE t (a int)"), 1)],
    "MySQL non-transactional table": [(gtid(), 0), (q("BEGIN"), 0), (tm(), 0), (rows(), 0), (q("COMMIT"), 1)],
    "statement format: DML inside BEGIN..XID": [
        (q("BEGIN"), 0),
        (intvar(), 0),
        (q("INSERT INTO t VALUES (NULL)"), 0),
        (q("UPDATE t SET a = 1"), 0),
        (xid(), 1),
    ],
    "MySQL XA: prepare group, then commit group": [
        (gtid(), 0),
        (q("XA START X'01',X'',1"), 0),
        (tm(), 0),
        (rows(), 0),
        (q("XA END X'01',X'',1"), 0),
        (xa_prepare(), 1),
        (gtid(), 0),
        (q("XA COMMIT X'01',X'',1"), 1),
    ],
    "MySQL XA COMMIT ONE PHASE": [(gtid(), 0), (q("XA START X'02'"), 0), (q("XA END X'02'"), 0), (xa_prepare(True), 1)],
    "MySQL XA ROLLBACK of a prepared transaction": [(gtid(), 0), (q("XA ROLLBACK X'01',X'',1"), 1)],
    "MariaDB transaction: the GTID event is its begin": [(maria_gtid(), 0), (tm(), 0), (rows(), 0), (xid(), 1)],
    "MariaDB DDL: standalone GTID": [(maria_gtid(MariaGtidEvent.FL_STANDALONE), 0), (q("DROP TABLE t"), 1)],
    "MariaDB statement format (no BEGIN)": [
        (maria_gtid(), 0),
        (annotate(), 0),
        (q("INSERT INTO t VALUES (1)"), 0),
        (xid(), 1),
    ],
    "MariaDB XA": [
        (maria_gtid(64), 0),
        (tm(), 0),
        (rows(), 0),
        (q("XA END X'01'"), 0),
        (xa_prepare(), 1),
        (maria_gtid(128 | 1), 0),
        (q("XA COMMIT X'01'"), 1),
    ],
    "savepoints stay inside the transaction": [
        (q("BEGIN"), 0),
        (q("SAVEPOINT a"), 0),
        (q("ROLLBACK TO SAVEPOINT a"), 0),
        (q("rollback work to a"), 0),
        (q("RELEASE SAVEPOINT a"), 0),
        (xid(), 1),
    ],
    "ROLLBACK ends a transaction": [(q("BEGIN"), 0), (tm(), 0), (rows(), 0), (q("ROLLBACK"), 1)],
    "MySQL 8 compressed transaction": [(gtid(), 0), (payload(), 1)],
    "a multi-event statement outside a transaction": [(tm(), 0), (rows(False), 0), (rows(True), 1)],
    "user variables before a DDL": [(uservar(), 0), (q("CREATE TABLE t2 SELECT @v"), 1)],
    "neutral events change nothing": [
        (fde(), 0),
        (q("BEGIN"), 0),
        (heartbeat(), 0),
        (tm(), 0),
        (rows(), 0),
        (xid(), 1),
        (heartbeat(), 0),
    ],
    "a rotate falls between transactions": [(q("BEGIN"), 0), (rotate(), 1), (tm(), 0), (rows(), 1)],
    "an incident ends whatever was open": [(q("BEGIN"), 0), (incident(), 1), (q("ALTER TABLE t ADD b int"), 1)],
}


@pytest.mark.parametrize("name", list(STREAMS))
def test_boundaries_of_event_groups(name):
    tracker = TransactionTracker()
    got = [int(tracker.feed(ev)) for ev, _ in STREAMS[name]]
    assert got == [mark for _, mark in STREAMS[name]]
    assert not tracker.in_group  # every stream above ends on a boundary


def test_tracker_state_and_reset():
    t = TransactionTracker()
    assert (t.in_group, t.in_transaction) == (False, False)
    t.feed(gtid())
    assert (t.in_group, t.in_transaction) == (True, False)
    t.feed(q("BEGIN"))
    assert (t.in_group, t.in_transaction) == (True, True)
    t.reset()
    assert (t.in_group, t.in_transaction) == (False, False)
    assert t.feed(q("INSERT INTO t VALUES (1)")) is True  # after a reset, a statement stands alone


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("BEGIN", QueryKind.BEGIN),
        ("  begin \n", QueryKind.BEGIN),
        ("BEGIN WORK", QueryKind.STATEMENT),  # MySQL writes BEGIN alone; anything else is a statement
        ("COMMIT", QueryKind.COMMIT),
        ("commit", QueryKind.COMMIT),
        ("COMMIT AND CHAIN", QueryKind.STATEMENT),
        ("ROLLBACK", QueryKind.ROLLBACK),
        ("ROLLBACK WORK", QueryKind.ROLLBACK),
        ("ROLLBACK TO SAVEPOINT a", QueryKind.STATEMENT),
        ("ROLLBACK WORK TO a", QueryKind.STATEMENT),
        ("XA START X'01',X'',1", QueryKind.XA_START),
        ("xa start 'x'", QueryKind.XA_START),
        ("XA END X'01',X'',1", QueryKind.XA_END),
        ("XA PREPARE X'01'", QueryKind.XA_PREPARE),
        ("XA COMMIT X'01',X'',1", QueryKind.XA_COMMIT),
        ("XA COMMIT X'01' ONE PHASE", QueryKind.XA_COMMIT),
        ("XA ROLLBACK X'01'", QueryKind.XA_ROLLBACK),
        ("XA RECOVER", QueryKind.STATEMENT),
        ("CREATE TABLE begin_log (a int)", QueryKind.STATEMENT),
        ("CREATE TABLE t (x int) /* BEGIN */", QueryKind.STATEMENT),
        ("", QueryKind.STATEMENT),
        ("   ", QueryKind.STATEMENT),
    ],
)
def test_query_kind(sql, kind):
    assert query_kind(sql) is kind


@pytest.mark.parametrize(
    ("ev", "opens", "closes"),
    [
        (q("BEGIN"), True, False),
        (q("XA START X'01'"), True, False),
        (q("XA END X'01'"), False, True),
        (q("COMMIT"), False, True),
        (q("XA COMMIT X'01'"), False, True),
        (q("ALTER TABLE t ADD c int"), False, True),
        (xid(), False, True),
        (xa_prepare(), False, True),
        (maria_gtid(), True, False),
        (maria_gtid(MariaGtidEvent.FL_STANDALONE), False, False),
        (gtid(), False, False),
        (tm(), False, False),
        (rows(), False, False),
        (payload(), False, False),  # a whole transaction whose inner events share its position
        (rotate(), False, False),
    ],
)
def test_opens_and_closes(ev, opens, closes):
    assert opens_transaction(ev) is opens
    assert closes_transaction(ev) is closes
