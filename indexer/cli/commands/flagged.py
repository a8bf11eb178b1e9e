"""`mbindex flagged`: the worklist of at-risk releases."""

from __future__ import annotations

import click

from ...analysis.curation import FACT_COLUMNS, WORKLIST_COLUMNS, flagged
from ...output.tables import render
from ..app import App, pass_app
from ..freshness import echo_score_notice
from ..options import filter_options, output_option


@click.command("flagged")
@filter_options(default_limit=50)
@output_option
@pass_app
def flagged_cmd(app: App, filters, output):
    """The worklist of at-risk releases, most at risk first (stderr says how
    many stored releases are not scored yet, if any)."""
    echo_score_notice(app.db(), machine_stdout=output != "table")
    machines = output in ("json", "ndjson")  # machines get the facts behind each score
    rows = flagged(app.db(), filters, facts=machines)
    click.echo(render(rows, output, columns=FACT_COLUMNS if machines else WORKLIST_COLUMNS))
