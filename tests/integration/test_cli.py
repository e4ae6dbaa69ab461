"""The commands as a user runs them: quickstart, server + tail (subprocesses, real servers)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from helpers import wait_for
from instance_helpers import write_conf
from pycanal.sandbox import free_port

pytestmark = pytest.mark.integration

PYCANAL = os.path.join(os.path.dirname(sys.executable), "pycanal")


def test_quickstart_shows_the_sample_changes_and_cleans_up():
    res = subprocess.run(
        [PYCANAL, "quickstart", "--json", "--duration", "4"], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    msgs = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert [m["type"] for m in msgs] == ["QUERY", "CREATE", "INSERT", "UPDATE", "ALTER", "INSERT", "DELETE"]
    assert msgs[2]["data"][0]["name"] == "alice" and msgs[3]["old"] == [{"balance": "10.50"}]
    assert "stopped and cleaned up" in res.stderr


def test_server_and_tail(mariadb, fresh_db, tmp_path):
    db = fresh_db
    mariadb.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(10))")
    port = free_port()
    conf = write_conf(tmp_path, mariadb.port, canal__instance__filter__regex=f"{db}\\\\..*")
    server_log = open(tmp_path / "server.log", "w")  # noqa: SIM115  (a pipe nobody reads would fill up)
    server = subprocess.Popen([PYCANAL, "server", "-c", conf, "-D", f"canal.port={port}"], stderr=server_log)
    tail = None
    try:
        wait_for(lambda: _listening(port), 30, message="the server to listen")
        out = tmp_path / "tail.jsonl"
        with open(out, "w") as f:
            tail = subprocess.Popen(
                [PYCANAL, "tail", "--port", str(port), "--json"], stdout=f, stderr=subprocess.PIPE, text=True
            )
            mariadb.execute(f"INSERT INTO `{db}`.t VALUES (1, 'one')", f"UPDATE `{db}`.t SET v = 'uno' WHERE id = 1")

            def rows():
                lines = [json.loads(x) for x in out.read_text().splitlines() if x.strip()]
                return [m for m in lines if m["table"] == "t"]

            got = wait_for(lambda: len(rows()) >= 2 and rows(), 30)
        assert [m["type"] for m in got] == ["INSERT", "UPDATE"]
        assert got[1]["data"] == [{"id": "1", "v": "uno"}] and got[1]["old"] == [{"v": "one"}]
    finally:
        for proc in (tail, server):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        if tail is not None:
            tail.stderr.close()
        server_log.close()
    assert server.returncode == 0, (tmp_path / "server.log").read_text()


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_server_without_conf_is_a_clear_error(tmp_path):
    res = subprocess.run([PYCANAL, "server", "-c", str(tmp_path / "nope")], capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and "canal.properties not found" in res.stderr
