"""canal's MQ routing as pure functions (canal-spec.md 8.3, 8.4): Java's String.hashCode and int arithmetic,
dynamic topics with canal's shipped example, partition hashing of FlatMessages and Entries.

Every expected hash and partition below was computed with Java 17 (``String.hashCode()``,
``Math.abs(Math.abs(h) % n)``) and pasted here; none is derived from the code under test."""

from __future__ import annotations

import pytest

from pycanal.mq.routing import (
    DynamicTopic,
    PartitionHash,
    entry_partitions,
    flat_partitions,
    is_wildcard,
    java_abs,
    java_hash,
    java_rem,
    partition_of,
    routing_key,
    topic_partitions,
)
from pycanal.protocol import entry as pb

INT_MIN = -(2**31)

# String.hashCode() as Java 17 prints it.
JAVA_HASHES = {
    "": 0,
    "a": 97,
    "abc": 96354,
    "hello": 99162322,
    "polygenelubricants": INT_MIN,
    "Aa": 2112,
    "BB": 2112,
    "example": -1322970774,
    "mytest": -1059087298,
    "user": 3599307,
    "数据库": 25768533,
    "😀": 1772899,  # two UTF-16 code units
    "mytest1": 1528032179,
    "1": 49,
    "42": 1662,
    "order_items": 1964023695,
}

# Math.abs(Math.abs(s.hashCode()) % n) for n = 3, 4, 6, 7 (canal's table hash).
JAVA_TABLE_PARTITIONS = {
    "a": (1, 1, 1, 6),
    "abc": (0, 2, 0, 6),
    "hello": (1, 2, 4, 0),
    "polygenelubricants": (2, 0, 2, 2),
    "example": (0, 2, 0, 6),
    "mytest": (1, 2, 4, 3),
    "user": (0, 3, 3, 5),
    "数据库": (0, 1, 3, 0),
    "😀": (1, 3, 1, 2),
    "order_items": (0, 3, 3, 4),
}


@pytest.mark.parametrize(("text", "expected"), JAVA_HASHES.items())
def test_java_string_hash(text, expected):
    assert java_hash(text) == expected


@pytest.mark.parametrize(("text", "expected"), JAVA_TABLE_PARTITIONS.items())
def test_table_partition_matches_java(text, expected):
    assert tuple(partition_of(java_hash(text), n) for n in (3, 4, 6, 7)) == expected


def test_java_int_abs_and_remainder():
    assert java_abs(INT_MIN) == INT_MIN  # Math.abs(Integer.MIN_VALUE) stays negative
    assert java_abs(-5) == 5
    assert java_rem(INT_MIN, 3) == -2 and java_rem(INT_MIN, 7) == -2  # truncating: the dividend's sign
    assert java_rem(-7, 3) == -1 and java_rem(7, -3) == 1
    assert partition_of(INT_MIN, 3) == 2 and partition_of(INT_MIN, 7) == 2


def test_wildcard_detection_is_canals():
    assert not is_wildcard("mytest1.user")  # a dot alone is a simple name
    for pattern in ("a*", "a?", "a+", "a|b", "(a)", "a{2}", "[ab]", "a\\.b", "a$", "^a"):
        assert is_wildcard(pattern), pattern


# ----------------------------------------------------------------------------------------- dynamic topic

CANAL_EXAMPLE = "mytest1.user,topic2:mytest2\\..*,.*\\..*"  # instance.properties, as read (one backslash)


@pytest.mark.parametrize(
    ("schema", "table", "topic", "key"),
    [
        ("mytest1", "user", "mytest1.user", "mytest1_user"),  # simple rule, no name: the matched name
        ("MyTest1", "User", "mytest1.user", "mytest1_user"),  # case-insensitive, lower-cased topic
        ("mytest2", "orders", "topic2", "topic2"),  # named table regex
        ("shop", "Items", "shop.items", "shop_items"),  # catch-all table regex, lower-cased
        ("", "", "example", "example"),  # no schema/table: default topic
        ("shop", "", "example", "example"),
    ],
)
def test_canal_example_rules(schema, table, topic, key):
    rules = DynamicTopic.parse(CANAL_EXAMPLE)
    got = rules.topic_of(schema, table, "example")
    assert (got, routing_key(got, True)) == (topic, key)


def test_schema_rules_are_tried_after_every_table_rule():
    rules = DynamicTopic.parse("t1:shop\\.orders;test_.*;t3:db[0-9]+,mycanal")
    assert rules.topic_of("shop", "orders", "d") == "t1"
    assert rules.topic_of("test_a", "x", "d") == "test_a"  # a regex without \. matches the schema only
    assert rules.topic_of("db12", "x", "d") == "t3"
    assert rules.topic_of("MyCanal", "x", "d") == "mycanal"  # a simple rule equal to the schema
    assert rules.topic_of("shop", "items", "d") == "d"  # nothing matches: the default topic
    assert not DynamicTopic.parse("") and not DynamicTopic.parse(";,;")  # no rules: dynamic topics are off


def test_first_matching_rule_wins_and_named_rules_are_trimmed():
    rules = DynamicTopic.parse(" a : shop\\..* ; b:shop\\.orders")
    assert rules.topic_of("shop", "orders", "d") == "a"


def test_static_topic_keeps_its_dots():
    assert routing_key("my.topic", False) == "my.topic"
    assert routing_key("my.topic", True) == "my_topic"


def test_dynamic_topic_partition_num():
    config = "test.*:4,mycanal:6,bad:x,:9"
    assert topic_partitions("test_orders", config) == 4
    assert topic_partitions("MYCANAL", config) == 6
    assert topic_partitions("bad", config) is None  # not a number: canal leaves it unset
    assert topic_partitions("other", config) is None


# ----------------------------------------------------------------------------------------- partition hash


def flat(rows, *, database="mytest", table="person", pk=("id",), old=None, ddl=False):
    return {
        "data": rows,
        "database": database,
        "es": 1,
        "gtid": "",
        "id": 3,
        "isDdl": ddl,
        "mysqlType": None,
        "old": old,
        "pkNames": list(pk) if pk else None,
        "sql": "",
        "sqlType": None,
        "table": table,
        "ts": 2,
        "type": "UPDATE" if old else "INSERT",
    }


def test_pk_hash_splits_rows_with_their_old_rows_java_values():
    # Java: h = "mytest".hashCode() ^ pk.hashCode(); n = 4 -> "1": 1, "2": 0, "42": 0
    msg = flat([{"id": "1"}, {"id": "2"}, {"id": "42"}], old=[{"v": "a"}, {"v": "b"}, {"v": "c"}])
    parts = flat_partitions(msg, 4, "mytest.person:id")
    assert sorted(parts) == [0, 1]
    assert parts[1]["data"] == [{"id": "1"}] and parts[1]["old"] == [{"v": "a"}]
    assert parts[0]["data"] == [{"id": "2"}, {"id": "42"}] and parts[0]["old"] == [{"v": "b"}, {"v": "c"}]
    assert list(parts[0]) == list(msg)  # same keys, same order
    # n = 7 -> "1": 1, "2": 4, "42": 2 (Java)
    assert sorted(flat_partitions(msg, 7, "mytest\\..*:$pk$")) == [1, 2, 4]


def test_column_list_and_null_values_hash_like_java():
    # Java: "mytest".hashCode() ^ "1".hashCode() ^ "alice".hashCode() = -984216945 -> n=7: 5
    msg = flat([{"id": "1", "name": "alice"}])
    assert list(flat_partitions(msg, 7, "mytest.person:id^name")) == [5]
    # a NULL (or missing) column hashes as "": only the database hash is left (n=7: 3)
    assert list(flat_partitions(flat([{"id": None}]), 7, "mytest.person:id")) == [3]
    assert list(flat_partitions(msg, 7, "mytest.person:nosuch")) == [3]


def test_database_hash_off_and_int_min():
    msg = flat([{"id": "polygenelubricants"}])  # String.hashCode() == Integer.MIN_VALUE
    assert list(flat_partitions(msg, 3, "mytest.person:id", database_hash=False)) == [2]
    assert list(flat_partitions(msg, 7, "mytest.person:id", database_hash=False)) == [2]
    assert list(flat_partitions(flat([{"id": "1"}]), 4, "mytest.person:id", database_hash=False)) == [1]  # 49


def test_table_hash_ddl_and_unmatched_tables():
    msg = flat([{"id": "1"}, {"id": "2"}], table="user")
    assert flat_partitions(msg, 4, "mytest.user") == {3: msg}  # "user": n=4 -> 3, the message whole
    assert flat_partitions(msg, 4, "other\\..*:id") == {0: msg}  # no rule: partition 0
    assert flat_partitions(msg, 4, "") == {0: msg}
    ddl = flat(None, ddl=True)
    assert flat_partitions(ddl, 4, "mytest\\..*:id") == {0: ddl}  # DDL: partition 0
    statement = flat(None)
    assert flat_partitions(statement, 4, "mytest\\..*:id") == {0: statement}
    assert flat_partitions(msg, None, "mytest\\..*:id").keys() == {0}  # no partitionsNum: one partition
    assert PartitionHash.parse("a:$PK$").mode_of("A").auto_pk


def _entry(event_type, ids, *, schema="mytest", table="person"):
    rc = pb.RowChange(eventType=event_type)
    for i in ids:
        cols = [pb.Column(index=0, name="id", value=i, isKey=True), pb.Column(index=1, name="v", value="x")]
        if event_type == pb.DELETE:
            rc.rowDatas.add(beforeColumns=cols)
        else:
            rc.rowDatas.add(afterColumns=cols)
    return pb.Entry(
        header=pb.Header(schemaName=schema, tableName=table, eventType=event_type),
        entryType=pb.ROWDATA,
        storeValue=rc.SerializeToString(),
    )


def test_entry_partitions_split_rows_into_entries():
    entry = _entry(pb.UPDATE, ["1", "2", "42"])
    parts = entry_partitions(entry, 4, "mytest.person:$pk$")
    assert [p for p, _ in parts] == [1, 0, 0]  # same Java values as the flat split
    rows = [pb.RowChange.FromString(e.storeValue).rowDatas for _, e in parts]
    assert [[c.value for c in r[0].afterColumns if c.name == "id"] for r in rows] == [["1"], ["2"], ["42"]]
    assert all(e.header.tableName == "person" for _, e in parts)
    deleted = entry_partitions(_entry(pb.DELETE, ["1"]), 4, "mytest.person:ID")  # names: case-insensitive
    assert [p for p, _ in deleted] == [1]
    assert [p for p, _ in entry_partitions(_entry(pb.INSERT, ["1"], table="user"), 4, "mytest.user")] == [3]
    begin = pb.Entry(entryType=pb.TRANSACTIONBEGIN)
    assert entry_partitions(begin, 4, "mytest.person:id") == []
    assert entry_partitions(entry, 4, "") == [(0, entry)]
