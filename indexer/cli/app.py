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

import click

from ..analysis.curation import NotFoundError
from ..analysis.curators import CuratorError, UnknownCurator
from ..analysis.evaluation import LabelsError
from ..analysis.risk import PolicyError
from ..config import ConfigError, Settings, load_settings
from ..db import (
    BadDatabaseURL,
    Database,
    DatabaseError,
    EmbeddedError,
    ForeignDatabase,
    WriterBusy,
    WriterLockLost,
    open_database,
)
from ..output.bag import BagInvalid, PackageError
from ..output.files import OutputError, TargetExists
from ..output.tables import terminal_safe
from ..sources.dump_fetch import FetchError
from ..sources.dump_files import DumpError
from ..sources.ws2 import ClientSetupError
from ..store.watchlist import WatchError
from ..web.bind import BindError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_PARTIAL, EXIT_LOCKED, EXIT_QUARANTINED = 0, 1, 2, 3, 4, 5

#: typed library errors and their exit codes, most specific first; the
#: message is the error's own (written to be read by a user)
EXIT_CODES: list[tuple[type[BaseException], int]] = [
    (WriterBusy, EXIT_LOCKED),
    (WriterLockLost, EXIT_LOCKED),
    (BadDatabaseURL, EXIT_USAGE),
    (ForeignDatabase, EXIT_USAGE),
    (ConfigError, EXIT_USAGE),
    (ClientSetupError, EXIT_USAGE),
    (PolicyError, EXIT_USAGE),
    (LabelsError, EXIT_USAGE),
    (DumpError, EXIT_USAGE),
    (FetchError, EXIT_FAILURE),
    (WatchError, EXIT_USAGE),
    (BindError, EXIT_USAGE),
    (CuratorError, EXIT_USAGE),
    (TargetExists, EXIT_USAGE),
    (BagInvalid, EXIT_FAILURE),
    (PackageError, EXIT_FAILURE),
    (OutputError, EXIT_USAGE),  # a destination that cannot be written, whatever the format
    (NotFoundError, EXIT_FAILURE),
    (UnknownCurator, EXIT_FAILURE),
    (DatabaseError, EXIT_FAILURE),
    (EmbeddedError, EXIT_FAILURE),
]


class UserError(click.ClickException):
    """A problem the user can fix; printed as one line without a traceback.
    Control characters are escaped: a message may quote upstream text (a
    hostile server's reason phrase, a title)."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE):
        super().__init__(terminal_safe(message))
        self.exit_code = exit_code


def as_user_error(exc: BaseException) -> UserError | None:
    """The UserError for a typed library error, or None for anything else."""
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return UserError(str(exc), code)
    return None


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
            self._db = open_database(self.settings(), echo=self.note, migrate=migrate)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()
            if self._db.embedded is not None:
                self._db.embedded.release()
            self._db = None


pass_app = click.make_pass_decorator(App)
