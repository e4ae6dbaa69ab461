"""Reading what canal's MQ mode (Java canal or ``pycanal server`` with ``canal.serverMode = rabbitMQ``)
publishes to RabbitMQ: FlatMessage JSON or canal's protobuf MESSAGES packets, with manual acks.

The API, small on purpose so the adapter (and anyone) can build on it::

    from pycanal.client.rabbitmq import RabbitMQConsumer

    with RabbitMQConsumer("amqp://guest:guest@127.0.0.1:5672/%2F", "example") as consumer:
        for delivery in consumer:                 # blocks; ends after consumer.stop()
            for fm in delivery.flat_messages():   # canal FlatMessage dicts, whatever the format
                ...
            consumer.ack(delivery)                # or consumer.nack(delivery) to have it again

* :meth:`RabbitMQConsumer.get` waits up to ``timeout`` seconds for one :class:`Delivery` (None if none came).
* Nothing is acked automatically. A delivery not acked when the connection drops is requeued by the broker
  and comes again (``redelivered`` set): processing must be idempotent, as with canal's at-least-once MQ.
* With ``reconnect=True`` (the default) a lost connection is re-opened with backoff inside ``get``; acking a
  delivery of the old connection is then a no-op that returns False (the broker requeued it already).
* A body starting with ``{`` is a FlatMessage; anything else must parse as canal's protobuf Packet.

Imports: errors, protocol, client.base, mq.rabbitmq (settings and error translation).
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions as pex

from ..errors import MQConnectionError, MQError, MQRefusedError, RemoteProtocolError
from ..mq.rabbitmq import RabbitMQSettings, connect_error
from ..protocol import entry as pb
from ..protocol import packet as cp
from ..protocol.flat import flat_messages as entries_to_flat
from .base import Message

log = logging.getLogger(__name__)

__all__ = ["Delivery", "RabbitMQConsumer"]


@dataclass
class Delivery:
    """One broker message. ``kind`` is ``flat`` (one FlatMessage) or ``protobuf`` (a batch of Entries)."""

    body: bytes
    routing_key: str
    delivery_tag: int
    redelivered: bool
    generation: int  # which connection it came on: acks only count on the same one
    kind: str = field(init=False)

    def __post_init__(self) -> None:
        self.kind = "flat" if self.body[:1] == b"{" else "protobuf"

    def flat_messages(self) -> list[dict[str, Any]]:
        """The FlatMessages: the JSON itself, or the packet's Entries converted as canal's client would."""
        if self.kind == "flat":
            try:
                return [json.loads(self.body)]
            except ValueError as exc:
                raise RemoteProtocolError(f"a message on {self.routing_key!r} is not FlatMessage JSON: {exc}") from exc
        msg = self.message()
        return entries_to_flat(msg.entries, msg.batch_id)

    def message(self) -> Message:
        """The protobuf packet as a client Message (batch id and Entries)."""
        if self.kind != "protobuf":
            raise RemoteProtocolError(f"a message on {self.routing_key!r} is FlatMessage JSON, not a protobuf packet")
        try:
            packet = cp.Packet.FromString(self.body)
            if packet.type != cp.MESSAGES:
                raise ValueError(f"packet type {packet.type}, not MESSAGES")
            body = cp.Messages.FromString(packet.body)
        except Exception as exc:  # protobuf's DecodeError, or the check above
            what = f"a message on {self.routing_key!r} is not a canal MESSAGES packet"
            raise RemoteProtocolError(f"{what}: {exc}") from exc
        return Message(body.batch_id, raw=list(body.messages))

    def entries(self) -> list[pb.Entry]:
        """The Entries of a protobuf delivery."""
        return self.message().entries


class RabbitMQConsumer:
    """A manual-ack consumer of one queue. Not thread-safe: get, ack and nack from one thread."""

    def __init__(
        self,
        address: str,
        queue: str,
        *,
        virtual_host: str = "",
        username: str = "",
        password: str = "",
        prefetch: int = 256,
        reconnect: bool = True,
        max_backoff: float = 5.0,
    ) -> None:
        """``address``: ``host``, ``host:port`` or an amqp URI (login and virtual host may be in it)."""
        self.settings = RabbitMQSettings.parse(address, virtual_host=virtual_host, username=username, password=password)
        self.queue = queue
        self.prefetch = prefetch
        self.reconnect = reconnect
        self.max_backoff = max_backoff
        self.generation = 0
        self._conn: pika.BlockingConnection | None = None
        self._channel: Any = None
        self._ready: deque[Delivery] = deque()
        self._stopped = False  # iteration ends (sticky: set before iterating, iteration yields nothing)
        self._closed = False

    # -- connection -------------------------------------------------------------------------------------
    def connect(self) -> None:
        """Connect and start consuming (the queue must exist: a missing one raises MQRefusedError)."""
        self._close_connection()
        s = self.settings
        try:
            self._conn = pika.BlockingConnection(s.parameters())
            channel = self._conn.channel()
            channel.basic_qos(prefetch_count=self.prefetch)
            self.generation += 1
            generation = self.generation
            channel.basic_consume(
                self.queue,
                lambda _ch, method, _props, body: self._ready.append(
                    Delivery(body, method.routing_key, method.delivery_tag, method.redelivered, generation)
                ),
                auto_ack=False,
            )
        except pex.ChannelClosedByBroker as exc:
            self._close_connection()
            raise MQRefusedError(
                f"RabbitMQ at {s.address} refused to consume queue {self.queue!r} in virtual host "
                f"{s.virtual_host!r}: {exc.reply_code} {exc.reply_text}"
            ) from exc
        except (pex.AMQPError, OSError) as exc:
            self._close_connection()
            raise connect_error(s, exc) from exc
        self._channel = channel

    def _close_connection(self) -> None:
        conn, self._conn, self._channel = self._conn, None, None
        self._ready.clear()  # unacked deliveries of a closed channel are the broker's again
        if conn is not None and conn.is_open:
            try:
                conn.close()
            except Exception:
                log.debug("closing the RabbitMQ consumer connection failed", exc_info=True)

    def close(self) -> None:
        """Close the connection; undelivered and unacked messages go back to the queue. Final."""
        self._stopped = self._closed = True
        self._close_connection()

    def stop(self) -> None:
        """End iteration after the current ``get`` (from the consuming thread, or a signal handler)."""
        self._stopped = True

    def __enter__(self) -> RabbitMQConsumer:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- consuming --------------------------------------------------------------------------------------
    def get(self, timeout: float | None = 1.0) -> Delivery | None:
        """The next delivery, waiting up to ``timeout`` seconds (None: until one comes). A lost connection
        is re-opened (``reconnect``) or raised as MQConnectionError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        backoff = 0.2
        while True:
            if self._closed:
                raise MQConnectionError(f"the consumer of {self.queue!r} is closed")
            if self._ready:
                return self._ready.popleft()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            try:
                if self._conn is None:
                    self.connect()
                    backoff = 0.2
                assert self._conn is not None
                self._conn.process_data_events(0.1 if remaining is None else min(0.1, remaining))
            except (MQError, pex.AMQPError, OSError) as exc:
                err = exc if isinstance(exc, MQError) else connect_error(self.settings, exc)
                self._close_connection()
                if not self.reconnect or self._stopped:
                    raise err from exc
                log.warning("RabbitMQ consumer of %r: %s; reconnecting in %.1fs", self.queue, err, backoff)
                time.sleep(backoff if remaining is None else max(0.0, min(backoff, remaining)))
                backoff = min(backoff * 2, self.max_backoff)

    def __iter__(self) -> Iterator[Delivery]:
        while not self._stopped:
            try:
                delivery = self.get(0.5)
            except MQError:
                if self._stopped:
                    return  # stopped while reconnecting
                raise
            if delivery is not None:
                yield delivery

    def ack(self, delivery: Delivery, multiple: bool = False) -> bool:
        """Confirm a delivery (and with ``multiple`` every earlier one). False when it came on a connection
        that is gone: the broker has requeued it and will deliver it again."""
        return self._settle(delivery, lambda ch: ch.basic_ack(delivery.delivery_tag, multiple=multiple))

    def nack(self, delivery: Delivery, requeue: bool = True) -> bool:
        """Reject a delivery; with ``requeue`` the broker delivers it again. False as for :meth:`ack`."""
        return self._settle(delivery, lambda ch: ch.basic_nack(delivery.delivery_tag, requeue=requeue))

    def _settle(self, delivery: Delivery, action: Any) -> bool:
        if self._channel is None or delivery.generation != self.generation or not self._channel.is_open:
            return False
        try:
            action(self._channel)
        except (pex.AMQPError, OSError) as exc:
            self._close_connection()
            if not self.reconnect:
                raise MQConnectionError(f"settling a delivery failed: {exc}") from exc
            return False
        return True
