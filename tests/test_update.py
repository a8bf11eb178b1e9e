"""`mbindex update` and `mbindex status`: several nights against the real
replay server whose recordings change between nights, the exit contract,
kill -9 in the walk and in the scoring, and the shipped systemd units.

After each night the worklist (`flagged -o json`) must equal what a
from-scratch `sync label` + `enrich` + `score` of the same upstream state
gives in a second, fresh database: same releases, scores, signals and facts.
The one release deleted upstream is the exception by design: the mirror
keeps it, tombstoned (the `tombstoned` signal), where a fresh database never
saw it; it is compared apart.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

import indexer.sync.scope as scope_mod
from helpers import as_answered, full_doc, load_doc
from indexer.sources.ws2 import BROWSE_INCLUDES
from indexer.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent
MBINDEX = Path(sys.executable).parent / "mbindex"

LABEL = "659008fb-d1e7-4eca-865c-0d0344a721ed"  # Fire Records (the label of 12195c41)
CHANGED = "12195c41-6136-4dfd-acf1-9923dadc73e2"  # recorded twice: history/ (older) and release/
OLD_CHANGED = f"history/{CHANGED}@a431d6df.json"
DELETED = "987f3e2d-22a6-4a4f-b840-c80c26b8b91a"
NEW_NIGHT2 = "59211ea4-ffd2-4ad9-9a4e-941d3148024a"
NEW_NIGHT3 = "b1dc9838-adf3-43f2-93f9-802b46e5fe59"
DSOTM = "b84ee12a-09ef-421b-82de-0441a926375b"
DSOTM_RG = "f5093c06-23e3-404f-aeaa-40f72885ee3a"
# browse items that carry every asked include come first: a page of them costs one request
NIGHT1 = [CHANGED, DSOTM, "c9d52105-5c20-3216-bc1b-e54918f8f688", "94ad3a58-a1cc-46a3-acf4-9cb6c1d6f032",
          "942b9e7b-3a43-4f22-b200-ab69ee302d16", DELETED]
NIGHT2 = [m for m in NIGHT1 if m != DELETED] + [NEW_NIGHT2]
NIGHT3 = NIGHT2 + [NEW_NIGHT3]


@pytest.fixture
def nights(replay, cli_env, monkeypatch):
    """The replay server as upstream, changed night by night; facts for every
    group and artist; facts refetched every night (max age 0)."""
    monkeypatch.setattr(scope_mod, "PAGE", 3)  # 6-7 releases take 2-3 pages: a budget can cut a walk
    for mbid in set(NIGHT3) | {DELETED}:
        doc = full_doc(mbid)
        if isinstance(doc.get("release-group"), dict):
            rg = doc["release-group"]["id"]
            replay.set_count("release", "release-group", rg, 25 if rg == DSOTM_RG else 1)
        for credit in doc.get("artist-credit") or []:
            replay.set_count("release-group", "artist", credit["artist"]["id"], 4)
    cli_env.update(MBINDEX_LB_URL=replay.url, MBINDEX_FACTS_MAX_AGE_DAYS="0")

    def upstream(night: int) -> None:
        if night == 1:
            old = as_answered(load_doc(OLD_CHANGED), BROWSE_INCLUDES)
            replay.add_document("release", old)
            docs = [old] + [full_doc(m) for m in NIGHT1[1:]]
        else:
            replay.add_document("release", load_doc(f"release/{CHANGED}.json"))
            replay.delete("release", DELETED)
            replay.set_popularity(DSOTM_RG, 2400000, 510000)
            docs = [full_doc(m) for m in (NIGHT2 if night == 2 else NIGHT3)]
        replay.set_browse("release", "label", LABEL, docs)

    return upstream


def worklist(run_cli, env=None) -> dict:
    """flagged -o json as {mbid: (score, signals, facts)}; stderr must carry no unscored notice."""
    res = run_cli("flagged", "-o", "json", "--limit", "1000", env=env)
    assert res.exit_code == 0, res.output
    assert "not scored yet" not in res.stderr and "old score" not in res.stderr
    return {r["mbid"]: (r["score"], sorted(r["signals"]),
                        {k: (v["value"], v["source"]) for k, v in (r["facts"] or {}).items()})
            for r in json.loads(res.stdout)}


def from_scratch(run_cli, pg_server) -> dict:
    """sync label + enrich + score of the current upstream state in a fresh database."""
    name = pg_server.create()
    env = {"MBINDEX_DATABASE_URL": pg_server.url_for(name)}
    try:
        for args in (("sync", "label", LABEL), ("enrich",), ("score",)):
            res = run_cli(*args, env=env)
            assert res.exit_code == 0, (args, res.output)
        return worklist(run_cli, env)
    finally:
        pg_server.drop(name)


def status(run_cli) -> dict:
    res = run_cli("status", "-o", "json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def assert_same_as_scratch(run_cli, pg_server) -> dict:
    mine = worklist(run_cli)
    live = {m: row for m, row in mine.items() if "tombstoned" not in row[1]}
    assert live == from_scratch(run_cli, pg_server)
    return mine


def test_several_nights_keep_the_worklist_equal_to_a_fresh_mirror(nights, run_cli, pg_server, replay, database_url):
    assert run_cli("watch", "add", "label", LABEL).exit_code == 0

    # night 1: the label's releases
    nights(1)
    res = run_cli("update")
    assert res.exit_code == 0, res.output
    assert f"inserted {len(NIGHT1)}" in res.stdout and "scored 6 release(s)" in res.stdout
    mine = assert_same_as_scratch(run_cli, pg_server)
    assert set(mine) == set(NIGHT1) and "no_listens" in mine[DSOTM][1]
    st = status(run_cli)
    last = st["last_update"]
    assert last["status"] == "ok" and [c["kind"] for c in last["children"]] == ["sync", "enrich", "score"]
    [scope] = st["scopes"]
    assert scope["last_complete_walk"] and scope["resume_at"] is None and scope["last_error"] is None
    assert st["releases"]["unscored"] == st["releases"]["changed"] == st["releases"]["other_policy"] == 0
    assert st["quarantined"] == 0 and st["database"]["embedded"] is False
    assert run_cli("status", "--check").exit_code == 0

    # night 2: one changed upstream, one new, one deleted (404), popularity for one release group
    nights(2)
    res = run_cli("update")
    assert res.exit_code == 0, res.output
    assert "inserted 1, updated 1" in res.stdout and "tombstoned 1" in res.stdout
    # each child run counts its own requests (the walk's and enrich's share one client): they add up
    update_run = status(run_cli)["last_update"]
    with psycopg.connect(_conninfo(database_url)) as conn:
        rows = dict(conn.execute("SELECT id, requests FROM sync_run").fetchall())
    own = [rows[c["run"]] for c in update_run["children"] if c["kind"] in ("sync", "enrich")]
    assert len(own) == 2 and all(n > 0 for n in own) and sum(own) == rows[update_run["run"]], (own, rows)
    mine = assert_same_as_scratch(run_cli, pg_server)
    assert "tombstoned" in mine[DELETED][1]
    assert mine[DSOTM][2]["listens"] == (2400000, "listenbrainz") and "no_listens" not in mine[DSOTM][1]
    assert status(run_cli)["releases"]["live"] == len(NIGHT2)

    # night 3: a new release on the last page, and the budget runs out after the first page
    nights(3)
    res = run_cli("update", "--max-requests", "1")
    assert res.exit_code == 3, res.output
    assert "update run" in res.stdout and ": partial;" in res.stdout and "enrich skipped" in res.stderr
    st = status(run_cli)
    assert st["last_update"]["status"] == "partial" and st["last_update"]["last_complete"]
    [scope] = st["scopes"]
    assert scope["resume_at"] == 3 and scope["last_status"] == "partial" and "budget" in scope["last_error"]
    assert st["releases"]["unscored"] == st["releases"]["changed"] == 0  # everything stored is scored
    assert NEW_NIGHT3 not in worklist(run_cli)
    check = run_cli("status", "--check")
    assert check.exit_code == 0, check.output  # a cut night is a normal night

    # night 4: resumes at the page it had not walked
    replay.reset_log()
    res = run_cli("update")
    assert res.exit_code == 0, res.output
    browses = [r.query.get("offset") for r in replay.requests if r.query.get("label") == LABEL]
    assert browses == ["3", "6"]
    assert_same_as_scratch(run_cli, pg_server)
    [scope] = status(run_cli)["scopes"]
    assert scope["resume_at"] is None and scope["last_status"] == "ok"


def test_exit_contract_quarantine_wins_over_a_budget_cut_and_a_new_policy_rescores_all(
        nights, run_cli, replay, tmp_path):
    assert run_cli("watch", "add", "label", LABEL).exit_code == 0
    nights(1)
    bad = full_doc(NEW_NIGHT3)
    bad["media"][0]["tracks"][0] = "not a track"  # cannot be mapped: quarantined, the walk goes on
    replay.set_browse("release", "label", LABEL, [bad] + [full_doc(m) for m in NIGHT1[1:]])
    res = run_cli("update", "--max-requests", "1")  # first page: quarantine; then the budget runs out
    assert res.exit_code == 5, res.output
    assert "quarantined 1" in res.stdout and "quarantine table" in res.stderr
    assert status(run_cli)["quarantined"] == 1
    runs = json.loads(run_cli("runs", "--json").stdout)
    assert {r["kind"] for r in runs} == {"update", "sync", "score"}
    assert [r["quarantined"] for r in runs if r["kind"] == "update"] == [1]

    policy = tmp_path / "policy.toml"
    default = (ROOT / "indexer/analysis/risk_policy.toml").read_text(encoding="utf-8")
    policy.write_text(default.replace('version = "', 'version = "local-', 1), encoding="utf-8")
    assert status(run_cli)["releases"]["other_policy"] == 0
    res = run_cli("update", "--no-enrich", "--policy", str(policy))
    assert res.exit_code == 0, res.output
    assert "(all: another policy's scores existed)" in res.stdout
    assert run_cli("status", "-o", "json").exit_code == 0
    again = json.loads(run_cli("status", "-o", "json", "--policy", str(policy)).stdout)
    assert again["releases"]["other_policy"] == 0 and again["releases"]["unscored"] == 0


def test_bad_input_and_failures_are_one_line(nights, run_cli, replay):
    for args in (("update",),  # empty watchlist
                 ("update", "--bogus"), ("update", "--time-budget", "soon"), ("update", "--max-requests", "0"),
                 ("status", "--max-age", "a while"), ("status", "-o", "xml"),
                 # too long to be a date (an OverflowError traceback once), infinite, empty
                 ("status", "--check", "--max-age", "1000000000d"), ("status", "--max-age", "9" * 400),
                 ("update", "--time-budget", ""), ("update", "--time-budget", "99999999999d")):
        res = run_cli(*args)
        assert res.exit_code == 2, (args, res.output)
        assert "Traceback" not in res.output and res.output.strip().splitlines()[-1].startswith("Error: "), res.output
    assert "the watchlist is empty" in run_cli("update").output
    # monitoring reads stdout: a database it cannot reach is one CRITICAL line there, exit 1
    down = run_cli("--database-url", "postgresql://postgres@127.0.0.1:1/nowhere", "status", "--check")
    assert down.exit_code == 1 and down.stdout.count("\n") == 1
    assert down.stdout.startswith("MBINDEX CRITICAL - cannot connect"), down.output

    assert run_cli("watch", "add", "label", LABEL).exit_code == 0
    nights(1)
    check = run_cli("status", "--check")
    assert check.exit_code == 1 and check.stdout.count("\n") == 1 and "no `mbindex update`" in check.stdout
    replay.inject("status", 20, path_contains="label=", status=500)
    res = run_cli("update", "--retries", "0")
    assert res.exit_code == 1, res.output
    st = status(run_cli)
    assert st["last_update"]["status"] == "failed" and "HTTP 500" in st["scopes"][0]["last_error"]
    check = run_cli("status", "--check")
    assert check.exit_code == 1 and "the last update" in check.stdout and "failed" in check.stdout


def test_a_scope_that_fails_does_not_keep_the_others_stale(nights, run_cli, replay):
    """A watched collection deleted upstream (404 on every walk) stays first
    in line, as the longest unsynced; the label after it is walked all the
    same, and the night says a walk failed (exit 1)."""
    gone = "0b15c97c-8eb8-4b4f-81c3-0eb24266a2ac"
    assert run_cli("watch", "add", "collection", gone).exit_code == 0  # unknown to the server: 404
    assert run_cli("watch", "add", "label", LABEL).exit_code == 0
    nights(1)
    for _night in (1, 2):
        res = run_cli("update", "--retries", "0")
        assert res.exit_code == 1, res.output
        scopes = {s["scope"]: s for s in status(run_cli)["scopes"]}
        assert scopes["label"]["last_complete_walk"] is not None, scopes
        assert scopes["collection"]["last_complete_walk"] is None and scopes["collection"]["last_error"]
    assert len(worklist_rows := json.loads(run_cli("flagged", "-o", "json", "--limit", "100").stdout)) == len(NIGHT1)
    assert all(r["score"] is not None for r in worklist_rows)


def test_flagged_export_and_the_web_say_how_many_releases_are_not_scored(nights, run_cli, db, tmp_path):
    assert run_cli("sync", "release", DSOTM, NIGHT1[2]).exit_code == 0  # stored, never scored
    line = "2 stored release(s) are not scored yet and not listed: run `mbindex update` or `mbindex score --changed`"
    for args in (("flagged",), ("export", "-o", "json", "--to", str(tmp_path / "w.json"))):
        res = run_cli(*args)
        assert res.exit_code == 0 and line in res.stderr, res.output
    with TestClient(create_app(db)) as web:
        assert line in web.get("/").text
        overview = web.get("/overview").text
        assert "Freshness" in overview and "not scored yet" in overview
    assert run_cli("score", "--changed").exit_code == 0
    assert "not scored" not in run_cli("flagged").stderr


# --- kill -9 --------------------------------------------------------------------------


def _env(cli_env, **more) -> dict:
    env = dict(os.environ, **cli_env, **more)
    env.pop("MBINDEX_TEST_DATABASE_URL", None)
    return env


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _wait_for(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _runs(url: str) -> list[tuple]:
    with psycopg.connect(_conninfo(url)) as conn:
        return conn.execute("SELECT kind, status FROM sync_run ORDER BY id").fetchall()


def _converges(url, env, run_cli, pg_server) -> None:
    done = subprocess.run([str(MBINDEX), "update"], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("running" not in {s for _k, s in _runs(url)}), _runs(url)
    assert ("update", "interrupted") in _runs(url)
    assert_same_as_scratch(run_cli, pg_server)


def test_kill9_in_the_walk_then_update_converges(nights, run_cli, cli_env, database_url, pg_server, replay):
    env = _env(cli_env)
    other = "00000000-0000-4000-8000-00000000f00d"  # a small label, watched first: walked before the kill
    replay.set_browse("release", "label", other, [full_doc(NIGHT1[2])])
    assert run_cli("watch", "add", "label", other).exit_code == 0
    assert run_cli("watch", "add", "label", LABEL).exit_code == 0
    nights(1)
    # PAGE is 100 in the subprocess: one page; killed while it waits for a fallback lookup
    replay.inject("slow", 1, path_contains=f"/release/{DELETED}", delay=30)
    proc = subprocess.Popen([str(MBINDEX), "update"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: any(r.fault == "slow" for r in replay.requests) or proc.poll() is not None,
                  "the slow lookup")
    finally:
        proc.kill()
        proc.wait()
    replay.clear_faults()
    assert ("update", "running") in _runs(database_url)
    # monitoring sees the kill at once, before a writer records it: a killed run holds no writer lock
    _wait_for(lambda: run_cli("status", "--check").exit_code == 1, "status --check to see the kill")
    check = run_cli("status", "--check")
    assert "interrupted" in check.stdout and "killed?" in check.stdout, check.stdout
    assert ("update", "running") in _runs(database_url)  # status only read
    # the walk that ended before the kill is named, with its counts
    st = status(run_cli)
    killed = st["last_update"]
    assert [c["kind"] for c in killed["children"]] == ["sync"], killed
    # where the killed walk resumes is its own last checkpoint, as the next walk reads it
    with psycopg.connect(_conninfo(database_url)) as conn:
        saved = conn.execute("SELECT checkpoint FROM sync_run WHERE kind = 'sync' AND target = %s "
                             "ORDER BY id DESC LIMIT 1", (LABEL,)).fetchone()[0]
    scopes = {w["target"]: w["resume_at"] for w in st["scopes"]}
    assert scopes[LABEL] == (saved or {}).get("offset") and scopes[other] is None
    listed = json.loads(run_cli("watch", "list", "-o", "json").stdout)
    assert {w["target"]: w["resume_at"] for w in listed} == scopes
    _converges(database_url, env, run_cli, pg_server)


def test_kill9_in_the_scoring_then_update_converges(nights, run_cli, cli_env, database_url, pg_server):
    env = _env(cli_env)
    assert run_cli("watch", "add", "label", LABEL).exit_code == 0
    nights(1)
    with psycopg.connect(_conninfo(database_url), autocommit=True) as blocker:
        blocker.execute("SELECT pg_advisory_lock(hashtext('mbindex-score'))")  # scoring waits for it
        proc = subprocess.Popen([str(MBINDEX), "update"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            _wait_for(lambda: ("score", "running") in _runs(database_url) or proc.poll() is not None,
                      "the scoring", timeout=120)
            time.sleep(0.3)
            assert status(run_cli)["last_update"]["status"] == "running"  # alive: it holds the writer lock
        finally:
            proc.kill()
            proc.wait()
        # the server notices a dead client only when it next talks to it: end its waiting backend now
        blocker.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'")
    st = status(run_cli)
    assert st["releases"]["unscored"] == len(NIGHT1)  # stored, not scored: and flagged says so
    assert "6 stored release(s) are not scored yet" in run_cli("flagged").stderr
    _converges(database_url, env, run_cli, pg_server)
    assert ("score", "interrupted") in _runs(database_url)


# --- the shipped systemd units --------------------------------------------------------------


UNITS = ROOT / "docs" / "systemd"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=True, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((UNITS / name).read_text(encoding="utf-8"), source=name)
    return parser


def test_the_systemd_units_match_the_exit_contract():
    service, timer, serve = (_unit(f"mbindex-{n}") for n in ("update.service", "update.timer", "serve.service"))
    svc = service["Service"]
    assert svc["Type"] == "oneshot" and svc["User"] == serve["Service"]["User"] == "mbindex"
    assert svc["StateDirectory"] == serve["Service"]["StateDirectory"] == "mbindex"
    assert svc["ExecStart"].split()[1] == "update" and serve["Service"]["ExecStart"].split()[1] == "serve"
    assert sorted(svc["SuccessExitStatus"].split()) == ["3", "5"]
    # one database: the same data dir (the state directory) and environment file for both
    assert "MBINDEX_DATA_DIR=/var/lib/mbindex" in svc["Environment"].split()
    # no contact of the unit's own: a placeholder would pass the check that makes the admin give theirs
    assert not any("CONTACT" in unit for unit in (svc["Environment"], serve["Service"]["Environment"]))
    assert "MBINDEX_DATA_DIR=/var/lib/mbindex" in serve["Service"]["Environment"].split()
    assert svc["EnvironmentFile"] == serve["Service"]["EnvironmentFile"]
    # update --dump downloads into TMPDIR: the cache directory systemd makes for the user, not /tmp
    assert "TMPDIR=/var/cache/mbindex" in svc["Environment"].split() and svc["CacheDirectory"] == "mbindex"
    assert timer["Timer"]["Unit"] == "mbindex-update.service" and timer["Install"]["WantedBy"] == "timers.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verifies_the_units(tmp_path):
    """`systemd-analyze verify` (ExecStart pointed at this environment's mbindex) finds nothing to say."""
    names = ("mbindex-update.service", "mbindex-update.timer", "mbindex-serve.service")
    for name in names:
        text = (UNITS / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace("/opt/mbindex/.venv/bin/mbindex", str(MBINDEX)), encoding="utf-8")
    res = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / n) for n in names)],
                         capture_output=True, text=True, timeout=60)
    said = [line for line in (res.stdout + res.stderr).splitlines() if str(tmp_path) in line]
    assert res.returncode == 0 and not said, res.stdout + res.stderr
