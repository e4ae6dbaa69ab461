"""Every column type, with its edge values, through a real MariaDB binlog.

Rows are inserted (one multi-row statement), updated and deleted; the decoded values are compared
with what SELECT returns for the same rows, formatted independently here by canal's rules
(canal-spec.md section 1.8 and the research notes in docs/canal-values.md).
"""

from __future__ import annotations

import datetime as dt
import decimal
import struct
import time

import pytest

from binlog_helpers import events_from_files, of_type
from pycanal.binlog.events import RowsEvent, TableMapEvent
from pycanal.binlog.javafmt import java_double_str, java_float_str
from pycanal.parse.columns import table_columns

pytestmark = pytest.mark.integration

FSPS = range(7)

# name -> (definition, kind used to format the SELECT value)
COLUMNS: dict[str, tuple[str, str]] = {
    "ti": ("TINYINT", "int"),
    "tiu": ("TINYINT UNSIGNED", "int"),
    "si": ("SMALLINT", "int"),
    "siu": ("SMALLINT UNSIGNED", "int"),
    "mi": ("MEDIUMINT", "int"),
    "miu": ("MEDIUMINT UNSIGNED", "int"),
    "i": ("INT", "int"),
    "iu": ("INT UNSIGNED", "int"),
    "bi": ("BIGINT", "int"),
    "biu": ("BIGINT UNSIGNED", "int"),
    "d1": ("DECIMAL(10,2)", "dec"),
    "d2": ("DECIMAL(65,30)", "dec"),
    "d3": ("DECIMAL(5,0)", "dec"),
    "d4": ("DECIMAL(20,10)", "dec"),
    "d5": ("DECIMAL(4,4)", "dec"),
    "d6": ("DECIMAL(18,9)", "dec"),
    "f": ("FLOAT", "float"),
    "db": ("DOUBLE", "double"),
    "b1": ("BIT(1)", "bit"),
    "b8": ("BIT(8)", "bit"),
    "b13": ("BIT(13)", "bit"),
    "b64": ("BIT(64)", "bit"),
    "y": ("YEAR", "year"),
    "dd": ("DATE", "date"),
    **{f"t{p}": (f"TIME({p})", f"time{p}") for p in FSPS},
    **{f"dt{p}": (f"DATETIME({p})", f"datetime{p}") for p in FSPS},
    **{f"ts{p}": (f"TIMESTAMP({p}) NULL DEFAULT NULL", f"timestamp{p}") for p in FSPS},
    "c_utf": ("CHAR(10) CHARACTER SET utf8mb4", "text"),
    "vc_utf": ("VARCHAR(300) CHARACTER SET utf8mb4", "text"),
    "vc_lat": ("VARCHAR(50) CHARACTER SET latin1", "text"),
    "c_lat": ("CHAR(5) CHARACTER SET latin1", "text"),
    "c_big": ("CHAR(100) CHARACTER SET utf8mb4", "text"),
    "vc_bin": ("VARBINARY(100)", "bin"),
    "c_bin": ("BINARY(4)", "bin"),
    "tt": ("TINYTEXT", "text"),
    "tx": ("TEXT", "text"),
    "mt": ("MEDIUMTEXT", "text"),
    "lt": ("LONGTEXT", "text"),
    "tb": ("TINYBLOB", "bin"),
    "bl": ("BLOB", "bin"),
    "mb": ("MEDIUMBLOB", "bin"),
    "lb": ("LONGBLOB", "bin"),
    "e": ("ENUM('a','b','c')", "index"),
    "s": ("SET('x','y','z')", "index"),
    "j": ("JSON", "text"),
    "g": ("GEOMETRY", "bin"),
    "pt": ("POINT", "bin"),
}

ROWS: list[dict[str, str]] = [
    {  # minimums and negatives
        "ti": "-128",
        "tiu": "0",
        "si": "-32768",
        "siu": "0",
        "mi": "-8388608",
        "miu": "0",
        "i": "-2147483648",
        "iu": "0",
        "bi": "-9223372036854775808",
        "biu": "0",
        "d1": "-99999999.99",
        "d2": "-" + "9" * 35 + "." + "9" * 30,
        "d3": "-99999",
        "d4": "-1234567890.0000000001",
        "d5": "-0.9999",
        "d6": "-1.000000000",
        "f": "-3.40282e38",
        "db": "-1.7976931348623157e308",
        "b1": "b'0'",
        "b8": "b'0'",
        "b13": "b'0'",
        "b64": "b'0'",
        "y": "1901",
        "dd": "'1000-01-01'",
        **{f"t{p}": "'-838:59:59'" for p in FSPS},
        **{f"dt{p}": "'1000-01-01 00:00:00'" for p in FSPS},
        **{f"ts{p}": "'1970-01-01 00:00:01'" for p in FSPS},
        "c_utf": "''",
        "vc_utf": "''",
        "vc_lat": "''",
        "c_lat": "''",
        "c_big": "''",
        "vc_bin": "''",
        "c_bin": "''",
        "tt": "''",
        "tx": "''",
        "mt": "''",
        "lt": "''",
        "tb": "''",
        "bl": "''",
        "mb": "''",
        "lb": "''",
        "e": "'a'",
        "s": "''",
        "j": "'[]'",
        "g": "ST_GeomFromText('POINT(-1.5 -2.5)')",
        "pt": "ST_GeomFromText('POINT(0 0)')",
    },
    {  # maximums
        "ti": "127",
        "tiu": "255",
        "si": "32767",
        "siu": "65535",
        "mi": "8388607",
        "miu": "16777215",
        "i": "2147483647",
        "iu": "4294967295",
        "bi": "9223372036854775807",
        "biu": "18446744073709551615",
        "d1": "99999999.99",
        "d2": "9" * 35 + "." + "9" * 30,
        "d3": "99999",
        "d4": "9999999999.9999999999",
        "d5": "0.9999",
        "d6": "999999999.999999999",
        "f": "3.40282e38",
        "db": "1.7976931348623157e308",
        "b1": "b'1'",
        "b8": "b'11111111'",
        "b13": "b'1111111111111'",
        "b64": "18446744073709551615",
        "y": "2155",
        "dd": "'9999-12-31'",
        **{f"t{p}": "'838:59:59'" for p in FSPS},
        **{f"dt{p}": "'9999-12-31 23:59:59.999999'" if p == 6 else "'9999-12-31 23:59:59'" for p in FSPS},
        **{f"ts{p}": "'2038-01-19 03:14:07.999999'" if p == 6 else "'2038-01-19 03:14:07'" for p in FSPS},
        "c_utf": "'ÿ😀😀😀😀😀😀😀😀😀'",
        "vc_utf": "REPEAT('😀', 300)",
        "vc_lat": "REPEAT('é', 50)",
        "c_lat": "'ÿÿÿÿÿ'",
        "c_big": "REPEAT('ж', 100)",
        "vc_bin": "REPEAT(X'FF', 100)",
        "c_bin": "X'FFFFFFFF'",
        "tt": "REPEAT('a', 255)",
        "tx": "REPEAT('é', 32767)",
        "mt": "REPEAT('m', 70000)",
        "lt": "REPEAT('λ', 100000)",
        "tb": "REPEAT(X'00', 255)",
        "bl": "REPEAT(X'01FE', 32767)",
        "mb": "REPEAT(X'80', 70000)",
        "lb": "REPEAT(X'7F', 300000)",
        "e": "'c'",
        "s": "'x,y,z'",
        "j": """'{"a": {"b": [1, 2.5, "x", null, true]}, "k": "\\\\u00e9\\\\n"}'""",
        "g": "ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0))')",
        "pt": "ST_GeomFromText('POINT(1e300 -1e-300)')",
    },
    {  # zeros, zero dates, empty sets, negative fractions
        "ti": "0",
        "tiu": "128",
        "si": "0",
        "siu": "32768",
        "mi": "0",
        "miu": "8388608",
        "i": "0",
        "iu": "2147483648",
        "bi": "0",
        "biu": "9223372036854775808",
        "d1": "0",
        "d2": "0",
        "d3": "0",
        "d4": "1",
        "d5": "0",
        "d6": "1",
        "f": "0",
        "db": "0",
        "b1": "b'0'",
        "b8": "b'1'",
        "b13": "b'1000000000000'",
        "b64": "b'1'",
        "y": "0",
        "dd": "'0000-00-00'",
        **{f"t{p}": "'-00:00:00.5'" if p else "'00:00:00'" for p in FSPS},
        **{f"dt{p}": "'0000-00-00 00:00:00'" for p in FSPS},
        **{f"ts{p}": "'0000-00-00 00:00:00'" for p in FSPS},
        "c_utf": "'a'",
        "vc_utf": "' trailing '",
        "vc_lat": "'x'",
        "c_lat": "'a  '",
        "c_big": "'z'",
        "vc_bin": "X'00'",
        "c_bin": "X'0100'",
        "tt": "'t'",
        "tx": "'x'",
        "mt": "'m'",
        "lt": "'l'",
        "tb": "X'00FF'",
        "bl": "X'00'",
        "mb": "X'FF'",
        "lb": "X'0001'",
        "e": "''",
        "s": "'y'",
        "j": "'0'",
        "g": "ST_GeomFromText('POINT(0 0)')",
        "pt": "ST_GeomFromText('POINT(1 1)')",
    },
    {},  # every column NULL
    {  # ordinary values with fractions
        "ti": "-1",
        "tiu": "1",
        "si": "-300",
        "siu": "300",
        "mi": "-70000",
        "miu": "70000",
        "i": "-1",
        "iu": "3000000000",
        "bi": "-1",
        "biu": "18446744073709551614",
        "d1": "1.50",
        "d2": "-0.000000000000000000000000000001",
        "d3": "-10.55",
        "d4": "1.0000000001",
        "d5": "0.1",
        "d6": "0.000000001",
        "f": "1.1",
        "db": "123456789.123",
        "b1": "b'1'",
        "b8": "b'10000000'",
        "b13": "b'101'",
        "b64": "b'1" + "0" * 63 + "'",
        "y": "1969",
        "dd": "'2024-02-29'",
        **{f"t{p}": "'-12:34:56.654321'" for p in FSPS},
        **{f"dt{p}": "'2024-02-29 13:14:15.123456'" for p in FSPS},
        **{f"ts{p}": "'2024-07-01 10:20:30.123456'" for p in FSPS},
        "c_utf": "'日本語😀'",
        "vc_utf": "'naïve café 𝄞'",
        "vc_lat": "'café'",
        "c_lat": "'Ñ'",
        "c_big": "'abc'",
        "vc_bin": "X'000102FF'",
        "c_bin": "X'61'",
        "tt": "'tiny'",
        "tx": "'line1\\nline2\\ttab'",
        "mt": "'medium'",
        "lt": "'long 😀'",
        "tb": "X'DEADBEEF'",
        "bl": "X'CAFEBABE'",
        "mb": "X'00'",
        "lb": "X'FF00FF'",
        "e": "'b'",
        "s": "'x,z'",
        "j": """'{"n": 1, "f": 2.5, "s": "x"}'""",
        "g": "ST_GeomFromText('LINESTRING(0 0,1 1,2 1)')",
        "pt": "ST_GeomFromText('POINT(1 2)')",
    },
]


def _insert_sql(db: str, rows: list[dict[str, str]]) -> str:
    names = list(COLUMNS)
    values = ", ".join("(" + ", ".join(r.get(n, "NULL") for n in names) + ")" for r in rows)
    return f"INSERT INTO `{db}`.alltypes ({', '.join(names)}) VALUES {values}"


def _select_sql(db: str) -> str:
    exprs = ["id"]
    for name, (_, kind) in COLUMNS.items():
        if kind in ("bit", "index"):
            exprs.append(f"{name} + 0")
        elif kind.startswith("timestamp"):
            exprs.append(f"UNIX_TIMESTAMP({name})")
        else:
            exprs.append(name)
    return f"SELECT {', '.join(exprs)} FROM `{db}`.alltypes ORDER BY id"


def canal_decimal(value: decimal.Decimal, scale: int) -> str:
    """canal's DECIMAL text: the last partial 9-digit group of the fraction only when it is not zero."""
    text = format(value, f".{scale}f")
    if text.startswith("-") and not any(ch not in "0.-" for ch in text):
        text = text[1:]
    if not scale:
        return text
    ipart, frac = text.split(".")
    tail = scale % 9
    if tail and set(frac[-tail:]) == {"0"}:
        frac = frac[:-tail]
    return f"{ipart}.{frac or '0'}"


def _fraction(usec: int, fsp: int) -> str:
    return "." + f"{usec:06d}"[:fsp] if fsp else ""


def expected_text(name: str, value: object, row_literals: dict[str, str]) -> str | None:
    """The canal text of a SELECT value (or, for FLOAT/DOUBLE, of the inserted literal)."""
    definition, kind = COLUMNS[name]
    if kind in ("float", "double"):
        literal = row_literals.get(name)
        if literal is None:
            return None
        x = float(literal)
        if kind == "float":
            return java_float_str(struct.unpack("<f", struct.pack("<f", x))[0])
        return java_double_str(x)
    if value is None:
        return None
    if kind in ("int", "bit", "index"):
        return str(int(value))  # type: ignore[call-overload]
    if kind == "dec":
        scale = int(definition.split(",")[1].rstrip(")"))
        return canal_decimal(decimal.Decimal(value), scale)  # type: ignore[arg-type]
    if kind == "year":
        return "0000" if int(value) == 0 else str(value)  # type: ignore[call-overload]
    if kind == "date":
        return value if isinstance(value, str) else value.strftime("%Y-%m-%d")  # type: ignore[attr-defined]
    if kind.startswith("time") and not kind.startswith("timestamp"):
        fsp = int(kind[4:])
        assert isinstance(value, dt.timedelta)
        neg = value < dt.timedelta(0)
        total = -value if neg else value
        secs = total.days * 86400 + total.seconds
        text = f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}{_fraction(total.microseconds, fsp)}"
        return ("-" if neg else "") + text
    if kind.startswith("datetime"):
        fsp = int(kind[8:])
        if isinstance(value, str):
            return value[:19] + _fraction(0, fsp)
        assert isinstance(value, dt.datetime)
        return value.strftime("%Y-%m-%d %H:%M:%S").rjust(19, "0") + _fraction(value.microsecond, fsp)
    if kind.startswith("timestamp"):
        fsp = int(kind[9:])
        d = decimal.Decimal(value)  # type: ignore[arg-type]
        secs = int(d)
        usec = int((d - secs) * 1_000_000)
        if secs == 0 and usec == 0:
            return "0000-00-00 00:00:00" + _fraction(0, fsp)
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(secs)) + _fraction(usec, fsp)
    if kind == "text":
        return value if isinstance(value, str) else value.decode()  # type: ignore[attr-defined]
    if kind == "bin":
        assert isinstance(value, bytes)
        return value.decode("latin-1")
    raise AssertionError(kind)


def _snapshot(mariadb, db: str) -> dict[int, dict[str, str | None]]:
    rows = mariadb.execute(_select_sql(db))
    names = list(COLUMNS)
    out = {}
    for row in rows:
        out[int(row[0])] = dict(zip(names, row[1:], strict=True))
    return out


def _expected(snapshot: dict[str, object], literals: dict[str, str]) -> dict[str, str | None]:
    return {n: expected_text(n, snapshot[n], literals) for n in COLUMNS}


def _decoded(ev: RowsEvent, row: list[str | None], present: tuple[int, ...]) -> dict[str, str | None]:
    cols = ev.table.columns
    return {cols[i].name: v for i, v in zip(present, row, strict=True)}  # type: ignore[misc]


@pytest.fixture
def alltypes(mariadb, fresh_db):
    cols = ", ".join(f"{n} {d}" for n, (d, _) in COLUMNS.items())
    mariadb.execute(
        f"CREATE TABLE `{fresh_db}`.alltypes (id INT PRIMARY KEY AUTO_INCREMENT, {cols}) CHARACTER SET utf8mb4"
    )
    return fresh_db


def _run_sql(mariadb, *statements: str) -> None:
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute("SET SESSION time_zone = '+00:00'")
        for stmt in statements:
            cur.execute(stmt)


def _check_rows(kind: str, events: list[RowsEvent], expected_rows: list[tuple[dict, dict]]) -> int:
    """Compare decoded images with expected ones; returns the number of values compared."""
    decoded: list[tuple[dict | None, dict | None]] = []
    for ev in events:
        assert ev.kind == kind
        for row in ev.rows:
            if kind == "UPDATE":
                decoded.append((_decoded(ev, row[0], ev.present), _decoded(ev, row[1], ev.present_after)))
            elif kind == "INSERT":
                decoded.append((None, _decoded(ev, row, ev.present)))
            else:
                decoded.append((_decoded(ev, row, ev.present), None))
    assert len(decoded) == len(expected_rows)
    compared = 0
    for (dec_before, dec_after), (exp_before, exp_after) in zip(decoded, expected_rows, strict=True):
        for dec, exp in ((dec_before, exp_before), (dec_after, exp_after)):
            if dec is None:
                continue
            for name in COLUMNS:
                assert dec[name] == exp[name], f"{kind} {name} ({COLUMNS[name][0]}): {dec[name]!r} != {exp[name]!r}"
                compared += 1
    return compared


def test_every_type_insert_update_delete(mariadb, alltypes):
    db = alltypes
    start = mariadb.master_status()
    _run_sql(mariadb, _insert_sql(db, ROWS))
    inserted = _snapshot(mariadb, db)
    ids = sorted(inserted)
    # UPDATE: row k takes the values of row k+1 (a rotation), all in one statement per row
    updates = []
    for k, rid in enumerate(ids):
        src = ROWS[(k + 1) % len(ROWS)]
        sets = ", ".join(f"{n} = {src.get(n, 'NULL')}" for n in COLUMNS)
        updates.append(f"UPDATE `{db}`.alltypes SET {sets} WHERE id = {rid}")
    _run_sql(mariadb, "BEGIN", *updates, "COMMIT")
    updated = _snapshot(mariadb, db)
    _run_sql(mariadb, f"DELETE FROM `{db}`.alltypes")

    events = events_from_files(mariadb, start)
    rows_events = [e for e in of_type(events, RowsEvent) if e.table.schema == db]
    by_kind = {k: [e for e in rows_events if e.kind == k] for k in ("INSERT", "UPDATE", "DELETE")}
    assert all(by_kind.values()), {k: len(v) for k, v in by_kind.items()}

    exp_ins = [(None, _expected(inserted[i], ROWS[k])) for k, i in enumerate(ids)]
    exp_upd = [
        (_expected(inserted[i], ROWS[k]), _expected(updated[i], ROWS[(k + 1) % len(ROWS)])) for k, i in enumerate(ids)
    ]
    exp_del = [(_expected(updated[i], ROWS[(k + 1) % len(ROWS)]), None) for k, i in enumerate(ids)]
    compared = _check_rows("INSERT", by_kind["INSERT"], exp_ins)
    compared += _check_rows("UPDATE", by_kind["UPDATE"], exp_upd)
    compared += _check_rows("DELETE", by_kind["DELETE"], exp_del)
    assert compared == len(COLUMNS) * len(ROWS) * 4


def test_table_map_metadata_and_canal_types(mariadb, alltypes):
    db = alltypes
    start = mariadb.master_status()
    _run_sql(mariadb, _insert_sql(db, ROWS[4:5]))
    events = events_from_files(mariadb, start)
    tm = next(e for e in of_type(events, TableMapEvent) if e.schema == db)
    assert tm.has_names and tm.primary_key == (0,)
    metas = {m.name: m for m in table_columns(tm)}
    live = dict(
        mariadb.execute(
            "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
            f"WHERE TABLE_SCHEMA='{db}' AND TABLE_NAME='alltypes'"
        )
    )
    for name, meta in metas.items():
        assert meta.mysql_type == live[name]
    expected_sql = {
        "ti": -6,
        "tiu": -6,
        "si": 5,
        "i": 4,
        "bi": -5,
        "d1": 3,
        "f": 7,
        "db": 8,
        "b1": -7,
        "y": 12,
        "dd": 91,
        "t3": 92,
        "dt3": 93,
        "ts3": 93,
        "c_utf": 1,
        "vc_utf": 12,
        "vc_bin": 2004,
        "c_bin": 2004,
        "tx": 2005,
        "bl": 2004,
        "e": 4,
        "s": -7,
        "j": 2005,
        "g": 2004,
    }
    for name, sql_type in expected_sql.items():
        assert metas[name].sql_type == sql_type, name
    # the unsigned bump: only values past the signed range change the sqlType, per value
    assert metas["iu"].sql_type_of("5") == 4 and metas["iu"].sql_type_of("3000000000") == -5
    assert metas["biu"].sql_type_of("18446744073709551614") == 3
    assert metas["tiu"].sql_type_of("255") == 5 and metas["tiu"].sql_type_of("100") == -6
    assert metas["s"].sql_type_of(None) == 2004


def test_timestamp_uses_process_time_zone(mariadb, alltypes, monkeypatch):
    db = alltypes
    start = mariadb.master_status()
    _run_sql(mariadb, f"INSERT INTO `{db}`.alltypes (ts6) VALUES ('2024-07-01 10:20:30.123456')")
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        events = events_from_files(mariadb, start)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    ev = next(e for e in of_type(events, RowsEvent) if e.table.schema == db)
    row = _decoded(ev, ev.rows[0], ev.present)
    assert row["ts6"] == "2024-07-01 06:20:30.123456"  # EDT, UTC-4


def test_mariadb_metadata_lists_count_year_and_geometry(mariadb, fresh_db):
    """MariaDB's SIGNEDNESS list includes YEAR and its charset lists include GEOMETRY: the columns after
    them must still get their own signedness and charset (a signed BIGINT -1 must not read as 2^64-1)."""
    db = fresh_db
    mariadb.execute(
        f"CREATE TABLE `{db}`.m (a YEAR, b INT UNSIGNED, c BIGINT, g GEOMETRY, v VARCHAR(10) CHARACTER SET "
        "utf8mb4, w VARBINARY(5), z INT UNSIGNED)"
    )
    start = mariadb.master_status()
    _run_sql(mariadb, f"INSERT INTO `{db}`.m VALUES (2000, 4000000000, -1, POINT(1,1), 'é', X'FF', 5)")
    ev = next(e for e in of_type(events_from_files(mariadb, start, resolver=False), RowsEvent) if e.table.schema == db)
    cols = {c.name: c for c in ev.table.columns}
    assert [cols[n].unsigned for n in ("b", "c", "z")] == [True, False, True]
    assert (cols["v"].charset, cols["w"].charset) == (45, 63)
    row = _decoded(ev, ev.rows[0], ev.present)
    assert (row["b"], row["c"], row["v"], row["w"], row["z"]) == ("4000000000", "-1", "é", "\xff", "5")
