"""`mbindex report [--html FILE]`: the mirror's summary."""

from __future__ import annotations

import click

from ...analysis.report import collect, render_html, render_text
from ...output.tables import terminal_safe_tree
from ..app import App, pass_app
from ..files import write_file
from ..options import MAX_ROWS


@click.command("report")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, writable=True), help="Write an HTML report here.")
@click.option("--top", type=click.IntRange(1, MAX_ROWS), default=10, show_default=True)
@pass_app
def report_cmd(app: App, html_file, top):
    """Summary of the mirror and its risks; --html adds a self-contained page with charts."""
    data = collect(app.db(), top=top)
    click.echo(render_text(terminal_safe_tree(data)))  # label and artist names may hold control characters
    if html_file:
        write_file(html_file, render_html(data))
        app.note(f"wrote {html_file}")
