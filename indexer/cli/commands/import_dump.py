"""`mbindex import-dump PATH`: seed the mirror from the JSON data dumps;
`mbindex import-dump --latest`: fetch the newest ones first, verified
(`sync.dump_latest` does it; this module parses, shows and reports)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ... import runs
from ...mapping import ENTITY_TYPES
from ...sources.dump_files import list_sources
from ...sync.dump import ImportResult, TombstoneGuard, import_dump
from ...sync.dump_latest import DEFAULT_ENTITIES, find_newest, import_newest
from ..app import EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, EXIT_QUARANTINED, App, UserError, pass_app
from ..progress import DumpProgress, bytes_progress


@click.command("import-dump")
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--latest", is_flag=True,
              help="Fetch the newest dump from dump_url (its LATEST), verify each archive against the published "
                   "SHA256SUMS (else MD5SUMS), then import it; one already imported is skipped.")
@click.option("--dump-url", metavar="URL",
              help="With --latest: the JSON dump directory holding LATEST [setting dump_url].")
@click.option("--entity", "entities", multiple=True, type=click.Choice(ENTITY_TYPES),
              help="Which entity the input holds (default: from the archive member or file name); with "
                   "--latest, which archives to fetch (repeatable; default: release).")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="With --latest: download into DIR/<dated dir>/ and keep the archives there (a cut-off download "
                   "continues from there); default: a temporary directory, removed after.")
@click.option("--complete/--partial", "complete", default=None,
              help="The dump holds every entity of its kind, so known releases it lacks are tombstoned "
                   "[default: --complete for an archive, --partial for a plain file].")
@click.option("--again", is_flag=True, help="Import files that an earlier import already finished.")
@click.option("--batch", type=click.IntRange(1, 100000), default=1000, show_default=True,
              help="Lines per transaction (and per checkpoint).")
@click.option("--force", is_flag=True,
              help="Tombstone what a complete dump lacks even when that is more than max_tombstone_percent "
                   "of the mirror or the dump is dated in the future.")
@pass_app
def import_dump_cmd(app: App, path, latest, dump_url, entities, keep, complete, again, batch, force):
    """Load MusicBrainz JSON data dumps (.tar.xz, JSON lines, or a directory of them).

    Streams the input, loads it with COPY in batches, keeps every version and
    resumes where an interrupted import stopped. Bad lines are quarantined.
    With --latest, fetches the newest dump instead of reading PATH.
    """
    if latest == (path is not None):
        raise click.UsageError("give a PATH to import, or --latest to fetch the newest dump (not both)")
    if not latest and (dump_url or keep):
        raise click.UsageError("--dump-url and --keep go with --latest")
    if not latest and len(entities) > 1:
        raise click.UsageError("one --entity for a PATH (it names what the input holds)")
    settings = app.settings(dump_url=dump_url)  # a dump_url that is not http(s): exit 2, before any request
    options = {"complete": complete, "again": again, "batch": batch,
               "guard": TombstoneGuard(max_percent=settings.max_tombstone_percent, force=force),
               "max_line": int(settings.max_line_mb * (1 << 20))}
    if latest:
        code = _import_latest(app, list(entities) or list(DEFAULT_ENTITIES), keep, options)
    else:
        list_sources(path)  # an unreadable input is said before a database is opened (or an embedded one started)
        code = _import_path(app, path, entities[0] if entities else None, options)
    if code:
        sys.exit(code)


def _import_path(app: App, path: Path, entity: str | None, options: dict) -> int:
    """One `import_dump` of a local PATH under the writer lock, with progress
    and its report; its exit code (see `_exit_code`)."""
    database = app.db()
    progress = bytes_progress(app)
    with runs.writer(database, "import"):
        result = import_dump(database, path, entity=entity, on_progress=progress, log=app.note, **options)
    progress(None, None, None)
    _print(result)
    return _exit_code(result)


def _import_latest(app: App, entities: list[str], keep: Path | None, options: dict) -> int:
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
