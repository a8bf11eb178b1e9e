"""At-risk scoring on real recorded MusicBrainz releases: each signal fires
exactly when its condition holds, explanations are shown, policy errors are clear."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from helpers import CORPUS, release_doc, score_all, store
from indexer.analysis import risk
from indexer.analysis.curation import show_in
from indexer.cli import cli
from indexer.db import Database
from indexer.store import tombstone_in

BASE = "c9d52105-5c20-3216-bc1b-e54918f8f688"  # Meteora: barcode, label, catno, cover art, links, tags, date
NO_LABEL = "157afde4-4bf5-4039-8ad2-5a15acc85176"


def signals(db, mbid) -> set[str]:
    with db.session() as s:
        row = s.execute(text("SELECT signals FROM risk_score WHERE release_mbid = :m"), {"m": mbid}).scalar_one()
    return set(row)


def score_of(db, mbid) -> int:
    with db.session() as s:
        return s.execute(text("SELECT score FROM risk_score WHERE release_mbid = :m"), {"m": mbid}).scalar_one()


def sibling(doc, *, same_group=True, same_artist=True):
    """Another release (new MBID) of the same release group / artist."""
    other = copy.deepcopy(doc)
    other["id"] = str(uuid.uuid4())
    if not same_group:
        other["release-group"]["id"] = str(uuid.uuid4())
    if not same_artist:
        for credit in other["artist-credit"]:
            credit["artist"]["id"] = str(uuid.uuid4())
    return other


def _set(key, value):
    def apply(doc):
        doc[key] = value
    return apply


def _media_format(doc):
    doc["media"][0]["format"] = "Cassette"


def _no_label(doc):
    for li in doc["label-info"]:
        li["label"] = {"id": NO_LABEL, "name": "[no label]", "sort-name": "[no label]"}


def _no_catno(doc):
    for li in doc["label-info"]:
        li["catalog-number"] = None


def _no_cover(doc):
    doc["cover-art-archive"]["front"] = False
    doc["cover-art-archive"]["count"] = 0


def _darkened(doc):
    doc["cover-art-archive"]["darkened"] = True


def _no_links(doc):
    doc["relations"] = [r for r in doc["relations"] if r.get("target-type") != "url"]


def _no_durations(doc):
    for medium in doc["media"]:
        for track in medium["tracks"]:
            track["length"] = None
            track["recording"]["length"] = None


def _unknown_title(doc):
    doc["media"][0]["tracks"][3]["title"] = "[unknown]"


def _no_tags(doc):
    doc["tags"] = []


def _promo_catno(doc):
    doc["label-info"][0]["catalog-number"] = "DPRO-12702"  # a real promo CD's (Cracker, Tucson, Virgin 1992)


def _demo(doc):
    doc["release-group"]["secondary-types"] = ["Demo"]


# signal -> how to make the otherwise unchanged real release fire it
MUTATIONS = {
    "fragile_format": _media_format,
    "barcode_unknown": _set("barcode", None),
    "barcode_none": _set("barcode", ""),
    "barcode_invalid": _set("barcode", "8791423234"),  # 10 digits (made up in musicbrainz-android's test data)
    "no_label": _no_label,
    "no_catalog_number": _no_catno,
    "no_cover_art": _no_cover,
    "cover_art_darkened": _darkened,
    "no_links": _no_links,
    "risky_status": _set("status", "Bootleg"),
    "unknown_date": _set("date", ""),
    "unknown_country": _set("country", None),
    "low_quality": _set("quality", "low"),
    "sparse_tracklist": _no_durations,
    "no_tags": _no_tags,
    "promo_catalog_number": _promo_catno,
    "promo_words": _set("disambiguation", "promo"),
    "informal_type": _demo,
}


@pytest.fixture
def base(db):
    """The rich real release plus a sibling edition and two more releases by the artist,
    so that no signal fires on it."""
    doc = release_doc(BASE)
    store(db, doc, includes=["url-rels", "tags"])
    store(db, sibling(doc))
    store(db, sibling(doc, same_group=False))
    score_all(db)
    assert signals(db, BASE) == set(), "the rich release must start with no signal"
    assert score_of(db, BASE) == 0
    return doc


@pytest.mark.parametrize("signal", sorted(MUTATIONS))
def test_each_signal_fires_exactly_when_its_condition_holds(db, base, signal):
    doc = copy.deepcopy(base)
    MUTATIONS[signal](doc)
    store(db, doc, includes=["url-rels", "tags"])
    assert score_all(db, changed=True) == 1  # only the re-saved release needed scoring
    assert signals(db, BASE) == {signal}
    policy = risk.load_policy()
    with db.session() as s:
        formats, year = s.execute(text("SELECT formats, year FROM release WHERE mbid = :m"), {"m": BASE}).one()
    assert score_of(db, BASE) == policy.weight_in_context(signal, formats, year)
    with db.session() as s:
        info = show_in(s, BASE, policy)
    assert [x["signal"] for x in info["signals"]] == [signal]
    assert info["signals"][0]["explain"] == policy.signals[signal].explain
    # back to the original document: the signal is gone again
    store(db, base, includes=["url-rels", "tags"])
    score_all(db, changed=True)
    assert signals(db, BASE) == set()


def test_other_statuses_are_no_risk(db, base):
    for status in ("Official", "Pseudo-Release"):
        store(db, dict(copy.deepcopy(base), status=status), includes=["url-rels", "tags"])
        score_all(db)
        assert "risky_status" not in signals(db, BASE)
    for status in ("Promotion", "Withdrawn", "Cancelled"):
        store(db, dict(copy.deepcopy(base), status=status), includes=["url-rels", "tags"])
        score_all(db)
        assert signals(db, BASE) == {"risky_status"}


def test_absent_links_and_tags_only_count_when_the_document_asked_for_them(db, base):
    doc = copy.deepcopy(base)
    _no_links(doc)
    _no_tags(doc)
    del doc["tags"]
    store(db, doc, includes=[])  # neither url-rels nor tags were included: unknown, not absent
    score_all(db)
    assert signals(db, BASE) == set()
    doc["annotation"] = "re-fetched with url-rels and tags"  # a new revision, with known includes
    store(db, doc, includes=["url-rels", "tags"])
    score_all(db)
    assert signals(db, BASE) == {"no_links", "no_tags"}


def test_unknown_cover_art_is_not_missing_cover_art(db, base):
    doc = copy.deepcopy(base)
    del doc["cover-art-archive"]
    store(db, doc, includes=["url-rels", "tags"])
    score_all(db)
    assert "no_cover_art" not in signals(db, BASE)


def test_one_unknown_track_title_makes_the_tracklist_sparse(db, base):
    doc = copy.deepcopy(base)
    _unknown_title(doc)
    store(db, doc, includes=["url-rels", "tags"])
    score_all(db)
    assert signals(db, BASE) == {"sparse_tracklist"}


def test_world_signals_never_count_the_mirror(db):
    """A release synced alone is not "the only edition" nor by "an obscure
    artist": without upstream facts those signals stay silent."""
    doc = release_doc(BASE)
    store(db, doc, includes=["url-rels", "tags"])
    score_all(db)
    assert signals(db, BASE) == set()
    store(db, sibling(doc))  # more editions in the mirror change nothing either
    score_all(db)
    assert signals(db, BASE) == set()


def test_tombstoned_is_the_strongest_signal(db, base):
    with db.session() as s, s.begin():
        tombstone_in(s, uuid.UUID(BASE), "404 on lookup")
    score_all(db, changed=True)
    assert signals(db, BASE) == {"tombstoned"}
    policy = risk.load_policy()
    assert policy.signals["tombstoned"].weight == max(sig.weight for sig in policy.signals.values())


def test_corpus_releases_all_scored_with_known_signals(db):
    for mbid in CORPUS:
        store(db, release_doc(mbid))
    assert score_all(db) == len(CORPUS)
    policy = risk.load_policy()
    with db.session() as s:
        rows = s.execute(text("SELECT score, signals, policy_version, formats, year FROM risk_score "
                              "JOIN release ON mbid = release_mbid")).all()
        pending = s.execute(text("SELECT count(*) FROM release WHERE needs_score")).scalar_one()
    assert pending == 0
    for sc, sigs, version, formats, year in rows:
        assert version == policy.version
        assert set(sigs) <= set(policy.signals)
        assert sc == min(100, sum(policy.weight_in_context(x, formats, year) for x in sigs))
    # the Japanese release explicitly has no barcode; its label entry has a catalogue number
    # (UCCU-5137) but no label: a label MusicBrainz does not know, not "no label"
    rita = signals(db, "942b9e7b-3a43-4f22-b200-ab69ee302d16")
    assert "barcode_none" in rita and "no_label" not in rita and "no_catalog_number" not in rita
    assert "barcode_unknown" in signals(db, "59211ea4-ffd2-4ad9-9a4e-941d3148024a")


def test_custom_policy_weights_and_disabled_signals(db, tmp_path):
    doc = release_doc(BASE)
    store(db, dict(doc, status="Bootleg", barcode=""), includes=["url-rels", "tags"])
    text_ = (Path(risk.DEFAULT_POLICY).read_text()
             .replace(f'version = "{risk.load_policy().version}"', 'version = "custom-7"'))
    path = tmp_path / "p.toml"
    path.write_text(text_.replace("[signals.risky_status]\nweight = 10", "[signals.risky_status]\nweight = 70")
                    .replace("[signals.barcode_none]\nweight = 10", "[signals.barcode_none]\nweight = 0"))
    policy = risk.load_policy(path)
    score_all(db, policy)
    assert "barcode_none" not in signals(db, BASE) and "risky_status" in signals(db, BASE)
    assert score_of(db, BASE) == min(100, sum(policy.weight_in_context(x, ["Enhanced CD"], 2003)
                                              for x in signals(db, BASE)))
    with db.session() as s:
        assert s.execute(text("SELECT DISTINCT policy_version FROM risk_score")).scalar_one() == "custom-7"


@pytest.mark.parametrize("content, message", [
    ("not toml [", "not valid TOML"),
    ('version = "1"\n', "no [signals"),
    ('version = "1"\n[signals.nope]\nweight = 1\nexplain = "x"\n', "unknown signal 'nope'"),
    ('version = "1"\n[signals.low_quality]\nweight = 500\nexplain = "x"\n', "weight must be an integer"),
    ('version = "1"\n[signals.low_quality]\nweight = 5\n', "explain"),
    ('[signals.low_quality]\nweight = 5\nexplain = "x"\n', "'version'"),
    # issue 10: hostile parameters give one line, never a traceback or the whole parameter table
    ('version = "1"\n[signals.no_label]\nweight = 5\nexplain = "x"\nno_label_mbid = "not-a-uuid"\n',
     "no_label_mbid must be an MBID"),
    ('version = "1"\nmax_score = 100000000000000000000\n[signals.low_quality]\nweight = 5\nexplain = "x"\n',
     "max_score must be an integer from 1 to 1000"),
    ('version = "1"\nmax_score = 40000\n[signals.low_quality]\nweight = 5\nexplain = "x"\n',
     "max_score must be an integer from 1 to 1000"),
    ('version = "1"\n[signals.fragile_format]\nweight = 5\nexplain = "x"\nformats = [["CD"], "x"]\n',
     "flat list of short strings"),
    ('version = "1"\n[signals.small_catalogue]\nweight = 5\nexplain = "x"\nmax_release_groups = 99999999999\n',
     "max_release_groups must be between 0 and"),
    ('version = "1"\n[context]\npeak_factor = 1e300\n[signals.low_quality]\nweight = 5\nexplain = "x"\n',
     "context.peak_factor must be a factor"),
    # lists compared with normalised text must be written normalised, or they would never match
    ('version = "1"\n[signals.promo_catalog_number]\nweight = 5\nexplain = "x"\nprefixes = ["PRO-CD"]\n',
     "promo_catalog_number.prefixes: 'PRO-CD' must be upper-case ASCII letters and digits only"),
    ('version = "1"\n[signals.promo_words]\nweight = 5\nexplain = "x"\nwords = ["Not-For-Sale"]\n',
     "promo_words.words: 'Not-For-Sale' must be lower-case ASCII words"),
    ('version = "1"\n[signals.promo_words]\nweight = 5\nexplain = "x"\n', "promo_words.words is required"),
    ('version = "1"\n[context]\nnope = 1\n[signals.low_quality]\nweight = 5\nexplain = "x"\n',
     "unknown [context] key"),
])
def test_bad_policies_are_rejected_clearly(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(risk.PolicyError, match=message.replace("[", r"\[")) as err:
        risk.load_policy(path)
    assert len(str(err.value).splitlines()) == 1 and len(str(err.value)) < 600


def test_score_cli_records_a_score_run(database_url, tmp_path):
    db = Database(database_url)
    try:
        store(db, release_doc(BASE))
        env = {"MBINDEX_DATABASE_URL": database_url, "XDG_CONFIG_HOME": str(tmp_path)}
        res = CliRunner().invoke(cli, ["score"], env=env, catch_exceptions=False)
        assert res.exit_code == 0, res.output
        assert "scored 1 release" in res.output
        res = CliRunner().invoke(cli, ["score", "--changed"], env=env, catch_exceptions=False)
        assert "scored 0 release" in res.output
        with db.session() as s:
            runs = s.execute(text("SELECT kind, status, updated FROM sync_run ORDER BY id")).all()
        assert [tuple(r) for r in runs] == [("score", "ok", 1), ("score", "ok", 0)]
        bad = tmp_path / "bad.toml"
        bad.write_text("x = [")
        res = CliRunner().invoke(cli, ["score", "--policy", str(bad)], env=env)
        assert res.exit_code == 2 and "not valid TOML" in res.output
    finally:
        db.dispose()


def test_a_document_without_tracks_says_nothing_of_its_tracklist(db, base):
    """A search hit carries no tracks and no recordings include: sparse_tracklist is unknown, not fired;
    the same release fetched with recordings and no tracks at all does fire it."""
    doc = copy.deepcopy(base)
    for medium in doc["media"]:
        del medium["tracks"]
    store(db, doc, includes=["url-rels", "tags"])
    score_all(db)
    assert "sparse_tracklist" not in signals(db, BASE)
    doc["annotation"] = "fetched again, with recordings"  # a new revision: the includes are stored again
    store(db, doc, includes=["url-rels", "tags", "recordings"])
    score_all(db)
    assert "sparse_tracklist" in signals(db, BASE)


def test_uncatalogued_needs_both_levels_of_links_and_show_names_the_catalogues(db):
    doc = release_doc(BASE)  # its release group carries Discogs, AllMusic, Wikidata... links
    incs = ["url-rels", "tags", "release-group-level-rels"]
    store(db, doc, includes=incs)
    score_all(db)
    assert "uncatalogued" not in signals(db, BASE)
    with db.session() as s:
        names = show_in(s, BASE, risk.load_policy())["catalogues"]["names"]
    assert {"discogs.com", "allmusic.com", "amazon.co.uk"} <= set(names)
    bare = copy.deepcopy(doc)
    _no_links(bare)
    bare["release-group"]["relations"] = []
    store(db, bare, includes=incs)
    score_all(db)
    assert {"uncatalogued", "no_links"} <= signals(db, BASE)
    store(db, dict(bare, annotation="group links not asked for"), includes=["url-rels", "tags"])
    score_all(db)
    assert "uncatalogued" not in signals(db, BASE)  # unknown, not absent


def test_a_hostile_policy_is_one_line_and_exit_2_through_the_cli(database_url, tmp_path):
    bad = tmp_path / "hostile.toml"
    bad.write_text('version = "1"\nmax_score = 99999999999\n[signals.no_label]\nweight = 5\nexplain = "x"\n'
                   'no_label_mbid = "' + "x" * 5000 + '"\n')
    env = {"MBINDEX_DATABASE_URL": database_url, "XDG_CONFIG_HOME": str(tmp_path)}
    res = CliRunner().invoke(cli, ["score", "--policy", str(bad)], env=env)
    assert res.exit_code == 2
    assert "no_label_mbid must be an MBID" in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1 and "xxxxxxxxxx" not in res.output


@pytest.mark.parametrize("barcode, invalid", [
    ("093624844426", False),  # Meteora's UPC-A
    ("5052498646524", False),  # an EAN-13
    ("07599251581", False),  # 11 digits: MusicBrainz's editor reads a UPC missing its check digit
    ("96385074", False),  # EAN-8
    ("093624844427", True),  # wrong check digit
    ("8791423234", True),  # 10 digits
    ("123", True),
    ("ABC-123", True),
    ("", False),  # explicitly none: barcode_none, not this
])
def test_barcode_invalid_checks_length_and_check_digit(db, base, barcode, invalid):
    store(db, dict(base, barcode=barcode), includes=["url-rels", "tags"])
    score_all(db)
    assert ("barcode_invalid" in signals(db, BASE)) is invalid


def test_a_catalogue_number_without_a_label_is_not_no_label(db, base):
    """UCCU-5137 with `label: null` names a label MusicBrainz does not know; "none" is no number."""
    doc = dict(base, **{"label-info": [{"catalog-number": "UCCU-5137", "label": None}]})
    store(db, doc, includes=["url-rels", "tags"])
    score_all(db)
    assert not {"no_label", "no_catalog_number"} & signals(db, BASE)
    store(db, dict(base, **{"label-info": [{"catalog-number": "none", "label": None}]}), includes=["url-rels", "tags"])
    score_all(db)
    assert {"no_label", "no_catalog_number"} <= signals(db, BASE)


EVAL_RELEASES = Path(__file__).parent / "fixtures" / "eval" / "releases"


@pytest.mark.parametrize("mbid, signal", [
    ("2854d324-695f-4a2b-9cae-ef5426386265", "promo_catalog_number"),  # Cracker, Tucson: a search hit, DPRO-12702
    ("8ad92791-9924-4a03-80f7-a17cc341a93d", "promo_words"),  # The Paste 2020 Holiday Sampler: a recording search's item
])
def test_promo_signals_fire_on_real_promo_documents_as_recorded(db, mbid, signal):
    """Thin documents (search hits) of real promo-only releases, stored as
    they came: the catalogue number and the title name what the status does not."""
    doc = json.loads((EVAL_RELEASES / f"{mbid}.json").read_text(encoding="utf-8"))
    assert doc["status"] == "Official"  # filed as Official: risky_status cannot see it
    store(db, doc)
    store(db, release_doc(BASE))
    score_all(db)
    assert signal in signals(db, mbid)
    assert not {"promo_catalog_number", "promo_words", "informal_type"} & signals(db, BASE)


def test_catalogue_numbers_and_words_are_compared_normalised(db, base):
    """"pro-cd-4711" reads as PROCD4711; "Not For Sale!" holds the words "not for sale";
    a word inside another word ("promotion" for "promo") is no match."""
    for catno, fires in (("pro-cd-4711", True), ("PRO CD 4711", True), ("9362 48444 2", False), ("XPRO1", False)):
        doc = copy.deepcopy(base)
        doc["label-info"][0]["catalog-number"] = catno
        store(db, doc, includes=["url-rels", "tags"])
        score_all(db)
        assert ("promo_catalog_number" in signals(db, BASE)) is fires, catno
    for title, fires in (("Not For Sale!", True), ("Summer Sampler 2004", True), ("Promotion Day", False),
                         ("Sampler-ish", True), ("Samplers", False)):
        store(db, dict(copy.deepcopy(base), title=title), includes=["url-rels", "tags"])
        score_all(db)
        assert ("promo_words" in signals(db, BASE)) is fires, title
