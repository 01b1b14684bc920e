"""Neutralise user-supplied strings (camera, folder and file names, start times, notes) for output.

Every such string is untrusted wherever it ends up: a terminal (control characters and ANSI escapes
can rewrite the screen), a file or zip entry name (``..``, separators, absolute paths), a CSV cell
opened by a spreadsheet (formula injection). One function per destination; the HTML and Markdown
escapes of the web UI live in ``app.ui._format``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

__all__ = ["csv_cell", "printable", "safe_filename"]

# ANSI/VT escape sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other 2-byte ESC
# sequences, and the 8-bit CSI (U+009B). Removed whole, so no parameter bytes are left behind.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"          # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC ... BEL | ST
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"      # DCS/SOS/PM/APC ... ST
    r"|\x1b[@-Z\\-_]"                      # 2-byte sequences
    r"|\x9b[0-?]*[ -/]*[@-~]"              # 8-bit CSI
)
# Unicode categories never shown as such: controls (Cc), format characters incl. bidi overrides
# and zero-width ones (Cf), line/paragraph separators (Zl, Zp), surrogates (Cs), unassigned (Cn),
# private use (Co).
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Cn", "Co"})
_CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_FILENAME_UNSAFE = re.compile(r"[^\w.\- ]+")
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))})


def printable(text: Any, *, keep_newlines: bool = False, max_chars: int | None = None) -> str:
    """``text`` as a string safe to write to a terminal or a log line.

    ANSI escape sequences are removed whole; every other control or invisible formatting character
    (C0/C1 controls incl. CR and ESC, bidi overrides such as U+202E, zero-width characters,
    U+2028/2029) is dropped, except ``\\n`` when ``keep_newlines``; a tab becomes a space.
    ``max_chars`` cuts the result (with ``…``).
    """
    s = _ANSI.sub("", str(text))
    out = []
    for ch in s:
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch == "\t":
            out.append(" ")
        elif unicodedata.category(ch) not in _HIDDEN_CATEGORIES:
            out.append(ch)
    result = "".join(out)
    if max_chars is not None and len(result) > max_chars:
        result = result[: max(0, max_chars - 1)] + "…"
    return result


def csv_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP CSV injection advice).

    Strings starting with ``= + - @``, a tab, CR or LF (or their full-width forms) get a leading
    single quote; numbers, booleans and None are returned unchanged (a negative score stays a number).
    """
    if not isinstance(value, str):
        return value
    stripped = value.lstrip(" ")  # spreadsheets skip leading spaces before a formula too
    if stripped.startswith(_CSV_TRIGGERS) or value.startswith(_CSV_TRIGGERS):
        return "'" + value
    return value


def safe_filename(name: Any, *, default: str = "file", max_len: int = 80) -> str:
    """``name`` as one safe path component (for files we write and zip entries).

    NFKC-normalised; control characters removed; anything but letters, digits, ``_ . -`` and
    spaces becomes ``_`` (so no ``/``, ``\\``, ``:`` or drive letters); no leading dots (no ``..``
    or hidden files) or trailing dots/spaces; Windows device names prefixed; at most ``max_len``
    characters (the suffix kept); never empty (``default``).
    """
    text = printable(unicodedata.normalize("NFKC", str(name)))
    text = _FILENAME_UNSAFE.sub("_", text)
    text = re.sub(r"\.{2,}", ".", text)
    text = re.sub(r"_{2,}", "_", text).strip(" ._")
    if text.split(".", 1)[0].lower() in _WINDOWS_RESERVED:
        text = "_" + text
    if len(text) > max_len:
        stem, dot, suffix = text.rpartition(".")
        if dot and 0 < len(suffix) <= 10 and stem:
            text = stem[: max_len - len(suffix) - 1].rstrip(" ._") + "." + suffix
        else:
            text = text[:max_len].rstrip(" ._")
    return text or default
