"""What a preservation package or a library record needs, read from the mirror.

Read-only.  Releases are chosen by MBIDs or by the worklist's `Filters` (the
selection `export` uses) and streamed: the selection is read through a
server-side cursor and each release is read whole, handed on, and dropped
from the session before the next, so memory stays flat however many
releases a package holds.

A release's record is `curation.show_in()` (the summary: score, signals and
whatever facts `show` carries) plus what `show` leaves out: every stored
revision's raw bytes, the MBIDs merged into it, and its artist credits.
"""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import text

from ..db import Database
from ..db import models as m
from ..store import resolve_mbid_in
from ..store.revisions import REVISION_LAST_SEEN
from .curation import FLAGGED_FROM, FLAGGED_ORDER, Filters, NotFoundError, filter_sql, show_in

#: the `Filters` fields whose command-line option has another name
_OPTION_NAMES = {"formats": "format", "statuses": "status"}
#: rows fetched per round trip from the selection's server-side cursor
STREAM_BATCH = 1000


@dataclass(frozen=True)
class Selection:
    """Which releases: the MBIDs given, or else everything `filters` select."""

    mbids: tuple[uuid.UUID, ...] = ()
    filters: Filters = field(default_factory=lambda: Filters(limit=None))

    def describe(self) -> str:
        """The selection in words, for a package's bag-info.txt."""
        if self.mbids:
            return "MBIDs " + " ".join(str(x) for x in self.mbids)
        parts = []
        for name, value in vars(self.filters).items():
            if value in (None, (), "") or name in ("include_deleted", "offset"):
                continue
            option = "--" + _OPTION_NAMES.get(name, name).replace("_", "-")
            for one in value if isinstance(value, tuple) else (value,):
                parts.append(f"{option} {shlex.quote(str(one))}")
        return "flagged " + " ".join(parts)


def _requested(session, mbids: tuple[uuid.UUID, ...]) -> list[uuid.UUID]:
    """The MBIDs asked for, following merges, each once; NotFoundError names
    the first that is not in the mirror (before anything is written)."""
    out: dict[uuid.UUID, None] = {}
    for requested in mbids:
        mbid = resolve_mbid_in(session, "release", requested)
        if session.get(m.Release, mbid) is None:
            raise NotFoundError(f"release {requested} is not in the mirror")
        out[mbid] = None
    session.expunge_all()
    return list(out)


def _filtered(session, f: Filters) -> Iterator[uuid.UUID]:
    """The worklist's MBIDs in its order, through a server-side cursor."""
    where, params = filter_sql(f)
    limit = ""
    if f.limit is not None:
        limit = "LIMIT :limit"
        params["limit"] = f.limit
    sql = f"SELECT r.mbid {FLAGGED_FROM} WHERE {where} ORDER BY {FLAGGED_ORDER[f.sort]} {limit}"
    stmt = text(sql).execution_options(stream_results=True, yield_per=STREAM_BATCH)
    for row in session.execute(stmt, params):
        yield row.mbid


def selected_mbids(db: Database, selection: Selection) -> Iterator[uuid.UUID]:
    """Stream the selected releases' MBIDs (merged MBIDs resolved)."""
    with db.session() as s:
        if selection.mbids:
            yield from _requested(s, selection.mbids)
        else:
            yield from _filtered(s, selection.filters)


def _rows(session, sql: str, mbid: uuid.UUID) -> list[dict]:
    return [dict(r._mapping) for r in session.execute(text(sql), {"m": mbid})]


def release_record_in(session, mbid: uuid.UUID, policy, *, documents: bool) -> dict:
    """One release, read inside the caller's transaction: `show_in()` plus
    `credits`, `redirects` and, with `documents`, each revision's raw bytes
    as stored (`doc::text`: the json column keeps the text byte for byte)
    under `documents`."""
    info = show_in(session, mbid, policy)
    info["credits"] = _rows(
        session,
        "SELECT artist_mbid, name, joinphrase FROM artist_credit "
        "WHERE entity_type = 'release' AND entity_mbid = :m ORDER BY position",
        mbid,
    )
    info["redirects"] = _rows(
        session,
        "SELECT old_mbid, first_seen, sync_run_id FROM redirect "
        "WHERE entity_type = 'release' AND new_mbid = :m ORDER BY first_seen, old_mbid",
        mbid,
    )
    if documents:
        info["documents"] = [
            dict(row, raw=row["raw"].encode("utf-8"))
            for row in _rows(
                session,
                f"SELECT r.id, r.hash, r.source, r.first_seen, {REVISION_LAST_SEEN} AS last_seen, "
                "r.doc::text AS raw FROM document_revision r "
                "LEFT JOIN document d ON d.entity_type = r.entity_type AND d.mbid = r.mbid "
                "WHERE r.entity_type = 'release' AND r.mbid = :m ORDER BY r.first_seen, r.id",
                mbid,
            )
        ]
    return info


def release_records(db: Database, selection: Selection, policy, *, documents: bool = False) -> Iterator[dict]:
    """Stream `release_record_in` for every selected release, in the selection's
    order.  The session is emptied after each release so nothing piles up."""
    with db.session() as s:
        for mbid in selected_mbids(db, selection):
            yield release_record_in(s, mbid, policy, documents=documents)
            s.expunge_all()
