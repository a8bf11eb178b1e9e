"""Pulls releases from ws/2 into the mirror, one atomic transaction per release.

Source (mb.Client) → mapping → store; every run is recorded in `sync_run`.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import update

from . import models as m
from .db import Database
from .mapping import MappingError, asked_includes, map_release, parse_mbid
from .mb import RELEASE_INCLUDES, Client, GiveUp, NotFound, RequestBudgetExhausted, WSError, id_from_url
from .store import INSERTED, UNCHANGED, UPDATED, record_redirect, save_release, tombstone_release


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class RunCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    tombstoned: int = 0
    redirected: int = 0
    quarantined: int = 0
    missing: list[str] = field(default_factory=list)  # asked for, not found upstream

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def as_dict(self) -> dict:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "tombstoned": self.tombstoned,
            "redirected": self.redirected,
            "quarantined": self.quarantined,
        }


class Run:
    """A `sync_run` row kept up to date while the run goes on."""

    def __init__(self, db: Database, kind: str, scope: str | None, target: str | None, options: dict | None = None):
        self.db = db
        self.counts = RunCounts()
        with db.session() as s, s.begin():
            row = m.SyncRun(kind=kind, scope=scope, target=target, options=options, pid=os.getpid(), status="running")
            s.add(row)
            s.flush()
            self.id = row.id

    def save(self, *, requests: int | None = None, checkpoint: dict | None = None) -> None:
        values = dict(self.counts.as_dict())
        if requests is not None:
            values["requests"] = requests
        if checkpoint is not None:
            values["checkpoint"] = checkpoint
        with self.db.session() as s, s.begin():
            s.execute(update(m.SyncRun).where(m.SyncRun.id == self.id).values(**values))

    def finish(self, status: str, *, requests: int | None = None, error: str | None = None) -> None:
        values = dict(self.counts.as_dict(), status=status, finished_at=_now(), error=error)
        if requests is not None:
            values["requests"] = requests
        with self.db.session() as s, s.begin():
            s.execute(update(m.SyncRun).where(m.SyncRun.id == self.id).values(**values))


def store_release_doc(db: Database, doc: dict, run: Run, *, requested: uuid.UUID | None = None) -> str:
    """Map and save one release document atomically; returns the outcome."""
    mapped = map_release(doc, includes=asked_includes(doc))
    with db.session() as s, s.begin():
        if requested is not None and requested != mapped.release.mbid:
            if record_redirect(s, "release", requested, mapped.release.mbid, run.id):
                run.counts.redirected += 1
        result = save_release(s, mapped, doc, source="api", run_id=run.id)
    run.counts.add(result.outcome)
    return result.outcome


def sync_release(db: Database, client: Client, mbid: str | uuid.UUID, run: Run) -> str:
    """Look one release up and store it; a 404 tombstones a known release."""
    requested = parse_mbid(str(mbid))
    try:
        resp = client.get_release(str(requested))
    except NotFound:
        with db.session() as s, s.begin():
            if tombstone_release(s, requested, "404 on lookup"):
                run.counts.tombstoned += 1
        run.counts.missing.append(str(requested))
        return "missing"
    doc = resp.data
    if not isinstance(doc, dict) or "id" not in doc:
        raise MappingError(f"ws/2 answered the lookup of {requested} with something that is not a release")
    final = id_from_url(resp.final_url) if resp.final_url else None
    if final is not None and final != requested and doc.get("id") == str(requested):
        doc = dict(doc, id=str(final))  # redirected but the body kept the old id
    return store_release_doc(db, doc, run, requested=requested)


@dataclass
class SyncResult:
    run_id: int
    status: str
    counts: RunCounts
    requests: int
    error: str | None = None


def _guarded(run: Run, client: Client, work: Callable[[], None]) -> tuple[str, str | None]:
    """Run a sync's work: a used-up budget ends it as partial, ws/2 or mapping
    trouble as failed; anything else (Ctrl-C, a bug) marks the run interrupted
    and propagates."""
    try:
        work()
    except RequestBudgetExhausted as exc:
        return "partial", str(exc)
    except (GiveUp, WSError, MappingError) as exc:
        return "failed", str(exc)
    except BaseException as exc:
        run.finish("interrupted", requests=client.stats.requests, error=f"{type(exc).__name__}: {exc}")
        raise
    return "ok", None


def sync_releases(db: Database, client: Client, mbids: list[str]) -> SyncResult:
    """`mbindex sync release MBID...`: each release looked up and stored."""
    ids = [str(parse_mbid(x)) for x in mbids]  # validate all before touching anything
    run = Run(db, "sync", "release", " ".join(ids))

    def work():
        for mbid in ids:
            sync_release(db, client, mbid, run)
            run.save(requests=client.stats.requests)

    status, error = _guarded(run, client, work)
    if status == "ok" and run.counts.missing:
        status = "partial"
        error = "not found upstream: " + ", ".join(run.counts.missing)
    run.finish(status, requests=client.stats.requests, error=error)
    return SyncResult(run.id, status, run.counts, client.stats.requests, error)


# --- scopes: artist / label / release-group / collection -----------------------
#
# Revisions: the release's revision history holds *lookup* documents only
# (RELEASE_INCLUDES).  A browse payload has another shape (no url-rels,
# annotation, tags), so it is never stored as the release's revision; it is
# kept as its own entity_type "release-browse" document, whose hash tells us
# whether a lookup is needed: a release is looked up only when it is new to
# the mirror or its browse payload changed.  So the two shapes never alternate
# and a quiet night creates no fake revisions.

SCOPES = ("artist", "label", "release-group", "collection")
PAGE = 100


def _browse_page(client: Client, scope: str, target: str, offset: int):
    if scope == "collection":
        return client.collection_releases(target, offset, PAGE)
    return client.browse_releases(scope, target, offset, PAGE)


def _page_state(db: Database, docs: list[dict]) -> dict[uuid.UUID, tuple[bool, bool]]:
    """For every release of a browse page, in one query: (browse document
    changed or never seen, release stored)."""
    from sqlalchemy import select

    from .mapping import doc_hash

    hashes = {parse_mbid(d["id"]): doc_hash(d) for d in docs}
    with db.session() as s:
        known = dict(s.execute(
            select(m.Document.mbid, m.Document.hash).where(
                m.Document.entity_type == "release-browse", m.Document.mbid.in_(list(hashes)))
        ).all())
        stored = set(s.execute(select(m.Release.mbid).where(m.Release.mbid.in_(list(hashes)))).scalars())
    return {mbid: (known.get(mbid) != h, mbid in stored) for mbid, h in hashes.items()}


def _note_unchanged(db: Database, scope: str, target: str, mbids: list[uuid.UUID], run: Run) -> None:
    """Seen again, unchanged: touch the browse documents and the scope
    membership of a whole page in one transaction (the nightly common case)."""
    from sqlalchemy import text as sql

    if not mbids:
        return
    now = _now()
    with db.session() as s, s.begin():
        params = {"ids": mbids, "now": now, "scope": scope, "target": target, "run": run.id}
        s.execute(sql("UPDATE document SET last_seen = :now WHERE entity_type = 'release-browse' "
                      "AND mbid = ANY(:ids)"), params)
        s.execute(sql("UPDATE document_revision r SET last_seen = :now FROM document d "
                      "WHERE d.entity_type = 'release-browse' AND d.mbid = ANY(:ids) AND r.id = d.revision_id"),
                  params)
        s.execute(sql("INSERT INTO scope_member (scope, target, release_mbid, first_seen, last_seen, last_run_id) "
                      "SELECT :scope, :target, x, :now, :now, :run FROM unnest(CAST(:ids AS uuid[])) AS x "
                      "ON CONFLICT (scope, target, release_mbid) DO UPDATE "
                      "SET last_seen = EXCLUDED.last_seen, last_run_id = EXCLUDED.last_run_id"), params)


def _note_browse(db: Database, scope: str, target: str, doc: dict, run: Run) -> tuple[uuid.UUID, bool]:
    """Store the browse document and scope membership; True when a lookup is needed."""
    from sqlalchemy.dialects.postgresql import insert

    from .store import store_document

    mbid = parse_mbid(doc["id"])
    now = _now()
    with db.session() as s, s.begin():
        outcome, _ = store_document(s, "release-browse", mbid, doc, source="api", run_id=run.id, seen_at=now)
        stmt = insert(m.ScopeMember).values(
            scope=scope, target=target, release_mbid=mbid, first_seen=now, last_seen=now, last_run_id=run.id
        )
        s.execute(
            stmt.on_conflict_do_update(
                index_elements=["scope", "target", "release_mbid"], set_={"last_seen": now, "last_run_id": run.id}
            )
        )
    return mbid, outcome != UNCHANGED


def walk_scope(db: Database, client: Client, scope: str, target: str, run: Run, *, start_offset: int = 0,
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
        resp = _browse_page(client, scope, target, offset)
        data = resp.data or {}
        items = data.get("releases") or []
        total = data.get("release-count", total)
        state = _page_state(db, items)
        unchanged = [mbid for mbid, (changed, stored) in state.items() if stored and not changed]
        _note_unchanged(db, scope, target, unchanged, run)
        run.counts.unchanged += len(unchanged)
        for doc in items:
            mbid = parse_mbid(doc["id"])
            changed, stored = state[mbid]
            if stored and not changed:
                continue
            # look up *before* the browse document is noted: a lookup that fails
            # (outage, budget, kill -9) must be tried again by the next run
            sync_release(db, client, mbid, run)
            _note_browse(db, scope, target, doc, run)
        offset += len(items)
        run.save(requests=client.stats.requests, checkpoint={"scope": scope, "target": target, "offset": offset})
        if on_page:
            on_page(offset, total or offset)
        if not items or (total is not None and offset >= total):
            break
    if start_offset == 0:  # only a walk done whole in this run proves absence
        _confirm_missing(db, client, scope, target, run)


def _confirm_missing(db: Database, client: Client, scope: str, target: str, run: Run) -> None:
    from sqlalchemy import delete, select

    with db.session() as s:
        gone = s.execute(
            select(m.ScopeMember.release_mbid).where(
                m.ScopeMember.scope == scope,
                m.ScopeMember.target == target,
                (m.ScopeMember.last_run_id.is_(None)) | (m.ScopeMember.last_run_id != run.id),
            )
        ).scalars().all()
    for mbid in gone:
        # confirm before tombstoning: it may merely have left this scope
        sync_release(db, client, mbid, run)
        with db.session() as s, s.begin():
            s.execute(
                delete(m.ScopeMember).where(
                    m.ScopeMember.scope == scope, m.ScopeMember.target == target, m.ScopeMember.release_mbid == mbid
                )
            )


def _resume_offset(db: Database, scope: str, target: str) -> int:
    """Where the last unfinished run of this scope stopped (0 if it finished)."""
    from sqlalchemy import select

    with db.session() as s:
        row = s.execute(
            select(m.SyncRun)
            .where(m.SyncRun.kind == "sync", m.SyncRun.scope == scope, m.SyncRun.target == target)
            .order_by(m.SyncRun.id.desc())
            .limit(1)
        ).scalar_one_or_none()
    if row is None or row.status == "ok" or not row.checkpoint:
        return 0
    return int(row.checkpoint.get("offset", 0))


def sync_scope(db: Database, client: Client, scope: str, target: str, *, on_page=None) -> SyncResult:
    """`mbindex sync artist|label|release-group|collection MBID`."""
    target = str(parse_mbid(target))
    start = _resume_offset(db, scope, target)
    run = Run(db, "sync", scope, target, options={"resumed_from": start} if start else None)
    status, error = _guarded(
        run, client, lambda: walk_scope(db, client, scope, target, run, start_offset=start, on_page=on_page))
    if status == "ok" and run.counts.missing:
        error = "not found upstream (tombstoned): " + ", ".join(run.counts.missing)
    run.finish(status, requests=client.stats.requests, error=error)
    return SyncResult(run.id, status, run.counts, client.stats.requests, error)


# --- search -------------------------------------------------------------------

SEARCH_CAP = 500  # the public search server answers no offset beyond this


def sync_query(db: Database, client: Client, query: str, *, on_page=None) -> SyncResult:
    """`mbindex sync query "LUCENE"`: search releases, then look each hit up.

    Search hits are only used for their ids (a search document is a third
    shape); every hit is stored from its lookup.  Public search stops at
    SEARCH_CAP results: the run's error field says so when the cap was hit.
    """
    run = Run(db, "sync", "query", query)
    walked = {"capped": False, "total": 0}

    def work():
        offset = 0
        while True:
            data = client.search_releases(query, offset, PAGE).data or {}
            items = data.get("releases") or []
            total = walked["total"] = int(data.get("count", data.get("release-count", 0)) or 0)
            for hit in items:
                sync_release(db, client, hit["id"], run)
            offset += len(items)
            run.save(requests=client.stats.requests, checkpoint={"scope": "query", "offset": offset})
            if on_page:
                on_page(offset, min(total, SEARCH_CAP))
            if not items or offset >= total:
                return
            if offset >= SEARCH_CAP:
                walked["capped"] = True
                return

    status, error = _guarded(run, client, work)
    if walked["capped"] and status == "ok":
        status = "partial"
        error = (f"the search matched {walked['total']} releases but MusicBrainz search stops at {SEARCH_CAP}; "
                 "narrow the query (e.g. add date: or country:) to get the rest")
    run.finish(status, requests=client.stats.requests, error=error)
    return SyncResult(run.id, status, run.counts, client.stats.requests, error)


__all__ = [
    "sync_query",
    "SCOPES",
    "sync_scope",
    "walk_scope",
    "INSERTED",
    "UPDATED",
    "UNCHANGED",
    "Run",
    "RunCounts",
    "SyncResult",
    "store_release_doc",
    "sync_release",
    "sync_releases",
    "RELEASE_INCLUDES",
]
