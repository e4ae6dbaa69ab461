"""GTID sets as text, for MySQL (``uuid:1-5:7,uuid2:1-3``) and MariaDB (``0-1-100,1-2-7``).

:class:`GtidTracker` accumulates the executed set while a stream is read, as canal puts it into
``Header.gtid`` in GTID mode.
"""

from __future__ import annotations

from .binlog.events import GtidEvent, MariaGtidEvent
from .errors import ConfigError


def parse_mysql_gtid_set(text: str) -> dict[str, list[tuple[int, int]]]:
    """'uuid:1-5:7[,uuid:tag:1-3]' -> {'uuid' or 'uuid:tag': [(1, 5), (7, 7)]} (inclusive ranges)."""
    out: dict[str, list[tuple[int, int]]] = {}
    for part in text.replace("\n", "").split(","):
        part = part.strip()
        if not part:
            continue
        pieces = part.split(":")
        sid = pieces[0].strip().lower()
        if len(sid.replace("-", "")) != 32:
            raise ConfigError(f"bad GTID set {text!r}: {sid!r} is not a server uuid")
        key = sid
        for piece in pieces[1:]:
            piece = piece.strip()
            if piece and not piece[0].isdigit():
                key = f"{sid}:{piece}"
                continue
            lo, _, hi = piece.partition("-")
            try:
                rng = (int(lo), int(hi or lo))
            except ValueError as exc:
                raise ConfigError(f"bad GTID interval {piece!r} in {text!r}") from exc
            out.setdefault(key, []).append(rng)
    return out


def format_mysql_gtid_set(sets: dict[str, list[tuple[int, int]]]) -> str:
    parts = []
    for key, ranges in sets.items():
        merged: list[list[int]] = []
        for lo, hi in sorted(ranges):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        parts.append(":".join([key, *(f"{a}" if a == b else f"{a}-{b}" for a, b in merged)]))
    return ",".join(parts)


def parse_maria_gtid_set(text: str) -> dict[int, tuple[int, int]]:
    """'0-1-100,1-2-7' -> {domain: (server_id, seq_no)}."""
    out: dict[int, tuple[int, int]] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            domain, server, seq = (int(x) for x in part.split("-"))
        except ValueError as exc:
            raise ConfigError(f"bad MariaDB GTID {part!r} in {text!r}: expected domain-server-seq") from exc
        out[domain] = (server, seq)
    return out


def is_maria_gtid_set(text: str) -> bool:
    first = text.split(",", 1)[0].strip()
    return bool(first) and ":" not in first and first.count("-") == 2


class GtidTracker:
    """The executed GTID set, advanced by each GTID event of the stream."""

    def __init__(self, start: str = "") -> None:
        self.maria = is_maria_gtid_set(start) if start else None
        self._maria: dict[int, tuple[int, int]] = parse_maria_gtid_set(start) if self.maria else {}
        self._mysql: dict[str, list[tuple[int, int]]] = parse_mysql_gtid_set(start) if start and not self.maria else {}
        self.current = ""  # the GTID of the transaction being read

    def add(self, ev: GtidEvent | MariaGtidEvent) -> None:
        if isinstance(ev, MariaGtidEvent):
            self.maria = True
            self._maria[ev.domain_id] = (ev.header.server_id, ev.seq_no)
            self.current = ev.gtid
        elif not ev.anonymous:
            self.maria = False
            key = f"{ev.sid}:{ev.tag}" if ev.tag else ev.sid
            self._mysql.setdefault(key, []).append((ev.gno, ev.gno))
            self.current = ev.gtid

    def __str__(self) -> str:
        if self.maria:
            return ",".join(f"{d}-{s}-{q}" for d, (s, q) in sorted(self._maria.items()))
        text = format_mysql_gtid_set(self._mysql)
        # keep the stored ranges compact
        self._mysql = parse_mysql_gtid_set(text) if text else {}
        return text
