"""Small helpers shared by the test suite."""

from __future__ import annotations

import time
from collections.abc import Callable
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
