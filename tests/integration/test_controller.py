"""The server's instances from canal.properties, and auto-scan starting, stopping and restarting them."""

from __future__ import annotations

import os
import shutil

import pytest

from instance_helpers import drain, write_conf
from pycanal.model import ClientIdentity
from pycanal.server.controller import CanalController

pytestmark = pytest.mark.integration


def test_auto_scan_starts_stops_and_restarts_instances(mariadb, fresh_db, tmp_path):
    db = fresh_db
    mariadb.execute(f"CREATE TABLE `{db}`.a (id INT)")
    conf = write_conf(tmp_path, mariadb.port, canal__instance__filter__regex=f"{db}\\\\..*")
    with open(os.path.join(conf, "canal.properties"), "a") as f:
        f.write("canal.destinations =\ncanal.auto.scan = true\ncanal.auto.scan.interval = 3600\n")
    ctl = CanalController(conf, environ={})
    ctl.start()
    try:
        assert set(ctl.instances) == {"example"}  # every instance folder, canal.destinations being empty
        # a new folder: a new instance
        shutil.copytree(os.path.join(conf, "example"), os.path.join(conf, "second"))
        # (the scanner's own thread may get there first: what counts is the state after a pass)
        ctl.scanner.scan_once()
        assert set(ctl.instances) == {"example", "second"}
        ident = ClientIdentity("second", 1001)
        ctl.embedded.subscribe(ident)
        mariadb.execute(f"INSERT INTO `{db}`.a VALUES (1)")
        assert [r[3]["id"] for r in drain(ctl.embedded, ident, 1)] == ["1"]
        # a changed instance.properties: a restart with the new settings
        with open(os.path.join(conf, "second", "instance.properties"), "a") as f:
            f.write("canal.instance.filter.black.regex = .*\\\\.a\n")
        before = ctl.instances["second"]
        ctl.scanner.scan_once()
        assert ctl.instances["second"] is not before and ctl.instances["second"].is_running()
        # a removed folder: the instance stops and is no longer served
        shutil.rmtree(os.path.join(conf, "second"))
        ctl.scanner.scan_once()
        assert "second" not in ctl.instances and not ctl.embedded.is_start("second")
    finally:
        ctl.stop()
    assert not ctl.instances


def test_canal_shipped_conf_in_a_folder_not_named_conf_keeps_serving(mariadb, fresh_db, tmp_path):
    """canal's own canal.properties (canal.conf.dir = ../conf, auto scan on) in a folder named otherwise:
    the destination keeps running through several scans and its files stay in that folder."""
    import time
    from pathlib import Path

    db = fresh_db
    mariadb.execute(f"CREATE TABLE `{db}`.a (id INT)")
    conf = tmp_path / "canal-conf"
    shutil.copytree(Path(__file__).resolve().parents[1] / "data" / "canal_shipped", conf)
    overrides = {
        "canal.port": "0",
        "canal.auto.scan.interval": "1",
        "canal.instance.master.address": f"127.0.0.1:{mariadb.port}",
        "canal.instance.filter.regex": f"{db}\\..*",
        "canal.instance.filter.black.regex": "",
    }
    ctl = CanalController(str(conf), overrides=overrides, environ={})
    ctl.start()
    try:
        ident = ClientIdentity("example", 1001)
        ctl.embedded.subscribe(ident)
        deadline = time.monotonic() + 3.5  # three scan passes and more
        got = []
        n = 0
        while time.monotonic() < deadline:
            n += 1
            mariadb.execute(f"INSERT INTO `{db}`.a VALUES ({n})")
            got += [r[3]["id"] for r in drain(ctl.embedded, ident, 1)]
        assert ctl.scanner is not None and ctl.scanner.active == {"example"}
        assert ctl.instances["example"].is_running()
        assert got == [str(i) for i in range(1, n + 1)]
        assert (conf / "example" / "meta.dat").exists() or ctl.instances["example"].meta_manager.is_started()
        assert not (tmp_path / "conf").exists()  # nothing written beside the folder
    finally:
        ctl.stop()
    assert (conf / "example" / "meta.dat").exists()
