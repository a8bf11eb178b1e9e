"""Refresh from the next dump: a line with the bytes its document was last
stored from is seen again without being parsed (issue 21, `store.raw_lines`).
The mirror after a refresh must be the mirror today's full path leaves, table
for table, and its live rows those of a from-scratch import of the same dump."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import text

from helpers import DUMP_TIMESTAMP, release_doc, snapshot, write_archive
from indexer.mapping import raw_hash
from indexer.runs import Run
from indexer.store.raw_lines import KnownLines
from indexer.sync.dump import TombstoneGuard, import_dump
from indexer.sync.dump_batches import MAX_LINE, start_reader
from indexer.sync.pipeline import store_release_doc

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
import make_dump  # noqa: E402  (bench/make_dump.py, the benchmark's generator)

FORCE = TombstoneGuard(force=True)  # 2 of 60 releases, from a dump dated 2030
NEXT = "2030-01-01 00:00:00.000000+00"
N, SEED, BAD = 60, 11, 2


def _rows(db, sql: str) -> list[tuple]:
    with db.session() as s:
        return [tuple(r) for r in s.execute(text(sql)).all()]


def _extras(db) -> dict:
    """What `snapshot` leaves out and a refresh must keep as the full path does."""
    return {
        "raw_hash": _rows(db, "SELECT entity_type, mbid, raw_hash FROM document ORDER BY 1, 2"),
        "quarantine": _rows(db, "SELECT source, line_no, error, raw FROM quarantine ORDER BY 1, 2, 3"),
        "revisions": _rows(db, "SELECT mbid, count(*) FROM document_revision GROUP BY 1 ORDER BY 1"),
        # rule 1: every live release's document seen by the last import; its current revision
        # never claims a later sighting than its document (REVISION_LAST_SEEN reads the later)
        "stale": _rows(db, "SELECT count(*) FROM release l JOIN document d ON d.entity_type = 'release' "
                           "AND d.mbid = l.mbid JOIN document_revision r ON r.id = d.revision_id "
                           "WHERE l.deleted_at IS NULL AND (d.last_seen <> (SELECT max(last_seen) FROM document) "
                           "OR r.last_seen > d.last_seen)"),
    }


def _reordered(line: str) -> str:
    """The same document in other bytes: its keys in reverse order."""
    doc = json.loads(line)
    return json.dumps(dict(reversed(list(doc.items()))), separators=(",", ":"), ensure_ascii=False)


def _id(line: str) -> str | None:
    """The id of a line that is a document, else None (a bad line)."""
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    return doc.get("id") if isinstance(doc, dict) else None


def _dumps(tmp_path: Path) -> tuple[list[Path], list[list[str]]]:
    """Three dumps in turn.  The first has bad lines (quarantined).  The next
    one: lines changed, removed and added (`make_dump.iter_refreshed_lines`),
    one unchanged document in other bytes, one MBID twice in a row (its new
    version, then its old line: the reader's answer for the second is stale
    when the loader gets it), no bad line (so what it lacks is tombstoned).
    The third: the next one again, plus the bad lines (quarantined, so
    nothing is tombstoned)."""
    first = list(make_dump.iter_release_lines(N, SEED, BAD))
    nxt = [line for line in make_dump.iter_refreshed_lines(N, SEED, BAD, changed=0.1, removed=1 / 30, added=0.05)
           if _id(line)]
    changed = next(i for i, line in enumerate(nxt) if line not in first and _id(line) == _id(first[i]))
    nxt.insert(changed + 1, first[changed])
    k = next(i for i, line in enumerate(nxt) if i > changed + 1 and line in first)
    nxt[k] = _reordered(nxt[k])
    third = nxt + [line for line in first if not _id(line)]
    lines = [first, nxt, third]
    paths = [write_archive(tmp_path / f"release-{n}.tar.xz", dump, timestamp=NEXT if n else DUMP_TIMESTAMP)
             for n, dump in enumerate(lines)]
    return paths, lines


def test_refresh_is_the_full_path_and_a_fresh_import(db, db2, db3, tmp_path):
    """After the same dumps, a mirror refreshed with the raw-hash skip and
    one refreshed by today's full path hold the same rows, table for table
    (revisions, tombstones, quarantine, last_seen); the live rows are those
    of a from-scratch import of the last dump; and every line identical to
    the one its document was stored from was seen again without parsing."""
    paths, (first, nxt, third) = _dumps(tmp_path)
    fast = [import_dump(db, path, batch=8, guard=FORCE) for path in paths]
    full = [import_dump(db2, path, batch=8, guard=FORCE, skip_unchanged=False) for path in paths]
    for a, b in zip(fast, full):
        assert a.status == b.status == "ok", (a.error, b.error)
        assert a.counts.as_dict() == b.counts.as_dict()
        assert b.unparsed == 0
    assert snapshot(db) == snapshot(db2)
    assert _extras(db) == _extras(db2)
    assert _extras(db)["stale"] == [(0,)]
    gone = {_id(line) for line in first} - {_id(line) for line in nxt} - {None}
    assert fast[0].counts.quarantined == fast[2].counts.quarantined == BAD
    assert (fast[1].counts.tombstoned, fast[1].counts.inserted, fast[2].counts.tombstoned) == (len(gone), 3, 0)
    assert len(gone) == 1 and fast[1].counts.updated >= 2
    # the old line after its new version is parsed; in the third dump, its new version too
    assert fast[1].unparsed == len([line for line in nxt if line in first]) - 1
    assert fast[2].unparsed == len(nxt) - 2

    assert import_dump(db3, paths[2], batch=8).status == "ok"
    refreshed, scratch = _live(snapshot(db), gone), _live(snapshot(db3), gone)
    for table in ("release", "medium", "track", "release_label", "document"):
        assert refreshed[table] == scratch[table], table
    for table in ("artist_credit", "url_relation", "tag", "document_revision"):  # plus what the removed named
        assert all(row in refreshed[table] for row in scratch[table]), table
    assert _rows(db, "SELECT mbid, raw_hash FROM document WHERE deleted_at IS NULL ORDER BY 1") == \
        _rows(db3, "SELECT mbid, raw_hash FROM document ORDER BY 1")


def _live(shot: dict, gone: set[str]) -> dict:
    """The rows of a snapshot that do not belong to a tombstoned release,
    and documents without their revision count (a refresh keeps history)."""
    gone_ids = {uuid.UUID(g) for g in gone}
    out = {}
    for table, rows in shot.items():
        keep = [r for r in rows if not gone_ids.intersection(v for v in r if isinstance(v, uuid.UUID))]
        if table == "document":
            keep = [(r[0], r[1], r[2], r[4]) for r in keep]
        out[table] = keep
    return out


def test_a_lookup_in_between_sends_the_line_down_the_full_path(db, tmp_path):
    """A ws/2 lookup that stores another version clears the raw hash: the
    same dump line afterwards is parsed and brings its version back."""
    lines = list(make_dump.iter_release_lines(12, SEED))
    archive = write_archive(tmp_path / "release.tar.xz", lines)
    import_dump(db, archive, batch=5)
    doc = json.loads(lines[3])
    doc["title"] = "Retitled by a lookup"
    store_release_doc(db, doc, Run(db, "sync", "release", None))
    res = import_dump(db, archive, batch=5, again=True)
    assert (res.counts.updated, res.counts.unchanged, res.unparsed) == (1, 11, 11)
    assert _rows(db, f"SELECT title FROM release WHERE mbid = '{doc['id']}'") == [(json.loads(lines[3])["title"],)]
    again = import_dump(db, archive, batch=5, again=True)
    assert (again.counts.unchanged, again.unparsed) == (12, 12)


def test_an_unchanged_line_is_known_by_its_bytes_wherever_its_id_is(db, tmp_path):
    """The MBID of a flagged line comes from the database (by raw hash), not
    from the line: nested ids before the top-level one, braces in strings
    and an upper-case id are all skipped on the refresh, and the MBID the
    loader touches is the document's."""
    top, nested = "12195c41-6136-4dfd-acf1-9923dadc73e2", "249eb550-505e-43ef-ac50-e8c605706ff1"
    doc = release_doc(top)
    odd = {"artist-credit": [{"artist": {"id": nested, "name": "{x", "sort-name": "x", "disambiguation": "}"}}]}
    odd.update({k: v for k, v in doc.items() if k not in ("artist-credit", "id")})
    odd["id"] = top.upper()
    lines = [json.dumps(odd, ensure_ascii=False), json.dumps(release_doc("f17a0f30-8eb1-4322-b54e-fb71edb78d7c"))]
    archive = write_archive(tmp_path / "release.tar.xz", lines)
    first = import_dump(db, archive, batch=5)
    assert first.counts.inserted == 2
    again = import_dump(db, archive, batch=5, again=True)
    assert (again.counts.unchanged, again.unparsed) == (2, 2)
    assert _rows(db, "SELECT count(*) FROM document WHERE last_seen < (SELECT max(last_seen) FROM document)") == [(0,)]
    assert raw_hash(b"x") == raw_hash(b"x") != raw_hash(b"x ") and len(raw_hash(b"x")) == 16


def test_a_stale_answer_is_read_again_from_the_file(db, tmp_path):
    """The reader asks before the loader has stored the new version of a
    release that the dump holds twice (new, then old): the old line is
    flagged on a stale answer, the loader does not confirm it, reads it
    again from the archive by line number and stores it the full way."""
    lines = list(make_dump.iter_release_lines(5, SEED))
    import_dump(db, write_archive(tmp_path / "release-a.tar.xz", lines), parallel=False)
    doc = json.loads(lines[0])
    doc["title"] = "Retitled"
    twice = [json.dumps(doc, separators=(",", ":"), ensure_ascii=False)] + lines
    said: list[str] = []
    res = import_dump(db, write_archive(tmp_path / "release-b.tar.xz", twice), parallel=False, batch=8,
                      log=said.append)
    assert res.status == "ok" and (res.counts.updated, res.counts.unchanged, res.unparsed) == (2, 4, 4)
    assert any("read again" in line for line in said)
    assert _rows(db, f"SELECT title FROM release WHERE mbid = '{doc['id']}'") == [(json.loads(lines[0])["title"],)]
    assert _rows(db, f"SELECT revision_count FROM document WHERE mbid = '{doc['id']}'") == [(2,)]


def test_a_reader_started_early_is_adopted_when_the_plan_is_its_own(db, tmp_path):
    """`import-dump` forks the reader before it imports the library
    (`start_reader`): the import adopts it when there is nothing to resume
    or skip, and the mirror is the one an import with its own reader leaves."""
    lines = list(make_dump.iter_release_lines(12, SEED))
    archive = write_archive(tmp_path / "release.tar.xz", lines)
    early = start_reader(archive, None, 5, MAX_LINE, db.url)
    res = import_dump(db, archive, batch=5, reader=early)
    assert early.adopted and res.status == "ok" and res.counts.inserted == 12
    again = start_reader(archive, None, 5, MAX_LINE, db.url)
    res = import_dump(db, archive, batch=5, again=True, reader=again)
    assert again.adopted and (res.counts.unchanged, res.unparsed) == (12, 12)


def test_a_reader_started_early_is_cancelled_when_the_plan_differs(db, tmp_path):
    """A file imported before (skipped without --again), another batch size,
    another database: the early reader is stopped, never used, and the import
    does what it would have done without it."""
    archive = write_archive(tmp_path / "release.tar.xz", list(make_dump.iter_release_lines(6, SEED)))
    import_dump(db, archive, batch=5)
    for reader, kwargs in [
        (start_reader(archive, None, 5, MAX_LINE, db.url), {"batch": 5}),  # imported before: skipped
        (start_reader(archive, None, 5, MAX_LINE, db.url), {"batch": 4, "again": True}),
        (start_reader(archive, None, 5, MAX_LINE, "postgresql://nobody@127.0.0.1:1/x"), {"batch": 5, "again": True}),
    ]:
        res = import_dump(db, archive, **kwargs, reader=reader)
        assert not reader.adopted and not reader._proc.is_alive(), kwargs
        assert res.status == "ok" and (res.skipped if not kwargs.get("again") else res.counts.unchanged == 6)


def test_no_early_reader_without_a_database_url_or_for_an_input_the_import_refuses(tmp_path):
    archive = write_archive(tmp_path / "release.tar.xz", list(make_dump.iter_release_lines(2, SEED)))
    assert start_reader(archive, None, 5, MAX_LINE, None) is None  # the embedded server is not up yet
    unnamed = tmp_path / "lines.txt"
    unnamed.write_text("{}\n")
    assert start_reader(unnamed, None, 5, MAX_LINE, "postgresql://x@127.0.0.1/x") is None
    assert start_reader(tmp_path / "missing.tar.xz", None, 5, MAX_LINE, "postgresql://x@127.0.0.1/x") is None


def test_the_import_dump_command_loads_no_database_machinery_before_its_reader():
    """The premise of the early start: the command's module, and the reader's,
    import neither SQLAlchemy nor psycopg nor the models."""
    code = ("import sys, indexer.cli.commands.import_dump, indexer.sync.dump_batches; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'psycopg') "
            "or m.startswith('indexer.db')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_question_the_database_cannot_answer_means_every_line_is_parsed(tmp_path):
    """`KnownLines` asked where there is no answer (no server, no schema yet:
    a reader started early, before the first migration): {} from the asking
    thread, no error, and no more questions."""
    known = KnownLines("postgresql://nobody@127.0.0.1:1/nothing")
    assert known.ask("release", [bytes(16)]).result(timeout=30) == {}
    assert known.ask("release", [bytes(16)]).result(timeout=30) == {}
    known.close()


def test_a_first_import_into_an_empty_database_with_an_early_reader(empty_database_url, tmp_path):
    """The command with a database URL starts its reader before the schema
    exists (it is made by the migration the command runs first): the
    reader's questions fail, so every line is parsed, and the import is whole."""
    archive = write_archive(tmp_path / "release.tar.xz", list(make_dump.iter_release_lines(7, SEED)))
    res = subprocess.run([sys.executable, "-m", "indexer", "--database-url", empty_database_url, "import-dump",
                          str(archive)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "inserted 7," in res.stdout and "Traceback" not in res.stderr
