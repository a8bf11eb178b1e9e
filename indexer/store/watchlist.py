"""The watchlist table: scopes a librarian wants synced on every scheduled run."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select, text

from ..clock import now
from ..db import Database
from ..db import models as m

SCOPES = ("artist", "label", "release-group", "collection")


class WatchError(ValueError):
    """A watchlist request that cannot be done; the message says why."""


def add_watch(db: Database, scope: str, target: uuid.UUID, note: str | None = None) -> bool:
    """Returns False when it was already watched (note updated if given)."""
    if scope not in SCOPES:
        raise WatchError(f"scope must be one of {', '.join(SCOPES)}")
    with db.session() as s, s.begin():
        row = s.execute(select(m.Watch).where(m.Watch.scope == scope, m.Watch.target == str(target))
                        ).scalar_one_or_none()
        if row is not None:
            if note is not None:
                row.note = note
            return False
        s.add(m.Watch(scope=scope, target=str(target), note=note))
        return True


def remove_watch(db: Database, scope: str, target: uuid.UUID) -> bool:
    with db.session() as s, s.begin():
        res = s.execute(delete(m.Watch).where(m.Watch.scope == scope, m.Watch.target == str(target)))
        return res.rowcount > 0


#: where the next walk of the watched scope `w` resumes, as an SQL expression:
#: the checkpoint of its last walk when that did not end ok (what
#: `runs.resume_checkpoint` gives that walk; a walk killed mid-way saved
#: checkpoints past the `watch.cursor` its scope last noted).  `status` reads it too.
RESUME_SQL = """(SELECT CASE WHEN l.status <> 'ok' THEN l.checkpoint END FROM sync_run l
        WHERE l.kind = 'sync' AND l.scope = w.scope AND l.target = w.target ORDER BY l.id DESC LIMIT 1)"""

_LIST_SQL = f"""
SELECT w.scope, w.target, w.note, w.added_at, w.last_synced_at, w.last_run_id, {RESUME_SQL} AS resume
FROM watch w ORDER BY w.id"""


def list_watches(db: Database) -> list[dict]:
    with db.session() as s:
        return [
            {
                "scope": r.scope,
                "target": r.target,
                "note": r.note,
                "added": r.added_at,
                "last_synced": r.last_synced_at,
                "last_run": r.last_run_id,
                "resume_at": (r.resume or {}).get("offset"),
            }
            for r in s.execute(text(_LIST_SQL))
        ]


def due_watches(db: Database) -> list[tuple[int, str, uuid.UUID]]:
    """(id, scope, target) of every watch, the longest unsynced first."""
    with db.session() as s:
        return [
            (w.id, w.scope, uuid.UUID(w.target))
            for w in s.execute(
                select(m.Watch).order_by(m.Watch.last_synced_at.asc().nulls_first(), m.Watch.id)
            ).scalars()
        ]


def note_watch_run(db: Database, watch_id: int, run_id: int, finished: bool, cursor: dict | None) -> None:
    """After a watched scope's run: synced when it finished, else where it resumes."""
    with db.session() as s, s.begin():
        w = s.get(m.Watch, watch_id)
        w.last_run_id = run_id
        if finished:
            w.last_synced_at = now()
            w.cursor = None
        else:
            w.cursor = cursor
