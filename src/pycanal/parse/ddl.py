"""Classify a QUERY event's statement as canal does: event type, schema and table.

canal maps statements to CREATE / ALTER / ERASE / TRUNCATE / RENAME / CINDEX / DINDEX / QUERY (and the
DML types for statement-format binlogs), with the schema and table of the first statement
(canal-spec.md section 1.8, ``SimpleDdlParser``). This is the light classifier; the schema history
parses DDL fully.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# an unquoted identifier: anything up to white space or punctuation (MySQL allows U+0080..U+FFFF);
# a negated class compiles at once, where a range up to U+FFFF costs 0.1 s at import
_IDENT = r"(?:`(?:[^`]|``)+`|[^\s`.,;()'\"=]+)"
_NAME = rf"(?P<n1>{_IDENT})(?:\s*\.\s*(?P<n2>{_IDENT}))?"
_COMMENTS = re.compile(r"/\*(?!!).*?\*/|^\s*(?:--|#)[^\n]*$", re.S | re.M)
_VERSIONED = re.compile(r"/\*!\d*\s*(.*?)\*/", re.S)

_RULES: list[tuple[str, re.Pattern[str]]] = [
    (
        "CREATE",
        re.compile(rf"^create\s+(?:or\s+replace\s+)?(?:temporary\s+)?table\s+(?:if\s+not\s+exists\s+)?{_NAME}", re.I),
    ),
    ("ALTER", re.compile(rf"^alter\s+(?:online\s+|ignore\s+)*table\s+(?:if\s+exists\s+)?{_NAME}", re.I)),
    ("ERASE", re.compile(rf"^drop\s+(?:temporary\s+)?table\s+(?:if\s+exists\s+)?{_NAME}", re.I)),
    ("TRUNCATE", re.compile(rf"^truncate\s+(?:table\s+)?{_NAME}", re.I)),
    ("RENAME", re.compile(rf"^rename\s+tables?\s+{_NAME}", re.I)),
    (
        "CINDEX",
        re.compile(
            rf"^create\s+(?:or\s+replace\s+)?(?:online\s+|offline\s+)?(?:unique\s+|fulltext\s+|spatial\s+)?index\s+"
            rf"(?:if\s+not\s+exists\s+)?{_IDENT}\s+(?:using\s+\w+\s+)?on\s+{_NAME}",
            re.I,
        ),
    ),
    ("DINDEX", re.compile(rf"^drop\s+index\s+(?:if\s+exists\s+)?{_IDENT}\s+on\s+{_NAME}", re.I)),
    (
        "INSERT",
        re.compile(
            rf"^(?:insert|replace)\s+(?:low_priority\s+|delayed\s+|high_priority\s+|ignore\s+)*(?:into\s+)?{_NAME}",
            re.I,
        ),
    ),
    ("UPDATE", re.compile(rf"^update\s+(?:low_priority\s+|ignore\s+)*{_NAME}", re.I)),
    ("DELETE", re.compile(rf"^delete\s+(?:low_priority\s+|quick\s+|ignore\s+)*from\s+{_NAME}", re.I)),
]
_DATABASE = re.compile(
    rf"^(?:create|drop|alter)\s+(?:database|schema)\s+(?:if\s+(?:not\s+)?exists\s+)?(?P<db>{_IDENT})", re.I
)
_ALTER_RENAME = re.compile(r"\brename\s+(?:to\s+|as\s+)?(?!column\b|index\b|key\b)", re.I)
_ALTER_ADD_INDEX = re.compile(r"^\s*add\s+(?:unique\s+|fulltext\s+|spatial\s+)?(?:index|key)\b", re.I)
_ALTER_DROP_INDEX = re.compile(r"^\s*drop\s+(?:index|key|primary\s+key|foreign\s+key|constraint)\b", re.I)


@dataclass(slots=True, frozen=True)
class DdlResult:
    type: str  # canal EventType name
    schema: str
    table: str
    is_ddl: bool


def _unquote(ident: str | None) -> str:
    if not ident:
        return ""
    if ident.startswith("`"):
        return ident[1:-1].replace("``", "`")
    return ident


def strip_comments(sql: str) -> str:
    sql = _VERSIONED.sub(r"\1", sql)
    return _COMMENTS.sub(" ", sql).strip()


def classify(sql: str, default_schema: str) -> DdlResult:
    """canal's event type for a statement, and the schema.table it names."""
    text = strip_comments(sql)
    for kind, rx in _RULES:
        m = rx.match(text)
        if not m:
            continue
        n1, n2 = _unquote(m.group("n1")), _unquote(m.group("n2"))
        schema, table = (n1, n2) if n2 else (default_schema, n1)
        if kind == "ALTER":
            rest = text[m.end() :]
            if _ALTER_RENAME.search(rest) and not re.search(r"\brename\s+(?:column|index|key)\b", rest, re.I):
                kind = "RENAME"
            elif _ALTER_ADD_INDEX.match(rest):
                kind = "CINDEX"
            elif _ALTER_DROP_INDEX.match(rest):
                kind = "DINDEX"
        return DdlResult(kind, schema, table, kind not in ("INSERT", "UPDATE", "DELETE"))
    m = _DATABASE.match(text)
    if m:
        return DdlResult("QUERY", _unquote(m.group("db")), "", True)
    return DdlResult("QUERY", default_schema, "", True)
