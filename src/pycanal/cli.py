"""The ``pycanal`` command line: argv, logging and signals; the only module that reads the environment."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import click

from . import __version__
from .errors import ConfigError, PycanalError

log = logging.getLogger("pycanal")


def _parse_start(value: str | None) -> tuple[str | None, int]:
    if not value:
        return None, 4
    name, sep, pos = value.rpartition(":")
    if not sep or not name:
        raise click.BadParameter(f"expected FILE:POS, got {value!r}", param_hint="--start")
    try:
        position = int(pos)
    except ValueError:
        raise click.BadParameter(f"position {pos!r} is not a number", param_hint="--start") from None
    if position < 4:
        raise click.BadParameter("binlog positions start at 4", param_hint="--start")
    return name, position


def _default_server_id() -> int:
    """A replica server id unlikely to clash: canal derives one from the host; we add the pid."""
    return 0x7F000000 | (os.getpid() & 0xFFFFFF)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pycanal")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug) on stderr.")
def main(verbose: int) -> None:
    """pycanal: MySQL/MariaDB binlog subscription and consumption, compatible with Alibaba canal."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def iter_flat_messages(
    host: str,
    port: int,
    user: str,
    password: str,
    *,
    server_id: int,
    start: tuple[str | None, int] = (None, 4),
    start_gtid: str | None = None,
    stop_at_end: bool = False,
    table_filter: str | None = None,
    black_filter: str | None = None,
) -> Iterator[dict[str, Any]]:
    """canal FlatMessages for a live binlog, as ``pycanal dump`` prints them."""
    import pymysql

    from .binlog.events import QueryEvent
    from .filter import TableFilter
    from .gtid import GtidTracker
    from .mysql.stream import BinlogStream
    from .parse.ddl import classify
    from .parse.flat import FlatMessageConverter, is_transaction_marker
    from .schema.live import LiveSchema

    try:
        meta_conn = pymysql.connect(host=host, port=port, user=user, password=password, autocommit=True,
                                    charset="utf8mb4", connect_timeout=10)
    except pymysql.err.OperationalError as exc:
        raise PycanalError(f"cannot connect to {host}:{port} as {user}: {exc.args[-1]}") from exc
    with contextlib.closing(meta_conn):
        schema = LiveSchema.from_pymysql(meta_conn)
        stream = BinlogStream(
            host, port, user, password, server_id, log_file=start[0], log_pos=start[1], gtid_set=start_gtid,
            stop_at_end=stop_at_end, schema_resolver=schema,
        )
        filt = TableFilter(table_filter, black_filter) if (table_filter or black_filter) else None
        converter = FlatMessageConverter(filt, gtid=GtidTracker(start_gtid) if start_gtid is not None else None)
        with stream:
            for ev in stream:
                if isinstance(ev, QueryEvent) and not is_transaction_marker(ev.query):
                    # a DDL changes the live schema: re-read it for later table maps
                    res = classify(ev.query, ev.schema)
                    if res.is_ddl:
                        schema.invalidate(res.schema or None, res.table or None)
                        stream.decoder.invalidate_tables()
                yield from converter.convert(ev)


def _emit(messages: Iterator[dict[str, Any]], out: TextIO) -> int:
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    n = 0
    write = out.write
    for msg in messages:
        write(dumps(msg))
        write("\n")
        n += 1
    out.flush()
    return n


def _sample_changes(sandbox: Any) -> None:
    sandbox.execute(
        "CREATE DATABASE IF NOT EXISTS example",
        "CREATE TABLE IF NOT EXISTS example.user (id INT UNSIGNED PRIMARY KEY AUTO_INCREMENT, "
        "name VARCHAR(255) NOT NULL, balance DECIMAL(12,2), updated DATETIME(3))",
        "INSERT INTO example.user (name, balance, updated) VALUES ('alice', 10.50, '2026-11-22 10:00:00.123'), "
        "('bob', 0, NOW(3))",
        "UPDATE example.user SET balance = balance + 5 WHERE name = 'alice'",
        "ALTER TABLE example.user ADD COLUMN email VARCHAR(100) NULL",
        "INSERT INTO example.user (name, email) VALUES ('carol', 'carol@example.com')",
        "DELETE FROM example.user WHERE name = 'bob'",
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3306, show_default=True, type=int)
@click.option("--user", "-u", default="canal", show_default=True)
@click.option("--password", "-p", default="canal", show_default=True, envvar="PYCANAL_PASSWORD")
@click.option("--server-id", type=int, default=None, help="Replica server id (default: derived from the pid).")
@click.option("--start", "start", metavar="FILE:POS", help="Start at this binlog file and position.")
@click.option("--start-gtid", metavar="SET", help="Start after this GTID set (MariaDB d-s-n or MySQL uuid:n-m).")
@click.option("--stop-at-end", is_flag=True, help="Stop at the current end of the binlog instead of following.")
@click.option("--filter", "table_filter", metavar="REGEX", help="canal table filter, e.g. 'db\\..*,db2.t1'.")
@click.option("--black-filter", metavar="REGEX", help="canal table black list.")
@click.option("--sandbox", is_flag=True,
              help="Start a throwaway MariaDB, write sample changes into it and dump them (no server needed).")
def dump(host: str, port: int, user: str, password: str, server_id: int | None, start: str | None,
         start_gtid: str | None, stop_at_end: bool, table_filter: str | None, black_filter: str | None,
         sandbox: bool) -> None:
    """Print a binlog as canal FlatMessage JSON, one message per line."""
    if start and start_gtid:
        raise click.UsageError("--start and --start-gtid exclude each other")
    start_at = _parse_start(start)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    box = None
    try:
        if sandbox:
            from .sandbox import MariaDBSandbox

            box = MariaDBSandbox().start()
            click.echo(f"# sandbox MariaDB on 127.0.0.1:{box.port}; writing sample changes", err=True)
            host, port, user, password = box.host, box.port, box.user, box.password
            start_at = box.master_status()
            _sample_changes(box)
            stop_at_end = True
        n = _emit(
            iter_flat_messages(
                host, port, user, password, server_id=server_id or _default_server_id(), start=start_at,
                start_gtid=start_gtid, stop_at_end=stop_at_end, table_filter=table_filter,
                black_filter=black_filter,
            ),
            sys.stdout,
        )
        if sandbox:
            click.echo(f"# {n} messages", err=True)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    except (PycanalError, ConfigError) as exc:
        click.echo(f"pycanal: error: {exc}", err=True)
        sys.exit(1)
    finally:
        if box is not None:
            box.cleanup()


if __name__ == "__main__":
    main()
