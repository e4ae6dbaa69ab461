"""canal's position and identity values, with their JSON as canal writes it (canal-spec.md section 4.1).

canal serializes with fastjson2: keys in alphabetical order, nulls omitted, and the historic misspelling
``postion`` for a LogPosition's entry position. Cursors stored in ZooKeeper carry a leading ``"@type"``.
Imports only errors.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import ConfigError

LOG_POSITION_TYPE = "com.alibaba.otter.canal.protocol.position.LogPosition"


def dumps(obj: dict[str, Any]) -> str:
    """Compact JSON as canal writes it (no spaces; keys already in canal's order)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


_BINLOG_NUMBER = re.compile(r"(.*?)(\d+)")


def binlog_file_order(name: str) -> tuple[str, int]:
    """A binlog file name as (base, number): ``mysql-bin.000012`` -> (``mysql-bin.``, 12).

    MySQL and MariaDB number binlog files upwards with at least six digits and go on past 999999 with
    seven, so files order by that number, never by the text (``.1000000`` follows ``.999999``). Only
    names with the same base are ordered; a name without a number is its own base, numbered -1.
    """
    m = _BINLOG_NUMBER.fullmatch(name)
    return (m.group(1), int(m.group(2))) if m else (name, -1)


@dataclass(frozen=True, slots=True)
class EntryPosition:
    """A binlog position: ``journal_name``:``position`` is the start offset of an event."""

    journal_name: str | None = None
    position: int | None = None
    server_id: int | None = None
    timestamp: int | None = None  # ms
    gtid: str | None = None
    included: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.gtid is not None:
            out["gtid"] = self.gtid
        out["included"] = self.included
        if self.journal_name is not None:
            out["journalName"] = self.journal_name
        if self.position is not None:
            out["position"] = self.position
        if self.server_id is not None:
            out["serverId"] = self.server_id
        if self.timestamp is not None:
            out["timestamp"] = self.timestamp
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> EntryPosition:
        return cls(
            journal_name=d.get("journalName"),
            position=_opt_int(d.get("position")),
            server_id=_opt_int(d.get("serverId")),
            timestamp=_opt_int(d.get("timestamp")),
            gtid=d.get("gtid"),
            included=bool(d.get("included", False)),
        )

    def compare(self, other: EntryPosition) -> int | None:
        """-1, 0 or 1 as this position is before, at or after ``other`` in one server's binlog, by the
        number of the binlog file (:func:`binlog_file_order`), then the offset.

        None when the two cannot be ordered so: a file name or offset is missing, or the files' base names
        differ (another server, or ``log_bin`` renamed), since a name says nothing about order across
        bases. Callers decide what else to compare then (GTIDs, timestamps); whether both positions are
        from the same server is theirs to check too.
        """
        if not self.journal_name or not other.journal_name or self.position is None or other.position is None:
            return None
        base_a, num_a = binlog_file_order(self.journal_name)
        base_b, num_b = binlog_file_order(other.journal_name)
        if base_a != base_b:
            return None
        ka, kb = (num_a, self.position), (num_b, other.position)
        return (ka > kb) - (ka < kb)


@dataclass(frozen=True, slots=True)
class LogIdentity:
    """Where the data came from: the MySQL address (host as configured) and port."""

    address: str | None = None
    port: int | None = None
    slave_id: int = -1

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"slaveId": self.slave_id}
        if self.address is not None or self.port is not None:
            addr: dict[str, Any] = {}
            if self.address is not None:
                addr["address"] = self.address
            if self.port is not None:
                addr["port"] = self.port
            out["sourceAddress"] = addr
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LogIdentity:
        addr = d.get("sourceAddress") or {}
        return cls(addr.get("address"), _opt_int(addr.get("port")), int(d.get("slaveId", -1)))


@dataclass(frozen=True, slots=True)
class LogPosition:
    """A cursor: identity plus entry position (the JSON key is canal's ``postion``)."""

    identity: LogIdentity
    position: EntryPosition

    def to_json(self, with_type: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"@type": LOG_POSITION_TYPE} if with_type else {}
        out["identity"] = self.identity.to_json()
        out["postion"] = self.position.to_json()
        return out

    def dumps(self, with_type: bool = False) -> str:
        return dumps(self.to_json(with_type))

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LogPosition:
        if not isinstance(d, dict):
            raise ConfigError(f"a LogPosition must be a JSON object, got {type(d).__name__}")
        t = d.get("@type")
        if t is not None and t != LOG_POSITION_TYPE:
            raise ConfigError(f"unexpected position @type {t!r}")
        entry = d.get("postion", d.get("position"))
        return cls(LogIdentity.from_json(d.get("identity") or {}), EntryPosition.from_json(entry or {}))

    @classmethod
    def loads(cls, text: str | bytes) -> LogPosition:
        try:
            return cls.from_json(json.loads(text))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"bad LogPosition JSON {text!r}: {exc}") from exc

    def with_included(self, included: bool) -> LogPosition:
        return replace(self, position=replace(self.position, included=included))


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """A consumer of a destination. canal's client id is a Java short; 1001 in the Java connector."""

    destination: str
    client_id: int
    filter: str = field(default="", compare=False)  # canal compares destination and client id only

    def to_json(self) -> dict[str, Any]:
        return {"clientId": self.client_id, "destination": self.destination, "filter": self.filter}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ClientIdentity:
        return cls(str(d["destination"]), int(d["clientId"]), str(d.get("filter") or ""))

    def key(self) -> tuple[str, int]:
        """Identity without the filter: a re-subscribe with another filter is the same client."""
        return (self.destination, self.client_id)


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)
