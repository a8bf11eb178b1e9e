"""A scratch database for a benchmark: created empty, migrated, dropped at the end."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexer.db import Database, normalise_url  # noqa: E402


@contextlib.contextmanager
def scratch_database(url: str, name: str, *, keep: bool = False):
    """Yield a migrated `Database` named `name` on the server of `url` (a role
    that may CREATE DATABASE); dropped afterwards unless `keep`."""
    admin = make_url(normalise_url(url))
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    db = Database(admin.set(database=name).render_as_string(hide_password=False))
    try:
        db.upgrade("head")
        yield db
    finally:
        db.dispose()
        if not keep:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
