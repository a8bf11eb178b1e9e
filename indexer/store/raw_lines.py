"""Dump lines unchanged since they were last imported, told by their bytes before any parsing.

A refresh from the next JSON dump finds ~99% of its lines exactly as the last
import left them, and parsing, mapping and staging them only to learn that
(rule 1 of `indexer.store`) costs as much as a first import.  So
`document.raw_hash` keeps the identity of the raw dump line
(`mapping.values.raw_hash`: 16 bytes of the SHA-256 of the line) that set the
document's current revision: the dump loader writes it with every revision it
points at (and with every unchanged line whose bytes differ, e.g. another key
order), a ws/2 lookup that moves the pointer clears it (NULL: not from a
line).  A line with the same bytes as that one is the same document, so it is
seen again and nothing else: one bulk `last_seen` touch, `revisions.seen_again_if_sql`.

Where the check runs (two steps, the second one authoritative):

1. **The reader** (a child process, no share in the loader's connection) asks
   on a read-only connection of its own, one query per batch of lines
   (`KnownLines.stored`), which live documents have these raw hashes
   (`ix_document_raw_hash`): the line's MBID comes from that answer, so
   nothing of the line is searched or parsed (finding the MBID in the bytes
   cost as much as hashing them).  A line whose raw hash is stored is
   neither parsed nor mapped; it travels to the loader flagged
   (`FlaggedLines`: its MBID, raw hash and line number, no bytes: a batch of
   such lines is tiny, so it may hold ten times as many lines, and one bulk
   touch serves them all).
2. **The loader** checks and touches those lines in one statement in the
   batch's own transaction (`revisions.seen_again_if_sql`: live, with exactly
   this raw hash, now), because the reader's answer may be stale: it reads a
   few batches ahead of the loader's commits, a dump may hold one MBID
   twice, and a complete member tombstones at its end what a later member of
   the same import may hold.  A line not confirmed goes the full path: read
   again from its file by line number (`sync.dump_batches.reread_lines`,
   slow but rare), parsed, mapped and merged with its batch, so a stale
   answer costs time, never a wrong row.

Not the loader sending the map: it cannot know a batch's lines before the
reader has read them, a round trip per batch would serialise reader and
loader (a first import would lose its overlap), and the whole map of a 5.1M
mirror held in memory would grow with the mirror.

Why a match is proof: a stored raw hash is only ever written beside the
document that the full parse of exactly those bytes gave (16 bytes of
SHA-256: a collision between two dump lines is not a practical concern, and
a line forged to collide would still have to be served by the dump the
checksum file vouches for).  Everything after the check (revisions,
tombstones of releases a complete dump lacks, redirects, quarantine) is as
for any other line.
"""

from __future__ import annotations

import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field


@dataclass(slots=True)
class FlaggedLines:
    """The lines of a batch the reader flagged unchanged, as columns (one
    record a batch: far cheaper to pickle than an object a line)."""

    line_nos: list[int] = field(default_factory=list)
    mbids: list[str] = field(default_factory=list)
    raw_hashes: list[bytes] = field(default_factory=list)

    def add(self, line_no: int, mbid: str, raw_hash: bytes) -> None:
        self.line_nos.append(line_no)
        self.mbids.append(mbid)
        self.raw_hashes.append(raw_hash)

    def __len__(self) -> int:
        return len(self.line_nos)


#: raw hashes bound as one text of comma-separated hex (`hex_list`), probed one by one
BOUND_RAW_HASHES = "ANY(ARRAY(SELECT decode(x, 'hex') FROM unnest(string_to_array(%(hashes)s, ',')) x))"

#: live documents by raw hash (`et`, `hashes`): the reader's hint
_STORED_SQL = (f"SELECT d.raw_hash, d.mbid::text FROM document d WHERE d.raw_hash = {BOUND_RAW_HASHES} "
               "AND d.entity_type = %(et)s AND d.deleted_at IS NULL")


def hex_list(raw_hashes: list[bytes]) -> str:
    """Raw hashes as one string (`BOUND_RAW_HASHES`): psycopg would escape a
    list of bytes value by value, a third of the reader's time per line."""
    return ",".join(h.hex() for h in raw_hashes)


def uuid_array(mbids) -> str:
    """MBIDs (str or UUID) as one uuid[] literal: thousands of ids bound as
    one string, not one parameter value each (the server parses them)."""
    return "{" + ",".join(map(str, mbids)) + "}"


def stored_in(cur, entity: str, raw_hashes: list[bytes]) -> dict[bytes, str]:
    """The MBID of the live document stored from each of these raw hashes, if any."""
    if not raw_hashes:
        return {}
    cur.execute(_STORED_SQL, {"et": entity, "hashes": hex_list(raw_hashes)})
    return {bytes(h): mbid for h, mbid in cur.fetchall()}


_SCHEME = re.compile(r"^postgres(?:ql)?(?:\+\w+)?://")


def libpq_url(url: str) -> str:
    """A PostgreSQL URL as libpq takes it, for the reader's own connection
    (`KnownLines`): SQLAlchemy's `postgresql+psycopg://` (a `Database.url`)
    or a setting's `postgres://` becomes `postgresql://`, the rest as it is.
    Plain text, so that the reader needs no SQLAlchemy (see `store`)."""
    return _SCHEME.sub("postgresql://", url, count=1)


class KnownLines:
    """The reader's own read-only connection, opened in the reader process on
    first use; `stored` answers {} (every line the full path) when the
    database cannot be asked, and from then on asks no more.  `ask` puts the
    question to a thread of its own (the only user of the connection), so
    the reader reads and hashes the next batch while the database answers
    this one."""

    def __init__(self, conninfo: str):
        self.conninfo = conninfo
        self._conn = None  # a psycopg.Connection once asked
        self._broken = False
        self._asker: ThreadPoolExecutor | None = None

    def ask(self, entity: str, raw_hashes: list[bytes]) -> Future:
        """`stored`, answered in the background."""
        if self._asker is None:
            self._asker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="known-lines")
        return self._asker.submit(self.stored, entity, raw_hashes)

    def stored(self, entity: str, raw_hashes: list[bytes]) -> dict[bytes, str]:
        if self._broken or not raw_hashes:
            return {}
        import psycopg  # deliberate lazy load: a reader started early asks its first question after 0.1 s of reading

        try:
            if self._conn is None:
                self._conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10)
                self._conn.execute("SET default_transaction_read_only = on")
            with self._conn.cursor() as cur:
                return stored_in(cur, entity, raw_hashes)
        except psycopg.Error:  # e.g. a database not migrated yet, when a reader started early asks
            self._broken = True
            self._disconnect()  # only: this may be the asker's own thread, which cannot join itself
            return {}

    def close(self) -> None:
        if self._asker is not None:
            self._asker.shutdown(wait=True, cancel_futures=True)
            self._asker = None
        self._disconnect()

    def _disconnect(self) -> None:
        if self._conn is not None:
            import psycopg  # loaded already: there is a connection (see `stored`)

            try:
                self._conn.close()
            except psycopg.Error:
                pass
            self._conn = None
