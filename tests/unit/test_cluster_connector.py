"""ClusterConnector's pure parts: addresses, server choice, backoff, and its call loop (retry,
give-up errors, server switch, the "not active" guard) driven through fakes of the connection, the
client running monitor and the access strategy. The real thing runs in tests/integration/test_cluster_client.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kazoo.exceptions import ConnectionLoss, NoNodeError

from pycanal.client import Connector, LiveConnection, Message
from pycanal.client.cluster import (
    RETRYABLE,
    ClusterConnector,
    ClusterNodeAccessStrategy,
    choose_server,
    parse_address,
    retry_delay,
)
from pycanal.errors import (
    AuthenticationFailed,
    BatchNotFound,
    BatchOutOfOrder,
    CanalConnectionError,
    ClientNotActive,
    HAError,
    InstanceNotStarted,
    LocalProtocolError,
    ServerNotFound,
    ZooKeeperUnavailable,
)
from pycanal.ha.client_running import ClientRunningMonitor
from pycanal.ha.data import ClientRunningData

# ------------------------------------------------------------------------------------------------ pure helpers


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("10.0.0.1:11111", ("10.0.0.1", 11111)),
        (" host.example:1 ", ("host.example", 1)),
        ("[::1]:11111", ("::1", 11111)),
    ],
)
def test_parse_address(text, address):
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["host", "host:", ":11111", "h:0", "h:65536", "h:x1", "h:-1", ""])
def test_parse_address_refuses_bad_text(text):
    with pytest.raises(HAError, match="bad canal server address"):
        parse_address(text)


def test_choose_server_prefers_the_running_server_then_the_cluster_list():
    def cluster_never() -> list[tuple[str, int]]:
        raise AssertionError("the cluster list is not read while a running server is known")

    assert choose_server("d", ("10.0.0.1", 1), cluster_never) == ("10.0.0.1", 1)
    assert choose_server("d", None, lambda: [("10.0.0.2", 2), ("10.0.0.3", 3)]) == ("10.0.0.2", 2)
    with pytest.raises(ServerNotFound, match=r"^no alive canal server for d$"):
        choose_server("d", None, list)


def test_retry_delay_doubles_up_to_the_cap():
    assert [retry_delay(n, 0.5, 3.0) for n in range(6)] == [0.0, 0.5, 1.0, 2.0, 3.0, 3.0]
    assert retry_delay(10_000, 0.1, 60.0) == 60.0  # no overflow for long outages
    assert retry_delay(3, 0.0, 60.0) == 0.0


def test_retryable_errors_are_the_failover_ones():
    for exc in (CanalConnectionError("x"), ServerNotFound("x"), ZooKeeperUnavailable("x"), InstanceNotStarted("x")):
        assert isinstance(exc, RETRYABLE)
    for exc in (
        AuthenticationFailed("x"),
        BatchNotFound("x"),
        BatchOutOfOrder("x"),
        LocalProtocolError("x"),
        ClientNotActive("x"),
    ):
        assert not isinstance(exc, RETRYABLE)


# ------------------------------------------------------------------------------------------------ strategy


class FakeZk:
    def __init__(self, children: list[str] | Exception) -> None:
        self.children = children

    def get_children(self, path: str) -> list[str]:
        assert path == "/otter/canal/destinations/d/cluster"
        if isinstance(self.children, Exception):
            raise self.children
        return list(self.children)


def test_strategy_reads_the_running_node_as_canal_writes_it():
    s = ClusterNodeAccessStrategy(FakeZk([]), "d")  # type: ignore[arg-type]
    s._stopped = False
    assert s.running_path == "/otter/canal/destinations/d/running"
    s._on_running(b'{"active":true,"address":"10.0.0.1:11111","cid":1}', None)
    assert s.running_address == ("10.0.0.1", 11111) and s.next_node() == ("10.0.0.1", 11111)
    s._on_running(b'{"active":true,"address":"10.0.0.2:11112"}', None)
    assert s.running_address == ("10.0.0.2", 11112)
    s._on_running(b"not json", None)  # unreadable: no running server known (logged)
    assert s.running_address is None
    s._on_running(b'{"active":true,"address":"10.0.0.2"}', None)  # no port: unusable
    assert s.running_address is None
    s._on_running(b'{"active":true,"address":"10.0.0.2:11112"}', None)
    s._on_running(None, None)  # deleted
    assert s.running_address is None and s.changes == 6
    s.stop()
    assert s._on_running(None, None) is False  # ends kazoo's DataWatch


def test_strategy_falls_back_to_the_cluster_list_and_skips_bad_names():
    s = ClusterNodeAccessStrategy(FakeZk(["10.0.0.1:1", "junk", "10.0.0.2:2"]), "d")  # type: ignore[arg-type]
    assert sorted(s.cluster_addresses()) == [("10.0.0.1", 1), ("10.0.0.2", 2)]
    assert s.next_node() in {("10.0.0.1", 1), ("10.0.0.2", 2)}
    assert ClusterNodeAccessStrategy(FakeZk(NoNodeError()), "d").cluster_addresses() == []  # type: ignore[arg-type]
    with pytest.raises(ServerNotFound, match="no alive canal server for d"):
        ClusterNodeAccessStrategy(FakeZk([]), "d").next_node()  # type: ignore[arg-type]
    with pytest.raises(ZooKeeperUnavailable, match="cannot list /otter/canal/destinations/d/cluster"):
        ClusterNodeAccessStrategy(FakeZk(ConnectionLoss()), "d").next_node()  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ arguments


def test_constructor_checks_its_arguments():
    with pytest.raises(LocalProtocolError, match="retry_times"):
        ClusterConnector("zk:2181", "d", retry_times=-1)
    with pytest.raises(LocalProtocolError, match="running_delay"):
        ClusterConnector("zk:2181", "d", active_timeout=-1)
    with pytest.raises(LocalProtocolError, match="zk_session_timeout"):
        ClusterConnector("zk:2181", "d", zk_session_timeout=0)
    with pytest.raises(LocalProtocolError, match="a host string or a KazooClient"):
        ClusterConnector(2181, "d")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="names no ZooKeeper server"):
        ClusterConnector("", "d")  # canal.zkServers's ConfigError, as the API's misuse error
    with pytest.raises(LocalProtocolError, match="destination must not be empty"):
        ClusterConnector("zk:2181", "")
    with pytest.raises(HAError, match="cannot be a znode name"):
        ClusterConnector("zk:2181", "a/b")
    with pytest.raises(LocalProtocolError, match="Java short"):
        ClusterConnector("zk:2181", "d", client_id=40_000)
    with pytest.raises(HAError, match="delay"):
        ClientRunningMonitor(None, "d", delay=-1)  # type: ignore[arg-type]


def test_a_connector_that_is_not_connected():
    c = ClusterConnector("zk:2181", "d")
    assert isinstance(c, Connector)  # slots in where SimpleConnector is used
    assert not c.is_active and not c.check_valid() and not c.wait_active(0)
    assert c.address is None and c.running_address is None and c.local_address is None
    for call in (lambda: c.get(10), lambda: c.ack(1), lambda: c.subscribe(), lambda: c.rollback()):
        with pytest.raises(LocalProtocolError, match="not connected; call connect"):
            call()
    c.disconnect()  # harmless
    assert "closed" in repr(c)


# ------------------------------------------------------------------------------------------------ the call loop


class FakeSimple:
    """The connection: ``results`` lists what each get_without_ack does (a Message, or an exception to raise
    or a callable run first)."""

    def __init__(self) -> None:
        self.live = False
        self.address: tuple[str, int] | None = None
        self.local_address = "127.0.0.1:50000"
        self.target: Callable[[], tuple[str, int]] = lambda: ("10.0.0.1", 1)
        self.log: list[str] = []
        self.results: list[Any] = []
        self.acks: list[Any] = []

    def connect(self) -> None:
        self.log.append("connect")
        self.address = self.target()
        self.live = True

    def disconnect(self) -> None:
        self.log.append("disconnect")
        self.live = False

    def check_valid(self) -> bool:
        return self.live

    def live_connection(self) -> LiveConnection | None:
        return LiveConnection(self.address, self.local_address) if self.live and self.address else None

    def get_without_ack(self, batch_size: int, timeout: int | None, unit: str | int) -> Message:
        self.log.append("get")
        item = self.results.pop(0)
        while callable(item):
            item = item()
        if isinstance(item, CanalConnectionError):
            self.live = False  # as SimpleConnector closes a broken socket
        if isinstance(item, Exception):
            raise item
        return item

    def ack(self, batch_id: int) -> None:
        self.log.append(f"ack {batch_id}")
        item = self.acks.pop(0) if self.acks else None
        if isinstance(item, Exception):
            raise item


class FakeMonitor:
    def __init__(self) -> None:
        self.active = True
        self.epoch = 1
        self.addresses: list[str] = []
        self.holder = ClientRunningData(1001, "10.9.9.9:1")

    def wait_active(self, timeout: float | None) -> bool:
        return self.active

    def update_address(self, address: str) -> None:
        self.addresses.append(address)

    def stop(self) -> None:
        pass


class FakeStrategy:
    def __init__(self) -> None:
        self.running_address: tuple[str, int] | None = ("10.0.0.1", 1)

    def stop(self) -> None:
        pass


class FakeEvent:
    """Stands in for the connector's "closed" event: records the retry sleeps instead of sleeping."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.closed = False

    def is_set(self) -> bool:
        return self.closed

    def set(self) -> None:
        self.closed = True

    def clear(self) -> None:
        self.closed = False

    def wait(self, timeout: float | None = None) -> bool:
        self.sleeps.append(timeout or 0.0)
        return self.closed


def wired(**kw: Any) -> tuple[ClusterConnector, FakeSimple, FakeMonitor, FakeStrategy, FakeEvent]:
    c = ClusterConnector("zk:2181", "d", **{"retry_times": 3, "retry_interval": 0.5, "max_retry_interval": 1.5, **kw})
    simple, monitor, strategy, closed = FakeSimple(), FakeMonitor(), FakeStrategy(), FakeEvent()
    simple.target = lambda: strategy.running_address or ("0.0.0.0", 0)
    c._simple, c._monitor, c._strategy, c._closed = simple, monitor, strategy, closed  # type: ignore[assignment]
    return c, simple, monitor, strategy, closed


def msg(batch_id: int) -> Message:
    return Message(batch_id, raw=[b"x"])


def test_connection_failures_are_retried_with_backoff_on_a_new_connection():
    c, simple, monitor, _, closed = wired()
    simple.results = [CanalConnectionError("reset"), InstanceNotStarted("destination:d should start first"), msg(7)]
    assert c.get_without_ack(10) == msg(7)
    assert closed.sleeps == [0.5, 1.0]
    assert simple.log == ["connect", "get", "connect", "get", "disconnect", "connect", "get"]
    assert monitor.addresses == ["127.0.0.1:50000"] * 3  # canal's running data rewrite after each connect


def test_giving_up_names_the_cause():
    c, simple, _, _, closed = wired()
    simple.results = [CanalConnectionError("refused")] * 4
    with pytest.raises(CanalConnectionError, match=r"get on d: gave up after 4 attempt\(s\): refused"):
        c.get_without_ack(10)
    assert closed.sleeps == [0.5, 1.0, 1.5]
    simple.results = [ServerNotFound("no alive canal server for d")] * 4
    with pytest.raises(ServerNotFound, match=r"gave up after 4 attempt.*no alive canal server for d"):
        c.get_without_ack(10)
    simple.results = [ZooKeeperUnavailable("cannot list")] * 4
    with pytest.raises(ZooKeeperUnavailable, match="gave up after 4"):
        c.get_without_ack(10)


@pytest.mark.parametrize(
    "exc", [AuthenticationFailed("auth failed for user:x"), BatchOutOfOrder("firstly"), LocalProtocolError("misuse")]
)
def test_errors_a_reconnect_cannot_fix_are_raised_at_once(exc):
    c, simple, _, _, closed = wired()
    simple.results = [exc]
    with pytest.raises(type(exc)):
        c.get_without_ack(10)
    assert simple.log == ["connect", "get"] and closed.sleeps == []


def test_a_batch_fetched_while_the_client_stopped_being_active_is_not_handed_out():
    c, simple, monitor, _, closed = wired()

    def suspend_then_return() -> Message:
        monitor.epoch += 1  # SUSPENDED and back while the request was on the wire
        return msg(1)

    simple.results = [suspend_then_return, msg(1)]
    assert c.get_without_ack(10) == msg(1)
    # the first copy was dropped with its connection; the reconnect's rollback delivered it again
    assert simple.log == ["connect", "get", "disconnect", "connect", "get"] and closed.sleeps == []


def test_a_standby_client_does_not_consume():
    c, simple, monitor, _, _ = wired(active_timeout=0.1)
    monitor.active = False
    with pytest.raises(ClientNotActive, match=r"client 1001 of d is standby \(10.9.9.9:1 is active\)"):
        c.get(10)
    with pytest.raises(ClientNotActive):
        c.ack(1)
    assert simple.log == []


def test_the_connection_follows_the_running_node():
    c, simple, _, strategy, _ = wired()
    simple.results = [msg(1), msg(2)]
    c.get_without_ack(10)
    strategy.running_address = ("10.0.0.2", 2)
    c.get_without_ack(10)
    assert simple.log == ["connect", "get", "disconnect", "connect", "get"]
    assert c.address == ("10.0.0.2", 2)
    strategy.running_address = None  # node deleted: stay where we are until something fails
    simple.results = [msg(3)]
    c.get_without_ack(10)
    assert simple.log[-1] == "get" and simple.log.count("connect") == 2


def test_get_fetches_again_when_a_reconnect_voided_the_batch_before_its_ack():
    c, simple, _, _, _ = wired()
    simple.results = [msg(1), msg(1)]
    simple.acks = [BatchNotFound("voided by the rollback after (re)connecting")]
    assert c.get(10) == msg(1)
    assert simple.log == ["connect", "get", "ack 1", "get", "ack 1"]
