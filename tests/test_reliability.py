"""Reliability of the ws/2 sync path, end to end.

Everything here runs against the real replay HTTP server (tests/replay_server.py)
with injected faults, through the real CLI (CliRunner in-process, or the
installed `mbindex` script in subprocesses for crashes and concurrency), on a
real PostgreSQL database per test.  What it checks:

1. a fault matrix (503 with/without Retry-After, 502, 500, 429, reset, slow
   beyond --timeout, truncated, malformed JSON, HTML error pages, XML): a
   transient burst is retried and recovered, a permanent fault ends the run
   as failed (exit 1, clear message); nothing stored before is lost and the
   database stays consistent;
2. merges (301), deletions (404 → tombstone, never deleted), invalid ids (400);
3. concurrency: overlapping syncs (exit 4 at once), score/flagged beside a sync;
4. bad input wherever a user types: clear errors, documented exit codes, no
   traceback, database unchanged;
5. security: the database password is never printed or stored; no shell.

The tests count what they tried in TALLY; the counts are printed at the end
of the module (run with -s to see them) and written as JSON to the file named
by MBINDEX_RELIABILITY_REPORT when set (docs/reliability.md quotes them).
"""

from __future__ import annotations

import ast
import collections
import copy
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

import indexer.sources.ws2 as mb
from helpers import RICH, release_doc
from indexer.sources.ws2 import BadRequest
from replay_server import INVALID_MBID

PACKAGE = Path(__file__).resolve().parent.parent / "indexer"
MBINDEX = Path(sys.executable).parent / "mbindex"

# releases stored before every fault; TARGET is the one synced under faults
SEED = [RICH["b84ee12a"], RICH["12195c41"], "59211ea4-ffd2-4ad9-9a4e-941d3148024a"]
TARGET = RICH["94ad3a58"]
OTHERS = [  # fixture releases that are never seeded
    "942b9e7b-3a43-4f22-b200-ab69ee302d16",
    "987f3e2d-22a6-4a4f-b840-c80c26b8b91a",
    "f17a0f30-8eb1-4322-b54e-fb71edb78d7c",
    "6c4f766f-3351-4c10-a53d-b119452c27b2",
]
ARTIST = "5b11f4ce-a62d-471e-81fc-a69a8278c7da"

TIMEOUT = 0.4  # --timeout of the faulted runs (seconds)
RETRIES = 2  # --retries of the faulted runs: 3 attempts in all
SLOW = 1.2  # delay of the "slow" fault, well beyond TIMEOUT

# the tables whose contents must survive every fault
KEPT = ("release", "medium", "track", "release_label", "document_revision", "document", "redirect")

TALLY: collections.Counter = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_tally():
    started = time.monotonic()
    yield
    report = dict(sorted(TALLY.items()), seconds=round(time.monotonic() - started, 1),
                  date=dt.date.today().isoformat())
    print("\nreliability tally:", json.dumps(report, indent=1))
    target = os.environ.get("MBINDEX_RELIABILITY_REPORT")
    if target:
        Path(target).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


# --- helpers ---------------------------------------------------------------------


def conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# when we last saw a row, and surrogate keys (a new version of a release replaces its
# media, tracks and labels wholesale, with new ids), are not part of what is kept
VOLATILE = ("last_seen", "id", "medium_id")


def snapshot(url: str, tables=KEPT, drop=VOLATILE) -> dict[str, list[str]]:
    """Every row of `tables` as canonical JSON (minus the `drop` columns), sorted."""
    out = {}
    with psycopg.connect(conninfo(url)) as conn:
        for table in tables:
            minus = "".join(f" - '{c}'" for c in drop)
            rows = conn.execute(f"SELECT (to_jsonb(t){minus})::text FROM {table} t").fetchall()
            out[table] = sorted(r[0] for r in rows)
    return out


def all_tables(url: str) -> list[str]:
    with psycopg.connect(conninfo(url)) as conn:
        return [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]


def full_snapshot(url: str) -> dict[str, list[str]]:
    """Every row of every table (the table list included): for 'unchanged' checks."""
    return snapshot(url, tables=all_tables(url), drop=())


def lost_rows(before: dict, after: dict) -> int:
    """Rows of `before` that are not in `after` with the same contents; tallied."""
    lost = 0
    for table, rows in before.items():
        missing = collections.Counter(rows) - collections.Counter(after.get(table, []))
        lost += sum(missing.values())
        TALLY["rows_checked"] += len(rows)
    TALLY["rows_lost"] += lost
    return lost


def counts(url: str, tables=("release", "medium", "track", "release_label", "document_revision")) -> dict:
    with psycopg.connect(conninfo(url)) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


RUNNING = "run left 'running' after the command returned"
CONSISTENCY = {
    "release without a current document": """
        SELECT r.mbid FROM release r LEFT JOIN document d ON d.entity_type = 'release' AND d.mbid = r.mbid
        WHERE d.mbid IS NULL""",
    "document pointing at another entity's revision": """
        SELECT d.mbid FROM document d JOIN document_revision v ON v.id = d.revision_id
        WHERE v.entity_type <> d.entity_type OR v.mbid <> d.mbid OR v.hash <> d.hash""",
    "wrong revision_count": """
        SELECT d.mbid FROM document d WHERE d.revision_count <> (SELECT count(*) FROM document_revision v
        WHERE v.entity_type = d.entity_type AND v.mbid = d.mbid)""",
    "release.medium_count disagrees with medium rows": """
        SELECT r.mbid FROM release r
        WHERE r.medium_count <> (SELECT count(*) FROM medium m WHERE m.release_mbid = r.mbid)""",
    "release.track_count disagrees with its media": """
        SELECT r.mbid FROM release r
        WHERE r.track_count <> (SELECT coalesce(sum(m.track_count), 0) FROM medium m WHERE m.release_mbid = r.mbid)""",
    "medium.track_count disagrees with its track rows": """
        SELECT m.id FROM medium m JOIN (SELECT medium_id, count(*) FILTER (WHERE kind <> 'pregap') AS n
        FROM track GROUP BY medium_id) t ON t.medium_id = m.id WHERE t.n <> m.track_count""",
    "track of another release's medium": """
        SELECT t.id FROM track t JOIN medium m ON m.id = t.medium_id WHERE t.release_mbid <> m.release_mbid""",
    "release row disagrees with its current document": """
        SELECT r.mbid FROM release r
        JOIN document d ON d.entity_type = 'release' AND d.mbid = r.mbid
        JOIN document_revision v ON v.id = d.revision_id
        WHERE v.doc->>'title' <> r.title OR coalesce(json_array_length(v.doc->'media'), 0) <> r.medium_count""",
    "tombstone on release but not on document (or back)": """
        SELECT r.mbid FROM release r JOIN document d ON d.entity_type = 'release' AND d.mbid = r.mbid
        WHERE (r.deleted_at IS NULL) <> (d.deleted_at IS NULL)""",
    RUNNING: "SELECT id FROM sync_run WHERE status = 'running'",
}


def inconsistencies(url: str, skip=()) -> dict:
    TALLY["consistency_checks"] += 1
    problems = {}
    with psycopg.connect(conninfo(url)) as conn:
        for name, sql in CONSISTENCY.items():
            if name in skip:
                continue
            rows = conn.execute(sql).fetchall()
            if rows:
                problems[name] = [str(r[0]) for r in rows]
    return problems


def runs(url: str) -> list[dict]:
    with psycopg.connect(conninfo(url)) as conn:
        cur = conn.execute("SELECT * FROM sync_run ORDER BY id")
        names = [c.name for c in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]


def stored(url: str, mbid: str) -> dict | None:
    with psycopg.connect(conninfo(url)) as conn:
        cur = conn.execute("SELECT * FROM release WHERE mbid = %s", (mbid,))
        row = cur.fetchone()
        return dict(zip([c.name for c in cur.description], row)) if row else None


def expected_rows(doc: dict) -> dict:
    """Rows one lookup document must give, counted from the document itself."""
    media = doc.get("media") or []
    return {
        "release": 1,
        "medium": len(media),
        "track": sum(len(m.get("tracks") or []) + len(m.get("data-tracks") or []) + (1 if m.get("pregap") else 0)
                     for m in media),
        "release_label": len(doc.get("label-info") or []),
        "document_revision": 1,
    }


def no_traceback(result) -> None:
    text = result.output + (getattr(result, "stderr", "") or "")
    assert "Traceback" not in text, text


@pytest.fixture
def fast_backoff(monkeypatch):
    """The real backoff_delay is computed (and logged), the CLI then sleeps 1 ms instead."""

    real = mb.backoff_delay
    log: list[tuple[int, float | None, float]] = []

    def recorded(attempt, retry_after=None, **kw):
        delay = real(attempt, retry_after, **kw)
        log.append((attempt, retry_after, delay))
        return 0.001

    monkeypatch.setattr(mb, "backoff_delay", recorded)
    return log


@pytest.fixture
def seeded(run_cli, database_url):
    result = run_cli("sync", "release", *SEED)
    assert result.exit_code == 0, result.output
    assert counts(database_url)["release"] == len(SEED)
    return database_url


def faulted_sync(run_cli, *mbids, timeout=TIMEOUT, retries=RETRIES):
    return run_cli("sync", "release", "--timeout", str(timeout), "--retries", str(retries), *mbids)


def subprocess_env(cli_env, **more) -> dict:
    env = dict(os.environ)
    env.update(cli_env)
    env.update(more)
    env.pop("MBINDEX_TEST_DATABASE_URL", None)
    return env


# --- 1. fault matrix ---------------------------------------------------------------

# name: (replay fault kind, its options, what the run's error must say)
FAULTS = {
    "503 Retry-After: 0": ("status", {"status": 503, "retry_after": 0}, "HTTP 503 from ws/2"),
    "503 no Retry-After": ("status", {"status": 503}, "HTTP 503 from ws/2"),
    "503 Retry-After: 2": ("status", {"status": 503, "retry_after": 2}, "HTTP 503 from ws/2"),
    "502": ("status", {"status": 502}, "HTTP 502 from ws/2"),
    "500": ("status", {"status": 500}, "HTTP 500 from ws/2"),
    "429 Retry-After: 1": ("status", {"status": 429, "retry_after": 1}, "HTTP 429 from ws/2"),
    "connection reset": ("reset", {}, "connection failed"),
    "slow beyond --timeout": ("slow", {"delay": SLOW}, f"no answer within {TIMEOUT:g}s"),
    "truncated body": ("truncated", {}, "IncompleteRead"),
    "malformed JSON": ("malformed", {}, "not valid JSON"),
    "HTML 502 page": ("html", {}, "HTTP 502 from ws/2"),
    "HTML page with 200": ("html", {"status": 200}, "expected JSON from ws/2, got text/html"),
    "XML (wrong content type)": ("wrong_type", {}, "expected JSON from ws/2, got text/xml"),
}


def _lookups(replay, mbid):
    return [r for r in replay.requests if r.path.rstrip("/").endswith(mbid)]


@pytest.mark.parametrize("name", list(FAULTS))
def test_transient_fault_burst_is_retried_and_recovered(name, seeded, replay, run_cli, fast_backoff):
    kind, kw, _ = FAULTS[name]
    url = seeded
    before = snapshot(url)
    before_counts = counts(url)
    replay.reset_log()
    replay.inject(kind, RETRIES, path_contains=TARGET, **kw)  # fails every retry but the last

    result = faulted_sync(run_cli, SEED[0], TARGET)
    TALLY["fault_runs_transient"] += 1
    no_traceback(result)
    assert result.exit_code == 0, result.output
    assert ": ok;" in result.output and "inserted 1" in result.output and "unchanged 1" in result.output

    # exactly RETRIES faulted attempts, then the good one; the stored release was asked once
    assert [r.fault for r in _lookups(replay, TARGET)] == [kind] * RETRIES + [None]
    assert [r.fault for r in _lookups(replay, SEED[0])] == [None]
    # one backoff per retry; a positive Retry-After is honoured, otherwise exponential with jitter
    assert [a for a, _, _ in fast_backoff] == list(range(1, RETRIES + 1))
    for attempt, _, delay in fast_backoff:
        if kw.get("retry_after"):
            assert delay == kw["retry_after"]
        else:
            assert 0.5 * 2 ** (attempt - 1) <= delay <= 2 ** (attempt - 1)

    run = runs(url)[-1]
    assert (run["status"], run["inserted"], run["unchanged"], run["requests"]) == ("ok", 1, 1, RETRIES + 2)
    assert run["error"] is None
    after = snapshot(url)
    assert lost_rows(before, after) == 0
    grown = {t: n - before_counts[t] for t, n in counts(url).items()}
    assert grown == expected_rows(release_doc(TARGET))
    assert stored(url, TARGET)["deleted_at"] is None
    assert inconsistencies(url) == {}


@pytest.mark.parametrize("name", list(FAULTS))
def test_permanent_fault_fails_the_run_and_loses_nothing(name, seeded, replay, run_cli, fast_backoff):
    kind, kw, message = FAULTS[name]
    url = seeded
    before = snapshot(url)
    replay.reset_log()
    replay.inject(kind, 1000, path_contains=TARGET, **kw)

    result = faulted_sync(run_cli, SEED[0], TARGET)
    TALLY["fault_runs_permanent"] += 1
    no_traceback(result)
    assert result.exit_code == 1, result.output
    assert f"sync failed: giving up after {RETRIES + 1} attempts" in result.output
    assert message in result.output
    assert [r.fault for r in _lookups(replay, TARGET)] == [kind] * (RETRIES + 1)

    run = runs(url)[-1]
    assert run["status"] == "failed" and message in run["error"] and run["finished_at"] is not None
    after = snapshot(url)
    assert lost_rows(before, after) == 0
    assert after == before  # not a row more either: no half-stored TARGET
    assert stored(url, TARGET) is None
    assert inconsistencies(url) == {}

    # the outage ends: the same command now converges
    replay.clear_faults()
    again = faulted_sync(run_cli, SEED[0], TARGET)
    assert again.exit_code == 0, again.output
    assert stored(url, TARGET) is not None and lost_rows(before, snapshot(url)) == 0
    assert inconsistencies(url) == {}


def test_faults_during_a_scope_walk(replay, run_cli, database_url, fast_backoff):
    """The browse path (sync artist): a burst on the browse page recovers; a lookup
    that never answers fails the run with every stored row kept, and once the
    outage is over the next run fetches the change it missed."""
    url = database_url
    docs = [release_doc(m) for m in SEED + [TARGET]]
    replay.add_document("artist", {"id": ARTIST, "name": "Various"})
    replay.set_browse("release", "artist", ARTIST, docs)
    ok = run_cli("sync", "artist", ARTIST)
    assert ok.exit_code == 0, ok.output
    before = snapshot(url)
    assert counts(url)["release"] == 4

    replay.inject("status", RETRIES, path_contains=f"artist={ARTIST}", status=503)
    burst = run_cli("sync", "artist", "--timeout", str(TIMEOUT), "--retries", str(RETRIES), ARTIST)
    TALLY["fault_runs_transient"] += 1
    no_traceback(burst)
    assert burst.exit_code == 0 and "unchanged 4" in burst.output, burst.output
    assert lost_rows(before, snapshot(url)) == 0

    # TARGET changes upstream: the browse shows it, so one lookup is needed; it never answers
    changed = copy.deepcopy(docs)
    changed[3]["disambiguation"] = "changed upstream"
    replay.set_browse("release", "artist", ARTIST, changed)
    replay.add_document("release", changed[3])
    replay.inject("reset", 1000, path_contains=TARGET)
    down = run_cli("sync", "artist", "--timeout", str(TIMEOUT), "--retries", str(RETRIES), ARTIST)
    TALLY["fault_runs_permanent"] += 1
    no_traceback(down)
    assert down.exit_code == 1 and "connection failed" in down.output, down.output
    run = runs(url)[-1]
    assert run["status"] == "failed" and run["scope"] == "artist"
    assert lost_rows(before, snapshot(url)) == 0
    assert all(stored(url, m)["deleted_at"] is None for m in SEED + [TARGET])  # an outage tombstones nothing
    assert stored(url, TARGET)["disambiguation"] is None
    assert inconsistencies(url) == {}

    # the outage ends: the next run must still fetch the change it could not fetch before
    replay.clear_faults()
    replay.reset_log()
    back = run_cli("sync", "artist", ARTIST)
    assert back.exit_code == 0 and "updated 1" in back.output, back.output
    assert [r.status for r in _lookups(replay, TARGET)] == [200]
    assert stored(url, TARGET)["disambiguation"] == "changed upstream"
    assert lost_rows({t: before[t] for t in ("medium", "track", "release_label", "document_revision")},
                     snapshot(url)) == 0
    assert inconsistencies(url) == {}


# --- 2. merges, deletions, invalid ids ----------------------------------------------


def test_301_merge_records_redirect_and_keeps_the_old_release(seeded, replay, run_cli):
    url = seeded
    old = str(uuid.uuid4())
    replay.add_document("release", dict(release_doc(OTHERS[0]), id=old))
    assert run_cli("sync", "release", old).exit_code == 0
    before = snapshot(url)

    replay.redirect("release", old, TARGET)  # merged upstream into TARGET: 301 to its URL
    result = run_cli("sync", "release", old)
    no_traceback(result)
    assert result.exit_code == 0 and "redirected 1" in result.output and "inserted 1" in result.output, result.output
    assert [r.status for r in replay.requests[-2:]] == [301, 200]
    with psycopg.connect(conninfo(url)) as conn:
        assert conn.execute("SELECT old_mbid::text, new_mbid::text FROM redirect").fetchall() == [(old, TARGET)]
    assert stored(url, old) is not None and stored(url, TARGET) is not None  # the old row stays
    assert lost_rows(before, snapshot(url)) == 0

    shown = run_cli("show", old, "--json")  # the mirror follows the merge
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.output)[0]
    assert info["mbid"] == TARGET and info["redirected"] is True
    again = run_cli("sync", "release", old)  # news only once
    assert again.exit_code == 0 and "redirected 0" in again.output
    assert inconsistencies(url) == {}
    TALLY["merge_cases"] += 1


def test_404_tombstones_a_stored_release_and_deletes_nothing(seeded, replay, run_cli):
    url = seeded
    gone = SEED[1]
    before = snapshot(url)
    tomb = ("deleted_at", "deleted_reason", "needs_score") + VOLATILE
    before_tomb = snapshot(url, ("release", "document"), tomb)
    replay.delete("release", gone)
    result = run_cli("sync", "release", gone, SEED[0])
    no_traceback(result)
    assert result.exit_code == 3, result.output  # partial: some items not found upstream
    assert f"not found on MusicBrainz (404): {gone}" in result.output and "tombstoned 1" in result.output
    rel = stored(url, gone)
    assert rel is not None and rel["deleted_at"] is not None and rel["deleted_reason"] == "404 on lookup"

    after = snapshot(url)
    assert lost_rows({t: before[t] for t in ("medium", "track", "release_label", "document_revision")}, after) == 0
    assert lost_rows(before_tomb, snapshot(url, ("release", "document"), tomb)) == 0  # all but the tombstone
    assert counts(url) == {t: len(before[t]) for t in counts(url)}  # nothing deleted
    run = runs(url)[-1]
    assert (run["status"], run["tombstoned"]) == ("partial", 1) and gone in run["error"]
    assert inconsistencies(url) == {}

    # a second 404 is not news; the release coming back lifts the tombstone
    assert run_cli("sync", "release", gone).exit_code == 3
    assert runs(url)[-1]["tombstoned"] == 0
    replay.add_document("release", release_doc(gone))
    back = run_cli("sync", "release", gone)
    assert back.exit_code == 0, back.output
    assert stored(url, gone)["deleted_at"] is None
    assert lost_rows({t: before[t] for t in ("document_revision",)}, snapshot(url)) == 0
    assert inconsistencies(url) == {}
    TALLY["deletion_cases"] += 1


def test_400_invalid_id_is_a_clear_error_and_not_retried(seeded, replay, run_cli, client):
    # the library asked for a non-MBID: the server's 400 comes back as BadRequest, once
    replay.reset_log()
    with pytest.raises(BadRequest, match="Invalid mbid"):
        client.get_release("not-an-mbid")
    assert [(r.status, r.fault) for r in replay.requests] == [(400, None)]
    assert client.stats.retries == 0

    # the server refuses an id the CLI accepted: exit 1, its message, no retry, nothing written
    url = seeded
    before = full_snapshot(url)
    replay.reset_log()
    replay.inject("status", 5, path_contains=TARGET, status=400, body=json.dumps(INVALID_MBID))
    result = faulted_sync(run_cli, TARGET)
    no_traceback(result)
    assert result.exit_code == 1 and "Invalid mbid." in result.output, result.output
    assert len(_lookups(replay, TARGET)) == 1
    after = full_snapshot(url)
    assert runs(url)[-1]["status"] == "failed"
    assert {t: r for t, r in after.items() if t != "sync_run"} == {t: r for t, r in before.items() if t != "sync_run"}

    # and a malformed MBID never reaches the server at all
    replay.reset_log()
    bad = run_cli("sync", "release", "not-an-mbid")
    assert bad.exit_code == 2 and "not an MBID" in bad.output and replay.requests == []
    TALLY["invalid_id_cases"] += 3


# --- 3. concurrency ------------------------------------------------------------------


def _wait_for(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_overlapping_syncs_second_one_exits_4_at_once(replay, run_cli, cli_env, database_url):
    url = database_url
    env = subprocess_env(cli_env)
    replay.inject("slow", 1, path_contains=TARGET, delay=4.0)
    first = subprocess.Popen([str(MBINDEX), "sync", "release", "--timeout", "20", TARGET, OTHERS[0]],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: _lookups(replay, TARGET), what="the first sync's request")  # it holds the lock now
        before_requests = len(replay.requests)

        # a second sync in another process: refused at once with exit 4
        start = time.monotonic()
        second = subprocess.run([str(MBINDEX), "sync", "release", OTHERS[1]], env=env, capture_output=True,
                                text=True, timeout=30)
        took = time.monotonic() - start
        assert second.returncode == 4, second.stderr
        assert "another mbindex sync or import is running" in second.stderr and "Traceback" not in second.stderr
        assert first.poll() is None, "the first sync must still be running: they overlapped"
        TALLY["concurrent_refusals"] += 1

        # every other sync command is refused the same way (in-process, while the first still runs)
        replay.add_document("artist", {"id": ARTIST, "name": "x"})
        for args in (["sync", "artist", ARTIST], ["sync", "query", "anything"], ["sync", "release", OTHERS[2]]):
            t0 = time.monotonic()
            result = run_cli(*args)
            assert result.exit_code == 4 and "another mbindex" in result.output, (args, result.output)
            assert time.monotonic() - t0 < 2.0
            TALLY["concurrent_refusals"] += 1
        watch = run_cli("watch", "add", "artist", ARTIST)
        assert watch.exit_code == 0
        watched = run_cli("sync", "--watched")
        assert watched.exit_code == 4, watched.output
        TALLY["concurrent_refusals"] += 1
        assert first.poll() is None
        assert len(replay.requests) == before_requests  # none of the refused ones asked ws/2 anything

        out, err = first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err
    assert "inserted 2" in out
    assert [r["status"] for r in runs(url)] == ["ok"]  # the refused runs left no run rows
    assert stored(url, OTHERS[1]) is None and stored(url, OTHERS[2]) is None
    assert inconsistencies(url) == {}
    TALLY["second_sync_seconds_max"] = max(TALLY["second_sync_seconds_max"], round(took, 2))


def test_score_and_flagged_run_beside_a_slow_sync(seeded, replay, run_cli, cli_env):
    url = seeded
    assert run_cli("score").exit_code == 0
    env = subprocess_env(cli_env)
    replay.inject("slow", 4, path_contains="/ws/2/release/", delay=1.2)
    procs = []

    def start(*args):
        procs.append(subprocess.Popen([str(MBINDEX), *args], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
        return procs[-1]

    try:
        sync = start("sync", "release", "--timeout", "20", TARGET, *OTHERS[:3])
        _wait_for(lambda: _lookups(replay, TARGET), what="the sync's first request")
        score = start("score")
        flagged = start("flagged", "--json", "--limit", "500")
        s_out, s_err = score.communicate(timeout=60)
        f_out, f_err = flagged.communicate(timeout=60)
        overlapped = sync.poll() is None
        out, err = sync.communicate(timeout=60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert overlapped, "score and flagged must have finished while the sync was still running"
    assert score.returncode == 0 and "scored" in s_out and "Traceback" not in s_err, s_err
    assert flagged.returncode == 0 and "Traceback" not in f_err, f_err
    rows = json.loads(f_out)
    assert {r["mbid"] for r in rows} >= set(SEED)
    assert sync.returncode == 0 and "inserted 4" in out, err
    assert [r["status"] for r in runs(url) if r["kind"] == "score"] == ["ok", "ok"]
    assert inconsistencies(url) == {}
    TALLY["concurrent_readers"] += 2


# --- 4. bad input ----------------------------------------------------------------------

BAD_MBIDS = [
    "",
    " ",
    "not-an-mbid",
    "12345",
    SEED[0][:-1],  # 35 characters
    SEED[0] + "0",  # 37
    SEED[0].replace("-", ""),  # 32 hex digits, no hyphens
    "{" + SEED[0] + "}",
    "urn:uuid:" + SEED[0],
    "g" * 8 + SEED[0][8:],  # not hex
    SEED[0].replace("-", "_"),
    "'; DROP TABLE release; --",
    "../../../etc/passwd",
    "%00" + SEED[0][3:],
    "ü" * 36,
    "1" * 36,
    SEED[0] + "\n" + SEED[1],
    "x" * 10000,
    "\udcff" * 36,  # a non-UTF-8 byte in argv
]

MBID_COMMANDS = [
    ("sync", "release", "{}"),
    ("sync", "release", SEED[0], "{}"),  # all validated before anything is touched
    ("sync", "artist", "{}"),
    ("sync", "label", "{}"),
    ("sync", "release-group", "{}"),
    ("sync", "collection", "{}"),
    ("watch", "add", "artist", "{}"),
    ("watch", "remove", "label", "{}"),
    ("show", "{}"),
    ("mark", "{}", "--status", "preserved"),
]


@pytest.fixture
def scored(seeded, run_cli):
    assert run_cli("score").exit_code == 0
    return seeded


def test_malformed_mbids_are_refused_everywhere(scored, replay, run_cli):
    url = scored
    before = full_snapshot(url)
    replay.reset_log()
    tried = 0
    for command in MBID_COMMANDS:
        for bad in BAD_MBIDS:
            args = [bad if a == "{}" else a for a in command]
            result = run_cli(*args)
            no_traceback(result)
            assert result.exit_code == 2, (args, result.output)
            assert "not an MBID" in result.output, (args, result.output)
            tried += 1
    assert replay.requests == []
    assert full_snapshot(url) == before
    TALLY["bad_input_mbid"] += tried


UNKNOWN_SCOPES = [
    ("sync", "recording", SEED[0]),  # a real ws/2 entity mbindex does not sync
    ("sync", "Artist", SEED[0]),
    ("sync", "artists", SEED[0]),
    ("sync", "release;rm -rf /", SEED[0]),
    ("sync", "", SEED[0]),
    ("sync",),  # no scope at all
    ("watch", "add", "recording", SEED[0]),
    ("watch", "add", "artist; DROP TABLE watch", SEED[0]),
    ("watch", "remove", "release", SEED[0]),
]


def test_unknown_scopes_are_usage_errors(scored, replay, run_cli):
    url = scored
    before = full_snapshot(url)
    replay.reset_log()
    for args in UNKNOWN_SCOPES:
        result = run_cli(*args)
        no_traceback(result)
        assert result.exit_code == 2, (args, result.output)
        assert "Error" in result.output, (args, result.output)
        TALLY["bad_input_scope"] += 1
    assert replay.requests == []
    assert full_snapshot(url) == before


HOSTILE_QUERIES = [
    '"unterminated phrase',
    "it's a \"quoted\" 'mix'",
    "100% pure %s %d %% %00 %zz",
    "a; DROP TABLE release; --",
    "' OR '1'='1",
    'artist:"Sigur Rós" AND country:IS',
    "日本語のアルバム 🎵 Ωμέγα",
    "\u202eRTL override\u200b zero width",
    "$(id) `id` ${HOME} | cat /etc/passwd & echo",
    "a&b=c#frag?x=1/../..",
    "+plus+ and  two  spaces",
    'back\\slash \\" escaped',
    "tab\tnew\nline",
    "x" * 5000,
    "é" * 2000,
]


def test_hostile_search_strings_reach_ws2_verbatim(replay, run_cli, database_url):
    url = database_url
    hit = {k: v for k, v in release_doc(TARGET).items() if k in ("id", "title")}
    for query in HOSTILE_QUERIES:
        replay.set_search("release", query, [hit])
    tables = [t for t in all_tables(url) if t != "sync_run"]
    reference = None
    for query in HOSTILE_QUERIES:
        replay.reset_log()
        result = run_cli("sync", "query", query)
        no_traceback(result)
        assert result.exit_code == 0, (query[:80], result.output[-500:])
        searches = [r for r in replay.requests if "query" in r.query]
        assert [r.query["query"] for r in searches] == [query]  # byte for byte, not re-quoted or cut
        run = runs(url)[-1]
        assert (run["status"], run["scope"], run["target"]) == ("ok", "query", query)
        state = snapshot(url, tables)
        if reference is None:
            reference = state  # the first run stored TARGET
            assert stored(url, TARGET) is not None
        assert state == reference  # later runs found it unchanged: no other effect at all
        TALLY["bad_input_query"] += 1
    assert "release" in all_tables(url) and len(runs(url)) == len(HOSTILE_QUERIES)


def test_unusable_search_strings_are_clear_errors(replay, run_cli, database_url, cli_env, tmp_path):
    url = database_url
    before = full_snapshot(url)
    # empty / blank: nothing to search for
    for query in ("", "   ", "\t\n"):
        result = run_cli("sync", "query", query)
        no_traceback(result)
        assert result.exit_code == 2 and "query" in result.output, (query, result.output)
        TALLY["bad_input_query"] += 1
    assert full_snapshot(url) == before and replay.requests == []

    # longer than any server takes in a URL: the server's 414 ends the run as failed, not a crash
    result = run_cli("sync", "query", "--retries", "0", "y" * 70000)
    no_traceback(result)
    assert result.exit_code == 1 and "414" in result.output
    assert len(result.output) < 2000 and len(runs(url)[-1]["error"]) < 2000  # the URL is not repeated whole
    assert runs(url)[-1]["status"] == "failed"
    TALLY["bad_input_query"] += 1

    # real argv in a real process: a non-UTF-8 byte, and shell metacharacters that must stay text
    marker = tmp_path / "pwned"
    env = subprocess_env(cli_env)
    proc = subprocess.run([os.fsencode(MBINDEX), b"sync", b"query", b"caf\xe9 latin-1"], env=env,
                          capture_output=True, timeout=60)
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr, proc.stderr
    assert b"UTF-8" in proc.stderr
    hostile = f"$(touch {marker}) `touch {marker}`; touch {marker} && touch {marker}"
    proc = subprocess.run([str(MBINDEX), "sync", "query", hostile], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert not marker.exists()
    assert runs(url)[-1]["target"] == hostile
    TALLY["bad_input_query"] += 2


HOSTILE_FILTER_VALUES = [
    "'; DROP TABLE release; --",
    "' OR '1'='1",
    "GB' --",
    "%",
    "_",
    "\\",
    '"',
    "{a,b}",
    "NULL",
    "日本",
    "🎵",
    "\u202e",
    "$(id)",
    "x" * 10000,
]


def test_hostile_filter_values_are_plain_text(scored, run_cli):
    url = scored
    before = full_snapshot(url)
    # the filters work at all (so the empty answers below mean something)
    gb = json.loads(run_cli("flagged", "--json", "--country", "GB").output)
    assert {r["mbid"] for r in gb} == {SEED[0], SEED[2]}
    for value in HOSTILE_FILTER_VALUES:
        for args in (
            ["flagged", "--json", "--country", value],
            ["flagged", "--json", "--format", value],
            ["flagged", "--json", "--status", value],
            ["flagged", "--json", "--format", "CD", "--format", value, "--status", "Official", "--status", value],
            ["export", "--format", "json", "--country", value],
            ["export", "--format", "json", "--medium-format", value],
            ["export", "--format", "json", "--status", value],
        ):
            result = run_cli(*args)
            no_traceback(result)
            assert result.exit_code == 0, (args[:3], result.output[-300:])
            rows = json.loads(result.stdout)  # export's old spellings warn on stderr
            if "CD" in args:  # the real values still match
                assert {r["mbid"] for r in rows} == {SEED[1], SEED[2]}
            else:
                assert rows == []
            TALLY["bad_input_filter"] += 1
    assert full_snapshot(url) == before


BAD_FILTERS = [
    ["flagged", "--min-score", "101"],
    ["flagged", "--min-score", "-1"],
    ["flagged", "--min-score", "high"],
    ["flagged", "--year-from", "1e3"],
    ["flagged", "--year-to", "1999; DROP TABLE release"],
    ["flagged", "--limit", "0"],
    ["flagged", "--limit", "-5"],
    ["flagged", "--limit", str(10**30)],
    ["flagged", "--curation", "deleted"],
    ["flagged", "--sort", "score; DROP TABLE release"],
    ["flagged", "--output", "xml"],
    ["flagged", "--csv", "--json"],
    ["flagged", "--country", "caf\udce9"],
    ["flagged", "--format", "\udcff"],
    ["flagged", "--status", "a\x00b"],
    ["export", "-o", "xml"],
    ["export", "--to", "/nonexistent-dir-for-mbindex-tests/x.csv"],
    ["export", "--limit", str(10**30)],
    ["export", "--country", "\udcff"],
    ["export", "--medium-format", "a\x00b"],
    ["export", "--sort", "mbid"],
    ["export", "--output", "/nonexistent-dir-for-mbindex-tests/x.csv"],
    ["runs", "--limit", str(10**30)],
    ["mark", SEED[0], "--status", "lost"],
    ["mark", SEED[0], "--status", "open", "--note", "bad \udcff byte"],
    ["watch", "add", "artist", ARTIST, "--note", "nul \x00 byte"],
]


def test_bad_filter_and_option_values_are_usage_errors(scored, run_cli, tmp_path):
    url = scored
    before = full_snapshot(url)
    for args in BAD_FILTERS + [["export", "--output", str(tmp_path)]]:  # a directory
        result = run_cli(*args)
        no_traceback(result)
        assert result.exit_code == 2, (args, result.output)
        assert "Error" in result.output, (args, result.output)
        TALLY["bad_input_filter"] += 1
    # huge but well-formed numbers are just numbers
    for args in (["flagged", "--year-from", str(10**30)], ["flagged", "--limit", str(2**63 - 1)]):
        result = run_cli(*args, "--json")
        assert result.exit_code == 0, (args, result.output)
        TALLY["bad_input_filter"] += 1
    assert full_snapshot(url) == before


BAD_SETTINGS = [
    ({"MBINDEX_TIMEOUT": "soon"}, []),
    ({}, ["--timeout", "0"]),
    ({}, ["--timeout", "-1"]),
    ({}, ["--retries", "-1"]),
    ({}, ["--retries", "many"]),
    ({}, ["--rate", "-1"]),
    ({}, ["--ws-url", "ftp://127.0.0.1/"]),
    ({}, ["--ws-url", "127.0.0.1:5000"]),
    ({"MBINDEX_CONTACT": "me@example.org\r\nX-Injected: 1"}, []),
    ({"MBINDEX_CONTACT": "山田 <yamada@example.jp>"}, []),
    ({}, ["--contact", "tab\there@example.org"]),
]


def test_bad_settings_are_usage_errors_before_any_request(seeded, replay, run_cli, tmp_path):
    url = seeded
    before = full_snapshot(url)
    replay.reset_log()
    for env, opts in BAD_SETTINGS:
        result = run_cli("sync", "release", *opts, TARGET, env=env)
        no_traceback(result)
        assert result.exit_code == 2, (env, opts, result.output)
        TALLY["bad_input_setting"] += 1
    missing = run_cli("--config", str(tmp_path / "missing.toml"), "runs")
    (tmp_path / "bad.toml").write_text("rate = = 1")
    broken = run_cli("--config", str(tmp_path / "bad.toml"), "runs")
    (tmp_path / "unknown.toml").write_text("password = 'x'")
    unknown = run_cli("--config", str(tmp_path / "unknown.toml"), "runs")
    for result in (missing, broken, unknown):
        no_traceback(result)
        assert result.exit_code == 2, result.output
        TALLY["bad_input_setting"] += 1
    assert replay.requests == []
    assert full_snapshot(url) == before


# --- 5. security --------------------------------------------------------------------

SECRET = "Pw-4-Reliability-Tests"


def test_database_password_is_never_printed_or_stored(database_url, replay, run_cli, cli_env):
    # trust authentication ignores the password, so the real test database can carry one
    with_pw = make_url(database_url).set(password=SECRET).render_as_string(hide_password=False)
    assert SECRET in with_pw
    env = {"MBINDEX_DATABASE_URL": with_pw}
    outputs = []

    def run(*args, code=0, **kw):
        result = run_cli(*args, env=dict(env, **kw))
        no_traceback(result)
        assert result.exit_code == code, (args, result.output)
        outputs.append(result.output)
        TALLY["password_checks"] += 1
        return result

    shown = {r["setting"]: r["value"] for r in json.loads(run("config", "show", "--json").output)}
    assert ":***@" in shown["database_url"]
    run("config", "show")
    run("db", "current")
    run("sync", "release", SEED[0])
    replay.inject("status", 100, path_contains=TARGET, status=503)
    run("sync", "release", "--retries", "0", TARGET, code=1)
    replay.delete("release", SEED[1])
    run("sync", "release", SEED[1], code=3)
    run("sync", "release", "not-an-mbid", code=2)
    run("score")
    run("flagged")
    run("runs")
    run("runs", "--json")
    run("show", SEED[0])
    run("export")

    # connections that fail: nothing listening, no such database, bad URL forms
    encoded = "p%40ss%3Aw%2Frd-" + SECRET  # 'p@ss:w/rd-...' percent-encoded
    for bad in (
        f"postgresql://postgres:{SECRET}@127.0.0.1:1/mbindex",
        make_url(database_url).set(password=SECRET, database="mbindex_no_such_db").render_as_string(False),
        f"postgresql://postgres:{encoded}@127.0.0.1:1/mbindex",
        f"postgresql://postgres@127.0.0.1:1/mbindex?password={SECRET}",
        f"host=127.0.0.1 port=1 password={SECRET}",
        f"mysql://root:{SECRET}@127.0.0.1:1/mbindex",
    ):
        for args in (["runs"], ["db", "current"], ["sync", "release", SEED[0]], ["config", "show"]):
            result = run_cli(*args, env={"MBINDEX_DATABASE_URL": bad})
            no_traceback(result)
            if args != ["config", "show"]:
                assert result.exit_code != 0, (bad, args, result.output)
                assert "Error" in result.output
            outputs.append(result.output)
            TALLY["password_checks"] += 1
    leaked = [o for o in outputs if SECRET in o or "p@ss:w/rd" in o]
    assert leaked == []

    # nor in what the runs stored
    with psycopg.connect(conninfo(database_url)) as conn:
        rows = conn.execute("SELECT to_jsonb(r)::text FROM sync_run r").fetchall()
    assert len(rows) >= 4 and not [r for r in rows if SECRET in r[0]]
    # and the subprocess path (stderr of a real process) as well
    proc = subprocess.run([str(MBINDEX), "runs"], capture_output=True, text=True, timeout=60,
                          env=subprocess_env(cli_env, MBINDEX_DATABASE_URL=f"postgresql://u:{SECRET}@127.0.0.1:1/x"))
    assert proc.returncode == 1 and "cannot connect" in proc.stderr and SECRET not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


# calls that always go through /bin/sh
SHELL_CALLS = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"), ("subprocess", "getstatusoutput")}


def test_no_shell_is_ever_used():
    """No shell=True, os.system/popen and friends anywhere in the package; every
    subprocess gets an argument list, so user input can never reach a shell."""
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) >= 10
    problems, subprocess_calls = [], 0
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            fn = node.func
            name = (fn.value.id, fn.attr) if isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name) else None
            where = f"{path.name}:{node.lineno}"
            if name in SHELL_CALLS:
                problems.append(f"{where}: {name[0]}.{name[1]}")
            for kw in node.keywords:
                if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    problems.append(f"{where}: shell={ast.unparse(kw.value)}")
            if name and name[0] == "subprocess" and name[1] in ("run", "Popen", "call", "check_call", "check_output"):
                subprocess_calls += 1
                if node.args and isinstance(node.args[0], (ast.Constant, ast.JoinedStr, ast.BinOp)):
                    problems.append(f"{where}: subprocess with a command string")
    assert problems == []
    TALLY["shell_scan_files"] = len(files)
    TALLY["shell_scan_subprocess_calls"] = subprocess_calls


# --- crash loops (long) ------------------------------------------------------------------


@pytest.mark.slow
def test_kill9_during_faulted_sync_then_rerun_converges(replay, cli_env, database_url, pg_server):
    """kill -9 a sync again and again: at a given number of stored releases while it
    retries through 503s, and while it waits on a slow answer.  Nothing stored is
    ever lost, every state in between is consistent, and a rerun converges to
    exactly what one clean run stores."""
    url = database_url
    env = subprocess_env(cli_env, MBINDEX_RETRIES="3")
    ids = [TARGET, *OTHERS, *SEED]
    cmd = [str(MBINDEX), "sync", "release", "--timeout", "10", *ids]
    kept = snapshot(url)

    def kill_and_check(p):
        p.kill()
        p.wait()
        nonlocal kept
        replay.clear_faults()
        state = snapshot(url)
        assert lost_rows(kept, state) == 0
        # a killed run cannot say so: its row stays 'running' (everything else must hold)
        assert inconsistencies(url, skip=(RUNNING,)) == {}
        kept = state
        TALLY["kill9_rounds"] += 1

    for stored_at_kill in (1, 3, 5, 7):
        replay.inject("status", 1, status=503, retry_after=0)  # each round starts in a retry
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for(lambda: counts(url, ("release",))["release"] >= stored_at_kill or p.poll() is not None,
                  timeout=60, what=f"{stored_at_kill} releases")
        kill_and_check(p)

        seen = len(replay.requests)
        replay.inject("slow", 1, delay=10)  # and then killed while it waits for an answer
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for(lambda: any(r.fault == "slow" for r in replay.requests[seen:]) or p.poll() is not None,
                  timeout=60, what="the slow request")
        kill_and_check(p)

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert counts(url)["release"] == len(ids)
    assert lost_rows(kept, snapshot(url)) == 0
    assert inconsistencies(url, skip=(RUNNING,)) == {}

    # the same as one clean run into an empty database
    name = pg_server.create()
    clean = pg_server.url_for(name)
    try:
        ok = subprocess.run(cmd, env=dict(env, MBINDEX_DATABASE_URL=clean), capture_output=True, text=True,
                            timeout=120)
        assert ok.returncode == 0, ok.stderr
        drop = VOLATILE + ("first_seen", "sync_run_id", "revision_id")
        tables = ("release", "medium", "track", "release_label", "document_revision", "document")
        assert snapshot(url, tables, drop) == snapshot(clean, tables, drop)
    finally:
        pg_server.drop(name)
