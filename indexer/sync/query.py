"""`mbindex sync query "LUCENE"`: every hit of a search, each looked up and stored.

A pipeline as `sync.pipeline` states it: search pages from ws/2 (the source)
give only ids; each hit not fetched lately goes through
`pipeline.sync_release` (mapping, store); the run is guarded and finished
there too.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

from ..clock import now
from ..db import Database
from ..mapping import parse_mbid
from ..runs import OK, PARTIAL, Run
from ..sources.ws2 import Client
from ..store.scope import fetched_since
from .pipeline import SyncResult, finish, guarded, quarantine, sync_release

PAGE = 100
SEARCH_CAP = 500  # the public search server answers no offset beyond this


def sync_query(db: Database, client: Client, query: str, *, on_page=None) -> SyncResult:
    """`mbindex sync query "LUCENE"`: search releases, then look each hit up.

    Search hits are only used for their ids (a search hit is a third shape,
    without tracks or links, and a search takes no `inc`): every hit is
    stored from its lookup, except hits stored and fetched within
    `settings.query_max_age_days`, which are skipped (`counts.skipped`).
    Public search stops at SEARCH_CAP results: the run's error field says so
    when the cap was hit.
    """
    run = Run(db, "sync", "query", query, requests_before=client.stats.requests)
    walked = {"capped": False, "total": 0}
    fresh_since = now() - dt.timedelta(days=client.settings.query_max_age_days)

    def work():
        offset = 0
        while True:
            data = client.search_releases(query, offset, PAGE).data or {}
            items = data.get("releases") or []
            total = walked["total"] = int(data.get("count", data.get("release-count", 0)) or 0)
            hits = _hit_mbids(db, run, query, items)
            fresh = fetched_since(db, hits, fresh_since)
            run.counts.skipped += len(fresh)
            for mbid in hits:
                if mbid not in fresh:
                    sync_release(db, client, mbid, run)
            offset += len(items)
            run.save(requests=client.stats.requests, checkpoint={"scope": "query", "offset": offset})
            if on_page:
                on_page(offset, min(total, SEARCH_CAP))
            if not items or offset >= total:
                return
            if offset >= SEARCH_CAP:
                walked["capped"] = True
                return

    status, error = guarded(run, client, work)
    if walked["capped"] and status == OK:
        status = PARTIAL
        error = (f"the search matched {walked['total']} releases but MusicBrainz search stops at {SEARCH_CAP}; "
                 "narrow the query (e.g. add date: or country:) to get the rest")
    return finish(run, client, status, error)


def _hit_mbids(db: Database, run: Run, query: str, items: list) -> list[uuid.UUID]:
    """The MBIDs of a search page; a hit without a valid id is quarantined
    (as ASCII JSON) instead of ending the run."""
    mbids = []
    for hit in items:
        try:
            mbids.append(parse_mbid(hit.get("id") if isinstance(hit, dict) else None))
        except ValueError as exc:
            raw = json.dumps(hit, ensure_ascii=True).encode("ascii")
            quarantine(db, run, f"ws/2 release search {query[:200]!r}", raw, f"search hit without a valid id: {exc}")
    return mbids
