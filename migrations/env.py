"""Alembic environment: the URL comes from mbindex's own configuration.

`indexer.db.Database.alembic_config()` passes the URL in
`config.attributes["database_url"]`; run through the `alembic` command line
instead, the same settings (MBINDEX_DATABASE_URL / config file / embedded
server) are resolved here.
"""

from alembic import context
from sqlalchemy import create_engine, pool

from indexer.db.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return url
    # lazy: only the `alembic` command line needs mbindex's own settings
    from indexer.config import load_settings
    from indexer.db import normalise_url, open_database

    settings = load_settings()
    if settings.database_url:
        return normalise_url(settings.database_url)
    return open_database(settings, migrate=False).url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
