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
@click.option("--dump/--no-dump", "dump", default=None,
              help="Refresh from the newest JSON dump first, as `import-dump --latest` (release; one already "
                   "imported is skipped) [setting update_dump; default: off].")
@click.option("--no-enrich", is_flag=True, help="Do not fetch upstream facts (editions, catalogues, listens).")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), help="Scoring policy (TOML).")
@budget_options
@ws_options
@pass_app
def update_cmd(app: App, dump, no_enrich, policy_file, budget):
    """Walk every watched scope (resuming cut walks), fetch the due facts, and score
    every release whose score may have changed.  For cron and systemd timers.
    With --dump (or update_dump), refresh from the newest JSON dump first.

    Exit 0 all done, 3 budget used up (the next run continues), 5 items
    quarantined (wins over 3), 1 error (a walk, or the dump: the rest still
    runs), 2 bad input or an empty watchlist without --dump, 4 another writer
    (an update, sync or import) is running: nothing done.
    """
    settings = app.settings(update_dump=dump)  # a bad MBINDEX_UPDATE_DUMP: exit 2 before anything
    policy = load_policy(policy_file)
    check_policy(app.db(), policy)  # a changed policy under a stored version: exit 2 before any walk
    code = report_update(run_update(app, policy, budget, with_enrich=not no_enrich, dump=settings.update_dump))
    if code != EXIT_OK:
        sys.exit(code)
