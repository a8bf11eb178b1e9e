"""Seeds the mirror from the official MusicBrainz JSON data dumps.

A dump (`release.tar.xz`, ...) holds `mbdump/<entity>`: one ws/2 JSON document
per line, the shape `mapping` already knows.  Two processes share the work:

* the reader (a child process, with `xz` decompressing in a third) parses,
  hashes and maps each line and formats the rows as COPY text, in batches;
* the loader (this process) COPYs a batch into temporary staging tables and
  merges it into the mirror with a fixed set of set-based statements, under
  the same revision rules as `store.save_release`, then records the
  checkpoint (lines done) in the same transaction.

So a batch is in or out as a whole and the checkpoint says exactly which
lines are in: an import killed at any point continues at the next batch with
no duplicates and no partial release.  A line that cannot be parsed, mapped
or stored is quarantined verbatim and the import goes on.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import lzma
import multiprocessing
import operator
import os
import queue
import shutil
import signal
import subprocess
import tarfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import orjson
import psycopg
from sqlalchemy import select, text, update
from sqlalchemy.dialects import postgresql

from . import mapping as mp
from . import models as m
from .db import Database

BATCH = 1000
ENTITIES = mp.ENTITY_TYPES
TOP_TABLE = {"release": "release", "release-group": "release_group", "artist": "artist", "label": "label",
             "recording": "recording"}


class DumpError(RuntimeError):
    """A dump that cannot be read as asked; the message says why."""


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
        # document_revision, and only when new (see Loader._merge)
        Stage("stg_doc", ["ord", "mbid", "hash"], ["bigint", "uuid", "text"]),
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


def _staging_ddl() -> list[str]:
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


def _copy_value(v) -> str:
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
    return "\t".join(map(_copy_value, values)) + "\n"


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


@dataclass
class Item:
    """One input line, ready to load (or to quarantine)."""

    line_no: int
    mbid: str | None = None
    # staging table -> COPY lines; the reader's only: the loader gets the
    # batch's COPY data joined (seal), which is far cheaper to pickle
    tables: dict[str, list[str]] | None = None
    error: str | None = None
    raw: bytes = b""  # the line as read, without its end of line
    hash: str | None = None
    ord: int = -1  # place in its batch
    doc_bytes: bytes | None = None  # "mbid<TAB>hash<TAB>document" as COPY text, made ahead of time

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", "replace")


def stage_payload(items: list[Item]) -> dict[str, bytes]:
    """The COPY data of a batch, per staging table."""
    out = {}
    for name in STAGES:
        chunks = [line for it in items if it.tables for line in it.tables.get(name, ())]
        if chunks:
            out[name] = "".join(chunks).encode("utf-8")
    return out


def seal(items: list[Item]) -> dict[str, bytes]:
    """The batch's COPY data; the items keep only what the loader needs."""
    payload = stage_payload(items)
    for it in items:
        it.tables = None
    return payload


def doc_copy_bytes(it: Item) -> bytes:
    """`mbid<TAB>hash<TAB>line` for COPY into document_revision: the line as it came."""
    if it.doc_bytes is None:
        it.doc_bytes = f"{it.mbid}\t{it.hash}\t".encode() + _esc_bytes(it.raw)
    return it.doc_bytes


def prepare_line(entity: str, raw: bytes, line_no: int, ord_: int) -> Item:
    """Parse, hash and map one dump line; a bad line becomes a quarantine item."""
    raw = raw.rstrip(b"\r\n")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Item(line_no, error=f"not valid JSON: {exc}", raw=raw)
    if not isinstance(doc, dict):
        return Item(line_no, error=f"not a {entity} document: a JSON {type(doc).__name__}, not an object", raw=raw)
    try:
        tables = rows_of(entity, doc, ord_)
    except (mp.MappingError, ValueError, TypeError, AttributeError, KeyError) as exc:
        return Item(line_no, error=f"cannot map {entity}: {exc}", raw=raw)
    mbid = str(uuid.UUID(doc["id"]))
    digest = hashlib.sha256(mp.canonical_json_bytes(doc)).hexdigest()
    tables["stg_doc"] = [copy_line((ord_, mbid, digest))]
    return Item(line_no, mbid=mbid, tables=tables, raw=raw, hash=digest, ord=ord_)


# --- reading sources -----------------------------------------------------------------

_COMPRESSED = {".xz": "xz", ".gz": "gz", ".bz2": "bz2", ".tgz": "gz", ".txz": "xz"}


def list_sources(path: Path) -> list[Path]:
    """A file, or every visible file of a directory (sorted, not recursive)."""
    if not path.exists():
        raise DumpError(f"no such file or directory: {path}")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise DumpError(f"directory {path} holds no files")
        return files
    return [path]


def fingerprint(path: Path) -> str:
    """Size plus hashes of the head and tail: recognises the same dump file again."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        if size > (1 << 20):
            f.seek(max(size - 65536, 1 << 20))
            h.update(f.read())
    return f"{size}:{h.hexdigest()[:32]}"


def _is_tar_name(name: str) -> bool:
    return any(name.endswith(s) for s in (".tar", ".tar.xz", ".tar.gz", ".tar.bz2", ".tgz", ".txz"))


def entity_from_name(name: str) -> str | None:
    """'release', 'release.jsonl', 'release.tar.xz' → 'release'."""
    base = name.split("/")[-1]
    for ent in sorted(ENTITIES, key=len, reverse=True):  # release-group before release
        if base == ent or base[len(ent):len(ent) + 1] in (".", "-", "_") and base.startswith(ent):
            return ent
    return None


class _Input:
    """A source file opened for streaming, decompressed (by `xz` in its own
    process when it can), with the compressed bytes read so far for progress."""

    def __init__(self, path: Path):
        self.path = path
        self.size = path.stat().st_size
        self._fd = os.open(path, os.O_RDONLY)
        self._proc = None
        suffix = "." + path.name.rsplit(".", 1)[-1] if "." in path.name else ""
        comp = _COMPRESSED.get(suffix)
        raw = os.fdopen(os.dup(self._fd), "rb", buffering=0) if comp is None else None
        if comp == "xz" and shutil.which("xz"):
            # decompression in its own process: the second core's share of the work
            self._proc = subprocess.Popen(["xz", "-dc"], stdin=self._fd, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, bufsize=1 << 20)
            self.stream = self._proc.stdout
        elif comp is not None:
            fobj = os.fdopen(os.dup(self._fd), "rb")
            self._share = fobj
            opener = {"xz": lzma.open, "gz": __import__("gzip").open, "bz2": __import__("bz2").open}[comp]
            self.stream = io.BufferedReader(opener(fobj, "rb"), 1 << 20)
        else:
            self._share = raw
            self.stream = io.BufferedReader(raw, 1 << 20)

    def position(self) -> int:
        """Compressed bytes consumed (the offset shared with the decompressor)."""
        fd = self._fd if self._proc is not None else self._share.fileno()
        try:
            return os.lseek(fd, 0, os.SEEK_CUR)
        except OSError:
            return 0

    def check(self) -> None:
        """After the stream ended: did the decompressor complain?"""
        if self._proc is not None:
            rc = self._proc.wait()
            if rc != 0:
                err = self._proc.stderr.read().decode("utf-8", "replace").strip()
                raise DumpError(f"{self.path.name}: archive is truncated or corrupt (xz: {err or 'exit ' + str(rc)})")

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        try:
            self.stream.close()
        except Exception:
            pass
        os.close(self._fd)


def _is_tar(path: Path, head: bytes) -> bool:
    return _is_tar_name(path.name) or (len(head) >= 262 and head[257:262] == b"ustar")


def iter_members(path: Path, entity: str | None) -> Iterator[tuple[str, str, object, _Input]]:
    """Yields (member, entity, line stream, input) for each dump file inside `path`;
    `("TIMESTAMP", text, None, input)` when an archive carries its dump time."""
    inp = _Input(path)
    try:
        head = inp.stream.peek(512)[:512] if hasattr(inp.stream, "peek") else b""
        if _is_tar(path, head):
            try:
                with tarfile.open(fileobj=inp.stream, mode="r|") as tar:
                    for ti in tar:
                        base = ti.name.rsplit("/", 1)[-1]
                        if base == "TIMESTAMP" and ti.isfile():
                            yield "TIMESTAMP", tar.extractfile(ti).read().decode().strip(), None, inp
                            continue
                        ent = base if base in ENTITIES else None
                        if not ti.isfile() or ent is None or "mbdump" not in ti.name.split("/")[:-1]:
                            continue
                        if entity is not None and ent != entity:
                            continue
                        yield ti.name, ent, tar.extractfile(ti), inp
            except (tarfile.TarError, EOFError, lzma.LZMAError, OSError) as exc:
                inp.check()
                raise DumpError(f"{path.name}: archive is truncated or corrupt: {exc}") from None
        else:
            ent = entity or entity_from_name(path.name)
            if ent is None:
                raise DumpError(
                    f"cannot tell which entity {path.name} holds: name the file after it (e.g. release.jsonl) "
                    "or pass --entity"
                )
            yield "", ent, inp.stream, inp
        inp.check()
    finally:
        inp.close()


# --- the reader process ---------------------------------------------------------------


@dataclass
class ReadPlan:
    """What the reader should do: sources and where each member resumes."""

    sources: list[tuple[str, str]]  # (path, fingerprint)
    entity: str | None
    resume: dict[tuple[str, str], int]  # (fingerprint, member) -> lines already loaded
    skip_done: set[tuple[str, str]]  # members finished by an earlier import
    batch: int = BATCH


def read_batches(plan: ReadPlan) -> Iterator[tuple]:
    """The reader's messages, in order (also run in-process by tests)."""
    for src_index, (path, fp) in enumerate(plan.sources):
        path = Path(path)
        for member, ent, stream, inp in iter_members(path, plan.entity):
            if member == "TIMESTAMP":
                yield ("timestamp", src_index, ent)
                continue
            key = (fp, member)
            if key in plan.skip_done:
                yield ("skip", src_index, member, ent)
                continue
            start = plan.resume.get(key, 0)
            yield ("member", src_index, member, ent, start)
            items: list[Item] = []
            seen: set[str] = set()
            line_no = 0

            def batch(lines_done: int) -> tuple:
                return ("batch", src_index, member, ent, items, lines_done, inp.position(), inp.size, seal(items))

            try:
                for raw in stream:
                    line_no += 1
                    if line_no <= start:
                        continue
                    if not raw.strip():
                        continue
                    item = prepare_line(ent, raw, line_no, len(items))
                    if item.mbid is not None and item.mbid in seen:  # same entity twice: next batch
                        yield batch(line_no - 1)
                        items, seen = [], set()
                        item = prepare_line(ent, raw, line_no, 0)
                    items.append(item)
                    if item.mbid is not None:
                        seen.add(item.mbid)
                    if len(items) >= plan.batch:
                        yield batch(line_no)
                        items, seen = [], set()
            except (tarfile.TarError, EOFError, lzma.LZMAError, OSError) as exc:
                if items:  # what was read whole is loaded, the checkpoint says where it broke
                    yield batch(line_no)
                inp.check()
                raise DumpError(f"{path.name}: archive is truncated or corrupt after line {line_no}: {exc}") \
                    from None
            if items:
                yield batch(line_no)
            yield ("end", src_index, member, ent, line_no)
    yield ("done",)


def _reader_main(plan: ReadPlan, q, parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the loader decides what Ctrl-C means

    def put(msg):
        while True:
            try:
                q.put(msg, timeout=1.0)
                return
            except queue.Full:
                if os.getppid() != parent_pid:  # the loader was killed: stop reading
                    os._exit(1)

    try:
        for msg in read_batches(plan):
            put(msg)
    except DumpError as exc:
        put(("error", str(exc)))
    except Exception as exc:  # report, never hang the loader
        put(("error", f"reader failed: {type(exc).__name__}: {exc}"))


def reader_messages(plan: ReadPlan, parallel: bool = True) -> Iterator[tuple]:
    """Messages of the reader, from a child process when `parallel`."""
    if not parallel:
        try:
            yield from read_batches(plan)
        except DumpError as exc:
            yield ("error", str(exc))
        return
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue(maxsize=2)  # bounded: memory stays flat however large the dump
    proc = ctx.Process(target=_reader_main, args=(plan, q, os.getpid()), daemon=True)
    proc.start()
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def pump() -> None:
        """Takes (unpickles) the next batch while the loader waits on PostgreSQL."""
        while not stop.is_set():
            try:
                msg = q.get(timeout=1.0)
            except queue.Empty:
                if proc.is_alive():
                    continue
                msg = ("error", f"the reader process died (exit code {proc.exitcode})")
            if msg[0] == "batch":
                for it in msg[4]:
                    if it.error is None:
                        doc_copy_bytes(it)
            while not stop.is_set():
                try:
                    ready.put(msg, timeout=1.0)
                    break
                except queue.Full:
                    continue
            if msg[0] in ("done", "error"):
                return

    taker = threading.Thread(target=pump, name="dump-pump", daemon=True)
    taker.start()
    try:
        while True:
            msg = ready.get()
            yield msg
            if msg[0] in ("done", "error"):
                return
    finally:
        stop.set()
        taker.join(5)
        if proc.is_alive():
            proc.terminate()
        proc.join(5)
        q.close()
        q.cancel_join_thread()


# --- the loader: merge SQL ---------------------------------------------------------------

def _names(cols: list[str], alias: str | None = None) -> str:
    pre = f"{alias}." if alias else ""
    return ", ".join(f'{pre}"{c}"' for c in cols)


# Every statement that reaches a table of millions from a staged batch does so
# through `= ANY(ARRAY(subquery))` or a correlated subquery: both are index
# probes whatever the statistics say.  A join would leave it to the planner, and
# while a table grows fast its statistics lag far behind (an empty mirror
# "holds" 156 documents when it holds 75,000), so the planner hashes the whole
# table for every batch and a seed slows down as it goes.
def _any(subquery: str) -> str:
    return f"ANY(ARRAY({subquery}))"


# which documents are new or changed (a tombstoned one seen again counts as
# changed), and which changed ones are an older version coming back
_CLASSIFY_SQL = (
    "UPDATE stg_doc s SET (existed, changed) = (SELECT count(*) > 0, "
    " coalesce(bool_or(d.hash <> s.hash OR d.deleted_at IS NOT NULL), true) "
    " FROM document d WHERE d.entity_type = %(et)s AND d.mbid = s.mbid)"
)
# run only when some changed document existed: a new one has no older versions
_KNOWN_REV_SQL = (
    "UPDATE stg_doc s SET known_rev = (SELECT r.id FROM document_revision r "
    " WHERE r.entity_type = %(et)s AND r.mbid = s.mbid AND r.hash = s.hash) WHERE s.changed AND s.existed"
)
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
_REVISION_COLS = "entity_type, mbid, hash, doc, source, first_seen, last_seen, sync_run_id"


def _merge_sql(entity: str) -> list[tuple[str | None, str]]:
    """The statements that merge one staged batch once its new documents are
    in document_revision (params: et, seen, source, run), each with the kind of
    document it needs ("unchanged", "updated", "changed"; None: always run): a
    statement with nothing to do is not sent, so a fresh seed skips the
    bookkeeping of re-imports."""
    top = TOP_TABLE[entity]
    changed = "JOIN stg_doc s USING (ord) WHERE s.changed"
    unchanged = _any("SELECT mbid FROM stg_doc WHERE NOT changed")
    replaced = _any("SELECT mbid FROM stg_doc WHERE changed AND existed")  # only these can have old children
    sql: list = [
        # an older version seen again keeps its first_seen
        ("updated", "UPDATE document_revision r SET last_seen = %(seen)s "
         f"WHERE r.id = {_any('SELECT known_rev FROM stg_doc WHERE known_rev IS NOT NULL')}"),
        # unchanged: only seen again
        ("unchanged",
         f"UPDATE document d SET last_seen = %(seen)s WHERE d.entity_type = %(et)s AND d.mbid = {unchanged}"),
        ("unchanged", "UPDATE document_revision r SET last_seen = %(seen)s WHERE r.id = "
         + _any(f"SELECT d.revision_id FROM document d WHERE d.entity_type = %(et)s AND d.mbid = {unchanged}")),
        ("unchanged", f"UPDATE {top} t SET last_seen = %(seen)s WHERE t.mbid = {unchanged}"),
        "INSERT INTO document (entity_type, mbid, revision_id, hash, revision_count, first_seen, last_seen) "
        "SELECT %(et)s, s.mbid, "
        " (SELECT r.id FROM document_revision r WHERE r.entity_type = %(et)s AND r.mbid = s.mbid AND r.hash = s.hash), "
        " s.hash, "
        " CASE WHEN s.existed THEN (SELECT count(*) FROM document_revision c "
        "  WHERE c.entity_type = %(et)s AND c.mbid = s.mbid) ELSE 1 END, "
        " %(seen)s, %(seen)s "
        "FROM stg_doc s WHERE s.changed "
        "ON CONFLICT (entity_type, mbid) DO UPDATE SET revision_id = EXCLUDED.revision_id, hash = EXCLUDED.hash, "
        "revision_count = EXCLUDED.revision_count, last_seen = EXCLUDED.last_seen, deleted_at = NULL",
    ]
    # entities named inside documents: sparse, so a NULL never erases what an
    # earlier document (in this batch or before) told us: per column, the
    # latest non-NULL value of the batch, else what the table has
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
    # the document's own entity reflects exactly its latest version
    st = STAGES["stg_" + top]
    cols = [c for c in st.columns if c not in ("ord", "top")]
    sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in cols if c != "mbid")
    extra_cols, extra_vals, extra_sets = "", "", ""
    if entity == "release":
        extra_cols, extra_vals = ", needs_score, deleted_reason", ", true, NULL"
        extra_sets = ", needs_score = true, deleted_reason = NULL"
    where_top = "" if entity == "release" else " AND x.top"
    sql.append(_noting_existing(top,
        f"INSERT INTO {top} ({_names(cols)}, first_seen, last_seen{extra_cols}) "
        f"SELECT {_names(cols, 'x')}, %(seen)s, %(seen)s{extra_vals} "
        f"FROM stg_{top} x {changed}{where_top} "
        f"ON CONFLICT (mbid) DO UPDATE SET {sets}, last_seen = EXCLUDED.last_seen, deleted_at = NULL{extra_sets}"
    ))
    # children are replaced wholesale by the new version
    if entity == "release":
        sql += [
            ("updated", f"DELETE FROM medium x WHERE x.release_mbid = {replaced}"),
            ("updated", f"DELETE FROM release_label x WHERE x.release_mbid = {replaced}"),
        ]
    sql += [
        ("updated", f"DELETE FROM url_relation x WHERE x.entity_type = %(et)s AND x.entity_mbid = {replaced}"),
        ("updated", f"DELETE FROM tag x WHERE x.entity_type = %(et)s AND x.entity_mbid = {replaced}"),
        # credit owners are of three types; each is probed by (type, mbid)
        "DELETE FROM artist_credit x WHERE x.entity_type = ANY(ARRAY['release', 'release-group', 'recording']) "
        f"AND x.entity_mbid = {_any('SELECT entity_mbid FROM stg_existing')} "
        "AND (x.entity_type, x.entity_mbid) IN (SELECT entity_type, entity_mbid FROM stg_existing)",
    ]
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
        f"INSERT INTO url_relation ({_names(ucols)}) SELECT {_names(ucols, 'x')} FROM stg_url x {changed}",
        f"INSERT INTO tag ({_names(gcols)}) SELECT {_names(gcols, 'x')} FROM stg_tag x {changed} "
        "ON CONFLICT DO NOTHING",
    ]
    return [(None, stmt) if isinstance(stmt, str) else stmt for stmt in sql]


STATS_MIN_ROWS = 5000
STATS_TABLES = ["document", "document_revision", "release", "medium", "track", "release_label", "artist", "label",
                "recording", "release_group", "artist_credit", "url_relation", "tag"]
_ANALYZE_SQL = "ANALYZE stg_doc"  # joined to every other staging table

_DATA_ERRORS = (psycopg.DataError, psycopg.IntegrityError)

_COUNT_SQL = ("SELECT count(*) FILTER (WHERE changed AND NOT existed), count(*) FILTER (WHERE changed AND existed), "
              "count(*) FILTER (WHERE NOT changed) FROM stg_doc")


# --- the import -----------------------------------------------------------------------------


@dataclass
class ImportResult:
    run_id: int
    status: str  # ok | partial | failed | interrupted
    lines: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    tombstoned: int = 0
    skipped: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def parse_dump_time(value: str | None) -> dt.datetime | None:
    """The archive's TIMESTAMP, e.g. '2025-11-22 00:00:00.000000+00'."""
    if not value:
        return None
    text_ = value.strip().replace(" ", "T", 1)
    if text_.endswith("+00"):
        text_ += ":00"
    try:
        when = dt.datetime.fromisoformat(text_)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


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
    """COPY + merge of batches on one connection, checkpoint in the same transaction."""

    def __init__(self, db: Database, run_id: int):
        self.db = db
        self.run_id = run_id
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
            for ddl in _staging_ddl():
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

    def _merge(self, cur, entity: str, items: list[Item], params: dict,
               payload: dict[str, bytes] | None = None, clear: bool = False) -> tuple[int, int, int]:
        """COPY and merge; the staging tables empty themselves at commit, or
        here when `clear` (several merges in one transaction)."""
        self._copy(cur, payload if payload is not None else stage_payload(items))
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
            tail = ("\t" + "\t".join(_copy_value(v) for v in (params["source"], str(params["seen"]),
                                                                str(params["seen"]), params["run"])) + "\n").encode()
            head = (_esc(params["et"]) + "\t").encode()
            with cur.copy(f"COPY document_revision ({_REVISION_COLS}) FROM STDIN") as cp:
                for it in items:
                    if it.ord in new:
                        cp.write(head + doc_copy_bytes(it) + tail)
        if entity not in self._sql:
            self._sql[entity] = _merge_sql(entity)
        for needs, stmt in self._sql[entity]:
            if needs is None or present[needs]:
                cur.execute(stmt, params)
        if clear:
            cur.execute("TRUNCATE " + ", ".join(STAGES))
        return counts

    def load(self, entity: str, items: list[Item], *, source: str, seen: dt.datetime, import_id: int,
             lines_done: int, payload: dict[str, bytes] | None = None) -> dict:
        """Merge one batch and move the checkpoint; returns its counts."""
        params = {"et": entity, "seen": seen, "source": source, "run": self.run_id}
        good = [it for it in items if it.error is None]
        bad = [(it.line_no, it.error, it.text) for it in items if it.error is not None]
        counts = [0, 0, 0]
        with self.pg.cursor() as cur:
            try:
                if good:
                    counts = list(self._merge(cur, entity, good, params, payload))
            except _DATA_ERRORS:  # a line the database refuses: find it, line by line
                self.pg.rollback()
                counts = [0, 0, 0]
                for it in good:
                    one = prepare_line(entity, it.raw, it.line_no, 0)  # its rows, alone
                    cur.execute("SAVEPOINT one")
                    try:
                        c = self._merge(cur, entity, [one], params, clear=True)
                        counts = [a + b for a, b in zip(counts, c)]
                        cur.execute("RELEASE SAVEPOINT one")
                    except _DATA_ERRORS as one_exc:
                        cur.execute("ROLLBACK TO SAVEPOINT one")
                        msg = one_exc.diag.message_primary or str(one_exc)
                        bad.append((it.line_no, f"cannot store {entity}: {msg}", it.text))
            if bad:
                cur.executemany(
                    "INSERT INTO quarantine (source, line_no, error, raw, sync_run_id) VALUES (%s, %s, %s, %s, %s)",
                    [(source, line_no, err, raw.replace("\x00", "\\u0000") if raw else raw, self.run_id)
                     for line_no, err, raw in bad],
                )
            cur.execute(
                "UPDATE dump_import SET lines_done = %s, quarantined = quarantined + %s WHERE id = %s",
                (lines_done, len(bad), import_id),
            )
            cur.execute(
                "UPDATE sync_run SET inserted = inserted + %s, updated = updated + %s, unchanged = unchanged + %s, "
                "quarantined = quarantined + %s WHERE id = %s",
                (*counts, len(bad), self.run_id),
            )
        self.pg.commit()
        self._keep_stats(counts[0])
        return {"inserted": counts[0], "updated": counts[1], "unchanged": counts[2], "quarantined": len(bad)}


def tombstone_absent(session, entity: str, seen: dt.datetime, dump_time: dt.datetime, label: str) -> int:
    """After a complete dump: what we knew before the dump was made and the dump
    no longer holds is gone upstream.  Kept, flagged, never deleted."""
    if entity != "release":
        return 0
    res = session.execute(
        text(
            "WITH gone AS (UPDATE release SET deleted_at = :now, deleted_reason = :why, needs_score = true "
            " WHERE deleted_at IS NULL AND last_seen < :seen AND first_seen < :dump_time RETURNING mbid) "
            "UPDATE document d SET deleted_at = :now FROM gone "
            "WHERE d.entity_type = 'release' AND d.mbid = gone.mbid AND d.deleted_at IS NULL RETURNING d.mbid"
        ),
        {"now": _now(), "why": f"absent from complete dump {label}", "seen": seen, "dump_time": dump_time},
    )
    return len(res.fetchall())


def import_dump(
    db: Database,
    path: str | Path,
    *,
    entity: str | None = None,
    complete: bool | None = None,
    again: bool = False,
    batch: int = BATCH,
    parallel: bool = True,
    on_progress: Callable[[int, int, int], None] | None = None,
    log: Callable[[str], None] = lambda msg: None,
) -> ImportResult:
    """`mbindex import-dump PATH`.

    `complete`: the dump holds every entity of its kind, so known releases it
    lacks are tombstoned.  Default: yes for an archive, no for a plain file.
    """
    import time

    from .sync import Run

    if entity is not None and entity not in ENTITIES:
        raise DumpError(f"unknown entity {entity!r}; one of {', '.join(ENTITIES)}")
    root = Path(path)
    files = list_sources(root)
    for p in files:  # say it now, not after a long read
        if entity is None and not _is_tar_name(p.name) and entity_from_name(p.name) is None:
            raise DumpError(f"cannot tell which entity {p.name} holds: name the file after it "
                            "(e.g. release.jsonl) or pass --entity")
    started = time.monotonic()
    prints = [(str(p.resolve()), fingerprint(p)) for p in files]

    with db.session() as s:
        rows = s.execute(
            select(m.DumpImport).where(m.DumpImport.fingerprint.in_([fp for _, fp in prints]))
        ).scalars().all()
    resume = {(r.fingerprint, r.member): r.lines_done for r in rows if r.status != "done"}
    done = {(r.fingerprint, r.member) for r in rows if r.status == "done"} if not again else set()
    if again:
        resume = {}
    seen_at = {(r.fingerprint, r.member): r.started_at for r in rows if r.status != "done" and not again}
    plan = ReadPlan(sources=prints, entity=entity, resume=resume, skip_done=done, batch=batch)

    run = Run(db, "import", "dump", str(root), options={"entity": entity, "complete": complete, "again": again})
    result = ImportResult(run.id, "ok")
    loader = Loader(db, run.id)
    current: dict = {}
    dump_times: dict[int, dt.datetime | None] = {}
    total_size = sum(p.stat().st_size for p in files)
    hint = tuning_hint(loader.server_settings(), total_size)
    if hint:
        log(hint)
    done_size = 0
    messages = reader_messages(plan, parallel=parallel)
    try:
        for msg in messages:
            kind = msg[0]
            if kind == "timestamp":
                dump_times[msg[1]] = parse_dump_time(msg[2])
            elif kind == "skip":
                _, src, member, ent = msg
                label = _label(files[src], member)
                result.skipped.append(label)
            elif kind == "member":
                _, src, member, ent, start = msg
                current = _open_import(db, prints[src], member, ent, run.id, seen_at)
                current["label"] = _label(files[src], member)
                current["entity"] = ent
                if start:
                    log(f"{current['label']}: resuming after line {start}")
            elif kind == "batch":
                src, member, ent, items, last_line, pos, size = msg[1:8]
                counts = loader.load(ent, items, source=f"dump:{current['label']}", seen=current["seen"],
                                     import_id=current["id"], lines_done=last_line,
                                     payload=msg[8])
                result.lines += len(items)
                for k, v in counts.items():
                    setattr(result, k, getattr(result, k) + v)
                if on_progress:
                    on_progress(done_size + pos, total_size, result.lines)
            elif kind == "end":
                _, src, member, ent, lines = msg
                is_archive = _is_tar_name(files[src].name) or member != ""
                whole = complete if complete is not None else is_archive
                with db.session() as s, s.begin():
                    quarantined = s.execute(select(m.DumpImport.quarantined)
                                            .where(m.DumpImport.id == current["id"])).scalar_one()
                    if whole and quarantined:
                        log(f"{current['label']}: {quarantined} line(s) quarantined, so releases missing from it "
                            "are not tombstoned")
                    elif whole:
                        when = dump_times.get(src) or current["seen"]
                        n = tombstone_absent(s, ent, current["seen"], when, current["label"])
                        result.tombstoned += n
                        if n:
                            log(f"{current['label']}: {n} release(s) absent from this complete dump tombstoned")
                    s.execute(update(m.DumpImport).where(m.DumpImport.id == current["id"])
                              .values(status="done", finished_at=_now(), lines_done=lines))
                done_size += files[src].stat().st_size
            elif kind == "error":
                result.status, result.error = "failed", msg[1]
                break
            elif kind == "done":
                break
    except KeyboardInterrupt:
        result.status, result.error = "interrupted", "interrupted; run the same command again to continue"
        raise
    except Exception as exc:
        result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        messages.close()
        loader.close()
        run.counts.tombstoned = result.tombstoned
        result.seconds = time.monotonic() - started
        with db.session() as s, s.begin():
            s.execute(
                update(m.SyncRun).where(m.SyncRun.id == run.id).values(
                    status=result.status, finished_at=_now(), error=result.error, tombstoned=result.tombstoned,
                    checkpoint={"lines": result.lines},
                )
            )
    return result


def _label(path: Path, member: str) -> str:
    return f"{path.name}:{member}" if member else path.name


def _open_import(db: Database, source: tuple[str, str], member: str, entity: str, run_id: int,
                 seen_at: dict) -> dict:
    """The dump_import row of a member: resumed if unfinished, else new."""
    path, fp = source
    with db.session() as s, s.begin():
        row = s.execute(
            select(m.DumpImport).where(m.DumpImport.fingerprint == fp, m.DumpImport.member == member,
                                       m.DumpImport.entity == entity).with_for_update()
        ).scalar_one_or_none()
        if row is None:
            row = m.DumpImport(path=path, member=member, entity=entity, fingerprint=fp, sync_run_id=run_id,
                               started_at=_now())
            s.add(row)
            s.flush()
        elif (fp, member) not in seen_at:  # --again: a new pass over a finished file
            row.started_at, row.finished_at, row.lines_done, row.quarantined = _now(), None, 0, 0
        row.status = "running"
        row.sync_run_id = run_id
        s.flush()
        return {"id": row.id, "seen": row.started_at}
