"""Running `mbindex import-dump` and reporting it: a local PATH or the newest
dump, each import's summary line and exit code.  Imported by the command
(`commands/import_dump.py`) only once it has started the dump's reader, so
that the library loads while the reader reads."""

from __future__ import annotations

from pathlib import Path

import click

from .. import runs
from ..sync.dump import ImportResult, TombstoneGuard, import_dump
from ..sync.dump_batches import ReaderProcess
from ..sync.dump_latest import DEFAULT_ENTITIES, find_newest, import_newest
from .app import EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, EXIT_QUARANTINED, App, UserError
from .progress import DumpProgress, bytes_progress

__all__ = ["DEFAULT_ENTITIES", "TombstoneGuard", "import_latest", "import_path"]


def import_path(app: App, path: Path, entity: str | None, options: dict, reader: ReaderProcess | None = None) -> int:
    """One `import_dump` of a local PATH under the writer lock, with progress
    and its report; its exit code (see `_exit_code`).  `reader`: one started
    before the library was imported (`dump_batches.start_reader`)."""
    database = app.db()
    progress = bytes_progress(app)
    with runs.writer(database, "import"):
        result = import_dump(database, path, entity=entity, on_progress=progress, log=app.note, reader=reader,
                             **options)
    progress(None, None, None)
    _print(result)
    return _exit_code(result)


def import_latest(app: App, entities: list[str], keep: Path | None, options: dict) -> int:
    """The newest dump (`sync.dump_latest`): LATEST and the checksums are
    read before the database is opened, and the database is opened before a
    long download; each import's summary is printed as it ends."""
    newest = find_newest(app.settings(), entities)
    database = app.db()  # an unreachable database is said before a long download
    result = import_newest(database, newest, keep=keep, progress=_Shown(app), **options)
    return max((_exit_code(imported) for _, imported in result.imports), default=EXIT_OK)


class _Shown(DumpProgress):
    """The newest dump's progress, and each import's summary as it ends; an
    archive skipped is said even with --quiet, with how to import it again."""

    def skipped(self, archive) -> None:
        click.echo(f"already imported: {archive.dated}/{archive.name} ({archive.checksum.algorithm} "
                   f"{archive.checksum.hex[:16]}…); use --again to import it once more", err=True)

    def imported(self, archive, result: ImportResult) -> None:
        super().imported(archive, result)
        _print(result)


def _print(result: ImportResult) -> None:
    """The files skipped as imported before and the summary line; the
    quarantine line for an import that finished."""
    for label in result.skipped:
        click.echo(f"already imported: {label} (use --again to import it once more)", err=True)
    rate = result.lines / result.seconds if result.seconds else 0
    c = result.counts
    click.echo(
        f"run {result.run_id}: {result.status}; {result.lines} line(s) in {result.seconds:.1f}s ({rate:.0f}/s); "
        f"inserted {c.inserted}, updated {c.updated}, unchanged {c.unchanged}, "
        f"quarantined {c.quarantined}, tombstoned {c.tombstoned}"
    )
    if result.status not in (runs.FAILED, runs.PARTIAL) and c.quarantined:
        click.echo(f"{c.quarantined} line(s) quarantined: see the quarantine table (sync_run_id "
                   f"{result.run_id})", err=True)


def _exit_code(result: ImportResult) -> int:
    """0, or 5 with quarantined lines, for a finished import; UserError for a
    failed (1) or partial (3: tombstones refused) one."""
    if result.status == runs.FAILED:
        raise UserError(f"import failed: {result.error} (run the same command again to continue)", EXIT_FAILURE)
    if result.status == runs.PARTIAL:
        raise UserError(result.error, EXIT_PARTIAL)
    return EXIT_QUARANTINED if result.counts.quarantined else EXIT_OK
