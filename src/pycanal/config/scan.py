"""canal's ``canal.auto.scan``: instance folders appearing, disappearing and changing, with callbacks."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterable

from ..errors import ConfigError

log = logging.getLogger("pycanal.config")

INSTANCE_PROPERTIES = "instance.properties"


def _is_instance_dir(name: str) -> bool:
    return name.lower() != "spring"


def _instance_file(dir_path: str) -> str | None:
    """The folder's instance.properties (name compared case-insensitively, as canal does), or None."""
    try:
        names = os.listdir(dir_path)
    except OSError:
        return None
    for name in sorted(names):
        if name.lower() == INSTANCE_PROPERTIES:
            path = os.path.join(dir_path, name)
            if os.path.isfile(path):
                return path
    return None


def scan_instance_dirs(conf_dir: str | os.PathLike[str]) -> list[str]:
    """Sub-folders of ``conf_dir`` (except ``spring``) holding an instance.properties, sorted."""
    conf_dir = os.fspath(conf_dir)
    try:
        entries = sorted(os.scandir(conf_dir), key=lambda e: e.name)
    except OSError:
        return []
    return [e.name for e in entries if e.is_dir() and _is_instance_dir(e.name) and _instance_file(e.path) is not None]


_Fingerprint = tuple[int, int, str]  # (mtime ns, size, sha256 of the content)


def _fingerprint(path: str) -> _Fingerprint | None:
    try:
        st = os.stat(path)
        with open(path, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, digest)


class InstanceScanner:
    """canal's ``canal.auto.scan``: watch ``<conf_dir>/*/instance.properties`` and call back.

    A new folder with an instance.properties -> ``on_start(dest)``; a folder gone, or its instance.properties
    gone -> ``on_stop(dest)``; an instance.properties whose mtime, size or content changed ->
    ``on_restart(dest)`` (canal stops and starts the instance). A failed start is retried on the next scan,
    a failed stop too; a failed restart is not repeated until the file changes again (all as canal).
    Destinations passed in ``known`` (canal.destinations already started by the caller) are adopted on
    the first scan without a callback; if their folder is missing they are stopped, as canal does.
    A missing conf dir changes nothing (it is logged as an error once).
    """

    def __init__(
        self,
        conf_dir: str | os.PathLike[str],
        interval_s: float = 5.0,
        on_start: Callable[[str], object] | None = None,
        on_stop: Callable[[str], object] | None = None,
        on_restart: Callable[[str], object] | None = None,
        *,
        known: Iterable[str] = (),
    ) -> None:
        if interval_s <= 0:
            raise ConfigError(f"auto scan interval must be > 0 seconds, not {interval_s!r}")
        self.conf_dir = os.fspath(conf_dir)
        self.interval_s = float(interval_s)
        self._on_start = on_start or (lambda _d: None)
        self._on_stop = on_stop or (lambda _d: None)
        self._on_restart = on_restart or (lambda _d: None)
        # destination -> fingerprint of its instance.properties (None = adopted, not yet seen)
        self._active: dict[str, _Fingerprint | None] = dict.fromkeys(known)
        self._lock = threading.RLock()  # callbacks may read .active
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._root_missing = False
        self._last_failure: dict[str, str] = {}  # destination -> the last failure logged

    @property
    def active(self) -> frozenset[str]:
        """The destinations the scanner considers started."""
        with self._lock:
            return frozenset(self._active)

    def register(self, destination: str) -> None:
        """Adopt a destination started elsewhere, so the scanner does not start it again."""
        with self._lock:
            self._active.setdefault(destination, None)

    def scan_once(self) -> list[tuple[str, str]]:
        """One pass; returns the callbacks made, as ``("start"|"stop"|"restart", destination)`` in order."""
        with self._lock:
            return self._scan()

    def _scan(self) -> list[tuple[str, str]]:
        done: list[tuple[str, str]] = []
        if not os.path.isdir(self.conf_dir):
            # a scan root that is gone (unmounted, renamed) is never a reason to stop every instance
            if not self._root_missing:
                self._root_missing = True
                log.error(
                    "auto scan: canal.conf.dir %s is not a directory; the instances keep running as they are",
                    self.conf_dir,
                )
            return done
        if self._root_missing:
            self._root_missing = False
            log.info("auto scan: canal.conf.dir %s is back", self.conf_dir)
        present: set[str] = set()
        try:
            entries = sorted(os.scandir(self.conf_dir), key=lambda e: e.name)
        except OSError as exc:
            log.error("auto scan of %s failed: %s", self.conf_dir, exc)
            return done
        for entry in entries:
            if not entry.is_dir() or not _is_instance_dir(entry.name):
                continue
            dest = entry.name
            present.add(dest)
            path = _instance_file(entry.path)
            fp = _fingerprint(path) if path else None
            if dest not in self._active:
                if fp is not None and self._call(self._on_start, "start", dest):
                    self._active[dest] = fp
                    done.append(("start", dest))
            elif fp is None:
                self._stop(dest, done)
            else:
                last = self._active[dest]
                changed = last is not None and last != fp
                if changed and self._call(self._on_restart, "restart", dest):
                    done.append(("restart", dest))
                self._active[dest] = fp
        for dest in [d for d in self._active if d not in present]:
            self._stop(dest, done)
        return done

    def _stop(self, dest: str, done: list[tuple[str, str]]) -> None:
        if self._call(self._on_stop, "stop", dest):
            del self._active[dest]
            done.append(("stop", dest))

    def _call(self, callback: Callable[[str], object], what: str, dest: str) -> bool:
        try:
            callback(dest)
        except Exception as exc:
            # one line per failure; the same failure again (retried every pass) only at debug
            line = f"auto scan: {what} of instance {dest} failed: {exc}"
            level = logging.DEBUG if self._last_failure.get(dest) == line else logging.ERROR
            self._last_failure[dest] = line
            log.log(level, "%s", line)
            log.debug("auto scan: the failure in full", exc_info=exc)
            return False
        self._last_failure.pop(dest, None)
        log.info("auto scan: %s instance %s", what, dest)
        return True

    def _run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.scan_once()
            except Exception:  # keep scanning, as canal's scheduled task does
                log.exception("auto scan of %s failed", self.conf_dir)
            self._stop_event.wait(self.interval_s)

    def start(self) -> None:
        """Scan now and then every ``interval_s`` seconds in a daemon thread."""
        if self._thread is not None:
            return
        self._stop_event.clear()
        self._thread = threading.Thread(target=self._run, name="canal-instance-scan", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the thread (callbacks already running finish first); the instances are left as they are."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop_event.set()
        thread.join(timeout)

    def __enter__(self) -> InstanceScanner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
