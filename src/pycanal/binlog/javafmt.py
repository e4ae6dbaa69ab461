"""Java's ``Double.toString`` / ``Float.toString`` text for Python floats.

canal renders FLOAT and DOUBLE column values with ``String.valueOf(Float|Double)``, so pycanal must print
floats exactly as Java does. This follows the JDK 19+ specification (Raffaello Giulietti's algorithm,
JDK-4511638): pick the shortest decimal that rounds back to the same float32/double, the one closest to
the exact value when several are shortest; when the shortest has one digit, a two-digit decimal that is
closer wins (``4.9E-324``, ``1.4E-45``). Layout: plain notation with at least one fraction digit for
``1e-3 <= |x| < 1e7`` (``100.0``, ``0.001``), otherwise computerized scientific notation (``1.0E7``,
``1.234E-5``). JDK 8-18 print a few values with one digit more than needed; that is not reproduced.

Pure: imports only the standard library.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction
from functools import lru_cache

__all__ = ["java_double_str", "java_float_str"]

_F32 = struct.Struct("<f")
_I32 = struct.Struct("<I")
_pack_f = _F32.pack
_unpack_f = _F32.unpack
_DBL_MIN_NORMAL = 2.2250738585072014e-308
_FLT_MIN_NORMAL = 1.1754943508222875e-38
_FLT_MAX = 3.4028234663852886e38


def _split_repr(text: str) -> tuple[str, int]:
    """Digits (no leading/trailing zeros) and point position of a positive float's repr/%e text.

    The value is ``0.DIGITS * 10**decpt``.
    """
    exp = 0
    if "e" in text:
        text, e = text.split("e")
        exp = int(e)
    if "." in text:
        ipart, fpart = text.split(".")
    else:
        ipart, fpart = text, ""
    alld = ipart + fpart
    stripped = alld.lstrip("0")
    lead = len(alld) - len(stripped)
    return stripped.rstrip("0"), len(ipart) + exp - lead


def _layout(neg: bool, digits: str, decpt: int) -> str:
    """Java's layout of ``0.DIGITS * 10**decpt``."""
    sign = "-" if neg else ""
    if -2 <= decpt <= 7:  # 1e-3 <= |x| < 1e7: plain notation
        if decpt <= 0:
            return f"{sign}0.{'0' * -decpt}{digits}"
        if len(digits) <= decpt:
            return f"{sign}{digits}{'0' * (decpt - len(digits))}.0"
        return f"{sign}{digits[:decpt]}.{digits[decpt:]}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{decpt - 1}"


def _special(x: float) -> str | None:
    if x != x:
        return "NaN"
    if x == math.inf:
        return "Infinity"
    if x == -math.inf:
        return "-Infinity"
    if x == 0.0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    return None


# --- float32 helpers ---------------------------------------------------------------------------------


def _to_f32(x: float) -> float:
    """Round a double to the nearest float32 (inf when out of range)."""
    try:
        return _unpack_f(_pack_f(x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def _f32_next(f: float, up: bool) -> float:
    """The float32 next to the non-negative finite float32 ``f``."""
    bits = _I32.unpack(_pack_f(f))[0]
    bits = bits + 1 if up else bits - 1
    return _unpack_f(_I32.pack(bits))[0]


def _f32_round_trips(text: str, f: float) -> bool:
    """Does the decimal ``text`` round (to nearest, ties to even) to the positive float32 ``f``?

    Parsing to double first and rounding that to float32 is exact except when the double lands exactly
    on a float32 midpoint; that rare case is settled with exact rational arithmetic.
    """
    d = float(text)
    try:
        g = _unpack_f(_pack_f(d))[0]
    except OverflowError:
        return False
    if d == g:
        return g == f
    other = 2.0 * d - g  # the neighbouring float32 exactly when d is a midpoint
    try:
        if _unpack_f(_pack_f(other))[0] != other:
            return g == f  # not a midpoint: the double rounding was exact
    except OverflowError:
        return g == f
    exact = Fraction(text)
    if exact == Fraction(d):  # a true tie: ties-to-even already chose g
        return g == f
    return (other if (exact > Fraction(d)) == (other > g) else g) == f


def _f32_shortest(f: float) -> tuple[str, int]:
    """Shortest decimal (closest among the shortest) that rounds to the positive finite float32 ``f``."""
    bits = _I32.unpack(_pack_f(f))[0]
    pow2 = (bits & 0x7FFFFF) == 0 and (bits >> 23) > 1  # the gap below is half the gap above

    def attempt(p: int) -> str | None:
        text = f"{f:.{p - 1}e}"
        if _f32_round_trips(text, f):
            return text
        if pow2 and float(text) < f:
            # Only the upper neighbour can lie in the (wider) upper half of the rounding interval.
            mant, exp = text.split("e")
            up = f"{int(mant.replace('.', '')) + 1}e{int(exp) - (p - 1)}"
            if _f32_round_trips(up, f):
                return up
        return None

    # "Some p-digit decimal rounds to f" is monotone in p, so bisect over 1..9 (9 always suffices).
    best = None
    lo, hi = 1, 9
    while lo < hi:
        mid = (lo + hi) // 2
        got = attempt(mid)
        if got is not None:
            best, hi = got, mid
        else:
            lo = mid + 1
    if best is None:
        best = f"{f:.8e}"
    return _split_repr(best)


# --- the one-digit rule (only subnormals can trigger it) ---------------------------------------------


def _interval(x: float, is_f32: bool) -> tuple[Fraction, Fraction, bool]:
    """Exact rounding interval [lo, hi] of the positive value ``x``, and whether its ends belong to it."""
    if is_f32:
        lo_n = _f32_next(x, False)
        hi_n = _f32_next(x, True)
        even = (_I32.unpack(_pack_f(x))[0] & 1) == 0
    else:
        lo_n = math.nextafter(x, 0.0)
        hi_n = math.nextafter(x, math.inf)
        even = (struct.unpack("<Q", struct.pack("<d", x))[0] & 1) == 0
    fx = Fraction(x)
    return (fx + Fraction(lo_n)) / 2, (fx + Fraction(hi_n)) / 2, even


def _one_or_two_digits(x: float, digits: str, decpt: int, is_f32: bool) -> tuple[str, int]:
    """Java's rule when the shortest decimal has one digit: the closest of all 1- and 2-digit decimals."""
    lo, hi, inclusive = _interval(x, is_f32)
    fx = Fraction(x)
    best: tuple[Fraction, int, int] | None = None  # (distance, c, k): value c * 10**k
    e10 = decpt - 1
    for k in (e10 - 2, e10 - 1, e10, e10 + 1):
        scale = Fraction(10) ** k
        centre = int(fx / scale)
        for c in range(max(1, centre - 2), min(99, centre + 3) + 1):
            v = c * scale
            if not (lo < v < hi or (inclusive and v in (lo, hi))):
                continue
            dist = abs(v - fx)
            if best is None or dist < best[0] or (dist == best[0] and int(str(c).rstrip("0")[-1]) % 2 == 0):
                best = (dist, c, k)
    if best is None:  # cannot happen: the shortest decimal itself is a candidate
        return digits, decpt
    _, c, k = best
    text = str(c)
    return text.rstrip("0"), len(text) + k


# --- public API ----------------------------------------------------------------------------------------


def java_double_str(x: float) -> str:
    """``Double.toString(x)`` as JDK 19+ prints it."""
    if 1e-3 <= x < 1e7 or -1e7 < x <= -1e-3:
        # Python's repr is the shortest round-tripping decimal too, and in this range both print it in
        # plain notation with at least one fraction digit ("100.0", "0.0015"): the same text.
        return repr(x)
    special = _special(x)  # before the cache: 0.0 and -0.0 are equal keys to it
    return special if special is not None else _double_str(x)


@lru_cache(maxsize=65536)
def _double_str(x: float) -> str:
    ax = -x if x < 0 else x
    digits, decpt = _split_repr(repr(ax))
    if len(digits) == 1 and ax < _DBL_MIN_NORMAL:
        digits, decpt = _one_or_two_digits(ax, digits, decpt, False)
    return _layout(x < 0, digits, decpt)


def java_float_str(x: float) -> str:
    """``Float.toString(f)`` as JDK 19+ prints it; ``x`` is a float32 value widened to double.

    A double that is not exactly a float32 is rounded to float32 first, as a Java cast would.
    """
    f = _to_f32(x)
    special = _special(f)
    return special if special is not None else _float_str(f)


@lru_cache(maxsize=65536)
def _float_str(f: float) -> str:
    af = -f if f < 0 else f
    digits, decpt = _f32_shortest(af)
    if len(digits) == 1 and af < _FLT_MIN_NORMAL:
        digits, decpt = _one_or_two_digits(af, digits, decpt, True)
    return _layout(f < 0, digits, decpt)
