"""Progress for long runs: one updating bar on a terminal, plain log lines for cron."""

from __future__ import annotations

import sys
import time
from typing import Callable

import click

from .app import App

BAR = 30


def _bar(fraction: float) -> str:
    filled = int(BAR * fraction)
    return f"[{'#' * filled}{'.' * (BAR - filled)}]"


def _on_terminal(app: App) -> bool:
    return sys.stderr.isatty() and not app.quiet


def page_logger(app: App) -> Callable[[int, int], None]:
    """Progress of a scope walk, by releases done of the total."""
    start = time.monotonic()

    def on_page(done: int, total: int) -> None:
        elapsed = time.monotonic() - start
        eta = elapsed / done * (total - done) if done else 0
        line = f"releases {done}/{total}  elapsed {elapsed:.0f}s  eta {eta:.0f}s"
        if _on_terminal(app):
            click.echo(f"\r{_bar(done / total if total else 1)} {line}", nl=False, err=True)
            if done >= total:
                click.echo("", err=True)
        else:
            app.note(line)

    return on_page


def bytes_progress(app: App) -> Callable:
    """Progress of a dump import by compressed bytes read: a bar on a terminal
    (redrawn at most 5 times a second), a log line a minute for cron.  Called
    with (None, None, None) when the import is over."""
    start = time.monotonic()
    last = [0.0]

    def on_progress(done, total, lines) -> None:
        tty = _on_terminal(app)
        if done is None:  # finished
            if tty and last[0]:
                click.echo("", err=True)
            return
        now = time.monotonic()
        elapsed = now - start
        frac = done / total if total else 0
        eta = elapsed / frac - elapsed if frac else 0
        line = f"{frac:6.1%}  {lines} lines  {lines / elapsed if elapsed else 0:.0f}/s  eta {eta:.0f}s"
        if tty:
            if now - last[0] >= 0.2:
                click.echo(f"\r{_bar(frac)} {line}", nl=False, err=True)
                last[0] = now
        elif now - last[0] >= 60 or not last[0]:
            app.note(line)
            last[0] = now

    return on_progress
