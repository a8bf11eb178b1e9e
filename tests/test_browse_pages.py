"""Scope walks store whole browse pages (issue 11), against the replay server.

The documents are the recorded release lookups that carry every include a
browse asks for (`helpers.FULL`, completed by `helpers.as_answered`), copied
under new MBIDs where a scope needs more releases.
"""

from __future__ import annotations

import copy
import json
import uuid

from sqlalchemy import text

from helpers import FULL, full_doc
from indexer.db import Database
from indexer.sources.includes import missing_includes
from indexer.sources.ws2 import BROWSE_INCLUDES, LOOKUP_ONLY_INCLUDES, RELEASE_INCLUDES
from indexer.store.revisions import REVISION_LAST_SEEN
from indexer.sync.releases import sync_releases
from indexer.sync.scope import sync_scope
from replay_server import MAX_BROWSE_TRACKS, MAX_LIMIT, track_count

LABEL = "47e718e1-7ee4-460c-b1cc-1192a841c6e5"
LABEL_ID = uuid.UUID(LABEL)
DSOTM = "b84ee12a-09ef-421b-82de-0441a926375b"

# surrogate keys and when or by which run a row was written: not what was stored
VOLATILE = ("id", "medium_id", "revision_id", "sync_run_id", "first_seen", "last_seen")
STORED = ("release", "medium", "track", "release_label", "url_relation", "tag", "artist_credit", "artist", "label",
          "recording", "release_group", "document", "document_revision")


def rows(db: Database, tables=STORED, drop=VOLATILE) -> dict[str, list[str]]:
    """Every row of `tables` as JSON without the `drop` columns, sorted."""
    minus = "".join(f" - '{c}'" for c in drop)
    with db.session() as s:
        return {t: sorted(s.execute(text(f"SELECT (to_jsonb(x){minus})::text FROM {t} x")).scalars()) for t in tables}


def copies(n: int, sources=FULL) -> list[dict]:
    """`n` full releases under new MBIDs, cycling through `sources`."""
    out = []
    for i in range(n):
        doc = full_doc(sources[i % len(sources)])
        doc["id"] = str(uuid.UUID(int=0x11 << 120 | i))
        out.append(doc)
    return out


def serve(replay, docs: list[dict], browse: list[dict] | None = None) -> None:
    """Lookups answer `docs`; the label's browse lists `browse` (default: the same documents)."""
    for doc in docs:
        replay.add_document("release", doc)
    replay.set_browse("release", "label", LABEL, browse if browse is not None else docs)


def browses(replay) -> list:
    return [r for r in replay.requests if r.path.rstrip("/") == "/ws/2/release"]


def lookups(replay) -> list:
    return [r for r in replay.requests if r.path.rstrip("/") != "/ws/2/release" and r.path.startswith("/ws/2/release/")]


def one(db: Database, sql: str, **params):
    with db.session() as s:
        return s.execute(text(sql), params).scalar_one()


def test_browse_asks_for_what_a_lookup_gets(replay, client, db):
    """Tags, annotation, links and every other lookup include go into the browse
    URL (musicbrainzngs' browse whitelist would refuse tags and annotation)."""
    serve(replay, copies(2))
    sync_scope(db, client, "label", LABEL_ID)
    asked = set(browses(replay)[0].query["inc"].split())
    assert asked == set(RELEASE_INCLUDES) - LOOKUP_ONLY_INCLUDES
    assert {"tags", "annotation", "url-rels"} <= asked and not asked & LOOKUP_ONLY_INCLUDES
    assert browses(replay)[0].query["label"] == LABEL and browses(replay)[0].query["limit"] == str(MAX_LIMIT)


def test_page_rows_equal_lookup_rows(replay, client, db, pg_server):
    """A label page of N full releases is stored with one request, row for row
    what N lookups store, with the same document hashes; a lookup after the
    walk and a walk after the lookup change nothing (no alternating revisions)."""
    docs = [full_doc(mbid) for mbid in FULL]
    serve(replay, docs)
    res = sync_scope(db, client, "label", LABEL_ID)
    assert (res.status, res.requests, res.counts.inserted, res.counts.fallback_lookups) == ("ok", 1, len(docs), 0)
    assert lookups(replay) == []
    walked = rows(db)

    name = pg_server.create()
    other = Database(pg_server.url_for(name))
    try:
        looked = sync_releases(other, client, [uuid.UUID(d["id"]) for d in docs])
        assert looked.status == "ok" and looked.counts.inserted == len(docs)
        assert rows(other) == walked
    finally:
        other.dispose()
        pg_server.drop(name)
    assert all(walked[t] for t in ("track", "release_label", "url_relation", "tag", "artist_credit"))

    again = sync_releases(db, client, [uuid.UUID(d["id"]) for d in docs])
    assert again.counts.unchanged == len(docs) and again.counts.updated == 0
    replay.reset_log()
    walk = sync_scope(db, client, "label", LABEL_ID)
    assert walk.counts.unchanged == len(docs) and len(replay.requests) == 1
    assert rows(db) == walked
    assert one(db, "SELECT max(revision_count) FROM document") == 1


def test_items_lacking_an_include_are_looked_up_and_counted(replay, run_cli, db):
    """A mirror that ignores inc=labels, or an item without its tracks: looked
    up on its own, counted in sync_run.fallback_lookups and the summary line."""
    docs = copies(6)
    shown = copy.deepcopy(docs)
    del shown[1]["label-info"]
    for medium in shown[4]["media"]:
        del medium["tracks"]
    serve(replay, docs, shown)
    out = run_cli("sync", "label", LABEL)
    assert out.exit_code == 0, out.output
    assert "fallback lookups 2" in out.output and "inserted 6" in out.output
    assert sorted(r.path.rsplit("/", 1)[1] for r in lookups(replay)) == sorted([docs[1]["id"], docs[4]["id"]])
    assert one(db, "SELECT fallback_lookups FROM sync_run") == 2
    # what was stored is the looked-up document, labels and tracks included
    for doc in (docs[1], docs[4]):
        stored = one(db, "SELECT r.doc::text FROM document d JOIN document_revision r ON r.id = d.revision_id "
                         "WHERE d.mbid = :m", m=doc["id"])
        assert json.loads(stored) == doc
    assert one(db, "SELECT count(*) FROM release_label WHERE release_mbid = :m", m=docs[1]["id"]) == len(
        docs[1]["label-info"])


def _box_set(n_media: int) -> dict:
    """A release of `n_media` copies of the recorded Meteora media (a box set)."""
    doc = full_doc("c9d52105-5c20-3216-bc1b-e54918f8f688")
    media = []
    for i in range(n_media):
        for medium in copy.deepcopy(doc["media"]):
            medium["position"] = len(media) + 1
            media.append(medium)
    doc["media"] = media
    return doc


def test_pages_follow_the_500_track_cap(replay, client, db):
    """With inc=recordings the server ends a page at 500 tracks (one release
    at least, even a bigger one): the walk pages by the items received, one
    request per page, and stores every release without a lookup."""
    docs = copies(70)
    giant = _box_set(35)  # over 500 tracks on its own
    giant["id"] = str(uuid.uuid4())
    docs.insert(50, giant)
    assert track_count(giant) > MAX_BROWSE_TRACKS
    serve(replay, docs)
    res = sync_scope(db, client, "label", LABEL_ID)
    assert res.status == "ok" and res.counts.inserted == len(docs) and lookups(replay) == []
    offsets = [int(r.query.get("offset", 0)) for r in browses(replay)]
    pages = [docs[a:b] for a, b in zip(offsets, offsets[1:] + [len(docs)])]
    assert len(pages) == res.requests and all(pages)
    assert any(len(p) < MAX_LIMIT for p in pages[:-1])  # the cap cut pages short
    assert [giant] in pages
    assert one(db, "SELECT count(*) FROM track WHERE release_mbid = :m", m=giant["id"]) == sum(
        len(m["tracks"]) + len(m.get("data-tracks") or []) for m in giant["media"])


def test_unchanged_walk_is_one_request_per_page_and_writes_nothing(replay, client, db):
    docs = copies(60)  # two pages of the 500-track cap
    serve(replay, docs)
    first = sync_scope(db, client, "label", LABEL_ID)
    assert first.requests == len(browses(replay)) >= 2
    kept = (STORED + ("scope_member",), VOLATILE + ("last_run_id",))
    before = rows(db, *kept)
    replay.reset_log()
    started = one(db, "SELECT clock_timestamp()")
    res = sync_scope(db, client, "label", LABEL_ID)
    assert (res.status, len(browses(replay)), res.counts.unchanged) == ("ok", first.requests, len(docs))
    assert res.counts.inserted == res.counts.updated == res.counts.fallback_lookups == 0
    assert lookups(replay) == []
    assert rows(db, *kept) == before
    # seen again: only the document's last_seen moved (rule 1), and the current revision reads it
    assert one(db, "SELECT min(last_seen) FROM document") >= started
    assert one(db, f"SELECT min({REVISION_LAST_SEEN}) FROM document d "
                   "JOIN document_revision r ON r.id = d.revision_id") >= started
    assert one(db, "SELECT max(last_seen) FROM release") < started


def test_members_missing_from_a_whole_walk_are_confirmed_by_lookup(replay, client, db):
    docs = copies(8)
    serve(replay, docs)
    sync_scope(db, client, "label", LABEL_ID)
    deleted, moved = docs[2], docs[5]
    replay.delete("release", deleted["id"])  # deleted upstream
    serve(replay, [], [d for d in docs if d not in (deleted, moved)])  # `moved` only left the label
    replay.reset_log()
    res = sync_scope(db, client, "label", LABEL_ID)
    assert res.counts.tombstoned == 1 and res.counts.missing == [deleted["id"]]
    assert sorted(r.path.rsplit("/", 1)[1] for r in lookups(replay)) == sorted([deleted["id"], moved["id"]])
    assert one(db, "SELECT deleted_at IS NOT NULL FROM release WHERE mbid = :m", m=deleted["id"])
    assert not one(db, "SELECT deleted_at IS NOT NULL FROM release WHERE mbid = :m", m=moved["id"])
    assert one(db, "SELECT count(*) FROM scope_member") == 6

    # the deleted release comes back upstream, in the label: live again, from its page
    serve(replay, [deleted], docs)
    back = sync_scope(db, client, "label", LABEL_ID)
    assert back.counts.updated == 1 and back.counts.unchanged == len(docs) - 1
    assert not one(db, "SELECT deleted_at IS NOT NULL FROM release WHERE mbid = :m", m=deleted["id"])


def test_missing_includes_derive_from_the_include_list():
    full = full_doc("c9d52105-5c20-3216-bc1b-e54918f8f688")
    assert missing_includes(full, BROWSE_INCLUDES) == []
    no_labels = {k: v for k, v in full.items() if k != "label-info"}
    assert missing_includes(no_labels, BROWSE_INCLUDES) == ["labels"]
    no_links = {k: v for k, v in full.items() if k != "relations"}
    assert missing_includes(no_links, ["url-rels", "artist-rels"]) == ["url-rels", "artist-rels"]
    cut = copy.deepcopy(full)
    cut["media"][0]["tracks"] = []
    assert set(missing_includes(cut, BROWSE_INCLUDES)) == {"recordings", "isrcs"}  # no tracks, no ISRCs
    # a real lookup recorded without release-groups lacks it, whatever else it has
    recorded = full_doc("942b9e7b-3a43-4f22-b200-ab69ee302d16")
    assert "release-groups" in missing_includes(recorded, BROWSE_INCLUDES)


def _search(replay, docs):
    replay.set_search("release", "label:Warp", [{"id": d["id"], "title": d["title"]} for d in docs])


def test_query_skips_hits_fetched_within_max_age(replay, run_cli, db):
    docs = copies(4)
    serve(replay, docs)
    _search(replay, docs)
    assert run_cli("sync", "release", docs[0]["id"], docs[1]["id"]).exit_code == 0
    with db.session() as s, s.begin():  # docs[1] was fetched 10 days ago
        s.execute(text("UPDATE document SET last_seen = now() - interval '10 days' WHERE mbid = :m"),
                  {"m": docs[1]["id"]})
    replay.reset_log()
    out = run_cli("sync", "query", "label:Warp")
    assert out.exit_code == 0, out.output
    assert "skipped 1" in out.output
    assert sorted(r.path.rsplit("/", 1)[1] for r in lookups(replay)) == sorted(d["id"] for d in docs[1:])
    assert one(db, "SELECT skipped FROM sync_run ORDER BY id DESC LIMIT 1") == 1

    replay.reset_log()
    out = run_cli("sync", "query", "label:Warp", env={"MBINDEX_QUERY_MAX_AGE_DAYS": "0"})
    assert out.exit_code == 0 and "skipped" not in out.output
    assert len(lookups(replay)) == 4


def test_upgrade_drops_browse_documents_of_an_older_mirror(empty_database_url):
    """A mirror made at 0003 kept "release-browse" documents next to the
    release's own; 0004 drops them and keeps the release's."""
    database = Database(empty_database_url)
    mbid = FULL[0]
    insert = ("INSERT INTO document_revision (entity_type, mbid, hash, doc, source) "
              "VALUES (:t, :m, :h, CAST(:d AS json), 'api') RETURNING id")
    try:
        database.upgrade("0003")
        with database.engine.begin() as conn:
            for kind in ("release-browse", "release"):
                rev = conn.execute(text(insert), {"t": kind, "m": mbid, "h": kind, "d": json.dumps({"id": mbid})})
                conn.execute(text("INSERT INTO document (entity_type, mbid, revision_id, hash, revision_count) "
                                  "VALUES (:t, :m, :r, :h, 1)"), {"t": kind, "m": mbid, "r": rev.scalar_one(),
                                                                   "h": kind})
            conn.execute(text("INSERT INTO sync_run (kind, scope) VALUES ('sync', 'label')"))
        database.upgrade("head")
        with database.engine.connect() as conn:
            for table in ("document", "document_revision"):
                kinds = conn.execute(text(f"SELECT entity_type FROM {table}")).scalars().all()
                assert kinds == ["release"]
            assert conn.execute(text("SELECT fallback_lookups, skipped FROM sync_run")).one() == (0, 0)
        database.downgrade("0003")
        with database.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM document WHERE entity_type = 'release'")).scalar() == 1
    finally:
        database.dispose()


def test_an_item_without_a_hash_does_not_stop_its_page(replay, client, db):
    """A lone surrogate in one item's title (valid JSON, no UTF-8): the page's
    other releases are stored and the item goes to store_release_doc, which
    keeps it aside, instead of the walk failing while hashing the page."""
    docs = copies(4)
    docs[2]["title"] = "broken \udc80"
    serve(replay, docs)
    res = sync_scope(db, client, "label", LABEL_ID)
    assert res.status == "ok" and res.counts.inserted == 3 and res.counts.quarantined == 1, res.error
    assert lookups(replay) == []


def test_a_budget_smaller_than_a_pages_lookups_gets_through_it_over_several_runs(replay, run_cli, db):
    """Each lookup done within a page is checkpointed: the run that resumes
    the page asks only for the releases not looked up yet, so a walk cut by
    --max-requests every time still ends, and nothing is fetched twice."""
    docs = copies(6)
    shown = copy.deepcopy(docs)
    for item in shown[1:]:
        del item["label-info"]  # five items to look up on their own
    serve(replay, docs, shown)
    seen, runs = [], 0
    while True:
        runs += 1
        assert runs <= 5, "the walk never ended"
        out = run_cli("sync", "--max-requests", "3", "label", LABEL)
        if out.exit_code == 0:
            break
        assert out.exit_code == 3, out.output  # the budget, used up: the next run continues
        assert "fallback lookups 2" in out.output  # a lookup the budget refused is not counted
        seen.append(one(db, "SELECT count(*) FROM release"))
    assert seen == [3, 5] and one(db, "SELECT count(*) FROM release") == 6  # progress every run
    looked = [r.path.rsplit("/", 1)[1] for r in lookups(replay)]
    assert sorted(looked) == sorted(d["id"] for d in docs[1:])  # each looked up once, over three runs
    assert one(db, "SELECT sum(fallback_lookups) FROM sync_run") == 5
