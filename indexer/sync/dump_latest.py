"""The newest official JSON dump fetched, verified, then imported:
`import-dump --latest` and the dump step of `update --dump`.

Two steps, so that a front end can say what is wrong with the dump
directory before it opens (or starts) a database:

1. `find_newest`: `LATEST` and the checksum file read, every archive asked
   for named with its published checksum (`sources.dump_fetch`); no
   database, nothing downloaded.
2. `import_newest`: an archive whose published SHA-256 a finished import
   already has is skipped without being fetched (with only `MD5SUMS`
   published the fingerprint is known after the download, and the importer
   skips it then: `ImportResult.skipped`); every other archive is fetched
   and verified, **all of them before the first is imported**, so a bad one
   imports nothing (FetchError); then each is imported by
   `sync.dump.import_dump` from the verified file, its URL recorded as its
   origin.  An import that does not end `ok` (failed, or tombstones refused:
   `partial`) ends the step: the archives after it wait for the next run.

Downloads go to `keep/<dated dir>/` (kept: a cut-off download continues
there, a kept archive that matches is not fetched again) or to the spool in
TMPDIR (`sources.dump_spool`): emptied after a run that ends normally, kept
for the next run to continue when one is cut off or killed.

The writer lock: `import-dump --latest` takes it around each import only
(`lock=True`), not around the downloads, which may take hours and write
nothing to the database; `update --dump` already holds it (`lock=False`).

`DumpRefresh` is both steps for `update --dump`, with a dump that cannot
be fetched or verified returned as the result's `error` instead of raised:
the rest of the night goes on (see `sync.update`).

Never imports Click: a front end hears what happens through a
`LatestProgress`, whose methods do nothing here.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from .. import runs
from ..config import Settings
from ..db import Database
from ..runs import OK
from ..sources import dump_spool
from ..sources.dump_fetch import Archive, DumpFetcher, FetchError, Progress
from .dump import ImportResult, TombstoneGuard, import_dump, imported_before
from .dump_batches import BATCH, MAX_LINE

#: what `update --dump` refreshes (`import-dump --latest` without --entity, too)
DEFAULT_ENTITIES = ("release",)


@dataclass(frozen=True)
class Fetched:
    """One archive downloaded (or found kept) and verified."""

    archive: Archive
    path: Path
    size: int
    seconds: float
    resumed: int  # times the transfer was continued (Range) or retried in this run


@dataclass
class LatestResult:
    """What the newest dump gave: the archives LATEST and the checksum file
    named, those skipped as already imported, and each import in order (the
    last one ends the step when it is not `ok`).  `error`: only from
    `DumpRefresh.run`, the one-line reason nothing of the dump was imported."""

    archives: list[Archive] = field(default_factory=list)
    skipped: list[Archive] = field(default_factory=list)
    imports: list[tuple[Archive, ImportResult]] = field(default_factory=list)
    error: str | None = None

    @property
    def dated(self) -> str | None:
        """The dated directory LATEST named (None when it could not be read)."""
        return self.archives[0].dated if self.archives else None

    @property
    def quarantined(self) -> int:
        return sum(r.counts.quarantined for _, r in self.imports)

    @property
    def stopped(self) -> ImportResult | None:
        """The import that ended the step without finishing (`failed`, or
        `partial`: tombstones refused), if any."""
        last = self.imports[-1][1] if self.imports else None
        return last if last is not None and last.status != OK else None


class LatestProgress:
    """What `import_newest` says as it goes.  Each method does nothing here;
    a front end overrides those it shows."""

    def skipped(self, archive: Archive) -> None:
        """`archive` was imported before (same SHA-256): it is not fetched."""

    def downloading(self, archive: Archive) -> Progress | None:
        """The download of `archive` begins; returns its byte progress
        callback (done, total or None), or None."""
        return None

    def fetched(self, fetched: Fetched) -> None:
        """An archive is downloaded and verified."""

    def importing(self, archive: Archive) -> Callable[[int, int, int], None] | None:
        """The import of `archive` begins; returns `import_dump`'s progress
        callback (compressed bytes done, total, lines), or None."""
        return None

    def imported(self, archive: Archive, result: ImportResult) -> None:
        """The import of `archive` ended (whatever its status)."""

    def log(self, message: str) -> None:
        """A line for people (the importer's notes)."""


_SILENT = LatestProgress()
_DEFAULT_GUARD = TombstoneGuard()


@dataclass
class NewestDump:
    """The archives of the newest dump, named and with their checksums, and
    the fetcher that named them (it downloads them too)."""

    fetcher: DumpFetcher
    archives: list[Archive]


def find_newest(settings: Settings, entities: list[str] | tuple[str, ...] = DEFAULT_ENTITIES) -> NewestDump:
    """LATEST and the checksum file under `settings.dump_url`, read: raises
    FetchError (one line naming the URL) when they cannot be fetched or do
    not name every archive of `entities`."""
    fetcher = DumpFetcher(settings)
    return NewestDump(fetcher, fetcher.archives(list(dict.fromkeys(entities))))


def import_newest(db: Database, newest: NewestDump, *, keep: Path | None = None, again: bool = False,
                  complete: bool | None = None, batch: int = BATCH, guard: TombstoneGuard = _DEFAULT_GUARD,
                  max_line: int = MAX_LINE, lock: bool = True,
                  progress: LatestProgress = _SILENT) -> LatestResult:
    """Skip what was imported, fetch and verify the rest, then import it (the
    module doc).  Raises FetchError, before anything is imported, when an
    archive cannot be fetched or does not match its checksum.  `again`
    fetches and imports an archive imported before; `complete`, `batch`,
    `guard` and `max_line` are `import_dump`'s; `lock`: take the writer
    lock around each import (False: the caller holds it)."""
    result = LatestResult(archives=list(newest.archives))
    todo = []
    for archive in newest.archives:
        known = archive.checksum.fingerprint  # None for an MD5: then the importer tells, after the download
        if not again and known and imported_before(db, known):
            result.skipped.append(archive)
            progress.skipped(archive)
        else:
            todo.append(archive)
    with _download_dir(keep, {a.dated for a in todo}, progress) as spooled:
        where = spooled.path
        files = [_fetch(newest.fetcher, archive, where, progress) for archive in todo]
        for archive, file in zip(todo, files):
            with runs.writer(db, "import") if lock else contextlib.nullcontext():
                imported = import_dump(db, file, entity=archive.entity, complete=complete, again=again,
                                       batch=batch, guard=guard, max_line=max_line,
                                       on_progress=progress.importing(archive), log=progress.log,
                                       origin=archive.url)
            result.imports.append((archive, imported))
            progress.imported(archive, imported)
            if imported.status != OK:
                spooled.hold = True  # the next run imports these files without fetching them again
                break
    return result


#: what a refused tombstoning under `update --dump` (which has no --force) asks for
REFRESH_REMEDY = "run `mbindex import-dump --latest --force`"


@dataclass(frozen=True)
class DumpRefresh:
    """The dump step of `update --dump`: the newest dump's `release` archive
    under `settings.dump_url`, imported unless it was before, with the
    tombstone guard `import-dump --latest` has without --force
    (`max_tombstone_percent`), lines up to `max_line_mb`."""

    settings: Settings
    progress: LatestProgress = _SILENT

    def run(self, db: Database) -> LatestResult:
        """The caller holds the writer lock.  A dump that cannot be fetched or
        verified is not raised but returned as `error` (nothing of it
        imported), so that the caller goes on with what the mirror holds;
        an import that fails or refuses its tombstones is the result's
        `stopped`.  Database errors are raised."""
        settings = self.settings
        guard = TombstoneGuard(max_percent=settings.max_tombstone_percent, remedy=REFRESH_REMEDY)
        newest = None
        try:
            newest = find_newest(settings)
            return import_newest(db, newest, guard=guard, max_line=int(settings.max_line_mb * (1 << 20)),
                                 lock=False, progress=self.progress)
        except FetchError as exc:
            return LatestResult(archives=list(newest.archives) if newest else [], error=str(exc))


def _fetch(fetcher: DumpFetcher, archive: Archive, where: Path, progress: LatestProgress) -> Path:
    """One archive downloaded (or found kept) and verified, then said."""
    started, retries = time.monotonic(), fetcher.stats.retries
    file = fetcher.download(archive, where / archive.dated / archive.name, progress.downloading(archive))
    progress.fetched(Fetched(archive, file, file.stat().st_size, time.monotonic() - started,
                             fetcher.stats.retries - retries))
    return file


@contextlib.contextmanager
def _download_dir(keep: Path | None, dated: set[str], progress: LatestProgress) -> Iterator[dump_spool.Spool]:
    """`keep`, or the download spool in TMPDIR (a dump as big as
    release.tar.xz wants TMPDIR or --keep on a disk with room)."""
    if keep is not None:
        yield dump_spool.Spool(keep, shared=True)
        return
    with dump_spool.spool(dated) as spooled:
        if not spooled.shared:
            progress.log(f"the download spool {dump_spool.spool_path()} is in use by another run or not this "
                         "user's alone: downloading into a temporary directory, removed afterwards")
        yield spooled
