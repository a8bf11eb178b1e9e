"""`mbindex update --dump` (and the setting `update_dump`): the newest JSON
dump refreshed first, from the local dump server (`dump_server.py`), then
the watched-scope walks, the facts and the scoring against the replay server
(`replay_server.py`), as docs/scheduling.md and `cli/updates.py` say: a dump
imported before is skipped without a download, a dump that cannot be
fetched or verified imports nothing and fails the night (exit 1) without
stopping the walks and the scoring."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile

import pytest
from sqlalchemy import text

from dump_server import DATED
from helpers import WS2, full_doc, release_doc, write_archive
from helpers import dump_line as line

RELEASES = sorted(p.stem for p in (WS2 / "release").glob("*.json"))
LABEL = "659008fb-d1e7-4eca-865c-0d0344a721ed"  # a watched scope, answered by the replay server's browse
WALKED = ["b84ee12a-09ef-421b-82de-0441a926375b", "942b9e7b-3a43-4f22-b200-ab69ee302d16"]
ARCHIVE = f"/json-dumps/{DATED}/release.tar.xz"


@pytest.fixture
def mirror(cli_env, dump_server, replay, tmp_path, monkeypatch):
    """The CLI's environment: the dump server's dump_url, ListenBrainz on the
    replay server (no live service), downloads under tmp_path."""
    cli_env.update(MBINDEX_DUMP_URL=dump_server.url, MBINDEX_LB_URL=replay.url)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for mbid in RELEASES:  # the artist catalogues enrich asks for (editions: the dump counts them)
        for credit in release_doc(mbid).get("artist-credit") or []:
            replay.set_count("release-group", "artist", credit["artist"]["id"], 4)
    return dump_server


def count(db, sql: str) -> int:
    with db.session() as s:
        return s.execute(text(sql)).scalar_one()


def worklist(run_cli) -> dict:
    """flagged -o json as {mbid: score}; nothing may be left unscored."""
    res = run_cli("flagged", "-o", "json", "--limit", "1000")
    assert res.exit_code == 0, res.output
    assert "not scored yet" not in res.stderr
    return {r["mbid"]: r["score"] for r in json.loads(res.stdout)}


def last_update(run_cli) -> dict:
    res = run_cli("status", "-o", "json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)["last_update"]


def archive_gets(dump_server) -> int:
    return sum(1 for r in dump_server.archive_requests() if r[0] == "GET")


def test_update_dump_imports_the_newest_dump_then_scores_it(mirror, recorded_dump, run_cli, db, tmp_path):
    mirror.publish({"release.tar.xz": recorded_dump})
    res = run_cli("update", "--dump")  # an empty watchlist: the dump is the scope
    assert res.exit_code == 0, res.output
    assert f"dump {DATED}: import run" in res.stdout and f"inserted {len(RELEASES)}," in res.stdout
    assert f"scored {len(RELEASES)} release(s)" in res.stdout
    assert f"{DATED}/release.tar.xz: " in res.stderr and "sha256 matches SHA256SUMS" in res.stderr
    scores = worklist(run_cli)
    assert set(scores) == set(RELEASES) and all(s is not None for s in scores.values())

    last = last_update(run_cli)
    assert last["status"] == "ok"
    assert [c["kind"] for c in last["children"]] == ["import", "enrich", "score"]  # the dump first
    with db.session() as s:
        target, update_run = s.execute(text("SELECT target, (SELECT options FROM sync_run WHERE kind = 'update') "
                                             "FROM sync_run WHERE kind = 'import'")).one()
        inserted = s.execute(text("SELECT inserted FROM sync_run WHERE kind = 'update'")).scalar_one()
    assert target == f"{mirror.url}/{DATED}/release.tar.xz"
    assert update_run["dump"] == {"dated": DATED, "skipped": [], "error": None}
    assert inserted == len(RELEASES)  # the import's counts are the night's
    spool = tmp_path / f"mbindex-downloads-{os.geteuid()}"
    assert [p.name for p in spool.iterdir()] == [".lock"]  # the download is gone
    assert not list(tmp_path.glob("mbindex-dump-*"))


def test_the_same_dump_the_next_night_is_skipped_and_the_rest_runs(mirror, recorded_dump, run_cli, replay, db):
    mirror.publish({"release.tar.xz": recorded_dump})
    assert run_cli("update", "--dump").exit_code == 0
    fetched = archive_gets(mirror)
    assert run_cli("watch", "add", "label", LABEL).exit_code == 0
    replay.set_browse("release", "label", LABEL, [full_doc(m) for m in WALKED])

    res = run_cli("update", "--dump")
    assert res.exit_code == 0, res.output
    assert f"dump {DATED} already imported;" in res.stdout and "scopes walked 1 (1 complete)" in res.stdout
    assert f"already imported: {DATED}/release.tar.xz" in res.stderr and "--again" not in res.stderr
    assert archive_gets(mirror) == fetched  # LATEST and SHA256SUMS only: the archive is not downloaded
    last = last_update(run_cli)
    assert last["status"] == "ok" and [c["kind"] for c in last["children"]] == ["sync", "enrich", "score"]
    assert count(db, "SELECT count(*) FROM sync_run WHERE kind = 'import'") == 1
    assert set(worklist(run_cli)) == set(RELEASES)


def test_a_checksum_mismatch_imports_nothing_fails_the_night_and_the_rest_still_runs(mirror, recorded_dump, run_cli,
                                                                                      replay, db):
    bad = bytearray(recorded_dump)
    bad[len(bad) // 2] ^= 0x01
    mirror.publish({"release.tar.xz": recorded_dump})
    mirror.files[ARCHIVE] = bytes(bad)
    assert run_cli("watch", "add", "label", LABEL).exit_code == 0
    replay.set_browse("release", "label", LABEL, [full_doc(m) for m in WALKED])

    res = run_cli("update", "--dump", "--no-enrich")
    assert res.exit_code == 1, res.output
    assert "update run" in res.stdout and ": failed;" in res.stdout and "dump not imported" in res.stdout
    said = [x for x in res.stderr.splitlines() if x.startswith("dump: ")]
    assert len(said) == 1 and "does not match" in said[0] and said[0].endswith("; the rest of the update ran")
    assert "Traceback" not in res.output
    assert count(db, "SELECT count(*) FROM dump_import") == 0
    assert count(db, "SELECT count(*) FROM sync_run WHERE kind = 'import'") == 0
    # the walk and the scoring ran all the same: the watched releases are stored and scored
    assert "scopes walked 1 (1 complete)" in res.stdout and "scored 2 release(s)" in res.stdout
    assert set(worklist(run_cli)) == set(WALKED)
    last = last_update(run_cli)
    assert last["status"] == "failed" and "does not match" in last["error"]
    assert [c["kind"] for c in last["children"]] == ["sync", "score"]
    check = run_cli("status", "--check")
    assert check.exit_code == 1 and "failed" in check.stdout

    mirror.files[ARCHIVE] = recorded_dump  # mended upstream: the next night imports it
    res = run_cli("update", "--dump", "--no-enrich")
    assert res.exit_code == 0, res.output
    assert set(worklist(run_cli)) == set(RELEASES)


def test_the_setting_turns_it_on_and_no_dump_turns_it_off(mirror, recorded_dump, run_cli, tmp_path):
    mirror.publish({"release.tar.xz": recorded_dump})
    res = run_cli("update")  # off by default: an empty watchlist is still exit 2
    assert res.exit_code == 2 and "the watchlist is empty" in res.output and "update --dump" in res.output
    res = run_cli("update", "--no-dump", env={"MBINDEX_UPDATE_DUMP": "true"})
    assert res.exit_code == 2 and not mirror.requests  # the command line wins
    res = run_cli("update", env={"MBINDEX_UPDATE_DUMP": "maybe"})
    assert res.exit_code == 2 and "update_dump from environment MBINDEX_UPDATE_DUMP must be true or false" in res.output

    res = run_cli("update", env={"MBINDEX_UPDATE_DUMP": "true"})
    assert res.exit_code == 0, res.output
    assert f"dump {DATED}: import run" in res.stdout and f"inserted {len(RELEASES)}," in res.stdout

    config = tmp_path / "config.toml"
    config.write_text("update_dump = true\n", encoding="utf-8")
    res = run_cli("--config", str(config), "update")
    assert res.exit_code == 0 and f"dump {DATED} already imported" in res.stdout, res.output
    shown = {r["setting"]: r for r in json.loads(run_cli("--config", str(config), "config", "show",
                                                         "-o", "json").stdout)}
    assert shown["update_dump"]["value"] == "true" and shown["update_dump"]["source"].startswith("config file")


def test_refused_tombstones_fail_the_night_and_name_the_command_that_forces_them(mirror, recorded_dump, run_cli, db,
                                                                                 tmp_path):
    mirror.publish({"release.tar.xz": recorded_dump})
    assert run_cli("update", "--dump", "--no-enrich").exit_code == 0
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
    smaller = write_archive(tmp_path / "next.tar.xz", [line(release_doc(m)) for m in RELEASES[1:]],
                            timestamp=now).read_bytes()  # one of 12 gone: more than max_tombstone_percent
    mirror.publish({"release.tar.xz": smaller}, dated="20261209-001001")

    res = run_cli("update", "--dump", "--no-enrich")
    assert res.exit_code == 1, res.output
    assert "import run" in res.stdout and " partial (" in res.stdout
    assert "not tombstoning the 1 release(s)" in res.stderr
    assert "then run `mbindex import-dump --latest --force` to tombstone them" in res.stderr
    assert count(db, "SELECT count(*) FROM release WHERE deleted_at IS NOT NULL") == 0
    assert last_update(run_cli)["status"] == "failed"

    forced = run_cli("import-dump", "--latest", "--force")
    assert forced.exit_code == 0, forced.output
    assert count(db, "SELECT count(*) FROM release WHERE deleted_at IS NOT NULL") == 1
    res = run_cli("update", "--dump", "--no-enrich")
    assert res.exit_code == 0 and "dump 20261209-001001 already imported" in res.stdout, res.output


def test_quarantined_dump_lines_are_exit_5(mirror, run_cli, tmp_path):
    lines = [line(release_doc(m)) for m in RELEASES] + ['{"id": "not a release", "title": ']
    mirror.publish({"release.tar.xz": write_archive(tmp_path / "q.tar.xz", lines).read_bytes()})
    res = run_cli("update", "--dump", "--no-enrich")
    assert res.exit_code == 5, res.output
    assert "quarantined 1)" in res.stdout and "1 line(s) quarantined (kept in the quarantine table" in res.stderr
    assert last_update(run_cli)["quarantined"] == 1
