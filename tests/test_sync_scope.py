"""Scope sync (whole browse pages, a lookup only where an item lacks an
include) against an in-process fake ws/2."""

from __future__ import annotations

import ast
import copy
import uuid
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import func, select

import indexer.sync.pipeline as sync_pipeline
import indexer.sync.query as query_mod
from helpers import FULL, full_doc
from indexer.db import models as m
from indexer.sources.ws2 import NotFound, RequestBudgetExhausted, Response, Stats
from indexer.sync.query import sync_query
from indexer.sync.scope import sync_scope

ARTIST = uuid.UUID("5b11f4ce-a62d-471e-81fc-a69a8278c7da")


def _docs(n: int) -> list[dict]:
    base = [full_doc(mbid) for mbid in FULL]
    out = []
    for i in range(n):
        d = copy.deepcopy(base[i % len(base)])
        d["id"] = str(uuid.UUID(int=i + 1))
        out.append(d)
    return out


class FakeWS:
    """Browse pages hold at most `page_cap` items (like the 500-track cut)."""

    def __init__(self, docs, page_cap=100):
        self.docs = {d["id"]: d for d in docs}
        self.order = [d["id"] for d in docs]
        self.page_cap = page_cap
        self.stats = Stats()
        self.calls: list[tuple] = []
        self.max_requests = None
        self.settings = SimpleNamespace(query_max_age_days=7.0)

    def _count(self):
        if self.max_requests is not None and self.stats.requests >= self.max_requests:
            raise RequestBudgetExhausted("budget")
        self.stats.requests += 1

    def browse_releases(self, scope, target, offset, limit=100):
        self._count()
        self.calls.append(("browse", offset))
        ids = self.order[offset : offset + min(limit, self.page_cap)]
        return Response({"release-count": len(self.order), "release-offset": offset,
                         "releases": [copy.deepcopy(self.docs[i]) for i in ids]}, "")

    def get_release(self, mbid):
        mbid = str(mbid)
        self._count()
        self.calls.append(("lookup", mbid))
        if mbid not in self.docs:
            raise NotFound(mbid)
        return Response(self.docs[mbid], "")


def _count(db, model, *where):
    with db.session() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_multipage_walk_pages_by_items_returned(db):
    ws = FakeWS(_docs(250), page_cap=70)  # short pages: must not skip items
    res = sync_scope(db, ws, "artist", ARTIST)
    assert res.status == "ok"
    assert _count(db, m.Release) == 250
    browses = [c[1] for c in ws.calls if c[0] == "browse"]
    assert browses == [0, 70, 140, 210]
    assert _count(db, m.ScopeMember) == 250


def test_second_night_no_lookups_no_fake_revisions(db):
    ws = FakeWS(_docs(120))
    sync_scope(db, ws, "artist", ARTIST)
    revs = _count(db, m.DocumentRevision, m.DocumentRevision.entity_type == "release")
    ws.calls.clear()
    res = sync_scope(db, ws, "artist", ARTIST)
    assert [c[0] for c in ws.calls] == ["browse", "browse"]
    assert res.counts.unchanged == 120 and res.counts.updated == 0
    assert _count(db, m.DocumentRevision, m.DocumentRevision.entity_type == "release") == revs
    # one release changes upstream: stored from its page (no lookup), one new revision
    changed = ws.order[5]
    ws.docs[changed]["title"] = "Changed title"
    ws.calls.clear()
    res = sync_scope(db, ws, "artist", ARTIST)
    assert [c[0] for c in ws.calls] == ["browse", "browse"]
    assert res.counts.updated == 1
    assert _count(db, m.DocumentRevision, m.DocumentRevision.entity_type == "release") == revs + 1


def test_vanished_release_confirmed_then_tombstoned(db):
    ws = FakeWS(_docs(30))
    sync_scope(db, ws, "label", ARTIST)
    gone = ws.order.pop(3)
    del ws.docs[gone]
    res = sync_scope(db, ws, "label", ARTIST)
    assert ("lookup", gone) in ws.calls
    assert res.counts.tombstoned == 1
    assert _count(db, m.Release) == 30  # kept, not deleted
    assert _count(db, m.Release, m.Release.deleted_at.is_not(None)) == 1


def test_budget_stops_and_next_run_resumes(db):
    ws = FakeWS(_docs(250))
    ws.max_requests = 2  # two pages of three
    res = sync_scope(db, ws, "artist", ARTIST)
    assert res.status == "partial"
    assert _count(db, m.Release) == 200
    ws.max_requests = None
    ws.calls.clear()
    res = sync_scope(db, ws, "artist", ARTIST)
    assert res.status == "ok"
    assert ws.calls == [("browse", 200)]  # resumed at the checkpoint
    assert _count(db, m.Release) == 250


class FakeSearch(FakeWS):
    def __init__(self, docs, count):
        super().__init__(docs)
        self.count = count

    def search_releases(self, query, offset, limit=100):
        self._count()
        self.calls.append(("search", offset))
        ids = self.order[offset : offset + limit]
        return Response({"count": self.count, "offset": offset, "releases": [{"id": i} for i in ids]}, "")


def test_query_stops_at_search_cap_and_says_so(db, monkeypatch):
    monkeypatch.setattr(query_mod, "SEARCH_CAP", 200)
    ws = FakeSearch(_docs(260), count=900)
    res = sync_query(db, ws, "format:Cassette")
    assert [c[1] for c in ws.calls if c[0] == "search"] == [0, 100]
    assert res.status == "partial" and "stops at 200" in res.error and "900" in res.error
    assert _count(db, m.Release) == 200


def test_query_all_hits_looked_up(db):
    ws = FakeSearch(_docs(130), count=130)
    res = sync_query(db, ws, "x")
    assert res.status == "ok" and res.counts.inserted == 130
    assert len([c for c in ws.calls if c[0] == "lookup"]) == 130


def test_each_sync_pipeline_imports_only_the_shared_pipeline_module():
    """releases, scope, query and enrich each hold one pipeline: among the
    sync modules they import `sync.pipeline` alone, never each other."""
    here = Path(sync_pipeline.__file__).parent
    for name in ("releases", "scope", "query", "enrich"):
        tree = ast.parse((here / f"{name}.py").read_text(encoding="utf-8"))
        siblings = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 1}
        assert siblings <= {"pipeline"}, f"sync/{name}.py imports {siblings}"
