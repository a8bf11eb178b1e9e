"""The ws/2 replay server (tests/replay_server.py, on the demo's indexer/demo/server.py): a real HTTP server on 127.0.0.1,
checked with urllib / http.client and with musicbrainzngs in JSON mode."""

from __future__ import annotations

import copy
import http.client
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
import warnings
from pathlib import Path

import musicbrainzngs
import musicbrainzngs.musicbrainz as _ngs
import pytest

from indexer.demo import server as demo
from replay_server import RATE_LIMITED, ReplayServer, track_count

WS2 = Path(__file__).parent / "fixtures" / "ws2"
METEORA = "c9d52105-5c20-3216-bc1b-e54918f8f688"
TUCSON = "12195c41-6136-4dfd-acf1-9923dadc73e2"  # 19 tracks
DSOTM = "b84ee12a-09ef-421b-82de-0441a926375b"
LABEL = "47e718e1-7ee4-460c-b1cc-1192a841c6e5"  # the label of the recorded musicbrainz_rs browse
ARTIST = "65f4f0c5-ef9e-490c-aee3-909e7ae6b2ab"
COLLECTION = "0b15c97c-8eb8-4b4f-81c3-0eb24266a2ac"
UNKNOWN = "00000000-1111-4222-8333-444444444444"


def fixture(rel: str) -> dict:
    return json.loads((WS2 / rel).read_text(encoding="utf-8"))


@pytest.fixture
def server():
    with ReplayServer() as srv:
        srv.load_dir(WS2)
        yield srv


@pytest.fixture
def ngs(server, monkeypatch):
    """musicbrainzngs pointed at the server; its global settings restored afterwards."""
    for name in ("hostname", "https", "_useragent", "_client", "parser_fun", "ws_format", "do_rate_limit"):
        monkeypatch.setattr(_ngs, name, getattr(_ngs, name))
    musicbrainzngs.set_useragent("mbindex-test", "0", "test@example.org")
    musicbrainzngs.set_hostname(server.hostport, use_https=False)
    with warnings.catch_warnings():  # "The json format is non-official"
        warnings.simplefilter("ignore")
        musicbrainzngs.set_format("json")
    musicbrainzngs.set_rate_limit(False)
    return musicbrainzngs


def get(server, path: str, ua: str = "replay-test/1 ( test@example.org )"):
    """(status, headers, body bytes) of a GET, without following redirects."""
    conn = http.client.HTTPConnection(server.host, int(server.hostport.rsplit(":", 1)[1]), timeout=5)
    try:
        conn.request("GET", path, headers={"User-Agent": ua})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def urlopen(server, path: str):
    req = urllib.request.Request(server.url + path, headers={"User-Agent": "replay-test/1"})
    return urllib.request.urlopen(req, timeout=5)


def copies(doc: dict, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        d = copy.deepcopy(doc)
        d["id"] = str(uuid.uuid4())
        out.append(d)
    return out


# --- lookups -------------------------------------------------------------------


def test_load_dir_loads_only_lookup_recordings(tmp_path):
    with ReplayServer() as srv:
        assert srv.load_dir(WS2) == len(list((WS2 / "release").glob("*.json")))
        (tmp_path / "release").mkdir()
        (tmp_path / "label").mkdir()
        (tmp_path / "release" / "README.txt").write_text("not a recording")
        (tmp_path / "release" / "not-an-mbid.json").write_text("{}")
        (tmp_path / "label" / f"{UNKNOWN}.json").write_text(json.dumps({"id": LABEL, "name": "merged"}))
        assert srv.load_dir(tmp_path) == 1
        # the file name is the MBID answered to (a merged entity answers with its target's id)
        status, _, body = get(srv, f"/ws/2/label/{UNKNOWN}?fmt=json")
        assert status == 200 and json.loads(body)["id"] == LABEL


def test_lookup_serves_the_recorded_document(server):
    status, headers, body = get(server, f"/ws/2/release/{METEORA}?inc=artists+labels&fmt=json")
    assert status == 200
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(body) == fixture(f"release/{METEORA}.json")
    rec = server.requests[-1]
    assert (rec.method, rec.path, rec.status) == ("GET", f"/ws/2/release/{METEORA}", 200)
    assert rec.query == {"inc": "artists labels", "fmt": "json"}


def test_lookup_with_musicbrainzngs(server, ngs):
    result = ngs.get_release_by_id(METEORA, includes=["artists", "labels", "recordings"])
    assert result == fixture(f"release/{METEORA}.json")
    assert track_count(result) == 15  # 13 tracks + 2 data tracks
    rec = server.requests[-1]
    assert rec.user_agent.startswith("mbindex-test/0 python-musicbrainzngs/") and rec.user_agent.endswith("( test@example.org )")
    assert rec.query["fmt"] == "json" and rec.query["inc"].split() == ["artists", "labels", "recordings"]


def test_unknown_mbid_is_404_with_the_real_body(server, ngs):
    status, headers, body = get(server, f"/ws/2/release/{UNKNOWN}?fmt=json")
    assert status == 404 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == fixture("errors/404_not_found.json")
    with pytest.raises(Exception, match="404"):
        ngs.get_release_by_id(UNKNOWN)
    assert server.requests[-1].status == 404


def test_invalid_mbid_is_400_with_the_real_body(server):
    status, _, body = get(server, "/ws/2/release/not-an-mbid?fmt=json")
    assert status == 400
    assert json.loads(body) == fixture("errors/400_invalid_mbid.json")


def test_deleted_release_answers_404(server):
    assert get(server, f"/ws/2/release/{DSOTM}?fmt=json")[0] == 200
    server.delete("release", DSOTM)
    status, _, body = get(server, f"/ws/2/release/{DSOTM}?fmt=json")
    assert status == 404 and json.loads(body)["error"] == "Not Found"
    server.add_document("release", fixture(f"release/{DSOTM}.json"))  # re-adding brings it back
    assert get(server, f"/ws/2/release/{DSOTM}?fmt=json")[0] == 200


def test_redirect_is_301_to_the_same_url_with_the_new_id(server, ngs):
    old = str(uuid.uuid4())
    server.redirect("release", old, TUCSON)
    status, headers, _ = get(server, f"/ws/2/release/{old}?inc=labels&fmt=json")
    assert status == 301
    assert headers["Location"] == f"{server.url}/ws/2/release/{TUCSON}?inc=labels&fmt=json"

    with urlopen(server, f"/ws/2/release/{old}?fmt=json") as resp:  # urllib follows it
        assert resp.geturl().endswith(f"/ws/2/release/{TUCSON}?fmt=json")
        assert json.loads(resp.read())["id"] == TUCSON

    server.reset_log()
    assert ngs.get_release_by_id(old, includes=["labels"])["id"] == TUCSON
    assert [(r.path.rsplit("/", 1)[-1], r.status) for r in server.requests] == [(old, 301), (TUCSON, 200)]


def test_redirect_status_200_serves_the_merge_target_under_the_old_url(server):
    old = str(uuid.uuid4())
    server.redirect("release", old, TUCSON, status=200)
    status, _, body = get(server, f"/ws/2/release/{old}?fmt=json")
    assert status == 200 and json.loads(body)["id"] == TUCSON


# --- browse --------------------------------------------------------------------


def test_browse_pages_by_limit_and_offset(server, ngs):
    recorded = fixture("browse/musicbrainz_rs_release_by_label.json")["releases"]
    docs = recorded + fixture("browse/hqub_release_browse.json")["releases"] + fixture("browse/picard_release_group_2.json")["releases"]
    assert len(docs) == 38
    server.set_browse("release", "label", LABEL, docs)

    first = ngs.browse_releases(label=LABEL)  # default limit 25
    assert set(first) == {"release-count", "release-offset", "releases"}
    assert (first["release-count"], first["release-offset"]) == (38, 0)
    assert first["releases"] == recorded

    seen = []
    offset = 0
    while True:
        page = ngs.browse_releases(label=LABEL, limit=10, offset=offset)
        assert page["release-count"] == 38 and page["release-offset"] == offset
        if not page["releases"]:
            break
        seen += page["releases"]
        offset += len(page["releases"])
    assert [d["id"] for d in seen] == [d["id"] for d in docs]
    rec = server.requests[-1]
    assert rec.path in ("/ws/2/release", "/ws/2/release/") and rec.query["label"] == LABEL


def test_browse_limit_is_capped_at_100(server):
    server.set_browse("release", "artist", ARTIST, copies(fixture(f"release/{DSOTM}.json"), 130))
    status, _, body = get(server, f"/ws/2/release?artist={ARTIST}&limit=500&fmt=json")
    page = json.loads(body)
    assert status == 200 and page["release-count"] == 130 and len(page["releases"]) == 100
    page = json.loads(get(server, f"/ws/2/release?artist={ARTIST}&limit=100&offset=100&fmt=json")[2])
    assert (page["release-offset"], len(page["releases"])) == (100, 30)


def test_browse_with_recordings_stops_before_500_tracks(server, ngs):
    tucson = fixture(f"release/{TUCSON}.json")
    assert track_count(tucson) == 19
    server.set_browse("release", "artist", ARTIST, copies(tucson, 40))

    page = ngs.browse_releases(artist=ARTIST, includes=["recordings"], limit=100)
    assert page["release-count"] == 40
    assert len(page["releases"]) == 26  # 26 * 19 = 494; a 27th would make 513
    rest = ngs.browse_releases(artist=ARTIST, includes=["recordings"], limit=100, offset=26)
    assert len(rest["releases"]) == 14
    assert "recordings" in server.requests[-1].query["inc"].split()
    # without inc=recordings the page is not cut
    assert len(ngs.browse_releases(artist=ARTIST, limit=100)["releases"]) == 40


def test_browse_always_returns_one_release_even_over_500_tracks(server):
    giant = copy.deepcopy(fixture(f"release/{TUCSON}.json"))
    giant["media"] = [copy.deepcopy(giant["media"][0]) for _ in range(30)]
    assert track_count(giant) == 570
    server.set_browse("release", "artist", ARTIST, [giant] + copies(giant, 2))
    page = json.loads(get(server, f"/ws/2/release?artist={ARTIST}&inc=recordings+labels&fmt=json")[2])
    assert page["release-count"] == 3 and len(page["releases"]) == 1


def test_browse_of_unknown_or_invalid_scope(server):
    assert get(server, f"/ws/2/release?artist={UNKNOWN}&fmt=json")[0] == 404
    assert json.loads(get(server, "/ws/2/release?artist=nope&fmt=json")[2])["error"] == "Invalid mbid."
    server.add_document("artist", {"id": ARTIST, "name": "Nobody"})  # known artist, no releases
    status, _, body = get(server, f"/ws/2/release?artist={ARTIST}&fmt=json")
    assert status == 200 and json.loads(body) == {"release-count": 0, "release-offset": 0, "releases": []}


def test_collection_contents_and_browse_by_collection(server, ngs):
    docs = fixture("browse/hqub_release_browse.json")["releases"][:3]
    server.add_document("collection", {"id": COLLECTION, "name": "My Collection", "editor": "JonnyJD",
                                        "type": "Release", "entity-type": "release"})
    server.set_browse("release", "collection", COLLECTION, docs)

    got = ngs.get_releases_in_collection(COLLECTION, limit=2, offset=1)
    assert got == {"id": COLLECTION, "name": "My Collection", "editor": "JonnyJD", "type": "Release",
                   "entity-type": "release", "release-count": 3, "releases": docs[1:3]}
    assert server.requests[-1].path.rstrip("/") == f"/ws/2/collection/{COLLECTION}/releases"
    # past the end ws/2 leaves the list out altogether
    assert "releases" not in ngs.get_releases_in_collection(COLLECTION, limit=2, offset=5)

    page = json.loads(get(server, f"/ws/2/release?collection={COLLECTION}&limit=2&fmt=json")[2])
    assert page == {"release-count": 3, "release-offset": 0, "releases": docs[:2]}
    assert get(server, f"/ws/2/collection/{UNKNOWN}/releases?fmt=json")[0] == 404


# --- search --------------------------------------------------------------------


def test_search(server, ngs):
    recorded = fixture("search/musicbrainz_rs_release_drivers_license.json")
    hits = [{k: v for k, v in h.items() if k != "score"} for h in recorded["releases"]]
    server.set_search("release", '"drivers license"', hits)

    res = ngs.search_releases(query='"drivers license"', limit=10, offset=20)
    assert set(res) == {"created", "count", "offset", "releases"}
    assert (res["count"], res["offset"], len(res["releases"])) == (25, 20, 5)
    assert all(h["score"] == 100 for h in res["releases"])
    assert [h["id"] for h in res["releases"]] == [h["id"] for h in hits[20:]]
    assert server.requests[-1].query["query"] == '"drivers license"'

    assert ngs.search_releases(query="nothing like this")["count"] == 0
    assert ngs.search_releases(query="nothing like this")["releases"] == []


def test_search_limit_default_and_cap(server):
    hits = fixture("search/musicbrainzws2_java_release_limit100.json")["releases"]
    server.set_search("release", "release:x AND y", hits + copies(hits[0], 20))
    res = json.loads(get(server, "/ws/2/release?query=release%3Ax+AND+y&fmt=json")[2])
    assert (res["count"], len(res["releases"])) == (120, 25)
    assert res["releases"][0]["score"] == hits[0]["score"]  # a recorded score is kept
    res = json.loads(get(server, "/ws/2/release?query=release%3Ax%20AND%20y&limit=1000&fmt=json")[2])
    assert len(res["releases"]) == 100


# --- faults --------------------------------------------------------------------


def test_status_fault_with_retry_after_then_normal(server):
    server.inject("status", status=503, retry_after=7)
    with pytest.raises(urllib.error.HTTPError) as err:
        urlopen(server, f"/ws/2/release/{METEORA}?fmt=json")
    assert err.value.code == 503 and err.value.headers["Retry-After"] == "7"
    assert json.loads(err.value.read()) == RATE_LIMITED
    with urlopen(server, f"/ws/2/release/{METEORA}?fmt=json") as resp:  # only one request was hit
        assert resp.status == 200
    assert [(r.status, r.fault) for r in server.requests] == [(503, "status"), (200, None)]


def test_status_fault_without_retry_after_and_count(server):
    server.inject("status", 2, status=500)
    for _ in range(2):
        status, headers, _ = get(server, f"/ws/2/release/{METEORA}?fmt=json")
        assert status == 500 and "Retry-After" not in headers
    assert get(server, f"/ws/2/release/{METEORA}?fmt=json")[0] == 200


def test_faults_apply_in_order_to_matching_paths(server):
    server.inject("status", status=502, path_contains=DSOTM)
    server.inject("malformed")
    server.inject("status", status=503, path_contains=DSOTM)
    assert get(server, f"/ws/2/release/{METEORA}?fmt=json")[0:1] == (200,)  # "malformed": first that matches
    assert get(server, f"/ws/2/release/{DSOTM}?fmt=json")[0] == 502
    assert get(server, f"/ws/2/release/{DSOTM}?fmt=json")[0] == 503
    assert get(server, f"/ws/2/release/{DSOTM}?fmt=json")[0] == 200
    assert [r.fault for r in server.requests] == ["malformed", "status", "status", None]
    server.inject("reset", 5)
    server.clear_faults()
    assert get(server, f"/ws/2/release/{DSOTM}?fmt=json")[0] == 200


def test_reset_fault_drops_the_connection(server):
    server.inject("reset")
    with pytest.raises((ConnectionError, http.client.HTTPException, urllib.error.URLError)):
        urlopen(server, f"/ws/2/release/{METEORA}?fmt=json").read()
    rec = server.requests[-1]
    assert (rec.status, rec.fault) == (0, "reset")
    assert get(server, f"/ws/2/release/{METEORA}?fmt=json")[0] == 200


def test_slow_fault_delays_then_answers(server):
    server.inject("slow", delay=0.3)
    start = time.monotonic()
    status, _, body = get(server, f"/ws/2/release/{METEORA}?fmt=json")
    elapsed = time.monotonic() - start
    assert status == 200 and json.loads(body)["id"] == METEORA
    assert 0.3 <= elapsed < 0.9
    # and a client with a shorter timeout sees a timeout
    server.inject("slow", delay=0.3)
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        urllib.request.urlopen(server.url + f"/ws/2/release/{METEORA}?fmt=json", timeout=0.1).read()


def test_truncated_fault(server):
    server.inject("truncated")
    with pytest.raises(http.client.IncompleteRead) as err:
        get(server, f"/ws/2/release/{METEORA}?fmt=json")
    full = len(json.dumps(fixture(f"release/{METEORA}.json"), ensure_ascii=False).encode())
    assert err.value.expected == full - len(err.value.partial)
    assert len(err.value.partial) == full // 2


def test_malformed_fault(server):
    server.inject("malformed")
    status, headers, body = get(server, f"/ws/2/release/{METEORA}?fmt=json")
    assert status == 200 and "json" in headers["Content-Type"]
    with pytest.raises(ValueError):
        json.loads(body)


def test_html_fault(server):
    server.inject("html")
    status, headers, body = get(server, f"/ws/2/release/{METEORA}?fmt=json")
    assert status == 502 and headers["Content-Type"].startswith("text/html") and b"502 Bad Gateway" in body
    server.inject("html", status=200)
    status, headers, body = get(server, f"/ws/2/release/{METEORA}?fmt=json")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and body.lstrip().startswith(b"<html>")


def test_wrong_type_fault(server):
    server.inject("wrong_type")
    status, headers, body = get(server, f"/ws/2/release/{METEORA}?fmt=json")
    assert status == 200 and headers["Content-Type"].startswith("text/xml")
    assert body.startswith(b"<?xml") and METEORA.encode() in body


def test_unknown_fault_kind_is_refused(server):
    with pytest.raises(ValueError):
        server.inject("teapot")


# --- log and lifecycle ---------------------------------------------------------


def test_request_log_records_arrival_times_and_user_agents(server):
    before = time.monotonic()
    get(server, f"/ws/2/release/{METEORA}?fmt=json", ua="a/1")
    get(server, f"/ws/2/release/{UNKNOWN}?fmt=json", ua="b/2")
    conn = http.client.HTTPConnection(server.host, int(server.hostport.rsplit(":", 1)[1]), timeout=5)
    conn.request("GET", f"/ws/2/release/{TUCSON}?fmt=json", headers={"User-Agent": "c/3"})
    conn.getresponse().read()
    conn.request("GET", f"/ws/2/release/{DSOTM}?fmt=json", headers={"User-Agent": "c/3"})  # same keep-alive connection
    assert conn.getresponse().status == 200
    conn.close()
    recs = list(server.requests)
    assert [(r.user_agent, r.status) for r in recs] == [("a/1", 200), ("b/2", 404), ("c/3", 200), ("c/3", 200)]
    times = [r.t for r in recs]
    assert before <= times[0] <= times[1] <= times[2] <= times[3] <= time.monotonic()
    server.reset_log()
    assert server.requests == []


def test_stop_is_quick_even_with_an_idle_keep_alive_connection():
    srv = ReplayServer().start()
    assert srv.url == f"http://{srv.hostport}" and srv.hostport.startswith("127.0.0.1:")
    conn = http.client.HTTPConnection("127.0.0.1", int(srv.hostport.rsplit(":", 1)[1]), timeout=5)
    conn.request("GET", f"/ws/2/release/{UNKNOWN}?fmt=json")
    conn.getresponse().read()
    srv.inject("slow", delay=5)

    def slow_client():
        try:
            get(srv, "/ws/2/release?query=x&fmt=json")
        except Exception:
            pass

    threading.Thread(target=slow_client, daemon=True).start()
    time.sleep(0.05)
    start = time.monotonic()
    srv.stop()
    assert time.monotonic() - start < 1.0
    conn.close()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://{srv.host}:{conn.port}/ws/2/release/{METEORA}", timeout=1)


# --- the demo's server (indexer/demo/server.py), which the tests' server extends --------


def test_the_demo_server_answers_lookups_of_the_bundled_recordings_and_nothing_else():
    bundled = Path(demo.__file__).parent
    with demo.ReplayServer() as srv:
        assert srv.load_dir(bundled) == len(list((bundled / "release").glob("*.json"))) > 0
        status, headers, body = get(srv, f"/ws/2/release/{METEORA}?inc=artists+labels&fmt=json")
        assert status == 200 and headers["Content-Type"] == "application/json; charset=utf-8"
        assert json.loads(body) == json.loads((bundled / "release" / f"{METEORA}.json").read_text(encoding="utf-8"))
        assert json.loads(get(srv, f"/ws/2/release/{UNKNOWN}?fmt=json")[2]) == fixture("errors/404_not_found.json")
        assert json.loads(get(srv, "/ws/2/release/nope?fmt=json")[2]) == fixture("errors/400_invalid_mbid.json")
        assert get(srv, f"/ws/2/release?artist={ARTIST}&fmt=json")[0] == 404  # no browses, searches, counts
        req = urllib.request.Request(srv.url + "/1/popularity/release-group", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=5)
        assert err.value.code == 405
        assert [r.status for r in srv.requests] == [200, 404, 400, 404, 405]
        assert not hasattr(srv, "inject") and not hasattr(srv.requests[0], "fault")
    assert issubclass(ReplayServer, demo.ReplayServer)
