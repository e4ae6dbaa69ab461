"""The decoder against real MySQL binlog files (shared/fixtures/mysql-binlog), values as its README says.

These cover what MariaDB cannot write here: MySQL 8 binary JSON, PARTIAL_UPDATE_ROWS, zstd
TRANSACTION_PAYLOAD, MySQL GTIDs (tagged too), INVISIBLE columns and MySQL 8 collations.
"""

from __future__ import annotations

import pytest

from helpers import shared_fixture
from pycanal.binlog.decoder import BinlogDecoder, BinlogFileReader, read_binlog_file
from pycanal.binlog.events import (
    GtidEvent,
    PreviousGtidsEvent,
    QueryEvent,
    RowsEvent,
    RowsQueryEvent,
    StopEvent,
    TableMapEvent,
    TransactionPayloadEvent,
    XidEvent,
)
from pycanal.errors import DecodeError, TruncatedEventError


def fixture(*parts: str) -> str:
    return str(shared_fixture(*parts))


def events(*parts: str) -> list:
    return list(read_binlog_file(fixture(*parts)))


def rows_of(evs: list) -> list:
    return [e for e in evs if isinstance(e, RowsEvent)]


def test_json_and_partial_update():
    evs = events("rust_mysql_common", "json.binlog.000001")
    rows = rows_of(evs)
    inserts = [r for ev in rows if ev.kind == "INSERT" and not ev.partial for r in ev.rows]
    assert [r[0] for r in inserts] == ["1", "2", "3", "4", "5", "6"]
    assert inserts[0] == ["1", '{"age": 24, "data": "xxxxxxxxxx", "name": "Joe"}', "Joe", "24"]
    assert inserts[2][1] == '{"age": 40, "data": "zzzzzzzzzz", "name": "Pete"}'
    full_update = next(ev for ev in rows if ev.kind == "UPDATE" and not ev.partial)
    assert [(b[3], a[3]) for b, a in full_update.rows] == [("24", "25"), ("32", "33"), ("40", "41")] * 2
    assert full_update.rows[0][1][1] == '{"age": 25, "data": "xxxxxxxxxx", "name": "Joe"}'
    partial = next(ev for ev in rows if ev.partial)
    assert partial.present == (0,) and partial.present_after == (1, 2, 3)
    ages = ["26", "34", "42"] * 2
    for (_, after), age in zip(partial.rows, ages, strict=True):
        assert after[0] == f"JSON_REPLACE(@2, '$.age', {age})"
        assert after[2] == age
    assert [b[0] for b, _ in partial.rows] == ["1", "2", "3", "4", "5", "6"]


def test_json_opaque_values():
    rows = [r[0] for ev in rows_of(events("rust_mysql_common", "json-opaque.binlog")) for r in ev.rows]
    assert rows == [
        '{"a": "base64:type15:VQ=="}',
        '{"b": "2012-03-18"}',
        '{"c": "2012-03-18 11:30:45.000000"}',
        '{"c": "87:31:46.654321"}',
        '{"d": 123.456}',
        '{"e": 9.00}',
        '{"e": [0, 1, true, false]}',
        '{"e": null}',
    ]


def test_transaction_payload_zstd():
    evs = events("rust_mysql_common", "transaction_compression.000001")
    payload = next(e for e in evs if isinstance(e, TransactionPayloadEvent))
    assert (payload.compression_type, payload.payload_size, payload.uncompressed_size) == (0, 124, 179)
    kinds = [type(e) for e in payload.events]
    assert kinds == [QueryEvent, TableMapEvent, RowsEvent, XidEvent]
    assert payload.events[1].schema == "test" and payload.events[1].table == "tb1"
    assert payload.events[2].rows == [["1"]]
    assert payload.events[3].xid == 462


def test_payloads_gtids_enum_set_timestamp_8031():
    evs = events("apecloud_mysql_binlog_connector_rust", "mysql-bin.000057")
    assert len(evs) == 8
    gtids = [e for e in evs if isinstance(e, GtidEvent)]
    assert [g.gtid for g in gtids] == [f"76f3e7be-6720-11ed-9cad-0242ac110002:{n}" for n in (11, 12, 13)]
    assert [(g.last_committed, g.sequence_number) for g in gtids] == [(0, 1), (1, 2), (2, 3)]
    payloads = [e for e in evs if isinstance(e, TransactionPayloadEvent)]
    inner = payloads[1].events
    queries = [e.query for e in inner if isinstance(e, RowsQueryEvent)]
    assert queries[0].startswith("update test_table_3 set enum_field='large'")
    insert = next(e for e in inner if isinstance(e, RowsEvent) and e.kind == "INSERT")
    assert len(insert.table.columns) == 20
    row = insert.rows[0]
    assert row[0] == "6666" and row[1] == "product_item_value_2" and row[9] == '{"c": 1}'
    update = next(e for e in inner if isinstance(e, RowsEvent) and e.kind == "UPDATE")
    assert row[6] == update.rows[0][1][6]  # both statements set enum_field = 'large': the same index
    assert row[8] == "b3\x00"  # a BINARY(3)-like column: MySQL 8 wrote the pad byte into the image


def test_enum_set_char_varchar_text_full_metadata():
    rows = rows_of(events("rust_mysql_common", "mysql-enum-string-set.000001"))
    ins, upd, dele = rows
    tm = ins.table
    assert [c.name for c in tm.columns] == ["f1", "f2", "f3", "f4", "f5"]
    assert tm.columns[2].enum_values == ("var1", "variant2", "foo")
    assert tm.columns[3].set_values == ("one", "two", "three", "four")
    first = ins.rows[0]
    assert first[0] == "0123456789" * 10
    assert (first[2], first[3], first[4]) == ("1", "5", "0123456789")
    before, after = upd.rows[0]
    assert before == first
    assert after[:4] == ["field1", "field_2", "2", "10"]
    assert dele.rows[0] == after


def test_bit_and_invisible_columns():
    row = rows_of(events("rust_mysql_common", "mysql_type_bit.000001"))[0].rows[0]
    assert row == ["4", "foo", "32"]  # BIT(3) 0b100, TEXT, BIT(8) 0b00100000
    evs = rows_of(events("rust_mysql_common", "binlog-invisible-columns.000001"))
    assert evs[0].rows == [["1", "2", "-3", "4", "\x05", "6000000000"]]
    assert evs[1].rows == [[None, None, "-33", "44", "U", None]]
    assert evs[2].rows == [([None, None, "-33", "44", "U", None], ["111", "222", "-333", "444", "U", None])]
    cols = evs[0].table.columns
    assert [c.visible for c in cols] == [False, False, True, True, True, False]
    assert [c.unsigned for c in cols if c.unsigned is not None] == [True, True, False, True]


def test_minimal_image_and_mysql8_collation():
    ev = rows_of(events("rust_mysql_common", "minimal_row_metadata.000001"))[0]
    assert ev.present == (0, 2, 4)
    assert ev.rows == [["1", "a", "3230202323"]]
    assert ev.table.columns[2].charset == 255


def test_negative_time2():
    assert rows_of(events("rust_mysql_common", "time_issue.000001"))[0].rows == [["-507:48:27"]]


def test_tagged_gtid_and_previous_gtids():
    evs = events("rust_mysql_common", "binlog_transaction_with_GTID_TAG.000001")
    prev = next(e for e in evs if isinstance(e, PreviousGtidsEvent))
    assert prev.gtid_set == "55778904-0299-11f1-b1b8-4ef0c4956feb:1-13:mytag:1-2"
    gtid = next(e for e in evs if isinstance(e, GtidEvent))
    assert (gtid.sid, gtid.tag, gtid.gno) == ("55778904-0299-11f1-b1b8-4ef0c4956feb", "mytag", 3)
    assert gtid.gtid == "55778904-0299-11f1-b1b8-4ef0c4956feb:mytag:3"
    assert rows_of(evs)[0].rows == [["3", "100", "250.0"]]  # 250.00, in canal's DECIMAL text
    untagged = events("rust_mysql_common", "binlog_transaction_previous_GTID_no_tag.000001")
    assert next(e for e in untagged if isinstance(e, PreviousGtidsEvent)).gtid_set == (
        "b9b88c66-0755-11f1-9899-4a9da94c4d71:1-2"
    )


def test_percona_8045_gtid_workload_and_stop():
    one = events("percona_binlog_server", "data_80045_gtid", "binlog.000001")
    two = events("percona_binlog_server", "data_80045_gtid", "binlog.000002")
    inserted = [r[0] for ev in rows_of(one) for r in ev.rows]
    assert inserted == ["1", "2", "3", "4", "5", "6"]
    upd, dele = rows_of(two)
    assert [(b[0], a[0]) for b, a in upd.rows] == [("1", "101"), ("2", "102"), ("3", "103")]
    assert [r[0] for r in dele.rows] == ["4", "5", "6"]
    assert isinstance(two[-1], StopEvent)


def test_decimal_edge_cases_from_mysql_56():
    evs = rows_of(events("go_mysql", "tcb-eval002c-bin.003320"))
    values = [v for ev in evs for row in ev.rows for v in row]
    assert "-11" in values and "99.99" in values and "-9.99999999999999" in values


def test_easypost_57_rows():
    evs = events("easypost_rust_mysql_binlog", "bin-log.000001")
    assert next(e for e in evs if isinstance(e, QueryEvent)).query.startswith("CREATE TABLE foo")
    rows = [r for ev in rows_of(evs) for r in ev.rows]
    # canal's DECIMAL text: a zero trailing partial group is dropped (1.00000 -> "1.0")
    assert rows == [["1", "0.10000", "zero point one"], ["2", "1.0", "one point zero"]]


@pytest.mark.parametrize(
    "name",
    ["json.binlog.000001", "mysql-enum-string-set.000001", "transaction_compression.000001"],
)
def test_reader_fed_whole_bytewise_and_in_chunks(name):
    """h11's tr(): the same bytes whole, one byte at a time, and in odd chunks give the same events."""
    with open(fixture("rust_mysql_common", name), "rb") as f:
        data = f.read()

    def run(chunks):
        reader = BinlogFileReader(BinlogDecoder(log_file=name))
        out = []
        for chunk in chunks:
            reader.feed(chunk)
            while (ev := reader.next_event()) is not None:
                out.append((type(ev).__name__, ev.header.log_pos, getattr(ev, "rows", None)))
        reader.close()
        return out

    whole = run([data])
    assert whole == run([data[i : i + 1] for i in range(len(data))])
    assert whole == run([data[i : i + 97] for i in range(0, len(data), 97)])
    reader = BinlogFileReader(BinlogDecoder(log_file=name))
    reader.feed(data + b"\x01\x02\x03")
    while reader.next_event() is not None:
        pass
    with pytest.raises(TruncatedEventError, match="3 bytes of an incomplete event"):
        reader.close()


def test_invalid_incident_event_is_an_error():
    # MySQL's Bug#40482 file: an INCIDENT with number 66 (only 0 and 1 exist); mysqlbinlog refuses it too
    with pytest.raises(DecodeError, match="invalid incident number 66") as err:
        events("rust_mysql_common", "bug40482-bin.000001")
    assert err.value.log_pos == 106


def test_truncated_fixtures_are_errors():
    with pytest.raises(TruncatedEventError):
        events("rust_mysql_common", "binlog_truncated_event.000001")
    with pytest.raises(DecodeError) as err:
        events("rust_mysql_common", "binlog_truncated_prev_gtid_event.000001")
    assert err.value.log_pos == 120


def test_corrupt_relay_log_names_the_position():
    with pytest.raises(DecodeError) as err:
        events("rust_mysql_common", "corrupt-relay-bin.000624")
    assert err.value.log_pos == 91204 and err.value.event_type == 2


@pytest.mark.parametrize(
    ("name", "pos"),
    [("ver_5_1-wl2325_r.001", 549), ("ver_5_1-wl2325_s.001", 411)],
)
def test_broken_legacy_files_stop_with_the_position(name, pos):
    """wl2325_r has a damaged event (upstream skips the rest of the file); wl2325_s uses pre-GA rows events
    whose table maps are not in the file: both stop with an error at the event, nothing skipped."""
    with pytest.raises(DecodeError) as err:
        events("rust_mysql_common", name)
    assert err.value.log_pos == pos
