"""RabbitMQ for the tests: the broker already answering on 127.0.0.1:5672, or a throwaway node of our own.

:class:`RabbitMQSandbox` runs Debian's ``rabbitmq-server`` as a child process with everything of its own:
node name, AMQP port, Erlang distribution port, an ``epmd`` on its own port (also our child, so nothing
lingers), data and log dirs, config and cookie in a temp dir; the system's ``/etc/rabbitmq`` files are not
read. It is stopped by PID. :class:`RabbitMQBroker` is what a test talks to, whichever broker it is:
address, login and ``rabbitmqctl`` for that node. Tests isolate themselves in a virtual host of their own
(:meth:`RabbitMQBroker.add_vhost`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from ..errors import SandboxError
from .zookeeper import free_ports

# Debian's own scripts; /usr/sbin/rabbitmqctl is a wrapper that switches to the rabbitmq user (and its
# HOME, so its cookie), which cannot reach a node whose cookie is in our temp dir.
RABBITMQ_BIN = "/usr/lib/rabbitmq/bin"
SYSTEM_CTL = "/usr/sbin/rabbitmqctl"


def amqp_answers(host: str = "127.0.0.1", port: int = 5672, timeout: float = 1.0) -> bool:
    """True when something speaking AMQP 0-9-1 answers there (a protocol header draws a Connection.Start)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            head = sock.recv(7)
    except OSError:
        return False
    return len(head) == 7 and head[0] == 1  # a METHOD frame


@dataclass
class RabbitMQBroker:
    """A running broker: where it listens, a login that may configure it, and its ``rabbitmqctl``."""

    host: str
    port: int
    username: str = "guest"
    password: str = field(default="guest", repr=False)
    ctl_command: Sequence[str] = (SYSTEM_CTL,)
    ctl_env: Mapping[str, str] = field(default_factory=dict, repr=False)

    def url(self, vhost: str = "/") -> str:
        """The amqp URI of a virtual host (``rabbitmq.host`` takes it as it is)."""
        login = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}"
        return f"amqp://{login}@{self.host}:{self.port}/{quote(vhost, safe='')}"

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        """Run ``rabbitmqctl`` against this node; its stdout. A failure raises SandboxError with its output."""
        env = {**os.environ, **self.ctl_env}
        try:
            done = subprocess.run(
                [*self.ctl_command, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxError(f"rabbitmqctl {' '.join(args)} failed: {exc}") from exc
        if done.returncode != 0:
            raise SandboxError(f"rabbitmqctl {' '.join(args)} exited {done.returncode}: {done.stderr or done.stdout}")
        return done.stdout

    def add_vhost(self, name: str | None = None) -> str:
        """A new virtual host the login may use fully; returns its name."""
        name = name or f"pycanal-{uuid.uuid4().hex[:10]}"
        self.ctl("add_vhost", name)
        self.ctl("set_permissions", "-p", name, self.username, ".*", ".*", ".*")
        return name

    def delete_vhost(self, name: str) -> None:
        """Remove a virtual host and everything in it (queues, exchanges, its connections)."""
        self.ctl("delete_vhost", name)

    def close_connections(self, vhost: str, reason: str = "closed by a pycanal test") -> None:
        """The broker closes every client connection of ``vhost`` (only ours: the broker may be shared)."""
        self.ctl("close_all_connections", "-p", vhost, reason)


class RabbitMQSandbox:
    """One RabbitMQ node of our own on free loopback ports; ``guest``/``guest`` may log in over loopback."""

    def __init__(self, basedir: str | None = None, *, port: int = 0, bin_dir: str = RABBITMQ_BIN) -> None:
        self.basedir = basedir
        self.port = port
        self.bin_dir = bin_dir
        self.host = "127.0.0.1"
        self.node = f"pycanal-{uuid.uuid4().hex[:8]}@localhost"
        self.dist_port = 0
        self.epmd_port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.epmd: subprocess.Popen[bytes] | None = None
        self._own_dir = False

    # -- paths and environment -------------------------------------------------------------------------
    def _path(self, *parts: str) -> str:
        if self.basedir is None:
            raise SandboxError("the sandbox has no basedir yet: call start() first")
        return os.path.join(self.basedir, *parts)

    @property
    def log_path(self) -> str:
        return self._path("rabbitmq.out")

    def _env(self) -> dict[str, str]:
        """What makes the scripts use only our files: every location, the node, the ports, the cookie."""
        return {
            "HOME": self._path("home"),  # the Erlang cookie lives in $HOME
            "RABBITMQ_CONF_ENV_FILE": self._path("rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": self._path("rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": self._path("advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": self._path("enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": self._path("mnesia"),
            "RABBITMQ_LOG_BASE": self._path("log"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": self.host,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": self.host,
        }

    @property
    def broker(self) -> RabbitMQBroker:
        return RabbitMQBroker(
            self.host,
            self.port,
            ctl_command=(os.path.join(self.bin_dir, "rabbitmqctl"), "-n", self.node),
            ctl_env=self._env(),
        )

    # -- lifecycle --------------------------------------------------------------------------------------
    def _check_installed(self) -> tuple[str, str]:
        server = os.path.join(self.bin_dir, "rabbitmq-server")
        epmd = shutil.which("epmd") or "/usr/bin/epmd"
        for path in (server, epmd):
            if not os.access(path, os.X_OK):
                raise SandboxError(f"{path} was not found: install Debian's rabbitmq-server (scripts/setup.sh does)")
        return server, epmd

    def start(self, timeout: float = 90.0) -> RabbitMQSandbox:
        """Start epmd and the node, and wait until the broker answers AMQP."""
        if self.process is not None:
            raise SandboxError(f"RabbitMQ node {self.node} is already running")
        server, epmd = self._check_installed()
        if self.basedir is None:
            self.basedir = tempfile.mkdtemp(prefix="pycanal-rabbitmq-")
            self._own_dir = True
        ports = free_ports(3)
        self.port = self.port or ports[0]
        self.dist_port, self.epmd_port = ports[1], ports[2]
        for sub in ("home", "mnesia", "log"):
            Path(self._path(sub)).mkdir(parents=True, exist_ok=True)
        cookie = Path(self._path("home", ".erlang.cookie"))
        cookie.write_text(uuid.uuid4().hex.upper())
        cookie.chmod(0o400)
        Path(self._path("rabbitmq-env.conf")).write_text("")
        Path(self._path("rabbitmq.conf")).write_text("loopback_users = none\nlog.console = false\n")
        Path(self._path("advanced.config")).write_text("[].\n")
        Path(self._path("enabled_plugins")).write_text("[].\n")
        env = {**os.environ, **self._env()}
        with open(self.log_path, "ab") as out:
            self.epmd = subprocess.Popen(
                [epmd, "-port", str(self.epmd_port), "-address", self.host],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            self.process = subprocess.Popen(
                [server], env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=self.basedir
            )
        try:
            self._wait_serving(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_serving(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not amqp_answers(self.host, self.port, timeout=0.5):
            assert self.process is not None
            if self.process.poll() is not None:
                raise SandboxError(
                    f"RabbitMQ node {self.node} exited with {self.process.returncode}: {self.log_tail()}"
                )
            if time.monotonic() >= deadline:
                raise SandboxError(
                    f"RabbitMQ node {self.node} was not serving within {timeout:.0f}s: {self.log_tail()}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (RabbitMQ shuts down cleanly on it) and wait, SIGKILL if it hangs; then our epmd."""
        proc, self.process = self.process, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
            proc.wait(10)
        epmd, self.epmd = self.epmd, None
        if epmd is not None:
            if epmd.poll() is None:
                epmd.kill()
            epmd.wait(10)

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir and self.basedir:
            shutil.rmtree(self.basedir, ignore_errors=True)
            self.basedir = None
            self._own_dir = False

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the node's console output and of its own log."""
        texts = []
        for path in (self.log_path, self._path("log", f"{self.node}.log")):
            try:
                texts.append(Path(path).read_text(errors="replace")[-chars:])
            except OSError:
                continue
        return "\n".join(texts) or "(no log)"

    def __enter__(self) -> RabbitMQSandbox:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        return f"<RabbitMQSandbox {self.node} {self.host}:{self.port}>"
