"""What each ws/2 `inc=` puts into a release document, and whether an item
of a browse page really carries what was asked.

A browse page is trusted only for the includes it visibly carries: a mirror
server that ignores an include, or an item cut short, must not be stored as
if the release had no labels, tracks or links.  The checks follow the JSON
serializer of musicbrainz-server (`WebService/Serializer/JSON/2/*.pm`): an
asked include always yields its key, as an empty list when there is
nothing, so a missing key means "not carried".

The checks are keyed by include name, so a caller asks about exactly the
include list it sent (`missing_includes(doc, BROWSE_INCLUDES)`) and an
include added to `RELEASE_INCLUDES` is checked without further change.  An
include no check knows (e.g. `user-tags`) cannot be verified from the
document and is taken as carried.
"""

from __future__ import annotations

from typing import Callable, Iterable


def _list(key: str) -> Callable[[dict], bool]:
    return lambda doc: isinstance(doc.get(key), list)


def _media(doc: dict) -> list:
    media = doc.get("media")
    return media if isinstance(media, list) else []


def _recordings(doc: dict) -> list[dict]:
    out = []
    for medium in _media(doc):
        for track in (medium.get("tracks") or []) + (medium.get("data-tracks") or []):
            if isinstance(track, dict) and isinstance(track.get("recording"), dict):
                out.append(track["recording"])
    return out


def _has_media(doc: dict) -> bool:
    return isinstance(doc.get("media"), list)


def _has_tracks(doc: dict) -> bool:
    """Every medium lists its tracks (a search-hit shape has `track` with one
    track, or nothing; a medium that counts tracks must list some)."""
    if not _has_media(doc):
        return False
    for medium in _media(doc):
        tracks = medium.get("tracks") if isinstance(medium, dict) else None
        if not isinstance(tracks, list) or (not tracks and (medium.get("track-count") or 0)):
            return False
    return True


def _has_isrcs(doc: dict) -> bool:
    return _has_tracks(doc) and all(isinstance(r.get("isrcs"), list) for r in _recordings(doc))


def _has_discids(doc: dict) -> bool:
    return _has_media(doc) and all(isinstance(m.get("discs"), list) for m in _media(doc))


def _has_release_group(doc: dict) -> bool:
    return isinstance(doc.get("release-group"), dict)


def _has_group_rels(doc: dict) -> bool:
    return _has_release_group(doc) and isinstance(doc["release-group"].get("relations"), list)


def _has_recording_rels(doc: dict) -> bool:
    return _has_tracks(doc) and all(isinstance(r.get("relations"), list) for r in _recordings(doc))


_CHECKS: dict[str, Callable[[dict], bool]] = {
    "artists": _list("artist-credit"),
    "artist-credits": _list("artist-credit"),
    "labels": _list("label-info"),
    "media": _has_media,
    "recordings": _has_tracks,
    "isrcs": _has_isrcs,
    "discids": _has_discids,
    "release-groups": _has_release_group,
    "release-group-level-rels": _has_group_rels,
    "recording-level-rels": _has_recording_rels,
    "tags": _list("tags"),
    "genres": _list("genres"),
    "aliases": _list("aliases"),
    "collections": _list("collections"),
    "annotation": lambda doc: "annotation" in doc,
    "ratings": lambda doc: "rating" in doc,
}


def carries(doc: dict, include: str) -> bool:
    """Whether `doc` visibly carries what `include` asks for."""
    check = _CHECKS.get(include)
    if check is not None:
        return check(doc)
    if include.endswith("-level-rels"):
        return True  # work-level-rels etc.: nested too deep to tell absence from "none"
    if include.endswith("-rels"):
        return isinstance(doc.get("relations"), list)
    return True


def missing_includes(doc: dict, includes: Iterable[str]) -> list[str]:
    """The asked includes `doc` does not carry ([] when it is complete)."""
    return [inc for inc in includes if not carries(doc, inc)]

