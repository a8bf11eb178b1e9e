"""Run bookkeeping: the one owner of the `sync_run` table.

Every sync, import and score is a run: a row created `running`, its counts
saved as it goes (with a checkpoint where it can resume), and finished as
`ok`, `partial`, `failed` or `interrupted`.  A run left `running` by a killed
process is marked `interrupted` by the next writer that takes the lock
(`interrupt_abandoned_in`), and so are the dump files (`dump_import`) its import
left `running`.  A run whose writer lost the writer lock ends `failed`,
whatever its pipeline was doing.  Nothing else writes `sync_run`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from sqlalchemy import select, text, update
from sqlalchemy.engine import Connection

from .clock import now
from .db import Database
from .db import models as m

OK, PARTIAL, FAILED, INTERRUPTED = "ok", "partial", "failed", "interrupted"


@dataclass
class RunCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    tombstoned: int = 0
    redirected: int = 0
    quarantined: int = 0
    fallback_lookups: int = 0  # lookups made because a browse item lacked an include
    skipped: int = 0  # search hits not looked up: fetched within query_max_age
    missing: list[str] = field(default_factory=list)  # asked for, not found upstream

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def merge(self, counts: dict[str, int]) -> None:
        for key, value in counts.items():
            setattr(self, key, getattr(self, key) + value)

    def as_dict(self) -> dict:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "tombstoned": self.tombstoned,
            "redirected": self.redirected,
            "quarantined": self.quarantined,
            "fallback_lookups": self.fallback_lookups,
            "skipped": self.skipped,
        }


class Run:
    """A `sync_run` row kept up to date while the run goes on."""

    def __init__(self, db: Database, kind: str, scope: str | None, target: str | None, options: dict | None = None,
                 *, requests_before: int = 0):
        """`requests_before`: the client's request count when the run begins
        (a client shared by an update's child runs counts them all); the
        `requests` given to `save` and `finish` are that counter, and the row
        keeps the difference: this run's own requests."""
        self.db = db
        self.counts = RunCounts()
        self.requests_before = requests_before
        with db.session() as s, s.begin():
            row = m.SyncRun(kind=kind, scope=scope, target=target, options=options, pid=os.getpid(), status="running")
            s.add(row)
            s.flush()
            self.id = row.id

    def _write(self, values: dict) -> None:
        # not through a Session: its commit checks the writer lock, and the
        # run of a writer that lost it must still be able to say so
        with self.db.engine.begin() as conn:
            conn.execute(update(m.SyncRun).where(m.SyncRun.id == self.id).values(**values))

    def save(self, *, requests: int | None = None, checkpoint: dict | None = None,
             options: dict | None = None) -> None:
        """Store the counts so far (and where to resume; `options` replaces
        the run's options, e.g. an update's child runs); raises
        db.WriterLockLost (the run then ends `failed`) when this process
        took the writer lock and lost it."""
        self.db.check_writer()
        self._write(dict(_values(self.counts, self.own(requests), checkpoint),
                         **({"options": options} if options else {})))

    def finish(self, status: str, *, requests: int | None = None, error: str | None = None,
               checkpoint: dict | None = None) -> None:
        """End the run.  A run whose writer lost the lock is `failed` with
        that reason, whatever `status` the pipeline chose."""
        lock = self.db.writer
        if lock is not None and lock.lost:
            status = FAILED
            error = "lost the writer lock: its database connection was dropped or terminated"
        self._write(dict(_values(self.counts, self.own(requests), checkpoint), status=status, finished_at=now(),
                         error=error))

    def own(self, requests: int | None) -> int | None:
        """This run's requests, from the client's counter `requests`."""
        return None if requests is None else requests - self.requests_before


def _values(counts: RunCounts, requests: int | None, checkpoint: dict | None) -> dict:
    values = counts.as_dict()
    if requests is not None:
        values["requests"] = requests
    if checkpoint is not None:
        values["checkpoint"] = checkpoint
    return values


# The bulk loader counts inside its own batch transaction (psycopg cursor), so
# that a batch and its counts commit together.
ADD_COUNTS_SQL = (
    "UPDATE sync_run SET inserted = inserted + %s, updated = updated + %s, unchanged = unchanged + %s, "
    "quarantined = quarantined + %s WHERE id = %s"
)


#: the error of a run whose process died without finishing it (status says so before a writer records it)
KILLED = "the process ended without finishing (killed?)"

#: what a killed writer leaves behind: its runs (an update's scoring too, by
#: the update's pid: `score` alone takes no writer lock and may be running now)
_INTERRUPT_SQL = f"""
UPDATE sync_run SET status = 'interrupted', finished_at = now(),
       error = coalesce(error || '; ', '') || '{KILLED}'
WHERE status = 'running'
  AND (kind IN ('sync', 'import', 'enrich', 'update')
       OR (kind = 'score' AND pid IN (SELECT u.pid FROM sync_run u
                                      WHERE u.kind = 'update' AND u.status = 'running')))"""


def interrupt_abandoned_in(conn: Connection) -> None:
    """Whoever held the writer lock before us is gone: a run it left
    `running` was killed (kill -9, power cut) and will never finish, nor will
    the dump files its import left `running` (they keep their checkpoint: the
    next import of the same file resumes there)."""
    conn.execute(text(_INTERRUPT_SQL))
    conn.execute(text("UPDATE dump_import SET status = 'interrupted' WHERE status = 'running'"))


def resume_checkpoint(db: Database, kind: str, scope: str, target: str) -> dict | None:
    """The checkpoint of the last run of (kind, scope, target) if it did not
    finish `ok`: where the next run resumes."""
    with db.session() as s:
        row = s.execute(
            select(m.SyncRun)
            .where(m.SyncRun.kind == kind, m.SyncRun.scope == scope, m.SyncRun.target == target)
            .order_by(m.SyncRun.id.desc())
            .limit(1)
        ).scalar_one_or_none()
    if row is None or row.status == OK:
        return None
    return row.checkpoint or None


def checkpoint_of(db: Database, run_id: int) -> dict | None:
    with db.session() as s:
        return s.execute(select(m.SyncRun.checkpoint).where(m.SyncRun.id == run_id)).scalar_one_or_none()


def recent_runs(db: Database, limit: int = 20) -> list[dict]:
    """The latest runs, newest first, as plain rows for `mbindex runs`."""
    with db.session() as s:
        rows = s.execute(select(m.SyncRun).order_by(m.SyncRun.id.desc()).limit(limit)).scalars().all()
        return [
            {
                "id": r.id,
                "kind": r.kind,
                "scope": r.scope,
                "target": r.target,
                "status": r.status,
                "started": r.started_at,
                "seconds": round((r.finished_at - r.started_at).total_seconds(), 1) if r.finished_at else None,
                "requests": r.requests,
                "inserted": r.inserted,
                "updated": r.updated,
                "unchanged": r.unchanged,
                "tombstoned": r.tombstoned,
                "redirected": r.redirected,
                "quarantined": r.quarantined,
                "fallback_lookups": r.fallback_lookups,
                "skipped": r.skipped,
                "error": r.error,
            }
            for r in rows
        ]


def writer(db: Database, what: str):
    """The writer lock, closing the runs a killed holder left `running`
    (raises db.WriterBusy when another process holds it)."""
    return db.writer_lock(what, on_acquire=interrupt_abandoned_in)
