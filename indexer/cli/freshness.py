"""Lines several commands print about the mirror itself: which database they
use (`serve`, `status`) and how many stored releases the worklist cannot
show truly (`flagged`, `export`), from `analysis.status`."""

from __future__ import annotations

import sys

import click

from ..analysis.status import database_info, score_counts, score_notice
from ..db import Database


def database_line(info: dict) -> str:
    """Which database, and where it lives (`database_info`)."""
    if info["embedded"]:
        return (f"database: embedded PostgreSQL at {info['data_dir']} (per user: this is {info['os_user']}'s; "
                "to share one, set database_url or data_dir: see docs/scheduling.md)")
    return f"database: {info['url']} (as user {info['os_user']})"


def echo_database(db: Database) -> None:
    """The database line on stderr, even with --quiet: a curator must see
    when they look at another database than the timer fills."""
    click.echo(database_line(database_info(db)), err=True)


def echo_score_notice(db: Database, *, machine_stdout: bool = False) -> None:
    """On stderr, even with --quiet: how many stored releases the worklist
    leaves out (never scored) or shows with an old score, and what to run.

    When the worklist goes to stdout for a program (json, ndjson, csv), only
    a person watching stderr gets the line: scripts that capture both
    streams together (2>&1) keep parseable output; `status` counts them."""
    if machine_stdout and not sys.stderr.isatty():
        return
    line = score_notice(score_counts(db))
    if line:
        click.echo(f"mbindex: {line}", err=True)
