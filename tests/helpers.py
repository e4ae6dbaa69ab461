"""Small helpers shared by the test suite."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str | Callable[[], str] | None = None,
) -> T:
    """Poll ``predicate`` until it returns a truthy value and return that value.

    A bounded wait instead of a sleep: raises AssertionError after ``timeout`` seconds, naming the
    predicate (or ``message``, which may be a callable producing it late, with fresh state) and the last
    value it returned. Exceptions from the predicate propagate at once: they are bugs, not "not yet".
    """
    if timeout <= 0 or interval <= 0:
        raise ValueError(f"wait_for needs a positive timeout and interval, not {timeout}, {interval}")
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message() if callable(message) else message
            name = getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what or name} (last value {value!r})")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


# The shared test data sits beside the repository (../shared from its root), in CI and in development.
REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PYCANAL_SHARED", REPO_ROOT.parent / "shared"))
MYSQL_BINLOG_FIXTURES = SHARED / "fixtures" / "mysql-binlog"


def shared_fixture(*parts: str) -> Path:
    """A file or folder of ../shared/fixtures/mysql-binlog. Missing data fails the test: a silent skip would
    hide that CI tested nothing. ``PYCANAL_ALLOW_MISSING_SHARED=1`` turns it into a skip on a machine that
    has only the repository."""
    path = MYSQL_BINLOG_FIXTURES.joinpath(*parts)
    if not path.exists():
        message = f"shared fixture {path} is missing (expected ../shared beside the repository)"
        if os.environ.get("PYCANAL_ALLOW_MISSING_SHARED") == "1":
            import pytest

            pytest.skip(message)
        raise AssertionError(message)
    return path
