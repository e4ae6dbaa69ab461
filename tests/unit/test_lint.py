"""A failing lint fails the tests (as asyncpg's test__sourcecode does)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _ruff() -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "ruff")
    if os.path.exists(exe):
        return [exe]
    found = shutil.which("ruff")
    return [found] if found else [sys.executable, "-m", "ruff"]


def test_ruff_clean():
    res = subprocess.run(
        [*_ruff(), "check", "--no-cache", "src", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_format_clean():
    res = subprocess.run(
        [*_ruff(), "format", "--check", "--no-cache", "src", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy_clean():
    """The package ships py.typed: its types are checked (configuration in pyproject.toml)."""
    res = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout + res.stderr
