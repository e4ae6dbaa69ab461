"""Bad input to the decoder: each case is a clear, typed error that says where, never a silent skip."""

from __future__ import annotations

import struct
import zlib

import pytest

from pycanal.binlog import constants as C
from pycanal.binlog.decoder import BinlogDecoder
from pycanal.binlog.events import IgnorableEvent, RotateEvent, RowsEvent, TableMapEvent, XidEvent
from pycanal.errors import (
    ChecksumError,
    ColumnCountMismatch,
    DecodeError,
    TableMapMissing,
    TruncatedEventError,
    UnknownEventError,
)


def event(type_code: int, body: bytes, *, log_pos: int = 1000, crc: bool = True, flags: int = 0) -> bytes:
    size = C.HEADER_LEN + len(body) + (4 if crc else 0)
    data = struct.pack("<IBIIIH", 1700000000, type_code, 1, size, log_pos, flags) + body
    if crc:
        data += struct.pack("<I", zlib.crc32(data))
    return data


def table_map(
    table_id: int = 7, types: bytes = bytes([C.MYSQL_TYPE_LONG, C.MYSQL_TYPE_VARCHAR]), meta: bytes = b"\x40\x00"
) -> bytes:
    body = table_id.to_bytes(6, "little") + b"\x01\x00"
    body += b"\x02db\x00" + b"\x01t\x00"
    body += bytes([len(types)]) + types + bytes([len(meta)]) + meta + b"\xff"
    return event(C.TABLE_MAP, body)


def write_rows(table_id: int = 7, ncols: int = 2, rows: bytes = b"\x00\x05\x00\x00\x00\x02hi") -> bytes:
    body = table_id.to_bytes(6, "little") + b"\x01\x00" + b"\x02\x00"  # flags, extra-data length 2
    body += bytes([ncols]) + b"\xff" + rows
    return event(C.WRITE_ROWS_V2, body)


def decoder() -> BinlogDecoder:
    return BinlogDecoder(checksum=True, log_file="mysql-bin.000042")


def test_good_table_map_and_rows():
    dec = decoder()
    tm = dec.decode(table_map())
    assert isinstance(tm, TableMapEvent) and (tm.schema, tm.table, tm.column_count) == ("db", "t", 2)
    ev = dec.decode(write_rows())
    assert isinstance(ev, RowsEvent) and ev.rows == [["5", "hi"]]


def test_wrong_crc_names_file_and_position():
    data = bytearray(table_map())
    data[25] ^= 0x01
    with pytest.raises(ChecksumError) as err:
        decoder().decode(bytes(data))
    assert err.value.log_file == "mysql-bin.000042"
    assert err.value.log_pos == 1000 - len(data)
    assert "CRC32 mismatch" in str(err.value) and "mysql-bin.000042" in str(err.value)


def test_truncated_event():
    data = table_map()
    with pytest.raises(TruncatedEventError, match="header says"):
        decoder().decode(data[:-3])
    with pytest.raises(TruncatedEventError, match="shorter than the 19-byte header"):
        decoder().decode(data[:10])


def test_body_shorter_than_its_layout():
    # a XID event whose body has 3 bytes instead of 8: consistent header, inconsistent body
    with pytest.raises(TruncatedEventError) as err:
        decoder().decode(event(C.XID, b"\x01\x02\x03"))
    assert err.value.event_type == C.XID
    assert isinstance(decoder().decode(event(C.XID, struct.pack("<Q", 9))), XidEvent)


def test_unknown_event_type_is_an_error():
    with pytest.raises(UnknownEventError) as err:
        decoder().decode(event(99, b"whatever"))
    assert err.value.event_type == 99 and err.value.log_pos is not None
    assert "unknown binlog event type 99" in str(err.value)


def test_ignorable_flag_is_kept_not_dropped():
    ev = decoder().decode(event(99, b"opaque", flags=0x80))
    assert isinstance(ev, IgnorableEvent) and ev.body == b"opaque"


def test_rows_without_table_map():
    with pytest.raises(TableMapMissing, match="table id 7"):
        decoder().decode(write_rows())


def test_column_count_disagreement():
    dec = decoder()
    dec.decode(table_map())
    with pytest.raises(ColumnCountMismatch, match="has 3 columns, its TABLE_MAP has 2"):
        dec.decode(write_rows(ncols=3))


def test_row_image_running_past_the_event():
    dec = decoder()
    dec.decode(table_map())
    with pytest.raises(DecodeError) as err:
        dec.decode(write_rows(rows=b"\x00\x05\x00\x00\x00\x09hi"))  # VARCHAR claims 9 bytes, has 2
    assert err.value.log_file == "mysql-bin.000042"


def test_table_map_metadata_longer_than_types_need():
    with pytest.raises(DecodeError, match="longer than the column types need"):
        decoder().decode(table_map(meta=b"\x40\x00\x01"))


def test_fake_rotate_before_format_description_detects_crc():
    body = struct.pack("<Q", 4) + b"mysql-bin.000007"
    for crc in (True, False):
        dec = BinlogDecoder(checksum=None)
        ev = dec.decode(event(C.ROTATE, body, log_pos=0, crc=crc, flags=0x20))
        assert isinstance(ev, RotateEvent) and ev.artificial
        assert (ev.next_file, ev.position) == ("mysql-bin.000007", 4)
        assert dec.log_file == "mysql-bin.000007"


def test_specialised_decimal_reader_matches_the_specification():
    import random

    from pycanal.binlog.rows import _decimal_reader, decimal_size, decode_decimal

    rng = random.Random(7)
    for precision in range(1, 66):
        for scale in sorted({0, 1, precision // 2, precision % 31, min(precision, 30)}):
            if scale > precision or scale > 30:
                continue
            size = decimal_size(precision, scale)
            read = _decimal_reader(precision << 8 | scale)
            for _ in range(20):
                data = bytes(rng.getrandbits(8) for _ in range(size))
                # random bytes: both must agree even where a group exceeds 10^9
                text = decode_decimal(data, precision, scale)
                assert read(b"xx" + data, 2) == (text, 2 + size), (precision, scale, data.hex())


def test_incident_lost_events_decodes():
    from pycanal.binlog.events import IncidentEvent

    ev = decoder().decode(event(C.INCIDENT, b"\x01\x00" + bytes([11]) + b"lost events"))
    assert isinstance(ev, IncidentEvent) and (ev.incident, ev.message) == (1, "lost events")


def test_every_null_pattern_past_the_compiled_cap():
    """256 NULL patterns over 8 columns: the first 64 get straight-line readers, the rest the general one;
    both must give the same values."""
    dec = decoder()
    dec.decode(table_map(types=bytes([C.MYSQL_TYPE_LONG] * 7 + [C.MYSQL_TYPE_VARCHAR]), meta=b"\x40\x00"))
    body = b""
    expected = []
    for nulls in range(256):
        row = [None if nulls >> k & 1 else str(k * 1000 + nulls) for k in range(7)]
        row.append(None if nulls >> 7 & 1 else f"s{nulls}")
        expected.append(row)
        body += bytes([nulls])
        for k in range(7):
            if not nulls >> k & 1:
                body += struct.pack("<i", k * 1000 + nulls)
        if not nulls >> 7 & 1:
            body += bytes([len(f"s{nulls}")]) + f"s{nulls}".encode()
    ev = dec.decode(write_rows(ncols=8, rows=body))
    assert ev.rows == expected
