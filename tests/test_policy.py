"""Scores say only what is known (issue 20): every signal against a real
document lacking its input is "not assessed", never fired; every score keeps
the policy that produced it; `evaluate` measures a policy on labelled releases."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from helpers import load_doc, release_doc, score_all, store, write_archive
from indexer.analysis import evaluation, risk
from indexer.analysis.evaluation import auc, metrics, parse_labels, precision_at, signal_stats
from indexer.mapping import asked_includes
from indexer.web.app import create_app

SEARCH = "search/musicbrainzws2_java_release_limit100.json"
BROWSE = "browse/musicbrainz_rs_release_by_label.json"
NO_BARCODE_HIT = "7a9e77cf-db78-4fed-a93e-7ea9d7aff049"  # a search hit without `barcode`
NO_STATUS_HIT = "16f9c5ab-4be0-4109-a6c8-9445d3ef6661"  # a search hit without `status`
BROWSE_ITEM = "0b405ea7-8785-402f-bcf7-d55f5000dc3e"  # a browse item without media, tracks or labels
NO_LABELS = "6c4f766f-3351-4c10-a53d-b119452c27b2"  # the demo's lookup fetched without labels
NO_URL_RELS = "59211ea4-ffd2-4ad9-9a4e-941d3148024a"  # a lookup without url-rels, tags or group links
METEORA = "c9d52105-5c20-3216-bc1b-e54918f8f688"


def _hit(mbid: str) -> dict:
    return next(r for r in load_doc(SEARCH)["releases"] if r["id"] == mbid)


def _browse_item(mbid: str) -> dict:
    return next(r for r in load_doc(BROWSE)["releases"] if r["id"] == mbid)


#: signal -> (the real document lacking its input, the MBID); stored as it came
#: (includes inferred from its keys, like `sync query` and a browse page)
LACKING = {
    "fragile_format": (_browse_item, BROWSE_ITEM),
    "sparse_tracklist": (_browse_item, BROWSE_ITEM),
    "barcode_unknown": (_hit, NO_BARCODE_HIT),
    "barcode_none": (_hit, NO_BARCODE_HIT),
    "barcode_invalid": (_hit, NO_BARCODE_HIT),
    "risky_status": (_hit, NO_STATUS_HIT),
    "low_quality": (_hit, NO_BARCODE_HIT),
    "no_cover_art": (_hit, NO_BARCODE_HIT),
    "cover_art_darkened": (_hit, NO_BARCODE_HIT),
    "no_label": (release_doc, NO_LABELS),
    "no_catalog_number": (release_doc, NO_LABELS),
    "promo_catalog_number": (release_doc, NO_LABELS),
    "informal_type": (_browse_item, BROWSE_ITEM),
    "no_links": (release_doc, NO_URL_RELS),
    "uncatalogued": (release_doc, NO_URL_RELS),
    "no_tags": (release_doc, NO_URL_RELS),
    # no upstream fact is stored: the world signals are not assessed anywhere
    "only_edition": (release_doc, METEORA),
    "small_catalogue": (release_doc, METEORA),
    "no_listens": (release_doc, METEORA),
    "few_listeners": (release_doc, METEORA),
}


def score_row(db, mbid) -> dict:
    with db.session() as s:
        row = s.execute(text("SELECT score, signals, not_assessed, policy_version FROM risk_score "
                             "WHERE release_mbid = :m"), {"m": mbid}).one()
    return row._asdict()


def test_every_signal_with_inputs_has_a_real_document_lacking_them():
    assert set(LACKING) == {name for name, inputs in risk.SIGNAL_INPUTS.items() if inputs != risk.Inputs()}
    # the others read what every release document states: a deletion, its date and country, its
    # title (and disambiguation, omitted when empty in every shape)
    assert {n for n, i in risk.SIGNAL_INPUTS.items() if i == risk.Inputs()} == {
        "tombstoned", "unknown_date", "unknown_country", "promo_words"}


@pytest.mark.parametrize("signal", sorted(LACKING))
def test_a_signal_whose_input_is_missing_is_not_assessed_and_never_fires(db, signal):
    load, mbid = LACKING[signal]
    store(db, load(mbid))
    score_all(db)
    row = score_row(db, mbid)
    assert signal in row["not_assessed"]
    assert signal not in row["signals"]


def test_a_search_hit_claims_nothing_its_document_lacks(db):
    store(db, _hit(NO_BARCODE_HIT))
    score_all(db)
    row = score_row(db, NO_BARCODE_HIT)
    assert {"barcode_unknown", "barcode_none", "low_quality", "no_cover_art", "no_links"} <= set(row["not_assessed"])
    assert not set(row["signals"]) & set(row["not_assessed"])


def test_the_demo_release_fetched_without_labels_is_not_called_label_less(db, run_cli):
    """The issue's case: 6c4f766f was fetched without inc=labels; `show` gave +10 no_label."""
    store(db, release_doc(NO_LABELS))
    score_all(db)
    row = score_row(db, NO_LABELS)
    assert "no_label" not in row["signals"] and "no_catalog_number" not in row["signals"]
    out = run_cli("show", NO_LABELS).output
    assert "no_label" in out and "not assessed no_label: not fetched with inc=labels" in out
    shown = json.loads(run_cli("show", NO_LABELS, "-o", "json").output)[0]
    assert {"signal": "no_label", "reason": "not fetched with inc=labels"} in shown["not_assessed"]
    exported = json.loads(run_cli("export", "-o", "json").output)
    assert "no_label: not fetched with inc=labels" in exported[0]["not_assessed"]
    assert exported[0]["policy_version"] == risk.load_policy().version
    report = run_cli("report").output
    assert "not assessed" in report and "Scores by policy: " + risk.load_policy().version in report


def test_a_dump_line_without_relations_leaves_the_link_signals_unassessed(db, run_cli, tmp_path):
    doc = release_doc(NO_URL_RELS)  # a dump line has the lookup's shape; this one lacks `relations`
    assert "url-rels" not in asked_includes(doc)
    archive = write_archive(tmp_path / "release.tar.xz", [json.dumps(doc)])
    assert run_cli("import-dump", str(archive)).exit_code == 0
    run_cli("score")
    row = score_row(db, NO_URL_RELS)
    assert {"no_links", "uncatalogued", "no_tags"} <= set(row["not_assessed"])
    assert not {"no_links", "uncatalogued", "no_tags"} & set(row["signals"])


def test_the_same_release_with_its_input_is_assessed(db):
    store(db, release_doc(METEORA))
    score_all(db)
    assert not {"no_label", "no_links", "low_quality", "barcode_unknown"} & set(score_row(db, METEORA)["not_assessed"])


# --- declared inputs in the policy file ----------------------------------------------------


def _policy_file(tmp_path, extra: str, version: str = "custom-1") -> Path:
    default = risk.DEFAULT_POLICY.read_text(encoding="utf-8")
    body = default.replace(f'version = "{risk.load_policy().version}"', f'version = "{version}"')
    path = tmp_path / f"policy-{uuid.uuid4().hex[:6]}.toml"
    if extra.startswith("label"):  # the bundled policy labels every signal: replace its label
        body = re.sub(r'(\[signals\.tombstoned\][^\[]*?)\nlabel = "[^"]*"', r"\1", body)
    path.write_text(body.replace('[signals.tombstoned]\nweight = 60\n', '[signals.tombstoned]\nweight = 60\n' + extra),
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("extra, message", [
    ('includes = ["tagz"]\n', "signals.tombstoned.includes names no such input 'tagz'"),
    ('facts = ["popularity"]\n', "signals.tombstoned.facts names no such input 'popularity'"),
    ('fields = ["barcodes"]\n', "signals.tombstoned.fields names no such input 'barcodes'"),
    ('includes = "tags"\n', "signals.tombstoned.includes must be a list of names"),
    ('label = "' + "x" * 61 + '"\n', "signals.tombstoned.label must be one line of at most 60 characters"),
    ('label = 5\n', "signals.tombstoned.label must be one line of at most 60 characters"),
])
def test_a_policy_naming_an_input_that_does_not_exist_is_refused(tmp_path, run_cli, extra, message):
    path = _policy_file(tmp_path, extra)
    with pytest.raises(risk.PolicyError, match=message):
        risk.load_policy(path)
    res = run_cli("score", "--policy", str(path))
    assert res.exit_code == 2
    assert message in res.output and len(res.output.strip().splitlines()) == 1


def test_a_policy_may_add_inputs_and_a_label(db, tmp_path):
    policy = risk.load_policy(_policy_file(tmp_path, 'label = "Deleted"\nfacts = ["listens"]\n'))
    assert policy.signals["tombstoned"].label == "Deleted"
    assert policy.signals["tombstoned"].inputs == risk.Inputs(facts=("listens",))
    store(db, release_doc(METEORA))
    score_all(db, policy)
    assert "tombstoned" in score_row(db, METEORA)["not_assessed"]  # no listens fetched


# --- one policy per score ----------------------------------------------------------------


def test_score_keeps_its_policy_and_every_view_explains_with_it(db, run_cli, tmp_path):
    store(db, release_doc(NO_URL_RELS))
    custom = _policy_file(tmp_path, "")
    custom.write_text(custom.read_text(encoding="utf-8").replace(
        'explain = "Barcode not entered (unknown): the edition is harder to identify."',
        'explain = "CUSTOM: no barcode entered."'), encoding="utf-8")
    assert run_cli("score", "--policy", str(custom)).exit_code == 0
    with db.session() as s:
        version, digest, body = s.execute(text("SELECT version, sha256, text FROM risk_policy")).one()
    assert version == "custom-1" and body == custom.read_text(encoding="utf-8") and len(digest) == 64
    assert score_row(db, NO_URL_RELS)["policy_version"] == "custom-1"
    # show with the default policy at hand still explains with the stored one
    assert "CUSTOM: no barcode entered." in run_cli("show", NO_URL_RELS).output
    status = run_cli("status", "-o", "json").output
    assert '"other_policy": 1' in status


def _stored_then_changed(db, run_cli, tmp_path) -> Path:
    """A policy `score` stored as custom-1, then edited without a new version."""
    store(db, release_doc(METEORA))
    path = _policy_file(tmp_path, "")
    assert run_cli("score", "--policy", str(path)).exit_code == 0
    path.write_text(path.read_text(encoding="utf-8").replace("weight = 60", "weight = 61"), encoding="utf-8")
    return path


def test_a_changed_policy_under_a_stored_version_is_refused(db, run_cli, tmp_path):
    path = _stored_then_changed(db, run_cli, tmp_path)
    res = run_cli("score", "--policy", str(path))
    assert res.exit_code == 2
    assert len(res.output.strip().splitlines()) == 1
    assert "version 'custom-1' is already stored with different content" in res.output
    assert score_row(db, METEORA)["policy_version"] == "custom-1"  # nothing rescored


def test_a_score_without_a_stored_policy_says_so(db, run_cli):
    store(db, release_doc(NO_URL_RELS))
    score_all(db)
    with db.session() as s, s.begin():  # a score from before the policy table
        s.execute(text("UPDATE risk_score SET policy_version = 'old-1', signals = '{no_tags}'"))
    assert "the text of policy old-1 is not stored" in run_cli("show", NO_URL_RELS).output


# --- evaluate --------------------------------------------------------------------------


def test_metrics_on_a_set_computable_by_hand():
    # at risk 30, 10; preserved 10, 0: pairs 30>10, 30>0, 10=10 (half), 10>0 -> 3.5/4
    assert auc([30, 10], [10, 0]) == 0.875
    assert auc([5], []) is None
    rows = [{"mbid": "a", "at_risk": True, "score": 30, "signals": ["x", "y"], "not_assessed": []},
            {"mbid": "b", "at_risk": True, "score": 10, "signals": ["x"], "not_assessed": ["y"]},
            {"mbid": "c", "at_risk": False, "score": 10, "signals": ["x"], "not_assessed": []},
            {"mbid": "d", "at_risk": False, "score": 0, "signals": [], "not_assessed": ["y"]}]
    assert precision_at(rows, 2) == 1.0  # a (30), then b and c tie at 10: b first by MBID
    assert precision_at(rows, 3) == 2 / 3
    # x fired on a, b, c: 2 of 3 at risk over a base rate of 1/2 -> lift 4/3; y only on a -> 2
    assert signal_stats(rows, ["x", "y"]) == [
        {"signal": "x", "assessed": 4, "fired_at_risk": 2, "fired_preserved": 1, "lift": 1.33},
        {"signal": "y", "assessed": 2, "fired_at_risk": 1, "fired_preserved": 0, "lift": 2.0}]
    m = metrics(rows, ["x"])
    assert (m["k"], m["precision_at_k"], m["mean_score_at_risk"], m["mean_score_preserved"]) == (2, 1.0, 20, 5)


def _labels(tmp_path, body: str) -> Path:
    path = tmp_path / "labels.tsv"
    path.write_text(body, encoding="utf-8")
    return path


def test_evaluate_scores_with_the_given_policy_without_writing(db, run_cli, tmp_path):
    for mbid in (METEORA, NO_URL_RELS, NO_LABELS):
        store(db, release_doc(mbid))
    absent = "00000000-0000-4000-8000-000000000001"
    labels = _labels(tmp_path, f"# my set\nmbid\tlabel\treason\n{METEORA}\tpreserved\tmajor label\n"
                               f"{NO_URL_RELS}\tat_risk\tsmall run\n{absent}\tat_risk\tnot mirrored\n"
                               f"{NO_LABELS}\tpreserved\n")
    res = run_cli("evaluate", "--labels", str(labels), "--policy", str(risk.DEFAULT_POLICY), "-o", "json")
    assert res.exit_code == 0, res.output
    ev = json.loads(res.output)
    with db.session() as s:
        assert s.execute(text("SELECT count(*) FROM risk_score")).scalar_one() == 0  # nothing written
        assert s.execute(text("SELECT count(*) FROM risk_policy")).scalar_one() == 0
    assert ev["missing"] == {"count": 1, "mbids": [absent]}
    assert (ev["releases"], ev["at_risk"], ev["preserved"]) == (2 + 1 - 0, 1, 2)
    scores = {r["mbid"]: r["score"] for r in ev["releases_scored"]}
    store_scores = score_all(db)  # the same policy, stored: the same figures
    assert store_scores == 3
    for mbid, value in scores.items():
        assert score_row(db, mbid)["score"] == value
    assert {sg["signal"] for sg in ev["signals"]} == {n for n, sg in risk.load_policy().signals.items()
                                                      if sg.weight > 0}
    table = run_cli("evaluate", "--labels", str(labels)).output  # the stored scores now
    assert "AUC (ties half)" in table and "Missing from the mirror: 1" in table and absent in table


@pytest.mark.parametrize("body, line, message", [
    ("mbid\tlabel\n{m}\tat risk\n", 2, "unknown label 'at risk'"),
    ("mbid\tlabel\n{m}\tat_risk\n\n{m}\tpreserved\n", 4, "duplicate MBID"),
    ("mbid\tlabel\nnot-an-id\tat_risk\n", 2, "'not-an-id' is not an MBID"),
    ("{m}\tat_risk\n", 1, "the first line must be the header"),
    ("", 1, "no header line"),
    ("mbid\tlabel\treason\n{m}\tat_risk\tx\ty\n", 2, "4 columns where the header names 3"),
])
def test_a_malformed_labels_file_is_refused_naming_the_line(tmp_path, run_cli, body, line, message):
    path = _labels(tmp_path, body.format(m=METEORA))
    with pytest.raises(evaluation.LabelsError, match=f"line {line}: {message}"):
        parse_labels(path.read_text(encoding="utf-8").splitlines(), path)
    res = run_cli("evaluate", "--labels", str(path))
    assert res.exit_code == 2
    assert f"line {line}: {message}" in res.output and len(res.output.strip().splitlines()) == 1


def test_update_refuses_a_changed_policy_before_walking(db, run_cli, tmp_path):
    path = _stored_then_changed(db, run_cli, tmp_path)
    res = run_cli("update", "--policy", str(path))
    assert res.exit_code == 2 and "already stored with different content" in res.output
    with db.session() as s:
        assert s.execute(text("SELECT count(*) FROM sync_run WHERE kind <> 'score'")).scalar_one() == 0


EVAL = Path(__file__).parent / "fixtures" / "eval"


def test_the_evaluation_set_is_what_the_readme_says():
    labels = evaluation.read_labels(EVAL / "labels.tsv")
    assert len(labels) >= 40 and sum(lab.at_risk for lab in labels) >= 15
    assert all(lab.reason for lab in labels)
    for lab in labels:
        doc = json.loads((EVAL / "releases" / f"{lab.mbid}.json").read_text(encoding="utf-8"))
        assert doc["id"] == str(lab.mbid)
    sources = (EVAL / "SOURCES.md").read_text(encoding="utf-8")
    named = {src for src in ("picard/", "hqub-musicbrainz/", "musicbrainz_rs/", "musicbrainz-android/",
                             "musicbrainzws2-java/") if f"| {src}" in sources}
    assert len(named) >= 5
    assert all(str(lab.mbid)[:8] in sources for lab in labels)


def _held_out(name: str, earlier: tuple[str, ...], *, at_least: int, each_class: int, section: str,
              until: str | None = None) -> tuple[list, set[str]]:
    """The held-out label file `name`, checked: at least `at_least` rows and
    `each_class` of each label, a reason on every row, no MBID of an `earlier`
    file, each row's document recorded and named in its SOURCES.md `section`
    (up to `until`); returns its labels and the recording sources (top-level
    corpus folders) the section names."""
    held = evaluation.read_labels(EVAL / name)
    before = {lab.mbid for f in earlier for lab in evaluation.read_labels(EVAL / f)}
    assert len(held) >= at_least
    assert sum(lab.at_risk for lab in held) >= each_class and sum(not lab.at_risk for lab in held) >= each_class
    assert all(lab.reason for lab in held) and not before & {lab.mbid for lab in held}
    for lab in held:
        doc = json.loads((EVAL / "releases" / f"{lab.mbid}.json").read_text(encoding="utf-8"))
        assert doc["id"] == str(lab.mbid)
    sources = (EVAL / "SOURCES.md").read_text(encoding="utf-8")
    text_ = sources[sources.index(section):sources.index(until) if until else None]
    rows = [line for line in text_.splitlines() if line.startswith("| ") and "(" in line]
    assert all(any(str(lab.mbid)[:8] in row for row in rows) for lab in held)
    return held, {row[2:].split("/")[0] for row in rows if "/" in row}


def test_the_held_out_set_is_new_documented_and_sourced():
    """heldout.tsv: never seen while the policy was reviewed (not in labels.tsv)."""
    _held, folders = _held_out("heldout.tsv", ("labels.tsv",), at_least=16, each_class=7,
                               section="## The held-out set", until="## Recorded facts")
    assert len(folders) >= 4


def test_the_second_held_out_set_is_new_documented_and_sourced():
    """heldout2.tsv: labelled blind with policy 2026.12-2 in place; in neither
    earlier set; each row's document recorded and named in SOURCES.md."""
    _held, folders = _held_out("heldout2.tsv", ("labels.tsv", "heldout.tsv"), at_least=24, each_class=10,
                               section="## The second held-out set", until="## The third held-out set")
    assert len(folders) >= 4


def test_the_third_held_out_set_is_new_documented_and_sourced():
    """heldout3.tsv: labelled blind with policy 2026.12-3 in place; in no
    earlier set; each row's document recorded and named in SOURCES.md."""
    earlier = ("labels.tsv", "heldout.tsv", "heldout2.tsv")
    _held, folders = _held_out("heldout3.tsv", earlier, at_least=36, each_class=15,
                               section="## The third held-out set")
    assert len(folders) == 5  # all five recording sources
    # every document in releases/ is labelled in one of the four files
    labelled = {str(lab.mbid) for f in (*earlier, "heldout3.tsv") for lab in evaluation.read_labels(EVAL / f)}
    assert {p.stem for p in (EVAL / "releases").glob("*.json")} == labelled


def test_the_web_release_page_explains_with_the_stored_policy_and_says_not_assessed(db, run_cli, tmp_path):
    store(db, release_doc(NO_LABELS))
    custom = _policy_file(tmp_path, "")
    custom.write_text(custom.read_text(encoding="utf-8").replace(
        'explain = "Release date unknown."', 'explain = "CUSTOM: no date."'), encoding="utf-8")
    store(db, dict(release_doc(NO_LABELS), date=""))
    assert run_cli("score", "--policy", str(custom)).exit_code == 0
    with TestClient(create_app(db), raise_server_exceptions=False) as web:  # serve loads the default policy
        page = web.get(f"/release/{NO_LABELS}").text
        overview = web.get("/overview").text
    assert "CUSTOM: no date." in page
    assert "no label: <em>not assessed</em> (not fetched with inc=labels)" in page  # the signal's label
    assert re.search(r"scored with another policy than [^<]*</th><td class=\"num\">1<", overview)


def test_the_policy_model_and_the_scoring_sql_know_the_same_signals():
    from indexer.analysis import policy_file, risk

    assert set(policy_file.SIGNAL_INPUTS) == set(risk.SIGNAL_SQL)
