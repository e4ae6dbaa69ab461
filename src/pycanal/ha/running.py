"""Server-side HA: canal's ServerRunningMonitor per destination, with self-fencing (canal-spec.md section 5.3).

:class:`ServerRunningMonitor` contends for the ephemeral ``/otter/canal/destinations/{dest}/running`` node,
holding ``{"active":true,"address":"ip:port"}``. The winner runs the destination (``on_enter``); the others
watch the node. When it disappears the previous holder retakes it at once, the others after ``delay_s``
(canal: 5 s) -- unless pycanal's ``preferred`` hint names a server, which then contends at once while the
others wait. ``active=false`` written into the node by an admin asks the holder to release it: it stops the
destination, deletes the node and contends again later like everybody else.

Unlike canal, a holder fences itself: on SUSPENDED it stops the destination at once (``on_exit``), without
waiting for LOST, because once the session expires another server may take over; on LOST it forgets the node
and contends again. It runs the destination again only after it holds the node again (same session: the node
is still its own; new session: it won a new one).

:class:`ZooKeeperHA` is the server's side of it: one kazoo client for the process, the ephemeral
``/otter/canal/cluster/{ip:port}`` node, clear errors while ZooKeeper cannot be reached (kazoo keeps
retrying with backoff), and the monitors. kazoo listeners and watches here only set flags and wake a thread;
every ZooKeeper request and every start or stop runs in the monitor's (or the HA's) own thread, and every
request waits at most ``op_timeout`` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError, NotEmptyError

from ..errors import ConfigError, HAError, ZooKeeperUnavailable
from . import paths
from .data import ServerRunningData, parse_server_running
from .zk import DEFAULT_SESSION_TIMEOUT_S, ZkServers, local_ip, make_client

log = logging.getLogger(__name__)

DEFAULT_DELAY_S = 5.0  # canal's ServerRunningMonitor.delayTime (seconds, not configurable in canal)
DEFAULT_OP_TIMEOUT_S = 5.0
RECHECK_S = 10.0  # re-read the running node this often even without a watch event (belt and braces)


# ---------------------------------------------------------------------------------------------- helpers


def server_address(register_ip: str, ip: str, port: int) -> str:
    """The ``address`` a server advertises: canal.register.ip, else canal.ip, else a local address, : port."""
    if not 0 < port < 65536:
        raise ConfigError(
            f"canal.port = {port} cannot be advertised in ZooKeeper (clients connect to it); "
            "give the server a fixed port"
        )
    host = (register_ip or "").strip() or (ip or "").strip() or local_ip()
    return f"{host}:{port}"


def zk_wait(zk: KazooClient, result: Any, what: str, timeout: float) -> Any:
    """The answer of an async kazoo request within ``timeout``; connection trouble is ZooKeeperUnavailable.
    NoNode / NodeExists / NotEmpty pass through for the callers that expect them."""
    try:
        return result.get(timeout=timeout)
    except (NoNodeError, NodeExistsError, NotEmptyError):
        raise
    except KazooException as exc:
        raise ZooKeeperUnavailable(f"ZooKeeper {what} failed: {type(exc).__name__} {exc}") from exc
    except zk.handler.timeout_exception as exc:
        raise ZooKeeperUnavailable(f"ZooKeeper {what}: no answer within {timeout:g}s") from exc


def session_id(zk: KazooClient) -> int | None:
    """The current session id, or None when kazoo has none (not connected yet, or expired)."""
    cid = zk.client_id
    return cid[0] if cid and cid[0] else None


def register_ephemeral(zk: KazooClient, path: str, timeout: float) -> bool:
    """Create the empty ephemeral ``path`` for this session (parents as needed). True when it is ours now;
    False when another session holds it (a server with the same address, or our previous incarnation
    whose session has not expired yet): the caller tries again later."""
    try:
        zk_wait(zk, zk.create_async(path, b"", ephemeral=True, makepath=True), f"create {path}", timeout)
        return True
    except NodeExistsError:
        stat = zk_wait(zk, zk.exists_async(path), f"exists {path}", timeout)
        return stat is not None and stat.ephemeralOwner == session_id(zk)


def delete_own(zk: KazooClient, path: str, timeout: float) -> None:
    """Delete ``path`` if this session owns it (best effort, quiet when it is gone)."""
    try:
        stat = zk_wait(zk, zk.exists_async(path), f"exists {path}", timeout)
        if stat is not None and stat.ephemeralOwner == session_id(zk):
            zk_wait(zk, zk.delete_async(path, stat.version), f"delete {path}", timeout)
    except (NoNodeError, KazooException):
        pass


# ---------------------------------------------------------------------------------------------- monitor


class ServerRunningMonitor:
    """Election, release and fencing of one destination's running node. The work runs in its own thread.

    ``on_enter()`` starts and serves the destination here; ``on_exit(graceful)`` stops serving it at once
    (``graceful`` is False when fencing: ZooKeeper may not be reachable). Both are called from the monitor's
    thread only, never concurrently. ``zk`` is shared and never started or stopped here.
    """

    def __init__(
        self,
        zk: KazooClient,
        destination: str,
        address: str,
        *,
        on_enter: Callable[[], None],
        on_exit: Callable[[bool], None],
        delay_s: float = DEFAULT_DELAY_S,
        op_timeout: float = DEFAULT_OP_TIMEOUT_S,
        cid: int | None = None,
    ) -> None:
        self.zk = zk
        self.destination = destination
        self.address = address
        self.server_data = ServerRunningData(address, True, cid)
        self.delay_s = delay_s
        self.op_timeout = op_timeout
        self._on_enter = on_enter
        self._on_exit = on_exit
        self.path = paths.destination_server_running(destination)
        self._cluster_path = paths.destination_cluster_node(destination, address)
        # set by listeners / other threads, read by the monitor thread
        self._wake = threading.Event()
        self._states: deque[str] = deque()
        self._node_changed = True
        self._release_requested = False
        self._restart_requested = False
        self._stopping = False
        # monitor thread state
        self._active = False  # the destination runs here
        self._may_write = False  # from just before on_enter until _exit (its start when fencing)
        self._held_session: int | None = None  # the session our running node belongs to
        self._holder: ServerRunningData | None = None  # last known content of the running node
        self._released = False
        self._next_try: float | None = None
        self._startup = True
        self._cluster_session: int | None = None
        self._cluster_retry = 0.0
        self._active_event = threading.Event()
        self._thread: threading.Thread | None = None

    # -- public ---------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self.zk.add_listener(self._on_state)
        self._thread = threading.Thread(target=self._run, name=f"pycanal-ha-{self.destination}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Release the node if held (stopping the destination first) and end the thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping = True
        self._wake.set()
        thread.join(timeout)
        self.zk.remove_listener(self._on_state)
        if thread.is_alive():
            log.error("%s: HA monitor did not stop within %gs", self.destination, timeout)

    def release(self) -> None:
        """Give the node up (if held): the destination stops here and everybody contends after the delay."""
        self._release_requested = True
        self._wake.set()

    def restart(self) -> None:
        """Stop and start the destination again if it runs here (its configuration changed)."""
        self._restart_requested = True
        self._wake.set()

    def is_active(self) -> bool:
        """Whether the destination runs here."""
        return self._active

    def holds_running(self) -> bool:
        """Whether this server runs the destination and its node belongs to the current, connected session:
        the write guard of the ZooKeeper meta manager."""
        return (
            self._may_write
            and self._held_session is not None
            and self.zk.state == KazooState.CONNECTED
            and session_id(self.zk) == self._held_session
        )

    @property
    def active_data(self) -> ServerRunningData | None:
        """The running node's content as last seen (None when it was vacant)."""
        return self._holder

    def wait_active(self, timeout: float | None = None) -> bool:
        return self._active_event.wait(timeout)

    # -- listeners: flags only ------------------------------------------------------------------------
    def _on_state(self, state: str) -> None:
        self._states.append(state)
        self._wake.set()

    def _on_node(self, _event: object) -> None:
        self._node_changed = True
        self._wake.set()

    # -- the thread -----------------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.2
        while True:
            self._wake.clear()
            self._drain_states()
            if self._stopping:
                break
            if self._release_requested:
                self._release_requested = False
                self._release("release requested")
            if self._restart_requested:
                self._restart_requested = False
                if self._active:
                    self._exit(graceful=True)
                    self._node_changed = True  # runs it again once the node is confirmed ours
            if not self.zk.connected:
                self._wake.wait(1.0)
                continue
            try:
                self._register()
                if self._node_changed:
                    self._node_changed = False
                    self._check_node()
                if self._next_try is not None and time.monotonic() >= self._next_try:
                    self._next_try = None
                    self._try_create()
                    continue
                backoff = 0.2
            except ZooKeeperUnavailable as exc:
                log.warning("%s: %s; retrying", self.destination, exc)
                self._node_changed = True
                self._wake.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            except Exception:
                log.exception("%s: HA monitor step failed; retrying", self.destination)
                self._node_changed = True
                self._wake.wait(1.0)
                continue
            wait = RECHECK_S
            if self._next_try is not None:
                wait = max(0.0, min(wait, self._next_try - time.monotonic()))
            if self._cluster_session is None:
                wait = min(wait, max(0.0, self._cluster_retry - time.monotonic()))
            if not self._wake.wait(wait) and self._next_try is None:
                self._node_changed = True
        self._shutdown()

    def _drain_states(self) -> None:
        while self._states:
            state = self._states.popleft()
            if state == KazooState.SUSPENDED:
                if self._active:
                    log.warning(
                        "%s: ZooKeeper connection suspended: stopping the destination at once (fencing);"
                        " it resumes only once this server holds the running node again",
                        self.destination,
                    )
                    self._exit(graceful=False)
                self._node_changed = True
            elif state == KazooState.LOST:
                if self._active:
                    log.warning("%s: ZooKeeper session lost: stopping the destination", self.destination)
                    self._exit(graceful=False)
                if self._held_session is not None:
                    log.warning(
                        "%s: ZooKeeper session lost: the running node is gone; contending again", self.destination
                    )
                self._held_session = None
                self._cluster_session = None
                self._node_changed = True
            else:  # CONNECTED: watches were dropped with the connection
                self._node_changed = True

    def _register(self) -> None:
        """The ephemeral destination cluster node, once per session (retried while another session has it)."""
        sid = session_id(self.zk)
        if sid is None or self._cluster_session == sid or time.monotonic() < self._cluster_retry:
            return
        if register_ephemeral(self.zk, self._cluster_path, self.op_timeout):
            self._cluster_session = sid
        else:
            log.warning(
                "%s: %s is held by another session (a previous run of this server?); retrying",
                self.destination,
                self._cluster_path,
            )
            self._cluster_retry = time.monotonic() + 2.0

    def _check_node(self) -> None:
        """Read the running node (setting a watch) and act on what it says."""
        startup, self._startup = self._startup, False
        try:
            data, stat = zk_wait(
                self.zk, self.zk.get_async(self.path, watch=self._on_node), f"read {self.path}", self.op_timeout
            )
        except NoNodeError:
            if (
                zk_wait(
                    self.zk,
                    self.zk.exists_async(self.path, watch=self._on_node),
                    f"exists {self.path}",
                    self.op_timeout,
                )
                is not None
            ):
                self._node_changed = True  # created in between: read it next pass
                return
            self._vacant(startup)
            return
        try:
            holder = parse_server_running(data)
        except HAError as exc:
            log.error("%s: %s; treating the node as held by someone else", self.destination, exc)
            holder = ServerRunningData("<unreadable>", True)
        ours = holder.address == self.address and stat.ephemeralOwner == session_id(self.zk)
        self._holder = holder
        self._next_try = None
        if ours:
            self._held_session = stat.ephemeralOwner
            if not holder.active:
                log.info("%s: asked to release (active=false in %s)", self.destination, self.path)
                self._release("active=false")
            elif self._released:  # a release whose delete could not reach ZooKeeper
                self._release("released before")
            elif not self._active:
                self._enter()
            return
        self._held_session = None
        if self._active:
            log.warning(
                "%s: the running node now names %s: stopping the destination here", self.destination, holder.address
            )
            self._exit(graceful=False)

    def _vacant(self, startup: bool) -> None:
        """The node is gone: schedule a create now or after the delay (canal's handleDataDeleted)."""
        if self._next_try is not None:
            return
        preferred = self._preferred()
        was_mine = self._holder is not None and self._holder.address == self.address
        if preferred == self.address:
            delay, why = 0.0, "the preferred server"
        elif preferred is not None and not startup:
            delay, why = self.delay_s, f"{preferred} is preferred"
        elif startup:
            delay, why = 0.0, "start"
        elif was_mine and not self._released:
            delay, why = 0.0, "the previous holder"
        else:
            delay, why = self.delay_s, "released it" if was_mine else "not the previous holder"
        self._held_session = None
        self._next_try = time.monotonic() + delay
        log.info("%s: running node vacant; contending in %gs (%s)", self.destination, delay, why)

    def _preferred(self) -> str | None:
        try:
            data, _ = zk_wait(
                self.zk, self.zk.get_async(paths.preferred_path(self.destination)), "read preferred", self.op_timeout
            )
        except NoNodeError:
            return None
        text = data.decode("utf-8", errors="replace").strip()
        return text or None

    def _try_create(self) -> None:
        try:
            zk_wait(
                self.zk,
                self.zk.create_async(self.path, self.server_data.to_bytes(), ephemeral=True),
                f"create {self.path}",
                self.op_timeout,
            )
        except NodeExistsError:
            self._node_changed = True
            return
        except NoNodeError:
            zk_wait(
                self.zk,
                self.zk.ensure_path_async(paths.destination_path(self.destination)),
                "create the destination node",
                self.op_timeout,
            )
            self._next_try = time.monotonic()
            return
        log.info("%s: this server (%s) holds the running node", self.destination, self.address)
        self._released = False
        self._holder = self.server_data
        try:  # the "move here" hint has been honoured (or is moot now)
            zk_wait(
                self.zk,
                self.zk.delete_async(paths.preferred_path(self.destination)),
                "delete preferred",
                self.op_timeout,
            )
        except NoNodeError:
            pass
        self._node_changed = True  # read it back: sets the watch, then runs the destination

    def _enter(self) -> None:
        self._may_write = True
        try:
            self._on_enter()
        except Exception:
            self._may_write = False
            log.exception("%s: starting the destination failed; giving the running node up", self.destination)
            self._delete_node()
            self._released = True
            return
        self._active = True
        self._active_event.set()

    def _exit(self, graceful: bool) -> None:
        """Stop the destination here. Gracefully (the node is still ours) its last cursors may be written."""
        if not graceful:
            self._may_write = False
        self._active = False
        self._active_event.clear()
        try:
            self._on_exit(graceful)
        except Exception:
            log.exception("%s: stopping the destination failed", self.destination)
        finally:
            self._may_write = False

    def _delete_node(self) -> None:
        if self.zk.connected and self._held_session is not None and self._held_session == session_id(self.zk):
            try:
                delete_own(self.zk, self.path, self.op_timeout)
            except ZooKeeperUnavailable as exc:
                log.warning("%s: could not delete the running node: %s", self.destination, exc)
        self._held_session = None

    def _release(self, why: str) -> None:
        """Stop first (no two servers may run the destination), then delete the node."""
        if self._active:
            self._exit(graceful=True)
        if self._held_session is not None:
            log.info("%s: releasing the running node (%s)", self.destination, why)
        self._delete_node()
        self._released = True

    def _shutdown(self) -> None:
        self._release("stopping")
        if self.zk.connected and self._cluster_session == session_id(self.zk):
            try:
                delete_own(self.zk, self._cluster_path, self.op_timeout)
            except ZooKeeperUnavailable:
                pass
        self._cluster_session = None


# ---------------------------------------------------------------------------------------------- server


class ZooKeeperHA:
    """The server's ZooKeeper side: the kazoo client, ``/otter/canal/cluster/{address}``, the monitors.

    :meth:`start` returns at once: while ZooKeeper cannot be reached an error is logged (again after 2, 4,
    ... up to 60 s) and kazoo keeps retrying; destinations are started by their monitors once connected.
    """

    def __init__(
        self,
        hosts: str | ZkServers,
        address: str,
        *,
        session_timeout_s: float = DEFAULT_SESSION_TIMEOUT_S,
        delay_s: float = DEFAULT_DELAY_S,
        op_timeout: float = DEFAULT_OP_TIMEOUT_S,
        zk: KazooClient | None = None,
    ) -> None:
        self.hosts = hosts
        self.address = address
        self.delay_s = delay_s
        self.op_timeout = op_timeout
        self.zk = zk or make_client(hosts, session_timeout_s)
        self.cluster_path = paths.canal_cluster_node(address)
        self.monitors: dict[str, ServerRunningMonitor] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._registered_session: int | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self.zk.add_listener(self._on_state)
        self.zk.start_async()
        self._thread = threading.Thread(target=self._run, name="pycanal-ha", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop every monitor (releasing their nodes), delete the cluster node, close the session."""
        with self._lock:
            monitors = list(self.monitors.values())
            self.monitors.clear()
        for m in monitors:
            m.stop()
        thread, self._thread = self._thread, None
        self._stopping = True
        self._wake.set()
        if thread is not None:
            thread.join(10)
        self.zk.remove_listener(self._on_state)
        try:
            self.zk.stop()
        finally:
            self.zk.close()

    @property
    def connected(self) -> bool:
        return bool(self.zk.connected)

    def add(
        self, destination: str, on_enter: Callable[[], None], on_exit: Callable[[bool], None]
    ) -> ServerRunningMonitor:
        """Start contending for ``destination`` (a no-op returning the monitor if already there)."""
        with self._lock:
            monitor = self.monitors.get(destination)
            if monitor is None:
                monitor = ServerRunningMonitor(
                    self.zk,
                    destination,
                    self.address,
                    on_enter=on_enter,
                    on_exit=on_exit,
                    delay_s=self.delay_s,
                    op_timeout=self.op_timeout,
                )
                self.monitors[destination] = monitor
                monitor.start()
            return monitor

    def remove(self, destination: str) -> None:
        """Stop contending for ``destination``: released if held."""
        with self._lock:
            monitor = self.monitors.pop(destination, None)
        if monitor is not None:
            monitor.stop()

    def get(self, destination: str) -> ServerRunningMonitor | None:
        return self.monitors.get(destination)

    # -- internals ------------------------------------------------------------------------------------
    def _on_state(self, _state: str) -> None:
        self._wake.set()

    def _run(self) -> None:
        started = time.monotonic()
        down_since: float | None = started
        next_report = started + 2.0
        report_every = 2.0
        reported = False
        while not self._stopping:
            self._wake.clear()
            now = time.monotonic()
            if not self.zk.connected:
                if down_since is None:
                    down_since, next_report, report_every = now, now + 2.0, 2.0
                    self._registered_session = None
                if now >= next_report:
                    reported = True
                    with self._lock:
                        dests = ", ".join(sorted(self.monitors)) or "none"
                    log.error(
                        "ZooKeeper %s is unreachable (for %.0fs): destinations %s are not started on this "
                        "server, clients get 'should start first'; retrying",
                        self.hosts,
                        now - down_since,
                        dests,
                    )
                    report_every = min(report_every * 2, 60.0)
                    next_report = now + report_every
                self._wake.wait(max(0.05, min(1.0, next_report - now)))
                continue
            if down_since is not None:
                if reported:
                    log.warning("ZooKeeper %s is reachable again (after %.1fs)", self.hosts, now - down_since)
                down_since, reported = None, False
            sid = session_id(self.zk)
            if sid is not None and sid != self._registered_session:
                try:
                    if register_ephemeral(self.zk, self.cluster_path, self.op_timeout):
                        self._registered_session = sid
                        log.info("registered %s in ZooKeeper", self.cluster_path)
                    else:
                        log.warning("%s is held by another session; retrying", self.cluster_path)
                except ZooKeeperUnavailable as exc:
                    log.warning("registering %s failed: %s; retrying", self.cluster_path, exc)
            self._wake.wait(2.0 if self._registered_session != sid else 30.0)
        if self.zk.connected and self._registered_session == session_id(self.zk):
            try:
                delete_own(self.zk, self.cluster_path, self.op_timeout)
            except ZooKeeperUnavailable:
                pass
