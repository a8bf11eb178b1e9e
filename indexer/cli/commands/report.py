"""`mbindex report [--html FILE]`: the mirror's summary."""

from __future__ import annotations

import click

from ...analysis.report import collect, render_html, render_text
from ...analysis.risk import load_policy
from ...output.tables import terminal_safe_tree
from ..app import App, pass_app
from ..files import write_file
from ..options import MAX_ROWS


@click.command("report")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, writable=True),
              help="Also write a self-contained HTML page with SVG charts to this file.")
@click.option("--top", type=click.IntRange(1, MAX_ROWS), default=10, show_default=True,
              help="How many labels and artists the top at-risk tables list.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False),
              help="Scoring policy (TOML) whose \"at risk\" band the top at-risk tables use.")
@pass_app
def report_cmd(app: App, html_file, top, policy_file):
    """Print a summary of the mirror and its risks; --html also writes a self-contained page with charts."""
    policy = load_policy(policy_file)
    data = collect(app.db(), top=top, at_risk=policy.bands["at_risk"])
    if html_file:  # first: a destination that cannot be written is refused before anything is printed
        write_file(html_file, render_html(data, policy.label))
    click.echo(render_text(terminal_safe_tree(data)))  # label and artist names may hold control characters
    if html_file:
        app.note(f"wrote {html_file}")
