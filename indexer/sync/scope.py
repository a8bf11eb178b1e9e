"""Scopes: every release of an artist, label, release group or collection,
stored from whole browse pages (up to 100 releases per request).

musicbrainz-server builds each release of a browse page with the same
`release_toplevel` as a lookup, so a browse asking for the lookup's includes
(`BROWSE_INCLUDES`: `RELEASE_INCLUDES` without the lookup-only `artists` and
`collections`) returns the lookup's document.  Each item goes through
`store_release_doc`, the lookup's own path: same hash, same revision rules;
only the items whose hash is already the stored one are touched for the
whole page at once (`store.scope.touch_unchanged`, rule 1 in bulk), which
keeps a nightly page of unchanged releases at about the cost of its fetch.

Why lookups no longer ask for `artists`: on a lookup it serializes the
release's credited artists as top-level entities, adding `gender`,
`gender-id`, `area`, `begin-area`, `end-area`, `life-span`, `ipis`, `isnis`
and empty `recordings` / `release-groups` lists to each (musicbrainz-server
`Serializer/JSON/2/Release.pm` and `Artist.pm`).  A browse cannot ask for it,
so with it every release would have had two documents, alternating
revisions between a lookup and a walk.  Nothing reads those keys: the
mapping takes name, sort name, type, country and disambiguation, which
`artist-credits` carries (the recorded musicbrainz_rs lookups without
`artists` have them).  Without it a lookup and a browse item of an
unchanged release are the same document; a mirror whose revisions were
looked up with `artists` gets one new revision per release (those keys
gone) on its next fetch, once.

An item that does not visibly carry every asked include (a mirror server
that ignores one, an item cut short) is looked up on its own and counted in
`fallback_lookups`: a missing key must not be stored as "no labels".

The module reads top-down, one direction (the contract in `sync.pipeline`):
`sync_scope` (the run: resume, guard, finish) → `walk_scope` (pages and
checkpoints) → `browse_page` (the source; `_one_by_one` for a bad page) →
`store_page` (mapping and store, through `pipeline.store_release_doc`) →
`_confirm_missing` (members the walk did not see).
"""

from __future__ import annotations

import uuid
from typing import Callable

from ..db import Database
from ..mapping import doc_hash
from ..runs import OK, Run, resume_checkpoint
from ..sources.includes import missing_includes
from ..sources.ws2 import BROWSE_INCLUDES, BadDocument, Client
from ..store import scope as members
from ..store.watchlist import SCOPES
from .pipeline import DOCUMENT_ERRORS, SyncResult, finish, guarded, mbid_of, quarantine, store_release_doc, sync_release

PAGE = 100


def sync_scope(db: Database, client: Client, scope: str, target: uuid.UUID, *, on_page=None) -> SyncResult:
    """`mbindex sync artist|label|release-group|collection MBID`."""
    checkpoint = resume_checkpoint(db, "sync", scope, str(target)) or {}
    start = int(checkpoint.get("offset", 0))
    done = _looked_up(checkpoint)
    resumed = {"resumed_from": start, **({"lookups_kept": len(done)} if done else {})}
    run = Run(db, "sync", scope, str(target), options=resumed if start or done else None,
              requests_before=client.stats.requests)
    status, error = guarded(
        run, client, lambda: walk_scope(db, client, scope, target, run, start_offset=start, on_page=on_page,
                                        looked_up=done))
    if status == OK and run.counts.missing:
        error = "not found upstream (tombstoned): " + ", ".join(run.counts.missing)
    return finish(run, client, status, error)


def walk_scope(db: Database, client: Client, scope: str, target: uuid.UUID, run: Run, *, start_offset: int = 0,
               on_page: Callable[[int, int], None] | None = None,
               looked_up: frozenset[uuid.UUID] = frozenset()) -> None:
    """Browse every release of a scope, storing each page whole.

    Pages by the number of items actually returned (with `recordings` ws/2
    stops a page once its releases pass 500 tracks, and `release-count` still
    gives the total).  After each page the next offset is checkpointed in
    sync_run.checkpoint, so a run stopped by a budget, an outage or kill -9
    resumes at the page it had not finished; within a page, each fallback
    lookup done is checkpointed too (`looked_up`), so the run that resumes
    the page does not look those releases up again: a budget smaller than a
    page's lookups still gets through the page over several runs.  When the
    walk reached the end, members of the scope not seen in this walk are
    confirmed with a lookup (404 tombstones them, 301 records a redirect).
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    offset = start_offset
    total = None
    done = set(looked_up)  # of the page at `offset` only

    def save() -> None:
        """Where the walk resumes: the page at `offset`, less the releases already looked up on it."""
        at = {"scope": scope, "target": str(target), "offset": offset}
        run.save(requests=client.stats.requests,
                 checkpoint=dict(at, looked_up=sorted(str(m) for m in done)) if done else at)

    def looked(mbid: uuid.UUID) -> None:
        done.add(mbid)
        save()

    while True:
        items, count, covered = browse_page(db, client, scope, target, offset, run)
        total = total if count is None else count
        members.note_members(db, scope, target, store_page(db, client, items, run, done, looked), run.id)
        offset += covered
        done = set()
        save()
        if on_page:
            on_page(offset, total or offset)
        if not covered or (total is not None and offset >= total):
            break
    if start_offset == 0:  # only a walk done whole in this run proves absence
        _confirm_missing(db, client, scope, target, run)


def browse_page(db: Database, client: Client, scope: str, target: uuid.UUID, offset: int,
                run: Run) -> tuple[list[dict], int | None, int]:
    """One browse page: (its releases, release-count, how many offsets it covers).

    A page that parses into what cannot be used (`ws2.BadDocument`: 200k
    nested arrays, 1e400 in one item) is fetched again one release at a time,
    so only the release that makes it bad is quarantined (and counted in the
    offsets covered) and the walk goes on past it, instead of failing at the
    same page every night.  Its release, if a member, is then confirmed by
    lookup like any member the walk did not see.
    """
    try:
        data = client.browse_releases(scope, target, offset, PAGE).data or {}
    except BadDocument as exc:
        return _one_by_one(db, client, scope, target, offset, run, exc)
    items = data.get("releases") or []
    return items, data.get("release-count"), len(items)


def _one_by_one(db: Database, client: Client, scope: str, target: uuid.UUID, offset: int, run: Run,
                page_error: BadDocument) -> tuple[list[dict], int | None, int]:
    """The releases of a bad page fetched with limit=1; when not one of them
    parses, the page's own error ends the walk (a server that only sends
    bad pages must not be walked for ever)."""
    items: list[dict] = []
    total = None
    for at in range(offset, offset + PAGE):
        try:
            data = client.browse_releases(scope, target, at, 1).data or {}
        except BadDocument as exc:
            quarantine(db, run, exc.url, exc.raw, str(exc), exc.length)
            continue
        page = data.get("releases") or []
        total = data.get("release-count", total)
        items.extend(page)
        if not page or (total is not None and at + 1 >= total):
            return items, total, at + len(page) - offset
    if total is None:
        raise page_error
    return items, total, PAGE


def store_page(db: Database, client: Client, items: list[dict], run: Run,
               looked_up: set[uuid.UUID] | frozenset[uuid.UUID] = frozenset(),
               on_lookup: Callable[[uuid.UUID], None] | None = None) -> list[uuid.UUID]:
    """Store every release of a browse page; returns their MBIDs.

    A complete item is stored as it came (no request): when its hash is the
    stored document's, the page's unchanged releases are touched together
    (`members.touch_unchanged`), the others go through `store_release_doc`.
    An item lacking an asked include is looked up instead (one request,
    `fallback_lookups`, then `on_lookup(mbid)`), unless it is in `looked_up`
    (looked up by an earlier, cut attempt at this page).  A release the page
    lists twice is taken once, at its first place (`members.first_of_each`).
    """
    items = members.first_of_each(items, mbid_of)
    complete = {mbid: _hash(doc) for mbid, doc in ((mbid_of(d), d) for d in items)
                if mbid is not None and not missing_includes(doc, BROWSE_INCLUDES)}
    unchanged = members.touch_unchanged(db, {mbid: h for mbid, h in complete.items() if h is not None})
    run.counts.unchanged += len(unchanged)
    mbids = []
    for doc in items:
        mbid = mbid_of(doc)
        if mbid is None:  # not a release: store_release_doc refuses (or quarantines) it
            store_release_doc(db, doc, run)
            continue
        if mbid not in complete:
            if mbid not in looked_up:
                sync_release(db, client, mbid, run)
                run.counts.fallback_lookups += 1  # counted once done: a lookup the budget refused is not one
                if on_lookup:
                    on_lookup(mbid)
        elif mbid not in unchanged:
            store_release_doc(db, doc, run)
        mbids.append(mbid)
    return mbids


def _looked_up(checkpoint: dict) -> frozenset[uuid.UUID]:
    """The releases of the checkpointed page already looked up (a checkpoint
    is this program's own JSON; anything unreadable counts as none)."""
    raw = checkpoint.get("looked_up")
    if not isinstance(raw, list):
        return frozenset()
    try:
        return frozenset(uuid.UUID(str(x)) for x in raw[:PAGE])
    except ValueError:
        return frozenset()


def _hash(doc: dict) -> str | None:
    """The document hash, None for a document that has none (a lone
    surrogate, nesting too deep): store_release_doc quarantines those."""
    try:
        return doc_hash(doc)
    except (*DOCUMENT_ERRORS, RecursionError):
        return None


def _confirm_missing(db: Database, client: Client, scope: str, target: uuid.UUID, run: Run) -> None:
    """Look up each known member this whole walk did not see (a 404
    tombstones it, a redirect records the merge, else it is refreshed), then
    drop it from the scope's members."""
    for mbid in members.members_not_seen(db, scope, target, run.id):
        # confirm before tombstoning: it may merely have left this scope
        sync_release(db, client, mbid, run)
        members.forget_member(db, scope, target, mbid)
