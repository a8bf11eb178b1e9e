"""`mbindex runs`: recent sync, import and score runs."""

from __future__ import annotations

import click

from ... import runs
from ...output.tables import render
from ..app import App, pass_app
from ..options import MAX_ROWS, output_option


@click.command("runs")
@click.option("--limit", type=click.IntRange(1, MAX_ROWS), default=20, show_default=True,
              help="How many runs to list, the most recent first.")
@output_option
@pass_app
def runs_cmd(app: App, limit, output):
    """List the recent runs (update, sync, import, enrich, score) with their counts and errors."""
    click.echo(render(runs.recent_runs(app.db(), limit), output))
