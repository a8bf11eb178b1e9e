"""`mbindex package`: BagIt bags with PREMIS records of real corpus releases,
validated by bagit; a changed byte fails validation; the destination is
never left half-written."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
import xml.etree.ElementTree as ET

import bagit
import pytest
from sqlalchemy import text

from helpers import WS2, load_doc, release_doc, score_all
from indexer.analysis.curation import mark_in
from indexer.analysis.preservation import Selection, release_records
from indexer.analysis.risk import load_policy
from indexer.mapping import map_release
from indexer.output.bag import write_bag
from indexer.output.files import OutputError
from indexer.store import record_redirect_in, save_release_in, tombstone_in
from indexer.store.facts import EDITIONS, Fact, save_facts

#: two real recordings of the same lookup made at different times (hqub-musicbrainz's
#: release-get.json and its earlier git version @a431d6df: artist credit, labels and media differ)
TUCSON = "12195c41-6136-4dfd-acf1-9923dadc73e2"
METEORA = "c9d52105-5c20-3216-bc1b-e54918f8f688"
DARK_SIDE = "b84ee12a-09ef-421b-82de-0441a926375b"  # tombstoned below
MERGED = uuid.UUID("0f1e2d3c-4b5a-4968-8776-655443322110")  # an MBID merged into Meteora
P = {"p": "http://www.loc.gov/premis/v3"}
T0 = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)


def _save(db, doc, seen_at):
    with db.session() as s, s.begin():
        save_release_in(s, map_release(doc), doc, seen_at=seen_at)


@pytest.fixture
def mirror(db):
    _save(db, load_doc(WS2 / "history" / f"{TUCSON}@a431d6df.json"), T0)
    _save(db, release_doc(TUCSON), T0 + dt.timedelta(days=30))
    for mbid in (METEORA, DARK_SIDE):
        _save(db, release_doc(mbid), T0)
    with db.session() as s, s.begin():
        tombstone_in(s, uuid.UUID(DARK_SIDE), "not found (404)", when=T0 + dt.timedelta(days=40))
        record_redirect_in(s, "release", MERGED, uuid.UUID(METEORA), None)
        mark_in(s, [uuid.UUID(METEORA)], "in-progress", "digitise the enhanced CD", "Ada")
    score_all(db)
    return db


def raw_revisions(db, mbid):
    """The stored bytes of each revision, by hash, read independently of the package code."""
    with db.session() as s:
        rows = s.execute(text("SELECT hash, doc::text FROM document_revision WHERE mbid = :m"), {"m": mbid})
        return {h: t.encode("utf-8") for h, t in rows}


def make(run_cli, *args, env=None):
    return run_cli("package", *args, env=env)


def test_bag_holds_every_revision_byte_for_byte_and_a_premis_record(mirror, run_cli, tmp_path):
    bag_dir = tmp_path / "bag"
    res = make(run_cli, TUCSON, METEORA, DARK_SIDE, "--to", str(bag_dir),
               env={"MBINDEX_SOURCE_ORGANIZATION": "Example Sound Archive"})
    assert res.exit_code == 0, res.output
    bag = bagit.Bag(str(bag_dir))
    bag.validate()  # raises on any problem
    assert bag.info["Source-Organization"] == "Example Sound Archive"
    assert TUCSON in bag.info["External-Identifier"] and DARK_SIDE in bag.info["External-Identifier"]
    assert bag.info["Bagging-Date"] and bag.info["External-Description"]

    revisions = raw_revisions(mirror, TUCSON)
    assert len(revisions) == 2
    folder = bag_dir / "data" / TUCSON
    for digest, raw in revisions.items():
        assert (folder / f"{digest}.json").read_bytes() == raw
    stored = [json.loads(raw) for raw in revisions.values()]
    assert release_doc(TUCSON) in stored
    assert load_doc(WS2 / "history" / f"{TUCSON}@a431d6df.json") in stored

    summary = json.loads((folder / "release.json").read_text(encoding="utf-8"))
    with mirror.session() as s:
        score = s.execute(text("SELECT score, signals FROM risk_score WHERE release_mbid = :m"),
                          {"m": TUCSON}).one()
    assert summary["score"]["score"] == score.score
    assert [x["signal"] for x in summary["signals"]] == list(score.signals)
    assert summary["release"]["barcode"] == release_doc(TUCSON)["barcode"]

    premis = ET.parse(folder / "premis.xml").getroot()
    digests = {e.text for e in premis.iterfind(".//p:fixity/p:messageDigest", P)}
    assert digests == {hashlib.sha256(raw).hexdigest() for raw in revisions.values()}
    ids = {(i.findtext("p:objectIdentifierType", namespaces=P), i.findtext("p:objectIdentifierValue", namespaces=P))
           for i in premis.iterfind("p:object/p:objectIdentifier", P)}
    assert ("MusicBrainz release MBID", TUCSON) in ids
    assert ("barcode", release_doc(TUCSON)["barcode"]) in ids
    assert any(v == release_doc(TUCSON)["label-info"][0]["catalog-number"] for _, v in ids)
    assert [e.findtext("p:eventType", namespaces=P) for e in premis.iterfind("p:event", P)] == ["ingestion"] * 2
    agents = {a.findtext("p:agentName", namespaces=P): a for a in premis.iterfind("p:agent", P)}
    assert agents["mbindex"].findtext("p:agentVersion", namespaces=P)
    assert "MusicBrainz" in agents


def events(bag_dir, mbid):
    root = ET.parse(bag_dir / "data" / mbid / "premis.xml").getroot()
    return [(e.findtext("p:eventType", namespaces=P), e.findtext(".//p:eventDetail", namespaces=P),
             [a.findtext("p:linkingAgentIdentifierValue", namespaces=P) for a in e.iterfind("p:linkingAgentIdentifier", P)])
            for e in root.iterfind("p:event", P)]


def test_premis_events_cover_tombstones_redirects_and_curation_marks(mirror, run_cli, tmp_path):
    bag_dir = tmp_path / "bag"
    assert make(run_cli, METEORA, DARK_SIDE, "--to", str(bag_dir)).exit_code == 0
    dark = events(bag_dir, DARK_SIDE)
    assert [k for k, _, _ in dark] == ["ingestion", "deletion"]
    assert "not found (404)" in dark[1][1]
    meteora = events(bag_dir, METEORA)
    kinds = [k for k, _, _ in meteora]
    assert sorted(kinds) == ["appraisal", "ingestion", "redirect"]
    redirect = next(e for e in meteora if e[0] == "redirect")
    assert str(MERGED) in redirect[1]
    appraisal = next(e for e in meteora if e[0] == "appraisal")
    assert "digitise the enhanced CD" in appraisal[1] and "Ada" in appraisal[2]
    people = [a.findtext("p:agentName", namespaces=P)
              for a in ET.parse(bag_dir / "data" / METEORA / "premis.xml").getroot().iterfind("p:agent", P)
              if a.findtext("p:agentType", namespaces=P) == "person"]
    assert people == ["Ada"]


def test_validate_passes_then_one_changed_byte_fails(mirror, run_cli, tmp_path):
    bag_dir = tmp_path / "bag"
    assert make(run_cli, TUCSON, METEORA, DARK_SIDE, "--to", str(bag_dir)).exit_code == 0
    ok = make(run_cli, "--validate", str(bag_dir))
    assert ok.exit_code == 0, ok.output
    assert "valid bag" in ok.output

    victim = min((bag_dir / "data" / TUCSON).glob("*.json"))
    data = bytearray(victim.read_bytes())
    data[10] = ord("X") if data[10] != ord("X") else ord("Y")  # same size: only the checksum can tell
    victim.write_bytes(bytes(data))
    bad = make(run_cli, "--validate", str(bag_dir))
    assert bad.exit_code == 1
    assert "is not a valid bag" in bad.output and victim.name in bad.output
    assert "Traceback" not in bad.output and len(bad.output.strip().splitlines()) == 1


def test_existing_destination_needs_force_and_is_replaced_whole(mirror, run_cli, tmp_path):
    bag_dir = tmp_path / "bag"
    bag_dir.mkdir()
    (bag_dir / "old-file").write_text("old")
    refused = make(run_cli, TUCSON, "--to", str(bag_dir))
    assert refused.exit_code == 2
    assert "already exists" in refused.output and "--force" in refused.output
    assert (bag_dir / "old-file").exists()

    assert make(run_cli, TUCSON, "--to", str(bag_dir), "--force").exit_code == 0
    assert not (bag_dir / "old-file").exists()
    bagit.Bag(str(bag_dir)).validate()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bag", "xdg"] or \
        sorted(p.name for p in tmp_path.iterdir()) == ["bag"]


def test_a_failure_part_way_leaves_no_package(mirror, run_cli, tmp_path):
    bag_dir = tmp_path / "out" / "bag"
    bag_dir.parent.mkdir()
    missing = "4c9a0c4f-7d6e-4a3b-9b2f-0e1d2c3b4a59"
    res = make(run_cli, TUCSON, missing, "--to", str(bag_dir))
    assert res.exit_code == 1
    assert missing in res.output and "not in the mirror" in res.output
    assert list(bag_dir.parent.iterdir()) == []  # neither the bag nor its temporary directory


def test_filters_select_the_same_releases_as_export(mirror, run_cli, tmp_path):
    exported = run_cli("export", "-o", "json", "--format", "Enhanced CD", "--format", "CD")
    assert exported.exit_code == 0, exported.output
    expected = {row["mbid"] for row in json.loads(exported.output)}
    assert expected and len(expected) < 3
    bag_dir = tmp_path / "bag"
    res = make(run_cli, "--format", "Enhanced CD", "--format", "CD", "--to", str(bag_dir))
    assert res.exit_code == 0, res.output
    assert {p.name for p in (bag_dir / "data").iterdir()} == expected
    assert "--format 'Enhanced CD' --format CD" in bagit.Bag(str(bag_dir)).info["External-Identifier"]


def test_records_stream_one_release_at_a_time(mirror):
    records = release_records(mirror, Selection(mbids=(uuid.UUID(TUCSON), uuid.UUID(METEORA))), load_policy(None),
                              documents=True)
    first = next(records)  # a generator: nothing past the first release is read yet
    assert str(first["mbid"]) == TUCSON and len(first["documents"]) == 2
    assert str(next(records)["mbid"]) == METEORA
    assert next(records, None) is None


def test_usage_errors(mirror, run_cli, tmp_path):
    assert make(run_cli, TUCSON).exit_code == 2  # no --to
    both = make(run_cli, TUCSON, "--min-score", "10", "--to", str(tmp_path / "b"))
    assert both.exit_code == 2 and "not both" in both.output
    assert make(run_cli, TUCSON, "--sort", "score", "--to", str(tmp_path / "c")).exit_code == 0  # the default
    assert make(run_cli, "--validate", str(tmp_path / "nowhere")).exit_code == 1
    bad = run_cli("package", TUCSON, "--to", str(tmp_path / "b"), env={"MBINDEX_SOURCE_ORGANIZATION": "a\nb"})
    assert bad.exit_code == 2 and "source_organization" in bad.output


def test_an_empty_selection_writes_nothing(mirror, run_cli, tmp_path):
    res = make(run_cli, "--country", "ZZ", "--to", str(tmp_path / "bag"))
    assert res.exit_code == 1 and "no release matches" in res.output
    assert not (tmp_path / "bag").exists()


def test_control_characters_keep_the_premis_record_well_formed(db, run_cli, tmp_path):
    doc = release_doc(METEORA)
    doc["title"] = "Meteora\x01\x1b[31m"
    _save(db, doc, T0)
    assert make(run_cli, METEORA, "--to", str(tmp_path / "bag")).exit_code == 0
    root = ET.parse(tmp_path / "bag" / "data" / METEORA / "premis.xml").getroot()
    assert root.findtext("p:object/p:originalName", namespaces=P) == "Meteora\ufffd\ufffd[31m"


def test_the_summary_carries_the_upstream_facts_behind_the_score(mirror, run_cli, tmp_path):
    group = uuid.UUID(release_doc(TUCSON)["release-group"]["id"])
    save_facts(mirror, [Fact("release-group", group, EDITIONS, 1, "mirror")], None)
    score_all(mirror)
    assert make(run_cli, TUCSON, "--to", str(tmp_path / "bag")).exit_code == 0
    summary = json.loads((tmp_path / "bag" / "data" / TUCSON / "release.json").read_text(encoding="utf-8"))
    assert [(f["fact"], f["value"]) for f in summary["facts"]] == [(EDITIONS, 1)]


def test_an_error_after_some_releases_are_written_leaves_nothing(mirror, tmp_path):
    real = release_records(mirror, Selection(mbids=(uuid.UUID(TUCSON), uuid.UUID(METEORA))), load_policy(None),
                           documents=True)

    def failing_after_one():
        yield next(real)
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match="No space left on device"):
        write_bag(tmp_path / "bag", failing_after_one(), version="test", organization=None, selection="test",
                  bagged_at=T0)
    assert list(tmp_path.iterdir()) == []
