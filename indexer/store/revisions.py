"""The revision rules of `indexer.store`, each written once.

Three paths store documents: a lookup (one release version per transaction,
`store.release`), a browse page (its unchanged releases touched at once,
`store.scope`) and a dump batch (`store.bulk`).  They differ only in where
the ids come from; every rule below is one SQL text written as a function of
that source, and all three paths run it:

- **seen again** (rule 1): a document whose current live version has exactly
  this hash only moves its `document.last_seen` (`seen_again_sql`, after
  `unchanged`): one narrow row, the whole cost of a refresh's unchanged
  lines.  While a revision is current, its last sighting is its document's
  (`REVISION_LAST_SEEN` reads it so); the revision's own `last_seen` is
  written when it is stored or comes back, and frozen from the document's
  when the document moves off it (`freeze_current_sql`).  An entity row's
  `last_seen` says when the row was last written from a document; when the
  entity was last seen upstream is its document's `last_seen`;
- **a new or changed version** (rules 1 and 2): a version stored before is
  touched (`touch_revisions_sql`; it keeps its `first_seen`), a new one is
  inserted with `REVISION_COLS`, and the document points at it with its
  `revision_count`, live again if it was tombstoned (`document_pointer_sql`);
- **tombstone** (rule 4): the release and its document get `deleted_at`, the
  release its reason and `needs_score`; nothing is deleted (`tombstone_sql`).

The SQL style is plain SQL text with psycopg's `%(name)s` parameters, each
statement set-based over a source of ids, for three reasons.  The dump path
must stay set-based and reach tables of millions only by index probes from its
staging tables, which needs hand-written SQL (`any_of`), sent through the
loader's own psycopg cursor, where neither SQLAlchemy expressions nor `text()`
(`:name` parameters) run.  The very same text runs through a Session with
`Connection.exec_driver_sql`, inside the caller's transaction, so there is no
second spelling.  And a lookup is simply the set of one: its ids come from a
bound array (`BOUND_IDS`, `BOUND_DOCS`) instead of a staging subquery.

Parameters every statement may use: `et` (the document's entity type),
`seen` (when it was seen); a bound source adds `ids` (uuid[]), `hashes`
(text[]) and `existed` (boolean[]) in the same order; `tombstone_sql` takes
`when` and `why`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from psycopg.types.json import Json
from sqlalchemy.orm import Session

from ..clock import now as _now
from ..mapping import doc_hash

INSERTED, UPDATED, UNCHANGED = "inserted", "updated", "unchanged"

#: the columns of a new revision; the dump loader COPYs them, a lookup inserts them
REVISION_COLS = "entity_type, mbid, hash, doc, source, first_seen, last_seen, sync_run_id"


# --- sources of ids ------------------------------------------------------------------------

# Every statement that reaches a table of millions from a staged batch does so
# through `= ANY(ARRAY(subquery))` or a correlated subquery: both are index
# probes whatever the statistics say.  A join would leave it to the planner, and
# while a table grows fast its statistics lag far behind (an empty mirror
# "holds" 156 documents when it holds 75,000), so the planner hashes the whole
# table for every batch and a seed slows down as it goes.
def any_of(subquery: str) -> str:
    """Ids from a subquery (the dump path's staging tables), probed one by one."""
    return f"ANY(ARRAY({subquery}))"


#: ids bound as an array (`ids`): a browse page, or a lookup as the set of one
BOUND_IDS = "ANY(CAST(%(ids)s AS uuid[]))"
#: documents bound as arrays (`ids`, `hashes`, `existed`), as rows s(mbid, hash, existed)
BOUND_DOCS = ("unnest(CAST(%(ids)s AS uuid[]), CAST(%(hashes)s AS text[]), CAST(%(existed)s AS boolean[])) "
              "AS s(mbid, hash, existed)")
_BOUND_HASHES = "unnest(CAST(%(ids)s AS uuid[]), CAST(%(hashes)s AS text[])) AS s(mbid, hash)"


# --- the rules -------------------------------------------------------------------------------

def unchanged(hash_expr: str) -> str:
    """Rule 1, the test: the current document `d` is live and has exactly this
    hash (a tombstoned document seen again counts as changed)."""
    return f"(d.hash = {hash_expr} AND d.deleted_at IS NULL)"


def revision_of(mbid_expr: str, hash_expr: str) -> str:
    """The stored revision of (`et`, mbid) with this hash, if any: an older
    version coming back is that revision, not a new one."""
    return (f"(SELECT r.id FROM document_revision r WHERE r.entity_type = %(et)s AND r.mbid = {mbid_expr} "
            f"AND r.hash = {hash_expr})")


def touch_revisions_sql(revision_ids: str) -> str:
    """A version seen again, current or older: only its `last_seen` moves."""
    return f"UPDATE document_revision r SET last_seen = %(seen)s WHERE r.id = {revision_ids}"


def seen_again_sql(ids: str) -> str:
    """Rule 1 for the documents `ids` (already known unchanged): only the
    document's `last_seen` moves.  Why not also its current revision's and
    the entity row's, as before: those rows are wide (the JSON, a tsvector
    recomputed on every update of `release`) and indexed, so touching them
    cost ten times the narrow document row, most of a refresh's time, to
    write a value the document already holds."""
    return f"UPDATE document d SET last_seen = %(seen)s WHERE d.entity_type = %(et)s AND d.mbid = {ids}"


def seen_again_if_sql(raw_hashes: str) -> str:
    """Rule 1 for dump lines flagged unchanged by their bytes (`store.raw_lines`),
    checked and touched in one statement: the live documents stored from
    exactly these raw hashes (`raw_hashes`: an id source of bytea, probed in
    `ix_document_raw_hash`) are seen again; returns their MBIDs.  The bytes
    name the document (the raw hash is only ever stored beside the document
    a full parse of those bytes gave), so no MBID is needed to find it; the
    caller sends a flagged line whose MBID (as text) does not come back the full path."""
    return ("UPDATE document d SET last_seen = %(seen)s "
            f"WHERE d.raw_hash = {raw_hashes} AND d.entity_type = %(et)s AND d.deleted_at IS NULL "
            "RETURNING d.mbid::text")


def freeze_current_sql(ids: str) -> str:
    """Before the documents `ids` move to another revision: the revision they
    leave keeps the last sighting it had as the current one (rule 1 moved
    only the document's `last_seen` meanwhile)."""
    return ("UPDATE document_revision r SET last_seen = d.last_seen FROM document d "
            f"WHERE d.entity_type = %(et)s AND d.mbid = {ids} AND r.id = d.revision_id AND r.last_seen < d.last_seen")


#: a revision's last sighting, for readers joining `document d` to `document_revision r`
REVISION_LAST_SEEN = ("CASE WHEN d.revision_id = r.id THEN greatest(r.last_seen, d.last_seen) "
                      "ELSE r.last_seen END")


def document_pointer_sql(source: str, raw_hash: str = "NULL") -> str:
    """Rule 2 for the new or changed documents of `source` (rows s(mbid, hash,
    existed), their revision already stored): the document points at it with
    its revision count, and is live again.  `raw_hash`: the raw hash of the
    dump line that brought the revision (`store.raw_lines`), NULL for one
    that came from elsewhere (a lookup)."""
    return (
        "INSERT INTO document (entity_type, mbid, revision_id, hash, revision_count, first_seen, last_seen, "
        "raw_hash) "
        f"SELECT %(et)s, s.mbid, {revision_of('s.mbid', 's.hash')}, s.hash, "
        " CASE WHEN s.existed THEN (SELECT count(*) FROM document_revision c "
        "  WHERE c.entity_type = %(et)s AND c.mbid = s.mbid) ELSE 1 END, "
        f" %(seen)s, %(seen)s, {raw_hash} "
        f"FROM {source} "
        "ON CONFLICT (entity_type, mbid) DO UPDATE SET revision_id = EXCLUDED.revision_id, hash = EXCLUDED.hash, "
        "revision_count = EXCLUDED.revision_count, last_seen = EXCLUDED.last_seen, deleted_at = NULL, "
        "raw_hash = EXCLUDED.raw_hash"
    )


def tombstone_sql(where: str) -> str:
    """Rule 4 for the live releases matching `where` (a condition on
    `release`): tombstoned with the reason `why` at `when`, release and
    document alike, every row kept.  Returns one row: how many."""
    return (
        "WITH gone AS (UPDATE release SET deleted_at = %(when)s, deleted_reason = %(why)s, needs_score = true "
        f" WHERE deleted_at IS NULL AND {where} RETURNING mbid), "
        "docs AS (UPDATE document d SET deleted_at = %(when)s FROM gone "
        " WHERE d.entity_type = 'release' AND d.mbid = gone.mbid AND d.deleted_at IS NULL) "
        "SELECT count(*) FROM gone"
    )


# --- the rules through a Session (a lookup, a browse page) -----------------------------------

_CURRENT_SQL = (f"SELECT d.mbid, d.revision_id, {unchanged('s.hash')} AS unchanged FROM document d "
                f"JOIN {_BOUND_HASHES} ON d.mbid = s.mbid WHERE d.entity_type = %(et)s FOR UPDATE OF d")
_KNOWN_SQL = f"SELECT {revision_of('s.mbid', 's.hash')} FROM {_BOUND_HASHES}"
_INSERT_REVISION_SQL = (f"INSERT INTO document_revision ({REVISION_COLS}) "
                        "VALUES (%(et)s, %(mbid)s, %(hash)s, %(doc)s, %(source)s, %(seen)s, %(seen)s, %(run)s) "
                        "RETURNING id")


@dataclass(frozen=True)
class Current:
    """The stored document of an entity, as a new version finds it."""

    revision_id: int
    unchanged: bool  # live, with exactly the new version's hash


def _run(session: Session, sql: str, params: dict):
    """One of the texts above, in the session's transaction."""
    return session.connection().exec_driver_sql(sql, params)


def current_in(session: Session, entity_type: str, hashes: dict[uuid.UUID, str]) -> dict[uuid.UUID, Current]:
    """The stored documents of these entities (locked until the caller's
    commit), each with whether the given hash leaves it unchanged."""
    rows = _run(session, _CURRENT_SQL, {"et": entity_type, "ids": list(hashes), "hashes": list(hashes.values())})
    return {row.mbid: Current(row.revision_id, row.unchanged) for row in rows}


def touch_in(session: Session, entity_type: str, ids: list[uuid.UUID], seen: dt.datetime) -> None:
    """Rule 1 for documents known unchanged: seen again at `seen`."""
    if ids:
        _run(session, seen_again_sql(BOUND_IDS), {"et": entity_type, "ids": ids, "seen": seen})


def seen_again_in(session: Session, entity_type: str, hashes: dict[uuid.UUID, str], seen: dt.datetime
                  ) -> set[uuid.UUID]:
    """Rule 1 for a set of documents at once (a browse page): those whose
    current live document has exactly the given hash are seen again; returns
    them.  Every other one needs `store_document_in` (and its rows stored)."""
    if not hashes:
        return set()
    ids = [mbid for mbid, cur in current_in(session, entity_type, hashes).items() if cur.unchanged]
    touch_in(session, entity_type, ids, seen)
    return set(ids)


def store_document_in(session: Session, entity_type: str, mbid: uuid.UUID, doc: dict, *, source: str,
                      run_id: int | None, seen_at: dt.datetime) -> tuple[str, int]:
    """Rules 1 and 2 for one raw document version; returns (outcome,
    revision id).  Unchanged, it is only seen again (the entity's row too);
    otherwise its revision is stored or touched and the document points at
    it, and the caller stores the entity's rows."""
    digest = doc_hash(doc)
    params = {"et": entity_type, "ids": [mbid], "hashes": [digest], "seen": seen_at}
    current = current_in(session, entity_type, {mbid: digest}).get(mbid)
    if current is not None and current.unchanged:
        touch_in(session, entity_type, [mbid], seen_at)
        return UNCHANGED, current.revision_id
    # a new document has no older versions (as in the dump loader's _KNOWN_REV_SQL)
    revision_id = _run(session, _KNOWN_SQL, params).scalar() if current is not None else None
    if current is not None:
        _run(session, freeze_current_sql(BOUND_IDS), params)
    if revision_id is not None:
        _run(session, touch_revisions_sql("%(revision)s"), dict(params, revision=revision_id))
    else:
        revision_id = _run(session, _INSERT_REVISION_SQL, dict(
            params, mbid=mbid, hash=digest, doc=Json(doc), source=source, run=run_id)).scalar_one()
    _run(session, document_pointer_sql(BOUND_DOCS), dict(params, existed=[current is not None]))
    return (INSERTED if current is None else UPDATED), revision_id


def tombstone_in(session: Session, mbid: uuid.UUID, reason: str, when: dt.datetime | None = None) -> bool:
    """Rule 4 for one release: mark it deleted upstream, keeping every row;
    True if newly tombstoned."""
    params = {"ids": [mbid], "why": reason, "when": when or _now()}
    return _run(session, tombstone_sql(f"mbid = {BOUND_IDS}"), params).scalar_one() > 0
