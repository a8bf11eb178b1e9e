"""A ws/2 JSON release (or a release dump line) as rows: `map_release`, and
which includes a document shows it was fetched with."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from .parts import artist_row, credit_rows, label_row, recording_row, release_group_row, tag_rows, url_rows
from .rows import (
    ArtistRow,
    CreditRow,
    LabelRow,
    MappedRelease,
    MediumRow,
    RecordingRow,
    ReleaseGroupRow,
    ReleaseLabelRow,
    ReleaseRow,
    TrackRow,
    UrlRelRow,
)
from .values import (
    credit_phrase,
    document_mbid,
    gtin_ok,
    int_or_none,
    nonempty,
    str_or_none,
    uuid_or_none,
    year_of,
)

# Includes whose presence we can infer from a document (ws/2 omits empty keys
# for some includes but always sends the key when the include was requested).
_INCLUDE_KEYS = {
    "artist-credit": "artist-credits",
    "label-info": "labels",
    "media": "media",
    "release-group": "release-groups",
    "relations": "rels",
    "tags": "tags",
    "genres": "genres",
    "annotation": "annotation",
    "aliases": "aliases",
    "cover-art-archive": "cover-art",
}

#: the document fields scoring reads whose absence means "not in this
#: document" rather than "none": a lookup, a browse item and a dump line always
#: carry them (null when unset), a search hit lacks `quality` and
#: `cover-art-archive` always and `barcode` or `status` when unset.  (`date`
#: and `country` are left out on purpose: every shape omits them when the
#: release has no release event, so their absence is the answer.)
DOCUMENT_FIELDS = ("barcode", "status", "quality", "cover-art-archive")


def _track_row(track: dict, kind: str, sort_base: int, recordings: dict, artists: dict, credits: list) -> TrackRow:
    recording = track.get("recording") or {}
    rec_mbid = uuid_or_none(recording.get("id"))
    track_credit = track.get("artist-credit") or recording.get("artist-credit")
    if rec_mbid is not None and rec_mbid not in recordings:
        rec_credit = recording.get("artist-credit")
        recordings[rec_mbid] = recording_row(rec_mbid, recording, recording.get("title") or track.get("title") or "")
        credits.extend(credit_rows("recording", rec_mbid, rec_credit, artists))
    else:
        # credits of tracks still teach us who the artists are
        for item in track_credit or []:
            if isinstance(item, dict):
                row = artist_row(item.get("artist") or {})
                if row is not None:
                    artists.setdefault(row.mbid, row)
    position = int_or_none(track.get("position"))
    if position is None:
        position = 0
    length = int_or_none(track.get("length"))
    if length is None:
        length = int_or_none(recording.get("length"))
    return TrackRow(
        mbid=uuid_or_none(track.get("id")),
        kind=kind,
        position=position,
        sort_key=sort_base + position,
        number=str_or_none(track.get("number")),
        title=str_or_none(track.get("title") if track.get("title") is not None else recording.get("title")),
        length_ms=length,
        recording_mbid=rec_mbid,
        artist_credit=credit_phrase(track_credit),
    )


def infer_includes(doc: dict) -> list[str]:
    incs = {inc for key, inc in _INCLUDE_KEYS.items() if key in doc}
    media = doc.get("media") or []
    if any("tracks" in m for m in media):
        incs.add("recordings")
    if "relations" in doc:
        if any(r.get("target-type") == "url" for r in doc["relations"]):
            incs.add("url-rels")
    if isinstance((doc.get("release-group") or {}).get("relations"), list):
        incs.add("release-group-level-rels")
    return sorted(incs)


#: includes whose key a document carries only when it was asked for: their
#: key proves the include (not so `relations`: any *-rels include brings it)
_PROVEN_BY_KEY = frozenset({"artist-credits", "labels", "media", "recordings", "release-groups", "tags", "genres",
                            "annotation", "aliases", "cover-art"})


def _with_visible(includes: list[str] | None, doc: dict) -> list[str]:
    """The asked includes plus those the document proves it was fetched with
    (all inferred from the keys when nothing was said)."""
    inferred = infer_includes(doc)
    if includes is None:
        return inferred
    return sorted(set(includes) | (set(inferred) & _PROVEN_BY_KEY))


def asked_includes(doc: dict) -> list[str]:
    """Includes of a full lookup or dump line: a `relations` key means url-rels
    were asked for, so no url relation in it means the release has no links;
    a `relations` key on its release group means release-group-level-rels."""
    incs = set(infer_includes(doc))
    if "relations" in doc:
        incs.add("url-rels")
    return sorted(incs)


def _group_url_rows(rg_row, rg) -> list[UrlRelRow]:
    """The release group's own links (inc=release-group-level-rels), kept
    under entity_type "release-group": which catalogues know the group."""
    if rg_row is None or not isinstance(rg.get("relations"), list):
        return []
    return url_rows("release-group", rg_row.mbid, rg["relations"])


# --- the mapping ------------------------------------------------------------


def map_release(doc: dict, *, includes: list[str] | None = None) -> MappedRelease:
    """Turn one ws/2 JSON release (or dump line) into rows.

    `includes`, when the caller knows what it asked ws/2 for, records which
    absences are meaningful; the includes the document visibly carries are
    added to them (a document with `label-info` was fetched with labels),
    and without `includes` they are all inferred from the keys present.
    """
    mbid = document_mbid(doc, "release", "title")
    named = _Named()
    named.credits.extend(credit_rows("release", mbid, doc.get("artist-credit"), named.artists))
    rg = doc.get("release-group") or None
    rg_row = _release_group(rg, named)
    release_labels = _release_labels(doc.get("label-info") or [], named)
    media, formats, track_count = _media(doc.get("media") or [], named)
    release = _release_row(doc, mbid, rg_row, media, formats, track_count,
                           _with_visible(includes, doc))
    return MappedRelease(
        release=release,
        release_group=rg_row,
        media=media,
        release_labels=release_labels,
        artists=list(named.artists.values()),
        labels=list(named.labels.values()),
        recordings=list(named.recordings.values()),
        credits=named.credits,
        urls=url_rows("release", mbid, doc.get("relations")) + _group_url_rows(rg_row, rg),
        tags=tag_rows("release", mbid, doc.get("tags")),
    )


@dataclass(slots=True)
class _Named:
    """The entities a release names, each once (by MBID), and the credits
    of the release, its group and its recordings, in document order."""

    artists: dict[uuid.UUID, ArtistRow] = field(default_factory=dict)
    labels: dict[uuid.UUID, LabelRow] = field(default_factory=dict)
    recordings: dict[uuid.UUID, RecordingRow] = field(default_factory=dict)
    credits: list[CreditRow] = field(default_factory=list)


def _release_group(rg, named: _Named) -> ReleaseGroupRow | None:
    if not isinstance(rg, dict) or uuid_or_none(rg.get("id")) is None:
        return None
    rg_mbid = uuid.UUID(rg["id"])
    named.credits.extend(credit_rows("release-group", rg_mbid, rg.get("artist-credit"), named.artists))
    return release_group_row(rg_mbid, rg, rg.get("title") or "")


def _release_labels(label_info: list, named: _Named) -> list[ReleaseLabelRow]:
    """Labels and catalogue numbers, in the document's order."""
    rows = []
    for pos, info in enumerate(label_info):
        label = info.get("label") or None
        label_mbid = label_name = None
        if isinstance(label, dict):
            label_mbid = uuid_or_none(label.get("id"))
            label_name = nonempty(label.get("name"))
            if label_mbid is not None and label_mbid not in named.labels:
                named.labels[label_mbid] = label_row(label_mbid, label, label.get("name") or "")
        rows.append(ReleaseLabelRow(position=pos, label_mbid=label_mbid, label_name=label_name,
                                    catalog_number=nonempty(info.get("catalog-number"))))
    return rows


def _media(media_docs: list, named: _Named) -> tuple[list[MediumRow], list[str], int]:
    """Media and their tracks: pregap (track 0), audio tracks, then data
    tracks; returns the media, the formats in order, and the track count."""
    media: list[MediumRow] = []
    formats: list[str] = []
    track_count = 0
    for index, medium in enumerate(media_docs):
        fmt = nonempty(medium.get("format"))
        if fmt and fmt not in formats:
            formats.append(fmt)
        tracks = _tracks(medium, named)
        count = int_or_none(medium.get("track-count"))
        if count is None:
            count = sum(1 for t in tracks if t.kind != "pregap")
        track_count += count
        media.append(MediumRow(position=int_or_none(medium.get("position")) or index + 1,
                               mbid=uuid_or_none(medium.get("id")), format=fmt,
                               title=nonempty(medium.get("title")), track_count=count, tracks=tracks))
    return media, formats, track_count


def _tracks(medium: dict, named: _Named) -> list[TrackRow]:
    args = (named.recordings, named.artists, named.credits)
    tracks = [_track_row(medium["pregap"], "pregap", 0, *args)] if medium.get("pregap") else []
    tracks += [_track_row(track, "audio", 1000, *args) for track in medium.get("tracks") or []]
    tracks += [_track_row(track, "data", 100000, *args) for track in medium.get("data-tracks") or []]
    return tracks


#: the release's own text fields, "" (unset) read as unknown
_TEXT_FIELDS = ("status", "quality", "country", "packaging", "disambiguation", "asin", "annotation")


def _release_row(doc: dict, mbid: uuid.UUID, rg_row: ReleaseGroupRow | None, media: list[MediumRow],
                 formats: list[str], track_count: int, includes: list[str]) -> ReleaseRow:
    caa = doc.get("cover-art-archive")
    caa = caa if isinstance(caa, dict) else {}
    text_rep = doc.get("text-representation") or {}
    date = nonempty(doc.get("date"))
    barcode = str_or_none(doc.get("barcode"))  # keep "" (explicitly none) apart from None (unknown)
    return ReleaseRow(
        mbid=mbid,
        title=str(doc["title"]),
        artist_credit=credit_phrase(doc.get("artist-credit")),
        release_group_mbid=rg_row.mbid if rg_row else None,
        date=date,
        year=year_of(date),
        barcode=barcode,
        barcode_gtin=gtin_ok(barcode),
        language=nonempty(text_rep.get("language")),
        script=nonempty(text_rep.get("script")),
        **{key: nonempty(doc.get(key)) for key in _TEXT_FIELDS},
        cover_art_front=caa.get("front"),
        cover_art_count=int_or_none(caa.get("count")),
        cover_art_darkened=caa.get("darkened"),
        medium_count=len(media),
        track_count=track_count,
        formats=formats,
        includes=includes,
        fields=[f for f in DOCUMENT_FIELDS if f in doc],
    )
