"""`mbindex sync ...`: pull releases from ws/2 (one release, a scope, a search, the watchlist)."""

from __future__ import annotations

import sys
from typing import Callable

import click

from ... import runs
from ...db import Database
from ...sources.ws2 import Client
from ...store.watchlist import SCOPES
from ...sync.query import sync_query
from ...sync.releases import SyncResult, sync_releases
from ...sync.scope import sync_scope
from ...sync.watch import sync_watched
from ..app import EXIT_FAILURE, EXIT_PARTIAL, EXIT_QUARANTINED, EXIT_USAGE, App, UserError, pass_app
from ..options import MBID, TEXT, budget_options, ws_options
from ..progress import page_logger
from .enrich import report_enrich, run_enrich


def client(app: App) -> Client:
    return Client(app.settings(), **app.sync_budget)


def run_sync(app: App, work: Callable[[Database, Client], SyncResult]) -> SyncResult:
    """One sync under the writer lock, with this invocation's client and database."""
    ws = client(app)
    database = app.db()
    with runs.writer(database, "sync"):
        return work(database, ws)


def report_sync(app: App, result: SyncResult, exit_on_problem: bool = True) -> None:
    """One summary line; a failed run exits 1, a partial one 3, one that
    finished but quarantined documents 5."""
    c = result.counts
    click.echo(
        f"run {result.run_id}: {result.status}; {result.requests} request(s); "
        f"inserted {c.inserted}, updated {c.updated}, unchanged {c.unchanged}, "
        f"tombstoned {c.tombstoned}, redirected {c.redirected}, quarantined {c.quarantined}, "
        f"fallback lookups {c.fallback_lookups}"
        + (f", skipped {c.skipped} (fetched within query_max_age_days)" if c.skipped else "")
    )
    for mbid in c.missing:
        click.echo(f"not found on MusicBrainz (404): {mbid}", err=True)
    if c.quarantined:
        click.echo(f"{c.quarantined} document(s) quarantined: see the quarantine table (sync_run_id "
                   f"{result.run_id})", err=True)
    if not exit_on_problem:
        return
    if result.status == runs.FAILED:
        raise UserError(f"sync failed: {result.error}", EXIT_FAILURE)
    if result.status == runs.PARTIAL:
        sys.exit(EXIT_PARTIAL)
    if c.quarantined:
        sys.exit(EXIT_QUARANTINED)


@click.group(invoke_without_command=True)
@click.option("--watched", is_flag=True, help="Sync every scope on the watchlist (for cron).")
@click.option("--enrich", "with_enrich", is_flag=True,
              help="With --watched: then fetch the due upstream facts (`mbindex enrich`) in the same budget.")
@budget_options
@ws_options
@click.pass_context
def sync(ctx, watched, with_enrich, budget):
    """Pull data from the MusicBrainz web service (ws/2)."""
    app: App = ctx.obj
    app.sync_budget = budget
    if ctx.invoked_subcommand is not None:
        return
    if not watched:
        raise UserError("give a scope (e.g. `mbindex sync artist MBID`) or --watched", EXIT_USAGE)
    ws = client(app)
    database = app.db()
    with runs.writer(database, "sync"):
        results = sync_watched(database, ws, on_page=page_logger(app), log=app.note)
        enriched = run_enrich(app, ws, database) if with_enrich and all(r.status == runs.OK for r in results) else None
    if not results:
        app.note("the watchlist is empty: add scopes with `mbindex watch add SCOPE MBID`")
    for result in results:
        report_sync(app, result, exit_on_problem=False)
    # the first problem decides the exit code: failed or partial before quarantined
    if enriched is not None:
        report_enrich(enriched, exit_on_problem=False)
    for result in [r for r in results if r.status != runs.OK] + [r for r in results if r.counts.quarantined]:
        report_sync(app, result)
    if enriched is not None:
        report_enrich(enriched)


@sync.command("release")
@click.argument("mbids", nargs=-1, required=True, type=MBID)
@ws_options
@pass_app
def sync_release_cmd(app: App, mbids):
    """Fetch releases by MBID with everything the risk score needs."""
    report_sync(app, run_sync(app, lambda database, ws: sync_releases(database, ws, list(mbids))))


def _scope_command(scope: str):
    @sync.command(scope, help=f"Fetch every release of a {scope} (whole browse pages; a lookup only for "
                              "an item that lacks an include).")
    @click.argument("mbid", type=MBID)
    @ws_options
    @pass_app
    def cmd(app: App, mbid):
        report_sync(app, run_sync(app, lambda database, ws: sync_scope(database, ws, scope, mbid,
                                                                       on_page=page_logger(app))))

    cmd.__name__ = f"sync_{scope.replace('-', '_')}_cmd"
    return cmd


for _scope in SCOPES:
    _scope_command(_scope)


@sync.command("query")
@click.argument("query", type=TEXT)
@ws_options
@pass_app
def sync_query_cmd(app: App, query):
    """Search releases (Lucene syntax) and look up every hit not fetched within query_max_age_days
    (public search stops at 500)."""
    if not query.strip():
        raise UserError("give a search query, e.g. mbindex sync query 'format:Cassette AND country:GB'", EXIT_USAGE)
    result = run_sync(app, lambda database, ws: sync_query(database, ws, query, on_page=page_logger(app)))
    if result.error and result.status == runs.PARTIAL:
        click.echo(result.error, err=True)
    report_sync(app, result)
