"""Client overhead per 100-release browse page, rate limit off.

    .venv/bin/python bench/bench_client.py [--url postgresql://postgres@127.0.0.1:5432/postgres] [--pages 10]

A local HTTP server serves a browse page of 100 real release documents
(tests/fixtures/ws2/release, ids varied) from pre-encoded bytes; the time the
server spends inside its handler is measured and subtracted.

  baseline : urllib fetch + json.loads of the page (same process)
  fetch    : mb.Client.browse_releases (musicbrainzngs + our transport + parse)
  nightly  : sync.walk_scope over an unchanged one-page scope (fetch, browse-hash
             check, scope membership; no lookups)
  full     : fetch + map + store of all 100 releases (one transaction each,
             revisions, scope membership: what a first sync of a page does
             after its lookups, i.e. sync.store_release_doc per release)
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import threading
import time
import urllib.request
import uuid
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.simplefilter("ignore")

from indexer.config import load_settings  # noqa: E402
from indexer.db import Database, normalise_url  # noqa: E402
from indexer.runs import Run  # noqa: E402
from indexer.sources.ws2 import Client  # noqa: E402
from indexer.store.scope import note_browse  # noqa: E402
from indexer.sync.releases import store_release_doc  # noqa: E402
from indexer.sync.scope import walk_scope  # noqa: E402


def page_bytes(page: int) -> bytes:
    base = [json.loads(p.read_text()) for p in sorted((ROOT / "tests/fixtures/ws2/release").glob("*.json"))]
    rels = []
    for i in range(100):
        d = copy.deepcopy(base[i % len(base)])
        d["id"] = str(uuid.UUID(int=page * 1000 + i + 1))
        rels.append({k: v for k, v in d.items() if k not in ("relations", "annotation", "tags")})
    return json.dumps({"release-count": 100, "release-offset": 0, "releases": rels}).encode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--pages", type=int, default=10)
    args = ap.parse_args()

    pages = [page_bytes(p) for p in range(args.pages)]
    state = {"page": 0, "server": 0.0}

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *a):
            pass

        def do_GET(self):
            t0 = time.perf_counter()
            body = pages[state["page"]]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            state["server"] += time.perf_counter() - t0

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"

    admin = make_url(normalise_url(args.url))
    name = f"mbindex_bench_client_{int(time.time())}"
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    db = Database(admin.set(database=name).render_as_string(hide_password=False))
    try:
        db.upgrade("head")
        settings = load_settings({"ws_url": url, "contact": "bench@example.org", "rate": 0, "timeout": 10,
                                  "database_url": args.url}, environ={})
        client = Client(settings)
        run = Run(db, "sync", "artist", "bench")

        def timed(fn):
            state["server"] = 0.0
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0 - state["server"]

        base, fetch, full, night = [], [], [], []
        for p in range(args.pages):
            state["page"] = p
            base.append(timed(lambda: json.loads(urllib.request.urlopen(url + "/ws/2/release?artist=x").read())))
            fetch.append(timed(lambda: client.browse_releases("artist", uuid.UUID(int=7), 0)))

            def store():
                data = client.browse_releases("artist", uuid.UUID(int=7), 0).data
                for doc in data["releases"]:
                    store_release_doc(db, doc, run)

            full.append(timed(store))

            target = uuid.UUID(int=7)
            for doc in json.loads(pages[p])["releases"]:  # what an earlier night left behind
                note_browse(db, "artist", target, doc, run.id)

            def nightly():  # the real walk of an unchanged one-page scope: no lookups
                before = client.stats.requests
                walk_scope(db, client, "artist", target, run)
                assert client.stats.requests - before == 1, "an unchanged page needs no lookups"

            night.append(timed(nightly))
        med = statistics.median
        print(f"pages: {args.pages} x 100 releases ({len(pages[0]) / 1e6:.2f} MB/page), rate limit off, "
              f"server handler time subtracted")
        print(f"baseline urllib+json.loads : {med(base) * 1000:8.1f} ms/page")
        print(f"client fetch+parse         : {med(fetch) * 1000:8.1f} ms/page  ({med(fetch) / med(base):.1f}x baseline)")
        print(f"fetch+parse+map+store      : {med(full) * 1000:8.1f} ms/page  ({med(full) / med(base):.1f}x baseline)"
              f"  = {med(full) * 10:.1f} ms/release")
        print(f"unchanged page (nightly)   : {med(night) * 1000:8.1f} ms/page  ({med(night) / med(base):.1f}x baseline)")
    finally:
        db.dispose()
        with psycopg.connect(conninfo, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        srv.shutdown()


if __name__ == "__main__":
    main()
