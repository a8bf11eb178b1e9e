"""Progress for long runs: one updating bar on a terminal, plain log lines for cron."""

from __future__ import annotations

import sys
import time
from typing import Callable

import click

from ..sources.dump_fetch import Archive
from ..sync.dump import ImportResult
from ..sync.dump_latest import Fetched, LatestProgress
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


def _throttled(app: App) -> Callable[[str | None, float], None]:
    """Writes progress lines: a bar redrawn at most 5 times a second on a
    terminal, a log line a minute (and the first at once) for cron.  Called
    with (None, 0) when the work is over, to end the bar's line."""
    last = [0.0]

    def show(line: str | None, frac: float) -> None:
        tty = _on_terminal(app)
        if line is None:
            if tty and last[0]:
                click.echo("", err=True)
            return
        now = time.monotonic()
        if tty:
            if now - last[0] >= 0.2:
                click.echo(f"\r{_bar(frac)} {line}", nl=False, err=True)
                last[0] = now
        elif now - last[0] >= 60 or not last[0]:
            app.note(line)
            last[0] = now

    return show


def bytes_progress(app: App) -> Callable:
    """Progress of a dump import by compressed bytes read: a bar on a terminal
    (redrawn at most 5 times a second), a log line a minute for cron.  Called
    with (None, None, None) when the import is over."""
    start = time.monotonic()
    show = _throttled(app)

    def on_progress(done, total, lines) -> None:
        if done is None:  # finished
            show(None, 0)
            return
        elapsed = time.monotonic() - start
        frac = done / total if total else 0
        eta = elapsed / frac - elapsed if frac else 0
        show(f"{frac:6.1%}  {lines} lines  {lines / elapsed if elapsed else 0:.0f}/s  eta {eta:.0f}s", frac)

    return on_progress


def download_progress(app: App, name: str) -> Callable:
    """Progress of a download: bytes, bytes/s (of this run's transfer, not of
    what an earlier run left) and the time left, as `bytes_progress` shows
    it.  Called with (done, total or None); (None, None) when it is over."""
    start = time.monotonic()
    first: list[int] = []
    show = _throttled(app)

    def on_progress(done, total) -> None:
        if done is None:
            show(None, 0)
            return
        first[:] = first or [done]
        elapsed = time.monotonic() - start
        rate = (done - first[0]) / elapsed if elapsed else 0
        frac = done / total if total else 0
        eta = f"eta {(total - done) / rate:.0f}s" if total and rate else "eta ?"
        size = f"{human_bytes(done)} of {human_bytes(total)}" if total else human_bytes(done)
        show(f"{name}: {size}  {human_bytes(rate)}/s  {eta}", frac)

    return on_progress


def human_bytes(n: float) -> str:
    """1234567 → '1.2 MB' (decimal units, as download tools show them)."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class DumpProgress(LatestProgress):
    """What fetching and importing the newest dump shows (`import-dump
    --latest`, `update --dump`): a line for an archive already imported, a
    bar or log lines for each download and import, a line for each verified
    archive; all on stderr (silenced by --quiet)."""

    def __init__(self, app: App):
        self.app = app
        self._bar: Callable | None = None

    def skipped(self, archive: Archive) -> None:
        self.app.note(f"already imported: {archive.dated}/{archive.name} ({archive.checksum.algorithm} "
                      f"{archive.checksum.hex[:16]}…): not fetched")

    def downloading(self, archive: Archive) -> Callable:
        self._bar = download_progress(self.app, archive.name)
        return self._bar

    def fetched(self, fetched: Fetched) -> None:
        self._end(None, None)
        archive, seconds, size = fetched.archive, fetched.seconds, fetched.size
        self.app.note(f"{archive.dated}/{archive.name}: {human_bytes(size)} in {seconds:.1f}s "
                      f"({human_bytes(size / seconds if seconds else 0)}/s"
                      f"{f', resumed {fetched.resumed} time(s)' if fetched.resumed else ''}); "
                      f"{archive.checksum.algorithm} matches {archive.checksum.listed_in.rsplit('/', 1)[-1]}")

    def importing(self, archive: Archive) -> Callable:
        self._bar = bytes_progress(self.app)
        return self._bar

    def imported(self, archive: Archive, result: ImportResult) -> None:
        self._end(None, None, None)

    def log(self, message: str) -> None:
        self.app.note(message)

    def _end(self, *none) -> None:
        """The bar of the download or import that just ended, closed."""
        if self._bar is not None:
            self._bar(*none)
            self._bar = None
