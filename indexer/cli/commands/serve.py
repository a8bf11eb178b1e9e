"""`mbindex serve [--host 127.0.0.1] [--port 8750]`: the curators' web pages."""

from __future__ import annotations

import click

from ...analysis.curators import has_curators
from ...web.bind import DEFAULT_HOST, DEFAULT_PORT, check_bind
from ..app import App, pass_app
from ..freshness import echo_database


@click.command("serve")
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to listen on; beyond loopback it needs serve_token [env MBINDEX_SERVE_TOKEN].")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="TCP port to listen on.")
@pass_app
def serve_cmd(app: App, host, port):
    """Serve the worklist, each release's evidence and marking in a browser (Ctrl-C stops)."""
    token = app.settings().serve_token
    check_bind(host, token)
    # lazy: the web stack (Starlette, Jinja2, uvicorn) loads only for `serve`, not for every command
    from ...web.app import create_app
    from ...web.server import serve

    database = app.db()
    echo_database(database)
    shown = f"[{host}]" if ":" in host else host
    guarded = bool(token) or has_curators(database)  # curators: each opens it with their own token
    app.note(f"mbindex serve: http://{shown}:{port}/ on {database.display_url}"
             + (" (token required: open it once with ?token=...)" if guarded else "") + "; Ctrl-C stops")
    serve(create_app(database, token=token, facts_max_age_days=app.settings().facts_max_age_days), host, port)
