"""Client-side quoting of metadata query arguments, in both sql_mode flavours (no server)."""

from __future__ import annotations

import datetime
import decimal

import pytest

from pycanal.errors import LocalProtocolError
from pycanal.mysql.meta import format_query, literal, quote_string

NASTY = "a'b\"c\\d\x00e\nf\rg\x1ah%s%%"


def test_backslash_escapes() -> None:
    assert quote_string(NASTY) == "'a\\'b\\\"c\\\\d\\0e\\nf\\rg\\Zh%s%%'"
    assert quote_string("é😀") == "'é😀'"


def test_no_backslash_escapes_only_doubles_quotes() -> None:
    # with NO_BACKSLASH_ESCAPES a backslash is an ordinary character: escaping it would change the value
    assert quote_string(NASTY, no_backslash_escapes=True) == "'a''b\"c\\d\x00e\nf\rg\x1ah%s%%'"


@pytest.mark.parametrize(
    ("value", "sql"),
    [
        (None, "NULL"),
        (True, "1"),
        (False, "0"),
        (-42, "-42"),
        (2**64 - 1, "18446744073709551615"),
        (1.5, "1.5"),
        (decimal.Decimal("-0.010"), "-0.010"),
        (b"\x00'\xff", "X'0027ff'"),
        (b"", "X''"),
        (bytearray(b"\x01"), "X'01'"),
        (datetime.datetime(2024, 1, 2, 3, 4, 5, 678000), "'2024-01-02 03:04:05.678000'"),
        (datetime.date(2024, 1, 2), "'2024-01-02'"),
        (datetime.time(3, 4, 5), "'03:04:05'"),
    ],
)
def test_literals(value: object, sql: str) -> None:
    assert literal(value) == sql
    assert literal(value, no_backslash_escapes=True) == sql


@pytest.mark.parametrize("value", [float("nan"), float("inf"), decimal.Decimal("NaN"), object(), [1, 2]])
def test_values_without_a_literal_are_refused(value: object) -> None:
    with pytest.raises(LocalProtocolError, match="SQL literal"):
        literal(value)


def test_format_query() -> None:
    sql = "SELECT * FROM t WHERE a = %s AND b LIKE 'x%%' AND c IN (%s, %s)"
    assert (
        format_query(sql, ("it's", None, 3)) == "SELECT * FROM t WHERE a = 'it\\'s' AND b LIKE 'x%' AND c IN (NULL, 3)"
    )
    assert format_query("SELECT %(a)s, %(a)s", {"a": "x"}) == "SELECT 'x', 'x'"
    # no arguments: the text is sent as written, % signs included (SHOW VARIABLES LIKE 'rds\_%')
    assert format_query("SHOW VARIABLES LIKE 'rds\\_%'", None) == "SHOW VARIABLES LIKE 'rds\\_%'"
    # an empty argument list still formats, so names quoted with %% for it come out right
    assert format_query("SHOW CREATE TABLE `a%%b`", ()) == "SHOW CREATE TABLE `a%b`"
    # an argument value is never read as a placeholder
    assert format_query("SELECT %s, %s", ("%s", "%%")) == "SELECT '%s', '%%'"


@pytest.mark.parametrize(
    ("sql", "args"), [("SELECT %s, %s", ("one",)), ("SELECT %s", ("a", "b")), ("SELECT %(x)s", {})]
)
def test_placeholders_must_fit_the_arguments(sql: str, args: object) -> None:
    with pytest.raises(LocalProtocolError, match="does not fit its arguments"):
        format_query(sql, args)  # type: ignore[arg-type]
