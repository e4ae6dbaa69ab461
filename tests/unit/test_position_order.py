"""Binlog position order (pycanal.model): files by their number, never by their text, within one base name.

The callers' fallbacks are tested here too: the schema history (GTIDs, then timestamps) and the instance's
smallest client cursor (timestamps).
"""

from __future__ import annotations

import pytest

from pycanal.errors import SchemaHistoryError
from pycanal.instance import min_cursor
from pycanal.model import EntryPosition, LogIdentity, LogPosition, binlog_file_order
from pycanal.schema.history import precedes


@pytest.mark.parametrize(
    ("name", "order"),
    [
        ("mysql-bin.000001", ("mysql-bin.", 1)),
        ("mysql-bin.000012", ("mysql-bin.", 12)),
        ("mysql-bin.999999", ("mysql-bin.", 999999)),
        ("mysql-bin.1000000", ("mysql-bin.", 1000000)),  # past six digits MySQL goes on with seven
        ("binlog.000003", ("binlog.", 3)),
        ("host2-bin.000007", ("host2-bin.", 7)),  # digits inside the base stay in the base
        ("f", ("f", -1)),
        ("", ("", -1)),
        ("mysql-bin.index", ("mysql-bin.index", -1)),
    ],
)
def test_binlog_file_order(name, order):
    assert binlog_file_order(name) == order


def p(name: str | None, offset: int | None) -> EntryPosition:
    return EntryPosition(name, offset, 1, 1_000)


@pytest.mark.parametrize(
    ("a", "b", "order"),
    [
        (p("mysql-bin.000001", 100), p("mysql-bin.000001", 200), -1),
        (p("mysql-bin.000001", 200), p("mysql-bin.000001", 100), 1),
        (p("mysql-bin.000001", 100), p("mysql-bin.000001", 100), 0),
        (p("mysql-bin.000009", 900), p("mysql-bin.000010", 4), -1),
        (p("mysql-bin.999999", 4), p("mysql-bin.1000000", 4), -1),  # text order says the opposite
        (p("mysql-bin.1000000", 4), p("mysql-bin.999999", 900), 1),
        (p("mysql-bin.2", 4), p("mysql-bin.000010", 4), -1),
        (p("f", 4), p("f", 9), -1),
        # not comparable by file: the caller falls back to GTIDs or timestamps
        (p("mysql-bin.000001", 4), p("binlog.000002", 4), None),
        (p("a.000001", 4), p("b.000001", 4), None),
        (p("f", 4), p("g", 4), None),
        (p(None, 4), p("mysql-bin.000001", 4), None),
        (p("mysql-bin.000001", None), p("mysql-bin.000001", 4), None),
        (p("", 4), p("", 4), None),
    ],
)
def test_compare(a, b, order):
    assert a.compare(b) == order
    assert b.compare(a) == (None if order is None else -order)


def hp(name: str, offset: int, *, server: int = 1, ts: int | None = None, gtid: str | None = None) -> EntryPosition:
    return EntryPosition(name, offset, server, ts, gtid)


def test_history_falls_back_when_base_names_differ():
    # Before the order had one home, the history ordered differing bases by their text ('a.' < 'b.'),
    # whatever the binlog said; now they fall back to GTIDs, then timestamps, or refuse.
    assert precedes(hp("b.000001", 4, ts=1000), hp("a.000009", 4, ts=2000))
    assert not precedes(hp("a.000001", 4, ts=2000), hp("b.000009", 4, ts=1000))
    assert precedes(hp("b.000001", 4, gtid="0-1-5"), hp("a.000001", 4, gtid="0-1-6"))
    with pytest.raises(SchemaHistoryError, match="cannot order"):
        precedes(hp("b.000001", 4), hp("a.000001", 4))


def cursor(name: str, offset: int, *, host: str = "db1", ts: int = 0) -> LogPosition:
    return LogPosition(LogIdentity(host, 3306), EntryPosition(name, offset, 1, ts))


@pytest.mark.parametrize(
    ("cursors", "expected"),
    [
        ([], None),
        ([cursor("mysql-bin.000002", 4)], 0),
        ([cursor("mysql-bin.000002", 4), cursor("mysql-bin.000001", 900)], 1),
        ([cursor("mysql-bin.999999", 900), cursor("mysql-bin.1000000", 4)], 0),  # by number, not text
        ([cursor("mysql-bin.1000000", 4), cursor("mysql-bin.999999", 900)], 1),
        ([cursor("mysql-bin.000001", 9), cursor("mysql-bin.000001", 4), cursor("mysql-bin.000001", 7)], 1),
        # another server, or another base name: the older timestamp wins
        ([cursor("mysql-bin.000001", 4, ts=2000), cursor("mysql-bin.000009", 4, host="db2", ts=1000)], 1),
        ([cursor("a.000001", 4, ts=2000), cursor("b.000009", 4, ts=1000)], 1),
        ([cursor("b.000009", 4, ts=1000), cursor("a.000001", 4, ts=2000)], 0),
    ],
)
def test_min_cursor(cursors, expected):
    assert min_cursor(cursors) == (None if expected is None else cursors[expected])
