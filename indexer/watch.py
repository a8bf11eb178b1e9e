"""The watchlist: scopes a librarian wants synced on every scheduled run.

`sync_watched` walks every watched scope in turn (oldest synced first) with one
client, so `--max-requests` / `--time-budget` bound the whole night; a scope
that was cut short resumes at its checkpoint (the offset saved in its last
sync_run, mirrored in watch.cursor) on the next run.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import delete, select

from . import models as m
from .db import Database
from .mapping import parse_mbid
from .mb import Client
from .sync import SCOPES, SyncResult, sync_scope


class WatchError(ValueError):
    pass


def parse_duration(text: str) -> float:
    """'30m', '2h', '90s', '1h30m' or plain seconds → seconds."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise WatchError(f"cannot read duration {text!r}; use e.g. 30m, 2h, 1h30m, 90s")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


def add_watch(db: Database, scope: str, target: str, note: str | None = None) -> bool:
    """Returns False when it was already watched (note updated if given)."""
    if scope not in SCOPES:
        raise WatchError(f"scope must be one of {', '.join(SCOPES)}")
    target = str(parse_mbid(target))
    with db.session() as s, s.begin():
        row = s.execute(select(m.Watch).where(m.Watch.scope == scope, m.Watch.target == target)).scalar_one_or_none()
        if row is not None:
            if note is not None:
                row.note = note
            return False
        s.add(m.Watch(scope=scope, target=target, note=note))
        return True


def remove_watch(db: Database, scope: str, target: str) -> bool:
    target = str(parse_mbid(target))
    with db.session() as s, s.begin():
        res = s.execute(delete(m.Watch).where(m.Watch.scope == scope, m.Watch.target == target))
        return res.rowcount > 0


def list_watches(db: Database) -> list[dict]:
    with db.session() as s:
        rows = s.execute(select(m.Watch).order_by(m.Watch.id)).scalars().all()
        return [
            {
                "scope": r.scope,
                "target": r.target,
                "note": r.note,
                "added": r.added_at,
                "last_synced": r.last_synced_at,
                "last_run": r.last_run_id,
                "resume_at": (r.cursor or {}).get("offset"),
            }
            for r in rows
        ]


def sync_watched(db: Database, client: Client, *, on_page=None, log=None) -> list[SyncResult]:
    """Sync every watched scope; stops at the first scope that fails or runs out of budget."""
    with db.session() as s:
        watches = [
            (w.id, w.scope, w.target)
            for w in s.execute(
                select(m.Watch).order_by(m.Watch.last_synced_at.asc().nulls_first(), m.Watch.id)
            ).scalars()
        ]
    results = []
    for wid, scope, target in watches:
        if log:
            log(f"sync {scope} {target}")
        res = sync_scope(db, client, scope, target, on_page=on_page)
        results.append(res)
        with db.session() as s, s.begin():
            w = s.get(m.Watch, wid)
            run = s.get(m.SyncRun, res.run_id)
            w.last_run_id = res.run_id
            if res.status == "ok":
                w.last_synced_at = dt.datetime.now(dt.timezone.utc)
                w.cursor = None
            else:
                w.cursor = run.checkpoint
        if res.status != "ok":
            break
    return results
