"""pycanal's benchmark harness: one command that writes a binlog and times the readers of it.

    .venv/bin/python benchmarks/run.py [--rows N] [--repeat K] [--stat best|median] [--only NAME ...]

It starts a throwaway MariaDB (FULL row image, FULL metadata), writes an OLTP workload of at least N row
changes into it (see workload.py), then runs every scenario in SCENARIOS K times over that same binlog
range, interleaved so that machine noise hits every scenario alike, and prints one table. Each scenario
reads from the workload's start to the binlog end, touches every decoded value and returns
(rows, seconds); its row count must equal the row changes written, or the run fails.

Ratios, not absolute times, are the result: the machines are shared and noisy. The ratio column is a
scenario's rows/s over python-mysql-replication's rows/s measured in the same run.

New scenarios (embedded API, network server, HA failover...) are added with the ``@scenario`` decorator.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import itertools
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycanal.sandbox import MariaDBSandbox
from workload import DATABASE, TABLE, Workload, write_workload  # benchmarks/ is on sys.path as the script's dir

ROW_TYPES = frozenset(("INSERT", "UPDATE", "DELETE"))
BASELINE = "python-mysql-replication"


@dataclass
class Context:
    """What a scenario needs: the server, the binlog range to read and the row changes expected in it."""

    sandbox: MariaDBSandbox
    workload: Workload
    _server_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1001))

    @property
    def start_arg(self) -> str:
        return f"{self.workload.start[0]}:{self.workload.start[1]}"

    def server_id(self) -> int:
        """A fresh replica server id: two dumps with one id would make the server drop the older one."""
        return next(self._server_ids)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    run: Callable[[Context], tuple[int, float]]


SCENARIOS: list[Scenario] = []


def scenario(name: str, description: str) -> Callable[[Callable[[Context], tuple[int, float]]], Any]:
    """Register a scenario: a function of the Context returning (row changes read, seconds)."""

    def register(fn: Callable[[Context], tuple[int, float]]) -> Callable[[Context], tuple[int, float]]:
        SCENARIOS.append(Scenario(name, description, fn))
        return fn

    return register


# -- touching every value --------------------------------------------------------------------------------


def touch_flat(msg: dict[str, Any]) -> int:
    """Row changes in one FlatMessage of the workload table, after reading every value in it."""
    if msg["type"] not in ROW_TYPES or msg["table"] != TABLE or msg["database"] != DATABASE:
        return 0
    seen = 0
    data = msg["data"]
    for row in data:
        for v in row.values():
            if v is not None:
                seen += 1
    for row in msg["old"] or ():
        for v in row.values():
            if v is not None:
                seen += 1
    return len(data)


def _check(name: str, ctx: Context, rows: int) -> None:
    if rows != ctx.workload.rows:
        raise SystemExit(f"{name}: read {rows} row changes, but the workload wrote {ctx.workload.rows}")


# -- the scenarios ---------------------------------------------------------------------------------------


def _dump_command(ctx: Context) -> list[str]:
    """The documented command line: the venv's ``pycanal`` script, reading the workload's range."""
    exe = Path(sys.executable).with_name("pycanal")
    s = ctx.sandbox
    return [
        *([str(exe)] if exe.exists() else [sys.executable, "-m", "pycanal.cli"]),
        "dump",
        "--host",
        s.host,
        "--port",
        str(s.port),
        "--user",
        s.user,
        "--password",
        s.password,
        "--server-id",
        str(ctx.server_id()),
        "--start",
        ctx.start_arg,
        "--stop-at-end",
    ]


@scenario(
    "pycanal dump (piped, json.loads)",
    "`pycanal dump --stop-at-end` as a subprocess, its stdout piped into this process, which "
    "json.loads every line and reads every value; timed from spawn to exit (includes start-up)",
)
def pycanal_dump(ctx: Context) -> tuple[int, float]:
    cmd = _dump_command(ctx)
    rows = 0
    loads = json.loads
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, bufsize=1 << 20) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                rows += touch_flat(loads(line))
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"pycanal dump exited {proc.returncode}: {err.read().decode(errors='replace')[-2000:]}")
    _check("pycanal dump", ctx, rows)
    return rows, seconds


@scenario(
    "pycanal dump (to a file)",
    "`pycanal dump --stop-at-end` writing to a temp file; timed from spawn to exit, i.e. the command's "
    "own cost with no consumer; the rows are then counted (json.loads, every value) untimed",
)
def pycanal_dump_file(ctx: Context) -> tuple[int, float]:
    cmd = _dump_command(ctx)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        code = subprocess.run(cmd, stdout=out, stderr=err, check=False).returncode
        seconds = time.perf_counter() - t0
        if code != 0:
            err.seek(0)
            raise SystemExit(f"pycanal dump exited {code}: {err.read().decode(errors='replace')[-2000:]}")
        out.seek(0)
        rows = sum(touch_flat(json.loads(line)) for line in out)
    _check("pycanal dump (to a file)", ctx, rows)
    return rows, seconds


@scenario(
    "pycanal in-process",
    "pycanal.cli.iter_flat_messages() in this process (the decoder and FlatMessage builder, no JSON), "
    "reading every value of every message",
)
def pycanal_inprocess(ctx: Context) -> tuple[int, float]:
    from pycanal.cli import iter_flat_messages

    s = ctx.sandbox
    rows = 0
    t0 = time.perf_counter()
    for msg in iter_flat_messages(
        s.host, s.port, s.user, s.password, server_id=ctx.server_id(), start=ctx.workload.start, stop_at_end=True
    ):
        rows += touch_flat(msg)
    seconds = time.perf_counter() - t0
    _check("pycanal in-process", ctx, rows)
    return rows, seconds


@scenario(
    "pycanal embedded API (get+ack)",
    "a CanalInstance (parser -> sink -> store -> file meta) and CanalServerWithEmbedded in this process: "
    "get_without_ack + ack of every batch, every Entry and RowChange parsed, every column value read",
)
def pycanal_embedded(ctx: Context) -> tuple[int, float]:
    from embedded_bench import drain_embedded

    t0 = time.perf_counter()
    rows = drain_embedded(ctx.sandbox, ctx.workload.start, ctx.workload.rows, ctx.server_id())
    seconds = time.perf_counter() - t0
    _check("pycanal embedded API (get+ack)", ctx, rows)
    return rows, seconds


@scenario(
    "pycanal server -> pycanal client",
    "`pycanal server` (its own process) with an instance from the workload's start, and pycanal's "
    "SimpleConnector in this process over loopback: get_without_ack + ack of every batch, every Entry, "
    "RowChange and column value read; timed from the client's connect to the last row",
)
def pycanal_server_client(ctx: Context) -> tuple[int, float]:
    from server_bench import pycanal_server, read_with_pycanal_client, timed

    with pycanal_server(ctx.sandbox, ctx.workload.start, ctx.server_id()) as port:
        rows, seconds = timed(read_with_pycanal_client, port, ctx.workload.rows)
    _check("pycanal server -> pycanal client", ctx, rows)
    return rows, seconds


@scenario(
    "pycanal server -> canal-python 0.4",
    "the same server, read by the official canal-python 0.4 client (its own virtualenv, pure-Python "
    "protobuf as it requires) acking every batch and reading every value; timed inside the client",
)
def pycanal_server_canal_python(ctx: Context) -> tuple[int, float]:
    from server_bench import canal_python, pycanal_server, read_with_canal_python

    canal_python()  # make the virtualenv before the clock starts
    with pycanal_server(ctx.sandbox, ctx.workload.start, ctx.server_id()) as port:
        rows, seconds = read_with_canal_python(port, ctx.workload.rows)
    _check("pycanal server -> canal-python 0.4", ctx, rows)
    return rows, seconds


# messages per run for the scenarios that deliver through a broker (printed as messages/s)
MESSAGES: dict[str, list[int]] = {}


def _mq(ctx: Context, name: str, flat: bool) -> tuple[int, float]:
    from mq_bench import run_mq

    rows, messages, seconds = run_mq(ctx.sandbox, ctx.workload.start, ctx.workload.rows, ctx.server_id(), flat=flat)
    _check(name, ctx, rows)
    MESSAGES.setdefault(name, []).append(messages)
    return rows, seconds


MQ_FLAT = "pycanal rabbitMQ flat -> consumer"
MQ_PROTOBUF = "pycanal rabbitMQ protobuf -> consumer"


@scenario(
    MQ_FLAT,
    "`pycanal server` (its own process) with canal.serverMode = rabbitMQ, canal's defaults (batch 50 "
    "MEMSIZE units, FlatMessage JSON, one message per rows event), publisher confirms before every ack, into "
    "one durable queue; a consumer in this process json.loads every message, reads every value and acks it. "
    "Timed from spawning the server to the last row consumed",
)
def pycanal_mq_flat(ctx: Context) -> tuple[int, float]:
    return _mq(ctx, MQ_FLAT, True)


@scenario(
    MQ_PROTOBUF,
    "the same with canal.mq.flatMessage = false: one protobuf MESSAGES packet per batch; the consumer parses "
    "every Entry and RowChange and reads every column value",
)
def pycanal_mq_protobuf(ctx: Context) -> tuple[int, float]:
    return _mq(ctx, MQ_PROTOBUF, False)


@scenario(
    BASELINE,
    "python-mysql-replication 1.0.17 BinLogStreamReader (blocking=False, only the three row events), "
    "reading every value of before/after images",
)
def python_mysql_replication(ctx: Context) -> tuple[int, float]:
    from pymysqlreplication import BinLogStreamReader
    from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

    s = ctx.sandbox
    rows = 0
    seen = 0
    t0 = time.perf_counter()
    stream = BinLogStreamReader(
        connection_settings={"host": s.host, "port": s.port, "user": s.user, "passwd": s.password},
        server_id=ctx.server_id(),
        blocking=False,
        resume_stream=True,
        log_file=ctx.workload.start[0],
        log_pos=ctx.workload.start[1],
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent],
    )
    try:
        for ev in stream:
            if ev.schema != DATABASE or ev.table != TABLE:
                continue
            if isinstance(ev, UpdateRowsEvent):
                for row in ev.rows:
                    for v in row["before_values"].values():
                        if v is not None:
                            seen += 1
                    for v in row["after_values"].values():
                        if v is not None:
                            seen += 1
                    rows += 1
            else:
                for row in ev.rows:
                    for v in row["values"].values():
                        if v is not None:
                            seen += 1
                    rows += 1
    finally:
        stream.close()
    seconds = time.perf_counter() - t0
    _check(BASELINE, ctx, rows)
    return rows, seconds


# -- running and reporting -------------------------------------------------------------------------------


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=Path(__file__).resolve().parent,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip() or "unknown"
    return commit + ("+dirty" if dirty.stdout.strip() else "")


def profile_inprocess(ctx: Context, top: int) -> str:
    """cProfile of one in-process pycanal read, top functions by own time, for the optimiser."""
    prof = cProfile.Profile()
    prof.enable()
    pycanal_inprocess(ctx)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    names = [s.name for s in SCENARIOS]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--rows",
        type=int,
        default=200_000,
        help="row changes to write, rounded up to whole 1,000-row transactions (default 200000)",
    )
    ap.add_argument("--repeat", type=int, default=3, help="runs of each scenario (default 3)")
    ap.add_argument(
        "--stat",
        choices=("best", "median"),
        default="best",
        help="which of the runs the table shows (default best: the least disturbed run)",
    )
    ap.add_argument(
        "--only",
        action="append",
        choices=names,
        metavar="SCENARIO",
        help=f"run only these scenarios (repeatable); {BASELINE} always runs. One of: {names}",
    )
    ap.add_argument(
        "--profile", action="store_true", help="also cProfile one in-process pycanal read and print its top functions"
    )
    ap.add_argument("--profile-top", type=int, default=30, help="functions in the profile (default 30)")
    ap.add_argument(
        "--require-ratio",
        type=float,
        default=None,
        metavar="X",
        help="exit 1 unless every pycanal scenario reaches X times the baseline's rows/s",
    )
    args = ap.parse_args(argv)
    if args.rows < 1 or args.repeat < 1:
        ap.error("--rows and --repeat must be positive")
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only or s.name == BASELINE]

    print(
        f"pycanal benchmark: commit {_commit()}, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {os.cpu_count()} CPUs"
    )
    with MariaDBSandbox(row_image="FULL", row_metadata="FULL") as box:
        version = box.execute("SELECT VERSION()")[0][0]
        print(f"server: MariaDB {version} on 127.0.0.1:{box.port}, binlog_row_image=FULL, binlog_row_metadata=FULL")
        wl = write_workload(box, args.rows)
        print(
            f"workload: {wl.rows:,} row changes in {DATABASE}.{TABLE} ({wl.inserted:,} inserted, "
            f"{wl.updated:,} updated, {wl.deleted:,} deleted), binlog {wl.binlog_bytes / 1e6:.1f} MB "
            f"from {wl.start[0]}:{wl.start[1]} to {wl.end[0]}:{wl.end[1]}, written in {wl.write_seconds:.1f} s"
        )
        ctx = Context(box, wl)
        times: dict[str, list[float]] = {s.name: [] for s in chosen}
        for k in range(args.repeat):
            order = chosen if k % 2 == 0 else chosen[::-1]  # alternate so no scenario always runs first
            for sc in order:
                rows, seconds = sc.run(ctx)
                times[sc.name].append(seconds)
                print(
                    f"  run {k + 1}/{args.repeat}  {sc.name:<34} {rows:>9,} rows  {seconds:7.2f} s  "
                    f"{rows / seconds:>10,.0f} rows/s",
                    flush=True,
                )
        profile = profile_inprocess(ctx, args.profile_top) if args.profile else None

    pick = min if args.stat == "best" else statistics.median
    chosen_s = {name: pick(ts) for name, ts in times.items()}
    base_rate = wl.rows / chosen_s[BASELINE]
    print()
    print(f"{args.stat} of {args.repeat} run(s) per scenario; ratio = rows/s / {BASELINE} rows/s")
    print()
    print(f"| scenario | rows | seconds | rows/s | ratio vs {BASELINE} |")
    print("|---|---:|---:|---:|---:|")
    failed = []
    for sc in chosen:
        sec = chosen_s[sc.name]
        rate = wl.rows / sec
        ratio = rate / base_rate
        print(f"| {sc.name} | {wl.rows:,} | {sec:.2f} | {rate:,.0f} | {ratio:.2f}x |")
        if args.require_ratio is not None and sc.name != BASELINE and ratio < args.require_ratio:
            failed.append(f"{sc.name} {ratio:.2f}x")
    for name, counts in MESSAGES.items():
        sec = chosen_s[name]
        msgs = counts[times[name].index(sec)]
        print(f"\n{name}: {msgs:,} messages, {msgs / sec:,.0f} messages/s ({wl.rows / msgs:.1f} rows per message)")
    print()
    for sc in chosen:
        print(f"- {sc.name}: {sc.description}")
    if profile is not None:
        print()
        print("cProfile of one pycanal in-process read (by own time):")
        print(profile)
    if failed:
        print(f"below the required {args.require_ratio}x: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
