"""The curators' web pages over HTTP (Starlette's test client, real
PostgreSQL): the worklist and its filters, count, paging and downloads; a
release with all its evidence and the diff of two revisions; marking, from
one page and several at once, with CSRF and while a sync holds the writer
lock; escaping; 400s and 404s; the token gate and the bind rule."""

from __future__ import annotations

import asyncio
import copy
import re
import socket
import uuid

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import text
from starlette.testclient import TestClient

from helpers import CORPUS, RICH, release_doc, score_all, store
from indexer import runs
from indexer.analysis import revisions
from indexer.analysis.curation import Filters, flagged_in
from indexer.analysis.revisions import count_flagged_in
from indexer.cli import cli
from indexer.config import ConfigError, load_settings
from indexer.db import Database
from indexer.store.facts import Fact, save_facts
from indexer.web import routes
from indexer.web.app import create_app
from indexer.web.bind import BindError, check_bind, is_loopback, listening_socket

METEORA = RICH["c9d52105"]
HOSTILE = "<script>alert('x')</script> & \"friends\""
TOKEN = "0123456789abcdef-test"


def fill(db) -> dict:
    """The recorded corpus, plus a cassette bootleg with a hostile title."""
    for mbid in CORPUS:
        store(db, release_doc(mbid))
    tape = copy.deepcopy(release_doc(METEORA))
    tape.update(id=str(uuid.uuid4()), title=HOSTILE, status="Bootleg", barcode="", country="US", date="1999")
    tape["media"][0]["format"] = "Cassette"
    tape["release-group"]["id"] = str(uuid.uuid4())
    store(db, tape)
    score_all(db)
    return {"tape": tape["id"]}


@pytest.fixture
def mirror(db):
    return fill(db)


@pytest.fixture
def web(db):
    with TestClient(create_app(db), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def ro(pg_server):
    """(db, mirror, web) shared by the tests that only read (a database per
    test costs seconds on a busy machine); tests that write get their own."""
    name = pg_server.create()
    database = Database(pg_server.url_for(name))
    mirror = dict(fill(database), url=pg_server.url_for(name))
    with TestClient(create_app(database), raise_server_exceptions=False) as client:
        yield database, mirror, client
    database.dispose()
    pg_server.drop(name)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def listed(html: str) -> list[str]:
    """The MBIDs of the worklist rows, in order."""
    return re.findall(r'name="mbid" value="([0-9a-f-]{36})"', html)


def default_worklist(db) -> list[str]:
    with db.session() as s:
        return [str(r["mbid"]) for r in flagged_in(s, Filters(limit=None))]


def test_worklist_lists_the_flagged_releases_with_their_count(ro):
    db, mirror, web = ro
    expected = default_worklist(db)
    res = web.get("/")
    assert res.status_code == 200
    assert listed(res.text) == expected
    assert re.search(r'id="match-count">(\d+)<', res.text).group(1) == str(len(expected))
    assert "/static/style.css" in res.text and web.get("/static/style.css").status_code == 200
    assert "http" not in re.sub(r'https://musicbrainz\.org[^"<]*', "", res.text).split("<main>")[0]  # no CDN


def test_filters_are_query_parameters_named_like_the_cli_options(ro):
    db, mirror, web = ro
    assert listed(web.get("/?format=Cassette").text) == [mirror["tape"]]
    assert listed(web.get("/?status=Bootleg&country=US").text) == [mirror["tape"]]
    with db.session() as s:
        jp = {str(r["mbid"]) for r in flagged_in(s, Filters(country="JP", limit=None))}
        high = [str(r["mbid"]) for r in flagged_in(s, Filters(min_score=40, sort="title", limit=None))]
    assert jp and set(listed(web.get("/?country=JP").text)) == jp
    assert listed(web.get("/?min_score=40&sort=title").text) == high
    # empty form fields filter nothing
    assert listed(web.get("/?format=&country=&min_score=").text) == default_worklist(db)


def test_paging_keeps_the_filters(ro):
    db, mirror, web = ro
    expected = default_worklist(db)
    assert len(expected) > 4
    first = web.get("/?limit=3&sort=title")
    assert len(listed(first.text)) == 3
    link = re.search(r'rel="next" href="([^"]+)"', first.text).group(1).replace("&amp;", "&")
    assert "sort=title" in link and "page=2" in link
    with db.session() as s:
        by_title = [str(r["mbid"]) for r in flagged_in(s, Filters(sort="title", limit=None))]
    assert listed(web.get(link).text) == by_title[3:6]


def test_count_is_capped_and_gives_up_rather_than_hold_up_the_page(db, mirror, database_url):
    every = len(default_worklist(db))
    with db.session() as s:
        assert count_flagged_in(s, Filters()) == (every, False)
        assert count_flagged_in(s, Filters(), cap=3) == (3, True)
    blocker = psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"))
    blocker.execute("LOCK TABLE curation_state IN ACCESS EXCLUSIVE MODE")  # counting must wait for it
    try:
        with db.session() as s:
            assert count_flagged_in(s, Filters(), budget_ms=100) == (None, True)
            blocker.rollback()
            # the session goes on, without the time limit
            assert s.execute(text("SELECT current_setting('statement_timeout')")).scalar_one() == "0"
            assert len(flagged_in(s, Filters(limit=None))) == every
    finally:
        blocker.close()


def test_worklist_without_a_count_still_pages(mirror, web, monkeypatch):
    monkeypatch.setattr(revisions, "count_flagged_in", lambda s, f: (None, True))
    html = web.get("/?limit=2").text
    assert 'id="match-count">2+<' in html and "a full count took too long" in html
    assert 'rel="next" href="/?limit=2&amp;page=2"' in html


BAD_QUERIES = [
    ("min_score=abc", "min_score must be a whole number"),
    ("min_score=101", "min_score must be between 0 and 100"),
    ("year_from=19x", "year_from must be a whole number"),
    ("label=A%00B", "label must not contain NUL"),
    ("curation=lost", "curation must be one of open, in-progress, preserved, ignored"),
    ("sort=price", "sort must be one of score, date, title"),
    ("page=0", "page must be between"),
    ("limit=100000", "limit must be between 1 and 1000"),
    ("country=G%00B", "country must not contain NUL"),
]


def test_bad_query_parameters_answer_400_with_a_message(web):
    for query, says in BAD_QUERIES:
        res = web.get("/?" + query)
        assert (res.status_code, says in res.text) == (400, True), query
        assert "Traceback" not in res.text


def test_an_unexpected_error_is_a_500_page_and_one_log_line(web, monkeypatch, capfd):
    def broken(session, f):
        raise RuntimeError("connection lost\nTraceback (most recent call last): ...")

    monkeypatch.setattr(routes, "worklist_page", broken)
    res = web.get("/")
    assert res.status_code == 500 and "RuntimeError" in res.text and "connection lost" not in res.text
    err = capfd.readouterr().err
    assert err.splitlines() == ["mbindex serve: GET /: RuntimeError: connection lost"]


def test_unknown_and_malformed_mbids_answer_404(web):
    res = web.get(f"/release/{uuid.uuid4()}")
    assert res.status_code == 404 and "is not in the mirror" in res.text
    assert web.get("/release/not-an-mbid").status_code == 404
    assert web.get(f"/release/{METEORA}/diff?a=1&b=999999").status_code == 404


def test_user_text_is_escaped_everywhere(ro):
    db, mirror, web = ro
    for page in ("/?format=Cassette", f"/release/{mirror['tape']}"):
        html = web.get(page).text
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;friends&#34;" in html


def test_a_non_http_link_is_shown_but_not_clickable(db, web):
    doc = copy.deepcopy(release_doc(METEORA))
    doc["relations"] = [{"type": "discogs", "target-type": "url", "url": {"resource": "javascript:alert(1)"}},
                        {"type": "discogs", "target-type": "url", "url": {"resource": "https://www.discogs.com/x"}}]
    store(db, doc)
    html = web.get(f"/release/{METEORA}").text
    assert "javascript:alert(1)" in html and 'href="javascript:' not in html
    assert 'href="https://www.discogs.com/x"' in html


def test_release_page_shows_what_show_prints(ro):
    db, mirror, web = ro
    mbid = RICH["94ad3a58"]  # with URL relationships
    doc = release_doc(mbid)
    html = web.get(f"/release/{mbid}").text
    assert f'href="https://musicbrainz.org/release/{mbid}"' in html
    tracks = [t["title"] for md in doc["media"] for t in md["tracks"]]
    assert tracks and all(t.replace("'", "&#39;") in html for t in tracks)
    catnos = [li["catalog-number"] for li in doc["label-info"] if li.get("catalog-number")]
    assert catnos and all(c in html for c in catnos)
    links = [r["url"]["resource"] for r in doc["relations"] if r.get("target-type") == "url"]
    assert links and all(f'href="{u}"' in html for u in links)
    assert "api" in html and "Revisions" in html
    policy = web.app.state.policy
    with db.session() as s:
        (row,) = [r for r in flagged_in(s, Filters(limit=None)) if str(r["mbid"]) == mirror["tape"]]
    html = web.get(f"/release/{mirror['tape']}").text
    assert f'<strong class="score">{row["score"]}</strong>' in html
    assert row["signals"] and all(policy.explain(sig).replace("'", "&#39;") in html for sig in row["signals"])


def test_keys_show_adds_later_appear_on_the_release_page(ro, monkeypatch):
    db, mirror, web = ro
    real = routes.show

    def with_facts(session, mbid, policy):
        info = real(session, mbid, policy)
        info["provenance"] = [{"fact": "archived copies", "value": 1234, "source": "archive-<b>"}]
        return info

    monkeypatch.setattr(routes, "show", with_facts)
    html = web.get(f"/release/{METEORA}").text
    section = html.split('id="extra-provenance"', 1)[1].split("</section>", 1)[0]
    assert "archived copies" in section and "1234" in section and "archive-&lt;b&gt;" in section


def test_release_page_shows_the_upstream_facts_with_source_and_date(db, mirror, web):
    doc = release_doc(METEORA)
    group = uuid.UUID(doc["release-group"]["id"])
    save_facts(db, [Fact("release-group", group, "editions", 7, "ws/2 <browse>")], None)
    section = web.get(f"/release/{METEORA}").text.split('id="facts"', 1)[1].split("</section>", 1)[0]
    assert re.search(r"<td>editions of its release group</td><td>7</td>.*ws/2 &lt;browse&gt;.*"
                     r"\d{4}-\d\d-\d\d \d\d:\d\d", section, re.S)
    assert "ListenBrainz listens" in section and "unknown (not fetched" in section


def test_revision_diff_shows_what_changed(db, web):
    doc = release_doc(METEORA)
    store(db, doc)
    changed = copy.deepcopy(doc)
    changed["title"] = "Meteora (remaster)"
    store(db, changed)
    html = web.get(f"/release/{METEORA}").text
    ids = re.findall(r'name="b" value="(\d+)"', html)
    assert len(ids) == 2
    diff = web.get(f"/release/{METEORA}/diff?a={ids[0]}&b={ids[1]}").text
    assert '<span class="del">-  &#34;title&#34;: &#34;Meteora&#34;</span>' in diff
    assert '<span class="add">+  &#34;title&#34;: &#34;Meteora (remaster)&#34;</span>' in diff
    assert web.get(f"/release/{METEORA}/diff?a=x&b={ids[1]}").status_code == 400


def _history(web, mbid) -> str:
    html = web.get(f"/release/{mbid}").text
    return html.split('id="curation-history"', 1)[1].split("</table>", 1)[0]


def test_marking_needs_the_csrf_token_of_this_browser(db, mirror, web):
    form = {"status": "preserved", "note": "copied to tape archive", "by": "ana", "next": "/"}
    assert web.post(f"/release/{METEORA}/mark", data=form).status_code == 403
    assert web.post(f"/release/{METEORA}/mark", data=dict(form, csrf="0" * 64)).status_code == 403
    assert "Never marked" in web.get(f"/release/{METEORA}").text
    # a token issued to another browser does not work with this browser's cookie
    with TestClient(web.app) as other:
        foreign = csrf_of(other.get("/").text)
    web.get("/")  # this browser's cookie
    assert web.post(f"/release/{METEORA}/mark", data=dict(form, csrf=foreign)).status_code == 403
    assert "Never marked" in web.get(f"/release/{METEORA}").text


def test_mark_from_the_release_page_keeps_who_when_and_why(db, mirror, web):
    token = csrf_of(web.get(f"/release/{METEORA}").text)
    res = web.post(f"/release/{METEORA}/mark", follow_redirects=False,
                   data={"csrf": token, "status": "in-progress", "note": "<i>ripping</i>", "by": "ana",
                         "next": f"/release/{METEORA}"})
    assert res.status_code == 303 and res.headers["location"] == f"/release/{METEORA}"
    page = web.get(f"/release/{METEORA}").text
    assert 'id="curation-state">in-progress<' in page
    history = _history(web, METEORA)
    assert "ana" in history and "&lt;i&gt;ripping&lt;/i&gt;" in history
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", history)
    assert "marked 1 release(s) in-progress" in page  # the flash, shown once
    assert "marked 1 release(s)" not in web.get(f"/release/{METEORA}").text


def test_marking_several_from_the_worklist_removes_them_from_it(db, mirror, web):
    before = listed(web.get("/").text)
    chosen = before[:2]
    token = csrf_of(web.get("/").text)
    res = web.post("/mark", data={"csrf": token, "status": "preserved", "note": "done", "by": "bo",
                                  "mbid": chosen, "next": "https://evil.example/"}, follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"] == "/"  # never off-site
    for sneaky in ("//evil.example/", "/\t/evil.example/", "/\\evil.example/"):
        res = web.post("/mark", data={"csrf": token, "status": "preserved", "mbid": chosen, "next": sneaky},
                       follow_redirects=False)
        assert res.headers["location"] == "/", sneaky
    after = listed(web.get("/").text)
    assert after == [m for m in before if m not in chosen]
    assert set(listed(web.get("/?curation=preserved").text)) == set(chosen)
    assert web.post("/mark", data={"csrf": token, "status": "preserved"}).status_code == 400
    assert web.post("/mark", data={"csrf": token, "status": "lost", "mbid": chosen}).status_code == 400


def test_marking_works_while_a_sync_holds_the_writer_lock(db, mirror, web):
    token = csrf_of(web.get("/").text)
    with runs.writer(db, "sync"):
        res = web.post(f"/release/{METEORA}/mark", follow_redirects=False,
                       data={"csrf": token, "status": "ignored", "note": "dup", "by": "cy"})
    assert res.status_code == 303
    assert "dup" in _history(web, METEORA)


def exported(database_url, path, *args) -> bytes:
    env = {"MBINDEX_DATABASE_URL": database_url, "XDG_CONFIG_HOME": str(path.parent / "xdg")}
    res = CliRunner().invoke(cli, ["-q", "export", "--to", str(path), *args], env=env)
    assert res.exit_code == 0, res.output
    return path.read_bytes()


def test_download_is_the_same_file_as_export(ro, tmp_path):
    db, mirror, web = ro
    for fmt in ("csv", "json"):
        res = web.get(f"/export?output={fmt}&format=Cassette&limit=1&page=1")
        assert res.status_code == 200
        assert "attachment" in res.headers["content-disposition"]
        assert res.content == exported(mirror["url"], tmp_path / f"x.{fmt}", "-o", fmt, "--format", "Cassette")
    assert web.get("/export?output=csv").content == exported(mirror["url"], tmp_path / "all.csv", "-o", "csv")
    assert web.get("/export?output=xlsx").status_code == 400
    html = web.get("/?format=Cassette&page=1").text
    assert 'href="/export?format=Cassette&amp;output=csv"' in html


def test_overview_shows_figures_charts_and_the_last_runs(db, mirror, web):
    run = runs.Run(db, "sync", "release", "x")
    run.finish(runs.FAILED, error="ws/2 <unreachable>")
    html = web.get("/overview").text
    assert "<svg" in html and "Risk score histogram" in html
    assert re.search(r"<th>releases</th><td class=\"num\">%d</td>" % (len(CORPUS) + 1), html)
    assert 'class="run-status failed"' in html and "ws/2 &lt;unreachable&gt;" in html


def test_a_token_guards_every_page(ro):
    db, _, _ = ro
    with TestClient(create_app(db, token=TOKEN)) as client:
        assert client.get("/").status_code == 401
        assert client.get("/static/style.css").status_code == 401
        assert client.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        res = client.get(f"/?token={TOKEN}&format=Cassette", follow_redirects=False)
        assert res.status_code == 303 and res.headers["location"] == "/?format=Cassette"
        assert client.get("/?format=Cassette").status_code == 200  # the cookie now
    with TestClient(create_app(db, token=TOKEN)) as client:
        assert client.get("/?token=wrong-token-of-16-chars").status_code == 401


def test_serve_binds_beyond_loopback_only_with_a_token(tmp_path):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.org"))
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", TOKEN)
    with pytest.raises(BindError):
        check_bind("0.0.0.0", None)
    env = {"XDG_CONFIG_HOME": str(tmp_path), "MBINDEX_SERVE_TOKEN": ""}
    res = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"], env=env)  # refused before any database
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        "Error: refusing to serve on 0.0.0.0: other machines could read and mark releases; set serve_token "
        "(MBINDEX_SERVE_TOKEN) or bind to 127.0.0.1"]


def test_serve_token_setting_is_checked_and_masked():
    settings = load_settings(environ={"MBINDEX_SERVE_TOKEN": TOKEN})
    assert settings.serve_token == TOKEN and settings.masked()["serve_token"] == "***"
    with pytest.raises(ConfigError, match="at least 16 printable ASCII"):
        load_settings(environ={"MBINDEX_SERVE_TOKEN": "short"})


def test_serve_s_own_socket_answers_without_nagle_delay():
    """`serve` binds its socket itself (so a port in use is exit 2): a socket
    made without proto IPPROTO_TCP gets no TCP_NODELAY from asyncio, and every
    keep-alive answer waited ~40 ms for a delayed ACK (bench_web: 44 ms for a
    static file instead of 1-2 ms)."""
    async def accepted_nodelay() -> int:
        got = asyncio.get_running_loop().create_future()

        async def handle(reader, writer):
            got.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        sock = listening_socket("127.0.0.1", 0)
        server = await asyncio.start_server(handle, sock=sock)
        async with server:
            _r, w = await asyncio.open_connection(*sock.getsockname()[:2])
            value = await asyncio.wait_for(got, 5)
            w.close()
        return value

    assert asyncio.run(accepted_nodelay()) != 0
