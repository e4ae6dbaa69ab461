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
