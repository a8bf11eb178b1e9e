"""Client overhead per 100-release browse page, rate limit off; and the
requests a whole scope walk needs (`--scope N`).

    .venv/bin/python bench/bench_client.py [--url postgresql://postgres@127.0.0.1:5432/postgres] [--pages 10]
    .venv/bin/python bench/bench_client.py --scope 1000

Pages: a local HTTP server serves a browse page of 100 real release documents
(tests/fixtures/ws2/release completed by `helpers.as_answered`, ids varied)
from pre-encoded bytes; the time the server spends inside its handler is
measured and subtracted.

  baseline : urllib fetch + json.loads of the page (same process)
  fetch    : ws2.Client.browse_releases (musicbrainzngs + our transport + parse)
  nightly  : sync.walk_scope over an unchanged one-page scope (fetch, store
             every item unchanged, scope membership; no lookups)
  full     : fetch + map + store of all 100 releases (one transaction each,
             revisions: sync.pipeline.store_release_doc per release)

Scope: the tests' replay server (tests/replay_server.py, which ends a page with
inc=recordings before 500 tracks) serves a label of N releases built from the
same real documents: the recorded albums, 2-track singles cut from them and,
every 50th, a 7-disc box set (over 100 tracks), about 12 tracks on average.
`sync label` walks it at 1 request/s (the public rate, paced by our rate
limiter); printed: requests, releases stored per request, that as a share of
the server's page capacity min(100, 500 / average tracks), and the wall
time.  The baseline, in the same run, is the path before whole pages: one
lookup per release (`sync release`), run unpaced; its wall time at 1
request/s is at least one second per request.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import statistics
import sys
import threading
import time
import urllib.request
import uuid
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the tests' replay server and helpers
warnings.simplefilter("ignore")

from scratch import scratch_database  # noqa: E402

from helpers import as_answered  # noqa: E402
from indexer.config import load_settings  # noqa: E402
from indexer.runs import Run  # noqa: E402
from indexer.sources.includes import missing_includes  # noqa: E402
from indexer.sources.ws2 import BROWSE_INCLUDES, Client  # noqa: E402
from indexer.sync.pipeline import store_release_doc  # noqa: E402
from indexer.sync.releases import sync_releases  # noqa: E402
from indexer.sync.scope import sync_scope, walk_scope  # noqa: E402
from replay_server import MAX_BROWSE_TRACKS, MAX_LIMIT, ReplayServer, track_count  # noqa: E402

LABEL = uuid.UUID("47e718e1-7ee4-460c-b1cc-1192a841c6e5")


def full_documents() -> list[dict]:
    """The recorded release lookups that carry every browse include once
    completed with empty values for what they were not recorded with."""
    docs = [as_answered(json.loads(p.read_text()), BROWSE_INCLUDES)
            for p in sorted((ROOT / "tests/fixtures/ws2/release").glob("*.json"))]
    return [d for d in docs if not missing_includes(d, BROWSE_INCLUDES)]


def _cut(doc: dict, n_media: int | None = None, n_tracks: int | None = None) -> dict:
    """`doc` with its media repeated `n_media` times (a box set) or its first
    medium cut to `n_tracks` tracks (a single)."""
    out = copy.deepcopy(doc)
    if n_tracks is not None:
        medium = out["media"][0]
        medium["tracks"] = medium["tracks"][:n_tracks]
        medium["track-count"] = len(medium["tracks"])
        medium.pop("data-tracks", None)
        out["media"] = [medium]
    if n_media is not None:
        out["media"] = [dict(copy.deepcopy(m), position=i * len(doc["media"]) + m["position"])
                        for i in range(n_media) for m in doc["media"]]
    return out


def scope_documents(n: int) -> list[dict]:
    """`n` releases: albums, singles and every 50th a box set, new MBIDs."""
    albums = full_documents()
    pool = albums + [_cut(albums[0], n_tracks=2), _cut(albums[1], n_tracks=2), _cut(albums[2], n_tracks=6)]
    box = _cut(max(albums, key=track_count), n_media=7)
    out = []
    for i in range(n):
        doc = copy.deepcopy(box if i % 50 == 25 else pool[i % len(pool)])
        doc["id"] = str(uuid.UUID(int=0xB0 << 120 | i))
        out.append(doc)
    return out


def scope_bench(url: str, n: int) -> None:
    docs = scope_documents(n)
    tracks = [track_count(d) for d in docs]
    capacity = min(MAX_LIMIT, MAX_BROWSE_TRACKS / statistics.mean(tracks))
    with ReplayServer() as replay:
        for doc in docs:
            replay.add_document("release", doc)
        replay.set_browse("release", "label", str(LABEL), docs)
        settings = load_settings({"ws_url": replay.url, "contact": "bench@example.org", "rate": 0, "timeout": 30,
                                  "database_url": url}, environ={})
        with scratch_database(url, f"mbindex_bench_scope_{os.getpid()}") as db:
            t0 = time.perf_counter()
            walk = sync_scope(db, Client(dataclasses.replace(settings, rate=1.0)), "label", LABEL)
            walk_s = time.perf_counter() - t0
        with scratch_database(url, f"mbindex_bench_lookups_{os.getpid()}") as db:
            t0 = time.perf_counter()
            looked = sync_releases(db, Client(settings), [uuid.UUID(d["id"]) for d in docs])
            look_s = time.perf_counter() - t0
    assert walk.status == looked.status == "ok" and walk.counts.inserted == looked.counts.inserted == n
    per_request = n / walk.requests
    print(f"scope: {n} releases, {statistics.mean(tracks):.1f} tracks on average (max {max(tracks)}, "
          f"{sum(t > 100 for t in tracks)} over 100); replay server caps pages at {MAX_BROWSE_TRACKS} tracks")
    print(f"server page capacity          : min({MAX_LIMIT}, {MAX_BROWSE_TRACKS}/avg tracks) = "
          f"{capacity:.1f} releases/request")
    print(f"whole pages (sync label)      : {walk.requests:5d} requests, {per_request:6.1f} releases/request "
          f"= {per_request / capacity:.1%} of capacity, fallback lookups {walk.counts.fallback_lookups}; "
          f"wall time at 1 request/s {walk_s:.1f} s")
    print(f"baseline: one lookup each     : {looked.requests:5d} requests, {n / looked.requests:6.2f} releases/request; "
          f"at 1 request/s at least {looked.requests:d} s (unpaced: {look_s:.1f} s)")
    print(f"ratio                         : {looked.requests / walk.requests:.1f}x fewer requests")


def page_bytes(page: int) -> bytes:
    base = full_documents()
    rels = []
    for i in range(100):
        d = copy.deepcopy(base[i % len(base)])
        d["id"] = str(uuid.UUID(int=page * 1000 + i + 1))
        rels.append(d)
    return json.dumps({"release-count": 100, "release-offset": 0, "releases": rels}).encode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--pages", type=int, default=10)
    ap.add_argument("--scope", type=int, default=0, help="walk a scope of this many releases instead")
    args = ap.parse_args()
    if args.scope:
        scope_bench(args.url, args.scope)
        return

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

    try:
        with scratch_database(args.url, f"mbindex_bench_client_{os.getpid()}") as db:
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

                full.append(timed(store))  # what an earlier night left behind
                target = uuid.UUID(int=7)

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
        srv.shutdown()


if __name__ == "__main__":
    main()
