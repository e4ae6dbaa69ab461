"""The ``pycanal`` command line: argv, logging and signals; the only module that reads the environment."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, TextIO

import click

from . import __version__
from .dump import dump_parser, iter_flat_messages
from .errors import ConfigError, PycanalError

__all__ = ["iter_flat_messages", "main"]

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


def _json_writer(out: TextIO) -> tuple[Callable[[dict[str, Any]], None], list[int]]:
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    write = out.write
    count = [0]

    def emit(msg: dict[str, Any]) -> None:
        write(dumps(msg))
        write("\n")
        count[0] += 1

    return emit, count


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
@click.option("--start-timestamp", type=int, metavar="MS",
              help="Start at the first transaction at or after this time (epoch milliseconds).")
@click.option("--stop-at-end", is_flag=True, help="Stop at the current end of the binlog instead of following.")
@click.option("--filter", "table_filter", metavar="REGEX", help="canal table filter, e.g. 'db\\..*,db2.t1'.")
@click.option("--black-filter", metavar="REGEX", help="canal table black list.")
@click.option("--sandbox", is_flag=True,
              help="Start a throwaway MariaDB, write sample changes into it and dump them (no server needed).")
def dump(host: str, port: int, user: str, password: str, server_id: int | None, start: str | None,
         start_gtid: str | None, start_timestamp: int | None, stop_at_end: bool, table_filter: str | None,
         black_filter: str | None, sandbox: bool) -> None:
    """Print a binlog as canal FlatMessage JSON, one message per line."""
    if sum(bool(x) for x in (start, start_gtid, start_timestamp)) > 1:
        raise click.UsageError("--start, --start-gtid and --start-timestamp exclude each other")
    start_at = _parse_start(start)
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
        emit, count = _json_writer(sys.stdout)
        with dump_parser(host, port, user, password, emit, server_id=server_id or _default_server_id(),
                         start=start_at, start_gtid=start_gtid, start_timestamp=start_timestamp or 0,
                         stop_at_end=stop_at_end, table_filter=table_filter, black_filter=black_filter) as parser:
            signal.signal(signal.SIGTERM, lambda *_: parser.signal_stop())
            parser.run()
        sys.stdout.flush()
        n = count[0]
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
