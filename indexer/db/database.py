"""Database access: which server, the engine, sessions, migrations, locks.

With no database URL configured we start the embedded server (pgembed); with
one we use that server.  Schema changes go through Alembic only.  An empty
database is migrated automatically on first use; a database at an older
revision is refused until `mbindex db upgrade` is run, so that an upgrade of
a production mirror is always a deliberate act.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
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


class WriterBusy(DatabaseError):
    """Another mbindex process holds the writer lock (exit 4)."""


def normalise_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except Exception:
        raise BadDatabaseURL(f"database URL is not valid: {mask_url(url)}") from None
    if parsed.get_backend_name() != "postgresql":
        raise BadDatabaseURL(f"only PostgreSQL is supported, got {parsed.get_backend_name()!r}")
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


class Database:
    """One engine and session factory for the process."""

    def __init__(self, url: str, embedded: EmbeddedPostgres | None = None):
        self.url = normalise_url(url)
        self.embedded = embedded
        self.engine: Engine = create_engine(self.url, pool_pre_ping=True, future=True)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def display_url(self) -> str:
        return mask_url(self.url)

    def session(self) -> Session:
        return self.sessions()

    def dispose(self) -> None:
        self.engine.dispose()

    # --- migrations ---------------------------------------------------------

    def alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["database_url"] = self.url
        return cfg

    def upgrade(self, revision: str = "head") -> None:
        command.upgrade(self.alembic_config(), revision)

    def downgrade(self, revision: str) -> None:
        command.downgrade(self.alembic_config(), revision)

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str:
        return ScriptDirectory.from_config(self.alembic_config()).get_current_head()

    def ensure_schema(self) -> None:
        """Migrate an empty database; refuse an outdated one."""
        try:
            current = self.current_revision()
        except OperationalError as exc:
            raise DatabaseError(f"cannot connect to {self.display_url}: {_first_line(exc)}") from None
        head = self.head_revision()
        if current == head:
            return
        if current is None:
            with self.engine.connect() as conn:
                tables = inspect(conn).get_table_names()
            if tables:
                raise DatabaseError(
                    f"database {self.display_url} has tables but no mbindex schema version; "
                    "refusing to touch it (use an empty database)"
                )
            self.upgrade("head")
            return
        raise DatabaseError(
            f"database schema is at revision {current}, this mbindex needs {head}: run `mbindex db upgrade`"
        )

    # --- locks --------------------------------------------------------------

    @contextlib.contextmanager
    def writer_lock(self, what: str, on_acquire: Callable[[Connection], None] | None = None) -> Iterator[None]:
        """Only one sync/import writes at a time; a second one fails fast
        with WriterBusy.  `on_acquire(conn)` runs once the lock is ours
        (runs.writer uses it to close runs a killed holder left open)."""
        conn = self.engine.connect()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": SYNC_LOCK}).scalar()
            conn.commit()
            if not got:
                raise WriterBusy(
                    f"another mbindex sync or import is running on this database; {what} not started"
                )
            if on_acquire is not None:
                on_acquire(conn)
                conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SYNC_LOCK})
                conn.commit()
        finally:
            conn.close()


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
    db = Database(url, embedded)
    if migrate:
        db.ensure_schema()
    return db
