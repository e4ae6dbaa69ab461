"""The FlatMessage key tuple (pycanal.protocol.flat.KEYS): one copy, used by both FlatMessage builders."""

from __future__ import annotations

import pytest

from pycanal.binlog import constants as C
from pycanal.binlog.events import EventHeader, QueryEvent, RowsQueryEvent
from pycanal.parse import flat as parse_flat
from pycanal.protocol import flat as protocol_flat
from pycanal.protocol.flat import KEYS, new_message

# canal's FlatMessage fields (protocol/FlatMessage.java; pkNames and gtid came in canal 1.1.x), written in
# alphabetical order by fastjson2
CANAL_FIELDS = ("id", "database", "table", "pkNames", "isDdl", "type", "es", "ts", "sql", "sqlType", "mysqlType",
                "data", "old", "gtid")  # fmt: skip


def test_keys_are_canals_fields_in_alphabetical_order():
    assert tuple(sorted(CANAL_FIELDS)) == KEYS
    assert not hasattr(parse_flat, "KEYS")  # no second copy
    assert parse_flat.new_message is protocol_flat.new_message


@pytest.mark.parametrize(
    "fields",
    [{}, {"id": 3}, {"type": "INSERT", "data": [{"a": "1"}], "database": "db"}, dict.fromkeys(CANAL_FIELDS, 1)],
)
def test_new_message(fields):
    msg = new_message(**fields)
    assert list(msg) == list(KEYS)
    assert msg == {k: fields.get(k) for k in KEYS}


def h(type_code: int) -> EventHeader:
    return EventHeader(1_700_000_000, type_code, 1, 60, 1060, 0)


@pytest.mark.parametrize(
    "ev",
    [
        QueryEvent(h(C.QUERY), "f", 7, 0, 0, "db", "CREATE TABLE t (a int)", b""),
        QueryEvent(h(C.QUERY), "f", 7, 0, 0, "db", "SAVEPOINT a", b""),
        RowsQueryEvent(h(C.MARIA_ANNOTATE_ROWS), "f", "insert into t values (1)"),
    ],
)
def test_messages_built_from_events_have_the_keys_in_order(ev):
    (msg,) = parse_flat.FlatMessageConverter(clock=lambda: 0.0).convert(ev)
    assert list(msg) == list(KEYS)
