"""Benchmark: score >= 1M generated releases and time the default `flagged` query.

    .venv/bin/python bench/bench_score.py [--url postgresql://postgres@127.0.0.1:5432/postgres] [--releases 1000000]

Creates (and drops at the end unless --keep) a scratch database `mbindex_bench_score`
on the server, builds the schema with the Alembic migrations, generates releases
with set-based SQL (generate_series), then times `risk.score_in` (full and --changed)
and `curate.flagged_in` with the default filters.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scratch import scratch_database  # noqa: E402

from indexer.analysis import curation as curate  # noqa: E402
from indexer.analysis import risk  # noqa: E402


def _migration_rule(module: str, name: str) -> str:
    """A SQL rule a migration applies (one copy of it: the generator stores
    what the migration would have computed)."""
    path = Path(__file__).resolve().parents[1] / "migrations" / "versions" / f"{module}.py"
    spec = importlib.util.spec_from_file_location(module, path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    return getattr(migration, name)


GENERATE = [
    # ~1 label per 40 releases, artists with a long tail (many with 1-2 releases)
    """INSERT INTO release (mbid, title, artist_credit, release_group_mbid, status, quality, date, year, country,
                            barcode, barcode_gtin, cover_art_front, medium_count, track_count, formats, includes,
                            fields, needs_score, deleted_at)
       SELECT md5('r' || i)::uuid, 'Release ' || i, 'Artist ' || (i % 150000),
              md5('g' || (i / (1 + (i % 3))))::uuid,
              (ARRAY['Official','Official','Official','Official','Official','Official','Official','Promotion',
                     'Bootleg','Pseudo-Release','Withdrawn','Cancelled'])[1 + (i % 12)],
              (ARRAY['normal','normal','normal','low','high'])[1 + (i % 5)],
              CASE WHEN i % 9 = 0 THEN NULL ELSE (1950 + i % 75)::text || '-0' || (1 + i % 9) END,
              CASE WHEN i % 9 = 0 THEN NULL ELSE 1950 + i % 75 END,
              CASE WHEN i % 11 = 0 THEN NULL ELSE (ARRAY['GB','US','DE','JP','FR','XW','XE','NL'])[1 + (i % 8)] END,
              b.barcode,
              -- what the mapping stores beside a barcode (mapping.values.gtin_ok), as migration 0012 computes it
              CASE WHEN b.barcode <> '' THEN (@GTIN_SQL@) END,
              CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN false ELSE true END,
              1, 3,
              ARRAY[(ARRAY['CD','CD','CD','12" Vinyl','Digital Media','Cassette','CD-R','7" Vinyl','DAT',
                           'MiniDisc','Shellac','Reel-to-reel','Flexi-disc','VHS'])[1 + (i % 14)]],
              CASE WHEN i % 3 = 0 THEN '{}'::text[] ELSE ARRAY['url-rels','tags'] END,
              -- the document fields a lookup carries (mapping.DOCUMENT_FIELDS); one in ten as a search hit,
              -- which lacks them: the signals reading them are then not assessed
              CASE WHEN i % 10 = 0 THEN '{}'::text[] ELSE ARRAY['barcode','status','quality','cover-art-archive'] END,
              true,
              CASE WHEN i % 997 = 0 THEN now() END
       FROM generate_series(1, :n) AS i,
            LATERAL (SELECT CASE i % 6 WHEN 0 THEN NULL WHEN 1 THEN ''
                                       ELSE lpad((i::bigint * 7919)::text, 12, '0') END AS barcode) AS b""",
    """INSERT INTO medium (release_mbid, position, format, track_count)
       SELECT mbid, 1, formats[1], 3 FROM release""",
    """INSERT INTO track (medium_id, release_mbid, position, sort_key, number, title, length_ms)
       SELECT md.id, md.release_mbid, p, p, p::text,
              CASE WHEN (md.id + p) % 97 = 0 THEN '[unknown]' ELSE 'Track ' || p END,
              CASE WHEN md.id % 13 = 0 THEN NULL
                   ELSE 90000 + ((md.id * 31 + p * 17) % 5) * 30000 + ((md.id * p) % 20000) END
       FROM medium md, generate_series(1, 3) AS p""",
    """INSERT INTO release_label (release_mbid, position, label_mbid, label_name, catalog_number)
       SELECT mbid, 0,
              CASE WHEN n % 7 = 0 THEN '157afde4-4bf5-4039-8ad2-5a15acc85176'::uuid
                   WHEN n % 7 = 1 THEN NULL ELSE md5('l' || (n % 25000))::uuid END,
              CASE WHEN n % 7 = 0 THEN '[no label]' ELSE 'Label ' || (n % 25000) END,
              CASE WHEN n % 5 = 0 THEN NULL ELSE 'CAT-' || n END
       FROM (SELECT mbid, row_number() OVER () AS n FROM release) x""",
    """INSERT INTO artist_credit (entity_type, entity_mbid, position, artist_mbid, name, joinphrase)
       SELECT 'release', mbid, 0,
              md5('a' || CASE WHEN n % 2 = 0 THEN n % 150000 ELSE n END)::uuid,
              'Artist ' || CASE WHEN n % 2 = 0 THEN n % 150000 ELSE n END, ''
       FROM (SELECT mbid, row_number() OVER () AS n FROM release) x""",
    """INSERT INTO url_relation (entity_type, entity_mbid, position, url, type)
       SELECT 'release', mbid, 0, 'https://www.discogs.com/release/' || n, 'discogs'
       FROM (SELECT mbid, row_number() OVER () AS n FROM release) x WHERE n % 2 = 0""",
    """INSERT INTO tag (entity_type, entity_mbid, name, count)
       SELECT 'release', mbid, 'rock', 1
       FROM (SELECT mbid, row_number() OVER () AS n FROM release) x WHERE n % 3 = 0""",
    """INSERT INTO curation_mark (release_mbid, status, marked_by)
       SELECT mbid, (ARRAY['in-progress','preserved','ignored'])[1 + n % 3], 'bench'
       FROM (SELECT mbid, row_number() OVER () AS n FROM release) x WHERE n % 50 = 0""",
    """INSERT INTO curation_state (release_mbid, status, mark_id) SELECT release_mbid, status, id FROM curation_mark""",
]
GENERATE = [sql.replace("@GTIN_SQL@", _migration_rule("0012_barcode_gtin", "GTIN_SQL")) for sql in GENERATE]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--releases", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    with scratch_database(args.url, "mbindex_bench_score", keep=args.keep) as db:
        t0 = time.perf_counter()
        with db.session() as s, s.begin():
            for sql in GENERATE:
                s.execute(text(sql), {"n": args.releases})
        _maintain(db, "VACUUM ANALYZE")
        gen = time.perf_counter() - t0
        with db.session() as s:
            counts = {t: s.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                      for t in ("release", "track", "release_label", "artist_credit", "url_relation", "tag")}
        print(f"generated {counts} in {gen:.1f}s")

        # baseline, same run: writing one row per release into a table shaped
        # and indexed like risk_score, with no signal computed at all (the
        # floor any scoring statement pays)
        with db.session() as s, s.begin():
            s.execute(text("CREATE TABLE bench_floor (LIKE risk_score INCLUDING ALL)"))
        t0 = time.perf_counter()
        with db.session() as s, s.begin():
            s.execute(text("INSERT INTO bench_floor (release_mbid, score, signals, policy_version, scored_at) "
                           "SELECT mbid, 0, '{}', 'floor', now() FROM release"))
        floor = time.perf_counter() - t0
        with db.session() as s, s.begin():
            s.execute(text("DROP TABLE bench_floor"))
        print(f"baseline (a plain row per release into a table like risk_score, no signals): {floor:.1f}s")

        policy = risk.load_policy()
        t0 = time.perf_counter()
        with db.session() as s, s.begin():
            n = risk.score_in(s, policy)
        full = time.perf_counter() - t0
        print(f"score (all): {n} releases in {full:.1f}s ({n / full:,.0f} releases/s; {full / floor:.1f}x baseline)")

        with db.session() as s, s.begin():
            s.execute(text("UPDATE release SET needs_score = true WHERE (('x' || substr(mbid::text, 1, 8))::bit(32)::int) % 100 = 0"))
        _maintain(db, "ANALYZE release")
        t0 = time.perf_counter()
        with db.session() as s, s.begin():
            n_changed = risk.score_in(s, policy, changed_only=True)
        changed = time.perf_counter() - t0
        print(f"score --changed: {n_changed} releases in {changed:.1f}s")

        with db.session() as s:
            hist = s.execute(text("SELECT score / 10 * 10, count(*) FROM risk_score GROUP BY 1 ORDER BY 1")).all()
        print("score histogram:", ", ".join(f"{b}: {c}" for b, c in hist))

        times = []
        with db.session() as s:
            for _ in range(args.queries):
                t0 = time.perf_counter()
                rows = curate.flagged_in(s, curate.Filters())
                times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        p95 = times[max(0, int(len(times) * 0.95) - 1)]
        base = []
        with db.session() as s:  # baseline: the top 50 scores alone, no join, no filter
            for _ in range(args.queries):
                t0 = time.perf_counter()
                s.execute(text("SELECT release_mbid, score FROM risk_score ORDER BY score DESC LIMIT 50")).all()
                base.append((time.perf_counter() - t0) * 1000)
        print(f"flagged (default, {len(rows)} rows) x{args.queries}: median {statistics.median(times):.1f} ms, "
              f"p95 {p95:.1f} ms, max {times[-1]:.1f} ms; baseline top-50 scores median "
              f"{statistics.median(base):.1f} ms ({statistics.median(times) / statistics.median(base):.1f}x)")
        for label, f in (("--format Cassette", curate.Filters(formats=("Cassette",))),
                         ("--country GB --min-score 60", curate.Filters(country="GB", min_score=60))):
            ts = []
            with db.session() as s:
                for _ in range(10):
                    t0 = time.perf_counter()
                    curate.flagged_in(s, f)
                    ts.append((time.perf_counter() - t0) * 1000)
            print(f"flagged {label}: median {statistics.median(ts):.1f} ms")


def _maintain(db, sql: str) -> None:
    """VACUUM / ANALYZE, which cannot run inside a transaction."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(sql))


if __name__ == "__main__":
    main()
