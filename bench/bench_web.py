"""Benchmark: the curators' web pages at 1M releases, measured through HTTP.

    .venv/bin/python bench/bench_web.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
                                        [--releases 1000000] [--requests 200] [--keep] [--reuse]

Builds a scratch database `mbindex_bench_web` with bench_score.py's generator
(its GENERATE statements, imported, not copied) and scores it, then starts
`mbindex serve` in its own process on a free port and times, from this
process over keep-alive HTTP:

  worklist  : `/` and its usual filters (format, country + min_score, a
              curation state, page 5), the page with its count of matches;
              and the find-by-name views (issue 22): an artist and a label
              by the start of the name (narrow and broad), a name matching
              nothing, and title words
  release   : `/release/<mbid>` of random generated releases
  baseline  : the same reads called in-process (no HTTP, no HTML): what the
              pages add is the ratio; and `/static/style.css` for HTTP alone

Targets (issues 12, 22): worklist p95 < 150 ms (the name views too), release page p95 < 100 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_score import GENERATE  # noqa: E402

from indexer.analysis import risk  # noqa: E402
from indexer.analysis.curation import Filters, flagged_in, show_in  # noqa: E402
from indexer.analysis.revisions import count_flagged_in  # noqa: E402
from indexer.db import Database, normalise_url  # noqa: E402

NAME = "mbindex_bench_web"
#: each worklist view: its path, and the same filters for the in-process baseline
VIEWS = [
    ("/", Filters()),
    ("/?format=Cassette", Filters(formats=("Cassette",))),
    ("/?country=GB&min_score=60", Filters(country="GB", min_score=60)),
    ("/?curation=in-progress", Filters(curation=("in-progress",))),
    ("/?page=5", Filters(offset=200)),
    # find by name: ~20 releases; ~440; ~440,000 ("Label 1", "Label 1x" ... "Label 19999"); none
    ("/?artist=artist+12345", Filters(artist="artist 12345")),
    ("/?label=LABEL+2417", Filters(label="LABEL 2417")),
    ("/?label=label+1", Filters(label="label 1")),
    ("/?artist=bj%C3%B6rk", Filters(artist="björk")),
    ("/?title=4242", Filters(title="4242")),
    ("/?title=release+77", Filters(title="release 77")),
]
WORKLIST = [path for path, _ in VIEWS]
NAME_VIEWS = WORKLIST[5:]


def p95(times: list[float]) -> float:
    times = sorted(times)
    return times[max(0, int(len(times) * 0.95) - 1)]


def line(label: str, times: list[float]) -> str:
    return (f"{label:34} n={len(times):4}  median {statistics.median(times):7.1f} ms  "
            f"p95 {p95(times):7.1f} ms  max {max(times):7.1f} ms")


def build(db: Database, conninfo: str, n: int) -> None:
    db.upgrade("head")
    t0 = time.perf_counter()
    with db.session() as s, s.begin():
        for sql in GENERATE:
            s.execute(text(sql), {"n": n})
    with psycopg.connect(conninfo, autocommit=True) as c:
        c.execute("VACUUM ANALYZE")
    print(f"generated {n:,} releases in {time.perf_counter() - t0:.0f} s", flush=True)
    t0 = time.perf_counter()
    with db.session() as s, s.begin():
        scored = risk.score_in(s, risk.load_policy())
    with psycopg.connect(conninfo, autocommit=True) as c:
        c.execute("VACUUM ANALYZE")
    print(f"scored {scored:,} releases in {time.perf_counter() - t0:.0f} s", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(db_url: str, port: int) -> subprocess.Popen:
    env = dict(os.environ, MBINDEX_DATABASE_URL=db_url, XDG_CONFIG_HOME=str(Path("/tmp") / f"{NAME}-xdg"))
    proc = subprocess.Popen([sys.executable, "-m", "indexer", "-q", "serve", "--port", str(port)], env=env,
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"mbindex serve ended: {proc.stderr.read().decode()[-500:]}")
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("mbindex serve did not start within 60 s")


def timed_get(conn: http.client.HTTPConnection, path: str) -> float:
    t0 = time.perf_counter()
    conn.request("GET", path)
    res = conn.getresponse()
    body = res.read()
    elapsed = (time.perf_counter() - t0) * 1000
    if res.status != 200:
        raise SystemExit(f"GET {path}: {res.status} {body[:300]!r}")
    return elapsed


def release_mbid(i: int) -> uuid.UUID:
    """The MBID bench_score's generator gives release i: md5('r' || i)::uuid."""
    return uuid.UUID(hashlib.md5(f"r{i}".encode()).hexdigest())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--releases", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=200, help="timed requests per page kind")
    ap.add_argument("--keep", action="store_true", help="keep the database for another run (--reuse)")
    ap.add_argument("--reuse", action="store_true", help="reuse a database kept by --keep")
    args = ap.parse_args()

    admin = make_url(normalise_url(args.url))
    admin_info = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    db_url = admin.set(database=NAME).render_as_string(hide_password=False)
    if not args.reuse:
        with psycopg.connect(admin_info, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
            c.execute(f'CREATE DATABASE "{NAME}"')
    db = Database(db_url)
    proc = None
    try:
        if not args.reuse:
            build(db, admin.set(database=NAME, drivername="postgresql").render_as_string(hide_password=False),
                  args.releases)
        with db.session() as s:
            total = s.execute(text("SELECT count(*) FROM risk_score")).scalar_one()
        print(f"{total:,} scored releases", flush=True)
        rng = random.Random(12)
        releases = [release_mbid(rng.randint(1, total)) for _ in range(args.requests)]
        work = [WORKLIST[i % len(WORKLIST)] for i in range(args.requests)]

        policy = risk.load_policy()
        base_w, base_r = [], []
        with db.session() as s:
            for i in range(args.requests):
                f = VIEWS[i % len(VIEWS)][1]
                t0 = time.perf_counter()
                flagged_in(s, f)
                count_flagged_in(s, f)
                base_w.append((time.perf_counter() - t0) * 1000)
            for mbid in releases:
                t0 = time.perf_counter()
                show_in(s, mbid, policy)
                base_r.append((time.perf_counter() - t0) * 1000)

        port = free_port()
        proc = start_server(db_url, port)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for path in WORKLIST + [f"/release/{releases[0]}", "/static/style.css"]:  # warm up
            timed_get(conn, path)
        static = [timed_get(conn, "/static/style.css") for _ in range(args.requests)]
        per_view = {path: [] for path in WORKLIST}
        for path in work:
            per_view[path].append(timed_get(conn, path))
        pages = [timed_get(conn, f"/release/{mbid}") for mbid in releases]
        conn.close()

        worklist = [t for ts in per_view.values() for t in ts]
        by_name = [t for path in NAME_VIEWS for t in per_view[path]]
        print(f"\nbench_web at {total:,} releases, {time.strftime('%Y-%m-%d')} (HTTP/1.1 keep-alive, one client)")
        print(line("HTTP alone (/static/style.css)", static))
        for path, ts in per_view.items():
            print(line(f"worklist {path}", ts))
        print(line("worklist, all views", worklist) + f"   target p95 < 150 ms: "
              f"{'met' if p95(worklist) < 150 else 'MISSED'}")
        print(line("worklist, find-by-name views", by_name) + f"   target p95 < 150 ms: "
              f"{'met' if p95(by_name) < 150 else 'MISSED'}")
        print(line("release page", pages) + f"   target p95 < 100 ms: {'met' if p95(pages) < 100 else 'MISSED'}")
        print(line("baseline: worklist reads in-process", base_w))
        print(line("baseline: show() in-process", base_r))
        print(f"ratio HTTP page / in-process reads (median): worklist "
              f"{statistics.median(worklist) / statistics.median(base_w):.2f}x, release "
              f"{statistics.median(pages) / statistics.median(base_r):.2f}x")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        db.dispose()
        if not args.keep:
            with psycopg.connect(admin_info, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')


if __name__ == "__main__":
    main()
