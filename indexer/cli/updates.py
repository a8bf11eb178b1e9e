"""Running `update` from the CLI and reporting it: shared by `mbindex update` and `mbindex demo`.

Exit contract (README, docs/scheduling.md): 0 all done; 3 budget used up or
a facts source did not answer, the next run continues (everything stored is
scored); 5 items quarantined (the data is kept; `mbindex runs` names the
runs); 1 error (a walk failed; what was stored is scored); 2 bad input (an
empty watchlist too).  Where 3 and 5 both apply, 5 wins: a quarantined
document wants a person, a used-up budget continues by itself.
"""

from __future__ import annotations

import datetime as dt

import click

from .. import runs
from ..analysis.risk import Policy
from ..sources.ws2 import Client
from ..sync.enrich import listenbrainz_for
from ..sync.update import UpdateResult, update
from .app import EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, EXIT_QUARANTINED, App
from .progress import page_logger


def run_update(app: App, policy: Policy, budget: dict, *, with_enrich: bool = True) -> UpdateResult:
    """One update under the writer lock with this invocation's settings and budget."""
    settings = app.settings()
    ws = Client(settings, **budget)
    database = app.db()
    with runs.writer(database, "update"):
        return update(database, ws, listenbrainz_for(ws), policy, with_enrich=with_enrich,
                      facts_max_age=dt.timedelta(days=settings.facts_max_age_days),
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
            f"scopes walked {len(result.walks)} ({complete} complete); "
            + ", ".join(f"{k} {v}" for k, v in counts.items())
            + f"; facts stored {facts}; scored {scored.scored} release(s) with policy {scored.policy_version}"
            + (" (all: another policy's scores existed)" if result.rescored_all else ""))


def problems(result: UpdateResult) -> list[str]:
    """Lines for stderr: what did not finish, what was quarantined or not found."""
    out = []
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
        out.append("enrich skipped: the request budget was used up by the walk; the next update continues")
    return out
