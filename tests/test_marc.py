"""`mbindex export -o marc|marcxml`: minimal MARC 21 records of real corpus
releases, read back with pymarc.  Expected values are taken from the raw
documents, not from the code under test."""

from __future__ import annotations

import datetime as dt

import pymarc
import pytest

from helpers import CORPUS, load_doc, release_doc, score_all, store

AUTECHRE = "59211ea4-ffd2-4ad9-9a4e-941d3148024a"  # two CDs, barcode unknown (null)
RITA = "942b9e7b-3a43-4f22-b200-ab69ee302d16"  # barcode explicitly none ("")
FIVE_MEDIA = "f17a0f30-8eb1-4322-b54e-fb71edb78d7c"  # CD, CD, DVD-Video, DVD-Video, Blu-ray; EAN-13
METEORA = "c9d52105-5c20-3216-bc1b-e54918f8f688"  # Enhanced CD with two data tracks; UPC-12
TUCSON = "12195c41-6136-4dfd-acf1-9923dadc73e2"  # UPC-12
DARK_SIDE = "b84ee12a-09ef-421b-82de-0441a926375b"  # barcode "123": neither UPC nor EAN
RUMOURS = "5c67a91c-d659-414e-bfac-7d0c0ab5bbe0"  # a real search hit with two labels and catalogue numbers
SEARCH = "search/musicbrainzws2_java_release_limit100.json"


def rumours_doc() -> dict:
    return next(r for r in load_doc(SEARCH)["releases"] if r["id"] == RUMOURS)


def doc_of(mbid: str) -> dict:
    return rumours_doc() if mbid == RUMOURS else release_doc(mbid)


@pytest.fixture
def mirror(db):
    for mbid in CORPUS:
        store(db, release_doc(mbid))
    store(db, rumours_doc())
    score_all(db)
    return db


def export(run_cli, tmp_path, fmt, *args):
    out = tmp_path / f"records.{fmt}"
    res = run_cli("export", "-o", fmt, "--to", str(out), *args)
    assert res.exit_code == 0, res.output
    return out


def read_binary(path) -> dict[str, pymarc.Record]:
    with open(path, "rb") as fh:
        return {r["001"].data: r for r in pymarc.MARCReader(fh, to_unicode=True, force_utf8=True)}


@pytest.fixture
def records(mirror, run_cli, tmp_path):
    return read_binary(export(run_cli, tmp_path, "marc"))


def credit(doc: dict) -> str:
    return "".join(a["name"] + (a.get("joinphrase") or "") for a in doc.get("artist-credit") or [])


def test_every_release_has_one_minimal_sound_recording_record(records):
    assert set(records) == set(CORPUS) | {RUMOURS}
    for mbid, rec in records.items():
        doc = doc_of(mbid)
        leader = str(rec.leader)
        assert leader[6] == "j" and leader[17] == "7"  # musical sound recording, minimal level
        assert rec["245"]["a"] == doc["title"]
        assert rec["245"].get("c") == (credit(doc) or None)
        assert mbid in rec["500"]["a"] and rec["500"]["a"].startswith("Record generated from MusicBrainz data")
        assert rec["856"]["u"] == f"https://musicbrainz.org/release/{mbid}"
        f008 = rec["008"].data
        assert len(f008) == 40
        year = (doc.get("date") or "")[:4]
        assert f008[7:11] == (year if year else "uuuu")
        assert f008[35:38] == ((doc.get("text-representation") or {}).get("language") or "und")


def test_024_from_the_barcode(records):
    for mbid in (TUCSON, METEORA):
        barcode = release_doc(mbid)["barcode"]
        assert len(barcode) == 12
        assert (records[mbid]["024"].indicator1, records[mbid]["024"]["a"]) == ("1", barcode)
    ean = release_doc(FIVE_MEDIA)["barcode"]
    assert len(ean) == 13 and (records[FIVE_MEDIA]["024"].indicator1, records[FIVE_MEDIA]["024"]["a"]) == ("3", ean)
    assert records[DARK_SIDE]["024"].indicator1 == "8"
    assert release_doc(AUTECHRE)["barcode"] is None and release_doc(RITA)["barcode"] == ""
    assert records[AUTECHRE].get_fields("024") == [] and records[RITA].get_fields("024") == []


def test_two_labels_give_two_028_and_two_publishers(records):
    rec = records[RUMOURS]
    labels = rumours_doc()["label-info"]
    assert len(labels) == 2
    got = [(f.indicators, f["a"], f["b"]) for f in rec.get_fields("028")]
    assert got == [(pymarc.Indicators("0", "2"), li["catalog-number"], li["label"]["name"]) for li in labels]
    f264 = rec["264"]
    assert f264.indicator2 == "1"
    assert f264.get_subfields("b") == [li["label"]["name"] for li in labels]


def test_multi_disc_extent_carriers_and_contents(records):
    doc = release_doc(AUTECHRE)
    assert len(doc["media"]) == 2 and {m["format"] for m in doc["media"]} == {"CD"}
    rec = records[AUTECHRE]
    assert rec["300"]["a"] == "2 audio discs"
    assert [f.data for f in rec.get_fields("007")] == ["sd fsngnnmmned"]
    titles = [t["title"] for m in doc["media"] for t in m["tracks"]]
    assert rec["505"]["a"] == " -- ".join(titles) and rec["505"].indicator1 == "0"
    assert rec["511"]["a"] == "; ".join(a["name"] for a in doc["artist-credit"])
    assert rec["264"]["c"] == doc["date"][:4]

    five = records[FIVE_MEDIA]
    formats = [m["format"] for m in release_doc(FIVE_MEDIA)["media"]]
    assert formats.count("CD") == 2 and len(formats) - 2 == 3
    assert five["300"]["a"] == "2 audio discs, 3 videodiscs"
    assert len({f.data for f in five.get_fields("007")}) == 3  # CD, DVD-Video, Blu-ray
    assert {f.data[0] for f in five.get_fields("007")} == {"s", "v"}


def test_data_tracks_are_described_apart_from_the_audio_contents(records):
    doc = release_doc(METEORA)
    data = [t["title"] for m in doc["media"] for t in m.get("data-tracks") or []]
    audio = [t["title"] for m in doc["media"] for t in m["tracks"]]
    assert len(data) == 2
    rec = records[METEORA]
    assert rec["505"]["a"] == " -- ".join(audio)
    assert all(title not in rec["505"]["a"].split(" -- ") for title in data)
    assert "2 data track(s)" in rec["538"]["a"] and all(title in rec["538"]["a"] for title in data)
    assert rec["300"]["a"] == "1 audio disc"


def test_marcxml_holds_the_same_records(mirror, run_cli, tmp_path, records):
    path = export(run_cli, tmp_path, "marcxml")
    assert path.read_bytes().startswith(b"<?xml")
    from_xml = {r["001"].data: r for r in pymarc.parse_xml_to_array(str(path))}
    assert set(from_xml) == set(records)
    for mbid, rec in records.items():
        assert from_xml[mbid].as_dict()["fields"] == rec.as_dict()["fields"]
        # record length and base address (00-04, 12-16) exist only in binary MARC
        assert str(from_xml[mbid].leader)[5:12] == str(rec.leader)[5:12]
        assert str(from_xml[mbid].leader)[17:] == str(rec.leader)[17:]


def test_filters_select_the_records_and_the_file_is_written_whole(mirror, run_cli, tmp_path):
    out = export(run_cli, tmp_path, "marc", "--format", "Enhanced CD")
    assert set(read_binary(out)) == {METEORA}
    again = run_cli("export", "-o", "marc", "--to", str(out))
    assert again.exit_code == 2 and "already exists" in again.output and "--force" in again.output
    assert set(read_binary(out)) == {METEORA}  # untouched
    forced = run_cli("export", "-o", "marc", "--to", str(out), "--force")
    assert forced.exit_code == 0, forced.output
    assert len(read_binary(out)) == len(CORPUS) + 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left


def test_marc_needs_a_file(mirror, run_cli):
    res = run_cli("export", "-o", "marc")
    assert res.exit_code == 2 and "--to FILE" in res.output


def test_date_entered_is_today(records):
    today = dt.datetime.now(dt.UTC).date()
    assert {rec["008"].data[:6] for rec in records.values()} <= {f"{today:%y%m%d}",
                                                                  f"{today - dt.timedelta(days=1):%y%m%d}"}


def test_control_characters_in_a_title_keep_both_formats_readable(db, run_cli, tmp_path):
    doc = release_doc(TUCSON)
    doc["title"] = "Tucson\x1fA\x1eB\x1dC\x01"  # MARC delimiters and a control XML cannot carry
    store(db, doc)
    score_all(db)
    binary = read_binary(export(run_cli, tmp_path, "marc"))
    from_xml = {r["001"].data: r for r in pymarc.parse_xml_to_array(str(export(run_cli, tmp_path, "marcxml")))}
    assert binary[TUCSON]["245"]["a"] == from_xml[TUCSON]["245"]["a"] == "Tucson\ufffdA\ufffdB\ufffdC\ufffd"
    assert binary[TUCSON]["245"]["c"] == credit(doc)
