"""Table schemas read from the live server's information_schema.

Completes, for each TABLE_MAP, what the binlog does not say (or says only with
``binlog_row_metadata=FULL``): column names, the full column-type text canal shows as ``mysqlType``,
keys, signedness and charsets. This reads the *current* schema, so it is only right for binlog written
since the last DDL on the table; the schema history (canal's TSDB) replaces it where that matters.
When the binlog carries column names they win, and the live columns are matched by name, so a column
added or dropped since cannot shift values onto the wrong names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ..binlog.events import ColumnInfo, TableMapEvent
from ..errors import ColumnCountMismatch

QueryFn = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]

_COLUMNS_SQL = (
    "SELECT COLUMN_NAME, COLUMN_TYPE, COLUMN_KEY, COLLATION_NAME FROM information_schema.COLUMNS "
    "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION"
)


class LiveSchema:
    """A schema resolver for :class:`pycanal.binlog.decoder.BinlogDecoder` backed by SQL queries."""

    def __init__(self, query: QueryFn) -> None:
        self._query = query
        self._tables: dict[tuple[str, str], list[tuple[str, str, str, str | None]]] = {}
        self._collations: dict[str, int] | None = None

    def invalidate(self, schema: str | None = None, table: str | None = None) -> None:
        """Forget cached tables: one, a whole schema, or all."""
        if schema is None:
            self._tables.clear()
            return
        for key in list(self._tables):
            if key[0].lower() == schema.lower() and (table is None or key[1].lower() == table.lower()):
                del self._tables[key]

    def _collation_id(self, name: str | None) -> int | None:
        if name is None:
            return None
        if self._collations is None:
            rows = self._query("SELECT COLLATION_NAME, ID FROM information_schema.COLLATIONS WHERE ID IS NOT NULL", ())
            self._collations = {str(n): int(i) for n, i in rows}
        return self._collations.get(name)

    def columns(self, schema: str, table: str) -> list[tuple[str, str, str, str | None]]:
        key = (schema, table)
        cols = self._tables.get(key)
        if cols is None:
            rows = self._query(_COLUMNS_SQL, (schema, table))
            cols = self._tables[key] = [(_text(r[0]), _text(r[1]), _text(r[2]), _opt(r[3])) for r in rows]
        return cols

    def __call__(self, tm: TableMapEvent) -> tuple[ColumnInfo, ...] | None:
        """The TABLE_MAP's columns completed from the live table (new values), or None when the table is
        gone (binlog metadata is all there is)."""
        live = self.columns(tm.schema, tm.table)
        if not live:
            return None
        if tm.has_names:
            by_name = {c[0].lower(): c for c in live}
            pairs = [(col, by_name.get((col.name or "").lower())) for col in tm.columns]
        elif len(live) == len(tm.columns):
            pairs = list(zip(tm.columns, live, strict=True))
        else:
            raise ColumnCountMismatch(
                f"{tm.schema}.{tm.table}: the binlog has {len(tm.columns)} columns, the live table has "
                f"{len(live)}, and the binlog carries no column names (set binlog_row_metadata=FULL, "
                "or use the schema history)"
            )
        out = []
        for col, info in pairs:
            if info is None:
                out.append(col)
                continue
            name, ctype, ckey, collation = info
            changes: dict[str, Any] = {"mysql_type": ctype}
            if col.name is None:
                changes["name"] = name
            if not tm.primary_key:
                changes["is_pk"] = ckey == "PRI"
            if col.unsigned is None and ("int" in ctype or "decimal" in ctype or "float" in ctype or "double" in ctype):
                changes["unsigned"] = "unsigned" in ctype
            if col.charset is None:
                if collation is not None:
                    changes["charset"] = self._collation_id(collation)
                elif "binary" in ctype or "blob" in ctype:
                    changes["charset"] = 63
            out.append(replace(col, **changes))
        return tuple(out)


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, (bytes, bytearray)) else str(v)


def _opt(v: Any) -> str | None:
    return None if v is None else _text(v)
