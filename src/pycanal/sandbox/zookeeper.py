"""Throwaway ZooKeeper 3.8 servers (standalone or a loopback ensemble) for the tests.

Debian's ``zookeeper`` package is run directly with ``java ... QuorumPeerMain zoo.cfg`` as a child
process with its own config, data dir and log file in a temp dir, so nothing on the system is read or
touched, and it is stopped by PID. Timings are tuned for tests (short tick, small heap, no fsync).
See shared/reference/environment.md, ZooKeeper section.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from ..errors import SandboxError

ZK_JAR = "/usr/share/java/zookeeper.jar"
# log4j 1.2 binding for slf4j, as Debian ships it; missing ones are only a logging loss, not fatal.
LOG_JARS = ("/usr/share/java/slf4j-log4j12.jar", "/usr/share/java/log4j-1.2.jar")
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
SERVING_MODES = ("leader", "follower", "standalone")

_LOG4J = """\
log4j.rootLogger=INFO, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%t:%C{1}@%L] - %m%n
"""


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 now (all sockets held open together so none repeats)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def four_letter(port: int, command: str, timeout: float = 1.0, host: str = "127.0.0.1") -> str | None:
    """Send a ZooKeeper four-letter command; the reply text, or None if the server does not answer."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(command.encode("ascii"))
            chunks: list[bytes] = []
            while True:
                data = sock.recv(4096)
                if not data:
                    break
                chunks.append(data)
    except OSError:
        return None
    return b"".join(chunks).decode("utf-8", errors="replace")


class ZooKeeperSandbox:
    """One ZooKeeper server: standalone, or one node of a :class:`ZooKeeperEnsemble`.

    ``servers`` maps every ensemble member's myid to its (peer port, election port); leave it None
    for a standalone server. The data dir survives stop()/start(), so a restarted node keeps its data.
    """

    def __init__(
        self,
        basedir: str | None = None,
        *,
        port: int = 0,
        myid: int | None = None,
        servers: Mapping[int, tuple[int, int]] | None = None,
        tick_time: int = 500,
        heap_mb: int = 128,
        java: str | None = None,
        jar: str = ZK_JAR,
    ) -> None:
        if (myid is None) != (servers is None):
            raise SandboxError("an ensemble node needs both myid and servers; a standalone server neither")
        if servers is not None and myid not in servers:
            raise SandboxError(f"myid {myid} is not among the ensemble servers {sorted(servers)}")
        self.basedir = basedir
        self.port = port
        self.myid = myid
        self.servers = dict(servers) if servers is not None else None
        self.tick_time = tick_time
        self.heap_mb = heap_mb
        self.java = java
        self.jar = jar
        self.host = "127.0.0.1"
        self.process: subprocess.Popen[bytes] | None = None
        self._own_dir = False
        self._paused = False

    # -- paths -------------------------------------------------------------------------------------
    def _dir(self, *parts: str) -> str:
        if self.basedir is None:
            raise SandboxError("the sandbox has no basedir yet: call start() first")
        return os.path.join(self.basedir, *parts)

    @property
    def datadir(self) -> str:
        return self._dir("data")

    @property
    def confdir(self) -> str:
        return self._dir("conf")

    @property
    def cfg_path(self) -> str:
        return self._dir("conf", "zoo.cfg")

    @property
    def log_path(self) -> str:
        return self._dir("zookeeper.log")

    @property
    def address(self) -> str:
        """``127.0.0.1:port``, the client address."""
        return f"{self.host}:{self.port}"

    @property
    def hosts(self) -> str:
        """The kazoo ``hosts`` string (one address), so a standalone server and an ensemble read alike."""
        return self.address

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def paused(self) -> bool:
        return self._paused and self.running

    # -- lifecycle ---------------------------------------------------------------------------------
    def _java(self) -> str:
        java = self.java or shutil.which("java")
        if not java or not os.access(java, os.X_OK):
            raise SandboxError(
                f"java was not found ({self.java or 'not on PATH'}): install a JRE "
                "(apt-get install default-jre-headless zookeeper)"
            )
        return java

    def _check_jar(self) -> None:
        if not os.path.isfile(self.jar):
            raise SandboxError(
                f"ZooKeeper jar {self.jar} was not found: install Debian's zookeeper (apt-get install zookeeper)"
            )

    def launch(self) -> None:
        """Start the JVM without waiting for it to serve (an ensemble launches all nodes first)."""
        if self.running:
            raise SandboxError(f"ZooKeeper {self.address} is already running")
        java = self._java()
        self._check_jar()
        if self.basedir is None:
            self.basedir = tempfile.mkdtemp(prefix="pycanal-zk-")
            self._own_dir = True
        if not self.port:
            self.port = free_ports(1)[0]
        Path(self.datadir).mkdir(parents=True, exist_ok=True)
        Path(self.confdir).mkdir(parents=True, exist_ok=True)
        self._write_config()
        classpath = os.pathsep.join([self.confdir, self.jar, *(j for j in LOG_JARS if os.path.isfile(j))])
        cmd = [
            java,
            f"-Xmx{self.heap_mb}m",
            "-Xms16m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",  # C1 only: faster start, enough speed for tests
            "-XX:-UsePerfData",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{os.path.join(self.confdir, 'log4j.properties')}",
            "-Dzookeeper.jmx.log4j.disable=true",
            "-Dzookeeper.cnxTimeout=1000",  # election connect timeout; the default 5 s slows failover
            "-cp",
            classpath,
            MAIN_CLASS,
            self.cfg_path,
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.basedir
            )
        self._paused = False

    def _write_config(self) -> None:
        lines = [
            f"tickTime={self.tick_time}",
            "initLimit=10",
            "syncLimit=5",
            f"dataDir={self.datadir}",
            f"clientPort={self.port}",
            f"clientPortAddress={self.host}",
            "admin.enableServer=false",
            "4lw.commands.whitelist=srvr,stat,ruok,mntr,conf",
            "maxClientCnxns=0",
            "forceSync=no",
            "preAllocSize=1024",
            "autopurge.purgeInterval=0",
        ]
        if self.servers is not None:
            lines += [f"server.{sid}={self.host}:{peer}:{elect}" for sid, (peer, elect) in sorted(self.servers.items())]
            Path(self.datadir, "myid").write_text(f"{self.myid}\n")
        Path(self.cfg_path).write_text("\n".join(lines) + "\n")
        Path(self.confdir, "log4j.properties").write_text(_LOG4J)

    def wait_serving(self, timeout: float = 30.0) -> str:
        """Wait until ``srvr`` reports a Mode (``ruok`` answers too early); return the mode."""
        deadline = time.monotonic() + timeout
        while True:
            proc = self.process
            if proc is None:
                raise SandboxError(f"ZooKeeper {self.address} is not started")
            if proc.poll() is not None:
                code = proc.returncode
                self.process = None
                raise SandboxError(f"ZooKeeper {self.address} exited with {code}: {self.log_tail()}")
            mode = self.mode(timeout=0.5)
            if mode in SERVING_MODES:
                return mode
            if time.monotonic() >= deadline:
                self.stop()
                raise SandboxError(
                    f"ZooKeeper {self.address} was not serving within {timeout:.0f}s (mode {mode}): {self.log_tail()}"
                )
            time.sleep(0.05)

    def start(self, timeout: float = 30.0) -> ZooKeeperSandbox:
        """Start and wait until serving. An ensemble node only serves once a quorum is up."""
        self.launch()
        self.wait_serving(timeout)
        return self

    def mode(self, timeout: float = 1.0) -> str | None:
        """``leader``, ``follower`` or ``standalone`` from ``srvr``; None when not serving or answering."""
        if not self.port:
            return None
        reply = four_letter(self.port, "srvr", timeout=timeout, host=self.host)
        if not reply:
            return None
        for line in reply.splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip().lower() or None
        return None

    def terminate(self) -> None:
        """Send SIGTERM (and SIGCONT) without waiting, so several nodes can shut down together."""
        if self.running:
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            self.process.send_signal(signal.SIGCONT)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (after SIGCONT, should it be paused) and wait; SIGKILL if it does not exit."""
        proc, self.process = self.process, None
        self._paused = False
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.send_signal(signal.SIGCONT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait(10)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        proc, self.process = self.process, None
        self._paused = False
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)

    def pause(self, timeout: float = 5.0) -> None:
        """SIGSTOP: the JVM freezes with its sockets open, like a long GC pause or a hung host.

        Returns once every thread is stopped: the signal is asynchronous and a thread busy on the other
        core could otherwise still answer a request after this returned.
        """
        if not self.running:
            raise SandboxError(f"ZooKeeper {self.address} is not running")
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self._paused = True
        self._wait_stopped(True, timeout)

    def resume(self, timeout: float = 5.0) -> None:
        """SIGCONT after :meth:`pause`; returns once no thread is stopped any more."""
        if not self.running:
            raise SandboxError(f"ZooKeeper {self.address} is not running")
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
        self._paused = False
        self._wait_stopped(False, timeout)

    def _wait_stopped(self, stopped: bool, timeout: float) -> None:
        assert self.process is not None
        task_dir = Path(f"/proc/{self.process.pid}/task")
        if not task_dir.is_dir():  # no procfs: nothing to check against
            return
        deadline = time.monotonic() + timeout
        while True:
            states = []
            for stat in task_dir.glob("*/stat"):
                try:
                    # the state letter follows the ")" that closes the thread name
                    states.append(stat.read_text().rsplit(")", 1)[1].split()[0] in ("T", "t"))
                except (OSError, IndexError):
                    continue  # a thread that just ended
            if states and all(s == stopped for s in states):
                return
            if time.monotonic() >= deadline:
                what = "stop" if stopped else "continue"
                raise SandboxError(f"ZooKeeper {self.address} did not {what} within {timeout:.0f}s")
            time.sleep(0.01)

    def cleanup(self) -> None:
        """Stop and remove the temp dir if this sandbox made it."""
        self.stop()
        if self._own_dir and self.basedir:
            shutil.rmtree(self.basedir, ignore_errors=True)
            self.basedir = None
            self._own_dir = False

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server log, led by its first ERROR lines (the cause is often before the tail)."""
        try:
            text = Path(self.log_path).read_text(errors="replace")
        except (OSError, SandboxError):
            return "(no log)"
        errors = [ln for ln in text.splitlines() if " ERROR " in ln or "Exception: " in ln][:6]
        head = ("errors:\n" + "\n".join(errors) + "\nlog tail:\n") if errors else ""
        return head + (text[-chars:] or "(empty log)")

    def __enter__(self) -> ZooKeeperSandbox:
        if not self.running:
            try:
                self.start()
            except BaseException:
                self.cleanup()
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        role = f"myid={self.myid}" if self.myid is not None else "standalone"
        return f"<ZooKeeperSandbox {self.address} {role} running={self.running}>"


class ZooKeeperEnsemble:
    """``size`` ZooKeeper nodes on loopback forming one ensemble, each in a subdirectory of ``basedir``."""

    def __init__(
        self,
        size: int = 3,
        basedir: str | None = None,
        *,
        tick_time: int = 500,
        heap_mb: int = 128,
        java: str | None = None,
        jar: str = ZK_JAR,
    ) -> None:
        if size < 1:
            raise SandboxError(f"an ensemble needs at least one node, not {size}")
        self.size = size
        self._own_dir = basedir is None
        self.basedir = basedir if basedir is not None else tempfile.mkdtemp(prefix="pycanal-zkens-")
        ports = free_ports(3 * size)
        servers = {i + 1: (ports[3 * i + 1], ports[3 * i + 2]) for i in range(size)}
        self.nodes: list[ZooKeeperSandbox] = [
            ZooKeeperSandbox(
                os.path.join(self.basedir, f"zk{sid}"),
                port=ports[3 * (sid - 1)],
                myid=sid,
                servers=servers,
                tick_time=tick_time,
                heap_mb=heap_mb,
                java=java,
                jar=jar,
            )
            for sid in servers
        ]

    @property
    def hosts(self) -> str:
        """Comma-separated client addresses, the kazoo ``hosts`` string."""
        return ",".join(n.address for n in self.nodes)

    def start(self, timeout: float = 30.0) -> ZooKeeperEnsemble:
        """Launch every node, then wait for a quorum: one leader and every other node a follower."""
        try:
            for node in self.nodes:
                if not node.running:
                    node.launch()
            self.wait_quorum(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_quorum(self, timeout: float = 30.0) -> ZooKeeperSandbox:
        """Wait until every running node serves and exactly one leads; return the leader."""
        deadline = time.monotonic() + timeout
        modes: dict[int, str | None] = {}
        while True:
            for node in self.nodes:
                if node.process is not None and node.process.poll() is not None:
                    raise SandboxError(
                        f"ZooKeeper node {node.myid} ({node.address}) exited with {node.process.returncode}: "
                        f"{node.log_tail()}"
                    )
            live = [n for n in self.nodes if n.running]
            modes = {n.myid or 0: n.mode(timeout=0.5) for n in live}
            leaders = [n for n in live if modes[n.myid or 0] == "leader"]
            if live and len(leaders) == 1 and all(m in ("leader", "follower") for m in modes.values()):
                return leaders[0]
            if time.monotonic() >= deadline:
                tails = "\n".join(f"--- node {n.myid}:\n{n.log_tail(1500)}" for n in self.nodes)
                raise SandboxError(f"no ZooKeeper quorum within {timeout:.0f}s (modes {modes}):\n{tails}")
            time.sleep(0.05)

    def leader(self) -> ZooKeeperSandbox | None:
        """The node that reports itself leader now, or None during an election."""
        for node in self.nodes:
            if node.running and not node.paused and node.mode(timeout=0.5) == "leader":
                return node
        return None

    def followers(self) -> list[ZooKeeperSandbox]:
        return [n for n in self.nodes if n.running and not n.paused and n.mode(timeout=0.5) == "follower"]

    def restart_all(self, timeout: float = 30.0) -> ZooKeeperSandbox:
        """Stop every node, start them all again (data kept); return the new leader."""
        self.stop()
        for node in self.nodes:
            node.launch()
        return self.wait_quorum(timeout)

    def stop(self) -> None:
        """Stop every node (all signalled first: JVM shutdowns then overlap)."""
        for node in self.nodes:
            node.terminate()
        for node in self.nodes:
            node.stop()

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.basedir, ignore_errors=True)

    def __enter__(self) -> ZooKeeperEnsemble:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        return f"<ZooKeeperEnsemble {self.hosts}>"
