"""pycanal.ha.zk: canal.zkServers (canal's ``a;b`` multi-cluster form), the one kazoo client factory, local_ip().

canal's ZooKeeperx splits canal.zkServers on ``;``, connects with the first cluster's hosts and appends every
other cluster's hosts to the same session's host list. Before this had one home, the server kept only the
first cluster (and warned) while the cluster client joined all hosts and let kazoo shuffle them together.
"""

from __future__ import annotations

import logging
import socket

import pytest
from kazoo.client import KazooClient

from pycanal.errors import ConfigError, ZooKeeperUnavailable
from pycanal.ha import zk as zkmod
from pycanal.ha.zk import ZkServers, local_ip, make_client, parse_zk_servers, start_client
from pycanal.sandbox.mariadb import free_port


def keep(hosts: list[str]) -> None:
    """A shuffle that leaves the order alone, for deterministic host strings."""


def reverse(hosts: list[str]) -> None:
    hosts.reverse()


@pytest.mark.parametrize(
    ("text", "clusters", "chroot", "hosts", "canonical"),
    [
        ("10.0.0.1:2181", (("10.0.0.1:2181",),), "", "10.0.0.1:2181", "10.0.0.1:2181"),
        (" a:2181 , b:2181 ", (("a:2181", "b:2181"),), "", "a:2181,b:2181", "a:2181,b:2181"),
        (
            "a:2181,b:2181;c:2181",
            (("a:2181", "b:2181"), ("c:2181",)),
            "",
            "a:2181,b:2181,c:2181",
            "a:2181,b:2181;c:2181",
        ),
        ("a:1;b:1;c:1,d:1", (("a:1",), ("b:1",), ("c:1", "d:1")), "", "a:1,b:1,c:1,d:1", "a:1;b:1;c:1,d:1"),
        (" a:2181 ; b:2181 ;", (("a:2181",), ("b:2181",)), "", "a:2181,b:2181", "a:2181;b:2181"),
        (";;a:1,,b:1;", (("a:1", "b:1"),), "", "a:1,b:1", "a:1,b:1"),
        ("a:2181,b:2181/canal", (("a:2181", "b:2181"),), "/canal", "a:2181,b:2181/canal", "a:2181,b:2181/canal"),
        ("a:1/x/y/;b:1/z", (("a:1",), ("b:1",)), "/x/y", "a:1,b:1/x/y", "a:1;b:1/x/y"),  # the first's chroot
        ("a:1/;b:1", (("a:1",), ("b:1",)), "", "a:1,b:1", "a:1;b:1"),
        ("zk", (("zk",),), "", "zk", "zk"),  # kazoo's default port
        ("[::1]:2181", (("[::1]:2181",),), "", "[::1]:2181", "[::1]:2181"),
    ],
)
def test_parse_zk_servers(text, clusters, chroot, hosts, canonical):
    servers = parse_zk_servers(text)
    assert servers == ZkServers(clusters, chroot)
    assert servers.hosts(keep) == hosts
    assert str(servers) == canonical
    assert parse_zk_servers(servers) is servers


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "names no ZooKeeper server"),
        (" ; ", "names no ZooKeeper server"),
        (",,", "names no ZooKeeper server"),
        ("/chroot", "a chroot without hosts"),
        ("a:x", "is not host:port"),
        ("a:0", "is not host:port"),
        ("a:65536", "is not host:port"),
        (":2181", "is not host:port"),
        ("a:1;b:", "is not host:port"),
    ],
)
def test_parse_zk_servers_refuses(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_zk_servers(text)


def test_first_cluster_first_shuffled_the_others_after_in_order():
    servers = parse_zk_servers("a:1,b:1,c:1;d:1,e:1;f:1")
    assert servers.hosts(reverse) == "c:1,b:1,a:1,d:1,e:1,f:1"  # only the first cluster is shuffled
    seen = {servers.hosts().split(",")[0] for _ in range(200)}
    assert seen == {"a:1", "b:1", "c:1"}  # random.shuffle by default: any first-cluster host may lead
    assert all(servers.hosts().endswith("d:1,e:1,f:1") for _ in range(50))


def test_multi_cluster_form_is_logged(caplog):
    with caplog.at_level(logging.INFO, logger="pycanal.ha.zk"):
        parse_zk_servers("a:1")
        assert not caplog.records
        parse_zk_servers("a:1/p;b:1")
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert "names 2 ZooKeeper clusters" in caplog.text and "the first cluster's (a:1)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pycanal.ha.zk"):
        parse_zk_servers("a:1/p;b:1/q")
    assert "/q ignored" in caplog.text and caplog.records[-1].levelno == logging.WARNING


def test_make_client_keeps_canals_order():
    zk = make_client("a:2181,b:2181/canal;c:2181", session_timeout_s=30.0)
    try:
        assert isinstance(zk, KazooClient)
        assert zk.chroot == "/canal"
        assert [h for h, _ in zk.hosts][-1] == "c"  # the other cluster after the first one's hosts
        assert {h for h, _ in zk.hosts[:2]} == {"a", "b"}
        assert zk._conn_retry.max_tries == -1 and zk._conn_retry.max_delay == 5.0
        assert zk._retry.max_tries == 3
        assert not zk.connected
    finally:
        zk.close()


def test_start_client_gives_up_on_unreachable_zookeeper():
    port = free_port()  # nothing listens there
    with pytest.raises(
        ZooKeeperUnavailable, match=f"ZooKeeper 127.0.0.1:{port} is unreachable: no connection within 0.5s"
    ):
        start_client(f"127.0.0.1:{port}", connect_timeout_s=0.5)


# -- local_ip ------------------------------------------------------------------------------------------------


class FakeUdp:
    def __init__(self, ip: str | None) -> None:
        self.ip = ip

    def __call__(self, *args: object) -> FakeUdp:
        return self

    def __enter__(self) -> FakeUdp:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def connect(self, address: tuple[str, int]) -> None:
        if self.ip is None:
            raise OSError("network is unreachable")

    def getsockname(self) -> tuple[str, int]:
        return (self.ip or "", 50000)


def _fail(*args: object) -> str:
    raise OSError("no such host")


@pytest.mark.parametrize(
    ("by_name", "by_route", "expected"),
    [
        ("10.1.2.3", "192.168.0.9", "10.1.2.3"),  # the host name's address
        ("127.0.1.1", "192.168.0.9", "192.168.0.9"),  # Debian's loopback alias: the outgoing interface
        ("127.0.0.1", "192.168.0.9", "192.168.0.9"),
        (None, "192.168.0.9", "192.168.0.9"),  # the name does not resolve
        ("0.0.0.0", "192.168.0.9", "192.168.0.9"),
        ("127.0.1.1", None, "127.0.0.1"),  # no route either
        ("127.0.1.1", "0.0.0.0", "127.0.0.1"),
        (None, None, "127.0.0.1"),
    ],
)
def test_local_ip(monkeypatch, by_name, by_route, expected):
    monkeypatch.setattr(zkmod.socket, "gethostbyname", _fail if by_name is None else lambda name: by_name)
    monkeypatch.setattr(zkmod.socket, "socket", FakeUdp(by_route))
    assert local_ip() == expected


def test_local_ip_on_this_host():
    ip = local_ip()
    socket.inet_aton(ip)  # an IPv4 address
    assert ip == "127.0.0.1" or not ip.startswith("127.")


def test_the_ha_modules_share_one_local_ip():
    from pycanal.ha import client_running, running

    assert running.local_ip is local_ip and client_running.local_ip is local_ip
