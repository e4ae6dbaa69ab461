"""The stream's resume position against real MariaDB event groups (pycanal.binlog.transactions).

A reconnect resumes from ``BinlogStream.position.boundary_*``. Before the boundary rule had one home, the
stream counted every QUERY but BEGIN as a transaction end: a STATEMENT-format INSERT inside a MariaDB
transaction (which has no BEGIN: its GTID event opens it) and an ``XA END`` moved the resume position into
the middle of a transaction. These tests read the groups MariaDB 10.11 really writes.
"""

from __future__ import annotations

import pytest

from pycanal.binlog.events import MariaGtidEvent, QueryEvent, XaPrepareEvent, XidEvent
from pycanal.mysql.stream import BinlogStream

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def _read(mariadb, start: tuple[str, int]) -> list[tuple[object, int]]:
    """(event, boundary position after it) for every event from ``start`` to the binlog end."""
    out = []
    with BinlogStream(
        mariadb.host, mariadb.port, mariadb.user, mariadb.password, 4242, log_file=start[0], log_pos=start[1],
        stop_at_end=True,
    ) as stream:  # fmt: skip
        for ev in stream:
            out.append((ev, stream.position.boundary_pos))
    return out


def test_statement_format_dml_inside_a_transaction_is_not_a_boundary(mariadb, fresh_db):
    mariadb.execute(f"CREATE TABLE `{fresh_db}`.t (id INT PRIMARY KEY) ENGINE=InnoDB")
    start = mariadb.master_status()
    conn = mariadb.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION binlog_format = 'STATEMENT'")
            cur.execute("BEGIN")
            cur.execute(f"INSERT INTO `{fresh_db}`.t VALUES (1)")
            cur.execute(f"INSERT INTO `{fresh_db}`.t VALUES (2)")
            cur.execute("COMMIT")
    finally:
        conn.close()
    seen = _read(mariadb, start)
    gtid_at = next(ev.header.start_pos for ev, _ in seen if isinstance(ev, MariaGtidEvent))
    inserts = [b for ev, b in seen if isinstance(ev, QueryEvent) and ev.query.startswith("INSERT")]
    assert len(inserts) == 2
    assert inserts == [gtid_at, gtid_at]  # still before the transaction's GTID event
    xid, after_xid = next((ev, b) for ev, b in seen if isinstance(ev, XidEvent))
    assert after_xid == xid.header.log_pos


def test_xa_end_is_not_a_boundary_xa_prepare_is(mariadb, fresh_db):
    mariadb.execute(f"CREATE TABLE `{fresh_db}`.t (id INT PRIMARY KEY) ENGINE=InnoDB")
    start = mariadb.master_status()
    conn = mariadb.connect()
    try:
        with conn.cursor() as cur:
            for sql in ("XA START 'x'", f"INSERT INTO `{fresh_db}`.t VALUES (3)", "XA END 'x'", "XA PREPARE 'x'"):
                cur.execute(sql)
            cur.execute("XA COMMIT 'x'")
    finally:
        conn.close()
    seen = _read(mariadb, start)
    gtid = next(ev for ev, _ in seen if isinstance(ev, MariaGtidEvent))
    assert gtid.flags2 & 64  # FL_PREPARED_XA: this GTID event opens the XA transaction
    xa_end = next(b for ev, b in seen if isinstance(ev, QueryEvent) and ev.query.startswith("XA END"))
    assert xa_end == gtid.header.start_pos
    prepare, after_prepare = next((ev, b) for ev, b in seen if isinstance(ev, XaPrepareEvent))
    assert after_prepare == prepare.header.log_pos
    commit, after_commit = next(
        (ev, b) for ev, b in seen if isinstance(ev, QueryEvent) and ev.query.startswith("XA COMMIT")
    )
    assert after_commit == commit.header.log_pos
