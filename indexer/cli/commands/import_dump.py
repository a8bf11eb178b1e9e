"""`mbindex import-dump PATH`: seed the mirror from the JSON data dumps;
`mbindex import-dump --latest`: fetch the newest ones first, verified."""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import click

from ... import runs
from ...mapping import ENTITY_TYPES
from ...sources.dump_fetch import Archive, DumpFetcher
from ...sources.dump_files import list_sources
from ...sync.dump import ImportResult, TombstoneGuard, import_dump, imported_before
from ..app import EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, EXIT_QUARANTINED, App, UserError, pass_app
from ..progress import bytes_progress, download_progress, human_bytes


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
    guard = TombstoneGuard(max_percent=settings.max_tombstone_percent, force=force)
    load = _Loader(app, complete=complete, again=again, batch=batch, guard=guard)
    if latest:
        code = _import_latest(app, load, list(dict.fromkeys(entities)) or ["release"], keep)
    else:
        list_sources(path)  # an unreadable input is said before a database is opened (or an embedded one started)
        code = load(path, entities[0] if entities else None)
    if code:
        sys.exit(code)


class _Loader:
    """One `import_dump` under the writer lock, with progress and its report;
    returns the exit code of a finished import (0, or 5 with quarantined
    lines) and raises UserError for a failed or partial one."""

    def __init__(self, app: App, **options):
        self.app = app
        self.options = options

    def __call__(self, path: Path, entity: str | None, origin: str | None = None) -> int:
        settings = self.app.settings()
        database = self.app.db()
        progress = bytes_progress(self.app)
        with runs.writer(database, "import"):
            result = import_dump(database, path, entity=entity, max_line=int(settings.max_line_mb * (1 << 20)),
                                 on_progress=progress, log=self.app.note, origin=origin, **self.options)
        progress(None, None, None)
        return _report(result)


def _report(result: ImportResult) -> int:
    for label in result.skipped:
        click.echo(f"already imported: {label} (use --again to import it once more)", err=True)
    rate = result.lines / result.seconds if result.seconds else 0
    c = result.counts
    click.echo(
        f"run {result.run_id}: {result.status}; {result.lines} line(s) in {result.seconds:.1f}s ({rate:.0f}/s); "
        f"inserted {c.inserted}, updated {c.updated}, unchanged {c.unchanged}, "
        f"quarantined {c.quarantined}, tombstoned {c.tombstoned}"
    )
    if result.status == runs.FAILED:
        raise UserError(f"import failed: {result.error} (run the same command again to continue)", EXIT_FAILURE)
    if result.status == runs.PARTIAL:
        raise UserError(result.error, EXIT_PARTIAL)
    if c.quarantined:
        click.echo(f"{c.quarantined} line(s) quarantined: see the quarantine table (sync_run_id "
                   f"{result.run_id})", err=True)
        return EXIT_QUARANTINED
    return EXIT_OK


def _import_latest(app: App, load: _Loader, entities: list[str], keep: Path | None) -> int:
    """Every archive is named, found in the checksum file, fetched and
    verified before the first is imported: a bad one imports nothing."""
    fetcher = DumpFetcher(app.settings())
    archives = fetcher.archives(entities)
    database = app.db()  # an unreachable database is said before a long download
    todo = []
    for archive in archives:
        known = archive.checksum.fingerprint  # None for an MD5: then the importer tells, after the download
        if not load.options["again"] and known and imported_before(database, known):
            click.echo(f"already imported: {archive.dated}/{archive.name} ({archive.checksum.algorithm} "
                       f"{archive.checksum.hex[:16]}…); use --again to import it once more", err=True)
        else:
            todo.append(archive)
    code = EXIT_OK
    with _download_dir(keep) as where:
        files = [_fetch(app, fetcher, archive, where) for archive in todo]
        for archive, file in zip(todo, files):
            code = max(code, load(file, archive.entity, origin=archive.url))
    return code


def _fetch(app: App, fetcher: DumpFetcher, archive: Archive, where: Path) -> Path:
    """One archive downloaded (or found kept) and verified, said in one line."""
    started, retries = time.monotonic(), fetcher.stats.retries
    progress = download_progress(app, archive.name)
    file = fetcher.download(archive, where / archive.dated / archive.name, progress)
    progress(None, None)
    seconds = time.monotonic() - started
    size = file.stat().st_size
    resumed = fetcher.stats.retries - retries
    app.note(f"{archive.dated}/{archive.name}: {human_bytes(size)} in {seconds:.1f}s "
             f"({human_bytes(size / seconds if seconds else 0)}/s"
             f"{f', resumed {resumed} time(s)' if resumed else ''}); {archive.checksum.algorithm} matches "
             f"{archive.checksum.listed_in.rsplit('/', 1)[-1]}")
    return file


@contextlib.contextmanager
def _download_dir(keep: Path | None) -> Iterator[Path]:
    """`keep`, or a temporary directory removed afterwards (in TMPDIR: a
    dump as big as release.tar.xz wants --keep on a disk with room)."""
    if keep is not None:
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="mbindex-dump-") as tmp:
        yield Path(tmp)
