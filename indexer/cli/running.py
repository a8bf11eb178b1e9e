"""How a command runs a ws/2 job: this invocation's client, its database and
the writer lock, shared by `sync`, `sync --watched`, `enrich` and `demo`.

Only library verbs that take the `Database` are called here (each runs its
own transactions); nothing here opens a session.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable

from .. import runs
from ..db import Database
from ..sources.ws2 import Client
from ..sync.enrich import EnrichResult, enrich, listenbrainz_for
from ..sync.pipeline import SyncResult
from .app import App


def client(app: App) -> Client:
    """A ws/2 client with this invocation's settings and sync budget
    (`--max-requests` / `--time-budget` of the `sync` group)."""
    return Client(app.settings(), **app.sync_budget)


def run_sync(app: App, work: Callable[[Database, Client], SyncResult]) -> SyncResult:
    """One sync under the writer lock, with this invocation's client and database."""
    ws = client(app)
    database = app.db()
    with runs.writer(database, "sync"):
        return work(database, ws)


def run_enrich(app: App, ws: Client, database: Database, releases=None) -> EnrichResult:
    """One enrich run with this invocation's settings (the caller holds the writer lock)."""
    settings = app.settings()
    return enrich(database, ws, listenbrainz_for(ws), releases=releases,
                  max_age=dt.timedelta(days=settings.facts_max_age_days), log=app.note)
