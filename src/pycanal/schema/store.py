"""Where the schema history is kept: canal's two tables, ``meta_history`` and ``meta_snapshot``.

The layout is canal's (``deployer/.../spring/tsdb/sql/create_table.sql``): one row per DDL statement
with its binlog position, default schema and text, and snapshots holding ``{schema: "CREATE TABLE ..."}``
as JSON. Both are unique on (destination, binlog_master_id, binlog_file, binlog_offest), so a replayed
DDL is stored once. :class:`SqliteStore` (the default, a file in the instance's data directory) and
:class:`MySQLStore` (a database of the user's, through PyMySQL) share the SQL.

What canal keeps in columns is kept here the same way; what it does not have a column for (the GTID
of a statement, how a history row came about, the database charsets of a snapshot) is JSON in
``extra``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ..errors import SchemaHistoryError, SchemaStoreUnavailable
from ..model import EntryPosition

# canal's INIT position for the first snapshot: before any binlog position.
INIT_POSITION = EntryPosition(journal_name="", position=0, server_id=-1, timestamp=-2)


def is_init(pos: EntryPosition) -> bool:
    return pos.timestamp == -2 and pos.server_id == -1


@dataclass(slots=True)
class HistoryRow:
    """One DDL statement (or live schema read) and where in the binlog it took effect."""

    position: EntryPosition
    sql_text: str
    use_schema: str | None = None
    sql_schema: str | None = None
    sql_table: str | None = None
    sql_type: str = "QUERY"
    extra: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(slots=True)
class SnapshotRow:
    """Every table the history knows at ``position``; ``data`` is None when listed without it."""

    position: EntryPosition
    data: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


class HistoryStore(Protocol):
    def add_history(self, destination: str, row: HistoryRow) -> int:
        """Store a row; a row at the same position is kept as it was. Returns the stored row's id."""
        ...

    def history(self, destination: str) -> list[HistoryRow]:
        """All rows of the destination, in insertion (id) order."""
        ...

    def add_snapshot(self, destination: str, snap: SnapshotRow) -> int:
        """Store a snapshot; one at the same position is replaced. Returns its id."""
        ...

    def snapshots(self, destination: str) -> list[SnapshotRow]:
        """The destination's snapshots without their data, in id order."""
        ...

    def snapshot_data(self, destination: str, snapshot_id: int) -> dict[str, str]: ...

    def delete_snapshots(self, destination: str, ids: list[int]) -> None: ...

    def close(self) -> None: ...


def _key(pos: EntryPosition) -> tuple[str, int, str, int]:
    """(binlog_file, binlog_offest, binlog_master_id, binlog_timestamp), never NULL so UNIQUE holds."""
    return (
        pos.journal_name or "",
        pos.position if pos.position is not None else 0,
        str(pos.server_id) if pos.server_id is not None else "",
        pos.timestamp if pos.timestamp is not None else 0,
    )


def _position(file: Any, offset: Any, master: Any, ts: Any, extra: dict[str, Any]) -> EntryPosition:
    master_s = "" if master is None else str(master)
    return EntryPosition(
        journal_name=None if file is None else str(file),
        position=None if offset is None else int(offset),
        server_id=int(master_s) if master_s.lstrip("-").isdigit() else None,
        timestamp=None if ts is None else int(ts),
        gtid=extra.get("gtid"),
    )


def _extra(pos: EntryPosition, extra: dict[str, Any]) -> str:
    out = dict(extra)
    if pos.gtid:
        out["gtid"] = pos.gtid
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _load_json(text: Any) -> dict[str, Any]:
    if text is None or text == "":
        return {}
    if isinstance(text, (bytes, bytearray)):
        text = text.decode()
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise SchemaHistoryError(f"bad JSON in the schema history store: {exc}") from exc
    if not isinstance(value, dict):
        raise SchemaHistoryError("bad JSON in the schema history store: not an object")
    return value


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


_COLS_H = (
    "destination, binlog_file, binlog_offest, binlog_master_id, binlog_timestamp, use_schema, sql_schema, "
    "sql_table, sql_text, sql_type, extra"
)
_COLS_S = "destination, binlog_file, binlog_offest, binlog_master_id, binlog_timestamp, data, extra"
_KEY_WHERE = "destination = {p} AND binlog_master_id = {p} AND binlog_file = {p} AND binlog_offest = {p}"


class _SqlStore:
    """The SQL both stores run; subclasses give the connection, placeholder and upsert flavour."""

    p = "?"

    def __init__(self) -> None:
        self._lock = threading.RLock()

    # subclass hooks
    @contextmanager
    def _cursor(self) -> Iterator[Any]:  # pragma: no cover - overridden
        raise NotImplementedError
        yield

    def _insert_ignore(self, table: str, cols: str, n: int) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _upsert_snapshot(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _sql(self, text: str) -> str:
        return text.replace("{p}", self.p)

    def add_history(self, destination: str, row: HistoryRow) -> int:
        f, o, m, ts = _key(row.position)
        now = _now()
        with self._cursor() as cur:
            cur.execute(
                self._sql(self._insert_ignore("meta_history", "gmt_create, gmt_modified, " + _COLS_H, 13)),
                (
                    now,
                    now,
                    destination,
                    f,
                    o,
                    m,
                    ts,
                    row.use_schema,
                    row.sql_schema,
                    row.sql_table,
                    row.sql_text,
                    row.sql_type,
                    _extra(row.position, row.extra),
                ),
            )
            cur.execute(self._sql("SELECT id FROM meta_history WHERE " + _KEY_WHERE), (destination, m, f, o))
            got = cur.fetchone()
        if got is None:
            raise SchemaHistoryError(f"history row at {f}:{o} was not stored")
        row.id = int(got[0])
        return row.id

    def history(self, destination: str) -> list[HistoryRow]:
        with self._cursor() as cur:
            cur.execute(
                self._sql(f"SELECT id, {_COLS_H} FROM meta_history WHERE destination = {{p}} ORDER BY id"),
                (destination,),
            )
            rows = cur.fetchall()
        out = []
        for r in rows:
            extra = _load_json(r[11])
            out.append(
                HistoryRow(
                    position=_position(r[2], r[3], r[4], r[5], extra),
                    sql_text=_str(r[9]) or "",
                    use_schema=_str(r[6]),
                    sql_schema=_str(r[7]),
                    sql_table=_str(r[8]),
                    sql_type=_str(r[10]) or "QUERY",
                    extra=extra,
                    id=int(r[0]),
                )
            )
        return out

    def add_snapshot(self, destination: str, snap: SnapshotRow) -> int:
        f, o, m, ts = _key(snap.position)
        now = _now()
        data = json.dumps(snap.data or {}, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
        with self._cursor() as cur:
            cur.execute(
                self._sql(self._upsert_snapshot()),
                (now, now, destination, f, o, m, ts, data, _extra(snap.position, snap.extra)),
            )
            cur.execute(self._sql("SELECT id FROM meta_snapshot WHERE " + _KEY_WHERE), (destination, m, f, o))
            got = cur.fetchone()
        if got is None:
            raise SchemaHistoryError(f"snapshot at {f}:{o} was not stored")
        snap.id = int(got[0])
        return snap.id

    def snapshots(self, destination: str) -> list[SnapshotRow]:
        with self._cursor() as cur:
            cur.execute(
                self._sql(
                    "SELECT id, binlog_file, binlog_offest, binlog_master_id, binlog_timestamp, extra "
                    "FROM meta_snapshot WHERE destination = {p} ORDER BY id"
                ),
                (destination,),
            )
            rows = cur.fetchall()
        out = []
        for r in rows:
            extra = _load_json(r[5])
            out.append(SnapshotRow(_position(r[1], r[2], r[3], r[4], extra), None, extra, int(r[0])))
        return out

    def snapshot_data(self, destination: str, snapshot_id: int) -> dict[str, str]:
        with self._cursor() as cur:
            cur.execute(
                self._sql("SELECT data FROM meta_snapshot WHERE destination = {p} AND id = {p}"),
                (destination, snapshot_id),
            )
            got = cur.fetchone()
        if got is None:
            raise SchemaHistoryError(f"snapshot {snapshot_id} of {destination!r} is gone")
        data = _load_json(got[0])
        return {str(k): str(v) for k, v in data.items()}

    def delete_snapshots(self, destination: str, ids: list[int]) -> None:
        if not ids:
            return
        with self._cursor() as cur:
            for i in ids:
                cur.execute(
                    self._sql("DELETE FROM meta_snapshot WHERE destination = {p} AND id = {p}"), (destination, i)
                )


def _str(v: Any) -> str | None:
    if v is None:
        return None
    return v.decode() if isinstance(v, (bytes, bytearray)) else str(v)


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta_snapshot (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  gmt_create TEXT NOT NULL,
  gmt_modified TEXT NOT NULL,
  destination TEXT NOT NULL,
  binlog_file TEXT NOT NULL,
  binlog_offest INTEGER NOT NULL,
  binlog_master_id TEXT NOT NULL,
  binlog_timestamp INTEGER NOT NULL,
  data TEXT,
  extra TEXT,
  UNIQUE (destination, binlog_master_id, binlog_file, binlog_offest)
);
CREATE INDEX IF NOT EXISTS meta_snapshot_destination_timestamp ON meta_snapshot (destination, binlog_timestamp);
CREATE TABLE IF NOT EXISTS meta_history (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  gmt_create TEXT NOT NULL,
  gmt_modified TEXT NOT NULL,
  destination TEXT NOT NULL,
  binlog_file TEXT NOT NULL,
  binlog_offest INTEGER NOT NULL,
  binlog_master_id TEXT NOT NULL,
  binlog_timestamp INTEGER NOT NULL,
  use_schema TEXT,
  sql_schema TEXT,
  sql_table TEXT,
  sql_text TEXT,
  sql_type TEXT,
  extra TEXT,
  UNIQUE (destination, binlog_master_id, binlog_file, binlog_offest)
);
CREATE INDEX IF NOT EXISTS meta_history_destination_timestamp ON meta_history (destination, binlog_timestamp);
"""

DEFAULT_FILE_NAME = "tsdb.sqlite3"


class SqliteStore(_SqlStore):
    """The default store: one SQLite file (canal keeps an H2 file in the same place)."""

    p = "?"

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        parent = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(parent, exist_ok=True)
            self._conn: sqlite3.Connection | None = sqlite3.connect(path, check_same_thread=False)
            self._conn.executescript(_SQLITE_SCHEMA)
            self._conn.commit()
        except (OSError, sqlite3.Error) as exc:
            raise SchemaHistoryError(f"cannot open the schema history file {path}: {exc}") from exc

    @classmethod
    def for_instance(cls, data_dir: str, destination: str) -> SqliteStore:
        """``<data_dir>/<destination>/tsdb.sqlite3``: canal's ``canal.instance.tsdb.dir`` default."""
        return cls(os.path.join(data_dir, destination, DEFAULT_FILE_NAME))

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        with self._lock:
            if self._conn is None:
                raise SchemaHistoryError(f"the schema history file {self.path} is closed")
            try:
                cur = self._conn.cursor()
                try:
                    yield cur
                finally:
                    cur.close()
                self._conn.commit()
            except sqlite3.Error as exc:
                self._conn.rollback()
                raise SchemaHistoryError(f"schema history file {self.path}: {exc}") from exc

    def _insert_ignore(self, table: str, cols: str, n: int) -> str:
        return f"INSERT OR IGNORE INTO {table} ({cols}) VALUES ({', '.join(['{p}'] * n)})"

    def _upsert_snapshot(self) -> str:
        return (
            f"INSERT INTO meta_snapshot (gmt_create, gmt_modified, {_COLS_S}) "
            "VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}) "
            "ON CONFLICT (destination, binlog_master_id, binlog_file, binlog_offest) DO UPDATE SET "
            "gmt_modified = excluded.gmt_modified, data = excluded.data, extra = excluded.extra, "
            "binlog_timestamp = excluded.binlog_timestamp"
        )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


_MYSQL_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS `meta_snapshot` (
  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `gmt_create` datetime NOT NULL,
  `gmt_modified` datetime NOT NULL,
  `destination` varchar(128) DEFAULT NULL,
  `binlog_file` varchar(64) DEFAULT NULL,
  `binlog_offest` bigint(20) DEFAULT NULL,
  `binlog_master_id` varchar(64) DEFAULT NULL,
  `binlog_timestamp` bigint(20) DEFAULT NULL,
  `data` longtext DEFAULT NULL,
  `extra` text DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY binlog_file_offest(`destination`,`binlog_master_id`,`binlog_file`,`binlog_offest`),
  KEY `destination` (`destination`),
  KEY `destination_timestamp` (`destination`,`binlog_timestamp`),
  KEY `gmt_modified` (`gmt_modified`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE IF NOT EXISTS `meta_history` (
  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `gmt_create` datetime NOT NULL,
  `gmt_modified` datetime NOT NULL,
  `destination` varchar(128) DEFAULT NULL,
  `binlog_file` varchar(64) DEFAULT NULL,
  `binlog_offest` bigint(20) DEFAULT NULL,
  `binlog_master_id` varchar(64) DEFAULT NULL,
  `binlog_timestamp` bigint(20) DEFAULT NULL,
  `use_schema` varchar(1024) DEFAULT NULL,
  `sql_schema` varchar(1024) DEFAULT NULL,
  `sql_table` varchar(1024) DEFAULT NULL,
  `sql_text` longtext DEFAULT NULL,
  `sql_type` varchar(256) DEFAULT NULL,
  `extra` text DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY binlog_file_offest(`destination`,`binlog_master_id`,`binlog_file`,`binlog_offest`),
  KEY `destination` (`destination`),
  KEY `destination_timestamp` (`destination`,`binlog_timestamp`),
  KEY `gmt_modified` (`gmt_modified`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
)


class MySQLStore(_SqlStore):
    """canal's ``mysql-tsdb.xml`` option: the two tables in a MySQL/MariaDB database.

    ``connect`` returns a new PyMySQL connection to the database that holds (or will hold) the tables;
    it is called again after a lost connection.
    """

    p = "%s"

    def __init__(self, connect: Callable[[], Any], *, create_tables: bool = True) -> None:
        super().__init__()
        self._connect = connect
        self._conn: Any = None
        if create_tables:
            with self._cursor() as cur:
                for stmt in _MYSQL_SCHEMA:
                    cur.execute(stmt)

    @classmethod
    def from_params(cls, *, host: str, port: int, user: str, password: str, database: str) -> MySQLStore:
        import pymysql

        def connect() -> Any:
            return pymysql.connect(
                host=host,
                port=port,
                user=user,
                password=password,
                database=database,
                charset="utf8mb4",
                autocommit=False,
            )

        return cls(connect)

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        import pymysql

        with self._lock:
            try:
                if self._conn is not None:
                    try:
                        self._conn.ping()
                    except pymysql.MySQLError:
                        self._drop_connection()
                if self._conn is None:
                    self._conn = self._connect()
                cur = self._conn.cursor()
                try:
                    yield cur
                finally:
                    cur.close()
                self._conn.commit()
            except (pymysql.MySQLError, OSError) as exc:
                try:
                    if self._conn is not None:
                        self._conn.rollback()
                except (pymysql.MySQLError, OSError):
                    self._drop_connection()
                raise _store_error(exc) from exc

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass  # it is broken already

    def _insert_ignore(self, table: str, cols: str, n: int) -> str:
        return f"INSERT IGNORE INTO {table} ({cols}) VALUES ({', '.join(['{p}'] * n)})"

    def _upsert_snapshot(self) -> str:
        return (
            f"INSERT INTO meta_snapshot (gmt_create, gmt_modified, {_COLS_S}) "
            "VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}) "
            "ON DUPLICATE KEY UPDATE gmt_modified = VALUES(gmt_modified), data = VALUES(data), "
            "extra = VALUES(extra), binlog_timestamp = VALUES(binlog_timestamp)"
        )

    def close(self) -> None:
        with self._lock:
            self._drop_connection()


def _store_error(exc: Exception) -> SchemaHistoryError:
    """PyMySQL's errors as pycanal's, at this store's boundary: a database that cannot be reached or
    dropped the session (client errors 2000-2999, a closed connection) is :class:`SchemaStoreUnavailable`,
    which is a ConnectionLostError; what the server refuses stays a SchemaHistoryError with its errno."""
    import pymysql

    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    if isinstance(exc, (pymysql.err.InterfaceError, OSError)) or (code is not None and 2000 <= code < 3000):
        return SchemaStoreUnavailable(f"schema history database unreachable: {exc}")
    return SchemaHistoryError(f"schema history database: {exc}")


class MemoryStore:
    """A store that keeps nothing past the process (canal's memory TSDB); for tests and tools."""

    def __init__(self) -> None:
        self._history: dict[str, list[HistoryRow]] = {}
        self._snapshots: dict[str, list[SnapshotRow]] = {}
        self._next = 1

    def _id(self) -> int:
        self._next += 1
        return self._next - 1

    def add_history(self, destination: str, row: HistoryRow) -> int:
        rows = self._history.setdefault(destination, [])
        key = _key(row.position)[:3]
        for r in rows:
            if _key(r.position)[:3] == key:
                row.id = r.id
                return r.id  # type: ignore[return-value]
        row.id = self._id()
        rows.append(
            HistoryRow(
                row.position,
                row.sql_text,
                row.use_schema,
                row.sql_schema,
                row.sql_table,
                row.sql_type,
                json.loads(_extra(row.position, row.extra)),
                row.id,
            )
        )
        return row.id

    def history(self, destination: str) -> list[HistoryRow]:
        return list(self._history.get(destination, []))

    def add_snapshot(self, destination: str, snap: SnapshotRow) -> int:
        snaps = self._snapshots.setdefault(destination, [])
        key = _key(snap.position)[:3]
        for i, s in enumerate(snaps):
            if _key(s.position)[:3] == key:
                snap.id = s.id
                snaps[i] = SnapshotRow(
                    snap.position, dict(snap.data or {}), json.loads(_extra(snap.position, snap.extra)), s.id
                )
                return s.id  # type: ignore[return-value]
        snap.id = self._id()
        snaps.append(
            SnapshotRow(snap.position, dict(snap.data or {}), json.loads(_extra(snap.position, snap.extra)), snap.id)
        )
        return snap.id

    def snapshots(self, destination: str) -> list[SnapshotRow]:
        return [SnapshotRow(s.position, None, dict(s.extra), s.id) for s in self._snapshots.get(destination, [])]

    def snapshot_data(self, destination: str, snapshot_id: int) -> dict[str, str]:
        for s in self._snapshots.get(destination, []):
            if s.id == snapshot_id:
                return dict(s.data or {})
        raise SchemaHistoryError(f"snapshot {snapshot_id} of {destination!r} is gone")

    def delete_snapshots(self, destination: str, ids: list[int]) -> None:
        self._snapshots[destination] = [s for s in self._snapshots.get(destination, []) if s.id not in ids]

    def close(self) -> None:
        pass
