"""The report: pure SVG/HTML rendering, SQL aggregation on real releases, and
the page rendered by headless Chromium."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from helpers import CORPUS, release_doc, score_all, store
from indexer.analysis import report
from indexer.cli import cli

SVG = "{http://www.w3.org/2000/svg}"


def test_bar_chart_has_one_bar_per_item_scaled_to_the_largest():
    svg = report.bar_chart_svg([("Cassette", 10), ("CD", 40), ("<b>&", 20)], "Formats", width=640)
    root = ET.fromstring(svg)  # well-formed XML, label escaped
    bars = root.findall(f"{SVG}rect")
    assert len(bars) == 3
    widths = [float(b.get("width")) for b in bars]
    assert widths[1] == max(widths) and widths[0] == pytest.approx(widths[1] / 4, abs=1)
    assert "&lt;b&gt;&amp;" in svg


def test_column_chart_heights_are_proportional_and_empty_data_is_said():
    root = ET.fromstring(report.column_chart_svg([("1", 5), ("2", 10), ("3", 0)], "h", height=220))
    heights = [float(r.get("height")) for r in root.findall(f"{SVG}rect")]
    assert heights[1] == 2 * heights[0] and heights[2] == 0
    assert "(no data)" in report.column_chart_svg([], "empty")


def _data(**over):
    data = {
        "generated_at": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), "releases": 4, "scored": 4,
        "coverage": {"barcode": 1, "cover_art": 2, "cover_art_known": 4, "links": 0, "links_known": 0, "deleted": 1},
        "per_year": [(1999, 1), (2003, 3)], "formats": [("CD", 3), ("Cassette", 1)],
        "score_hist": [(0, 1), (90, 3)], "signal_share": [("no_label", 2), ("tombstoned", 1)],
        "track_lengths": [(4, 2), (6, 5), (24, 1)], "top_labels": [("Lbl", 2, 55)], "top_artists": [],
        "listening_decade": [(2000, 3, 1, 1, 1), (1990, 1, 0, 0, 1)],
        "listening_format": [("CD", 3, 1, 1, 1), ("Cassette", 1, 0, 0, 1)],
    }
    data.update(over)
    return data


def test_render_html_is_self_contained_with_seven_charts():
    page = report.render_html(_data())
    assert page.count("<svg") == 7
    assert "no known listens (ListenBrainz), by decade" in page and "<td>1990</td><td>1</td><td>0</td>" in page
    assert not re.search(r"<script|https?://(?!www\.w3\.org/2000/svg)", page)
    assert "90-100" in page and "12+" in page  # last score bin, long-track bin
    years = report.chart_items(_data())["per_year"]
    assert years[0] == ("1999", 1) and years[-1] == ("2003", 3) and len(years) == 5 and years[1] == ("2000", 0)
    text = report.render_text(_data())
    assert "barcode 25.0%" in text and "links n/a of 0 known" in text and "no_label" in text
    assert "No known listens (ListenBrainz) by decade: 1990s 0/1 (1 not fetched), 2000s 1/3 (1 not fetched)" in text


def test_collect_on_real_releases(db):
    for mbid in CORPUS:
        store(db, release_doc(mbid))
    score_all(db)
    with db.session() as s:
        data = report.collect_in(s)
    docs = [release_doc(m) for m in CORPUS]
    assert data["releases"] == len(docs) == data["scored"]
    assert data["coverage"]["barcode"] == sum(1 for d in docs if d.get("barcode"))
    assert sum(n for _, n in data["formats"]) == sum(len(d.get("media") or []) for d in docs)
    lengths = [t.get("length") or (t.get("recording") or {}).get("length")
               for d in docs for md in d.get("media") or []
               for t in [*(md.get("tracks") or []), *([md["pregap"]] if md.get("pregap") else []),
                         *(md.get("data-tracks") or [])]]
    assert sum(n for _, n in data["track_lengths"]) == sum(1 for x in lengths if x)
    assert sum(n for _, n in data["score_hist"]) == len(docs)
    # nothing enriched yet: every dated release is "not fetched", none is called unlistened
    assert all(nl == 0 and nf == r for _d, r, nl, _l, nf in data["listening_decade"])
    assert sum(r for _d, r, *_ in data["listening_decade"]) == sum(1 for d in docs if (d.get("date") or "")[:4])
    with db.session() as s, s.begin():  # one group with no known listens
        s.execute(text("INSERT INTO upstream_fact (subject_type, subject_mbid, fact, value, source) "
                       "SELECT 'release-group', release_group_mbid, 'listens', NULL, 'listenbrainz' FROM release "
                       "WHERE mbid = :m"), {"m": CORPUS[0]})
    with db.session() as s:
        data = report.collect_in(s)
    assert sum(nl for _f, _r, nl, _l, _u in data["listening_format"]) >= 1


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (apt-get install chromium)")
def test_html_report_renders_in_headless_chromium(db, database_url, tmp_path):
    for mbid in CORPUS:
        store(db, release_doc(mbid))
    score_all(db)
    page = tmp_path / "report.html"
    res = CliRunner().invoke(cli, ["report", "--html", str(page)],
                             env={"MBINDEX_DATABASE_URL": database_url, "XDG_CONFIG_HOME": str(tmp_path)})
    assert res.exit_code == 0, res.output
    assert "Releases: " in res.output
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run",
           f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*cmd, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60).stdout
    assert dom.count("<svg") == 7
    assert len(re.findall(r'<rect class="bar"', dom)) >= 10
    shot = tmp_path / "shot.png"
    subprocess.run([*cmd, f"--screenshot={shot}", "--window-size=900,1400", page.as_uri()],
                   capture_output=True, timeout=60)
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 20000, len(png)  # a blank page compresses to almost nothing; charts do not
