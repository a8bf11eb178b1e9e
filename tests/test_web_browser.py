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
from indexer.analysis.curators import add_curator
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
    page.once("dialog", lambda dialog: dialog.accept())  # the bulk mark's confirmation (issue 22)
    page.click("#markform button[type=submit]")
    page.wait_for_load_state()
    assert f"marked {n} release(s) ignored" in page.inner_text(".flash")
    assert page.inner_text("#match-count") == "0"


def _third_pink_floyd(db) -> None:
    """A third release credited to Pink Floyd beside the two of the corpus."""
    doc = copy.deepcopy(release_doc(RICH["b84ee12a"]))
    doc.update(id=str(uuid.uuid4()), title="The Dark Side of the Moon (reel)", country="GB")
    doc["release-group"]["id"] = str(uuid.uuid4())
    store(db, doc)
    score_all(db)


def test_find_by_artist_name_mark_three_with_confirmation_and_see_the_curator(db, site, browser_page):
    url, _ = site
    _third_pink_floyd(db)
    token = add_curator(db, "Ana Curator")
    page = browser_page
    page.goto(f"{url}/?token={token}")
    page.wait_for_url(f"{url}/")
    page.fill("form.filters input[name=artist]", "PINK flo")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/?*artist=PINK+flo*")
    rows = page.locator("table.worklist tbody tr")
    assert rows.count() == 3 and page.inner_text("#match-count") == "3"
    assert page.input_value("form.filters input[name=artist]") == "PINK flo"

    page.check("input.select-all")
    # no status is chosen yet: the browser refuses the form
    assert page.eval_on_selector("#markform select[name=status]", "e => e.validity.valid") is False
    page.select_option("#markform select[name=status]", "in-progress")
    asked = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", answer)
    page.click("#markform button[type=submit]")
    page.wait_for_load_state()
    assert asked == ["Mark 3 release(s) as in-progress?"]
    assert "marked 3 release(s) in-progress" in page.inner_text(".flash")
    assert page.inner_text("#match-count") == "3"  # in-progress stays on the worklist
    assert page.locator("td.curation.in-progress").count() == 3

    page.click("a.release-link >> nth=0")
    page.wait_for_url("**/release/*")
    history = page.inner_text("#curation-history")
    assert "Ana Curator" in history and "in-progress" in history
    assert page.inner_text("form.mark .curator") == "Ana Curator"


def test_without_javascript_a_bulk_mark_goes_through_a_confirm_page(db, site, browser_page):
    url, _ = site
    context = browser_page.context.browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(url + "/?country=JP")
    n = page.locator("table.worklist tbody tr").count()
    for box in page.locator("table.worklist tbody input[name=mbid]").all():
        box.check()
    page.select_option("#markform select[name=status]", "ignored")
    page.fill("#markform input[name=by]", "bo")
    page.click("#markform button[type=submit]")
    page.wait_for_url("**/mark/confirm")
    assert page.inner_text("h1") == f"Mark {n} release(s) as ignored?"
    assert page.locator(".confirm-list li").count() == n
    page.click("form.confirm button[type=submit]")
    page.wait_for_url("**/?country=JP")
    assert f"marked {n} release(s) ignored" in page.inner_text(".flash")
    assert page.inner_text("#match-count") == "0"
    context.close()
