"""canal's ClientRunningMonitor: one active consumer per destination and client id, the others on standby.

The active client holds the ephemeral ``/otter/canal/destinations/{dest}/{clientId}/running`` node with
canal's ClientRunningData JSON (canal-spec.md 5.2, 5.4): first the local IP, then ``localIp:localPort`` of
its canal connection once it has one (:meth:`ClientRunningMonitor.update_address`). Kept from canal:

* Contend at start; on losing the contest, remember the holder and wait.
* Node deleted: the client that held it (and did not release it on purpose) contends again at once, every
  other one after ``delay`` seconds (canal's fixed 5 s), so a network blip does not make clients flap.
* Node data with ``active=false`` while this client holds it: an external "please release": delete it.
* ``stop()`` releases the node if this client holds it.

What this monitor does differently, because canal's Java client gets it wrong:

* Ownership is the node's ``ephemeralOwner`` compared with this ZooKeeper session, not the address text:
  two canal clients on one host write the same IP before they connect and both believe they hold it.
  So one monitor per session: two monitors of the same destination and client id must not share a
  KazooClient.
* ZooKeeper connection state counts (kazoo's SUSPENDED/LOST, see ``kazoo/recipe/lock.py``): SUSPENDED makes
  the monitor inactive at once (the node may be gone by the time the connection is back), LOST (the
  session expired, so the node is gone) also calls ``on_inactive`` and contends again after reconnecting.
  A reconnect within the same session only makes the monitor active again after it has read the node
  back and found it still this session's.
* :attr:`ClientRunningMonitor.epoch` counts every change of :attr:`ClientRunningMonitor.active`, so a caller
  can tell whether it stayed active during a request (a batch fetched across a suspension is not handed out).

Threads: kazoo's listeners and watches only record what happened and wake the monitor's own thread, which
does all ZooKeeper I/O and calls ``on_active``/``on_inactive``. Imports errors, ha.paths, ha.data and kazoo.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError
from kazoo.protocol.states import KazooState, ZnodeStat
from kazoo.recipe.watchers import DataWatch

from ..errors import HAError, ZooKeeperUnavailable
from . import paths
from .data import ClientRunningData, parse_client_running
from .zk import local_ip

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_DELAY", "ClientRunningMonitor"]

DEFAULT_CLIENT_ID = 1001
DEFAULT_DELAY = 5.0  # canal's ClientRunningMonitor.delayTime (seconds); canal has no property for it


class ClientRunningMonitor:
    """Holds (or waits for) the client running node of ``destination`` and ``client_id`` on ``zk``.

    ``zk`` must be started; the monitor never starts or stops it. ``address`` is what the node says until
    :meth:`update_address` (default: :func:`local_ip`). ``on_active`` is called when this client wins the
    node, ``on_inactive`` when it loses it for good (deleted, released, session expired, stop) -- not on
    SUSPENDED, which only clears :attr:`active`. Both run on the monitor's thread and must not block long.
    """

    def __init__(
        self,
        zk: KazooClient,
        destination: str,
        client_id: int = DEFAULT_CLIENT_ID,
        *,
        address: str | None = None,
        delay: float = DEFAULT_DELAY,
        on_active: Callable[[], None] | None = None,
        on_inactive: Callable[[], None] | None = None,
    ) -> None:
        if delay < 0:
            raise HAError(f"delay must be >= 0 seconds, got {delay}")
        self.path = paths.destination_client_running(destination, client_id)  # validates both
        self.destination = destination
        self.client_id = client_id
        self._zk = zk
        self._data = ClientRunningData(client_id, address or local_ip())
        self._delay = float(delay)
        self._on_active = on_active
        self._on_inactive = on_inactive

        self._cond = threading.Condition()  # guards the flags below; listeners hold it only briefly
        self._work = threading.RLock()  # one thread at a time does ZooKeeper I/O that changes the state
        self._running = False
        self._connected = False  # kazoo state is CONNECTED
        self._holding = False  # this session created the node and has not lost it
        self._active = False
        self._epoch = 0
        self._released = False  # this client deleted its own node on purpose
        self._contend_now = False  # contend as soon as ZooKeeper is reachable again
        self._retry_at: float | None = None  # monotonic time of a delayed contend
        self._events: deque[tuple[str, Any]] = deque()
        self._holder: ClientRunningData | None = None
        self._thread: threading.Thread | None = None
        self._watch: DataWatch | None = None

    # ------------------------------------------------------------------ public API

    @property
    def active(self) -> bool:
        """Whether this client holds the node and its ZooKeeper connection is up: it may consume now."""
        return self._active

    @property
    def epoch(self) -> int:
        """Incremented on every change of :attr:`active`: equal before and after a request means the
        client was active throughout (when it was active before)."""
        return self._epoch

    @property
    def holder(self) -> ClientRunningData | None:
        """The running data of the active client as last seen (this client's own while it holds the node)."""
        return self._data if self._holding else self._holder

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        """Watch the node and contend once now (so :attr:`active` is known when this returns)."""
        if self._running:
            return
        if not self._zk.connected:
            raise ZooKeeperUnavailable(f"client running monitor of {self.path}: ZooKeeper is not connected")
        with self._cond:
            self._running = True
            self._connected = True
            self._released = False
        self._zk.add_listener(self._on_state)
        self._thread = threading.Thread(target=self._loop, name=f"client-running-{self.destination}", daemon=True)
        self._thread.start()
        try:
            with self._work:
                self._contend()
            self._watch = DataWatch(self._zk, self.path, self._on_data)
        except KazooException as exc:
            self.stop()
            raise ZooKeeperUnavailable(f"cannot contend for {self.path}: {exc!r}") from exc
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop watching and release the node if this client holds it (the standby then takes over)."""
        with self._cond:
            if not self._running:
                return
            self._running = False
            self._cond.notify_all()
        self._zk.remove_listener(self._on_state)
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(10)
        with self._work:
            self._release("stop")

    def release(self) -> bool:
        """Give the node up on purpose (canal's releaseRunning); True if this client held it.

        Every client, this one too, contends again after ``delay`` seconds.
        """
        with self._work:
            return self._release("release")

    def wait_active(self, timeout: float | None = None) -> bool:
        """Block until this client is active (True) or ``timeout`` seconds passed or the monitor stopped."""
        with self._cond:
            self._cond.wait_for(lambda: self._active or not self._running, timeout)
            return self._active

    def update_address(self, address: str) -> None:
        """Rewrite the node with the client's connection address (canal: ``localIp:localPort`` after connecting)."""
        with self._work:
            self._data = ClientRunningData(self.client_id, address)
            if not self._holding:
                return
            try:
                stat = self._zk.exists(self.path)
                if stat is not None and self._is_mine(stat):
                    self._zk.set(self.path, self._data.to_bytes(), version=stat.version)
            except KazooException as exc:
                log.warning("could not write the running address %s into %s: %r", address, self.path, exc)

    def __repr__(self) -> str:
        state = "active" if self._active else ("holding" if self._holding else "standby")
        return f"ClientRunningMonitor({self.path}, {state}, epoch={self._epoch})"

    # ------------------------------------------------------------------ kazoo callbacks: flags only

    def _set_active_locked(self, value: bool) -> None:
        if self._active != value:
            self._active = value
            self._epoch += 1
            self._cond.notify_all()

    def _on_state(self, state: str) -> None:
        with self._cond:
            if state == KazooState.SUSPENDED:
                self._connected = False
                self._set_active_locked(False)
            elif state == KazooState.LOST:
                self._connected = False
                self._set_active_locked(False)
                self._events.append(("lost", None))
            else:
                self._connected = True
                self._events.append(("connected", None))
            self._cond.notify_all()

    def _on_data(self, data: bytes | None, stat: ZnodeStat | None) -> bool | None:
        with self._cond:
            if not self._running:
                return False  # ends kazoo's DataWatch
            self._events.append(("node", (data, stat)))
            self._cond.notify_all()
        return None

    # ------------------------------------------------------------------ the monitor's thread

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._running and not self._events:
                    wait = None if self._retry_at is None else self._retry_at - time.monotonic()
                    if wait is not None and wait <= 0:
                        break
                    self._cond.wait(wait)
                if not self._running:
                    return
                events = list(self._events)
                self._events.clear()
                due = self._retry_at is not None and time.monotonic() >= self._retry_at
                if due:
                    self._retry_at = None
            try:
                with self._work:
                    for kind, arg in events:
                        if kind == "node":
                            self._node_changed(*arg)
                        elif kind == "lost":
                            self._session_lost()
                        else:
                            self._reconnected()
                    if due or self._contend_now:
                        self._contend()
            except (KazooException, HAError) as exc:
                log.warning("client running monitor of %s: %r; trying again in %.1fs", self.path, exc, self._delay)
                self._schedule(self._delay)
            except Exception:  # a bug: keep the monitor alive, log it loudly
                log.exception("client running monitor of %s failed", self.path)
                self._schedule(self._delay)

    def _schedule(self, delay: float) -> None:
        with self._cond:
            at = time.monotonic() + delay
            if self._retry_at is None or at < self._retry_at:
                self._retry_at = at
            self._cond.notify_all()

    def _is_mine(self, stat: ZnodeStat) -> bool:
        session = self._zk.client_id
        return session is not None and stat.ephemeralOwner == session[0]

    def _contend(self) -> None:
        """canal's initRunning: try to create the node; on NodeExists remember the holder (or find it is us)."""
        with self._cond:
            self._contend_now = False
            if not self._running or self._holding:
                return
            if not self._connected:
                self._contend_now = True
                return
        for _ in range(10):  # the holder vanishing between create and read: try again at once
            try:
                self._zk.create(self.path, self._data.to_bytes(), ephemeral=True, makepath=True)
            except NodeExistsError:
                try:
                    raw, stat = self._zk.get(self.path)
                except NoNodeError:
                    continue
                if self._is_mine(stat):  # our own create, retried by kazoo after a connection loss
                    break
                self._holder = self._parse(raw)
                log.info(
                    "client %s of %s is standby: %s is active",
                    self.client_id,
                    self.destination,
                    self._holder.address if self._holder else "?",
                )
                return
            except KazooException:
                with self._cond:
                    self._contend_now = True
                raise
            break
        else:
            raise HAError(f"{self.path} kept appearing and vanishing while contending")
        with self._cond:
            self._holding = True
            self._released = False
            self._holder = self._data
            self._set_active_locked(self._connected)
        log.info("client %s of %s is active (running node %s)", self.client_id, self.destination, self.path)
        self._call(self._on_active)

    def _lose(self, why: str) -> None:
        """Forget holding the node and tell the owner (canal's processActiveExit)."""
        with self._cond:
            was = self._holding
            self._holding = False
            self._set_active_locked(False)
        if was:
            log.warning("client %s of %s is not active any more: %s", self.client_id, self.destination, why)
            self._call(self._on_inactive)

    def _release(self, why: str) -> bool:
        if not self._holding:
            return False
        with self._cond:
            self._released = True
        try:
            stat = self._zk.exists(self.path)
            if stat is not None and self._is_mine(stat):
                self._zk.delete(self.path, version=stat.version)
        except NoNodeError:
            pass
        except KazooException as exc:  # the session ends with the client anyway; the node goes with it
            log.warning("could not delete %s on %s: %r", self.path, why, exc)
        self._lose(f"released ({why})")
        return True

    def _node_changed(self, raw: bytes | None, stat: ZnodeStat | None) -> None:
        if stat is None:  # deleted
            if self._holding and not self._released:
                self._lose("its running node was deleted")
                self._contend()  # it was ours: contend again at once (canal)
            elif self._running:
                self._schedule(self._delay)
            return
        if self._is_mine(stat):
            data = self._parse(raw)
            if data is not None and not data.active and self._holding:
                log.info("%s says active=false: releasing it", self.path)
                self._release("active=false")
            return
        self._holder = self._parse(raw)
        if self._holding:
            self._lose(f"{self.path} is held by another session")

    def _session_lost(self) -> None:
        if self._holding:
            self._lose("the ZooKeeper session expired")
            with self._cond:
                self._contend_now = True  # the last holder contends at once once reconnected (canal)

    def _reconnected(self) -> None:
        """Same session back after SUSPENDED: active again only once the node is read back as ours."""
        if not self._holding:
            return
        try:
            raw, stat = self._zk.get(self.path)
        except NoNodeError:
            self._lose("its running node vanished while ZooKeeper was unreachable")
            self._contend()
            return
        if not self._is_mine(stat):
            self._holder = self._parse(raw)
            self._lose(f"{self.path} is held by another session")
            return
        with self._cond:
            self._set_active_locked(self._connected and self._holding)
        log.info("client %s of %s is active again after a ZooKeeper reconnect", self.client_id, self.destination)

    def _parse(self, raw: bytes | None) -> ClientRunningData | None:
        if raw is None:
            return None
        try:
            return parse_client_running(raw)
        except HAError as exc:
            log.warning("%s: %s", self.path, exc)
            return None

    def _call(self, callback: Callable[[], None] | None) -> None:
        if callback is None:
            return
        try:
            callback()
        except Exception:  # the owner's bug must not stop the monitor
            log.exception("client running callback of %s failed", self.path)
