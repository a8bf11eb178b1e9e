"""`mbindex mark MBID... --status S`: curation marks, with full history."""

from __future__ import annotations

import os

import click

from ...analysis.curation import CURATION_STATES, mark
from ..app import EXIT_USAGE, App, UserError, pass_app
from ..options import MBID, TEXT


@click.command("mark")
@click.argument("mbids", nargs=-1, required=True, type=MBID)
@click.option("--status", required=True, type=click.Choice(CURATION_STATES), help="The curation status to record.")
@click.option("--note", type=TEXT, help="Free text kept with the mark.")
@click.option("--by", "marked_by", type=TEXT, help="Who marks (default: $USER).")
@pass_app
def mark_cmd(app: App, mbids, status, note, marked_by):
    """Record a curation mark on releases (history is kept)."""
    marked_by = marked_by or _user()
    done = mark(app.db(), list(mbids), status, note, marked_by)
    for row in done:
        via = f" (merged from {row['requested']})" if row["requested"] != row["mbid"] else ""
        click.echo(f"{row['mbid']}{via}: {status}")


def _user() -> str | None:
    """$USER, the default marker: refused when it is not UTF-8 (a bad byte
    in the environment), which PostgreSQL text cannot store."""
    user = os.environ.get("USER") or None
    try:
        user and user.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError("$USER is not valid UTF-8 text; give the name with --by NAME", EXIT_USAGE) from None
    return user
