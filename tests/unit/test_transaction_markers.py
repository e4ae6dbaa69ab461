"""Which QUERY texts canal turns into TRANSACTIONBEGIN/END entries (parse.entries.transaction_entry_type), and
that FlatMessages leave out exactly those, as canal's MQ converter does with the entries."""

from __future__ import annotations

import pytest

from pycanal.binlog import constants as C
from pycanal.binlog.events import EventHeader, QueryEvent
from pycanal.parse.entries import EntryConverter, transaction_entry_type
from pycanal.parse.flat import FlatMessageConverter
from pycanal.protocol import entry as pb

CASES = [
    ("BEGIN", pb.TRANSACTIONBEGIN),
    ("begin", pb.TRANSACTIONBEGIN),
    ("/* app */ BEGIN", pb.TRANSACTIONBEGIN),  # canal: endsWithIgnoreCase(BEGIN)
    ("COMMIT", pb.TRANSACTIONEND),
    ("/* app */ commit", pb.TRANSACTIONEND),
    ("XA START X'01',X'',1", pb.TRANSACTIONBEGIN),
    ("XA END X'01',X'',1", pb.TRANSACTIONEND),
    ("XA COMMIT X'01',X'',1", None),  # ROWDATA with eventType XACOMMIT
    ("XA ROLLBACK X'01'", None),
    ("ROLLBACK", None),
    ("SAVEPOINT a", None),
    ("CREATE TABLE t (a int)", None),
    ("INSERT INTO t VALUES (1)", None),
]


@pytest.mark.parametrize(("sql", "entry_type"), CASES)
def test_transaction_entry_type(sql, entry_type):
    assert transaction_entry_type(sql) == entry_type


@pytest.mark.parametrize(("sql", "entry_type"), CASES)
def test_flat_messages_skip_what_entries_mark(sql, entry_type):
    ev = QueryEvent(EventHeader(1_700_000_000, C.QUERY, 1, 60, 1060, 0), "mysql-bin.000001", 7, 0, 0, "db", sql, b"")
    entries = EntryConverter().convert(ev)
    assert [e.entry_type for e in entries] == [entry_type or pb.ROWDATA]
    flat = list(FlatMessageConverter(clock=lambda: 0.0).convert(ev))
    assert len(flat) == (0 if entry_type else 1)
