"""canal's layered key lookup: ``-D`` override, environment, instance.properties, canal.properties, default.

Every key is looked up like canal's ``CanalController.getProperty`` and its Spring placeholder configurer:
a blank value counts as unset (Spring falls through on blank), values are trimmed, and ``${name:default}``
placeholders are expanded through the same layers. A malformed value raises
:class:`~pycanal.errors.ConfigError` naming where the value came from, the key and the value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import NoReturn

from ..errors import ConfigError
from ..filter import RegexFilter
from .model import HostPort

_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
_INTEGER = re.compile(r"([+-]?)(?:0[xX]([0-9a-fA-F]+)|([0-9]+))", re.ASCII)

Layer = tuple[str, Mapping[str, str]]  # (origin shown in errors, key -> value)


class Reader:
    """Typed lookups over layers, highest first; remembers which keys were asked for (the known keys)."""

    def __init__(self, layers: list[Layer], base_dir: str, conf_dir: str | None = None) -> None:
        self.layers = layers
        self.base_dir = base_dir
        self.conf_dir = conf_dir  # the folder holding canal.properties (pycanal -c)
        self.asked: set[str] = set()

    # raw access --------------------------------------------------------------------------------------

    def find(self, key: str) -> tuple[str, str] | None:
        """(value as written, origin) from the highest layer with a non-blank value."""
        for origin, mapping in self.layers:
            value = mapping.get(key)
            if value is not None and value.strip():
                return value, origin
        return None

    def expand(self, text: str, key: str, origin: str, seen: tuple[str, ...] = ()) -> str:
        """Expand ``${name:default}`` as canal's Spring placeholder configurer does (nested, recursive)."""
        out: list[str] = []
        pos = 0
        while True:
            start = text.find("${", pos)
            end = _placeholder_end(text, start + 2) if start >= 0 else -1
            if end < 0:
                out.append(text[pos:])
                return "".join(out)
            out.append(text[pos:start])
            inner = self.expand(text[start + 2 : end], key, origin, seen)
            name, sep, default = inner.partition(":")
            name = name.strip()
            if name in seen or name == key:
                raise ConfigError(f"{origin}: {key}: circular placeholder reference ${{{name}}} in {text!r}")
            found = self.find(name)
            if found is not None:
                value = self.expand(found[0], key, origin, (*seen, name)).strip()
            else:
                value = default.strip() if sep else ""  # unresolvable and no default: "" (canal's configurer)
            out.append(value)
            pos = end + 1

    def lookup(self, key: str) -> tuple[str, str, str] | None:
        """(resolved trimmed value, value as written, origin), or None when unset or blank after expansion."""
        self.asked.add(key)
        found = self.find(key)
        if found is None:
            return None
        written, origin = found
        value = self.expand(written, key, origin, (key,)).strip()
        if not value:
            return None
        return value, written, origin

    def fail(self, key: str, found: tuple[str, str, str], reason: str) -> NoReturn:
        value, written, origin = found
        shown = repr(written.strip())
        if value != written.strip():
            shown += f" (resolved to {value!r})"
        raise ConfigError(f"{origin}: bad value for {key}: {shown}: {reason}")

    # typed access ------------------------------------------------------------------------------------

    def text(self, key: str, default: str = "") -> str:
        found = self.lookup(key)
        if found is not None:
            return found[0]
        if "${" in default:
            return self.expand(default, key, "canal default").strip()
        return default

    def opt_text(self, key: str) -> str | None:
        found = self.lookup(key)
        return None if found is None else found[0]

    def integer(
        self, key: str, default: int, *, lo: int | None = None, hi: int | None = None, power_of_two: bool = False
    ) -> int:
        value = self.opt_integer(key, lo=lo, hi=hi, power_of_two=power_of_two)
        return default if value is None else value

    def opt_integer(
        self, key: str, *, lo: int | None = None, hi: int | None = None, power_of_two: bool = False
    ) -> int | None:
        found = self.lookup(key)
        if found is None:
            return None
        m = _INTEGER.fullmatch(found[0])  # Spring's number conversion: optional sign, decimal or 0x hex
        if not m:
            self.fail(key, found, "not an integer")
        value = int(m.group(2), 16) if m.group(2) else int(m.group(3))
        if m.group(1) == "-":
            value = -value
        if lo is not None and value < lo:
            self.fail(key, found, f"must be >= {lo}")
        if hi is not None and value > hi:
            self.fail(key, found, f"must be <= {hi}")
        if power_of_two and (value <= 0 or value & (value - 1)):
            self.fail(key, found, "must be a power of two")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        found = self.lookup(key)
        if found is None:
            return default
        low = found[0].lower()
        if low in ("true", "on", "yes", "1"):  # Spring's CustomBooleanEditor
            return True
        if low in ("false", "off", "no", "0"):
            return False
        self.fail(key, found, "not a boolean (true/false)")

    def choice(self, key: str, default: str, choices: Iterable[str]) -> str:
        found = self.lookup(key)
        if found is None:
            return default
        by_lower = {c.lower(): c for c in choices}
        try:
            return by_lower[found[0].lower()]
        except KeyError:
            self.fail(key, found, f"must be one of {', '.join(by_lower.values())}")

    def choices(self, key: str, choices: Iterable[str]) -> tuple[str, ...]:
        """A comma list of choices; unset = empty tuple (canal then checks nothing)."""
        found = self.lookup(key)
        if found is None:
            return ()
        by_lower = {c.lower(): c for c in choices}
        out: list[str] = []
        for item in found[0].split(","):
            item = item.strip()
            if not item:
                continue
            if item.lower() not in by_lower:
                self.fail(key, found, f"{item!r} is not one of {', '.join(by_lower.values())}")
            out.append(by_lower[item.lower()])
        return tuple(out)

    def address(self, key: str) -> HostPort | None:
        found = self.lookup(key)
        if found is None:
            return None
        try:
            return HostPort.parse(found[0])
        except ValueError as exc:
            self.fail(key, found, str(exc))

    def path(self, key: str, default: str) -> str:
        """A file system path: absolute as written, else against canal's working dir ``<home>/bin``; and
        ``../conf`` (canal's way of naming its conf folder from there) is the folder canal.properties is
        in, whatever that folder is called."""
        return resolve_path(self.text(key, default), self.base_dir, self.conf_dir)

    def regex(self, key: str, default: str, *, black: bool = False) -> str:
        found = self.lookup(key)
        if found is None:
            return default
        try:
            RegexFilter(found[0], black=black)
        except ConfigError as exc:
            self.fail(key, found, f"bad table filter regex: {exc.__cause__ or exc}")
        return found[0]

    def hex_password(self, key: str) -> str | None:
        found = self.lookup(key)
        if found is None:
            return None
        if not _HEX40.fullmatch(found[0]):
            self.fail(key, found, "must be the 40 hex digits of SHA1(SHA1(password)), as canal stores it")
        return found[0]


def resolve_path(value: str, base_dir: str, conf_dir: str | None) -> str:
    """See :meth:`Reader.path`."""
    value = os.path.expanduser(value)
    if not os.path.isabs(value) and conf_dir is not None:
        parts = os.path.normpath(value).split(os.sep)
        if parts[:2] == ["..", "conf"]:
            return os.path.normpath(os.path.join(conf_dir, *parts[2:]))
    return os.path.normpath(os.path.join(base_dir, value))


def _placeholder_end(text: str, pos: int) -> int:
    """Index of the ``}`` closing a placeholder whose body starts at ``pos``; nested braces count."""
    depth = 0
    while pos < len(text):
        ch = text[pos]
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                return pos
            depth -= 1
        pos += 1
    return -1
