"""canal's ClusterCanalConnector in Python: find the destination's running server in ZooKeeper and follow it.

Discovery (canal's ClusterNodeAccessStrategy, canal-spec.md 5.4): the server to dial is the address in
``/otter/canal/destinations/{dest}/running`` (ServerRunningData, watched); when no server runs the
destination yet, one of the live servers under ``.../{dest}/cluster`` (connecting there and subscribing
makes a lazily started server contend for it); with neither, :class:`~pycanal.errors.ServerNotFound`.
The connection itself is a :class:`~pycanal.client.SimpleConnector` whose address provider asks this
strategy before every (re)connect, so a reconnect goes to whichever server runs the destination then.

Failover (canal's ClusterCanalConnector): a request that fails because the server went away (connection
error, ``destination should start first`` from a server that stopped running it, no server known) is
retried after reconnecting, which subscribes again with the remembered filter and rolls back, so the new
server hands out everything after the last ack (the servers keep cursors in ZooKeeper): at least once,
nothing lost. Up to ``retry_times`` retries per call, sleeping ``retry_interval`` seconds doubled on every
retry up to ``max_retry_interval`` (canal sleeps a fixed interval), then a typed error:
:class:`~pycanal.errors.ServerNotFound`, :class:`~pycanal.errors.ZooKeeperUnavailable` or
:class:`~pycanal.errors.CanalConnectionError`. ZooKeeper unreachable at ``connect()`` raises
:class:`~pycanal.errors.ZooKeeperUnavailable` after ``zk_connect_timeout``.

Added to canal's behaviour: when the running node moves to another server while the old connection still
works, the next call switches to the new server at once (canal's client keeps talking to the old server,
whose instance canal does not stop, until something fails).

Client HA (``client_running=True``, canal's ClientRunningMonitor wired into its connectors): only the
client holding ``.../{dest}/{clientId}/running`` talks to the server; a standby's ``connect()`` returns
at once and its calls block until it becomes active (``active_timeout`` bounds that wait with
:class:`~pycanal.errors.ClientNotActive`). A batch fetched while the client stopped being active
(ZooKeeper SUSPENDED, session lost, node deleted) is not handed out: the connection is dropped and the
rollback of the next connect hands it out again, to whichever client is active then.

Imports client, ha and kazoo.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TypeVar

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.protocol.states import ZnodeStat
from kazoo.recipe.watchers import DataWatch

from ..errors import (
    BatchNotFound,
    CanalConnectionError,
    CanalServerError,
    ClientNotActive,
    ConfigError,
    HAError,
    InstanceNotStarted,
    LocalProtocolError,
    NotSubscribed,
    PycanalError,
    RemoteProtocolError,
    ServerNotFound,
    ZooKeeperUnavailable,
)
from ..ha import paths
from ..ha.client_running import DEFAULT_DELAY, ClientRunningMonitor
from ..ha.data import parse_server_running
from ..ha.zk import ZkServers, parse_zk_servers, start_client
from .base import Message
from .simple import DEFAULT_CLIENT_ID, DEFAULT_MAX_FRAME, SimpleConnector

log = logging.getLogger(__name__)

__all__ = [
    "ClusterConnector",
    "ClusterNodeAccessStrategy",
    "choose_server",
    "parse_address",
    "retry_delay",
]

T = TypeVar("T")

# Failures after which a call reconnects (maybe to another server) and is tried again. Others -- a wrong
# password, a batch id that is not outstanding, misuse -- are raised at once: reconnecting cannot fix them.
RETRYABLE: tuple[type[Exception], ...] = (
    CanalConnectionError,  # includes ServerNotFound
    ZooKeeperUnavailable,
    InstanceNotStarted,  # the server stopped running the destination (it lost the running node)
    NotSubscribed,  # a server that never saw the subscription; the reconnect subscribes again
    RemoteProtocolError,
)


def parse_address(text: str) -> tuple[str, int]:
    """A server address as canal writes it (``ip:port``; a bracketed IPv6 host is accepted too)."""
    host, sep, port = text.strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise HAError(f"bad canal server address {text!r} (expected ip:port)")
    return host, int(port)


def choose_server(
    destination: str, running: tuple[str, int] | None, cluster: Callable[[], Sequence[tuple[str, int]]]
) -> tuple[str, int]:
    """canal's nextNode: the running server if known, else the first of the (shuffled) live servers."""
    if running is not None:
        return running
    servers = cluster()
    if servers:
        return servers[0]
    raise ServerNotFound(f"no alive canal server for {destination}")


def retry_delay(failures: int, interval: float, max_interval: float) -> float:
    """Seconds to sleep before retry number ``failures`` (1-based): ``interval`` doubled each time, capped."""
    if failures < 1:
        return 0.0
    return min(max_interval, interval * 2.0 ** min(failures - 1, 62))


class ClusterNodeAccessStrategy:
    """Which canal server to dial for ``destination`` (canal's ClusterNodeAccessStrategy).

    Watches the running node; the cluster list is read when it is needed (no running server known), so
    it is never stale. ``changes`` counts the running-node updates seen.
    """

    def __init__(self, zk: KazooClient, destination: str) -> None:
        self.destination = destination
        self._zk = zk
        self.running_path = paths.destination_server_running(destination)
        self.cluster_path = paths.destination_cluster_root(destination)
        self._running: tuple[str, int] | None = None
        self._stopped = True
        self.changes = 0

    @property
    def running_address(self) -> tuple[str, int] | None:
        """The server running the destination as last seen in ZooKeeper (None: none right now)."""
        return self._running

    def start(self) -> None:
        self._stopped = False
        try:
            DataWatch(self._zk, self.running_path, self._on_running)  # calls back once before returning
        except KazooException as exc:
            raise ZooKeeperUnavailable(f"cannot watch {self.running_path}: {exc!r}") from exc

    def stop(self) -> None:
        self._stopped = True  # the watch ends at its next event

    def cluster_addresses(self) -> list[tuple[str, int]]:
        """The live servers that can run the destination, shuffled (canal spreads first connects so)."""
        try:
            children = self._zk.get_children(self.cluster_path)
        except NoNodeError:
            return []
        except KazooException as exc:
            raise ZooKeeperUnavailable(f"cannot list {self.cluster_path}: {exc!r}") from exc
        out = []
        for name in children:
            try:
                out.append(parse_address(name))
            except HAError:
                log.warning("ignoring %s/%s: not ip:port", self.cluster_path, name)
        random.shuffle(out)
        return out

    def next_node(self) -> tuple[str, int]:
        """The address to dial now; ServerNotFound when ZooKeeper names no server."""
        return choose_server(self.destination, self._running, self.cluster_addresses)

    def _on_running(self, data: bytes | None, stat: ZnodeStat | None) -> bool | None:
        if self._stopped:
            return False
        address = None
        if data is not None:
            try:
                address = parse_address(parse_server_running(data).address)
            except HAError as exc:
                log.warning("%s: %s", self.running_path, exc)
        if address != self._running:
            log.info("running server of %s: %s", self.destination, f"{address[0]}:{address[1]}" if address else "none")
        self._running = address
        self.changes += 1
        return None


class ClusterConnector:
    """A canal client for ``destination`` on whichever server ZooKeeper says runs it; the API of
    :class:`~pycanal.client.SimpleConnector`, so it can stand in for it.

    ``zk_servers``: canal.zkServers text (``host:port,host:port``; ``a;b``: the first cluster's hosts, then
    the other clusters', see :mod:`pycanal.ha.zk`), or a started
    KazooClient that the caller owns (not shared with another connector of the same destination and client
    id when ``client_running`` is on: client HA tells clients apart by their ZooKeeper session). Timeouts
    and intervals are seconds. ``running_delay``: how long a standby waits after the active client's node
    vanished before contending (canal: 5 s). ``active_timeout``: how long a call waits for this client to
    become active (None: as long as it takes, as canal does).
    """

    def __init__(
        self,
        zk_servers: str | KazooClient,
        destination: str,
        *,
        username: str | None = "",
        password: str | None = "",
        client_id: int = DEFAULT_CLIENT_ID,
        filter: str | None = None,
        so_timeout: float = 60.0,
        idle_timeout: float = 3600.0,
        retry_times: int = 3,
        retry_interval: float = 5.0,
        max_retry_interval: float = 60.0,
        client_running: bool = True,
        running_delay: float = DEFAULT_DELAY,
        active_timeout: float | None = None,
        zk_session_timeout: float = 90.0,
        zk_connect_timeout: float = 15.0,
        max_frame: int = DEFAULT_MAX_FRAME,
    ) -> None:
        if retry_times < 0 or retry_interval < 0 or max_retry_interval < 0:
            raise LocalProtocolError("retry_times, retry_interval and max_retry_interval must be >= 0")
        if running_delay < 0 or (active_timeout is not None and active_timeout < 0):
            raise LocalProtocolError("running_delay and active_timeout must be >= 0")
        if zk_session_timeout <= 0 or zk_connect_timeout <= 0:
            raise LocalProtocolError("zk_session_timeout and zk_connect_timeout must be > 0")
        if isinstance(zk_servers, str):
            try:
                self._servers: ZkServers | None = parse_zk_servers(zk_servers)
            except ConfigError as exc:
                raise LocalProtocolError(f"zk_servers: {exc}") from exc
            self._given_zk: KazooClient | None = None
        elif isinstance(zk_servers, KazooClient):
            self._servers, self._given_zk = None, zk_servers
        else:
            raise LocalProtocolError(f"zk_servers must be a host string or a KazooClient, not {zk_servers!r}")
        # Validates destination, client id, timeouts; never reconnects by itself across retries (this class
        # owns the retry loop) but does reconnect once inside a call that finds its socket gone.
        self._simple = SimpleConnector(
            None,
            None,
            destination,
            username=username,
            password=password,
            client_id=client_id,
            filter=filter,
            so_timeout=so_timeout,
            idle_timeout=idle_timeout,
            rollback_on_connect=True,
            reconnect=True,
            retry_times=0,
            retry_interval=0.0,
            max_frame=max_frame,
            address_provider=self._next_node,
        )
        paths.destination_client_running(destination, client_id)  # a destination ZooKeeper can hold
        self.destination = destination
        self.client_id = client_id
        self._retry_times = retry_times
        self._retry_interval = float(retry_interval)
        self._max_retry_interval = float(max_retry_interval)
        self._client_running = client_running
        self._running_delay = float(running_delay)
        self._active_timeout = active_timeout
        self._zk_session_timeout = float(zk_session_timeout)
        self._zk_connect_timeout = float(zk_connect_timeout)

        self._lock = threading.RLock()  # connect/disconnect, and switching servers
        self._closed = threading.Event()  # set by disconnect(): ends retry sleeps at once
        self._closed.set()
        self._zk: KazooClient | None = None
        self._strategy: ClusterNodeAccessStrategy | None = None
        self._monitor: ClientRunningMonitor | None = None

    # ------------------------------------------------------------------ state

    @property
    def address(self) -> tuple[str, int] | None:
        """The canal server of the current (or last) connection."""
        return self._simple.address

    @property
    def local_address(self) -> str | None:
        """``ip:port`` of this end of the server connection (what the client running node says), if connected."""
        conn = self._simple.live_connection()
        return conn.local if conn is not None else None

    @property
    def filter(self) -> str | None:
        """The remembered subscription filter, subscribed again on every (re)connect."""
        return self._simple.filter

    @property
    def running_address(self) -> tuple[str, int] | None:
        """The server ZooKeeper says runs the destination (None: none, or not connected)."""
        return self._strategy.running_address if self._strategy is not None else None

    @property
    def is_active(self) -> bool:
        """Whether this client may consume now (always, once connected, without client HA)."""
        if self._closed.is_set():
            return False
        return self._monitor.active if self._monitor is not None else True

    def wait_active(self, timeout: float | None = None) -> bool:
        """Block until this client is the active one (True), or ``timeout`` seconds passed (False)."""
        if self._closed.is_set():
            return False
        if self._monitor is None:
            return True
        return self._monitor.wait_active(timeout)

    def check_valid(self) -> bool:
        """Connected, active (with client HA), and holding a connection to a server."""
        return self.is_active and self._simple.check_valid()

    def __repr__(self) -> str:
        state = "closed" if self._closed.is_set() else ("active" if self.is_active else "standby")
        where = f"{self.address[0]}:{self.address[1]}" if self.address else "no server yet"
        return f"ClusterConnector({self.destination!r}, client {self.client_id}, {state}, {where})"

    # ------------------------------------------------------------------ lifecycle

    def connect(self) -> None:
        """Reach ZooKeeper, contend for the client running node, and (when active) connect to the running
        server, with retries. A standby returns at once; its calls wait until it becomes active."""
        with self._lock:
            if not self._closed.is_set():
                if self._monitor is None or self._monitor.active:
                    self._call("connect", lambda: None)
                return
            zk = self._given_zk
            if zk is None:
                assert self._servers is not None
                zk = start_client(
                    self._servers,
                    session_timeout_s=self._zk_session_timeout,
                    connect_timeout_s=self._zk_connect_timeout,
                )
            elif not zk.connected:
                raise ZooKeeperUnavailable("the KazooClient given to ClusterConnector is not connected")
            self._zk = zk
            self._closed.clear()
            try:
                self._strategy = ClusterNodeAccessStrategy(zk, self.destination)
                self._strategy.start()
                if self._client_running:
                    self._monitor = ClientRunningMonitor(
                        zk, self.destination, self.client_id, delay=self._running_delay, on_inactive=self._on_inactive
                    )
                    self._monitor.start()
                if self._monitor is None or self._monitor.active:
                    self._call("connect", lambda: None)
                else:
                    holder = self._monitor.holder
                    log.warning(
                        "client %s of %s is standby (%s is active): it waits to take over",
                        self.client_id,
                        self.destination,
                        holder.address if holder else "another client",
                    )
            except BaseException:
                self._shutdown()
                raise

    def disconnect(self) -> None:
        """Close the server connection, release the client running node, and leave ZooKeeper."""
        self._closed.set()  # first: a call sleeping between retries (maybe inside connect()) gives up now
        monitor = self._monitor
        if monitor is not None:
            monitor.stop()  # wakes a call waiting to become active, and releases the node
        with self._lock:
            self._shutdown()

    def __enter__(self) -> ClusterConnector:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.disconnect()

    def _shutdown(self) -> None:
        self._closed.set()
        monitor, self._monitor = self._monitor, None
        strategy, self._strategy = self._strategy, None
        if monitor is not None:
            try:
                monitor.stop()
            except PycanalError as exc:
                log.warning("stopping the client running monitor: %s", exc)
        if strategy is not None:
            strategy.stop()
        self._simple.disconnect()
        zk, self._zk = self._zk, None
        if zk is not None and zk is not self._given_zk:
            zk.stop()
            zk.close()

    def _on_inactive(self) -> None:
        """canal's processActiveExit: the client running node is lost; talk to no server any more."""
        self._simple.disconnect()

    # ------------------------------------------------------------------ canal API

    def subscribe(self, filter: str | None = None) -> None:
        """Subscribe (a non-empty ``filter`` replaces the server's table filter); remembered for reconnects."""
        self._call("subscribe", lambda: self._simple.subscribe(filter))

    def unsubscribe(self) -> None:
        """Unsubscribe; the server forgets this client's cursor."""
        self._call("unsubscribe", self._simple.unsubscribe)

    def get_without_ack(self, batch_size: int, timeout: int | None = None, unit: str | int = "ms") -> Message:
        """The next batch, to be acked or rolled back; see :meth:`SimpleConnector.get_without_ack`."""
        return self._call("get", lambda: self._simple.get_without_ack(batch_size, timeout, unit), guard=True)

    def get(self, batch_size: int, timeout: int | None = None, unit: str | int = "ms") -> Message:
        """``get_without_ack`` then ``ack``; a batch that a reconnect voided before its ack is fetched again."""
        for _ in range(self._retry_times + 1):
            msg = self.get_without_ack(batch_size, timeout, unit)
            try:
                self.ack(msg.batch_id)
            except BatchNotFound:  # voided locally by the rollback of a reconnect: the data comes again
                log.info("batch %s was voided by a reconnect before its ack; fetching it again", msg.batch_id)
                continue
            return msg
        raise CanalConnectionError(f"get: the connection for {self.destination} kept breaking between get and ack")

    def ack(self, batch_id: int) -> None:
        """Confirm the oldest outstanding batch; see :meth:`SimpleConnector.ack`."""
        self._call("ack", lambda: self._simple.ack(batch_id))

    def rollback(self, batch_id: int | None = None) -> None:
        """Hand everything after the last ack out again; see :meth:`SimpleConnector.rollback`."""
        self._call("rollback", lambda: self._simple.rollback(batch_id))

    # ------------------------------------------------------------------ machinery

    def _next_node(self) -> tuple[str, int]:
        strategy = self._strategy
        if strategy is None:
            raise CanalConnectionError(f"{self.destination}: the cluster connector is not connected")
        return strategy.next_node()

    def _ensure_ready(self, what: str) -> int:
        """Wait until active, then make sure the connection goes to the running server. Returns the monitor
        epoch the connection belongs to."""
        while True:
            monitor = self._monitor
            epoch = 0
            if monitor is not None:
                if not monitor.wait_active(self._active_timeout):
                    if self._closed.is_set():
                        raise CanalConnectionError(f"{what}: the connector was disconnected")
                    holder = monitor.holder
                    raise ClientNotActive(
                        f"{what}: client {self.client_id} of {self.destination} is standby"
                        f" ({holder.address if holder else 'another client'} is active)"
                        f" and did not become active within {self._active_timeout}s"
                    )
                epoch = monitor.epoch
            with self._lock:
                if self._closed.is_set():
                    raise CanalConnectionError(f"{what}: the connector was disconnected")
                target = self._strategy.running_address if self._strategy is not None else None
                conn = self._simple.live_connection()
                if conn is not None and target is not None and conn.server != target:
                    log.warning(
                        "%s: the running server of %s moved from %s:%s to %s:%s; switching",
                        what,
                        self.destination,
                        *conn.server,
                        *target,
                    )
                    self._simple.disconnect()
                    conn = None
                if conn is None:
                    self._simple.connect()  # also when only the socket was lost: connect() starts over
                    if monitor is not None:
                        conn = self._simple.live_connection()
                        if conn is not None and conn.local is not None:
                            monitor.update_address(conn.local)
            if monitor is None or (monitor.active and monitor.epoch == epoch):
                return epoch
            self._simple.disconnect()  # lost the node while connecting: not this client's turn

    def _where(self) -> str:
        address = self._simple.address
        return f"{address[0]}:{address[1]}" if address else "<none>"

    def _call(self, what: str, op: Callable[[], T], *, guard: bool = False) -> T:
        """Run ``op`` on a connection to the running server, reconnecting and retrying on failover.

        ``guard``: the result is data; if the client stopped being active while fetching it, it is not handed
        out (the connection is dropped, so the next connect's rollback delivers it again)."""
        if self._closed.is_set():
            raise LocalProtocolError(f"{what}: not connected; call connect() first")
        failures = 0
        while True:
            epoch = -1
            try:
                epoch = self._ensure_ready(what)
                result = op()
            except RETRYABLE as exc:
                if self._closed.is_set():
                    raise CanalConnectionError(f"{what}: the connector was disconnected") from exc
                if isinstance(exc, CanalServerError | RemoteProtocolError):
                    self._simple.disconnect()  # the server is not (or no longer) the one to talk to
                monitor = self._monitor
                if epoch >= 0 and monitor is not None and monitor.epoch != epoch:
                    continue  # the client lost the running node (which closed the connection): not a failure
                failures += 1
                if failures > self._retry_times:
                    raise self._give_up(what, failures, exc) from exc
                delay = retry_delay(failures, self._retry_interval, self._max_retry_interval)
                log.warning(
                    "%s on %s failed (%s: %s); retry %d of %d in %.1fs",
                    what,
                    self.destination,
                    type(exc).__name__,
                    exc,
                    failures,
                    self._retry_times,
                    delay,
                )
                if self._closed.wait(delay):
                    raise CanalConnectionError(f"{what}: the connector was disconnected") from exc
                continue
            monitor = self._monitor
            if guard and monitor is not None and not (monitor.active and monitor.epoch == epoch):
                log.warning(
                    "%s: client %s of %s stopped being active during the request: the batch is not"
                    " handed out (it is delivered again after the next connect)",
                    what,
                    self.client_id,
                    self.destination,
                )
                self._simple.disconnect()
                continue
            return result

    def _give_up(self, what: str, attempts: int, exc: Exception) -> Exception:
        tail = f"{what} on {self.destination}: gave up after {attempts} attempt(s): {exc}"
        if isinstance(exc, ServerNotFound):
            return ServerNotFound(tail)
        if isinstance(exc, ZooKeeperUnavailable):
            return ZooKeeperUnavailable(tail)
        return CanalConnectionError(f"{tail} (last server {self._where()})")
