"""The one place that knows the shape of ws/2 JSON.

A ws/2 JSON release (musicbrainzngs in JSON mode) and a line of the JSON data
dump have the same shape, so both the API sync and the dump import go through
`map_release`.  Everything downstream works on the plain rows defined here.
Pure functions only: no I/O, no database.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field

import orjson

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


class MappingError(ValueError):
    """The document is not a usable release document."""


@dataclass(slots=True)
class _NamedRow:
    """What artists and labels have in common."""

    mbid: uuid.UUID
    name: str
    sort_name: str | None = None
    type: str | None = None
    country: str | None = None
    disambiguation: str | None = None


@dataclass(slots=True)
class ArtistRow(_NamedRow):
    pass


@dataclass(slots=True)
class LabelRow(_NamedRow):
    label_code: int | None = None


@dataclass(slots=True)
class _TitledRow:
    """What release groups and recordings have in common."""

    mbid: uuid.UUID
    title: str
    artist_credit: str | None = None
    disambiguation: str | None = None
    first_release_date: str | None = None


@dataclass(slots=True)
class ReleaseGroupRow(_TitledRow):
    primary_type: str | None = None
    secondary_types: list[str] | None = None


@dataclass(slots=True)
class RecordingRow(_TitledRow):
    length_ms: int | None = None
    video: bool | None = None


@dataclass(slots=True)
class TrackRow:
    mbid: uuid.UUID | None
    kind: str  # pregap | audio | data
    position: int
    sort_key: int
    number: str | None
    title: str | None
    length_ms: int | None
    recording_mbid: uuid.UUID | None
    artist_credit: str | None


@dataclass(slots=True)
class MediumRow:
    position: int
    mbid: uuid.UUID | None
    format: str | None
    title: str | None
    track_count: int
    tracks: list[TrackRow] = field(default_factory=list)


@dataclass(slots=True)
class ReleaseLabelRow:
    position: int
    label_mbid: uuid.UUID | None
    label_name: str | None
    catalog_number: str | None


@dataclass(slots=True)
class CreditRow:
    entity_type: str
    entity_mbid: uuid.UUID
    position: int
    artist_mbid: uuid.UUID
    name: str | None
    joinphrase: str | None


@dataclass(slots=True)
class UrlRelRow:
    entity_type: str
    entity_mbid: uuid.UUID
    position: int
    url: str
    url_mbid: uuid.UUID | None
    type: str | None
    type_id: uuid.UUID | None
    direction: str | None
    begin: str | None
    end: str | None
    ended: bool | None


@dataclass(slots=True)
class TagRow:
    entity_type: str
    entity_mbid: uuid.UUID
    name: str
    count: int | None


@dataclass(slots=True)
class ReleaseRow:
    mbid: uuid.UUID
    title: str
    artist_credit: str | None
    release_group_mbid: uuid.UUID | None
    status: str | None
    quality: str | None
    date: str | None
    year: int | None
    country: str | None
    barcode: str | None
    packaging: str | None
    language: str | None
    script: str | None
    disambiguation: str | None
    asin: str | None
    annotation: str | None
    cover_art_front: bool | None
    cover_art_count: int | None
    cover_art_darkened: bool | None
    medium_count: int
    track_count: int
    formats: list[str]
    includes: list[str]


@dataclass(slots=True)
class MappedRelease:
    """A release and everything it carries, as rows for the store."""

    release: ReleaseRow
    release_group: ReleaseGroupRow | None
    media: list[MediumRow]
    release_labels: list[ReleaseLabelRow]
    artists: list[ArtistRow]
    labels: list[LabelRow]
    recordings: list[RecordingRow]
    credits: list[CreditRow]
    urls: list[UrlRelRow]
    tags: list[TagRow]


# --- helpers ---------------------------------------------------------------


def canonical_json(doc: dict) -> str:
    """Key order and whitespace do not make a new revision."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json_bytes(doc: dict) -> bytes:
    """`canonical_json` as UTF-8, via orjson (3x faster: it decides dump import
    speed); the stdlib stays the definition for what orjson refuses (ints
    beyond 64 bits, non-string keys).  A test checks both agree."""
    try:
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return canonical_json(doc).encode("utf-8")


def doc_hash(doc: dict) -> str:
    return hashlib.sha256(canonical_json_bytes(doc)).hexdigest()


def parse_mbid(value) -> uuid.UUID:
    """An MBID as UUID; raises ValueError with a readable message otherwise."""
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        raise ValueError(f"not an MBID: {value!r}")
    text = value.strip()
    if not _MBID.fullmatch(text):  # uuid.UUID alone would take full-width digits, braces, no hyphens
        raise ValueError(f"not an MBID: {value!r} (expected 36 characters like 8-4-4-4-12 hex digits)")
    return uuid.UUID(text)


_MBID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _uuid_or_none(value) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _str_or_none(value) -> str | None:
    if value is None:
        return None
    return str(value)


def _nonempty(value) -> str | None:
    """ws/2 sends "" for unset text fields such as disambiguation."""
    if value is None or value == "":
        return None
    return str(value)


def _int_or_none(value) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def year_of(date: str | None) -> int | None:
    if not date or len(date) < 4 or not date[:4].isdigit():
        return None
    year = int(date[:4])
    return year if year > 0 else None


def credit_phrase(credit: list | None) -> str | None:
    """'Artist A feat. Artist B' as MusicBrainz displays it."""
    if not credit:
        return None
    parts = []
    for item in credit:
        if isinstance(item, str):  # very old documents put join phrases as strings
            parts.append(item)
            continue
        name = item.get("name") or (item.get("artist") or {}).get("name") or ""
        parts.append(name + (item.get("joinphrase") or ""))
    return "".join(parts) or None


def _artist_row(artist: dict) -> ArtistRow | None:
    mbid = _uuid_or_none(artist.get("id"))
    if mbid is None:
        return None
    return ArtistRow(mbid=mbid, name=artist.get("name") or "", **_named_fields(artist))


def _named_fields(obj: dict) -> dict:
    """The optional fields every artist and label has."""
    return {key.replace("-", "_"): _nonempty(obj.get(key)) for key in ("sort-name", "type", "country", "disambiguation")}


def _titled_fields(obj: dict) -> dict:
    """The optional fields every release group and recording has."""
    return {
        "artist_credit": credit_phrase(obj.get("artist-credit")),
        "disambiguation": _nonempty(obj.get("disambiguation")),
        "first_release_date": _nonempty(obj.get("first-release-date")),
    }


def _label_row(mbid: uuid.UUID, label: dict, name: str) -> LabelRow:
    """A label, from a release's label-info or a label document."""
    return LabelRow(mbid=mbid, name=name, label_code=_int_or_none(label.get("label-code")), **_named_fields(label))


def _release_group_row(mbid: uuid.UUID, rg: dict, title: str) -> ReleaseGroupRow:
    """A release group, embedded in a release or as its own document."""
    return ReleaseGroupRow(
        mbid=mbid,
        title=title,
        primary_type=_nonempty(rg.get("primary-type")),
        secondary_types=list(rg.get("secondary-types") or []),
        **_titled_fields(rg),
    )


def _recording_row(mbid: uuid.UUID, recording: dict, title: str) -> RecordingRow:
    """A recording, from a track or as its own document."""
    return RecordingRow(
        mbid=mbid,
        title=title,
        length_ms=_int_or_none(recording.get("length")),
        video=recording.get("video"),
        **_titled_fields(recording),
    )


def _credit_rows(entity_type: str, mbid: uuid.UUID, credit: list | None, artists: dict) -> list[CreditRow]:
    rows = []
    for pos, item in enumerate(c for c in (credit or []) if isinstance(c, dict)):
        artist = item.get("artist") or {}
        row = _artist_row(artist)
        if row is None:
            continue
        artists.setdefault(row.mbid, row)
        rows.append(
            CreditRow(
                entity_type=entity_type,
                entity_mbid=mbid,
                position=pos,
                artist_mbid=row.mbid,
                name=_str_or_none(item.get("name")),
                joinphrase=_str_or_none(item.get("joinphrase")),
            )
        )
    return rows


def _tag_rows(entity_type: str, mbid: uuid.UUID, tags: list | None) -> list[TagRow]:
    seen: dict[str, TagRow] = {}
    for tag in tags or []:
        name = (tag.get("name") or "").strip()
        if name and name not in seen:
            seen[name] = TagRow(entity_type, mbid, name, _int_or_none(tag.get("count")))
    return list(seen.values())


def url_rows(entity_type: str, mbid: uuid.UUID, relations: list | None) -> list[UrlRelRow]:
    rows = []
    for rel in relations or []:
        if rel.get("target-type") != "url" or not isinstance(rel.get("url"), dict):
            continue
        url = rel["url"]
        resource = url.get("resource")
        if not resource:
            continue
        rows.append(
            UrlRelRow(
                entity_type=entity_type,
                entity_mbid=mbid,
                position=len(rows),
                url=resource,
                url_mbid=_uuid_or_none(url.get("id")),
                type=_nonempty(rel.get("type")),
                type_id=_uuid_or_none(rel.get("type-id")),
                direction=_nonempty(rel.get("direction")),
                begin=_nonempty(rel.get("begin")),
                end=_nonempty(rel.get("end")),
                ended=rel.get("ended"),
            )
        )
    return rows


def _track_row(track: dict, kind: str, sort_base: int, recordings: dict, artists: dict, credits: list) -> TrackRow:
    recording = track.get("recording") or {}
    rec_mbid = _uuid_or_none(recording.get("id"))
    track_credit = track.get("artist-credit") or recording.get("artist-credit")
    if rec_mbid is not None and rec_mbid not in recordings:
        rec_credit = recording.get("artist-credit")
        recordings[rec_mbid] = _recording_row(rec_mbid, recording, recording.get("title") or track.get("title") or "")
        credits.extend(_credit_rows("recording", rec_mbid, rec_credit, artists))
    else:
        # credits of tracks still teach us who the artists are
        for item in track_credit or []:
            if isinstance(item, dict):
                row = _artist_row(item.get("artist") or {})
                if row is not None:
                    artists.setdefault(row.mbid, row)
    position = _int_or_none(track.get("position"))
    if position is None:
        position = 0
    length = _int_or_none(track.get("length"))
    if length is None:
        length = _int_or_none(recording.get("length"))
    return TrackRow(
        mbid=_uuid_or_none(track.get("id")),
        kind=kind,
        position=position,
        sort_key=sort_base + position,
        number=_str_or_none(track.get("number")),
        title=_str_or_none(track.get("title") if track.get("title") is not None else recording.get("title")),
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
    absences are meaningful; otherwise they are inferred from the keys present.
    """
    if not isinstance(doc, dict):
        raise MappingError(f"release document must be a JSON object, got {type(doc).__name__}")
    try:
        mbid = parse_mbid(doc.get("id"))
    except ValueError as exc:
        raise MappingError(f"release document has no valid id: {exc}") from None
    if doc.get("title") is None:
        raise MappingError(f"release {mbid} has no title")

    artists: dict[uuid.UUID, ArtistRow] = {}
    labels: dict[uuid.UUID, LabelRow] = {}
    recordings: dict[uuid.UUID, RecordingRow] = {}
    credits: list[CreditRow] = []

    credits.extend(_credit_rows("release", mbid, doc.get("artist-credit"), artists))

    # release group
    rg = doc.get("release-group") or None
    rg_row = None
    if isinstance(rg, dict) and _uuid_or_none(rg.get("id")):
        rg_mbid = uuid.UUID(rg["id"])
        rg_row = _release_group_row(rg_mbid, rg, rg.get("title") or "")
        credits.extend(_credit_rows("release-group", rg_mbid, rg.get("artist-credit"), artists))

    # labels and catalogue numbers
    release_labels = []
    for pos, info in enumerate(doc.get("label-info") or []):
        label = info.get("label") or None
        label_mbid = None
        label_name = None
        if isinstance(label, dict):
            label_mbid = _uuid_or_none(label.get("id"))
            label_name = _nonempty(label.get("name"))
            if label_mbid is not None and label_mbid not in labels:
                labels[label_mbid] = _label_row(label_mbid, label, label.get("name") or "")
        release_labels.append(
            ReleaseLabelRow(
                position=pos,
                label_mbid=label_mbid,
                label_name=label_name,
                catalog_number=_nonempty(info.get("catalog-number")),
            )
        )

    # media and tracks: pregap (track 0), audio tracks, then data tracks
    media = []
    track_count = 0
    formats: list[str] = []
    for index, medium in enumerate(doc.get("media") or []):
        position = _int_or_none(medium.get("position")) or index + 1
        fmt = _nonempty(medium.get("format"))
        if fmt and fmt not in formats:
            formats.append(fmt)
        tracks = []
        if medium.get("pregap"):
            tracks.append(_track_row(medium["pregap"], "pregap", 0, recordings, artists, credits))
        for track in medium.get("tracks") or []:
            tracks.append(_track_row(track, "audio", 1000, recordings, artists, credits))
        for track in medium.get("data-tracks") or []:
            tracks.append(_track_row(track, "data", 100000, recordings, artists, credits))
        count = _int_or_none(medium.get("track-count"))
        if count is None:
            count = sum(1 for t in tracks if t.kind != "pregap")
        track_count += count
        media.append(
            MediumRow(
                position=position,
                mbid=_uuid_or_none(medium.get("id")),
                format=fmt,
                title=_nonempty(medium.get("title")),
                track_count=count,
                tracks=tracks,
            )
        )

    caa = doc.get("cover-art-archive")
    text_rep = doc.get("text-representation") or {}
    date = _nonempty(doc.get("date"))
    release = ReleaseRow(
        mbid=mbid,
        title=str(doc["title"]),
        artist_credit=credit_phrase(doc.get("artist-credit")),
        release_group_mbid=rg_row.mbid if rg_row else None,
        status=_nonempty(doc.get("status")),
        quality=_nonempty(doc.get("quality")),
        date=date,
        year=year_of(date),
        country=_nonempty(doc.get("country")),
        barcode=_str_or_none(doc.get("barcode")),  # keep "" (explicitly none) apart from None (unknown)
        packaging=_nonempty(doc.get("packaging")),
        language=_nonempty(text_rep.get("language")),
        script=_nonempty(text_rep.get("script")),
        disambiguation=_nonempty(doc.get("disambiguation")),
        asin=_nonempty(doc.get("asin")),
        annotation=_nonempty(doc.get("annotation")),
        cover_art_front=caa.get("front") if isinstance(caa, dict) else None,
        cover_art_count=_int_or_none(caa.get("count")) if isinstance(caa, dict) else None,
        cover_art_darkened=caa.get("darkened") if isinstance(caa, dict) else None,
        medium_count=len(media),
        track_count=track_count,
        formats=formats,
        includes=sorted(set(includes)) if includes is not None else infer_includes(doc),
    )

    return MappedRelease(
        release=release,
        release_group=rg_row,
        media=media,
        release_labels=release_labels,
        artists=list(artists.values()),
        labels=list(labels.values()),
        recordings=list(recordings.values()),
        credits=credits,
        urls=url_rows("release", mbid, doc.get("relations")) + _group_url_rows(rg_row, rg),
        tags=_tag_rows("release", mbid, doc.get("tags")),
    )


# --- other entities (dump lines of artist / label / recording / release-group) ---


@dataclass(slots=True)
class MappedEntity:
    """A standalone non-release entity document as rows."""

    entity_type: str
    row: ArtistRow | LabelRow | RecordingRow | ReleaseGroupRow
    artists: list[ArtistRow]  # artists named in its credits (sparse, embedded)
    credits: list[CreditRow]
    urls: list[UrlRelRow]
    tags: list[TagRow]


ENTITY_TYPES = ("release", "release-group", "artist", "label", "recording")


def map_entity(entity_type: str, doc: dict) -> MappedEntity:
    """Turn an artist, label, recording or release-group document into rows."""
    if not isinstance(doc, dict):
        raise MappingError(f"{entity_type} document must be a JSON object, got {type(doc).__name__}")
    try:
        mbid = parse_mbid(doc.get("id"))
    except ValueError as exc:
        raise MappingError(f"{entity_type} document has no valid id: {exc}") from None
    name_key = "title" if entity_type in ("recording", "release-group") else "name"
    if doc.get(name_key) is None:
        raise MappingError(f"{entity_type} {mbid} has no {name_key}")
    artists: dict[uuid.UUID, ArtistRow] = {}
    credits = _credit_rows(entity_type, mbid, doc.get("artist-credit"), artists)
    if entity_type == "artist":
        row = _artist_row(doc)
        row.name = str(doc["name"])
        area = doc.get("area") if isinstance(doc.get("area"), dict) else {}
        codes = area.get("iso-3166-1-codes") or []
        row.country = row.country or (codes[0] if codes else None)
    elif entity_type == "label":
        row = _label_row(mbid, doc, str(doc["name"]))
    elif entity_type == "recording":
        row = _recording_row(mbid, doc, str(doc["title"]))
    elif entity_type == "release-group":
        row = _release_group_row(mbid, doc, str(doc["title"]))
    else:
        raise MappingError(f"unknown entity type {entity_type!r}")
    return MappedEntity(
        entity_type=entity_type,
        row=row,
        artists=list(artists.values()),
        credits=credits,
        urls=url_rows(entity_type, mbid, doc.get("relations")),
        tags=_tag_rows(entity_type, mbid, doc.get("tags")),
    )
