"""Mark safely (issue 22): curators with tokens of their own (only a hash
stored), the mark control with no preselected status, and bulk marks that
ask for confirmation."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from helpers import CORPUS, RICH, release_doc, score_all, store
from indexer.analysis.curators import add_curator, curator_for_token, list_curators, remove_curator
from indexer.web.app import create_app

METEORA = RICH["c9d52105"]
SHARED = "0123456789abcdef-shared"


@pytest.fixture
def mirror(db):
    for mbid in CORPUS:
        store(db, release_doc(mbid))
    score_all(db)
    return db


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


def history(db, mbid) -> list[tuple]:
    with db.session() as s:
        return s.execute(text("SELECT status, marked_by FROM curation_mark WHERE release_mbid = :m ORDER BY id"),
                         {"m": mbid}).all()


def test_curator_commands_print_the_token_once_and_keep_its_hash(db, run_cli):
    res = run_cli("-q", "curator", "add", "Ana Núñez")
    assert res.exit_code == 0, res.output
    token = res.output.strip()
    assert len(token) >= 40
    with db.session() as s:
        stored = s.execute(text("SELECT name, token_sha256 FROM curator")).all()
    assert stored == [("Ana Núñez", hashlib.sha256(token.encode()).hexdigest())]
    assert token not in run_cli("curator", "list", "--json").output
    assert "Ana Núñez" in run_cli("curator", "list").output
    again = run_cli("curator", "add", "Ana Núñez")
    assert again.exit_code == 2 and "already a curator" in again.output
    assert run_cli("curator", "add", "a\tb").exit_code == 2
    assert run_cli("curator", "remove", "Bo").exit_code == 1
    assert curator_for_token(db, token) == "Ana Núñez"
    assert run_cli("-q", "curator", "remove", "Ana Núñez").exit_code == 0
    assert curator_for_token(db, token) is None and list_curators(db) == []


def test_a_curator_token_opens_the_pages_and_signs_the_marks(mirror):
    ana = add_curator(mirror, "ana")
    bo = add_curator(mirror, "bo")
    with TestClient(create_app(mirror)) as web:
        assert web.get("/").status_code == 401  # curators exist: the pages are closed
        res = web.get(f"/?token={ana}", follow_redirects=False)
        assert res.status_code == 303 and res.headers["location"] == "/"
        html = web.get(f"/release/{METEORA}").text
        assert 'class="curator">ana<' in html and 'name="by"' not in html
        res = web.post(f"/release/{METEORA}/mark", follow_redirects=False,
                       data={"csrf": csrf_of(html), "status": "in-progress", "by": "mallory"})
        assert res.status_code == 303
    assert history(mirror, METEORA) == [("in-progress", "ana")]
    with TestClient(create_app(mirror)) as web:
        assert web.get("/", headers={"Authorization": f"Bearer {bo}"}).status_code == 200
        remove_curator(mirror, "bo")
        res = web.get("/", headers={"Authorization": f"Bearer {bo}"})
        assert (res.status_code, res.text) == (401, "401 Unauthorized")  # removed: no detail
        for junk in ("x" * 43, "", "' OR 1=1 --"):
            res = web.get("/", headers={"Authorization": f"Bearer {junk}"})
            assert res.status_code == 401 and "curator" not in res.text.replace("curator add", "")


def test_removing_the_last_curator_does_not_open_a_running_server(mirror):
    """Shutting the last curator out must not let everyone in: the pages stay
    closed until `serve` is restarted (then open, on loopback, as before)."""
    with TestClient(create_app(mirror)) as web:
        assert web.get("/").status_code == 200  # no curator, no serve_token: an open install
        ana = add_curator(mirror, "ana")
        assert web.get("/").status_code == 401  # guarded from the first curator on
        assert web.get("/", headers={"Authorization": f"Bearer {ana}"}).status_code == 200
        remove_curator(mirror, "ana")
        assert web.get("/", headers={"Authorization": f"Bearer {ana}"}).status_code == 401
        assert web.get("/").status_code == 401  # still closed: nobody was let in by the removal
    with TestClient(create_app(mirror)) as web:
        assert web.get("/").status_code == 200  # restarted without curators: open again


def test_the_shared_token_still_works_beside_curators(mirror):
    add_curator(mirror, "ana")
    with TestClient(create_app(mirror, token=SHARED)) as web:
        html = web.get("/", headers={"Authorization": f"Bearer {SHARED}"}).text
        assert 'name="by"' in html  # one-person install: who marks is typed
        res = web.post(f"/release/{METEORA}/mark", follow_redirects=False,
                       headers={"Authorization": f"Bearer {SHARED}"},
                       data={"csrf": csrf_of(html), "status": "ignored", "by": "solo"})
        assert res.status_code == 303
    assert history(mirror, METEORA) == [("ignored", "solo")]


def test_the_mark_control_starts_on_no_status(mirror):
    with TestClient(create_app(mirror)) as web:
        html = web.get(f"/release/{METEORA}").text
        select = html.split('<select name="status" required>', 1)[1].split("</select>", 1)[0]
        assert '<option value="" selected disabled>' in select
        assert select.count("selected") == 1
        res = web.post(f"/release/{METEORA}/mark", data={"csrf": csrf_of(html), "status": ""})
        assert res.status_code == 400 and "choose a status" in res.text
    assert history(mirror, METEORA) == []


def test_a_bulk_mark_is_confirmed_naming_how_many_and_which_status(mirror):
    chosen = CORPUS[:3]
    with TestClient(create_app(mirror)) as web:
        html = web.get("/").text
        assert 'action="/mark/confirm"' in html
        form = {"csrf": csrf_of(html), "status": "preserved", "note": "on tape <3", "by": "cy", "mbid": chosen,
                "next": "/?country=JP"}
        page = web.post("/mark/confirm", data=form)
        assert page.status_code == 200
        assert "Mark 3 release(s) as preserved?" in page.text and "on tape &lt;3" in page.text
        assert all(history(mirror, m) == [] for m in chosen)  # nothing marked yet
        hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
        assert hidden["status"] == "preserved" and hidden["next"] == "/?country=JP"
        assert re.findall(r'name="mbid" value="([^"]+)"', page.text) == chosen
        res = web.post("/mark", data=dict(form, csrf=csrf_of(page.text)), follow_redirects=False)
        assert res.status_code == 303 and res.headers["location"] == "/?country=JP"
        assert web.post("/mark/confirm", data=dict(form, status="")).status_code == 400
        assert web.post("/mark/confirm", data=dict(form, mbid=[])).status_code == 400
    assert all(history(mirror, m) == [("preserved", "cy")] for m in chosen)
