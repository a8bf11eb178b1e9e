"""Upstream facts: numbers scoring needs from outside the mirror.

One row per (subject, fact) in `upstream_fact`, with its value, source and
fetch time; a row with a NULL value means the source answered "no figure"
(ListenBrainz `null`: no listens known), no row means unknown (not fetched).
A batch of facts is written in one transaction: a run cut short keeps whole
batches only.  Refetching replaces the row (the latest answer wins).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from ..db import models as m

EDITIONS, RELEASE_GROUPS, LISTENS, LISTENERS = "editions", "release_groups", "listens", "listeners"

#: MusicBrainz's special-purpose artists: their "catalogue" says nothing about
#: anyone (Various Artists, [unknown], [anonymous], [data], [dialogue],
#: [no artist], [traditional])
SPECIAL_ARTISTS = (
    "89ad4ac3-39f7-470e-963a-56509c546377",
    "125ec42a-7229-4250-afc5-e057484327fe",
    "f731ccc4-e22a-43af-a747-64213329e088",
    "33cf029c-63b0-41a0-9855-be2a3665fb3b",
    "314e1c25-dde7-4e4d-b2f4-0a7b9f7c56dc",
    "eec63d3c-3b81-4ad4-b1e4-7c147d4d2b61",
    "9be7f096-97ec-4615-8957-8d40b5dcbc41",
)


@dataclass(frozen=True)
class Fact:
    subject_type: str  # "release-group" | "artist"
    subject_mbid: uuid.UUID
    fact: str
    value: int | None
    source: str


def save_facts(db, facts: list[Fact], run_id: int | None) -> int:
    """Write a batch of facts atomically (insert or replace); returns how many."""
    if not facts:
        return 0
    rows = [dict(subject_type=f.subject_type, subject_mbid=f.subject_mbid, fact=f.fact, value=f.value,
                 source=f.source, sync_run_id=run_id) for f in facts]
    stmt = insert(m.UpstreamFact).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["subject_type", "subject_mbid", "fact"],
        set_={"value": stmt.excluded.value, "source": stmt.excluded.source,
              "fetched_at": text("now()"), "sync_run_id": stmt.excluded.sync_run_id},
    )
    with db.session() as s, s.begin():
        s.execute(stmt)
        # the facts feed the score: the releases they describe are rescored by `score --changed`
        s.execute(text(_MARK_RELEASES), {"groups": [f.subject_mbid for f in facts if f.subject_type == "release-group"],
                                         "artists": [f.subject_mbid for f in facts if f.subject_type == "artist"]})
    return len(rows)


_MARK_RELEASES = """
UPDATE release r SET needs_score = true
WHERE NOT r.needs_score AND (r.release_group_mbid = ANY(CAST(:groups AS uuid[]))
   OR EXISTS (SELECT 1 FROM artist_credit ac WHERE ac.entity_type = 'release' AND ac.entity_mbid = r.mbid
              AND ac.artist_mbid = ANY(CAST(:artists AS uuid[]))))"""


def _scope_sql(releases: list[uuid.UUID] | None) -> str:
    return "AND r.mbid = ANY(CAST(:releases AS uuid[]))" if releases is not None else ""


def due_groups(db, fact: str, max_age: dt.timedelta, releases: list[uuid.UUID] | None = None) -> list[uuid.UUID]:
    """Release groups of live stored releases (all, or of `releases`) whose `fact` is missing or older than max_age."""
    sql = f"""
        SELECT DISTINCT r.release_group_mbid FROM release r
        LEFT JOIN upstream_fact f ON f.subject_type = 'release-group' AND f.subject_mbid = r.release_group_mbid
             AND f.fact = :fact
        WHERE r.release_group_mbid IS NOT NULL AND r.deleted_at IS NULL {_scope_sql(releases)}
          AND (f.fetched_at IS NULL OR f.fetched_at < now() - CAST(:age AS interval))
        ORDER BY 1"""
    return _column(db, sql, fact, max_age, releases)


def due_artists(db, max_age: dt.timedelta, releases: list[uuid.UUID] | None = None) -> list[uuid.UUID]:
    """Artists credited on live stored releases (special-purpose artists left out) whose catalogue size is due."""
    sql = f"""
        SELECT DISTINCT ac.artist_mbid FROM artist_credit ac
        JOIN release r ON r.mbid = ac.entity_mbid AND r.deleted_at IS NULL
        LEFT JOIN upstream_fact f ON f.subject_type = 'artist' AND f.subject_mbid = ac.artist_mbid
             AND f.fact = :fact
        WHERE ac.entity_type = 'release' AND ac.artist_mbid <> ALL(CAST(:special AS uuid[])) {_scope_sql(releases)}
          AND (f.fetched_at IS NULL OR f.fetched_at < now() - CAST(:age AS interval))
        ORDER BY 1"""
    return _column(db, sql, RELEASE_GROUPS, max_age, releases)


def _column(db, sql: str, fact: str, max_age: dt.timedelta, releases) -> list[uuid.UUID]:
    params = {"fact": fact, "age": f"{max_age.total_seconds()} seconds", "special": list(SPECIAL_ARTISTS),
              "releases": list(releases or [])}
    with db.session() as s:
        return [row[0] for row in s.execute(text(sql), params)]


def dump_source(db, entity: str) -> str | None:
    """"dump:<file>" if a full dump of `entity` finished importing (the mirror then
    holds every such entity the dump had, so its own counts are exact for it)."""
    with db.session() as s:
        row = s.execute(text("SELECT path, member FROM dump_import WHERE entity = :e AND status = 'done' "
                             "ORDER BY finished_at DESC NULLS LAST, id DESC LIMIT 1"), {"e": entity}).first()
    if row is None:
        return None
    return f"dump:{row.path}" + (f"#{row.member}" if row.member else "")


def mirror_editions(db, groups: list[uuid.UUID], source: str) -> list[Fact]:
    """Editions of each group counted in the mirror (live releases), for a mirror seeded from a full dump."""
    sql = """SELECT g, (SELECT count(*) FROM release r WHERE r.release_group_mbid = g AND r.deleted_at IS NULL)
             FROM unnest(CAST(:groups AS uuid[])) AS g"""
    return _mirror_counts(db, sql, groups, "release-group", EDITIONS, source)


def mirror_release_groups(db, artists: list[uuid.UUID], source: str) -> list[Fact]:
    """Release groups credited to each artist, counted in the mirror (after a full release-group dump)."""
    sql = """SELECT a, (SELECT count(DISTINCT ac.entity_mbid) FROM artist_credit ac
                        WHERE ac.entity_type = 'release-group' AND ac.artist_mbid = a)
             FROM unnest(CAST(:groups AS uuid[])) AS a"""
    return _mirror_counts(db, sql, artists, "artist", RELEASE_GROUPS, source)


def _mirror_counts(db, sql, subjects, subject_type, fact, source) -> list[Fact]:
    with db.session() as s:
        rows = s.execute(text(sql), {"groups": list(subjects)}).all()
    return [Fact(subject_type, mbid, fact, n, source) for mbid, n in rows]


def release_facts_in(session: Session, mbid: uuid.UUID) -> list[dict]:
    """The facts about one release's group and credited artists, for `show`."""
    sql = """
        SELECT f.subject_type, f.subject_mbid, f.fact, f.value, f.source, f.fetched_at
        FROM upstream_fact f
        WHERE (f.subject_type = 'release-group'
               AND f.subject_mbid = (SELECT release_group_mbid FROM release WHERE mbid = :m))
           OR (f.subject_type = 'artist' AND f.subject_mbid IN (
                SELECT artist_mbid FROM artist_credit WHERE entity_type = 'release' AND entity_mbid = :m))
        ORDER BY f.subject_type DESC, f.fact, f.subject_mbid"""
    return [dict(r._mapping) for r in session.execute(text(sql), {"m": mbid})]


def facts_by_release_in(session: Session, mbids: list[uuid.UUID]) -> dict[uuid.UUID, dict]:
    """{release: {fact: {value, source, fetched_at}}} for the worklist's JSON and export.

    For the artist catalogue the largest known figure among the credited
    artists is given (the same one the score uses)."""
    sql = """
        SELECT r.mbid, f.fact, f.value, f.source, f.fetched_at
        FROM release r
        JOIN upstream_fact f ON f.subject_type = 'release-group' AND f.subject_mbid = r.release_group_mbid
        WHERE r.mbid = ANY(CAST(:m AS uuid[]))
        UNION ALL
        (SELECT DISTINCT ON (ac.entity_mbid) ac.entity_mbid, f.fact, f.value, f.source, f.fetched_at
         FROM artist_credit ac
         JOIN upstream_fact f ON f.subject_type = 'artist' AND f.subject_mbid = ac.artist_mbid
         WHERE ac.entity_type = 'release' AND ac.entity_mbid = ANY(CAST(:m AS uuid[]))
         ORDER BY ac.entity_mbid, f.value DESC NULLS LAST)"""
    out: dict[uuid.UUID, dict] = {}
    for row in session.execute(text(sql), {"m": list(mbids)}):
        out.setdefault(row.mbid, {})[row.fact] = {"value": row.value, "source": row.source,
                                                  "fetched_at": row.fetched_at}
    return out
