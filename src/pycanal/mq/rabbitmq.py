"""canal's RabbitMQ producer (``canal.serverMode = rabbitMQ``) with publisher confirms.

Settings are canal's keys (``rabbitmq.*``, canal-spec.md 8.1). What canal does, and what pycanal does instead:

* ``rabbitmq.host`` is ``host``, ``host:port`` or (pycanal) an ``amqp://`` / ``amqps://`` URI; a URI's login
  and virtual host are used unless ``rabbitmq.username`` / ``rabbitmq.virtual.host`` say otherwise.
* canal declares ``rabbitmq.queue`` durable, the exchange (type ``rabbitmq.deliveryMode``, durable) and the
  binding on every start, whatever is set, so with the default exchange it fails (RabbitMQ refuses to
  declare it). pycanal declares the queue durable when it is set, and the exchange and the binding only when
  exchange, queue, routing key and delivery mode are all set; a named exchange it does not declare must
  exist (checked at connect). With ``rabbitmq.exchange`` empty, messages go to the default exchange, where
  the routing key names the queue.
* Every message is published as canal's ``PERSISTENT_TEXT_PLAIN`` (content type text/plain, delivery mode 2,
  priority 0) and *mandatory*; the channel is in confirm mode and :meth:`RabbitMQProducer.publish` returns
  only when the broker confirmed every message of the batch. A nack, a returned (unroutable) message, a
  closed channel or connection, or no confirm in time raise an :class:`~pycanal.errors.MQError`; canal acks
  as soon as ``basicPublish`` returns, and loses what the broker had not taken.

pika's blocking adapter confirms one message at a time (a round trip each); the channel underneath it
(``BlockingChannel._impl``) takes an ack/nack callback, so a whole batch is written at once and its confirms
(``multiple`` acks) are collected as they come. That private attribute is the one place pika internals are used.

Imports: config, errors, mq.messages.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote, urlsplit

import pika
import pika.exceptions as pex

from ..config.model import RabbitMQConfig
from ..errors import ConfigError, MQConnectionError, MQDeliveryError, MQError, MQRefusedError
from .messages import Outgoing

log = logging.getLogger(__name__)

__all__ = ["PERSISTENT_TEXT_PLAIN", "RabbitMQProducer", "RabbitMQSettings", "connect_error"]

# com.rabbitmq.client.MessageProperties.PERSISTENT_TEXT_PLAIN, which canal publishes with.
PERSISTENT_TEXT_PLAIN = pika.BasicProperties(content_type="text/plain", delivery_mode=2, priority=0)
DEFAULT_PORT = 5672
CONFIRM_SLICE_S = 0.001


@dataclass(frozen=True)
class RabbitMQSettings:
    """Where and how to connect and publish, from canal's ``rabbitmq.*`` keys."""

    host: str
    port: int = DEFAULT_PORT
    virtual_host: str = "/"
    username: str = "guest"
    password: str = field(default="guest", repr=False)
    exchange: str = ""
    queue: str = ""
    routing_key: str = ""
    delivery_mode: str = ""  # canal's name for the exchange type (direct, topic, fanout, ...)
    tls: bool = False

    @classmethod
    def from_config(cls, cfg: RabbitMQConfig) -> RabbitMQSettings:
        """Read canal's keys; a host that cannot be an address raises ConfigError naming ``rabbitmq.host``."""
        if not cfg.host.strip():
            raise ConfigError("rabbitmq.host is not set: canal.serverMode = rabbitMQ needs the broker's address")
        base = cls.parse(cfg.host, virtual_host=cfg.virtual_host, username=cfg.username, password=cfg.password)
        return replace(
            base, exchange=cfg.exchange, queue=cfg.queue, routing_key=cfg.routing_key, delivery_mode=cfg.delivery_mode
        )

    @classmethod
    def parse(cls, host: str, *, virtual_host: str = "", username: str = "", password: str = "") -> RabbitMQSettings:
        """``host``, ``host:port`` or an amqp URI; the keyword values win over the URI's, guest/guest and
        ``/`` are the defaults (the Java client's)."""
        h, port, vhost, user, pw, tls = _parse_host(host.strip())
        return cls(
            host=h,
            port=port,
            virtual_host=virtual_host or vhost or "/",
            username=username or user or "guest",
            password=password or pw or "guest",
            tls=tls,
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def declares_binding(self) -> bool:
        """Exchange, queue, routing key and type all set: declare the exchange and bind the queue, as canal."""
        return bool(self.exchange and self.queue and self.routing_key and self.delivery_mode)

    def parameters(self, *, timeout: float = 10.0, heartbeat: int = 30) -> pika.ConnectionParameters:
        return pika.ConnectionParameters(
            host=self.host,
            port=self.port,
            virtual_host=self.virtual_host,
            credentials=pika.PlainCredentials(self.username, self.password),
            heartbeat=heartbeat,
            blocked_connection_timeout=60,
            socket_timeout=timeout,
            stack_timeout=timeout,
            connection_attempts=1,
            ssl_options=pika.SSLOptions(ssl.create_default_context(), self.host) if self.tls else None,
            client_properties={"connection_name": "pycanal"},
        )


def _parse_host(text: str) -> tuple[str, int, str, str, str, bool]:
    """host | host:port | amqp[s]://[user[:password]@]host[:port][/vhost] -> (host, port, vhost, user, pw, tls)."""
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
            raise ConfigError(f"rabbitmq.host = {text!r}: expected host, host:port or amqp://user:pass@host:port/vhost")
        tls = parts.scheme == "amqps"
        try:
            port = parts.port or (5671 if tls else DEFAULT_PORT)
        except ValueError as exc:
            raise ConfigError(f"rabbitmq.host = {text!r}: {exc}") from None
        vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else ""
        return parts.hostname, port, vhost, unquote(parts.username or ""), unquote(parts.password or ""), tls
    host, sep, port_text = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    if not sep:
        return text, DEFAULT_PORT, "", "", "", False
    if not port_text.isdigit() or not 0 < int(port_text) < 65536 or not host:
        raise ConfigError(f"rabbitmq.host = {text!r}: expected host, host:port or amqp://user:pass@host:port/vhost")
    return host, int(port_text), "", "", "", False


def connect_error(settings: RabbitMQSettings, exc: BaseException) -> MQError:
    """A failed connection as one clear line naming the key to check (a typed error, the cause kept)."""
    where = f"RabbitMQ at {settings.address}"
    if isinstance(exc, pex.ProbableAuthenticationError | pex.AuthenticationError):
        err: MQError = MQRefusedError(
            f"{where} refused the login of rabbitmq.username = {settings.username!r} (check rabbitmq.username "
            f"and rabbitmq.password): {_reason(exc)}",
            key="rabbitmq.username",
        )
    elif isinstance(exc, pex.ProbableAccessDeniedError):
        err = MQRefusedError(
            f"{where} refused rabbitmq.virtual.host = {settings.virtual_host!r} for user {settings.username!r}: "
            f"{_reason(exc)}",
            key="rabbitmq.virtual.host",
        )
    elif isinstance(exc, pex.ConnectionClosedByBroker | pex.ConnectionClosed | pex.ChannelClosed):
        err = MQConnectionError(f"{where} closed the connection: {_reason(exc)}", key="rabbitmq.host")
    else:
        err = MQConnectionError(
            f"cannot reach {where} (rabbitmq.host = {settings.host!r}): {_reason(exc)}", key="rabbitmq.host"
        )
    err.__cause__ = exc
    return err


def _reason(exc: BaseException) -> str:
    """pika's nested texts reduced to the broker's words (``(403) 'ACCESS_REFUSED - ...'``)."""
    if isinstance(exc, pex.ConnectionClosed | pex.ChannelClosed):
        return f"{exc.reply_code} {exc.reply_text}"
    text = " ".join(str(a) for a in exc.args) if exc.args else type(exc).__name__
    for prefix in ("ConnectionClosedByBroker: ", "AMQPConnectorSocketConnectError: ", "AMQPConnectorStackTimeout: "):
        if prefix in text:
            text = text.split(prefix, 1)[1]
    return text.strip("\"'() ") or type(exc).__name__


class RabbitMQProducer:
    """One connection and one confirm-mode channel; not thread-safe (the MQ worker owns it)."""

    def __init__(
        self, settings: RabbitMQSettings, *, confirm_timeout: float = 30.0, connect_timeout: float = 10.0
    ) -> None:
        self.settings = settings
        self.confirm_timeout = confirm_timeout
        self.connect_timeout = connect_timeout
        self._conn: pika.BlockingConnection | None = None
        self._channel: Any = None
        self._next_tag = 1  # delivery tags count from 1 per channel in confirm mode
        self._unconfirmed: dict[int, Outgoing] = {}
        self._failure: MQError | None = None

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._conn.is_open and self._channel is not None and self._channel.is_open

    # -- connection -------------------------------------------------------------------------------------
    def connect(self) -> None:
        """Open the connection and channel, declare what canal declares, and turn confirms on."""
        self.close()
        s = self.settings
        try:
            self._conn = pika.BlockingConnection(s.parameters(timeout=self.connect_timeout))
        except (pex.AMQPError, OSError, socket.gaierror) as exc:
            raise connect_error(s, exc) from exc
        try:
            channel = self._conn.channel()
            self._declare(channel)
            self._confirm_mode(channel)
        except MQError:
            self.close()
            raise
        except (pex.AMQPError, OSError) as exc:
            self.close()
            raise connect_error(s, exc) from exc
        self._channel = channel
        log.info("connected to RabbitMQ at %s, virtual host %r", s.address, s.virtual_host)

    def _declare(self, channel: Any) -> None:
        s = self.settings
        step = ""
        try:
            if s.queue:
                step = f"declaring rabbitmq.queue = {s.queue!r} (durable)"
                channel.queue_declare(s.queue, durable=True)
            if s.declares_binding:
                step = f"declaring rabbitmq.exchange = {s.exchange!r} (type {s.delivery_mode!r})"
                channel.exchange_declare(s.exchange, s.delivery_mode, durable=True)
                step = f"binding rabbitmq.queue = {s.queue!r} with rabbitmq.routingKey = {s.routing_key!r}"
                channel.queue_bind(s.queue, s.exchange, s.routing_key)
            elif s.exchange:
                step = f"looking up rabbitmq.exchange = {s.exchange!r}"
                channel.exchange_declare(s.exchange, passive=True)
        except pex.ChannelClosedByBroker as exc:
            key = "rabbitmq.exchange" if "exchange" in step else "rabbitmq.queue"
            if exc.reply_code == 404:
                msg = f"rabbitmq.exchange = {s.exchange!r} does not exist in virtual host {s.virtual_host!r}"
                msg += " (pycanal declares it only when rabbitmq.queue, routingKey and deliveryMode are set too)"
            else:
                msg = f"RabbitMQ at {s.address} refused {step}: {_reason(exc)}"
            raise MQRefusedError(msg, key=key) from exc

    def _confirm_mode(self, channel: Any) -> None:
        impl = channel._impl  # see the module docstring: pipelined confirms
        selected: list[bool] = []
        impl.add_on_return_callback(self._on_return)
        impl.add_on_close_callback(self._on_channel_closed)
        impl.confirm_delivery(ack_nack_callback=self._on_confirm, callback=lambda _frame: selected.append(True))
        self._next_tag = 1
        self._unconfirmed.clear()
        self._failure = None
        deadline = time.monotonic() + self.connect_timeout
        while not selected:
            if time.monotonic() >= deadline:
                raise MQConnectionError(f"RabbitMQ at {self.settings.address} did not turn publisher confirms on")
            assert self._conn is not None
            self._conn.process_data_events(0.05)

    def close(self) -> None:
        """Close quietly (a broken connection is simply dropped)."""
        conn, self._conn, self._channel = self._conn, None, None
        self._unconfirmed.clear()
        if conn is not None and conn.is_open:
            try:
                conn.close()
            except Exception:  # already broken: nothing to tell
                log.debug("closing the RabbitMQ connection failed", exc_info=True)

    # -- callbacks (run inside process_data_events, in the worker's thread) --------------------------------
    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        tag, multiple = method.delivery_tag, method.multiple
        done = [t for t in self._unconfirmed if t <= tag] if multiple else [tag]
        if isinstance(method, pika.spec.Basic.Nack) and self._failure is None:
            first = self._unconfirmed.get(min(done)) if done else None
            self._failure = MQDeliveryError(
                f"RabbitMQ nacked {len(done)} message(s)"
                + (f" to routing key {first.routing_key!r}" if first else "")
                + " (the broker could not take them)"
            )
        for t in done:
            self._unconfirmed.pop(t, None)

    def _on_return(self, _channel: Any, method: Any, _props: Any, _body: bytes) -> None:
        if self._failure is None:
            s = self.settings
            self._failure = MQDeliveryError(
                f"RabbitMQ returned a message to routing key {method.routing_key!r} as unroutable "
                f"({method.reply_code} {method.reply_text}): no queue is bound to it in exchange "
                f"{s.exchange or '(default)'!r} of virtual host {s.virtual_host!r}; check canal.mq.topic, "
                "canal.mq.dynamicTopic and rabbitmq.queue / rabbitmq.routingKey",
                key="canal.mq.topic",
            )

    def _on_channel_closed(self, _channel: Any, reason: BaseException) -> None:
        if self._failure is not None or isinstance(reason, pex.ChannelClosedByClient):
            return
        s = self.settings
        if isinstance(reason, pex.ChannelClosedByBroker) and reason.reply_code == 404:
            self._failure = MQRefusedError(
                f"RabbitMQ closed the channel: rabbitmq.exchange = {s.exchange!r} does not exist in virtual host "
                f"{s.virtual_host!r} ({_reason(reason)})",
                key="rabbitmq.exchange",
            )
        else:
            self._failure = MQConnectionError(f"RabbitMQ at {s.address} closed the channel: {_reason(reason)}")

    # -- publishing -------------------------------------------------------------------------------------
    def publish(self, messages: Sequence[Outgoing], abort: Callable[[], bool] = lambda: False) -> None:
        """Publish every message and wait until the broker confirmed all of them (or raise MQError).

        ``abort`` is polled while waiting; when it turns true an MQDeliveryError is raised at once (the
        batch counts as not delivered: a fenced-off server must not ack it)."""
        if not self.connected:
            raise MQConnectionError(f"not connected to RabbitMQ at {self.settings.address}")
        assert self._conn is not None
        exchange = self.settings.exchange
        try:
            for msg in messages:
                if abort():
                    raise MQDeliveryError("publishing was stopped before the whole batch was published")
                self._unconfirmed[self._next_tag] = msg
                self._next_tag += 1
                self._channel.basic_publish(exchange, msg.routing_key, msg.body, PERSISTENT_TEXT_PLAIN, mandatory=True)
                if self._failure is not None:
                    break
            deadline = time.monotonic() + self.confirm_timeout
            while self._unconfirmed and self._failure is None:
                if abort():
                    raise MQDeliveryError("publishing was stopped before the broker confirmed the batch")
                if time.monotonic() >= deadline:
                    raise MQDeliveryError(
                        f"RabbitMQ at {self.settings.address} confirmed {len(messages) - len(self._unconfirmed)} of "
                        f"{len(messages)} messages within {self.confirm_timeout:g}s"
                    )
                # pika's wait only ends early for its own dispatch events, not for our confirm callback: a
                # short slice keeps a batch's confirm latency near the broker's (a 50 ms slice costs 50 ms)
                self._conn.process_data_events(CONFIRM_SLICE_S)
            if self._failure is None:
                self._conn.process_data_events(0)  # a return arrives before its ack: nothing may be pending
        except MQError:
            self.close()
            raise
        except (pex.AMQPError, OSError) as exc:
            failure = self._failure
            self.close()
            if failure is not None:
                raise failure from exc
            raise connect_error(self.settings, exc) from exc
        if self._failure is not None:
            failure = self._failure
            self.close()
            raise failure

    def poll(self) -> None:
        """Serve heartbeats while idle; raise MQConnectionError if the connection is gone."""
        if self._conn is None:
            raise MQConnectionError(f"not connected to RabbitMQ at {self.settings.address}")
        try:
            self._conn.process_data_events(0)
        except (pex.AMQPError, OSError) as exc:
            self.close()
            raise connect_error(self.settings, exc) from exc
        if self._failure is not None or not self.connected:
            failure = self._failure or MQConnectionError(
                f"the connection to RabbitMQ at {self.settings.address} closed"
            )
            self.close()
            raise failure
