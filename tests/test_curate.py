"""The archivist's workflow through the CLI: flagged filters and outputs, show,
curation marks that survive re-sync and re-score, exports."""

from __future__ import annotations

import copy
import csv
import io
import json
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from helpers import CORPUS, release_doc, score_all, store
from indexer.analysis.risk import load_policy
from indexer.cli import cli
from indexer.mapping import map_release
from indexer.store import record_redirect_in, save_release_in, tombstone_in

METEORA = "c9d52105-5c20-3216-bc1b-e54918f8f688"
RITA = "942b9e7b-3a43-4f22-b200-ab69ee302d16"  # JP 2003, barcode "" and no label
JP_2021 = "6c4f766f-3351-4c10-a53d-b119452c27b2"  # JP 2021


@pytest.fixture
def mirror(db):
    for mbid in CORPUS:
        store(db, release_doc(mbid))
    # a fragile, self-released bootleg cassette derived from a real document
    tape = copy.deepcopy(release_doc(METEORA))
    tape.update(id=str(uuid.uuid4()), title="Meteora (live tape)", status="Bootleg", barcode="", country="US",
                date="1999")
    tape["media"][0]["format"] = "Cassette"
    tape["release-group"]["id"] = str(uuid.uuid4())
    tape["label-info"] = [{"label": {"id": "157afde4-4bf5-4039-8ad2-5a15acc85176", "name": "[no label]"},
                           "catalog-number": None}]
    store(db, tape)
    score_all(db)
    return {"tape": tape["id"]}


@pytest.fixture
def cli_run(database_url, tmp_path):
    env = {"MBINDEX_DATABASE_URL": database_url, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "USER": "tester"}

    def run(*args):
        return CliRunner().invoke(cli, ["-q", *args], env=env)

    return run


def flagged_json(cli_run, *args):
    res = cli_run("flagged", "--json", *args)
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def all_scores(db):
    with db.session() as s:
        return dict(s.execute(text("SELECT release_mbid::text, score FROM risk_score")).all())


def test_flagged_lists_by_score_and_filters(db, mirror, cli_run):
    rows = flagged_json(cli_run)
    scores = all_scores(db)
    assert [r["mbid"] for r in rows] == sorted(scores, key=lambda m: (-scores[m], m))
    assert rows[0]["mbid"] == mirror["tape"]
    assert flagged_json(cli_run, "--format", "Cassette")[0]["mbid"] == mirror["tape"]
    assert len(flagged_json(cli_run, "--format", "Cassette")) == 1
    assert {r["mbid"] for r in flagged_json(cli_run, "--country", "JP")} == {RITA, JP_2021}
    assert {r["mbid"] for r in flagged_json(cli_run, "--status", "Bootleg")} == {mirror["tape"]}
    years = flagged_json(cli_run, "--year-from", "2003", "--year-to", "2003")
    assert years and all(r["date"].startswith("2003") for r in years)
    assert {r["mbid"] for r in years} == {METEORA, RITA, "59211ea4-ffd2-4ad9-9a4e-941d3148024a"}
    high = flagged_json(cli_run, "--min-score", "40")
    assert high and all(r["score"] >= 40 for r in high)
    assert len(high) == sum(1 for v in scores.values() if v >= 40)
    assert len(flagged_json(cli_run, "--limit", "2")) == 2
    by_label = flagged_json(cli_run, "--label", "c595c289-47ce-4fba-b999-b87503e8cb71")  # Warner Bros.
    assert {r["mbid"] for r in by_label} == {METEORA}
    by_artist = flagged_json(cli_run, "--artist", "f59c5520-5f46-4d2c-b2c4-822eabf53419")  # Linkin Park
    assert {r["mbid"] for r in by_artist} == {METEORA, mirror["tape"]}
    dates = [r["date"] for r in flagged_json(cli_run, "--sort", "date")]
    known = [d for d in dates if d]
    assert known == sorted(known) and dates[: len(known)] == known  # unknown dates last
    titles = [r["title"] for r in flagged_json(cli_run, "--sort", "title")]
    assert titles.index("Meteora") < titles.index("Meteora (live tape)")


def test_flagged_outputs(mirror, cli_run):
    table = cli_run("flagged").output
    assert table.splitlines()[0].split()[:3] == ["mbid", "score", "title"]
    assert mirror["tape"] in table
    rows = list(csv.DictReader(io.StringIO(cli_run("flagged", "--csv").output)))
    assert rows[0]["mbid"] == mirror["tape"] and "fragile_format" in rows[0]["signals"]
    nd = [json.loads(line) for line in cli_run("flagged", "--nl").output.splitlines()]
    assert [r["mbid"] for r in nd] == [r["mbid"] for r in rows]


@pytest.mark.parametrize("hostile", ["' OR 1=1 --", "x%'; DROP TABLE release; --", "日本\u0000", "%", "GB'); --"])
def test_hostile_filter_values_are_only_data(db, mirror, cli_run, hostile):
    for opt in ("--country", "--format", "--status", "--label", "--artist", "--title"):
        res = cli_run("flagged", "--json", opt, hostile)
        if "\u0000" in hostile:  # PostgreSQL text cannot hold NUL: refused, never executed as SQL
            assert res.exit_code != 0 or json.loads(res.output) == []
            continue
        assert res.exit_code == 0, res.output
        assert json.loads(res.output) == []
    with db.session() as s:
        assert s.execute(text("SELECT count(*) FROM release")).scalar_one() == len(CORPUS) + 1


def test_marks_hide_and_persist_across_resync_and_rescore(db, mirror, cli_run):
    tape = mirror["tape"]
    res = cli_run("mark", tape, RITA, "--status", "in-progress", "--note", "asked the owner 'O\u2019Brien' 50%")
    assert res.exit_code == 0, res.output
    res = cli_run("mark", tape, "--status", "preserved", "--note", "digitised", "--by", "ana")
    assert res.exit_code == 0, res.output
    assert tape not in {r["mbid"] for r in flagged_json(cli_run)}  # preserved is hidden by default
    assert {r["mbid"] for r in flagged_json(cli_run, "--curation", "preserved")} == {tape}
    assert {r["mbid"] for r in flagged_json(cli_run, "--curation", "in-progress")} == {RITA}
    # re-sync: a changed document of the tape, then re-score everything
    with db.session() as s:
        doc = s.execute(text("SELECT doc FROM document d JOIN document_revision r ON r.id = d.revision_id "
                             "WHERE d.mbid = :m"), {"m": tape}).scalar_one()
    doc = dict(doc, annotation="re-synced")
    with db.session() as s, s.begin():
        assert save_release_in(s, map_release(doc), doc).outcome == "updated"
    score_all(db, changed=True)
    score_all(db)
    assert {r["mbid"] for r in flagged_json(cli_run, "--curation", "preserved")} == {tape}
    info = json.loads(cli_run("show", tape, "--json").output)[0]
    assert info["curation"] == "preserved"
    hist = info["curation_history"]
    assert [(h["status"], h["marked_by"], h["note"]) for h in hist] == [
        ("in-progress", "tester", "asked the owner 'O\u2019Brien' 50%"), ("preserved", "ana", "digitised")]
    assert len(info["revisions"]) == 2
    assert cli_run("mark", tape, "--status", "bogus").exit_code == 2
    assert cli_run("mark", str(uuid.uuid4()), "--status", "open").exit_code == 1
    assert cli_run("mark", "not-an-mbid", "--status", "open").exit_code == 2


def test_show_explains_every_signal_and_follows_merges(db, mirror, cli_run):
    tape = mirror["tape"]

    policy = load_policy()
    res = cli_run("show", tape)
    assert res.exit_code == 0, res.output
    with db.session() as s:
        sigs = s.execute(text("SELECT signals FROM risk_score WHERE release_mbid = :m"), {"m": tape}).scalar_one()
    assert {"fragile_format", "risky_status", "barcode_none", "no_label", "no_catalog_number"} <= set(sigs)
    for sig in sigs:
        assert policy.signals[sig].explain in res.output
    assert "Cassette" in res.output and "https://musicbrainz.org/release/" + tape in res.output
    assert "Foreword" in res.output  # tracks
    old = uuid.uuid4()
    with db.session() as s, s.begin():
        record_redirect_in(s, "release", old, uuid.UUID(tape), None)
    res = cli_run("show", str(old))
    assert res.exit_code == 0 and f"{old} was merged into {tape}" in res.output
    assert cli_run("show", str(uuid.uuid4())).exit_code == 1
    res = cli_run("show", "1234'; --")
    assert res.exit_code == 2 and "not an MBID" in res.output


def test_show_of_a_tombstone(db, mirror, cli_run):
    with db.session() as s, s.begin():
        tombstone_in(s, uuid.UUID(RITA), "404 on lookup")
    score_all(db, changed=True)
    out = cli_run("show", RITA).output
    assert "DELETED UPSTREAM" in out and "tombstoned" in out


def test_export_csv_and_json_with_links(db, mirror, cli_run, tmp_path):
    path = tmp_path / "worklist.csv"
    res = cli_run("export", "--output", str(path), "--min-score", "30")
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    scores = all_scores(db)
    assert {r["mbid"] for r in rows} == {m for m, v in scores.items() if v >= 30}
    assert all(r["url"] == f"https://musicbrainz.org/release/{r['mbid']}" for r in rows)
    res = cli_run("export", "--format", "json", "--medium-format", "Cassette")
    data = json.loads(res.stdout)  # the old spellings warn on stderr, the file stays clean
    assert [d["mbid"] for d in data] == [mirror["tape"]]
    assert data[0]["url"].endswith(mirror["tape"])
    assert "`export --format json` is deprecated" in res.stderr and "`export --output FILE`" not in res.stderr


def test_export_option_names_mean_the_same_as_everywhere(db, mirror, cli_run, tmp_path):
    """-o is the output format, --to the destination, --format the medium format;
    the old spellings still work and say what replaces them."""
    new = tmp_path / "new.json"
    res = cli_run("export", "-o", "json", "--to", str(new), "--format", "Cassette")
    assert res.exit_code == 0 and "deprecated" not in res.stderr
    assert [d["mbid"] for d in json.loads(new.read_text())] == [mirror["tape"]]
    old = tmp_path / "old.json"
    res = cli_run("export", "--format", "json", "--output", str(old), "--medium-format", "Cassette")
    assert res.exit_code == 0
    assert json.loads(old.read_text()) == json.loads(new.read_text())
    for line in ("`export --format json`", "`export --output FILE`", "`export --medium-format F`"):
        assert line in res.stderr
    res = cli_run("export", "-o", "csv", "--format", "Cassette")
    assert res.exit_code == 0 and list(csv.DictReader(io.StringIO(res.stdout)))[0]["mbid"] == mirror["tape"]
    assert cli_run("export", "-o", "csv", "--format", "json").exit_code == 2  # two output formats


def test_a_curation_state_worklist_follows_marks_made_before_and_after_scoring(db, mirror, cli_run):
    """The worklist of one state reads risk_score's copy of it: a mark on a
    scored release, a mark on a release scored later, a changed mark and a
    rescore all show at once, in score order."""
    late = copy.deepcopy(release_doc(METEORA))
    late.update(id=str(uuid.uuid4()), title="Meteora (scored after its mark)")
    store(db, late)  # stored, not yet scored
    assert cli_run("mark", mirror["tape"], METEORA, late["id"], "--status", "in-progress").exit_code == 0
    in_progress = lambda: [r["mbid"] for r in flagged_json(cli_run, "--curation", "in-progress")]  # noqa: E731
    scores = all_scores(db)
    assert in_progress() == sorted([mirror["tape"], METEORA], key=lambda m: (-scores[m], m))
    score_all(db, changed=True)  # the late release gets its score, and its mark with it
    scores = all_scores(db)
    assert in_progress() == sorted([mirror["tape"], METEORA, late["id"]], key=lambda m: (-scores[m], m))
    assert cli_run("mark", METEORA, "--status", "preserved").exit_code == 0
    assert METEORA not in in_progress()
    assert [r["mbid"] for r in flagged_json(cli_run, "--curation", "preserved")] == [METEORA]
    score_all(db)  # a full rescore keeps the states
    assert set(in_progress()) == {mirror["tape"], late["id"]}
    assert {r["mbid"] for r in flagged_json(cli_run, "--curation", "preserved", "--curation", "ignored")} == {METEORA}
