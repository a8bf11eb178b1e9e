"""`mbindex sync release MBID...`: each release looked up on ws/2 and stored
in its own transaction.

A pipeline as `sync.pipeline` states it: `pipeline.sync_release` per MBID
(source → mapping → store), the run saved after each, `guarded` and
`finish` around the whole.  A release ws/2 no longer has (404) makes the run
partial, with the MBIDs in its error.
"""

from __future__ import annotations

import uuid

from ..db import Database
from ..runs import OK, PARTIAL, Run
from ..sources.ws2 import Client
from .pipeline import SyncResult, finish, guarded, sync_release


def sync_releases(db: Database, client: Client, mbids: list[uuid.UUID]) -> SyncResult:
    """`mbindex sync release MBID...`: each release looked up and stored."""
    run = Run(db, "sync", "release", " ".join(map(str, mbids)), requests_before=client.stats.requests)

    def work():
        for mbid in mbids:
            sync_release(db, client, mbid, run)
            run.save(requests=client.stats.requests)

    status, error = guarded(run, client, work)
    if status == OK and run.counts.missing:
        status = PARTIAL
        error = "not found upstream: " + ", ".join(run.counts.missing)
    return finish(run, client, status, error)
