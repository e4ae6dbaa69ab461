"""Sans-IO binlog decoder: event bytes in, event values out.

:class:`BinlogDecoder` keeps the state a binlog reader needs (the format description, whether events
carry a CRC32, the current file name, the table maps in force) and turns the bytes of one event into one
event object. It never reads a socket or a file: :meth:`BinlogDecoder.decode` takes the bytes of exactly
one event (as a replication stream delivers them), and :class:`BinlogFileReader` splits a binlog file's
bytes into events with ``feed()`` / ``next_event()`` (h11 style) for offline decoding.

Every event type is decoded or raises :class:`UnknownEventError`: none is skipped silently.
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import tzinfo
from types import MappingProxyType
from typing import Any

from ..errors import (
    ChecksumError,
    ColumnCountMismatch,
    DecodeError,
    TableMapMissing,
    TruncatedEventError,
    UnknownEventError,
)
from ..gtid import MysqlGtidSet, varlen_decode
from . import constants as C
from .events import (
    BinlogCheckpointEvent,
    ColumnInfo,
    Event,
    EventHeader,
    FormatDescriptionEvent,
    GtidEvent,
    HeartbeatEvent,
    IgnorableEvent,
    IncidentEvent,
    IntVarEvent,
    LoadBlockEvent,
    MariaGtidEvent,
    MariaGtidListEvent,
    PreviousGtidsEvent,
    QueryEvent,
    RandEvent,
    RotateEvent,
    RowsEvent,
    RowsQueryEvent,
    StopEvent,
    TableMapEvent,
    TransactionPayloadEvent,
    UserVarEvent,
    XaPrepareEvent,
    XidEvent,
)
from .rows import RowDecoder

log = logging.getLogger(__name__)
_HEADER = struct.Struct("<IBIIIH")
_NUMERIC_TYPES = frozenset(
    (
        C.MYSQL_TYPE_TINY,
        C.MYSQL_TYPE_SHORT,
        C.MYSQL_TYPE_INT24,
        C.MYSQL_TYPE_LONG,
        C.MYSQL_TYPE_LONGLONG,
        C.MYSQL_TYPE_FLOAT,
        C.MYSQL_TYPE_DOUBLE,
        C.MYSQL_TYPE_NEWDECIMAL,
        C.MYSQL_TYPE_DECIMAL,
    )
)
_CHARACTER_TYPES = frozenset(
    (
        C.MYSQL_TYPE_STRING,
        C.MYSQL_TYPE_VAR_STRING,
        C.MYSQL_TYPE_VARCHAR,
        C.MYSQL_TYPE_BLOB,
        C.MYSQL_TYPE_TINY_BLOB,
        C.MYSQL_TYPE_MEDIUM_BLOB,
        C.MYSQL_TYPE_LONG_BLOB,
    )
)
_ROWS_KIND = {
    C.WRITE_ROWS_V1: "INSERT",
    C.WRITE_ROWS_V2: "INSERT",
    C.MARIA_WRITE_ROWS_COMPRESSED_V1: "INSERT",
    C.MARIA_WRITE_ROWS_COMPRESSED: "INSERT",
    C.PRE_GA_WRITE_ROWS: "INSERT",
    C.UPDATE_ROWS_V1: "UPDATE",
    C.UPDATE_ROWS_V2: "UPDATE",
    C.MARIA_UPDATE_ROWS_COMPRESSED_V1: "UPDATE",
    C.MARIA_UPDATE_ROWS_COMPRESSED: "UPDATE",
    C.PARTIAL_UPDATE_ROWS: "UPDATE",
    C.PRE_GA_UPDATE_ROWS: "UPDATE",
    C.DELETE_ROWS_V1: "DELETE",
    C.DELETE_ROWS_V2: "DELETE",
    C.MARIA_DELETE_ROWS_COMPRESSED_V1: "DELETE",
    C.MARIA_DELETE_ROWS_COMPRESSED: "DELETE",
    C.PRE_GA_DELETE_ROWS: "DELETE",
}
_ROWS_V2 = frozenset(
    (
        C.WRITE_ROWS_V2,
        C.UPDATE_ROWS_V2,
        C.DELETE_ROWS_V2,
        C.PARTIAL_UPDATE_ROWS,
        C.MARIA_WRITE_ROWS_COMPRESSED,
        C.MARIA_UPDATE_ROWS_COMPRESSED,
        C.MARIA_DELETE_ROWS_COMPRESSED,
    )
)
_ROWS_COMPRESSED = frozenset(range(C.MARIA_WRITE_ROWS_COMPRESSED_V1, C.MARIA_DELETE_ROWS_COMPRESSED + 1))
LOG_EVENT_IGNORABLE_F = 0x80

# A schema resolver knows what the TABLE_MAP may not carry (names, column-type text, signedness, charsets,
# keys), from information_schema or a schema history. It is called once per distinct TABLE_MAP and returns
# the table's columns completed (new ColumnInfo values, as many as the TABLE_MAP has; the TABLE_MAP is never
# written to), or None when it knows nothing to add. It may raise ColumnCountMismatch or DecodeError.
SchemaResolver = Callable[[TableMapEvent], "Sequence[ColumnInfo] | None"]


class _Cursor:
    """A read cursor over one event body. Raises TruncatedEventError past the end."""

    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: bytes, pos: int, end: int) -> None:
        self.buf, self.pos, self.end = buf, pos, end

    def take(self, n: int) -> bytes:
        p = self.pos
        if p + n > self.end:
            raise TruncatedEventError(f"needs {n} more bytes at offset {p}, only {self.end - p} left")
        self.pos = p + n
        return self.buf[p : p + n]

    def u8(self) -> int:
        return self.take(1)[0]

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little")

    def lenenc(self) -> int:
        first = self.u8()
        if first < 0xFB:
            return first
        if first == 0xFC:
            return self.uint(2)
        if first == 0xFD:
            return self.uint(3)
        if first == 0xFE:
            return self.uint(8)
        raise TruncatedEventError(f"bad length-encoded integer prefix 0x{first:02x}")

    def lenenc_bytes(self) -> bytes:
        return self.take(self.lenenc())

    def rest(self) -> bytes:
        return self.take(self.end - self.pos)

    @property
    def left(self) -> int:
        return self.end - self.pos


def _uncompress_maria(data: bytes) -> bytes:
    """MariaDB's binlog compression: 1 byte (0x80 | n), n bytes big-endian raw length, zlib stream."""
    if not data:
        raise DecodeError("compressed event body is empty")
    lenlen = data[0] & 0x07
    size = int.from_bytes(data[1 : 1 + lenlen], "big")
    try:
        out = zlib.decompress(data[1 + lenlen :])
    except zlib.error as exc:
        raise DecodeError(f"compressed event does not inflate: {exc}") from exc
    if len(out) != size:
        raise DecodeError(f"compressed event inflates to {len(out)} bytes, header says {size}")
    return out


class BinlogDecoder:
    """Decodes one binlog event at a time and keeps the stream state between events.

    ``checksum``: True/False when the caller knows (a replication connection negotiated it), None to
    learn it from the FORMAT_DESCRIPTION event (file reading), and, before that, from the CRC itself.
    ``log_file``: the file name events are attributed to until a ROTATE says otherwise.
    """

    def __init__(
        self,
        *,
        checksum: bool | None = None,
        log_file: str = "",
        schema_resolver: SchemaResolver | None = None,
        default_charset: str = "utf-8",
        tz: tzinfo | None = None,
        verify_checksum: bool = True,
        skip_table_errors: bool = False,
    ) -> None:
        self.checksum = checksum
        self.log_file = log_file
        self.schema_resolver = schema_resolver
        self.default_charset = default_charset
        self.tz = tz
        self.verify_checksum = verify_checksum
        self.skip_table_errors = skip_table_errors
        self.format: FormatDescriptionEvent | None = None
        # table id -> the table map in force and its row decoder (None: the table's rows are skipped)
        self._in_force: dict[int, tuple[TableMapEvent, RowDecoder | None]] = {}
        # body bytes of a TABLE_MAP -> its resolved value (a template) and its row decoder
        self._table_cache: dict[bytes, tuple[TableMapEvent, RowDecoder]] = {}
        # (table id, resolved columns) -> row decoder: after invalidate_tables() an unchanged table reuses it
        self._row_decoders: dict[tuple[int, tuple[ColumnInfo, ...]], RowDecoder] = {}
        self._table_id_size = 6
        self._post_header: bytes = b""
        self.last_event: Event | None = None

    # ---------------------------------------------------------------------------------------------
    def decode(self, data: bytes) -> Event:
        """Decode the bytes of exactly one event (header .. checksum)."""
        if len(data) < C.HEADER_LEN:
            raise TruncatedEventError(
                f"event of {len(data)} bytes is shorter than the {C.HEADER_LEN}-byte header",
                log_file=self.log_file,
            )
        ts, type_code, server_id, size, log_pos, flags = _HEADER.unpack_from(data, 0)
        start = log_pos - size if log_pos >= size else log_pos
        if size != len(data):
            raise TruncatedEventError(
                f"event header says {size} bytes, got {len(data)}",
                log_file=self.log_file,
                log_pos=start,
                event_type=type_code,
            )
        header = EventHeader(ts, type_code, server_id, size, log_pos, flags)
        end = size
        has_crc = self.checksum
        if type_code == C.FORMAT_DESCRIPTION:
            has_crc = None  # the event itself says
        elif has_crc is None:
            # Before the first FORMAT_DESCRIPTION (the fake ROTATE of a dump): trust the CRC if it fits.
            has_crc = size > C.HEADER_LEN + 4 and zlib.crc32(data[:-4]) == int.from_bytes(data[-4:], "little")
        if has_crc:
            end -= 4
            if self.verify_checksum and zlib.crc32(data[:end]) != int.from_bytes(data[end:], "little"):
                raise ChecksumError("CRC32 mismatch", log_file=self.log_file, log_pos=start, event_type=type_code)
        try:
            event = self._dispatch(header, data, end)
        except DecodeError as exc:
            if exc.log_pos is None:
                raise type(exc)(exc.reason, log_file=self.log_file, log_pos=start, event_type=type_code) from exc
            raise
        except (IndexError, struct.error, ValueError) as exc:
            raise TruncatedEventError(
                f"malformed {C.EVENT_NAMES.get(type_code, type_code)} event: {exc}",
                log_file=self.log_file,
                log_pos=start,
                event_type=type_code,
            ) from exc
        self.last_event = event
        return event

    def _dispatch(self, h: EventHeader, data: bytes, end: int) -> Event:
        t = h.type_code
        cur = _Cursor(data, C.HEADER_LEN, end)
        if t in _ROWS_KIND:
            return self._rows(h, cur, t)
        if t == C.TABLE_MAP:
            return self._table_map(h, cur)
        handler = _HANDLERS.get(t)
        if handler is not None:
            return handler(self, h, cur)
        if t in (C.TRANSACTION_CONTEXT, C.VIEW_CHANGE, C.MARIA_START_ENCRYPTION, C.IGNORABLE) or (
            h.flags & LOG_EVENT_IGNORABLE_F
        ):
            return IgnorableEvent(h, self.log_file, cur.rest())
        raise UnknownEventError(f"unknown binlog event type {t}")

    # --- format & files ---------------------------------------------------------------------------
    def _format_description(self, h: EventHeader, cur: _Cursor) -> Event:
        version = cur.uint(2)
        server_version = cur.take(50).split(b"\0", 1)[0].decode("ascii", "replace")
        created = cur.uint(4)
        header_len = cur.u8()
        body = cur.rest()
        alg = C.CHECKSUM_OFF
        if _checksum_aware(server_version):
            # trailer: 1 byte algorithm + 4 bytes CRC (present even when the algorithm is OFF)
            alg = body[-5]
            post = body[:-5]
            if alg == C.CHECKSUM_CRC32 and self.verify_checksum:
                # The server checksums FORMAT_DESCRIPTION with LOG_EVENT_BINLOG_IN_USE_F clear and
                # sets that flag in the file while it is open; verify with the flag cleared.
                full = bytearray(cur.buf[: h.event_size])
                full[17] &= ~0x01
                if zlib.crc32(full[:-4]) != int.from_bytes(full[-4:], "little"):
                    raise ChecksumError("CRC32 mismatch in FORMAT_DESCRIPTION")
        else:
            post = body
        self._post_header = post
        self.checksum = alg == C.CHECKSUM_CRC32
        tm_len = post[C.TABLE_MAP - 1] if len(post) >= C.TABLE_MAP else 8
        self._table_id_size = 4 if tm_len == 6 else 6
        fde = FormatDescriptionEvent(h, self.log_file, version, server_version, created, header_len, post, alg)
        self.format = fde
        return fde

    def _rotate(self, h: EventHeader, cur: _Cursor) -> Event:
        position = cur.uint(8)
        name = cur.rest().decode("utf-8", "replace")
        if name != self.log_file:
            self._in_force.clear()
        self.log_file = name
        return RotateEvent(h, name, position, name)

    # --- statements & transactions ------------------------------------------------------------------
    def _query(self, h: EventHeader, cur: _Cursor, compressed: bool = False) -> Event:
        thread_id = cur.uint(4)
        exec_time = cur.uint(4)
        schema_len = cur.u8()
        error_code = cur.uint(2)
        status_len = cur.uint(2)
        status = cur.take(status_len)
        schema = cur.take(schema_len).decode("utf-8", "replace")
        cur.take(1)  # NUL after the schema
        raw = cur.rest()
        if compressed:
            raw = _uncompress_maria(raw)
        sql_mode, charset, tz_name = _parse_status_vars(status)
        codec = "utf-8"
        query = raw.decode(codec, "surrogateescape")
        return QueryEvent(
            h,
            self.log_file,
            thread_id,
            exec_time,
            error_code,
            schema,
            query,
            status,
            sql_mode,
            charset,
            tz_name,
            compressed,
        )

    def _query_compressed(self, h: EventHeader, cur: _Cursor) -> Event:
        return self._query(h, cur, compressed=True)

    def _xid(self, h: EventHeader, cur: _Cursor) -> Event:
        return XidEvent(h, self.log_file, cur.uint(8))

    def _xa_prepare(self, h: EventHeader, cur: _Cursor) -> Event:
        one_phase = bool(cur.u8())
        format_id = cur.uint(4)
        gtrid_len = cur.uint(4)
        bqual_len = cur.uint(4)
        gtrid = cur.take(gtrid_len)
        bqual = cur.take(bqual_len)
        return XaPrepareEvent(h, self.log_file, one_phase, format_id, gtrid, bqual)

    def _begin_load_query(self, h: EventHeader, cur: _Cursor) -> Event:
        """BEGIN_LOAD_QUERY / APPEND_BLOCK: a chunk of a LOAD DATA file."""
        return LoadBlockEvent(h, self.log_file, cur.uint(4), cur.rest())

    def _delete_file(self, h: EventHeader, cur: _Cursor) -> Event:
        return LoadBlockEvent(h, self.log_file, cur.uint(4), b"")

    def _execute_load_query(self, h: EventHeader, cur: _Cursor) -> Event:
        """EXECUTE_LOAD_QUERY: a QUERY post-header plus file id, file-name offsets and dup handling."""
        thread_id = cur.uint(4)
        exec_time = cur.uint(4)
        schema_len = cur.u8()
        error_code = cur.uint(2)
        status_len = cur.uint(2)
        file_id = cur.uint(4)
        cur.uint(4)  # start of the file name in the query
        cur.uint(4)  # end
        cur.u8()  # duplicate handling
        status = cur.take(status_len)
        schema = cur.take(schema_len).decode("utf-8", "replace")
        cur.take(1)
        sql_mode, charset, tz_name = _parse_status_vars(status)
        query = cur.rest().decode("utf-8", "surrogateescape")
        return QueryEvent(
            h,
            self.log_file,
            thread_id,
            exec_time,
            error_code,
            schema,
            query,
            status,
            sql_mode,
            charset,
            tz_name,
            load_file_id=file_id,
        )

    def _stop(self, h: EventHeader, cur: _Cursor) -> Event:
        return StopEvent(h, self.log_file)

    def _incident(self, h: EventHeader, cur: _Cursor) -> Event:
        incident = cur.uint(2)
        if incident not in (0, 1):  # NONE, LOST_EVENTS; MySQL refuses any other number too
            raise DecodeError(f"INCIDENT event with invalid incident number {incident}")
        msg = cur.take(cur.u8()).decode("utf-8", "replace") if cur.left else ""
        return IncidentEvent(h, self.log_file, incident, msg)

    def _heartbeat(self, h: EventHeader, cur: _Cursor) -> Event:
        # v1: the body is the current binlog name; the header's log_pos is the position.
        return HeartbeatEvent(h, self.log_file, cur.rest().decode("utf-8", "replace"), h.log_pos)

    def _heartbeat_v2(self, h: EventHeader, cur: _Cursor) -> Event:
        # v2 (MySQL 8.0.26+): TLV fields, 0 = log file name, 1 = log position
        name, position = "", None
        while cur.left:
            tag = cur.u8()
            value = cur.lenenc_bytes()
            if tag == 0:
                name = value.decode("utf-8", "replace")
            elif tag == 1:
                position = _Cursor(value, 0, len(value)).lenenc()
        return HeartbeatEvent(h, self.log_file, name, position)

    def _intvar(self, h: EventHeader, cur: _Cursor) -> Event:
        return IntVarEvent(h, self.log_file, cur.u8(), cur.uint(8))

    def _rand(self, h: EventHeader, cur: _Cursor) -> Event:
        return RandEvent(h, self.log_file, cur.uint(8), cur.uint(8))

    def _user_var(self, h: EventHeader, cur: _Cursor) -> Event:
        name = cur.take(cur.uint(4)).decode("utf-8", "replace")
        is_null = bool(cur.u8())
        if is_null:
            return UserVarEvent(h, self.log_file, name, True, 0, 0, None)
        vtype = cur.u8()
        charset = cur.uint(4)
        raw = cur.take(cur.uint(4))
        flags = cur.u8() if cur.left else 0
        value: Any
        if vtype == 0:  # STRING_RESULT
            value = raw.decode("latin-1" if charset == 63 else "utf-8", "replace")
        elif vtype == 1:  # REAL_RESULT
            value = struct.unpack("<d", raw)[0]
        elif vtype == 2:  # INT_RESULT
            value = int.from_bytes(raw, "little", signed=not (flags & 1))
        elif vtype == 4:  # DECIMAL_RESULT: precision, scale, binary decimal
            from .rows import decode_decimal

            value = decode_decimal(raw[2:], raw[0], raw[1])
        else:
            value = raw
        return UserVarEvent(h, self.log_file, name, False, vtype, charset, value, flags)

    def _rows_query(self, h: EventHeader, cur: _Cursor) -> Event:
        cur.take(1)  # length byte, unreliable past 255: the text runs to the end
        return RowsQueryEvent(h, self.log_file, cur.rest().decode("utf-8", "surrogateescape"))

    def _annotate_rows(self, h: EventHeader, cur: _Cursor) -> Event:
        return RowsQueryEvent(h, self.log_file, cur.rest().decode("utf-8", "surrogateescape"))

    # --- GTIDs --------------------------------------------------------------------------------------
    def _gtid(self, h: EventHeader, cur: _Cursor) -> Event:
        tagged = h.type_code == C.GTID_TAGGED
        if tagged:
            return self._gtid_tagged(h, cur)
        commit_flag = cur.u8()
        sid = _uuid(cur.take(16))
        gno = cur.uint(8)
        last_committed = sequence_number = immediate = original = length = None
        if cur.left and cur.buf[cur.pos] == 2:  # LOGICAL_TIMESTAMP_TYPECODE
            cur.take(1)
            last_committed = cur.uint(8)
            sequence_number = cur.uint(8)
            if cur.left >= 7:
                ts = cur.uint(7)
                if ts & (1 << 55):
                    ts &= ~(1 << 55)
                    original = cur.uint(7)
                else:
                    original = ts
                immediate = ts
                if cur.left:
                    length = cur.lenenc()
        return GtidEvent(
            h,
            self.log_file,
            h.type_code == C.ANONYMOUS_GTID,
            commit_flag,
            sid,
            gno,
            "",
            last_committed,
            sequence_number,
            immediate,
            original,
            length,
        )

    def _gtid_tagged(self, h: EventHeader, cur: _Cursor) -> Event:
        """MySQL 8.4+ GTID_TAGGED: fields in MySQL's serialization format (varlen ints, zigzag signed)."""
        f = _read_serialized_fields(cur)
        return GtidEvent(
            h,
            self.log_file,
            False,
            f.get(0, 0),
            _uuid(f.get(1, bytes(16))),
            f.get(2, 0),
            f.get(3, ""),
            last_committed=f.get(4),
            sequence_number=f.get(5),
            immediate_commit_timestamp=f.get(6),
            original_commit_timestamp=f.get(7, f.get(6)),
            transaction_length=f.get(8),
        )

    def _previous_gtids(self, h: EventHeader, cur: _Cursor) -> Event:
        gtid_set, _ = MysqlGtidSet.decode(cur.rest())
        return PreviousGtidsEvent(h, self.log_file, str(gtid_set))

    def _maria_gtid(self, h: EventHeader, cur: _Cursor) -> Event:
        seq_no = cur.uint(8)
        domain_id = cur.uint(4)
        flags2 = cur.u8()
        commit_id = xid = None
        if flags2 & 2 and cur.left >= 8:  # FL_GROUP_COMMIT_ID
            commit_id = cur.uint(8)
        elif flags2 & (64 | 128) and cur.left >= 6:  # FL_PREPARED_XA / FL_COMPLETED_XA
            fmt = cur.uint(4)
            glen = cur.u8()
            blen = cur.u8()
            xid = (fmt, cur.take(glen), cur.take(blen))
        return MariaGtidEvent(h, self.log_file, domain_id, seq_no, flags2, commit_id, xid)

    def _maria_gtid_list(self, h: EventHeader, cur: _Cursor) -> Event:
        count = cur.uint(4) & 0x0FFFFFFF
        gtids = []
        for _ in range(count):
            domain, server, seq = cur.uint(4), cur.uint(4), cur.uint(8)
            gtids.append(f"{domain}-{server}-{seq}")
        return MariaGtidListEvent(h, self.log_file, tuple(gtids))

    def _binlog_checkpoint(self, h: EventHeader, cur: _Cursor) -> Event:
        n = cur.uint(4)
        return BinlogCheckpointEvent(h, self.log_file, cur.take(n).decode("utf-8", "replace"))

    # --- MySQL 8 compressed transactions -------------------------------------------------------------
    def _transaction_payload(self, h: EventHeader, cur: _Cursor) -> Event:
        fields = _read_payload_header(cur)
        ctype = int(fields.get(2, 0))
        usize = int(fields.get(3, 0))
        psize = int(fields.get(1, cur.left))
        payload = cur.take(min(psize, cur.left)) if psize else cur.rest()
        if ctype == 0:
            import zstandard

            try:
                raw = zstandard.ZstdDecompressor().decompress(payload, max_output_size=max(usize, 1 << 20))
            except zstandard.ZstdError as exc:
                raise DecodeError(f"TRANSACTION_PAYLOAD does not decompress: {exc}") from exc
        elif ctype == 255:
            raw = payload
        else:
            raise DecodeError(f"TRANSACTION_PAYLOAD uses unknown compression type {ctype}")
        # Inner events carry no CRC32 and a log_pos of 0; decode them with checksums off.
        inner: list[Event] = []
        saved = self.checksum
        self.checksum = False
        try:
            pos = 0
            while pos < len(raw):
                if len(raw) - pos < C.HEADER_LEN:
                    raise TruncatedEventError("TRANSACTION_PAYLOAD ends inside an event header")
                size = int.from_bytes(raw[pos + 9 : pos + 13], "little")
                if size < C.HEADER_LEN or pos + size > len(raw):
                    raise TruncatedEventError(f"TRANSACTION_PAYLOAD inner event of {size} bytes overruns")
                inner.append(self.decode(raw[pos : pos + size]))
                pos += size
        finally:
            self.checksum = saved
        return TransactionPayloadEvent(h, self.log_file, ctype, psize, usize, tuple(inner))

    # --- tables & rows ------------------------------------------------------------------------------
    def _table_map(self, h: EventHeader, cur: _Cursor) -> Event:
        body = cur.buf[cur.pos : cur.end]
        cached = self._table_cache.get(body)
        if cached is not None:
            # same table, same layout: reuse the resolved columns and the row decoder
            t, dec = cached
            ev = TableMapEvent(
                h,
                self.log_file,
                t.table_id,
                t.schema,
                t.table,
                t.columns,
                t.has_names,
                t.primary_key,
                t.optional_metadata,
                t.table_error,
            )
            self._in_force[ev.table_id] = (ev, dec)
            return ev
        table_id = cur.uint(self._table_id_size)
        cur.uint(2)  # flags
        schema = cur.take(cur.u8()).decode("utf-8", "replace")
        cur.take(1)
        table = cur.take(cur.u8()).decode("utf-8", "replace")
        cur.take(1)
        ncols = cur.lenenc()
        types = cur.take(ncols)
        meta_len = cur.lenenc()
        meta_block = _Cursor(cur.buf, cur.pos, cur.pos + meta_len)
        cur.pos = meta_block.end
        if meta_block.end > cur.end:
            raise TruncatedEventError("TABLE_MAP metadata block overruns the event")
        nullable = int.from_bytes(cur.take((ncols + 7) // 8), "little")
        raw: list[tuple[int, int, bool, int]] = []
        for i, col_type in enumerate(types):
            meta, real = _column_meta(col_type, meta_block)
            raw.append((real, meta, bool(nullable >> i & 1), col_type))
        if meta_block.pos != meta_block.end:
            raise DecodeError(
                f"TABLE_MAP {schema}.{table}: column metadata is {meta_block.end - meta_block.pos} bytes longer "
                "than the column types need"
            )
        optional: dict[int, bytes] = {}
        while cur.left:
            code = cur.u8()
            optional[code] = cur.lenenc_bytes()
        columns, primary_key = _table_columns(raw, optional, mariadb=self.format is not None and self.format.is_mariadb)
        ev = TableMapEvent(
            h,
            self.log_file,
            table_id,
            schema,
            table,
            columns,
            C.META_COLUMN_NAME in optional,
            primary_key,
            MappingProxyType(optional),
        )
        if self.schema_resolver is not None:
            try:
                resolved = self.schema_resolver(ev)
            except (ColumnCountMismatch, DecodeError) as exc:
                if not self.skip_table_errors:
                    raise
                # canal.instance.filter.table.error=true: the user chose to pass over this table's rows
                log.warning("skipping the rows of %s.%s (filter.table.error): %s", schema, table, exc)
                ev = replace(ev, table_error=str(exc))
                self._in_force[table_id] = (ev, None)
                return ev
            if resolved is not None:
                resolved = tuple(resolved)
                if len(resolved) != len(columns):
                    raise DecodeError(
                        f"the schema resolver gave {len(resolved)} columns for {schema}.{table}, "
                        f"whose TABLE_MAP has {len(columns)}"
                    )
                ev = replace(ev, columns=resolved)
        dec = self._row_decoder(ev)
        if len(self._table_cache) > 4096:
            self._table_cache.clear()
        self._table_cache[body] = (ev, dec)
        self._in_force[table_id] = (ev, dec)
        return ev

    def _row_decoder(self, table: TableMapEvent) -> RowDecoder:
        """The row decoder of a (resolved) table map, built once per table id and column signature."""
        key = (table.table_id, table.columns)
        dec = self._row_decoders.get(key)
        if dec is None:
            dec = RowDecoder(table.columns, self.default_charset, self.tz)
            if len(self._row_decoders) > 4096:
                self._row_decoders.clear()
            self._row_decoders[key] = dec
        return dec

    @property
    def tables(self) -> dict[int, TableMapEvent]:
        """The table maps in force, by table id (a copy)."""
        return {table_id: t for table_id, (t, _) in self._in_force.items()}

    def invalidate_tables(self) -> None:
        """Forget cached table layouts (after DDL, or when the schema resolver's answers change)."""
        self._table_cache.clear()

    def _rows(self, h: EventHeader, cur: _Cursor, t: int) -> Event:
        table_id = cur.uint(self._table_id_size)
        flags = cur.uint(2)
        if t in _ROWS_V2:
            extra = cur.uint(2)
            if extra < 2:
                raise DecodeError(f"rows event extra-data length {extra} is below 2")
            cur.take(extra - 2)
        in_force = self._in_force.get(table_id)
        if in_force is None:
            raise TableMapMissing(f"rows event for table id {table_id} without a preceding TABLE_MAP")
        table, dec = in_force
        if dec is None:
            log.warning(
                "skipped a %s rows event of %s.%s at %s:%d (filter.table.error): %s",
                C.EVENT_NAMES.get(t, t),
                table.schema,
                table.table,
                self.log_file,
                h.start_pos,
                table.table_error,
            )
            return IgnorableEvent(h, self.log_file, cur.rest())
        ncols = cur.lenenc()
        if ncols != len(table.columns):
            raise ColumnCountMismatch(
                f"rows event for {table.schema}.{table.table} has {ncols} columns, "
                f"its TABLE_MAP has {len(table.columns)}"
            )
        nbytes = (ncols + 7) // 8
        present = _bits(cur.take(nbytes), ncols)
        kind = _ROWS_KIND[t]
        present_after = _bits(cur.take(nbytes), ncols) if kind == "UPDATE" else None
        buf, pos, end = cur.buf, cur.pos, cur.end
        compressed = t in _ROWS_COMPRESSED
        if compressed:
            buf = _uncompress_maria(buf[pos:end])
            pos, end = 0, len(buf)
        try:
            if t == C.PARTIAL_UPDATE_ROWS:
                assert present_after is not None
                rows: list[Any] = dec.read_partial_update_rows(buf, pos, end, present, present_after)
            elif present_after is not None:
                rows = dec.read_update_rows(buf, pos, end, present, present_after)
            else:
                rows = dec.read_rows(buf, pos, end, present)
        except (IndexError, struct.error) as exc:
            raise TruncatedEventError(f"rows of {table.schema}.{table.table} run past the event end: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise DecodeError(f"a text value of {table.schema}.{table.table} is not valid in its charset: {exc}")
        return RowsEvent(
            h,
            self.log_file,
            table_id,
            flags,
            table,
            present,
            present_after,
            rows,
            kind,
            compressed,
            t == C.PARTIAL_UPDATE_ROWS,
        )


_HANDLERS: dict[int, Callable[[BinlogDecoder, EventHeader, _Cursor], Event]] = {
    C.FORMAT_DESCRIPTION: BinlogDecoder._format_description,
    C.ROTATE: BinlogDecoder._rotate,
    C.QUERY: BinlogDecoder._query,
    C.MARIA_QUERY_COMPRESSED: BinlogDecoder._query_compressed,
    C.XID: BinlogDecoder._xid,
    C.XA_PREPARE: BinlogDecoder._xa_prepare,
    C.STOP: BinlogDecoder._stop,
    C.BEGIN_LOAD_QUERY: BinlogDecoder._begin_load_query,
    C.APPEND_BLOCK: BinlogDecoder._begin_load_query,
    C.DELETE_FILE: BinlogDecoder._delete_file,
    C.EXECUTE_LOAD_QUERY: BinlogDecoder._execute_load_query,
    C.INCIDENT: BinlogDecoder._incident,
    C.HEARTBEAT: BinlogDecoder._heartbeat,
    C.HEARTBEAT_V2: BinlogDecoder._heartbeat_v2,
    C.INTVAR: BinlogDecoder._intvar,
    C.RAND: BinlogDecoder._rand,
    C.USER_VAR: BinlogDecoder._user_var,
    C.ROWS_QUERY: BinlogDecoder._rows_query,
    C.MARIA_ANNOTATE_ROWS: BinlogDecoder._annotate_rows,
    C.GTID: BinlogDecoder._gtid,
    C.ANONYMOUS_GTID: BinlogDecoder._gtid,
    C.GTID_TAGGED: BinlogDecoder._gtid_tagged,
    C.PREVIOUS_GTIDS: BinlogDecoder._previous_gtids,
    C.MARIA_GTID: BinlogDecoder._maria_gtid,
    C.MARIA_GTID_LIST: BinlogDecoder._maria_gtid_list,
    C.MARIA_BINLOG_CHECKPOINT: BinlogDecoder._binlog_checkpoint,
    C.TRANSACTION_PAYLOAD: BinlogDecoder._transaction_payload,
}


# --------------------------------------------------------------------------------------------------
# helpers


def _checksum_aware(server_version: str) -> bool:
    """Servers from MySQL 5.6.1 / MariaDB 5.3 on write the checksum algorithm into FORMAT_DESCRIPTION."""
    digits = []
    for part in server_version.split("-", 1)[0].split(".")[:3]:
        num = "".join(ch for ch in part if ch.isdigit())
        digits.append(int(num) if num else 0)
    while len(digits) < 3:
        digits.append(0)
    ver = tuple(digits)
    if "mariadb" in server_version.lower():
        return ver >= (5, 3, 0)
    return ver >= (5, 6, 1)


def _bits(data: bytes, n: int) -> tuple[int, ...]:
    v = int.from_bytes(data, "little")
    return tuple(i for i in range(n) if v >> i & 1)


def _uuid(b: bytes) -> str:
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _column_meta(t: int, cur: _Cursor) -> tuple[int, int]:
    """(metadata, real type) for one column from the TABLE_MAP metadata block."""
    if t in (
        C.MYSQL_TYPE_FLOAT,
        C.MYSQL_TYPE_DOUBLE,
        C.MYSQL_TYPE_BLOB,
        C.MYSQL_TYPE_GEOMETRY,
        C.MYSQL_TYPE_JSON,
        C.MYSQL_TYPE_TIME2,
        C.MYSQL_TYPE_DATETIME2,
        C.MYSQL_TYPE_TIMESTAMP2,
        C.MYSQL_TYPE_VECTOR,
        C.MYSQL_TYPE_TINY_BLOB,
        C.MYSQL_TYPE_MEDIUM_BLOB,
        C.MYSQL_TYPE_LONG_BLOB,
    ):
        return cur.u8(), t
    if t in (C.MYSQL_TYPE_VARCHAR, C.MYSQL_TYPE_VAR_STRING):
        return cur.uint(2), t
    if t == C.MYSQL_TYPE_BIT:
        bits = cur.u8()
        nbytes = cur.u8()
        return (nbytes << 8) | bits, t
    if t == C.MYSQL_TYPE_NEWDECIMAL:
        precision = cur.u8()
        return (precision << 8) | cur.u8(), t
    if t in (C.MYSQL_TYPE_STRING, C.MYSQL_TYPE_ENUM, C.MYSQL_TYPE_SET):
        byte0 = cur.u8()
        byte1 = cur.u8()
        meta = (byte0 << 8) | byte1
        if t == C.MYSQL_TYPE_STRING and (byte0 & 0x30) == 0x30 and byte0 in (C.MYSQL_TYPE_ENUM, C.MYSQL_TYPE_SET):
            return meta, byte0
        return meta, t
    return 0, t


def _table_columns(
    raw: list[tuple[int, int, bool, int]], optional: dict[int, bytes], mariadb: bool = False
) -> tuple[tuple[ColumnInfo, ...], tuple[int, ...]]:
    """A TABLE_MAP's columns from (real type, metadata, nullable, binlog type) each, with the optional metadata
    (binlog_row_metadata) spread over them; and the primary key.

    MariaDB counts YEAR among the numeric columns of SIGNEDNESS and GEOMETRY among the character columns
    of the charset fields; MySQL counts neither. Reading one server's lists with the other's rule shifts
    signedness and charsets onto the wrong columns.
    """
    numeric_types = _NUMERIC_TYPES | {C.MYSQL_TYPE_YEAR} if mariadb else _NUMERIC_TYPES
    character_types = _CHARACTER_TYPES | {C.MYSQL_TYPE_GEOMETRY} if mariadb else _CHARACTER_TYPES
    types = [r[0] for r in raw]
    attrs: list[dict[str, Any]] = [{} for _ in raw]
    numeric = [i for i, t in enumerate(types) if t in numeric_types]
    character = [i for i, t in enumerate(types) if t in character_types]
    enum_set = [i for i, t in enumerate(types) if t in (C.MYSQL_TYPE_ENUM, C.MYSQL_TYPE_SET)]
    if C.META_SIGNEDNESS in optional:
        bits = int.from_bytes(optional[C.META_SIGNEDNESS], "big")
        nbits = len(optional[C.META_SIGNEDNESS]) * 8
        for k, i in enumerate(numeric):
            attrs[i]["unsigned"] = bool(bits >> (nbits - 1 - k) & 1)
    for code, cols in ((C.META_DEFAULT_CHARSET, character), (C.META_ENUM_AND_SET_DEFAULT_CHARSET, enum_set)):
        if code in optional:
            cur = _Cursor(optional[code], 0, len(optional[code]))
            default = cur.lenenc()
            for i in cols:
                attrs[i]["charset"] = default
            while cur.left:
                idx = cur.lenenc()
                coll = cur.lenenc()
                if idx < len(cols):
                    attrs[cols[idx]]["charset"] = coll
    for code, cols in ((C.META_COLUMN_CHARSET, character), (C.META_ENUM_AND_SET_COLUMN_CHARSET, enum_set)):
        if code in optional:
            cur = _Cursor(optional[code], 0, len(optional[code]))
            for i in cols:
                attrs[i]["charset"] = cur.lenenc()
    if C.META_COLUMN_NAME in optional:
        cur = _Cursor(optional[C.META_COLUMN_NAME], 0, len(optional[C.META_COLUMN_NAME]))
        for a in attrs:
            a["name"] = cur.lenenc_bytes().decode("utf-8", "replace")
    for code, attr, ctype in (
        (C.META_SET_STR_VALUE, "set_values", C.MYSQL_TYPE_SET),
        (C.META_ENUM_STR_VALUE, "enum_values", C.MYSQL_TYPE_ENUM),
    ):
        if code in optional:
            cur = _Cursor(optional[code], 0, len(optional[code]))
            for i, t in enumerate(types):
                if t == ctype and cur.left:
                    attrs[i][attr] = tuple(cur.lenenc_bytes().decode("utf-8", "replace") for _ in range(cur.lenenc()))
    if C.META_GEOMETRY_TYPE in optional:
        cur = _Cursor(optional[C.META_GEOMETRY_TYPE], 0, len(optional[C.META_GEOMETRY_TYPE]))
        for i, t in enumerate(types):
            if t == C.MYSQL_TYPE_GEOMETRY and cur.left:
                attrs[i]["geometry_type"] = cur.lenenc()
    if C.META_COLUMN_VISIBILITY in optional:
        raw_bits = optional[C.META_COLUMN_VISIBILITY]
        bits = int.from_bytes(raw_bits, "big")
        nbits = len(raw_bits) * 8
        for k, a in enumerate(attrs):
            a["visible"] = bool(bits >> (nbits - 1 - k) & 1)
    pk: list[int] = []
    if C.META_SIMPLE_PRIMARY_KEY in optional:
        cur = _Cursor(optional[C.META_SIMPLE_PRIMARY_KEY], 0, len(optional[C.META_SIMPLE_PRIMARY_KEY]))
        while cur.left:
            pk.append(cur.lenenc())
    elif C.META_PRIMARY_KEY_WITH_PREFIX in optional:
        cur = _Cursor(optional[C.META_PRIMARY_KEY_WITH_PREFIX], 0, len(optional[C.META_PRIMARY_KEY_WITH_PREFIX]))
        while cur.left:
            pk.append(cur.lenenc())
            cur.lenenc()
    for i in pk:
        if i < len(attrs):
            attrs[i]["is_pk"] = True
    columns = tuple(
        ColumnInfo(i, real, meta, nullable, binlog_type=binlog_type, **attrs[i])
        for i, (real, meta, nullable, binlog_type) in enumerate(raw)
    )
    return columns, tuple(pk)


def _parse_status_vars(status: bytes) -> tuple[int | None, tuple[int, int, int] | None, str | None]:
    """sql_mode, (client, connection, server) collations and time zone from QUERY status variables.

    Parsing stops at the first code it does not know; the raw block stays on the event.
    """
    fixed = {0: 4, 3: 4, 7: 2, 8: 2, 9: 8, 10: 4, 13: 3, 16: 1, 17: 8, 18: 2, 19: 1, 20: 1, 128: 3, 129: 8, 130: 1}
    sql_mode = charset = tz = None
    pos, n = 0, len(status)
    while pos < n:
        code = status[pos]
        pos += 1
        if code == 1:
            sql_mode = int.from_bytes(status[pos : pos + 8], "little")
            pos += 8
        elif code == 4:
            charset = struct.unpack_from("<HHH", status, pos)
            pos += 6
        elif code == 5:
            ln = status[pos]
            tz = status[pos + 1 : pos + 1 + ln].decode("ascii", "replace")
            pos += 1 + ln
        elif code in (2, 6):
            ln = status[pos]
            pos += 1 + ln + (1 if code == 2 else 0)
        elif code == 11:
            ln = status[pos]
            pos += 1 + ln
            ln = status[pos]
            pos += 1 + ln
        elif code == 12:
            count = status[pos]
            pos += 1
            if count != 254:
                for _ in range(count):
                    pos = status.index(b"\0", pos) + 1
        elif code in fixed:
            pos += fixed[code]
        else:
            break
    return sql_mode, charset, tz  # type: ignore[return-value,unused-ignore]


def _read_varlen(cur: _Cursor) -> int:
    """MySQL 8.4 serialization library's variable-length unsigned integer (:func:`pycanal.gtid.varlen_decode`)."""
    value, pos = varlen_decode(cur.buf, cur.pos)
    if pos > cur.end:
        raise TruncatedEventError("a variable-length integer runs past the event end")
    cur.pos = pos
    return value


def _read_serialized_fields(cur: _Cursor) -> dict[int, Any]:
    """GTID_TAGGED body: format version, total size, last non-ignorable field id, then (id, value)
    pairs. Field 1 (the uuid) is 16 varlen bytes, field 3 (the tag) a varlen length and text, fields
    2, 4 and 5 are signed (zigzag), the rest unsigned."""
    _read_varlen(cur)  # format version
    _read_varlen(cur)  # size of the whole message
    _read_varlen(cur)  # last non-ignorable field id
    fields: dict[int, Any] = {}
    while cur.left:
        fid = _read_varlen(cur)
        if fid == 1:
            fields[1] = bytes(_read_varlen(cur) for _ in range(16))
        elif fid == 3:
            fields[3] = cur.take(_read_varlen(cur)).decode("utf-8", "replace")
        elif fid in (2, 4, 5):
            v = _read_varlen(cur)
            fields[fid] = (v >> 1) ^ -(v & 1)
        elif fid <= 11:
            fields[fid] = _read_varlen(cur)
        else:
            raise DecodeError(f"GTID_TAGGED event has unknown field id {fid}")
    return fields


def _read_payload_header(cur: _Cursor) -> dict[int, int]:
    """TRANSACTION_PAYLOAD header: (type lenenc, length lenenc, value lenenc) until type 0 (end)."""
    fields: dict[int, int] = {}
    while cur.left:
        ftype = cur.lenenc()
        if ftype == 0:
            break
        length = cur.lenenc()
        value = _Cursor(cur.take(length), 0, length).lenenc()
        fields[ftype] = value
    return fields


# --------------------------------------------------------------------------------------------------


class BinlogFileReader:
    """Splits the bytes of a binlog file into events (sans-IO: ``feed`` bytes, ``next_event``)."""

    def __init__(self, decoder: BinlogDecoder | None = None, log_file: str = "") -> None:
        self.decoder = decoder or BinlogDecoder(log_file=log_file)
        if log_file:
            self.decoder.log_file = log_file
        self._buf = bytearray()
        self._offset = 0  # file offset of _buf[0]
        self._magic_seen = False

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_event(self) -> Event | None:
        """The next whole event, or None until more bytes are fed."""
        buf = self._buf
        if not self._magic_seen:
            if len(buf) < 4:
                return None
            if bytes(buf[:4]) != C.BINLOG_MAGIC:
                raise DecodeError("not a binlog file: bad magic", log_file=self.decoder.log_file, log_pos=0)
            del buf[:4]
            self._offset = 4
            self._magic_seen = True
        if len(buf) < C.HEADER_LEN:
            return None
        size = int.from_bytes(buf[9:13], "little")
        if size < C.HEADER_LEN:
            raise TruncatedEventError(
                f"event size {size} is below the header size",
                log_file=self.decoder.log_file,
                log_pos=self._offset,
            )
        if len(buf) < size:
            return None
        data = bytes(buf[:size])
        del buf[:size]
        start = self._offset
        self._offset += size
        try:
            return self.decoder.decode(data)
        except DecodeError as exc:
            if exc.log_pos != start:
                raise type(exc)(
                    exc.reason, log_file=self.decoder.log_file, log_pos=start, event_type=exc.event_type
                ) from exc
            raise

    def close(self) -> None:
        """Declare the end of input: leftover bytes are a truncated event."""
        if self._buf or not self._magic_seen:
            raise TruncatedEventError(
                f"binlog ends with {len(self._buf)} bytes of an incomplete event",
                log_file=self.decoder.log_file,
                log_pos=self._offset,
            )

    @property
    def offset(self) -> int:
        """File offset of the next event."""
        return self._offset


def read_binlog_file(path: str, decoder: BinlogDecoder | None = None) -> Iterator[Event]:
    """Decode a whole binlog file from disk (a convenience for tools and tests)."""
    import os

    name = os.path.basename(path)
    reader = BinlogFileReader(decoder or BinlogDecoder(log_file=name), log_file=name)
    with open(path, "rb") as f:
        reader.feed(f.read())
    while (ev := reader.next_event()) is not None:
        yield ev
    reader.close()
