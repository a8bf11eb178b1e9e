"""Rows of the entities a document names (artists, labels, release groups,
recordings), their credits, tags and URL relationships: shared by the release
mapping and the other entities' dump lines."""

from __future__ import annotations

import uuid

from .rows import ArtistRow, CreditRow, LabelRow, RecordingRow, ReleaseGroupRow, TagRow, UrlRelRow
from .values import credit_phrase, int_or_none, nonempty, str_or_none, uuid_or_none


def artist_row(artist: dict) -> ArtistRow | None:
    mbid = uuid_or_none(artist.get("id"))
    if mbid is None:
        return None
    return ArtistRow(mbid=mbid, name=artist.get("name") or "", **named_fields(artist))


def named_fields(obj: dict) -> dict:
    """The optional fields every artist and label has."""
    return {key.replace("-", "_"): nonempty(obj.get(key)) for key in ("sort-name", "type", "country", "disambiguation")}


def titled_fields(obj: dict) -> dict:
    """The optional fields every release group and recording has."""
    return {
        "artist_credit": credit_phrase(obj.get("artist-credit")),
        "disambiguation": nonempty(obj.get("disambiguation")),
        "first_release_date": nonempty(obj.get("first-release-date")),
    }


def label_row(mbid: uuid.UUID, label: dict, name: str) -> LabelRow:
    """A label, from a release's label-info or a label document."""
    return LabelRow(mbid=mbid, name=name, label_code=int_or_none(label.get("label-code")), **named_fields(label))


def release_group_row(mbid: uuid.UUID, rg: dict, title: str) -> ReleaseGroupRow:
    """A release group, embedded in a release or as its own document."""
    return ReleaseGroupRow(
        mbid=mbid,
        title=title,
        primary_type=nonempty(rg.get("primary-type")),
        secondary_types=list(rg.get("secondary-types") or []),
        **titled_fields(rg),
    )


def recording_row(mbid: uuid.UUID, recording: dict, title: str) -> RecordingRow:
    """A recording, from a track or as its own document."""
    return RecordingRow(
        mbid=mbid,
        title=title,
        length_ms=int_or_none(recording.get("length")),
        video=recording.get("video"),
        **titled_fields(recording),
    )


def credit_rows(entity_type: str, mbid: uuid.UUID, credit: list | None, artists: dict) -> list[CreditRow]:
    rows = []
    for pos, item in enumerate(c for c in (credit or []) if isinstance(c, dict)):
        artist = item.get("artist") or {}
        row = artist_row(artist)
        if row is None:
            continue
        artists.setdefault(row.mbid, row)
        rows.append(
            CreditRow(
                entity_type=entity_type,
                entity_mbid=mbid,
                position=pos,
                artist_mbid=row.mbid,
                name=str_or_none(item.get("name")),
                joinphrase=str_or_none(item.get("joinphrase")),
            )
        )
    return rows


def tag_rows(entity_type: str, mbid: uuid.UUID, tags: list | None) -> list[TagRow]:
    seen: dict[str, TagRow] = {}
    for tag in tags or []:
        name = (tag.get("name") or "").strip()
        if name and name not in seen:
            seen[name] = TagRow(entity_type, mbid, name, int_or_none(tag.get("count")))
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
                url_mbid=uuid_or_none(url.get("id")),
                type=nonempty(rel.get("type")),
                type_id=uuid_or_none(rel.get("type-id")),
                direction=nonempty(rel.get("direction")),
                begin=nonempty(rel.get("begin")),
                end=nonempty(rel.get("end")),
                ended=rel.get("ended"),
            )
        )
    return rows
