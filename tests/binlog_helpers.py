"""Read what a sandbox MariaDB wrote to its binlog, for the tests (file path and stream path)."""

from __future__ import annotations

import os
from typing import Any

from pycanal.binlog.decoder import BinlogDecoder, read_binlog_file
from pycanal.binlog.events import Event
from pycanal.mysql.meta import MetaConnection
from pycanal.sandbox import MariaDBSandbox
from pycanal.schema.live import LiveSchema


def events_from_files(sandbox: MariaDBSandbox, start: tuple[str, int], *, resolver: bool = True) -> list[Event]:
    """Close the current binlog (FLUSH BINARY LOGS) and decode every event from ``start`` on."""
    sandbox.execute("FLUSH BINARY LOGS")
    files = [str(r[0]) for r in sandbox.execute("SHOW BINARY LOGS")]
    files = files[files.index(start[0]) :]
    out: list[Event] = []
    with MetaConnection(sandbox.host, sandbox.port, sandbox.user, sandbox.password) as meta:
        schema = LiveSchema(meta) if resolver else None
        for name in files:
            decoder = BinlogDecoder(log_file=name, schema_resolver=schema)
            for ev in read_binlog_file(os.path.join(sandbox.datadir, name), decoder):
                if name == start[0] and ev.header.start_pos < start[1]:
                    continue
                out.append(ev)
    return out


def of_type(events: list[Event], cls: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, cls)]
