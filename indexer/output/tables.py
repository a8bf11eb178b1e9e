"""Rows out: an aligned table for people, CSV / JSON / NDJSON for tools.

Titles come from upstream and may be hostile.  The terminal table escapes
every control character (`\x1b]0;…\x07` would retitle the window); CSV is
RFC 4180 (CRLF line ends, so a CR or LF inside a field is quoted) and by
default neutralises a text cell a spreadsheet would run as a formula
(OWASP: a leading `=`, `+`, `-`, `@`, tab or CR gets a `'` prefix); JSON
escapes C0 controls by itself, and C1 controls are escaped here too.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import uuid
from typing import Iterable

import wcwidth

FORMATS = ("table", "csv", "json", "ndjson")
#: what `export` writes to a file (the formats without the terminal table)
EXPORT_FORMATS = ("csv", "json", "ndjson")


#: C0 and C1 controls, DEL, the Unicode line and paragraph separators (U+2028,
#: U+2029: a terminal may break the line) and the bidi controls that reorder a line
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069]")
#: C1 controls, which JSON leaves raw but some terminals act on (\x9b = CSI)
_C1 = re.compile("[\x7f-\x9f]")
#: a cell starting with one of these is a formula to a spreadsheet
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """`text` with every control character written as an escape (`\\x1b`,
    `\\u202e`): safe to print on a terminal, one line."""
    return _CONTROL.sub(_escape, text)


def terminal_safe_tree(value):
    """`value` (dicts, lists and tuples of anything) with `terminal_safe`
    applied to every string in it, for views that compose text themselves."""
    if isinstance(value, str):
        return terminal_safe(value)
    if isinstance(value, dict):
        return {k: terminal_safe_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(terminal_safe_tree(v) for v in value)
    return value


def csv_safe(value) -> str:
    """The CSV cell of `value`, with a leading `'` if a spreadsheet would
    take its text for a formula; numbers (a negative score) stay as they are."""
    text = _cell(value)
    if text.startswith(_FORMULA_START) and not isinstance(value, (int, float)):
        return "'" + text
    return text


def _plain(value):
    if isinstance(value, (uuid.UUID,)):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _cell(value) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) and not any(isinstance(v, (dict, list, tuple)) for v in value):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, (dict, list, tuple)):  # nested values (`show`'s tracks, revisions) as in the JSON output
        return json.dumps(_jsonable(value), ensure_ascii=False)
    return str(value)


def render(rows: Iterable[dict], fmt: str = "table", columns: list[str] | None = None,
           *, spreadsheet_safe: bool = True) -> str:
    """`rows` as text in `fmt`, without a final line end.  With
    `spreadsheet_safe=False` CSV cells are written exactly as stored (for
    machines, not spreadsheets)."""
    rows = list(rows)
    if columns is None:
        columns = list(rows[0].keys()) if rows else []
    if fmt == "json":
        return _json_out(json.dumps([{c: _jsonable(r.get(c)) for c in columns} for r in rows], indent=2,
                                    ensure_ascii=False))
    if fmt == "ndjson":
        return _json_out("\n".join(json.dumps({c: _jsonable(r.get(c)) for c in columns}, ensure_ascii=False)
                                   for r in rows))
    if fmt == "csv":
        cell = csv_safe if spreadsheet_safe else _cell
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow([cell(r.get(c)) for c in columns])
        return buf.getvalue().removesuffix("\r\n")
    if fmt != "table":
        raise ValueError(f"unknown output format {fmt!r}")
    if not rows:
        return "(no rows)"
    cells = [[terminal_safe(_cell(r.get(c))) for c in columns] for r in rows]
    header = [terminal_safe(c) for c in columns]
    widths = [min(60, max(_width(c), *(_width(row[i]) for row in cells))) for i, c in enumerate(header)]
    lines = ["  ".join(_pad(c, w) for c, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(_pad(_clip(v, w), w) for v, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def as_file(rows: Iterable[dict], fmt: str, columns: list[str] | None = None, *,
            spreadsheet_safe: bool = True) -> str:
    """`render` as the text of a whole file: ending in a line end, CRLF for
    CSV (RFC 4180).  What `export` writes and the web page downloads."""
    return render(rows, fmt, columns, spreadsheet_safe=spreadsheet_safe) + ("\r\n" if fmt == "csv" else "\n")


def _width(text: str) -> int:
    """Columns a terminal gives the text, as `wcwidth` measures them: East
    Asian wide characters and emoji take two, combining marks and zero-width
    characters none, an emoji sequence joined by ZWJ two.  The table escapes
    control characters before measuring; one that got through counts as no
    column rather than making the sum negative."""
    if text.isascii() and text.isprintable():
        return len(text)
    width = wcwidth.wcswidth(text)
    if width >= 0:
        return width
    return sum(max(0, wcwidth.wcswidth(g)) for g in wcwidth.iter_graphemes(text))


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def _clip(text: str, width: int) -> str:
    """`text` cut to `width` columns, the last one an ellipsis; whole
    graphemes only (a base character keeps its combining marks, a ZWJ
    sequence is kept or dropped whole)."""
    if _width(text) <= width:
        return text
    out, used = [], 0
    for grapheme in wcwidth.iter_graphemes(text):
        w = _width(grapheme)
        if used + w > width - 1:
            break
        out.append(grapheme)
        used += w
    return "".join(out) + "…"


def json_document(value) -> str:
    """One JSON object (not a list of rows, e.g. `status -o json`), the same encoding as `render`."""
    return _json_out(json.dumps(_jsonable(value), indent=2, ensure_ascii=False))


def _json_out(text: str) -> str:
    """JSON text with C1 controls as \\u escapes (still the same JSON)."""
    return _C1.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _jsonable(value):
    value = _plain(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value
