"""Per-release writes (the ws/2 path): one release version in one transaction.

`save_release` saves one version in a transaction of its own;
`save_release_in` runs inside the caller's, so a caller that commits per
release gets atomic releases: either all rows of a release version are there,
or none.  The revision rules (which version is new, seen again, tombstoned)
are `store.revisions`, the same texts a browse page and a dump batch run;
this module adds the release's flattened rows (rule 3 of `indexer.store`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from ..clock import now as _now
from ..db import Database
from ..db import models as m
from ..mapping import MappedRelease
from .revisions import UNCHANGED, store_document_in, tombstone_in


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


def save_release_in(
    session: Session,
    mapped: MappedRelease,
    doc: dict,
    *,
    source: str = "api",
    run_id: int | None = None,
    seen_at: dt.datetime | None = None,
) -> SaveResult:
    """Save one release version inside the caller's transaction: its document
    under the revision rules, and, unless it is unchanged, its rows."""
    seen_at = seen_at or _now()
    rel = mapped.release
    outcome, revision_id = store_document_in(
        session, "release", rel.mbid, doc, source=source, run_id=run_id, seen_at=seen_at
    )
    if outcome == UNCHANGED:  # seen again: store_document_in moved its document's last_seen (rule 1)
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


def record_redirect_in(session: Session, entity_type: str, old: uuid.UUID, new: uuid.UUID, run_id: int | None) -> bool:
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


def resolve_mbid_in(session: Session, entity_type: str, mbid: uuid.UUID) -> uuid.UUID:
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


def save_release(db: Database, mapped: MappedRelease, doc: dict, *, run_id: int | None,
                 requested: uuid.UUID | None = None, source: str = "api") -> tuple[str, int]:
    """Save one release version in its own transaction, recording a merge when
    the release was asked for under another MBID; returns (outcome, redirects
    recorded: 0 or 1).  A value the database refuses raises
    UnstorableDocument, with nothing of the release written."""
    try:
        with db.session() as s, s.begin():
            redirected = 0
            if requested is not None and requested != mapped.release.mbid:
                redirected = int(record_redirect_in(s, "release", requested, mapped.release.mbid, run_id))
            result = save_release_in(s, mapped, doc, source=source, run_id=run_id)
    except (DataError, IntegrityError) as exc:
        cause = getattr(getattr(exc.orig, "diag", None), "message_primary", None) or str(exc.orig)
        raise UnstorableDocument(f"cannot store release {mapped.release.mbid}: {cause}") from None
    return result.outcome, redirected


def tombstone(db: Database, mbid: uuid.UUID, reason: str) -> bool:
    """`tombstone_in` in its own transaction."""
    with db.session() as s, s.begin():
        return tombstone_in(s, mbid, reason)
