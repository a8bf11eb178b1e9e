"""Where the mirror lives: the engine and sessions, the embedded server, the
schema (models) and its Alembic migrations, and the writer lock.

Nothing here knows MusicBrainz; `store`, `runs` and `analysis` write the SQL.
"""

from .database import (
    BadDatabaseURL,
    Database,
    DatabaseError,
    ForeignDatabase,
    WriterBusy,
    WriterLock,
    WriterLockLost,
    normalise_url,
    open_database,
)
from .embedded import EmbeddedError, EmbeddedPostgres

__all__ = [
    "BadDatabaseURL",
    "Database",
    "DatabaseError",
    "EmbeddedError",
    "EmbeddedPostgres",
    "ForeignDatabase",
    "WriterBusy",
    "WriterLock",
    "WriterLockLost",
    "normalise_url",
    "open_database",
]
