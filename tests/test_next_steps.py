"""The release page's next step, pure: the cover URL only from a parsed MBID
and only when the document says there is a front cover, search links that
escape every value, URL relationships grouped by kind."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from indexer.analysis.next_steps import LINK_KINDS, cover_art, group_links, link_kind, search_links

MBID = "c9d52105-5c20-3216-bc1b-e54918f8f688"
HOSTILE = 'a&b=c#d "<x>" / ? % + \\ ケアレス'


def test_the_cover_comes_from_the_cover_art_archive_by_mbid():
    cover = cover_art(uuid.UUID(MBID), True)
    assert cover == {"thumb": f"https://coverartarchive.org/release/{MBID}/front-250",
                     "full": f"https://coverartarchive.org/release/{MBID}/front"}
    assert cover_art(MBID.upper(), True)["thumb"].endswith(f"/{MBID}/front-250")  # canonical form


@pytest.mark.parametrize("has_front", [False, None, "True", 1])
def test_no_cover_unless_the_document_says_there_is_one(has_front):
    assert cover_art(MBID, has_front) is None


@pytest.mark.parametrize("bad", ["../../evil", "https://evil.example/x", f"{MBID}/../x", "", None, 12,
                                 f"{MBID}?x=1", "javascript:alert(1)"])
def test_a_cover_url_is_built_only_from_a_valid_mbid(bad):
    assert cover_art(bad, True) is None


def _params(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def test_search_links_use_the_releases_own_data():
    release = {"artist_credit": "Linkin Park", "title": "Meteora", "barcode": "093624844426"}
    labels = [{"catalog_number": "[none]"}, {"catalog_number": "9362 48444 2"}]
    links = search_links(release, labels)
    sites = [x["site"] for x in links]
    assert {"Discogs", "WorldCat", "Internet Archive", "Bandcamp", "Web search"} <= set(sites)
    by = {(x["site"], x["what"]): _params(x["url"]) for x in links}
    assert by[("Discogs", "barcode")]["barcode"] == "093624844426"
    assert by[("Discogs", "catalogue number")]["catno"] == "9362 48444 2"
    assert by[("WorldCat", "artist and title")]["q"] == "Linkin Park Meteora"
    assert by[("Internet Archive", "artist and title")]["query"] == "Linkin Park Meteora"
    web = by[("Web search", "everything known")]["q"]
    assert web == '"Linkin Park" "Meteora" 9362 48444 2 093624844426'
    hosts = {urlsplit(x["url"]).hostname for x in links}
    assert hosts == {"www.discogs.com", "search.worldcat.org", "archive.org", "bandcamp.com", "duckduckgo.com"}


def test_a_search_link_escapes_every_value():
    release = {"artist_credit": HOSTILE, "title": HOSTILE, "barcode": HOSTILE}
    links = search_links(release, [{"catalog_number": HOSTILE}])
    assert links
    for link in links:
        url = link["url"]
        parts = urlsplit(url)
        assert parts.scheme == "https" and not parts.fragment, url  # the "#" did not end the URL
        assert not any(ch in url for ch in ' "<>\\#') and "ケ" not in url, url
        params = _params(url)
        assert HOSTILE in " ".join(params.values()), url  # round-trips exactly, in one parameter
        assert set(params) <= {"type", "q", "query", "barcode", "catno"}  # "&b=c" added no parameter


def test_unknown_values_are_left_out_of_searches():
    links = search_links({"artist_credit": "[unknown]", "title": "Live 1975", "barcode": ""}, [])
    assert [x["what"] for x in links if x["site"] == "Discogs"] == ["title"]
    assert all("unknown" not in x["url"] for x in links)
    assert search_links({"artist_credit": "X", "title": "", "barcode": None}, []) == []


def test_links_are_grouped_by_relation_type_then_host():
    links = [
        {"type": "free streaming", "url": "https://open.spotify.com/album/1"},
        {"type": "discogs", "url": "https://www.discogs.com/release/2"},
        {"type": "purchase for download", "url": "https://x.example/buy"},
        {"type": None, "url": "https://artist.bandcamp.com/album/y"},
        {"type": "discography entry", "url": "https://label.example/disco/3"},
        {"type": "lyrics", "url": "https://genius.com/z"},
        {"type": "streaming", "url": "https://tidal.com/album/4"},
        {"type": "other databases", "url": "https://rateyourmusic.com/r"},
        {"type": "weird", "url": "not a url ::: [::1"},
    ]
    groups = group_links(links)
    assert [k for k, _ in groups] == list(LINK_KINDS)
    got = {k: [x["url"] for x in items] for k, items in groups}
    assert got["streaming"] == ["https://open.spotify.com/album/1", "https://tidal.com/album/4"]
    assert got["purchase"] == ["https://x.example/buy", "https://artist.bandcamp.com/album/y"]
    assert got["other databases"] == ["https://www.discogs.com/release/2", "https://rateyourmusic.com/r"]
    assert got["other"] == ["https://genius.com/z", "not a url ::: [::1"]
    assert link_kind({"type": "", "url": "https://evil-spotify.com/x"}) == "other"  # a host, not a suffix
    assert group_links([]) == []
