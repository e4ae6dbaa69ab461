"""The cached temporal text paths agree with the plain conversions, across DST transitions too."""

from __future__ import annotations

import random
import time

import pytest

from pycanal.binlog.rows import _datetime2_reader, _timestamp_text


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Shanghai", "Australia/Lord_Howe", "Asia/Kathmandu"])
def test_timestamp_text_matches_localtime(monkeypatch, zone):
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        rng = random.Random(zone)
        # around the 2024 DST transitions, and spread over the whole TIMESTAMP range
        samples = [1710054000 + d for d in range(-7200, 7200, 37)] + [1730613600 + d for d in range(-7200, 7200, 41)]
        samples += [rng.randrange(1, 2**31) for _ in range(3000)]
        for s in samples:
            t = time.localtime(s)
            expected = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
            assert _timestamp_text(s, 0, 0, None) == expected, (zone, s)
            assert _timestamp_text(s, 123456, 3, None) == expected + ".123"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_datetime2_all_precisions():
    # 2020-01-02 03:04:05.123456 in DATETIME2 layout
    ym = 2020 * 13 + 1
    intpart = ((ym << 5 | 2) << 17) | (3 << 12 | 4 << 6 | 5)
    head = (intpart + 0x8000000000).to_bytes(5, "big")
    fracs = {
        0: b"",
        1: bytes([12]),
        2: bytes([12]),
        3: (1234).to_bytes(2, "big"),
        4: (1234).to_bytes(2, "big"),
        5: (123456).to_bytes(3, "big"),
        6: (123456).to_bytes(3, "big"),
    }
    want = {0: "", 1: ".1", 2: ".12", 3: ".123", 4: ".1234", 5: ".12345", 6: ".123456"}
    for fsp in range(7):
        data = head + fracs[fsp]
        assert _datetime2_reader(fsp)(data, 0) == (f"2020-01-02 03:04:05{want[fsp]}", len(data))
    zero = (0x8000000000).to_bytes(5, "big") + b"\0\0"
    assert _datetime2_reader(3)(zero, 0) == ("0000-00-00 00:00:00.000", 7)


@pytest.mark.parametrize("zone", ["America/New_York", "Africa/Monrovia", "Asia/Kolkata"])
def test_timestamp2_reader_minute_cache_matches_localtime(monkeypatch, zone):
    from pycanal.binlog.rows import _timestamp2_reader

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        read = _timestamp2_reader(2, None)
        rng = random.Random(zone)
        # Monrovia kept a -0:44:30 offset until 1972: minutes do not line up there
        samples = [rng.randrange(0, 90_000_000) for _ in range(2000)] + [1710054000 + d for d in range(-5000, 5000, 7)]
        for s in samples + samples:  # twice: the second pass hits the cache
            t = time.localtime(s)
            expected = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
            data = s.to_bytes(4, "big") + bytes([42])
            assert read(data, 0) == (f"{expected}.42" if s else "0000-00-00 00:00:00.00", 5), (zone, s)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
