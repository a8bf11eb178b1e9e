"""Database access: which server, the engine, sessions, migrations, locks.

With no database URL configured we start the embedded server (pgembed); with
one we use that server.  Schema changes go through Alembic only.  An empty
database is migrated automatically on first use; a database at an older
revision is refused until `mbindex db upgrade` is run, so that an upgrade of
a production mirror is always a deliberate act.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Callable, Iterator

import psycopg
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from .. import migrations
from ..config import Settings, mask_url
from .embedded import EmbeddedPostgres

# the top-level migrations/ folder of the source tree, installed as the
# package indexer.migrations (setup.cfg's package_dir): found the same way
# from a checkout, an editable install and a wheel
MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent

# advisory lock keys (pg_try_advisory_lock bigint)
SYNC_LOCK = 0x6D62_6978_0001  # "mbix" + 1: one writer (sync/import) at a time


class DatabaseError(RuntimeError):
    """A database problem the user can act on; the message says how."""


class BadDatabaseURL(DatabaseError):
    """The configured URL itself is wrong (a configuration error, exit 2)."""


class ForeignDatabase(DatabaseError):
    """The database holds another application's tables or migrations and no
    mbindex schema: it is left alone (exit 2, a wrong database URL)."""


class WriterBusy(DatabaseError):
    """Another mbindex process holds the writer lock (exit 4)."""


class WriterLockLost(DatabaseError):
    """The session holding our writer lock ended (connection dropped or
    terminated), so another writer may run now: this one stops (exit 4)."""


def normalise_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except Exception:
        raise BadDatabaseURL(f"database URL is not valid: {mask_url(url)}") from None
    if parsed.get_backend_name() != "postgresql":
        raise BadDatabaseURL(f"only PostgreSQL is supported, got {parsed.get_backend_name()!r}")
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


#: seconds to wait for a database connection when the settings give none
DEFAULT_CONNECT_TIMEOUT = 10


class Database:
    """One engine and session factory for the process.

    Every connection attempt is bounded by `connect_timeout` seconds (the
    libpq parameter, which psycopg enforces over the whole start-up exchange,
    at least 2 s), so a host that accepts and never answers fails with a
    message instead of hanging; a `connect_timeout` in the URL itself wins."""

    def __init__(self, url: str, embedded: EmbeddedPostgres | None = None,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT):
        self.url = normalise_url(url)
        self.embedded = embedded
        connect_args = {}
        if "connect_timeout" not in make_url(self.url).query:
            connect_args["connect_timeout"] = max(2, math.ceil(connect_timeout))
        self.engine: Engine = create_engine(self.url, pool_pre_ping=True, future=True, connect_args=connect_args)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # the writer lock while this process holds it: every session commits
        # only after making sure it is still ours (WriterLock.check)
        self.writer: WriterLock | None = None
        event.listen(self.sessions, "before_commit", lambda session: self.check_writer())

    def check_writer(self) -> None:
        """Raise WriterLockLost if this process took the writer lock and has
        lost it since; writers call it right before each commit."""
        if self.writer is not None:
            self.writer.check()

    @property
    def display_url(self) -> str:
        return mask_url(self.url)

    def session(self) -> Session:
        return self.sessions()

    def dispose(self) -> None:
        self.engine.dispose()

    # --- migrations ---------------------------------------------------------

    def alembic_config(self):
        """Alembic's configuration for this database (Alembic is imported
        here, when migrating, not at every start)."""
        from alembic.config import Config  # imported to migrate, not at every start

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["database_url"] = self.url
        return cfg

    def upgrade(self, revision: str = "head", force: bool = False) -> None:
        """Migrate up to `revision`.  A database holding another
        application's tables is refused (ForeignDatabase) unless `force`,
        which creates the mbindex tables beside them."""
        if not force:
            self.check_not_foreign()
        from alembic import command  # imported to migrate, not at every start

        command.upgrade(self.alembic_config(), revision)

    def downgrade(self, revision: str) -> None:
        from alembic import command  # imported to migrate, not at every start

        command.downgrade(self.alembic_config(), revision)

    def current_revision(self) -> str | None:
        """The revision the database is at (Alembic's `alembic_version`
        table, found on the search path as Alembic finds it), None for a
        database without one."""
        with self.engine.connect() as conn:
            if conn.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None:
                return None
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        if len(versions) > 1:  # mbindex's history has one line: this is no database of ours as it stands
            raise DatabaseError(f"database {self.display_url} records several schema revisions "
                                f"({', '.join(sorted(versions))}); mbindex keeps one")
        return versions[0] if versions else None

    def head_revision(self) -> str:
        """The newest revision this mbindex knows (`migrations.HEAD`)."""
        return migrations.HEAD

    def foreign_tables(self) -> list[str]:
        """Tables and views outside the system schemas (schema.name), when
        the database records no mbindex revision; [] for an mbindex database."""
        if self.current_revision() is not None:
            return []
        with self.engine.connect() as conn:
            return list(conn.execute(text(_FOREIGN_TABLES)).scalars())

    def check_not_foreign(self) -> None:
        """Raise ForeignDatabase for another application's database: tables
        but no mbindex revision."""
        tables = self.foreign_tables()
        if tables:
            shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
            raise ForeignDatabase(
                f"database {self.display_url} has {len(tables)} table(s) of another application ({shown}) and "
                "no mbindex schema; refusing to touch it: use an empty database "
                "(or `mbindex db upgrade --force` to create the mbindex tables beside them)"
            )

    def ensure_schema(self) -> None:
        """Migrate an empty database; refuse an outdated or a foreign one."""
        try:
            current = self.current_revision()
        except OperationalError as exc:
            raise DatabaseError(f"cannot connect to {self.display_url}: {_first_line(exc)}") from None
        head = self.head_revision()
        if current == head:
            return
        if current is None:
            self.upgrade("head")  # refuses a database holding other tables
            return
        raise DatabaseError(
            f"database schema is at revision {current}, this mbindex needs {head}: run `mbindex db upgrade`"
        )

    # --- locks --------------------------------------------------------------

    @contextlib.contextmanager
    def writer_lock(self, what: str, on_acquire: Callable[[Connection], None] | None = None) -> Iterator[WriterLock]:
        """Only one sync/import writes at a time; a second one fails fast
        with WriterBusy.  `on_acquire(conn)` runs once the lock is ours
        (runs.writer uses it to close runs a killed holder left open).
        While held, the lock is `self.writer` and every session commit checks
        it (WriterLockLost once its session is gone); releasing a lost lock is
        quiet: it died with its session."""
        if self.writer is not None:
            raise WriterBusy(f"this process already holds the writer lock ({self.writer.what}); {what} not started")
        lock = WriterLock(self.engine.raw_connection(), what)
        try:
            if not lock.acquire():
                raise WriterBusy(
                    f"another mbindex sync or import is running on this database; {what} not started"
                )
            if on_acquire is not None:
                with self.engine.begin() as conn:
                    on_acquire(conn)
            self.writer = lock
            try:
                yield lock
            finally:
                self.writer = None
        finally:
            lock.release()


class WriterLock:
    """The writer lock: a session-level advisory lock on a connection of its
    own, in autocommit and never reconnected (a new session would not hold
    the lock).  The lock lives exactly as long as that session, so `check()`
    asks the session whether it is alive.  It runs right before each commit
    (Database.check_writer), so a writer whose lock connection was dropped or
    terminated stops before its next write instead of writing beside the next
    holder: at most the commit in flight at that moment lands after the loss."""

    def __init__(self, pooled, what: str):
        self._pooled = pooled  # SQLAlchemy's pool entry: invalidated at release, never reused
        self._pg = pooled.driver_connection
        self._pg.autocommit = True
        self.what = what
        self.lost = False

    def acquire(self) -> bool:
        return self._pg.execute("SELECT pg_try_advisory_lock(%s)", (SYNC_LOCK,)).fetchone()[0]

    def check(self) -> None:
        """Raise WriterLockLost unless the lock's session is still there."""
        if not self.lost:
            try:
                self._pg.execute("SELECT 1")
            except psycopg.Error:
                self.lost = True
        if self.lost:
            raise WriterLockLost(
                f"lost the writer lock: its database connection was dropped or terminated, and another writer "
                f"may be running now; {self.what} stopped (run it again)"
            )

    def release(self) -> None:
        """Unlock and discard the connection; quiet when the session is gone."""
        try:
            if not self.lost and not self._pg.closed:
                self._pg.execute("SELECT pg_advisory_unlock(%s)", (SYNC_LOCK,))
        except psycopg.Error:
            pass  # the lock died with its session
        finally:
            self._pooled.invalidate()


#: every table and view of the database but the system ones and Alembic's version table
_FOREIGN_TABLES = """
SELECT table_schema || '.' || table_name FROM information_schema.tables
WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg\\_%'
  AND table_name <> 'alembic_version'
ORDER BY 1
"""


def _first_line(exc: Exception) -> str:
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def open_database(settings: Settings, *, echo=None, migrate: bool = True) -> Database:
    """The database the settings point at, started if embedded."""
    echo = echo or (lambda msg: None)
    embedded = None
    if settings.database_url:
        url = settings.database_url
    else:
        embedded = EmbeddedPostgres(settings.data_dir, echo=echo)
        url = embedded.acquire()
        echo(f"mbindex: data in embedded PostgreSQL at {embedded.data_dir} (set MBINDEX_DATABASE_URL to use another server)")
    db = Database(url, embedded, connect_timeout=settings.connect_timeout)
    if migrate:
        db.ensure_schema()
    return db
