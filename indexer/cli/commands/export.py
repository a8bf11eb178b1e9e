"""`mbindex export -o FORMAT [--to FILE] [filters]`: the worklist as a file to share.

Old spellings keep working for one release, with a deprecation line:
`--format csv|json` (the file format; `--format` is now the medium format
filter, and no medium format is named csv or json), `--output FILE` (the
destination; `-o/--output` is now the output format) and `--medium-format`.
"""

from __future__ import annotations

import click

from ...analysis.curation import EXPORT_COLUMNS, export_rows
from ...output.files import write_text_atomic
from ...output.tables import EXPORT_FORMATS, render
from ..app import EXIT_USAGE, App, UserError, pass_app
from ..options import TEXT, filter_options


def write_file(path: str, text: str) -> None:
    try:
        write_text_atomic(path, text)
    except OSError as exc:
        raise UserError(str(exc), EXIT_USAGE) from None


def _deprecated(app: App, old: str, new: str) -> None:
    click.echo(f"mbindex: warning: `{old}` is deprecated and will be removed; use `{new}`", err=True)


@click.command("export")
@click.option("-o", "--output", "output", default=None,
              help=f"Output format: {', '.join(EXPORT_FORMATS)} [default: csv].")
@click.option("--to", "to", type=click.Path(dir_okay=False), help="Destination file (default: stdout).")
@click.option("--medium-format", "old_formats", type=TEXT, multiple=True, hidden=True)
@filter_options(default_limit=None)
@pass_app
def export_cmd(app: App, output, to, old_formats, filters):
    """Write the worklist to a file to share, with MusicBrainz links."""
    fmt = None
    if output is not None:
        if output in EXPORT_FORMATS:
            fmt = output
        elif "." not in output and "/" not in output:  # a word: a format we do not write, not a file name
            raise UserError(f"unknown output format {output!r} (choose from {', '.join(EXPORT_FORMATS)}; "
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
    with app.db().session() as s:
        rows = export_rows(s, filters)
    text_out = render(rows, fmt, columns=EXPORT_COLUMNS) + "\n"
    if to:
        write_file(to, text_out)
        app.note(f"wrote {len(rows)} release(s) to {to}")
    else:
        click.echo(text_out, nl=False)
