"""Standby master failover: the primary dies mid-stream, the instance goes on from the standby.

The standby is a real MariaDB replica of the primary (log_slave_updates, so its binlog holds the same
transactions with their original times). The test counts missing rows (must be zero) and reports how many
arrived twice because the standby is relocated by time minus the fallback interval (canal-spec.md 6.5).
"""

from __future__ import annotations

import pytest

from helpers import wait_for
from instance_helpers import make_instance, rows_of, write_conf
from pycanal.model import ClientIdentity
from pycanal.server.embedded import CanalServerWithEmbedded

pytestmark = pytest.mark.integration


def test_primary_dies_instance_continues_on_standby(mariadb_factory, tmp_path):
    primary = mariadb_factory(server_id=1)
    standby = mariadb_factory(server_id=2, extra={"log_slave_updates": "ON"})
    standby.execute(
        f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={primary.port}, MASTER_USER='canal', "
        "MASTER_PASSWORD='canal', MASTER_USE_GTID=slave_pos",
        "START SLAVE",
    )
    primary.execute("CREATE DATABASE f", "CREATE TABLE f.t (id INT PRIMARY KEY)")
    wait_for(lambda: standby.execute("SHOW TABLES FROM f"), 15, message="the standby to replicate the table")
    start = primary.master_status()
    conf = write_conf(
        tmp_path,
        primary.port,
        canal__instance__filter__regex="f\\\\..*",
        canal__instance__master__journal__name=start[0],
        canal__instance__master__position=str(start[1]),
        canal__instance__standby__address=f"127.0.0.1:{standby.port}",
        canal__instance__detecting__enable="true",
        canal__instance__detecting__sql="select 1",
        canal__instance__detecting__interval__time="1",
        canal__instance__detecting__retry__threshold="1",
        canal__instance__detecting__heartbeatHaEnable="true",
        canal__instance__fallbackIntervalInSeconds="2",
    )
    inst = make_instance(conf)
    server = CanalServerWithEmbedded()
    server.register(inst)
    inst.start()
    ident = ClientIdentity("example", 1001)
    got: list[str] = []

    def pull(until: int, timeout: float) -> None:
        def enough() -> bool:
            msg = server.get_without_ack(ident, 50, timeout=0.3)
            if msg.batch_id != -1:
                got.extend(r[3]["id"] for r in rows_of(msg.entries) if r[0] == "INSERT")
                server.ack(ident, msg.batch_id)
            assert inst.error is None, inst.error
            return len(set(got)) >= until

        wait_for(enough, timeout, message=lambda: f"{len(set(got))} of {until} rows")

    try:
        server.subscribe(ident)
        primary.execute(*(f"INSERT INTO f.t VALUES ({i})" for i in range(50)))
        pull(50, 20)
        wait_for(lambda: standby.execute("SELECT COUNT(*) FROM f.t")[0][0] == 50, 15)
        primary.kill()  # the primary dies
        # the application fails over too: new rows go to the standby
        standby.execute(*(f"INSERT INTO f.t VALUES ({i})" for i in range(50, 80)))
        pull(80, 60)
        assert inst.parser is not None and inst.parser.switches == 1
        replayed = inst.parser.replayed_rows
    finally:
        inst.stop()
    ids = [int(x) for x in got]
    missing = sorted(set(range(80)) - set(ids))
    assert not missing, f"missing rows after the switch: {missing}"
    first_seen = list(dict.fromkeys(ids))
    assert first_seen == sorted(first_seen)
    repeats = len(ids) - len(set(ids))
    # the instance's own count bounds the repeats (binlog times have second resolution)
    assert replayed >= repeats
    print(f"\nstandby switch: 80 rows, {repeats} delivered twice (fallback window), instance reported {replayed}")
