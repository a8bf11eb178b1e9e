"""The release page's next step in a real browser (Debian's chromium driven
by Playwright, as tests/test_web_browser.py): the cover <img> from the Cover
Art Archive, requested by the browser (so the page's Content-Security-Policy
lets it through; the test answers it itself, nothing leaves the machine),
the search links, and the worklist's labels and <details> row.

Skipped (with the reason) only when chromium or Playwright is missing."""

from __future__ import annotations

import shutil

import pytest

from helpers import CORPUS, RICH, release_doc, score_all, store
from indexer.web.app import create_app
from indexer.web.server import background

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
METEORA = RICH["c9d52105"]
#: a 1x1 PNG the test serves in place of the Cover Art Archive
PIXEL = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                      "0000000d49444154789c6360f8cfc0f01f0005000201a2b1e0b40000000049454e44ae426082")


@pytest.fixture(scope="module")
def chromium():
    """One browser for the module's tests (each test opens its own page)."""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def site_page(db, chromium):
    """(base URL, a fresh page) over the recorded corpus, scored."""
    for mbid in CORPUS:
        store(db, release_doc(mbid))
    score_all(db)
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    with background(create_app(db)) as url:
        yield url, page
    context.close()


def test_the_release_page_shows_the_cover_and_the_search_links(site_page):
    site, page = site_page
    asked = []
    # the last route registered is matched first: anything but this server and the cover is refused
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(site) else route.abort())
    page.route("https://coverartarchive.org/**",
               lambda route: (asked.append(route.request.url), route.fulfill(body=PIXEL, content_type="image/png")))
    page.goto(f"{site}/release/{METEORA}")
    img = page.locator("img#cover")
    assert img.get_attribute("src") == f"https://coverartarchive.org/release/{METEORA}/front-250"
    page.wait_for_function("document.getElementById('cover').complete")
    assert asked == [f"https://coverartarchive.org/release/{METEORA}/front-250"]  # the CSP let it through
    assert page.evaluate("document.getElementById('cover').naturalWidth") == 1  # and it was drawn
    links = page.locator("a.search-link")
    assert links.count() >= 6
    sites = {links.nth(i).inner_text() for i in range(links.count())}
    assert sites == {"Discogs", "WorldCat", "Internet Archive", "Bandcamp", "Web search"}
    assert all(links.nth(i).get_attribute("href").startswith("https://") for i in range(links.count()))
    assert page.locator("h3.link-kind").count() >= 1


def test_the_worklist_signal_labels_hover_and_expand(site_page):
    site, page = site_page
    page.goto(site + "/")
    label = page.locator("table.worklist span.signal").first
    assert label.get_attribute("title")  # the explanation, on hover
    details = page.locator("table.worklist details.why").first
    assert not details.locator("ul").is_visible()
    details.locator("summary").click()
    assert details.locator("ul").is_visible() and ":" in details.locator("li").first.inner_text()
    date_cell = page.locator("table.worklist td.nowrap").first
    assert date_cell.evaluate("e => getComputedStyle(e).whiteSpace") == "nowrap"
