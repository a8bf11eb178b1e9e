"""What a command says when a run is over, and the exit code that follows.

Printing and exiting are separate on purpose: `print_sync` / `print_enrich`
write a run's summary (once), `exit_for_sync` / `exit_for_enrich` only turn
its outcome into the exit code (`app.EXIT_*`), so a command that reports
several runs prints each summary once and then lets the first problem decide
(`sync --watched`).  `report_sync` / `report_enrich` do both for one run.
"""

from __future__ import annotations

import sys

import click

from .. import runs
from ..sync.enrich import EnrichResult
from ..sync.pipeline import SyncResult
from .app import EXIT_FAILURE, EXIT_PARTIAL, EXIT_QUARANTINED, UserError


def print_sync(result: SyncResult) -> None:
    """One summary line on stdout; the MBIDs not found and the quarantine on stderr."""
    c = result.counts
    click.echo(
        f"run {result.run_id}: {result.status}; {result.requests} request(s); "
        f"inserted {c.inserted}, updated {c.updated}, unchanged {c.unchanged}, "
        f"tombstoned {c.tombstoned}, redirected {c.redirected}, quarantined {c.quarantined}, "
        f"fallback lookups {c.fallback_lookups}"
        + (f", skipped {c.skipped} (fetched within query_max_age_days)" if c.skipped else "")
    )
    for mbid in c.missing:
        click.echo(f"not found on MusicBrainz (404): {mbid}", err=True)
    if c.quarantined:
        click.echo(f"{c.quarantined} document(s) quarantined: see the quarantine table (sync_run_id "
                   f"{result.run_id})", err=True)


def exit_for_sync(result: SyncResult) -> None:
    """Exit as the run ended, printing no summary: a failed run exits 1 with
    its error, a partial one 3, one that finished but quarantined documents
    5; an ok run without quarantine returns."""
    if result.status == runs.FAILED:
        raise UserError(f"sync failed: {result.error}", EXIT_FAILURE)
    if result.status == runs.PARTIAL:
        sys.exit(EXIT_PARTIAL)
    if result.counts.quarantined:
        sys.exit(EXIT_QUARANTINED)


def exit_for_syncs(results: list[SyncResult]) -> None:
    """The exit code of several runs: the first failed or partial one
    decides, before the first that only quarantined."""
    for result in [r for r in results if r.status != runs.OK] + [r for r in results if r.counts.quarantined]:
        exit_for_sync(result)


def report_sync(result: SyncResult) -> None:
    """One sync's summary, then its exit code."""
    print_sync(result)
    exit_for_sync(result)


def print_enrich(result: EnrichResult) -> None:
    """One summary line, one line (stderr) per phase that could not finish."""
    stored = ", ".join(f"{k} {v}" for k, v in sorted(result.facts.items())) or "nothing new"
    click.echo(f"run {result.run_id}: {result.status}; {result.requests} request(s); facts stored: {stored}")
    for problem in result.problems:
        click.echo(f"enrich: {problem} (those facts stay unknown: their signals do not fire)", err=True)


def exit_for_enrich(result: EnrichResult) -> None:
    """A run that did not finish every phase exits 3; printing nothing."""
    if result.status != runs.OK:
        sys.exit(EXIT_PARTIAL)


def report_enrich(result: EnrichResult) -> None:
    """One enrich run's summary, then its exit code."""
    print_enrich(result)
    exit_for_enrich(result)
