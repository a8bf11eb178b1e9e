"""`mbindex db upgrade|downgrade|current`: the schema's Alembic migrations."""

from __future__ import annotations

import click

from ...db import DatabaseError
from ..app import EXIT_FAILURE, EXIT_USAGE, App, UserError, pass_app


@click.group()
def db():
    """Database schema migrations (Alembic)."""


def _migrate(app: App, direction: str, revision: str, exit_code: int, **options) -> None:
    database = app.db(migrate=False)
    try:
        getattr(database, direction)(revision, **options)
    except DatabaseError:  # typed, with its own message and exit code (app.EXIT_CODES)
        raise
    except Exception as exc:  # Alembic raises plain exceptions for bad revisions
        raise UserError(f"{direction} failed: {exc}", exit_code) from None
    click.echo(f"schema at {database.current_revision() or 'base (empty)'}")


@db.command("upgrade")
@click.argument("revision", default="head")
@click.option("--force", is_flag=True,
              help="Create the mbindex tables even in a database holding another application's tables.")
@pass_app
def db_upgrade(app: App, revision, force):
    """Migrate the schema up to REVISION (default: the latest).

    A database with tables of another application and no mbindex schema is
    refused (exit 2) unless --force."""
    _migrate(app, "upgrade", revision, EXIT_FAILURE, force=force)


@db.command("downgrade")
@click.argument("revision")
@pass_app
def db_downgrade(app: App, revision):
    """Migrate the schema down to REVISION ('base' removes every table: data is lost)."""
    _migrate(app, "downgrade", revision, EXIT_USAGE)


@db.command("current")
@pass_app
def db_current(app: App):
    """Show the schema revision of the database and the latest one (another
    application's database is refused, exit 2, as by every command)."""
    database = app.db(migrate=False)
    try:
        current = database.current_revision()
    except Exception as exc:  # a connection or permission problem, said in one line
        raise UserError(f"cannot read schema revision: {exc}") from None
    if current is None:
        database.check_not_foreign()  # ForeignDatabase: its tables named, exit 2
    head = database.head_revision()
    state = "up to date" if current == head else ("empty" if current is None else "needs `mbindex db upgrade`")
    click.echo(f"database: {database.display_url}\ncurrent:  {current or '(none)'}\nlatest:   {head}\nstate:    {state}")
