"""`mbindex demo`: the scheduled job (watch, update, flagged) on bundled real
recordings, where musicbrainz.org is out of reach."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import click

from ...analysis.curation import Filters, flagged, release_summaries
from ...analysis.risk import load_policy
from ...demo.server import ReplayServer
from ...output.tables import render
from ...store.watchlist import add_watch, list_watches, remove_watch
from ..app import EXIT_OK, EXIT_USAGE, App, UserError, pass_app
from ..updates import report_update, run_update

#: real ws/2 lookups shipped inside the package (package data)
DEMO_DIR = Path(__file__).resolve().parent.parent.parent / "demo"
#: the collection the replay server answers with the bundled releases (not a
#: real MusicBrainz collection: the demo removes its watch when it ends)
DEMO_COLLECTION = uuid.UUID("00000000-0000-4000-8000-00000000de30")


def _demo_docs() -> list[dict]:
    """The bundled lookups, exactly as recorded: the collection's browse
    serves them as they are (no include is invented for them)."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((DEMO_DIR / "release").glob("*.json"))]


def _check_watchlist(app: App) -> None:
    """The demo's update walks the whole watchlist against the replay server:
    it must hold nothing but the demo's own scope."""
    others = [w for w in list_watches(app.db()) if w["target"] != str(DEMO_COLLECTION)]
    if others:
        raise UserError("demo needs a database whose watchlist is empty (its update would walk your "
                        f"{len(others)} watched scope(s) against the replay server): give it another with "
                        "--database-url or --data-dir", EXIT_USAGE)


@click.command("demo")
@click.option("--rate", type=float, default=None, help="Requests per second against the replay server.")
@pass_app
def demo(app: App, rate):
    """Watch a collection of bundled real MusicBrainz recordings and run
    `mbindex update` on it through a local replay server, then show the worklist.

    For trying mbindex where musicbrainz.org is not reachable: a local HTTP
    server answers ws/2 requests with real responses recorded from
    musicbrainz.org, and the releases are synced into the configured
    database (the embedded one by default).  The scheduled job is the same
    `watch add` + `update` with real scopes.
    """
    _check_watchlist(app)
    with ReplayServer() as server:
        count = server.load_dir(DEMO_DIR)
        docs = _demo_docs()
        server.set_collection(str(DEMO_COLLECTION), docs)
        app.note(f"mbindex demo: replay server on {server.url} with {count} recorded responses; "
                 f"watching collection {DEMO_COLLECTION} (the {len(docs)} bundled releases) for this demo only")
        app.settings(ws_url=server.url, contact="mbindex-demo@localhost", rate=rate)
        database = app.db()
        add_watch(database, "collection", DEMO_COLLECTION, "mbindex demo (removed when the demo ends)")
        try:  # no recorded facts: the demo's update does not enrich
            result = run_update(app, load_policy(None), {}, with_enrich=False)
        finally:
            remove_watch(database, "collection", DEMO_COLLECTION)
    ids = [uuid.UUID(d["id"]) for d in docs]
    click.echo(render(release_summaries(database, ids), "table"))
    code = report_update(result)
    click.echo("\nthe worklist (`mbindex flagged`, `mbindex show MBID` explains each signal):")
    rows = flagged(database, Filters(limit=10))
    click.echo(render(rows, "table", columns=["mbid", "score", "title", "formats", "signals"]))
    click.echo("\nSignals about the world (editions of the release group, the artist's catalogue, ListenBrainz "
               "listening) stay silent until `mbindex update` (or `mbindex enrich`) has fetched their facts from "
               "musicbrainz.org and ListenBrainz; the demo has no recorded answers for them, so `mbindex show "
               "MBID` lists them as \"unknown (not fetched)\".  Your own scheduled job: `mbindex watch add "
               "label MBID`, then `mbindex update` from cron or a systemd timer (docs/scheduling.md).")
    if code != EXIT_OK:
        sys.exit(code)
