"""The hand-written RowChange encoder gives the bytes upb gives, for every column type, NULLs and images."""

from __future__ import annotations

import pytest
from test_column_types import COLUMNS, ROWS, _insert_sql, _run_sql

from binlog_helpers import events_from_files, of_type
from pycanal.binlog.events import RowsEvent
from pycanal.parse.columns import table_columns
from pycanal.parse.entries import EntryConverter
from pycanal.protocol import entry as pb

pytestmark = pytest.mark.integration


def _reference(ev: RowsEvent) -> bytes:
    """RowChange built field by field with upb messages, as LogEventConvert builds it."""
    metas = table_columns(ev.table)
    kind = {"INSERT": pb.INSERT, "UPDATE": pb.UPDATE, "DELETE": pb.DELETE}[ev.kind]
    rc = pb.RowChange(tableId=ev.table_id, isDdl=False, eventType=kind)

    def add(cols, i, value, updated):
        m = metas[i]
        if value is None:
            cols.add(
                index=i,
                sqlType=m.null_sql_type,
                name=m.name,
                isKey=m.is_key,
                updated=updated,
                isNull=True,
                mysqlType=m.mysql_type,
            )
        else:
            cols.add(
                index=i,
                sqlType=m.sql_type_of(value),
                name=m.name,
                isKey=m.is_key,
                updated=updated,
                isNull=False,
                value=value,
                mysqlType=m.mysql_type,
            )

    for row in ev.rows:
        rd = rc.rowDatas.add()
        if ev.kind == "UPDATE":
            before, after = row
            prev = dict(zip(ev.present, before))
            for i, v in zip(ev.present, before):
                add(rd.beforeColumns, i, v, False)
            for i, v in zip(ev.present_after, after):
                add(rd.afterColumns, i, v, i not in prev or prev[i] != v)
        else:
            for i, v in zip(ev.present, row):
                add(rd.afterColumns if ev.kind == "INSERT" else rd.beforeColumns, i, v, ev.kind == "INSERT")
    return rc.SerializeToString()


@pytest.mark.parametrize("image", ["FULL", "MINIMAL"])
def test_encoder_bytes_equal_upb(mariadb_factory, image):
    box = mariadb_factory(row_image=image)
    box.execute("CREATE DATABASE e")
    cols = ", ".join(f"{n} {d}" for n, (d, _) in COLUMNS.items())
    box.execute(f"CREATE TABLE e.alltypes (id INT PRIMARY KEY AUTO_INCREMENT, {cols}) CHARACTER SET utf8mb4")
    start = box.master_status()
    _run_sql(box, _insert_sql("e", ROWS))
    _run_sql(box, "UPDATE e.alltypes SET ti = ti + 0, vc_utf = 'changed', b8 = NULL", "DELETE FROM e.alltypes")
    evs = [e for e in of_type(events_from_files(box, start), RowsEvent) if e.schema == "e"]
    assert {e.kind for e in evs} == {"INSERT", "UPDATE", "DELETE"}
    conv = EntryConverter()
    for ev in evs:
        (entry,) = conv.convert(ev)
        assert entry.entry.storeValue == _reference(ev), ev.kind
