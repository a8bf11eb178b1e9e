"""End to end through the CLI: `mbindex sync release` against the replay server."""

import ast
import csv
import importlib
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import click
from click.testing import CliRunner
from sqlalchemy import func, select

from helpers import RICH, release_doc
from indexer import __version__
from indexer.cli import COMMANDS as cli_commands_table
from indexer.cli import SUMMARIES, cli
from indexer.cli import commands as cli_commands
from indexer.db import Database
from indexer.db import models as m
from indexer.output.tables import render

TABLES = [m.Release, m.Medium, m.Track, m.Recording, m.Artist, m.Label, m.ReleaseGroup, m.ReleaseLabel,
          m.ArtistCredit, m.UrlRelation, m.Tag, m.Document, m.DocumentRevision]


def snapshot(db):
    """Every row of every mirror table, minus the timestamps of when we saw it."""
    out = {}
    with db.session() as s:
        for model in TABLES:
            cols = [c for c in model.__table__.columns if c.name not in ("first_seen", "last_seen", "id", "medium_id", "revision_id")]
            out[model.__tablename__] = sorted(tuple(str(v) for v in row) for row in s.execute(select(*cols)))
    return out


def test_sync_rich_release_stores_everything_and_is_idempotent(run_cli, db, replay):
    mbid = RICH["c9d52105"]
    result = run_cli("sync", "release", mbid)
    assert result.exit_code == 0, result.output
    assert "inserted 1" in result.output
    with db.session() as s:
        rel = s.get(m.Release, uuid.UUID(mbid))
        assert rel.title == "Meteora" and rel.artist_credit == "Linkin Park"
        assert rel.release_group_mbid is not None and s.get(m.ReleaseGroup, rel.release_group_mbid).title == "Meteora"
        assert [md.format for md in rel.media] == ["Enhanced CD"]
        tracks = rel.media[0].tracks
        assert len(tracks) == 15 and [t.kind for t in tracks].count("data") == 2
        assert all(s.get(m.Recording, t.recording_mbid) for t in tracks)
        assert [(x.label_name, x.catalog_number) for x in rel.labels] == [("Warner Bros. Records", "9362 48444 2")]
        assert s.get(m.Label, rel.labels[0].label_mbid).label_code == 392
        assert s.scalar(select(func.count()).select_from(m.UrlRelation).where(m.UrlRelation.entity_mbid == rel.mbid)) == 2
        assert s.scalar(select(func.count()).select_from(m.Tag).where(m.Tag.entity_mbid == rel.mbid)) == 2
        assert s.scalar(select(func.count()).select_from(m.ArtistCredit).where(m.ArtistCredit.entity_mbid == rel.mbid)) == 1
        doc = s.get(m.Document, ("release", rel.mbid))
        assert doc.revision.doc["id"] == mbid and len(doc.hash) == 64
        run = s.scalars(select(m.SyncRun)).one()
        assert (run.status, run.inserted, run.requests) == ("ok", 1, 1)
    before = snapshot(db)

    again = run_cli("sync", "release", mbid)
    assert again.exit_code == 0, again.output
    assert "unchanged 1" in again.output
    assert snapshot(db) == before

    # the request reached the server with the includes and a proper User-Agent
    lookups = [r for r in replay.requests if r.path.endswith(mbid)]
    assert len(lookups) == 2
    ua = lookups[0].user_agent
    assert ua.startswith(f"mbindex/{__version__}") and ua.endswith("( tests@example.org )")
    incs = set(lookups[0].query["inc"].replace("+", " ").split())
    assert {"labels", "recordings", "release-groups", "artist-credits", "url-rels", "tags", "annotation"} <= incs
    assert "artists" not in incs  # a browse cannot ask for it: the documents would differ (sync/scope.py)


def test_several_releases_in_one_run(run_cli, db):
    result = run_cli("sync", "release", RICH["b84ee12a"], RICH["12195c41"], RICH["94ad3a58"])
    assert result.exit_code == 0, result.output
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(m.Release)) == 3


def test_invalid_mbid_is_exit_2_and_writes_nothing(run_cli, db, replay):
    result = run_cli("sync", "release", "not-an-mbid")
    assert result.exit_code == 2
    assert "not an MBID" in result.output
    assert replay.requests == []
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(m.SyncRun)) == 0


def test_unknown_release_404_is_clear_and_stores_nothing(run_cli, db):
    missing = str(uuid.uuid4())
    result = run_cli("sync", "release", missing)
    assert result.exit_code == 3
    assert f"not found on MusicBrainz (404): {missing}" in result.output
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(m.Release)) == 0
        assert s.scalar(select(func.count()).select_from(m.DocumentRevision)) == 0


def test_contact_required_for_musicbrainz_org(run_cli, replay):
    result = run_cli("sync", "release", RICH["c9d52105"], "--ws-url", "https://musicbrainz.org",
                     env={"MBINDEX_CONTACT": ""})
    assert result.exit_code == 2
    assert "contact" in result.output
    assert replay.requests == []


def test_config_show_masks_password(run_cli):
    result = run_cli("config", "show", "--json", env={"MBINDEX_DATABASE_URL": "postgresql://u:hunter2@db.example/x"})
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output
    rows = {r["setting"]: r for r in json.loads(result.output)}
    assert rows["database_url"]["value"] == "postgresql://u:***@db.example/x"
    assert rows["database_url"]["source"] == "environment MBINDEX_DATABASE_URL"
    assert rows["rate"]["value"] == "0.0"


def test_db_commands(run_cli, db):
    head = db.head_revision()
    out = run_cli("db", "current")
    assert out.exit_code == 0 and head in out.output and "up to date" in out.output
    out = run_cli("db", "downgrade", "base")
    assert out.exit_code == 0, out.output
    assert db.current_revision() is None
    out = run_cli("db", "upgrade")
    assert out.exit_code == 0 and db.current_revision() == head


def test_runs_lists_the_run(run_cli):
    run_cli("sync", "release", RICH["b84ee12a"])
    result = run_cli("runs", "--json")
    assert result.exit_code == 0
    (run,) = json.loads(result.output)
    assert run["status"] == "ok" and run["inserted"] == 1 and run["scope"] == "release"


def test_demo_syncs_the_bundled_recordings_scores_and_lists_the_worklist(database_url, tmp_path):
    bundled = sorted(p.stem for p in (Path(__file__).parents[1] / "indexer/demo/release").glob("*.json"))
    env = {"MBINDEX_DATABASE_URL": database_url, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "MBINDEX_WS_URL": None,
           "MBINDEX_CONTACT": None}
    res = CliRunner().invoke(cli, ["-q", "demo"], env=env, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert f"inserted {len(bundled)}" in res.output and "worklist" in res.output
    db = Database(database_url)
    try:
        with db.session() as s:
            stored = sorted(str(x) for x in s.execute(select(m.Release.mbid)).scalars())
            scored = s.execute(select(func.count()).select_from(m.RiskScore)).scalar_one()
    finally:
        db.dispose()
    assert stored == bundled and scored == len(bundled)
    assert "942b9e7b-3a43-4f22-b200-ab69ee302d16" in res.output and "barcode_none" in res.output


def test_table_columns_line_up_with_wide_characters():
    """ケアレス takes eight terminal columns, not four: the next column starts after it."""
    out = render([{"title": "ケアレス", "n": 1}, {"title": "Meteora", "n": 2}], "table").splitlines()
    assert out[0] == "title     n" and out[2] == "ケアレス  1" and out[3] == "Meteora   2"
    assert render([{"t": "日本語のタイトル" * 10}], "table").splitlines()[2].endswith("…")


def test_sync_watched_prints_a_failed_runs_summary_once(run_cli, replay):
    """`sync --watched` printed every summary, then printed a failed run's
    again while setting the exit code: the line is there once, the error
    once, and the exit code is still 1."""
    artist = "83d91898-7763-47d7-b03b-b92132375c47"
    replay.set_browse("release", "artist", artist, [release_doc(RICH["b84ee12a"])])
    assert run_cli("watch", "add", "artist", artist).exit_code == 0
    replay.inject("status", 1, path_contains=f"artist={artist}", status=400)  # not retried: the run fails

    out = run_cli("sync", "--watched")

    assert out.exit_code == 1, out.output
    assert len(re.findall(r"^run \d+: failed; ", out.output, re.MULTILINE)) == 1, out.output
    assert out.output.count("sync failed: HTTP 400") == 1, out.output


def test_cli_command_modules_share_helpers_through_cli_modules_not_each_other():
    commands = Path(cli_commands.__file__).parent
    for path in commands.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert node.level != 1, f"{path.name} imports .{node.module} (a sibling command module)"


def test_table_columns_line_up_with_combining_and_zero_width_characters():
    """A combining accent (Beyonce + U+0301) and a zero-width space take no column."""
    out = render([{"title": "Beyonce\u0301", "n": 1}, {"title": "a\u200bbcdefg", "n": 2},
                  {"title": "Meteora", "n": 3}], "table").splitlines()
    assert out[0] == "title    n" and out[1] == "-------  -"
    assert out[2] == "Beyonce\u0301  1" and out[3] == "a\u200bbcdefg  2" and out[4] == "Meteora  3"
    # clipped between whole characters: every e keeps its accent
    assert render([{"t": "e\u0301" * 70}], "table").splitlines()[2] == "e\u0301" * 59 + "…"


def test_table_columns_line_up_with_an_emoji_zero_width_joiner_sequence():
    """👩‍💻 (woman, ZWJ, laptop) is one two-column character, not five columns."""
    coder = "\U0001f469\u200d\U0001f4bb"
    out = render([{"who": coder + " dev", "n": 1}, {"who": "abcdef", "n": 2}], "table").splitlines()
    assert out[0] == "who     n" and out[2] == coder + " dev  1" and out[3] == "abcdef  2"
    # clipped by columns, never inside the sequence
    assert render([{"t": coder * 40}], "table").splitlines()[2] == coder * 29 + "…"


def test_every_exit_code_names_an_exception_class_and_subclasses_inherit_it():
    """EXIT_CODES names its classes (a command imports only what it runs):
    each name must resolve to an exception class where it is defined."""
    from indexer.cli.app import EXIT_CODES, EXIT_LOCKED, EXIT_USAGE, exit_code_of
    from indexer.db import WriterBusy
    from indexer.output.files import OutputError, TargetExists

    for name in EXIT_CODES:
        module, _, attr = name.rpartition(".")
        cls = getattr(importlib.import_module(module), attr)
        assert isinstance(cls, type) and issubclass(cls, Exception), name
        assert f"{cls.__module__}.{cls.__qualname__}" == name, f"{name} is defined elsewhere"

    class Narrower(WriterBusy):
        pass

    assert exit_code_of(Narrower("x")) == EXIT_LOCKED  # the nearest named class of its lineage
    assert issubclass(TargetExists, OutputError) and exit_code_of(TargetExists("x")) == EXIT_USAGE
    assert exit_code_of(ValueError("x")) is None


def test_commands_are_loaded_by_the_name_they_answer_to():
    """The lazy table in indexer.cli and each command's own name agree."""
    ctx = click.Context(cli)
    assert cli.list_commands(ctx) == sorted(cli_commands_table)
    for name in cli.list_commands(ctx):
        assert cli.get_command(ctx, name).name == name
    assert cli.get_command(ctx, "no-such-command") is None


def test_the_root_help_lists_every_command_as_the_commands_say_without_loading_them():
    """`mbindex --help` reads SUMMARIES (0.1 s, not 0.7 s); what it prints
    is what Click prints from the commands themselves."""
    probe = ("import sys; from click.testing import CliRunner; from indexer.cli import cli; "
             "out = CliRunner().invoke(cli, ['--help'], terminal_width=100).output; "
             "print(sorted(m for m in sys.modules if m.startswith('indexer.cli.commands.')), 'sqlalchemy' in sys.modules)")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert loaded.stdout.split() == ["[]", "False"], loaded.stdout + loaded.stderr
    with click.Context(cli, terminal_width=100) as ctx:
        for name in cli_commands_table:  # every command loaded: Click's own listing is then possible
            cli.get_command(ctx, name)
        ours, clicks = click.HelpFormatter(width=100), click.HelpFormatter(width=100)
        cli.format_commands(ctx, ours)
        click.Group.format_commands(cli, ctx, clicks)
    assert ours.getvalue() == clicks.getvalue()
    assert set(SUMMARIES) == set(cli_commands_table)


def test_show_as_csv_writes_nested_values_as_json_never_python_reprs(run_cli, replay):
    """`show -o csv` has lists of objects (tracks, revisions) holding MBIDs and
    times: a cell is the JSON the `-o json` output gives for it, not `UUID('…')`."""
    mbid = RICH["c9d52105"]
    assert run_cli("sync", "release", mbid).exit_code == 0
    assert run_cli("score").exit_code == 0
    out = run_cli("show", mbid, "-o", "csv").output
    assert "UUID(" not in out and "datetime." not in out
    [row] = list(csv.DictReader(out.splitlines()))
    shown = json.loads(run_cli("show", mbid, "-o", "json").output)[0]
    assert json.loads(row["revisions"]) == shown["revisions"]
    assert json.loads(row["tracks"]) == shown["tracks"]
    assert render([{"formats": ["CD", uuid.UUID(int=1)]}], "csv").splitlines()[1] == \
        '"CD, 00000000-0000-0000-0000-000000000001"'
