"""`mbindex enrich [MBID...]`: fetch the upstream facts the risk score needs."""

from __future__ import annotations

import datetime as dt
import sys

import click

from ... import runs
from ...sources.ws2 import Client
from ...sync.enrich import EnrichResult, enrich, listenbrainz_for
from ..app import EXIT_PARTIAL, App, pass_app
from ..options import MBID, budget_options, ws_options


def run_enrich(app: App, ws, database, releases=None) -> EnrichResult:
    """One enrich run with this invocation's settings (the caller holds the writer lock)."""
    settings = app.settings()
    return enrich(database, ws, listenbrainz_for(ws), releases=releases,
                  max_age=dt.timedelta(days=settings.facts_max_age_days), log=app.note)


def report_enrich(result: EnrichResult, exit_on_problem: bool = True) -> None:
    """One summary line, one line per phase that could not finish; partial exits 3."""
    stored = ", ".join(f"{k} {v}" for k, v in sorted(result.facts.items())) or "nothing new"
    click.echo(f"run {result.run_id}: {result.status}; {result.requests} request(s); facts stored: {stored}")
    for problem in result.problems:
        click.echo(f"enrich: {problem} (those facts stay unknown: their signals do not fire)", err=True)
    if exit_on_problem and result.status != runs.OK:
        sys.exit(EXIT_PARTIAL)


@click.command("enrich")
@click.argument("mbids", nargs=-1, type=MBID)
@click.option("--lb-url", help="ListenBrainz API [env MBINDEX_LB_URL, default https://api.listenbrainz.org].")
@budget_options
@ws_options
@pass_app
def enrich_cmd(app: App, mbids, lb_url, budget):
    """Fetch upstream facts (editions, artist catalogue, ListenBrainz listens) for stored releases.

    Without MBIDs: every stored release whose facts are missing or older than
    facts_max_age_days.  Then `mbindex score --changed` rescores what changed.
    """
    app.settings(lb_url=lb_url)
    ws = Client(app.settings(), **budget)
    database = app.db()
    with runs.writer(database, "enrich"):
        result = run_enrich(app, ws, database, list(mbids) or None)
    report_enrich(result)
