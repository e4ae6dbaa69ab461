"""The instance with its schema history (canal's TSDB): replaying across an ALTER, and a drifted history."""

from __future__ import annotations

import os

import pytest

from instance_helpers import drain, make_instance, write_conf
from pycanal.model import ClientIdentity, EntryPosition
from pycanal.server.embedded import CanalServerWithEmbedded

pytestmark = pytest.mark.integration


def _run(conf: str, rows: int) -> tuple[list, object]:
    inst = make_instance(conf)
    server = CanalServerWithEmbedded()
    server.register(inst)
    inst.start()
    try:
        ident = ClientIdentity("example", 1001)
        server.subscribe(ident)
        return drain(server, ident, rows), inst
    finally:
        inst.stop()


def _poison_history(inst, db: str, at: tuple[str, int]) -> None:
    """A wrong DDL slipped into the history just before ``at``: it says column ``a`` of ``t`` is gone."""
    from pycanal.schema.store import HistoryRow, SqliteStore

    store = SqliteStore.for_instance(inst.config.data_dir, "example")
    store.add_history(
        "example",
        HistoryRow(
            EntryPosition(at[0], at[1] - 1, 1, 0),
            f"ALTER TABLE `{db}`.t DROP COLUMN a",
            use_schema=db,
            sql_schema=db,
            sql_table="t",
            sql_type="ALTER",
        ),
    )
    store.close()


def test_replay_across_alter_decodes_each_side_with_its_own_schema(mariadb, fresh_db, tmp_path):
    db = fresh_db
    p0 = mariadb.master_status()
    conf = write_conf(
        tmp_path,
        mariadb.port,
        canal__instance__tsdb__enable="true",
        canal__instance__filter__regex=f"{db}\\\\..*",
        canal__instance__master__journal__name=p0[0],
        canal__instance__master__position=str(p0[1]),
    )
    mariadb.execute(
        f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, a VARCHAR(10))",
        f"INSERT INTO `{db}`.t VALUES (1, 'before')",
        f"ALTER TABLE `{db}`.t ADD COLUMN b INT AFTER id, MODIFY a VARCHAR(20)",
        f"INSERT INTO `{db}`.t VALUES (2, 7, 'after')",
    )
    first, _ = _run(conf, 2)
    assert [r[3] for r in first] == [{"id": "1", "a": "before"}, {"id": "2", "b": "7", "a": "after"}]
    # replay from before the CREATE: forget the cursor, the history rolls back to the start position
    os.remove(os.path.join(conf, "example", "meta.dat"))
    again, _ = _run(conf, 2)
    assert again == first


def test_drifted_history_stops_with_both_shapes(mariadb, fresh_db, tmp_path):
    db = fresh_db
    p0 = mariadb.master_status()
    conf = write_conf(
        tmp_path,
        mariadb.port,
        canal__instance__tsdb__enable="true",
        canal__instance__filter__regex=f"{db}\\\\..*",
        canal__instance__master__journal__name=p0[0],
        canal__instance__master__position=str(p0[1]),
    )
    mariadb.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, a VARCHAR(10))")
    create_end = mariadb.master_status()
    mariadb.execute(f"INSERT INTO `{db}`.t VALUES (1, 'x')")
    first, inst = _run(conf, 1)
    assert first[0][3] == {"id": "1", "a": "x"}
    _poison_history(inst, db, create_end)  # the history now says column a is gone
    # restart between the bad row and the INSERT: the rollback takes the bad row in
    os.remove(os.path.join(conf, "example", "meta.dat"))
    conf = write_conf(
        tmp_path,
        mariadb.port,
        canal__instance__tsdb__enable="true",
        canal__instance__filter__regex=f"{db}\\\\..*",
        canal__instance__master__journal__name=create_end[0],
        canal__instance__master__position=str(create_end[1]),
    )
    inst2 = make_instance(conf)
    inst2.start()
    try:
        from helpers import wait_for

        err = wait_for(lambda: inst2.error, 20)
    finally:
        inst2.stop()
    text = str(err)
    assert f"{db}.t" in text and "id" in text and "a" in text, text
    from pycanal.errors import SchemaMismatchError

    assert isinstance(err.__cause__, SchemaMismatchError), repr(err.__cause__)


def test_filter_table_error_skips_the_rows_of_a_table_in_error(mariadb, fresh_db, tmp_path):
    db = fresh_db
    p0 = mariadb.master_status()
    mariadb.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, a VARCHAR(10))", f"CREATE TABLE `{db}`.ok (id INT)")
    create_end = mariadb.master_status()
    mariadb.execute(f"INSERT INTO `{db}`.t VALUES (1, 'x')", f"INSERT INTO `{db}`.ok VALUES (5)")
    conf = write_conf(
        tmp_path,
        mariadb.port,
        canal__instance__tsdb__enable="true",
        canal__instance__filter__regex=f"{db}\\\\..*",
        canal__instance__master__journal__name=p0[0],
        canal__instance__master__position=str(p0[1]),
    )
    _, inst = _run(conf, 2)
    _poison_history(inst, db, create_end)  # the history now says column a is gone
    os.remove(os.path.join(conf, "example", "meta.dat"))
    conf = write_conf(
        tmp_path,
        mariadb.port,
        canal__instance__tsdb__enable="true",
        canal__instance__filter__regex=f"{db}\\\\..*",
        canal__instance__filter__table__error="true",
        canal__instance__master__journal__name=create_end[0],
        canal__instance__master__position=str(create_end[1]),
    )
    rows, inst2 = _run(conf, 1)
    assert rows == [("INSERT", db, "ok", {"id": "5"})]  # t's row was skipped, as the user asked
    assert inst2.error is None


def test_history_in_a_mysql_database(mariadb, fresh_db, tmp_path):
    """canal.instance.tsdb.url = jdbc:mysql://...: the history tables live in that database."""
    db = fresh_db
    mariadb.execute(f"CREATE DATABASE `{db}_tsdb`")
    try:
        p0 = mariadb.master_status()
        conf = write_conf(
            tmp_path,
            mariadb.port,
            canal__instance__tsdb__enable="true",
            canal__instance__tsdb__url=f"jdbc:mysql://127.0.0.1:{mariadb.port}/{db}_tsdb?useUnicode=true",
            canal__instance__tsdb__dbUsername="admin",
            canal__instance__tsdb__dbPassword="admin",
            canal__instance__filter__regex=f"{db}\\\\..*",
            canal__instance__master__journal__name=p0[0],
            canal__instance__master__position=str(p0[1]),
        )
        mariadb.execute(f"CREATE TABLE `{db}`.t (id INT)", f"INSERT INTO `{db}`.t VALUES (3)")
        rows, _ = _run(conf, 1)
        assert rows[0][3] == {"id": "3"}
        kept = mariadb.execute(f"SELECT sql_text FROM `{db}_tsdb`.meta_history WHERE destination = 'example'")
        assert any("CREATE TABLE" in r[0] for r in kept)
    finally:
        mariadb.execute(f"DROP DATABASE IF EXISTS `{db}_tsdb`")
