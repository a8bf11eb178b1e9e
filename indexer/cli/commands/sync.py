"""`mbindex sync ...`: pull releases from ws/2 (one release, a scope, a search, the watchlist)."""

from __future__ import annotations

import click

from ... import runs
from ...store.watchlist import SCOPES
from ...sync.query import sync_query
from ...sync.releases import sync_releases
from ...sync.scope import sync_scope
from ...sync.watch import sync_watched
from ..app import EXIT_USAGE, App, UserError, pass_app
from ..options import MBID, TEXT, budget_options, ws_options
from ..progress import page_logger
from ..reporting import exit_for_enrich, exit_for_syncs, print_enrich, print_sync, report_sync
from ..running import client, run_enrich, run_sync

#: each scope with its article, for the help texts
_SCOPE_NOUNS = {"artist": "an artist", "label": "a label", "release-group": "a release group",
                "collection": "a collection"}


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
    _sync_watched(app, with_enrich)


def _sync_watched(app: App, with_enrich: bool) -> None:
    """Every watched scope (then enrich, when asked and every scope ended ok)
    under one writer lock; each run's summary is printed once, then the
    first problem decides the exit code: a failed or partial sync before a
    quarantine, any sync problem before enrich's."""
    ws = client(app)
    database = app.db()
    with runs.writer(database, "sync"):
        results = sync_watched(database, ws, on_page=page_logger(app), log=app.note)
        enriched = run_enrich(app, ws, database) if with_enrich and all(r.status == runs.OK for r in results) else None
    if not results:
        app.note("the watchlist is empty: add scopes with `mbindex watch add SCOPE MBID`")
    for result in results:
        print_sync(result)
    if enriched is not None:
        print_enrich(enriched)
    exit_for_syncs(results)
    if enriched is not None:
        exit_for_enrich(enriched)


@sync.command("release")
@click.argument("mbids", nargs=-1, required=True, type=MBID)
@ws_options
@pass_app
def sync_release_cmd(app: App, mbids):
    """Fetch releases by MBID with everything the risk score needs."""
    report_sync(run_sync(app, lambda database, ws: sync_releases(database, ws, list(mbids))))


def _scope_command(scope: str):
    @sync.command(scope, help=f"Fetch every release of {_SCOPE_NOUNS[scope]} (whole browse pages; a lookup "
                              "only for an item that lacks an include).")
    @click.argument("mbid", type=MBID)
    @ws_options
    @pass_app
    def cmd(app: App, mbid):
        report_sync(run_sync(app, lambda database, ws: sync_scope(database, ws, scope, mbid,
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
    report_sync(result)
