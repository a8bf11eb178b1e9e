"""What every ws/2 sync shares: the one-release lookup, the way one document
is stored or quarantined, and how a run ends.

The contract a pipeline (`releases`, `scope`, `query`) follows, in one
direction and never back:

1. **source**: it asks `sources.ws2.Client` for documents (a lookup, a
   browse page, a search page);
2. **mapping**: each release document goes through `store_release_doc`,
   which maps it (`mapping.map_release`) ...
3. **store**: ... and saves it in its own transaction under the revision
   rules of `indexer.store`, or keeps it byte for byte in `quarantine` when
   it cannot be mapped or stored;
4. **runs**: the pipeline is one `runs.Run`: it runs its work inside
   `guarded` (a used-up budget ends it partial, ws/2 or mapping trouble
   failed, anything else interrupted and raised) and ends with `finish`,
   which returns the `SyncResult` front ends report.

One odd document never stops a run: a body that cannot be parsed as it
should (`ws2.BadDocument`), mapped or stored, or that answers for another
release without a redirect, is kept in `quarantine`, counted in
`run.counts.quarantined`, and the run goes on (the CLI then exits 5).

Every function here that writes takes the `Database` (never a session) and
each write is its own transaction (`store.save_release`,
`store.tombstone`, `store.quarantine.quarantine_document`, `Run.finish`): a
crash loses at most the release in flight.  Pipelines import from this module, never from each other;
`watch` orchestrates whole pipelines and `enrich` is a pipeline of facts, not
of releases (its own result type).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Callable

from ..db import Database
from ..mapping import MappingError, asked_includes, doc_hash, map_release, parse_mbid
from ..runs import FAILED, INTERRUPTED, OK, PARTIAL, Run, RunCounts
from ..sources.ws2 import BadDocument, Client, GiveUp, NotFound, RequestBudgetExhausted, WSError, id_from_url
from ..store import UnstorableDocument, save_release, tombstone
from ..store.quarantine import quarantine_document

QUARANTINED = "quarantined"

#: what one document can raise on its way through mapping and the database;
#: the same list the dump reader quarantines (`sync.dump_batches.prepare_line`),
#: plus UnicodeError (a lone surrogate) and the database's refusal
DOCUMENT_ERRORS = (MappingError, UnstorableDocument, ValueError, TypeError, AttributeError, KeyError, UnicodeError)


@dataclass
class SyncResult:
    """How one sync run ended, for the front end's summary and exit code."""

    run_id: int
    status: str
    counts: RunCounts
    requests: int
    error: str | None = None


# --- one release: source → mapping → store ----------------------------------


def sync_release(db: Database, client: Client, mbid: uuid.UUID, run: Run) -> str:
    """Look one release up and store it; a 404 tombstones a known release.

    The body must be the release asked for, or the one ws/2 redirected to
    (a merge).  musicbrainz.org also serves a merged MBID with 200 and the
    merge target's document (recorded in the corpus: a 2023 lookup of label
    022fe361 answered as c029628b), so a body about another release without
    a redirect is taken as a merge only when a lookup of that release
    answers with the very same document (`_confirmed_merge`, one request);
    anything else is quarantined, never recorded as a merge."""
    try:
        resp = client.get_release(mbid)
    except NotFound:
        if tombstone(db, mbid, "404 on lookup"):
            run.counts.tombstoned += 1
        run.counts.missing.append(str(mbid))
        return "missing"
    except BadDocument as exc:
        return quarantine(db, run, exc.url or f"release {mbid}", exc.raw, str(exc), exc.length)
    doc, source = resp.data, resp.final_url or f"release {mbid}"
    final = id_from_url(resp.final_url) if resp.final_url else None
    expected = final if final is not None else mbid
    if not isinstance(doc, dict) or "id" not in doc:
        return quarantine(db, run, source, resp.raw, f"ws/2 answered the lookup of {mbid} with something "
                                                     "that is not a release")
    if expected != mbid and mbid_of(doc) == mbid:
        doc = dict(doc, id=str(expected))  # redirected but the body kept the old id
    if mbid_of(doc) != expected and not (expected == mbid and _confirmed_merge(client, doc)):
        how = "without a redirect" if expected == mbid else f"after a redirect to {expected}"
        return quarantine(db, run, source, resp.raw, f"ws/2 answered the lookup of {mbid} with release "
                                                     f"{str(doc.get('id'))[:40]!r} {how}")
    return store_release_doc(db, doc, run, requested=mbid, raw=resp.raw, url=source)


def _confirmed_merge(client: Client, doc: dict) -> bool:
    """True when the release `doc` names answers its own lookup with the same
    document: the server served the merge target under the old MBID."""
    target = mbid_of(doc)
    if target is None:
        return False
    try:
        own = client.get_release(target).data
    except (NotFound, BadDocument):
        return False
    return isinstance(own, dict) and doc_hash(own) == doc_hash(doc)


def mbid_of(doc) -> uuid.UUID | None:
    """The MBID a release document (or browse item) names; None when it is
    not a dict or its id is not an MBID (`store_release_doc` quarantines it)."""
    try:
        return parse_mbid(doc.get("id")) if isinstance(doc, dict) else None
    except ValueError:
        return None


def store_release_doc(db: Database, doc: dict, run: Run, *, requested: uuid.UUID | None = None,
                      raw: bytes | None = None, url: str | None = None) -> str:
    """Map and save one release document atomically; returns the outcome
    (inserted, updated, unchanged or quarantined).

    A document that cannot be mapped or stored is quarantined instead (its
    transaction rolled back whole): `raw` is the body as received, and
    without it (an item of a browse page) the document re-encoded as ASCII
    JSON, which keeps a NUL or a lone surrogate as its escape.  `url` is
    where it came from, for the quarantine row.
    """
    try:
        mapped = map_release(doc, includes=asked_includes(doc))
        outcome, redirected = save_release(db, mapped, doc, run_id=run.id, requested=requested)
    except DOCUMENT_ERRORS as exc:
        body = raw if raw is not None else json.dumps(doc, ensure_ascii=True).encode("ascii")
        where = url or f"ws/2 release {str(doc.get('id') if isinstance(doc, dict) else None)[:40]}"
        return quarantine(db, run, where, body, f"cannot store release: {type(exc).__name__}: {exc}")
    run.counts.redirected += redirected
    run.counts.add(outcome)
    return outcome


def quarantine(db: Database, run: Run, source: str, raw: bytes, error: str, length: int | None = None) -> str:
    """Keep one unusable document (its own transaction) and count it in the run."""
    quarantine_document(db, source, raw, error, run.id, length=length)
    run.counts.quarantined += 1
    return QUARANTINED


# --- the run ----------------------------------------------------------------


def guarded(run: Run, client: Client, work: Callable[[], None]) -> tuple[str, str | None]:
    """Run a sync's work: a used-up budget ends it as partial, ws/2 or mapping
    trouble as failed; anything else (Ctrl-C, a bug) marks the run interrupted
    and propagates."""
    try:
        work()
    except RequestBudgetExhausted as exc:
        return PARTIAL, str(exc)
    except (GiveUp, WSError, MappingError) as exc:
        return FAILED, str(exc)
    except BaseException as exc:
        run.finish(INTERRUPTED, requests=client.stats.requests, error=f"{type(exc).__name__}: {exc}")
        raise
    return OK, None


def finish(run: Run, client: Client, status: str, error: str | None) -> SyncResult:
    """Record how the run ended (its own transaction) and say it as a SyncResult."""
    run.finish(status, requests=client.stats.requests, error=error)
    return SyncResult(run.id, status, run.counts, run.own(client.stats.requests), error)
