"""Files a command writes for the user (`export --to`, `report --html`)."""

from __future__ import annotations

from ..output.files import write_text_atomic
from .app import EXIT_USAGE, UserError


def write_file(path: str, text: str) -> None:
    """Write `text` to `path` atomically (a temporary file renamed into
    place); a path that cannot be written is a usage error (exit 2)."""
    try:
        write_text_atomic(path, text)
    except OSError as exc:
        raise UserError(str(exc), EXIT_USAGE) from None
