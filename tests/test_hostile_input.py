"""Issue 10, items 5, 6, 8, 9 and the database connect timeout of item 3:
hostile titles in files and on the terminal, hostile settings, secrets in
URLs, a foreign database, a database host that never answers.

Every case goes through the real CLI (CliRunner, or the installed code in a
subprocess where a resource limit or a hang is involved) against a real
PostgreSQL database."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from helpers import RICH, release_doc, score_all, store
from indexer.cli import cli
from indexer.cli.app import UserError
from indexer.config import ConfigError, load_settings, mask_url
from indexer.db import Database
from indexer.output.files import write_text_atomic
from indexer.output.tables import render

#: titles a spreadsheet would run, or that break a naive CSV writer
FORMULA_TITLES = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-2+3", "@SUM(A1:A2)", "\tTab", "\rCR first"]
BARE_CR = "Side A\rSide B"
ESCAPE = "\x1b]0;pwned\x07Title\x9b31m\u202eevil"


def _hostile_release(db, title: str, medium_format: str | None = None) -> str:
    """A real release document under a new MBID with `title` (and the first
    medium's format); returns the MBID."""
    doc = copy.deepcopy(release_doc(RICH["c9d52105"]))
    doc["id"] = str(uuid.uuid4())
    doc["title"] = title
    if medium_format is not None:
        doc["media"][0]["format"] = medium_format
    store(db, doc)
    return doc["id"]


@pytest.fixture
def hostile(db):
    """The mirror holding one release per hostile title, scored."""
    mbids = {title: _hostile_release(db, title) for title in [*FORMULA_TITLES, BARE_CR, ESCAPE]}
    score_all(db)
    return mbids


@pytest.fixture
def settings_cli(tmp_path):
    """The CLI for cases that end while the settings are read: no test
    database (a connection attempt would fail at once on the closed port)."""
    def run(*args, env=None):
        base = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "MBINDEX_DATABASE_URL": "postgresql://127.0.0.1:9/none"}
        return CliRunner().invoke(cli, list(args), env=dict(base, **(env or {})), catch_exceptions=False)

    return run


def _one_line_error(res, code: int) -> str:
    assert res.exit_code == code, (res.exit_code, res.output)
    assert "Traceback" not in res.output
    err = res.stderr.strip()
    assert err and "\n" not in err, err
    return err


# --- 5. files -------------------------------------------------------------------


def test_csv_quotes_a_bare_cr_and_neutralises_formulas():
    rows = [{"title": t, "score": -3} for t in [*FORMULA_TITLES, BARE_CR, "plain"]]
    out = render(rows, "csv")
    parsed = list(csv.reader(io.StringIO(out, newline="")))
    assert parsed[0] == ["title", "score"] and len(parsed) == len(rows) + 1
    titles = [r[0] for r in parsed[1:]]
    assert titles == ["'" + t for t in FORMULA_TITLES] + [BARE_CR, "plain"]
    assert {r[1] for r in parsed[1:]} == {"-3"}  # a number is not a formula
    raw = list(csv.reader(io.StringIO(render(rows, "csv", spreadsheet_safe=False), newline="")))
    assert [r[0] for r in raw[1:]] == [*FORMULA_TITLES, BARE_CR, "plain"]


def test_export_csv_is_safe_by_default_and_exact_with_no_csv_safe(hostile, run_cli, tmp_path):
    safe, exact = tmp_path / "safe.csv", tmp_path / "exact.csv"
    assert run_cli("export", "--to", str(safe)).exit_code == 0
    assert run_cli("export", "--no-csv-safe", "--to", str(exact)).exit_code == 0
    for path, expect in ((safe, lambda t: "'" + t if t in FORMULA_TITLES else t), (exact, lambda t: t)):
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        assert {r["mbid"]: r["title"] for r in rows} == {m: expect(t) for t, m in hostile.items()}
    # the listing commands' CSV is for spreadsheets too
    listed = {r["mbid"]: r["title"] for r in csv.DictReader(io.StringIO(run_cli("flagged", "--csv").stdout, newline=""))}
    assert listed[hostile[FORMULA_TITLES[0]]].startswith("'=")


def test_terminal_views_escape_control_characters(hostile, db, run_cli):
    mbid = hostile[ESCAPE]
    for args in (["flagged", "--sort", "title", "--limit", "100"], ["show", mbid], ["export", "-o", "json"]):
        out = run_cli(*args).stdout
        assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out, args
    table = run_cli("flagged", "--limit", "100").stdout
    assert "\\x1b]0;pwned\\x07Title\\x9b31m\\u202eevil" in table
    assert "\\x1b]0;pwned\\x07Title" in run_cli("show", mbid).stdout
    # report's text names the medium formats
    _hostile_release(db, "x", medium_format="Cassette\x1b[2J")
    report = run_cli("report").stdout
    assert "Cassette\\x1b[2J" in report and "\x1b" not in report
    # JSON keeps the exact title (escaped as JSON)
    rows = {r["mbid"]: r["title"] for r in json.loads(run_cli("export", "-o", "json").stdout)}
    assert rows[mbid] == ESCAPE


def test_error_lines_escape_control_characters():
    """An error may quote upstream text (a reason phrase, a title): it reaches the terminal escaped."""
    err = UserError("sync failed: 503 \x1b]0;pwned\x07 Service Unavailable")
    assert err.format_message() == "sync failed: 503 \\x1b]0;pwned\\x07 Service Unavailable"


_FAIL_PART_WAY = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))
from indexer.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("command", [["export", "--to"], ["report", "--html"]])
def test_a_write_failing_part_way_leaves_the_old_file(hostile, cli_env, tmp_path, command):
    target = tmp_path / "out.file"
    target.write_text("the old version\n")
    env = dict(os.environ, **cli_env, PYTHONDONTWRITEBYTECODE="1")
    res = subprocess.run([sys.executable, "-c", _FAIL_PART_WAY, *command, str(target)], env=env, check=False,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert "File too large" in res.stderr and "Traceback" not in res.stderr
    assert target.read_text() == "the old version\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.file")] == []  # no temporary file left


def test_atomic_write_keeps_the_permissions(tmp_path):
    shared = tmp_path / "shared.csv"
    shared.write_text("old")
    shared.chmod(0o644)
    write_text_atomic(shared, "new")
    assert shared.read_text() == "new" and stat.S_IMODE(shared.stat().st_mode) == 0o644
    fresh = tmp_path / "fresh.csv"
    write_text_atomic(fresh, "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


# --- 6. input and configuration -------------------------------------------------


@pytest.mark.parametrize("args, env", [
    (["sync", "release", RICH["c9d52105"], "--timeout", "nan"], {}),
    (["sync", "release", RICH["c9d52105"], "--timeout", "inf"], {}),
    (["sync", "release", RICH["c9d52105"], "--timeout", "1e308"], {}),
    (["runs"], {"MBINDEX_TIMEOUT": "nan"}),
    (["runs"], {"MBINDEX_RETRIES": "1e300"}),
    (["runs"], {"MBINDEX_CONNECT_TIMEOUT": "inf"}),
    (["--database-url", "postgresql://postgres@127.0.0.1/b\udcffd", "runs"], {}),
    (["--database-url", "postgresql://[::1/mbindex", "runs"], {}),
    (["sync", "release", RICH["c9d52105"], "--ws-url", "http://[::1:5000"], {}),
    (["config", "show"], {"MBINDEX_WS_URL": "http://[fe80::1"}),
])
def test_bad_settings_are_one_line_usage_errors(settings_cli, args, env):
    err = _one_line_error(settings_cli(*args, env=env), 2)
    assert "Error:" in err


@pytest.mark.parametrize("content", ["mbindex = 5\n", "retries = 1e300\n", "retries = 2.5\n", "rate = inf\n",
                                     "timeout = nan\n", "[mbindex]\nretries = true\n",
                                     "contact = 5\n", "ws_url = [1]\n"])
def test_bad_config_files_are_one_line_usage_errors(settings_cli, tmp_path, content):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(content)
    _one_line_error(settings_cli("--config", str(cfg), "config", "show"), 2)


def test_a_config_file_that_cannot_be_read(settings_cli, tmp_path, monkeypatch):
    default = tmp_path / "xdg" / "mbindex" / "config.toml"
    default.mkdir(parents=True)  # a directory where the default config file goes
    assert "cannot read config file" in _one_line_error(settings_cli("config", "show"), 2)
    cfg = tmp_path / "locked.toml"
    cfg.write_text("rate = 1\n")
    real = type(cfg).read_text

    def denied(self, *a, **k):  # tests run as root, who reads a mode-000 file: deny it here
        if self == cfg:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(type(cfg), "read_text", denied)
    with pytest.raises(ConfigError, match="cannot read config file .*Permission denied"):
        load_settings({}, cfg, environ={})


def test_a_non_utf8_user_is_a_usage_error(db, run_cli):
    mbid = _hostile_release(db, "plain")
    _one_line_error(run_cli("mark", mbid, "--status", "open", env={"USER": "b\udcffd"}), 2)
    assert run_cli("mark", mbid, "--status", "open", env={"USER": "curator"}).exit_code == 0


def test_demo_while_a_sync_holds_the_lock_exits_4(db, run_cli):
    with db.writer_lock("test"):
        res = run_cli("demo")
    assert res.exit_code == 4, res.output
    assert "Traceback" not in res.output


# --- 8. secrets ----------------------------------------------------------------


@pytest.mark.parametrize("url, secret", [
    ("host=db password='ab S3cr3t' dbname=m", "S3cr3t"),
    ("host=db password = 'it\\'s S3cr3t' dbname=m", "S3cr3t"),
    ("host=db password='unterminated S3cr3t", "S3cr3t"),
    ("postgresql://u:p@ss S3cr3t@db/m", "S3cr3t"),
    ("postgresql://[::1/m?password=S3cr3t", "S3cr3t"),
    ("postgresql://db/m?sslpassword=S3cr3t&user=u", "S3cr3t"),
    ("https://u:S3cr3t@mirror.example", "S3cr3t"),
])
def test_passwords_are_masked_whole(url, secret):
    masked = mask_url(url)
    assert secret not in masked and "***" in masked


def test_a_non_utf8_secret_is_refused_without_repeating_it():
    with pytest.raises(ConfigError) as exc:
        load_settings({}, None, environ={"MBINDEX_SERVE_TOKEN": "S3cr3tS3cr3tS3cr3t\udcff"})
    assert "not valid UTF-8" in str(exc.value) and "S3cr3t" not in str(exc.value)


def test_config_show_masks_credentials_of_every_url(settings_cli):
    res = settings_cli("--database-url", "host=db password='ab S3cr3t' dbname=m", "config", "show",
                  env={"MBINDEX_WS_URL": "https://mirror:wsS3cr3t@mirror.example"})
    assert res.exit_code == 0, res.output
    assert "S3cr3t" not in res.output and "https://mirror:***@mirror.example" in res.output


# --- 9. db upgrade on another application's database ----------------------------


def test_db_upgrade_refuses_a_foreign_database_unless_forced(empty_database_url, run_cli):
    other = Database(empty_database_url)
    try:
        with other.engine.begin() as conn:
            conn.execute(text("CREATE TABLE invoices (id int)"))
        for args in (["db", "upgrade"], ["db", "current"], ["runs"]):
            err = _one_line_error(run_cli("--database-url", empty_database_url, *args), 2)
            assert "refusing" in err and "public.invoices" in err
        assert _tables(other) == {"invoices"}  # untouched
        assert run_cli("--database-url", empty_database_url, "db", "upgrade", "--force").exit_code == 0
        assert {"invoices", "release", "alembic_version"} <= _tables(other)
        assert run_cli("--database-url", empty_database_url, "runs").exit_code == 0
    finally:
        other.dispose()


def _tables(database) -> set[str]:
    with database.engine.connect() as conn:
        return set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())


# --- 3 (part). a database host that accepts and never answers -------------------


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_a_silent_database_host_times_out(silent_server, tmp_path):
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path), MBINDEX_CONNECT_TIMEOUT="2",
               MBINDEX_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{silent_server}/x")
    started = time.monotonic()
    res = subprocess.run([sys.executable, "-c", "import sys; from indexer.cli import main; main(sys.argv[1:])", "runs"],
                         env=env, check=False, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 30  # 2 s, plus start-up on a loaded machine; it hung before
    assert res.returncode == 1, res.stderr
    assert "cannot connect" in res.stderr and "Traceback" not in res.stderr
