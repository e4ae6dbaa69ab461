"""The embedded-API reader used by run.py, and the peak-RSS measurement of one huge transaction.

    .venv/bin/python benchmarks/embedded_bench.py rss [--rows 1000000]

starts a throwaway MariaDB, commits ONE transaction of that many row inserts, then streams it through a
CanalInstance with the default buffer (16384 slots, MEMSIZE) while a consumer gets and acks every batch,
and prints the process's peak RSS before and after: the store bounds memory, not the transaction.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from pycanal.model import ClientIdentity
from pycanal.protocol import entry as pb
from pycanal.server.embedded import CanalServerWithEmbedded

_ROWS = (pb.INSERT, pb.UPDATE, pb.DELETE)


def drain_embedded(sandbox, start: tuple[str, int], expected: int, slave_id: int, batch: int = 1000) -> int:
    """Run an instance from ``start`` and get+ack until ``expected`` rows were read; return the row count."""
    from instance_helpers import make_instance, write_conf

    with tempfile.TemporaryDirectory() as tmp:
        conf = write_conf(
            tmp,
            sandbox.port,
            canal__instance__master__journal__name=start[0],
            canal__instance__master__position=str(start[1]),
            canal__instance__mysql__slaveId=str(slave_id),
        )
        inst = make_instance(conf)
        server = CanalServerWithEmbedded()
        server.register(inst)
        inst.start()
        ident = ClientIdentity("example", 1001)
        server.subscribe(ident)
        rows = 0
        try:
            while rows < expected:
                if inst.error is not None:
                    raise inst.error
                msg = server.get_without_ack(ident, batch, timeout=1.0)
                if msg.batch_id == -1:
                    continue
                for raw in msg.entries:
                    e = pb.Entry.FromString(raw)
                    if e.entryType != pb.ROWDATA:
                        continue
                    rc = pb.RowChange.FromString(e.storeValue)
                    if rc.eventType not in _ROWS:
                        continue
                    for rd in rc.rowDatas:
                        for c in rd.beforeColumns:
                            c.value  # noqa: B018 - touch every value, as a consumer does
                        for c in rd.afterColumns:
                            c.value  # noqa: B018
                        rows += 1
                server.ack(ident, msg.batch_id)
        finally:
            inst.stop()
        return rows


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss(rows: int) -> None:
    from pycanal.sandbox import MariaDBSandbox

    with MariaDBSandbox(extra={"max_binlog_cache_size": "4G", "binlog_cache_size": "16M"}) as box:
        box.execute(
            "CREATE DATABASE big",
            "CREATE TABLE big.t (id INT PRIMARY KEY, a BIGINT, b VARCHAR(40), c DATETIME(3), d DECIMAL(12,2))",
        )
        start = box.master_status()
        t0 = time.perf_counter()
        with box.connect() as conn, conn.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute(
                f"INSERT INTO big.t SELECT seq, seq * 7, CONCAT('value ', seq), NOW(3), seq / 100 "
                f"FROM big.seq_1_to_{rows}"
            )
            cur.execute("COMMIT")
        wrote = time.perf_counter() - t0
        end = box.master_status()
        base = _rss_mb()
        t0 = time.perf_counter()
        got = drain_embedded(box, start, rows, 4242)
        took = time.perf_counter() - t0
        peak = _rss_mb()
    print(
        f"one transaction of {rows:,} rows ({(end[1] - start[1]) / 1e6:.0f} MB of binlog, written in "
        f"{wrote:.1f}s) streamed through the embedded API in {took:.1f}s ({got / took:,.0f} rows/s)"
    )
    print(f"peak RSS: {base:.0f} MB before, {peak:.0f} MB after (default buffer: 16384 slots, MEMSIZE)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["rss"])
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    rss(args.rows)
