"""pycanal's SimpleConnector against the real pycanal TCP server (run_server in a thread) on a sandbox MariaDB,
and FlatMessages built from served Entries against the ones the dump path builds from the same binlog."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from helpers import wait_for
from instance_helpers import make_instance, rows_of, write_conf
from pycanal.client import LiveConnection, Message, SimpleConnector
from pycanal.client.printer import format_entry
from pycanal.dump import iter_flat_messages
from pycanal.errors import (
    AuthenticationFailed,
    BatchNotFound,
    BatchOutOfOrder,
    CanalConnectionError,
    InstanceNotStarted,
    NotSubscribed,
)
from pycanal.model import ClientIdentity
from pycanal.protocol import entry as pb
from pycanal.protocol.flat import flat_messages
from pycanal.protocol.frames import password_hash
from pycanal.server.embedded import CanalServerWithEmbedded
from pycanal.server.main import run_server
from pycanal.server.tcp import CanalTcpServer

pytestmark = pytest.mark.integration

USER, PASSWORD = "canal", "s3cret"
DEST = "example"


class ServerThread:
    """``run_server`` on a thread, started and stopped on purpose (also again on the same port)."""

    def __init__(self, conf: str, overrides: dict[str, str]) -> None:
        self.conf, self.overrides = conf, dict(overrides)
        self.port = 0
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._failure: list[BaseException] = []

    def start(self) -> None:
        ready = threading.Event()
        self._stop = threading.Event()
        self._failure.clear()

        def on_ready(server: CanalTcpServer) -> None:
            self.port = server.port
            ready.set()

        def run() -> None:
            try:
                run_server(self.conf, {**self.overrides, "canal.port": str(self.port)}, ready=on_ready, stop=self._stop)
            except BaseException as exc:
                self._failure.append(exc)
                ready.set()

        self._thread = threading.Thread(target=run, name="test-canal-server", daemon=True)
        self._thread.start()
        assert ready.wait(20), "the server did not come up within 20 s"
        if self._failure:
            raise self._failure[0]

    def stop(self) -> None:
        if self._thread is None:
            return
        assert self._stop is not None
        self._stop.set()
        self._thread.join(20)
        assert not self._thread.is_alive(), "the server did not stop within 20 s"
        self._thread = None


class Env:
    def __init__(self, mariadb, db: str, server: ServerThread) -> None:
        self.mariadb, self.db, self.server = mariadb, db, server
        self.next_id = 0

    def insert(self, n: int) -> list[str]:
        """n single-row transactions (BEGIN, INSERT, END: three entries each); their ids."""
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        self.mariadb.execute(*(f"INSERT INTO `{self.db}`.t VALUES ({i}, 'v{i}')" for i in ids))
        return [str(i) for i in ids]

    def connector(self, **kw: object) -> SimpleConnector:
        kw.setdefault("username", USER)
        kw.setdefault("password", PASSWORD)
        kw.setdefault("so_timeout", 10.0)
        kw.setdefault("retry_interval", 0.2)
        return SimpleConnector("127.0.0.1", self.server.port, DEST, **kw)  # type: ignore[arg-type]


def _env(mariadb, db: str, tmp_path, *, password: bool) -> Iterator[Env]:
    mariadb.execute(
        f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(20))", f"CREATE TABLE `{db}`.other (id INT PRIMARY KEY)"
    )
    journal, position = mariadb.master_status()
    conf = write_conf(
        tmp_path,
        mariadb.port,
        DEST,
        canal__instance__filter__regex=f"{db}\\\\..*",
        canal__instance__master__journal__name=journal,
        canal__instance__master__position=position,
    )
    overrides = {"canal.instance.memory.batch.mode": "ITEMSIZE", "canal.auto.scan": "false"}
    if password:
        overrides |= {"canal.user": USER, "canal.passwd": password_hash(PASSWORD)}
    server = ServerThread(conf, overrides)
    server.start()
    try:
        yield Env(mariadb, db, server)
    finally:
        server.stop()


@pytest.fixture
def env(mariadb, fresh_db, tmp_path) -> Iterator[Env]:
    """A server with canal.user/canal.passwd and destination 'example' on the fresh database (ITEMSIZE)."""
    yield from _env(mariadb, fresh_db, tmp_path, password=True)


@pytest.fixture
def open_env(mariadb, fresh_db, tmp_path) -> Iterator[Env]:
    """The same without canal.user/canal.passwd."""
    yield from _env(mariadb, fresh_db, tmp_path, password=False)


def ids(msg: Message) -> list[str]:
    return [r[3]["id"] for r in rows_of(msg.raw)]


def drain(c: SimpleConnector, n: int, batch: int = 30, timeout: float = 15.0) -> list[str]:
    """get (with ack) until n rows arrived; their ids."""
    got: list[str] = []
    wait_for(
        lambda: got.extend(ids(c.get(batch, 200))) or len(got) >= n, timeout, message=lambda: f"{len(got)} of {n} rows"
    )
    return got


# ------------------------------------------------------------------------------------------------ sessions


def test_session_with_password_filter_get_ack(env):
    with env.connector() as c:
        assert c.check_valid()
        c.subscribe(f"{env.db}\\.t")  # replaces the instance filter: table `other` is left out
        env.mariadb.execute(f"INSERT INTO `{env.db}`.other VALUES (1)")
        expected = env.insert(4)
        msg = c.get_without_ack(14, 5, "s")  # ITEMSIZE: waits for 14 entries, i.e. all 5 transactions
        assert msg.batch_id == 1 and ids(msg) == expected
        assert {r[2] for r in rows_of(msg.raw)} == {"t"}
        kinds = [e.entryType for e in msg.entries]  # the filtered transaction keeps its BEGIN and END
        assert (
            kinds == [pb.TRANSACTIONBEGIN, pb.TRANSACTIONEND] + [pb.TRANSACTIONBEGIN, pb.ROWDATA, pb.TRANSACTIONEND] * 4
        )
        assert "name[" + env.db + ",t] , eventType : INSERT" in format_entry(msg.entries[3])
        c.ack(msg.batch_id)
        empty = c.get_without_ack(100)  # timeout None goes out as -1: no waiting
        assert (empty.batch_id, empty.raw) == (-1, [])
        assert c.filter == f"{env.db}\\.t"
    assert not c.check_valid()


def test_wrong_or_missing_password_is_refused_with_canals_message(env):
    for password in ("wrong", None, ""):
        c = env.connector(password=password)
        with pytest.raises(AuthenticationFailed, match=f"auth failed for user:{USER}") as info:
            c.connect()
        assert info.value.code == 400 and not c.check_valid()
    with pytest.raises(AuthenticationFailed, match="auth failed for user:someone"):
        env.connector(username="someone").connect()


def test_no_password_server_accepts_any_client(open_env):
    for user, password in (("", ""), ("anyone", None)):
        with open_env.connector(username=user, password=password) as c:
            c.subscribe()
            expected = open_env.insert(2)
            assert drain(c, 2) == expected


def test_outstanding_batches_out_of_order_ack_and_rollback(env):
    with env.connector() as c:
        c.subscribe()
        expected = env.insert(6)
        first = c.get_without_ack(3, 5, "s")
        second = c.get_without_ack(3, 5, "s")
        third = c.get_without_ack(3, 5, "s")
        assert [m.batch_id for m in (first, second, third)] == [1, 2, 3]
        assert ids(first) + ids(second) + ids(third) == expected[:3]
        # acks must be in order: canal's error comes back as the reply to the next request...
        c.ack(third.batch_id)
        with pytest.raises(BatchOutOfOrder, match="batchId:3 is not the firstly:1") as info:
            c.get_without_ack(3, 5, "s")
        assert info.value.code == 400
        # ...and the batch that arrived behind the error is not lost: the next get hands it out
        fourth = c.get_without_ack(3, 5, "s")
        assert fourth.batch_id == 4 and ids(fourth) == [expected[3]]
        c.ack(first.batch_id)
        c.ack(second.batch_id)
        # rollback of the oldest batch voids them all: everything after the last ack comes again
        c.rollback(third.batch_id)
        with pytest.raises(BatchNotFound, match="batchId:4 is not exist"):
            c.ack(fourth.batch_id)  # refused here: canal's server would have no such batch either
        assert drain(c, 4) == expected[2:]


def test_errors_carry_canals_messages(env):
    with env.connector() as c:
        with pytest.raises(NotSubscribed, match="should subscribe first"):
            c.get_without_ack(10)
        c.subscribe()
        c.ack(999)  # no reply now; the failure is the reply to the next request
        with pytest.raises(BatchNotFound, match="batchId:999 is not exist") as info:
            c.get_without_ack(10)
        assert any("earlier ack or rollback" in note for note in info.value.__notes__)
        expected = env.insert(1)
        assert drain(c, 1) == expected  # the session goes on in step
        c.unsubscribe()
        with pytest.raises(NotSubscribed):
            c.get(10)
    other = SimpleConnector("127.0.0.1", env.server.port, "nope", username=USER, password=PASSWORD)
    with other, pytest.raises(InstanceNotStarted, match="destination:nope should start first"):
        other.subscribe()


def test_reconnect_after_server_restart_resumes_from_the_acked_cursor(env):
    c = env.connector(rollback_on_connect=True, reconnect=True)
    with c:
        c.subscribe(f"{env.db}\\.t")
        expected = env.insert(4)
        acked = c.get(6, 5, "s")  # rows 0 and 1, acked
        assert ids(acked) == expected[:2]
        pending = c.get_without_ack(3, 5, "s")  # row 2, never acked
        assert ids(pending) == [expected[2]]
        env.server.stop()  # drops the connection; the instance flushes its cursor
        more = env.insert(3)  # written while the server is down
        env.server.start()  # same port
        # the next call finds the connection dead, reconnects, subscribes, rolls back, asks again
        first = c.get_without_ack(30, 1, "s")
        assert first.batch_id == 1  # batch ids restart with the instance
        with pytest.raises(BatchNotFound, match="voided"):
            c.ack(pending.batch_id)  # id 2 from before the reconnect: refused here, not sent
        c.ack(first.batch_id)
        after = ids(first) + drain(c, 5 - len(ids(first)))
        assert after == expected[2:] + more  # from the acked cursor: nothing lost, nothing acked again
        assert c.filter == f"{env.db}\\.t"


def test_without_reconnect_a_dropped_connection_is_an_error_until_connect(env):
    c = env.connector(reconnect=False)
    with c:
        c.subscribe()
        env.server.stop()
        env.server.start()
        with pytest.raises(CanalConnectionError):
            c.get_without_ack(10)
        with pytest.raises(CanalConnectionError, match="call connect"):
            c.get_without_ack(10)
        c.connect()  # a new session: subscribe again (remembered filter) and go on
        expected = env.insert(2)
        assert drain(c, 2) == expected


def test_live_connection_follows_the_socket(env):
    c = env.connector(reconnect=False)
    assert c.live_connection() is None  # not connected yet
    with c:
        live = c.live_connection()
        assert isinstance(live, LiveConnection) and live.server == ("127.0.0.1", env.server.port)
        assert live.local is not None and live.local.startswith("127.0.0.1:")
        assert c.live_connection() == live  # the same socket
        env.server.stop()
        env.server.start()
        with pytest.raises(CanalConnectionError):
            c.get_without_ack(10)  # finds the socket broken and closes it
        assert c.live_connection() is None and c.check_valid()  # connected, but no socket now
        c.connect()
        again = c.live_connection()
        assert again is not None and again.server == live.server and again.local != live.local
    assert c.live_connection() is None


def test_live_connection_waits_for_a_connect_in_progress(env):
    """The hook reads the socket under its lock: while another thread is half way through connecting it
    waits, then sees the finished connection (reading the private state unlocked saw 'no connection')."""
    dialling, release = threading.Event(), threading.Event()

    def slow_address() -> tuple[str, int]:
        dialling.set()
        assert release.wait(10)
        return ("127.0.0.1", env.server.port)

    c = SimpleConnector(
        None, None, DEST, username=USER, password=PASSWORD, so_timeout=10.0, address_provider=slow_address
    )
    connecting = threading.Thread(target=c.connect, daemon=True)
    connecting.start()
    assert dialling.wait(10)
    seen: list[LiveConnection | None] = []
    reader = threading.Thread(target=lambda: seen.append(c.live_connection()), daemon=True)
    reader.start()
    reader.join(0.3)
    assert reader.is_alive() and not seen  # blocked while the connection is being set up
    release.set()
    connecting.join(10)
    reader.join(10)
    try:
        assert seen and seen[0] is not None and seen[0].server == ("127.0.0.1", env.server.port)
    finally:
        c.disconnect()


def test_reconnect_gives_up_when_the_server_stays_away(env):
    c = env.connector(retry_times=2, retry_interval=0.05)
    with c:
        c.subscribe()
        env.server.stop()
        with pytest.raises(CanalConnectionError, match="after 3 attempt"):
            c.get_without_ack(10)


# ------------------------------------------------------------------------------------------------ FlatMessage


def test_flat_messages_of_served_entries_equal_the_dump_path(mariadb, fresh_db, tmp_path):
    db = fresh_db
    journal, position = mariadb.master_status()
    conf = write_conf(
        tmp_path,
        mariadb.port,
        DEST,
        canal__instance__filter__regex=f"{db}\\\\..*",
        canal__instance__master__journal__name=journal,
        canal__instance__master__position=position,
    )
    mariadb.execute(
        f"CREATE TABLE `{db}`.f (id INT UNSIGNED PRIMARY KEY, name VARCHAR(20), price DECIMAL(8,2), "
        "at DATETIME(3), kind ENUM('a','b'), tags SET('x','y'), data BLOB, n TINYINT UNSIGNED)",
        f"INSERT INTO `{db}`.f VALUES (1, 'a', 1.50, '2024-01-02 03:04:05.678', 'b', 'x,y', x'00ff', 255), "
        "(3, 'c', -2.25, '2000-01-01', 'a', '', '', 0), (4294967295, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        f"UPDATE `{db}`.f SET name = 'z' WHERE id IN (1, 3)",
        f"UPDATE `{db}`.f SET price = price + 1 WHERE id = 1",
        f"UPDATE `{db}`.f SET n = 7",
        f"DELETE FROM `{db}`.f WHERE id = 3",
        f"ALTER TABLE `{db}`.f ADD COLUMN extra INT",
    )
    inst = make_instance(conf)
    server = CanalServerWithEmbedded()
    server.register(inst)
    inst.start()
    try:
        ident = ClientIdentity(DEST, 1001)
        server.subscribe(ident)
        served: list[dict] = []

        def fetch() -> bool:
            msg = server.get_without_ack(ident, 100, timeout=0.5)
            if msg.batch_id != -1:
                served.extend(flat_messages(msg.entries, msg.batch_id))
                server.ack(ident, msg.batch_id)
            return bool(served) and served[-1]["type"] == "ALTER"

        wait_for(fetch, 20, message=lambda: f"{len(served)} messages: {[m['type'] for m in served]}")
    finally:
        inst.stop()
    dumped = list(
        iter_flat_messages(
            "127.0.0.1",
            mariadb.port,
            "canal",
            "canal",
            server_id=4711,
            start=(journal, position),
            stop_at_end=True,
            table_filter=f"{db}\\..*",
        )
    )

    def strip(msgs: list[dict]) -> list[dict]:
        return [{k: v for k, v in m.items() if k not in ("ts", "id")} for m in msgs]

    assert [m["type"] for m in served] == ["CREATE", "INSERT", "UPDATE", "UPDATE", "UPDATE", "DELETE", "ALTER"]
    assert strip(served) == strip(dumped)
    assert [list(m) for m in served] == [list(m) for m in dumped]  # same key order too
    assert served[2]["old"] == [{"name": "a"}, {"name": "c"}]
    assert served[3]["old"] == [{"price": "1.50"}]
    assert served[4]["old"] == [{"n": "255"}, {"n": "0"}, {"n": None}]  # rows in primary key order
    assert served[1]["sqlType"]["id"] == -5  # an INT UNSIGNED above 2^31 bumps the type (last row wins)


def test_ack_is_sent_while_another_thread_waits_for_a_full_batch(env):
    with env.connector() as c:
        c.subscribe()
        expected = env.insert(1)
        first = c.get_without_ack(3, 5, "s")
        assert ids(first) == expected
        got: list[Message] = []
        waiter = threading.Thread(target=lambda: got.append(c.get_without_ack(6, 0)))  # 0: wait for 6 entries
        waiter.start()

        def get_in_flight() -> bool:
            if c._io_lock.acquire(blocking=False):
                c._io_lock.release()
                return False
            return True

        wait_for(get_in_flight, 5)
        c.ack(first.batch_id)  # goes out beside the waiting Get instead of queueing behind it
        assert waiter.is_alive()
        more = env.insert(2)
        waiter.join(10)
        assert not waiter.is_alive() and ids(got[0]) == more and got[0].batch_id == 2
        c.ack(got[0].batch_id)
        assert c.get_without_ack(10).batch_id == -1  # both acks went through: no deferred error
