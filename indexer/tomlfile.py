"""A TOML file a user names (a config file, a risk policy), read within bounds.

tomllib reads whatever it is given: `/dev/zero` until memory runs out, an
array nested 100,000 deep until the interpreter's recursion limit, a NUL
that PostgreSQL later refuses.  `read_toml` reads at most MAX_BYTES, refuses
nesting deeper than MAX_DEPTH and control characters in keys and strings,
and says so in one line (`TomlFileError`); the caller turns that into its
own typed error (ConfigError, PolicyError).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

#: a config file or policy is a few kilobytes; this is far beyond any real one
MAX_BYTES = 1 << 20
#: tables and arrays inside each other (a policy needs 3)
MAX_DEPTH = 16
#: control characters: none in a key; in a string only tab and line breaks
_KEY_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_TEXT_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class TomlFileError(ValueError):
    """The file is not TOML we read: too big, nested too deep, not valid,
    or holding control characters.  The message names the file."""


def read_toml(path: Path, what: str) -> dict:
    """The TOML document at `path` (`what`: "config file", "policy file",
    for the messages).  OSError (missing, unreadable) passes through."""
    return parse_toml(read_text(path, what), path, what)


def parse_toml(text: str, path, what: str) -> dict:
    """`text` as a TOML document, within the bounds above (`path` names it
    in messages: a file, or where a stored text came from)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TomlFileError(f"{what} {path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise TomlFileError(f"{what} {path} is nested deeper than {MAX_DEPTH} levels") from None
    _check(data, path, what, "", 0)
    return data


def read_text(path: Path, what: str) -> str:
    """The file's text, at most MAX_BYTES of UTF-8: a regular file by its
    size, a device or a pipe (/dev/zero, `<(...)`) by reading at most
    MAX_BYTES + 1.  OSError passes through."""
    try:
        return _text(path, what)
    except UnicodeDecodeError as exc:
        raise TomlFileError(f"{what} {path} is not valid TOML: {exc}") from None


def _text(path: Path, what: str) -> str:
    too_big = TomlFileError(f"{what} {path} is larger than {MAX_BYTES >> 20} MB: not read")
    if path.is_file():
        if path.stat().st_size > MAX_BYTES:
            raise too_big
        return path.read_text(encoding="utf-8")
    with open(path, "rb") as f:
        raw = f.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise too_big
    return raw.decode("utf-8")


def _check(value, path: Path, what: str, where: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise TomlFileError(f"{what} {path} is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        if _TEXT_CONTROL.search(value):
            raise TomlFileError(f"{what} {path}: {where or 'a value'} holds a control character "
                                f"({_TEXT_CONTROL.search(value).group()!r}); remove it")
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{where}.{key}" if where else key
            if _KEY_CONTROL.search(key):
                raise TomlFileError(f"{what} {path}: the key {name!r} holds a control character; remove it")
            _check(item, path, what, name, depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, path, what, f"{where}[{i}]", depth + 1)
