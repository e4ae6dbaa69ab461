"""DDL interpretation: tokenizer, statement classification, the catalog's table versions, and the
declared-type -> COLUMN_TYPE rules (expected values observed on MariaDB 10.11)."""

from __future__ import annotations

import pytest

from pycanal.errors import SchemaHistoryError
from pycanal.schema import ddl as D
from pycanal.schema.catalog import Catalog
from pycanal.schema.tables import MARIADB, MYSQL8, dialect_for_version


def cols(cat: Catalog, table: str, schema: str = "db") -> list[tuple[str, str]]:
    t = cat.get(schema, table)
    assert t is not None, f"{schema}.{table} is not known"
    return [(c.name, c.column_type) for c in t.columns]


@pytest.fixture
def cat() -> Catalog:
    c = Catalog()
    c.apply_sql("CREATE DATABASE db DEFAULT CHARACTER SET utf8mb4", None)
    return c


# --- tokenizer -----------------------------------------------------------------------------------


def test_tokenizer_quotes_comments_and_executable_comments() -> None:
    sql = (
        "/* c */ CREATE /*!32312 TABLE*/ `we``ird` -- line\n"
        "(a int COMMENT 'it''s \\'x\\'', b enum(\"q\",'a\\\\b')) # tail\n"
        "/*M!100100 ENGINE=InnoDB */"
    )
    toks = D.tokenize(sql)
    assert [t.value for t in toks] == [
        "CREATE",
        "TABLE",
        "we`ird",
        "(",
        "a",
        "int",
        "COMMENT",
        "it's 'x'",
        ",",
        "b",
        "enum",
        "(",
        "q",
        ",",
        "a\\b",
        ")",
        ")",
        "ENGINE",
        "=",
        "InnoDB",
    ]
    assert [t.kind for t in toks[:4]] == ["word", "word", "ident", "op"]


def test_tokenizer_modes_and_literals() -> None:
    assert [t.kind for t in D.tokenize('"a"', ansi_quotes=True)] == ["ident"]
    assert [t.value for t in D.tokenize(r"'a\'", backslash_escapes=False)] == ["a\\"]
    toks = D.tokenize("DEFAULT _utf8mb4'x' X'0A' b'01' -1.5e3 .5 1abc")
    assert [(t.kind, t.value) for t in toks] == [
        ("word", "DEFAULT"),
        ("word", "_utf8mb4"),
        ("string", "x"),
        ("string", "0A"),
        ("string", "01"),
        ("op", "-"),
        ("number", "1.5e3"),
        ("number", ".5"),
        ("word", "1abc"),
    ]
    assert [t.value for t in D.tokenize("a<=>b->>'$.x'")] == ["a", "<=>", "b", "->>", "$.x"]


def test_parse_classifies_statements() -> None:
    kinds = {
        "BEGIN": D.Ignored,
        "INSERT INTO t VALUES (1)": D.Ignored,
        "GRANT ALL ON *.* TO x": D.Ignored,
        "CREATE VIEW v AS SELECT 1": D.Ignored,
        "CREATE DEFINER=`a`@`%` TRIGGER tr BEFORE INSERT ON t": D.Ignored,
        "DROP TEMPORARY TABLE IF EXISTS tmp": D.Ignored,
        "CREATE TEMPORARY TABLE tmp (a int)": D.Ignored,
        "FLUSH PRIVILEGES": D.Ignored,
        "RENAME USER a TO b": D.Ignored,
        "CREATE TABLE t (a int)": D.CreateTable,
        "ALTER TABLE t ADD b int": D.AlterTable,
        "DROP TABLE t": D.DropTables,
        "TRUNCATE t": D.TruncateTable,
        "RENAME TABLE a TO b": D.RenameTables,
        "CREATE SCHEMA s": D.CreateDatabase,
        "DROP DATABASE IF EXISTS s": D.DropDatabase,
        "ALTER DATABASE CHARACTER SET latin1": D.AlterDatabase,
        "CREATE UNIQUE INDEX i ON t (a)": D.AlterTable,
        "CREATE SEQUENCE s": D.CreateSequence,
        "CREATE WIDGET w": D.Unparsed,
        "ALTER TABLE t (": D.Unparsed,
        "CREATE TABLE t (a int, b FOO BAR)": D.Unparsed,
        "CREATE TABLE t (a 'x')": D.Unparsed,
    }
    for sql, kind in kinds.items():
        (op,) = D.parse(sql)
        assert isinstance(op, kind), (sql, op)


def test_routine_bodies_are_not_split_into_statements() -> None:
    ops = D.parse("CREATE DEFINER=`root`@`%` PROCEDURE p() BEGIN SELECT 1; DROP TABLE t; END")
    assert len(ops) == 1 and isinstance(ops[0], D.Ignored)
    ops = D.parse("CREATE TABLE a (x int); DROP TABLE b")
    assert [type(o) for o in ops] == [D.CreateTable, D.DropTables]


def test_unparsed_names_the_tables_it_may_change() -> None:
    (op,) = D.parse("ALTER TABLE db.t ADD COLUMN x int BOGUS")
    assert isinstance(op, D.AlterTable) and isinstance(op.actions[0], D.UnsupportedAction)
    (op,) = D.parse("CREATE TABLE IF NOT EXISTS `s`.`t` (a int frob)")
    assert isinstance(op, D.Unparsed) and op.tables == [D.QName("s", "t")]
    (op,) = D.parse("DROP TABLE a, b.c 'junk'")
    assert isinstance(op, D.Unparsed) and op.tables == [D.QName(None, "a"), D.QName("b", "c")]
    (op,) = D.parse("CREATE TABLE t (a VARCHAR2(10))", sql_mode=D.MODE_ORACLE)
    assert isinstance(op, D.Unparsed) and op.tables == [D.QName(None, "t")]
    (op,) = D.parse("CREATE TABLE t (a int) 'unterminated")
    assert isinstance(op, D.Unparsed) and op.tables == []


# --- declared type -> COLUMN_TYPE ----------------------------------------------------------------

# declared type -> (COLUMN_TYPE, COLLATION_NAME) as MariaDB 10.11 reports them in a utf8mb4 table
MARIADB_TYPES = {
    "int": ("int(11)", None),
    "int unsigned": ("int(10) unsigned", None),
    "int(5) zerofill": ("int(5) unsigned zerofill", None),
    "integer(3)": ("int(3)", None),
    "tinyint unsigned": ("tinyint(3) unsigned", None),
    "bool": ("tinyint(1)", None),
    "int1": ("tinyint(4)", None),
    "int2": ("smallint(6)", None),
    "int3": ("mediumint(9)", None),
    "middleint": ("mediumint(9)", None),
    "int4": ("int(11)", None),
    "int8": ("bigint(20)", None),
    "bigint zerofill": ("bigint(20) unsigned zerofill", None),
    "int signed": ("int(11)", None),
    "serial": ("bigint(20) unsigned", None),
    "decimal": ("decimal(10,0)", None),
    "dec(4)": ("decimal(4,0)", None),
    "numeric": ("decimal(10,0)", None),
    "fixed(3,1)": ("decimal(3,1)", None),
    "decimal(5,2) unsigned zerofill": ("decimal(5,2) unsigned zerofill", None),
    "float": ("float", None),
    "float(10)": ("float", None),
    "float(24)": ("float", None),
    "float(25)": ("double", None),
    "float(7,3)": ("float(7,3)", None),
    "float unsigned": ("float unsigned", None),
    "real": ("double", None),
    "double precision(6,2)": ("double(6,2)", None),
    "float4": ("float", None),
    "float8": ("double", None),
    "double(10,2) zerofill": ("double(10,2) unsigned zerofill", None),
    "bit": ("bit(1)", None),
    "bit(64)": ("bit(64)", None),
    "year": ("year(4)", None),
    "year(2)": ("year(2)", None),
    "datetime(0)": ("datetime", None),
    "time(6)": ("time(6)", None),
    "timestamp(3) null": ("timestamp(3)", None),
    "char": ("char(1)", "utf8mb4_general_ci"),
    "char(0)": ("char(0)", "utf8mb4_general_ci"),
    "binary": ("binary(1)", None),
    "char(3) byte": ("binary(3)", None),
    "varchar(5) byte": ("varbinary(5)", None),
    "varchar(10) binary": ("varchar(10)", "utf8mb4_bin"),
    "national char varying(5)": ("varchar(5)", "utf8mb3_general_ci"),
    "nchar varchar(4)": ("varchar(4)", "utf8mb3_general_ci"),
    "nvarchar(5)": ("varchar(5)", "utf8mb3_general_ci"),
    "national char(5)": ("char(5)", "utf8mb3_general_ci"),
    "character varying(5)": ("varchar(5)", "utf8mb4_general_ci"),
    "char(5) ascii": ("char(5)", "latin1_swedish_ci"),
    "char(5) unicode": ("char(5)", "ucs2_general_ci"),
    "varchar(5) character set binary": ("varbinary(5)", None),
    "char(4) charset binary": ("binary(4)", None),
    "text character set binary": ("blob", None),
    "enum('a','b') character set binary": ("enum('a','b')", "binary"),
    "varchar(3) collate utf8mb4_bin": ("varchar(3)", "utf8mb4_bin"),
    "char(5) character set latin1 binary": ("char(5)", "latin1_bin"),
    "varchar(2) character set utf8": ("varchar(2)", "utf8mb3_general_ci"),
    "text(10)": ("tinytext", "utf8mb4_general_ci"),
    "text(100)": ("text", "utf8mb4_general_ci"),
    "text(70000)": ("mediumtext", "utf8mb4_general_ci"),
    "text(20000000)": ("longtext", "utf8mb4_general_ci"),
    "blob(10)": ("tinyblob", None),
    "blob(300)": ("blob", None),
    "blob(70000)": ("mediumblob", None),
    "long": ("mediumtext", "utf8mb4_general_ci"),
    "long varchar": ("mediumtext", "utf8mb4_general_ci"),
    "long varbinary": ("mediumblob", None),
    "json": ("longtext", "utf8mb4_bin"),
    r"""enum('a\\b','c''d',"e",'f  ')""": (r"enum('a\\b','c''d','e','f')", "utf8mb4_general_ci"),
    "set('x''y')": ("set('x''y')", "utf8mb4_general_ci"),
    "point": ("point", None),
    "geometrycollection": ("geometrycollection", None),
    "inet6": ("inet6", None),
    "uuid": ("uuid", None),
    "vector(3)": ("vector(3)", None),
}


@pytest.mark.parametrize("declared", list(MARIADB_TYPES))
def test_column_type_text_mariadb(cat: Catalog, declared: str) -> None:
    res = cat.apply_sql(f"CREATE TABLE t (c {declared})", "db")
    assert not res.uncertain, res.notes
    (col,) = cat.get("db", "t").columns
    assert (col.column_type, col.collation) == MARIADB_TYPES[declared]


def test_column_type_text_mysql8_and_dialect_detection() -> None:
    cat = Catalog(dialect=MYSQL8)
    cat.apply_sql(
        "CREATE TABLE t (a int, b int unsigned, c tinyint(1), d int(5) zerofill, e year, f json, g bigint(20), h bool)",
        "db",
    )
    assert [c for _, c in cols(cat, "t")] == [
        "int",
        "int unsigned",
        "tinyint(1)",
        "int(5) unsigned zerofill",
        "year",
        "json",
        "bigint",
        "tinyint(1)",
    ]
    assert cat.get("db", "t").charset == "utf8mb4" and cat.get("db", "t").collation == "utf8mb4_0900_ai_ci"
    assert dialect_for_version("10.11.6-MariaDB-log") is MARIADB
    assert dialect_for_version("8.0.36").name == "mysql8"
    assert dialect_for_version("5.7.44-log").name == "mysql57"


def test_charset_inheritance(cat: Catalog) -> None:
    cat.apply_sql("CREATE DATABASE lat CHARACTER SET latin1", None)
    cat.apply_sql("CREATE TABLE t (a varchar(5), b text, c varchar(5) COLLATE latin1_bin)", "lat")
    assert [c.collation for c in cat.get("lat", "t").columns] == ["latin1_swedish_ci"] * 2 + ["latin1_bin"]
    cat.apply_sql("CREATE TABLE u (a varchar(5)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin", "lat")
    assert cat.get("lat", "u").columns[0].collation == "utf8mb4_bin"
    cat.apply_sql("ALTER DATABASE lat CHARACTER SET utf8mb3", None)
    cat.apply_sql("CREATE TABLE v (a char(2))", "lat")
    assert cat.get("lat", "v").columns[0].collation == "utf8mb3_general_ci"
    cat.apply_sql("ALTER TABLE v DEFAULT CHARSET=latin1, ADD b char(2)", "lat")
    assert [c.collation for c in cat.get("lat", "v").columns] == ["utf8mb3_general_ci", "latin1_swedish_ci"]


# --- table versions ------------------------------------------------------------------------------


def test_alter_column_operations_and_order(cat: Catalog) -> None:
    cat.apply_sql("CREATE TABLE t (id int PRIMARY KEY, a varchar(10), b text)", "db")
    cat.apply_sql(
        "ALTER TABLE t ADD COLUMN c datetime(3) AFTER id, MODIFY a varchar(20) FIRST, ADD d int, "
        "ADD COLUMN (e int, f bit), ADD g int FIRST",
        "db",
    )
    assert [n for n, _ in cols(cat, "t")] == ["g", "a", "id", "c", "b", "d", "e", "f"]
    cat.apply_sql(
        "ALTER TABLE t CHANGE c cc datetime(6) NOT NULL AFTER g, DROP COLUMN b, DROP e, "
        "RENAME COLUMN a TO aa, MODIFY COLUMN d bigint unsigned",
        "db",
    )
    assert cols(cat, "t") == [
        ("g", "int(11)"),
        ("cc", "datetime(6)"),
        ("aa", "varchar(20)"),
        ("id", "int(11)"),
        ("d", "bigint(20) unsigned"),
        ("f", "bit(1)"),
    ]
    res = cat.apply_sql("ALTER TABLE t ADD COLUMN IF NOT EXISTS g int, DROP COLUMN IF EXISTS nope", "db")
    assert not res.uncertain and len(cols(cat, "t")) == 6


def test_keys_and_primary_key(cat: Catalog) -> None:
    cat.apply_sql("CREATE TABLE t (a int NOT NULL, b int, c int NOT NULL, KEY (b), UNIQUE KEY uc (c))", "db")
    t = cat.get("db", "t")
    assert t.primary_key() == ["c"]  # the first UNIQUE over NOT NULL columns stands in (COLUMN_KEY PRI)
    cat.apply_sql("ALTER TABLE t ADD PRIMARY KEY (a, b), ADD INDEX (b)", "db")
    t = cat.get("db", "t")
    assert t.primary_key() == ["a", "b"] and t.column("b").nullable is False
    assert [i.name for i in t.indexes] == ["b", "uc", "PRIMARY", "b_2"]
    cat.apply_sql("ALTER TABLE t DROP PRIMARY KEY, RENAME INDEX uc TO uc2, CHANGE c cc int NOT NULL", "db")
    assert cat.get("db", "t").primary_key() == ["cc"]
    cat.apply_sql("DROP INDEX uc2 ON t", "db")
    assert cat.get("db", "t").primary_key() == []
    cat.apply_sql("CREATE UNIQUE INDEX ub ON t (a(3))", "db")
    assert cat.get("db", "t").primary_key() == []  # a prefix key cannot be the primary key
    cat.apply_sql("ALTER TABLE t DROP COLUMN a", "db")
    assert [i.name for i in cat.get("db", "t").indexes] == ["b", "b_2"]  # ub lost its only column


def test_create_variants(cat: Catalog) -> None:
    cat.apply_sql("CREATE TABLE t (a int)", "db")
    res = cat.apply_sql("CREATE TABLE IF NOT EXISTS t (z int, y int)", "db")
    assert cols(cat, "t") == [("a", "int(11)")] and res.affected == []  # not overwritten (canal #1737 class)
    cat.apply_sql("CREATE OR REPLACE TABLE t (z int)", "db")
    assert cols(cat, "t") == [("z", "int(11)")]
    cat.apply_sql("CREATE TABLE other.l LIKE db.t", "db")
    assert cols(cat, "l", "other") == [("z", "int(11)")]
    cat.apply_sql("CREATE TABLE l2 (LIKE t)", "db")
    assert cols(cat, "l2") == [("z", "int(11)")]
    res = cat.apply_sql("CREATE TABLE l3 LIKE nowhere", "db")
    assert cat.get("db", "l3").uncertain and res.uncertain == [("db", "l3")]
    res = cat.apply_sql("CREATE TABLE s SELECT 1 AS x", "db")
    assert "SELECT" in (cat.get("db", "s").uncertain or "")
    cat.apply_sql(
        "CREATE TABLE `p` (`id` int NOT NULL, PRIMARY KEY (`id`)) ENGINE=InnoDB "
        "/*!50100 PARTITION BY RANGE (`id`) (PARTITION p0 VALUES LESS THAN (10) ENGINE = InnoDB) */",
        "db",
    )
    assert cols(cat, "p") == [("id", "int(11)")]
    cat.apply_sql("CREATE SEQUENCE sq", "db")
    assert cols(cat, "sq")[-1] == ("cycle_count", "bigint(21)")


def test_drop_rename_truncate_and_databases(cat: Catalog) -> None:
    cat.apply_sql("CREATE TABLE a (x int); CREATE TABLE b (y int)", "db")
    res = cat.apply_sql("RENAME TABLE a TO a2, b TO other.b2, a2 TO a3", "db")
    assert cat.get("db", "a") is None and cols(cat, "a3") == [("x", "int(11)")]
    assert cols(cat, "b2", "other") == [("y", "int(11)")]
    assert res.sql_type == "RENAME"
    res = cat.apply_sql("TRUNCATE TABLE a3", "db")
    assert res.affected == [("db", "a3")] and res.record and cols(cat, "a3") == [("x", "int(11)")]
    res = cat.apply_sql("DROP TABLE IF EXISTS a3, other.b2, gone /* generated by server */", "db")
    assert res.sql_type == "ERASE" and cat.get("db", "a3") is None and cat.get("other", "b2") is None
    cat.apply_sql("CREATE TABLE c (x int)", "db")
    res = cat.apply_sql("DROP DATABASE db", None)
    assert res.affected == [("db", "c")] and cat.get("db", "c") is None
    cat.apply_sql("USE other; CREATE TABLE q (a int)", None)
    assert cols(cat, "q", "other") == [("a", "int(11)")]
    with pytest.raises(SchemaHistoryError, match="no default database"):
        cat.apply_sql("CREATE TABLE r (a int)", None)


def test_convert_to_character_set_widens_text(cat: Catalog) -> None:
    cat.apply_sql(
        "CREATE TABLE cv (a text, b tinytext, c varchar(100), d mediumtext, e varbinary(10), "
        "f enum('x'), h json) CHARSET latin1",
        "db",
    )
    cat.apply_sql("ALTER TABLE cv CONVERT TO CHARACTER SET utf8mb4", "db")
    assert cols(cat, "cv") == [
        ("a", "mediumtext"),
        ("b", "text"),
        ("c", "varchar(100)"),
        ("d", "longtext"),
        ("e", "varbinary(10)"),
        ("f", "enum('x')"),
        ("h", "longtext"),
    ]
    assert {c.collation for c in cat.get("db", "cv").columns} == {"utf8mb4_general_ci", None}
    cat.apply_sql("ALTER TABLE cv CONVERT TO CHARACTER SET latin1", "db")  # never narrows
    assert [c for _, c in cols(cat, "cv")][:2] == ["mediumtext", "text"]


def test_uncertain_rules(cat: Catalog) -> None:
    cat.apply_sql("CREATE TABLE t (a int)", "db")
    res = cat.apply_sql("ALTER TABLE t MODIFY nope int", "db")
    assert res.uncertain == [("db", "t")] and "nope" in (cat.get("db", "t").uncertain or "")
    assert cols(cat, "t") == [("a", "int(11)")]  # the last known version is kept, flagged
    res = cat.apply_sql("ALTER TABLE unknown ADD x int", "db")
    assert cat.get("db", "unknown").uncertain == "altered, but unknown to the history"
    res = cat.apply_sql("ALTER TABLE t2 RENAME TO t3", "db")
    assert cat.get("db", "t3").uncertain and cat.get("db", "t2") is None
    res = cat.apply_sql("ALTER TABLE db.x (", None)
    assert res.record and res.uncertain == [("db", "x")] and res.notes[0].startswith("not understood")


def test_table_filter_skips_and_brings_in(cat: Catalog) -> None:
    def accept(schema: str, table: str) -> bool:
        return not table.startswith("skip")

    res = cat.apply(D.parse("CREATE TABLE skip1 (a int)"), "db", accept)
    assert not res.record and cat.get("db", "skip1") is None
    res = cat.apply(D.parse("RENAME TABLE skip1 TO kept"), "db", accept)
    assert res.record and cat.get("db", "kept").uncertain  # shape unknown: read live later
    cat.apply(D.parse("CREATE TABLE k2 (a int)"), "db", accept)
    cat.apply(D.parse("RENAME TABLE k2 TO skip2"), "db", accept)
    assert cat.get("db", "skip2") is None and cat.get("db", "k2") is None


def test_system_versioning(cat: Catalog) -> None:
    cat.apply_sql("CREATE TABLE v (id int PRIMARY KEY, a int) WITH SYSTEM VERSIONING", "db")
    t = cat.get("db", "v")
    assert [(c.name, c.column_type, c.invisible) for c in t.columns][2:] == [
        ("row_start", "timestamp(6)", True),
        ("row_end", "timestamp(6)", True),
    ]
    assert t.primary_key() == ["id", "row_end"]
    cat.apply_sql("ALTER TABLE v DROP SYSTEM VERSIONING", "db")
    assert [n for n, _ in cols(cat, "v")] == ["id", "a"] and cat.get("db", "v").primary_key() == ["id"]
    cat.apply_sql(
        "CREATE TABLE w (x int, s timestamp(6) GENERATED ALWAYS AS ROW START, "
        "e timestamp(6) GENERATED ALWAYS AS ROW END, PERIOD FOR SYSTEM_TIME(s, e)) WITH SYSTEM VERSIONING",
        "db",
    )
    assert [n for n, _ in cols(cat, "w")] == ["x", "s", "e"]


def test_snapshot_dump_and_load_round_trip(cat: Catalog) -> None:
    cat.apply_sql("CREATE DATABASE lat CHARACTER SET latin1", None)
    cat.apply_sql(
        "CREATE TABLE `we``ird` (`id` bigint unsigned NOT NULL AUTO_INCREMENT, a varchar(10) COLLATE latin1_bin, "
        "b enum('x','y''z'), g int AS (id + 1) STORED, i int INVISIBLE, PRIMARY KEY (id), UNIQUE KEY u (a(3), b), "
        "KEY (g)) WITH SYSTEM VERSIONING",
        "lat",
    )
    cat.apply_sql("CREATE TABLE j (d json, t text CHARACTER SET binary, s set('a'))", "db")
    cat.apply_sql("ALTER TABLE nowhere ADD x int", "db")
    data, extra = cat.dump()
    again = Catalog()
    again.load(data, extra)
    for t in cat.tables():
        u = again.get(t.schema, t.name)
        assert u is not None
        assert [(c.name, c.column_type, c.collation, c.nullable, c.invisible, c.generated) for c in u.columns] == [
            (c.name, c.column_type, c.collation, c.nullable, c.invisible, c.generated) for c in t.columns
        ]
        assert [(i.kind, i.name, i.parts) for i in u.indexes] == [(i.kind, i.name, i.parts) for i in t.indexes]
        assert (u.charset, u.collation, u.uncertain, u.versioned) == (t.charset, t.collation, t.uncertain, t.versioned)
    assert again.databases["lat"].charset == "latin1"


def test_sql_type_names() -> None:
    cases = {
        "CREATE TABLE t (a int)": "CREATE",
        "ALTER TABLE t ADD b int": "ALTER",
        "DROP TABLE t": "ERASE",
        "RENAME TABLE a TO b": "RENAME",
        "TRUNCATE t": "TRUNCATE",
        "CREATE INDEX i ON t (a)": "CINDEX",
        "DROP INDEX i ON t": "DINDEX",
        "CREATE DATABASE d": "CREATE",
    }
    for sql, expected in cases.items():
        (op,) = D.parse(sql)
        assert D.sql_type(op) == expected, sql


def test_mysql8_show_create_table_output() -> None:
    cat = Catalog(dialect=MYSQL8)
    show = (
        "CREATE TABLE `t` (\n  `id` int NOT NULL AUTO_INCREMENT,\n  `j` json DEFAULT NULL,\n"
        "  `d` datetime(3) DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),\n"
        "  `g` point NOT NULL /*!80003 SRID 4326 */,\n"
        "  `e` varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci GENERATED ALWAYS AS "
        "(concat(`id`,_utf8mb4'x')) VIRTUAL,\n  `h` int DEFAULT NULL /*!80023 INVISIBLE */,\n"
        "  PRIMARY KEY (`id`),\n  KEY `idx` ((lower(`e`))),\n  CONSTRAINT `c` CHECK ((`id` > 0))\n"
        ") ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci "
        "/*!80016 DEFAULT ENCRYPTION='N' */"
    )
    res = cat.apply_sql(show, "db")
    assert not res.uncertain, res.notes
    t = cat.get("db", "t")
    assert [(c.name, c.column_type) for c in t.columns] == [
        ("id", "int"),
        ("j", "json"),
        ("d", "datetime(3)"),
        ("g", "point"),
        ("e", "varchar(10)"),
        ("h", "int"),
        ("!hidden!idx!0!0", ""),  # the functional key part, as MySQL 8 keeps it
    ]
    assert t.column("h").invisible and t.primary_key() == ["id"]
    cat.apply_sql("ALTER TABLE t RENAME INDEX idx TO idx2", "db")
    assert t.columns[-1].name == "!hidden!idx!0!0" and cat.get("db", "t").columns[-1].name == "!hidden!idx2!0!0"
    data, extra = cat.dump()
    again = Catalog(dialect=MYSQL8)
    again.load(data, extra)
    assert [(c.name, c.column_type) for c in again.get("db", "t").columns] == [
        (c.name, c.column_type) for c in cat.get("db", "t").columns
    ]
    cat.apply_sql("DROP INDEX idx2 ON t", "db")
    assert [c.name for c in cat.get("db", "t").columns][-1] == "h"
