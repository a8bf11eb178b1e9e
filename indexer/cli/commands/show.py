"""`mbindex show MBID`: one release in full, with its score explained."""

from __future__ import annotations

import click

from ...analysis.curation import format_show, show
from ...analysis.risk import load_policy
from ...output.tables import render, terminal_safe_tree
from ..app import App, pass_app
from ..options import MBID, output_option


@click.command("show")
@click.argument("mbid", type=MBID)
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), help="Policy for the explanations.")
@output_option
@pass_app
def show_cmd(app: App, mbid, policy_file, output):
    """One release in full: media, tracks, labels, links, score with explanations, curation, revisions."""
    policy = load_policy(policy_file)
    info = show(app.db(), mbid, policy)
    # the terminal view escapes control characters in upstream text (a title may hold \x1b]0;…\x07)
    click.echo(format_show(terminal_safe_tree(info)) if output == "table" else render([info], output))
