"""Running `update` from the CLI and reporting it: shared by `mbindex update` and `mbindex demo`.

Exit contract (README, docs/scheduling.md): 0 all done (a dump already
imported is skipped: still 0); 3 budget used up or a facts source did not
answer, the next run continues (everything stored is scored); 5 items
quarantined, ws/2 documents or dump lines (the data is kept; `mbindex runs`
names the runs); 1 error: a walk failed, or with --dump the dump could not
be fetched or verified (nothing of it imported), its import failed, or it
refused to tombstone (what was stored is scored all the same: the dump step
never stops the walks and the scoring, see `sync.update`); 2 bad input (an
empty watchlist without --dump too).  Where 3 and 5 both apply, 5 wins: a
quarantined document wants a person, a used-up budget continues by itself.
"""

from __future__ import annotations

import datetime as dt

import click

from .. import runs
from ..analysis.risk import Policy
from ..sources.ws2 import Client
from ..sync.dump_latest import DumpRefresh, LatestResult
from ..sync.enrich import listenbrainz_for
from ..sync.update import UpdateResult, dump_problems, update
from .app import EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, EXIT_QUARANTINED, App
from .progress import DumpProgress, page_logger


def run_update(app: App, policy: Policy, budget: dict, *, with_enrich: bool = True,
               dump: bool = False) -> UpdateResult:
    """One update under the writer lock with this invocation's settings and
    budget; `dump`: refresh from the newest JSON dump first (`dump_url`)."""
    settings = app.settings()
    ws = Client(settings, **budget)
    database = app.db()
    refresh = DumpRefresh(settings, DumpProgress(app)) if dump else None
    with runs.writer(database, "update"):
        return update(database, ws, listenbrainz_for(ws), policy, with_enrich=with_enrich,
                      facts_max_age=dt.timedelta(days=settings.facts_max_age_days), dump=refresh,
                      on_page=page_logger(app), log=app.note)


def report_update(result: UpdateResult) -> int:
    """The summary line on stdout, the problems on stderr; returns the exit code."""
    click.echo(summary(result))
    for line in problems(result):
        click.echo(line, err=True)
    return exit_code(result)


def exit_code(result: UpdateResult) -> int:
    """The exit contract above: failed 1, quarantined 5, partial 3, else 0."""
    if result.status == runs.FAILED:
        return EXIT_FAILURE
    if result.quarantined:
        return EXIT_QUARANTINED
    if result.status == runs.PARTIAL:
        return EXIT_PARTIAL
    return EXIT_OK


def summary(result: UpdateResult) -> str:
    """The one summary line on stdout."""
    counts = {k: sum(getattr(w.counts, k) for w in result.walks)
              for k in ("inserted", "updated", "unchanged", "tombstoned", "quarantined")}
    complete = sum(1 for w in result.walks if w.status == runs.OK)
    facts = (sum(result.enriched.facts.values()) if result.enriched is not None else "skipped")
    scored = result.scored
    return (f"update run {result.run_id}: {result.status}; {result.requests} request(s); "
            + _dump_summary(result.dumped)
            + f"scopes walked {len(result.walks)} ({complete} complete); "
            + ", ".join(f"{k} {v}" for k, v in counts.items())
            + f"; facts stored {facts}; scored {scored.scored} release(s) with policy {scored.policy_version}"
            + (" (all: another policy's scores existed)" if result.rescored_all else ""))


def _dump_summary(dumped: LatestResult | None) -> str:
    """The dump step's part of the summary line ("" without --dump)."""
    if dumped is None:
        return ""
    if dumped.error is not None:
        return "dump not imported (see below); "
    if not dumped.imports:
        return f"dump {dumped.dated} already imported; "
    said = []
    for _archive, r in dumped.imports:
        c = r.counts
        said.append(f"import run {r.run_id} {r.status} (" + (
            "already imported" if r.skipped and not r.lines else
            f"inserted {c.inserted}, updated {c.updated}, unchanged {c.unchanged}, tombstoned {c.tombstoned}, "
            f"quarantined {c.quarantined}") + ")")
    return f"dump {dumped.dated}: {', '.join(said)}; "


def problems(result: UpdateResult) -> list[str]:
    """Lines for stderr: what did not finish, what was quarantined or not found."""
    out = [f"{line}; the rest of the update ran" for line in dump_problems(result.dumped)]
    for _archive, r in result.dumped.imports if result.dumped else ():
        if r.counts.quarantined:
            out.append(f"import run {r.run_id}: {r.counts.quarantined} line(s) quarantined (kept in the quarantine "
                       f"table, sync_run_id {r.run_id}; see `mbindex runs`)")
    for w in result.walks:
        if w.status != runs.OK or w.counts.missing:
            out.append(f"sync run {w.run_id}: {w.status}: {w.error}")
        if w.counts.quarantined:
            out.append(f"sync run {w.run_id}: {w.counts.quarantined} document(s) quarantined (kept in the "
                       f"quarantine table, sync_run_id {w.run_id}; see `mbindex runs`)")
    if result.enriched is not None:
        out += [f"enrich run {result.enriched.run_id}: {p} (those facts stay unknown until the next update)"
                for p in result.enriched.problems]
    elif result.status == runs.PARTIAL:
        out.append("enrich skipped: the budget (requests or time) was used up by the walk; "
                   "the next update continues")
    return out
