"""Per-release writes (the ws/2 path): one release version in one transaction.

`save_release` runs inside the caller's transaction, so a caller that commits
per release gets atomic releases: either all rows of a release version are
there, or none.  The revision rules it follows are stated once, in
`indexer.store`; `store.bulk` applies the same rules to whole batches.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from ..clock import now as _now
from ..db import Database
from ..db import models as m
from ..mapping import MappedRelease, doc_hash

INSERTED, UPDATED, UNCHANGED = "inserted", "updated", "unchanged"


class UnstorableDocument(ValueError):
    """The database refused one release version (a NUL in a title, a number
    beyond its column's range...); its transaction was rolled back whole."""


@dataclass
class SaveResult:
    mbid: uuid.UUID
    outcome: str  # inserted | updated | unchanged
    revision_id: int


def _row(obj, **extra) -> dict:
    data = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    data.update(extra)
    return data


def _upsert(session: Session, model, rows: list[dict], keys: list[str], *, keep_existing_when_null=True) -> None:
    """Insert or refresh rows; a value missing (None) in a sparse embedded
    object never overwrites what a fuller document told us before."""
    if not rows:
        return
    stmt = insert(model).values(rows)
    table = model.__table__
    updates = {}
    for col in rows[0]:
        if col in keys or col == "first_seen":
            continue
        if keep_existing_when_null:
            updates[col] = func.coalesce(stmt.excluded[col], table.c[col])
        else:
            updates[col] = stmt.excluded[col]
    if "deleted_at" in table.c and "deleted_at" not in rows[0]:
        updates["deleted_at"] = None  # seen again upstream: no longer a tombstone
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_=updates)
    session.execute(stmt)


def store_document(
    session: Session, entity_type: str, mbid: uuid.UUID, doc: dict, *, source: str, run_id: int | None, seen_at
) -> tuple[str, int]:
    """Record a raw document version; returns (outcome, revision id)."""
    digest = doc_hash(doc)
    current = session.execute(
        select(m.Document).where(m.Document.entity_type == entity_type, m.Document.mbid == mbid).with_for_update()
    ).scalar_one_or_none()
    if current is not None and current.hash == digest:
        current.last_seen = seen_at
        if current.deleted_at is not None:
            current.deleted_at = None
            outcome = UPDATED
        else:
            outcome = UNCHANGED
        session.execute(
            update(m.DocumentRevision).where(m.DocumentRevision.id == current.revision_id).values(last_seen=seen_at)
        )
        return outcome, current.revision_id

    stmt = (
        insert(m.DocumentRevision)
        .values(
            entity_type=entity_type,
            mbid=mbid,
            hash=digest,
            doc=doc,
            source=source,
            first_seen=seen_at,
            last_seen=seen_at,
            sync_run_id=run_id,
        )
        .on_conflict_do_update(
            constraint="uq_document_revision_entity_hash", set_={"last_seen": seen_at}
        )  # an older version came back: keep its first_seen
        .returning(m.DocumentRevision.id)
    )
    revision_id = session.execute(stmt).scalar_one()
    if current is None:
        session.add(
            m.Document(
                entity_type=entity_type,
                mbid=mbid,
                revision_id=revision_id,
                hash=digest,
                revision_count=1,
                first_seen=seen_at,
                last_seen=seen_at,
            )
        )
        session.flush()
        return INSERTED, revision_id
    current.revision_id = revision_id
    current.hash = digest
    current.last_seen = seen_at
    current.deleted_at = None
    current.revision_count = session.execute(
        select(func.count())
        .select_from(m.DocumentRevision)
        .where(m.DocumentRevision.entity_type == entity_type, m.DocumentRevision.mbid == mbid)
    ).scalar_one()
    return UPDATED, revision_id


def save_release(
    session: Session,
    mapped: MappedRelease,
    doc: dict,
    *,
    source: str = "api",
    run_id: int | None = None,
    seen_at: dt.datetime | None = None,
) -> SaveResult:
    seen_at = seen_at or _now()
    rel = mapped.release
    outcome, revision_id = store_document(
        session, "release", rel.mbid, doc, source=source, run_id=run_id, seen_at=seen_at
    )
    if outcome == UNCHANGED:
        session.execute(update(m.Release).where(m.Release.mbid == rel.mbid).values(last_seen=seen_at))
        return SaveResult(rel.mbid, outcome, revision_id)

    seen = {"first_seen": seen_at, "last_seen": seen_at}
    _upsert(session, m.Artist, [_row(a, **seen) for a in mapped.artists], ["mbid"])
    _upsert(session, m.Label, [_row(lb, **seen) for lb in mapped.labels], ["mbid"])
    _upsert(session, m.Recording, [_row(r, **seen) for r in mapped.recordings], ["mbid"])
    if mapped.release_group is not None:
        _upsert(session, m.ReleaseGroup, [_row(mapped.release_group, **seen)], ["mbid"])

    # the release row reflects exactly the latest document: no coalescing
    release_row = _row(rel, **seen, needs_score=True, deleted_reason=None)
    _upsert(session, m.Release, [release_row], ["mbid"], keep_existing_when_null=False)

    # children of the release are replaced wholesale by the new version
    session.execute(delete(m.Medium).where(m.Medium.release_mbid == rel.mbid))  # tracks cascade
    session.execute(delete(m.ReleaseLabel).where(m.ReleaseLabel.release_mbid == rel.mbid))
    for model in (m.UrlRelation, m.Tag):
        session.execute(delete(model).where(model.entity_type == "release", model.entity_mbid == rel.mbid))
    if mapped.release_group is not None and "release-group-level-rels" in rel.includes:
        # the group's links came with this document (release-group-level-rels): they replace the stored ones
        session.execute(delete(m.UrlRelation).where(m.UrlRelation.entity_type == "release-group",
                                                    m.UrlRelation.entity_mbid == mapped.release_group.mbid))
    replaced = {("release", rel.mbid)}
    if mapped.release_group is not None:
        replaced.add(("release-group", mapped.release_group.mbid))
    replaced.update(("recording", r.mbid) for r in mapped.recordings)
    for entity_type, mbid in replaced:
        session.execute(
            delete(m.ArtistCredit).where(m.ArtistCredit.entity_type == entity_type, m.ArtistCredit.entity_mbid == mbid)
        )

    for medium in mapped.media:
        medium_id = session.execute(
            insert(m.Medium)
            .values(
                release_mbid=rel.mbid,
                position=medium.position,
                mbid=medium.mbid,
                format=medium.format,
                title=medium.title,
                track_count=medium.track_count,
            )
            .returning(m.Medium.id)
        ).scalar_one()
        if medium.tracks:
            session.execute(
                insert(m.Track),
                [_row(t, medium_id=medium_id, release_mbid=rel.mbid) for t in medium.tracks],
            )
    if mapped.release_labels:
        session.execute(insert(m.ReleaseLabel), [_row(x, release_mbid=rel.mbid) for x in mapped.release_labels])
    if mapped.credits:
        session.execute(insert(m.ArtistCredit), [_row(c) for c in mapped.credits])
    if mapped.urls:
        session.execute(insert(m.UrlRelation), [_row(u) for u in mapped.urls])
    if mapped.tags:
        session.execute(insert(m.Tag), [_row(t) for t in mapped.tags])
    return SaveResult(rel.mbid, outcome, revision_id)


def record_redirect(session: Session, entity_type: str, old: uuid.UUID, new: uuid.UUID, run_id: int | None) -> bool:
    """Remember that `old` was merged into `new`; True if this is news."""
    stmt = (
        insert(m.Redirect)
        .values(entity_type=entity_type, old_mbid=old, new_mbid=new, sync_run_id=run_id)
        .on_conflict_do_update(
            index_elements=["entity_type", "old_mbid"],
            set_={"new_mbid": new},
            where=m.Redirect.new_mbid != new,
        )
        .returning(m.Redirect.old_mbid)
    )
    return session.execute(stmt).first() is not None


def tombstone_release(session: Session, mbid: uuid.UUID, reason: str, when: dt.datetime | None = None) -> bool:
    """Mark a release deleted upstream, keeping every row; True if newly tombstoned."""
    when = when or _now()
    res = session.execute(
        update(m.Release)
        .where(m.Release.mbid == mbid, m.Release.deleted_at.is_(None))
        .values(deleted_at=when, deleted_reason=reason, needs_score=True)
    )
    session.execute(
        update(m.Document)
        .where(m.Document.entity_type == "release", m.Document.mbid == mbid, m.Document.deleted_at.is_(None))
        .values(deleted_at=when)
    )
    return res.rowcount > 0


def resolve_mbid(session: Session, entity_type: str, mbid: uuid.UUID) -> uuid.UUID:
    """Follow merge redirects (old → new, possibly chained) to the current MBID."""
    seen = {mbid}
    current = mbid
    while True:
        nxt = session.execute(
            select(m.Redirect.new_mbid).where(m.Redirect.entity_type == entity_type, m.Redirect.old_mbid == current)
        ).scalar_one_or_none()
        if nxt is None or nxt in seen:
            return current
        seen.add(nxt)
        current = nxt


def save_release_document(db: Database, mapped: MappedRelease, doc: dict, *, run_id: int | None,
                          requested: uuid.UUID | None = None, source: str = "api") -> tuple[str, int]:
    """Save one release version in its own transaction, recording a merge when
    the release was asked for under another MBID; returns (outcome, redirects
    recorded: 0 or 1).  A value the database refuses raises
    UnstorableDocument, with nothing of the release written."""
    try:
        with db.session() as s, s.begin():
            redirected = 0
            if requested is not None and requested != mapped.release.mbid:
                redirected = int(record_redirect(s, "release", requested, mapped.release.mbid, run_id))
            result = save_release(s, mapped, doc, source=source, run_id=run_id)
    except (DataError, IntegrityError) as exc:
        cause = getattr(getattr(exc.orig, "diag", None), "message_primary", None) or str(exc.orig)
        raise UnstorableDocument(f"cannot store release {mapped.release.mbid}: {cause}") from None
    return result.outcome, redirected


def tombstone(db: Database, mbid: uuid.UUID, reason: str) -> bool:
    """`tombstone_release` in its own transaction."""
    with db.session() as s, s.begin():
        return tombstone_release(s, mbid, reason)
