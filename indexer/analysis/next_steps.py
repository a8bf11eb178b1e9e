"""The curator's next step from a release page: its front cover in the Cover
Art Archive, searches for it elsewhere built from its own data, and its URL
relationships grouped by what they are for.

Pure functions over what `show()` returns (no database, no network).  Every
URL is built here, never from text pasted into markup: a cover URL only from
a parsed MBID, every search value percent-escaped (`urlencode` with `quote`),
so a title such as `a&b=c#d "<x>"` stays one value of one parameter.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote, urlencode, urlsplit

CAA_RELEASE = "https://coverartarchive.org/release/{}/"
#: artist credits that name nobody worth searching for
NO_ARTIST = {"", "[unknown]", "[anonymous]", "[no artist]", "various artists"}
#: catalogue numbers that are none
NO_CATNO = {"", "[none]"}

#: link groups in the order the page shows them
LINK_KINDS = ("streaming", "purchase", "discography", "other databases", "other")
#: MusicBrainz release-URL relationship type -> group
KIND_BY_TYPE = {
    "free streaming": "streaming", "streaming": "streaming",
    "purchase for download": "purchase", "purchase for mail-order": "purchase", "amazon asin": "purchase",
    "download for free": "purchase", "crowdfunding page": "purchase",
    "discography entry": "discography", "discography page": "discography", "discography": "discography",
    "discogs": "other databases", "wikidata": "other databases", "allmusic": "other databases",
    "vgmdb": "other databases", "secondhandsongs": "other databases", "other databases": "other databases",
    "imdb": "other databases",
}
#: host (or a parent domain of it) -> group, for a relation type not above
KIND_BY_HOST = {
    "spotify.com": "streaming", "deezer.com": "streaming", "tidal.com": "streaming", "music.apple.com": "streaming",
    "music.youtube.com": "streaming", "youtube.com": "streaming", "soundcloud.com": "streaming",
    "napster.com": "streaming", "bandcamp.com": "purchase", "itunes.apple.com": "purchase", "qobuz.com": "purchase",
    "beatport.com": "purchase", "7digital.com": "purchase", "junodownload.com": "purchase", "amazon.com": "purchase",
    "discogs.com": "other databases", "wikidata.org": "other databases", "allmusic.com": "other databases",
    "vgmdb.net": "other databases", "rateyourmusic.com": "other databases",
}


def parse_release_mbid(mbid) -> uuid.UUID | None:
    """The MBID as a UUID, or None when it is not one (nothing is built from it then)."""
    if isinstance(mbid, uuid.UUID):
        return mbid
    try:
        return uuid.UUID(str(mbid))
    except (ValueError, TypeError, AttributeError):
        return None


def cover_art(mbid, has_front) -> dict | None:
    """The front cover's thumbnail (250 px) and full image URLs, only when the
    document says there is a front cover (`cover_art_front` true) and the MBID
    parses; None otherwise (the page then says "no cover art")."""
    parsed = parse_release_mbid(mbid)
    if has_front is not True or parsed is None:
        return None
    base = CAA_RELEASE.format(parsed)
    return {"thumb": base + "front-250", "full": base + "front"}


def _url(base: str, **params: str) -> str:
    return base + "?" + urlencode(params, quote_via=quote)


def _search_values(release: dict, labels: list[dict]) -> dict:
    """artist, title, catno, barcode: each the release's own value or ''."""
    artist = (release.get("artist_credit") or "").strip()
    catnos = [(lb.get("catalog_number") or "").strip() for lb in labels]
    return {
        "artist": "" if artist.lower() in NO_ARTIST else artist,
        "title": (release.get("title") or "").strip(),
        "catno": next((c for c in catnos if c.lower() not in NO_CATNO), ""),
        "barcode": (release.get("barcode") or "").strip(),
    }


def search_links(release: dict, labels: list[dict]) -> list[dict]:
    """Searches for this release elsewhere, each {"site", "what", "url"}:
    Discogs (by barcode, by catalogue number, by artist and title), WorldCat,
    the Internet Archive, Bandcamp and a general web search.  A value the
    release lacks is left out; nothing when it has no title."""
    v = _search_values(release, labels)
    if not v["title"]:
        return []
    words = " ".join(x for x in (v["artist"], v["title"]) if x)
    what = "artist and title" if v["artist"] else "title"
    out = []
    if v["barcode"]:
        out.append(("Discogs", "barcode",
                    _url("https://www.discogs.com/search/", type="release", barcode=v["barcode"])))
    if v["catno"]:
        out.append(("Discogs", "catalogue number",
                    _url("https://www.discogs.com/search/", type="release", catno=v["catno"])))
    out += [
        ("Discogs", what, _url("https://www.discogs.com/search/", type="release", q=words)),
        ("WorldCat", what, _url("https://search.worldcat.org/search", q=words)),
        ("Internet Archive", what, _url("https://archive.org/search", query=words)),
        ("Bandcamp", what, _url("https://bandcamp.com/search", q=words)),
    ]
    web = " ".join([f'"{v["artist"]}"' if v["artist"] else "", f'"{v["title"]}"', v["catno"], v["barcode"]])
    out.append(("Web search", "everything known", _url("https://duckduckgo.com/", q=" ".join(web.split()))))
    return [{"site": site, "what": w, "url": url} for site, w, url in out]


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def link_kind(link: dict) -> str:
    """The group of one URL relationship: by its relation type, else by its host."""
    kind = KIND_BY_TYPE.get((link.get("type") or "").lower())
    if kind:
        return kind
    host = _host(link.get("url") or "")
    for domain, group in KIND_BY_HOST.items():
        if host == domain or host.endswith("." + domain):
            return group
    return "other"


def group_links(links: list[dict]) -> list[tuple[str, list[dict]]]:
    """The release's URL relationships by kind (LINK_KINDS order, empty kinds left out)."""
    groups: dict[str, list[dict]] = {kind: [] for kind in LINK_KINDS}
    for link in links:
        groups[link_kind(link)].append(link)
    return [(kind, items) for kind, items in groups.items() if items]
