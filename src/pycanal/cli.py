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
@click.option(
    "--start-timestamp",
    type=int,
    metavar="MS",
    help="Start at the first transaction at or after this time (epoch milliseconds).",
)
@click.option("--stop-at-end", is_flag=True, help="Stop at the current end of the binlog instead of following.")
@click.option("--filter", "table_filter", metavar="REGEX", help="canal table filter, e.g. 'db\\..*,db2.t1'.")
@click.option("--black-filter", metavar="REGEX", help="canal table black list.")
@click.option(
    "--ssl-mode",
    type=click.Choice(["DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"], case_sensitive=False),
    default="DISABLED",
    show_default=True,
    help="TLS to the server, as canal's sslMode (docs/tls.md).",
)
@click.option("--ssl-ca", metavar="PEM", help="Trusted CA certificates for VERIFY_CA / VERIFY_IDENTITY.")
@click.option("--ssl-cert", metavar="PEM", help="Client certificate (the key may be in the same file).")
@click.option("--ssl-key", metavar="PEM", help="Private key of the client certificate.")
@click.option(
    "--sandbox",
    is_flag=True,
    help="Start a throwaway MariaDB, write sample changes into it and dump them (no server needed).",
)
def dump(
    host: str,
    port: int,
    user: str,
    password: str,
    server_id: int | None,
    start: str | None,
    start_gtid: str | None,
    start_timestamp: int | None,
    stop_at_end: bool,
    table_filter: str | None,
    black_filter: str | None,
    ssl_mode: str,
    ssl_ca: str | None,
    ssl_cert: str | None,
    ssl_key: str | None,
    sandbox: bool,
) -> None:
    """Print a binlog as canal FlatMessage JSON, one message per line."""
    if sum(bool(x) for x in (start, start_gtid, start_timestamp)) > 1:
        raise click.UsageError("--start, --start-gtid and --start-timestamp exclude each other")
    start_at = _parse_start(start)
    box = None
    try:
        tls = _tls_settings(ssl_mode, ssl_ca, ssl_cert, ssl_key)
        if sandbox:
            from .sandbox import MariaDBSandbox

            box = MariaDBSandbox().start()
            click.echo(f"# sandbox MariaDB on 127.0.0.1:{box.port}; writing sample changes", err=True)
            host, port, user, password = box.host, box.port, box.user, box.password
            start_at = box.master_status()
            stop_at_end = True
        emit, count = _json_writer(sys.stdout)
        with dump_parser(
            host,
            port,
            user,
            password,
            emit,
            server_id=server_id or _default_server_id(),
            start=start_at,
            start_gtid=start_gtid,
            start_timestamp=start_timestamp or 0,
            stop_at_end=stop_at_end,
            table_filter=table_filter,
            black_filter=black_filter,
            tls=tls,
        ) as parser:
            if box is not None:
                _sample_changes(box)  # after the dump's schema history was seeded: it is exact at start_at
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


def _tls_settings(mode: str, ca: str | None, cert: str | None, key: str | None) -> Any:
    """``--ssl-*`` as TLS settings (None for DISABLED); a bad file is a ConfigError naming it."""
    from .mysql.tls import TlsSettings, load_client_pem, load_trust_store

    mode = mode.upper()
    if mode == "DISABLED":
        if ca or cert or key:
            raise click.UsageError("--ssl-ca, --ssl-cert and --ssl-key need an --ssl-mode other than DISABLED")
        return None
    if key and not cert:
        raise click.UsageError("--ssl-key needs --ssl-cert")
    ca_pem = load_trust_store(ca) if ca else None
    cert_pem, key_pem = load_client_pem(cert, key) if cert else (None, None)
    return TlsSettings(mode, ca_pem, cert_pem, key_pem, ca_source=ca or "")


def _overrides(items: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected key=value, got {item!r}", param_hint="-D")
        out[key.strip()] = value.strip()
    return out


@main.command()
@click.option(
    "-c",
    "--conf",
    "conf_dir",
    default="conf",
    show_default=True,
    type=click.Path(file_okay=False),
    help="canal's conf dir: canal.properties and one folder per destination.",
)
@click.option(
    "-D",
    "defines",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a canal.properties / instance.properties key (like java -Dkey=value).",
)
def server(conf_dir: str, defines: tuple[str, ...]) -> None:
    """Run a canal server on canal-style config (TCP port canal.port, default 11111)."""
    from .server.main import run_server

    root = logging.getLogger()
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)  # a server logs its lifecycle (started, stopped, running node) at INFO

    if not os.path.isfile(os.path.join(conf_dir, "canal.properties")):
        click.echo(f"pycanal: error: {conf_dir}/canal.properties not found (give the conf dir with -c)", err=True)
        sys.exit(2)
    try:
        sys.exit(run_server(conf_dir, _overrides(defines), environ=os.environ))
    except (PycanalError, OSError) as exc:
        click.echo(f"pycanal: error: {exc}", err=True)
        sys.exit(1)


def _follow(
    connector: Any, *, as_json: bool, batch_size: int, out: TextIO, stop: Callable[[], bool] = lambda: False
) -> None:
    """Print every change from a connector, as canal's example client does (or FlatMessage JSON lines)."""
    from .client.printer import format_entry
    from .protocol.flat import flat_messages

    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    while not stop():
        msg = connector.get_without_ack(batch_size, timeout=500)
        if msg.batch_id == -1:
            continue
        if as_json:
            for fm in flat_messages(msg, msg.batch_id):
                out.write(dumps(fm) + "\n")
        else:
            for entry in msg.entries:
                text = format_entry(entry)
                if text:
                    out.write(text + "\n")
        out.flush()
        connector.ack(msg.batch_id)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=11111, show_default=True, type=int)
@click.option("-d", "--destination", default="example", show_default=True)
@click.option("--user", "-u", default="", help="canal.user of the server (empty: none).")
@click.option("--password", "-p", default="", envvar="PYCANAL_CANAL_PASSWORD")
@click.option("--client-id", default=1001, show_default=True, type=int)
@click.option(
    "--filter",
    "table_filter",
    default=None,
    help="Subscribe with this table filter (replaces the instance's, as in canal).",
)
@click.option("--batch-size", default=1000, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print canal FlatMessage JSON lines instead.")
@click.option(
    "--rabbitmq",
    metavar="URI",
    default=None,
    help="Read a RabbitMQ queue that canal's MQ mode fills instead (host[:port] or amqp://user:pass@host:port/vhost).",
)
@click.option("--queue", default=None, help="With --rabbitmq: the queue to read (default: the destination name).")
def tail(
    host: str,
    port: int,
    destination: str,
    user: str,
    password: str,
    client_id: int,
    table_filter: str | None,
    batch_size: int,
    as_json: bool,
    rabbitmq: str | None,
    queue: str | None,
) -> None:
    """Subscribe to a destination and print its changes until Ctrl-C (get and ack every batch); with
    --rabbitmq, consume a queue instead, acking each message once printed."""
    from .client.simple import SimpleConnector

    if rabbitmq:
        _tail_rabbitmq(rabbitmq, queue or destination, as_json)
        return
    try:
        with SimpleConnector(
            host, port, destination, username=user, password=password, client_id=client_id, filter=table_filter
        ) as conn:
            _subscribe_when_running(conn, table_filter)
            _follow(conn, as_json=as_json, batch_size=batch_size, out=sys.stdout)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    except PycanalError as exc:
        click.echo(f"pycanal: error: {exc}", err=True)
        sys.exit(1)


def _tail_rabbitmq(address: str, queue: str, as_json: bool) -> None:
    """Print what canal's MQ mode put in ``queue`` (FlatMessage JSON or protobuf packets), acking each
    message once printed; JSON bodies are printed as they came (canal's bytes)."""
    from .client.printer import format_entry, format_flat
    from .client.rabbitmq import RabbitMQConsumer

    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    out = sys.stdout
    try:
        with RabbitMQConsumer(address, queue) as consumer:
            for delivery in consumer:
                if as_json and delivery.kind == "flat":
                    out.write(delivery.body.decode("utf-8") + "\n")
                elif as_json:
                    out.writelines(dumps(fm) + "\n" for fm in delivery.flat_messages())
                elif delivery.kind == "flat":
                    out.writelines(format_flat(fm) + "\n" for fm in delivery.flat_messages())
                else:
                    out.writelines(t + "\n" for t in map(format_entry, delivery.entries()) if t)
                out.flush()
                consumer.ack(delivery)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    except PycanalError as exc:
        click.echo(f"pycanal: error: {exc}", err=True)
        sys.exit(1)


def _subscribe_when_running(conn: Any, table_filter: str | None) -> None:
    """Subscribe, waiting while the server has not started the destination (starting up, or a standby)."""
    import time

    from .errors import InstanceNotStarted

    told = False
    while True:
        try:
            conn.subscribe(table_filter)
            return
        except InstanceNotStarted as exc:
            if not told:
                click.echo(f"# waiting: {exc}", err=True)
                told = True
            time.sleep(0.5)


def _quickstart_conf(root: str, db_port: int, canal_port: int) -> str:
    conf = os.path.join(root, "conf")
    os.makedirs(os.path.join(conf, "example"))
    with open(os.path.join(conf, "canal.properties"), "w") as f:
        f.write(
            f"canal.ip = 127.0.0.1\ncanal.port = {canal_port}\ncanal.destinations = example\n"
            "canal.instance.global.spring.xml = classpath:spring/file-instance.xml\n"
        )
    with open(os.path.join(conf, "example", "instance.properties"), "w") as f:
        f.write(
            f"canal.instance.master.address = 127.0.0.1:{db_port}\n"
            "canal.instance.dbUsername = canal\ncanal.instance.dbPassword = canal\n"
            "canal.instance.filter.regex = example\\\\..*\n"
        )
    return conf


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print FlatMessage JSON lines instead of canal's layout.")
@click.option(
    "--duration",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Stop after this many seconds instead of waiting for Ctrl-C.",
)
def quickstart(as_json: bool, duration: float | None) -> None:
    """Everything in one go: a sandbox MariaDB, a pycanal server with destination 'example', sample changes
    written into it and shown as they arrive, then following until Ctrl-C. Cleans up all it started."""
    import shutil
    import tempfile
    import threading
    import time

    from .client.simple import SimpleConnector
    from .sandbox import MariaDBSandbox, free_port
    from .server.main import run_server

    root = tempfile.mkdtemp(prefix="pycanal-quickstart-")
    stop = threading.Event()
    box = MariaDBSandbox()
    server_thread = None
    try:
        click.echo("# starting a sandbox MariaDB ...", err=True)
        box.start()
        box.execute("CREATE DATABASE IF NOT EXISTS example")
        conf = _quickstart_conf(root, box.port, free_port())
        ready = threading.Event()
        listening: list[Any] = []

        def serve() -> None:
            try:

                def on_ready(srv: Any) -> None:
                    listening.append(srv)
                    ready.set()

                run_server(conf, ready=on_ready, stop=stop)
            finally:
                ready.set()

        server_thread = threading.Thread(target=serve, name="pycanal-server", daemon=True)
        server_thread.start()
        if not ready.wait(60) or not listening:
            raise PycanalError("the pycanal server did not start")
        port = listening[0].port
        click.echo(
            f"# MariaDB on 127.0.0.1:{box.port} (user canal/canal), pycanal server on 127.0.0.1:{port}, "
            f"destination 'example'; conf in {conf}",
            err=True,
        )
        with SimpleConnector("127.0.0.1", port, "example") as conn:
            conn.subscribe()
            click.echo("# writing sample changes: inserts, an update, a DDL, a delete", err=True)
            _sample_changes(box)
            deadline = None if duration is None else time.monotonic() + duration
            click.echo("# following; write into the sandbox and watch (Ctrl-C to stop)", err=True)
            _follow(
                conn,
                as_json=as_json,
                batch_size=1000,
                out=sys.stdout,
                stop=lambda: deadline is not None and time.monotonic() > deadline,
            )
    except KeyboardInterrupt:
        pass
    except (PycanalError, OSError) as exc:
        click.echo(f"pycanal: error: {exc}", err=True)
        sys.exit(1)
    finally:
        stop.set()
        if server_thread is not None:
            server_thread.join(30)
        box.cleanup()
        shutil.rmtree(root, ignore_errors=True)
        click.echo("# stopped and cleaned up", err=True)


@main.group()
@click.option(
    "--zk",
    "zk_servers",
    required=True,
    envvar="PYCANAL_ZK",
    metavar="HOST:PORT[,...]",
    help="canal.zkServers of the cluster.",
)
@click.pass_context
def admin(ctx: click.Context, zk_servers: str) -> None:
    """Look at and steer an HA cluster through ZooKeeper (canal's znodes)."""
    ctx.obj = zk_servers


def _admin_call(fn: Callable[..., str], *args: Any, **kwargs: Any) -> None:
    try:
        click.echo(fn(*args, **kwargs))
    except PycanalError as exc:
        click.echo(f"pycanal: error: {exc}", err=True)
        sys.exit(1)


@admin.command("show")
@click.argument("destination", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def admin_show(zk_servers: str, destination: str | None, as_json: bool) -> None:
    """Which server runs which destination, and each client's cursor."""
    from .ha import admin as ha_admin

    _admin_call(ha_admin.admin_show, zk_servers, destination, as_json=as_json)


@admin.command("release")
@click.argument("destination")
@click.pass_obj
def admin_release(zk_servers: str, destination: str) -> None:
    """Make the running server let go of a destination (active=false); another server takes it."""
    from .ha import admin as ha_admin

    _admin_call(ha_admin.admin_release, zk_servers, destination)


@admin.command("move")
@click.argument("destination")
@click.argument("target", metavar="IP:PORT")
@click.option("--wait", "wait_s", default=30.0, show_default=True, type=float, help="Seconds to wait for it.")
@click.pass_obj
def admin_move(zk_servers: str, destination: str, target: str, wait_s: float) -> None:
    """Move a destination to the server at IP:PORT."""
    from .ha import admin as ha_admin

    _admin_call(ha_admin.admin_move, zk_servers, destination, target, wait_s=wait_s)


if __name__ == "__main__":
    main()
