"""canal's FileMixedMetaManager: memory first, cursors flushed to ``${data_dir}/<destination>/meta.dat``.

The file is canal's (spec section 4.2), byte for byte the JSON canal writes, so a canal server and pycanal
can take over each other's meta.dat::

    {"clientDatas":[{"clientIdentity":{"clientId":1001,"destination":"example","filter":""},
    "cursor":{"identity":{...},"postion":{...}}}],"destination":"example"}

Cursor changes are written by a background thread every ``period_ms`` (only destinations with a changed
cursor); subscribe and unsubscribe write at once; stop writes everything. Each write replaces the whole file
atomically (temp file, fsync, rename). A file with no clients is never written, so the last client's
unsubscribe keeps its cursor on disk (canal issue #4312). Batches are memory only: after a restart clients
get everything after their cursor again.

Durability: an ack moves the cursor in memory only; a crash before the next flush loses at most
``period_ms`` of cursor progress, and those events are delivered again (at least once, never lost).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import ConfigError, MetaError
from ..model import ClientIdentity, LogPosition, dumps
from .memory import MemoryMetaManager

log = logging.getLogger(__name__)

META_FILE_NAME = "meta.dat"


def read_meta_file(path: Path) -> tuple[list[ClientIdentity], dict[ClientIdentity, LogPosition]]:
    """Parse a meta.dat: its clients in order and their cursors. Missing or empty file: nothing.

    A file that is not canal's layout raises ConfigError naming the file.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read meta file {path}: {exc}") from exc
    if not text.strip():
        log.warning("meta file %s is empty; treating it as holding no clients", path)
        return [], {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"meta file {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"meta file {path} must hold a JSON object, got {type(data).__name__}")
    client_datas = data.get("clientDatas")
    if client_datas is None:
        return [], {}
    if not isinstance(client_datas, list):
        raise ConfigError(f"meta file {path}: clientDatas must be a list, got {type(client_datas).__name__}")
    clients: list[ClientIdentity] = []
    cursors: dict[ClientIdentity, LogPosition] = {}
    for i, item in enumerate(client_datas):
        try:
            if not isinstance(item, dict) or not isinstance(item.get("clientIdentity"), dict):
                raise ValueError("each entry needs a clientIdentity object")
            identity = ClientIdentity.from_json(item["clientIdentity"])
            cursor = item.get("cursor")
            position = None if cursor is None else LogPosition.from_json(cursor)
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise ConfigError(f"meta file {path}: bad clientDatas[{i}]: {exc}") from exc
        clients.append(identity)
        if position is not None:
            cursors[identity] = position
    return clients, cursors


def meta_file_json(destination: str, clients: Iterable[tuple[ClientIdentity, LogPosition | None]]) -> str:
    """The text canal writes into meta.dat for these clients (cursor omitted when there is none)."""
    datas: list[dict[str, Any]] = []
    for identity, cursor in clients:
        item: dict[str, Any] = {"clientIdentity": identity.to_json()}
        if cursor is not None:
            item["cursor"] = cursor.to_json()
        datas.append(item)
    return dumps({"clientDatas": datas, "destination": destination})


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


class FileMixedMetaManager(MemoryMetaManager):
    """Memory meta manager whose subscriptions and cursors live in canal's meta.dat files.

    ``destinations`` are loaded at :meth:`start` (so a corrupt meta.dat fails the start); any other
    destination is loaded the first time it is used.
    """

    def __init__(
        self, data_dir: str | os.PathLike[str], period_ms: int = 1000, destinations: Iterable[str] = ()
    ) -> None:
        super().__init__()
        if period_ms <= 0:
            raise ConfigError(f"canal.file.flush.period must be positive, got {period_ms!r}")
        self.data_dir = Path(data_dir)
        self.period_ms = period_ms
        self._eager = tuple(destinations)
        self._files: dict[str, tuple[list[ClientIdentity], dict[ClientIdentity, LogPosition]]] = {}
        self._dirty: set[ClientIdentity] = set()
        self._write_lock = threading.Lock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def meta_file(self, destination: str) -> Path:
        return self.data_dir / destination / META_FILE_NAME

    # ------------------------------------------------------------------ loading

    def _file_data(self, destination: str) -> tuple[list[ClientIdentity], dict[ClientIdentity, LogPosition]]:
        data = self._files.get(destination)
        if data is None:
            data = read_meta_file(self.meta_file(destination))
            self._files[destination] = data
        return data

    def _load_clients(self, destination: str) -> list[ClientIdentity]:
        return [c for c in self._file_data(destination)[0] if c.destination == destination]

    def _load_cursor(self, identity: ClientIdentity) -> LogPosition | None:
        return self._file_data(identity.destination)[1].get(identity)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            try:
                self.data_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise MetaError(f"cannot create meta dir {self.data_dir}: {exc}") from exc
            if not os.access(self.data_dir, os.R_OK | os.W_OK | os.X_OK):
                raise MetaError(f"dir[{self.data_dir}] can not read/write")
            super().start()
            self._files.clear()
            self._dirty.clear()
            try:
                for destination in self._eager:
                    self._clients(destination)
            except BaseException:
                super().stop()
                raise
            self._stop_event.clear()
            self._thread = threading.Thread(target=self._run, name="pycanal-meta-file-flush", daemon=True)
            self._thread.start()

    def stop(self, flush: bool = True) -> None:
        """Stop the flush thread, then (canal does) write every destination. ``flush=False`` skips that
        last write, which is what a crash looks like: cursor changes since the last period are lost."""
        thread = self._thread
        self._thread = None
        self._stop_event.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        try:
            if flush and self._started:
                self.flush()
        finally:
            with self._lock:
                self._dirty.clear()
                self._files.clear()
                super().stop()

    # ------------------------------------------------------------------ writes that trigger a flush

    def subscribe(self, identity: ClientIdentity) -> None:
        super().subscribe(identity)
        self._flush_destination(identity.destination)

    def unsubscribe(self, identity: ClientIdentity) -> None:
        super().unsubscribe(identity)
        self._flush_destination(identity.destination)

    def update_cursor(self, identity: ClientIdentity, position: LogPosition) -> None:
        with self._lock:
            super().update_cursor(identity, position)
            self._dirty.add(identity)

    # ------------------------------------------------------------------ flushing

    def flush(self, destination: str | None = None) -> None:
        """Write meta.dat now: for one destination, or for every destination this manager has loaded."""
        with self._lock:
            self._check_started()
            destinations = [destination] if destination is not None else list(self._destinations)
            if destination is None:
                self._dirty.clear()
            else:
                self._dirty = {c for c in self._dirty if c.destination != destination}
        for d in destinations:
            self._flush_destination(d)

    def _flush_destination(self, destination: str) -> None:
        # The write lock spans snapshot and write, so a slower writer never replaces newer content.
        with self._write_lock:
            with self._lock:
                self._check_started()
                if destination not in self._destinations:
                    return
                clients = [(c, self._cursor_of(c)) for c in self._destinations[destination]]
            if not clients:
                return  # never overwrite meta.dat with an empty client list (canal issue #4312)
            path = self.meta_file(destination)
            try:
                _atomic_write(path, meta_file_json(destination, clients))
            except OSError as exc:
                raise MetaError(f"cannot write meta file {path}: {exc}") from exc

    def _flush_dirty(self) -> None:
        with self._lock:
            if not self._started:
                return
            dirty = list(self._dirty)
            self._dirty.clear()
            cursors = [(c, self._cursors.get(c)) for c in dirty]
        by_destination: dict[str, list[ClientIdentity]] = {}
        for identity, cursor in cursors:
            by_destination.setdefault(identity.destination, []).append(identity)
            if cursor is not None and log.isEnabledFor(logging.INFO):
                p, ident = cursor.position, cursor.identity
                log.info(
                    "clientId:%s cursor:[%s,%s,%s,%s,%s] address[%s:%s]",
                    identity.client_id,
                    p.journal_name,
                    p.position,
                    p.timestamp,
                    p.server_id,
                    p.gtid,
                    ident.address,
                    ident.port,
                )
        for destination, identities in by_destination.items():
            try:
                self._flush_destination(destination)
            except Exception:
                log.exception("period update of the cursors of %s failed; retrying next period", destination)
                with self._lock:
                    self._dirty.update(identities)

    def _run(self) -> None:
        period = self.period_ms / 1000.0
        while not self._stop_event.wait(period):
            self._flush_dirty()
