"""canal's PositionRange: what one batch covers, as the meta manager records it under a batch id.

JSON as fastjson2 writes it (keys alphabetical, nulls omitted): ``{"ack":..,"end":..,"endSeq":N,"start":..}``.
The ``java_str`` helpers imitate the Java ``toString`` (commons-lang reflection style) that canal puts into
error messages such as "clientId:1001 has last batch:[PositionRange[...]] isn't ack , maybe loss data".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..model import EntryPosition, LogIdentity, LogPosition, dumps

POSITION_RANGE_TYPE = "com.alibaba.otter.canal.protocol.position.PositionRange"


@dataclass(frozen=True, slots=True)
class PositionRange:
    """First and last event positions of a batch, its last ack point, and the store sequence of its end.

    ``ack`` is None when the batch holds no ack point (the middle of a big transaction): acking such a
    batch frees the store but does not move the client cursor.
    """

    start: LogPosition
    end: LogPosition
    ack: LogPosition | None = None
    end_seq: int = -1

    def to_json(self, with_type: bool = False) -> dict[str, Any]:
        """canal's JSON; ``with_type`` adds fastjson2's ``@type`` keys as ZooKeeper batch marks carry them."""
        out: dict[str, Any] = {"@type": POSITION_RANGE_TYPE} if with_type else {}
        if self.ack is not None:
            out["ack"] = self.ack.to_json(with_type)
        out["end"] = self.end.to_json(with_type)
        out["endSeq"] = self.end_seq
        out["start"] = self.start.to_json(with_type)
        return out

    def dumps(self, with_type: bool = False) -> str:
        return dumps(self.to_json(with_type))

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PositionRange:
        if not isinstance(d, dict):
            raise ConfigError(f"a PositionRange must be a JSON object, got {type(d).__name__}")
        t = d.get("@type")
        if t is not None and t != POSITION_RANGE_TYPE:
            raise ConfigError(f"unexpected position range @type {t!r}")
        if d.get("start") is None or d.get("end") is None:
            raise ConfigError(f"a PositionRange needs start and end: {d!r}")
        ack = d.get("ack")
        try:
            end_seq = int(d.get("endSeq", -1))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad endSeq in PositionRange {d!r}") from exc
        return cls(
            LogPosition.from_json(d["start"]),
            LogPosition.from_json(d["end"]),
            None if ack is None else LogPosition.from_json(ack),
            end_seq,
        )

    @classmethod
    def loads(cls, text: str | bytes) -> PositionRange:
        try:
            return cls.from_json(json.loads(text))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"bad PositionRange JSON {text!r}: {exc}") from exc

    def java_str(self) -> str:
        return (
            f"PositionRange[start={java_str(self.start)},ack={java_str(self.ack)},"
            f"end={java_str(self.end)},endSeq={self.end_seq}]"
        )


def _v(value: Any) -> str:
    if value is None:
        return "<null>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _identity_str(identity: LogIdentity) -> str:
    addr = "<null>"
    if identity.address is not None or identity.port is not None:
        addr = f"/{identity.address or ''}:{identity.port or 0}"  # InetSocketAddress.toString, roughly
    return f"LogIdentity[sourceAddress={addr},slaveId={identity.slave_id}]"


def _entry_str(p: EntryPosition) -> str:
    return (
        f"EntryPosition[included={_v(p.included)},journalName={_v(p.journal_name)},position={_v(p.position)},"
        f"serverId={_v(p.server_id)},gtid={_v(p.gtid)},timestamp={_v(p.timestamp)}]"
    )


def java_str(position: LogPosition | None) -> str:
    """A LogPosition as canal's ``toString`` prints it (``<null>`` for None)."""
    if position is None:
        return "<null>"
    return f"LogPosition[identity={_identity_str(position.identity)},postion={_entry_str(position.position)}]"
