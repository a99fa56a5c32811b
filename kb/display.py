"""Text from outside (file names, above all) made safe to print on a terminal or in a log.

A data file may be named anything a file system allows: a newline in its name would forge
a line of error output ("data/x.yaml:1:1: ..."), an ESC would start a terminal escape
sequence (move the cursor, retitle the window, hide what follows). Every control character
is written as a visible escape instead, so each name prints as one inert line.
"""

from __future__ import annotations

import re

# C0 controls and DEL, C1 controls (U+0080-U+009F: a terminal may act on them, NEL breaks
# lines), the Unicode line and paragraph separators, and the bidirectional overrides and
# isolates that can make a name display in another order than it reads. Lone surrogates
# too: Python decodes a name's bytes that are not UTF-8 to U+DC80-U+DCFF, which cannot be
# printed (UnicodeEncodeError); they are shown as the byte they stand for.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte of a file name (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control character written as an escape (``\\n``, ``\\x1b``,
    ``\\u202e``); other text, accents and spaces included, is left as it is."""
    return _CONTROL.sub(_escape, text)


# A cell starting with one of these is run as a formula by spreadsheets (OWASP, "CSV
# Injection"): "=HYPERLINK(...)", "+cmd|...", "-2+3", "@SUM(...)", or after a tab or CR.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def spreadsheet_safe(cell: str) -> str:
    """``cell`` for a CSV file a spreadsheet may open: a leading ``'`` if it would start a
    formula. A cell that is a plain number ("-12", "+3.5") is kept as it is: a spreadsheet
    reads it as the same number either way, and programs reading the CSV still get it."""
    if cell.startswith(_FORMULA_START) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell
