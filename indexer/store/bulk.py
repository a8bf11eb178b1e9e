"""The bulk loader: whole batches of dump lines into the mirror, with COPY
and a fixed set of set-based statements.

It applies the revision rules stated in `indexer/store/__init__.py` by
running the statements of `store.revisions` over its staging tables, the same
texts a lookup and a browse page run over bound ids (a test compares the rows
the three paths store).  A batch arrives as COPY text made by the
dump reader (`store.staging`), is COPYed into temporary staging tables and
merged; the checkpoint of its dump file (`dump_import`) and the counts of its
run (`sync_run`, through `runs.ADD_COUNTS_SQL`) move in the same transaction,
so a batch is in or out as a whole.  A line the database refuses is found
line by line and quarantined verbatim.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Callable, Protocol

import orjson
import psycopg
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..clock import now
from ..db import Database
from ..db import models as m
from ..runs import ADD_COUNTS_SQL, Run
from .raw_lines import BOUND_RAW_HASHES, FlaggedLines, hex_list, uuid_array
from .revisions import (
    BOUND_IDS,
    REVISION_COLS,
    any_of,
    document_pointer_sql,
    freeze_current_sql,
    revision_of,
    seen_again_if_sql,
    seen_again_sql,
    tombstone_sql,
    touch_revisions_sql,
    unchanged,
)
from .staging import (
    STAGES,
    TOP_TABLE,
    copy_line,
    copy_value,
    doc_copy_bytes,
    doc_row,
    rows_of,
    stage_payload,
    staging_ddl,
)


class StagedLine(Protocol):
    """What the loader needs of a dump line (`sync.dump_batches.Item`)."""

    line_no: int
    mbid: str | None
    tables: dict[str, list[str]] | None
    error: str | None
    raw: bytes  # the line as read; of an over-long line only its first KB
    raw_offset: int | None  # an over-long line: where it starts in its file, in bytes
    raw_length: int | None  # and how long it is
    hash: str | None
    raw_hash: bytes | None  # `mapping.values.raw_hash` of the line
    ord: int
    doc_bytes: bytes | None


# --- merge SQL ---------------------------------------------------------------------------

def _names(cols: list[str], alias: str | None = None) -> str:
    pre = f"{alias}." if alias else ""
    return ", ".join(f'{pre}"{c}"' for c in cols)


# Every statement that reaches a table of millions from a staged batch does so
# through `revisions.any_of` (`= ANY(ARRAY(subquery))`) or a correlated
# subquery: index probes whatever the planner's statistics say.

# which documents are new or changed (rule 1's test, `revisions.unchanged`),
# and which changed ones are an older version coming back
_CLASSIFY_SQL = (
    "UPDATE stg_doc s SET (existed, changed) = (SELECT count(*) > 0, "
    f" coalesce(bool_or(NOT {unchanged('s.hash')}), true) "
    " FROM document d WHERE d.entity_type = %(et)s AND d.mbid = s.mbid)"
)
# run only when some changed document existed: a new one has no older versions
_KNOWN_REV_SQL = f"UPDATE stg_doc s SET known_rev = {revision_of('s.mbid', 's.hash')} WHERE s.changed AND s.existed"
# entities whose artist credits a document replaces
_CREDIT_OWNER = {"release": "release", "release_group": "release-group", "recording": "recording"}


def _noting_existing(table: str, upsert: str) -> str:
    """Wrap an upsert so that the rows it updated (rather than inserted) are
    noted in stg_existing: only those can have artist credits to replace."""
    if table not in _CREDIT_OWNER:
        return upsert
    return (f"WITH up AS ({upsert} RETURNING mbid, NOT (xmax = 0) AS was) "
            f"INSERT INTO stg_existing (entity_type, entity_mbid) SELECT '{_CREDIT_OWNER[table]}', mbid FROM up "
            "WHERE was")
_NEW_DOCS_SQL = "SELECT ord FROM stg_doc WHERE changed AND known_rev IS NULL"


def _merge_sql(entity: str) -> list[tuple[str | None, str]]:
    """The statements that merge one staged batch once its new documents are
    in document_revision (params: et, seen, source, run), each with the kind of
    document it needs ("unchanged", "updated", "changed"; None: always run): a
    statement with nothing to do is not sent, so a fresh seed skips the
    bookkeeping of re-imports."""
    top = TOP_TABLE[entity]
    changed = "JOIN stg_doc s USING (ord) WHERE s.changed"
    replaced = any_of("SELECT mbid FROM stg_doc WHERE changed AND existed")  # only these can have old children
    sql: list = [
        # the revision a changed document leaves keeps its last sighting as the current one
        ("updated", freeze_current_sql(replaced)),
        # an older version seen again keeps its first_seen
        ("updated", touch_revisions_sql(any_of("SELECT known_rev FROM stg_doc WHERE known_rev IS NOT NULL"))),
        # unchanged: only seen again
        ("unchanged", seen_again_sql(any_of("SELECT mbid FROM stg_doc WHERE NOT changed"))),
        document_pointer_sql("stg_doc s WHERE s.changed", "s.raw_hash"),
        # unchanged in content, other bytes (or none stored yet): the next refresh knows these bytes
        ("unchanged", "UPDATE document d SET raw_hash = s.raw_hash FROM stg_doc s WHERE d.entity_type = %(et)s "
                      f"AND d.mbid = {any_of('SELECT mbid FROM stg_doc WHERE NOT changed')} AND s.mbid = d.mbid "
                      "AND d.raw_hash IS DISTINCT FROM s.raw_hash"),
    ]
    sql += _named_entities_sql(changed)
    sql.append(_own_row_sql(entity, top, changed))
    sql += _replaced_children_sql(entity, replaced, changed)
    sql += _new_children_sql(entity, changed)
    return [(None, stmt) if isinstance(stmt, str) else stmt for stmt in sql]


def _named_entities_sql(changed: str) -> list[str]:
    """Entities named inside documents: sparse, so a NULL never erases what an
    earlier document (in this batch or before) told us: per column, the
    latest non-NULL value of the batch, else what the table has."""
    sql = []
    for table in ("artist", "label", "recording", "release_group"):
        st = STAGES["stg_" + table]
        cols = [c for c in st.columns if c not in ("ord", "top", "mbid")]
        picks = []
        for c, typ in zip(st.columns, st.types):
            if c not in cols:
                continue
            if "[]" in typ:  # array_agg cannot stack arrays of different lengths: as text, and back
                picks.append(f'((array_agg(x."{c}"::text ORDER BY x.ord DESC) FILTER (WHERE x."{c}" IS NOT NULL))[1])'
                             f'::{typ}')
            else:
                picks.append(f'(array_agg(x."{c}" ORDER BY x.ord DESC) FILTER (WHERE x."{c}" IS NOT NULL))[1]')
        sets = ", ".join(f'"{c}" = coalesce(EXCLUDED."{c}", {table}."{c}")' for c in cols)
        sql.append(_noting_existing(table,
            f"INSERT INTO {table} (mbid, {_names(cols)}, first_seen, last_seen) "
            f"SELECT x.mbid, {', '.join(picks)}, %(seen)s, %(seen)s "
            f"FROM stg_{table} x {changed} AND NOT x.top GROUP BY x.mbid "
            f"ON CONFLICT (mbid) DO UPDATE SET {sets}, last_seen = EXCLUDED.last_seen, deleted_at = NULL"
        ))
    return sql


def _own_row_sql(entity: str, top: str, changed: str) -> str:
    """The document's own entity reflects exactly its latest version."""
    st = STAGES["stg_" + top]
    cols = [c for c in st.columns if c not in ("ord", "top")]
    sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in cols if c != "mbid")
    extra_cols, extra_vals, extra_sets = "", "", ""
    if entity == "release":
        extra_cols, extra_vals = ", needs_score, deleted_reason", ", true, NULL"
        extra_sets = ", needs_score = true, deleted_reason = NULL"
    where_top = "" if entity == "release" else " AND x.top"
    return _noting_existing(top,
        f"INSERT INTO {top} ({_names(cols)}, first_seen, last_seen{extra_cols}) "
        f"SELECT {_names(cols, 'x')}, %(seen)s, %(seen)s{extra_vals} "
        f"FROM stg_{top} x {changed}{where_top} "
        f"ON CONFLICT (mbid) DO UPDATE SET {sets}, last_seen = EXCLUDED.last_seen, deleted_at = NULL{extra_sets}"
    )


def _replaced_children_sql(entity: str, replaced: str, changed: str) -> list:
    """Children are replaced wholesale by the new version: the old ones go."""
    sql: list = []
    if entity == "release":
        sql += [
            ("updated", f"DELETE FROM medium x WHERE x.release_mbid = {replaced}"),
            ("updated", f"DELETE FROM release_label x WHERE x.release_mbid = {replaced}"),
        ]
    sql += [
        ("updated", f"DELETE FROM url_relation x WHERE x.entity_type = %(et)s AND x.entity_mbid = {replaced}"),
        # a release that carries its group's links (release-group-level-rels) replaces the group's
        "DELETE FROM url_relation x WHERE x.entity_type = 'release-group' AND (x.entity_type, x.entity_mbid) IN "
        f"(SELECT u.entity_type, u.entity_mbid FROM stg_url u {changed.replace('USING (ord)', 'ON s.ord = u.ord')})",
        ("updated", f"DELETE FROM tag x WHERE x.entity_type = %(et)s AND x.entity_mbid = {replaced}"),
        # credit owners are of three types; each is probed by (type, mbid)
        "DELETE FROM artist_credit x WHERE x.entity_type = ANY(ARRAY['release', 'release-group', 'recording']) "
        f"AND x.entity_mbid = {any_of('SELECT entity_mbid FROM stg_existing')} "
        "AND (x.entity_type, x.entity_mbid) IN (SELECT entity_type, entity_mbid FROM stg_existing)",
    ]
    return sql


def _new_children_sql(entity: str, changed: str) -> list[str]:
    """The new version's children: media and tracks, labels, credits, links, tags."""
    sql: list = []
    if entity == "release":
        mcols = [c for c in STAGES["stg_medium"].columns if c != "ord"]
        tcols = [c for c in STAGES["stg_track"].columns if c not in ("ord", "medium_position")]
        lcols = [c for c in STAGES["stg_release_label"].columns if c != "ord"]
        sql += [
            f"WITH ins AS (INSERT INTO medium ({_names(mcols)}) SELECT {_names(mcols, 'x')} "
            f"FROM stg_medium x {changed} RETURNING id, release_mbid, position) "
            f"INSERT INTO track (medium_id, {_names(tcols)}) SELECT ins.id, {_names(tcols, 't')} FROM stg_track t "
            "JOIN ins ON ins.release_mbid = t.release_mbid AND ins.position = t.medium_position",
            f"INSERT INTO release_label ({_names(lcols)}) SELECT {_names(lcols, 'x')} "
            f"FROM stg_release_label x {changed}",
        ]
    ccols = [c for c in STAGES["stg_credit"].columns if c != "ord"]
    ucols = [c for c in STAGES["stg_url"].columns if c != "ord"]
    gcols = [c for c in STAGES["stg_tag"].columns if c != "ord"]
    sql += [
        # a recording or release group named by several documents of a batch: the
        # credits of the last one that names it (a document replaces the credits
        # of its own entity, its release group and its recordings)
        f"INSERT INTO artist_credit ({_names(ccols)}) SELECT {_names(ccols, 'x')} FROM stg_credit x "
        "JOIN (SELECT p.entity_type, p.entity_mbid, max(p.ord) AS ord FROM ("
        " SELECT %(et)s AS entity_type, mbid AS entity_mbid, ord FROM stg_doc"
        " UNION ALL SELECT 'release-group', mbid, ord FROM stg_release_group"
        " UNION ALL SELECT 'recording', mbid, ord FROM stg_recording) p "
        "JOIN stg_doc s USING (ord) WHERE s.changed GROUP BY 1, 2) w "
        "ON w.entity_type = x.entity_type AND w.entity_mbid = x.entity_mbid AND w.ord = x.ord",
        # a group's links named by several documents of a batch: those of the last one
        f"INSERT INTO url_relation ({_names(ucols)}) SELECT {_names(ucols, 'x')} FROM stg_url x {changed} "
        "AND (x.entity_type <> 'release-group' OR x.ord = (SELECT max(y.ord) FROM stg_url y JOIN stg_doc t "
        "ON t.ord = y.ord AND t.changed WHERE y.entity_type = 'release-group' AND y.entity_mbid = x.entity_mbid))",
        f"INSERT INTO tag ({_names(gcols)}) SELECT {_names(gcols, 'x')} FROM stg_tag x {changed} "
        "ON CONFLICT DO NOTHING",
    ]
    return sql


STATS_MIN_ROWS = 5000
STATS_TABLES = ["document", "document_revision", "release", "medium", "track", "release_label", "artist", "label",
                "recording", "release_group", "artist_credit", "url_relation", "tag"]
_ANALYZE_SQL = "ANALYZE stg_doc"  # joined to every other staging table

_DATA_ERRORS = (psycopg.DataError, psycopg.IntegrityError)

_COUNT_SQL = ("SELECT count(*) FILTER (WHERE changed AND NOT existed), count(*) FILTER (WHERE changed AND existed), "
              "count(*) FILTER (WHERE NOT changed) FROM stg_doc")


BIG_DUMP_BYTES = 200 << 20  # compressed: about 300,000 releases


def tuning_hint(settings: dict[str, int], compressed_bytes: int) -> str | None:
    """A hint when a big dump meets PostgreSQL's small defaults, which slow a
    seed down as its indexes outgrow the buffers (bench/bench_dump.py)."""
    if compressed_bytes < BIG_DUMP_BYTES:
        return None
    small = [f"{name}={settings[name] >> 20}MB" for name, floor in (("shared_buffers", 1 << 30),
                                                                      ("max_wal_size", 4 << 30))
             if name in settings and settings[name] < floor]
    if not small:
        return None
    return (f"PostgreSQL runs with {' and '.join(small)}: a dump this size loads faster with more (a quarter of "
            "the memory for shared_buffers, max_wal_size=8GB); see 'Seeding from a dump' in the README")


class Loader:
    """COPY + merge of batches on one connection, checkpoint in the same transaction.

    The counts of each batch are added to `run`'s row in that transaction and
    to `run.counts` as soon as it commits, so both always agree."""

    def __init__(self, db: Database, run: Run,
                 reparse: Callable[[str, list[int], int], list[StagedLine]] | None = None):
        """`reparse(entity, line_nos, first_ord)`: the lines flagged unchanged
        that the database does not confirm, read again, parsed and mapped
        (ords from `first_ord` on; `sync.dump`): the reader sent no bytes."""
        self.db = db
        self.reparse = reparse
        self.unparsed = 0  # lines confirmed unchanged by their bytes: seen again, never parsed
        self.run_id = run.id
        self.counts = run.counts
        self.conn = db.engine.raw_connection()
        self.pg = self.conn.driver_connection
        self.pg.autocommit = False
        with self.pg.cursor() as cur:
            # lz4 compresses the stored documents several times faster than the default pglz
            cur.execute("SELECT setting FROM pg_settings WHERE name = 'default_toast_compression' "
                        "AND 'lz4' = ANY(enumvals)")
            if cur.fetchone():
                cur.execute("SET default_toast_compression = 'lz4'")
            # a batch touches a few thousand rows of tables that grow to millions,
            # mostly cached: index probes beat scans far earlier than the
            # default cost model (made for spinning disks) believes
            cur.execute("SET random_page_cost = 1.1")
            # a batch lost in a server crash is lost with its checkpoint, and
            # simply loaded again by the next run: no need to wait for the flush
            cur.execute("SET synchronous_commit = off")
            for ddl in staging_ddl():
                cur.execute(ddl)
            # what the planner believes the mirror holds, to know when that is out of date
            cur.execute("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'document'::regclass")
            self._rows_at_stats = cur.fetchone()[0]
        self.pg.commit()
        self._new_since_stats = 0
        self._sql: dict[str, list[tuple[str | None, str]]] = {}

    def server_settings(self) -> dict[str, int]:
        """The server settings that decide how a big seed scales, in bytes."""
        with self.pg.cursor() as cur:
            cur.execute("SELECT pg_size_bytes(current_setting('shared_buffers')), "
                        "pg_size_bytes(current_setting('max_wal_size'))")
            shared, wal = cur.fetchone()
        self.pg.commit()
        return {"shared_buffers": shared, "max_wal_size": wal}

    def _keep_stats(self, inserted: int) -> None:
        """ANALYZE the mirror each time it has doubled since the planner last
        looked.  A seed grows tables from nothing faster than autovacuum
        follows, and a planner that believes a table is tiny scans it whole
        for every batch; doubling keeps its belief within 2x at the cost of a
        few dozen ANALYZEs over a whole seed."""
        self._new_since_stats += inserted
        if self._new_since_stats < max(self._rows_at_stats, STATS_MIN_ROWS):
            return
        with self.pg.cursor() as cur:
            for table in STATS_TABLES:
                cur.execute(f"ANALYZE {table}")
        self.pg.commit()
        self._rows_at_stats += self._new_since_stats
        self._new_since_stats = 0

    def close(self) -> None:
        """Discard the connection: its session settings and temp tables must
        not follow it back into the pool."""
        try:
            self.pg.rollback()
        finally:
            self.conn.invalidate()

    def _copy(self, cur, payload: dict[str, bytes]) -> None:
        for name, data in payload.items():
            cols = ", ".join(f'"{c}"' for c in STAGES[name].columns)
            with cur.copy(f"COPY {name} ({cols}) FROM STDIN") as cp:
                cp.write(data)

    def _merge(self, cur, entity: str, items: list[StagedLine], params: dict, payload: dict[str, bytes],
               clear: bool = False) -> tuple[int, int, int]:
        """COPY and merge; the staging tables empty themselves at commit, or
        here when `clear` (several merges in one transaction)."""
        self._copy(cur, payload)
        # temp tables have no statistics; the joins between staging tables
        # are planned better with them
        cur.execute(_ANALYZE_SQL)
        cur.execute(_CLASSIFY_SQL, params)
        cur.execute(_COUNT_SQL)
        counts = cur.fetchone()
        present = {"changed": counts[0] + counts[1] > 0, "updated": counts[1] > 0, "unchanged": counts[2] > 0}
        if present["updated"]:
            cur.execute(_KNOWN_REV_SQL, params)
        # every distinct version is kept: new ones are COPYed straight in, parsed once
        cur.execute(_NEW_DOCS_SQL)
        new = {row[0] for row in cur.fetchall()}
        if new:
            tail = ("\t" + copy_line((params["source"], str(params["seen"]), str(params["seen"]),
                                       params["run"]))).encode()
            head = (copy_value(params["et"]) + "\t").encode()
            with cur.copy(f"COPY document_revision ({REVISION_COLS}) FROM STDIN") as cp:
                for it in items:
                    if it.ord in new:
                        doc = it.doc_bytes  # made ahead of time by the reader's pump thread
                        if doc is None:
                            doc = it.doc_bytes = doc_copy_bytes(it.mbid, it.hash, it.raw)
                        cp.write(head + doc + tail)
        if entity not in self._sql:
            self._sql[entity] = _merge_sql(entity)
        for needs, stmt in self._sql[entity]:
            if needs is None or present[needs]:
                cur.execute(stmt, params)
        if clear:
            cur.execute("TRUNCATE " + ", ".join(STAGES))
        return counts

    def load(self, entity: str, items: list[StagedLine], *, source: str, seen: dt.datetime, import_id: int,
             lines_done: int, payload: dict[str, bytes] | None = None, flagged: FlaggedLines | None = None
             ) -> dict:
        """Merge one batch and move the checkpoint; returns its counts.
        `payload`: the batch's COPY data (`stage_payload`), if already made.
        `flagged`: its lines the reader found unchanged by their bytes, confirmed
        first (`raw_lines`): seen again if they are, parsed and merged with the
        others if not."""
        params = {"et": entity, "seen": seen, "source": source, "run": self.run_id}
        good = [it for it in items if it.error is None]
        bad = [it for it in items if it.error is not None]
        counts = [0, 0, 0]
        with self.pg.cursor() as cur:
            same, redo = self._confirm(cur, entity, flagged, len(items), params)
            good += [it for it in redo if it.error is None]
            bad += [it for it in redo if it.error is not None]
            if payload is None:
                payload = stage_payload(it.tables for it in good)
            elif redo:
                payload = _joined(payload, stage_payload(it.tables for it in redo if it.error is None))
            try:
                if good:
                    counts = list(self._merge(cur, entity, good, params, payload))
            except _DATA_ERRORS:  # a line the database refuses: find it, line by line
                self.pg.rollback()
                self._seen_again(cur, entity, same, params)
                counts = self._one_by_one(cur, entity, good, params, bad)
            counts[2] += len(same)
            if bad:
                cur.executemany(  # byte for byte (bytea)
                    "INSERT INTO quarantine (source, line_no, error, raw, raw_offset, raw_length, sync_run_id) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    [(source, it.line_no, it.error, it.raw, it.raw_offset, it.raw_length, self.run_id)
                     for it in bad],
                )
            cur.execute(
                "UPDATE dump_import SET lines_done = %s, quarantined = quarantined + %s WHERE id = %s",
                (lines_done, len(bad), import_id),
            )
            cur.execute(ADD_COUNTS_SQL, (*counts, len(bad), self.run_id))
            self.db.check_writer()  # WriterLockLost: the batch is rolled back (close), never written beside another
        self.pg.commit()
        self.unparsed += len(same)
        done = {"inserted": counts[0], "updated": counts[1], "unchanged": counts[2], "quarantined": len(bad)}
        self.counts.merge(done)
        self._keep_stats(counts[0])
        return done

    def _confirm(self, cur, entity: str, flagged: FlaggedLines | None, first_ord: int, params: dict
                 ) -> tuple[list, list[StagedLine]]:
        """The flagged lines the database confirms unchanged, already seen
        again (rule 1: checked and touched in one statement; their MBIDs),
        and the others parsed and mapped here (ords from `first_ord` on)."""
        if not flagged:
            return [], []
        cur.execute(seen_again_if_sql(BOUND_RAW_HASHES), dict(params, hashes=hex_list(flagged.raw_hashes)))
        touched = {row[0] for row in cur.fetchall()}
        same = [mbid for mbid in flagged.mbids if mbid in touched]  # as text: 100k UUIDs cost 0.4 s a refresh
        if len(same) == len(flagged):
            return same, []
        if self.reparse is None:
            raise ValueError("lines flagged unchanged that the database does not confirm need a Loader(reparse=)")
        confirmed = set(same)
        return same, self.reparse(entity, [n for n, mbid in zip(flagged.line_nos, flagged.mbids)
                                           if mbid not in confirmed], first_ord)

    def _seen_again(self, cur, entity: str, mbids: list, params: dict) -> None:
        """Rule 1 again for lines confirmed unchanged, after a rollback undid it."""
        if mbids:
            cur.execute(seen_again_sql(BOUND_IDS), dict(params, ids=uuid_array(mbids)))

    def _one_by_one(self, cur, entity: str, good: list[StagedLine], params: dict, bad: list) -> list[int]:
        """Merge each line alone in a savepoint; those the database refuses
        join `bad`, with its message."""
        counts = [0, 0, 0]
        for it in good:
            one = dataclasses.replace(it, ord=0)  # its rows, alone
            alone = _alone(entity, one)
            cur.execute("SAVEPOINT one")
            try:
                c = self._merge(cur, entity, [one], params, alone, clear=True)
                counts = [a + b for a, b in zip(counts, c)]
                cur.execute("RELEASE SAVEPOINT one")
            except _DATA_ERRORS as one_exc:
                cur.execute("ROLLBACK TO SAVEPOINT one")
                msg = one_exc.diag.message_primary or str(one_exc)
                bad.append(dataclasses.replace(it, error=f"cannot store {entity}: {msg}"))
        return counts


def _joined(payload: dict[str, bytes], more: dict[str, bytes]) -> dict[str, bytes]:
    """Two batches of COPY data as one (their ords apart)."""
    return {name: payload.get(name, b"") + more.get(name, b"") for name in STAGES if name in payload or name in more}


def _alone(entity: str, it: StagedLine) -> dict[str, bytes]:
    """The COPY data of one line that was read and mapped fine, staged again
    on its own (the reader kept only the batch's joined payload)."""
    tables = rows_of(entity, orjson.loads(it.raw), it.ord)
    tables["stg_doc"] = [doc_row(it.ord, it.mbid, it.hash, it.raw_hash)]
    return stage_payload([tables])


#: the live release documents (a release and its document are tombstoned together), and of
#: them those a complete dump would tombstone: known before it was made, not seen in it (rule 1
#: moves only the document's last_seen)
_LIVE_RELEASE_DOCS = "document d WHERE d.entity_type = 'release' AND d.deleted_at IS NULL"
_ABSENT = "d.last_seen < %(seen)s AND d.first_seen < %(dump_time)s"


def absent_share_in(session: Session, entity: str, seen: dt.datetime, dump_time: dt.datetime) -> tuple[int, int]:
    """How many live releases a complete dump would tombstone, of how many
    live ones: the guard against a truncated or forged dump."""
    if entity != "release":
        return 0, 0
    row = session.connection().exec_driver_sql(
        f"SELECT count(*) FILTER (WHERE {_ABSENT}), count(*) FROM {_LIVE_RELEASE_DOCS}",
        {"seen": seen, "dump_time": dump_time},
    ).one()
    return row[0], row[1]


def tombstone_absent_in(session: Session, entity: str, seen: dt.datetime, dump_time: dt.datetime,
                        label: str) -> int:
    """After a complete dump: what we knew before the dump was made and the
    dump no longer holds is gone upstream (rule 4, `revisions.tombstone_sql`).
    Kept, flagged, never deleted; returns how many."""
    if entity != "release":
        return 0
    params = {"when": now(), "why": f"absent from complete dump {label}", "seen": seen, "dump_time": dump_time}
    absent = any_of(f"SELECT d.mbid FROM {_LIVE_RELEASE_DOCS} AND {_ABSENT}")
    return session.connection().exec_driver_sql(tombstone_sql(f"mbid = {absent}"), params).scalar_one()



# --- dump_import: one row per dump file (archive member) and its checkpoint --------------


@dataclass(frozen=True)
class PriorImports:
    """What earlier imports left of some dump files, by (fingerprint, member)."""

    resume: dict[tuple[str, str], int]  # unfinished: lines already loaded
    done: set[tuple[str, str]]  # finished
    started: dict[tuple[str, str], dt.datetime]  # unfinished: when the import began


def prior_imports(db: Database, fingerprints: list[str], *, again: bool) -> PriorImports:
    """Where each member of these files stands; with `again`, as if never imported."""
    with db.session() as s:
        rows = s.execute(
            select(m.DumpImport).where(m.DumpImport.fingerprint.in_(fingerprints))
        ).scalars().all()
    resume = {(r.fingerprint, r.member): r.lines_done for r in rows if r.status != "done"}
    done = {(r.fingerprint, r.member) for r in rows if r.status == "done"} if not again else set()
    if again:
        resume = {}
    started = {(r.fingerprint, r.member): r.started_at for r in rows if r.status != "done" and not again}
    return PriorImports(resume, done, started)


def open_import(db: Database, source: tuple[str, str], member: str, entity: str, run_id: int,
                prior: PriorImports) -> tuple[int, dt.datetime]:
    """The dump_import row of a member: resumed if unfinished, else new.
    Returns its id and when its import began (the `seen` time of its lines)."""
    path, fp = source
    with db.session() as s, s.begin():
        row = s.execute(
            select(m.DumpImport).where(m.DumpImport.fingerprint == fp, m.DumpImport.member == member,
                                       m.DumpImport.entity == entity).with_for_update()
        ).scalar_one_or_none()
        if row is None:
            row = m.DumpImport(path=path, member=member, entity=entity, fingerprint=fp, sync_run_id=run_id,
                               started_at=now())
            s.add(row)
            s.flush()
        elif (fp, member) not in prior.started:  # --again: a new pass over a finished file
            row.started_at, row.finished_at, row.lines_done, row.quarantined = now(), None, 0, 0
        row.status = "running"
        row.sync_run_id = run_id
        s.flush()
        return row.id, row.started_at


def quarantined_lines_in(session: Session, import_id: int) -> int:
    """How many lines of a member were quarantined (in this pass over it)."""
    return session.execute(select(m.DumpImport.quarantined).where(m.DumpImport.id == import_id)).scalar_one()


def mark_stopped_in(session: Session, import_id: int, status: str) -> None:
    """A member whose import stopped before its end (`failed`, `interrupted`)
    or whose tombstones were refused (`partial`): it keeps its checkpoint,
    and the next import of the same file resumes there."""
    session.execute(update(m.DumpImport).where(m.DumpImport.id == import_id, m.DumpImport.status == "running")
                    .values(status=status))


def mark_done_in(session: Session, import_id: int, lines: int) -> None:
    """A member read to its end: a later import of the same file skips it."""
    session.execute(update(m.DumpImport).where(m.DumpImport.id == import_id)
                    .values(status="done", finished_at=now(), lines_done=lines))
