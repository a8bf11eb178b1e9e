"""The real client and CLI against a small local ws/2 stub (stdlib HTTP server).

(The shared replay server, indexer/replay.py, was not committed yet when
these were written; this stub serves the same real fixture documents.)
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from helpers import FULL, full_doc
from indexer.cli import cli
from indexer.config import load_settings
from indexer.db import models as m
from indexer.db import normalise_url
from indexer.sources.ws2 import Client
from indexer.store import resolve_mbid_in
from indexer.sync.scope import sync_scope

ARTIST = "5b11f4ce-a62d-471e-81fc-a69a8278c7da"
ARTIST_ID = uuid.UUID(ARTIST)


def _docs(n):
    base = [full_doc(mbid) for mbid in FULL]
    out = []
    for i in range(n):
        d = copy.deepcopy(base[i % len(base)])
        d["id"] = str(uuid.UUID(int=i + 1))
        out.append(d)
    return out


class Stub:
    def __init__(self, docs):
        self.docs = {d["id"]: d for d in docs}
        self.order = [d["id"] for d in docs]
        self.requests: list[tuple[float, str, str]] = []  # (arrival, path, user agent)
        self.fail = 0  # next N requests answer 503
        self.down = False
        self.moved: dict[str, str] = {}  # merged MBID -> new MBID (301)
        self.browse_only: dict[str, dict] = {}  # what the browse shows instead of the lookup document
        stub = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                stub.requests.append((time.monotonic(), self.path, self.headers.get("User-Agent", "")))
                if stub.down or stub.fail > 0:
                    stub.fail -= 1
                    return self._send(503, {"error": "busy"}, {"Retry-After": "0"})
                u = urlparse(self.path)
                q = parse_qs(u.query)
                parts = u.path.rstrip("/").split("/")
                if parts[-1] == "release" and "artist" in q:
                    off, lim = int(q.get("offset", ["0"])[0]), int(q.get("limit", ["25"])[0])
                    ids = stub.order[off : off + lim]
                    rel = [stub.browse_only.get(i, stub.docs[i]) for i in ids]  # whole releases, as ws/2 answers a browse with includes
                    return self._send(200, {"release-count": len(stub.order), "release-offset": off, "releases": rel})
                if parts[-2] == "release" and parts[-1] in stub.moved:
                    self.send_response(301)
                    self.send_header("Location", self.path.replace(parts[-1], stub.moved[parts[-1]]))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if parts[-2] == "release" and parts[-1] in stub.docs:
                    return self._send(200, stub.docs[parts[-1]])
                return self._send(404, {"error": "Not Found"})

            def _send(self, code, body, headers=None):
                raw = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    s = Stub(_docs(130))
    yield s
    s.close()


def _client(stub, database_url, rate=0, retries=3):
    settings = load_settings(
        {"ws_url": stub.url, "contact": "tests@example.org", "rate": rate, "database_url": database_url,
         "timeout": 2, "retries": retries},
        environ={},
    )
    return Client(settings, sleep=(time.sleep if rate else (lambda s: None)))


def _n(db, model, *where):
    with db.session() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_full_pages_store_many_releases_per_request(db, stub, database_url):
    docs = _docs(200)
    stub.docs = {d["id"]: d for d in docs}
    stub.order = [d["id"] for d in docs]
    # second night: every release already there and unchanged
    c = _client(stub, database_url)
    assert sync_scope(db, c, "artist", ARTIST_ID).status == "ok"
    c2 = _client(stub, database_url)
    res = sync_scope(db, c2, "artist", ARTIST_ID)
    assert res.status == "ok" and res.counts.unchanged == 200
    assert 200 / c2.stats.requests >= 95
    assert all(ua.startswith("mbindex/") and "tests@example.org" in ua for _, _, ua in stub.requests)


def test_rate_limit_respected(db, stub, database_url):
    c = _client(stub, database_url, rate=5)
    stub.order = stub.order[:5]
    for i in list(stub.docs)[5:]:
        del stub.docs[i]
    for i in stub.order:  # every item lacks its tags: 1 browse + 5 fallback lookups
        stub.browse_only[i] = {k: v for k, v in stub.docs[i].items() if k != "tags"}
    sync_scope(db, c, "artist", ARTIST_ID)
    times = [t for t, _, _ in stub.requests]
    assert len(times) == 6
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 0.2 * 0.9, gaps


def test_503_burst_retried_and_recovered(db, stub, database_url):
    stub.fail = 2
    c = _client(stub, database_url)
    res = sync_scope(db, c, "artist", ARTIST_ID)
    assert res.status == "ok" and c.stats.retries == 2
    assert _n(db, m.Release) == 130


def test_permanent_outage_fails_keeps_data(db, stub, database_url):
    c = _client(stub, database_url)
    sync_scope(db, c, "artist", ARTIST_ID)
    stub.down = True
    c = _client(stub, database_url, retries=2)
    res = sync_scope(db, c, "artist", ARTIST_ID)
    assert res.status == "failed" and "giving up" in res.error
    assert _n(db, m.Release) == 130 and _n(db, m.Release, m.Release.deleted_at.is_not(None)) == 0


def _env(stub, database_url, tmp_path):
    return {"MBINDEX_DATABASE_URL": database_url, "MBINDEX_WS_URL": stub.url, "MBINDEX_CONTACT": "t@example.org",
            "MBINDEX_RATE": "0", "MBINDEX_TIMEOUT": "2", "MBINDEX_RETRIES": "1",
            "XDG_CONFIG_HOME": str(tmp_path / "xdg")}


def test_cli_watch_and_sync_watched_with_budget(db, stub, database_url, tmp_path):
    env = _env(stub, database_url, tmp_path)
    r = CliRunner()
    out = r.invoke(cli, ["watch", "add", "artist", ARTIST, "--note", "tapes"], env=env, catch_exceptions=False)
    assert out.exit_code == 0, out.output
    out = r.invoke(cli, ["watch", "list", "--json"], env=env, catch_exceptions=False)
    assert json.loads(out.output)[0]["note"] == "tapes"
    out = r.invoke(cli, ["sync", "--watched", "--max-requests", "1"], env=env, catch_exceptions=False)
    assert out.exit_code == 3, out.output  # partial
    assert 0 < _n(db, m.Release) < 130
    out = r.invoke(cli, ["sync", "--watched"], env=env, catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert _n(db, m.Release) == 130
    stub.down = True
    out = r.invoke(cli, ["sync", "artist", ARTIST], env=env, catch_exceptions=False)
    assert out.exit_code == 1 and "giving up" in out.output
    out = r.invoke(cli, ["watch", "remove", "artist", ARTIST], env=env, catch_exceptions=False)
    assert out.exit_code == 0
    assert json.loads(r.invoke(cli, ["watch", "list", "--json"], env=env).output) == []


def test_concurrent_sync_refused(db, stub, database_url, tmp_path):
    env = _env(stub, database_url, tmp_path)
    with db.writer_lock("test"):
        out = CliRunner().invoke(cli, ["sync", "artist", ARTIST], env=env, catch_exceptions=False)
    assert out.exit_code == 4 and "another mbindex" in out.output


def test_merge_in_scope_recorded_as_redirect(db, stub, database_url):
    c = _client(stub, database_url)
    sync_scope(db, c, "artist", ARTIST_ID)
    old, new = stub.order[10], stub.order[11]
    stub.order.remove(old)  # merged upstream: gone from the scope, 301 on lookup
    stub.moved[old] = new
    del stub.docs[old]
    res = sync_scope(db, _client(stub, database_url), "artist", ARTIST_ID)
    assert res.status == "ok" and res.counts.redirected == 1 and res.counts.tombstoned == 0
    with db.session() as s:
        assert resolve_mbid_in(s, "release", uuid.UUID(old)) == uuid.UUID(new)
    assert _n(db, m.Release) == 130  # old row kept


def _snapshot(url):
    info = make_url(normalise_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(info) as c:
        return {
            "release": sorted(c.execute("SELECT mbid::text, title, track_count, deleted_at IS NULL FROM release").fetchall()),
            "revisions": sorted(c.execute("SELECT entity_type, mbid::text, hash FROM document_revision").fetchall()),
            "document": sorted(c.execute("SELECT entity_type, mbid::text, hash, revision_count FROM document").fetchall()),
            "track": c.execute("SELECT count(*), count(DISTINCT (release_mbid, medium_id, position)) FROM track").fetchone(),
            "medium": c.execute("SELECT count(*) FROM medium").fetchone(),
            "scope_member": sorted(c.execute("SELECT scope, target, release_mbid::text FROM scope_member").fetchall()),
        }


def test_kill9_and_rerun_converges(db, stub, database_url, pg_server, tmp_path):
    env = dict(os.environ, **_env(stub, database_url, tmp_path))
    cmd = [sys.executable, "-c", "from indexer.cli import main; main()", "sync", "artist", ARTIST]
    for kill_at in (5, 40, 90):  # releases stored when the process is killed
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while _n(db, m.Document, m.Document.entity_type == "release") < kill_at and p.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    assert _n(db, m.Release) == 130

    name = pg_server.create()
    other = pg_server.url_for(name)
    try:
        env2 = dict(env, MBINDEX_DATABASE_URL=other)
        assert subprocess.run(cmd, env=env2, capture_output=True).returncode == 0
        assert _snapshot(database_url) == _snapshot(other)
    finally:
        pg_server.drop(name)
