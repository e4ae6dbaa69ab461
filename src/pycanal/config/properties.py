"""java.util.Properties, exactly: a ``.properties`` file copied from a canal install means the same here.

Separators ``=``/``:``/whitespace, ``#``/``!`` comments, backslash continuations, ``\\t \\n \\uXXXX`` escapes,
any other ``\\x`` -> ``x`` (checked against real java on random inputs). Imports: pycanal.errors only.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
from collections.abc import Iterable

from ..errors import ConfigError

log = logging.getLogger("pycanal.config")

_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")  # not str.splitlines: \f, \v, \x1c.. are not line breaks here
_WHITESPACE = " \t\f"


def parse_properties(text: str, source: str = "<string>") -> dict[str, str]:
    """Keys and values of Java ``.properties`` text, with ``java.util.Properties.load`` semantics.

    ``source`` only names the text in error messages. A malformed ``\\uXXXX`` escape raises ConfigError
    (Java throws IllegalArgumentException). Later duplicates win, as in Java.
    """
    props: dict[str, str] = {}
    parts = _LINE_BREAK.split(text)
    lines, breaks = parts[::2], [*parts[1::2], ""]
    i = 0
    while i < len(lines):
        lineno = i + 1
        line = lines[i].lstrip(_WHITESPACE)
        i += 1
        if not line or line[0] in "#!":
            continue  # comments never continue onto the next line
        pieces: list[str] = []
        at_eof = False
        while _ends_with_odd_backslashes(line):
            pieces.append(line[:-1])
            # A continuation that meets the end of input just drops the backslash. (Java then keeps even
            # an empty line, as key "", unless a \r\n came first: its reader looks ahead one character.)
            if i >= len(lines) or (i == len(lines) - 1 and not lines[i] and breaks[i - 1] != "\r\n"):
                line, at_eof, i = "", True, len(lines)
                break
            line = lines[i].lstrip(_WHITESPACE)  # leading whitespace of a continuation line is dropped
            i += 1
            if not line:
                break  # an empty continuation line ends the logical line
            if line[0] in "#!" and not any(pieces):
                line = ""  # nothing gathered yet, so (as in Java 9+) this is a comment line
                break
        pieces.append(line)
        logical = "".join(pieces)
        if not logical and not at_eof:
            continue  # e.g. a line holding only a backslash, then a blank line
        key, value = _split_key_value(logical)
        where = f"{source}:{lineno}"
        props[_unescape(key, where)] = _unescape(value, where)
    return props


def _ends_with_odd_backslashes(line: str) -> bool:
    n = len(line) - len(line.rstrip("\\"))
    return n % 2 == 1


def _split_key_value(line: str) -> tuple[str, str]:
    """Split at the first unescaped ``=``, ``:`` or whitespace; one ``=``/``:`` after whitespace is eaten."""
    key_end = len(line)
    value_start = len(line)
    has_sep = False
    backslash = False
    for pos, ch in enumerate(line):
        if not backslash and ch in "=:":
            key_end, value_start, has_sep = pos, pos + 1, True
            break
        if not backslash and ch in _WHITESPACE:
            key_end, value_start = pos, pos + 1
            break
        backslash = (not backslash) if ch == "\\" else False
    while value_start < len(line):
        ch = line[value_start]
        if ch not in _WHITESPACE:
            if has_sep or ch not in "=:":
                break
            has_sep = True
        value_start += 1
    return line[:key_end], line[value_start:]


_SIMPLE_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(text: str, where: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        i += 1
        if ch != "\\":
            out.append(ch)
            continue
        if i >= n:
            break  # cannot happen after continuation handling; Java would drop it too
        ch = text[i]
        i += 1
        if ch == "u":
            digits = text[i : i + 4]
            if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise ConfigError(f"{where}: malformed \\uxxxx escape in {text!r}")
            out.append(chr(int(digits, 16)))
            i += 4
        else:
            out.append(_SIMPLE_ESCAPES.get(ch, ch))
    result = "".join(out)
    if any("\ud800" <= c <= "\udfff" for c in result):
        # \uD83D\uDE00 is one character written as a UTF-16 pair, as Java sees it
        result = result.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return result


def load_properties(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read and parse a ``.properties`` file as UTF-8 (BOM tolerated).

    canal reads its files with ``Properties.load(InputStream)``, i.e. ISO-8859-1, so a canal file holds
    non-ASCII values as ``\\uXXXX`` escapes, which read the same either way; pycanal reads UTF-8 because
    that is what a user typing ``päss`` wrote. A line that is not valid UTF-8 is read as ISO-8859-1 (what
    canal would read), with a warning naming file and line when it holds a setting, so one stray byte in a
    comment changes nothing and no value is changed silently.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse_properties(decode_properties(data, path), source=path)


def decode_properties(data: bytes, source: str = "<bytes>") -> str:
    """The text of a properties file: UTF-8, and ISO-8859-1 for the lines that are not UTF-8 (warned)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    lines = data.split(b"\n")
    for n, raw in enumerate(lines):
        try:
            lines[n] = raw.decode("utf-8").encode("utf-8")
            continue
        except UnicodeDecodeError:
            text = raw.decode("iso-8859-1")
        stripped = text.lstrip(_WHITESPACE)
        if stripped.startswith(("#", "!")) or not stripped.strip():
            log.debug("%s:%d: a comment that is not valid UTF-8", source, n + 1)
        else:
            log.warning(
                "%s:%d: not valid UTF-8; read as ISO-8859-1 (as canal reads it): %s",
                source,
                n + 1,
                text.strip()[:120],
            )
        lines[n] = text.encode("utf-8")
    return b"\n".join(lines).decode("utf-8")


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """``-D key=value`` command line items -> a dict; the value is taken as is (no escapes)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"-D {item!r}: expected key=value")
        out[key.strip()] = value
    return out
