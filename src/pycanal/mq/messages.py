"""One get batch -> the broker messages canal's RabbitMQ producer would publish for it (canal-spec.md 8.1, 8.2).

Built on the existing converters: :func:`pycanal.protocol.flat.flat_message` and
:func:`pycanal.protocol.flat.to_json` for FlatMessage JSON, :mod:`pycanal.protocol.frames` for the
protobuf packet. What canal's producer does, kept byte for byte:

* ``canal.mq.flatMessage = true``: one JSON FlatMessage per Entry that is not BEGIN/END, UTF-8.
* ``flatMessage = false`` and no dynamic topic: the whole batch as canal's raw MESSAGES packet (type and
  body only, batch id, BEGIN/END kept): what ``CanalMessageSerializerUtil`` writes for raw entries.
* ``flatMessage = false`` with a dynamic topic: one packet per topic, built the normal way (``version`` 1)
  from that topic's Entries only; canal sets no batch id on these (it reads as 0).
* With a dynamic topic every entry goes to its topic (:class:`~pycanal.mq.routing.DynamicTopic`) and the
  routing key is the topic with ``.`` made ``_``; without one, everything goes to ``canal.mq.topic`` as is.

Messages of one topic keep the batch's order; publishing them in list order keeps each queue in binlog order.

Imports: protocol, mq.routing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..protocol import entry as pb
from ..protocol import packet as cp
from ..protocol.flat import flat_message, to_json
from ..protocol.frames import raw_messages_packet
from .routing import DynamicTopic, routing_key

__all__ = ["Outgoing", "build_messages", "messages_packet"]

_TRANSACTION = (pb.TRANSACTIONBEGIN, pb.TRANSACTIONEND)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to publish: its canal topic, the routing key it goes out with, and the body."""

    topic: str
    routing_key: str
    body: bytes


def messages_packet(entries: Sequence[bytes]) -> bytes:
    """canal's non-raw MQ packet: ``Packet{version 1, type MESSAGES, body Messages{messages}}``, no batch id."""
    body = cp.Messages(messages=list(entries)).SerializeToString()
    return cp.Packet(version=1, type=cp.MESSAGES, body=body).SerializeToString()  # type: ignore[arg-type,unused-ignore]


def build_messages(
    batch_id: int,
    entries: Sequence[bytes],
    *,
    topic: str,
    dynamic_topic: DynamicTopic | None = None,
    flat: bool = True,
    clock: Callable[[], float] = time.time,
) -> list[Outgoing]:
    """The messages for one batch of serialized Entries, in publishing order."""
    dynamic = bool(dynamic_topic)
    if not flat and not dynamic:
        return [Outgoing(topic, topic, raw_messages_packet(batch_id, entries))]
    decoded = [(raw, pb.Entry.FromString(raw)) for raw in entries]
    if flat:
        out = []
        for _raw, entry in decoded:
            msg = flat_message(entry, batch_id, ts=int(clock() * 1000))
            if msg is None:
                continue
            name = _topic(entry, topic, dynamic_topic)
            out.append(Outgoing(name, routing_key(name, dynamic), to_json(msg).encode("utf-8")))
        return out
    by_topic: dict[str, list[bytes]] = {}
    for raw, entry in decoded:
        if entry.entryType in _TRANSACTION:
            continue
        name = _topic(entry, topic, dynamic_topic)
        by_topic.setdefault(name, []).append(raw)
    return [Outgoing(name, routing_key(name, True), messages_packet(raws)) for name, raws in by_topic.items()]


def _topic(entry: pb.Entry, default: str, dynamic_topic: DynamicTopic | None) -> str:
    if not dynamic_topic:
        return default
    return dynamic_topic.topic_of(entry.header.schemaName, entry.header.tableName, default)
