"""Per-table column description as canal delivers it: name, mysqlType text, sqlType, isKey.

canal sets ``Column.sqlType`` (a java.sql.Types code) from the binlog type, the column-type text and,
for unsigned integers, the value itself: a value that does not fit the signed type moves the sqlType
one size up (canal-spec.md section 1.8; LogEventConvert). NULL values take their sqlType from another
table in canal, which differs for SET (BLOB) and MySQL JSON (OTHER); both quirks are kept because
canal clients see them. Everything here is computed once per table layout, never per row; the parse layer
keeps what it derives in its own :class:`TableLayouts` cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..binlog import constants as C
from ..binlog.charsets import BINARY, charset_name
from ..binlog.events import ColumnInfo, TableMapEvent

# java.sql.Types
BIT, TINYINT, SMALLINT, INTEGER, BIGINT, DECIMAL = -7, -6, 5, 4, -5, 3
REAL, DOUBLE, CHAR, VARCHAR, DATE, TIME, TIMESTAMP = 7, 8, 1, 12, 91, 92, 93
BLOB, CLOB, OTHER = 2004, 2005, 1111

# binlog type -> (sqlType, unsigned-overflow threshold, bumped sqlType)
_INT_TYPES = {
    C.MYSQL_TYPE_TINY: (TINYINT, 1 << 7, SMALLINT),
    C.MYSQL_TYPE_SHORT: (SMALLINT, 1 << 15, INTEGER),
    C.MYSQL_TYPE_INT24: (INTEGER, 1 << 23, INTEGER),
    C.MYSQL_TYPE_LONG: (INTEGER, 1 << 31, BIGINT),
    C.MYSQL_TYPE_LONGLONG: (BIGINT, 1 << 63, DECIMAL),
}
_FIXED_SQL_TYPES = {
    C.MYSQL_TYPE_NEWDECIMAL: DECIMAL,
    C.MYSQL_TYPE_DECIMAL: DECIMAL,
    C.MYSQL_TYPE_FLOAT: REAL,
    C.MYSQL_TYPE_DOUBLE: DOUBLE,
    C.MYSQL_TYPE_BIT: BIT,
    C.MYSQL_TYPE_ENUM: INTEGER,
    C.MYSQL_TYPE_SET: BIT,
    C.MYSQL_TYPE_YEAR: VARCHAR,
    C.MYSQL_TYPE_DATE: DATE,
    C.MYSQL_TYPE_NEWDATE: DATE,
    C.MYSQL_TYPE_TIME: TIME,
    C.MYSQL_TYPE_TIME2: TIME,
    C.MYSQL_TYPE_DATETIME: TIMESTAMP,
    C.MYSQL_TYPE_DATETIME2: TIMESTAMP,
    C.MYSQL_TYPE_TIMESTAMP: TIMESTAMP,
    C.MYSQL_TYPE_TIMESTAMP2: TIMESTAMP,
    C.MYSQL_TYPE_JSON: VARCHAR,
    C.MYSQL_TYPE_GEOMETRY: BLOB,
    C.MYSQL_TYPE_VECTOR: BLOB,
}
_BLOBS = (C.MYSQL_TYPE_BLOB, C.MYSQL_TYPE_TINY_BLOB, C.MYSQL_TYPE_MEDIUM_BLOB, C.MYSQL_TYPE_LONG_BLOB)
_TEXT_NAMES = ("tinytext", "text", "mediumtext", "longtext")
_MBMAXLEN = {
    "utf8mb4": 4,
    "utf8mb3": 3,
    "utf16": 4,
    "utf32": 4,
    "ucs2": 2,
    "utf16le": 4,
    "big5": 2,
    "gbk": 2,
    "gb2312": 2,
    "gb18030": 4,
    "sjis": 2,
    "cp932": 2,
    "ujis": 3,
    "eucjpms": 3,
    "euckr": 2,
}


@dataclass(slots=True)
class ColumnMeta:
    """What canal shows for one column, besides its value."""

    index: int
    name: str
    mysql_type: str
    is_key: bool
    sql_type: int
    null_sql_type: int
    unsigned_threshold: int = 0  # > 0: unsigned integer, values >= this take bumped_sql_type
    bumped_sql_type: int = 0

    def sql_type_of(self, value: str | None) -> int:
        if value is None:
            return self.null_sql_type
        if self.unsigned_threshold and len(value) >= 3 and int(value) >= self.unsigned_threshold:
            return self.bumped_sql_type
        return self.sql_type


def is_text(col: ColumnInfo, mysql_type: str) -> bool:
    """canal tells TEXT from BLOB by the type name; the binlog says it by the charset (63 = binary)."""
    if col.charset is not None:
        return col.charset != BINARY
    return mysql_type.lower() in _TEXT_NAMES


def column_meta(
    col: ColumnInfo, name: str | None = None, mysql_type: str | None = None, is_key: bool | None = None
) -> ColumnMeta:
    mtype = mysql_type or synthesize_mysql_type(col)
    t = col.type
    threshold = bumped = 0
    if t in _INT_TYPES:
        sql, limit, up = _INT_TYPES[t]
        unsigned = col.unsigned if col.unsigned is not None else "unsigned" in mtype.lower()
        if unsigned:
            threshold, bumped = limit, up
        null_sql = sql
    elif t in _FIXED_SQL_TYPES:
        sql = _FIXED_SQL_TYPES[t]
        null_sql = {C.MYSQL_TYPE_SET: BLOB, C.MYSQL_TYPE_JSON: OTHER}.get(t, sql)
    elif t == C.MYSQL_TYPE_STRING:
        sql = CHAR if is_text(col, mtype) else BLOB
        null_sql = sql
    elif t in (C.MYSQL_TYPE_VARCHAR, C.MYSQL_TYPE_VAR_STRING):
        sql = VARCHAR if is_text(col, mtype) else BLOB
        null_sql = sql
    elif t in _BLOBS:
        sql = CLOB if is_text(col, mtype) else BLOB
        null_sql = sql
    else:
        sql = null_sql = OTHER
    return ColumnMeta(
        col.index,
        name or col.name or f"@{col.index + 1}",
        mtype,
        bool(is_key if is_key is not None else col.is_pk),
        sql,
        null_sql,
        threshold,
        bumped,
    )


def table_columns(table: TableMapEvent) -> list[ColumnMeta]:
    """canal's column descriptions for a table map (computed; :class:`TableLayouts` caches what is derived
    from them)."""
    return [column_meta(c, c.name, c.mysql_type) for c in table.columns]


T = TypeVar("T")


class TableLayouts(Generic[T]):
    """The parse layer's own cache of what it derives from a table map (column descriptions, Entry encoders,
    FlatMessage layouts): ``build(table)`` runs once per table id and column signature.

    The signature is what a layout depends on: the schema and table names and the resolved columns (types,
    metadata, names, column-type text, keys, charsets). A TABLE_MAP repeated for every statement carries the
    very columns tuple its first decoding made (the binlog decoder reuses it), so a hit is a dict lookup
    and an identity test; columns rebuilt equal (after ``invalidate_tables()``) are recognised by value.
    Nothing is stored on the events or the row decoder.
    """

    __slots__ = ("_build", "_by_id", "_limit")

    def __init__(self, build: Callable[[TableMapEvent], T], limit: int = 4096) -> None:
        self._build = build
        self._limit = limit
        self._by_id: dict[int, tuple[tuple[ColumnInfo, ...], str, str, T]] = {}

    def get(self, table: TableMapEvent) -> T:
        hit = self._by_id.get(table.table_id)
        if hit is not None:
            columns, schema, name, value = hit
            if columns is table.columns and schema is table.schema and name is table.table:
                return value  # the same TABLE_MAP again: the decoder reuses its values
            if columns == table.columns and schema == table.schema and name == table.table:
                self._by_id[table.table_id] = (table.columns, table.schema, table.table, value)
                return value
        value = self._build(table)
        if len(self._by_id) >= self._limit:
            self._by_id.clear()
        self._by_id[table.table_id] = (table.columns, table.schema, table.table, value)
        return value

    def __len__(self) -> int:
        return len(self._by_id)


_INT_NAMES = {
    C.MYSQL_TYPE_TINY: ("tinyint", 4, 3),
    C.MYSQL_TYPE_SHORT: ("smallint", 6, 5),
    C.MYSQL_TYPE_INT24: ("mediumint", 9, 8),
    C.MYSQL_TYPE_LONG: ("int", 11, 10),
    C.MYSQL_TYPE_LONGLONG: ("bigint", 20, 20),
}


def _quoted(values: Sequence[str] | None) -> str:
    if not values:
        return ""
    return "(" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def synthesize_mysql_type(col: ColumnInfo) -> str:
    """The column-type text (as MariaDB's COLUMN_TYPE shows it) rebuilt from TABLE_MAP metadata alone.

    Used only when no schema source knows the table. Display widths follow MariaDB's defaults;
    a column declared with another width (``tinyint(1)``) cannot be told from the binlog.
    """
    t, meta = col.type, col.meta
    if t in _INT_NAMES:
        name, width, uwidth = _INT_NAMES[t]
        return f"{name}({uwidth}) unsigned" if col.unsigned else f"{name}({width})"
    if t == C.MYSQL_TYPE_NEWDECIMAL:
        return f"decimal({meta >> 8},{meta & 0xFF})" + (" unsigned" if col.unsigned else "")
    if t == C.MYSQL_TYPE_FLOAT:
        return "float" + (" unsigned" if col.unsigned else "")
    if t == C.MYSQL_TYPE_DOUBLE:
        return "double" + (" unsigned" if col.unsigned else "")
    if t == C.MYSQL_TYPE_BIT:
        return f"bit({(meta >> 8) * 8 + (meta & 0xFF)})"
    if t == C.MYSQL_TYPE_YEAR:
        return "year(4)"
    if t in (C.MYSQL_TYPE_DATE, C.MYSQL_TYPE_NEWDATE):
        return "date"
    for tt, name in (
        (C.MYSQL_TYPE_TIME2, "time"),
        (C.MYSQL_TYPE_DATETIME2, "datetime"),
        (C.MYSQL_TYPE_TIMESTAMP2, "timestamp"),
    ):
        if t == tt:
            return f"{name}({meta})" if meta else name
    if t in (C.MYSQL_TYPE_TIME, C.MYSQL_TYPE_DATETIME, C.MYSQL_TYPE_TIMESTAMP):
        return {C.MYSQL_TYPE_TIME: "time", C.MYSQL_TYPE_DATETIME: "datetime"}.get(t, "timestamp")
    if t == C.MYSQL_TYPE_ENUM:
        return "enum" + _quoted(col.enum_values)
    if t == C.MYSQL_TYPE_SET:
        return "set" + _quoted(col.set_values)
    binary = col.charset == BINARY
    mb = 1 if binary or col.charset is None else _MBMAXLEN.get(charset_name(col.charset) or "", 1)
    if t == C.MYSQL_TYPE_STRING:
        from ..binlog.rows import string_max_length

        n = string_max_length(meta) // mb
        return f"binary({n})" if binary else f"char({n})"
    if t in (C.MYSQL_TYPE_VARCHAR, C.MYSQL_TYPE_VAR_STRING):
        return f"varbinary({meta})" if binary else f"varchar({meta // mb})"
    if t in _BLOBS:
        size = {1: "tiny", 2: "", 3: "medium", 4: "long"}.get(meta, "")
        return f"{size}blob" if binary or col.charset is None else f"{size}text"
    if t == C.MYSQL_TYPE_JSON:
        return "json"
    if t == C.MYSQL_TYPE_GEOMETRY:
        return {
            1: "point",
            2: "linestring",
            3: "polygon",
            4: "multipoint",
            5: "multilinestring",
            6: "multipolygon",
            7: "geometrycollection",
        }.get(col.geometry_type or 0, "geometry")
    if t == C.MYSQL_TYPE_VECTOR:
        return f"vector({meta // 4})" if meta else "vector"
    return "unknown"
