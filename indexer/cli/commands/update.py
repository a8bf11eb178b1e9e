"""`mbindex update`: the scheduled job, from the watchlist to scores (see docs/scheduling.md;
the exit contract is in `cli/updates.py`)."""

from __future__ import annotations

import sys

import click

from ...analysis.policies import check as check_policy
from ...analysis.risk import load_policy
from ..app import EXIT_OK, App, pass_app
from ..options import budget_options, ws_options
from ..updates import report_update, run_update


@click.command("update")
@click.option("--no-enrich", is_flag=True, help="Do not fetch upstream facts (editions, catalogues, listens).")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), help="Scoring policy (TOML).")
@budget_options
@ws_options
@pass_app
def update_cmd(app: App, no_enrich, policy_file, budget):
    """Walk every watched scope (resuming cut walks), fetch the due facts, and score
    every release whose score may have changed.  For cron and systemd timers.

    Exit 0 all done, 3 budget used up (the next run continues), 5 items
    quarantined (wins over 3), 1 error, 2 bad input or an empty watchlist.
    """
    policy = load_policy(policy_file)
    check_policy(app.db(), policy)  # a changed policy under a stored version: exit 2 before any walk
    code = report_update(run_update(app, policy, budget, with_enrich=not no_enrich))
    if code != EXIT_OK:
        sys.exit(code)
