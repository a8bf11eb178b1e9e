"""The one place that knows the shape of ws/2 JSON.

A ws/2 JSON release (musicbrainzngs in JSON mode) and a line of the JSON data
dump have the same shape, so both the API sync and the dump import go through
`map_release`.  Everything downstream works on the plain rows defined in
`rows`.  Pure functions only: no I/O, no database.

    values.py   identities (MBIDs, the canonical hash, a raw line's hash and MBID) and ws/2's scalars
    rows.py     the row dataclasses
    parts.py    rows of the entities a document names, credits, tags, links
    release.py  map_release, and which includes a document carries
    entity.py   map_entity: artist, label, recording, release-group dump lines
"""

from . import rows
from .entity import ENTITY_TYPES, map_entity
from .release import DOCUMENT_FIELDS, asked_includes, infer_includes, map_release
from .rows import *  # noqa: F403 - the row dataclasses, as rows.__all__ names them
from .values import (
    MappingError,
    canonical_json,
    canonical_json_bytes,
    credit_phrase,
    doc_hash,
    parse_mbid,
    raw_hash,
    year_of,
)

__all__ = rows.__all__ + [
    "DOCUMENT_FIELDS", "ENTITY_TYPES", "MappingError", "asked_includes", "canonical_json", "canonical_json_bytes",
    "credit_phrase", "doc_hash", "infer_includes", "map_entity", "map_release", "parse_mbid", "raw_hash",
    "year_of",
]
