"""Operator actions on a canal/pycanal cluster through ZooKeeper: show, release, move.

* :func:`cluster_status`: the live servers, and per destination the server running it, the candidates,
  each client's stored cursor, filter and active consumer;
* :func:`release`: writes ``active=false`` into the running node, canal's own "please release" signal: the
  holder (canal or pycanal) stops the destination and deletes the node, then the servers contend again;
* :func:`move`: release in favour of a given candidate. It writes pycanal's ``preferred`` hint first: the
  named pycanal server contends at once while the others wait their delay (canal servers ignore the hint and
  contend after their fixed 5 s, so the move also works in a mixed cluster as long as the target is quick).

The ``admin_*`` functions are the CLI entry points: they take canal.zkServers, connect, act, and return the
text to print; failures are :class:`~pycanal.errors.HAError` (ZooKeeperUnavailable when it cannot be reached).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

from ..errors import ConfigError, HAError
from ..model import LogPosition
from . import paths
from .data import ClientRunningData, ServerRunningData, parse_client_running, parse_server_running
from .running import zk_wait
from .zk import start_client

DEFAULT_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class ClientStatus:
    client_id: int
    filter: str
    cursor: LogPosition | None
    running: ClientRunningData | None  # the active consumer, for ZooKeeper-aware clients


@dataclass(frozen=True, slots=True)
class DestinationStatus:
    destination: str
    running: ServerRunningData | None  # None: no server runs it now
    candidates: tuple[str, ...]  # servers that can run it (its cluster nodes)
    preferred: str | None  # a pending "move" hint
    clients: tuple[ClientStatus, ...]


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    servers: tuple[str, ...]  # /otter/canal/cluster
    destinations: tuple[DestinationStatus, ...]


# ---------------------------------------------------------------------------------------------- reading


def _get(zk: KazooClient, path: str, timeout: float) -> tuple[bytes, Any] | None:
    try:
        return zk_wait(zk, zk.get_async(path), f"read {path}", timeout)
    except NoNodeError:
        return None


def _children(zk: KazooClient, path: str, timeout: float) -> list[str]:
    try:
        return sorted(zk_wait(zk, zk.get_children_async(path), f"list {path}", timeout))
    except NoNodeError:
        return []


def destination_status(zk: KazooClient, destination: str, timeout: float = DEFAULT_TIMEOUT_S) -> DestinationStatus:
    node = _get(zk, paths.destination_server_running(destination), timeout)
    running = parse_server_running(node[0]) if node else None
    pref = _get(zk, paths.preferred_path(destination), timeout)
    preferred = pref[0].decode("utf-8", errors="replace").strip() or None if pref else None
    clients = []
    ids = sorted(
        int(c)
        for c in _children(zk, paths.destination_path(destination), timeout)
        if paths.is_client_node(c) and int(c) in paths.JAVA_SHORT
    )
    for client_id in ids:
        flt = _get(zk, paths.filter_path(destination, client_id), timeout)
        cur = _get(zk, paths.cursor_path(destination, client_id), timeout)
        run = _get(zk, paths.destination_client_running(destination, client_id), timeout)
        try:
            cursor = LogPosition.loads(cur[0]) if cur and cur[0] else None
        except ConfigError as exc:
            raise HAError(f"bad cursor of {destination}/{client_id}: {exc}") from exc
        clients.append(
            ClientStatus(
                client_id,
                flt[0].decode("utf-8", errors="replace") if flt else "",
                cursor,
                parse_client_running(run[0]) if run and run[0] else None,
            )
        )
    return DestinationStatus(
        destination,
        running,
        tuple(_children(zk, paths.destination_cluster_root(destination), timeout)),
        preferred,
        tuple(clients),
    )


def cluster_status(
    zk: KazooClient, destinations: Iterable[str] | None = None, timeout: float = DEFAULT_TIMEOUT_S
) -> ClusterStatus:
    """Everything :func:`format_status` shows; ``destinations`` None means all under /otter/canal."""
    names = list(destinations) if destinations is not None else _children(zk, paths.DESTINATION_ROOT_NODE, timeout)
    return ClusterStatus(
        tuple(_children(zk, paths.CANAL_CLUSTER_ROOT_NODE, timeout)),
        tuple(destination_status(zk, d, timeout) for d in names),
    )


def running_address(zk: KazooClient, destination: str, timeout: float = DEFAULT_TIMEOUT_S) -> str | None:
    """The address of the server running ``destination`` (None when vacant or releasing)."""
    node = _get(zk, paths.destination_server_running(destination), timeout)
    if node is None:
        return None
    data = parse_server_running(node[0])
    return data.address if data.active else None


def wait_running(zk: KazooClient, destination: str, address: str | None = None, timeout: float = 30.0) -> str:
    """Wait until a server (``address``, or any) runs ``destination``; its address, or HAError."""
    deadline = time.monotonic() + timeout
    while True:
        current = running_address(zk, destination)
        if current is not None and (address is None or current == address):
            return current
        if time.monotonic() >= deadline:
            want = address or "a server"
            raise HAError(
                f"{destination}: {want} did not take the running node within {timeout:g}s "
                f"(running: {current or 'nobody'})"
            )
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------- actions


def release(zk: KazooClient, destination: str, timeout: float = DEFAULT_TIMEOUT_S) -> ServerRunningData:
    """Ask the server running ``destination`` to give it up (``active=false``); returns what it held."""
    path = paths.destination_server_running(destination)
    for _ in range(5):
        node = _get(zk, path, timeout)
        if node is None:
            raise HAError(f"{destination}: no server runs it (no {path})")
        data, stat = node
        holder = parse_server_running(data)
        request = ServerRunningData(holder.address, False, holder.cid)
        try:
            zk_wait(zk, zk.set_async(path, request.to_bytes(), stat.version), f"write {path}", timeout)
            return holder
        except NoNodeError:
            raise HAError(f"{destination}: its running node disappeared meanwhile (already released)") from None
        except BadVersionError:
            continue  # rewritten meanwhile: read again
    raise HAError(f"{destination}: its running node keeps changing; try again")


def move(
    zk: KazooClient, destination: str, target: str, *, wait_s: float = 0.0, timeout: float = DEFAULT_TIMEOUT_S
) -> str | None:
    """Move ``destination`` to the candidate server ``target`` (``ip:port``). Returns the address running it
    afterwards when ``wait_s`` > 0 (HAError if ``target`` did not take it in time), else None."""
    candidates = _children(zk, paths.destination_cluster_root(destination), timeout)
    if target not in candidates:
        raise HAError(f"{destination}: {target} is not a candidate (candidates: {', '.join(candidates) or 'none'})")
    if running_address(zk, destination, timeout) == target:
        return target
    hint = paths.preferred_path(destination)
    try:
        zk_wait(zk, zk.create_async(hint, target.encode("utf-8"), makepath=True), f"create {hint}", timeout)
    except NodeExistsError:
        zk_wait(zk, zk.set_async(hint, target.encode("utf-8")), f"write {hint}", timeout)
    try:
        release(zk, destination, timeout)
    except HAError:
        if _get(zk, paths.destination_server_running(destination), timeout) is not None:
            raise  # else it is vacant: the hint alone lets the target take it first
    if wait_s > 0:
        return wait_running(zk, destination, target, wait_s)
    return None


# ---------------------------------------------------------------------------------------------- output


def _ms(ts: int | None) -> str:
    if not ts:
        return "-"
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def format_status(status: ClusterStatus) -> str:
    lines = [f"servers: {', '.join(status.servers) or 'none'}"]
    for d in status.destinations:
        if d.running is None:
            run = "not running"
        else:
            run = f"running on {d.running.address}" + ("" if d.running.active else " (releasing)")
        extra = f", moving to {d.preferred}" if d.preferred else ""
        lines.append(f"destination {d.destination}: {run}{extra} (candidates: {', '.join(d.candidates) or 'none'})")
        for c in d.clients:
            if c.cursor is None:
                cur = "no cursor"
            else:
                p = c.cursor.position
                cur = f"cursor {p.journal_name}:{p.position} at {_ms(p.timestamp)}"
                if p.gtid:
                    cur += f" gtid {p.gtid}"
            consumer = f", consumer {c.running.address}" if c.running is not None else ""
            flt = f", filter {c.filter}" if c.filter else ""
            lines.append(f"  client {c.client_id}: {cur}{flt}{consumer}")
    return "\n".join(lines)


def status_json(status: ClusterStatus) -> dict[str, Any]:
    """The status as JSON-ready data (cursors and running data in canal's own JSON shapes)."""
    return {
        "servers": list(status.servers),
        "destinations": [
            {
                "destination": d.destination,
                "running": None if d.running is None else d.running.to_json(),
                "candidates": list(d.candidates),
                "preferred": d.preferred,
                "clients": [
                    {
                        "clientId": c.client_id,
                        "filter": c.filter,
                        "cursor": None if c.cursor is None else c.cursor.to_json(),
                        "running": None if c.running is None else c.running.to_json(),
                    }
                    for c in d.clients
                ],
            }
            for d in status.destinations
        ],
    }


# ---------------------------------------------------------------------------------------------- CLI


@contextmanager
def connect(zk_servers: str, timeout: float = 10.0) -> Iterator[KazooClient]:
    """A started kazoo client for canal.zkServers (:func:`pycanal.ha.zk.start_client`), always closed."""
    zk = start_client(zk_servers, session_timeout_s=30.0, connect_timeout_s=timeout)
    try:
        yield zk
    finally:
        zk.stop()
        zk.close()


def admin_show(zk_servers: str, destination: str | None = None, *, as_json: bool = False, timeout: float = 10.0) -> str:
    """``pycanal admin show [DEST] [--json]``."""
    with connect(zk_servers, timeout) as zk:
        status = cluster_status(zk, None if destination is None else [destination])
    if as_json:
        return json.dumps(status_json(status), indent=2, ensure_ascii=False)
    return format_status(status)


def admin_release(zk_servers: str, destination: str, *, timeout: float = 10.0) -> str:
    """``pycanal admin release DEST``."""
    with connect(zk_servers, timeout) as zk:
        holder = release(zk, destination)
    return f"{destination}: asked {holder.address} to release it; the servers contend again"


def admin_move(zk_servers: str, destination: str, target: str, wait_s: float = 30.0, *, timeout: float = 10.0) -> str:
    """``pycanal admin move DEST IP:PORT [--wait S]`` (``wait_s`` 0: do not wait for the move)."""
    with connect(zk_servers, timeout) as zk:
        now = move(zk, destination, target, wait_s=wait_s)
    if now is None:
        return f"{destination}: asked to move to {target}"
    return f"{destination}: now running on {now}"
