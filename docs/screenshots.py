"""The README's screenshots of the curators' pages, 1400 px wide, from the demo data.

    MBINDEX_DATABASE_URL=postgresql://.../demo mbindex demo
    python docs/screenshots.py postgresql://.../demo

writes docs/web-worklist.png, docs/web-release.png and docs/web-overview.png.
Debian's chromium, driven by Playwright (as the browser tests); the pages are
served from this checkout on a free local port, and every request to another
host is refused, so a cover the Cover Art Archive would serve shows as its
alt text rather than a picture fetched from the network.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright

from indexer.db import Database
from indexer.web.app import create_app
from indexer.web.server import background

DOCS = Path(__file__).resolve().parent
#: the demo's release the README shows: a cover, a barcode, a label and links of two kinds
RELEASE = "c9d52105-5c20-3216-bc1b-e54918f8f688"
WIDTH = 1400


def shoot(database_url: str, release: str = RELEASE) -> list[Path]:
    db = Database(database_url)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    out = []
    try:
        with background(create_app(db)) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url)
                       else route.abort())
            for name, path, full in (("worklist", "/", False), ("release", f"/release/{release}", True),
                                     ("overview", "/overview", True)):
                page.goto(url + path)
                page.wait_for_load_state("networkidle")
                target = DOCS / f"web-{name}.png"
                page.screenshot(path=str(target), full_page=full)
                out.append(target)
            browser.close()
    finally:
        db.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url", help="a database that `mbindex demo` filled")
    parser.add_argument("--release", default=RELEASE, help="the release page to show (an MBID)")
    args = parser.parse_args()
    for path in shoot(args.database_url, args.release):
        print(path)


if __name__ == "__main__":
    main()
