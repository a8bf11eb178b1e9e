"""`mbindex curator add|list|remove NAME`: who may mark in `serve`, each with a token of their own."""

from __future__ import annotations

import click

from ...analysis.curators import add_curator, list_curators, remove_curator
from ...output.tables import render
from ..app import App, pass_app
from ..options import TEXT, output_option


@click.group("curator")
def curator():
    """Curators of `serve`: each opens it with their own token, and their marks carry their name."""


@curator.command("add")
@click.argument("name", type=TEXT)
@pass_app
def curator_add(app: App, name):
    """Add a curator and print their token, once (only its hash is kept)."""
    token = add_curator(app.db(), name)
    click.echo(token)
    app.note(f"curator {name.strip()!r} added; give them this token (it is not stored and cannot be shown "
             "again): they open serve once with ?token=TOKEN")


@curator.command("list")
@output_option
@pass_app
def curator_list(app: App, output):
    """The curators and when each was added (never their tokens)."""
    click.echo(render(list_curators(app.db()), output, ["name", "added_at"]))


@curator.command("remove")
@click.argument("name", type=TEXT)
@pass_app
def curator_remove(app: App, name):
    """Remove a curator: their token stops working at once; their marks keep their name."""
    remove_curator(app.db(), name)
    app.note(f"curator {name.strip()!r} removed")
