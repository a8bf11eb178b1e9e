"""The curators' pages in a real browser: Debian's chromium driven by
Playwright (launched with executable_path: `playwright install` cannot
download browsers here), against the real uvicorn server on a free port.

Skipped (with the reason) only when chromium or Playwright is missing;
`.ci/run` installs both."""

from __future__ import annotations

import copy
import shutil
import uuid

import pytest

from helpers import CORPUS, RICH, release_doc, score_all, store
from indexer.web.app import create_app
from indexer.web.server import background

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")


@pytest.fixture
def site(db):
    for mbid in CORPUS:
        store(db, release_doc(mbid))
    tape = copy.deepcopy(release_doc(RICH["c9d52105"]))
    tape.update(id=str(uuid.uuid4()), title="Meteora (live tape)", status="Bootleg", barcode="", country="US")
    tape["media"][0]["format"] = "Cassette"
    tape["release-group"]["id"] = str(uuid.uuid4())
    store(db, tape)
    score_all(db)
    with background(create_app(db)) as url:
        yield url, tape["id"]


@pytest.fixture
def browser_page():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.set_default_timeout(10_000)
        yield page
        browser.close()


def test_filter_open_mark_and_see_it_leave_the_worklist(site, browser_page):
    url, tape = site
    page = browser_page
    page.goto(url + "/")
    assert page.locator("table.worklist tbody tr").count() == len(CORPUS) + 1

    page.fill("form.filters input[name=format] >> nth=-1", "Cassette")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/?*format=Cassette*")
    rows = page.locator("table.worklist tbody tr")
    assert rows.count() == 1 and page.inner_text("#match-count") == "1"

    page.click("a.release-link")
    page.wait_for_url(f"**/release/{tape}")
    assert page.inner_text("h1.release-title").startswith("Meteora (live tape)")
    form = page.locator("form.mark")
    form.locator("select[name=status]").select_option("preserved")
    form.locator("input[name=note]").fill("digitised from the master tape")
    form.locator("input[name=by]").fill("ana")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert page.inner_text("#curation-state") == "preserved"
    history = page.inner_text("#curation-history")
    assert "digitised from the master tape" in history and "ana" in history and "preserved" in history

    page.goto(url + "/")
    assert page.locator(f"input[name=mbid][value='{tape}']").count() == 0
    assert page.locator("table.worklist tbody tr").count() == len(CORPUS)
    page.goto(url + "/?format=Cassette")
    assert page.inner_text("#match-count") == "0"


def test_select_all_marks_several_at_once(site, browser_page):
    url, _ = site
    page = browser_page
    page.goto(url + "/?country=JP")
    n = page.locator("table.worklist tbody tr").count()
    assert n >= 2
    page.check("input.select-all")
    assert page.inner_text("#markform button[type=submit]") == f"Mark {n} selected"
    page.select_option("#markform select[name=status]", "ignored")
    page.click("#markform button[type=submit]")
    page.wait_for_load_state()
    assert f"marked {n} release(s) ignored" in page.inner_text(".flash")
    assert page.inner_text("#match-count") == "0"
