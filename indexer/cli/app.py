"""Per-invocation state, and the one place where library errors become exit codes.

Exit codes (also in the README):
  0 success
  1 failure: ws/2 unreachable after retries, database error, unexpected error,
     a bag that fails `package --validate` (one line; --verbose lists up to
     20 problems), a dump that cannot be fetched or does not match its
     published checksum (`import-dump --latest`)
  2 bad input: usage error, malformed MBID, bad configuration or policy file
     (also one over 1 MB or nested too deep), an output destination that
     exists without --force, that is not a regular file (a device, a FIFO:
     never replaced), or that cannot be written (every format alike: CSV,
     MARC, HTML, a bag); `serve --port` already in use
  3 partial: the run ended early (budget used up, or a wait that would pass
     the budget or 60 s: the line says when to come back), some items were
     not found, some facts were refused, or a complete dump may not tombstone
  4 another sync/import holds the database's writer lock, or this one lost it
     (its database connection dropped) and stopped
  5 finished, but some input was quarantined (import-dump, sync, update;
     for `update` 5 wins over 3, see cli/updates.py)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..config import Settings, load_settings
from ..output.tables import terminal_safe

if TYPE_CHECKING:
    from ..db import Database

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_PARTIAL, EXIT_LOCKED, EXIT_QUARANTINED = 0, 1, 2, 3, 4, 5

#: typed library errors (by the module that defines them) and their exit
#: codes; the message is the error's own (written to be read by a user).
#: Named, not imported: a command imports only the library it runs (an
#: import of every module with an error class cost a third of a second at
#: every start, e.g. of each cron job); tests/test_cli_foundation.py checks
#: that each name is an exception class.  The most specific class of an
#: error's own lineage wins.
EXIT_CODES: dict[str, int] = {
    "indexer.db.database.WriterBusy": EXIT_LOCKED,
    "indexer.db.database.WriterLockLost": EXIT_LOCKED,
    "indexer.db.database.BadDatabaseURL": EXIT_USAGE,
    "indexer.db.database.ForeignDatabase": EXIT_USAGE,
    "indexer.config.ConfigError": EXIT_USAGE,
    "indexer.sources.ws2.ClientSetupError": EXIT_USAGE,
    "indexer.analysis.policy_file.PolicyError": EXIT_USAGE,
    "indexer.analysis.evaluation.LabelsError": EXIT_USAGE,
    "indexer.sources.dump_files.DumpError": EXIT_USAGE,
    "indexer.sources.dump_fetch.FetchError": EXIT_FAILURE,
    "indexer.store.watchlist.WatchError": EXIT_USAGE,
    "indexer.web.bind.BindError": EXIT_USAGE,
    "indexer.analysis.curators.CuratorError": EXIT_USAGE,
    "indexer.output.files.TargetExists": EXIT_USAGE,
    "indexer.output.bag.BagInvalid": EXIT_FAILURE,
    "indexer.output.bag.PackageError": EXIT_FAILURE,
    "indexer.output.files.OutputError": EXIT_USAGE,  # a destination that cannot be written, whatever the format
    "indexer.analysis.curation.NotFoundError": EXIT_FAILURE,
    "indexer.analysis.curators.UnknownCurator": EXIT_FAILURE,
    "indexer.db.database.DatabaseError": EXIT_FAILURE,
    "indexer.db.embedded.EmbeddedError": EXIT_FAILURE,
}


def exit_code_of(exc: BaseException) -> int | None:
    """The exit code of a typed library error (its own class, else the
    nearest class it derives from, in `EXIT_CODES`), None for anything else."""
    for cls in type(exc).__mro__:
        code = EXIT_CODES.get(f"{cls.__module__}.{cls.__qualname__}")
        if code is not None:
            return code
    return None


class UserError(click.ClickException):
    """A problem the user can fix; printed as one line without a traceback.
    Control characters are escaped: a message may quote upstream text (a
    hostile server's reason phrase, a title)."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE):
        super().__init__(terminal_safe(message))
        self.exit_code = exit_code


def as_user_error(exc: BaseException) -> UserError | None:
    """The UserError for a typed library error, or None for anything else."""
    code = exit_code_of(exc)
    return None if code is None else UserError(str(exc), code)


class App:
    """Per-invocation state: settings, and the database once it is needed."""

    def __init__(self, overrides: dict, config_file: str | None, quiet: bool):
        self.overrides = {k: v for k, v in overrides.items() if v is not None}
        self.config_file = config_file
        self.quiet = quiet
        self.sync_budget: dict = {}
        self._settings: Settings | None = None
        self._db: Database | None = None

    def note(self, message: str) -> None:
        """A line for people on stderr (silenced by --quiet)."""
        if not self.quiet:
            click.echo(message, err=True)

    def settings(self, **more) -> Settings:
        if more:
            self.overrides.update({k: v for k, v in more.items() if v is not None})
            self._settings = None
        if self._settings is None:
            self._settings = load_settings(self.overrides, self.config_file)
        return self._settings

    def db(self, migrate: bool = True) -> Database:
        if self._db is None:
            from ..db import open_database  # here: `--help`, `config` and the like need no database driver

            self._db = open_database(self.settings(), echo=self.note, migrate=migrate)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()
            if self._db.embedded is not None:
                self._db.embedded.release()
            self._db = None


pass_app = click.make_pass_decorator(App)
