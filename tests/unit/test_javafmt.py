"""Java Double.toString / Float.toString text (pycanal.binlog.javafmt), as JDK 19+ prints it."""

from __future__ import annotations

import math
import os
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from pycanal.binlog import javafmt
from pycanal.binlog.javafmt import java_double_str, java_float_str


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def f32_bits(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def f64_bits(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


DOUBLES = [
    (1.0, "1.0"),
    (0.0, "0.0"),
    (-0.0, "-0.0"),
    (-1.5, "-1.5"),
    (100.0, "100.0"),
    (12345.0, "12345.0"),
    (0.1, "0.1"),
    (0.5, "0.5"),
    (0.01, "0.01"),
    (0.001, "0.001"),
    (0.0001, "1.0E-4"),
    (1.234e-5, "1.234E-5"),
    (9999999.0, "9999999.0"),
    (1e7, "1.0E7"),
    (12345678.0, "1.2345678E7"),
    (123456.789, "123456.789"),
    (0.1 + 0.2, "0.30000000000000004"),
    (1 / 3, "0.3333333333333333"),
    (2 / 3, "0.6666666666666666"),
    (math.pi, "3.141592653589793"),
    (math.e, "2.718281828459045"),
    (1e100, "1.0E100"),
    (1e21, "1.0E21"),
    (1e23, "1.0E23"),
    (2e23, "2.0E23"),
    (-1e-300, "-1.0E-300"),
    (1.7976931348623157e308, "1.7976931348623157E308"),  # Double.MAX_VALUE
    (2.2250738585072014e-308, "2.2250738585072014E-308"),  # Double.MIN_NORMAL
    (5e-324, "4.9E-324"),  # Double.MIN_VALUE: one digit would do, two are closer
    (1e-323, "9.9E-324"),  # 2 * MIN_VALUE (JDK 19+; older JDKs print 1.0E-323)
    (4.6566128730773926e-10, "4.656612873077393E-10"),  # JDK 19+ (JDK 17: 4.6566128730773926E-10)
    (9007199254740993.0, "9.007199254740992E15"),
    (float("nan"), "NaN"),
    (float("inf"), "Infinity"),
    (float("-inf"), "-Infinity"),
]

FLOATS = [
    (1.0, "1.0"),
    (0.0, "0.0"),
    (-0.0, "-0.0"),
    (0.1, "0.1"),
    (1.1, "1.1"),
    (3.14, "3.14"),
    (-2.5, "-2.5"),
    (100.0, "100.0"),
    (0.3, "0.3"),
    (1 / 3, "0.33333334"),
    (0.001, "0.001"),
    (1e-4, "1.0E-4"),
    (1e7, "1.0E7"),
    (9999999.0, "9999999.0"),
    (1e10, "1.0E10"),
    (16777216.0, "1.6777216E7"),
    (123456789.0, "1.2345679E8"),  # the float is 123456792; JDK 17 prints 1.23456792E8
    (3.4028234663852886e38, "3.4028235E38"),  # Float.MAX_VALUE
    (1.1754943508222875e-38, "1.1754944E-38"),  # Float.MIN_NORMAL
    (1.401298464324817e-45, "1.4E-45"),  # Float.MIN_VALUE
    (2.802596928649634e-45, "2.8E-45"),
    (float("nan"), "NaN"),
    (float("inf"), "Infinity"),
    (float("-inf"), "-Infinity"),
]


@pytest.mark.parametrize(("value", "text"), DOUBLES)
def test_double_to_string(value: float, text: str) -> None:
    assert java_double_str(value) == text


@pytest.mark.parametrize(("value", "text"), FLOATS)
def test_float_to_string(value: float, text: str) -> None:
    assert java_float_str(f32(value)) == text


def test_table_is_large_enough() -> None:
    assert len(DOUBLES) + len(FLOATS) >= 40


def test_negative_zero_is_not_confused_by_the_cache() -> None:
    assert [java_double_str(0.0), java_double_str(-0.0), java_double_str(0.0)] == ["0.0", "-0.0", "0.0"]
    assert [java_float_str(0.0), java_float_str(-0.0)] == ["0.0", "-0.0"]


def test_float_input_that_is_not_a_float32_is_rounded_first() -> None:
    assert java_float_str(0.1) == "0.1"  # the double 0.1 becomes the float 0.1f
    assert java_float_str(1e39) == "Infinity"


def _significant_digits(text: str) -> int:
    return len(text.lstrip("-").split("E")[0].replace(".", "").strip("0"))


def test_outputs_round_trip_and_are_short() -> None:
    rnd = random.Random(3)
    for _ in range(3000):
        d = f64_bits(rnd.getrandbits(64))
        if math.isfinite(d):
            text = java_double_str(d)
            assert float(text) == d
            assert _significant_digits(text) <= 17
        f = f32_bits(rnd.getrandbits(32))
        if math.isfinite(f):
            text = java_float_str(f)
            assert f32(float(text)) == f
            assert _significant_digits(text) <= 9


@pytest.mark.parametrize(
    ("bits", "text"), [(0x0F800000, "1.2621775E-29"), (0x6B000000, "1.5474251E26"), (0x6C800000, "1.2379401E27")]
)
def test_float32_power_of_two_uses_the_wide_upper_half(bits: int, text: str) -> None:
    # At a power of two the rounding interval is narrower below the value than above. For these floats
    # the closest 8-digit decimal lies below, outside the interval; the next one up is inside it.
    assert java_float_str(f32_bits(bits)) == text


def test_float32_midpoint_double_rounding_is_resolved_exactly() -> None:
    one_up = f32_bits(0x3F800001)  # 1 + 2**-23
    midpoint = "1.000000059604644775390625"  # exactly between 1.0f and one_up: ties to even, 1.0f
    assert javafmt._f32_round_trips(midpoint, 1.0)
    # A hair above the midpoint parses to the same double, but must round up to one_up.
    above = midpoint + "0000000001"
    assert float(above) == float(midpoint)
    assert javafmt._f32_round_trips(above, one_up)
    assert not javafmt._f32_round_trips(above, 1.0)
    below = "1.0000000596046447753906249999"
    assert javafmt._f32_round_trips(below, 1.0)


# --- cross-check against a real JDK 19+ ---------------------------------------------------------------

_JAVA_SRC = """
import java.io.*;
public class ToStr {
  public static void main(String[] a) throws Exception {
    BufferedReader r = new BufferedReader(new InputStreamReader(System.in));
    PrintWriter w = new PrintWriter(new BufferedWriter(new OutputStreamWriter(System.out)));
    for (String s; (s = r.readLine()) != null; ) {
      long b = Long.parseUnsignedLong(s.substring(1), 16);
      w.println(s.charAt(0) == 'd' ? Double.toString(Double.longBitsToDouble(b))
                                   : Float.toString(Float.intBitsToFloat((int) b)));
    }
    w.flush();
  }
}
"""


def _jdk19() -> str | None:
    candidates = [os.environ.get("JAVA_HOME", ""), *map(str, Path("/usr/lib/jvm").glob("*"))]
    which = shutil.which("java")
    if which:
        candidates.append(str(Path(which).resolve().parent.parent))
    for home in candidates:
        java = Path(home) / "bin" / "java"
        if not java.is_file():
            continue
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True).stderr
        try:
            major = int(out.split('"')[1].split(".")[0])
        except (IndexError, ValueError):
            continue
        if major >= 19:
            return str(java)
    return None


@pytest.mark.integration
def test_matches_a_real_jdk(tmp_path: Path) -> None:
    java = _jdk19()
    if java is None:
        pytest.skip("no JDK 19+ on this machine")
    src = tmp_path / "ToStr.java"
    src.write_text(_JAVA_SRC)
    rnd = random.Random(19)
    lines = []
    for _ in range(20000):
        lines.append(f"d{rnd.getrandbits(64):x}")
        lines.append(f"f{rnd.getrandbits(32):x}")
    for i in range(1, 400):  # subnormals, where the two-digit rule applies
        lines += [f"d{i:x}", f"f{i:x}"]
    for e in range(1, 255):  # float32 powers of two and their neighbours
        lines += [f"f{e << 23:x}", f"f{(e << 23) + 1:x}", f"f{(e << 23) - 1:x}"]
    for v in (0.001, 1e7, 123.45, 99.99):
        lines.append(f"f{struct.unpack('<I', struct.pack('<f', v))[0]:x}")
    out = subprocess.run([java, str(src)], input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    expected = out.stdout.split("\n")
    for line, want in zip(lines, expected, strict=False):
        bits = int(line[1:], 16)
        got = java_double_str(f64_bits(bits)) if line[0] == "d" else java_float_str(f32_bits(bits))
        assert got == want, line
