"""Hostile and odd dump input (issue 10, items 6 and 7): over-long lines,
bytes that are not UTF-8, integers beyond 64 bits, a changed file that looks
the same, a "complete" dump that would empty the mirror, imports that stop,
and a directory holding a file nobody may read."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import text

from helpers import CORPUS, FIXTURES, dump_line, release_doc, write_archive, xz_with_dictionary
from indexer import runs
from indexer.mapping import doc_hash
from indexer.sources.dump_files import bounded_lines
from indexer.sync.dump import TombstoneGuard, import_dump

MB = 1 << 20


def count(db, sql: str, **params) -> int:
    with db.session() as s:
        return s.execute(text(sql), params).scalar_one()


def rows(db, sql: str, **params) -> list:
    with db.session() as s:
        return s.execute(text(sql), params).all()


@pytest.fixture
def cli(database_url, tmp_path):
    """The real `mbindex` console script in a subprocess (`prefix`: e.g. setpriv)."""
    env = dict(os.environ, MBINDEX_DATABASE_URL=database_url, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    exe = str(Path(sys.executable).with_name("mbindex"))

    def run(*args, prefix=(), **more_env):
        return subprocess.run([*prefix, exe, "-q", *args], env=dict(env, **more_env), capture_output=True,
                              text=True, timeout=120, check=False)

    return run


def releases(n: int | None = None) -> list[str]:
    return [dump_line(release_doc(mbid)) for mbid in CORPUS[:n]]


def made_now() -> str:
    """A dump TIMESTAMP of this moment: made after what the test imported before."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f+00")


# --- over-long lines ---------------------------------------------------------------------


def test_a_line_without_end_is_read_by_reference_with_flat_memory(tmp_path):
    zeros = tmp_path / "zero"
    with open(zeros, "wb") as f:
        f.truncate(48 * MB)  # like /dev/zero: 48 MB and no line break (sparse: costs no disk)
    tracemalloc.start()
    try:
        with open(zeros, "rb") as f:
            [line] = list(bounded_lines(f, MB))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (line.offset, line.length, line.data) == (0, 48 * MB, b"\0" * 1024)
    assert peak < 8 * MB, f"peak {peak / MB:.1f} MB while reading one 48 MB line with a 1 MB cap"


def test_over_long_lines_are_quarantined_by_reference_and_the_rest_loads(db, cli, tmp_path):
    good = releases(2)
    long_line = b"x" * (2 * MB)
    dump = tmp_path / "release.jsonl"
    with open(dump, "wb") as f:
        f.write(good[0].encode() + b"\n" + long_line + b"\n" + good[1].encode() + b"\n")
        tail_at = f.tell()
        f.truncate(tail_at + 3 * MB)  # ends in 3 MB of NULs without a line break
    res = cli("import-dump", str(dump), MBINDEX_MAX_LINE_MB="1")
    assert res.returncode == 5, res.stderr
    assert "inserted 2" in res.stdout and "quarantined 2" in res.stdout
    got = rows(db, "SELECT line_no, raw, raw_offset, raw_length, error FROM quarantine ORDER BY line_no")
    assert [(r.line_no, bytes(r.raw), r.raw_offset, r.raw_length) for r in got] == [
        (2, b"x" * 1024, len(good[0].encode()) + 1, 2 * MB),
        (4, b"\0" * 1024, tail_at, 3 * MB),
    ]
    assert all("longer than max_line_mb (1 MB)" in r.error for r in got)


# --- byte for byte, and the same thing hashed and stored -----------------------------------


def test_quarantined_lines_are_kept_byte_for_byte(db, tmp_path):
    bad = [b'{"id": "\xff\xfe not utf-8"}', b'{"title": "NUL \x00 raw"}', b"\xc3\x28 \xed\xa0\x80 lone half"]
    dump = tmp_path / "release.jsonl"
    dump.write_bytes(b"\n".join([releases(1)[0].encode(), *bad]) + b"\n")
    res = import_dump(db, dump)
    assert (res.counts.inserted, res.counts.quarantined) == (1, 3)
    assert [bytes(r.raw) for r in rows(db, "SELECT raw FROM quarantine ORDER BY line_no")] == bad


def test_an_integer_beyond_64_bits_is_hashed_as_stored(db, tmp_path):
    doc = json.loads((FIXTURES / "dump" / "recording").read_text(encoding="utf-8").splitlines()[0])
    huge = 2 ** 80 + 1  # orjson alone reads it as 1.2089258196146292e+24
    doc["rating"]["votes-count"] = huge
    (tmp_path / "recording").write_text(dump_line(doc) + "\n", encoding="utf-8")
    assert import_dump(db, tmp_path / "recording").counts.inserted == 1
    [(stored, digest)] = rows(db, "SELECT doc::text, hash FROM document_revision")
    assert str(huge) in stored
    assert digest == doc_hash(json.loads(stored)) == doc_hash(doc)


# --- the same file, or a changed one --------------------------------------------------------


def test_a_changed_file_with_the_same_size_head_and_tail_is_imported(db, tmp_path):
    """Size, first MB and last 64 KB equal: the old fingerprint took it for the same file."""
    doc = release_doc(CORPUS[0])

    def write(title: str) -> Path:
        doc["title"] = title
        path = tmp_path / "release.jsonl"
        path.write_text(" " * (MB + 10) + "\n" + dump_line(doc) + "\n" + " " * 70_000 + "\n", encoding="utf-8")
        return path

    assert import_dump(db, write("AAAA")).counts.inserted == 1
    again = import_dump(db, write("BBBB"))
    assert not again.skipped and again.counts.updated == 1
    assert count(db, "SELECT title FROM release") == "BBBB"
    assert import_dump(db, write("BBBB")).skipped == ["release.jsonl"]  # the very same content: recognised


# --- a "complete" dump that would empty the mirror ------------------------------------------


def test_tombstoning_more_than_the_share_is_refused_until_forced(db, cli, tmp_path):
    assert import_dump(db, write_archive(tmp_path / "all.tar.xz", releases())).status == "ok"
    one = write_archive(tmp_path / "one.tar.xz", releases(1), timestamp=made_now())  # a truncated "complete" dump
    res = cli("import-dump", str(one))
    assert res.returncode == 3, res.stderr
    assert f"not tombstoning the {len(CORPUS) - 1} release(s)" in res.stderr and "--force" in res.stderr
    assert count(db, "SELECT count(*) FROM release WHERE deleted_at IS NOT NULL") == 0
    assert rows(db, "SELECT status FROM dump_import WHERE path LIKE '%one.tar.xz'") == [("partial",)]
    assert rows(db, "SELECT status FROM sync_run ORDER BY id DESC LIMIT 1") == [("partial",)]
    forced = cli("import-dump", "--force", str(one))
    assert forced.returncode == 0, forced.stderr
    assert count(db, "SELECT count(*) FROM release WHERE deleted_at IS NOT NULL") == len(CORPUS) - 1


def test_a_dump_dated_in_the_future_tombstones_nothing(db, tmp_path):
    import_dump(db, write_archive(tmp_path / "all.tar.xz", releases()))
    future = write_archive(tmp_path / "f.tar.xz", releases()[1:], timestamp="2099-01-01 00:00:00+00")
    res = import_dump(db, future, guard=TombstoneGuard(max_percent=50))
    assert res.status == "partial" and "dated 2099-01-01, in the future" in res.error
    assert (res.counts.tombstoned, count(db, "SELECT count(*) FROM release WHERE deleted_at IS NOT NULL")) == (0, 0)


def test_within_the_share_a_complete_dump_tombstones_as_before(db, cli, tmp_path):
    import_dump(db, write_archive(tmp_path / "all.tar.xz", releases()))
    res = cli("import-dump", str(write_archive(tmp_path / "most.tar.xz", releases()[1:], timestamp=made_now())),
              MBINDEX_MAX_TOMBSTONE_PERCENT="10")
    assert res.returncode == 0, res.stderr
    assert "tombstoned 1" in res.stdout


# --- imports that stop ----------------------------------------------------------------------


def test_a_failed_import_marks_its_dump_file_failed(db, tmp_path):
    archive = write_archive(tmp_path / "release.tar.xz", releases() * 3)
    cut = tmp_path / "cut" / "release.tar.xz"
    cut.parent.mkdir()
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    res = import_dump(db, cut, batch=5)
    assert res.status == "failed"
    assert rows(db, "SELECT status FROM dump_import") == [("failed",)]
    assert rows(db, "SELECT status FROM sync_run") == [("failed",)]


def test_a_killed_import_leaves_its_dump_file_interrupted_for_the_next_writer(db, tmp_path):
    run = runs.Run(db, "import", "dump", "x")
    with db.session() as s, s.begin():  # what a kill -9 in the middle of an import leaves
        s.execute(text("INSERT INTO dump_import (path, member, entity, fingerprint, lines_done, sync_run_id) "
                       "VALUES ('x', '', 'release', 'sha256:0', 1000, :r)"), {"r": run.id})
    with runs.writer(db, "import"):
        pass
    assert rows(db, "SELECT status, lines_done FROM dump_import") == [("interrupted", 1000)]
    assert rows(db, "SELECT status FROM sync_run") == [("interrupted",)]


# --- files that cannot be read --------------------------------------------------------------


def test_a_directory_holding_an_unreadable_file_is_one_line_and_exit_2(db, cli, tmp_path):
    d = tmp_path / "dumps"
    d.mkdir()
    write_archive(d / "release.tar.xz", releases(2))
    (d / "secret.jsonl").write_text("{}\n")
    (d / "secret.jsonl").chmod(0)
    # root reads anything: without CAP_DAC_OVERRIDE it obeys the mode like anyone
    prefix = ("setpriv", "--bounding-set=-dac_override,-dac_read_search") if os.geteuid() == 0 else ()
    res = cli("import-dump", str(d), prefix=prefix)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines() == [f"Error: cannot read {d / 'secret.jsonl'}: Permission denied"]
    assert count(db, "SELECT count(*) FROM release") == 0


def test_an_archive_that_would_need_gigabytes_to_decompress_is_refused(db, cli, tmp_path):
    """A .tar.xz whose header asks for a 4 GB dictionary (a dump needs 64 MB at
    most; such a file can fill memory with what it decompresses to): one line,
    exit 1, nothing stored."""
    (tmp_path / "ok").mkdir()
    good = write_archive(tmp_path / "ok" / "release.tar.xz", releases(2)).read_bytes()
    bomb = tmp_path / "release.tar.xz"
    bomb.write_bytes(xz_with_dictionary(good, 40))  # 4 GB
    res = cli("import-dump", str(bomb))
    assert res.returncode == 1, res.stderr
    assert res.stderr.strip().splitlines() == [
        "Error: import failed: release.tar.xz: cannot be read: needs more than 1024 MB of memory to decompress "
        "(a MusicBrainz dump needs at most 65 MB) (run the same command again to continue)"]
    assert count(db, "SELECT count(*) FROM release") == 0


def test_a_device_is_refused(cli):
    res = cli("import-dump", "--entity", "release", "/dev/zero")
    assert res.returncode == 2 and "not a regular file" in res.stderr and "Traceback" not in res.stderr


def test_migration_0006_keeps_quarantined_text_and_downgrades_bytes_safely(db):
    with db.session() as s, s.begin():
        s.execute(text("INSERT INTO quarantine (source, error, raw) VALUES ('t', 'e', :a), ('t', 'e', :b), "
                       "('t', 'e', :c)"), {"a": "héllo".encode(), "b": b"\xff\x00x", "c": None})
    db.downgrade("0005")
    assert [r[0] for r in rows(db, "SELECT raw FROM quarantine ORDER BY id")] == ["héllo", "\\377\\000x", None]
    db.upgrade("head")
    assert [r[0] for r in rows(db, "SELECT raw FROM quarantine ORDER BY id")] == [
        "héllo".encode(), b"\\377\\000x", None]
