"""Issue #22, items 1, 4 and 5 end to end: the policy's signal labels and
score bands (loaded, validated), the worklist that says why (labels, hover,
<details>, bands, no wrapping), the release page's next step (cover, search
links, links by kind, "unknown"), its Content-Security-Policy, and charts
that do not mislead (every bin, units, the at-risk band, "not fetched")."""

from __future__ import annotations

import copy
import datetime as dt
import html as htmllib
import re
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from helpers import CORPUS, RICH, release_doc, score_all, store
from indexer.analysis import report, risk
from indexer.web.app import create_app

SVG = "{http://www.w3.org/2000/svg}"
POLICY = Path(risk.DEFAULT_POLICY).read_text(encoding="utf-8")
MINIMAL = 'version = "1"\n[signals.low_quality]\nweight = 5\nexplain = "x"\n'


# --- the policy: labels and bands -------------------------------------------------------


def test_the_bundled_policy_labels_every_signal_and_sets_bands():
    policy = risk.load_policy()
    assert all(s.label and len(s.label) <= risk.MAX_LABEL for s in policy.signals.values())
    assert policy.label("barcode_none") == "no barcode" and policy.label("not_a_signal") == "not_a_signal"
    assert policy.bands == {"at_risk": 25, "watch": 10}
    assert [policy.band(x) for x in (None, 0, 9, 10, 24, 25, 100)] == ["low", "low", "low", "watch", "watch",
                                                                       "at-risk", "at-risk"]


def test_a_missing_label_falls_back_to_the_name_and_bands_to_the_defaults(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(MINIMAL)
    policy = risk.load_policy(path)
    assert policy.label("low_quality") == "low_quality" and policy.bands == risk.DEFAULT_BANDS
    path.write_text(MINIMAL + 'label = "  poor data "\n[bands]\nat_risk = 60\nwatch = 30\n')
    policy = risk.load_policy(path)
    assert policy.label("low_quality") == "poor data" and policy.band(59) == "watch" and policy.band(60) == "at-risk"


@pytest.mark.parametrize("extra, message", [
    ('label = 5\n', "signals.low_quality.label must be one line of at most 60 characters"),
    (f'label = "{"x" * 61}"\n', "at most 60 characters"),
    ('label = "two\\nlines"\n', "one line"),
    ('[bands]\nat_risk = 20\nwatch = 20\n', "0 < watch < at_risk"),
    ('[bands]\nat_risk = "high"\n', "bands.at_risk must be a int"),
    ('[bands]\nwatch = 0\n', "0 < watch < at_risk"),
    ('[bands]\nat_risk = 5000\nwatch = 1\n', "[bands] needs 0 < watch < at_risk <= 1000"),
    ('[bands]\nsevere = 90\n', "unknown [bands] key(s) severe"),
    ('bands = 3\n', "[bands] must be a table"),
])
def test_bad_labels_and_bands_are_one_clear_line(tmp_path, extra, message):
    path = tmp_path / "p.toml"
    text = MINIMAL + extra if not extra.startswith("bands") else extra + MINIMAL
    path.write_text(text)
    with pytest.raises(risk.PolicyError, match=re.escape(message)) as err:
        risk.load_policy(path)
    assert "\n" not in str(err.value)


# --- the pages -------------------------------------------------------------------------


@pytest.fixture
def site(db):
    for mbid in CORPUS:
        store(db, release_doc(mbid))
    tape = copy.deepcopy(release_doc(RICH["c9d52105"]))
    tape.update(id=str(uuid.uuid4()), title='Tape <b>"&"</b>', status="Bootleg", barcode="", country="US",
                date="2021-09-15", disambiguation="")
    tape["media"][0]["format"] = "Cassette"
    tape["release-group"]["id"] = str(uuid.uuid4())
    tape["cover-art-archive"] = {"front": False, "artwork": False, "count": 0, "darkened": False}
    for li in tape["label-info"]:
        li["label"] = None
    store(db, tape)
    score_all(db)
    with TestClient(create_app(db), raise_server_exceptions=False) as client:
        yield client, tape["id"]


def test_the_worklist_says_why_with_labels_hover_details_and_bands(site):
    web, tape = site
    res = web.get("/")
    page, policy = res.text, web.app.state.policy
    row = page[page.index(f'value="{tape}"'):]
    row = row[:row.index("</tr>")]
    score = int(re.search(r'<td class="num score band-([a-z-]+)" title="([^"]+)">(\d+)</td>', row).group(3))
    band = policy.band(score)
    assert f'class="num score band-{band}" title="{risk.BAND_NAMES[band]}"' in row
    for sig in ("barcode_none", "risky_status"):
        explain = htmllib.escape(policy.explain(sig))
        assert f'<span class="signal" title="{explain}">{htmllib.escape(policy.label(sig))}</span>' in row
        assert f"<code>{sig}</code>: {explain}</li>" in row  # the expandable row
    assert "<details class=\"why\"><summary>why</summary>" in row
    assert '<td class="nowrap">2021-09-15</td>' in row
    assert f"{policy.bands['at_risk']} and above: at risk" in page and "below 10: little or no signal" in page
    css = web.get("/static/style.css").text
    assert re.search(r"\.nowrap[^{]*\{ white-space: nowrap; \}", css)
    # a release without signals reads "no signal" in a muted band
    assert '<span class="none">no signal</span>' in page and 'band-low" title="little or no signal"' in page


def test_the_release_page_shows_the_cover_search_links_and_links_by_kind(site):
    web, _tape = site
    mbid = RICH["c9d52105"]  # Meteora: a front cover, a barcode, URL relationships
    res = web.get(f"/release/{mbid}")
    page = res.text
    assert f'<img id="cover" src="https://coverartarchive.org/release/{mbid}/front-250"' in page
    assert f'href="https://coverartarchive.org/release/{mbid}/front"' in page
    links = re.findall(r'<a class="search-link" href="([^"]+)"', page)
    assert len(links) >= 6 and any("barcode=093624844426" in x for x in links)
    assert {re.match(r"https://([^/]+)/", htmllib.unescape(x)).group(1) for x in links} == {
        "www.discogs.com", "search.worldcat.org", "archive.org", "bandcamp.com", "duckduckgo.com"}
    kinds = re.findall(r'<h3 class="link-kind">([^<]+)</h3>', page)
    assert kinds and kinds == [k for k in ["Streaming", "Purchase", "Discography", "Other databases", "Other"]
                               if k in kinds]
    csp = res.headers["content-security-policy"]
    assert "img-src 'self' https://coverartarchive.org" in csp and "https://*.archive.org" in csp
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp


def test_unknown_values_read_unknown(site):
    web, tape = site
    page = web.get(f"/release/{tape}").text
    assert '<p class="none no-cover" id="cover">no cover art</p>' in page and "<img id=\"cover\"" not in page
    assert "<dt>cover art front</dt><dd>no</dd>" in page
    assert "<dt>disambiguation</dt>" not in page  # empty: not "(unknown)"
    assert "none (explicitly)" in page  # barcode ""
    labels = page[page.index("<h2>Labels</h2>"):page.index("<h2>Links</h2>")]
    assert "<td>unknown</td>" in labels or "<td>unknown " in labels
    for wrong in ("(unknown)", ">?<", ">True<", "?:??"):
        assert wrong not in page, wrong
    assert re.search(r"Tape &lt;b&gt;&#34;&amp;&#34;&lt;/b&gt;|Tape &lt;b&gt;&quot;&amp;&quot;&lt;/b&gt;", page)


# --- charts ---------------------------------------------------------------------------


def _data(**over):
    data = {
        "generated_at": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), "releases": 4, "scored": 4, "at_risk": 25,
        "coverage": {"barcode": 1, "cover_art": 2, "cover_art_known": 4, "links": 0, "links_known": 0, "deleted": 0},
        "per_year": [(1999, 1)], "formats": [("CD", 5)], "release_formats": [("CD", 3)],
        "score_hist": [(0, 1), (30, 2), (90, 1)], "signal_share": [], "track_lengths": [(3, 2), (7, 1)],
        "top_labels": [], "top_artists": [("A", 1, 30)],
        "listening_decade": [(2000, 3, 0, 0, 3)], "listening_format": [("CD", 3, 0, 0, 3)],
    }
    data.update(over)
    return data


def test_every_bin_from_zero_to_the_largest_is_drawn():
    items = report.chart_items(_data())
    assert [b for b, _ in items["score_hist"]] == [f"{b}-{b + 9}" for b in range(0, 90, 10)] + ["90-100"]
    assert dict(items["score_hist"])["10-19"] == 0 and dict(items["score_hist"])["30-39"] == 2
    assert [b for b, _ in items["track_lengths"]] == ["0", "0.5", "1", "1.5", "2", "2.5", "3", "3.5"]
    assert report.chart_items(_data(score_hist=[(20, 4)]))["score_hist"] == [("0-9", 0), ("10-19", 0),
                                                                            ("20-29", 4)]


def test_the_track_length_axis_labels_every_bin_and_long_axes_a_round_step():
    svg = report.column_chart_svg([(f"{h / 2:g}", 1) for h in range(25)], "t")
    labels = [t.text for t in ET.fromstring(svg).findall(f"{SVG}text")][2:]
    assert labels == [f"{h / 2:g}" for h in range(25)]
    assert report.label_step(5) == 5 and report.label_step(30) == 1 and report.label_step(0.5) == 50


def test_each_chart_names_its_unit_and_formats_count_releases():
    titles = [title for _kind, title in report.CHARTS.values()]
    assert all(re.search(r"[Rr]eleases|tracks", t) for t in titles), titles
    text = report.render_text(_data())
    assert "Formats (live releases): CD 3" in text and "Media by format (media): CD 5" in text
    assert "Top at-risk artists (score 25+): A (1)" in text


def test_listening_charts_say_not_fetched_when_nothing_was_fetched():
    page = report.render_html(_data())
    assert page.count(report.NOT_FETCHED) == 2 and page.count("<svg") == 7
    assert "No known listens (ListenBrainz) by decade: not fetched" in report.render_text(_data())
    fetched = _data(listening_decade=[(2000, 3, 1, 1, 1)], listening_format=[("CD", 3, 1, 1, 1)])
    assert report.NOT_FETCHED not in report.render_html(fetched)


def test_the_top_at_risk_tables_use_the_policys_band(db):
    for mbid in CORPUS:
        store(db, release_doc(mbid))
    score_all(db)
    policy = risk.load_policy()
    data = report.collect(db, at_risk=policy.bands["at_risk"])
    low = report.collect(db, at_risk=1)
    high = report.collect(db, at_risk=101)
    assert data["at_risk"] == 25 and high["top_artists"] == [] and high["top_labels"] == []
    assert len(low["top_artists"]) >= len(data["top_artists"])
    with db.session() as s:
        n = s.execute(text("SELECT count(*) FROM risk_score WHERE score >= 25")).scalar_one()
    assert (n > 0) == bool(data["top_artists"])
    assert sum(n for _f, n in data["release_formats"]) >= data["releases"] - 1


def test_show_on_the_command_line_says_unknown_too(db, run_cli):
    tape = copy.deepcopy(release_doc(RICH["c9d52105"]))
    tape.update(id=str(uuid.uuid4()), barcode=None, packaging=None, **{"artist-credit": []})
    tape["media"][0]["tracks"][0]["length"] = None
    tape["media"][0]["tracks"][0]["recording"]["length"] = None
    for li in tape["label-info"]:
        li["label"] = None
    store(db, tape)
    out = run_cli("show", tape["id"]).output
    assert "— unknown artist" in out and "packaging:       unknown" in out and "cover_art_front: yes" in out
    assert "\n  unknown " in out  # the label's name
    assert "(unknown)" not in out and "?:??" not in out and " ? " not in out and "True" not in out


def test_the_worklist_marks_the_signals_not_assessed(db):
    """A release fetched without labels: its label signals are not assessed,
    and its worklist row says how many, naming them on hover."""
    doc = copy.deepcopy(release_doc(RICH["c9d52105"]))
    del doc["label-info"]  # as a lookup without inc=labels answers
    store(db, doc)
    score_all(db)
    with TestClient(create_app(db), raise_server_exceptions=False) as web:
        page, policy = web.get("/").text, web.app.state.policy
    row = page[page.index(f'value="{doc["id"]}"'):]
    row = row[:row.index("</tr>")]
    hover = re.search(r'<small class="unassessed" title="([^"]*)">(\d+) not assessed</small>', row)
    assert hover, row
    assert htmllib.escape(policy.label("no_label")) in hover.group(1)
    assert htmllib.escape(policy.label("no_catalog_number")) in hover.group(1)
