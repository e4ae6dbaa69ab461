"""The in-memory schema: databases and table versions, changed by interpreted DDL.

The catalog applies :mod:`pycanal.schema.ddl` operations the way the server would: a column without a
charset takes the table's default, a table without one takes its database's, then the server's;
``CREATE TABLE IF NOT EXISTS`` leaves an existing table alone (canal's TSDB overwrote it, one cause of
its "column size is not match" reports); ``CONVERT TO CHARACTER SET`` widens TEXT types the way the
server does. A change it cannot follow makes the table *uncertain* rather than wrong.

Only tables that pass the instance's table filter are kept (canal skips DDL on filtered tables too).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import SchemaHistoryError
from . import ddl as D
from .tables import (
    MARIADB,
    TEXT_SIZES,
    TEXTS,
    Charsets,
    ColumnDef,
    Dialect,
    IndexDef,
    TableDef,
    TableName,
    convert_text_type,
    resolve_column,
    sequence_table,
)

log = logging.getLogger(__name__)

Accept = Callable[[str, str], bool]


def accept_all(schema: str, table: str) -> bool:
    return True


class _ApplyError(Exception):
    """Internal: a change does not fit the table as the history knows it."""


@dataclass(slots=True)
class DatabaseDef:
    name: str
    charset: str | None = None
    collation: str | None = None
    tables: dict[str, TableDef] = field(default_factory=dict)


@dataclass(slots=True)
class ApplyResult:
    """What one statement did: the tables it touched, whether the history must record it, and the
    tables it left uncertain."""

    affected: list[TableName] = field(default_factory=list)
    record: bool = False
    uncertain: list[TableName] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sql_type: str = "QUERY"


class Catalog:
    """Databases and tables, keyed as the server keys them (``lower_case_table_names``)."""

    def __init__(
        self,
        *,
        dialect: Dialect = MARIADB,
        charsets: Charsets | None = None,
        server_charset: str = "utf8mb4",
        server_collation: str | None = None,
        lower_case_table_names: int = 0,
    ) -> None:
        self.dialect = dialect
        self.charsets = charsets or Charsets()
        self.server_charset = server_charset
        if server_collation is None:
            utf8mb4 = server_charset == "utf8mb4"
            server_collation = dialect.utf8mb4_collation if utf8mb4 else self.charsets.default_collation(server_charset)
        self.server_collation = server_collation
        self.lower_case_table_names = lower_case_table_names
        self.databases: dict[str, DatabaseDef] = {}

    # --- lookups -------------------------------------------------------------------------------
    def _k(self, name: str) -> str:
        return name.lower() if self.lower_case_table_names else name

    def get(self, schema: str, table: str) -> TableDef | None:
        db = self.databases.get(self._k(schema))
        return None if db is None else db.tables.get(self._k(table))

    def tables(self) -> Iterator[TableDef]:
        for db in self.databases.values():
            yield from db.tables.values()

    def _db(self, schema: str) -> DatabaseDef:
        key = self._k(schema)
        db = self.databases.get(key)
        if db is None:
            db = self.databases[key] = DatabaseDef(schema)
        return db

    def put(self, tdef: TableDef) -> None:
        self._db(tdef.schema).tables[self._k(tdef.name)] = tdef

    def remove(self, schema: str, table: str) -> TableDef | None:
        db = self.databases.get(self._k(schema))
        return None if db is None else db.tables.pop(self._k(table), None)

    def set_database(self, name: str, charset: str | None, collation: str | None) -> None:
        db = self._db(name)
        db.charset, db.collation = charset, collation

    def clear(self) -> None:
        self.databases.clear()

    # --- applying DDL --------------------------------------------------------------------------
    def apply_sql(
        self, sql: str, default_schema: str | None, accept: Accept = accept_all, sql_mode: int | None = None
    ) -> ApplyResult:
        return self.apply(D.parse(sql, sql_mode), default_schema, accept)

    def apply(self, ops: list[D.Operation], default_schema: str | None, accept: Accept = accept_all) -> ApplyResult:
        res = ApplyResult()
        for op in ops:
            if isinstance(op, D.Ignored):
                continue
            if isinstance(op, D.UseSchema):
                default_schema = op.name
                continue
            if res.sql_type == "QUERY":
                res.sql_type = D.sql_type(op)
            handler = getattr(self, "_op_" + type(op).__name__)
            handler(op, default_schema, accept, res)
        return res

    def _qualify(self, name: D.QName, ds: str | None) -> TableName:
        schema = name.schema or ds
        if not schema:
            raise SchemaHistoryError(f"DDL names table {name.name!r} with no database and no default database")
        return TableName(schema, name.name)

    def _uncertain(self, tn: TableName, reason: str, res: ApplyResult, base: TableDef | None = None) -> None:
        tdef = base.copy() if base is not None else TableDef(tn.schema, tn.table)
        tdef.schema, tdef.name = tn
        tdef.uncertain = reason
        self.put(tdef)
        res.uncertain.append(tn)
        res.notes.append(f"{tn}: {reason}")

    def _parent_charset(self, schema: str) -> tuple[str, str]:
        db = self.databases.get(self._k(schema))
        if db is not None and db.charset:
            return db.charset, db.collation or self.charsets.default_collation(db.charset)
        return self.server_charset, self.server_collation

    def _charset_pair(
        self, cs: str | None, coll: str | None, parent: tuple[str, str] | tuple[str | None, str | None]
    ) -> tuple[str | None, str | None]:
        if cs is None and coll is None:
            return parent
        if cs is None:
            return self.charsets.charset_of_collation(coll), coll  # type: ignore[arg-type]
        if coll is None:
            if cs == "utf8mb4" and self.dialect.utf8mb4_collation != "utf8mb4_general_ci":
                return cs, self.dialect.utf8mb4_collation
            return cs, self.charsets.default_collation(cs)
        return cs, coll

    def _op_CreateTable(self, op: D.CreateTable, ds: str | None, accept: Accept, res: ApplyResult) -> None:
        tn = self._qualify(op.name, ds)
        if not accept(*tn):
            return
        res.record = True
        existing = self.get(*tn)
        if existing is not None and op.if_not_exists and not op.or_replace:
            res.notes.append(f"{tn}: exists, CREATE TABLE IF NOT EXISTS leaves it unchanged")
            return
        res.affected.append(tn)
        if op.like is not None:
            src_name = self._qualify(op.like, ds)
            src = self.get(*src_name)
            if src is None or src.uncertain:
                self._uncertain(tn, f"created LIKE {src_name}, whose shape the history does not know", res)
                return
            tdef = src.copy()
            tdef.schema, tdef.name = tn
            self.put(tdef)
            return
        if op.unsupported:
            self._uncertain(tn, op.unsupported, res)
            return
        cs, coll = self._charset_pair(op.charset, op.collation, self._parent_charset(tn.schema))
        tdef = TableDef(tn.schema, tn.table, charset=cs, collation=coll, sequence=op.sequence)
        try:
            for spec in op.columns:
                if tdef.column_index(spec.name) is not None:
                    raise _ApplyError(f"duplicate column {spec.name!r}")
                tdef.columns.append(self._column(spec, tdef))
                self._inline_keys(spec, tdef)
            for key in op.keys:
                self._add_key(tdef, key)
            if op.system_versioning:
                self._versioning(tdef, True)
        except _ApplyError as exc:
            self._uncertain(tn, f"CREATE TABLE not understood: {exc}", res)
            return
        self.put(tdef)

    def _op_CreateSequence(self, op: D.CreateSequence, ds: str | None, accept: Accept, res: ApplyResult) -> None:
        tn = self._qualify(op.name, ds)
        if not accept(*tn):
            return
        res.record = True
        if op.if_not_exists and self.get(*tn) is not None:
            return
        res.affected.append(tn)
        self.put(sequence_table(*tn))

    def _op_DropTables(self, op: D.DropTables, ds: str | None, accept: Accept, res: ApplyResult) -> None:
        for name in op.names:
            tn = self._qualify(name, ds)
            self.remove(*tn)
            if accept(*tn):
                res.record = True
                res.affected.append(tn)

    def _op_RenameTables(self, op: D.RenameTables, ds: str | None, accept: Accept, res: ApplyResult) -> None:
        for old, new in op.pairs:
            self._rename(self._qualify(old, ds), self._qualify(new, ds), accept, res)

    def _rename(self, old: TableName, new: TableName, accept: Accept, res: ApplyResult) -> None:
        src = self.remove(*old)
        if accept(*old):
            res.record = True
            res.affected.append(old)
        if not accept(*new):
            return
        res.record = True
        res.affected.append(new)
        if src is None or src.uncertain:
            self._uncertain(new, f"renamed from {old}, whose shape the history does not know", res, src)
            return
        src.schema, src.name = new
        self.put(src)

    def _op_TruncateTable(self, op: D.TruncateTable, ds: str | None, accept: Accept, res: ApplyResult) -> None:
        tn = self._qualify(op.name, ds)
        if accept(*tn):
            res.record = True
            res.affected.append(tn)

    def _op_CreateDatabase(self, op: D.CreateDatabase, ds: str | None, accept: Accept, res: ApplyResult) -> None:
        res.record = True
        if op.if_not_exists and self._k(op.name) in self.databases:
            return
        db = self._db(op.name)
        cs, coll = self._charset_pair(op.charset, op.collation, (self.server_charset, self.server_collation))
        db.charset, db.collation = cs, coll

    def _op_AlterDatabase(self, op: D.AlterDatabase, ds: str | None, accept: Accept, res: ApplyResult) -> None:
        name = op.name or ds
        if not name:
            raise SchemaHistoryError("ALTER DATABASE with no database and no default database")
        res.record = True
        if op.charset is None and op.collation is None:
            return
        db = self._db(name)
        db.charset, db.collation = self._charset_pair(op.charset, op.collation, self._parent_charset(name))

    def _op_DropDatabase(self, op: D.DropDatabase, ds: str | None, accept: Accept, res: ApplyResult) -> None:
        res.record = True
        db = self.databases.pop(self._k(op.name), None)
        if db is not None:
            res.affected.extend(TableName(t.schema, t.name) for t in db.tables.values())

    def _op_Unparsed(self, op: D.Unparsed, ds: str | None, accept: Accept, res: ApplyResult) -> None:
        res.record = True
        res.notes.append(f"not understood: {op.reason}")
        for name in op.tables:
            schema = name.schema or ds
            if not schema or not accept(schema, name.name):
                continue
            tn = TableName(schema, name.name)
            res.affected.append(tn)
            self._uncertain(tn, f"DDL not understood ({op.reason})", res, self.get(*tn))

    def _op_AlterTable(self, op: D.AlterTable, ds: str | None, accept: Accept, res: ApplyResult) -> None:
        tn = self._qualify(op.name, ds)
        renames = [a for a in op.actions if isinstance(a, D.RenameTo)]
        final = self._qualify(renames[-1].name, tn.schema) if renames else tn
        if not accept(*tn):
            if final != tn and accept(*final):
                self.remove(*tn)
                self._rename(tn, final, accept, res)
            return
        res.record = True
        res.affected.append(tn)
        cur = self.get(*tn)
        if cur is None or cur.uncertain:
            reason = cur.uncertain if cur is not None and cur.uncertain else "altered, but unknown to the history"
            if final != tn:
                self.remove(*tn)
                if accept(*final):
                    res.affected.append(final)
                    self._uncertain(final, reason, res, cur)
            else:
                self._uncertain(tn, reason, res, cur)
            return
        new = cur.copy()
        try:
            for action in op.actions:
                self._alter(new, action)
        except _ApplyError as exc:
            self.remove(*tn)
            if accept(*final):
                if final != tn:
                    res.affected.append(final)
                self._uncertain(final, f"ALTER TABLE not understood: {exc}", res, cur)
            return
        self.remove(*tn)
        if final != tn:
            new.schema, new.name = final
            if not accept(*final):
                return
            res.affected.append(final)
        self.put(new)

    # --- columns and keys ----------------------------------------------------------------------
    def _column(self, spec: D.ColumnSpec, tdef: TableDef) -> ColumnDef:
        col = resolve_column(
            spec.name,
            spec.type,
            table_charset=tdef.charset,
            table_collation=tdef.collation,
            charsets=self.charsets,
            dialect=self.dialect,
        )
        col.nullable = (
            spec.nullable is not False and not spec.primary and spec.generated not in ("ROW START", "ROW END")
        )
        col.auto_increment = spec.auto_increment
        col.generated, col.expression = spec.generated, spec.expression
        col.invisible = spec.invisible
        return col

    def _inline_keys(self, spec: D.ColumnSpec, tdef: TableDef) -> None:
        if spec.primary:
            self._add_key(tdef, D.KeySpec("PRIMARY", "PRIMARY", [(spec.name, None)]))
        if spec.unique:
            self._add_key(tdef, D.KeySpec("UNIQUE", None, [(spec.name, None)]))

    def _add_key(self, tdef: TableDef, key: D.KeySpec) -> None:
        if key.kind not in ("PRIMARY", "UNIQUE", "KEY", "FULLTEXT", "SPATIAL"):
            return
        parts: list[tuple[str | None, int | None]] = []
        functional = []
        for col, prefix in key.parts:
            if col is None:
                functional.append(len(parts))
                parts.append((None, None))
                continue
            cdef = tdef.column(col)
            if cdef is None:
                raise _ApplyError(f"key on unknown column {col!r}")
            parts.append((cdef.name, prefix))
        names = {(i.name or "").lower() for i in tdef.indexes}
        if key.kind == "PRIMARY":
            if any(i.kind == "PRIMARY" for i in tdef.indexes):
                raise _ApplyError("a second PRIMARY KEY")
            name: str | None = "PRIMARY"
            for col, _ in parts:
                if col is not None:
                    tdef.column(col).nullable = False  # type: ignore[union-attr]
        else:
            name = key.name
            if name is not None and name.lower() in names:
                if key.if_not_exists:
                    return
                raise _ApplyError(f"duplicate key name {name!r}")
            if name is None:
                # the server names an unnamed key after its first column: a, a_2, a_3 ...
                base = next((c for c, _ in parts if c is not None), "functional_index")
                name, n = base, 2
                while name.lower() in names:
                    name, n = f"{base}_{n}", n + 1
        if functional and self.dialect.hidden_functional_columns:
            # MySQL 8 keeps each expression key part as a hidden virtual column, placed after the
            # columns the table has at that moment; it is in every TABLE_MAP (not in row images)
            exprs = list(key.expressions) + [""] * len(functional)
            for k, i in enumerate(functional):
                hidden = f"!hidden!{name}!{i}!0"
                tdef.columns.append(
                    ColumnDef(hidden, "", "functional", generated="VIRTUAL", expression=exprs[k], invisible=True)
                )
                parts[i] = (hidden, None)
        tdef.indexes.append(IndexDef(key.kind, name, parts))

    def _position(self, tdef: TableDef, pos: D.ColumnPosition | None, default: int) -> int:
        if pos is None:
            return default
        if pos.first:
            return 0
        i = tdef.column_index(pos.after or "")
        if i is None:
            raise _ApplyError(f"AFTER unknown column {pos.after!r}")
        return i + 1

    def _rename_in_keys(self, tdef: TableDef, old: str, new: str | None) -> None:
        """Follow a column rename (``new``) or drop (``None``) into the keys; a key left with no
        column is dropped, as the server does."""
        low = old.lower()
        keep = []
        for idx in tdef.indexes:
            if new is None:
                parts = [(c, p) for c, p in idx.parts if c is None or c.lower() != low]
                if not any(c is not None for c, _ in parts):
                    continue
            else:
                parts = [(new if c is not None and c.lower() == low else c, p) for c, p in idx.parts]
            idx.parts = parts
            keep.append(idx)
        tdef.indexes = keep

    def _alter(self, t: TableDef, a: D.AlterAction) -> None:
        if isinstance(a, D.AddColumn):
            if t.column_index(a.spec.name) is not None:
                if a.if_not_exists:
                    return
                raise _ApplyError(f"ADD of existing column {a.spec.name!r}")
            col = self._column(a.spec, t)
            t.columns.insert(self._position(t, a.position, len(t.columns)), col)
            self._inline_keys(a.spec, t)
        elif isinstance(a, D.DropColumn):
            i = t.column_index(a.name)
            if i is None:
                if a.if_exists:
                    return
                raise _ApplyError(f"DROP of unknown column {a.name!r}")
            del t.columns[i]
            self._rename_in_keys(t, a.name, None)
        elif isinstance(a, D.ModifyColumn):
            i = t.column_index(a.old)
            if i is None:
                if a.if_exists:
                    return
                raise _ApplyError(f"MODIFY/CHANGE of unknown column {a.old!r}")
            old = t.columns.pop(i)
            if a.spec.name.lower() != old.name.lower() and t.column_index(a.spec.name) is not None:
                raise _ApplyError(f"CHANGE to existing column name {a.spec.name!r}")
            col = self._column(a.spec, t)
            t.columns.insert(self._position(t, a.position, i), col)
            if old.name != col.name:
                self._rename_in_keys(t, old.name, col.name)
            if any(i.kind == "PRIMARY" and any(c == col.name for c, _ in i.parts) for i in t.indexes):
                col.nullable = False
            self._inline_keys(a.spec, t)
        elif isinstance(a, D.RenameColumn):
            c = t.column(a.old)
            if c is None:
                raise _ApplyError(f"RENAME of unknown column {a.old!r}")
            if a.new.lower() != a.old.lower() and t.column_index(a.new) is not None:
                raise _ApplyError(f"RENAME to existing column {a.new!r}")
            old_name = c.name
            c.name = a.new
            self._rename_in_keys(t, old_name, a.new)
        elif isinstance(a, D.SetColumnVisibility):
            c = t.column(a.name)
            if c is None:
                raise _ApplyError(f"ALTER of unknown column {a.name!r}")
            c.invisible = a.invisible
        elif isinstance(a, D.AddKey):
            self._add_key(t, a.key)
        elif isinstance(a, D.DropKey):
            want = a.name.lower()
            for k, idx in enumerate(t.indexes):
                if (idx.name or "").lower() == want or (want == "primary" and idx.kind == "PRIMARY"):
                    del t.indexes[k]
                    prefix = f"!hidden!{idx.name}!".lower()
                    t.columns = [c for c in t.columns if not c.name.lower().startswith(prefix)]
                    return
            if not (a.if_exists or a.constraint):
                raise _ApplyError(f"DROP of unknown key {a.name!r}")
        elif isinstance(a, D.RenameKey):
            for idx in t.indexes:
                if (idx.name or "").lower() == a.old.lower():
                    old_prefix = f"!hidden!{idx.name}!"
                    for c in t.columns:
                        if c.name.lower().startswith(old_prefix.lower()):
                            new_name = f"!hidden!{a.new}!" + c.name[len(old_prefix) :]
                            self._rename_in_keys(t, c.name, new_name)
                            c.name = new_name
                    idx.name = a.new
                    return
            raise _ApplyError(f"RENAME of unknown key {a.old!r}")
        elif isinstance(a, D.RenameTo):
            pass  # handled by the caller
        elif isinstance(a, D.TableCharset):
            t.charset, t.collation = self._charset_pair(a.charset, a.collation, (t.charset, t.collation))
        elif isinstance(a, D.ConvertCharset):
            self._convert(t, a)
        elif isinstance(a, D.SystemVersioning):
            self._versioning(t, a.add)
        elif isinstance(a, D.UnsupportedAction):
            raise _ApplyError(a.text)
        else:  # pragma: no cover - the union is closed
            raise _ApplyError(f"unknown action {a!r}")

    def _versioning(self, t: TableDef, add: bool) -> None:
        """MariaDB system versioning: without an explicit PERIOD FOR SYSTEM_TIME the server adds
        invisible ``row_start``/``row_end`` TIMESTAMP(6) columns (absent from information_schema,
        present in the binlog) and appends the row end to the primary and unique keys."""
        if not add:
            ends = [c.name for c in t.columns if c.generated in ("ROW START", "ROW END")]
            t.columns = [c for c in t.columns if c.generated not in ("ROW START", "ROW END")]
            for name in ends:
                self._rename_in_keys(t, name, None)
            t.versioned = False
            return
        t.versioned = True
        end = next((c for c in t.columns if c.generated == "ROW END"), None)
        if end is None:
            for name, gen in (("row_start", "ROW START"), ("row_end", "ROW END")):
                if t.column_index(name) is not None:
                    raise _ApplyError(f"system versioning needs a {name} column name")
                t.columns.append(
                    ColumnDef(name, "timestamp(6)", "timestamp", nullable=False, scale=6, generated=gen, invisible=True)
                )
            end = t.columns[-1]
        for idx in t.indexes:
            if idx.kind in ("PRIMARY", "UNIQUE") and all((c or "").lower() != end.name.lower() for c, _ in idx.parts):
                idx.parts.append((end.name, None))

    def _convert(self, t: TableDef, a: D.ConvertCharset) -> None:
        cs, coll = self._charset_pair(a.charset, a.collation, (t.charset, t.collation))
        t.charset, t.collation = cs, coll
        for c in t.columns:
            if c.charset is None or c.charset == "binary":
                continue
            if cs == "binary":
                if c.data_type in TEXTS:
                    c.data_type = c.column_type = TEXT_SIZES[TEXTS[c.data_type]][1]
                elif c.data_type in ("char", "varchar"):
                    c.data_type = "binary" if c.data_type == "char" else "varbinary"
                    c.column_type = f"{c.data_type}({c.length})"
                c.charset = c.collation = None
                if c.data_type in ("enum", "set"):
                    c.charset = c.collation = "binary"
                continue
            if c.data_type in TEXTS:
                c.data_type = c.column_type = convert_text_type(c, cs or "", self.charsets)
            c.charset, c.collation = cs, coll

    # --- snapshots -----------------------------------------------------------------------------
    def dump(self) -> tuple[dict[str, str], dict[str, Any]]:
        """canal's meta_snapshot layout: ``{schema: "CREATE TABLE ...; \\n..."}`` plus what DDL text
        cannot carry (database charsets, uncertain tables)."""
        data: dict[str, str] = {}
        databases: dict[str, list[str | None]] = {}
        uncertain: list[list[str]] = []
        for db in self.databases.values():
            databases[db.name] = [db.charset, db.collation]
            parts = []
            for t in db.tables.values():
                if t.columns:
                    parts.append(t.to_ddl() + "; \n")
                if t.uncertain:
                    uncertain.append([t.schema, t.name, t.uncertain])
            data[db.name] = "".join(parts)
        return data, {"databases": databases, "uncertain": uncertain}

    def load(self, data: dict[str, str], extra: dict[str, Any]) -> None:
        self.clear()
        for name, (cs, coll) in (extra.get("databases") or {}).items():
            self.set_database(name, cs, coll)
        for schema, text in data.items():
            self._db(schema)
            if not text.strip():
                continue
            res = self.apply_sql(text, schema)
            if res.uncertain:
                raise SchemaHistoryError(f"snapshot DDL of {schema} does not read back: {'; '.join(res.notes)}")
        for schema, table, reason in extra.get("uncertain") or []:
            cur = self.get(schema, table)
            base = cur.copy() if cur is not None else TableDef(schema, table)
            base.uncertain = reason
            self.put(base)
