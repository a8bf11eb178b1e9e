"""Artist, label, recording and release-group documents (dump lines) as rows."""

from __future__ import annotations

import uuid

from .parts import artist_row, credit_rows, label_row, recording_row, release_group_row, tag_rows, url_rows
from .rows import ArtistRow, MappedEntity
from .values import MappingError, document_mbid

ENTITY_TYPES = ("release", "release-group", "artist", "label", "recording")


def map_entity(entity_type: str, doc: dict) -> MappedEntity:
    """Turn an artist, label, recording or release-group document into rows."""
    name_key = "title" if entity_type in ("recording", "release-group") else "name"
    mbid = document_mbid(doc, entity_type, name_key)
    artists: dict[uuid.UUID, ArtistRow] = {}
    credits = credit_rows(entity_type, mbid, doc.get("artist-credit"), artists)
    if entity_type == "artist":
        row = artist_row(doc)
        row.name = str(doc["name"])
        area = doc.get("area") if isinstance(doc.get("area"), dict) else {}
        codes = area.get("iso-3166-1-codes") or []
        row.country = row.country or (codes[0] if codes else None)
    elif entity_type == "label":
        row = label_row(mbid, doc, str(doc["name"]))
    elif entity_type == "recording":
        row = recording_row(mbid, doc, str(doc["title"]))
    elif entity_type == "release-group":
        row = release_group_row(mbid, doc, str(doc["title"]))
    else:
        raise MappingError(f"unknown entity type {entity_type!r}")
    return MappedEntity(
        entity_type=entity_type,
        row=row,
        artists=list(artists.values()),
        credits=credits,
        urls=url_rows(entity_type, mbid, doc.get("relations")),
        tags=tag_rows(entity_type, mbid, doc.get("tags")),
    )
