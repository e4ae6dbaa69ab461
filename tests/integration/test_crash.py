"""Crashes: kill -9 of the process running instance and consumer, at random points, while a writer commits.

After every restart each committed row must arrive at least once, in commit order, none missing; the
test reports how many arrived twice (at-least-once delivery, canal's design).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from helpers import wait_for
from instance_helpers import write_conf

pytestmark = pytest.mark.integration

RUNNER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "crash_runner.py")


def _received(out: str) -> list[int]:
    ids: list[int] = []
    with open(out) as f:
        for line in f:
            if line.startswith("ERROR"):
                raise AssertionError(line)
            if line.startswith("START") or not line.strip():
                continue
            ids.extend(int(x) for x in line.split())
    return ids


def _check(ids: list[int], total: int) -> int:
    """Every id 0..total-1 present, first occurrences in order; returns the number of repeats."""
    seen: set[int] = set()
    order = []
    for i in ids:
        if i not in seen:
            seen.add(i)
            order.append(i)
    missing = sorted(set(range(total)) - seen)
    assert not missing, f"missing rows: {missing[:20]} ({len(missing)} in all)"
    assert order == sorted(order), "rows arrived out of commit order"
    return len(ids) - len(seen)


@pytest.mark.parametrize(
    ("flush_ms", "ack_delay"),
    [(100, 0.05), (60000, 0.0)],
    ids=["kill-between-get-and-ack", "kill-between-ack-and-flush"],
)
def test_kill_minus_9_loses_nothing(mariadb, fresh_db, tmp_path, flush_ms, ack_delay):
    db = fresh_db
    mariadb.execute(f"CREATE TABLE `{db}`.c (id INT PRIMARY KEY)")
    # an explicit start (as canal users configure one): with no cursor yet, a run killed before its
    # first flush would otherwise start again at the current end
    journal, position = mariadb.master_status()
    conf = write_conf(
        tmp_path,
        mariadb.port,
        canal__instance__filter__regex=f"{db}\\\\.c",
        canal__instance__master__journal__name=journal,
        canal__instance__master__position=str(position),
    )
    # a long flush period leaves acked cursors only in memory when the kill comes
    with open(os.path.join(conf, "canal.properties"), "a") as f:
        f.write(f"canal.file.flush.period = {flush_ms}\n")
    out = str(tmp_path / "received.txt")
    total = 400
    written = [0]

    def writer() -> None:
        with mariadb.connect() as conn, conn.cursor() as cur:
            for i in range(total):
                cur.execute(f"INSERT INTO `{db}`.c VALUES ({i})")
                written[0] = i + 1
                time.sleep(0.004)

    rng = random.Random(flush_ms)
    w = threading.Thread(target=writer)
    w.start()
    kills = 0
    try:
        while True:
            proc = subprocess.Popen(
                [sys.executable, RUNNER, conf, out, "--ack-delay", str(ack_delay)], stderr=subprocess.DEVNULL
            )
            try:
                if w.is_alive() or kills < 3:
                    time.sleep(rng.uniform(0.4, 1.2))
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(10)
                    kills += 1
                    continue
                # writer done and enough kills: let the last run catch up
                wait_for(lambda: total - 1 in _received(out), 30, message="the last row to arrive")
                break
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
    finally:
        w.join()
    repeats = _check(_received(out), total)
    print(f"\n{kills} kills, {total} rows, {repeats} delivered twice")
    assert kills >= 3
