"""`mbindex update`: the scheduled job, from the watchlist to scores.

Three steps (four with the dump), one `sync_run` of kind `update` naming
its child runs in `options.children` (each `{"kind", "run"}`), saved as
each step ends:

0. with `dump` (`update --dump`, setting `update_dump`): refresh from the
   newest JSON dump first, as `import-dump --latest` does for `release`
   (`sync.dump_latest.DumpRefresh`): skipped without a download when that
   dump was imported before, else fetched, verified against its published
   checksum, then imported (a child run of kind `import`; what LATEST named
   is kept in `options.dump`).  It comes first so that the facts and the
   scoring of the same night see what it stored;
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
`--time-budget`).  The dump's requests are not ws/2 requests and are not
counted, but `--time-budget` is time since the command started: a long
import leaves the walks less of it (none at all: they are cut, exit 3, and
resume the next night; the dump refreshed every release anyway).

A dump that cannot be fetched or verified, or whose import fails or refuses
to tombstone (more than `max_tombstone_percent`, a future date), does not
stop the night: the walks, the facts and the scoring still run, and the run
ends `failed` (exit 1) with the dump's one-line reason.  For a timer that is
what a librarian wants: a dump server that is down or a corrupted download
says nothing about the watched scopes, and stopping would leave them stale
and what is stored unscored on top of the dump problem; but the night must
not look fine either (the unit fails, `status --check` says so), since a
refused tombstoning waits for a person (`mbindex import-dump --latest
--force` once the dump is checked) and a mismatch may mean a bad mirror.
The next `update --dump` tries again (an import cut short continues at its
checkpoint).  With `dump`, an empty watchlist is no error: the dump is the
scope (a mirror fed by the dumps alone).

A kill at any point loses nothing: each page, each batch of dump lines and
each batch of facts is committed with its checkpoint, the scoring is one
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
from .dump_latest import DumpRefresh, LatestResult
from .enrich import EnrichResult, enrich
from .pipeline import SyncResult
from .watch import sync_watched

EMPTY_WATCHLIST = ("the watchlist is empty: add a scope with `mbindex watch add SCOPE MBID`, or refresh from the "
                   "JSON dumps alone with `mbindex update --dump` (see docs/scheduling.md)")


@dataclass
class UpdateResult:
    run_id: int
    status: str  # ok | partial (budget used up, or a facts source did not answer) | failed (a walk or the dump)
    requests: int
    walks: list[SyncResult] = field(default_factory=list)
    dumped: LatestResult | None = None  # the dump step (None without `dump`)
    enriched: EnrichResult | None = None
    scored: ScoreResult | None = None
    rescored_all: bool = False  # scores of another policy version existed: everything was rescored
    error: str | None = None

    @property
    def quarantined(self) -> int:
        return sum(w.counts.quarantined for w in self.walks) + (self.dumped.quarantined if self.dumped else 0)


class _Update:
    """One update run: its steps share the run, the clients and the list of child runs."""

    def __init__(self, db: Database, ws: Client, lb: ListenBrainz, policy: Policy, log: Callable[[str], None]):
        self.db, self.ws, self.lb, self.policy, self.log = db, ws, lb, policy, log
        self.dumped: dict | None = None
        self.run = Run(db, "update", "watched", None, options=self._options([]))
        self.children: list[dict] = []

    def _options(self, children: list[dict]) -> dict:
        options = {"policy_version": self.policy.version, "children": children}
        return options if self.dumped is None else dict(options, dump=self.dumped)

    @property
    def requests(self) -> int:
        return self.ws.stats.requests + self.lb.stats.requests

    def child(self, kind: str, run_id: int | None) -> None:
        if run_id is not None:
            self.children.append({"kind": kind, "run": run_id})
            self.run.save(requests=self.requests, options=self._options(self.children))

    def dump(self, refresh: DumpRefresh) -> LatestResult:
        """Step 0: its imports are child runs, their counts the update's too."""
        result = refresh.run(self.db)
        self.dumped = {"dated": result.dated, "skipped": [a.name for a in result.skipped], "error": result.error}
        for _archive, imported in result.imports:
            self.run.counts.merge(imported.counts.as_dict())
            self.child("import", imported.run_id)
        self.run.save(requests=self.requests, options=self._options(self.children))
        return result

    def walk(self, on_page) -> list[SyncResult]:
        """Every watched scope; each walk is the update's child (and its counts the update's) as soon as
        it ends, so an update killed in a later walk still names the walks it finished."""
        def walked(w: SyncResult) -> None:
            self.run.counts.merge(w.counts.as_dict())
            self.child("sync", w.run_id)

        return sync_watched(self.db, self.ws, on_page=on_page, log=self.log, on_result=walked)

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
           facts_max_age: dt.timedelta = dt.timedelta(days=30), dump: DumpRefresh | None = None, on_page=None,
           log: Callable[[str], None] | None = None) -> UpdateResult:
    """Refresh from the newest dump (with `dump`), walk the watchlist, fetch
    the due facts, score what may have changed (see the module doc); the
    caller holds the writer lock.  Raises WatchError when the watchlist is
    empty and there is no `dump` (nothing is done)."""
    if dump is None and not due_watches(db):
        raise WatchError(EMPTY_WATCHLIST)
    job = _Update(db, ws, lb, policy, log or (lambda _msg: None))
    try:
        dumped = job.dump(dump) if dump is not None else None
        walks = job.walk(on_page)
        cut = any(w.status == PARTIAL for w in walks)
        enriched = job.facts(facts_max_age) if with_enrich and not cut else None
        scored, everything = job.score()
    except BaseException as exc:  # a database error fails the run; Ctrl-C interrupts it
        job.run.finish(FAILED if isinstance(exc, Exception) else INTERRUPTED, requests=job.requests,
                       error=f"{type(exc).__name__}: {exc}")
        raise
    status, error = _outcome(walks, enriched, dumped)
    job.run.finish(status, requests=job.requests, error=error)
    return UpdateResult(job.run.id, status, job.requests, walks, dumped, enriched, scored, everything, error)


def _outcome(walks: list[SyncResult], enriched: EnrichResult | None,
             dumped: LatestResult | None = None) -> tuple[str, str | None]:
    """failed when the dump step or a walk failed; partial when a walk was
    cut (budget) or enrich could not finish; else ok (quarantined items are
    counted, not a status: the data is kept)."""
    failed = dump_problems(dumped) + [f"sync run {w.run_id}: {w.error}" for w in walks
                                      if w.status not in (OK, PARTIAL)]
    if failed:
        return FAILED, "; ".join(failed)
    cut = [w for w in walks if w.status == PARTIAL]
    if cut:
        return PARTIAL, "; ".join(f"sync run {w.run_id}: {w.error}" for w in cut) + "; the next update resumes"
    if enriched is not None and enriched.status != OK:
        return PARTIAL, f"enrich run {enriched.run_id}: " + "; ".join(enriched.problems)
    return OK, None


def dump_problems(dumped: LatestResult | None) -> list[str]:
    """Why the dump step failed, one line each (none when it imported the
    dump, found it imported before, or did not run)."""
    if dumped is None:
        return []
    if dumped.error is not None:
        return [f"dump: {dumped.error} (the next update --dump tries again)"]
    stopped = dumped.stopped
    if stopped is None:
        return []
    if stopped.status == PARTIAL:  # tombstones refused: the reason says what to run
        return [f"import run {stopped.run_id}: {stopped.error}"]
    return [f"import run {stopped.run_id}: {stopped.status}: {stopped.error} (the next update --dump continues it)"]
