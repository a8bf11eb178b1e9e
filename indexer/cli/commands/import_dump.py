"""`mbindex import-dump PATH`: seed the mirror from the JSON data dumps."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ... import runs
from ...mapping import ENTITY_TYPES
from ...sources.dump_files import list_sources
from ...sync.dump import TombstoneGuard, import_dump
from ..app import EXIT_FAILURE, EXIT_PARTIAL, EXIT_QUARANTINED, App, UserError, pass_app
from ..progress import bytes_progress


@click.command("import-dump")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--entity", type=click.Choice(ENTITY_TYPES),
              help="Which entity the input holds (default: from the archive member or file name).")
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
def import_dump_cmd(app: App, path, entity, complete, again, batch, force):
    """Load MusicBrainz JSON data dumps (.tar.xz, JSON lines, or a directory of them).

    Streams the input, loads it with COPY in batches, keeps every version and
    resumes where an interrupted import stopped. Bad lines are quarantined.
    """
    settings = app.settings()
    guard = TombstoneGuard(max_percent=settings.max_tombstone_percent, force=force)
    list_sources(path)  # an unreadable input is said before a database is opened (or an embedded one started)
    database = app.db()
    progress = bytes_progress(app)
    with runs.writer(database, "import"):
        result = import_dump(database, path, entity=entity, complete=complete, again=again, batch=batch,
                             max_line=int(settings.max_line_mb * (1 << 20)), guard=guard,
                             on_progress=progress, log=app.note)
    progress(None, None, None)
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
        sys.exit(EXIT_QUARANTINED)
