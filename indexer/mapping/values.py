"""Values inside documents: identities (MBIDs, the canonical hash) and the
scalars ws/2 sends ("" for unset text, numbers as strings or numbers)."""

from __future__ import annotations

import hashlib
import json
import re
import uuid

import orjson


class MappingError(ValueError):
    """The document is not a usable release document."""


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


def raw_hash(raw: bytes | memoryview) -> bytes:
    """A dump line's identity as bytes (16 bytes of the SHA-256 of the line
    without its end of line, cut off here without copying the line): the
    same bytes are the same document, so a refresh tells an unchanged line
    before parsing it (`store.raw_lines`)."""
    end = len(raw)
    while end and raw[end - 1] in b"\r\n":  # as rstrip(b"\r\n")
        end -= 1
    return hashlib.sha256(memoryview(raw)[:end]).digest()[:16]


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


def uuid_or_none(value) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def str_or_none(value) -> str | None:
    if value is None:
        return None
    return str(value)


def nonempty(value) -> str | None:
    """ws/2 sends "" for unset text fields such as disambiguation."""
    if value is None or value == "":
        return None
    return str(value)


def int_or_none(value) -> int | None:
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


_GTIN_LENGTHS = (8, 12, 13, 14)


def gtin_ok(barcode: str | None) -> bool | None:
    """Whether a barcode reads as a UPC or EAN (None: no barcode to judge,
    unknown or explicitly none).  True for 8, 12, 13 or 14 ASCII digits whose
    check digit is right (the weighted sum, 1, 3, 1, 3... from the right,
    ends in 0), and for 11 digits, which MusicBrainz's release editor reads
    as a UPC with its check digit missing (an entry slip, not an invented
    number).  Computed once when the release is stored (`release.barcode_gtin`),
    not at every scoring (`barcode_invalid`)."""
    if not barcode:
        return None
    if not (barcode.isascii() and barcode.isdigit()):
        return False
    if len(barcode) == 11:
        return True
    if len(barcode) not in _GTIN_LENGTHS:
        return False
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(reversed(barcode)))
    return total % 10 == 0


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


def document_mbid(doc, entity_type: str, name_key: str) -> uuid.UUID:
    """The MBID of a document that is a JSON object with a valid id and a
    name (or title); raises MappingError naming what is wrong."""
    if not isinstance(doc, dict):
        raise MappingError(f"{entity_type} document must be a JSON object, got {type(doc).__name__}")
    try:
        mbid = parse_mbid(doc.get("id"))
    except ValueError as exc:
        raise MappingError(f"{entity_type} document has no valid id: {exc}") from None
    if doc.get(name_key) is None:
        raise MappingError(f"{entity_type} {mbid} has no {name_key}")
    return mbid
