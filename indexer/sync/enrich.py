"""`enrich`: fetch the upstream facts the risk score needs, for stored releases.

Three phases, each only for facts that are missing or older than the max age
(so a run cut short resumes where it stopped: what it stored is not asked
again):

1. editions of each release group (MusicBrainz): one release-group search
   `rgid:(a OR b ...)` answers up to 100 groups with each hit's `count`; a
   single group, or one the search index did not return, costs a release
   browse with `limit=1` (`release-count`).
2. the size of each credited artist's catalogue (MusicBrainz):
   `release-group?artist=MBID&limit=1` answers `release-group-count`;
   special-purpose artists (Various Artists, [unknown], ...) are skipped.
3. listens and listeners of each release group (ListenBrainz), 1,000 a request.

After a full dump import (a `dump_import` row `done` for release, or for
release-group for phase 2) phases 1 and 2 count the mirror itself, with no
request, and record the dump as the source.

Facts are written in batches, each in one transaction.  A source that is
unreachable or answers nonsense ends its phase and the run `partial` (the
other phases still run); a used-up budget ends the run `partial`.

A pipeline of facts, not of release documents, so it has its own result
(`EnrichResult`) and nothing of `sync.pipeline`: sources (ws/2,
ListenBrainz) → `store.facts` → one `runs.Run`, in that direction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Callable

from ..db import Database
from ..runs import INTERRUPTED, OK, PARTIAL, Run
from ..sources.listenbrainz import MAX_IDS, LBError, ListenBrainz
from ..sources.ws2 import SEARCH_GROUPS, Client, RequestBudgetExhausted, WSError
from ..store.facts import (
    EDITIONS,
    LISTENS,
    RELEASE_GROUPS,
    Fact,
    due_artists,
    due_groups,
    dump_source,
    mirror_editions,
    mirror_release_groups,
    save_facts,
)

#: facts fetched one request each are saved every this many requests
SAVE_EVERY = 25


@dataclass
class EnrichResult:
    run_id: int
    status: str
    requests: int
    facts: dict[str, int] = field(default_factory=dict)  # fact -> how many stored
    problems: list[str] = field(default_factory=list)  # one line per phase that could not finish


class _Enrich:
    """One enrich run: the phases share the run, the budget and the counts."""

    def __init__(self, db: Database, ws: Client, lb: ListenBrainz, run: Run, releases, max_age, log):
        self.db, self.ws, self.lb, self.run = db, ws, lb, run
        self.releases, self.max_age, self.log = releases, max_age, log or (lambda _msg: None)
        self.stored: dict[str, int] = {}

    @property
    def requests(self) -> int:
        return self.ws.stats.requests + self.lb.stats.requests

    def save(self, facts: list[Fact]) -> None:
        save_facts(self.db, facts, self.run.id)
        for f in facts:
            self.stored[f.fact] = self.stored.get(f.fact, 0) + 1
        self.run.counts.updated += len(facts)
        self.run.save(requests=self.requests)

    def editions(self) -> None:
        groups = due_groups(self.db, EDITIONS, self.max_age, self.releases)
        self.log(f"editions: {len(groups)} release group(s) due")
        source = dump_source(self.db, "release")
        if source:
            self.save(mirror_editions(self.db, groups, source))
            return
        if len(groups) == 1:
            self.one_by_one(groups, lambda g: Fact("release-group", g, EDITIONS, self.ws.release_count(g), "ws/2 browse"))
            return
        for start in range(0, len(groups), SEARCH_GROUPS):
            chunk = groups[start:start + SEARCH_GROUPS]
            counts = self.ws.release_group_counts(chunk)
            self.save([Fact("release-group", g, EDITIONS, n, "ws/2 search") for g, n in counts.items()])
            missing = [g for g in chunk if g not in counts]  # the search index may lag behind
            self.one_by_one(missing, lambda g: Fact("release-group", g, EDITIONS, self.ws.release_count(g),
                                                    "ws/2 browse"))

    def artists(self) -> None:
        artists = due_artists(self.db, self.max_age, self.releases)
        self.log(f"artist catalogues: {len(artists)} artist(s) due")
        source = dump_source(self.db, "release-group")
        if source:
            self.save(mirror_release_groups(self.db, artists, source))
            return
        self.one_by_one(artists, lambda a: Fact("artist", a, RELEASE_GROUPS,
                                                self.ws.artist_release_group_count(a), "ws/2 browse"))

    def popularity(self) -> None:
        groups = due_groups(self.db, LISTENS, self.max_age, self.releases)
        self.log(f"popularity: {len(groups)} release group(s) due")
        refused: list[str] = []
        for start in range(0, len(groups), MAX_IDS):
            answers = self.lb.popularity(groups[start:start + MAX_IDS])
            self.save([Fact("release-group", p.release_group, fact, value, "listenbrainz")
                       for p in answers for fact, value in p.facts().items()])
            refused += [r for p in answers for r in p.refused]
        if refused:  # the others are stored; these stay unknown
            raise LBError(f"{len(refused)} count(s) beyond 2^63-1 not stored, e.g. {refused[0]}")

    def one_by_one(self, subjects: list[uuid.UUID], fetch: Callable[[uuid.UUID], Fact]) -> None:
        """One request per subject; what was fetched is saved even when a later request fails."""
        batch: list[Fact] = []
        try:
            for subject in subjects:
                batch.append(fetch(subject))
                if len(batch) >= SAVE_EVERY:
                    self.save(batch)
                    batch = []
        finally:
            self.save(batch)


def enrich(db: Database, ws: Client, lb: ListenBrainz, *, releases: list[uuid.UUID] | None = None,
           max_age: dt.timedelta = dt.timedelta(days=30), log=None) -> EnrichResult:
    """Fetch the due facts of stored releases (all, or `releases`) as a `sync_run` of kind "enrich"."""
    target = " ".join(map(str, releases)) if releases else None
    run = Run(db, "enrich", "release" if releases else "all", target,
              options={"max_age_days": max_age.total_seconds() / 86400},
              requests_before=ws.stats.requests + lb.stats.requests)
    job = _Enrich(db, ws, lb, run, releases, max_age, log)
    problems: list[str] = []
    for name, phase in (("editions", job.editions), ("artist catalogues", job.artists),
                        ("popularity", job.popularity)):
        try:
            phase()
        except RequestBudgetExhausted as exc:
            problems.append(f"{name}: {exc}; the next run resumes")
            break
        except WSError as exc:  # ws/2 or ListenBrainz unreachable or answering nonsense
            problems.append(f"{name}: {exc}")
        except BaseException as exc:
            run.finish(INTERRUPTED, requests=job.requests, error=f"{type(exc).__name__}: {exc}")
            raise
    status = PARTIAL if problems else OK
    run.finish(status, requests=job.requests, error="; ".join(problems) or None)
    return EnrichResult(run.id, status, run.own(job.requests), job.stored, problems)


def listenbrainz_for(ws: Client) -> ListenBrainz:
    """A ListenBrainz client sharing the ws/2 client's settings, User-Agent and
    budget (--max-requests counts the requests of both)."""
    return ListenBrainz(ws.settings, ws.user_agent, max_requests=ws.max_requests, deadline=ws.deadline,
                        sleep=ws.sleep, spent_elsewhere=lambda: ws.stats.requests)
