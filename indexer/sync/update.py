"""`mbindex update`: the scheduled job, from the watchlist to scores.

Three steps, one `sync_run` of kind `update` naming its child runs in
`options.children` (each `{"kind", "run"}`), saved as each step ends:

1. walk every watched scope (`sync.watch.sync_watched`: least recently
   synced first, a cut walk resumes at its checkpoint);
2. fetch the upstream facts that are due (`sync.enrich.enrich`), unless the
   request budget ran out in step 1;
3. score, always (it is local and costs no request, so it runs after a
   budget cut or a failed walk too): every release whose score may have
   changed is marked `needs_score` by the store (new, changed, tombstoned,
   its facts changed, never scored, whichever command stored it), and
   `score --changed` rescores exactly those; when scores of another policy
   version exist (a new policy file, `--policy`), everything is rescored.

The requests of steps 1 and 2 share one budget (`--max-requests`,
`--time-budget`).  A kill at any point loses nothing: each page and each
batch of facts is committed with its checkpoint, the scoring is one
transaction, and a release stays `needs_score` until a scoring commits; the
next writer marks the killed runs `interrupted` (`runs.interrupt_abandoned_in`)
and the next update resumes the walk and scores what is still due.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

from ..analysis import risk
from ..analysis.risk import Policy, ScoreResult
from ..analysis.status import scored_with_other_policy
from ..db import Database
from ..runs import FAILED, INTERRUPTED, OK, PARTIAL, Run
from ..sources.listenbrainz import ListenBrainz
from ..sources.ws2 import Client
from ..store.watchlist import WatchError, due_watches
from .enrich import EnrichResult, enrich
from .pipeline import SyncResult
from .watch import sync_watched

EMPTY_WATCHLIST = "the watchlist is empty: add a scope with `mbindex watch add SCOPE MBID` (see docs/scheduling.md)"


@dataclass
class UpdateResult:
    run_id: int
    status: str  # ok | partial (budget used up, or a facts source did not answer) | failed (a walk failed)
    requests: int
    walks: list[SyncResult] = field(default_factory=list)
    enriched: EnrichResult | None = None
    scored: ScoreResult | None = None
    rescored_all: bool = False  # scores of another policy version existed: everything was rescored
    error: str | None = None

    @property
    def quarantined(self) -> int:
        return sum(w.counts.quarantined for w in self.walks)


class _Update:
    """One update run: its steps share the run, the clients and the list of child runs."""

    def __init__(self, db: Database, ws: Client, lb: ListenBrainz, policy: Policy, log: Callable[[str], None]):
        self.db, self.ws, self.lb, self.policy, self.log = db, ws, lb, policy, log
        self.run = Run(db, "update", "watched", None, options=self._options([]))
        self.children: list[dict] = []

    def _options(self, children: list[dict]) -> dict:
        return {"policy_version": self.policy.version, "children": children}

    @property
    def requests(self) -> int:
        return self.ws.stats.requests + self.lb.stats.requests

    def child(self, kind: str, run_id: int | None) -> None:
        if run_id is not None:
            self.children.append({"kind": kind, "run": run_id})
            self.run.save(requests=self.requests, options=self._options(self.children))

    def walk(self, on_page) -> list[SyncResult]:
        walks = sync_watched(self.db, self.ws, on_page=on_page, log=self.log)
        for w in walks:
            self.run.counts.merge(w.counts.as_dict())
            self.child("sync", w.run_id)
        return walks

    def facts(self, max_age: dt.timedelta) -> EnrichResult:
        result = enrich(self.db, self.ws, self.lb, max_age=max_age, log=self.log)
        self.child("enrich", result.run_id)
        return result

    def score(self) -> tuple[ScoreResult, bool]:
        everything = scored_with_other_policy(self.db, self.policy.version) > 0
        if everything:
            self.log(f"scores of another policy than {self.policy.version} exist: rescoring every release")
        result = risk.score(self.db, self.policy, changed_only=not everything)
        self.child("score", result.run_id)
        return result, everything


def update(db: Database, ws: Client, lb: ListenBrainz, policy: Policy, *, with_enrich: bool = True,
           facts_max_age: dt.timedelta = dt.timedelta(days=30), on_page=None,
           log: Callable[[str], None] | None = None) -> UpdateResult:
    """Walk the watchlist, fetch the due facts, score what may have changed
    (see the module doc); the caller holds the writer lock.  Raises
    WatchError when the watchlist is empty (nothing is done)."""
    if not due_watches(db):
        raise WatchError(EMPTY_WATCHLIST)
    job = _Update(db, ws, lb, policy, log or (lambda _msg: None))
    try:
        walks = job.walk(on_page)
        cut = any(w.status == PARTIAL for w in walks)
        enriched = job.facts(facts_max_age) if with_enrich and not cut else None
        scored, everything = job.score()
    except BaseException as exc:  # a database error fails the run; Ctrl-C interrupts it
        job.run.finish(FAILED if isinstance(exc, Exception) else INTERRUPTED, requests=job.requests,
                       error=f"{type(exc).__name__}: {exc}")
        raise
    status, error = _outcome(walks, enriched)
    job.run.finish(status, requests=job.requests, error=error)
    return UpdateResult(job.run.id, status, job.requests, walks, enriched, scored, everything, error)


def _outcome(walks: list[SyncResult], enriched: EnrichResult | None) -> tuple[str, str | None]:
    """failed when a walk failed; partial when a walk was cut (budget) or
    enrich could not finish; else ok (quarantined items are counted, not a
    status: the data is kept)."""
    failed = [w for w in walks if w.status not in (OK, PARTIAL)]
    if failed:
        return FAILED, "; ".join(f"sync run {w.run_id}: {w.error}" for w in failed)
    cut = [w for w in walks if w.status == PARTIAL]
    if cut:
        return PARTIAL, "; ".join(f"sync run {w.run_id}: {w.error}" for w in cut) + "; the next update resumes"
    if enriched is not None and enriched.status != OK:
        return PARTIAL, f"enrich run {enriched.run_id}: " + "; ".join(enriched.problems)
    return OK, None
