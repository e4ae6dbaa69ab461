"""MINIMAL and NOBLOB row images, MariaDB compressed events and ANNOTATE_ROWS, on their own servers."""

from __future__ import annotations

import pytest

from binlog_helpers import events_from_files, of_type
from pycanal.binlog.events import QueryEvent, RowsEvent, RowsQueryEvent
from pycanal.cli import iter_flat_messages

pytestmark = pytest.mark.integration


def _named(ev: RowsEvent, row: list, present: tuple[int, ...]) -> dict:
    return {ev.table.columns[i].name: v for i, v in zip(present, row, strict=True)}


def test_minimal_image_keeps_absent_apart_from_null(mariadb_factory):
    box = mariadb_factory(row_image="MINIMAL")
    box.execute("CREATE DATABASE m", "CREATE TABLE m.t (id INT PRIMARY KEY, a VARCHAR(10), b INT, c TEXT)")
    start = box.master_status()
    box.execute(
        "INSERT INTO m.t (id, a) VALUES (1, 'x')",
        "UPDATE m.t SET b = NULL, a = 'y' WHERE id = 1",
        "UPDATE m.t SET c = 'long' WHERE id = 1",
        "DELETE FROM m.t WHERE id = 1",
    )
    evs = [e for e in of_type(events_from_files(box, start), RowsEvent) if e.schema == "m"]
    ins, upd1, upd2, dele = evs
    # MariaDB's MINIMAL insert image holds the columns the statement named: b and c are absent
    assert _named(ins, ins.rows[0], ins.present) == {"id": "1", "a": "x"}
    before, after = upd1.rows[0]
    assert _named(upd1, before, upd1.present) == {"id": "1"}  # the key only
    assert _named(upd1, after, upd1.present_after) == {"a": "y", "b": None}  # b present and NULL
    assert "c" not in _named(upd1, after, upd1.present_after)  # c absent, not NULL
    assert _named(upd2, upd2.rows[0][1], upd2.present_after) == {"c": "long"}
    assert _named(dele, dele.rows[0], dele.present) == {"id": "1"}


def test_minimal_image_flat_message_omits_absent_columns(mariadb_factory):
    box = mariadb_factory(row_image="MINIMAL")
    box.execute("CREATE DATABASE m", "CREATE TABLE m.t (id INT PRIMARY KEY, a VARCHAR(10), b INT)")
    f, p = box.master_status()
    box.execute("INSERT INTO m.t VALUES (1, 'x', 5)", "UPDATE m.t SET a = 'y' WHERE id = 1")
    msgs = list(
        iter_flat_messages(
            "127.0.0.1",
            box.port,
            box.user,
            box.password,
            server_id=77,
            start=(f, p),
            stop_at_end=True,
            table_filter="m\\.t",
        )
    )
    upd = msgs[-1]
    assert upd["type"] == "UPDATE" and upd["data"] == [{"a": "y"}]
    # no before column of the same index: canal counts the column as updated, old shows only the key image
    assert upd["old"] == [{}]
    assert upd["pkNames"] is None  # the after image holds no key column, as canal reports it


def test_noblob_image_leaves_unchanged_blobs_out(mariadb_factory):
    box = mariadb_factory(row_image="NOBLOB")
    box.execute("CREATE DATABASE n", "CREATE TABLE n.t (id INT PRIMARY KEY, v INT, doc BLOB, note TEXT)")
    start = box.master_status()
    box.execute(
        "INSERT INTO n.t VALUES (1, 1, X'00FF', 'hello')",
        "UPDATE n.t SET v = 2 WHERE id = 1",
        "UPDATE n.t SET note = 'changed' WHERE id = 1",
    )
    ins, upd1, upd2 = [e for e in of_type(events_from_files(box, start), RowsEvent) if e.schema == "n"]
    assert _named(ins, ins.rows[0], ins.present) == {"id": "1", "v": "1", "doc": "\x00\xff", "note": "hello"}
    b, a = upd1.rows[0]
    assert _named(upd1, b, upd1.present) == {"id": "1", "v": "1"}
    assert _named(upd1, a, upd1.present_after) == {"id": "1", "v": "2"}
    assert _named(upd2, upd2.rows[0][1], upd2.present_after) == {"id": "1", "v": "2", "note": "changed"}


def test_compressed_events_and_annotate_rows(mariadb_factory):
    box = mariadb_factory(annotate_rows=True, extra={"log_bin_compress": "ON", "log_bin_compress_min_len": 10})
    box.execute("CREATE DATABASE z")
    start = box.master_status()
    box.execute("CREATE TABLE z.t (id INT PRIMARY KEY, s VARCHAR(2000)) COMMENT 'compressed in the binlog'")
    long = "abcdefghij" * 150
    box.execute(f"INSERT INTO z.t VALUES (1, '{long}'), (2, 'short')", "UPDATE z.t SET s = 'x' WHERE id = 2")
    evs = events_from_files(box, start)
    rows = [e for e in of_type(evs, RowsEvent) if e.schema == "z"]
    assert rows and all(e.compressed for e in rows)
    assert rows[0].rows == [["1", long], ["2", "short"]]
    assert rows[1].rows == [(["2", "short"], ["2", "x"])]
    annotations = [e.query for e in of_type(evs, RowsQueryEvent)]
    assert any(q.startswith("INSERT INTO z.t VALUES (1,") for q in annotations)
    ddl = [e for e in of_type(evs, QueryEvent) if e.query.startswith("CREATE TABLE z.t")]
    assert len(ddl) == 1 and ddl[0].compressed  # MariaDB compressed it: past log_bin_compress_min_len
    assert ddl[0].query.endswith("COMMENT 'compressed in the binlog'")
    # annotate text becomes a QUERY FlatMessage with an empty database, as canal emits it
    msgs = list(
        iter_flat_messages("127.0.0.1", box.port, box.user, box.password, server_id=78, start=start, stop_at_end=True)
    )
    q = [m for m in msgs if m["type"] == "QUERY" and not m["isDdl"]]
    assert q and q[0]["database"] == "" and q[0]["sql"].startswith("INSERT INTO z.t")
