"""canal's table name filters, with canal's exact semantics (canal-spec.md section 6.3).

``AviaterRegexFilter``: the configured text is split on commas outside ``{}``, ``[]`` and ``()`` (and not
backslash-escaped), the pieces are sorted longest first, each is anchored as ``^piece$``, and the
alternation is matched case-insensitively (and with ``.`` matching newlines) against the whole
lower-cased ``schema.table``. An empty pattern or empty target accepts everything in a white list and
nothing in a black list.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .errors import ConfigError


def split_patterns(text: str) -> list[str]:
    """Split on top-level commas, keeping commas inside brackets and escaped commas."""
    parts: list[str] = []
    depth = 0
    cur: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


class RegexFilter:
    """A white (``black=False``) or black list of ``schema.table`` regexes."""

    def __init__(self, pattern: str | None, *, black: bool = False) -> None:
        self.pattern = (pattern or "").strip()
        self.black = black
        pieces = sorted(split_patterns(self.pattern), key=len, reverse=True)
        self._regex: re.Pattern[str] | None = None
        if pieces:
            joined = "|".join(f"^{p}$" for p in pieces)
            try:
                self._regex = re.compile(joined, re.IGNORECASE | re.DOTALL)
            except re.error as exc:
                raise ConfigError(f"bad table filter regex {self.pattern!r}: {exc}") from exc
        self._cache = lru_cache(maxsize=4096)(self._match)

    def _match(self, target: str) -> bool:
        assert self._regex is not None
        return self._regex.fullmatch(target.lower()) is not None

    def filter(self, target: str) -> bool:
        """True when ``target`` passes a white list / is listed in a black list."""
        if self._regex is None or not target:
            return not self.black
        return self._cache(target)

    def __repr__(self) -> str:
        return f"RegexFilter({self.pattern!r}, black={self.black})"


class TableFilter:
    """White list and black list together: a table passes when white accepts and black does not."""

    def __init__(self, white: str | None = None, black: str | None = None) -> None:
        self.white = RegexFilter(white)
        self.black = RegexFilter(black, black=True)

    def accepts(self, schema: str, table: str) -> bool:
        target = f"{schema}.{table}"
        return self.white.filter(target) and not self.black.filter(target)
