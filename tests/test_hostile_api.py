"""A hostile or buggy ws/2 server (issue 10, items 1-3): odd documents are
quarantined byte for byte and the run goes on, a body about another release
is never taken for a merge without a redirect, and `--timeout` and
`max_body_mb` bound a request by wall clock and by size.

Every case runs against the real HTTP server of `hostile_server.py` and the
real CLI (in-process, or as a separate process where memory is measured).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
from hostile_server import HostileServer, odd_bodies
from sqlalchemy import select, text

from helpers import RICH, release_doc
from indexer.config import ConfigError, load_settings
from indexer.db import models as m
from indexer.sources.ws2 import BadDocument, Client, GiveUp
from indexer.store.quarantine import quarantine_document

METEORA = RICH["c9d52105"]
OTHER = RICH["b84ee12a"]
ARTIST = "0ff9fad7-5a3a-4ed5-a1f4-31b1e1e5a6a3"


def _id(case: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mbindex-hostile/{case}"))


@pytest.fixture
def hostile():
    with HostileServer() as server:
        server.documents = {METEORA: release_doc(METEORA), OTHER: release_doc(OTHER)}
        yield server


@pytest.fixture
def env(hostile, cli_env):
    return dict(cli_env, MBINDEX_WS_URL=hostile.url, MBINDEX_RETRIES="3")


def _path(mbid: str) -> str:
    return f"/ws/2/release/{mbid}"


def _quarantine(db) -> list[m.Quarantine]:
    with db.session() as s:
        return list(s.execute(select(m.Quarantine).order_by(m.Quarantine.id)).scalars())


def _run(db, run_id: int) -> m.SyncRun:
    with db.session() as s:
        return s.get(m.SyncRun, run_id)


def _releases(db) -> set[str]:
    with db.session() as s:
        return {str(x) for x in s.execute(select(m.Release.mbid)).scalars()}


#: the stored rows, without last_seen and surrogate ids (a new version replaces media and tracks)
SNAPSHOT = {
    "release": "SELECT mbid, title, track_count FROM release",
    "medium": "SELECT release_mbid, position, format, title FROM medium",
    "track": "SELECT release_mbid, kind, position, title, length_ms FROM track",
    "release_label": "SELECT release_mbid, label_mbid, catalog_number FROM release_label",
    "document_revision": "SELECT entity_type, mbid, hash FROM document_revision",
    "redirect": "SELECT old_mbid, new_mbid FROM redirect",
}


def _rows(db) -> set[tuple]:
    with db.session() as s:
        return {(table, *row) for table, sql in SNAPSHOT.items() for row in s.execute(text(sql))}


def _run_id(output: str) -> int:
    return int(output.split("run ", 1)[1].split(":", 1)[0])


# --- 1. odd documents -----------------------------------------------------------


def test_odd_documents_are_quarantined_byte_for_byte_and_the_run_goes_on(db, hostile, env, run_cli):
    bodies = odd_bodies(release_doc(METEORA), _id)
    for case, body in bodies.items():
        hostile.serve(_path(_id(case)), body)
    bad = [_id(case) for case in bodies]
    assert run_cli("sync", "release", METEORA, env=env).exit_code == 0
    before = _rows(db)

    out = run_cli("sync", "release", METEORA, *bad, OTHER, env=env)

    assert out.exit_code == 5, out.output
    assert "Traceback" not in out.output
    assert _releases(db) == {METEORA, OTHER}  # before and after the odd ones
    kept = {row.source.split("/ws/2/release/", 1)[1][:36]: row for row in _quarantine(db)}
    assert {mbid: bytes(row.raw) for mbid, row in kept.items()} == {_id(c): b for c, b in bodies.items()}
    run = _run(db, _run_id(out.output))
    assert (run.status, run.quarantined, run.inserted, run.unchanged) == ("ok", len(bodies), 1, 1)
    assert before <= _rows(db)  # rows lost: 0
    assert all(row.sync_run_id == run.id for row in kept.values())
    # a body no retry can mend is asked for once, not retries + 1 times
    assert hostile.hits[_path(_id("200k nested arrays"))] == 1
    assert hostile.hits[_path(_id("1e400"))] == 1
    with db.session() as s:  # nothing of a quarantined release was written
        docs = set(map(str, s.execute(select(m.Document.mbid)).scalars()))
    assert docs == {METEORA, OTHER}


def test_scope_walk_completes_past_a_bad_release_and_confirms_the_missing(db, hostile, env, run_cli):
    meteora, other = release_doc(METEORA), release_doc(OTHER)
    gone = dict(release_doc(OTHER), id=_id("gone"))
    hostile.documents[_id("gone")] = gone
    hostile.browse("artist", ARTIST, [json.dumps(meteora).encode(), json.dumps(gone).encode()])
    first = run_cli("sync", "artist", ARTIST, env=env)
    assert first.exit_code == 0, first.output
    before = _rows(db)

    # next night: `gone` left the scope (and 404s), a bad release sits before OTHER
    del hostile.documents[_id("gone")]
    bad = dict(meteora, id=_id("bad"), title="Meteora (bad)")
    bad["label-info"] = [None]
    hostile.documents[_id("bad")] = bad
    hostile.browse("artist", ARTIST, [json.dumps(x).encode() for x in (meteora, bad, other)])
    out = run_cli("sync", "artist", ARTIST, env=env)

    assert out.exit_code == 5, out.output
    run = _run(db, _run_id(out.output))
    assert run.status == "ok" and run.quarantined >= 1 and run.tombstoned == 1
    assert OTHER in _releases(db) and _id("bad") not in _releases(db)
    assert before <= _rows(db)  # rows lost: 0 (the tombstoned release keeps every row)
    with db.session() as s:
        assert s.get(m.Release, uuid.UUID(_id("gone"))).deleted_at is not None  # the tombstone check ran
    assert any(_id("bad") in row.source or _id("bad").encode() in bytes(row.raw) for row in _quarantine(db))


def test_a_browse_page_that_cannot_be_parsed_is_walked_one_release_at_a_time(db, hostile, env, run_cli):
    bad = odd_bodies(release_doc(METEORA), _id)["1e400"]  # valid JSON, a number beyond a float
    hostile.browse("artist", ARTIST, [json.dumps(release_doc(METEORA)).encode(), bad,
                                      json.dumps(release_doc(OTHER)).encode()])

    out = run_cli("sync", "artist", ARTIST, env=env)

    assert out.exit_code == 5, out.output
    assert _releases(db) == {METEORA, OTHER}
    [row] = _quarantine(db)
    assert bytes(row.raw) == b'{"release-count": 3, "release-offset": 1, "releases": [' + bad + b"]}"
    assert "limit=1" in row.source and "offset=1" in row.source
    run = _run(db, _run_id(out.output))
    assert (run.status, run.quarantined) == ("ok", 1)


def test_sync_watched_exits_5_when_a_scope_quarantined_something(db, hostile, env, run_cli):
    bad = dict(release_doc(METEORA), id=_id("watched"))
    bad["media"] = [dict(bad["media"][0], position=2**40)]
    hostile.browse("artist", ARTIST, [json.dumps(bad).encode(), json.dumps(release_doc(OTHER)).encode()])
    hostile.documents[_id("watched")] = bad  # the same, should the item be looked up
    assert run_cli("watch", "add", "artist", ARTIST, env=env).exit_code == 0

    out = run_cli("sync", "--watched", env=env)

    assert out.exit_code == 5, out.output
    assert "1 document(s) quarantined" in out.output and _releases(db) == {OTHER}


def test_a_search_hit_without_a_valid_id_is_quarantined(db, hostile, env, run_cli):
    page = {"created": "2026-11-30T00:00:00.000Z", "count": 2, "offset": 0,
            "releases": [{"id": "not-an-id\u0000", "score": 100}, {"id": METEORA, "score": 90}]}
    hostile.serve("/ws/2/release/", json.dumps(page).encode())

    out = run_cli("sync", "query", "format:Cassette", env=env)

    assert out.exit_code == 5, out.output
    assert _releases(db) == {METEORA}
    [row] = _quarantine(db)
    assert json.loads(bytes(row.raw)) == page["releases"][0] and "format:Cassette" in row.source


# --- 2. a body about another release --------------------------------------------


def test_a_body_about_another_release_without_a_redirect_is_quarantined(db, hostile, env, run_cli):
    assert run_cli("sync", "release", OTHER, env=env).exit_code == 0
    before = _rows(db)
    asked = _id("asked")
    forged = dict(release_doc(OTHER), title="Forged")
    body = json.dumps(forged).encode()
    hostile.serve(_path(asked), body)

    out = run_cli("sync", "release", asked, env=env)

    assert out.exit_code == 5, out.output
    assert _rows(db) == before  # nothing lost, nothing overwritten, no redirect
    with db.session() as s:
        assert s.get(m.Release, uuid.UUID(OTHER)).title == release_doc(OTHER)["title"]  # not overwritten
        assert s.execute(select(m.Redirect)).first() is None  # not a merge
        assert s.get(m.Release, uuid.UUID(asked)) is None
    [row] = _quarantine(db)
    assert bytes(row.raw) == body and "without a redirect" in row.error


def test_a_merge_served_with_200_is_confirmed_by_a_lookup_of_the_target(db, hostile, env, run_cli):
    """musicbrainz.org answers a merged MBID with 200 and the target's
    document: a lookup of the target giving the same document makes it a merge."""
    merged = _id("merged")
    hostile.serve(_path(merged), json.dumps(release_doc(OTHER)).encode())

    out = run_cli("sync", "release", merged, env=env)

    assert out.exit_code == 0, out.output
    assert "redirected 1" in out.output and not _quarantine(db)
    with db.session() as s:
        assert s.execute(select(m.Redirect.old_mbid, m.Redirect.new_mbid)).all() == [
            (uuid.UUID(merged), uuid.UUID(OTHER))]
        assert s.get(m.Release, uuid.UUID(OTHER)).title == release_doc(OTHER)["title"]


# --- 3. wall clock and size ------------------------------------------------------


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_timeout_bounds_the_whole_request_by_wall_clock(db, hostile, env, run_cli, headers_too):
    # 24 bytes: the unbounded client of before waited 12 s (body) or ~30 s (headers) for them
    hostile.trickle(_path(METEORA), b'{"id": "' + b"x" * 16, interval=0.5 if not headers_too else 0.3,
                    headers_too=headers_too)
    started = time.monotonic()
    out = run_cli("sync", "release", METEORA, env=dict(env, MBINDEX_TIMEOUT="2", MBINDEX_RETRIES="0"))
    elapsed = time.monotonic() - started

    assert out.exit_code == 1, out.output
    assert "no answer within 2s" in out.output
    assert elapsed < 4.5, elapsed
    assert _run(db, _run_id(out.output)).status == "failed"


def test_a_body_cut_short_of_its_content_length_is_not_taken(db, hostile, env, run_cli):
    whole = json.dumps(release_doc(METEORA)).encode()
    # a prefix that is valid JSON in itself: only the length tells it is cut
    cut = b'{"id": "' + METEORA.encode() + b'"}'
    hostile.routes[_path(METEORA)] = lambda h: (
        h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                      b"Connection: close\r\n\r\n%s" % (len(whole), cut)))

    out = run_cli("sync", "release", METEORA, env=dict(env, MBINDEX_RETRIES="1"))

    assert out.exit_code == 1 and "IncompleteRead" in out.output, out.output
    assert hostile.hits[_path(METEORA)] == 2 and _releases(db) == set()


def test_a_body_over_max_body_mb_is_refused_before_it_is_read(db, hostile, env, run_cli):
    hostile.huge(_path(METEORA), 300 << 20, declare_length=True)

    out = run_cli("sync", "release", METEORA, env=dict(env, MBINDEX_MAX_BODY_MB="1"))

    assert out.exit_code == 5, out.output
    [row] = _quarantine(db)
    assert row.raw_length == 300 << 20 and bytes(row.raw) == b'"' + b"x" * 1023
    assert "over max_body_mb" in row.error and hostile.hits[_path(METEORA)] == 1


def _peak_rss_mb(args: list[str], env: dict) -> tuple[int, float]:
    """Run `mbindex ARGS` as its own process; its exit code and peak RSS (MB)."""
    proc = subprocess.Popen([sys.executable, "-c", "from indexer.cli import main; main()", *args],
                            env=dict(os.environ, **env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024


def test_an_undeclared_huge_body_keeps_memory_flat(db, hostile, env):
    hostile.huge(_path(OTHER), 96 << 20, declare_length=False)  # ends when the connection closes
    code, base = _peak_rss_mb(["sync", "release", METEORA], env)
    assert code == 0
    code, peak = _peak_rss_mb(["sync", "release", OTHER], dict(env, MBINDEX_MAX_BODY_MB="4"))

    assert code == 5
    assert peak - base < 40, (base, peak)  # reading 96 MB would add well over 96
    [row] = _quarantine(db)
    assert 4 << 20 < row.raw_length < (4 << 20) + (1 << 17) and len(row.raw) == 1024


def test_max_body_mb_is_a_setting_with_bounds():
    assert load_settings({}, environ={"MBINDEX_MAX_BODY_MB": "2.5"}).max_body_mb == 2.5
    assert load_settings({}, environ={}).max_body_mb == 64
    for bad in ("0", "-1", "nan", "1e9"):
        with pytest.raises(ConfigError, match="max_body_mb"):
            load_settings({}, environ={"MBINDEX_MAX_BODY_MB": bad})


def test_the_client_raises_bad_document_with_the_raw_body_and_never_retries(hostile, database_url):
    body = b'{"id": "' + METEORA.encode() + b'", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    hostile.serve(_path(METEORA), body)
    settings = load_settings({"ws_url": hostile.url, "contact": "t@example.org", "rate": 0, "retries": 4,
                              "database_url": database_url}, environ={})
    client = Client(settings, sleep=lambda s: None)
    with pytest.raises(BadDocument) as caught:
        client.get_release(uuid.UUID(METEORA))
    assert caught.value.raw == body and client.stats.requests == 1
    hostile.serve(_path(OTHER), b"{}", status=503)
    with pytest.raises(GiveUp):  # transient errors still are retried
        client.get_release(uuid.UUID(OTHER))
    assert hostile.hits[_path(OTHER)] == 5


def test_quarantine_document_keeps_bytes_that_are_not_text(db):
    raw = b'{"title": "\xff\x00\xed\xa0\x80"}'
    row_id = quarantine_document(db, "http://example.org/ws/2/release/x", raw, "bad", None)
    with db.session() as s:
        assert bytes(s.get(m.Quarantine, row_id).raw) == raw
