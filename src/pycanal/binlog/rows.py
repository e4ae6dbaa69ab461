"""Per-table row decoding: column values straight into canal's text form.

A :class:`RowDecoder` is built once per table layout (the decoder caches it by table id and column
signature): each column gets one small reader function ``(buf, pos) -> (text, new_pos)`` chosen from the
column's type and metadata, so the per-row loop does no type dispatch at all (the asyncpg ``rows_codecs``
idea). Values come out exactly as canal puts them in ``Column.value`` (canal-spec.md section 1.8): integers
in decimal with unsigned values corrected, DECIMAL as a plain string with its scale, FLOAT/DOUBLE as Java
prints them, temporal types as ``yyyy-MM-dd HH:mm:ss[.fraction to the declared precision]``, TIMESTAMP in
the process's time zone, ENUM as its 1-based index, SET as its bitmask, binary as ISO-8859-1 text, text in
the column's charset. NULL is ``None``. Pure: bytes in, text out; imports only the binlog package and errors.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Sequence
from datetime import date as date_type
from datetime import datetime, tzinfo

from ..errors import DecodeError
from . import constants as C
from .charsets import BINARY, charset_name, codec_for
from .events import ColumnInfo
from .javafmt import java_double_str, java_float_str
from .jsonb import decode_json, parse_json_diff, render_json_diff

Reader = Callable[[bytes, int], tuple[str | None, int]]

_unpack_b = struct.Struct("<b").unpack_from
_unpack_B = struct.Struct("<B").unpack_from
_unpack_h = struct.Struct("<h").unpack_from
_unpack_H = struct.Struct("<H").unpack_from
_unpack_i = struct.Struct("<i").unpack_from
_unpack_I = struct.Struct("<I").unpack_from
_unpack_q = struct.Struct("<q").unpack_from
_unpack_Q = struct.Struct("<Q").unpack_from
_unpack_f = struct.Struct("<f").unpack_from
_unpack_d = struct.Struct("<d").unpack_from

ZERO_DATETIME = "0000-00-00 00:00:00"
ZERO_DATE = "0000-00-00"

# --------------------------------------------------------------------------------------------------
# integers


def _int_reader(size: int, unsigned: bool) -> Reader:
    unpack = {
        (1, False): _unpack_b,
        (1, True): _unpack_B,
        (2, False): _unpack_h,
        (2, True): _unpack_H,
        (4, False): _unpack_i,
        (4, True): _unpack_I,
        (8, False): _unpack_q,
        (8, True): _unpack_Q,
    }[size, unsigned]

    def read(buf: bytes, pos: int) -> tuple[str, int]:
        return str(unpack(buf, pos)[0]), pos + size

    fmt = {1: "b", 2: "h", 4: "i", 8: "q"}[size]
    read.inline = ("struct", fmt.upper() if unsigned else fmt, size, None)  # type: ignore[attr-defined]
    return read


def _int24_reader(unsigned: bool) -> Reader:
    def read(buf: bytes, pos: int) -> tuple[str, int]:
        return str(int.from_bytes(buf[pos : pos + 3], "little", signed=not unsigned)), pos + 3

    return read


def _float_reader(buf: bytes, pos: int) -> tuple[str, int]:
    return java_float_str(_unpack_f(buf, pos)[0]), pos + 4


def _double_reader(buf: bytes, pos: int) -> tuple[str, int]:
    return java_double_str(_unpack_d(buf, pos)[0]), pos + 8


_float_reader.inline = ("struct", "f", 4, java_float_str)  # type: ignore[attr-defined]
_double_reader.inline = ("struct", "d", 8, java_double_str)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------------
# DECIMAL: MySQL's binary decimal (groups of 9 digits in 4 bytes, big-endian, sign in the top bit)

_DIG2BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)


def decimal_size(precision: int, scale: int) -> int:
    intg0, intg0x = divmod(precision - scale, 9)
    frac0, frac0x = divmod(scale, 9)
    return intg0 * 4 + _DIG2BYTES[intg0x] + frac0 * 4 + _DIG2BYTES[frac0x]


def decode_decimal(data: bytes, precision: int, scale: int) -> str:
    """Binary DECIMAL -> plain text with exactly ``scale`` fractional digits (BigDecimal.toPlainString)."""
    intg0, intg0x = divmod(precision - scale, 9)
    frac0, frac0x = divmod(scale, 9)
    size = len(data)
    neg = not (data[0] & 0x80)
    raw = int.from_bytes(data, "big") ^ (1 << (size * 8 - 1))
    if neg:
        raw ^= (1 << (size * 8)) - 1
    b = raw.to_bytes(size, "big")
    p = _DIG2BYTES[intg0x]
    ipart = int.from_bytes(b[:p], "big")
    for _ in range(intg0):
        ipart = ipart * 1_000_000_000 + int.from_bytes(b[p : p + 4], "big")
        p += 4
    text = str(ipart)
    if scale:
        fpart = 0
        for _ in range(frac0):
            fpart = fpart * 1_000_000_000 + int.from_bytes(b[p : p + 4], "big")
            p += 4
        digits = f"{fpart:0{frac0 * 9}d}" if frac0 else ""
        if frac0x:
            tail = int.from_bytes(b[p : p + _DIG2BYTES[frac0x]], "big")
            # canal (LogBuffer.getDecimal0) writes the trailing partial group only when it is not zero,
            # and a lone "0" when nothing is left: DECIMAL(10,2) 1.00 -> "1.0". Same number, canal's text.
            if tail:
                digits += f"{tail:0{frac0x}d}"
        text = f"{text}.{digits or '0'}"
    if neg and (ipart or (scale and any(ch != "0" for ch in text.split(".", 1)[1]))):
        text = "-" + text
    return text


def _combine(raw: int, groups: int) -> int:
    """Groups of 9 decimal digits, 4 bytes each, in the low bits of ``raw`` -> their number."""
    value = 0
    for k in range(groups - 1, -1, -1):
        value = value * 1_000_000_000 + ((raw >> (32 * k)) & 0xFFFFFFFF)
    return value


def _decimal_reader(meta: int) -> Reader:
    """A reader specialised for one DECIMAL(p,s): shifts and masks instead of per-group slicing;
    :func:`decode_decimal` is the plain specification it is tested against."""
    precision, scale = meta >> 8, meta & 0xFF
    size = decimal_size(precision, scale)
    intg0, _ = divmod(precision - scale, 9)
    frac0, frac0x = divmod(scale, 9)
    tail_bits = 8 * _DIG2BYTES[frac0x]
    frac_bits = 32 * frac0 + tail_bits
    sign_bit = 1 << (size * 8 - 1)
    all_ones = (1 << (size * 8)) - 1
    lead_mult = 10 ** (9 * intg0)
    frac_width = 9 * frac0

    def read(buf: bytes, pos: int) -> tuple[str, int]:
        end = pos + size
        raw = int.from_bytes(buf[pos:end], "big")
        neg = not raw & sign_bit
        raw ^= sign_bit
        if neg:
            raw ^= all_ones
        ipart_raw = raw >> frac_bits
        ipart = (ipart_raw >> (32 * intg0)) * lead_mult + _combine(ipart_raw, intg0) if intg0 else ipart_raw
        if not scale:
            return (f"-{ipart}" if neg and ipart else str(ipart)), end
        fraw = raw & ((1 << frac_bits) - 1)
        digits = f"{_combine(fraw >> tail_bits, frac0):0{frac_width}d}" if frac0 else ""
        if frac0x:
            tail = fraw & ((1 << tail_bits) - 1)
            if tail:  # canal drops a zero trailing partial group (see decode_decimal)
                digits += f"{tail:0{frac0x}d}"
        if not digits:
            digits = "0"
        if neg and (ipart or digits.strip("0")):
            return f"-{ipart}.{digits}", end
        return f"{ipart}.{digits}", end

    return read


# --------------------------------------------------------------------------------------------------
# temporal types


def _frac_text(usec: int, fsp: int) -> str:
    """'.ffffff' cut to the declared precision, as canal's usecondsToStr does; '' for fsp 0."""
    return f".{usec // _FRAC_DIV[fsp]:0{fsp}d}" if fsp else ""


_FRAC_DIV = (1, 100000, 10000, 1000, 100, 10, 1)

# Text caches: dates and times of day repeat across rows, so each distinct one is formatted once.
_DATE_TEXT: dict[int, str] = {}  # (year << 9 | month << 5 | day) -> "YYYY-MM-DD"
_HMS_TEXT: dict[int, str] = {}  # (hour << 12 | minute << 6 | second) -> "HH:MM:SS"
_CACHE_LIMIT = 1 << 16


def _date_text(year: int, month: int, day: int) -> str:
    key = year << 9 | month << 5 | day
    text = _DATE_TEXT.get(key)
    if text is None:
        if len(_DATE_TEXT) >= _CACHE_LIMIT:
            _DATE_TEXT.clear()
        text = _DATE_TEXT[key] = f"{year:04d}-{month:02d}-{day:02d}"
    return text


def _hms_text(hms: int) -> str:
    # no size limit: the key space is 17 bits, and at most 86,400 keys are valid times of day
    text = _HMS_TEXT.get(hms)
    if text is None:
        text = _HMS_TEXT[hms] = f"{hms >> 12:02d}:{(hms >> 6) & 63:02d}:{hms & 63:02d}"
    return text


def _read_frac(buf: bytes, pos: int, fsp: int) -> tuple[int, int]:
    """Fractional seconds of TIME2/DATETIME2/TIMESTAMP2: (microseconds, new pos)."""
    if fsp <= 0:
        return 0, pos
    if fsp <= 2:
        return buf[pos] * 10000, pos + 1
    if fsp <= 4:
        return int.from_bytes(buf[pos : pos + 2], "big") * 100, pos + 2
    return int.from_bytes(buf[pos : pos + 3], "big"), pos + 3


def _date_reader(buf: bytes, pos: int) -> tuple[str, int]:
    v = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16
    if v == 0:
        return ZERO_DATE, pos + 3
    text = _DATE_TEXT.get(v)
    if text is None:
        text = _date_text(v >> 9, (v >> 5) & 15, v & 31)
    return text, pos + 3


_YMD_TEXT: dict[int, str] = {}  # DATETIME2's packed (year * 13 + month) << 5 | day -> "YYYY-MM-DD"


def _ymd_text(ymd: int) -> str:
    text = _YMD_TEXT.get(ymd)
    if text is None:
        if len(_YMD_TEXT) >= _CACHE_LIMIT:
            _YMD_TEXT.clear()
        ym = ymd >> 5
        text = _YMD_TEXT[ymd] = f"{ym // 13:04d}-{ym % 13:02d}-{ymd & 31:02d}"
    return text


def _datetime2_reader(fsp: int) -> Reader:
    zero = ZERO_DATETIME + _frac_text(0, fsp)
    fb = (0, 1, 1, 2, 2, 3, 3)[fsp]
    mult = (1, 10000, 10000, 100, 100, 1, 1)[fsp]
    div = _FRAC_DIV[fsp]
    ymd_get, hms_get = _YMD_TEXT.get, _HMS_TEXT.get

    def read(buf: bytes, pos: int) -> tuple[str, int]:
        end = pos + 5 + fb
        intpart = int.from_bytes(buf[pos : pos + 5], "big") - 0x8000000000
        ymd = intpart >> 17
        date = ymd_get(ymd) or _ymd_text(ymd)
        hms = intpart & 0x1FFFF
        clock = hms_get(hms) or _hms_text(hms)
        if fsp:
            usec = int.from_bytes(buf[pos + 5 : end], "big") * mult
            if intpart == 0 and usec == 0:
                return zero, end
            return f"{date} {clock}.{usec // div:0{fsp}d}", end
        if intpart == 0:
            return zero, end
        return f"{date} {clock}", end

    return read


def _datetime_old_reader(buf: bytes, pos: int) -> tuple[str, int]:
    v = _unpack_Q(buf, pos)[0]
    if v == 0:
        return ZERO_DATETIME, pos + 8
    d, t = divmod(v, 1_000_000)
    return (
        f"{d // 10000:04d}-{d // 100 % 100:02d}-{d % 100:02d} {t // 10000:02d}:{t // 100 % 100:02d}:{t % 100:02d}",
        pos + 8,
    )


def _time2_reader(fsp: int) -> Reader:
    def read(buf: bytes, pos: int) -> tuple[str, int]:
        # Follows MySQL's my_time_packed_from_binary: the packed value is (hms << 24) + microseconds;
        # negative values keep their fraction in reverse order, for binary sort order.
        if fsp >= 5:
            packed = int.from_bytes(buf[pos : pos + 6], "big") - 0x800000000000
            end = pos + 6
        else:
            intpart = int.from_bytes(buf[pos : pos + 3], "big") - 0x800000
            if fsp == 0:
                frac, end = 0, pos + 3
            elif fsp <= 2:
                frac = buf[pos + 3]
                if intpart < 0 and frac:
                    intpart += 1
                    frac -= 0x100
                frac *= 10000
                end = pos + 4
            else:
                frac = int.from_bytes(buf[pos + 3 : pos + 5], "big")
                if intpart < 0 and frac:
                    intpart += 1
                    frac -= 0x10000
                frac *= 100
                end = pos + 5
            packed = (intpart << 24) + frac
        sign = ""
        if packed < 0:
            sign, packed = "-", -packed
        hms, usec = packed >> 24, packed & 0xFFFFFF
        return f"{sign}{(hms >> 12) & 0x3FF:02d}:{(hms >> 6) & 63:02d}:{hms & 63:02d}{_frac_text(usec, fsp)}", end

    return read


def _time_old_reader(buf: bytes, pos: int) -> tuple[str, int]:
    v = int.from_bytes(buf[pos : pos + 3], "little", signed=True)
    sign = "-" if v < 0 else ""
    v = abs(v)
    return f"{sign}{v // 10000:02d}:{v // 100 % 100:02d}:{v % 100:02d}", pos + 3


_OFFSETS: dict[tuple[int, object], int | None] = {}  # (15-minute bucket, zone) -> UTC offset, None if it changes


def _utc_offset(seconds: int, tz: tzinfo | None) -> int | None:
    """The zone's UTC offset for ``seconds``, cached per 15-minute bucket.

    Zone transitions fall on quarter hours; a bucket whose two ends disagree holds a transition and is
    converted value by value instead."""
    bucket = seconds // 900
    key = (bucket, tz or time.tzname)  # tzname follows TZ changes (time.tzset) in the process
    off = _OFFSETS.get(key, -1)
    if off == -1:
        a, b = bucket * 900, bucket * 900 + 899
        if tz is None:
            oa, ob = time.localtime(a).tm_gmtoff, time.localtime(b).tm_gmtoff
        else:
            da, db = datetime.fromtimestamp(a, tz).utcoffset(), datetime.fromtimestamp(b, tz).utcoffset()
            oa = int(da.total_seconds()) if da is not None else 0
            ob = int(db.total_seconds()) if db is not None else 0
        off = oa if oa == ob else None
        if len(_OFFSETS) >= _CACHE_LIMIT:
            _OFFSETS.clear()
        _OFFSETS[key] = off
    return off


def _timestamp_text(seconds: int, usec: int, fsp: int, tz: tzinfo | None) -> str:
    """TIMESTAMP in the process's time zone (or ``tz``), DST-aware, as canal's JVM renders it."""
    if seconds == 0 and usec == 0:
        return ZERO_DATETIME + _frac_text(0, fsp)
    off = _utc_offset(seconds, tz)
    if off is None:  # a transition inside this quarter hour: convert exactly
        if tz is None:
            t = time.localtime(seconds)
            base = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
        else:
            base = datetime.fromtimestamp(seconds, tz).strftime("%Y-%m-%d %H:%M:%S")
        return base + _frac_text(usec, fsp)
    days, sod = divmod(seconds + off, 86400)
    date = _EPOCH_DAYS.get(days)
    if date is None:
        d = _epoch_date(days)
        date = _EPOCH_DAYS[days] = f"{d.year:04d}-{d.month:02d}-{d.day:02d}"
    hms = (sod // 3600) << 12 | (sod // 60 % 60) << 6 | sod % 60
    clock = _HMS_TEXT.get(hms) or _hms_text(hms)
    return f"{date} {clock}{_frac_text(usec, fsp)}" if fsp else f"{date} {clock}"


_EPOCH_DAYS: dict[int, str] = {}


def _epoch_date(days: int) -> date_type:
    return date_type.fromordinal(days + 719163)  # 719163 = date(1970, 1, 1).toordinal()


def _timestamp2_reader(fsp: int, tz: tzinfo | None) -> Reader:
    fb = (0, 1, 1, 2, 2, 3, 3)[fsp]
    mult = (1, 10000, 10000, 100, 100, 1, 1)[fsp]
    div = _FRAC_DIV[fsp]
    # "YYYY-MM-DD HH:MM:" per minute of UTC time, for whole-minute zone offsets (transitions fall on
    # quarter hours); rebuilt when the process's zone changes (time.tzset makes a new time.tzname)
    minutes: dict[int, str] = {}
    zone = [time.tzname]

    def read(buf: bytes, pos: int) -> tuple[str, int]:
        seconds = int.from_bytes(buf[pos : pos + 4], "big")
        end = pos + 4 + fb
        usec = int.from_bytes(buf[pos + 4 : end], "big") * mult if fb else 0
        if tz is None and seconds:
            if zone[0] is not time.tzname:
                minutes.clear()
                zone[0] = time.tzname
            prefix = minutes.get(seconds // 60)
            if prefix is not None:
                sec = seconds % 60
                return (f"{prefix}{sec:02d}.{usec // div:0{fsp}d}" if fsp else f"{prefix}{sec:02d}"), end
            text = _timestamp_text(seconds, usec, fsp, tz)
            off = _utc_offset(seconds, tz)
            if off is not None and off % 60 == 0:
                if len(minutes) >= _CACHE_LIMIT:
                    minutes.clear()
                minutes[seconds // 60] = text[:17]
            return text, end
        return _timestamp_text(seconds, usec, fsp, tz), end

    return read


def _timestamp_old_reader(tz: tzinfo | None) -> Reader:
    def read(buf: bytes, pos: int) -> tuple[str, int]:
        return _timestamp_text(_unpack_I(buf, pos)[0], 0, 0, tz), pos + 4

    return read


def _year_reader(buf: bytes, pos: int) -> tuple[str, int]:
    v = buf[pos]
    return ("0000" if v == 0 else str(1900 + v)), pos + 1


# --------------------------------------------------------------------------------------------------
# strings, blobs, bits, enum/set


def _length_prefixed_reader(nbytes: int, codec: str | None) -> Reader:
    """CHAR/VARCHAR/BLOB/TEXT: an ``nbytes`` little-endian length, then the bytes."""

    if codec is None:  # binary: ISO-8859-1 maps bytes 1:1 onto code points, as canal does
        codec = "latin-1"
    read = _length_prefixed_reader_fn(nbytes, codec)
    if nbytes in (1, 2):
        read.inline = ("str", nbytes, codec)  # type: ignore[attr-defined]
    return read


def _length_prefixed_reader_fn(nbytes: int, codec: str) -> Reader:
    if nbytes == 1:

        def read(buf: bytes, pos: int) -> tuple[str, int]:
            n = buf[pos]
            pos += 1
            return buf[pos : pos + n].decode(codec), pos + n

    elif nbytes == 2:

        def read(buf: bytes, pos: int) -> tuple[str, int]:
            n = buf[pos] | buf[pos + 1] << 8
            pos += 2
            return buf[pos : pos + n].decode(codec), pos + n

    else:

        def read(buf: bytes, pos: int) -> tuple[str, int]:
            n = int.from_bytes(buf[pos : pos + nbytes], "little")
            pos += nbytes
            return buf[pos : pos + n].decode(codec), pos + n

    return read


def _binary_char_reader(size: int) -> Reader:
    """BINARY(n): the server strips trailing 0x00 when it writes the row image; a BINARY(n) value
    always has n bytes, so the padding is put back (what SELECT returns). canal leaves it stripped,
    which turns 'a\\0\\0\\0' and '\\0\\0\\0\\0' into 'a' and ''; restoring it loses nothing."""
    nbytes = 1 if size < 256 else 2

    def read(buf: bytes, pos: int) -> tuple[str, int]:
        n = int.from_bytes(buf[pos : pos + nbytes], "little")
        pos += nbytes
        return buf[pos : pos + n].ljust(size, b"\0").decode("latin-1"), pos + n

    return read


def _json_reader(nbytes: int) -> Reader:
    def read(buf: bytes, pos: int) -> tuple[str, int]:
        n = int.from_bytes(buf[pos : pos + nbytes], "little")
        pos += nbytes
        return decode_json(buf[pos : pos + n]), pos + n

    return read


def _bit_reader(meta: int) -> Reader:
    nbytes = (meta >> 8) + (1 if meta & 0xFF else 0)

    def read(buf: bytes, pos: int) -> tuple[str, int]:
        return str(int.from_bytes(buf[pos : pos + nbytes], "big")), pos + nbytes

    return read


def _uint_le_reader(nbytes: int) -> Reader:
    """ENUM index (1-2 bytes) and SET bitmask (1-8 bytes), little-endian unsigned."""

    def read(buf: bytes, pos: int) -> tuple[str, int]:
        return str(int.from_bytes(buf[pos : pos + nbytes], "little")), pos + nbytes

    return read


def _null_reader(buf: bytes, pos: int) -> tuple[None, int]:
    return None, pos


# --------------------------------------------------------------------------------------------------


def string_max_length(meta: int) -> int:
    """The byte length of a CHAR column from its STRING metadata (works past 255 bytes)."""
    byte0, byte1 = meta >> 8, meta & 0xFF
    if (byte0 & 0x30) != 0x30:
        return byte1 | (((byte0 & 0x30) ^ 0x30) << 4)
    return byte1


def column_codec(col: ColumnInfo, default_codec: str) -> str | None:
    """The codec for a character column; None means binary bytes."""
    if col.charset is None:
        return default_codec
    if col.charset == BINARY:
        return None
    codec = codec_for(col.charset)
    if codec is None:
        raise DecodeError(
            f"column {col.name or col.index} uses collation id {col.charset} "
            f"({charset_name(col.charset) or 'unknown'}), which pycanal cannot decode faithfully"
        )
    return codec


def make_reader(col: ColumnInfo, default_codec: str = "utf-8", tz: tzinfo | None = None) -> Reader:
    """The reader for one column of a table map."""
    t, meta = col.type, col.meta
    unsigned = bool(col.unsigned)
    if t == C.MYSQL_TYPE_TINY:
        return _int_reader(1, unsigned)
    if t == C.MYSQL_TYPE_SHORT:
        return _int_reader(2, unsigned)
    if t == C.MYSQL_TYPE_INT24:
        return _int24_reader(unsigned)
    if t == C.MYSQL_TYPE_LONG:
        return _int_reader(4, unsigned)
    if t == C.MYSQL_TYPE_LONGLONG:
        return _int_reader(8, unsigned)
    if t == C.MYSQL_TYPE_FLOAT:
        return _float_reader
    if t == C.MYSQL_TYPE_DOUBLE:
        return _double_reader
    if t == C.MYSQL_TYPE_NEWDECIMAL:
        return _decimal_reader(meta)
    if t == C.MYSQL_TYPE_YEAR:
        return _year_reader
    if t in (C.MYSQL_TYPE_DATE, C.MYSQL_TYPE_NEWDATE):
        return _date_reader
    if t == C.MYSQL_TYPE_TIME2:
        return _time2_reader(meta)
    if t == C.MYSQL_TYPE_TIME:
        return _time_old_reader
    if t == C.MYSQL_TYPE_DATETIME2:
        return _datetime2_reader(meta)
    if t == C.MYSQL_TYPE_DATETIME:
        return _datetime_old_reader
    if t == C.MYSQL_TYPE_TIMESTAMP2:
        return _timestamp2_reader(meta, tz)
    if t == C.MYSQL_TYPE_TIMESTAMP:
        return _timestamp_old_reader(tz)
    if t == C.MYSQL_TYPE_BIT:
        return _bit_reader(meta)
    if t == C.MYSQL_TYPE_ENUM:
        return _uint_le_reader(meta & 0xFF)
    if t == C.MYSQL_TYPE_SET:
        return _uint_le_reader(meta & 0xFF)
    if t in (C.MYSQL_TYPE_VARCHAR, C.MYSQL_TYPE_VAR_STRING):
        return _length_prefixed_reader(1 if meta < 256 else 2, column_codec(col, default_codec))
    if t == C.MYSQL_TYPE_STRING:
        size = string_max_length(meta)
        codec = column_codec(col, default_codec)
        if codec is None and col.charset == BINARY:
            return _binary_char_reader(size)
        return _length_prefixed_reader(1 if size < 256 else 2, codec)
    if t in (C.MYSQL_TYPE_BLOB, C.MYSQL_TYPE_TINY_BLOB, C.MYSQL_TYPE_MEDIUM_BLOB, C.MYSQL_TYPE_LONG_BLOB):
        return _length_prefixed_reader(meta, column_codec(col, default_codec) if col.charset is not None else None)
    if t == C.MYSQL_TYPE_JSON:
        return _json_reader(meta)
    if t in (C.MYSQL_TYPE_GEOMETRY, C.MYSQL_TYPE_VECTOR):
        return _length_prefixed_reader(meta, None)
    if t == C.MYSQL_TYPE_NULL:
        return _null_reader
    raise DecodeError(f"column {col.name or col.index} has column type {t}, which pycanal cannot decode")


ImageReader = Callable[[bytes, int], tuple[list[str | None], int]]


_MAX_NULL_PATTERNS = 64  # straight-line readers kept per image layout; rarer patterns use the general path


def compile_image_reader(readers: list[Reader]) -> ImageReader:
    """One function that reads a whole row image for these column readers.

    Generated once per (table map, present columns). Rows of one table share few NULL patterns, so each
    pattern seen gets its own straight-line reader (compiled on first sight, up to a cap): no per-column
    NULL test, and runs of fixed-width numbers read by one ``struct`` call, also across a NULL column.
    Patterns past the cap take a general reader that tests each column's NULL bit. This is asyncpg's
    per-record codec idea, in pure Python. Reads past the event end are caught by the caller's position
    check.
    """
    n = len(readers)
    nb = (n + 7) >> 3
    general = _general_reader(readers)
    patterns: dict[int, Callable[[bytes, int], tuple[list[str | None], int]]] = {}

    def read_image(buf: bytes, pos: int) -> tuple[list[str | None], int]:
        nulls = buf[pos] if nb == 1 else int.from_bytes(buf[pos : pos + nb], "little")
        f = patterns.get(nulls)
        if f is None:
            if len(patterns) >= _MAX_NULL_PATTERNS:
                return general(buf, pos + nb, nulls)
            f = patterns[nulls] = _pattern_reader(readers, nulls)
        return f(buf, pos + nb)

    return read_image


def _pattern_reader(readers: list[Reader], nulls: int) -> Callable[[bytes, int], tuple[list[str | None], int]]:
    """Straight-line code for one NULL pattern: NULL columns are None, the others read in order."""
    n = len(readers)
    env: dict[str, object] = {}
    lines = ["def read_pattern(buf, pos):"]
    values = ["None"] * n
    k = 0
    while k < n:
        if nulls >> k & 1:
            k += 1
            continue
        inline = getattr(readers[k], "inline", None)
        if inline and inline[0] == "struct":
            group = []
            while k < n:
                if nulls >> k & 1:
                    k += 1
                    continue
                il = getattr(readers[k], "inline", None)
                if not (il and il[0] == "struct"):
                    break
                group.append((k, il))
                k += 1
            fmt = "<" + "".join(g[1][1] for g in group)
            env[f"S{group[0][0]}"] = struct.Struct(fmt).unpack_from
            lines.append(f"    {', '.join(f'a{j}' for j, _ in group)}, = S{group[0][0]}(buf, pos)")
            lines.append(f"    pos += {sum(g[1][2] for g in group)}")
            for j, g in group:
                if g[3] is None:
                    values[j] = f"str(a{j})"
                else:
                    env[f"f{j}"] = g[3]
                    values[j] = f"f{j}(a{j})"
            continue
        lines.extend(_column_lines(k, readers[k], env, "    "))
        values[k] = f"v{k}"
        k += 1
    lines.append(f"    return [{', '.join(values)}], pos")
    exec("\n".join(lines), env)
    return env["read_pattern"]  # type: ignore[return-value]


def _general_reader(readers: list[Reader]) -> Callable[[bytes, int, int], tuple[list[str | None], int]]:
    """Any NULL pattern: each column's NULL bit is tested."""
    env: dict[str, object] = {}
    lines = ["def read_general(buf, pos, nulls):"]
    for k, read in enumerate(readers):
        lines.append(f"    if nulls & {1 << k}:")
        lines.append(f"        v{k} = None")
        lines.append("    else:")
        inline = getattr(read, "inline", None)
        if inline and inline[0] == "struct":
            env[f"u{k}"] = struct.Struct("<" + inline[1]).unpack_from
            conv = "str" if inline[3] is None else f"f{k}"
            env.setdefault(f"f{k}", inline[3])
            lines.append(f"        v{k} = {conv}(u{k}(buf, pos)[0])")
            lines.append(f"        pos += {inline[2]}")
        else:
            lines.extend(_column_lines(k, read, env, "        "))
    lines.append(f"    return [{', '.join(f'v{k}' for k in range(len(readers)))}], pos")
    exec("\n".join(lines), env)
    return env["read_general"]  # type: ignore[return-value]


def _column_lines(k: int, read: Reader, env: dict[str, object], indent: str) -> list[str]:
    inline = getattr(read, "inline", None)
    if inline and inline[0] == "str":
        size = "buf[pos]" if inline[1] == 1 else "buf[pos] | buf[pos + 1] << 8"
        lines = [f"{indent}ln = {size}", f"{indent}pos += {inline[1]} + ln"]
        if inline[2] in ("utf-8", "latin-1"):
            return [*lines, f"{indent}v{k} = buf[pos - ln:pos].decode({inline[2]!r})"]
        # other codecs are Python-level: ASCII text (the usual case) takes the C path first
        return [
            *lines,
            f"{indent}b = buf[pos - ln:pos]",
            f"{indent}v{k} = b.decode('ascii') if b.isascii() else b.decode({inline[2]!r})",
        ]
    env[f"r{k}"] = read
    return [f"{indent}v{k}, pos = r{k}(buf, pos)"]


class RowDecoder:
    """Decodes the row images of one table layout (a TABLE_MAP's resolved columns).

    Building it is the one per-table step: a reader per column, chosen from the column's type and metadata
    (a compiled twin of this class only has to offer the same constructor and ``read_*`` methods). The
    binlog decoder builds one per table id and column signature and keeps it beside the table map, never
    on it. Image readers per set of present columns are compiled on first use.
    """

    __slots__ = ("_by_present", "columns", "readers")

    def __init__(self, columns: Sequence[ColumnInfo], default_codec: str = "utf-8", tz: tzinfo | None = None) -> None:
        self.columns = tuple(columns)
        self.readers: list[Reader] = [make_reader(c, default_codec, tz) for c in self.columns]
        self._by_present: dict[tuple[int, ...], ImageReader] = {}

    def _image_reader(self, present: tuple[int, ...]) -> ImageReader:
        reader = self._by_present.get(present)
        if reader is None:
            reader = self._by_present[present] = compile_image_reader([self.readers[i] for i in present])
        return reader

    def read_image(self, buf: bytes, pos: int, present: tuple[int, ...]) -> tuple[list[str | None], int]:
        """One row image: null bitmap over the present columns, then their values."""
        return self._image_reader(present)(buf, pos)

    def read_rows(self, buf: bytes, pos: int, end: int, present: tuple[int, ...]) -> list[list[str | None]]:
        rows: list[list[str | None]] = []
        read_image = self._image_reader(present)
        append = rows.append
        while pos < end:
            row, pos = read_image(buf, pos)
            append(row)
        if pos != end:
            raise DecodeError(f"row image overran the event by {pos - end} bytes")
        return rows

    def read_update_rows(
        self, buf: bytes, pos: int, end: int, before: tuple[int, ...], after: tuple[int, ...]
    ) -> list[tuple[list[str | None], list[str | None]]]:
        rows = []
        read_before = self._image_reader(before)
        read_after = self._image_reader(after)
        while pos < end:
            b, pos = read_before(buf, pos)
            a, pos = read_after(buf, pos)
            rows.append((b, a))
        if pos != end:
            raise DecodeError(f"row image overran the event by {pos - end} bytes")
        return rows

    def read_partial_update_rows(
        self, buf: bytes, pos: int, end: int, before: tuple[int, ...], after: tuple[int, ...]
    ) -> list[tuple[list[str | None], list[str | None]]]:
        """MySQL PARTIAL_UPDATE_ROWS: the after image may carry JSON diffs instead of whole documents.

        A diffed JSON column comes out as canal renders it, an expression over the column
        (``JSON_REPLACE(col, '$.a', 1)``; ``@2`` when the name is unknown), since the full document is
        not in the binlog.
        """
        # one partial bit per JSON column of the whole table, in table order (MySQL's layout)
        json_cols = [c.index for c in self.columns if c.type == C.MYSQL_TYPE_JSON]
        rows = []
        read_image = self.read_image
        read_before = self._image_reader(before)
        while pos < end:
            b, pos = read_before(buf, pos)
            options, pos = _read_lenenc(buf, pos)
            partial_bits = 0
            if options & 1 and json_cols:
                nb = (len(json_cols) + 7) >> 3
                partial_bits = int.from_bytes(buf[pos : pos + nb], "little")
                pos += nb
            if not partial_bits:
                a, pos = read_image(buf, pos, after)
            else:
                partial = {c for k, c in enumerate(json_cols) if partial_bits >> k & 1}
                a, pos = self._read_partial_after(buf, pos, after, partial)
            rows.append((b, a))
        if pos != end:
            raise DecodeError(f"row image overran the event by {pos - end} bytes")
        return rows

    def _read_partial_after(
        self, buf: bytes, pos: int, after: tuple[int, ...], partial: set[int]
    ) -> tuple[list[str | None], int]:
        nb = (len(after) + 7) >> 3
        nulls = int.from_bytes(buf[pos : pos + nb], "little")
        pos += nb
        row: list[str | None] = []
        for k, i in enumerate(after):
            if nulls >> k & 1:
                row.append(None)
            elif i in partial:
                nbytes = self.columns[i].meta
                n = int.from_bytes(buf[pos : pos + nbytes], "little")
                pos += nbytes
                ref = self.columns[i].name or f"@{i + 1}"
                row.append(render_json_diff(ref, parse_json_diff(buf[pos : pos + n]), style="canal"))
                pos += n
            else:
                value, pos = self.readers[i](buf, pos)
                row.append(value)
        return row, pos


def _read_lenenc(buf: bytes, pos: int) -> tuple[int, int]:
    first = buf[pos]
    if first < 0xFB:
        return first, pos + 1
    if first == 0xFC:
        return buf[pos + 1] | buf[pos + 2] << 8, pos + 3
    if first == 0xFD:
        return int.from_bytes(buf[pos + 1 : pos + 4], "little"), pos + 4
    if first == 0xFE:
        return int.from_bytes(buf[pos + 1 : pos + 9], "little"), pos + 9
    raise DecodeError(f"bad length-encoded integer prefix 0x{first:02x}")
