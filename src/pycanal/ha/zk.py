"""What every pycanal part that talks to ZooKeeper shares: canal.zkServers, the kazoo client, this host's IP.

* :func:`parse_zk_servers` reads canal.zkServers. canal's ``;`` form (``a:2181,b:2181;c:2181``) names several
  ZooKeeper clusters; canal's ZooKeeperx opens one session with the first cluster's hosts and adds every other
  cluster's hosts to that session's host list, after them, so the first cluster is preferred and the others
  are the fallback (canal's comment: the local data centre's ensemble first, the remote one after it fails).
  pycanal does the same, server and client alike, and logs it: the first cluster's hosts in random order (as
  ZooKeeper's client shuffles them), then the other clusters' hosts in the order given. A chroot
  (``a:2181/path``) is the first cluster's; another cluster's chroot is ignored, as canal ignores it, with
  a warning.
* :func:`make_client` is the one kazoo client factory (server HA, cursors in ZooKeeper, the admin CLI and the
  cluster client): connection attempts forever with a backoff capped at 5 s, a request retried 3 times.
  :func:`start_client` also starts it within a deadline or raises ZooKeeperUnavailable.
* :func:`local_ip` is this host's address as canal's AddressUtils.getHostIp finds it, for the running nodes.

Imports errors and kazoo.
"""

from __future__ import annotations

import logging
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass

from kazoo.client import KazooClient
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.retry import KazooRetry

from ..errors import ConfigError, ZooKeeperUnavailable

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_SESSION_TIMEOUT_S", "ZkServers", "local_ip", "make_client", "parse_zk_servers", "start_client"]

DEFAULT_SESSION_TIMEOUT_S = 90.0  # what canal's ZkClientx asks for; the server caps it (20 ticks)
CONNECTION_RETRY = {"max_tries": -1, "delay": 0.1, "backoff": 2, "max_delay": 5.0}
COMMAND_RETRY = {"max_tries": 3, "delay": 0.1, "backoff": 2, "max_delay": 1.0}


@dataclass(frozen=True, slots=True)
class ZkServers:
    """canal.zkServers, read: the clusters' ``host:port`` lists in the order given, and the chroot."""

    clusters: tuple[tuple[str, ...], ...]
    chroot: str = ""  # "" or "/path", the first cluster's

    def hosts(self, shuffle: Callable[[list[str]], None] = random.shuffle) -> str:
        """kazoo's hosts string in canal's preference: the first cluster's hosts shuffled, then the others'.
        Give it to a KazooClient with ``randomize_hosts=False`` (as :func:`make_client` does)."""
        first = list(self.clusters[0])
        shuffle(first)
        rest = [h for cluster in self.clusters[1:] for h in cluster]
        return ",".join(first + rest) + self.chroot

    def __str__(self) -> str:
        return ";".join(",".join(c) for c in self.clusters) + self.chroot


def _host(text: str, whole: str) -> str:
    host, sep, port = text.rpartition(":")
    if sep and (not host or not port.isdigit() or not 0 < int(port) < 65536):
        raise ConfigError(f"canal.zkServers {whole!r}: {text!r} is not host:port")
    return text


def parse_zk_servers(text: str | ZkServers) -> ZkServers:
    """canal.zkServers -> :class:`ZkServers`; see the module docstring. ConfigError when it names no server."""
    if isinstance(text, ZkServers):
        return text
    clusters: list[tuple[str, ...]] = []
    chroots: list[str] = []
    for part in (text or "").split(";"):
        hosts_text, slash, path = part.strip().partition("/")
        hosts = tuple(_host(h.strip(), text) for h in hosts_text.split(",") if h.strip())
        if hosts:
            clusters.append(hosts)
            chroots.append(slash + path.strip().rstrip("/") if path.strip().strip("/") else "")
        elif slash:
            raise ConfigError(f"canal.zkServers {text!r}: a chroot without hosts")
    if not clusters:
        raise ConfigError(f"canal.zkServers {text!r} names no ZooKeeper server")
    servers = ZkServers(tuple(clusters), chroots[0])
    if len(clusters) > 1:
        log.info(
            "canal.zkServers %r names %d ZooKeeper clusters: as canal does, one session uses the hosts of all of "
            "them, the first cluster's (%s) before the others'",
            text,
            len(clusters),
            ",".join(clusters[0]),
        )
        ignored = {c for c in chroots[1:] if c and c != chroots[0]}
        if ignored:
            log.warning(
                "canal.zkServers %r: the chroot of the first cluster (%s) applies to all; %s ignored, as canal does",
                text,
                chroots[0] or "none",
                ", ".join(sorted(ignored)),
            )
    return servers


def make_client(servers: str | ZkServers, session_timeout_s: float = DEFAULT_SESSION_TIMEOUT_S) -> KazooClient:
    """The kazoo client for canal.zkServers (not started): connection attempts forever, the backoff capped at
    5 s; each request retried up to 3 times."""
    zk_servers = parse_zk_servers(servers)
    return KazooClient(
        hosts=zk_servers.hosts(),
        timeout=session_timeout_s,
        randomize_hosts=False,  # hosts() already put them in canal's order
        connection_retry=KazooRetry(**CONNECTION_RETRY),
        command_retry=KazooRetry(**COMMAND_RETRY),
    )


def start_client(
    servers: str | ZkServers, *, session_timeout_s: float = DEFAULT_SESSION_TIMEOUT_S, connect_timeout_s: float
) -> KazooClient:
    """A started :func:`make_client` client, or ZooKeeperUnavailable when no connection came within
    ``connect_timeout_s`` (the client is then stopped and closed)."""
    zk_servers = parse_zk_servers(servers)
    zk = make_client(zk_servers, session_timeout_s)
    try:
        zk.start(timeout=connect_timeout_s)  # stops and closes the client itself when it times out
    except KazooTimeoutError as exc:
        raise ZooKeeperUnavailable(
            f"ZooKeeper {zk_servers} is unreachable: no connection within {connect_timeout_s:g}s"
        ) from exc
    except Exception as exc:  # a host name that does not resolve, and the like
        zk.stop()
        zk.close()
        raise ZooKeeperUnavailable(f"ZooKeeper {zk_servers} is unreachable: {exc!r}") from exc
    return zk


def local_ip() -> str:
    """A non-loopback IPv4 address of this host, as canal's AddressUtils.getHostIp finds one, else 127.0.0.1.

    First the host name's address when it is not a loopback one (Debian maps the name to 127.0.1.1); then
    the address of the interface the default route leaves by (a UDP socket connected to a private address:
    no packet is sent), where canal scans the network interfaces.
    """
    try:
        ip = socket.gethostbyname(socket.gethostname())
        if _usable(ip):
            return ip
    except OSError:
        pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            ip = s.getsockname()[0]
            if _usable(ip):
                return str(ip)
    except OSError:
        pass
    return "127.0.0.1"


def _usable(ip: str) -> bool:
    return bool(ip) and not ip.startswith(("127.", "0."))
