"""mbindex's Alembic migrations (installed as `indexer.migrations`).

`HEAD` is the newest revision in `versions/`: every command compares it
with the database's revision before it runs, and reading it here spares
each start the import of Alembic and of every migration script (a tenth of
a second); tests/test_migrations.py checks it against Alembic's own head.
A new migration updates it.
"""

HEAD = "0013"
