"""Dump import: archives and plain files of real documents, bad lines,
interruptions, re-imports of newer dumps, and equality with the API path."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from helpers import DUMP_TIMESTAMP, FIXTURES, WS2, release_doc, snapshot, write_archive
from helpers import dump_line as line
from indexer.db import Database
from indexer.mapping import asked_includes, canonical_json, canonical_json_bytes, doc_hash, map_release
from indexer.runs import Run
from indexer.sources.dump_files import entity_from_name, parse_dump_time
from indexer.store import bulk, save_release_in, tombstone
from indexer.store.bulk import BIG_DUMP_BYTES, tuning_hint
from indexer.store.scope import touch_unchanged
from indexer.store.staging import copy_line
from indexer.sync.dump import TombstoneGuard, import_dump
from indexer.sync.dump_batches import Batch, MemberStart, ReadPlan, read_batches
from indexer.sync.pipeline import store_release_doc

#: tombstone whatever a complete dump lacks (tests of the tombstone rules on a 12-release mirror)
FORCE = TombstoneGuard(force=True)

RELEASES = sorted(p.stem for p in (WS2 / "release").glob("*.json"))
TIMESTAMP = DUMP_TIMESTAMP


def release_lines(ids=RELEASES) -> list[str]:
    return [line(release_doc(mbid)) for mbid in ids]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    return path


def count(db, sql: str) -> int:
    with db.session() as s:
        return s.execute(text(sql)).scalar_one()


@pytest.fixture
def cli(database_url, tmp_path):
    """Runs the real `mbindex` console script in a subprocess."""
    env = dict(os.environ, MBINDEX_DATABASE_URL=database_url, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    exe = Path(sys.executable).with_name("mbindex")

    def run(*args, **kw):
        return subprocess.run([str(exe), "-q", *args], env=env, capture_output=True, text=True, timeout=120, **kw)

    run.env = env
    run.exe = exe
    return run


# --- pure parts -------------------------------------------------------------------


def test_orjson_canonical_form_is_the_stdlib_one():
    docs = [release_doc(mbid) for mbid in RELEASES]
    docs += [json.loads(x) for x in (FIXTURES / "dump" / "recording").read_text().splitlines()[:20]]
    docs.append({"big": 2**70, "ü": "é\u2028\x01\"\\", "f": 4.5, "n": None, "e": [], "z": {"b": 1, "a": 2}})
    for doc in docs:
        assert canonical_json_bytes(doc) == canonical_json(doc).encode("utf-8")


def test_entity_names_and_dump_time():
    assert entity_from_name("release") == "release"
    assert entity_from_name("release-group.jsonl") == "release-group"
    assert entity_from_name("release.tar.xz") == "release"
    assert entity_from_name("test2") is None
    when = parse_dump_time(TIMESTAMP)
    assert (when.year, when.month, when.day, when.utcoffset().total_seconds()) == (2025, 11, 22, 0)
    assert parse_dump_time("garbage") is None


def test_copy_text_escapes_what_copy_would_misread():
    assert copy_line(["a\tb\\c\nd", None, True, False, 3, ["x", 'y"z', None], []]) == \
        'a\\tb\\\\c\\nd\t\\N\tt\tf\t3\t{"x","y\\\\"z",NULL}\t{}\n'


# --- imports ----------------------------------------------------------------------------


def test_dump_import_stores_exactly_what_the_api_path_stores(db, db2, tmp_path):
    docs = [release_doc(mbid) for mbid in RELEASES]
    with db.session() as s, s.begin():
        for doc in docs:
            save_release_in(s, map_release(doc, includes=asked_includes(doc)), doc, source="api")
    # a small batch so that documents sharing artists/recordings meet in and across batches
    res = import_dump(db2, write_lines(tmp_path / "release.jsonl", [line(d) for d in docs]), batch=5,
                      parallel=False)
    assert (res.status, res.counts.inserted, res.counts.quarantined) == ("ok", len(docs), 0)
    a, b = snapshot(db), snapshot(db2)
    for table in a:
        assert a[table] == b[table], table
    assert len(a["track"]) > 80 and len(a["url_relation"]) > 5 and len(a["artist_credit"]) > 20


def test_archive_import_with_bad_lines_quarantines_and_goes_on(db, cli, tmp_path):
    good = release_lines()
    bad = ['{"id": "0f5a0e43-', "not json at all", "[1, 2]", '{"title": "no id"}',
           '{"id": "not-a-uuid", "title": "x"}', json.dumps({"id": str(uuid.uuid4()), "title": "NUL \u0000 here"})]
    lines = good[:5] + bad[:3] + good[5:] + bad[3:]
    archive = write_archive(tmp_path / "release.tar.xz", lines)
    res = cli("import-dump", str(archive))
    assert res.returncode == 5, res.stderr
    assert f"inserted {len(good)}" in res.stdout and f"quarantined {len(bad)}" in res.stdout
    assert count(db, "SELECT count(*) FROM release") == len(good)
    with db.session() as s:
        rows = s.execute(text("SELECT line_no, error, raw FROM quarantine ORDER BY line_no")).all()
    assert [r.line_no for r in rows] == [6, 7, 8] + list(range(len(good) + 4, len(lines) + 1))
    assert [r.raw for r in rows] == [line.encode() for line in bad]  # kept byte for byte
    assert "not valid JSON" in rows[0].error and "no valid id" in rows[4].error
    assert "a JSON list, not an object" in rows[2].error
    assert "cannot store release" in rows[-1].error  # PostgreSQL refuses NUL: found line by line
    assert count(db, "SELECT count(*) FROM dump_import WHERE status = 'done' AND member = 'mbdump/release'") == 1
    # the same archive again: recognised, nothing done
    again = cli("import-dump", str(archive))
    assert again.returncode == 0 and "already imported" in again.stderr
    assert count(db, "SELECT count(*) FROM quarantine") == len(bad)


def test_plain_file_and_directory_of_real_dump_lines(db, cli, tmp_path):
    (tmp_path / "d").mkdir()
    for name in ("label", "recording"):
        (tmp_path / "d" / name).write_bytes((FIXTURES / "dump" / name).read_bytes())
    res = cli("import-dump", str(tmp_path / "d"))
    assert res.returncode == 0, res.stderr
    assert count(db, "SELECT count(*) FROM document WHERE entity_type = 'label'") == 75
    assert count(db, "SELECT count(*) FROM document WHERE entity_type = 'recording'") == 100
    assert count(db, "SELECT count(*) FROM label") == 75
    with db.session() as s:
        name, code = s.execute(text("SELECT name, label_code FROM label WHERE mbid = :m"),
                               {"m": "6c6c3bbb-76aa-4260-b842-f04936573c71"}).one()
        assert name == "Abstract Logix"
        links = s.execute(text("SELECT url FROM url_relation WHERE entity_mbid = :m"),
                          {"m": "6c6c3bbb-76aa-4260-b842-f04936573c71"}).scalars().all()
        assert "https://abstractlogix.bandcamp.com/" in links
        first = json.loads((FIXTURES / "dump" / "recording").read_text().splitlines()[0])
        rec = s.execute(text("SELECT title, length_ms, artist_credit FROM recording WHERE mbid = :m"),
                        {"m": first["id"]}).one()
        assert rec.title == first["title"] and rec.length_ms == first["length"]
        assert rec.artist_credit == "".join(c["name"] + c["joinphrase"] for c in first["artist-credit"])
        assert s.execute(text("SELECT count(*) FROM artist_credit WHERE entity_type = 'recording' "
                              "AND entity_mbid = :m"), {"m": first["id"]}).scalar_one() == len(first["artist-credit"])


def test_unknown_entity_and_missing_path_are_usage_errors(db, cli, tmp_path):
    odd = write_lines(tmp_path / "test2", release_lines()[:1])
    res = cli("import-dump", str(odd))
    assert res.returncode == 2 and "--entity" in res.stderr and "Traceback" not in res.stderr
    assert cli("import-dump", str(tmp_path / "nope.tar.xz")).returncode == 2
    assert cli("import-dump", "--entity", "place", str(odd)).returncode == 2
    ok = cli("import-dump", "--entity", "release", str(odd))
    assert ok.returncode == 0, ok.stderr
    assert count(db, "SELECT count(*) FROM release") == 1


def test_newer_dump_updates_keeps_revisions_and_tombstones_vanished(db, tmp_path):
    first = write_archive(tmp_path / "release-1.tar.xz", release_lines())
    assert import_dump(db, first).counts.inserted == len(RELEASES)
    changed, gone = RELEASES[0], RELEASES[1]
    docs = []
    for mbid in RELEASES:
        if mbid == gone:
            continue
        doc = release_doc(mbid)
        if mbid == changed:
            doc["title"] = "Retitled upstream"
        docs.append(line(doc))
    second = write_archive(tmp_path / "release-2.tar.xz", docs, timestamp="2030-11-22 00:00:00.000000+00")
    res = import_dump(db, second, guard=FORCE)  # 1 of 12 and dated ahead: beyond the guard's defaults
    assert (res.counts.updated, res.counts.unchanged, res.counts.tombstoned) == (1, len(RELEASES) - 2, 1)
    with db.session() as s:
        assert s.execute(text("SELECT title FROM release WHERE mbid = :m"), {"m": changed}).scalar_one() == \
            "Retitled upstream"
        assert s.execute(text("SELECT revision_count FROM document WHERE mbid = :m"), {"m": changed}).scalar_one() == 2
        titles = s.execute(text("SELECT doc->>'title' FROM document_revision WHERE mbid = :m ORDER BY id"),
                           {"m": changed}).scalars().all()
        assert titles[0] != "Retitled upstream" and titles[1] == "Retitled upstream"
        dead = s.execute(text("SELECT deleted_at IS NOT NULL, deleted_reason, needs_score FROM release "
                              "WHERE mbid = :m"), {"m": gone}).one()
        assert dead[0] and "absent from complete dump" in dead[1] and dead[2]
        assert s.execute(text("SELECT count(*) FROM track WHERE release_mbid = :m"), {"m": gone}).scalar_one() > 0


def test_partial_file_never_tombstones_and_releases_newer_than_the_dump_survive(db, tmp_path):
    import_dump(db, write_lines(tmp_path / "release.jsonl", release_lines()))
    res = import_dump(db, write_lines(tmp_path / "release-part.jsonl", release_lines()[:3]))
    assert res.counts.tombstoned == 0 and res.counts.unchanged == 3
    # a complete archive made *before* we first saw these releases does not prove them gone
    res = import_dump(db, write_archive(tmp_path / "old.tar.xz", release_lines()[:3],
                                        timestamp="2001-01-01 00:00:00.000000+00"))
    assert res.counts.tombstoned == 0
    assert count(db, "SELECT count(*) FROM release WHERE deleted_at IS NOT NULL") == 0


def test_a_tombstoned_release_seen_again_comes_back(db, tmp_path):
    import_dump(db, write_archive(tmp_path / "a.tar.xz", release_lines()))
    import_dump(db, write_archive(tmp_path / "b.tar.xz", release_lines()[1:], timestamp="2030-01-01 00:00:00+00"),
                guard=FORCE)
    assert count(db, "SELECT count(*) FROM release WHERE deleted_at IS NOT NULL") == 1
    res = import_dump(db, write_archive(tmp_path / "c.tar.xz", release_lines(), timestamp="2030-02-01 00:00:00+00"))
    assert res.counts.updated == 1
    assert count(db, "SELECT count(*) FROM release WHERE deleted_at IS NOT NULL") == 0
    assert count(db, "SELECT count(*) FROM document WHERE deleted_at IS NOT NULL") == 0


def test_truncated_archive_fails_clearly_keeps_what_was_read(db, cli, tmp_path):
    lines = release_lines() * 1  # real documents, then cut the compressed file
    archive = write_archive(tmp_path / "release.tar.xz", lines)
    data = archive.read_bytes()
    cut = tmp_path / "cut" / "release.tar.xz"
    cut.parent.mkdir()
    cut.write_bytes(data[: int(len(data) * 0.8)])
    res = cli("import-dump", "--batch", "2", str(cut))
    assert res.returncode == 1, res.stderr
    assert "truncated or corrupt" in res.stderr and "Traceback" not in res.stderr
    stored = count(db, "SELECT count(*) FROM release")
    assert stored == count(db, "SELECT lines_done FROM dump_import")
    assert count(db, "SELECT count(*) FROM sync_run WHERE kind = 'import' AND status = 'failed'") == 1
    # the whole archive afterwards: everything, nothing twice, no tombstone from the broken one
    full = cli("import-dump", str(archive))
    assert full.returncode == 0, full.stderr
    assert count(db, "SELECT count(*) FROM release") == len(RELEASES)
    assert count(db, "SELECT count(*) FROM document_revision") == len(RELEASES)


class Crash(Exception):
    pass


def test_interrupted_import_resumes_at_its_checkpoint(db, db2, tmp_path, monkeypatch):
    archive = write_archive(tmp_path / "release.tar.xz", release_lines())
    import_dump(db2, archive, batch=3, parallel=False)  # uninterrupted, for comparison

    real_load = bulk.Loader.load
    calls = {"n": 0}

    def crashing_load(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash("power cut")
        return real_load(self, *a, **kw)

    monkeypatch.setattr(bulk.Loader, "load", crashing_load)
    with pytest.raises(Crash):
        import_dump(db, archive, batch=3, parallel=False)
    assert count(db, "SELECT lines_done FROM dump_import") == 6
    assert count(db, "SELECT count(*) FROM release") == 6
    monkeypatch.setattr(bulk.Loader, "load", real_load)
    logs = []
    res = import_dump(db, archive, batch=3, parallel=False, log=logs.append)
    assert any("resuming after line 6" in x for x in logs)
    assert res.lines == len(RELEASES) - 6 and res.counts.tombstoned == 0
    assert snapshot(db) == snapshot(db2)


def _kill9_loop(db, db2, cli, tmp_path, delays, copies=40) -> int:
    """Start the real importer, kill -9 its whole process group after each
    delay, then let one run finish; the result must equal an uninterrupted import."""
    lines = []
    for i in range(copies):  # 12 real release documents per copy, with fresh ids
        for mbid in RELEASES:
            doc = release_doc(mbid)
            doc["id"] = str(uuid.UUID(int=uuid.UUID(mbid).int ^ (i + 1)))
            lines.append(line(doc))
    archive = write_archive(tmp_path / "release.tar.xz", lines)
    import_dump(db2, archive, batch=20)
    kills = 0
    for delay in delays:
        proc = subprocess.Popen([str(cli.exe), "-q", "import-dump", "--batch", "20", str(archive)], env=cli.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(delay)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    res = cli("import-dump", "--batch", "20", str(archive))
    assert res.returncode == 0, res.stderr
    assert snapshot(db) == snapshot(db2)
    assert count(db, "SELECT count(*) FROM release") == len(lines)
    # the killed runs are said to be interrupted, none stays "running" for ever
    assert count(db, "SELECT count(*) FROM sync_run WHERE status = 'running'") == 0
    assert 1 <= count(db, "SELECT count(*) FROM sync_run WHERE status = 'interrupted'") <= kills
    return kills


def test_kill9_during_import_then_rerun_converges(db, db2, cli, tmp_path):
    assert _kill9_loop(db, db2, cli, tmp_path, (0.6, 1.2, 1.8, 2.5)) >= 1


@pytest.mark.slow
def test_kill9_import_crash_loop_random_delays(db, db2, cli, tmp_path):
    import random

    rng = random.Random(int(os.environ.get("MBINDEX_CRASH_SEED", "7")))
    n = int(os.environ.get("MBINDEX_CRASH_LOOPS", "25"))
    kills = _kill9_loop(db, db2, cli, tmp_path, [rng.uniform(0.3, 1.2) for _ in range(n)], copies=200)
    print(f"dump import crash loop: {n} starts, {kills} kill -9, converged")
    assert kills >= n // 2


def test_second_import_is_refused_while_one_runs(db, cli, tmp_path):
    archive = write_archive(tmp_path / "release.tar.xz", release_lines())
    with db.writer_lock("test"):
        res = cli("import-dump", str(archive))
    assert res.returncode == 4 and "another mbindex" in res.stderr
    assert count(db, "SELECT count(*) FROM release") == 0


def test_import_marks_releases_for_scoring_and_scores(db, cli, tmp_path):
    cli("import-dump", str(write_archive(tmp_path / "release.tar.xz", release_lines())))
    assert count(db, "SELECT count(*) FROM release WHERE needs_score") == len(RELEASES)
    res = cli("score", "--changed")
    assert res.returncode == 0, res.stderr
    assert count(db, "SELECT count(*) FROM risk_score") == len(RELEASES)
    assert count(db, "SELECT count(*) FROM release WHERE needs_score") == 0


def test_reader_is_lazy_so_memory_stays_flat(tmp_path):
    """The reader holds a bounded number of batches, whatever the input size."""
    doc = release_doc(RELEASES[0])
    path = tmp_path / "release.jsonl"
    with open(path, "w") as f:
        for i in range(3000):
            doc["id"] = str(uuid.UUID(int=i + 1))
            f.write(line(doc) + "\n")
    plan = ReadPlan(sources=[(str(path), "fp")], entity=None, resume={}, skip_done=set(), batch=100)
    msgs = read_batches(plan)
    kinds = [type(next(msgs)) for _ in range(3)]
    assert kinds == [MemberStart, Batch, Batch]  # a generator: lines are read as batches are taken
    msgs.close()


def test_generated_benchmark_dump_imports_with_its_bad_lines_quarantined(db, tmp_path):
    """bench/make_dump.py (the benchmark's generator) makes valid real-shaped dumps."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
    try:
        import make_dump
    finally:
        sys.path.pop(0)
    path = tmp_path / "release.tar.xz"
    make_dump.write_dump(str(path), 300, seed=3, bad_lines=5)
    res = import_dump(db, path)
    assert (res.lines, res.counts.inserted, res.counts.quarantined) == (300, 295, 5)
    with db.session() as s:
        bad = s.execute(text("SELECT line_no FROM quarantine ORDER BY line_no")).scalars().all()
        assert [n - 1 for n in bad] == make_dump.bad_line_positions(300, 5, seed=3)
        assert s.execute(text("SELECT count(*) FROM release WHERE mbid = :m"),
                         {"m": make_dump.release_id(3, 294)}).scalar_one() == 1
        assert s.execute(text("SELECT count(DISTINCT f) FROM release, unnest(formats) f")).scalar_one() >= 3


def _variant(doc: dict, n: int, credit_name: str) -> dict:
    """Another release sharing the release group and recordings, crediting them differently."""
    v = copy.deepcopy(doc)
    v["id"] = str(uuid.UUID(int=uuid.UUID(doc["id"]).int ^ n))
    for medium in v.get("media") or []:
        for track in medium.get("tracks") or []:
            for credit in (track.get("recording") or {}).get("artist-credit") or []:
                credit["name"] = credit_name
    return v


def test_shared_recordings_and_newer_versions_match_the_api_path(db, db2, tmp_path):
    """Documents that share recordings and release groups, inside and across
    batches, then newer versions of some: both paths keep the same rows."""
    base = [release_doc(mbid) for mbid in RELEASES]
    round1 = []
    for i, doc in enumerate(base):
        round1.append(doc)
        if i % 3 == 0:
            round1.append(_variant(doc, i + 1, f"Credited {i}"))
    round2 = []
    for i, doc in enumerate(round1[::2]):
        newer = _variant(doc, 0, f"Recredited {i}")  # same id, new recording credits
        newer["title"] = doc["title"] + " (remaster)"
        round2.append(newer)
    for n, docs in enumerate((round1, round2)):
        with db.session() as s, s.begin():
            for doc in docs:
                save_release_in(s, map_release(doc, includes=asked_includes(doc)), doc, source="api")
        import_dump(db2, write_lines(tmp_path / f"release-{n}.jsonl", [line(d) for d in docs]), batch=4,
                    parallel=False)
        a, b = snapshot(db), snapshot(db2)
        for table in a:
            assert a[table] == b[table], (n, table)
    with db2.session() as s:
        names = s.execute(text("SELECT DISTINCT name FROM artist_credit WHERE entity_type = 'recording' "
                               "AND name LIKE 'Recredited%'")).scalars().all()
    assert names  # the newer credits replaced the older ones


def test_dump_lines_are_kept_byte_for_byte(db, tmp_path):
    """The stored revision is the line as the dump had it, not a re-serialisation."""
    docs = [release_doc(mbid) for mbid in RELEASES[:3]]
    lines = [json.dumps(docs[0], ensure_ascii=True),  # spaced, \\u escapes
             json.dumps(dict(reversed(list(docs[1].items()))), ensure_ascii=False),  # keys in another order
             line(docs[2])]
    import_dump(db, write_lines(tmp_path / "release.jsonl", lines), parallel=False)
    with db.session() as s:
        stored = dict(s.execute(text("SELECT mbid::text, doc::text FROM document_revision")).all())
    assert [stored[d["id"]] for d in docs] == lines


def test_planner_statistics_follow_a_growing_mirror(db, tmp_path, monkeypatch):
    """While a seed grows the tables, the loader ANALYZEs them each time they
    double, so the planner never believes a big table is tiny."""
    monkeypatch.setattr(bulk, "STATS_MIN_ROWS", 3)
    import_dump(db, write_lines(tmp_path / "release.jsonl", release_lines()), batch=2, parallel=False)
    with db.session() as s:
        manual, = s.execute(text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'document'")).one()
        believed = s.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'document'")).scalar_one()
        actual = s.execute(text("SELECT count(*) FROM document")).scalar_one()
    assert actual == len(RELEASES) >= 8
    assert manual >= 2  # doubling from 3: after about 4 and 8 documents
    assert actual / 2 <= believed <= actual


def test_tuning_hint_only_for_big_dumps_on_small_settings():
    defaults = {"shared_buffers": 128 << 20, "max_wal_size": 1 << 30}
    tuned = {"shared_buffers": 6 << 30, "max_wal_size": 8 << 30}
    assert tuning_hint(defaults, BIG_DUMP_BYTES - 1) is None  # a small dump: not worth a word
    hint = tuning_hint(defaults, BIG_DUMP_BYTES)
    assert "shared_buffers=128MB and max_wal_size=1024MB" in hint and "README" in hint
    assert tuning_hint(tuned, 10 * BIG_DUMP_BYTES) is None
    assert tuning_hint(dict(tuned, shared_buffers=512 << 20), BIG_DUMP_BYTES).startswith(
        "PostgreSQL runs with shared_buffers=512MB: ")


# --- one set of revision rules, three paths -------------------------------------------------


def _by_lookup(db: Database, docs: list[dict], gone: list[str]) -> dict:
    """The ws/2 lookup path: each document stored alone; a 404 tombstones."""
    run = Run(db, "sync", "release", None)
    for doc in docs:
        store_release_doc(db, doc, run)
    for mbid in gone:
        run.counts.tombstoned += tombstone(db, uuid.UUID(mbid), "404 on lookup")
    return run.counts.as_dict()


def _by_browse(db: Database, docs: list[dict], gone: list[str]) -> dict:
    """The browse path (`sync.scope.store_page`): the page's unchanged
    releases touched at once, the others stored one by one."""
    run = Run(db, "sync", "artist", None)
    unchanged = touch_unchanged(db, {uuid.UUID(d["id"]): doc_hash(d) for d in docs})
    run.counts.unchanged += len(unchanged)
    for doc in docs:
        if uuid.UUID(doc["id"]) not in unchanged:
            store_release_doc(db, doc, run)
    for mbid in gone:  # a member missing from the walk, confirmed by a 404
        run.counts.tombstoned += tombstone(db, uuid.UUID(mbid), "404 on lookup")
    return run.counts.as_dict()


def _by_dump(db: Database, docs: list[dict], gone: list[str], path: Path) -> dict:
    """The dump path: batches of 4; a complete (dated) dump tombstones what it lacks."""
    if gone:
        archive = write_archive(path.with_suffix(".tar.xz"), [line(d) for d in docs],
                                timestamp="2030-11-22 00:00:00.000000+00")
        res = import_dump(db, archive, guard=FORCE, parallel=False, batch=4)
    else:
        res = import_dump(db, write_lines(path.with_suffix(".jsonl"), [line(d) for d in docs]), again=True,
                          parallel=False, batch=4)
    assert res.status == "ok", res.error
    return res.counts.as_dict()


def _seen(db: Database) -> tuple:
    """(earliest, latest) last_seen of the release documents, how many current
    revisions claim a later sighting than their document (rule 1 moves only
    the document's), and the earliest last_seen of a revision no longer current."""
    with db.session() as s:
        return tuple(s.execute(text(
            "SELECT min(d.last_seen), max(d.last_seen), count(*) FILTER (WHERE r.last_seen > d.last_seen), "
            " (SELECT min(o.last_seen) FROM document_revision o JOIN document x ON x.entity_type = o.entity_type "
            "  AND x.mbid = o.mbid AND x.revision_id <> o.id) "
            "FROM document d JOIN document_revision r ON r.id = d.revision_id WHERE d.entity_type = 'release'"
        )).one())


def test_lookup_browse_and_dump_keep_the_same_rows(db, db2, db3, tmp_path):
    """The same documents through the three paths that store releases
    (`store.revisions` is their one set of rules): first store, seen again
    unchanged, changed, tombstoned, then seen again (an older version among
    them).  After each round the three mirrors hold the same rows, the runs
    count the same outcomes, and what was seen again moved its last_seen."""
    base = [release_doc(mbid) for mbid in RELEASES]
    changed = copy.deepcopy(base)
    for doc in changed[::3]:
        doc["title"] += " (remaster)"
    gone = [RELEASES[1], RELEASES[3]]  # one never changed, one changed in round 3
    rounds = [
        ("first store", base, []),
        ("seen again", base, []),
        ("changed", changed, []),
        ("tombstoned", [d for d in changed if d["id"] not in gone], gone),
        ("back, some as an older version", base, []),
    ]
    mirrors = {"lookup": db, "browse": db2, "dump": db3}
    before = {name: None for name in mirrors}
    first_store: dict = {}
    for n, (what, docs, dead) in enumerate(rounds):
        counts = {
            "lookup": _by_lookup(db, docs, dead),
            "browse": _by_browse(db2, docs, dead),
            "dump": _by_dump(db3, docs, dead, tmp_path / f"release-{n}"),
        }
        keys = ("inserted", "updated", "unchanged", "tombstoned", "quarantined")
        outcomes = {name: tuple(c[k] for k in keys) for name, c in counts.items()}
        assert outcomes["lookup"] == outcomes["browse"] == outcomes["dump"], (what, outcomes)
        shots = {name: snapshot(mirror) for name, mirror in mirrors.items()}
        for table in shots["lookup"]:
            assert shots["lookup"][table] == shots["browse"][table] == shots["dump"][table], (what, table)
        for name, mirror in mirrors.items():
            earliest, latest, disagreeing, left = _seen(mirror)
            assert disagreeing == 0, (what, name)
            if what == "seen again":  # rule 1: every release seen again moved on
                assert earliest > before[name][1], name
            if what == "changed":  # a version left behind keeps its last sighting as the current one
                assert left >= before[name][0] > first_store[name], name
            if what == "first store":
                first_store[name] = latest
            before[name] = (earliest, latest)
    final = dict(zip(keys, outcomes["lookup"]))
    assert final["updated"] == len(gone) + len(base[::3]) - 1 and final["unchanged"] == len(base) - final["updated"]
    with db.session() as s:
        assert s.execute(text("SELECT count(*) FROM document WHERE revision_count = 2")).scalar_one() == \
            len(base[::3])
