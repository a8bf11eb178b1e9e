"""Scope membership: which releases a walked scope (artist, label, release
group, collection) contained, so that a release missing from a whole walk can
be confirmed upstream; and which releases were fetched recently enough for a
search sync to skip.

The releases themselves are stored by `store.release` from the browse items
(the same documents a lookup stores); no browse-shaped document is kept.
Mirrors made before that kept "release-browse" documents as a change
detector: migration 0004 drops them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Callable

from sqlalchemy import delete, select, text

from ..clock import now
from ..db import Database
from ..db import models as m
from .revisions import seen_again_in


def first_of_each(items: list, key: Callable[[object], uuid.UUID | None]) -> list:
    """`items` without repeats of a release (`key`: its MBID, None for an
    item that is none), the first of each kept, in page order.  A browse
    page may list one release twice (a mirror's bug, an edit between two
    reads); storing it twice in one statement is an error in PostgreSQL
    (ON CONFLICT cannot affect a row twice)."""
    seen: set[uuid.UUID] = set()
    out = []
    for item in items:
        mbid = key(item)
        if mbid is not None and mbid in seen:
            continue
        seen.add(mbid)
        out.append(item)
    return out


def note_members(db: Database, scope: str, target: uuid.UUID, mbids: list[uuid.UUID], run_id: int) -> None:
    """Record that run `run_id` saw these releases in the scope (one statement
    per page)."""
    if not mbids:
        return
    with db.session() as s, s.begin():
        s.execute(text("INSERT INTO scope_member (scope, target, release_mbid, first_seen, last_seen, last_run_id) "
                       "SELECT :scope, :target, x, :now, :now, :run FROM unnest(CAST(:ids AS uuid[])) AS x "
                       "ON CONFLICT (scope, target, release_mbid) DO UPDATE "
                       "SET last_seen = EXCLUDED.last_seen, last_run_id = EXCLUDED.last_run_id"),
                  {"ids": mbids, "now": now(), "scope": scope, "target": str(target), "run": run_id})


def touch_unchanged(db: Database, hashes: dict[uuid.UUID, str]) -> set[uuid.UUID]:
    """Rule 1 of `indexer.store` for a whole browse page at once
    (`revisions.seen_again_in`): a release whose current live document has
    exactly the item's hash is seen again, and only its document's
    `last_seen` moves, all in one transaction.  Returns
    those releases; every other item goes through `store_release_doc`.  A
    nightly page of unchanged releases costs four statements, not three per
    release."""
    if not hashes:
        return set()
    with db.session() as s, s.begin():
        return seen_again_in(s, "release", hashes, now())


def members_not_seen(db: Database, scope: str, target: uuid.UUID, run_id: int) -> list[uuid.UUID]:
    """Members of the scope that the walk of run `run_id` did not see."""
    with db.session() as s:
        return list(s.execute(
            select(m.ScopeMember.release_mbid).where(
                m.ScopeMember.scope == scope,
                m.ScopeMember.target == str(target),
                (m.ScopeMember.last_run_id.is_(None)) | (m.ScopeMember.last_run_id != run_id),
            )
        ).scalars())


def forget_member(db: Database, scope: str, target: uuid.UUID, mbid: uuid.UUID) -> None:
    with db.session() as s, s.begin():
        s.execute(
            delete(m.ScopeMember).where(
                m.ScopeMember.scope == scope, m.ScopeMember.target == str(target), m.ScopeMember.release_mbid == mbid
            )
        )


def fetched_since(db: Database, mbids: list[uuid.UUID], since: dt.datetime) -> set[uuid.UUID]:
    """Of `mbids`, the live releases stored or seen unchanged at or after
    `since` (their document's `last_seen` moves on every fetch, changed or not)."""
    if not mbids:
        return set()
    with db.session() as s:
        return set(s.execute(
            select(m.Document.mbid).where(
                m.Document.entity_type == "release", m.Document.mbid.in_(mbids), m.Document.last_seen >= since,
                m.Document.deleted_at.is_(None))
        ).scalars())
