"""`mbindex update`: the scheduled job, from the watchlist to scores (see docs/scheduling.md).

Exit contract (README, docs/scheduling.md): 0 all done; 3 budget used up or
a facts source did not answer, the next run continues (everything stored is
scored); 5 items quarantined (the data is kept; `mbindex runs` names the
runs); 1 error (a walk failed; what was stored is scored); 2 bad input (an
empty watchlist too).  Where 3 and 5 both apply, 5 wins: a quarantined
document wants a person, a used-up budget continues by itself.
"""

from __future__ import annotations

import datetime as dt
import sys

import click

from ... import runs
from ...analysis.risk import load_policy
from ...sources.ws2 import Client
from ...sync.enrich import listenbrainz_for
from ...sync.update import UpdateResult, update
from ..app import EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, EXIT_QUARANTINED, App, pass_app
from ..options import budget_options, ws_options
from ..progress import page_logger


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


@click.command("update")
@click.option("--no-enrich", is_flag=True, help="Do not fetch upstream facts (editions, catalogues, listens).")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), help="Scoring policy (TOML).")
@budget_options
@ws_options
@pass_app
def update_cmd(app: App, no_enrich, policy_file, budget):
    """Walk every watched scope (resuming cut walks), fetch the due facts, and score
    every release whose score may have changed.  For cron and systemd timers.

    Exit 0 all done, 3 budget used up (the next run continues), 5 items
    quarantined (wins over 3), 1 error, 2 bad input or an empty watchlist.
    """
    policy = load_policy(policy_file)
    settings = app.settings()
    ws = Client(settings, **budget)
    database = app.db()
    with runs.writer(database, "update"):
        result = update(database, ws, listenbrainz_for(ws), policy, with_enrich=not no_enrich,
                        facts_max_age=dt.timedelta(days=settings.facts_max_age_days),
                        on_page=page_logger(app), log=app.note)
    click.echo(summary(result))
    for line in problems(result):
        click.echo(line, err=True)
    code = exit_code(result)
    if code != EXIT_OK:
        sys.exit(code)
