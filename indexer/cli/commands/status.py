"""`mbindex status [-o table|json] [--check] [--max-age 36h]`: how fresh and whole the mirror is."""

from __future__ import annotations

import datetime as dt
import sys

import click

from ...analysis.risk import load_policy
from ...analysis.status import problems, status
from ...output.tables import json_document, render, terminal_safe
from ...sync.watch import parse_duration
from ..app import EXIT_FAILURE, App, as_user_error, pass_app
from ..freshness import database_line


def as_text(info: dict) -> str:
    """The table view: a few labelled lines and the scopes as a table."""
    last = info["last_update"]
    rel, due = info["releases"], info["facts_due"]
    lines = [database_line(info["database"])]
    if last is None:
        lines.append("last update: none yet (run `mbindex update`)")
    else:
        lines.append(f"last update: run {last['run']} {last['status']}, started {_when(last['started'])}, "
                     f"finished {_when(last['finished'])}; runs {_children(last['children'])}"
                     + (f"; error: {last['error']}" if last["error"] else ""))
        lines.append(f"last update that finished: {_when(last['last_complete'])}")
    lines.append(f"releases: {rel['stored']} stored ({rel['live']} live); not scored yet {rel['unscored']}; "
                 f"changed since scored {rel['changed']}; scored with another policy than "
                 f"{rel['policy_version']}: {rel['other_policy']}")
    lines.append(f"facts due: editions {due['editions']} release group(s), artist catalogues "
                 f"{due['artist_catalogues']}, popularity {due['popularity']} release group(s)")
    lines.append(f"quarantined items: {info['quarantined']}")
    lines.append("watched scopes:" if info["scopes"] else "watched scopes: none (`mbindex watch add SCOPE MBID`)")
    text = "\n".join(terminal_safe(line) for line in lines)
    if info["scopes"]:
        text += "\n" + render(info["scopes"], "table")
    return text


def _when(value) -> str:
    return value.isoformat(timespec="seconds") if isinstance(value, dt.datetime) else "never"


def _children(children: list[dict]) -> str:
    return ", ".join(f"{c['kind']} {c['run']}" for c in children) or "none recorded"


@click.command("status")
@click.option("-o", "--output", "output", type=click.Choice(("table", "json")), default="table",
              show_default=True, help="Output format.")
@click.option("--check", is_flag=True,
              help="Monitoring: one line; exit 1 when the last update failed or anything is older than --max-age.")
@click.option("--max-age", default="36h", show_default=True, help="With --check: how old is too old, e.g. 36h, 90m.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False),
              help="The current scoring policy (default: the bundled one), to count scores of another.")
@pass_app
def status_cmd(app: App, output, check, max_age, policy_file):
    """How fresh and whole the mirror is: the last update, each watched scope,
    releases not scored, facts due, quarantined items, the database in use."""
    limit = dt.timedelta(seconds=parse_duration(max_age))
    policy = load_policy(policy_file)
    settings = app.settings()
    try:
        info = status(app.db(), policy_version=policy.version,
                      facts_max_age=dt.timedelta(days=settings.facts_max_age_days))
    except Exception as exc:
        err = as_user_error(exc)
        if not check or err is None or err.exit_code != EXIT_FAILURE:
            raise
        # monitoring reads one line on stdout: a database it cannot reach is critical too
        click.echo(f"MBINDEX CRITICAL - {err.message}")
        sys.exit(EXIT_FAILURE)
    if check:
        found = problems(info, limit)
        if found:
            click.echo(terminal_safe("MBINDEX CRITICAL - " + "; ".join(found)))
            sys.exit(EXIT_FAILURE)
        click.echo(f"MBINDEX OK - last update run {info['last_update']['run']} "
                   f"{info['last_update']['status']}, every watched scope walked within {max_age}")
        return
    click.echo(json_document(info) if output == "json" else as_text(info))
