"""`mbindex enrich [MBID...]`: fetch the upstream facts the risk score needs."""

from __future__ import annotations

import click

from ... import runs
from ...sources.ws2 import Client
from ..app import App, pass_app
from ..options import MBID, budget_options, ws_options
from ..reporting import report_enrich
from ..running import run_enrich


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
