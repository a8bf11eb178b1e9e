"""Scopes: every release of an artist, label, release group or collection.

Revisions: the release's revision history holds *lookup* documents only
(RELEASE_INCLUDES); the browse payload is kept apart (store.scope) and its
hash decides whether a lookup is needed: a release is looked up only when it
is new to the mirror or its browse payload changed.  So the two shapes never
alternate and a quiet night creates no fake revisions.
"""

from __future__ import annotations

import uuid
from typing import Callable

from ..db import Database
from ..mapping import parse_mbid
from ..runs import OK, Run, resume_checkpoint
from ..sources.ws2 import Client, Response
from ..store import scope as members
from ..store.watchlist import SCOPES
from .releases import SyncResult, finish, guarded, sync_release

PAGE = 100


def _browse_page(client: Client, scope: str, target: uuid.UUID, offset: int) -> Response:
    if scope == "collection":
        return client.collection_releases(target, offset, PAGE)
    return client.browse_releases(scope, target, offset, PAGE)


def walk_scope(db: Database, client: Client, scope: str, target: uuid.UUID, run: Run, *, start_offset: int = 0,
               on_page: Callable[[int, int], None] | None = None) -> None:
    """Browse every release of a scope, looking up new/changed ones.

    Pages by the number of items actually returned (a browse with recordings
    stops at 500 tracks, so a page may hold fewer than `limit`).  After each
    page the next offset is checkpointed in sync_run.checkpoint, so a run
    stopped by a budget, an outage or kill -9 resumes there.  When the walk
    reached the end, members of the scope not seen in this walk are confirmed
    with a lookup (404 tombstones them, 301 records a redirect).
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    offset = start_offset
    total = None
    while True:
        data = _browse_page(client, scope, target, offset).data or {}
        items = data.get("releases") or []
        total = data.get("release-count", total)
        state = members.page_state(db, items)
        unchanged = [mbid for mbid, (changed, stored) in state.items() if stored and not changed]
        members.note_unchanged(db, scope, target, unchanged, run.id)
        run.counts.unchanged += len(unchanged)
        for doc in items:
            mbid = parse_mbid(doc["id"])
            changed, stored = state[mbid]
            if stored and not changed:
                continue
            # look up *before* the browse document is noted: a lookup that fails
            # (outage, budget, kill -9) must be tried again by the next run
            sync_release(db, client, mbid, run)
            members.note_browse(db, scope, target, doc, run.id)
        offset += len(items)
        run.save(requests=client.stats.requests, checkpoint={"scope": scope, "target": str(target), "offset": offset})
        if on_page:
            on_page(offset, total or offset)
        if not items or (total is not None and offset >= total):
            break
    if start_offset == 0:  # only a walk done whole in this run proves absence
        _confirm_missing(db, client, scope, target, run)


def _confirm_missing(db: Database, client: Client, scope: str, target: uuid.UUID, run: Run) -> None:
    for mbid in members.members_not_seen(db, scope, target, run.id):
        # confirm before tombstoning: it may merely have left this scope
        sync_release(db, client, mbid, run)
        members.forget_member(db, scope, target, mbid)


def sync_scope(db: Database, client: Client, scope: str, target: uuid.UUID, *, on_page=None) -> SyncResult:
    """`mbindex sync artist|label|release-group|collection MBID`."""
    checkpoint = resume_checkpoint(db, "sync", scope, str(target)) or {}
    start = int(checkpoint.get("offset", 0))
    run = Run(db, "sync", scope, str(target), options={"resumed_from": start} if start else None)
    status, error = guarded(
        run, client, lambda: walk_scope(db, client, scope, target, run, start_offset=start, on_page=on_page))
    if status == OK and run.counts.missing:
        error = "not found upstream (tombstoned): " + ", ".join(run.counts.missing)
    return finish(run, client, status, error)
