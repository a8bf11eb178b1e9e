"""`mbindex watch add|remove|list`: the watchlist synced by `mbindex sync --watched`."""

from __future__ import annotations

import click

from ...output.tables import render
from ...store.watchlist import SCOPES, add_watch, list_watches, remove_watch
from ..app import EXIT_USAGE, App, UserError, pass_app
from ..options import MBID, TEXT, output_option


@click.group()
def watch():
    """The watchlist: the scopes `mbindex update` (and `sync --watched`) walk."""


@watch.command("add")
@click.argument("scope", type=click.Choice(SCOPES))
@click.argument("mbid", type=MBID)
@click.option("--note", type=TEXT, help="Why it is watched.")
@pass_app
def watch_add(app: App, scope, mbid, note):
    """Watch a scope: an artist, a label, a release group or a collection, by MBID."""
    added = add_watch(app.db(), scope, mbid, note)
    click.echo(f"{'watching' if added else 'already watched'}: {scope} {mbid}")


@watch.command("remove")
@click.argument("scope", type=click.Choice(SCOPES))
@click.argument("mbid", type=MBID)
@pass_app
def watch_remove(app: App, scope, mbid):
    """Stop watching a scope (its releases stay in the mirror)."""
    if not remove_watch(app.db(), scope, mbid):
        raise UserError(f"not on the watchlist: {scope} {mbid}", EXIT_USAGE)
    click.echo(f"removed: {scope} {mbid}")


@watch.command("list")
@output_option
@pass_app
def watch_list(app: App, output):
    """List the watched scopes, with their notes."""
    click.echo(render(list_watches(app.db()), output))
