"""End-to-end readers for run.py: sandbox MariaDB -> pycanal server -> a client over loopback.

Both clients get and ack every batch and read every column value: pycanal's SimpleConnector in this
process, and the official canal-python 0.4 client in its own virtualenv (made once under
``~/.cache/pycanal-bench``; it needs the pure-Python protobuf implementation, as environment.md says).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from pycanal.protocol import entry as pb

_ROWS = (pb.INSERT, pb.UPDATE, pb.DELETE)

CANAL_PYTHON_SCRIPT = r"""
import sys, time
from canal.client import Client
from canal.protocol import EntryProtocol_pb2 as E
port, expected = int(sys.argv[1]), int(sys.argv[2])
client = Client()
client.connect(host="127.0.0.1", port=port)
client.check_valid(username=b"", password=b"")
client.subscribe(client_id=b"1001", destination=b"example", filter=b".*\\..*")
rows = 0
t0 = time.perf_counter()
while rows < expected:
    message = client.get_without_ack(1000)
    for entry in message["entries"]:
        if entry.entryType != E.EntryType.ROWDATA:
            continue
        rc = E.RowChange()
        rc.MergeFromString(entry.storeValue)
        if rc.eventType not in (E.EventType.INSERT, E.EventType.UPDATE, E.EventType.DELETE):
            continue
        for rd in rc.rowDatas:
            for c in rd.beforeColumns:
                c.value
            for c in rd.afterColumns:
                c.value
            rows += 1
    if message["id"] != -1:
        client.ack(message["id"])
print(rows, time.perf_counter() - t0)
client.disconnect()
"""


@contextlib.contextmanager
def pycanal_server(sandbox, start: tuple[str, int], slave_id: int) -> Iterator[int]:
    """`pycanal server` as its own process (as deployed: the client does not share its interpreter), tcp,
    no password, destination 'example' from ``start``; yields its port."""
    import socket

    from instance_helpers import write_conf
    from pycanal.sandbox import free_port

    with tempfile.TemporaryDirectory() as tmp:
        conf = write_conf(
            tmp,
            sandbox.port,
            canal__instance__master__journal__name=start[0],
            canal__instance__master__position=str(start[1]),
            canal__instance__mysql__slaveId=str(slave_id),
        )
        port = free_port()
        exe = os.path.join(os.path.dirname(sys.executable), "pycanal")
        proc = subprocess.Popen(
            [exe, "server", "-c", conf, "-D", f"canal.port={port}", "-D", "canal.ip=127.0.0.1"],
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the pycanal server did not start")
                time.sleep(0.05)
            yield port
        finally:
            proc.terminate()
            proc.wait(30)


def read_with_pycanal_client(port: int, expected: int) -> int:
    from pycanal.client.simple import SimpleConnector

    rows = 0
    with SimpleConnector("127.0.0.1", port, "example") as conn:
        conn.subscribe()
        while rows < expected:
            msg = conn.get_without_ack(1000, timeout=1000)
            if msg.batch_id == -1:
                continue
            for e in msg.entries:
                if e.entryType != pb.ROWDATA:
                    continue
                rc = pb.RowChange.FromString(e.storeValue)
                if rc.eventType not in _ROWS:
                    continue
                for rd in rc.rowDatas:
                    for c in rd.beforeColumns:
                        c.value  # noqa: B018 - touch every value
                    for c in rd.afterColumns:
                        c.value  # noqa: B018
                    rows += 1
            conn.ack(msg.batch_id)
    return rows


def canal_python() -> str:
    """The python of a virtualenv with canal-python 0.4 (created on first use)."""
    venv = Path.home() / ".cache" / "pycanal-bench" / "canal-python-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "canal-python==0.4", "protobuf"],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return str(python)


def read_with_canal_python(port: int, expected: int) -> tuple[int, float]:
    env = dict(os.environ, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python")
    res = subprocess.run(
        [canal_python(), "-c", CANAL_PYTHON_SCRIPT, str(port), str(expected)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if res.returncode != 0:
        raise RuntimeError(f"canal-python failed: {res.stderr[-2000:]}")
    rows, seconds = res.stdout.strip().splitlines()[-1].split()  # canal-python prints its own lines too
    return int(rows), float(seconds)


def timed(fn, *args) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    rows = fn(*args)
    return rows, time.perf_counter() - t0
