"""Reads for browsing the mirror: a page of the worklist with how many
releases match its filters, and a readable diff between two stored revisions
of a release's raw document.  Parameters are bound, never formatted into SQL.

`worklist_page` and `revision_documents` take a `Database` and read in one
transaction of their own (one per page view); `count_flagged_in` runs inside
the caller's."""

from __future__ import annotations

import difflib
import itertools
import json
import uuid
from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from ..db import Database
from ..store import resolve_mbid_in
from .curation import (
    FLAGGED_FROM,
    QUERY_CANCELED,
    Filters,
    NotFoundError,
    filter_sql,
    flagged_in,
    narrow_title_in,
    serial_in,
)

#: counting stops here: an exact count of a million matches costs a scan of
#: them all on every page view (at 1M releases a cap of 10,000 already cost
#: ~100 ms for `--format Cassette`), and "more than 1,000" (20 pages) tells a
#: curator to narrow the filters as well as an exact figure would
COUNT_CAP = 1_000
#: and it gives up after this long: a rare combination (few matches among
#: many candidates, say GB and score >= 60 at 1M releases: 300 ms) must not
#: hold up the page it is shown on
COUNT_BUDGET_MS = 60


class WorklistPage(NamedTuple):
    """A page of the worklist: its rows, how many releases match (None: not
    counted within the budget) and whether there are more than that."""

    rows: list[dict]
    count: int | None
    more: bool


def worklist_page(db: Database, f: Filters) -> WorklistPage:
    """`flagged` for one page (`f.limit`, `f.offset`) and the count of its
    matches, in one transaction.  A first page that is not full (or not
    limited) holds every match, so nothing more is counted; otherwise
    `count_flagged_in` counts up to COUNT_CAP within COUNT_BUDGET_MS."""
    with db.session() as s:
        serial_in(s)  # a page and a capped count: a parallel worker costs more than it saves
        f = narrow_title_in(s, f)  # once for both reads
        rows = flagged_in(s, f)
        if f.offset == 0 and (f.limit is None or len(rows) < f.limit):
            return WorklistPage(rows, len(rows), False)  # all of them are on this page
        count, more = count_flagged_in(s, f)
    return WorklistPage(rows, count, more)


def count_flagged_in(session, f: Filters, cap: int = COUNT_CAP,
                     budget_ms: int = COUNT_BUDGET_MS) -> tuple[int | None, bool]:
    """The number of releases matching the filters (ignoring limit and
    offset), counted up to `cap` (the flag says it was cut there) within
    `budget_ms` (None when counting took longer). Runs in a savepoint of the
    session's transaction, whose other reads a timeout leaves alone."""
    where, params = filter_sql(narrow_title_in(session, f))
    params["cap"] = cap + 1
    sql = text(f"SELECT count(*) FROM (SELECT 1 {FLAGGED_FROM} WHERE {where} LIMIT :cap) x")
    before = session.execute(text("SELECT current_setting('statement_timeout')")).scalar_one()
    try:
        with session.begin_nested():
            session.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(budget_ms)})
            n = session.execute(sql, params).scalar_one()
            session.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": before})
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != QUERY_CANCELED:
            raise
        return None, True
    return min(n, cap), n > cap


def revision_documents(db: Database, requested: uuid.UUID, a: int, b: int) -> tuple[dict, dict]:
    """The two stored revisions `a` and `b` of a release (following merges),
    each as {id, hash, source, first_seen, doc}, read in one transaction.
    Raises NotFoundError when either is not a revision of that release."""
    with db.session() as s:
        mbid = resolve_mbid_in(s, "release", requested)
        rows = {
            r.id: dict(r._mapping)
            for r in s.execute(
                text("SELECT id, hash, source, first_seen, doc FROM document_revision "
                     "WHERE entity_type = 'release' AND mbid = :m AND id = ANY(CAST(:ids AS bigint[]))"),
                {"m": mbid, "ids": [a, b]},
            )
        }
    missing = [str(i) for i in (a, b) if i not in rows]
    if missing:
        raise NotFoundError(f"release {requested} has no revision {', '.join(missing)}")
    return rows[a], rows[b]


def _lines(doc) -> list[str]:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def diff_documents(old, new, context: int = 3) -> list[tuple[str, str]]:
    """A unified diff of two JSON documents, pretty-printed with sorted keys
    (so key order and spacing never show as changes): (kind, line) pairs,
    kind one of "hunk", "del", "add", "same"; empty when they are equal."""
    out = []
    lines = difflib.unified_diff(_lines(old), _lines(new), lineterm="", n=context)
    for line in itertools.islice(lines, 2, None):  # after the ---/+++ file header
        kind = {"@": "hunk", "-": "del", "+": "add"}.get(line[:1], "same")
        out.append((kind, line))
    return out
