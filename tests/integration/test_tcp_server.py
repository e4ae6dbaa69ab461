"""canal's TCP server against a real MariaDB, spoken to by a raw-socket client written from canal-spec.md 1.

Each bad input gets its own test: the error frame it must produce, and then proof that another client is
still served and that no row was lost.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from helpers import wait_for
from instance_helpers import rows_of, write_conf
from pycanal.protocol import packet as pb
from pycanal.protocol.frames import FrameDecoder, frame, password_hash, scramble
from pycanal.server.controller import CanalController
from pycanal.server.tcp import CanalTcpServer

pytestmark = pytest.mark.integration

USER, PASSWORD = "canal", "s3cret"
IO_TIMEOUT = 10.0


class ServerError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class RawClient:
    """canal's client protocol by hand: frames of Packet protobufs over a plain socket."""

    def __init__(self, port: int, *, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(IO_TIMEOUT)
        self.sock.connect(("127.0.0.1", port))
        self.decoder = FrameDecoder(1 << 30)
        self.seed = b""

    # -- wire
    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, ptype: int, body: bytes | object = b"") -> None:
        raw = body if isinstance(body, bytes) else body.SerializeToString()  # type: ignore[attr-defined]
        self.send_raw(frame(pb.Packet(type=ptype, body=raw).SerializeToString()))

    def read(self) -> pb.Packet:
        while (body := self.decoder.next_frame()) is None:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("server closed the connection")
            self.decoder.feed(data)
        return pb.Packet.FromString(body)

    def read_ack(self) -> tuple[int, str]:
        p = self.read()
        assert p.type == pb.ACK and p.version == 1, p
        ack = pb.Ack.FromString(p.body)
        return ack.error_code, ack.error_message

    def expect_error(self, code: int, *fragments: str) -> str:
        got, message = self.read_ack()
        assert got == code, message
        for f in fragments:
            assert f in message, message
        return message

    def wait_closed(self, timeout: float = 5.0) -> None:
        """The server closed this connection (EOF, or a reset) within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                if not self.sock.recv(65536):
                    return
            except (ConnectionResetError, BrokenPipeError):
                return
            except TimeoutError:
                break
        raise AssertionError("the server did not close the connection")

    def close(self) -> None:
        self.sock.close()

    # -- canal session
    def handshake(self) -> bytes:
        p = self.read()
        assert (p.type, p.version) == (pb.HANDSHAKE, 1)
        self.seed = pb.Handshake.FromString(p.body).seeds
        assert len(self.seed) == 8
        return self.seed

    def auth(self, user: str = USER, password: str | None = PASSWORD, **fields: object) -> tuple[int, str]:
        token = scramble(password, self.seed) if password is not None else ""
        self.send(pb.CLIENTAUTHENTICATION, pb.ClientAuth(username=user, password=token.encode(), **fields))
        return self.read_ack()

    def login(self, **fields: object) -> RawClient:
        self.handshake()
        assert self.auth(**fields) == (0, "")
        return self

    def sub(self, dest: str, cid: str = "1001", filter: str = "") -> tuple[int, str]:
        self.send(pb.SUBSCRIPTION, pb.Sub(destination=dest, client_id=cid, filter=filter))
        return self.read_ack()

    def send_get(self, dest: str, cid: str = "1001", size: int = 100, timeout: int | None = -1, unit: int = 2) -> None:
        get = pb.Get(destination=dest, client_id=cid, fetch_size=size, auto_ack=False, unit=unit)
        if timeout is not None:
            get.timeout = timeout
        self.send(pb.GET, get)

    def read_messages(self) -> tuple[int, list[bytes], pb.Packet]:
        p = self.read()
        if p.type == pb.ACK:
            ack = pb.Ack.FromString(p.body)
            raise ServerError(ack.error_code, ack.error_message)
        assert p.type == pb.MESSAGES, p
        m = pb.Messages.FromString(p.body)
        return m.batch_id, list(m.messages), p

    def get(
        self, dest: str, cid: str = "1001", size: int = 100, timeout: int | None = -1, unit: int = 2
    ) -> tuple[int, list[bytes]]:
        self.send_get(dest, cid, size, timeout, unit)
        batch_id, entries, _ = self.read_messages()
        return batch_id, entries

    def ack(self, dest: str, batch_id: int, cid: str = "1001") -> None:
        self.send(pb.CLIENTACK, pb.ClientAck(destination=dest, client_id=cid, batch_id=batch_id))

    def rollback(self, dest: str, batch_id: int = 0, cid: str = "1001") -> None:
        self.send(pb.CLIENTROLLBACK, pb.ClientRollback(destination=dest, client_id=cid, batch_id=batch_id))

    def drain(self, dest: str, n: int, cid: str = "1001", timeout: float = 15.0) -> list[str]:
        """get + ack until ``n`` rows arrived; their ids."""
        ids: list[str] = []
        deadline = time.monotonic() + timeout
        while len(ids) < n:
            assert time.monotonic() < deadline, f"only {len(ids)} of {n} rows on {dest}"
            batch_id, entries = self.get(dest, cid, 100, 200)
            if batch_id == -1:
                continue
            ids += [r[3]["id"] for r in rows_of(entries)]
            self.ack(dest, batch_id, cid)
        return ids


def ids_of(entries: list[bytes]) -> list[str]:
    return [r[3]["id"] for r in rows_of(entries)]


# ------------------------------------------------------------------------------------------------ fixtures


class Env:
    def __init__(self, ctl: CanalController, server: CanalTcpServer, mariadb, db: str) -> None:
        self.ctl, self.server, self.mariadb, self.db = ctl, server, mariadb, db
        self.port = server.port
        self._next = {"a": 0, "b": 0}
        self._clients: list[RawClient] = []

    def insert(self, table: str, n: int, payload: int = 10) -> list[str]:
        start = self._next[table]
        self._next[table] += n
        self.mariadb.execute(
            *(f"INSERT INTO `{self.db}`.{table} VALUES ({i}, REPEAT('x', {payload}))" for i in range(start, start + n))
        )
        return [str(i) for i in range(start, start + n)]

    def client(self, port: int | None = None, **kw: object) -> RawClient:
        c = RawClient(port or self.port, **kw)  # type: ignore[arg-type]
        self._clients.append(c)
        return c

    def assert_served(self, dest: str = "beta", cid: str = "2002", port: int | None = None, **auth: object) -> None:
        """Another client logs in, subscribes and gets exactly the rows written now."""
        c = self.client(port).login(**auth)
        assert c.sub(dest, cid) == (0, "")
        expected = self.insert("b" if dest == "beta" else "a", 3)
        assert c.drain(dest, 3, cid)[-3:] == expected
        c.close()

    def close(self) -> None:
        for c in self._clients:
            c.close()


@pytest.fixture
def env(mariadb, fresh_db, tmp_path) -> Iterator[Env]:
    """Destinations alpha (table a) and beta (table b) behind a TCP server with canal.user/canal.passwd."""
    db = fresh_db
    mariadb.execute(
        f"CREATE TABLE `{db}`.a (id INT PRIMARY KEY, v TEXT)", f"CREATE TABLE `{db}`.b (id INT PRIMARY KEY, v TEXT)"
    )
    write_conf(tmp_path, mariadb.port, "alpha", canal__instance__filter__regex=f"{db}\\\\.a")
    conf = write_conf(tmp_path, mariadb.port, "beta", canal__instance__filter__regex=f"{db}\\\\.b")
    ctl = CanalController(conf, overrides={"canal.destinations": "alpha,beta", "canal.auto.scan": "false"}, environ={})
    ctl.start()
    server = CanalTcpServer(ctl.embedded, "127.0.0.1", 0, user=USER, passwd=password_hash(PASSWORD))
    server.start()
    e = Env(ctl, server, mariadb, db)
    try:
        yield e
    finally:
        e.close()
        server.stop()
        ctl.stop()


# ------------------------------------------------------------------------------------------------ the happy path


def test_full_session_sequence(env):
    c = env.client()
    c.handshake()
    assert c.auth() == (0, "")
    assert c.sub("alpha", "1001", f"{env.db}\\.a") == (0, "")
    # nothing yet: MESSAGES{batch -1} built with version 1
    batch_id, entries, packet = (c.send_get("alpha"), *c.read_messages())[1:]
    assert (batch_id, entries, packet.version) == (-1, [], 1)
    expected = env.insert("a", 3)
    wait_for(lambda: env.ctl.instances["alpha"].store.put_sequence >= 8, 10)  # 3 x BEGIN/ROW/END
    c.send_get("alpha", size=100, timeout=-1)
    first, entries, packet = c.read_messages()
    assert first == 1 and ids_of(entries) == expected
    assert not packet.HasField("version")  # raw mode: hand-written, no version field
    c.rollback("alpha", 0)  # no reply
    second, entries = c.get("alpha", size=100, timeout=-1)
    assert second == 2 and ids_of(entries) == expected  # the same rows again, a new batch id
    c.ack("alpha", second)  # no reply on success: the next frame read is the Get's answer
    assert c.get("alpha")[0] == -1
    # a timed Get with nothing new returns -1 after its timeout (here 1 s: unit 3 = seconds)
    t0 = time.monotonic()
    assert c.get("alpha", size=100, timeout=1, unit=3)[0] == -1
    assert 0.9 <= time.monotonic() - t0 < 5
    # a Get with no timeout field waits for a full batch (1 KiB in MEMSIZE mode)
    c.send_get("alpha", size=1, timeout=None)
    more = env.insert("a", 1, payload=3000)
    batch_id, entries, _ = c.read_messages()
    assert batch_id == 3 and ids_of(entries) == more
    c.send(pb.UNSUBSCRIPTION, pb.Unsub(destination="alpha", client_id="1001"))
    assert c.read_ack() == (0, "")
    with pytest.raises(ServerError, match="should subscribe first"):
        c.get("alpha")


def test_auth_with_auto_subscribe_and_idle_timeout(env):
    c = env.client()
    c.handshake()
    assert c.auth(destination="beta", client_id="1001", net_read_timeout=500, net_write_timeout=500) == (0, "")
    expected = env.insert("b", 2)
    assert c.drain("beta", 2) == expected  # subscribed by the auth packet
    c.wait_closed(5.0)  # 500 ms without traffic: closed
    env.assert_served("alpha")


def test_auto_subscribe_to_unknown_destination_closes(env):
    c = env.client()
    c.handshake()
    code, message = c.auth(destination="nosuch", client_id="1001")
    assert code == 400 and "destination:nosuch should start first" in message
    c.wait_closed()


def test_concurrent_clients_on_two_destinations(env):
    n = 40
    results: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def consume(dest: str) -> None:
        try:
            c = env.client().login()
            assert c.sub(dest) == (0, "")
            results[dest] = c.drain(dest, n, timeout=30)
        except BaseException as exc:
            errors.append(exc)

    def noise(i: int) -> None:
        try:
            c = env.client().login()
            for _ in range(15):
                with pytest.raises(ServerError, match="should subscribe first"):
                    c.get("alpha" if i % 2 else "beta", cid=str(3000 + i))
                c.send(pb.HEARTBEAT)
                c.expect_error(400, "packet type: HEARTBEAT is NOT supported!")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=consume, args=(d,)) for d in ("alpha", "beta")]
    threads += [threading.Thread(target=noise, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    wait_for(lambda: env.server.connections >= 2, 10)
    expected_a, expected_b = [], []
    for _ in range(4):
        expected_a += env.insert("a", n // 4)
        expected_b += env.insert("b", n // 4)
    for t in threads:
        t.join(40)
    assert not errors, errors
    assert results == {"alpha": expected_a, "beta": expected_b}


# ------------------------------------------------------------------------------------------------ bad input


def test_garbage_bytes(env):
    c = env.client()
    c.handshake()
    c.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    c.expect_error(400, f"frame length {int.from_bytes(b'GET ', 'big')} exceeds the maximum")
    c.wait_closed()
    env.assert_served()


def test_two_gigabyte_length_header(env):
    c = env.client()
    c.login()
    c.send_raw(b"\x7f\xff\xff\xff" + b"\x00" * 100)
    c.expect_error(400, "frame length 2147483647 exceeds the maximum of 16777216 bytes")
    c.wait_closed()
    env.assert_served()


def test_frame_cut_short(env):
    c = env.client()
    c.login()
    c.send_raw(b"\x00\x00\x00\x64" + b"\x10" * 10)  # 100 bytes announced, 10 sent, then end of stream
    c.sock.shutdown(socket.SHUT_WR)
    c.expect_error(400, "in the middle of a frame: 10 of 100 body bytes")
    c.wait_closed()
    env.assert_served()


def test_valid_frame_with_broken_protobuf(env):
    c = env.client().login()
    c.send_raw(frame(b"\xff\xff\xff"))
    c.expect_error(400, "cannot parse Packet")
    c.wait_closed()
    env.assert_served()


def test_get_before_auth_is_read_as_auth(env):
    c = env.client()
    c.handshake()
    c.send_get("alpha", "1001")  # parsed as ClientAuth: username "alpha", a bogus password
    c.expect_error(400, "auth failed for user:alpha")
    assert c.auth() == (0, "")  # the connection stayed open
    assert c.sub("alpha") == (0, "")
    expected = env.insert("a", 2)
    assert c.drain("alpha", 2) == expected


def test_wrong_password_then_right_one(env):
    c = env.client()
    c.handshake()
    assert c.auth(password="wrong") == (400, f"auth failed for user:{USER}")
    assert c.auth(password=None) == (400, f"auth failed for user:{USER}")  # empty password
    assert c.auth() == (0, "")
    env.assert_served()


def test_unknown_user(env):
    c = env.client()
    c.handshake()
    assert c.auth(user="bob") == (400, "auth failed for user:bob")
    env.assert_served()


def test_ack_before_subscribe(env):
    c = env.client().login()
    c.ack("alpha", 5)  # fails, and the error is only read with the next reply: the Sub's
    code, message = c.sub("alpha")
    assert code == 400
    ident = "ClientIdentity[destination=alpha,clientId=1001,filter=<null>]"
    assert f"CanalServerException: ClientIdentity:{ident} should subscribe first" in message
    assert c.read_ack() == (0, "")  # the Sub's own answer comes one read late, as with canal
    expected = env.insert("a", 2)
    assert c.drain("alpha", 2) == expected


def test_unknown_destination(env):
    c = env.client().login()
    code, message = c.sub("nosuch")
    assert code == 400 and message.startswith("something goes wrong with channel: [id: 0x")
    assert "CanalServerException: destination:nosuch should start first" in message
    env.assert_served()


@pytest.mark.parametrize(
    ("cid", "fragment"),
    [
        ("abc", 'java.lang.NumberFormatException: For input string: "abc"'),
        ("70000", 'NumberFormatException: Value out of range. Value:"70000" Radix:10'),
    ],
)
def test_client_id_not_a_short(env, cid, fragment):
    c = env.client().login()
    code, message = c.sub("alpha", cid)
    assert code == 400 and fragment in message
    assert c.sub("alpha", "") == (401, 'destination or clientId is null. Sub: destination: "alpha"\n')
    assert c.sub("alpha") == (0, "")  # still served on the same connection
    expected = env.insert("a", 1)
    assert c.drain("alpha", 1) == expected


def test_ack_of_unknown_batch_and_ack_zero(env):
    c = env.client().login()
    assert c.sub("alpha") == (0, "")
    c.ack("alpha", 99)  # no reply now ...
    c.ack("alpha", 0)
    c.ack("alpha", -1)  # the "no data" id: ignored, no reply at all
    c.send_get("alpha")
    # ... the errors come in order before the Get's answer
    c.expect_error(400, "ack error , clientId:1001 batchId:99 is not exist , please check")
    assert c.read_ack() == (402, 'batchId should assign value. Ack: destination: "alpha"\nclient_id: "1001"\n')
    assert c.read_messages()[0] == -1
    expected = env.insert("a", 2)
    assert c.drain("alpha", 2) == expected


def test_ack_out_of_order(env):
    c = env.client().login()
    assert c.sub("alpha") == (0, "")
    expected = env.insert("a", 6, payload=600)
    wait_for(lambda: env.ctl.instances["alpha"].store.put_sequence >= 17, 10)
    first, e1 = c.get("alpha", size=1)  # 1 KiB per batch: the rows spread over several batches
    second, e2 = c.get("alpha", size=1)
    assert (first, second) == (1, 2) and e1 and e2
    c.ack("alpha", second)
    c.send_get("alpha", size=0)
    c.expect_error(400, "batchId:2 is not the firstly:1")
    third, e3 = c.read_messages()[:2]
    for b in (first, second, third):
        c.ack("alpha", b)
    got = ids_of(e1) + ids_of(e2) + ids_of(e3)
    assert got + c.drain("alpha", len(expected) - len(got)) == expected


def test_rollback_of_unknown_batch(env):
    c = env.client().login()
    assert c.sub("alpha") == (0, "")
    c.rollback("alpha", 77)
    c.send_get("alpha")
    c.expect_error(400, "rollback error, clientId:1001 batchId:77 is not exist , please check")
    assert c.read_messages()[0] == -1
    expected = env.insert("a", 2)
    assert c.drain("alpha", 2) == expected


def test_unsupported_packet_types(env):
    c = env.client().login()
    types = [(pb.SHUTDOWN, "SHUTDOWN"), (pb.DUMP, "DUMP"), (pb.HANDSHAKE, "HANDSHAKE"), (99, "UNRECOGNIZED")]
    for ptype, name in types:
        c.send_raw(frame(pb.Packet(type=ptype).SerializeToString()))
        assert c.read_ack() == (400, f"packet type: {name} is NOT supported!")
    for ptype, kind in [
        (pb.GET, "Get"),
        (pb.CLIENTACK, "Ack"),
        (pb.CLIENTROLLBACK, "Rollback"),
        (pb.UNSUBSCRIPTION, "Unsub"),
    ]:
        c.send(ptype, b"")
        assert c.read_ack() == (401, f"destination or clientId is null. {kind}: ")
    env.assert_served("alpha")


def test_client_disconnecting_mid_batch_loses_nothing(env):
    c = env.client().login()
    assert c.sub("alpha") == (0, "")
    expected = env.insert("a", 5)
    wait_for(lambda: env.ctl.instances["alpha"].store.put_sequence >= 14, 10)
    batch_id, entries = c.get("alpha")
    assert batch_id == 1 and ids_of(entries) == expected
    c.close()  # gone without acking
    wait_for(lambda: env.server.connections == 0, 5)
    again = env.client().login()
    assert again.sub("alpha") == (0, "")  # same identity, no rollback of its own
    assert again.drain("alpha", 5) == expected


def test_blocking_get_ends_when_the_client_goes(env):
    c = env.client().login()
    assert c.sub("alpha") == (0, "")
    c.send_get("alpha", size=10_000, timeout=None)  # waits for ~10 MB: forever here
    wait_for(lambda: env.server.connections == 1, 5)
    other = env.client().login()  # the waiting Get holds nothing: the same destination is served
    assert other.sub("alpha", "1002") == (0, "")
    assert other.get("alpha", "1002")[0] == -1
    other.close()
    c.close()
    wait_for(lambda: env.server.connections == 0, 5)  # the waiting thread noticed and ended
    env.assert_served("alpha", "1003")


def test_client_that_never_reads_is_closed(env):
    send_timeout = 3.0
    slow_server = CanalTcpServer(env.ctl.embedded, "127.0.0.1", 0, send_timeout=send_timeout)
    slow_server.start()
    try:
        c = env.client(slow_server.port, rcvbuf=4096).login(password=None)
        assert c.sub("alpha") == (0, "")
        expected = env.insert("a", 60, payload=4000)  # ~250 KB per full get
        wait_for(lambda: env.ctl.instances["alpha"].store.put_sequence >= 179, 15)
        t0 = time.monotonic()  # the stalled send starts after this, so it cannot time out before t0 + 3 s
        for _ in range(40):  # ~10 MB of replies that nobody reads; a rollback re-arms the next get
            c.send_get("alpha", size=10_000)
            c.rollback("alpha")
        env.assert_served("beta", port=slow_server.port, password=None)  # the same server serves others ...
        assert time.monotonic() - t0 < send_timeout  # ... while the stalled client's connection is still open
        wait_for(lambda: slow_server.connections == 0, 10)  # then the send timed out: connection closed
        assert time.monotonic() - t0 >= send_timeout
        again = env.client(slow_server.port).login(password=None)
        assert again.sub("alpha") == (0, "")
        assert again.drain("alpha", 60) == expected  # the unread batch was rolled back
    finally:
        slow_server.stop()


def test_run_server_serves_and_stops_on_sigterm(mariadb, fresh_db, tmp_path):
    mariadb.execute(f"CREATE TABLE `{fresh_db}`.a (id INT PRIMARY KEY, v TEXT)")
    conf = write_conf(tmp_path, mariadb.port, "example", canal__instance__filter__regex=f"{fresh_db}\\\\.a")
    script = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from pycanal.server.main import run_server\n"
        "sys.exit(run_server(sys.argv[1], {'canal.ip': '127.0.0.1'},"
        " ready=lambda s: print('PORT', s.port, flush=True)))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, conf],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("PORT "), proc.stderr.read() if proc.poll() is not None else line
        port = int(line.split()[1])
        assert port > 0  # canal.port = 0 in write_conf: any free port
        c = RawClient(port)
        try:
            c.handshake()
            assert c.auth(user="", password=None) == (0, "")
            assert c.sub("example") == (0, "")
        finally:
            c.close()
        proc.terminate()
        assert proc.wait(15) == 0
        err = proc.stderr.read()
        assert "listening on 127.0.0.1:" in err and "destinations: example" in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
