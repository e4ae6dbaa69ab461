"""GTID sets, in one place: MySQL's ``uuid[:tag]:1-5:7,uuid2:1-3`` and MariaDB's ``domain-server-seq,...``.

Every GTID set pycanal reads or writes goes through here: the configured start set, stored cursors, the
executed set canal puts into ``Header.gtid`` in GTID mode (:class:`GtidTracker`), the binary set sent in
COM_BINLOG_DUMP_GTID, the PREVIOUS_GTIDS event body, and the schema history's ordering of positions.

* :class:`MysqlGtidSet` is MySQL's set: for every (server uuid, tag) the transaction numbers as sorted,
  merged, inclusive intervals. Tagged GTIDs (MySQL 8.4, ``uuid:tag:1-5``; a tag is a letter or ``_``
  then up to 31 letters, digits or ``_``, case-insensitive) are accepted wherever a set can appear. Its
  text is MySQL's: uuids in order, and under each uuid its untagged intervals, then each tag with its
  own. Its binary form is MySQL's ``Gtid_set::encode``: the classic layout when no tag is present (what
  every server understands), the tagged layout otherwise.
* :class:`MariaGtidState` is MariaDB's GTID position: one ``domain-server-seq`` per replication domain.

Malformed text raises :class:`~pycanal.errors.InvalidGtidSet`, whichever caller passed it. Imports errors
and the binlog event values (for :class:`GtidTracker`).
"""

from __future__ import annotations

import re
import struct
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .binlog.events import GtidEvent, MariaGtidEvent
from .errors import InvalidGtidSet

__all__ = [
    "GtidKey",
    "GtidTracker",
    "MariaGtidState",
    "MysqlGtidSet",
    "is_maria_gtid_set",
    "parse_gtid_set",
]

GtidKey = tuple[str, str]  # (server uuid in canonical lowercase text, tag; "" when untagged)
Interval = tuple[int, int]  # first, last transaction number, both inclusive

MAX_GNO = (1 << 63) - 1  # transaction numbers are below 2^63 (MySQL's GNO_END)
_TAG_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
_INTERVAL_RE = re.compile(r"(\d+)(?:\s*-\s*(\d+))?")
_MARIA_RE = re.compile(r"(\d+)-(\d+)-(\d+)")
_U64 = struct.Struct("<Q")
_TAGGED_FORMAT = 1


def _merge(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    merged: list[list[int]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1][1] = hi
        else:
            merged.append([lo, hi])
    return tuple((lo, hi) for lo, hi in merged)


def _format_intervals(intervals: Iterable[Interval]) -> list[str]:
    return [f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in intervals]


def format_mysql(sets: Mapping[GtidKey, Iterable[Interval]]) -> str:
    """MySQL's text for merged intervals: uuids in order; untagged intervals first, then each tag's."""
    parts: list[str] = []
    current = ""
    for (sid, tag), ivs in sorted(sets.items()):
        texts = _format_intervals(ivs)
        if not texts:
            continue
        if sid != current:
            parts.append(sid)
            current = sid
        if tag:
            texts.insert(0, tag)
        parts[-1] += ":" + ":".join(texts)
    return ",".join(parts)


def _uuid_text(text: str, whole: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise InvalidGtidSet(f"bad GTID set {whole!r}: {text.strip()!r} is not a server uuid") from None


@dataclass(frozen=True, slots=True)
class MysqlGtidSet:
    """A MySQL GTID set; build it with :meth:`parse`, :meth:`of` or :meth:`decode`."""

    intervals: tuple[tuple[GtidKey, tuple[Interval, ...]], ...] = ()  # sorted by key, merged

    @classmethod
    def of(cls, sets: Mapping[GtidKey, Iterable[Interval]]) -> MysqlGtidSet:
        """From (uuid, tag) -> inclusive intervals, in any order and overlapping; merged here."""
        items = []
        for key, ivs in sorted(sets.items()):
            merged = _merge(ivs)
            if merged:
                items.append((key, merged))
        return cls(tuple(items))

    @classmethod
    def parse(cls, text: str) -> MysqlGtidSet:
        """MySQL's text form. Blanks and newlines between elements and empty elements are allowed; a uuid
        may appear more than once; every uuid and every tag needs at least one interval."""
        sets: dict[GtidKey, list[Interval]] = {}
        for part in text.split(","):
            if not part.strip():
                continue
            pieces = part.split(":")
            sid = _uuid_text(pieces[0], text)
            tag = ""
            counted = 0  # intervals under the current uuid or tag
            for piece in pieces[1:]:
                piece = piece.strip()
                m = _INTERVAL_RE.fullmatch(piece)
                if m is None:
                    if not _TAG_RE.fullmatch(piece):
                        raise InvalidGtidSet(f"bad GTID set {text!r}: {piece!r} is neither an interval nor a tag")
                    if tag and not counted:
                        raise InvalidGtidSet(f"bad GTID set {text!r}: tag {tag!r} has no interval")
                    tag, counted = piece.lower(), 0
                    continue
                first = int(m.group(1))
                last = int(m.group(2)) if m.group(2) is not None else first
                if first < 1 or last < first or last >= MAX_GNO:
                    raise InvalidGtidSet(f"bad GTID set {text!r}: bad interval {piece!r}")
                sets.setdefault((sid, tag), []).append((first, last))
                counted += 1
            if not counted:
                what = f"tag {tag!r}" if tag else f"{part.strip()!r}"
                raise InvalidGtidSet(f"bad GTID set {text!r}: {what} has no interval")
        return cls.of(sets)

    # -- views ---------------------------------------------------------------------------------------
    def __str__(self) -> str:
        return format_mysql(dict(self.intervals))

    def __bool__(self) -> bool:
        return bool(self.intervals)

    def as_dict(self) -> dict[GtidKey, tuple[Interval, ...]]:
        return dict(self.intervals)

    @property
    def tagged(self) -> bool:
        return any(tag for (_, tag), _ in self.intervals)

    def last_numbers(self) -> dict[GtidKey, int]:
        """The highest transaction number of every (uuid, tag)."""
        return {key: ivs[-1][1] for key, ivs in self.intervals}

    # -- binary (Gtid_set::encode) -------------------------------------------------------------------
    def encode(self) -> bytes:
        """The binary set of COM_BINLOG_DUMP_GTID and PREVIOUS_GTIDS: n_sids, then per (uuid[, tag]) the
        16 uuid bytes, [the tag,] n_intervals and (first, last + 1) pairs, all little-endian u64."""
        tagged = self.tagged
        if tagged:
            n = len(self.intervals)
            out = [bytes((_TAGGED_FORMAT,)) + n.to_bytes(6, "little") + bytes((_TAGGED_FORMAT,))]
        else:
            out = [_U64.pack(len(self.intervals))]
        for (sid, tag), ivs in self.intervals:
            out.append(uuid.UUID(sid).bytes)
            if tagged:
                raw = tag.encode("ascii")
                out.append(varlen_encode(len(raw)) + raw)
            out.append(_U64.pack(len(ivs)))
            out.extend(_U64.pack(lo) + _U64.pack(hi + 1) for lo, hi in ivs)
        return b"".join(out)

    @classmethod
    def decode(cls, data: bytes, pos: int = 0) -> tuple[MysqlGtidSet, int]:
        """The set encoded at ``data[pos:]`` and the position after it (IndexError/struct.error when
        ``data`` ends early)."""
        word = _U64.unpack_from(data, pos)[0]
        pos += 8
        tagged = word >> 56 == _TAGGED_FORMAT
        count = (word >> 8) & ((1 << 48) - 1) if tagged else word
        sets: dict[GtidKey, list[Interval]] = {}
        for _ in range(count):
            if pos + 16 > len(data):
                raise IndexError("GTID set ends inside a server uuid")
            sid = str(uuid.UUID(bytes=bytes(data[pos : pos + 16])))
            pos += 16
            tag = ""
            if tagged:
                n, pos = varlen_decode(data, pos)
                if pos + n > len(data):
                    raise IndexError("GTID set ends inside a tag")
                tag = bytes(data[pos : pos + n]).decode("ascii", "replace")
                pos += n
            n_ivs = _U64.unpack_from(data, pos)[0]
            pos += 8
            ivs = sets.setdefault((sid, tag), [])
            for _ in range(n_ivs):
                start, end = _U64.unpack_from(data, pos)[0], _U64.unpack_from(data, pos + 8)[0]
                pos += 16
                ivs.append((start, end - 1))
        return cls.of(sets), pos


def varlen_encode(value: int) -> bytes:
    """MySQL's serialization-library unsigned integer: n bytes, the low n-1 bits set, then the value."""
    for n in range(1, 9):
        if value < 1 << (7 * n):
            return ((value << n) | ((1 << (n - 1)) - 1)).to_bytes(n, "little")
    return b"\xff" + value.to_bytes(8, "little")


def varlen_decode(data: bytes, pos: int) -> tuple[int, int]:
    """Inverse of :func:`varlen_encode`: (value, position after it)."""
    first = data[pos]
    n = 1
    while n <= 8 and first >> (n - 1) & 1:
        n += 1
    if n == 1:
        return first >> 1, pos + 1
    if n > 8:
        if pos + 9 > len(data):
            raise IndexError("variable-length integer runs past the end")
        return int.from_bytes(data[pos + 1 : pos + 9], "little"), pos + 9
    if pos + n > len(data):
        raise IndexError("variable-length integer runs past the end")
    return int.from_bytes(data[pos : pos + n], "little") >> n, pos + n


@dataclass(frozen=True, slots=True)
class MariaGtidState:
    """A MariaDB GTID position: the last ``(domain, server_id, seq_no)`` of each replication domain."""

    positions: tuple[tuple[int, int, int], ...] = ()  # sorted by domain, one per domain

    @classmethod
    def parse(cls, text: str) -> MariaGtidState:
        """``0-1-100,1-2-7``; blanks and empty elements are allowed, a domain may appear once."""
        seen: dict[int, tuple[int, int, int]] = {}
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            m = _MARIA_RE.fullmatch(part)
            if m is None:
                raise InvalidGtidSet(f"bad MariaDB GTID position {text!r}: {part!r} is not domain-server-seq")
            domain, server, seq = (int(x) for x in m.groups())
            if domain >= 1 << 32 or server >= 1 << 32 or seq >= 1 << 64:
                raise InvalidGtidSet(f"bad MariaDB GTID position {text!r}: {part!r} is out of range")
            if domain in seen:
                raise InvalidGtidSet(f"bad MariaDB GTID position {text!r}: domain {domain} appears twice")
            seen[domain] = (domain, server, seq)
        return cls(tuple(seen[d] for d in sorted(seen)))

    def __str__(self) -> str:
        return ",".join(f"{d}-{s}-{q}" for d, s, q in self.positions)

    def __bool__(self) -> bool:
        return bool(self.positions)

    def as_dict(self) -> dict[int, tuple[int, int]]:
        """domain -> (server_id, seq_no)."""
        return {d: (s, q) for d, s, q in self.positions}


def is_maria_gtid_set(text: str) -> bool:
    """Whether ``text`` is in MariaDB's form (``domain-server-seq``, no ``:``). Empty text is neither."""
    first = next((p.strip() for p in text.split(",") if p.strip()), "")
    return bool(first) and ":" not in text and _MARIA_RE.fullmatch(first) is not None


def parse_gtid_set(text: str) -> MysqlGtidSet | MariaGtidState:
    """A GTID set in either form, told apart by its shape; empty text is the empty MySQL set."""
    if is_maria_gtid_set(text):
        return MariaGtidState.parse(text)
    return MysqlGtidSet.parse(text)


class GtidTracker:
    """The executed GTID set, advanced by each GTID event of the stream (canal's ``Header.gtid`` in GTID
    mode). ``start`` is the set the dump started from, in either form."""

    def __init__(self, start: str = "") -> None:
        self.maria: bool | None = is_maria_gtid_set(start) if start.strip() else None
        self._maria: dict[int, tuple[int, int]] = {}
        self._mysql: dict[GtidKey, list[list[int]]] = {}
        if self.maria:
            self._maria = MariaGtidState.parse(start).as_dict()
        elif start.strip():
            self._mysql = {k: [[lo, hi] for lo, hi in ivs] for k, ivs in MysqlGtidSet.parse(start).intervals}
        self.current = ""  # the GTID of the transaction being read
        self._text: str | None = None

    def add(self, ev: GtidEvent | MariaGtidEvent) -> None:
        if isinstance(ev, MariaGtidEvent):
            self.maria = True
            self._maria[ev.domain_id] = (ev.header.server_id, ev.seq_no)
            self.current = ev.gtid
            self._text = None
        elif not ev.anonymous:
            self.maria = False
            self._add_mysql((ev.sid, ev.tag.lower()), ev.gno)
            self.current = ev.gtid
            self._text = None

    def _add_mysql(self, key: GtidKey, gno: int) -> None:
        ivs = self._mysql.get(key)
        if ivs is None:
            self._mysql[key] = [[gno, gno]]
            return
        last = ivs[-1]
        if last[0] <= gno <= last[1]:
            return
        if gno == last[1] + 1:  # the usual case: the next transaction of this server
            last[1] = gno
            return
        merged = _merge([*((lo, hi) for lo, hi in ivs), (gno, gno)])
        self._mysql[key] = [[lo, hi] for lo, hi in merged]

    def __str__(self) -> str:
        text = self._text
        if text is None:
            if self.maria:
                text = ",".join(f"{d}-{s}-{q}" for d, (s, q) in sorted(self._maria.items()))
            else:
                text = format_mysql({k: [(lo, hi) for lo, hi in ivs] for k, ivs in self._mysql.items()})
            self._text = text
        return text
