"""The writer lock survives a dropped database connection (issue 10, item 4).

The lock is a session-level advisory lock: it dies with its session.  A writer
whose lock connection is terminated (pg_terminate_backend, as a server restart
or a network cut would) must notice before its next write, stop with a clear
one-line message (exit 4), mark its run `failed`, and write nothing more,
while the next writer takes the lock normally.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from helpers import RICH, full_doc, store
from indexer import runs
from indexer.db import Database, WriterLockLost
from indexer.db.database import SYNC_LOCK
from indexer.sync.releases import sync_releases

# a bigint advisory lock appears in pg_locks as classid (high 32 bits), objid (low 32 bits), objsubid 1
_HOLDER_SQL = ("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
               "AND classid::bigint = :hi AND objid::bigint = :lo "
               "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")


def lock_holders(db: Database) -> list[int]:
    with db.engine.connect() as conn:
        return list(conn.execute(text(_HOLDER_SQL), {"hi": SYNC_LOCK >> 32, "lo": SYNC_LOCK & 0xFFFFFFFF}).scalars())


def terminate_lock_session(db: Database) -> int:
    """Ends the backend holding the writer lock; returns its pid."""
    pids = lock_holders(db)
    assert len(pids) == 1, pids
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pids[0]}).scalar()
    for _ in range(50):  # the lock goes with the backend, a moment later
        if not lock_holders(db):
            return pids[0]
        time.sleep(0.05)
    raise AssertionError("the terminated session still holds the lock")


def runs_of(db: Database) -> list[tuple[str, str | None]]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT status, error FROM sync_run ORDER BY id"))]


def count(db: Database, sql: str) -> int:
    with db.engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


def test_a_writer_that_lost_its_lock_stops_before_writing_and_its_run_fails(db):
    with runs.writer(db, "sync"):
        run = runs.Run(db, "sync", "release", RICH["c9d52105"])
        terminate_lock_session(db)
        with pytest.raises(WriterLockLost, match="lost the writer lock"):
            store(db, full_doc(RICH["c9d52105"]))  # every session commit checks the lock first
        with pytest.raises(WriterLockLost):
            run.save()
        run.finish(runs.INTERRUPTED, error="KeyboardInterrupt")  # what a pipeline's guard would say
    # nothing was written after the loss; the run says why it ended
    assert count(db, "SELECT count(*) FROM release") == 0
    [(status, error)] = runs_of(db)
    assert status == "failed" and "lost the writer lock" in error
    # released without a traceback, and the lock is free for the next writer
    assert db.writer is None and lock_holders(db) == []
    with runs.writer(db, "sync"):
        assert len(lock_holders(db)) == 1
        store(db, full_doc(RICH["c9d52105"]))
    assert count(db, "SELECT count(*) FROM release") == 1


def test_no_run_starts_after_the_lock_is_lost(db, client):
    with runs.writer(db, "sync"):
        terminate_lock_session(db)
        with pytest.raises(WriterLockLost):
            sync_releases(db, client, [uuid.UUID(RICH["c9d52105"])])
    assert runs_of(db) == [] and client.stats.requests == 0


def test_lock_check_passes_while_the_session_lives(db):
    with runs.writer(db, "sync") as lock:
        lock.check()
        db.check_writer()
        run = runs.Run(db, "sync", "release", "x")
        run.save()
        run.finish(runs.OK)
    assert runs_of(db) == [("ok", None)]


def test_cli_sync_losing_its_lock_exits_4_cleanly_while_a_second_sync_runs(db, replay, database_url, tmp_path):
    """The reported case: the first sync used to record `ok`, print an
    AdminShutdown traceback from pg_advisory_unlock and exit 1, with a second
    sync running beside it."""
    env = dict(os.environ, MBINDEX_DATABASE_URL=database_url, MBINDEX_WS_URL=replay.url,
               MBINDEX_CONTACT="tests@example.org", MBINDEX_RATE="0", MBINDEX_TIMEOUT="20", MBINDEX_RETRIES="0",
               XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    exe = str(Path(sys.executable).with_name("mbindex"))
    first_mbid, second_mbid = RICH["c9d52105"], RICH["b84ee12a"]
    replay.inject("slow", path_contains=first_mbid, delay=4)
    first = subprocess.Popen([exe, "sync", "release", first_mbid], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):  # until the first sync holds the lock and waits on ws/2
            if lock_holders(db) and any(first_mbid in r.path for r in replay.requests):
                break
            assert first.poll() is None, first.communicate()
            time.sleep(0.05)
        terminate_lock_session(db)
        second = subprocess.run([exe, "sync", "release", second_mbid], env=env, capture_output=True, text=True,
                                timeout=60, check=False)
        assert second.returncode == 0, second.stderr
        _, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 4, err
    assert "Traceback" not in err and "lost the writer lock" in err
    assert len(err.strip().splitlines()) == 1, err
    # the first wrote nothing after losing the lock; the second stored its release
    with db.engine.connect() as conn:
        stored = set(map(str, conn.execute(text("SELECT mbid FROM release")).scalars()))
    assert stored == {second_mbid}
    statuses = [status for status, _ in runs_of(db)]
    assert sorted(statuses) == ["failed", "ok"]
