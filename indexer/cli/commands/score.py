"""`mbindex score`: compute every release's at-risk score."""

from __future__ import annotations

import click

from ...analysis.policies import check as check_policy
from ...analysis.risk import load_policy, score
from ..app import App, pass_app


@click.command("score")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), help="Scoring policy (TOML).")
@click.option("--changed", is_flag=True, help="Only releases changed since they were last scored.")
@pass_app
def score_cmd(app: App, policy_file, changed):
    """Compute the at-risk score of every release (set-based, in the database)."""
    policy = load_policy(policy_file)
    check_policy(app.db(), policy)  # refused before a run is recorded (score refuses it again in its transaction)
    result = score(app.db(), policy, changed_only=changed)
    click.echo(f"run {result.run_id}: scored {result.scored} release(s) with policy {result.policy_version} "
               f"in {result.seconds:.1f}s")
