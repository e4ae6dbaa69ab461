"""A throwaway MariaDB with a row binlog, for the tests, the benchmarks and the quickstart.

It runs Debian's ``mariadbd`` as a child process in a temp dir, on a free loopback port, with its own
my.cnf (no system config is read), and is stopped by PID. See shared/reference/environment.md.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SandboxError
from .pki import TestPki, make_test_pki

REPL_USER = "canal"
REPL_PASSWORD = "canal"


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Debian puts the server in /usr/sbin, which a non-root PATH often lacks.
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")


def _find(binary: str, *alternatives: str) -> str:
    """The path of the first of the binaries found on PATH or in the sbin dirs; SandboxError if none is."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_DIRS])
    for name in (binary, *alternatives):
        path = shutil.which(name, path=search)
        if path:
            return path
    raise SandboxError(
        f"{binary} was not found: install Debian's mariadb-server and mariadb-client "
        "(apt-get install mariadb-server mariadb-client), or run scripts/setup.sh"
    )


@dataclass
class MariaDBSandbox:
    """One throwaway MariaDB server.

    ``row_image`` is FULL, MINIMAL or NOBLOB; ``server_id`` lets a test run a second server as a
    standby master; ``extra`` adds my.cnf lines under ``[mysqld]``. ``tls`` serves TLS with a CA and
    server certificate made for this server (``pki`` has their paths, and a client certificate);
    ``require_secure_transport`` then refuses plaintext TCP logins (the unix socket stays allowed).
    """

    server_id: int = 1
    row_image: str = "FULL"
    row_metadata: str = "FULL"
    binlog_format: str = "ROW"
    annotate_rows: bool = False
    port: int = 0
    basedir: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    time_zone: str = "+00:00"
    host: str = "127.0.0.1"
    tls: bool = False
    require_secure_transport: bool = False

    pki: TestPki | None = field(default=None, init=False, repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _own_dir: bool = field(default=False, init=False, repr=False)

    # -- paths -------------------------------------------------------------------------------------
    @property
    def socket_path(self) -> str:
        assert self.basedir
        return os.path.join(self.basedir, "mysqld.sock")

    @property
    def datadir(self) -> str:
        assert self.basedir
        return os.path.join(self.basedir, "data")

    @property
    def cnf_path(self) -> str:
        assert self.basedir
        return os.path.join(self.basedir, "my.cnf")

    @property
    def log_path(self) -> str:
        assert self.basedir
        return os.path.join(self.basedir, "mysqld.err")

    user = REPL_USER
    password = REPL_PASSWORD

    def __post_init__(self) -> None:
        # Checked here: a bad value would otherwise only show up as mariadbd refusing to start.
        for name, allowed in (
            ("row_image", ("FULL", "MINIMAL", "NOBLOB")),
            ("row_metadata", ("NO_LOG", "MINIMAL", "FULL")),
            ("binlog_format", ("ROW", "STATEMENT", "MIXED")),
        ):
            given = getattr(self, name)
            value = str(given).upper()
            if value not in allowed:
                raise SandboxError(f"MariaDBSandbox {name}={given!r}: expected one of {allowed}")
            setattr(self, name, value)
        if not 1 <= int(self.server_id) <= 2**32 - 1:
            raise SandboxError(f"MariaDBSandbox server_id={self.server_id}: expected 1 .. 4294967295")
        if self.require_secure_transport and not self.tls:
            raise SandboxError("MariaDBSandbox require_secure_transport=True needs tls=True")

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> MariaDBSandbox:
        mariadbd = _find("mariadbd", "mysqld")
        install_db = _find("mariadb-install-db", "mysql_install_db")
        if self.basedir is None:
            self.basedir = tempfile.mkdtemp(prefix="pycanal-mariadb-")
            self._own_dir = True
        Path(self.basedir).mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        run_as_root = os.geteuid() == 0
        fresh = not os.path.isdir(os.path.join(self.datadir, "mysql"))
        if self.tls and self.pki is None:
            self.pki = make_test_pki(os.path.join(self.basedir, "pki"))
        self._write_cnf()
        if run_as_root:
            mysql_uid = pwd.getpwnam("mysql")
            for root, dirs, files in os.walk(self.basedir):
                for name in [*dirs, *files]:
                    os.chown(os.path.join(root, name), mysql_uid.pw_uid, mysql_uid.pw_gid)
            os.chown(self.basedir, mysql_uid.pw_uid, mysql_uid.pw_gid)
        if fresh:
            cmd = [
                install_db,
                f"--defaults-file={self.cnf_path}",
                "--skip-test-db",
                "--auth-root-authentication-method=normal",
            ]
            if run_as_root:
                cmd.append("--user=mysql")
            # mariadb-install-db's bootstrap server has been seen to crash (SIGSEGV) on a loaded machine;
            # a second try on an emptied datadir succeeds, so one retry, then a clear error.
            for attempt in (1, 2):
                res = subprocess.run(cmd, capture_output=True, timeout=120)
                if res.returncode == 0:
                    break
                err = res.stderr.decode(errors="replace")[-2000:]
                if attempt == 2:
                    raise SandboxError(f"mariadb-install-db failed (exit {res.returncode}): {err}")
                shutil.rmtree(self.datadir, ignore_errors=True)
        cmd = [mariadbd, f"--defaults-file={self.cnf_path}"]
        if run_as_root:
            cmd.append("--user=mysql")
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SandboxError(f"mariadbd exited with {self.process.returncode}: {self._log_tail()}")
            if self._ping():
                break
            time.sleep(0.05)
        else:
            self.stop()
            raise SandboxError(f"mariadbd did not answer within {timeout:.0f}s: {self._log_tail()}")
        if fresh:
            self._bootstrap_users()
        return self

    def _write_cnf(self) -> None:
        lines = [
            "[mysqld]",
            f"datadir={self.datadir}",
            f"socket={self.socket_path}",
            f"pid-file={os.path.join(self.basedir or '', 'mysqld.pid')}",
            f"log-error={self.log_path}",
            f"port={self.port}",
            f"bind-address={self.host}",
            "skip-name-resolve",
            f"server-id={self.server_id}",
            "log-bin=mysql-bin",
            f"binlog_format={self.binlog_format}",
            f"binlog_row_image={self.row_image}",
            f"binlog_row_metadata={self.row_metadata}",
            f"binlog_annotate_row_events={'ON' if self.annotate_rows else 'OFF'}",
            "character-set-server=utf8mb4",
            "collation-server=utf8mb4_general_ci",
            f"default-time-zone={self.time_zone}",
            "innodb_buffer_pool_size=64M",
            "innodb_log_file_size=48M",
            "innodb_flush_log_at_trx_commit=2",
            "sync_binlog=0",
            "max_connections=200",
            "max_allowed_packet=256M",
            "performance_schema=OFF",
        ]
        if self.tls:
            assert self.pki is not None
            pki = self.pki
            lines += [f"ssl_ca={pki.ca_cert}", f"ssl_cert={pki.server_cert}", f"ssl_key={pki.server_key}"]
            if self.require_secure_transport:
                lines.append("require_secure_transport=ON")
        for key, value in self.extra.items():
            lines.append(f"{key}={value}" if value is not None else key)
        lines += ["[client]", f"socket={self.socket_path}", f"port={self.port}"]
        Path(self.cnf_path).write_text("\n".join(lines) + "\n")

    def _ping(self) -> bool:
        # Probe the socket ourselves first: PyMySQL leaks its socket when the connect itself fails.
        if not os.path.exists(self.socket_path):
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(1)
                probe.connect(self.socket_path)
        except OSError:
            return False
        try:
            conn = self.connect(user="root", password="", unix=True, connect_timeout=1)
        except Exception:
            return False
        conn.close()
        return True

    def _bootstrap_users(self) -> None:
        root = self.connect(user="root", password="", unix=True)
        with contextlib.closing(root) as conn, conn.cursor() as cur:
            for stmt in (
                f"CREATE USER IF NOT EXISTS '{REPL_USER}'@'%' IDENTIFIED BY '{REPL_PASSWORD}'",
                f"GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '{REPL_USER}'@'%'",
                "CREATE USER IF NOT EXISTS 'admin'@'%' IDENTIFIED BY 'admin'",
                "GRANT ALL PRIVILEGES ON *.* TO 'admin'@'%' WITH GRANT OPTION",
                "FLUSH PRIVILEGES",
            ):
                cur.execute(stmt)

    def _log_tail(self) -> str:
        try:
            return Path(self.log_path).read_text(errors="replace")[-2000:]
        except OSError:
            return "(no error log)"

    def stop(self, timeout: float = 20.0) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir and self.basedir:
            shutil.rmtree(self.basedir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> MariaDBSandbox:
        if self.running:
            return self
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # -- client helpers ------------------------------------------------------------------------------
    def connect(
        self,
        user: str = "admin",
        password: str | None = None,
        database: str | None = None,
        unix: bool = False,
        **kwargs: Any,
    ) -> Any:
        """A PyMySQL connection (autocommit) as ``user``; ``admin`` has all privileges.

        Over TCP to a ``tls`` sandbox it uses TLS, verified against the sandbox's CA.
        """
        import pymysql

        if password is None:
            password = {"admin": "admin", REPL_USER: REPL_PASSWORD}.get(user, "")
        kw: dict[str, Any] = dict(
            user=user, password=password, database=database, autocommit=True, charset="utf8mb4", **kwargs
        )
        if unix:
            kw["unix_socket"] = self.socket_path
        else:
            kw["host"] = self.host
            kw["port"] = self.port
            if self.pki is not None and "ssl" not in kw:
                kw["ssl"] = {"ca": self.pki.ca_cert}
        return pymysql.connect(**kw)

    def execute(self, *statements: str, database: str | None = None) -> list[tuple[Any, ...]]:
        """Run statements as admin; return the last one's rows."""
        rows: list[tuple[Any, ...]] = []
        with contextlib.closing(self.connect(database=database)) as conn, conn.cursor() as cur:
            for stmt in statements:
                cur.execute(stmt)
                rows = list(cur.fetchall())
        return rows

    def master_status(self) -> tuple[str, int]:
        """(file, position) of the binlog end, as SHOW MASTER STATUS reports it."""
        row = self.execute("SHOW MASTER STATUS")[0]
        return str(row[0]), int(row[1])

    def dsn(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "user": REPL_USER, "password": REPL_PASSWORD}
