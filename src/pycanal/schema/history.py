"""The table schema history: canal's TSDB, with a check on every TABLE_MAP.

Old binlog must be decoded with the schema that was in force when it was written, not today's. The
history keeps every table version keyed by the binlog position of the DDL that made it:

* :meth:`SchemaHistory.apply_ddl` interprets each DDL statement of the stream (see
  :mod:`pycanal.schema.ddl`), changes the in-memory schema and stores the statement (``meta_history``);
* snapshots of the whole schema (``meta_snapshot``) are written at the first start (from the live
  server, canal's INIT snapshot), every ``snapshot_interval_hours`` of binlog time when DDL happened,
  and on request;
* :meth:`SchemaHistory.rollback` rebuilds the schema in force at a position: the newest snapshot whose
  content precedes it (a snapshot records the last history row it holds), then the stored DDL up to
  it. The INIT snapshot and the history rows are never purged, so every position can be rebuilt. A
  restart is a new ``SchemaHistory`` on the same store plus ``rollback(start position)``.

:attr:`SchemaHistory.resolver` is a :data:`pycanal.binlog.decoder.SchemaResolver`. It checks every
TABLE_MAP against the version in force (column count, column types and their sizes, and names when the
server writes them, ``binlog_row_metadata=FULL``) and raises :class:`~pycanal.errors.SchemaMismatchError`
on any difference, naming the table, the position and both shapes: values are never put on shifted
columns. It then returns the columns completed with what the TABLE_MAP lacks (names, ``mysql_type``,
signedness, charsets, keys), as new values: the TABLE_MAP itself is never written to.

The rule for what the history cannot vouch for. A table is *uncertain* after DDL the interpreter does
not understand (the statement is still stored, and a warning logged), after it was created LIKE or
renamed from a table the history does not know, or when the history has never seen it. For an
uncertain table the resolver reads the live schema (``SHOW CREATE TABLE``) when a query callable was
given, checks it against the TABLE_MAP and uses it only if it matches (stored as a history row at that
TABLE_MAP's position, with a warning); without a query callable, or when the live table does not match
either, it raises. ``accept_live=True`` extends the same fallback to tables the history does know but
whose version does not match the binlog. A statement that is not recognized as DDL at all but begins
with CREATE/ALTER/DROP/RENAME/TRUNCATE is stored and logged; if it did change a table, the TABLE_MAP
check catches it at the next row event of that table.

After :meth:`apply_ddl` returns tables or after :meth:`rollback`, a decoder that cached resolved
table maps should drop them (``BinlogDecoder.invalidate_tables()``); :attr:`version` counts changes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ..binlog import constants as C
from ..binlog.charsets import BINARY
from ..binlog.events import ColumnInfo, TableMapEvent
from ..errors import ConnectionLostError, InvalidGtidSet, SchemaHistoryError, SchemaMismatchError
from ..gtid import MariaGtidState, parse_gtid_set
from ..model import EntryPosition
from . import ddl as D
from .catalog import Catalog, accept_all
from .store import INIT_POSITION, HistoryRow, HistoryStore, SnapshotRow, is_init
from .tables import (
    BLOBS,
    GEOMETRY,
    MARIADB,
    TEXTS,
    Charsets,
    Dialect,
    TableDef,
    TableName,
    dialect_for_version,
    quote_ident,
)

log = logging.getLogger(__name__)

QueryFn = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]
SKIPPED_SCHEMAS = frozenset(("information_schema", "performance_schema"))
_HOUR_MS = 3600 * 1000

# base type -> the column types a TABLE_MAP may carry for it (after ENUM/SET resolution)
_BINLOG_TYPES: dict[str, frozenset[int]] = {
    "tinyint": frozenset((C.MYSQL_TYPE_TINY,)),
    "smallint": frozenset((C.MYSQL_TYPE_SHORT,)),
    "mediumint": frozenset((C.MYSQL_TYPE_INT24,)),
    "int": frozenset((C.MYSQL_TYPE_LONG,)),
    "bigint": frozenset((C.MYSQL_TYPE_LONGLONG,)),
    "float": frozenset((C.MYSQL_TYPE_FLOAT,)),
    "double": frozenset((C.MYSQL_TYPE_DOUBLE,)),
    "decimal": frozenset((C.MYSQL_TYPE_NEWDECIMAL, C.MYSQL_TYPE_DECIMAL)),
    "bit": frozenset((C.MYSQL_TYPE_BIT,)),
    "date": frozenset((C.MYSQL_TYPE_DATE, C.MYSQL_TYPE_NEWDATE)),
    "time": frozenset((C.MYSQL_TYPE_TIME, C.MYSQL_TYPE_TIME2)),
    "datetime": frozenset((C.MYSQL_TYPE_DATETIME, C.MYSQL_TYPE_DATETIME2)),
    "timestamp": frozenset((C.MYSQL_TYPE_TIMESTAMP, C.MYSQL_TYPE_TIMESTAMP2)),
    "year": frozenset((C.MYSQL_TYPE_YEAR,)),
    "char": frozenset((C.MYSQL_TYPE_STRING, C.MYSQL_TYPE_VAR_STRING)),
    "binary": frozenset((C.MYSQL_TYPE_STRING, C.MYSQL_TYPE_VAR_STRING)),
    "varchar": frozenset((C.MYSQL_TYPE_VARCHAR, C.MYSQL_TYPE_VAR_STRING)),
    "varbinary": frozenset((C.MYSQL_TYPE_VARCHAR, C.MYSQL_TYPE_VAR_STRING)),
    "enum": frozenset((C.MYSQL_TYPE_ENUM, C.MYSQL_TYPE_STRING)),
    "set": frozenset((C.MYSQL_TYPE_SET, C.MYSQL_TYPE_STRING)),
    "json": frozenset((C.MYSQL_TYPE_JSON,)),
    # MariaDB plugin types stored as fixed binary strings
    "inet6": frozenset((C.MYSQL_TYPE_STRING,)),
    "inet4": frozenset((C.MYSQL_TYPE_STRING,)),
    "uuid": frozenset((C.MYSQL_TYPE_STRING,)),
}
_BLOB_TYPES = frozenset((C.MYSQL_TYPE_BLOB, C.MYSQL_TYPE_TINY_BLOB, C.MYSQL_TYPE_MEDIUM_BLOB, C.MYSQL_TYPE_LONG_BLOB))
for _t in (*TEXTS, *BLOBS):
    _BINLOG_TYPES[_t] = _BLOB_TYPES
for _t in GEOMETRY:
    _BINLOG_TYPES[_t] = frozenset((C.MYSQL_TYPE_GEOMETRY,))
_NUMERIC = frozenset(("tinyint", "smallint", "mediumint", "int", "bigint", "decimal", "float", "double"))
_BINARY_TYPES = frozenset(("binary", "varbinary", *BLOBS))
_TYPE_NAMES = {v: k[len("MYSQL_TYPE_") :] for k, v in vars(C).items() if k.startswith("MYSQL_TYPE_")}


def _blob_level(data_type: str) -> int:
    return TEXTS.get(data_type, BLOBS.get(data_type, 1)) + 1  # pack length: 1 tiny .. 4 long


def check_shape(tm: TableMapEvent, tdef: TableDef, *, charsets: Charsets | None = None) -> list[str]:
    """How a TABLE_MAP differs from a table version; empty when they agree.

    Compared: the column count; each column's binlog type against the version's type; the sizes the
    TABLE_MAP metadata carries (decimal precision and scale, bit length, fractional seconds, blob size
    class, and, when ``charsets`` is given, the byte length of CHAR/VARCHAR); ENUM/SET member counts
    and column names when the binlog has them.
    """
    cols = tdef.columns
    if len(tm.columns) != len(cols):
        return [f"the binlog has {len(tm.columns)} columns, the history {len(cols)}"]
    out: list[str] = []
    for ci, cd in zip(tm.columns, cols, strict=True):
        where = f"column {ci.index + 1} ({cd.name})"
        if tm.has_names and ci.name is not None and ci.name.lower() != cd.name.lower():
            out.append(f"column {ci.index + 1} is {ci.name!r} in the binlog, {cd.name!r} in the history")
            continue
        allowed = _BINLOG_TYPES.get(cd.data_type)
        if allowed is None:
            continue  # a type this module does not know: count and name checks only
        if ci.type not in allowed:
            out.append(f"{where}: binlog type {_TYPE_NAMES.get(ci.type, ci.type)}, history {cd.column_type}")
            continue
        meta = ci.meta
        bad = None
        if ci.type == C.MYSQL_TYPE_NEWDECIMAL and (meta >> 8, meta & 0xFF) != (cd.length, cd.scale):
            bad = f"decimal({meta >> 8},{meta & 0xFF})"
        elif ci.type == C.MYSQL_TYPE_BIT and (meta >> 8) * 8 + (meta & 0xFF) != cd.length:
            bad = f"bit({(meta >> 8) * 8 + (meta & 0xFF)})"
        elif ci.type in (C.MYSQL_TYPE_TIME2, C.MYSQL_TYPE_DATETIME2, C.MYSQL_TYPE_TIMESTAMP2) and meta != (
            cd.scale or 0
        ):
            bad = f"fractional seconds {meta}"
        elif ci.type in _BLOB_TYPES and meta != _blob_level(cd.data_type):
            bad = f"a blob of {meta}-byte length"
        elif ci.type in (C.MYSQL_TYPE_VARCHAR, C.MYSQL_TYPE_STRING) and charsets is not None and cd.length is not None:
            per_char = 1 if cd.data_type in _BINARY_TYPES else charsets.max_bytes(cd.charset)
            nbytes = meta if ci.type == C.MYSQL_TYPE_VARCHAR else _string_bytes(meta)
            if cd.data_type in ("char", "binary", "varchar", "varbinary") and nbytes != cd.length * per_char:
                bad = f"{nbytes} bytes long"
        elif ci.type in (C.MYSQL_TYPE_ENUM, C.MYSQL_TYPE_SET):
            values = ci.enum_values if ci.type == C.MYSQL_TYPE_ENUM else ci.set_values
            if values is not None and cd.values is not None and len(values) != len(cd.values):
                bad = f"{len(values)} members"
        if bad is not None:
            out.append(f"{where}: the binlog has {bad}, the history {cd.column_type}")
    return out


def _string_bytes(meta: int) -> int:
    byte0, byte1 = meta >> 8, meta & 0xFF
    if (byte0 & 0x30) != 0x30:
        return byte1 | (((byte0 & 0x30) ^ 0x30) << 4)
    return byte1


def binlog_shape(tm: TableMapEvent) -> list[str]:
    """A TABLE_MAP's columns as text for messages: ``name:TYPE(meta)``."""
    return [
        f"{c.name or '?'}:{_TYPE_NAMES.get(c.type, str(c.type))}" + (f"/{c.meta}" if c.meta else "") for c in tm.columns
    ]


def history_shape(tdef: TableDef) -> list[str]:
    return [f"{c.name}:{c.column_type}" for c in tdef.columns]


# --------------------------------------------------------------------------------------------------
# Ordering positions


def _gtid_map(text: str | None) -> dict[Any, int] | None:
    """The highest transaction of every MySQL (uuid, tag) or MariaDB domain in a GTID set; None when the
    text is empty or not a GTID set."""
    if not text or not text.strip():
        return None
    try:
        parsed = parse_gtid_set(text)
    except InvalidGtidSet:
        return None
    if isinstance(parsed, MariaGtidState):
        return {domain: seq for domain, _, seq in parsed.positions} or None
    return dict(parsed.last_numbers()) or None


def _gtid_compare(a: str | None, b: str | None) -> int | None:
    ma, mb = _gtid_map(a), _gtid_map(b)
    if ma is None or mb is None:
        return None
    common = set(ma) & set(mb)
    if not common:
        return None
    signs = {(ma[k] > mb[k]) - (ma[k] < mb[k]) for k in common}
    if signs == {0}:
        return 0
    if signs <= {0, -1}:
        return -1
    if signs <= {0, 1}:
        return 1
    return None


def precedes(a: EntryPosition, b: EntryPosition, *, inclusive: bool = False) -> bool:
    """Whether position ``a`` comes before ``b`` (or is ``b``, when ``inclusive``).

    Same server (or unknown server): binlog file number and offset (:meth:`EntryPosition.compare`).
    Otherwise, or when the files' base names differ, the GTIDs when both have comparable ones, else the
    timestamps (canal's rule, where an equal timestamp counts as before).
    """
    if is_init(a):
        return True
    if is_init(b):
        return False
    same = a.server_id is None or b.server_id is None or a.server_id == b.server_id
    order = a.compare(b) if same else None
    if order is not None:
        return order < 0 or (inclusive and order == 0)
    g = _gtid_compare(a.gtid, b.gtid)
    if g is not None:
        return g < 0 or (inclusive and g == 0)
    if a.timestamp is not None and b.timestamp is not None:
        return a.timestamp <= b.timestamp
    raise SchemaHistoryError(f"cannot order binlog positions {a} and {b}")


def _row_key(pos: EntryPosition) -> tuple[str, int, int | None]:
    return (pos.journal_name or "", pos.position or 0, pos.server_id)


def _make_accept(table_filter: Any) -> Callable[[str, str], bool]:
    if table_filter is None:
        return accept_all
    accepts = getattr(table_filter, "accepts", None)
    if callable(accepts):
        return accepts  # type: ignore[no-any-return,unused-ignore]
    if callable(table_filter):
        return table_filter  # type: ignore[no-any-return,unused-ignore]
    raise SchemaHistoryError(f"table_filter must be a TableFilter or a callable, not {type(table_filter).__name__}")


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, (bytes, bytearray)) else str(v)


def _q(name: str) -> str:
    """A quoted name for a statement sent through a pymysql-style (``%``-formatting) query callable."""
    return quote_ident(name).replace("%", "%%")


# --------------------------------------------------------------------------------------------------


class SchemaHistory:
    """Versioned table schemas of one destination; see the module docstring.

    ``store``: a :class:`~pycanal.schema.store.HistoryStore` (``SqliteStore.for_instance(...)`` by
    default in pycanal's instance). ``query``: runs SQL on the source server (pymysql ``%s`` style, as
    :class:`pycanal.schema.live.LiveSchema` takes it); without it there is no initial snapshot and no
    live fallback. ``table_filter``: a :class:`pycanal.filter.TableFilter` or ``(schema, table) -> bool``.
    """

    def __init__(
        self,
        store: HistoryStore,
        *,
        destination: str,
        query: QueryFn | None = None,
        table_filter: Any = None,
        accept_live: bool = False,
        dialect: Dialect | None = None,
        server_charset: str | None = None,
        snapshot_interval_hours: float = 24.0,
        snapshot_expire_hours: float = 360.0,
    ) -> None:
        self.store = store
        self.destination = destination
        self._query = query
        self._accept = _make_accept(table_filter)
        self.accept_live = accept_live
        self.snapshot_interval_ms = int(snapshot_interval_hours * _HOUR_MS)
        self.snapshot_expire_ms = int(snapshot_expire_hours * _HOUR_MS)
        self._lock = threading.RLock()
        self.version = 0
        self.position: EntryPosition | None = None
        self._last_row_id = 0
        self._applied: set[tuple[str, int, int | None]] = set()
        self._live_rows: dict[tuple[str, int, int | None], HistoryRow] = {}
        self._dirty = False
        self._last_snapshot_ts: int | None = None
        self._explicit = (dialect, server_charset)
        self.catalog = Catalog(dialect=dialect or MARIADB, server_charset=server_charset or "utf8mb4")
        # lengths of CHAR/VARCHAR are checked only when column charsets rest on known server defaults
        self._charsets_known = server_charset is not None
        if query is not None:
            self._load_server_facts()
        with self._lock:
            if not self.store.snapshots(destination) and query is not None:
                self._initial_snapshot()
            self._restore(None)

    # --- public API ----------------------------------------------------------------------------
    @property
    def resolver(self) -> Callable[[TableMapEvent], tuple[ColumnInfo, ...] | None]:
        """The :data:`~pycanal.binlog.decoder.SchemaResolver` for ``BinlogDecoder(schema_resolver=...)``."""
        return self.resolve

    def table(self, schema: str, name: str) -> TableDef | None:
        """The version in force of a table (a copy), or None when the history does not know it."""
        with self._lock:
            t = self.catalog.get(schema, name)
            return None if t is None else t.copy()

    def apply_ddl(
        self, position: EntryPosition, default_schema: str | None, sql: str, *, sql_mode: int | None = None
    ) -> list[TableName]:
        """Apply one QUERY event's statement; returns the tables whose definition it may have changed.

        ``default_schema`` is the QUERY event's schema (the session's ``USE``). Statements that are
        not DDL return ``[]`` and are not stored. A DDL the stream delivers again (same position, e.g.
        after a reconnect) is not applied twice.
        """
        ops = D.parse(sql, sql_mode)
        if all(isinstance(op, D.Ignored) for op in ops):
            return []
        with self._lock:
            key = _row_key(position)
            if key in self._applied:
                return []
            res = self.catalog.apply(ops, default_schema or None, self._accept)
            for note in res.notes:
                if res.uncertain or note.startswith("not understood"):
                    log.warning(
                        "schema history %s at %s:%s: %s",
                        self.destination,
                        position.journal_name,
                        position.position,
                        note,
                    )
            if not res.record:
                return []
            first = res.affected[0] if res.affected else None
            extra: dict[str, Any] = {}
            if sql_mode:
                extra["sql_mode"] = sql_mode
            if res.uncertain or any(isinstance(op, D.Unparsed) for op in ops):
                extra["unparsed"] = True
            row = HistoryRow(
                position,
                sql,
                use_schema=default_schema,
                sql_schema=first.schema if first else default_schema,
                sql_table=first.table if first else None,
                sql_type=res.sql_type,
                extra=extra,
            )
            self._last_row_id = self.store.add_history(self.destination, row)
            self._applied.add(key)
            self._dirty = True
            self.version += 1
            self._advance(position)
            self.maybe_snapshot(position)
            return list(dict.fromkeys(res.affected))

    def rollback(self, position: EntryPosition) -> None:
        """Rebuild the schema in force at ``position``: DDL strictly before it (and at it when
        ``position.included``), from the newest snapshot that does not go past it."""
        with self._lock:
            self._restore(position)
            self.position = position
            self.version += 1

    def snapshot(self, position: EntryPosition) -> int:
        """Store the current schema as a snapshot at ``position``; returns the snapshot id."""
        with self._lock:
            data, extra = self.catalog.dump()
            extra["history_id"] = self._last_row_id
            d = self.catalog.dialect
            extra["server"] = {
                "dialect": [
                    d.name,
                    d.int_display_width,
                    d.json_is_longtext,
                    d.year_width,
                    d.utf8mb4_collation,
                    d.hidden_functional_columns,
                ],
                "charset": self.catalog.server_charset,
                "collation": self.catalog.server_collation,
                "lower_case_table_names": self.catalog.lower_case_table_names,
                "charsets_known": self._charsets_known,
            }
            sid = self.store.add_snapshot(self.destination, SnapshotRow(position, data, extra))
            self._dirty = False
            if not is_init(position) and position.timestamp is not None:
                self._last_snapshot_ts = position.timestamp
                self._purge(position.timestamp)
            return sid

    def maybe_snapshot(self, position: EntryPosition) -> bool:
        """Write a snapshot when DDL happened and ``snapshot_interval_hours`` of binlog time passed
        since the last one (canal's ``tsdb.snapshot.interval``); call it from time to time."""
        with self._lock:
            ts = position.timestamp
            if not self._dirty or self.snapshot_interval_ms <= 0 or ts is None or ts < 0:
                return False
            if self._last_snapshot_ts is None:
                self._last_snapshot_ts = ts
                return False
            if ts - self._last_snapshot_ts < self.snapshot_interval_ms:
                return False
            self.snapshot(position)
            return True

    def close(self) -> None:
        with self._lock:
            self.store.close()

    # --- resolver ------------------------------------------------------------------------------
    def resolve(self, tm: TableMapEvent) -> tuple[ColumnInfo, ...] | None:
        """Check a TABLE_MAP against the version in force and return its columns completed from it (new
        values; a :data:`~pycanal.binlog.decoder.SchemaResolver`). None for a table the filter leaves out."""
        if not self._accept(tm.schema, tm.table):
            return None
        with self._lock:
            pos = EntryPosition(tm.log_file, tm.header.start_pos, tm.header.server_id, tm.header.timestamp * 1000)
            tdef = self.catalog.get(tm.schema, tm.table)
            if tdef is None or tdef.uncertain:
                reason = "the table is unknown to the schema history" if tdef is None else str(tdef.uncertain)
                tdef = self._from_live(tm, pos, reason, None)
            else:
                problems = check_shape(tm, tdef, charsets=self.catalog.charsets if self._charsets_known else None)
                if problems:
                    if self.accept_live and self._query is not None:
                        tdef = self._from_live(
                            tm, pos, "the binlog does not match the history: " + "; ".join(problems), tdef
                        )
                    else:
                        raise self._mismatch(tm, tdef, problems, "the schema history")
            return self._fill(tm, tdef)

    def _fill(self, tm: TableMapEvent, tdef: TableDef) -> tuple[ColumnInfo, ...]:
        pk = {c.lower() for c in tdef.primary_key()}
        charsets = self.catalog.charsets
        out = []
        for ci, cd in zip(tm.columns, tdef.columns, strict=True):
            changes: dict[str, Any] = {"mysql_type": cd.column_type}
            if ci.name is None:
                changes["name"] = cd.name
            if ci.unsigned is None and cd.data_type in _NUMERIC:
                changes["unsigned"] = cd.unsigned
            if ci.charset is None:
                if cd.charset is not None:
                    changes["charset"] = charsets.collation_id(cd.collation, cd.charset)
                elif cd.data_type in _BINARY_TYPES:
                    changes["charset"] = BINARY
            if not tm.primary_key:
                changes["is_pk"] = cd.name.lower() in pk
            if cd.values is not None:
                if cd.data_type == "enum" and ci.enum_values is None:
                    changes["enum_values"] = tuple(cd.values)
                elif cd.data_type == "set" and ci.set_values is None:
                    changes["set_values"] = tuple(cd.values)
            out.append(replace(ci, **changes))
        return tuple(out)

    def _mismatch(self, tm: TableMapEvent, tdef: TableDef, problems: list[str], source: str) -> SchemaMismatchError:
        bshape, hshape = binlog_shape(tm), history_shape(tdef)
        msg = (
            f"TABLE_MAP of {tm.schema}.{tm.table} at {tm.log_file}:{tm.header.start_pos} does not match "
            f"{source}: {'; '.join(problems)}. binlog columns [{', '.join(bshape)}]; "
            f"{source} columns [{', '.join(hshape)}]"
        )
        return SchemaMismatchError(
            msg,
            log_file=tm.log_file,
            log_pos=tm.header.start_pos,
            event_type=C.TABLE_MAP,
            table=f"{tm.schema}.{tm.table}",
            binlog_shape=bshape,
            history_shape=hshape,
        )

    def _from_live(self, tm: TableMapEvent, pos: EntryPosition, reason: str, known: TableDef | None) -> TableDef:
        where = f"{tm.schema}.{tm.table} at {tm.log_file}:{tm.header.start_pos}"
        stored = self._live_rows.get(_row_key(pos))
        if stored is not None and stored.sql_text.strip():
            # this TABLE_MAP was resolved live before (a replay after rollback): the schema read then
            # is the one that fits, today's live schema may have moved on
            earlier = self._parse_live(tm.schema, tm.table, stored.sql_text)
            if earlier is not None and not earlier.uncertain and not check_shape(tm, earlier):
                self._applied.add(_row_key(pos))
                self.catalog.put(earlier)
                self.version += 1
                return earlier
        if self._query is None:
            if known is not None:
                raise self._mismatch(tm, known, [reason], "the schema history")
            raise SchemaMismatchError(
                f"TABLE_MAP of {where}: {reason}, and there is no live server to read it from "
                f"(binlog columns [{', '.join(binlog_shape(tm))}])",
                log_file=tm.log_file,
                log_pos=tm.header.start_pos,
                event_type=C.TABLE_MAP,
                table=f"{tm.schema}.{tm.table}",
                binlog_shape=binlog_shape(tm),
                history_shape=None,
            )
        ddl_text = self._show_create(tm.schema, tm.table)
        if ddl_text is None:
            raise SchemaMismatchError(
                f"TABLE_MAP of {where}: {reason}, and the live server has no such table "
                f"(binlog columns [{', '.join(binlog_shape(tm))}])",
                log_file=tm.log_file,
                log_pos=tm.header.start_pos,
                event_type=C.TABLE_MAP,
                table=f"{tm.schema}.{tm.table}",
                binlog_shape=binlog_shape(tm),
                history_shape=None,
            )
        live = self._parse_live(tm.schema, tm.table, ddl_text)
        if live is None or live.uncertain:
            raise SchemaHistoryError(f"{where}: the live SHOW CREATE TABLE could not be interpreted: {ddl_text!r}")
        problems = check_shape(tm, live, charsets=self.catalog.charsets)
        if problems:
            raise self._mismatch(tm, live, [reason, *problems], "the live schema")
        log.warning(
            "schema history %s: %s: %s; using the live schema, which matches the binlog",
            self.destination,
            where,
            reason,
        )
        row = HistoryRow(
            pos,
            ddl_text,
            use_schema=tm.schema,
            sql_schema=tm.schema,
            sql_table=tm.table,
            sql_type="CREATE",
            extra={"source": "live", "reason": reason},
        )
        self._last_row_id = self.store.add_history(self.destination, row)
        self._applied.add(_row_key(pos))
        self._live_rows[_row_key(pos)] = row
        self.catalog.put(live)
        self._dirty = True
        self.version += 1
        return live

    def _parse_live(self, schema: str, table: str, ddl_text: str) -> TableDef | None:
        scratch = Catalog(
            dialect=self.catalog.dialect,
            charsets=self.catalog.charsets,
            server_charset=self.catalog.server_charset,
            server_collation=self.catalog.server_collation,
            lower_case_table_names=self.catalog.lower_case_table_names,
        )
        scratch.apply_sql(ddl_text, schema)
        got = scratch.get(schema, table)
        if got is not None:
            got.schema, got.name = schema, table
        return got

    # --- live server ---------------------------------------------------------------------------
    def _run(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        assert self._query is not None
        try:
            return list(self._query(sql, args))
        except (SchemaHistoryError, ConnectionLostError):
            raise  # a lost master is the parser's to reconnect to, not a broken history
        except Exception as exc:
            raise SchemaHistoryError(f"schema query failed: {sql}: {exc}") from exc

    def _load_server_facts(self) -> None:
        version, cs, coll, lctn = self._run(
            "SELECT VERSION(), @@character_set_server, @@collation_server, @@lower_case_table_names"
        )[0]
        cat = self.catalog
        if self._explicit[0] is None:
            cat.dialect = dialect_for_version(_text(version))
        if self._explicit[1] is None:
            cat.server_charset = _text(cs).lower()
            cat.server_collation = _text(coll).lower()
        cat.lower_case_table_names = int(lctn or 0)
        cat.charsets.load(
            self._run("SELECT COLLATION_NAME, CHARACTER_SET_NAME, ID, IS_DEFAULT FROM information_schema.COLLATIONS")
        )
        self._charsets_known = True

    def _show_create(self, schema: str, table: str) -> str | None:
        exists = self._run(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (schema, table),
        )
        if not exists:
            return None
        rows = self._run(f"SHOW CREATE TABLE {_q(schema)}.{_q(table)}")
        return _text(rows[0][1]) if rows else None

    def _initial_snapshot(self) -> None:
        """canal's first snapshot: every table passing the filter, from SHOW CREATE TABLE, at INIT."""
        cat = self.catalog
        cat.clear()
        for name, cs, coll in self._run(
            "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA"
        ):
            schema = _text(name)
            if schema.lower() in SKIPPED_SCHEMAS:
                continue
            cat.set_database(schema, _text(cs).lower() if cs else None, _text(coll).lower() if coll else None)
            tables = self._run(f"SHOW FULL TABLES FROM {_q(schema)} WHERE Table_type IN ('BASE TABLE', 'SEQUENCE')")
            for row in tables:
                table = _text(row[0])
                if not self._accept(schema, table):
                    continue
                ddl_text = self._show_create(schema, table)
                if ddl_text is None:
                    continue  # dropped meanwhile
                res = cat.apply_sql(ddl_text, schema)
                if res.uncertain:
                    log.warning(
                        "schema history %s: SHOW CREATE TABLE %s.%s not understood (%s); the table "
                        "will be read live when it appears in the binlog",
                        self.destination,
                        schema,
                        table,
                        "; ".join(res.notes),
                    )
        # rows stored before (a history first run without a query) are already in the live schema
        self._last_row_id = max((r.id or 0 for r in self.store.history(self.destination)), default=0)
        self.snapshot(INIT_POSITION)
        log.info("schema history %s: initial snapshot of %d tables", self.destination, sum(1 for _ in cat.tables()))

    # --- restoring -----------------------------------------------------------------------------
    def _restore(self, target: EntryPosition | None) -> None:
        inclusive = bool(target is not None and target.included)
        rows = self.store.history(self.destination)
        by_id = {r.id: r for r in rows}

        def usable(s: SnapshotRow) -> bool:
            if target is None:
                return True
            if is_init(s.position):
                return True
            # a snapshot holds the rows up to its history_id: usable when the last of them precedes
            last = by_id.get(int(s.extra.get("history_id") or 0))
            return last is None or precedes(last.position, target, inclusive=inclusive)

        snaps = self.store.snapshots(self.destination)
        good = [s for s in snaps if usable(s)]
        cat = self.catalog
        cat.clear()
        base_id = 0
        if good:
            best = max(good, key=lambda s: (int(s.extra.get("history_id") or 0), s.id or 0))
            self._load_server_settings(best.extra.get("server") or {})
            cat.load(self.store.snapshot_data(self.destination, best.id or 0), best.extra)
            base_id = int(best.extra.get("history_id") or 0)
            ts = best.position.timestamp
            self._last_snapshot_ts = ts if ts is not None and ts >= 0 else None
        # else: no INIT snapshot, so the history began empty and its rows alone rebuild any position
        self._applied = set()
        self._live_rows = {_row_key(r.position): r for r in rows if r.extra.get("source") == "live"}
        self._last_row_id = base_id
        for r in rows:
            if (r.id or 0) <= base_id:
                if target is None or precedes(r.position, target, inclusive=inclusive):
                    self._applied.add(_row_key(r.position))
                continue
            if target is not None and not precedes(r.position, target, inclusive=inclusive):
                continue
            self._apply_row(r)
            self._applied.add(_row_key(r.position))
            self._last_row_id = r.id or self._last_row_id
            self._advance(r.position)
        self._dirty = False

    def _load_server_settings(self, server: dict[str, Any]) -> None:
        if not server or self._query is not None:
            return
        cat = self.catalog
        if self._explicit[0] is None and isinstance(server.get("dialect"), list):
            cat.dialect = Dialect(*server["dialect"])
        if self._explicit[1] is None and server.get("charset"):
            cat.server_charset = server["charset"]
            cat.server_collation = server.get("collation") or cat.server_collation
            self._charsets_known = bool(server.get("charsets_known"))
        cat.lower_case_table_names = int(server.get("lower_case_table_names") or 0)

    def _apply_row(self, r: HistoryRow) -> None:
        if r.extra.get("source") == "live":
            schema, table = r.sql_schema or "", r.sql_table or ""
            live = self._parse_live(schema, table, r.sql_text) if r.sql_text.strip() else None
            self.catalog.remove(schema, table)
            if live is not None:
                self.catalog.put(live)
            return
        mode = r.extra.get("sql_mode")
        self.catalog.apply(D.parse(r.sql_text, int(mode) if mode else None), r.use_schema or None, self._accept)

    def _advance(self, pos: EntryPosition) -> None:
        try:
            if self.position is None or precedes(self.position, pos):
                self.position = pos
        except SchemaHistoryError:
            self.position = pos

    def _purge(self, now_ts: int) -> None:
        """Drop snapshots older than ``snapshot_expire_hours`` (binlog time) but the newest of them and
        the INIT snapshot: history rows are never dropped, so any position can still be rebuilt."""
        if self.snapshot_expire_ms <= 0:
            return
        cutoff = now_ts - self.snapshot_expire_ms
        snaps = self.store.snapshots(self.destination)
        old = [
            s
            for s in snaps
            if not is_init(s.position) and (s.position.timestamp if s.position.timestamp is not None else 0) < cutoff
        ]
        if len(old) <= 1:
            return
        keep = max(old, key=lambda s: (int(s.extra.get("history_id") or 0), s.id or 0))
        self.store.delete_snapshots(self.destination, [s.id for s in old if s is not keep and s.id is not None])


__all__ = ["SchemaHistory", "binlog_shape", "check_shape", "history_shape", "precedes"]
