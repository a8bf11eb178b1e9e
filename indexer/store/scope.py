"""Scope membership: which releases a walked scope (artist, label, release
group, collection) contained, and the browse documents that tell whether a
release changed since it was last looked up.

A browse payload has another shape than a lookup (musicbrainzngs' includes),
so it is kept as its own entity_type "release-browse" document, never as a
revision of the release: its hash tells whether a lookup is needed.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert

from ..clock import now
from ..db import Database
from ..db import models as m
from ..mapping import doc_hash, parse_mbid
from .release import UNCHANGED, store_document

BROWSE = "release-browse"


def page_state(db: Database, docs: list[dict]) -> dict[uuid.UUID, tuple[bool, bool]]:
    """For every release of a browse page, in one query: (browse document
    changed or never seen, release stored)."""
    hashes = {parse_mbid(d["id"]): doc_hash(d) for d in docs}
    with db.session() as s:
        known = dict(s.execute(
            select(m.Document.mbid, m.Document.hash).where(
                m.Document.entity_type == BROWSE, m.Document.mbid.in_(list(hashes)))
        ).all())
        stored = set(s.execute(select(m.Release.mbid).where(m.Release.mbid.in_(list(hashes)))).scalars())
    return {mbid: (known.get(mbid) != h, mbid in stored) for mbid, h in hashes.items()}


def note_unchanged(db: Database, scope: str, target: uuid.UUID, mbids: list[uuid.UUID], run_id: int) -> None:
    """Seen again, unchanged: touch the browse documents and the scope
    membership of a whole page in one transaction (the nightly common case)."""
    if not mbids:
        return
    with db.session() as s, s.begin():
        params = {"ids": mbids, "now": now(), "scope": scope, "target": str(target), "run": run_id}
        s.execute(text("UPDATE document SET last_seen = :now WHERE entity_type = 'release-browse' "
                       "AND mbid = ANY(:ids)"), params)
        s.execute(text("UPDATE document_revision r SET last_seen = :now FROM document d "
                       "WHERE d.entity_type = 'release-browse' AND d.mbid = ANY(:ids) AND r.id = d.revision_id"),
                  params)
        s.execute(text("INSERT INTO scope_member (scope, target, release_mbid, first_seen, last_seen, last_run_id) "
                       "SELECT :scope, :target, x, :now, :now, :run FROM unnest(CAST(:ids AS uuid[])) AS x "
                       "ON CONFLICT (scope, target, release_mbid) DO UPDATE "
                       "SET last_seen = EXCLUDED.last_seen, last_run_id = EXCLUDED.last_run_id"), params)


def note_browse(db: Database, scope: str, target: uuid.UUID, doc: dict, run_id: int) -> tuple[uuid.UUID, bool]:
    """Store the browse document and scope membership; True when it changed."""
    mbid = parse_mbid(doc["id"])
    seen = now()
    with db.session() as s, s.begin():
        outcome, _ = store_document(s, BROWSE, mbid, doc, source="api", run_id=run_id, seen_at=seen)
        stmt = insert(m.ScopeMember).values(
            scope=scope, target=str(target), release_mbid=mbid, first_seen=seen, last_seen=seen, last_run_id=run_id
        )
        s.execute(
            stmt.on_conflict_do_update(
                index_elements=["scope", "target", "release_mbid"], set_={"last_seen": seen, "last_run_id": run_id}
            )
        )
    return mbid, outcome != UNCHANGED


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
