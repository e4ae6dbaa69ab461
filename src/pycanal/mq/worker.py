"""One destination's MQ producer: canal's ``CanalMQStarter`` worker, with confirmed delivery.

The worker subscribes to its destination through the embedded API as client 1001 (empty filter), then
loops: ``get_without_ack(canal.mq.canalBatchSize, canal.mq.canalGetTimeout ms)``, build the batch's broker
messages (:func:`pycanal.mq.messages.build_messages`), publish them, and **ack the batch only once the broker
confirmed every message of it**. A nack, a returned message, a lost connection or any other failure rolls
the batch back (it is handed out again, under a new batch id), closes the connection, waits (backoff from
0.5 s doubling to 30 s, reset once a round goes through) and connects again. Delivery is at-least-once: a batch
confirmed but not acked (a crash in between, a rollback after a partial publish) is published again.

The controller starts a worker when its destination starts here and stops it before the destination
stops. :meth:`MQWorker.stop` with ``fenced=True`` (ZooKeeper SUSPENDED: another server may take over)
abandons the batch in flight without acking it; a graceful stop lets a batch being confirmed finish.

Imports: errors, model, server.embedded, mq.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from ..errors import InstanceNotStarted, MQRefusedError, PycanalError
from ..model import ClientIdentity
from ..server.embedded import CanalServerWithEmbedded
from .messages import Outgoing, build_messages
from .routing import DynamicTopic

log = logging.getLogger(__name__)

__all__ = ["CLIENT_ID", "MQWorker", "Producer"]

CLIENT_ID = 1001  # canal's MQ client identity
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0


class Producer(Protocol):
    """What the worker needs from a broker producer (:class:`pycanal.mq.rabbitmq.RabbitMQProducer`)."""

    @property
    def connected(self) -> bool: ...

    def connect(self) -> None: ...

    def publish(self, messages: Sequence[Outgoing], abort: Callable[[], bool] = ...) -> None: ...

    def poll(self) -> None: ...

    def close(self) -> None: ...


class MQWorker:
    """Moves one destination's batches to the broker; a thread of its own."""

    def __init__(
        self,
        server: CanalServerWithEmbedded,
        destination: str,
        producer: Producer,
        *,
        topic: str,
        dynamic_topic: str = "",
        flat_message: bool = True,
        batch_size: int = 50,
        get_timeout_ms: int = 100,
        backoff: tuple[float, float] = (BACKOFF_MIN_S, BACKOFF_MAX_S),
    ) -> None:
        self.server = server
        self.destination = destination
        self.producer = producer
        self.topic = topic
        self.dynamic_topic = DynamicTopic.parse(dynamic_topic) if dynamic_topic else None
        self.flat_message = flat_message
        self.batch_size = batch_size
        self.get_timeout_ms = get_timeout_ms
        self.backoff_min, self.backoff_max = backoff
        self.identity = ClientIdentity(destination, CLIENT_ID, "")
        self.batches = 0  # delivered (confirmed and acked)
        self.messages = 0
        self.failures = 0
        self.last_error: BaseException | None = None
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"mq-{destination}", daemon=True)

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, *, fenced: bool = False, wait: bool = True, timeout: float = 35.0) -> None:
        """Stop producing. ``fenced``: abandon the batch in flight at once, unacked. ``wait``: join the thread
        (the controller signals first, stops the instance, then joins, so a blocked get ends at once)."""
        if fenced:
            self._abort.set()
        self._stop.set()
        if wait:
            self.join(timeout)

    def join(self, timeout: float = 35.0) -> None:
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("%s: the MQ worker did not stop within %gs", self.destination, timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    # -- the loop ---------------------------------------------------------------------------------------
    def _run(self) -> None:
        delay = self.backoff_min
        subscribed = False
        failing = False
        log.info("%s: MQ worker started (client %d, topic %r)", self.destination, CLIENT_ID, self.topic)
        try:
            while not self._stop.is_set():
                try:
                    if not subscribed:
                        self.server.subscribe(self.identity)
                        self.server.rollback(self.identity)  # batches a previous worker left outstanding
                        subscribed = True
                    if not self.producer.connected:
                        self.producer.connect()
                    if self._deliver_one() and failing:
                        log.info("%s: MQ delivery works again", self.destination)
                        failing = False
                    delay = self.backoff_min
                except InstanceNotStarted as exc:
                    if self._stop.is_set():
                        break
                    self._fail(exc, "waiting for the destination", level=logging.INFO, delay=delay)
                    subscribed = False
                except PycanalError as exc:  # broker, store, meta: roll back (done), wait, try again
                    if self._stop.is_set():
                        break
                    failing = True
                    level = logging.ERROR if isinstance(exc, MQRefusedError) else logging.WARNING
                    self._fail(exc, "retrying", level=level, delay=delay)
                    delay = min(delay * 2, self.backoff_max)
                except Exception as exc:  # a bug: say so in full, keep the destination going
                    if self._stop.is_set():
                        break
                    failing = True
                    log.exception("%s: MQ worker failed unexpectedly", self.destination)
                    self._fail(exc, "retrying", level=logging.DEBUG, delay=delay)
                    delay = min(delay * 2, self.backoff_max)
        finally:
            self.producer.close()
            log.info(
                "%s: MQ worker stopped (%d batches, %d messages delivered)",
                self.destination,
                self.batches,
                self.messages,
            )

    def _deliver_one(self) -> bool:
        """One get-publish-ack round; True when a batch was delivered."""
        timeout = self.get_timeout_ms if self.get_timeout_ms > 0 else None
        msg = self.server.get_without_ack(self.identity, self.batch_size, timeout)
        if msg.batch_id == -1 or not msg.entries:
            self.producer.poll()  # heartbeats, and a lost connection noticed while idle
            if timeout is None:
                self._stop.wait(0.1)  # canal sleeps 100 ms after an empty get without timeout
            return False
        try:
            outgoing = build_messages(
                msg.batch_id,
                msg.entries,
                topic=self.topic,
                dynamic_topic=self.dynamic_topic,
                flat=self.flat_message,
            )
            if outgoing:
                self.producer.publish(outgoing, abort=self._abort.is_set)
        except BaseException:
            self._rollback()
            raise
        if self._abort.is_set():
            return False  # fenced off while publishing: whoever runs next delivers it again
        self.server.ack(self.identity, msg.batch_id)
        self.batches += 1
        self.messages += len(outgoing)
        return True

    def _rollback(self) -> None:
        try:
            self.server.rollback(self.identity)
        except PycanalError as exc:  # the instance is stopping: its batches are gone anyway
            log.debug("%s: rollback after a failed publish: %s", self.destination, exc)

    def _fail(self, exc: BaseException, then: str, *, level: int, delay: float) -> None:
        self.failures += 1
        self.last_error = exc
        self.producer.close()
        log.log(level, "%s: %s; nothing acked, %s in %.1fs", self.destination, exc, then, delay)
        self._stop.wait(delay)
