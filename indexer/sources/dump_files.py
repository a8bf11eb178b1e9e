"""The official MusicBrainz JSON data dumps, as files: finding them, telling
them apart, and streaming their lines.

A dump (`release.tar.xz`, ...) holds `mbdump/<entity>`: one ws/2 JSON
document per line, plus a `TIMESTAMP` saying when it was made.  A plain file
(`release.jsonl`, optionally compressed) or a directory of them works too.
Nothing here parses a document or touches the database.
"""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..mapping import ENTITY_TYPES
from .decompress import ThreadedXz, XzError

ENTITIES = ENTITY_TYPES

#: what reading a dump can raise when the file is damaged or cut off (a bad tar
#: header, data ending early, a broken .xz/.gz/.bz2 stream, the disk)
READ_ERRORS = (tarfile.TarError, EOFError, XzError, OSError)


class DumpError(RuntimeError):
    """A dump that cannot be read as asked; the message says why."""


_COMPRESSED = {".xz": "xz", ".gz": "gz", ".bz2": "bz2", ".tgz": "gz", ".txz": "xz"}


def list_sources(path: Path) -> list[Path]:
    """A file, or every visible file of a directory (sorted, not recursive),
    each a regular file we can read: said now, in one line, rather than as a
    traceback half-way through an import."""
    try:
        if not path.exists():
            raise DumpError(f"no such file or directory: {path}")
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            if not files:
                raise DumpError(f"directory {path} holds no files")
        elif not path.is_file():  # a device or pipe: no size, no end, nothing to resume
            raise DumpError(f"{path} is not a regular file: save the dump to a file first")
        else:
            files = [path]
        for p in files:
            with open(p, "rb"):
                pass
    except OSError as exc:
        raise DumpError(f"cannot read {exc.filename or path}: {exc.strerror or exc}") from None
    return files


def input_files(root: Path, entity: str | None) -> list[Path]:
    """The files of `root` to import (`list_sources`), each known to hold a
    nameable entity, or `entity`: said now, not after a long read."""
    if entity is not None and entity not in ENTITIES:
        raise DumpError(f"unknown entity {entity!r}; one of {', '.join(ENTITIES)}")
    files = list_sources(root)
    for p in files:
        if entity is None and not is_tar_name(p.name) and entity_from_name(p.name) is None:
            raise DumpError(f"cannot tell which entity {p.name} holds: name the file after it "
                            "(e.g. release.jsonl) or pass --entity")
    return files


def fingerprint(path: Path) -> str:
    """The SHA-256 of the whole file: recognises the same dump file again,
    and a changed one (same size, same head and tail) as new.  One extra
    sequential read of the compressed file (about 1.7 GB/s here), small
    beside decompressing and loading it."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError as exc:
        raise DumpError(f"cannot read {path}: {exc.strerror or exc}") from None
    return f"sha256:{h.hexdigest()}"


#: what is kept of an over-long line, for the quarantine
LINE_HEAD = 1024
_CHUNK = 1 << 20


@dataclass(slots=True)  # not frozen: a million of these a refresh, and a frozen __init__ costs 2x
class Line:
    """One line of a dump file: its bytes (with the end of line), and where it
    starts; `length` is set only for a line longer than the cap, whose
    `data` is then just its first KB (the rest was skipped, never held).
    `data` is bytes-like: a line within one chunk is a memoryview of that
    chunk (hashing it copies nothing; most lines of a refresh are only
    hashed), so `bytes(line.data)` to keep or parse it."""

    offset: int
    data: bytes | memoryview
    length: int | None = None


def bounded_lines(stream, max_len: int) -> Iterator[Line]:
    """The lines of `stream`, read in chunks of 1 MB and cut by `find`, as
    views of their chunk (not a `readline` and a copy a line: at ~13 KB a
    line, that was more CPU than `xz` itself spent decompressing them), none
    held longer than `max_len` bytes (without its line break): a longer one
    (a file with no line breaks, /dev/zero) is dropped as soon as it passes
    the cap, read through chunk by chunk and yielded by reference, so memory
    stays within the cap (plus a chunk) however long the line."""
    offset = 0  # where the line being read starts
    parts: list[bytes] = []  # the line being read, when it spans chunks
    length = 0  # its bytes so far
    head: bytes | None = None  # its first KB, once it passed the cap
    while chunk := stream.read(_CHUNK):
        view, size = memoryview(chunk), len(chunk)
        end = chunk.find(b"\n")
        if end < 0:  # no line ends here: the line goes on
            length += size
            if head is None:
                parts.append(chunk)
                if length > max_len:
                    head, parts = b"".join(parts)[:LINE_HEAD], []
            elif len(head) < LINE_HEAD:
                head += chunk[:LINE_HEAD - len(head)]
            continue
        if parts or head is not None:  # the line begun in earlier chunks ends here
            if head is not None and len(head) < LINE_HEAD:
                head += chunk[:min(end, LINE_HEAD - len(head))]
            length += end + 1
            if head is None and length - 1 <= max_len:
                yield Line(offset, b"".join(parts) + chunk[:end + 1])
            else:
                yield Line(offset, head if head is not None else b"".join(parts)[:LINE_HEAD], length - 1)
            offset += length
            parts, head = [], None
            start, end = end + 1, chunk.find(b"\n", end + 1)
        else:
            start = 0
        while end >= 0:
            n = end - start
            if n <= max_len:
                yield Line(offset, view[start:end + 1])
            else:
                yield Line(offset, bytes(view[start:start + LINE_HEAD]), n)
            offset += n + 1
            start, end = end + 1, chunk.find(b"\n", end + 1)
        length = size - start
        if length > max_len:
            head = bytes(view[start:start + LINE_HEAD])
        elif length:
            parts.append(chunk[start:])
    if parts or head is not None:  # the last line, without a line break
        if head is None:
            yield Line(offset, b"".join(parts))
        else:
            yield Line(offset, head, length)


_BLOCK = 512
_ZERO_BLOCK = bytes(_BLOCK)


class _Member:
    """The data of one member of a streamed tar archive, read straight from
    the decompressed stream: `tarfile`'s stream mode copies every byte
    through a buffer of its own, a second of CPU per GB of dump."""

    def __init__(self, stream, size: int):
        self._stream, self.left, self._pad = stream, size, -size % _BLOCK

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        data = self._stream.read(self.left if n < 0 else min(n, self.left))
        if not data:
            raise EOFError("archive ends inside a member")
        self.left -= len(data)
        return data

    def finish(self) -> None:
        """Read past what is left of it and its padding, to the next header."""
        while self.left > 0:
            self.read(_CHUNK)
        if self._pad:
            _exactly(self._stream, self._pad)
            self._pad = 0


def _exactly(stream, n: int) -> bytes:
    data = stream.read(n)
    while len(data) < n:
        more = stream.read(n - len(data))
        if not more:
            raise EOFError("archive is truncated")
        data += more
    return data


def _pax_records(data: bytes) -> dict[str, str]:
    """A pax extended header's `length key=value` records."""
    out, pos = {}, 0
    try:
        while pos < len(data) and data[pos:pos + 1] != b"\0":
            space = data.index(b" ", pos)
            length = int(data[pos:space])
            key, _, value = data[space + 1:pos + length - 1].partition(b"=")
            out[key.decode("utf-8", "replace")] = value.decode("utf-8", "surrogateescape")
            pos += length
    except ValueError as exc:
        raise tarfile.ReadError(f"bad pax header: {exc}") from None
    return out


def tar_members(stream) -> Iterator[tuple[str, bool, _Member]]:
    """(name, is a regular file, data) of each member of the tar archive
    `stream`, in order; a member's data must be read (or not) before the
    next is asked for.  Headers are parsed by `tarfile.TarInfo.frombuf`
    (checksums, base-256 sizes); pax (`x`) and GNU long-name (`L`) headers
    name and size the member after them.  A bad header raises
    `tarfile.TarError`, a cut-off archive `EOFError`."""
    pax: dict[str, str] = {}
    long_name: str | None = None
    while True:
        header = stream.read(_BLOCK)
        if not header or header == _ZERO_BLOCK:
            return  # the end (a cut-off compressed stream is the decompressor's to report)
        if len(header) < _BLOCK:
            header += _exactly(stream, _BLOCK - len(header))
        info = tarfile.TarInfo.frombuf(header, "utf-8", "surrogateescape")
        if info.type in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                         tarfile.GNUTYPE_LONGLINK):
            meta = _Member(stream, info.size)
            data = meta.read() if info.size else b""
            meta.finish()
            if info.type in (tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE):
                pax = _pax_records(data)
            elif info.type == tarfile.GNUTYPE_LONGNAME:
                long_name = data.rstrip(b"\0").decode("utf-8", "surrogateescape")
            continue
        name = pax.get("path") or long_name or info.name
        size = int(pax["size"]) if "size" in pax and pax["size"].isdigit() else info.size
        pax, long_name = {}, None
        links_or_dir = info.type in (tarfile.LNKTYPE, tarfile.SYMTYPE, tarfile.DIRTYPE)  # no data, whatever the size
        member = _Member(stream, 0 if links_or_dir else size)
        yield name, info.type in tarfile.REGULAR_TYPES, member
        member.finish()


def is_tar_name(name: str) -> bool:
    """Named like a tar archive (compressed or not)."""
    return any(name.endswith(s) for s in (".tar", ".tar.xz", ".tar.gz", ".tar.bz2", ".tgz", ".txz"))


def entity_from_name(name: str) -> str | None:
    """'release', 'release.jsonl', 'release.tar.xz' → 'release'."""
    base = name.split("/")[-1]
    for ent in sorted(ENTITIES, key=len, reverse=True):  # release-group before release
        if base == ent or base[len(ent):len(ent) + 1] in (".", "-", "_") and base.startswith(ent):
            return ent
    return None


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


class _Input:
    """A source file opened for streaming, decompressed (an .xz by a thread
    of this process, `sources.decompress`), with the compressed bytes read
    so far for progress."""

    def __init__(self, path: Path):
        self.path = path
        self.size = path.stat().st_size
        suffix = "." + path.name.rsplit(".", 1)[-1] if "." in path.name else ""
        comp = _COMPRESSED.get(suffix)
        self._file = open(path, "rb", buffering=0)
        self._xz: ThreadedXz | None = None
        if comp == "xz":
            self._xz = ThreadedXz(self._file)
            self.stream = self._xz
        elif comp is not None:
            opener = {"gz": gzip.open, "bz2": bz2.open}[comp]
            self.stream = io.BufferedReader(opener(self._file, "rb"), 1 << 20)
        else:
            self.stream = io.BufferedReader(self._file, 1 << 20)

    def position(self) -> int:
        """Compressed bytes consumed."""
        if self._xz is not None:
            return self._xz.position
        try:
            return self._file.tell()
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        try:
            self.stream.close()
        except Exception:
            pass
        self._file.close()


def _is_tar(path: Path, head: bytes) -> bool:
    return is_tar_name(path.name) or (len(head) >= 262 and head[257:262] == b"ustar")


def iter_members(path: Path, entity: str | None) -> Iterator[tuple[str, str, object, _Input]]:
    """Yields (member, entity, line stream, input) for each dump file inside `path`;
    `("TIMESTAMP", text, None, input)` when an archive carries its dump time."""
    inp = _Input(path)
    try:
        try:
            head = inp.stream.peek(512)[:512] if hasattr(inp.stream, "peek") else b""
        except READ_ERRORS as exc:  # not even its first bytes decompress
            raise DumpError(f"{path.name}: cannot be read: {exc}") from None
        if _is_tar(path, head):
            try:
                for name, regular, data in tar_members(inp.stream):
                    base = name.rsplit("/", 1)[-1]
                    if base == "TIMESTAMP" and regular:
                        # a date is ~30 bytes: read a little, whatever its encoding (not a date: no tombstones)
                        stamp = data.read(200).decode("utf-8", "replace").strip()
                        yield "TIMESTAMP", stamp, None, inp
                        continue
                    ent = base if base in ENTITIES else None
                    if not regular or ent is None or "mbdump" not in name.split("/")[:-1]:
                        continue
                    if entity is not None and ent != entity:
                        continue
                    yield name, ent, data, inp
            except READ_ERRORS as exc:
                raise DumpError(f"{path.name}: archive is truncated or corrupt: {exc}") from None
        else:
            ent = entity or entity_from_name(path.name)
            if ent is None:
                raise DumpError(
                    f"cannot tell which entity {path.name} holds: name the file after it (e.g. release.jsonl) "
                    "or pass --entity"
                )
            yield "", ent, inp.stream, inp
    finally:
        inp.close()
