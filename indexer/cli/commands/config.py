"""`mbindex config show`."""

from __future__ import annotations

import click

from ...output.tables import render
from ..app import App, pass_app
from ..options import output_option


@click.group()
def config():
    """Inspect configuration."""


@config.command("show")
@output_option
@pass_app
def config_show(app: App, output):
    """Print the effective settings (passwords masked) and where each comes from."""
    settings = app.settings()
    rows = [
        {"setting": k, "value": v, "source": settings.sources.get(k, "")}
        for k, v in settings.masked().items()
        if k != "config_file"
    ]
    click.echo(render(rows, output))
