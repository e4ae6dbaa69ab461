"""Server HA failover benchmark: two `pycanal server` processes on one destination, a 3-node ZooKeeper
ensemble, a writer committing one row every 15 ms and a ClusterConnector consumer (client 1001).

For kill -9 and for a graceful release (active=false), each run measures the failover time (from the fault
to the first row delivered by the new running server) and the rows delivered twice. Running delay 1 s,
ZooKeeper session timeout 4 s (the machinery of tests/integration/test_ha_faults.py, tests/ha_helpers.py).

    .venv/bin/python benchmarks/ha_bench.py [--runs 5]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from kazoo.client import KazooClient

from ha_helpers import Cluster, Failover, kill_running, release_running
from pycanal.sandbox import MariaDBSandbox, ZooKeeperEnsemble


def one_run(mariadb: MariaDBSandbox, ensemble: ZooKeeperEnsemble, zk: KazooClient, fault: str, root: Path) -> Failover:
    db = f"b_{uuid.uuid4().hex[:10]}"
    mariadb.execute(f"CREATE DATABASE `{db}`")
    c = Cluster(mariadb, db, ensemble.hosts, root, zk)
    try:
        c.start()
        if fault == "kill -9":
            t0, new = kill_running(c)
            return c.finish(t0, new)
        t0, new, since = release_running(c)
        return c.finish(t0, new, since=since)
    finally:
        c.close()
        mariadb.execute(f"DROP DATABASE IF EXISTS `{db}`")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="failovers per fault (default 5)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    results: dict[str, list[Failover]] = {"kill -9": [], "release": []}
    with (
        MariaDBSandbox(row_image="FULL") as mariadb,
        ZooKeeperEnsemble(size=3) as ensemble,
        tempfile.TemporaryDirectory(prefix="ha-bench-") as tmp,
    ):
        zk = KazooClient(hosts=ensemble.hosts, timeout=10)
        zk.start(15)
        try:
            for n in range(args.runs):
                for fault, runs in results.items():
                    root = Path(tmp) / f"{fault.replace(' ', '')}-{n}"
                    root.mkdir()
                    r = one_run(mariadb, ensemble, zk, fault, root)
                    runs.append(r)
                    print(
                        f"run {n + 1} {fault}: failover {r.seconds:.2f}s, {r.repeats} repeated of {r.rows} rows",
                        flush=True,
                    )
        finally:
            zk.stop()
            zk.close()
    print()
    print("| fault | runs | failover median (s) | failover worst (s) | repeated rows median | repeated rows worst |")
    print("|---|---:|---:|---:|---:|---:|")
    for fault, runs in results.items():
        secs = [r.seconds for r in runs]
        reps = [r.repeats for r in runs]
        print(
            f"| {fault} | {len(runs)} | {statistics.median(secs):.2f} | {max(secs):.2f} | "
            f"{statistics.median(reps):g} | {max(reps)} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
