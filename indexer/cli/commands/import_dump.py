"""`mbindex import-dump PATH`: seed the mirror from the JSON data dumps;
`mbindex import-dump --latest`: fetch the newest ones first, verified
(`sync.dump_latest` does it; `cli.importing` runs and reports).

This module imports none of the library's database side: with a database
URL, the command starts the dump's reader first (`start_reader`, a child
process that cuts and hashes lines), then loads the library (SQLAlchemy,
psycopg, the models: about 0.45 s) while the reader reads."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ...mapping import ENTITY_TYPES
from ...sources.dump_files import list_sources
from ...sync.dump_batches import start_reader
from ..app import App, pass_app


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
                   "continues from there); default: the spool TMPDIR/mbindex-downloads-<uid>/, emptied after a "
                   "run that ends normally (a killed run's download is continued by the next).")
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
    entity = entities[0] if entities and not latest else None
    max_line = int(settings.max_line_mb * (1 << 20))
    reader = None
    if not latest:
        list_sources(path)  # an unreadable input is said before a database is opened (or an embedded one started)
        reader = start_reader(path, entity, batch, max_line, settings.database_url)
    try:
        from .. import importing  # deliberate lazy load: the library loads while the reader reads (docstring)

        options = {"complete": complete, "again": again, "batch": batch, "max_line": max_line,
                   "guard": importing.TombstoneGuard(max_percent=settings.max_tombstone_percent, force=force)}
        if latest:
            code = importing.import_latest(app, list(entities) or list(importing.DEFAULT_ENTITIES), keep, options)
        else:
            code = importing.import_path(app, path, entity, options, reader)
    finally:
        if reader is not None:
            reader.cancel()  # not adopted, or an error before it was: stop it (a no-op once it has finished)
    if code:
        sys.exit(code)
