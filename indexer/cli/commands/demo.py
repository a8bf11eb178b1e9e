"""`mbindex demo`: the main job on bundled real recordings, where musicbrainz.org is out of reach."""

from __future__ import annotations

from pathlib import Path

import click

from ... import runs
from ...analysis.curation import Filters, flagged, release_summaries
from ...analysis.risk import load_policy, run_score
from ...mapping import parse_mbid
from ...output.tables import render
from ...demo.server import ReplayServer
from ...sync.releases import sync_releases
from ..app import App, pass_app
from .sync import client, report_sync

#: real ws/2 lookups shipped inside the package (package data)
DEMO_DIR = Path(__file__).resolve().parent.parent.parent / "demo"


@click.command("demo")
@click.option("--rate", type=float, default=None, help="Requests per second against the replay server.")
@pass_app
def demo(app: App, rate):
    """Sync bundled real MusicBrainz recordings through a local replay server.

    For trying mbindex where musicbrainz.org is not reachable: a local HTTP
    server answers ws/2 requests with real responses recorded from
    musicbrainz.org, and the releases are synced into the configured
    database (the embedded one by default).
    """
    with ReplayServer() as server:
        count = server.load_dir(DEMO_DIR)
        ids = sorted(parse_mbid(p.stem) for p in (DEMO_DIR / "release").glob("*.json"))
        app.note(f"mbindex demo: replay server on {server.url} with {count} recorded responses")
        app.settings(ws_url=server.url, contact="mbindex-demo@localhost", rate=rate)
        ws = client(app)
        database = app.db()
        with runs.writer(database, "demo"):
            result = sync_releases(database, ws, ids)
    with database.session() as s:
        click.echo(render(release_summaries(s, ids), "table"))
    report_sync(app, result, exit_on_problem=False)
    # then what the mirror is for: score and show the at-risk worklist
    scored = run_score(database, load_policy(None), changed_only=True)
    click.echo(f"\nscored {scored.scored} release(s) with policy {scored.policy_version}; the worklist "
               "(`mbindex flagged`, `mbindex show MBID` explains each signal):")
    with database.session() as s:
        rows = flagged(s, Filters(limit=10))
    click.echo(render(rows, "table", columns=["mbid", "score", "title", "formats", "signals"]))
    click.echo("\nSignals about the world (editions of the release group, the artist's catalogue, ListenBrainz "
               "listening) stay silent until `mbindex enrich` has fetched their facts from musicbrainz.org and "
               "ListenBrainz; the demo has no recorded answers for them, so `mbindex show MBID` lists them as "
               "\"unknown (not fetched)\".")
    if result.status != runs.OK:
        report_sync(app, result)
