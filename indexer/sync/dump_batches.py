"""The reader side of the dump import: dump lines in, batches of COPY text out.

The reader runs in a child process (an .xz decompressed by a thread of it): it
parses, hashes and maps each line and formats its rows as COPY text
(`store.staging`), and seals each batch into one payload per staging table,
which is far cheaper to pickle than the rows.  Before that, a batch of raw
lines at a time, it asks the database (one query, on a connection of its own:
`store.raw_lines.KnownLines`) which of them have exactly the bytes of the line
their document was last stored from: those are sent flagged (`Batch.flagged`),
unparsed and without their bytes (a batch holds up to `UNCHANGED_PER_LINE`
times as many of them), and the loader confirms them (`store.raw_lines` says
why in two steps; `reread_lines` for a line it does not confirm).  It talks
to the loader through a bounded queue of typed messages (`Message`), so memory stays flat however
large the dump; in the loader's process a pump thread takes (unpickles) the
next batch and makes the bytes of its documents while the loader waits on
PostgreSQL.  `read_batches` is the same reader in-process (tests, `parallel=False`).

The process is a `ReaderProcess`; `import-dump` starts one before it loads
the library (`start_reader`), and this module imports nothing of the
database side until a line must be parsed (`_staging`), so that an
unchanged refresh reads while the loader is still starting.
"""

from __future__ import annotations

import functools
import hashlib
import json
import multiprocessing
import os
import queue
import signal
import threading
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import orjson

from .. import mapping as mp
from ..sources.dump_files import (
    READ_ERRORS,
    DumpError,
    Line,
    bounded_lines,
    input_files,
    iter_members,
)
from ..store.raw_lines import FlaggedLines, KnownLines, libpq_url


@functools.cache  # a call a parsed line: the import statement runs once
def _staging():
    """`store.staging`, imported when the first line is parsed, not with this
    module: it needs SQLAlchemy and the models (about 0.3 s to import), and
    a reader started before its parent has loaded the library (`ReaderProcess`,
    `import-dump` with a database URL) cuts, hashes and flags the unchanged
    lines of a refresh without them."""
    from ..store import staging  # deliberate lazy load: see the docstring

    return staging


BATCH = 1000
#: a batch holds up to this many times BATCH lines flagged unchanged: each ships as
#: an MBID and a hash, and the loader's touch is cheaper per line in bulk
UNCHANGED_PER_LINE = 10
MAX_LINE = 64 << 20  # bytes; the max_line_mb setting

#: a run of 19 digits or more may be an integer beyond 64 bits, which orjson
#: turns into a float; such a line (or one with a long number in a string) is
#: parsed again by the stdlib, which keeps every integer exact.  Found by
#: mapping every digit to "0" and the rest to " " and looking for 19 zeros:
#: two C passes, ~20x faster than a regular expression on a 13 KB line
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_NUMBER = b"0" * 19


@dataclass
class Item:
    """One input line, ready to load (or to quarantine)."""

    line_no: int
    mbid: str | None = None
    # staging table -> COPY lines; the reader's only: the loader gets the
    # batch's COPY data joined (seal), which is far cheaper to pickle
    tables: dict[str, list[str]] | None = None
    error: str | None = None
    raw: bytes = b""  # the line as read, without its end of line (of an over-long one: its first KB)
    raw_offset: int | None = None  # an over-long line: its byte offset in the file (or member)
    raw_length: int | None = None  # and its length in bytes
    hash: str | None = None
    raw_hash: bytes | None = None  # mapping.values.raw_hash of `raw` (not of an over-long line)
    ord: int = -1  # place in its batch
    doc_bytes: bytes | None = None  # "mbid<TAB>hash<TAB>document" as COPY text, made ahead of time


def prepare_line(entity: str, raw: bytes, line_no: int, ord_: int, raw_hash: bytes | None = None) -> Item:
    """Parse, hash and map one dump line; a bad line becomes a quarantine item.
    `raw_hash`: the line's `mapping.values.raw_hash`, if already known."""
    raw = raw.rstrip(b"\r\n")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Item(line_no, error=f"not valid JSON: {exc}", raw=raw)
    if _LONG_NUMBER in raw.translate(_DIGITS_AS_ZEROS):  # hash the document as stored (the line), exactly
        doc = json.loads(raw)
    if not isinstance(doc, dict):
        return Item(line_no, error=f"not a {entity} document: a JSON {type(doc).__name__}, not an object", raw=raw)
    try:
        tables = _staging().rows_of(entity, doc, ord_)
    except (mp.MappingError, ValueError, TypeError, AttributeError, KeyError) as exc:
        return Item(line_no, error=f"cannot map {entity}: {exc}", raw=raw)
    mbid = str(uuid.UUID(doc["id"]))
    digest = hashlib.sha256(mp.canonical_json_bytes(doc)).hexdigest()
    raw_hash = raw_hash or mp.raw_hash(raw)
    tables["stg_doc"] = [_staging().doc_row(ord_, mbid, digest, raw_hash)]
    return Item(line_no, mbid=mbid, tables=tables, raw=raw, hash=digest, raw_hash=raw_hash, ord=ord_)


def over_long(line: Line, line_no: int, max_line: int) -> Item:
    """A line longer than the cap, quarantined by reference: where it is,
    how long, and its first KB."""
    return Item(line_no, error=f"line of {line.length} bytes is longer than max_line_mb "
                f"({max_line / (1 << 20):g} MB): quarantined by reference (offset {line.offset}, first KB kept)",
                raw=line.data, raw_offset=line.offset, raw_length=line.length)


def seal(items: list[Item]) -> dict[str, bytes]:
    """The batch's COPY data; the items keep only what the loader needs."""
    if not items:  # only lines flagged unchanged: nothing to stage
        return {}
    payload = _staging().stage_payload(it.tables for it in items)
    for it in items:
        it.tables = None
    return payload


def make_doc_bytes(items: list[Item]) -> None:
    """The document_revision COPY text of each good line, ahead of the loader."""
    for it in items:
        if it.error is None and it.doc_bytes is None:
            it.doc_bytes = _staging().doc_copy_bytes(it.mbid, it.hash, it.raw)


# --- the reader's messages, in the order it sends them ------------------------------------
# `source` is the index of the file in ReadPlan.sources; `member` the file
# inside an archive ("" for a plain file).  Frozen and slotted: they are
# pickled across the queue, and nobody changes one on the way.


@dataclass(frozen=True, slots=True)
class Timestamp:
    """An archive's TIMESTAMP: when the dump was made."""

    source: int
    text: str


@dataclass(frozen=True, slots=True)
class Skip:
    """A member an earlier import finished (and `--again` was not asked)."""

    source: int
    member: str
    entity: str


@dataclass(frozen=True, slots=True)
class MemberStart:
    """A member begins; its lines up to `start` were loaded by an earlier import."""

    source: int
    member: str
    entity: str
    start: int


@dataclass(frozen=True, slots=True)
class Batch:
    """Lines of a member, up to line `lines_done`, sealed (`payload` holds their COPY data);
    `position` of `size` compressed bytes read, for progress."""

    source: int
    member: str
    entity: str
    items: list[Item]
    lines_done: int
    position: int
    size: int
    payload: dict[str, bytes]
    flagged: FlaggedLines | None = None  # lines unchanged by their bytes: unparsed, to be confirmed


@dataclass(frozen=True, slots=True)
class MemberEnd:
    """A member read to its end, `lines` lines in all."""

    source: int
    member: str
    entity: str
    lines: int


@dataclass(frozen=True, slots=True)
class ReaderError:
    """The reader stopped: the dump cannot be read (or the reader failed)."""

    message: str


@dataclass(frozen=True, slots=True)
class Done:
    """Every source read."""


Message = Timestamp | Skip | MemberStart | Batch | MemberEnd | ReaderError | Done


@dataclass
class ReadPlan:
    """What the reader should do: sources and where each member resumes."""

    sources: list[tuple[str, str]]  # (path, fingerprint)
    entity: str | None
    resume: dict[tuple[str, str], int]  # (fingerprint, member) -> lines already loaded
    skip_done: set[tuple[str, str]]  # members finished by an earlier import
    batch: int = BATCH
    max_line: int = MAX_LINE  # bytes: a longer line is quarantined by reference
    known: str | None = None  # libpq URL to ask which lines are unchanged (None: parse every line)


@dataclass(slots=True)
class _Read:
    """A line read and checked, before it becomes an Item."""

    line_no: int
    line: Line
    raw_hash: bytes | None = None
    mbid: str | None = None  # of the live document stored from exactly these bytes, if any (not parsed)


def _blank(data) -> bool:
    """Only whitespace (a view of its chunk: copied only when it starts with some)."""
    return not data or (data[0] in b" \t\r\n\f\v" and not bytes(data).strip())


class _CheckedLines:
    """The lines of a member from `start` on, checked a batch at a time
    against the stored raw hashes (`KnownLines`, one query a batch, answered
    while the next batch is read and hashed).  `line_no`: the lines read
    whole so far (blank ones too)."""

    def __init__(self, lines: Iterator[Line], start: int, entity: str, known: KnownLines | None, size: int):
        self.lines, self.start, self.entity, self.known, self.size = lines, start, entity, known, size
        self.line_no = 0

    def __iter__(self) -> Iterator[_Read]:
        chunk: list[_Read] = []
        asked: tuple | None = None  # the previous chunk, and its question in flight
        try:
            for line in self.lines:
                self.line_no += 1
                if self.line_no <= self.start or (line.length is None and _blank(line.data)):
                    continue
                chunk.append(_Read(self.line_no, line))
                if len(chunk) >= self.size:
                    question = self._ask(chunk)
                    if asked is not None:
                        yield from self._answer(*asked)
                    asked, chunk = (chunk, question), []
        except READ_ERRORS:
            if asked is not None:  # what was read whole is loaded
                yield from self._answer(*asked)
            yield from self._answer(chunk, self._ask(chunk))
            raise
        if asked is not None:
            yield from self._answer(*asked)
        yield from self._answer(chunk, self._ask(chunk))

    def _ask(self, chunk: list[_Read]) -> Future | None:
        """Hash the chunk's lines and ask which are stored (answered in a thread)."""
        if self.known is None or not chunk:
            return None
        for r in chunk:
            if r.line.length is None:
                r.raw_hash = mp.raw_hash(r.line.data)
        return self.known.ask(self.entity, [r.raw_hash for r in chunk if r.raw_hash is not None])

    @staticmethod
    def _answer(chunk: list[_Read], question: Future | None) -> list[_Read]:
        """The chunk, each line with the MBID stored for its bytes, if any."""
        if question is not None:
            stored = question.result()
            for r in chunk:
                if r.raw_hash is not None:
                    r.mbid = stored.get(r.raw_hash)
        return chunk


def _item(entity: str, r: _Read, ord_: int, max_line: int) -> Item:
    """The Item of a checked line (not flagged) at place `ord_` of its batch."""
    if r.line.length is not None:
        return over_long(r.line, r.line_no, max_line)
    return prepare_line(entity, bytes(r.line.data), r.line_no, ord_, r.raw_hash)


def read_batches(plan: ReadPlan) -> Iterator[Message]:
    """The reader's messages, in order (also run in-process by tests)."""
    known = KnownLines(plan.known) if plan.known else None
    try:
        for src_index, (path, fp) in enumerate(plan.sources):
            yield from _read_source(plan, src_index, Path(path), fp, known)
    finally:
        if known is not None:
            known.close()
    yield Done()


def _read_source(plan: ReadPlan, src_index: int, path: Path, fp: str, known: KnownLines | None
                 ) -> Iterator[Message]:
    for member, ent, stream, inp in iter_members(path, plan.entity):
        if member == "TIMESTAMP":
            yield Timestamp(src_index, ent)
            continue
        key = (fp, member)
        if key in plan.skip_done:
            yield Skip(src_index, member, ent)
            continue
        start = plan.resume.get(key, 0)
        yield MemberStart(src_index, member, ent, start)
        items: list[Item] = []
        flagged = FlaggedLines()
        seen: set[str] = set()
        lines = _CheckedLines(bounded_lines(stream, plan.max_line), start, ent, known, plan.batch)

        def batch(lines_done: int) -> Batch:
            return Batch(src_index, member, ent, items, lines_done, inp.position(), inp.size, seal(items),
                         flagged or None)

        try:
            for r in lines:
                mbid = r.mbid  # flagged: found cheaply, with its raw hash stored
                item = None if mbid is not None else _item(ent, r, len(items), plan.max_line)
                if item is not None:
                    mbid = item.mbid
                if mbid is not None and mbid in seen:  # same entity twice: next batch
                    yield batch(r.line_no - 1)
                    items, flagged, seen = [], FlaggedLines(), set()
                    if item is not None:
                        item = _item(ent, r, 0, plan.max_line)
                if item is None:
                    flagged.add(r.line_no, mbid, r.raw_hash)
                else:
                    items.append(item)
                if mbid is not None:
                    seen.add(mbid)
                if len(items) >= plan.batch or len(flagged) >= plan.batch * UNCHANGED_PER_LINE:
                    yield batch(r.line_no)
                    items, flagged, seen = [], FlaggedLines(), set()
        except READ_ERRORS as exc:
            if items or flagged:  # what was read whole is loaded, the checkpoint says where it broke
                yield batch(lines.line_no)
            raise DumpError(f"{path.name}: archive is truncated or corrupt after line {lines.line_no}: {exc}") \
                from None
        if items or flagged:
            yield batch(lines.line_no)
        yield MemberEnd(src_index, member, ent, lines.line_no)


def reread_lines(path: Path, member: str, entity: str | None, line_nos: set[int], max_line: int
                 ) -> dict[int, bytes]:
    """Lines of a member read again by number (from 1), for lines flagged
    unchanged that the loader could not confirm: rare, so simply read from
    the start.  A line not found (the file changed) is missing from the answer."""
    found: dict[int, bytes] = {}
    last = max(line_nos, default=0)
    members = iter_members(path, entity)
    try:
        for name, _ent, stream, _inp in members:
            if name != member or stream is None:
                continue
            for n, line in enumerate(bounded_lines(stream, max_line), 1):
                if n in line_nos and line.length is None:
                    found[n] = bytes(line.data)
                if n >= last:
                    break
            break
    finally:
        members.close()  # stops the decompressor
    return found


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
        put(ReaderError(str(exc)))
    except Exception as exc:  # report, never hang the loader
        put(ReaderError(f"reader failed: {type(exc).__name__}: {exc}"))


def reader_messages(plan: ReadPlan, parallel: bool = True) -> Iterator[Message]:
    """Messages of the reader, from a child process when `parallel`."""
    if not parallel:
        try:
            yield from read_batches(plan)
        except DumpError as exc:
            yield ReaderError(str(exc))
        return
    yield from ReaderProcess(plan).messages()


class ReaderProcess:
    """The reader in a child process (forked at once), talking through a
    bounded queue; `messages()` takes what it sends.

    Started early, a reader overlaps its parent's start-up: `import-dump`
    forks it before importing the library (SQLAlchemy, psycopg's types, the
    models: about 0.45 s), with a plan that assumes nothing to resume or
    skip, and this module imports none of the library until a line is
    parsed.  The import then either adopts it (`serves`: the real plan is the
    same) or `cancel`s it and starts its own; a reader's only effect on the
    database is read-only questions, so a cancelled one leaves nothing."""

    def __init__(self, plan: ReadPlan):
        self.plan = plan
        ctx = multiprocessing.get_context("fork")
        self._q = ctx.Queue(maxsize=2)  # bounded: memory stays flat however large the dump
        self._proc = ctx.Process(target=_reader_main, args=(plan, self._q, os.getpid()), daemon=True)
        self._proc.start()
        self.adopted = False

    def serves(self, plan: ReadPlan) -> bool:
        """Does this reader read what `plan` asks (the same files, entity,
        batch, caps and database), with nothing to resume or skip?"""
        mine = self.plan
        return (not plan.resume and not plan.skip_done and [p for p, _ in plan.sources] == [p for p, _ in mine.sources]
                and (plan.entity, plan.batch, plan.max_line, plan.known)
                == (mine.entity, mine.batch, mine.max_line, mine.known))

    def messages(self) -> Iterator[Message]:
        """What the reader sends, in order, until Done or ReaderError; a pump
        thread takes (unpickles) the next batch while the loader works."""
        self.adopted = True
        proc, q = self._proc, self._q
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
                    msg = ReaderError(f"the reader process died (exit code {proc.exitcode})")
                if isinstance(msg, Batch):
                    make_doc_bytes(msg.items)
                while not stop.is_set():
                    try:
                        ready.put(msg, timeout=1.0)
                        break
                    except queue.Full:
                        continue
                if isinstance(msg, (Done, ReaderError)):
                    return

        taker = threading.Thread(target=pump, name="dump-pump", daemon=True)
        taker.start()
        try:
            while True:
                msg = ready.get()
                yield msg
                if isinstance(msg, (Done, ReaderError)):
                    return
        finally:
            stop.set()
            taker.join(5)
            self.cancel()

    def cancel(self) -> None:
        """Stop the reader (at once if it is still reading) and free its queue."""
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join(5)
        self._q.close()
        self._q.cancel_join_thread()


def start_reader(path: Path, entity: str | None, batch: int, max_line: int, database_url: str | None
                 ) -> ReaderProcess | None:
    """A reader of the dump at `path` started now, before the import knows
    what earlier imports left (`ReaderProcess`: it assumes nothing to resume
    or skip, and the import adopts it only if so); None where it cannot
    help: no database URL yet (the embedded server starts later), an input
    that the import will refuse anyway (it says why)."""
    if database_url is None:
        return None
    try:
        files = input_files(path, entity)
    except DumpError:
        return None
    plan = ReadPlan(sources=[(str(p.resolve()), "") for p in files], entity=entity, resume={}, skip_done=set(),
                    batch=batch, max_line=max_line, known=libpq_url(database_url))
    return ReaderProcess(plan)
