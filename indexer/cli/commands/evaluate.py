"""`mbindex evaluate --labels FILE.tsv [--policy FILE] [-o table|json]`: a
policy checked against an archivist's own labelled releases, before adopting it."""

from __future__ import annotations

import json

import click

from ...analysis.evaluation import evaluate, format_evaluation, read_labels
from ...analysis.risk import load_policy
from ...output.tables import terminal_safe_tree
from ..app import App, pass_app


@click.command("evaluate")
@click.option("--labels", "labels_file", required=True, type=click.Path(dir_okay=False),
              help="TSV with a header: mbid, label (at_risk | preserved), optional reason.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False),
              help="Score the labelled releases with this policy (nothing is written); "
                   "without it, their stored scores are evaluated.")
@click.option("-k", "k", type=click.IntRange(1, 100_000), default=None,
              help="Precision at k [default: the number of at-risk releases].")
@click.option("-o", "--output", "output", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Output format.")
@pass_app
def evaluate_cmd(app: App, labels_file, policy_file, k, output):
    """AUC, precision at k, mean scores, per-signal lift, each labelled release, the missing ones. No requests."""
    labels = read_labels(labels_file)
    policy = load_policy(policy_file) if policy_file else None
    result = evaluate(app.db(), labels, policy, k=k)
    if output == "json":
        click.echo(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    else:
        click.echo(format_evaluation(terminal_safe_tree(result)))
