"""The `mbindex` command: a thin Click layer over the library.

Commands live one family per module in `commands/`; options shared by several
commands are declared once in `options`; `app` holds the per-invocation
state and maps the library's typed errors to exit codes (listed there and in
the README).  No module here imports the models or SQLAlchemy.
"""

from __future__ import annotations

import sys

import click

from .. import __version__
from .app import App, as_user_error
from .commands.config import config
from .commands.curator import curator
from .commands.db import db
from .commands.demo import demo
from .commands.enrich import enrich_cmd
from .commands.evaluate import evaluate_cmd
from .commands.export import export_cmd
from .commands.flagged import flagged_cmd
from .commands.import_dump import import_dump_cmd
from .commands.mark import mark_cmd
from .commands.package import package_cmd
from .commands.report import report_cmd
from .commands.runs import runs_cmd
from .commands.score import score_cmd
from .commands.serve import serve_cmd
from .commands.show import show_cmd
from .commands.status import status_cmd
from .commands.sync import sync
from .commands.update import update_cmd
from .commands.watch import watch


class _Group(click.Group):
    """The root group: a typed library error anywhere below becomes its
    one-line message and exit code, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.ClickException:
            raise
        except Exception as exc:
            err = as_user_error(exc)
            if err is None:
                raise
            raise err from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mbindex")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Config file (TOML).")
@click.option("--database-url", help="PostgreSQL URL; default: embedded server [env MBINDEX_DATABASE_URL].")
@click.option("--data-dir", help="Where the embedded server keeps its data [env MBINDEX_DATA_DIR].")
@click.option("-q", "--quiet", is_flag=True, help="Only print results and errors.")
@click.pass_context
def cli(ctx, config_file, database_url, data_dir, quiet):
    """mbindex: mirror MusicBrainz and find releases at risk of being lost."""
    app = App({"database_url": database_url, "data_dir": data_dir}, config_file, quiet)
    ctx.obj = app
    ctx.call_on_close(app.close)


for command in (config, db, sync, watch, import_dump_cmd, runs_cmd, demo, score_cmd, flagged_cmd, show_cmd,
                mark_cmd, export_cmd, package_cmd, report_cmd, serve_cmd, curator, enrich_cmd, update_cmd, status_cmd,
                evaluate_cmd):
    cli.add_command(command)


def main(argv=None):
    try:
        cli.main(args=argv, prog_name="mbindex", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
