"""Scheduled syncs of the watchlist: an orchestrator of pipelines, not a
pipeline of its own.

`sync_watched` walks every watched scope in turn (oldest synced first) with one
client, so `--max-requests` / `--time-budget` bound the whole night; a scope
that was cut short resumes at its checkpoint (the offset saved in its last
sync_run, mirrored in watch.cursor) on the next run.

It composes whole runs of the scope pipeline (`sync.scope.sync_scope`, its
entry point, and nothing below it) and records each in the watchlist; every
document still goes through `sync.pipeline`.
"""

from __future__ import annotations

import re
from typing import Callable

from ..db import Database
from ..runs import OK, PARTIAL, checkpoint_of
from ..sources.ws2 import Client
from ..store.watchlist import WatchError, due_watches, note_watch_run
from .pipeline import SyncResult
from .scope import sync_scope

#: the longest duration read: ten years (longer ones overflow a date, and mean "never")
MAX_DURATION = 10 * 366 * 86400


def parse_duration(text: str) -> float:
    """'30m', '2h', '90s', '1h30m', '2d' or plain seconds → seconds, at most
    MAX_DURATION; WatchError (one line) for anything else."""
    shown = text if len(text) <= 40 else text[:40] + "…"
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds = float(text)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)([dhms])", text)
        if not parts or "".join(a + b for a, b in parts) != text:
            raise WatchError(f"cannot read duration {shown!r}; use e.g. 30m, 2h, 1h30m, 90s, 2d")
        seconds = sum(float(n) * {"d": 86400, "h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
    if not seconds <= MAX_DURATION:  # also inf (400 nines)
        raise WatchError(f"duration {shown!r} is longer than ten years")
    return seconds


def sync_watched(db: Database, client: Client, *, on_page=None, log=None,
                 on_result: Callable[[SyncResult], None] | None = None) -> list[SyncResult]:
    """Sync every watched scope.  The budget is shared, so a walk cut by it
    (`partial`) ends the night; a walk that failed (a scope deleted
    upstream, a malformed target, ws/2 giving up on it) does not: it stays
    first in line for the next night, and the other scopes are walked now,
    so one bad scope cannot keep the rest of the watchlist stale."""
    results = []
    for wid, scope, target in due_watches(db):
        if log:
            log(f"sync {scope} {target}")
        res = sync_scope(db, client, scope, target, on_page=on_page)
        results.append(res)
        note_watch_run(db, wid, res.run_id, res.status == OK, checkpoint_of(db, res.run_id))
        if on_result:  # as each walk ends: a caller killed later still has it recorded
            on_result(res)
        if res.status == PARTIAL:
            break
    return results
