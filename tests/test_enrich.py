"""`enrich`: upstream facts from ws/2 counts and ListenBrainz (real replay
server), stored with source and date, and read by the score."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from sqlalchemy import text

from helpers import FIXTURES, release_doc, score_all, store
from indexer.analysis import risk
from indexer.analysis.curation import format_show, show_in
from indexer.config import ConfigError, load_settings
from indexer.runs import OK, PARTIAL
from indexer.sources.listenbrainz import ListenBrainz
from indexer.sources.ws2 import GiveUp
from indexer.sync.enrich import enrich, listenbrainz_for

DSOTM = "b84ee12a-09ef-421b-82de-0441a926375b"
DSOTM_RG = "f5093c06-23e3-404f-aeaa-40f72885ee3a"
PINK_FLOYD = "83d91898-7763-47d7-b03b-b92132375c47"
METEORA = "c9d52105-5c20-3216-bc1b-e54918f8f688"
LINKIN_PARK = "f59c5520-5f46-4d2c-b2c4-822eabf53419"
WORLD = {"only_edition", "small_catalogue", "no_listens", "few_listeners", "uncatalogued"}


def serve_facts(replay, path=FIXTURES / "facts" / "upstream.json"):
    facts = json.loads(path.read_text())
    for rg, n in facts["editions"].items():
        replay.set_count("release", "release-group", rg, n)
    for artist, n in facts["artist_release_groups"].items():
        replay.set_count("release-group", "artist", artist, n)
    for rg, (listens, listeners) in facts["popularity"].items():
        replay.set_popularity(rg, listens, listeners)


def signals(db, mbid) -> set[str]:
    with db.session() as s:
        return set(s.execute(text("SELECT signals FROM risk_score WHERE release_mbid = :m"), {"m": mbid}).scalar_one())


def stored_facts(db) -> dict:
    with db.session() as s:
        rows = s.execute(text("SELECT subject_mbid, fact, value, source FROM upstream_fact")).all()
    return {(str(r.subject_mbid), r.fact): (r.value, r.source) for r in rows}


def meteora_in_new_groups(db, n: int) -> list[str]:
    """Store n copies of the real Meteora release, each a new release in a new release group."""
    groups = []
    for _ in range(n):
        doc = release_doc(METEORA)
        doc["id"], doc["release-group"]["id"] = str(uuid.uuid4()), str(uuid.uuid4())
        store(db, doc)
        groups.append(doc["release-group"]["id"])
    return groups


def lb_settings(settings, url):
    return settings.__class__(**{**settings.__dict__, "lb_url": url})


def test_dark_side_of_the_moon_fires_no_rarity_signal_when_upstream_says_otherwise(db, replay, run_cli):
    serve_facts(replay)
    assert run_cli("sync", "release", DSOTM).exit_code == 0
    res = run_cli("enrich", env={"MBINDEX_LB_URL": replay.url})
    assert res.exit_code == 0, res.output
    assert "run " in res.output and ": ok;" in res.output
    facts = stored_facts(db)
    assert facts[(DSOTM_RG, "editions")] == (25, "ws/2 browse")  # one group: a browse costs the same as a search
    assert facts[(PINK_FLOYD, "release_groups")] == (145, "ws/2 browse")
    assert facts[(DSOTM_RG, "listens")] == (2400000, "listenbrainz")
    assert run_cli("score").exit_code == 0
    assert not signals(db, DSOTM) & WORLD
    shown = run_cli("show", DSOTM).output
    assert "editions of its release group: 25 (source ws/2 browse, " in shown
    assert "ListenBrainz listens: 2400000 (source listenbrainz" in shown
    assert "known to: " in shown and "discogs.com" in shown  # group-level links came with the lookup
    assert "in this mirror" not in shown


def test_without_facts_world_signals_are_silent_and_show_says_unknown(db, replay, run_cli):
    assert run_cli("sync", "release", DSOTM).exit_code == 0
    assert run_cli("score").exit_code == 0
    assert not signals(db, DSOTM) & {"only_edition", "small_catalogue", "no_listens", "few_listeners"}
    shown = run_cli("show", DSOTM).output
    assert "editions of its release group: unknown (not fetched; run `mbindex enrich`): only_edition not assessed" \
        in shown
    assert "ListenBrainz listens: unknown (not fetched" in shown


def test_obscure_facts_fire_the_world_signals(db, replay, client, settings):
    doc = release_doc(METEORA)
    store(db, doc)
    rg, artist = doc["release-group"]["id"], doc["artist-credit"][0]["artist"]["id"]
    replay.set_count("release", "release-group", rg, 1)
    replay.set_count("release-group", "artist", artist, 2)
    replay.set_popularity(rg, None, None)  # ListenBrainz knows nothing of it
    client.settings = lb_settings(settings, replay.url)
    res = enrich(db, client, listenbrainz_for(client))
    assert res.status == OK, res.problems
    score_all(db, changed=True)
    assert {"only_edition", "small_catalogue", "no_listens"} <= signals(db, METEORA)
    assert "few_listeners" not in signals(db, METEORA)  # no listener known is no_listens, not "few"
    with db.session() as s:
        out = format_show(show_in(s, uuid.UUID(METEORA), risk.load_policy()))
    assert "ListenBrainz listens: none known (source listenbrainz" in out


def test_many_groups_cost_one_search_and_a_group_the_index_lacks_a_browse(db, replay, client, settings):
    groups = meteora_in_new_groups(db, 3)
    for n, rg in enumerate(groups[:2]):
        replay.set_count("release", "release-group", rg, 10 + n, hit={"title": "x"})
    # the third is not in the search index yet: only the browse knows it
    replay.set_browse("release", "release-group", groups[2], [release_doc(METEORA)] * 4)
    replay.set_count("release-group", "artist", LINKIN_PARK, 9)
    client.settings = lb_settings(settings, replay.url)
    replay.reset_log()
    res = enrich(db, client, listenbrainz_for(client))
    searches = [r for r in replay.requests if "query" in r.query]
    assert len(searches) == 1 and searches[0].query["query"].startswith("rgid:(")
    facts = stored_facts(db)
    assert facts[(groups[0], "editions")] == (10, "ws/2 search")
    assert facts[(groups[1], "editions")] == (11, "ws/2 search")
    assert facts[(groups[2], "editions")] == (4, "ws/2 browse")
    assert res.facts["editions"] == 3 and res.status == OK, res.problems


def test_listenbrainz_unreachable_ends_partial_with_popularity_unknown(db, replay, run_cli):
    serve_facts(replay)
    assert run_cli("sync", "release", DSOTM).exit_code == 0
    res = run_cli("enrich", "--lb-url", "http://127.0.0.1:9", env={"MBINDEX_RETRIES": "1"})
    assert res.exit_code == 3, res.output
    assert ": partial;" in res.output
    assert "enrich: popularity: ListenBrainz: giving up after 2 attempts: cannot reach ListenBrainz" in res.output
    assert "Traceback" not in res.output
    facts = stored_facts(db)
    assert (DSOTM_RG, "editions") in facts and (DSOTM_RG, "listens") not in facts  # what it got is kept
    run_cli("score")
    assert "no_listens" not in signals(db, DSOTM)
    # the next run asks only for what is still missing
    replay.reset_log()
    res = run_cli("enrich", env={"MBINDEX_LB_URL": replay.url})
    assert res.exit_code == 0, res.output
    assert [r.path for r in replay.requests] == ["/1/popularity/release-group"]


def test_listenbrainz_429_waits_reset_in_and_same_user_agent(replay, settings, client):
    replay.set_popularity(DSOTM_RG, 5, 2)
    replay.inject("status", path_contains="/1/popularity", status=429, body='{"code": 429, "error": "slow down"}',
                  headers={"X-RateLimit-Reset-In": "7", "X-RateLimit-Remaining": "0"})
    waits = []
    lb = ListenBrainz(lb_settings(settings, replay.url), client.user_agent, sleep=waits.append)
    [pop] = lb.popularity([uuid.UUID(DSOTM_RG)])
    assert (pop.listens, pop.listeners) == (5, 2)
    assert 7.0 in waits and lb.stats.retries == 1
    assert {r.user_agent for r in replay.requests} == {client.user_agent}


def test_bad_answers_end_the_phase_partial_never_half_written(db, replay, client, settings):
    doc = release_doc(METEORA)
    store(db, doc)
    rg, artist = doc["release-group"]["id"], doc["artist-credit"][0]["artist"]["id"]
    replay.set_count("release", "release-group", rg, None)  # a browse without release-count
    replay.set_count("release-group", "artist", artist, 12)
    replay.inject("malformed", count=10, path_contains="/1/popularity", body="[{\"release_group_mbid\": ")
    client.settings = lb_settings(settings, replay.url)
    client.settings.retries = 1
    res = enrich(db, client, listenbrainz_for(client))
    assert res.status == PARTIAL
    assert any(p.startswith("editions: ws/2 answered the release browse") and "'release-count'" in p
               for p in res.problems)
    assert any(p.startswith("popularity: ListenBrainz: giving up") and "not valid JSON" in p for p in res.problems)
    assert set(stored_facts(db)) == {(artist, "release_groups")}
    with db.session() as s:
        kind, status, error = s.execute(text("SELECT kind, status, error FROM sync_run")).one()
    assert (kind, status) == ("enrich", "partial") and "popularity" in error


def test_request_budget_ends_partial_and_the_next_run_resumes(db, replay, run_cli):
    serve_facts(replay)
    assert run_cli("sync", "release", DSOTM).exit_code == 0
    res = run_cli("enrich", "--max-requests", "1", env={"MBINDEX_LB_URL": replay.url})
    assert res.exit_code == 3 and "budget" in res.output
    assert set(stored_facts(db)) == {(DSOTM_RG, "editions")}
    replay.reset_log()
    assert run_cli("enrich", env={"MBINDEX_LB_URL": replay.url}).exit_code == 0
    assert len(replay.requests) == 2  # the artist browse and ListenBrainz: not the editions again


def test_after_a_full_dump_the_mirror_counts_editions_without_requests(db, replay, client, settings):
    store(db, release_doc(DSOTM))
    with db.session() as s, s.begin():
        s.execute(text("INSERT INTO dump_import (path, member, entity, fingerprint, status, finished_at) "
                       "VALUES ('/dumps/mbdump-release.tar.xz', 'mbdump/release', 'release', 'x', 'done', now())"))
    replay.set_count("release-group", "artist", PINK_FLOYD, 145)
    client.settings = lb_settings(settings, replay.url)
    replay.reset_log()
    res = enrich(db, client, listenbrainz_for(client))
    assert res.status == OK
    assert stored_facts(db)[(DSOTM_RG, "editions")] == (1, "dump:/dumps/mbdump-release.tar.xz#mbdump/release")
    assert not any("release-group=" in str(r.query) or "query" in r.query for r in replay.requests)


def test_flagged_json_carries_the_facts(db, replay, run_cli):
    serve_facts(replay)
    assert run_cli("sync", "release", DSOTM).exit_code == 0
    assert run_cli("enrich", env={"MBINDEX_LB_URL": replay.url}).exit_code == 0
    run_cli("score")
    rows = json.loads(run_cli("flagged", "-o", "json").output)
    [row] = [r for r in rows if r["mbid"] == DSOTM]
    assert row["facts"]["editions"]["value"] == 25 and row["facts"]["editions"]["source"] == "ws/2 browse"
    assert row["facts"]["release_groups"]["value"] == 145
    exported = json.loads(run_cli("export", "-o", "json").output)
    assert [r["facts"]["listens"] for r in exported if r["mbid"] == DSOTM][0]["source"] == "listenbrainz"
    csv_head = run_cli("export", "-o", "csv").output.splitlines()[0]
    assert csv_head.endswith(",facts")


def test_sync_watched_enrich_fetches_the_facts_of_what_it_synced(db, replay, run_cli):
    serve_facts(replay)
    replay.set_browse("release", "artist", PINK_FLOYD, [release_doc(DSOTM)])
    replay.add_document("artist", {"id": PINK_FLOYD, "name": "Pink Floyd"})
    assert run_cli("watch", "add", "artist", PINK_FLOYD).exit_code == 0
    res = run_cli("sync", "--watched", "--enrich", env={"MBINDEX_LB_URL": replay.url})
    assert res.exit_code == 0, res.output
    assert stored_facts(db)[(DSOTM_RG, "editions")] == (25, "ws/2 browse")
    assert (DSOTM_RG, "listens") in stored_facts(db)


def test_replay_listenbrainz_route_answers_in_order_and_refuses_bad_bodies(replay):
    replay.set_popularity(DSOTM_RG, 10, 3)
    other = str(uuid.uuid4())
    req = lambda body: urllib.request.Request(replay.url + "/1/popularity/release-group", data=body,  # noqa: E731
                                              method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req(json.dumps({"release_group_mbids": [other, DSOTM_RG]}).encode())) as resp:
        answer = json.loads(resp.read())
    assert answer == [{"release_group_mbid": other, "total_listen_count": None, "total_user_count": None},
                      {"release_group_mbid": DSOTM_RG, "total_listen_count": 10, "total_user_count": 3}]
    for bad in (b"not json", json.dumps({"release_group_mbids": ["x"]}).encode(),
                json.dumps({"release_group_mbids": [other] * 1001}).encode()):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req(bad))
        assert err.value.code == 400


def test_a_promo_of_a_famous_album_synced_alone_keeps_its_real_signals_only(db, replay, run_cli):
    """The issue's case: one release of a prolific artist synced alone, then enrich and score."""
    promo = dict(release_doc(DSOTM), status="Promotion", barcode=None)
    promo["media"] = [dict(m, format="Cassette") for m in promo["media"]]
    replay.add_document("release", promo)
    serve_facts(replay)
    assert run_cli("sync", "release", DSOTM).exit_code == 0
    assert run_cli("enrich", env={"MBINDEX_LB_URL": replay.url}).exit_code == 0
    assert run_cli("score").exit_code == 0
    fired = signals(db, DSOTM)
    assert {"risky_status", "fragile_format"} <= fired
    assert "barcode_unknown" not in fired  # 1973: before barcodes were common (policy [context])
    assert not fired & WORLD


def test_ws2_503_and_a_listenbrainz_timeout_are_retried(db, replay, client, settings):
    groups = meteora_in_new_groups(db, 2)
    for rg in groups:
        replay.set_count("release", "release-group", rg, 7)
        replay.set_popularity(rg, 3, 1)
    replay.set_count("release-group", "artist", LINKIN_PARK, 9)
    replay.inject("status", path_contains="query=rgid", status=503)
    replay.inject("slow", path_contains="/1/popularity", delay=3)  # the client waits 2 s at most
    client.settings = lb_settings(settings, replay.url)
    res = enrich(db, client, listenbrainz_for(client))
    assert res.status == OK, res.problems
    assert res.facts == {"editions": 2, "release_groups": 1, "listens": 2, "listeners": 2}
    assert [r.status for r in replay.requests if "query" in r.query] == [503, 200]
    assert len([r for r in replay.requests if r.path == "/1/popularity/release-group"]) == 2


def test_facts_older_than_the_max_age_are_fetched_again(db, replay, run_cli):
    serve_facts(replay)
    assert run_cli("sync", "release", DSOTM).exit_code == 0
    assert run_cli("enrich", env={"MBINDEX_LB_URL": replay.url}).exit_code == 0
    replay.reset_log()
    assert run_cli("enrich", env={"MBINDEX_LB_URL": replay.url}).exit_code == 0
    assert replay.requests == []  # all fresh: nothing to ask
    with db.session() as s, s.begin():
        s.execute(text("UPDATE upstream_fact SET fetched_at = now() - interval '31 days' WHERE fact = 'editions'"))
    replay.set_count("release", "release-group", DSOTM_RG, 26)
    res = run_cli("enrich", env={"MBINDEX_LB_URL": replay.url, "MBINDEX_FACTS_MAX_AGE_DAYS": "30"})
    assert res.exit_code == 0 and len(replay.requests) == 1
    assert stored_facts(db)[(DSOTM_RG, "editions")] == (26, "ws/2 browse")


def test_new_facts_mark_their_releases_for_score_changed(db, replay, run_cli):
    doc = release_doc(METEORA)
    store(db, doc)
    score_all(db)
    replay.set_count("release", "release-group", doc["release-group"]["id"], 1)
    replay.set_count("release-group", "artist", LINKIN_PARK, 40)
    assert run_cli("enrich", env={"MBINDEX_LB_URL": replay.url}).exit_code == 0
    res = run_cli("score", "--changed")
    assert "scored 1 release" in res.output
    assert "only_edition" in signals(db, METEORA)


def test_lb_url_and_facts_max_age_settings_are_checked():
    assert load_settings(environ={}).lb_url == "https://api.listenbrainz.org"
    assert load_settings(environ={"MBINDEX_LB_URL": "http://lb.example:8080/"}).lb_url == "http://lb.example:8080"
    assert load_settings(environ={"MBINDEX_FACTS_MAX_AGE_DAYS": "7"}).facts_max_age_days == 7.0
    for env, message in (({"MBINDEX_LB_URL": "ftp://x"}, "lb_url from environment MBINDEX_LB_URL must look like"),
                         ({"MBINDEX_FACTS_MAX_AGE_DAYS": "-1"}, "facts_max_age_days"),
                         ({"MBINDEX_FACTS_MAX_AGE_DAYS": "nan"}, "facts_max_age_days")):
        with pytest.raises(ConfigError, match=message):
            load_settings(environ=env)


def test_listenbrainz_timeout_bounds_the_whole_answer_by_wall_clock(settings, client):
    """A server that trickles its body a byte every 0.2 s never trips a
    per-read timeout; the attempt still ends at `timeout` (issue 10, item 3)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def trickle():
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        with contextlib.suppress(OSError):
            while not stop.wait(0.2):
                conn.sendall(b" ")
        conn.close()

    threading.Thread(target=trickle, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    lb = ListenBrainz(settings.__class__(**{**settings.__dict__, "lb_url": url, "timeout": 1.0, "retries": 0}),
                      client.user_agent)
    started = time.monotonic()
    try:
        with pytest.raises(GiveUp, match="no answer from ListenBrainz within 1s"):
            lb.popularity([uuid.UUID(DSOTM_RG)])
    finally:
        stop.set()
        listener.close()
    assert time.monotonic() - started < 5


def test_sync_watched_enrich_prints_a_partial_enrich_once(db, replay, run_cli):
    """A ListenBrainz that refuses: enrich ends partial (exit 3) and its
    summary and problem lines are printed once, not again with the exit code."""
    serve_facts(replay)
    replay.set_browse("release", "artist", PINK_FLOYD, [release_doc(DSOTM)])
    assert run_cli("watch", "add", "artist", PINK_FLOYD).exit_code == 0
    replay.inject("status", 1, path_contains="/1/popularity", status=400)

    res = run_cli("sync", "--watched", "--enrich", env={"MBINDEX_LB_URL": replay.url})

    assert res.exit_code == 3, res.output
    assert res.output.count(": ok; ") == 1 and res.output.count(": partial; ") == 1, res.output
    assert res.output.count("enrich: popularity: ") == 1, res.output
