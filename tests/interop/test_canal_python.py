"""The official canal-python 0.4 client (PyPI, unmodified, in its own virtualenv) against pycanal's server.

canal-python cannot scramble a password, so the server runs without canal.user/canal.passwd. Its generated
protobuf modules only load with the pure-Python protobuf implementation, hence the environment variable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from helpers import wait_for
from instance_helpers import write_conf
from pycanal.server.controller import CanalController
from pycanal.server.tcp import CanalTcpServer

pytestmark = pytest.mark.integration

# Runs inside the canal-python virtualenv: argv = port, destination, filter. Prints one JSON line.
CLIENT_SCRIPT = r"""
import json, sys, time
from canal.client import Client
from canal.protocol import EntryProtocol_pb2 as E

port, dest, flt = int(sys.argv[1]), sys.argv[2], sys.argv[3]

def rows(message):
    out = []
    for entry in message["entries"]:
        h = entry.header
        if entry.entryType != E.EntryType.ROWDATA:
            out.append([E.EntryType.Name(entry.entryType), h.logfileName, h.logfileOffset])
            continue
        rc = E.RowChange()
        rc.MergeFromString(entry.storeValue)
        for rd in rc.rowDatas:
            out.append([E.EventType.Name(rc.eventType), h.schemaName, h.tableName,
                        {c.name: c.value for c in rd.afterColumns}, [c.isKey for c in rd.afterColumns]])
    return out

def session():
    client = Client()
    client.connect(host="127.0.0.1", port=port)
    client.check_valid(username=b"", password=b"")
    client.subscribe(client_id=b"1001", destination=dest.encode(), filter=flt.encode())
    return client

result = {}
client = session()
first = client.get_without_ack(100)
result["first"] = {"id": first["id"], "rows": rows(first)}
client.rollback(0)
again = client.get_without_ack(100)
result["again"] = {"id": again["id"], "rows": rows(again)}
client.ack(again["id"])
result["after_ack"] = client.get_without_ack(100)["id"]
client.disconnect()
client = session()  # a new connection of the same identity: the cursor was moved by the ack
result["reconnect"] = client.get_without_ack(100)["id"]
client.disconnect()
print("RESULT " + json.dumps(result), flush=True)
"""


@pytest.fixture(scope="session")
def canal_python(tmp_path_factory) -> str:
    """The python of a fresh virtualenv with canal-python 0.4 and the newest protobuf from PyPI."""
    venv = tmp_path_factory.mktemp("canal-python") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
    python = str(venv / "bin" / "python")
    res = subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "-q",
            "canal-python==0.4",
            "protobuf",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if res.returncode != 0:
        pytest.fail(
            f"pip could not install canal-python==0.4 (and protobuf) from PyPI into {venv}; the interop "
            f"test needs it.\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
        )
    return python


@pytest.fixture
def open_server(mariadb, fresh_db, tmp_path) -> Iterator[tuple[CanalController, CanalTcpServer]]:
    mariadb.execute(f"CREATE TABLE `{fresh_db}`.t (id INT PRIMARY KEY, name VARCHAR(20))")
    conf = write_conf(tmp_path, mariadb.port, "example", canal__instance__filter__regex=f"{fresh_db}\\\\..*")
    ctl = CanalController(conf, overrides={"canal.auto.scan": "false"}, environ={})
    ctl.start()
    server = CanalTcpServer(ctl.embedded, "127.0.0.1", 0)  # no user/passwd: canal-python sends none
    server.start()
    try:
        yield ctl, server
    finally:
        server.stop()
        ctl.stop()


def test_canal_python_client_against_pycanal(canal_python, open_server, mariadb, fresh_db, tmp_path):
    ctl, server = open_server
    mariadb.execute(*(f"INSERT INTO `{fresh_db}`.t VALUES ({i}, 'n{i}')" for i in range(3)))
    wait_for(lambda: ctl.instances["example"].store.put_sequence >= 8, 10)  # 3 x BEGIN/ROW/END stored
    script = tmp_path / "canal_python_client.py"
    script.write_text(CLIENT_SCRIPT)
    env = {**os.environ, "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"}
    env.pop("PYTHONPATH", None)  # nothing of pycanal inside the client's process
    res = subprocess.run(
        [canal_python, str(script), str(server.port), "example", f"{fresh_db}\\..*"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
    assert res.returncode == 0 and lines, res.stdout + res.stderr
    out = json.loads(lines[-1][len("RESULT ") :])
    expected = [["INSERT", fresh_db, "t", {"id": str(i), "name": f"n{i}"}, [True, False]] for i in range(3)]
    first = out["first"]
    assert first["id"] == 1
    assert [r for r in first["rows"] if r[0] == "INSERT"] == expected
    kinds = [r[0] for r in first["rows"]]
    assert kinds == ["TRANSACTIONBEGIN", "INSERT", "TRANSACTIONEND"] * 3
    # rollback(0), then the same entries again under a new batch id
    assert out["again"] == {"id": 2, "rows": first["rows"]}
    assert out["after_ack"] == 0  # canal-python turns batch -1 into id 0
    assert out["reconnect"] == 0  # the ack moved the cursor: nothing comes again
    assert "connected to 127.0.0.1" in res.stdout and "Subscribe succed" in res.stdout


# Runs inside the canal-python virtualenv: connects the instant the port accepts (polling every 2 ms, as a
# client started before the server does), subscribes, says so, then reads until it has a row of table t.
EAGER_CLIENT_SCRIPT = r"""
import json, sys, time
from canal.client import Client
from canal.protocol import EntryProtocol_pb2 as E

port, dest, flt = int(sys.argv[1]), sys.argv[2], sys.argv[3]
deadline = time.monotonic() + 60
while True:
    client = Client()
    try:
        client.connect(host="127.0.0.1", port=port)
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.002)
client.check_valid(username=b"", password=b"")
client.subscribe(client_id=b"1001", destination=dest.encode(), filter=flt.encode())
print("SUBSCRIBED", flush=True)
got = []
while not got and time.monotonic() < deadline:
    msg = client.get_without_ack(100)
    for entry in msg["entries"]:
        if entry.entryType == E.EntryType.ROWDATA and entry.header.tableName == "t":
            rc = E.RowChange()
            rc.MergeFromString(entry.storeValue)
            got += [{c.name: c.value for c in rd.afterColumns} for rd in rc.rowDatas]
    client.ack(msg["id"])
client.disconnect()
print("RESULT " + json.dumps(got), flush=True)
"""


def test_canal_python_connecting_the_instant_the_port_opens(canal_python, mariadb, fresh_db, tmp_path):
    """canal's order: the port opens only once the destinations are started, so a client that connects
    the moment it accepts is served ("should start first" never reaches it). Several server starts."""
    import queue
    import signal
    import threading

    from pycanal.sandbox import free_port

    mariadb.execute(f"CREATE TABLE `{fresh_db}`.t (id INT PRIMARY KEY, name VARCHAR(20))")
    conf = write_conf(tmp_path, mariadb.port, "example", canal__instance__filter__regex=f"{fresh_db}\\\\..*")
    script = tmp_path / "eager_client.py"
    script.write_text(EAGER_CLIENT_SCRIPT)
    env = {**os.environ, "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"}
    env.pop("PYTHONPATH", None)
    pycanal = os.path.join(os.path.dirname(sys.executable), "pycanal")
    for attempt in range(4):
        port = free_port()
        client = subprocess.Popen(
            [canal_python, str(script), str(port), "example", f"{fresh_db}\\..*"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=_pump, args=(client.stdout, lines), daemon=True)
        reader.start()
        with open(tmp_path / f"server{attempt}.log", "w") as log:
            server = subprocess.Popen(
                [pycanal, "server", "-c", conf, "-D", f"canal.port={port}", "-D", "canal.ip=127.0.0.1"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                seen: list[str] = []
                while not any(x.startswith(("SUBSCRIBED", "Traceback")) for x in seen):
                    try:
                        seen.append(lines.get(timeout=60))
                    except queue.Empty:
                        pytest.fail(f"start {attempt}: the client did not subscribe within 60 s: {seen}")
                assert any(x.startswith("SUBSCRIBED") for x in seen), "".join(seen) + "".join(list(lines.queue))
                mariadb.execute(f"INSERT INTO `{fresh_db}`.t VALUES ({attempt}, 'n{attempt}')")
                client.wait(60)
                reader.join(10)
                out = seen + list(lines.queue)
                result = [x for x in out if x.startswith("RESULT ")]
                assert client.returncode == 0 and result, "".join(out)
                assert json.loads(result[-1][len("RESULT ") :]) == [{"id": str(attempt), "name": f"n{attempt}"}]
            finally:
                if client.poll() is None:
                    client.kill()
                    client.wait(5)
                client.stdout.close()  # type: ignore[union-attr]
                server.send_signal(signal.SIGTERM)
                assert server.wait(30) == 0


def _pump(stream: Any, into: Any) -> None:
    for line in stream:
        into.put(line)
