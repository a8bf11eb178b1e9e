"""Shared fixtures: a real PostgreSQL, a clean migrated database per test,
and a real local HTTP server replaying recorded ws/2 responses.

PostgreSQL comes from MBINDEX_TEST_DATABASE_URL when set (CI points it at
the machine's server); otherwise an embedded server is started for the
session in a short private temporary directory.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from dump_server import DumpServer
from helpers import WS2, dump_line, release_doc, write_archive
from indexer.cli import cli
from indexer.config import load_settings
from indexer.db import Database, EmbeddedPostgres, normalise_url
from indexer.sources.ws2 import Client
from replay_server import ReplayServer


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow (long crash loops)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow; run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# --- PostgreSQL ----------------------------------------------------------------


class PgServer:
    """Admin access to a server on which tests create their own databases."""

    def __init__(self, admin_url: str):
        self.admin_url = normalise_url(admin_url)
        url = make_url(self.admin_url)
        self.conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.url = url
        self._counter = itertools.count()
        self.prefix = f"mbxt_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.template = None

    def execute(self, sql: str) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(sql)

    def url_for(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def make_template(self) -> None:
        name = f"{self.prefix}_tmpl"
        self.execute(f'CREATE DATABASE "{name}"')
        db = Database(self.url_for(name))
        db.upgrade("head")  # the template is built by the Alembic migrations
        db.dispose()
        self.template = name

    def create(self, migrated=True) -> str:
        name = f"{self.prefix}_{next(self._counter)}"
        if migrated:
            self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        else:
            self.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server():
    external = os.environ.get("MBINDEX_TEST_DATABASE_URL")
    embedded = None
    tmp = None
    if external:
        server = PgServer(external)
    else:
        tmp = tempfile.mkdtemp(prefix="mbxt", dir="/tmp")
        embedded = EmbeddedPostgres(Path(tmp))
        server = PgServer(embedded.acquire().replace("/mbindex?", "/postgres?"))
    server.make_template()
    yield server
    server.drop(server.template)
    if embedded is not None:
        embedded.release()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def database_url(pg_server):
    name = pg_server.create()
    yield pg_server.url_for(name)
    pg_server.drop(name)


@pytest.fixture
def empty_database_url(pg_server):
    """A database with no schema at all (for migration tests)."""
    name = pg_server.create(migrated=False)
    yield pg_server.url_for(name)
    pg_server.drop(name)


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


def _another_database(pg_server):
    name = pg_server.create()
    database = Database(pg_server.url_for(name))
    yield database
    database.dispose()
    pg_server.drop(name)


@pytest.fixture
def db2(pg_server):
    """A second migrated database beside `db` (parity tests)."""
    yield from _another_database(pg_server)


@pytest.fixture
def db3(pg_server):
    """A third one."""
    yield from _another_database(pg_server)


# --- ws/2 replay -------------------------------------------------------------


@pytest.fixture
def replay():
    with ReplayServer() as server:
        server.load_dir(WS2)
        yield server


@pytest.fixture
def settings(replay, database_url):
    return load_settings(
        {"ws_url": replay.url, "contact": "tests@example.org", "rate": 0, "database_url": database_url,
         "timeout": 2, "retries": 3},
        environ={},
    )


@pytest.fixture
def client(settings):
    return Client(settings, sleep=lambda s: None)


@pytest.fixture
def cli_env(replay, database_url, tmp_path):
    """Environment for CliRunner: isolated config, replay server, test database."""
    return {
        "MBINDEX_DATABASE_URL": database_url,
        "MBINDEX_WS_URL": replay.url,
        "MBINDEX_CONTACT": "tests@example.org",
        "MBINDEX_RATE": "0",
        "MBINDEX_TIMEOUT": "2",
        "MBINDEX_RETRIES": "2",
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
    }


@pytest.fixture
def run_cli(cli_env):
    def run(*args, env=None, input=None):
        runner = CliRunner()
        merged = dict(cli_env, **(env or {}))
        return runner.invoke(cli, list(args), env=merged, input=input, catch_exceptions=False)

    return run


@pytest.fixture
def dump_server():
    """The local JSON-dump directory (`dump_server.py`): LATEST, checksum
    files and archives as the tests publish them."""
    with DumpServer() as s:
        yield s


@pytest.fixture
def recorded_dump(tmp_path) -> bytes:
    """A release.tar.xz of the recorded release documents (tests/fixtures/ws2/release),
    laid out as the official dump is."""
    releases = sorted(p.stem for p in (WS2 / "release").glob("*.json"))
    return write_archive(tmp_path / "made.tar.xz", [dump_line(release_doc(m)) for m in releases]).read_bytes()
