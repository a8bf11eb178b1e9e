"""The staging tables of the bulk loader, and the COPY text that fills them.

One temporary table per row type, plus `ord` (the line's place in its batch)
so that the merge can tell which document each row came from.  The text is
made from mapped documents here (in the dump reader's process, so that the
loader only ships bytes) and merged by `store.bulk`.
"""

from __future__ import annotations

import dataclasses
import operator
import uuid
from dataclasses import dataclass
from typing import Callable, Iterable

from sqlalchemy.dialects import postgresql

from .. import mapping as mp
from ..db import models as m

TOP_TABLE = {"release": "release", "release-group": "release_group", "artist": "artist", "label": "label",
             "recording": "recording"}


# --- staging tables: one per row type, plus `ord` (the line's place in the batch) ---

def _cols(row_cls, skip=()) -> list[str]:
    return [f.name for f in dataclasses.fields(row_cls) if f.name not in skip]


def _sql_type(model, col: str) -> str:
    return model.__table__.c[col].type.compile(dialect=postgresql.dialect())


@dataclass(frozen=True)
class Stage:
    name: str
    columns: list[str]  # in COPY order
    types: list[str]


def _stage(name: str, extra: list[tuple[str, str]], model, row_cls, skip=()) -> Stage:
    cols = _cols(row_cls, skip)
    return Stage(name, [c for c, _ in extra] + cols, [t for _, t in extra] + [_sql_type(model, c) for c in cols])


STAGES: dict[str, Stage] = {
    s.name: s
    for s in [
        # ids and hashes only: the documents themselves go straight into
        # document_revision, and only when new (see bulk.Loader._merge)
        Stage("stg_doc", ["ord", "mbid", "hash", "raw_hash"], ["bigint", "uuid", "text", "bytea"]),
        _stage("stg_release", [("ord", "bigint")], m.Release, mp.ReleaseRow),
        _stage("stg_medium", [("ord", "bigint"), ("release_mbid", "uuid")], m.Medium, mp.MediumRow, ("tracks",)),
        _stage("stg_track", [("ord", "bigint"), ("release_mbid", "uuid"), ("medium_position", "integer")],
               m.Track, mp.TrackRow),
        _stage("stg_release_label", [("ord", "bigint"), ("release_mbid", "uuid")], m.ReleaseLabel,
               mp.ReleaseLabelRow),
        _stage("stg_artist", [("ord", "bigint"), ("top", "boolean")], m.Artist, mp.ArtistRow),
        _stage("stg_label", [("ord", "bigint"), ("top", "boolean")], m.Label, mp.LabelRow),
        _stage("stg_recording", [("ord", "bigint"), ("top", "boolean")], m.Recording, mp.RecordingRow),
        _stage("stg_release_group", [("ord", "bigint"), ("top", "boolean")], m.ReleaseGroup, mp.ReleaseGroupRow),
        _stage("stg_credit", [("ord", "bigint")], m.ArtistCredit, mp.CreditRow),
        _stage("stg_url", [("ord", "bigint")], m.UrlRelation, mp.UrlRelRow),
        _stage("stg_tag", [("ord", "bigint")], m.Tag, mp.TagRow),
        # which credit owners of the batch were already in the mirror (filled by the upserts)
        Stage("stg_existing", ["entity_type", "entity_mbid"], ["text", "uuid"]),
    ]
}


def staging_ddl() -> list[str]:
    """CREATE TEMP TABLE statements of every staging table (emptied at each commit)."""
    out = []
    for st in STAGES.values():
        cols = ", ".join(f'"{c}" {t}' for c, t in zip(st.columns, st.types))
        if st.name == "stg_doc":
            cols += (", changed boolean NOT NULL DEFAULT true, existed boolean NOT NULL DEFAULT false,"
                     " known_rev bigint")
        out.append(f"CREATE TEMP TABLE IF NOT EXISTS {st.name} ({cols}) ON COMMIT DELETE ROWS")
    return out


# --- COPY text formatting (in the reader process, so the loader only ships bytes) ---

def _esc(v: str) -> str:
    """COPY text escaping; str.replace runs in C, str.translate with a dict does not."""
    if "\\" in v:
        v = v.replace("\\", "\\\\")
    if "\t" in v or "\n" in v or "\r" in v:
        v = v.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return v


def _array(values) -> str:
    parts = []
    for v in values:
        if v is None:
            parts.append("NULL")
        else:
            parts.append('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(parts) + "}"


def copy_value(v) -> str:
    """One value as COPY text."""
    t = type(v)
    if t is str:
        return _esc(v) if ("\\" in v or "\t" in v or "\n" in v or "\r" in v) else v
    if v is None:
        return "\\N"
    if t is bool:
        return "t" if v else "f"
    if t is list or t is tuple:
        return _esc(_array(v))
    if t is uuid.UUID:
        return v.hex  # PostgreSQL reads a uuid without hyphens too, and this is cheaper
    return str(v)


def _esc_bytes(v: bytes) -> bytes:
    if b"\\" in v:
        v = v.replace(b"\\", b"\\\\")
    if b"\t" in v or b"\n" in v or b"\r" in v:
        v = v.replace(b"\t", b"\\t").replace(b"\n", b"\\n").replace(b"\r", b"\\r")
    return v


def copy_line(values) -> str:
    return "\t".join(map(copy_value, values)) + "\n"


_GETTERS: dict[type, Callable] = {}


def _fields_of(obj) -> tuple:
    cls = type(obj)
    getter = _GETTERS.get(cls)
    if getter is None:
        names = [n for n in _cols(cls) if n != "tracks"]
        getter = _GETTERS[cls] = operator.attrgetter(*names)
    return getter(obj)


def rows_of(entity: str, doc: dict, ord_: int) -> dict[str, list[str]]:
    """COPY lines, per staging table, of one mapped document (pure)."""
    out: dict[str, list[str]] = {}

    def add(table, *values):
        out.setdefault(table, []).append(copy_line(values))

    if entity == "release":
        mapped = mp.map_release(doc, includes=mp.asked_includes(doc))
        rel = mapped.release
        add("stg_release", ord_, *_fields_of(rel))
        for medium in mapped.media:
            add("stg_medium", ord_, rel.mbid, *_fields_of(medium))
            for track in medium.tracks:
                add("stg_track", ord_, rel.mbid, medium.position, *_fields_of(track))
        for rl in mapped.release_labels:
            add("stg_release_label", ord_, rel.mbid, *_fields_of(rl))
        for a in mapped.artists:
            add("stg_artist", ord_, False, *_fields_of(a))
        for lb in mapped.labels:
            add("stg_label", ord_, False, *_fields_of(lb))
        for r in mapped.recordings:
            add("stg_recording", ord_, False, *_fields_of(r))
        if mapped.release_group is not None:
            add("stg_release_group", ord_, False, *_fields_of(mapped.release_group))
    else:
        mapped = mp.map_entity(entity, doc)
        add("stg_" + TOP_TABLE[entity], ord_, True, *_fields_of(mapped.row))
        for a in mapped.artists:
            add("stg_artist", ord_, False, *_fields_of(a))
    for c in mapped.credits:
        add("stg_credit", ord_, *_fields_of(c))
    for u in mapped.urls:
        add("stg_url", ord_, *_fields_of(u))
    for t in mapped.tags:
        add("stg_tag", ord_, *_fields_of(t))
    return out


def doc_row(ord_: int, mbid: str, digest: str, raw_hash: bytes) -> str:
    """The document's own `stg_doc` line: its id, the hash of its canonical
    form and the raw hash of its line (`mapping.values.raw_hash`)."""
    return copy_line((ord_, mbid, digest, "\\x" + raw_hash.hex()))


def stage_payload(tables: Iterable[dict[str, list[str]] | None]) -> dict[str, bytes]:
    """The COPY data of a batch, per staging table, from the `rows_of` (plus
    `doc_row`) of each of its lines; None for a line with no rows."""
    tables = list(tables)
    out = {}
    for name in STAGES:
        chunks = [line for t in tables if t for line in t.get(name, ())]
        if chunks:
            out[name] = "".join(chunks).encode("utf-8")
    return out


def doc_copy_bytes(mbid: str, digest: str, raw: bytes) -> bytes:
    """`mbid<TAB>hash<TAB>line` for COPY into document_revision: the line as it came."""
    return f"{mbid}\t{digest}\t".encode() + _esc_bytes(raw)
