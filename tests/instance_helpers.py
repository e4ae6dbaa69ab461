"""Build canal-style conf trees and running instances against a sandbox MariaDB, for the tests."""

from __future__ import annotations

import os
from pathlib import Path

from pycanal.config import load_instance_config, load_server_config
from pycanal.instance import CanalInstance
from pycanal.model import ClientIdentity
from pycanal.protocol import entry as pb
from pycanal.server.embedded import CanalServerWithEmbedded


def write_conf(root: str | os.PathLike[str], port: int, destination: str = "example", **instance: object) -> str:
    """A conf dir with canal.properties and <destination>/instance.properties; returns the conf dir."""
    conf = Path(root) / "conf"
    (conf / destination).mkdir(parents=True, exist_ok=True)
    (conf / "canal.properties").write_text(
        "canal.port = 0\n"
        f"canal.destinations = {destination}\n"
        "canal.instance.global.spring.xml = classpath:spring/file-instance.xml\n"
        "canal.file.flush.period = 100\n"
        "canal.instance.tsdb.enable = false\n"
    )
    props = {
        "canal.instance.master.address": f"127.0.0.1:{port}",
        "canal.instance.dbUsername": "canal",
        "canal.instance.dbPassword": "canal",
        "canal.instance.filter.regex": ".*\\\\..*",
        **{k.replace("__", "."): v for k, v in instance.items()},
    }
    (conf / destination / "instance.properties").write_text("".join(f"{k} = {v}\n" for k, v in props.items()))
    return str(conf)


def make_instance(conf_dir: str, destination: str = "example", **overrides: str) -> CanalInstance:
    server = load_server_config(conf_dir, overrides=overrides or None, environ={})
    cfg = load_instance_config(conf_dir, destination, server)
    return CanalInstance(cfg)


def rows_of(entries: list[bytes]) -> list[tuple[str, str, str, dict[str, str | None]]]:
    """(type, schema, table, after-or-before image by column name) for every row in raw entries."""
    out = []
    for raw in entries:
        e = pb.Entry.FromString(raw)
        if e.entryType != pb.ROWDATA:
            continue
        rc = pb.RowChange.FromString(e.storeValue)
        if rc.isDdl or rc.eventType not in (pb.INSERT, pb.UPDATE, pb.DELETE):
            continue
        for rd in rc.rowDatas:
            cols = rd.afterColumns if rc.eventType != pb.DELETE else rd.beforeColumns
            image = {c.name: (None if c.isNull else c.value) for c in cols}
            out.append((pb.EventType.Name(rc.eventType), e.header.schemaName, e.header.tableName, image))
    return out


def drain(
    server: CanalServerWithEmbedded, ident: ClientIdentity, until: int, batch: int = 100, timeout: float = 20.0
) -> list[tuple[str, str, str, dict[str, str | None]]]:
    """get + ack until ``until`` rows have arrived (bounded by ``timeout`` seconds in all)."""
    import time

    rows: list[tuple[str, str, str, dict[str, str | None]]] = []
    deadline = time.monotonic() + timeout
    while len(rows) < until:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"only {len(rows)} of {until} rows arrived within {timeout}s")
        msg = server.get_without_ack(ident, batch, timeout=min(left, 1.0))
        if msg.batch_id == -1:
            continue
        rows.extend(rows_of(msg.entries))
        server.ack(ident, msg.batch_id)
    return rows
