"""Seeds the mirror from the official MusicBrainz JSON data dumps.

A dump (`release.tar.xz`, ...) holds `mbdump/<entity>`: one ws/2 JSON document
per line, the shape `mapping` already knows.  Two processes share the work:

* the reader (a child process; an .xz decompressed by a thread of it) parses,
  hashes and maps each line and formats the rows as COPY text, in batches
  (`sync.dump_batches`, reading files with `sources.dump_files`), except a
  line with exactly the bytes its document was last stored from: a refresh
  sends those unparsed, and the loader only confirms them and moves their
  `last_seen` (`store.raw_lines`);
* the loader (this process) COPYs a batch into temporary staging tables and
  merges it into the mirror with a fixed set of set-based statements, under
  the revision rules of `indexer.store` (the same as `store.save_release_in`),
  then records the checkpoint (lines done) in the same transaction
  (`store.bulk`).

So a batch is in or out as a whole and the checkpoint says exactly which
lines are in: an import killed at any point continues at the next batch with
no duplicates and no partial release.  A line that cannot be parsed, mapped
or stored is quarantined verbatim and the import goes on.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..clock import now
from ..db import Database
from ..runs import FAILED, INTERRUPTED, OK, PARTIAL, Run, RunCounts
from ..sources.dump_files import fingerprint, input_files, is_tar_name, parse_dump_time
from ..store.bulk import (
    Loader,
    absent_share_in,
    mark_done_in,
    mark_stopped_in,
    open_import,
    prior_imports,
    quarantined_lines_in,
    tombstone_absent_in,
    tuning_hint,
)
from ..store.raw_lines import libpq_url
from .dump_batches import (
    BATCH,
    MAX_LINE,
    Batch,
    Done,
    Item,
    MemberEnd,
    MemberStart,
    ReaderError,
    ReaderProcess,
    ReadPlan,
    Skip,
    Timestamp,
    prepare_line,
    reader_messages,
    reread_lines,
)


@dataclass
class ImportResult:
    run_id: int
    status: str  # ok | partial | failed | interrupted
    lines: int = 0
    counts: RunCounts = field(default_factory=RunCounts)  # the run's: inserted, updated, ... tombstoned
    skipped: list[str] = field(default_factory=list)
    error: str | None = None
    unparsed: int = 0  # lines seen again by their bytes alone (counted unchanged too), never parsed
    seconds: float = 0.0


@dataclass
class _Member:
    """The member being loaded: its dump_import row and when its import began."""

    id: int
    seen: dt.datetime
    label: str
    source: int  # index into the files
    member: str  # inside an archive ("" for a plain file)


@dataclass(frozen=True)
class TombstoneGuard:
    """When a complete dump may tombstone what it lacks: at most
    `max_percent` of the live releases, and only from a dump not dated in
    the future, unless `force` (a truncated or forged "complete" dump must
    not empty the mirror).  `remedy`: what the refusal tells the user to run
    once the dump is checked (the command that has a --force)."""

    max_percent: float = 5.0
    force: bool = False
    remedy: str = "run the same command with --force"

    def refusal(self, label: str, absent: int, live: int, dump_time: dt.datetime | str | None) -> str | None:
        """Why tombstoning `absent` of `live` releases is refused, or None
        (`dump_time` a str: the TIMESTAMP as given, which is not a date)."""
        if self.force or not absent:
            return None
        if isinstance(dump_time, str):
            why = f"its TIMESTAMP {dump_time[:40]!r} is not a date"
        elif dump_time is not None and dump_time > now() + dt.timedelta(days=1):
            why = f"the dump is dated {dump_time:%Y-%m-%d}, in the future"
        elif absent * 100 > self.max_percent * live:
            why = (f"that is {absent * 100 / live:.1f}% of the mirror's {live} live releases, more than "
                   f"max_tombstone_percent ({self.max_percent:g}%)")
        else:
            return None
        return (f"{label}: not tombstoning the {absent} release(s) absent from this complete dump: {why}; "
                f"check the dump, then {self.remedy} to tombstone them")


def import_dump(
    db: Database,
    path: str | Path,
    *,
    entity: str | None = None,
    complete: bool | None = None,
    again: bool = False,
    batch: int = BATCH,
    parallel: bool = True,
    max_line: int = MAX_LINE,
    guard: TombstoneGuard = TombstoneGuard(),
    on_progress: Callable[[int, int, int], None] | None = None,
    log: Callable[[str], None] = lambda msg: None,
    origin: str | None = None,
    skip_unchanged: bool = True,
    reader: ReaderProcess | None = None,
) -> ImportResult:
    """`mbindex import-dump PATH`.

    `complete`: the dump holds every entity of its kind, so known releases it
    lacks are tombstoned (within `guard`; a refusal ends the import
    `partial`).  Default: yes for an archive, no for a plain file.  A line
    longer than `max_line` bytes is quarantined by reference.  A member
    whose import stops early is marked `failed` or `interrupted` in
    dump_import, like its run.  `origin` (the URL a fetched archive came
    from, `import-dump --latest`) is recorded as its path and the run's
    target instead of the local file, which is temporary.  `skip_unchanged`:
    a line with the bytes its document was last stored from is seen again
    without being parsed (`store.raw_lines`; the stored rows are the same
    either way, False parses every line).  `reader`: one started before
    this call (`dump_batches.start_reader`), adopted when it reads what the
    plan asks, else cancelled.
    """
    files = input_files(Path(path), entity)
    started = time.monotonic()
    prints = [(str(p.resolve()), fingerprint(p)) for p in files]
    prior = prior_imports(db, [fp for _, fp in prints], again=again)
    plan = ReadPlan(sources=prints, entity=entity, resume=prior.resume, skip_done=prior.done, batch=batch,
                    max_line=max_line, known=libpq_url(db.url) if skip_unchanged else None)
    run = Run(db, "import", "dump", origin or str(path),
              options={"entity": entity, "complete": complete, "again": again})
    job = _Import(db, run, files, [(origin or path_, fp) for path_, fp in prints], prior,  # the path dump_import keeps
                  complete=complete, guard=guard, on_progress=on_progress, log=log, entity=entity, max_line=max_line)
    if reader is not None and parallel and reader.serves(plan):
        messages = reader.messages()
    else:
        if reader is not None:
            reader.cancel()
        messages = reader_messages(plan, parallel=parallel)
    try:
        for msg in messages:
            if job.handle(msg):
                break
    except KeyboardInterrupt:
        job.result.status, job.result.error = INTERRUPTED, "interrupted; run the same command again to continue"
        raise
    except Exception as exc:
        job.result.status, job.result.error = FAILED, f"{type(exc).__name__}: {exc}"
        raise
    finally:
        messages.close()
        job.close(time.monotonic() - started)
    return job.result


class _Import:
    """The loader side of one import: each reader message handled in turn
    (`handle`), the run and the member in progress closed at the end."""

    def __init__(self, db: Database, run: Run, files: list[Path], recorded: list[tuple[str, str]],
                 prior, *, complete, guard, on_progress, log, entity: str | None = None, max_line: int = MAX_LINE):
        self.db, self.run, self.files, self.recorded, self.prior = db, run, files, recorded, prior
        self.complete, self.guard, self.on_progress, self.log = complete, guard, on_progress, log
        self.entity, self.max_line = entity, max_line
        self.result = ImportResult(run.id, OK, counts=run.counts)
        self.loader = Loader(db, run, reparse=self._reparse)  # adds each batch's counts to run.counts
        self.current: _Member | None = None
        self.dump_times: dict[int, dt.datetime | str | None] = {}
        self.total_size = sum(p.stat().st_size for p in files)
        self.done_size = 0
        hint = tuning_hint(self.loader.server_settings(), self.total_size)
        if hint:
            log(hint)

    def handle(self, msg) -> bool:
        """Act on one reader message; True when the import ends here."""
        if isinstance(msg, Timestamp):
            self.dump_times[msg.source] = parse_dump_time(msg.text) or (msg.text.strip() or None)  # str: unreadable
        elif isinstance(msg, Skip):
            self.result.skipped.append(_label(self.files[msg.source], msg.member))
        elif isinstance(msg, MemberStart):
            self._start(msg)
        elif isinstance(msg, Batch):
            self._load(msg)
        elif isinstance(msg, MemberEnd):
            refused = _finish_member(self.db, msg, self.current, self.files, self.complete,
                                     self.dump_times.get(msg.source), self.run.counts, self.guard, self.log)
            if refused:
                self.result.status, self.result.error = PARTIAL, refused
            self.current = None
            self.done_size += self.files[msg.source].stat().st_size
        elif isinstance(msg, ReaderError):
            self.result.status, self.result.error = FAILED, msg.message
            return True
        return isinstance(msg, Done)

    def _start(self, msg: MemberStart) -> None:
        import_id, seen = open_import(self.db, self.recorded[msg.source], msg.member, msg.entity, self.run.id,
                                      self.prior)
        self.current = _Member(import_id, seen, _label(self.files[msg.source], msg.member), msg.source, msg.member)
        if msg.start:
            self.log(f"{self.current.label}: resuming after line {msg.start}")

    def _load(self, msg: Batch) -> None:
        current = self.current
        self.loader.load(msg.entity, msg.items, source=f"dump:{current.label}", seen=current.seen,
                         import_id=current.id, lines_done=msg.lines_done, payload=msg.payload, flagged=msg.flagged)
        self.result.lines += len(msg.items) + len(msg.flagged or ())
        if self.on_progress:
            self.on_progress(self.done_size + msg.position, self.total_size, self.result.lines)

    def _reparse(self, entity: str, line_nos: list[int], first_ord: int) -> list[Item]:
        """Lines flagged unchanged that the database did not confirm (`store.raw_lines`):
        read again from the member by number, then the full path."""
        current = self.current
        raws = reread_lines(self.files[current.source], current.member, self.entity, set(line_nos), self.max_line)
        self.log(f"{current.label}: {len(line_nos)} line(s) changed since the reader looked; read again")
        return [prepare_line(entity, raws[n], n, first_ord + k) if n in raws else
                Item(n, error=f"line {n} could not be read again: the file changed during the import")
                for k, n in enumerate(line_nos)]

    def close(self, seconds: float) -> None:
        """Release the loader; a member stopped early keeps its checkpoint
        and says how it stopped; the run ends with the result's status."""
        self.loader.close()
        result, db = self.result, self.db
        result.unparsed = self.loader.unparsed
        if self.current is not None and result.status != OK and not (db.writer and db.writer.lost):
            with db.session() as s, s.begin():
                mark_stopped_in(s, self.current.id, result.status)
        result.seconds = seconds
        self.run.finish(result.status, error=result.error, checkpoint={"lines": result.lines})


def imported_before(db: Database, fingerprint_: str) -> bool:
    """A file with this fingerprint (`sources.dump_files.fingerprint`)
    finished importing and none of its members is left unfinished:
    `import-dump --latest` then skips the archive without fetching it."""
    prior = prior_imports(db, [fingerprint_], again=False)
    return bool(prior.done) and not prior.resume


def _finish_member(db: Database, msg: MemberEnd, current: _Member, files: list[Path], complete: bool | None,
                   dump_time: dt.datetime | str | None, counts: RunCounts, guard: TombstoneGuard,
                   log: Callable[[str], None]) -> str | None:
    """A member read to its end: tombstone what a complete dump no longer
    holds (unless some of its lines were quarantined), then mark it done, in
    one transaction.  When the guard refuses the tombstones, the member stays
    unfinished (`partial`) so that the same command with --force finishes
    it; returns the refusal."""
    is_archive = is_tar_name(files[msg.source].name) or msg.member != ""
    whole = complete if complete is not None else is_archive
    with db.session() as s, s.begin():
        quarantined = quarantined_lines_in(s, current.id)
        if whole and quarantined:
            log(f"{current.label}: {quarantined} line(s) quarantined, so releases missing from it "
                "are not tombstoned")
        elif whole:
            when = dump_time if isinstance(dump_time, dt.datetime) else current.seen
            refused = guard.refusal(current.label, *absent_share_in(s, msg.entity, current.seen, when), dump_time)
            if refused:
                mark_stopped_in(s, current.id, PARTIAL)
                return refused
            n = tombstone_absent_in(s, msg.entity, current.seen, when, current.label)
            counts.tombstoned += n
            if n:
                log(f"{current.label}: {n} release(s) absent from this complete dump tombstoned")
        mark_done_in(s, current.id, msg.lines)
    return None


def _label(path: Path, member: str) -> str:
    return f"{path.name}:{member}" if member else path.name
