"""A DDL interpreter for MySQL and MariaDB, built on a tokenizer of its own.

Why not a SQL parser library: before writing this, sqlglot (30.x, MySQL dialect) and simple-ddl-parser
(1.13) were run on real MariaDB 10.11 DDL and on ``SHOW CREATE TABLE`` output. sqlglot fails on plain
``SHOW CREATE TABLE`` text (a ``point`` column, ``national varchar``, ``inet6``, a partition clause with
``ENGINE = InnoDB``), reads ``int8`` as TINYINT (MySQL: BIGINT), rejects ``ADD COLUMN (a int, b int)``
and turns ``RENAME TABLE`` and ``CONVERT TO CHARACTER SET`` into opaque commands; it also rewrites
type names, while the schema history needs the text as written to rebuild the server's
``COLUMN_TYPE``. simple-ddl-parser fails on backtick-escaped names and on CHECK clauses and has no
ALTER support. sqlparse only tokenizes. No library handled the statements the history lives on, so
this module tokenizes MySQL's lexical rules (backticks, '' and backslash escapes, ``/*!NNNNN ...*/``
executable comments, ``_charset'...'`` introducers) and interprets exactly the DDL that changes a
table's shape. Everything else about a statement (defaults, comments, table and index options,
partitioning) is skipped by balanced-parenthesis rules, because the binlog's column layout does not
depend on it.

The interpreter never guesses: a schema statement it cannot follow becomes an :class:`Unparsed`
operation naming the tables it may have changed, and the history marks those tables uncertain
(see :mod:`pycanal.schema.history` for what happens next).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

from .tables import TypeSpec, canonical_charset, canonical_collation

# sql_mode bits that change how a statement reads (MySQL and MariaDB share them)
MODE_REAL_AS_FLOAT = 1 << 0
MODE_ANSI_QUOTES = 1 << 2
MODE_ORACLE = 1 << 9
MODE_NO_BACKSLASH_ESCAPES = 1 << 20


class DdlSyntaxError(Exception):
    """Internal: the statement does not read as the DDL grammar expects. Never leaves this module."""


# --------------------------------------------------------------------------------------------------
# Tokens


class Token(NamedTuple):
    kind: str  # "word", "ident" (quoted name), "string", "number", "op", "var"
    value: str  # word as written; quoted name or string unescaped; operator text
    start: int
    end: int

    def kw(self, *words: str) -> bool:
        return self.kind == "word" and self.value.upper() in words


_WORD_CH = r"0-9A-Za-z_$\u0080-\uffff"
_SPACE = re.compile(r"\s+")
_LINE_COMMENT = re.compile(r"(?:--(?=\s|$)|#)[^\n]*")
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_EXEC_COMMENT = re.compile(r"/\*M?!\d*")
_NUMBER = re.compile(rf"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![{_WORD_CH}])")
_WORD = re.compile(rf"[{_WORD_CH}]+")
_VAR = re.compile(rf"@@?(?:[{_WORD_CH}.]+|`(?:[^`]|``)*`|'(?:[^'\\]|\\.|'')*')")
_PREFIXED_STRING = re.compile(r"[xXbBnN]'")
_OPS = ("<=>", "->>", "<=", ">=", "<>", "!=", ":=", "||", "&&", "<<", ">>", "->")
_ESCAPES = {"0": "\0", "'": "'", '"': '"', "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "\\": "\\"}


def tokenize(sql: str, *, ansi_quotes: bool = False, backslash_escapes: bool = True) -> list[Token]:
    """Split ``sql`` into tokens. Comments are dropped; the body of ``/*!...*/`` and ``/*M!...*/`` is
    kept, as the server executes it."""
    out: list[Token] = []
    i, n = 0, len(sql)
    in_exec = False
    while i < n:
        ch = sql[i]
        m = _SPACE.match(sql, i)
        if m:
            i = m.end()
            continue
        if in_exec and sql.startswith("*/", i):
            in_exec = False
            i += 2
            continue
        if ch == "/" and sql.startswith("/*", i):
            m = _EXEC_COMMENT.match(sql, i)
            if m and not in_exec:
                in_exec = True
                i = m.end()
                continue
            m = _BLOCK_COMMENT.match(sql, i)
            if not m:
                raise DdlSyntaxError("unterminated comment")
            i = m.end()
            continue
        if ch in "-#":
            m = _LINE_COMMENT.match(sql, i)
            if m:
                i = m.end()
                continue
        if ch == "`" or (ch == '"' and ansi_quotes):
            j = i + 1
            buf = []
            while True:
                k = sql.find(ch, j)
                if k < 0:
                    raise DdlSyntaxError("unterminated quoted name")
                buf.append(sql[j:k])
                if sql.startswith(ch * 2, k):
                    buf.append(ch)
                    j = k + 2
                    continue
                j = k + 1
                break
            out.append(Token("ident", "".join(buf), i, j))
            i = j
            continue
        if ch in "'\"" or (_PREFIXED_STRING.match(sql, i) and i + 1 < n):
            start = i
            if ch not in "'\"":
                i += 1
                ch = "'"
            value, i = _read_string(sql, i, backslash_escapes)
            out.append(Token("string", value, start, i))
            continue
        m = _NUMBER.match(sql, i)
        if m:
            out.append(Token("number", m.group(), i, m.end()))
            i = m.end()
            continue
        m = _WORD.match(sql, i)
        if m:
            out.append(Token("word", m.group(), i, m.end()))
            i = m.end()
            continue
        if ch == "@":
            m = _VAR.match(sql, i)
            if m:
                out.append(Token("var", m.group(), i, m.end()))
                i = m.end()
                continue
        for op in _OPS:
            if sql.startswith(op, i):
                out.append(Token("op", op, i, i + len(op)))
                i += len(op)
                break
        else:
            out.append(Token("op", ch, i, i + 1))
            i += 1
    return out


def _read_string(sql: str, i: int, backslash_escapes: bool) -> tuple[str, int]:
    quote = sql[i]
    j = i + 1
    buf: list[str] = []
    n = len(sql)
    while j < n:
        c = sql[j]
        if c == "\\" and backslash_escapes and j + 1 < n:
            nxt = sql[j + 1]
            # \% and \_ keep their backslash (LIKE patterns); others map or drop the backslash
            buf.append("\\" + nxt if nxt in "%_" else _ESCAPES.get(nxt, nxt))
            j += 2
            continue
        if c == quote:
            if j + 1 < n and sql[j + 1] == quote:
                buf.append(quote)
                j += 2
                continue
            return "".join(buf), j + 1
        buf.append(c)
        j += 1
    raise DdlSyntaxError("unterminated string")


# --------------------------------------------------------------------------------------------------
# Operations


class QName(NamedTuple):
    schema: str | None
    name: str


@dataclass(slots=True)
class ColumnSpec:
    name: str
    type: TypeSpec
    nullable: bool | None = None
    primary: bool = False
    unique: bool = False
    auto_increment: bool = False
    generated: str | None = None
    expression: str | None = None
    invisible: bool = False


@dataclass(slots=True)
class KeySpec:
    kind: str  # PRIMARY, UNIQUE, KEY, FULLTEXT, SPATIAL, FOREIGN, CHECK
    name: str | None
    parts: list[tuple[str | None, int | None]]
    if_not_exists: bool = False
    expressions: list[str] = field(default_factory=list)  # text of the (expr) parts, in order


@dataclass(slots=True)
class ColumnPosition:
    first: bool = False
    after: str | None = None


# ALTER TABLE actions
@dataclass(slots=True)
class AddColumn:
    spec: ColumnSpec
    position: ColumnPosition | None = None
    if_not_exists: bool = False


@dataclass(slots=True)
class DropColumn:
    name: str
    if_exists: bool = False


@dataclass(slots=True)
class ModifyColumn:
    old: str  # equal to spec.name for MODIFY
    spec: ColumnSpec
    position: ColumnPosition | None = None
    if_exists: bool = False


@dataclass(slots=True)
class RenameColumn:
    old: str
    new: str


@dataclass(slots=True)
class SetColumnVisibility:
    name: str
    invisible: bool


@dataclass(slots=True)
class AddKey:
    key: KeySpec


@dataclass(slots=True)
class DropKey:
    name: str  # "PRIMARY" for the primary key
    if_exists: bool = False
    constraint: bool = False  # DROP CONSTRAINT: a key only if one has that name


@dataclass(slots=True)
class RenameKey:
    old: str
    new: str


@dataclass(slots=True)
class RenameTo:
    name: QName


@dataclass(slots=True)
class TableCharset:
    charset: str | None
    collation: str | None


@dataclass(slots=True)
class ConvertCharset:
    charset: str
    collation: str | None


@dataclass(slots=True)
class SystemVersioning:
    """MariaDB ADD / DROP SYSTEM VERSIONING: the hidden row_start/row_end columns come or go."""

    add: bool


@dataclass(slots=True)
class UnsupportedAction:
    text: str


AlterAction = (
    AddColumn
    | DropColumn
    | ModifyColumn
    | RenameColumn
    | SetColumnVisibility
    | AddKey
    | DropKey
    | RenameKey
    | RenameTo
    | TableCharset
    | ConvertCharset
    | SystemVersioning
    | UnsupportedAction
)


# statements
@dataclass(slots=True)
class CreateTable:
    name: QName
    columns: list[ColumnSpec] = field(default_factory=list)
    keys: list[KeySpec] = field(default_factory=list)
    charset: str | None = None
    collation: str | None = None
    if_not_exists: bool = False
    or_replace: bool = False
    like: QName | None = None
    sequence: bool = False
    unsupported: str | None = None  # why the resulting shape cannot be known (CREATE ... SELECT)
    system_versioning: bool = False  # MariaDB WITH SYSTEM VERSIONING


@dataclass(slots=True)
class CreateSequence:
    name: QName
    if_not_exists: bool = False


@dataclass(slots=True)
class DropTables:
    names: list[QName]


@dataclass(slots=True)
class RenameTables:
    pairs: list[tuple[QName, QName]]


@dataclass(slots=True)
class TruncateTable:
    name: QName


@dataclass(slots=True)
class AlterTable:
    name: QName
    actions: list[AlterAction]


@dataclass(slots=True)
class CreateDatabase:
    name: str
    charset: str | None = None
    collation: str | None = None
    if_not_exists: bool = False


@dataclass(slots=True)
class AlterDatabase:
    name: str | None
    charset: str | None = None
    collation: str | None = None


@dataclass(slots=True)
class DropDatabase:
    name: str


@dataclass(slots=True)
class UseSchema:
    """``USE db`` inside a statement text: the default database of what follows."""

    name: str


@dataclass(slots=True)
class Unparsed:
    """A statement that may change table shapes and could not be interpreted."""

    reason: str
    tables: list[QName]


@dataclass(slots=True)
class Ignored:
    """A statement that changes no table shape (DML, views, users, ...)."""

    what: str


Operation = (
    CreateTable
    | CreateSequence
    | DropTables
    | RenameTables
    | TruncateTable
    | AlterTable
    | CreateDatabase
    | AlterDatabase
    | DropDatabase
    | UseSchema
    | Unparsed
    | Ignored
)


# canal's event type for a statement (EntryProtocol EventType names)
def sql_type(op: Operation) -> str:
    if isinstance(op, (CreateTable, CreateSequence, CreateDatabase)):
        return "CREATE"
    if isinstance(op, (DropTables, DropDatabase)):
        return "ERASE"
    if isinstance(op, RenameTables):
        return "RENAME"
    if isinstance(op, TruncateTable):
        return "TRUNCATE"
    if isinstance(op, AlterTable):
        if op.actions and all(isinstance(a, AddKey) for a in op.actions):
            return "CINDEX"
        if op.actions and all(isinstance(a, DropKey) for a in op.actions):
            return "DINDEX"
        return "ALTER"
    return "QUERY"


# --------------------------------------------------------------------------------------------------
# Parser

_NON_TABLE_OBJECTS = frozenset(
    (
        "VIEW",
        "TRIGGER",
        "PROCEDURE",
        "FUNCTION",
        "EVENT",
        "USER",
        "ROLE",
        "SERVER",
        "TABLESPACE",
        "LOGFILE",
        "DEFINER",
        "ALGORITHM",
        "SQL",
        "AGGREGATE",
        "PACKAGE",
        "RESOURCE",
        "INSTANCE",
        "SYNONYM",
        "SPATIAL_REFERENCE_SYSTEM",
        "UNDO",
    )
)
_KEY_START = frozenset(
    (
        "PRIMARY",
        "UNIQUE",
        "INDEX",
        "KEY",
        "FULLTEXT",
        "SPATIAL",
        "CONSTRAINT",
        "FOREIGN",
        "CHECK",
    )
)
_TABLE_OPTION_WORDS = frozenset(
    (
        "ENGINE",
        "AUTO_INCREMENT",
        "AVG_ROW_LENGTH",
        "CHECKSUM",
        "TABLE_CHECKSUM",
        "COMMENT",
        "COMPRESSION",
        "CONNECTION",
        "DATA",
        "DELAY_KEY_WRITE",
        "ENCRYPTION",
        "ENCRYPTED",
        "ENCRYPTION_KEY_ID",
        "INSERT_METHOD",
        "KEY_BLOCK_SIZE",
        "MAX_ROWS",
        "MIN_ROWS",
        "PACK_KEYS",
        "PASSWORD",
        "ROW_FORMAT",
        "STATS_AUTO_RECALC",
        "STATS_PERSISTENT",
        "STATS_SAMPLE_PAGES",
        "TABLESPACE",
        "UNION",
        "PAGE_CHECKSUM",
        "PAGE_COMPRESSED",
        "PAGE_COMPRESSION_LEVEL",
        "TRANSACTIONAL",
        "IETF_QUOTES",
        "ENGINE_ATTRIBUTE",
        "SECONDARY_ENGINE",
        "SECONDARY_ENGINE_ATTRIBUTE",
        "AUTOEXTEND_SIZE",
        "STORAGE",
        "TYPE",
        "START",
    )
)
_PARTITION_WORDS = frozenset(
    (
        "PARTITION",
        "PARTITIONS",
        "REMOVE",
        "COALESCE",
        "REORGANIZE",
        "EXCHANGE",
        "ANALYZE",
        "OPTIMIZE",
        "REBUILD",
        "REPAIR",
        "TRUNCATE",
        "DISCARD",
        "IMPORT",
    )
)
_TYPE_ALIASES = {
    "integer": "int",
    "int1": "tinyint",
    "int2": "smallint",
    "int3": "mediumint",
    "middleint": "mediumint",
    "int4": "int",
    "int8": "bigint",
    "dec": "decimal",
    "numeric": "decimal",
    "fixed": "decimal",
    "float4": "float",
    "float8": "double",
    "character": "char",
    "varcharacter": "varchar",
    "nvarchar": "varchar",
    "nchar": "char",
}
_KNOWN_TYPES = frozenset(
    (
        "tinyint",
        "smallint",
        "mediumint",
        "int",
        "bigint",
        "decimal",
        "float",
        "double",
        "bit",
        "date",
        "time",
        "datetime",
        "timestamp",
        "year",
        "char",
        "varchar",
        "binary",
        "varbinary",
        "tinytext",
        "text",
        "mediumtext",
        "longtext",
        "tinyblob",
        "blob",
        "mediumblob",
        "longblob",
        "json",
        "enum",
        "set",
        "geometry",
        "point",
        "linestring",
        "polygon",
        "multipoint",
        "multilinestring",
        "multipolygon",
        "geometrycollection",
    )
)
_COLUMN_END = frozenset(["FIRST", "AFTER"])


class _Parser:
    def __init__(self, tokens: list[Token], sql: str, sql_mode: int) -> None:
        self.toks = tokens
        self.sql = sql
        self.pos = 0
        self.sql_mode = sql_mode

    # --- cursor --------------------------------------------------------------------------------
    def peek(self, k: int = 0) -> Token | None:
        j = self.pos + k
        return self.toks[j] if j < len(self.toks) else None

    def at_end(self) -> bool:
        return self.pos >= len(self.toks)

    def at_kw(self, *words: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t is not None and t.kw(*words)

    def at_op(self, op: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t is not None and t.kind == "op" and t.value == op

    def take(self) -> Token:
        t = self.peek()
        if t is None:
            raise DdlSyntaxError("statement ends too early")
        self.pos += 1
        return t

    def accept_kw(self, *words: str) -> bool:
        if self.at_kw(*words):
            self.pos += 1
            return True
        return False

    def accept_seq(self, *words: str) -> bool:
        for k, w in enumerate(words):
            if not self.at_kw(w, k=k):
                return False
        self.pos += len(words)
        return True

    def expect_kw(self, *words: str) -> str:
        t = self.take()
        if not t.kw(*words):
            raise DdlSyntaxError(f"expected {'/'.join(words)}, found {t.value!r}")
        return t.value.upper()

    def accept_op(self, op: str) -> bool:
        if self.at_op(op):
            self.pos += 1
            return True
        return False

    def expect_op(self, op: str) -> None:
        t = self.take()
        if t.kind != "op" or t.value != op:
            raise DdlSyntaxError(f"expected {op!r}, found {t.value!r}")

    def ident(self) -> str:
        t = self.take()
        if t.kind in ("word", "ident"):
            return t.value
        if t.kind == "string" and not (self.sql_mode & MODE_ANSI_QUOTES):
            return t.value  # 'name' is accepted for a few names (charsets, engines)
        raise DdlSyntaxError(f"expected a name, found {t.value!r}")

    def qname(self) -> QName:
        first = self.ident()
        if self.at_op("."):
            self.pos += 1
            return QName(first, self.ident())
        # `db`.`t` written as one word "db.t" cannot occur: '.' is never a word character
        return QName(None, first)

    def skip_group(self) -> tuple[int, int]:
        """Skip a parenthesized group; returns the text span inside it."""
        self.expect_op("(")
        start = self.toks[self.pos - 1].end
        depth = 1
        while True:
            t = self.take()
            if t.kind == "op":
                if t.value == "(":
                    depth += 1
                elif t.value == ")":
                    depth -= 1
                    if depth == 0:
                        return start, t.start

    def skip_to_separator(self) -> None:
        """Skip to the next ',' or ')' at this nesting level (not consuming it), or to the end."""
        while not self.at_end():
            if self.at_op(",") or self.at_op(")") or self.at_op(";"):
                return
            if self.at_op("("):
                self.skip_group()
            else:
                self.pos += 1

    def skip_value(self) -> None:
        """Skip one value: a literal, a name, a function call or a parenthesized expression."""
        while self.at_op("-") or self.at_op("+"):
            self.pos += 1
        t = self.peek()
        if t is None:
            raise DdlSyntaxError("value expected")
        if t.kind == "op" and t.value == "(":
            self.skip_group()
            return
        self.pos += 1
        if t.kind == "string":
            while self.peek() is not None and self.peek().kind == "string":  # type: ignore[union-attr]
                self.pos += 1
            return
        if t.kind == "word":
            if t.value.upper() == "NEXT" and self.at_kw("VALUE"):
                self.pos += 1
                self.expect_kw("FOR")
                self.qname()
                return
            nxt = self.peek()
            if nxt is not None and nxt.kind == "string":  # _utf8mb4'x'
                self.pos += 1
            elif self.at_op("("):
                self.skip_group()
            elif self.at_op("."):  # a qualified name
                self.pos += 1
                self.ident()

    def name_value(self) -> str:
        """A charset/collation/engine name after an optional '='."""
        self.accept_op("=")
        t = self.take()
        if t.kind in ("word", "ident", "string"):
            return t.value
        raise DdlSyntaxError(f"name expected, found {t.value!r}")

    # --- statements ----------------------------------------------------------------------------
    def statement(self) -> Operation:
        t = self.peek()
        if t is None:
            return Ignored("empty")
        if t.kind != "word":
            return Ignored(t.value)
        word = t.value.upper()
        try:
            if word == "CREATE":
                self.pos += 1
                return self.create()
            if word == "ALTER":
                self.pos += 1
                return self.alter()
            if word == "DROP":
                self.pos += 1
                return self.drop()
            if word == "RENAME":
                self.pos += 1
                return self.rename()
            if word == "USE":
                self.pos += 1
                name = self.ident()
                self.expect_end()
                return UseSchema(name)
            if word == "TRUNCATE":
                self.pos += 1
                self.accept_kw("TABLE")
                table = self.qname()
                self.skip_wait()
                self.expect_end()
                return TruncateTable(table)
        except DdlSyntaxError as exc:
            return Unparsed(str(exc), self.guess_tables())
        return Ignored(word)

    def expect_end(self) -> None:
        if not self.at_end():
            raise DdlSyntaxError(f"unexpected {self.peek().value!r}")  # type: ignore[union-attr]

    def skip_wait(self) -> None:
        if self.accept_kw("WAIT"):
            self.take()
        else:
            self.accept_kw("NOWAIT")

    def guess_tables(self) -> list[QName]:
        """The table names of a statement that failed to parse, read from its fixed prefix."""
        p = _Parser(self.toks, self.sql, self.sql_mode)
        try:
            first = p.take().value.upper()
            while p.accept_kw(
                "OR", "REPLACE", "TEMPORARY", "ONLINE", "OFFLINE", "IGNORE", "UNIQUE", "FULLTEXT", "SPATIAL"
            ):
                pass
            kind = p.take().value.upper()
            if kind in ("TABLE", "TABLES", "SEQUENCE"):
                p.accept_seq("IF", "NOT", "EXISTS") or p.accept_seq("IF", "EXISTS")
                names = [p.qname()]
                if first in ("DROP", "RENAME"):
                    while True:
                        if (first == "RENAME" and p.accept_kw("TO")) or p.accept_op(","):
                            names.append(p.qname())
                        else:
                            break
                return names
            if kind == "INDEX":
                p.accept_seq("IF", "NOT", "EXISTS") or p.accept_seq("IF", "EXISTS")
                p.ident()
                while not p.at_end() and not p.at_kw("ON"):
                    p.pos += 1
                p.expect_kw("ON")
                return [p.qname()]
            if first == "TRUNCATE":
                return [QName(None, kind)] if kind != "TABLE" else [p.qname()]
        except DdlSyntaxError:
            pass
        return []

    def create(self) -> Operation:
        or_replace = self.accept_seq("OR", "REPLACE")
        self.accept_kw("ONLINE", "OFFLINE")
        if self.accept_kw("TEMPORARY"):
            return Ignored("CREATE TEMPORARY TABLE")
        if self.accept_kw("TABLE"):
            return self.create_table(or_replace)
        if self.accept_kw("DATABASE", "SCHEMA"):
            ine = self.accept_seq("IF", "NOT", "EXISTS")
            name = self.ident()
            cs, coll = self.database_options()
            return CreateDatabase(name, cs, coll, ine)
        if self.at_kw("UNIQUE", "FULLTEXT", "SPATIAL", "INDEX"):
            return self.create_index()
        if self.accept_kw("SEQUENCE"):
            ine = self.accept_seq("IF", "NOT", "EXISTS")
            return CreateSequence(self.qname(), ine)
        if self.at_kw(*_NON_TABLE_OBJECTS) or self.at_kw("DEFINER"):
            return Ignored("CREATE " + self.peek().value.upper())  # type: ignore[union-attr]
        raise DdlSyntaxError(f"unrecognized CREATE {self.peek().value if self.peek() else ''}")  # type: ignore

    def alter(self) -> Operation:
        while self.accept_kw("ONLINE", "OFFLINE", "IGNORE"):
            pass
        if self.accept_kw("TABLE"):
            return self.alter_table()
        if self.accept_kw("DATABASE", "SCHEMA"):
            name: str | None = None
            if not self.at_end() and not self.at_kw(
                "DEFAULT", "CHARACTER", "CHARSET", "COLLATE", "COMMENT", "READ", "ENCRYPTION", "UPGRADE"
            ):
                name = self.ident()
            if self.accept_kw("UPGRADE"):
                return Ignored("ALTER DATABASE UPGRADE")
            cs, coll = self.database_options()
            return AlterDatabase(name, cs, coll)
        if self.accept_kw("SEQUENCE"):
            return Ignored("ALTER SEQUENCE")
        if self.at_kw(*_NON_TABLE_OBJECTS) or self.at_kw("DEFINER", "EVENT"):
            return Ignored("ALTER " + self.peek().value.upper())  # type: ignore[union-attr]
        raise DdlSyntaxError(f"unrecognized ALTER {self.peek().value if self.peek() else ''}")  # type: ignore

    def drop(self) -> Operation:
        if self.accept_kw("TEMPORARY"):
            return Ignored("DROP TEMPORARY TABLE")
        if self.accept_kw("TABLE", "TABLES", "SEQUENCE", "SEQUENCES"):
            self.accept_seq("IF", "EXISTS")
            names = [self.qname()]
            while self.accept_op(","):
                names.append(self.qname())
            self.skip_wait()
            self.accept_kw("RESTRICT", "CASCADE")
            self.expect_end()
            return DropTables(names)
        if self.accept_kw("DATABASE", "SCHEMA"):
            self.accept_seq("IF", "EXISTS")
            name = self.ident()
            self.expect_end()
            return DropDatabase(name)
        if self.accept_kw("INDEX"):
            self.accept_kw("ONLINE", "OFFLINE")
            ie = self.accept_seq("IF", "EXISTS")
            idx = self.ident()
            self.expect_kw("ON")
            table = self.qname()
            return AlterTable(table, [DropKey("PRIMARY" if idx.upper() == "PRIMARY" else idx, ie)])
        if self.at_kw(*_NON_TABLE_OBJECTS) or self.at_kw("PREPARE"):
            return Ignored("DROP " + self.peek().value.upper())  # type: ignore[union-attr]
        raise DdlSyntaxError(f"unrecognized DROP {self.peek().value if self.peek() else ''}")  # type: ignore

    def rename(self) -> Operation:
        if self.accept_kw("TABLE", "TABLES"):
            self.accept_seq("IF", "EXISTS")
            pairs = []
            while True:
                old = self.qname()
                self.skip_wait()
                self.expect_kw("TO")
                pairs.append((old, self.qname()))
                if not self.accept_op(","):
                    break
            self.expect_end()
            return RenameTables(pairs)
        if self.at_kw("USER"):
            return Ignored("RENAME USER")
        raise DdlSyntaxError("unrecognized RENAME")

    def database_options(self) -> tuple[str | None, str | None]:
        cs = coll = None
        while not self.at_end():
            if self.accept_kw("DEFAULT") or self.accept_op(","):
                continue
            if self.accept_seq("CHARACTER", "SET") or self.accept_kw("CHARSET"):
                cs = canonical_charset(self.name_value())
            elif self.accept_kw("COLLATE"):
                coll = canonical_collation(self.name_value())
            elif self.accept_kw("COMMENT", "ENCRYPTION"):
                self.accept_op("=")
                self.take()
            elif self.accept_kw("READ"):
                self.accept_kw("ONLY")
                self.accept_op("=")
                self.take()
            else:
                raise DdlSyntaxError(f"unknown database option {self.peek().value!r}")  # type: ignore
        return cs, coll

    # --- CREATE TABLE --------------------------------------------------------------------------
    def create_table(self, or_replace: bool) -> Operation:
        ine = self.accept_seq("IF", "NOT", "EXISTS")
        name = self.qname()
        op = CreateTable(name, if_not_exists=ine, or_replace=or_replace)
        if self.accept_kw("LIKE"):
            op.like = self.qname()
            self.expect_end()
            return op
        if self.at_op("(") and self.at_kw("LIKE", k=1):
            self.pos += 2
            op.like = self.qname()
            self.expect_op(")")
            self.expect_end()
            return op
        if self.at_op("(") and not self.at_kw("SELECT", "WITH", "VALUES", "TABLE", k=1):
            self.pos += 1
            while True:
                self.table_element(op)
                if self.accept_op(","):
                    continue
                self.expect_op(")")
                break
        else:
            op.unsupported = "CREATE TABLE without a column list"
        self.table_options(op)
        return op

    def table_element(self, op: CreateTable) -> None:
        if self.at_kw(*_KEY_START) or (self.at_kw("PERIOD") and self.at_kw("FOR", k=1)):
            key = self.key_definition()
            if key is not None:
                op.keys.append(key)
            return
        op.columns.append(self.column_definition())

    def table_options(self, op: CreateTable) -> None:
        while not self.at_end():
            if self.accept_op(",") or self.accept_kw("DEFAULT"):
                continue
            if self.accept_seq("CHARACTER", "SET") or self.accept_kw("CHARSET"):
                op.charset = canonical_charset(self.name_value())
            elif self.accept_kw("COLLATE"):
                op.collation = canonical_collation(self.name_value())
            elif self.accept_kw("SEQUENCE"):
                self.accept_op("=")
                op.sequence = self.take().value not in ("0",)
            elif self.at_kw("WITH") and self.at_kw("SYSTEM", k=1):
                self.pos += 2
                self.expect_kw("VERSIONING")
                op.system_versioning = True
            elif self.at_kw("PARTITION"):
                self.skip_rest()
            elif self.at_kw("SELECT", "AS", "IGNORE", "REPLACE", "WITH", "VALUES", "TABLE") or (
                self.at_op("(") and self.at_kw("SELECT", "WITH", "VALUES", "TABLE", k=1)
            ):
                op.unsupported = "CREATE TABLE ... SELECT"
                self.skip_rest()
            elif self.at_kw("INDEX") and self.at_kw("DIRECTORY", k=1):
                self.pos += 2
                self.accept_op("=")
                self.take()
            elif self.accept_seq("START", "TRANSACTION"):
                continue
            elif self.peek().kind in ("word", "ident"):  # type: ignore[union-attr]
                self.pos += 1
                if self.at_kw("DIRECTORY"):  # DATA DIRECTORY, INDEX DIRECTORY
                    self.pos += 1
                self.accept_op("=")
                if self.at_op("("):
                    self.skip_group()
                elif not self.at_end() and not self.at_op(","):
                    self.take()
            else:
                raise DdlSyntaxError(f"unexpected {self.peek().value!r} in table options")  # type: ignore

    def skip_rest(self) -> None:
        self.pos = len(self.toks)

    # --- columns -------------------------------------------------------------------------------
    def column_definition(self) -> ColumnSpec:
        name = self.ident()
        ts, serial = self.data_type()
        spec = ColumnSpec(name, ts)
        if serial:
            spec.nullable, spec.auto_increment, spec.unique = False, True, True
        self.column_attributes(spec)
        return spec

    def data_type(self) -> tuple[TypeSpec, bool]:
        t = self.take()
        if t.kind != "word":
            raise DdlSyntaxError(f"column type expected, found {t.value!r}")
        w = t.value.lower()
        ts = TypeSpec(w)
        serial = False
        if w == "national":
            ts.national = True
            w = self.take().value.lower()
            if w in ("char", "character") and self.accept_kw("VARYING"):
                w = "varchar"
        elif w in ("nchar", "nvarchar"):
            ts.national = True
            if w == "nchar" and self.accept_kw("VARCHAR", "VARYING"):
                w = "varchar"
        elif w in ("char", "character") and self.accept_kw("VARYING"):
            w = "varchar"
        elif w == "double":
            self.accept_kw("PRECISION")
        elif w == "real":
            w = "float" if self.sql_mode & MODE_REAL_AS_FLOAT else "double"
        elif w == "long":
            if self.accept_kw("VARBINARY"):
                w = "mediumblob"
            else:
                if self.accept_kw("CHAR", "CHARACTER"):
                    self.accept_kw("VARYING")
                else:
                    self.accept_kw("VARCHAR")
                w = "mediumtext"
        elif w in ("bool", "boolean"):
            w = "tinyint"
            ts.args = [1]
            ts.explicit_width = True
        elif w == "serial":
            w = "bigint"
            ts.unsigned = True
            serial = True
        w = _TYPE_ALIASES.get(w, w)
        ts.name = w
        if self.at_op("("):
            if w in ("enum", "set"):
                self.pos += 1
                values = []
                while True:
                    v = self.take()
                    if v.kind != "string":
                        raise DdlSyntaxError(f"{w.upper()} member must be a string, found {v.value!r}")
                    values.append(v.value)
                    while self.peek() is not None and self.peek().kind == "string":  # type: ignore[union-attr]
                        values[-1] += self.take().value
                    if self.accept_op(","):
                        continue
                    self.expect_op(")")
                    break
                ts.values = values
            elif w in _KNOWN_TYPES:
                self.pos += 1
                while True:
                    n = self.take()
                    if n.kind != "number" or not n.value.isdigit():
                        raise DdlSyntaxError(f"type argument must be a number, found {n.value!r}")
                    ts.args.append(int(n.value))
                    if self.accept_op(","):
                        continue
                    self.expect_op(")")
                    break
                ts.explicit_width = True
            else:
                a, b = self.skip_group()
                ts.raw_args = self.sql[a:b].strip()
        elif w in ("enum", "set"):
            raise DdlSyntaxError(f"{w.upper()} without members")
        if w in ("binary", "varbinary") or w in ("tinyblob", "blob", "mediumblob", "longblob"):
            ts.byte = True
        return ts, serial

    def column_attributes(self, spec: ColumnSpec) -> None:
        ts = spec.type
        while not self.at_end():
            if self.at_op(",") or self.at_op(")") or self.at_kw(*_COLUMN_END) or self.at_op(";"):
                return
            t = self.take()
            if t.kind != "word":
                raise DdlSyntaxError(f"unexpected {t.value!r} in column {spec.name!r}")
            w = t.value.upper()
            if w == "UNSIGNED":
                ts.unsigned = True
            elif w == "SIGNED":
                pass
            elif w == "ZEROFILL":
                ts.zerofill = True
            elif w == "BINARY":
                ts.binary_collation = True
            elif w == "BYTE":
                ts.byte = True
            elif w == "ASCII":
                ts.charset = "latin1"
            elif w == "UNICODE":
                ts.charset = "ucs2"
            elif w == "CHARACTER":
                self.expect_kw("SET")
                ts.charset = canonical_charset(self.name_value())
            elif w == "CHARSET":
                ts.charset = canonical_charset(self.name_value())
            elif w == "COLLATE":
                ts.collation = canonical_collation(self.name_value())
            elif w == "NOT":
                self.expect_kw("NULL")
                spec.nullable = False
            elif w == "NULL":
                spec.nullable = True
            elif w == "DEFAULT":
                self.skip_value()
            elif w == "AUTO_INCREMENT":
                spec.auto_increment = True
            elif w == "PRIMARY":
                self.expect_kw("KEY")
                spec.primary = True
            elif w == "KEY":
                spec.primary = True
            elif w == "UNIQUE":
                self.accept_kw("KEY")
                spec.unique = True
            elif w == "COMMENT":
                self.take()
            elif w == "ON":
                self.expect_kw("UPDATE", "DELETE")
                if self.accept_kw("SET"):
                    self.take()
                elif self.accept_kw("NO"):
                    self.expect_kw("ACTION")
                else:
                    self.skip_value()
            elif w == "GENERATED":
                self.expect_kw("ALWAYS")
                self.expect_kw("AS")
                self.generated(spec)
            elif w == "AS":
                self.generated(spec)
            elif w in ("VIRTUAL", "STORED", "PERSISTENT"):
                spec.generated = w
            elif w == "INVISIBLE":
                spec.invisible = True
            elif w == "VISIBLE":
                spec.invisible = False
            elif w in ("COLUMN_FORMAT", "STORAGE", "SRID"):
                self.take()
            elif w in ("ENGINE_ATTRIBUTE", "SECONDARY_ENGINE_ATTRIBUTE", "REF_SYSTEM_ID"):
                self.accept_op("=")
                self.take()
            elif w == "COMPRESSED":
                if self.accept_op("="):
                    self.take()
            elif w == "CONSTRAINT":
                if not self.at_kw("CHECK"):
                    self.ident()
            elif w == "CHECK":
                self.skip_group()
                if self.accept_kw("NOT"):
                    self.expect_kw("ENFORCED")
                else:
                    self.accept_kw("ENFORCED")
            elif w == "REFERENCES":
                self.qname()
                if self.at_op("("):
                    self.skip_group()
                if self.accept_kw("MATCH"):
                    self.take()
            elif w == "SERIAL":
                self.expect_kw("DEFAULT")
                self.expect_kw("VALUE")
                spec.nullable, spec.auto_increment, spec.unique = False, True, True
            elif w in ("WITH", "WITHOUT"):
                self.expect_kw("SYSTEM")
                self.expect_kw("VERSIONING")
            else:
                raise DdlSyntaxError(f"unknown attribute {t.value!r} of column {spec.name!r}")

    def generated(self, spec: ColumnSpec) -> None:
        if self.accept_kw("ROW"):  # MariaDB system versioning: AS ROW START / AS ROW END
            spec.generated = "ROW " + self.expect_kw("START", "END")
            return
        a, b = self.skip_group()
        spec.expression = self.sql[a:b].strip()
        spec.generated = "VIRTUAL"
        if self.at_kw("VIRTUAL", "STORED", "PERSISTENT"):
            spec.generated = self.take().value.upper()

    def position(self) -> ColumnPosition | None:
        if self.accept_kw("FIRST"):
            return ColumnPosition(first=True)
        if self.accept_kw("AFTER"):
            return ColumnPosition(after=self.ident())
        return None

    # --- keys ----------------------------------------------------------------------------------
    def key_definition(self) -> KeySpec | None:
        """A key or constraint; None for those that do not make a key (CHECK, PERIOD FOR)."""
        symbol = None
        if self.accept_kw("CONSTRAINT") and not self.at_kw("PRIMARY", "UNIQUE", "FOREIGN", "CHECK"):
            symbol = self.ident()
        if self.accept_kw("CHECK"):
            self.skip_group()
            self.skip_to_separator()
            return None
        if self.accept_kw("PERIOD"):
            self.expect_kw("FOR")
            self.skip_to_separator()
            return None
        w = self.expect_kw("PRIMARY", "UNIQUE", "INDEX", "KEY", "FULLTEXT", "SPATIAL", "FOREIGN")
        if w == "PRIMARY":
            self.expect_kw("KEY")
            kind = "PRIMARY"
        elif w in ("UNIQUE", "FULLTEXT", "SPATIAL"):
            self.accept_kw("INDEX", "KEY")
            kind = w
        elif w == "FOREIGN":
            self.expect_kw("KEY")
            kind = "FOREIGN"
        else:
            kind = "KEY"
        ine = self.accept_seq("IF", "NOT", "EXISTS")
        name = symbol
        if not self.at_op("(") and not self.at_kw("USING", "TYPE"):
            name = self.ident()
        if self.accept_kw("USING", "TYPE"):
            self.take()
        exprs: list[str] = []
        parts = self.key_parts(exprs)
        self.skip_to_separator()
        if kind == "PRIMARY":
            name = "PRIMARY"
        return KeySpec(kind, name, parts, ine, exprs)

    def key_parts(self, exprs: list[str] | None = None) -> list[tuple[str | None, int | None]]:
        """Key columns as (name, prefix length); an expression part is (None, None), its text
        appended to ``exprs``."""
        self.expect_op("(")
        parts: list[tuple[str | None, int | None]] = []
        while True:
            if self.at_op("("):
                a, b = self.skip_group()
                parts.append((None, None))
                if exprs is not None:
                    exprs.append(self.sql[a:b].strip())
            else:
                col = self.ident()
                prefix = None
                if self.accept_op("("):
                    n = self.take()
                    if n.kind != "number":
                        raise DdlSyntaxError("key prefix length must be a number")
                    prefix = int(n.value)
                    self.expect_op(")")
                parts.append((col, prefix))
            self.accept_kw("ASC", "DESC")
            if self.accept_op(","):
                continue
            self.expect_op(")")
            return parts

    def create_index(self) -> Operation:
        kind = "KEY"
        if self.at_kw("UNIQUE", "FULLTEXT", "SPATIAL"):
            kind = self.take().value.upper()
        self.expect_kw("INDEX")
        ine = self.accept_seq("IF", "NOT", "EXISTS")
        name = self.ident()
        if self.accept_kw("USING", "TYPE"):
            self.take()
        self.expect_kw("ON")
        table = self.qname()
        exprs: list[str] = []
        parts = self.key_parts(exprs)
        return AlterTable(table, [AddKey(KeySpec(kind, name, parts, ine, exprs))])

    # --- ALTER TABLE ---------------------------------------------------------------------------
    def alter_table(self) -> Operation:
        self.accept_seq("IF", "EXISTS")
        name = self.qname()
        self.skip_wait()
        actions: list[AlterAction] = []
        try:
            while not self.at_end():
                if self.accept_op(","):
                    continue
                if self.at_op(";"):
                    break
                start = self.pos
                try:
                    actions.extend(self.alter_spec())
                except DdlSyntaxError as exc:
                    self.pos = start
                    self.skip_to_separator()
                    text = self.sql[self.toks[start].start : self.toks[max(self.pos - 1, start)].end]
                    actions.append(UnsupportedAction(f"{text} ({exc})"))
                # table options may follow each other without commas
                if not (self.at_end() or self.at_op(",") or self.at_op(";")) and not self.at_kw(
                    *_TABLE_OPTION_WORDS,
                    "DEFAULT",
                    "CHARACTER",
                    "CHARSET",
                    "COLLATE",
                    "ALGORITHM",
                    "LOCK",
                    *_PARTITION_WORDS,
                ):
                    t = self.peek()
                    raise DdlSyntaxError(f"unexpected {t.value!r} in ALTER TABLE")  # type: ignore[union-attr]
        except DdlSyntaxError as exc:
            return Unparsed(str(exc), [name])
        return AlterTable(name, actions)

    def alter_spec(self) -> list[AlterAction]:
        t = self.take()
        if t.kind != "word":
            raise DdlSyntaxError(f"unexpected {t.value!r}")
        w = t.value.upper()
        if w == "ADD":
            return self.alter_add()
        if w == "DROP":
            return self.alter_drop()
        if w == "MODIFY":
            self.accept_kw("COLUMN")
            ie = self.accept_seq("IF", "EXISTS")
            spec = self.column_definition()
            return [ModifyColumn(spec.name, spec, self.position(), ie)]
        if w == "CHANGE":
            self.accept_kw("COLUMN")
            ie = self.accept_seq("IF", "EXISTS")
            old = self.ident()
            spec = self.column_definition()
            return [ModifyColumn(old, spec, self.position(), ie)]
        if w == "RENAME":
            if self.accept_kw("COLUMN"):
                old = self.ident()
                self.expect_kw("TO")
                return [RenameColumn(old, self.ident())]
            if self.accept_kw("INDEX", "KEY"):
                old = self.ident()
                self.expect_kw("TO")
                return [RenameKey(old, self.ident())]
            self.accept_kw("TO", "AS")
            return [RenameTo(self.qname())]
        if w == "ALTER":
            if self.accept_kw("INDEX", "KEY", "CHECK", "CONSTRAINT"):
                self.skip_to_separator()
                return []
            self.accept_kw("COLUMN")
            self.accept_seq("IF", "EXISTS")
            col = self.ident()
            if self.accept_kw("SET"):
                if self.accept_kw("DEFAULT"):
                    self.skip_value()
                    return []
                vis = self.expect_kw("VISIBLE", "INVISIBLE")
                return [SetColumnVisibility(col, vis == "INVISIBLE")]
            self.expect_kw("DROP")
            self.expect_kw("DEFAULT")
            return []
        if w == "CONVERT":
            self.expect_kw("TO")
            if not (self.accept_seq("CHARACTER", "SET") or self.accept_kw("CHARSET")):
                raise DdlSyntaxError("CONVERT TO needs CHARACTER SET")
            cs = canonical_charset(self.name_value())
            coll = canonical_collation(self.name_value()) if self.accept_kw("COLLATE") else None
            return [ConvertCharset(cs, coll)]
        if w == "DEFAULT" or w in ("CHARACTER", "CHARSET", "COLLATE"):
            if w == "DEFAULT":
                t = self.take()
                w = t.value.upper()
            if w == "CHARACTER":
                self.expect_kw("SET")
            charset: str | None = None
            collation: str | None = None
            if w in ("CHARACTER", "CHARSET"):
                charset = canonical_charset(self.name_value())
                if self.accept_kw("COLLATE"):
                    collation = canonical_collation(self.name_value())
            elif w == "COLLATE":
                collation = canonical_collation(self.name_value())
            else:
                raise DdlSyntaxError(f"DEFAULT {w}")
            return [TableCharset(charset, collation)]
        if w in ("ALGORITHM", "LOCK"):
            self.accept_op("=")
            self.take()
            return []
        if w in ("FORCE",):
            return []
        if w in ("ENABLE", "DISABLE"):
            self.expect_kw("KEYS")
            return []
        if w in ("DISCARD", "IMPORT") and self.accept_kw("TABLESPACE"):
            return []
        if w == "ORDER":
            self.expect_kw("BY")
            self.skip_to_separator()
            return []
        if w in ("WITH", "WITHOUT") and self.accept_kw("VALIDATION"):
            return []
        if w in _PARTITION_WORDS:
            self.skip_rest()
            return []
        if w in _TABLE_OPTION_WORDS or (w == "DATA" and self.at_kw("DIRECTORY")):
            if self.at_kw("DIRECTORY", "TRANSACTION"):
                self.pos += 1
            self.accept_op("=")
            if self.at_op("("):
                self.skip_group()
            else:
                self.take()
            return []
        if w == "INDEX" and self.at_kw("DIRECTORY"):
            self.pos += 1
            self.accept_op("=")
            self.take()
            return []
        raise DdlSyntaxError(f"unsupported ALTER TABLE action {t.value}")

    def alter_add(self) -> list[AlterAction]:
        if self.at_kw("PARTITION"):
            self.skip_rest()
            return []
        if self.accept_kw("SYSTEM"):
            self.expect_kw("VERSIONING")
            return [SystemVersioning(True)]
        if self.at_kw("PERIOD"):
            self.skip_to_separator()
            return []
        if not self.at_kw("COLUMN") and (self.at_kw(*_KEY_START)):
            key = self.key_definition()
            return [AddKey(key)] if key is not None and key.kind != "FOREIGN" else []
        self.accept_kw("COLUMN")
        ine = self.accept_seq("IF", "NOT", "EXISTS")
        if self.accept_op("("):
            out: list[AlterAction] = []
            while True:
                if self.at_kw(*_KEY_START):
                    key = self.key_definition()
                    if key is not None and key.kind != "FOREIGN":
                        out.append(AddKey(key))
                else:
                    out.append(AddColumn(self.column_definition(), None, ine))
                if self.accept_op(","):
                    continue
                self.expect_op(")")
                return out
        spec = self.column_definition()
        return [AddColumn(spec, self.position(), ine)]

    def alter_drop(self) -> list[AlterAction]:
        if self.accept_seq("PRIMARY", "KEY"):
            return [DropKey("PRIMARY")]
        if self.accept_kw("INDEX", "KEY"):
            ie = self.accept_seq("IF", "EXISTS")
            return [DropKey(self.ident(), ie)]
        if self.accept_kw("FOREIGN"):
            self.expect_kw("KEY")
            self.accept_seq("IF", "EXISTS")
            self.ident()
            return []
        if self.accept_kw("CONSTRAINT"):
            ie = self.accept_seq("IF", "EXISTS")
            return [DropKey(self.ident(), ie, constraint=True)]
        if self.accept_kw("CHECK"):
            self.ident()
            return []
        if self.at_kw("PARTITION"):
            self.skip_rest()
            return []
        if self.accept_kw("SYSTEM"):
            self.expect_kw("VERSIONING")
            return [SystemVersioning(False)]
        if self.accept_kw("PERIOD"):
            self.skip_to_separator()
            return []
        self.accept_kw("COLUMN")
        ie = self.accept_seq("IF", "EXISTS")
        name = self.ident()
        self.accept_kw("RESTRICT", "CASCADE")
        return [DropColumn(name, ie)]


def split_statements(tokens: list[Token]) -> list[list[Token]]:
    out: list[list[Token]] = [[]]
    depth = 0
    for t in tokens:
        if t.kind == "op" and t.value == ";" and depth == 0:
            out.append([])
            continue
        if t.kind == "op":
            if t.value == "(":
                depth += 1
            elif t.value == ")":
                depth = max(0, depth - 1)
        out[-1].append(t)
    return [s for s in out if s]


def parse(sql: str, sql_mode: int | None = None) -> list[Operation]:
    """Interpret ``sql`` (one or more statements) as schema operations. Never raises for bad SQL:
    what cannot be read is returned as :class:`Unparsed`."""
    mode = sql_mode or 0
    try:
        tokens = tokenize(
            sql, ansi_quotes=bool(mode & MODE_ANSI_QUOTES), backslash_escapes=not (mode & MODE_NO_BACKSLASH_ESCAPES)
        )
    except DdlSyntaxError as exc:
        head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        if head in ("CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"):
            return [Unparsed(str(exc), [])]
        return [Ignored(head)]
    ops: list[Operation] = []
    for stmt in split_statements(tokens):
        parser = _Parser(stmt, sql, mode)
        op = parser.statement()
        if isinstance(op, Ignored) and op.what.startswith(("CREATE ", "ALTER ")) and not ops:
            # a routine, trigger or event: the ';' that follow belong to its body, not to new statements
            return [op]
        if mode & MODE_ORACLE and isinstance(op, (CreateTable, AlterTable)):
            # sql_mode=ORACLE renames types (VARCHAR2, NUMBER, DATE as DATETIME): not interpreted
            op = Unparsed("statement written under sql_mode=ORACLE", parser.guess_tables())
        ops.append(op)
    return ops
