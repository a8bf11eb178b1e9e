"""The `mbindex` command: a thin Click layer over the library.

Commands live one family per module in `commands/`; options shared by several
commands are declared once in `options`; `app` holds the per-invocation
state and maps the library's typed errors to exit codes (listed there and in
the README).  No module here imports the models or SQLAlchemy.
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading

import click

from .. import __version__
from .app import App, as_user_error

#: command name -> (module under commands/, the Click object in it); a
#: command's module, and the library it needs, is imported when the command
#: runs (or `--help` lists them all), so a start costs only what it runs
COMMANDS = {
    "config": ("config", "config"),
    "db": ("db", "db"),
    "sync": ("sync", "sync"),
    "watch": ("watch", "watch"),
    "import-dump": ("import_dump", "import_dump_cmd"),
    "runs": ("runs", "runs_cmd"),
    "demo": ("demo", "demo"),
    "score": ("score", "score_cmd"),
    "flagged": ("flagged", "flagged_cmd"),
    "show": ("show", "show_cmd"),
    "mark": ("mark", "mark_cmd"),
    "export": ("export", "export_cmd"),
    "package": ("package", "package_cmd"),
    "report": ("report", "report_cmd"),
    "serve": ("serve", "serve_cmd"),
    "curator": ("curator", "curator"),
    "enrich": ("enrich", "enrich_cmd"),
    "update": ("update", "update_cmd"),
    "status": ("status", "status_cmd"),
    "evaluate": ("evaluate", "evaluate_cmd"),
}


#: each command's short help as the root `--help` lists it, so that listing
#: imports no command (a test keeps it equal to what the commands say)
SUMMARIES = {
    "config": "Inspect configuration.",
    "curator": "Curators of `serve`: each opens it with their own token, and their marks carry their name.",
    "db": "Database schema migrations (Alembic).",
    "demo": "Watch a collection of bundled real MusicBrainz recordings and run `mbindex update` on it through a "
            "local replay server, then show the worklist.",
    "enrich": "Fetch upstream facts (editions, artist catalogue, ListenBrainz listens) for stored releases.",
    "evaluate": "AUC, precision at k, mean scores, per-signal lift, each labelled release, the missing ones.",
    "export": "Write the worklist to a file to share, with MusicBrainz links.",
    "flagged": "The worklist of at-risk releases, most at risk first (stderr says how many stored releases are not "
               "scored yet, if any).",
    "import-dump": "Load MusicBrainz JSON data dumps (.tar.xz, JSON lines, or a directory of them).",
    "mark": "Record a curation mark on releases (history is kept).",
    "package": "A preservation package (BagIt + PREMIS 3) of the given releases, or of the worklist's releases "
               "selected as `flagged` and `export` do.",
    "report": "Print a summary of the mirror and its risks; --html also writes a self-contained page with charts.",
    "runs": "List the recent runs (update, sync, import, enrich, score) with their counts and errors.",
    "score": "Compute the at-risk score of every release (set-based, in the database).",
    "serve": "Serve the worklist, each release's evidence and marking in a browser (Ctrl-C stops).",
    "show": "One release in full: media, tracks, labels, links, score with explanations, curation, revisions.",
    "status": "How fresh and whole the mirror is: the last update, each watched scope, releases not scored, facts "
              "due, quarantined items, the database in use.",
    "sync": "Pull data from the MusicBrainz web service (ws/2).",
    "update": "Walk every watched scope (resuming cut walks), fetch the due facts, and score every release whose "
              "score may have changed.",
    "watch": "The watchlist: the scopes `mbindex update` (and `sync --watched`) walk.",
}


class _Group(click.Group):
    """The root group: its commands are loaded when used (`COMMANDS`); a
    typed library error anywhere below becomes its one-line message and exit
    code, never a traceback."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        if name not in self.commands:
            module, attr = COMMANDS[name]
            command = getattr(importlib.import_module(f"{__name__}.commands.{module}"), attr)
            if command.name != name:  # the table and the command disagree: a bug, not a user error
                raise RuntimeError(f"COMMANDS[{name!r}] loads the command {command.name!r}")
            self.add_command(command)
        return self.commands[name]

    def format_commands(self, ctx, formatter):
        """The command list of `--help` from `SUMMARIES`, shortened as Click
        shortens a command's own help, without importing a command (all of
        them and the library behind them: about 0.6 s)."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = [(n, click.utils.make_default_short_help(SUMMARIES[n], limit)) for n in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

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


def main(argv=None):
    """The console script: runs the command, then ends the process (`_end`)."""
    try:
        cli.main(args=argv, prog_name="mbindex", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        code = 130
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    _end(code)


def _end(code) -> None:
    """End the process with `code` (as `sys.exit` takes it): the exit
    handlers run (an embedded server is released, child processes joined,
    temporary directories removed), the output is flushed, then `os._exit`.

    Why not a plain return: the interpreter then takes its modules apart
    object by object, and with SQLAlchemy's classes and the models loaded
    that costs 0.1-0.15 s after the work is done, on every command (half of
    `mbindex --version`, a twentieth of a 100k refresh).  When a thread that
    is not a daemon is still running, the process exits the ordinary way,
    which waits for it."""
    if code is None:
        code = 0
    elif not isinstance(code, int):
        click.echo(code, err=True)
        code = 1
    if any(t is not threading.main_thread() and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe (`| head`): nothing more can be said there
                pass
        os._exit(code)


if __name__ == "__main__":
    main()
