"""Releases by MBID: each looked up on ws/2 and stored in its own transaction.

Source (sources.ws2.Client) → mapping → store; every run is a `runs.Run`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Callable

from ..db import Database
from ..mapping import MappingError, asked_includes, map_release
from ..runs import FAILED, INTERRUPTED, OK, PARTIAL, Run, RunCounts
from ..sources.ws2 import Client, GiveUp, NotFound, RequestBudgetExhausted, WSError, id_from_url
from ..store import save_release_document, tombstone


@dataclass
class SyncResult:
    run_id: int
    status: str
    counts: RunCounts
    requests: int
    error: str | None = None


def store_release_doc(db: Database, doc: dict, run: Run, *, requested: uuid.UUID | None = None) -> str:
    """Map and save one release document atomically; returns the outcome."""
    mapped = map_release(doc, includes=asked_includes(doc))
    outcome, redirected = save_release_document(db, mapped, doc, run_id=run.id, requested=requested)
    run.counts.redirected += redirected
    run.counts.add(outcome)
    return outcome


def sync_release(db: Database, client: Client, mbid: uuid.UUID, run: Run) -> str:
    """Look one release up and store it; a 404 tombstones a known release."""
    try:
        resp = client.get_release(mbid)
    except NotFound:
        if tombstone(db, mbid, "404 on lookup"):
            run.counts.tombstoned += 1
        run.counts.missing.append(str(mbid))
        return "missing"
    doc = resp.data
    if not isinstance(doc, dict) or "id" not in doc:
        raise MappingError(f"ws/2 answered the lookup of {mbid} with something that is not a release")
    final = id_from_url(resp.final_url) if resp.final_url else None
    if final is not None and final != mbid and doc.get("id") == str(mbid):
        doc = dict(doc, id=str(final))  # redirected but the body kept the old id
    return store_release_doc(db, doc, run, requested=mbid)


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
    run.finish(status, requests=client.stats.requests, error=error)
    return SyncResult(run.id, status, run.counts, client.stats.requests, error)


def sync_releases(db: Database, client: Client, mbids: list[uuid.UUID]) -> SyncResult:
    """`mbindex sync release MBID...`: each release looked up and stored."""
    run = Run(db, "sync", "release", " ".join(map(str, mbids)))

    def work():
        for mbid in mbids:
            sync_release(db, client, mbid, run)
            run.save(requests=client.stats.requests)

    status, error = guarded(run, client, work)
    if status == OK and run.counts.missing:
        status = PARTIAL
        error = "not found upstream: " + ", ".join(run.counts.missing)
    return finish(run, client, status, error)
