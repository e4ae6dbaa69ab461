"""Where canal's MQ mode sends each change: dynamic topics and partition hashing (canal-spec.md 8.3, 8.4).

Pure functions over canal's rule strings, with canal's exact semantics (``MQMessageUtils``), so every
producer shares one implementation: RabbitMQ uses only the topic; the partition functions are there for
the Kafka/RocketMQ producers a later issue may add, and are tested against Java's own values now.

* Rule lists are split on ``,`` and ``;`` (empty pieces dropped, nothing trimmed unless canal trims).
* A pattern is *simple* when it has none of ``* ? + | ( ) { } [ ] \\ $ ^``: it is compared with the
  name case-insensitively. Otherwise it is a canal table-filter regex (:class:`pycanal.filter.RegexFilter`).
* Hashes are Java's: ``String.hashCode`` over UTF-16 code units with 32-bit wrap-around, ``Math.abs``
  that leaves ``Integer.MIN_VALUE`` negative, and ``%`` that truncates toward zero.

Imports: filter, protocol.entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..filter import RegexFilter
from ..protocol import entry as pb

__all__ = [
    "DynamicTopic",
    "HashMode",
    "PartitionHash",
    "entry_partitions",
    "flat_partitions",
    "is_wildcard",
    "java_abs",
    "java_hash",
    "java_rem",
    "partition_of",
    "routing_key",
    "topic_partitions",
]

_INT_MIN = -(1 << 31)
_WILDCARD = frozenset("*?+|(){}[]\\$^")


# ----------------------------------------------------------------------------------------- Java arithmetic


def java_hash(text: str) -> int:
    """Java's ``String.hashCode()``: ``h = 31*h + c`` over UTF-16 code units, as a signed 32-bit int."""
    h = 0
    units = text.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(units), 2):
        h = (31 * h + (units[i] << 8 | units[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def java_abs(value: int) -> int:
    """Java's ``Math.abs(int)``: ``Integer.MIN_VALUE`` has no positive twin and stays negative."""
    return value if value == _INT_MIN else abs(value)


def java_rem(value: int, n: int) -> int:
    """Java's ``%`` on ints: the remainder takes the sign of the dividend (truncating division)."""
    r = abs(value) % abs(n)
    return -r if value < 0 else r


def partition_of(hash_code: int, partitions: int) -> int:
    """canal's ``Math.abs(Math.abs(h) % n)``: in 0..n-1 even for ``Integer.MIN_VALUE``."""
    return java_abs(java_rem(java_abs(hash_code), partitions))


# ------------------------------------------------------------------------------------------------- rules


def is_wildcard(pattern: str) -> bool:
    """canal's ``isWildCard``: any regex metacharacter (a plain ``.`` is not one)."""
    return any(c in _WILDCARD for c in pattern)


def _split_rules(config: str) -> list[str]:
    """``StringUtils.split(config.replace(",", ";"), ";")``: pieces kept as written, empty ones dropped."""
    return [p for p in (config or "").replace(",", ";").split(";") if p]


@dataclass(frozen=True, slots=True)
class _Name:
    """One pattern: simple (case-insensitive equality) or a canal regex filter."""

    simple: str | None
    regex: RegexFilter | None

    @classmethod
    def of(cls, pattern: str) -> _Name:
        if is_wildcard(pattern):
            return cls(None, RegexFilter(pattern))
        return cls(pattern, None)

    def matches(self, name: str) -> bool:
        if self.simple is not None:
            return self.simple.lower() == name.lower()
        assert self.regex is not None
        return self.regex.filter(name)


# ----------------------------------------------------------------------------------------- dynamic topic


@dataclass(frozen=True, slots=True)
class _TopicRule:
    topic: str | None  # None: the matched name, lower-cased, is the topic
    simple: str | None
    table_regex: RegexFilter | None  # a regex with ``\.`` in it: matched against schema.table
    schema_regex: RegexFilter | None  # any other regex: matched against the schema alone

    def matches(self, name: str) -> bool:
        if self.simple is not None:
            return self.simple.lower() == name.lower()
        if "." in name:
            return self.table_regex is not None and self.table_regex.filter(name)
        return self.schema_regex is not None and self.schema_regex.filter(name)


def _topic_rule(topic: str | None, pattern: str) -> _TopicRule:
    if not is_wildcard(pattern):
        return _TopicRule(topic, pattern, None, None)
    if "\\." in pattern:
        return _TopicRule(topic, None, RegexFilter(pattern), None)
    return _TopicRule(topic, None, None, RegexFilter(pattern))


@dataclass(frozen=True)
class DynamicTopic:
    """``canal.mq.dynamicTopic`` rules: ``topic:pattern`` or ``pattern``, first match wins.

    :meth:`topic_of` gives the topic of a row or DDL entry: ``schema.table`` is tried against every rule,
    then ``schema`` alone, then the default topic. A rule without a topic name sends to the matched name
    lower-cased (``mytest1.user``); canal's RabbitMQ producer then turns ``.`` into ``_`` for the routing key.
    """

    config: str
    rules: tuple[_TopicRule, ...] = field(default=(), compare=False)

    @classmethod
    def parse(cls, config: str) -> DynamicTopic:
        rules = []
        for item in _split_rules(config):
            i = item.find(":")
            if i > -1:  # canal trims both sides only in this form
                rules.append(_topic_rule(item[:i].strip(), item[i + 1 :].strip()))
            else:
                rules.append(_topic_rule(None, item))
        return cls(config, tuple(rules))

    def __bool__(self) -> bool:
        return bool(self.rules)

    def match(self, name: str) -> str | None:
        """The topic of the first rule matching ``name`` (``schema.table`` or ``schema``), else None."""
        for rule in self.rules:
            if rule.matches(name):
                return rule.topic if rule.topic is not None else name.lower()
        return None

    def topic_of(self, schema: str, table: str, default_topic: str) -> str:
        """canal's ``messageTopics`` for one entry (BEGIN/END are the caller's to drop)."""
        if not schema or not table:
            return default_topic
        topic = self.match(f"{schema}.{table}")
        if topic is None:
            topic = self.match(schema)
        return default_topic if topic is None else topic


def routing_key(topic: str, dynamic: bool) -> str:
    """The RabbitMQ routing key canal publishes with: a dynamic topic's name with ``.`` made ``_``; the
    static ``canal.mq.topic`` as written (canal's RabbitMQ producer replaces only in the dynamic branch)."""
    return topic.replace(".", "_") if dynamic else topic


def topic_partitions(topic: str, config: str) -> int | None:
    """``canal.mq.dynamicTopicPartitionNum`` (``pattern:count`` pairs) for ``topic``: the first matching
    rule's count, None when none matches (or its count is not a plain number, which canal leaves unset)."""
    for item in _split_rules(config):
        i = item.rfind(":")
        if i <= 0:
            continue  # canal keeps only pieces with a name before the last colon
        count = item[i + 1 :]
        if _Name.of(item[:i]).matches(topic):
            return int(count) if count.isascii() and count.isdigit() else None
    return None


# -------------------------------------------------------------------------------------- partition hashing


@dataclass(frozen=True, slots=True)
class HashMode:
    """How a matched table is hashed: by its name only, by its key columns, or by the named columns."""

    table_hash: bool = False
    auto_pk: bool = False
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class PartitionHash:
    """``canal.mq.partitionHash`` rules (``pattern:col1^col2``, ``pattern:$pk$`` or ``pattern``), matched
    against ``schema.table``; first match wins."""

    config: str
    rules: tuple[tuple[_Name, HashMode], ...] = field(default=(), compare=False)

    @classmethod
    def parse(cls, config: str) -> PartitionHash:
        rules = []
        for item in _split_rules(config):
            i = item.rfind(":")
            if i > 0:
                cols = item[i + 1 :]
                mode = (
                    HashMode(auto_pk=True)
                    if cols.lower() == "$pk$"
                    else HashMode(columns=tuple(c for c in cols.split("^") if c))
                )
                item = item[:i]
            else:
                mode = HashMode(table_hash=True)
            rules.append((_Name.of(item), mode))
        return cls(config, tuple(rules))

    def __bool__(self) -> bool:
        return bool(self.rules)

    def mode_of(self, name: str) -> HashMode | None:
        """canal's ``getPartitionHashColumns``: the hash mode of the first rule matching ``schema.table``."""
        for pattern, mode in self.rules:
            if pattern.matches(name):
                return mode
        return None


@lru_cache(maxsize=64)
def _partition_hash(config: str) -> PartitionHash:
    return PartitionHash.parse(config)


def flat_partitions(
    message: Mapping[str, Any], partitions: int | None, config: str, database_hash: bool = True
) -> dict[int, dict[str, Any]]:
    """canal's flat ``messagePartition``: one FlatMessage split into per-partition FlatMessages, rows (and
    their ``old`` rows) kept in order. DDL, statements without rows and tables no rule matches go to 0 whole;
    a table-name rule moves the message whole. Only partitions that get something are in the result."""
    n = partitions or 1
    data = message.get("data")
    if message.get("isDdl") or not data:
        return {0: dict(message)}
    database, table = message.get("database") or "", message.get("table") or ""
    mode = _partition_hash(config).mode_of(f"{database}.{table}") if config else None
    if mode is None:
        return {0: dict(message)}
    if mode.table_hash:
        return {partition_of(java_hash(table), n): dict(message)}
    names: Sequence[str] | None = message.get("pkNames") if mode.auto_pk else mode.columns
    old = message.get("old") or None
    out: dict[int, dict[str, Any]] = {}
    for idx, row in enumerate(data):
        h = java_hash(database) if database_hash else 0
        for name in names or ():
            value = row.get(name)
            h ^= java_hash("" if value is None else value)
        part = out.get(p := partition_of(h, n))
        if part is None:
            part = out[p] = {**message, "data": [], "old": [] if old else None}
        part["data"].append(row)
        if old:
            part["old"].append(old[idx])
    return out


def entry_partitions(
    entry: pb.Entry, partitions: int | None, config: str, database_hash: bool = True
) -> list[tuple[int, pb.Entry]]:
    """canal's protobuf ``messagePartition`` for one Entry: (partition, Entry) pairs. A hashed row change is
    split into one Entry per row (each with its own RowChange); BEGIN/END give nothing (canal drops them when
    partitioning); DDL, rows-less statements and unmatched tables go to 0 whole."""
    n = partitions or 1
    if entry.entryType in (pb.TRANSACTIONBEGIN, pb.TRANSACTIONEND):
        return []
    rc = pb.RowChange.FromString(entry.storeValue)
    if rc.isDdl or not rc.rowDatas:
        return [(0, entry)]
    database, table = entry.header.schemaName, entry.header.tableName
    mode = _partition_hash(config).mode_of(f"{database}.{table}") if config else None
    if mode is None:
        return [(0, entry)]
    if mode.table_hash:
        return [(partition_of(java_hash(table), n), entry)]
    wanted = {c.lower() for c in mode.columns}
    out = []
    for row in rc.rowDatas:
        h = java_hash(database) if database_hash else 0
        columns = row.beforeColumns if rc.eventType == pb.DELETE else row.afterColumns
        for col in columns:
            hashed = col.isKey if mode.auto_pk else col.name.lower() in wanted
            if hashed:
                h ^= java_hash(col.value)
        single = pb.RowChange()
        single.CopyFrom(rc)
        del single.rowDatas[:]
        single.rowDatas.add().CopyFrom(row)
        split = pb.Entry()
        split.CopyFrom(entry)
        split.storeValue = single.SerializeToString()
        out.append((partition_of(h, n), split))
    return out
