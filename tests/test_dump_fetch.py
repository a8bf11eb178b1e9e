"""`import-dump --latest`: generated dumps, LATEST and checksum files served by
a local HTTP server; good, corrupted, cut-off, stalling and wrong answers."""

from __future__ import annotations

import hashlib
import lzma
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from dump_server import DATED
from helpers import WS2, write_archive
from indexer.cli import cli as cli_group
from indexer.config import ConfigError, load_settings
from indexer.sources.dump_fetch import Archive, Checksum, DumpFetcher, FetchError
from indexer.sources.ws2 import wall_clock
from indexer.sync.dump_latest import LatestProgress, find_newest, import_newest

RELEASES = sorted(p.stem for p in (WS2 / "release").glob("*.json"))


@pytest.fixture
def cli(database_url, tmp_path, dump_server):
    """The real `mbindex` console script, its dump_url the local server."""
    env = dict(os.environ, MBINDEX_DATABASE_URL=database_url, XDG_CONFIG_HOME=str(tmp_path / "xdg"),
               MBINDEX_DUMP_URL=dump_server.url, MBINDEX_TIMEOUT="5", MBINDEX_RETRIES="2", TMPDIR=str(tmp_path))
    exe = Path(sys.executable).with_name("mbindex")

    def run(*args, **more_env):
        return subprocess.run([str(exe), "-q", *args], env=dict(env, **more_env), capture_output=True, text=True,
                              timeout=60)

    run.argv = [str(exe), "-q"]  # for a run the test kills
    run.env = env
    return run


def count(db, sql: str) -> int:
    with db.session() as s:
        return s.execute(text(sql)).scalar_one()


def nothing_imported(db) -> bool:
    return count(db, "SELECT count(*) FROM release") == 0 and count(db, "SELECT count(*) FROM dump_import") == 0


def one_line(res) -> str:
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    return lines[0]


# --- a good dump ----------------------------------------------------------------


def test_a_good_dump_is_imported_then_skipped_until_again(db, cli, dump_server, recorded_dump, tmp_path):
    dump_server.publish({"release.tar.xz": recorded_dump, "artist.tar.xz": b"other"})
    res = cli("import-dump", "--latest")
    assert res.returncode == 0, res.stderr
    assert f"inserted {len(RELEASES)}" in res.stdout
    assert count(db, "SELECT count(*) FROM release") == len(RELEASES)
    url = f"{dump_server.url}/{DATED}/release.tar.xz"
    with db.session() as s:
        row = s.execute(text("SELECT path, fingerprint, status FROM dump_import")).one()
        target = s.execute(text("SELECT target FROM sync_run WHERE kind = 'import'")).scalar_one()
    assert row == (url, "sha256:" + hashlib.sha256(recorded_dump).hexdigest(), "done")  # dated directory and checksum
    assert target == url
    assert spooled(tmp_path) == []  # the download is gone, the spool is empty
    assert not list(tmp_path.glob("mbindex-dump-*"))  # and no temporary directory was needed

    fetched = len(dump_server.archive_requests())
    again = cli("import-dump", "--latest")
    assert again.returncode == 0, again.stderr
    assert f"already imported: {DATED}/release.tar.xz" in again.stderr and "--again" in again.stderr
    assert len(dump_server.archive_requests()) == fetched  # skipped without downloading it

    forced = cli("import-dump", "--latest", "--again")
    assert forced.returncode == 0, forced.stderr
    assert f"unchanged {len(RELEASES)}" in forced.stdout
    assert count(db, "SELECT count(*) FROM sync_run WHERE kind = 'import' AND status = 'ok'") == 2


def spooled(tmp: Path) -> list[str]:
    """What the download spool in TMPDIR `tmp` holds, but its lock."""
    spool = tmp / f"mbindex-downloads-{os.geteuid()}"
    return sorted(str(p.relative_to(spool)) for p in spool.rglob("*") if p.name != ".lock")


def test_a_killed_download_is_continued_by_the_next_run(db, cli, dump_server, recorded_dump, tmp_path):
    """A timer's timeout or a reboot kills the run mid-download (no clean-up
    runs): the next run finds the cut-off file in the spool and asks only
    for the rest; nothing is left behind once it is imported."""
    dump_server.publish({"release.tar.xz": recorded_dump})
    path = f"/json-dumps/{DATED}/release.tar.xz"
    dump_server.stall.add(path)  # half the archive, then silence
    part = tmp_path / f"mbindex-downloads-{os.geteuid()}" / DATED / "release.tar.xz.part"
    proc = subprocess.Popen([*cli.argv, "import-dump", "--latest"], env=dict(cli.env, MBINDEX_TIMEOUT="30"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (part.exists() and part.stat().st_size == len(recorded_dump) // 2):
            assert time.monotonic() < deadline and proc.poll() is None, "the download never got half way"
            time.sleep(0.05)
    finally:
        proc.kill()  # SIGKILL: the worst case, nothing of the run's own clean-up runs
        proc.wait(timeout=10)
    assert spooled(tmp_path) == [DATED, f"{DATED}/release.tar.xz.part"]
    dump_server.stall.discard(path)
    res = cli("import-dump", "--latest")
    assert res.returncode == 0, res.stderr
    assert count(db, "SELECT count(*) FROM release") == len(RELEASES)
    gets = [r for r in dump_server.archive_requests() if r[0] == "GET"]
    assert gets[-1] == ("GET", path, f"bytes={len(recorded_dump) // 2}-")  # only the rest
    assert spooled(tmp_path) == []


def test_an_archive_whose_import_failed_waits_in_the_spool_until_a_newer_dump(db, cli, dump_server, recorded_dump,
                                                                          tmp_path):
    """A verified archive that does not import (here: its checksum matches,
    its content is no xz) is not fetched again each night; a newer dump
    replaces it, and the spool is empty once that one is imported."""
    dump_server.publish({"release.tar.xz": lzma.compress(b"published, checksummed, xz, but no tar " * 20)})
    res = cli("import-dump", "--latest")
    assert res.returncode == 1 and "import failed" in one_line(res), res.stderr
    assert spooled(tmp_path) == [DATED, f"{DATED}/release.tar.xz"]
    fetched = len(dump_server.archive_requests())
    assert cli("import-dump", "--latest").returncode == 1
    assert len(dump_server.archive_requests()) == fetched  # the kept archive, checked against its checksum
    newer = "20261212-001001"
    dump_server.publish({"release.tar.xz": recorded_dump}, dated=newer)
    res = cli("import-dump", "--latest")
    assert res.returncode == 0, res.stderr
    assert count(db, "SELECT count(*) FROM release") == len(RELEASES)
    assert spooled(tmp_path) == []


def test_the_spool_keeps_one_dump_and_is_used_only_when_safe_and_free(db, cli, dump_server, recorded_dump, tmp_path):
    import fcntl  # only this test holds the spool's lock as another run would

    dump_server.publish({"release.tar.xz": recorded_dump})
    spool = tmp_path / f"mbindex-downloads-{os.geteuid()}"
    (spool / "20200101-000000").mkdir(parents=True, mode=0o700)  # what a killed run left of an older dump
    (spool / "20200101-000000" / "release.tar.xz.part").write_bytes(b"old")
    spool.chmod(0o700)
    fd = os.open(spool / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another run holds the spool: a private directory instead
        res = subprocess.run([cli.argv[0], "import-dump", "--latest"], env=cli.env, capture_output=True, text=True,
                             timeout=60)  # not -q: the note says where the download went
        assert res.returncode == 0, res.stderr
        assert "download spool" in res.stderr and "temporary directory" in res.stderr
        assert spooled(tmp_path) == ["20200101-000000", "20200101-000000/release.tar.xz.part"]  # untouched
        assert not list(tmp_path.glob("mbindex-dump-*"))
    finally:
        os.close(fd)
    res = cli("import-dump", "--latest", "--again")
    assert res.returncode == 0, res.stderr
    assert spooled(tmp_path) == []  # the older dump's leftovers went when the spool was next used
    spool.chmod(0o755)  # others may read it: not used
    (spool / "planted").write_bytes(b"x")
    res = cli("import-dump", "--latest", "--again")
    assert res.returncode == 0, res.stderr
    assert spooled(tmp_path) == ["planted"]  # neither used nor cleared
    assert not list(tmp_path.glob("mbindex-dump-*"))  # the temporary directory used instead is gone


def test_kept_archive_is_reused_and_md5sums_serve_when_no_sha256sums(db, cli, dump_server, recorded_dump, tmp_path):
    dump_server.publish({"release.tar.xz": recorded_dump}, sums="MD5SUMS")
    keep = tmp_path / "dumps"
    res = cli("import-dump", "--latest", "--keep", str(keep), "--entity", "release")
    assert res.returncode == 0, res.stderr
    assert (keep / DATED / "release.tar.xz").read_bytes() == recorded_dump
    assert not (keep / DATED / "release.tar.xz.part").exists()
    fetched = len(dump_server.archive_requests())
    again = cli("import-dump", "--latest", "--keep", str(keep))
    assert again.returncode == 0 and "already imported" in again.stderr  # after checking the kept file
    assert len(dump_server.archive_requests()) == fetched


def test_a_truncated_transfer_resumes_with_range(db, cli, dump_server, recorded_dump):
    dump_server.publish({"release.tar.xz": recorded_dump})
    path = f"/json-dumps/{DATED}/release.tar.xz"
    dump_server.cut.add(path)
    res = cli("import-dump", "--latest")
    assert res.returncode == 0, res.stderr
    assert count(db, "SELECT count(*) FROM release") == len(RELEASES)
    gets = [r for r in dump_server.archive_requests() if r[0] == "GET"]
    assert gets == [("GET", path, None), ("GET", path, f"bytes={len(recorded_dump) // 2}-")]


def test_a_part_file_left_by_an_earlier_run_is_continued(dump_server, recorded_dump, tmp_path):
    dump_server.publish({"release.tar.xz": recorded_dump})
    fetcher = DumpFetcher(load_settings({"dump_url": dump_server.url, "timeout": 5}, environ={}), sleep=lambda s: None)
    [archive] = fetcher.archives(["release"])
    dest = tmp_path / DATED / "release.tar.xz"
    dest.parent.mkdir()
    dest.with_name("release.tar.xz.part").write_bytes(recorded_dump[:1000])
    seen = []
    assert fetcher.download(archive, dest, lambda done, total: seen.append((done, total))).read_bytes() == recorded_dump
    assert dump_server.archive_requests() == [("GET", f"/json-dumps/{DATED}/release.tar.xz", "bytes=1000-")]
    assert seen[-1] == (len(recorded_dump), len(recorded_dump))


def test_a_server_ignoring_range_is_read_from_the_start(dump_server, recorded_dump, tmp_path):
    dump_server.publish({"release.tar.xz": recorded_dump})
    dump_server.no_range = True
    fetcher = DumpFetcher(load_settings({"dump_url": dump_server.url, "timeout": 5}, environ={}), sleep=lambda s: None)
    [archive] = fetcher.archives(["release"])
    dest = tmp_path / "release.tar.xz"
    dest.with_name("release.tar.xz.part").write_bytes(b"stale bytes of another file")
    assert fetcher.download(archive, dest).read_bytes() == recorded_dump


def test_a_trickling_server_cannot_hold_the_download(dump_server, recorded_dump, tmp_path):
    dump_server.publish({"release.tar.xz": recorded_dump})
    dump_server.trickle.add(f"/json-dumps/{DATED}/release.tar.xz")
    settings = load_settings({"dump_url": dump_server.url, "timeout": 1, "retries": 0}, environ={})
    fetcher = DumpFetcher(settings, sleep=lambda s: None)
    [archive] = fetcher.archives(["release"])
    started = time.monotonic()
    with pytest.raises(FetchError, match="no data from .* for 1s"):
        fetcher.download(archive, tmp_path / "release.tar.xz")
    assert time.monotonic() - started < 3  # bytes keep coming, but far less than 64 KB a second


def test_the_wall_clock_of_a_download_is_renewed_by_progress():
    with wall_clock(0.3) as deadline:
        for _ in range(6):  # 0.6 s in all, never 0.3 s without progress
            time.sleep(0.1)
            deadline.renew()
        assert not deadline.expired
        time.sleep(0.6)
        assert deadline.expired
    with wall_clock(0.2) as deadline:  # not renewed: the whole attempt, as before
        time.sleep(0.4)
        assert deadline.expired


# --- refused: exit 1, nothing imported ----------------------------------------------


def test_a_corrupted_byte_is_refused_and_nothing_imported(db, cli, dump_server, recorded_dump, tmp_path):
    dump_server.publish({"release.tar.xz": recorded_dump})
    bad = bytearray(recorded_dump)
    bad[len(bad) // 2] ^= 0x01
    dump_server.files[f"/json-dumps/{DATED}/release.tar.xz"] = bytes(bad)
    keep = tmp_path / "keep"
    res = cli("import-dump", "--latest", "--keep", str(keep))
    assert res.returncode == 1
    message = one_line(res)
    assert "release.tar.xz: sha256" in message and "does not match" in message and "SHA256SUMS" in message
    assert nothing_imported(db)
    assert not list(keep.rglob("*.tar.xz*"))  # the bad bytes are not kept


def test_a_missing_checksum_file_is_refused(db, cli, dump_server, recorded_dump):
    dump_server.publish({"release.tar.xz": recorded_dump}, sums=None)
    res = cli("import-dump", "--latest")
    assert res.returncode == 1
    assert "no SHA256SUMS or MD5SUMS" in one_line(res)
    assert nothing_imported(db) and not dump_server.archive_requests()[1:]  # at most a HEAD, no download


def test_a_checksum_file_listing_other_names_is_refused(db, cli, dump_server, recorded_dump):
    dump_server.publish({"release.tar.xz": recorded_dump})
    dump_server.files[f"/json-dumps/{DATED}/SHA256SUMS"] = f"{'0' * 64}  artist.tar.xz\n".encode()
    res = cli("import-dump", "--latest")
    assert res.returncode == 1
    assert "lists no release.tar.xz (it lists artist.tar.xz)" in one_line(res)
    assert nothing_imported(db) and not dump_server.archive_requests()


def test_latest_pointing_at_nothing_is_refused(db, cli, dump_server, recorded_dump):
    dump_server.publish({"release.tar.xz": recorded_dump}, latest="20991231-000000")
    res = cli("import-dump", "--latest")
    assert res.returncode == 1
    assert "LATEST names 20991231-000000, but" in one_line(res)
    assert nothing_imported(db)
    dump_server.files["/json-dumps/LATEST"] = b"<html>oops</html>"
    assert "does not name a dump directory" in one_line(cli("import-dump", "--latest"))


def test_an_html_page_instead_of_the_archive_is_one_line(db, cli, dump_server, recorded_dump):
    dump_server.publish({"release.tar.xz": recorded_dump})
    url = f"{dump_server.url}/{DATED}/release.tar.xz"
    dump_server.html.add(f"/json-dumps/{DATED}/release.tar.xz")
    res = cli("import-dump", "--latest")
    assert res.returncode == 1
    message = one_line(res)
    assert url in message and "Content-Type text/html; charset=utf-8" in message
    assert nothing_imported(db)


def test_a_stalling_server_meets_the_wall_clock(db, cli, dump_server, recorded_dump):
    dump_server.publish({"release.tar.xz": recorded_dump})
    dump_server.stall.add(f"/json-dumps/{DATED}/release.tar.xz")
    started = time.monotonic()
    res = cli("import-dump", "--latest", MBINDEX_TIMEOUT="1", MBINDEX_RETRIES="1")
    assert time.monotonic() - started < 10
    assert res.returncode == 1
    message = one_line(res)
    assert "giving up after 2 attempts" in message and "no data from" in message
    assert nothing_imported(db)
    gets = [r[2] for r in dump_server.archive_requests() if r[0] == "GET"]
    assert gets == [None, f"bytes={len(recorded_dump) // 2}-"]  # the second attempt continued where the first stalled


def test_a_full_disk_mid_download_is_exit_1(db, cli, dump_server, recorded_dump, tmp_path):
    dump_server.publish({"release.tar.xz": recorded_dump})
    keep = tmp_path / "keep"
    (keep / DATED).mkdir(parents=True)
    (keep / DATED / "release.tar.xz.part").symlink_to("/dev/full")  # every write: ENOSPC
    res = cli("import-dump", "--latest", "--keep", str(keep))
    assert res.returncode == 1
    assert "No space left on device" in one_line(res)
    assert nothing_imported(db)


def test_every_archive_is_verified_before_the_first_is_imported(db, cli, dump_server, recorded_dump, tmp_path):
    other = write_archive(tmp_path / "label.tar.xz", [], entity="label").read_bytes()
    dump_server.publish({"release.tar.xz": recorded_dump, "label.tar.xz": other})
    dump_server.files[f"/json-dumps/{DATED}/label.tar.xz"] = other[:-1] + b"\0"
    res = cli("import-dump", "--latest", "--entity", "release", "--entity", "label")
    assert res.returncode == 1 and "label.tar.xz: sha256" in one_line(res)
    assert nothing_imported(db)


# --- the library (sync.dump_latest), without the CLI ---------------------------------


class Heard(LatestProgress):
    """Every event `import_newest` reports, in order."""

    def __init__(self):
        self.events: list[tuple[str, str]] = []

    def skipped(self, archive):
        self.events.append(("skipped", archive.name))

    def downloading(self, archive):
        self.events.append(("downloading", archive.name))
        return lambda done, total: None

    def fetched(self, fetched):
        assert fetched.path.read_bytes()[:6] == b"\xfd7zXZ\x00" and fetched.size == fetched.path.stat().st_size
        self.events.append(("fetched", fetched.archive.name))

    def importing(self, archive):
        self.events.append(("importing", archive.name))

    def imported(self, archive, result):
        self.events.append((f"imported {result.status}", archive.name))


def test_the_library_fetches_verifies_and_imports_through_its_progress(db, dump_server, recorded_dump, tmp_path):
    label = write_archive(tmp_path / "label.tar.xz", [], entity="label").read_bytes()
    dump_server.publish({"release.tar.xz": recorded_dump, "label.tar.xz": label})
    settings = load_settings({"dump_url": dump_server.url, "timeout": 5}, environ={})
    heard = Heard()
    result = import_newest(db, find_newest(settings, ["release", "label", "release"]), progress=heard)
    assert heard.events == [("downloading", "release.tar.xz"), ("fetched", "release.tar.xz"),
                            ("downloading", "label.tar.xz"), ("fetched", "label.tar.xz"),  # both before an import
                            ("importing", "release.tar.xz"), ("imported ok", "release.tar.xz"),
                            ("importing", "label.tar.xz"), ("imported ok", "label.tar.xz")]
    assert result.dated == DATED and not result.skipped and result.stopped is None
    assert [r.counts.inserted for _, r in result.imports] == [len(RELEASES), 0]
    assert db.writer is None  # each import took the writer lock and gave it back

    again = Heard()
    result = import_newest(db, find_newest(settings, ["release"]), progress=again)
    assert again.events == [("skipped", "release.tar.xz")] and not result.imports

    dump_server.files[f"/json-dumps/{DATED}/label.tar.xz"] = label[:-1] + b"\0"
    bad = Heard()
    with pytest.raises(FetchError, match="label.tar.xz: sha256"):
        import_newest(db, find_newest(settings, ["release", "label"]), again=True, progress=bad)
    assert [e for e, _ in bad.events] == ["downloading", "fetched", "downloading"]  # nothing imported
    assert count(db, "SELECT count(*) FROM sync_run WHERE kind = 'import'") == 2


# --- bad input: exit 2 --------------------------------------------------------------


def test_a_dump_url_that_is_not_http_is_exit_2(dump_server, tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "MBINDEX_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"}
    for url in ("ftp://example.org/json-dumps", "file:///tmp/dumps", "/tmp/dumps"):
        res = CliRunner().invoke(cli_group, ["import-dump", "--latest", "--dump-url", url], env=env)
        assert res.exit_code == 2 and "dump_url from command line must look like" in res.output, res.output
    res = CliRunner().invoke(cli_group, ["import-dump", "--latest"], env=dict(env, MBINDEX_DUMP_URL="ftp://x"))
    assert res.exit_code == 2 and "environment MBINDEX_DUMP_URL" in res.output
    assert not dump_server.requests
    with pytest.raises(ConfigError):
        load_settings({"dump_url": "gopher://x"}, environ={})
    assert load_settings(environ={}).dump_url.endswith("/pub/musicbrainz/data/json-dumps")


def test_path_and_latest_go_apart(tmp_path):
    for args in ([], ["--latest", str(tmp_path)], ["--keep", str(tmp_path), str(tmp_path)],
                 ["--entity", "release", "--entity", "label", str(tmp_path)]):
        res = CliRunner().invoke(cli_group, ["import-dump", *args], env={"XDG_CONFIG_HOME": str(tmp_path / "x")})
        assert res.exit_code == 2, res.output


def test_a_sha256_checksum_names_the_file_as_the_importer_does():
    assert Checksum("sha256", "ab" * 32, "u").fingerprint == "sha256:" + "ab" * 32
    assert Checksum("md5", "ab" * 16, "u").fingerprint is None
    assert Archive("release", DATED, "u", Checksum("md5", "", "u")).name == "release.tar.xz"
    assert issubclass(FetchError, RuntimeError)
