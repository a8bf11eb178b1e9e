"""`mbindex export -o FORMAT [--to FILE] [filters]`: the worklist as a file to share.

Old spellings keep working for one release, with a deprecation line:
`--format csv|json` (the file format; `--format` is now the medium format
filter, and no medium format is named csv or json), `--output FILE` (the
destination; `-o/--output` is now the output format) and `--medium-format`.
"""

from __future__ import annotations

from contextlib import closing

import click

from ...analysis.curation import EXPORT_COLUMNS, export_rows
from ...analysis.preservation import Selection, release_records
from ...analysis.risk import load_policy
from ...clock import now
from ...output.files import replacing_file
from ...output.marc import MARC_FORMATS, write_records
from ...output.tables import EXPORT_FORMATS, as_file
from ..app import EXIT_USAGE, App, UserError, pass_app
from ..files import write_file
from ..freshness import echo_score_notice
from ..options import TEXT, filter_options


def _export_marc(app: App, fmt: str, to: str | None, force: bool, filters) -> None:
    """One MARC record per selected release, streamed into FILE (written
    under a temporary name, renamed when complete)."""
    if not to:
        raise UserError(f"-o {fmt} writes a file: give it with --to FILE", EXIT_USAGE)
    records = release_records(app.db(), Selection(filters=filters), load_policy(None))
    with closing(records), replacing_file(to, force=force) as fh:  # closing: ends its queries on error
        n = write_records(fh, records, xml=fmt == "marcxml", entered=now().date())
    app.note(f"wrote {n} MARC record(s) to {to}")


def _deprecated(app: App, old: str, new: str) -> None:
    click.echo(f"mbindex: warning: `{old}` is deprecated and will be removed; use `{new}`", err=True)


@click.command("export")
@click.option("-o", "--output", "output", default=None,
              help=f"Output format: {', '.join(EXPORT_FORMATS + MARC_FORMATS)} [default: csv].")
@click.option("--to", "to", type=click.Path(dir_okay=False), help="Destination file (default: stdout).")
@click.option("--force", is_flag=True, help="-o marc|marcxml: replace FILE if it exists.")
@click.option("--medium-format", "old_formats", type=TEXT, multiple=True, hidden=True)
@click.option("--no-csv-safe", "csv_raw", is_flag=True,
              help="CSV for machines: cells exactly as stored, without the ' put before a leading "
                   "=, +, -, @, tab or CR to keep spreadsheets from running them as formulas.")
@filter_options(default_limit=None)
@pass_app
def export_cmd(app: App, output, to, force, old_formats, csv_raw, filters):
    """Write the worklist to a file to share, with MusicBrainz links."""
    fmt = None
    if output is not None:
        if output in EXPORT_FORMATS + MARC_FORMATS:
            fmt = output
        elif "." not in output and "/" not in output:  # a word: a format we do not write, not a file name
            raise UserError(f"unknown output format {output!r} (choose from "
                            f"{', '.join(EXPORT_FORMATS + MARC_FORMATS)}; "
                            "a destination file goes with --to FILE)", EXIT_USAGE)
        else:  # the old `--output FILE`
            _deprecated(app, "export --output FILE", "export --to FILE")
            if to is not None:
                raise UserError("give the destination once, with --to", EXIT_USAGE)
            to = output
    old_fmt = [f for f in filters.formats if f in EXPORT_FORMATS]
    if old_fmt:  # the old `--format csv|json`
        _deprecated(app, f"export --format {old_fmt[-1]}", f"export -o {old_fmt[-1]}")
        if fmt is not None and fmt != old_fmt[-1]:
            raise UserError("choose one output format", EXIT_USAGE)
        fmt = old_fmt[-1]
        filters.formats = tuple(f for f in filters.formats if f not in EXPORT_FORMATS)
    if old_formats:
        _deprecated(app, "export --medium-format F", "export --format F")
        filters.formats = tuple(filters.formats) + tuple(old_formats)
    fmt = fmt or "csv"
    echo_score_notice(app.db(), machine_stdout=not to)
    if fmt in MARC_FORMATS:
        _export_marc(app, fmt, to, force, filters)
        return
    rows = export_rows(app.db(), filters)
    text_out = as_file(rows, fmt, EXPORT_COLUMNS, spreadsheet_safe=not csv_raw)
    if to:
        write_file(to, text_out)
        app.note(f"wrote {len(rows)} release(s) to {to}")
    else:
        click.echo(text_out, nl=False)
