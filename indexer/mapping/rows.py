"""The rows a document maps to: plain dataclasses, one per table the store writes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

__all__ = [
    "ArtistRow",
    "CreditRow",
    "LabelRow",
    "MappedEntity",
    "MappedRelease",
    "MediumRow",
    "RecordingRow",
    "ReleaseGroupRow",
    "ReleaseLabelRow",
    "ReleaseRow",
    "TagRow",
    "TrackRow",
    "UrlRelRow",
]


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
    barcode_gtin: bool | None  # values.gtin_ok(barcode)
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
    fields: list[str]


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


@dataclass(slots=True)
class MappedEntity:
    """A standalone non-release entity document as rows."""

    entity_type: str
    row: ArtistRow | LabelRow | RecordingRow | ReleaseGroupRow
    artists: list[ArtistRow]  # artists named in its credits (sparse, embedded)
    credits: list[CreditRow]
    urls: list[UrlRelRow]
    tags: list[TagRow]
