"""canal's ZooKeeperMetaManager: subscriptions, cursors and batch marks kept synchronously in ZooKeeper.

The layout and JSON are canal's (canal-spec.md sections 4.1, 4.3, 5.1), so a canal server and pycanal can
take over from each other:

* subscribe creates ``/otter/canal/destinations/{dest}/{clientId}`` and, for a non-empty filter, writes it
  raw into ``.../filter``; unsubscribe deletes the client node recursively, cursor included (canal quirk 11);
* the cursor is LogPosition JSON with a leading ``"@type"`` in ``.../cursor``;
* batch marks are PositionRange JSON with ``"@type"`` in ``.../mark/{id padded to 10 digits}``.

canal wraps it in PeriodMixedMetaManager (default-instance.xml), which never writes batches here.

It never owns the kazoo client and never blocks forever: every request waits at most ``op_timeout`` seconds
(kazoo queues requests while it reconnects) and fails as :class:`~pycanal.errors.MetaError`. ``write_guard``,
when given, is asked before every write: an HA server passes "do I still hold the running node", so a server
fenced off after losing ZooKeeper cannot overwrite the cursors of the server that took over.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError, NotEmptyError

from ..errors import BatchOrderError, ConfigError, HAError, MetaError
from ..ha import paths
from ..model import ClientIdentity, LogPosition
from ..store.range import PositionRange
from .base import MetaManager

log = logging.getLogger(__name__)

DEFAULT_OP_TIMEOUT_S = 10.0


class ZooKeeperMetaManager(MetaManager):
    """Synchronous ZooKeeper meta manager over a shared, started :class:`~kazoo.client.KazooClient`."""

    def __init__(
        self,
        zk: KazooClient,
        *,
        op_timeout: float = DEFAULT_OP_TIMEOUT_S,
        write_guard: Callable[[], bool] | None = None,
    ) -> None:
        self.zk = zk
        self.op_timeout = op_timeout
        self.write_guard = write_guard
        self._started = False
        self._lock = threading.Lock()  # the batch id counters
        self._next_batch: dict[tuple[str, int], int] = {}

    # ------------------------------------------------------------------ plumbing

    def _wait(self, result: Any, what: str) -> Any:
        """The answer of an async kazoo request, or MetaError (kazoo errors other than the two node ones)."""
        try:
            return result.get(timeout=self.op_timeout)
        except (NoNodeError, NodeExistsError, NotEmptyError):
            raise
        except KazooException as exc:
            raise MetaError(f"ZooKeeper {what} failed: {type(exc).__name__} {exc}") from exc
        except self.zk.handler.timeout_exception as exc:
            raise MetaError(
                f"ZooKeeper {what}: no answer within {self.op_timeout:g}s (ZooKeeper unreachable?)"
            ) from exc

    def _check(self) -> None:
        if not self._started:
            raise MetaError("ZooKeeperMetaManager is not started")

    def _check_write(self, what: str) -> None:
        self._check()
        if self.write_guard is not None and not self.write_guard():
            raise MetaError(f"{what} refused: this server no longer holds the destination's running node")

    @staticmethod
    def _path(fn: Callable[..., str], *args: Any) -> str:
        try:
            return fn(*args)
        except HAError as exc:
            raise MetaError(str(exc)) from exc

    def _get(self, path: str) -> bytes | None:
        try:
            data, _stat = self._wait(self.zk.get_async(path), f"read {path}")
        except NoNodeError:
            return None
        return data

    def _children(self, path: str) -> list[str]:
        try:
            return list(self._wait(self.zk.get_children_async(path), f"list {path}"))
        except NoNodeError:
            return []

    def _write(self, path: str, data: bytes) -> None:
        """Set the node, creating it (and its parents) when missing."""
        for _ in range(3):
            try:
                self._wait(self.zk.set_async(path, data), f"write {path}")
                return
            except NoNodeError:
                pass
            try:
                self._wait(self.zk.create_async(path, data, makepath=True), f"create {path}")
                return
            except NodeExistsError:
                continue  # created meanwhile: set it
        raise MetaError(f"ZooKeeper write {path} kept racing with other writers")

    def _delete_recursive(self, path: str) -> None:
        for _ in range(5):
            for child in self._children(path):
                self._delete_recursive(f"{path}/{child}")
            try:
                self._wait(self.zk.delete_async(path), f"delete {path}")
                return
            except NoNodeError:
                return
            except NotEmptyError:
                continue  # a child appeared meanwhile
        raise MetaError(f"ZooKeeper delete {path}: children keep appearing")

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._started = True

    def stop(self) -> None:
        self._started = False
        with self._lock:
            self._next_batch.clear()

    def is_started(self) -> bool:
        return self._started

    # ------------------------------------------------------------------ subscriptions

    def subscribe(self, identity: ClientIdentity) -> None:
        self._check_write(f"subscribe {identity.client_id}")
        node = self._path(paths.client_id_node_path, identity.destination, identity.client_id)
        try:
            self._wait(self.zk.create_async(node, b"", makepath=True), f"create {node}")
        except NodeExistsError:
            pass
        if identity.filter:  # like canal, an empty filter leaves an older filter node in place
            self._write(
                self._path(paths.filter_path, identity.destination, identity.client_id), identity.filter.encode("utf-8")
            )

    def has_subscribe(self, identity: ClientIdentity) -> bool:
        self._check()
        node = self._path(paths.client_id_node_path, identity.destination, identity.client_id)
        return self._wait(self.zk.exists_async(node), f"exists {node}") is not None

    def unsubscribe(self, identity: ClientIdentity) -> None:
        self._check_write(f"unsubscribe {identity.client_id}")
        self._delete_recursive(self._path(paths.client_id_node_path, identity.destination, identity.client_id))

    def list_all_subscribe_info(self, destination: str) -> list[ClientIdentity]:
        """Numeric children of the destination node, ascending, each with its stored filter."""
        self._check()
        ids = sorted(
            int(c)
            for c in self._children(self._path(paths.destination_path, destination))
            if paths.is_client_node(c) and int(c) in paths.JAVA_SHORT
        )
        out = []
        for client_id in ids:
            raw = self._get(paths.filter_path(destination, client_id))
            out.append(ClientIdentity(destination, client_id, raw.decode("utf-8") if raw else ""))
        return out

    # ------------------------------------------------------------------ cursors

    def get_cursor(self, identity: ClientIdentity) -> LogPosition | None:
        self._check()
        path = self._path(paths.cursor_path, identity.destination, identity.client_id)
        data = self._get(path)
        if not data:
            return None
        try:
            return LogPosition.loads(data)
        except ConfigError as exc:
            raise MetaError(f"bad cursor in {path}: {exc}") from exc

    def update_cursor(self, identity: ClientIdentity, position: LogPosition) -> None:
        self._check_write(f"cursor update of {identity.client_id}")
        path = self._path(paths.cursor_path, identity.destination, identity.client_id)
        self._write(path, position.dumps(with_type=True).encode("utf-8"))

    # ------------------------------------------------------------------ batches

    def _marks(self, identity: ClientIdentity) -> tuple[str, list[int]]:
        path = self._path(paths.batch_mark_path, identity.destination, identity.client_id)
        ids = []
        for child in self._children(path):
            try:
                ids.append(paths.batch_mark_id(child))
            except HAError as exc:
                raise MetaError(f"unexpected node {child!r} under {path}") from exc
        return path, sorted(ids)

    def _read_batch(self, path: str) -> PositionRange | None:
        data = self._get(path)
        if data is None:
            return None
        try:
            return PositionRange.loads(data)
        except ConfigError as exc:
            raise MetaError(f"bad batch mark in {path}: {exc}") from exc

    def add_batch(self, identity: ClientIdentity, position_range: PositionRange, batch_id: int | None = None) -> int:
        self._check_write(f"batch mark of {identity.client_id}")
        data = position_range.dumps(with_type=True).encode("utf-8")
        key = identity.key()
        if batch_id is not None:
            path = self._path(paths.batch_mark_with_id_path, identity.destination, identity.client_id, batch_id)
            self._write(path, data)
            with self._lock:
                self._next_batch[key] = max(self._next_batch.get(key, 1), batch_id + 1)
            return batch_id
        while True:
            _, ids = self._marks(identity)
            with self._lock:
                batch_id = max(self._next_batch.get(key, 1), (ids[-1] + 1) if ids else 1)
                self._next_batch[key] = batch_id + 1
            path = self._path(paths.batch_mark_with_id_path, identity.destination, identity.client_id, batch_id)
            try:
                self._wait(self.zk.create_async(path, data, makepath=True), f"create {path}")
                return batch_id
            except NodeExistsError:
                continue

    def get_batch(self, identity: ClientIdentity, batch_id: int) -> PositionRange | None:
        self._check()
        return self._read_batch(
            self._path(paths.batch_mark_with_id_path, identity.destination, identity.client_id, batch_id)
        )

    def remove_batch(self, identity: ClientIdentity, batch_id: int) -> PositionRange | None:
        self._check_write(f"batch removal of {identity.client_id}")
        path, ids = self._marks(identity)
        if batch_id not in ids:
            return None
        if ids[0] != batch_id:
            raise BatchOrderError(batch_id, ids[0])
        node = f"{path}/{paths.batch_mark_node(batch_id)}"
        position_range = self._read_batch(node)
        try:
            self._wait(self.zk.delete_async(node), f"delete {node}")
        except NoNodeError:
            return None
        return position_range

    def list_all_batchs(self, identity: ClientIdentity) -> dict[int, PositionRange]:
        self._check()
        for _ in range(5):
            path, ids = self._marks(identity)
            out: dict[int, PositionRange] = {}
            for batch_id in ids:
                position_range = self._read_batch(f"{path}/{paths.batch_mark_node(batch_id)}")
                if position_range is None:
                    break  # removed meanwhile: list again, as canal does
                out[batch_id] = position_range
            else:
                return out
        raise MetaError(f"batch marks of {identity} keep changing")

    def clear_all_batchs(self, identity: ClientIdentity) -> None:
        self._check_write(f"batch clearing of {identity.client_id}")
        path, ids = self._marks(identity)
        for batch_id in ids:
            try:
                self._wait(self.zk.delete_async(f"{path}/{paths.batch_mark_node(batch_id)}"), f"delete {path}")
            except NoNodeError:
                pass

    def _edge_batch(self, identity: ClientIdentity, last: bool) -> PositionRange | None:
        self._check()
        for _ in range(5):
            path, ids = self._marks(identity)
            if not ids:
                return None
            position_range = self._read_batch(f"{path}/{paths.batch_mark_node(ids[-1] if last else ids[0])}")
            if position_range is not None:
                return position_range
        raise MetaError(f"batch marks of {identity} keep changing")

    def get_first_batch(self, identity: ClientIdentity) -> PositionRange | None:
        return self._edge_batch(identity, last=False)

    def get_last_batch(self, identity: ClientIdentity) -> PositionRange | None:
        return self._edge_batch(identity, last=True)
