"""Storing releases: idempotent, every version kept, tombstones, redirects."""

import uuid

from sqlalchemy import func, select

from helpers import RICH, load_doc, release_doc
from indexer.db import models as m
from indexer.mapping import map_release
from indexer.store import record_redirect_in, resolve_mbid_in, save_release_in, tombstone_in

COUNTED = [m.Release, m.Medium, m.Track, m.Recording, m.Artist, m.Label, m.ReleaseGroup, m.ReleaseLabel,
           m.ArtistCredit, m.UrlRelation, m.Tag, m.Document, m.DocumentRevision]


def counts(session):
    return {model.__tablename__: session.scalar(select(func.count()).select_from(model)) for model in COUNTED}


def save(db, doc, **kw):
    with db.session() as s, s.begin():
        return save_release_in(s, map_release(doc), doc, **kw)


def test_save_is_idempotent(db):
    doc = release_doc(RICH["c9d52105"])
    assert save(db, doc).outcome == "inserted"
    with db.session() as s:
        first = counts(s)
    assert save(db, doc).outcome == "unchanged"
    with db.session() as s:
        assert counts(s) == first
        assert first["track"] == 15 and first["medium"] == 1 and first["release_label"] == 1
        # 2 links of the release, 15 of its release group (release-group-level-rels), each kept once
        assert first["url_relation"] == 2 + 15 and first["document_revision"] == 1


def test_every_version_is_kept_and_current_rows_follow_latest(db):
    mbid = RICH["12195c41"]
    current = release_doc(mbid)
    older = load_doc(next((__import__("conftest").WS2 / "history").glob("12195c41*.json")))
    assert save(db, older).outcome == "inserted"
    assert save(db, current).outcome == "updated"
    assert save(db, current).outcome == "unchanged"
    with db.session() as s:
        revs = s.scalars(select(m.DocumentRevision).where(m.DocumentRevision.mbid == uuid.UUID(mbid))).all()
        assert len(revs) == 2
        doc_row = s.get(m.Document, ("release", uuid.UUID(mbid)))
        assert doc_row.revision_count == 2
        assert doc_row.revision.doc == current
        # no duplicated children after the update
        assert s.scalar(select(func.count()).select_from(m.Medium).where(m.Medium.release_mbid == uuid.UUID(mbid))) == 1
    # the old version coming back again is the current one, still 2 revisions
    assert save(db, older).outcome == "updated"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(m.DocumentRevision)) == 2
        assert s.get(m.Document, ("release", uuid.UUID(mbid))).revision.doc == older


def test_tombstone_keeps_everything_and_resurrection_clears_it(db):
    doc = release_doc(RICH["b84ee12a"])
    save(db, doc)
    mbid = uuid.UUID(RICH["b84ee12a"])
    with db.session() as s, s.begin():
        assert tombstone_in(s, mbid, "404 on lookup") is True
        assert tombstone_in(s, mbid, "404 on lookup") is False
    with db.session() as s:
        rel = s.get(m.Release, mbid)
        assert rel.deleted_at is not None and rel.deleted_reason == "404 on lookup"
        assert len(rel.media) == 1 and rel.media[0].tracks
    assert save(db, doc).outcome == "updated"  # seen again upstream
    with db.session() as s:
        assert s.get(m.Release, mbid).deleted_at is None


def test_redirects_resolve_chains(db):
    a, b, c = (uuid.uuid4() for _ in range(3))
    with db.session() as s, s.begin():
        assert record_redirect_in(s, "release", a, b, None) is True
        assert record_redirect_in(s, "release", a, b, None) is False
        record_redirect_in(s, "release", b, c, None)
    with db.session() as s:
        assert resolve_mbid_in(s, "release", a) == c
        assert resolve_mbid_in(s, "release", c) == c


def test_sparse_embedded_artist_does_not_erase_known_fields(db):
    doc = release_doc(RICH["c9d52105"])
    save(db, doc)
    artist_id = uuid.UUID(doc["artist-credit"][0]["artist"]["id"])
    sparse = dict(doc, id=str(uuid.uuid4()))
    sparse["artist-credit"] = [{"name": "Linkin Park", "joinphrase": "", "artist": {"id": str(artist_id), "name": "Linkin Park"}}]
    save(db, sparse)
    with db.session() as s:
        assert s.get(m.Artist, artist_id).country == "US"


def test_deleting_a_release_row_takes_its_media_and_tracks(db):
    """mbindex never deletes releases (it tombstones them), but a database
    administrator may: tracks go with their medium, which goes with its release."""
    doc = release_doc(RICH["c9d52105"])
    save(db, doc)
    with db.session() as s, s.begin():
        s.execute(m.Release.__table__.delete())
    with db.session() as s:
        left = counts(s)
    assert (left["release"], left["medium"], left["track"], left["release_label"]) == (0, 0, 0, 0)
