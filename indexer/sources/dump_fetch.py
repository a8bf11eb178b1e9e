"""Fetching the official JSON data dumps over HTTP(S), verified.

The layout (MusicBrainz "JSON Data Dumps" wiki page): `{dump_url}/LATEST`
names the newest dated directory (e.g. `20261205-001001`), which holds one
`<entity>.tar.xz` per entity and the checksum files `SHA256SUMS` and
`MD5SUMS` ("<hex>  <name>" lines, as `sha256sum` writes them).

Design: fetch, verify, then import.  Each archive is downloaded into a file
(under `--keep DIR`, else a temporary directory), its checksum computed as
the bytes arrive, and only an archive whose checksum matches the published
one is handed to the importer, which reads it from that file.  Importing
while downloading was rejected: the importer commits a batch at a time, so
lines of an archive later found corrupt or cut short would already be in the
mirror, and nothing may be committed before the check; its resume also
needs the whole file (a checkpoint in lines, a fingerprint of the file).
What overlaps the download is the hashing; decompression (`xz` in its own
process) then runs at the import's pace, from the local file, the way a
kept file is imported.

A transfer cut off (a reset, a short body, a stall) continues with a
`Range: bytes=N-` request, up to `retries` times with backoff; a server that
ignores the Range (200) is read again from the start.  A `.part` file left
in the keep directory by an earlier run resumes the same way.

Bounds: LATEST and the checksum files get `timeout` seconds of wall clock
each and at most 1 MB.  An archive may take as long as it needs while it
makes progress: its wall clock is renewed each time 64 KB more have
arrived, so `timeout` seconds in which less arrives (a stall, a trickle)
end the attempt, and what came is kept for the next one.

Never touches the database.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import re
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Callable, Iterator

from .. import __version__
from ..config import Settings
from .ws2 import TIMED_OPENER, BadDocument, GiveUp, Stats, TransientError, read_body, wall_clock, with_retries

#: the checksum files, in order of preference
CHECKSUM_FILES = (("SHA256SUMS", "sha256"), ("MD5SUMS", "md5"))
#: LATEST and checksum files are small: a bigger answer is not what we asked for
SMALL_LIMIT = 1 << 20
#: bytes read (and renewing the wall clock) at a time
CHUNK = 1 << 16
#: how every .xz file begins
XZ_MAGIC = b"\xfd7zXZ\x00"
#: the answer is a web page, not a file
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_DIR_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,99}")
_DIGEST_LENGTH = {"sha256": 64, "md5": 32}

Progress = Callable[[int, int | None], None]


class FetchError(RuntimeError):
    """A dump that could not be fetched or verified; nothing was imported.
    The message is one line naming the URL and what was wrong."""


@dataclass(frozen=True)
class Checksum:
    algorithm: str  # "sha256" | "md5"
    hex: str
    listed_in: str  # URL of the checksum file

    @property
    def fingerprint(self) -> str | None:
        """As `dump_files.fingerprint` names a file: known before the download
        only when the published checksum is a SHA-256."""
        return f"sha256:{self.hex}" if self.algorithm == "sha256" else None


@dataclass(frozen=True)
class Archive:
    """One `<entity>.tar.xz` of the dated directory LATEST names."""

    entity: str
    dated: str
    url: str
    checksum: Checksum

    @property
    def name(self) -> str:
        return f"{self.entity}.tar.xz"


def user_agent(settings: Settings) -> str:
    """The User-Agent ws/2 requests carry (musicbrainzngs' form, our name)."""
    return f"mbindex/{__version__} ( {settings.contact or 'no contact configured'} )"


class DumpFetcher:
    """LATEST, the checksum files and the archives under `settings.dump_url`."""

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep):
        self.base = settings.dump_url
        self.timeout = settings.timeout
        self.retries = settings.retries
        self.user_agent = user_agent(settings)
        self.sleep = sleep
        self.stats = Stats()

    # --- what to fetch -----------------------------------------------------

    def latest(self) -> str:
        """The dated directory LATEST names."""
        url = f"{self.base}/LATEST"
        body = self._small(url)
        if body is None:
            raise FetchError(f"no LATEST at {url} (HTTP 404): dump_url must name the directory holding LATEST "
                             "and the dated dumps")
        name = body.decode("utf-8", "replace").strip()
        if not _DIR_NAME.fullmatch(name):
            raise FetchError(f"{url} does not name a dump directory (it holds {name[:60]!r})")
        return name

    def archives(self, entities: list[str]) -> list[Archive]:
        """The archives of `entities` in the newest dump, each with its
        published checksum; said now, before anything is downloaded."""
        dated = self.latest()
        folder = f"{self.base}/{dated}"
        sums = self._checksums(folder, dated, entities[0])
        return [Archive(e, dated, f"{folder}/{e}.tar.xz", _listed(sums, f"{e}.tar.xz")) for e in entities]

    def _checksums(self, folder: str, dated: str, entity: str) -> tuple[str, str, dict[str, str]]:
        """(algorithm, URL, {name: hex}) of the best checksum file beside the archives."""
        for name, algorithm in CHECKSUM_FILES:
            body = self._small(f"{folder}/{name}")
            if body is not None:
                return algorithm, f"{folder}/{name}", _parse_sums(body, algorithm)
        archive = f"{folder}/{entity}.tar.xz"
        if not self._exists(archive):
            raise FetchError(f"LATEST names {dated}, but {archive} is not there (HTTP 404): the dump it points at "
                             "is missing or not published yet")
        raise FetchError(f"no SHA256SUMS or MD5SUMS in {folder}/: refusing to import archives that cannot be "
                         "verified")

    # --- small files -------------------------------------------------------

    def _small(self, url: str) -> bytes | None:
        """The body of a small file, or None when the server says 404."""
        return self._retried(lambda: self._get(url, "GET"), url)

    def _exists(self, url: str) -> bool:
        return self._retried(lambda: self._get(url, "HEAD"), url) is not None

    def _get(self, url: str, method: str) -> bytes | None:
        """One attempt: the body (b"" for HEAD), None for a 404."""
        req = urllib.request.Request(url, method=method, headers={"User-Agent": self.user_agent})
        with wall_clock(self.timeout) as deadline, _answer(url, self.timeout, deadline):
            with TIMED_OPENER.open(req, timeout=self.timeout) as resp:
                _refuse_html(resp, url)
                body = read_body(resp, SMALL_LIMIT, url) if method == "GET" else b""
            if deadline.expired:
                raise TransientError(f"no answer from {url} within {self.timeout:g}s")
            return body
        return None  # 404 (`_answer` swallowed it)

    def _retried(self, once: Callable, url: str):
        try:
            return with_retries(once, retries=self.retries, stats=self.stats, sleep=self.sleep, before=lambda: 0.0)
        except GiveUp as exc:
            raise FetchError(f"cannot fetch {url}: {exc}") from None
        except BadDocument as exc:
            raise FetchError(f"{url}: {exc}") from None

    # --- archives ----------------------------------------------------------

    def download(self, archive: Archive, dest: Path, on_progress: Progress | None = None) -> Path:
        """`archive` at `dest`, verified against its published checksum.

        A file already at `dest` (a kept download) whose checksum matches is
        used as it is; one that does not is fetched again.  The bytes go to
        `dest.part` first (an earlier run's is continued with Range) and are
        renamed to `dest` only once they match.  A mismatch removes them and
        raises FetchError; so does a full disk (the .part is kept: free some
        space and run again to continue)."""
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.exists():
                if _digest(dest, archive.checksum.algorithm).hexdigest() == archive.checksum.hex:
                    return dest
                dest.unlink()
            part = dest.with_name(dest.name + ".part")
            with _Transfer(part, archive.checksum.algorithm) as transfer:
                self._retried(lambda: self._fetch(archive.url, transfer, on_progress), archive.url)
                got = transfer.hasher.hexdigest()
            if got != archive.checksum.hex:
                part.unlink()
                c = archive.checksum
                raise FetchError(f"{archive.url}: {c.algorithm} {got} does not match {c.hex} in {c.listed_in}; "
                                 "nothing imported (run again to fetch it anew)")
            part.replace(dest)
        except OSError as exc:
            raise FetchError(_cannot_write(exc.filename or dest, exc)) from None
        return dest

    def _fetch(self, url: str, transfer: _Transfer, on_progress: Progress | None) -> None:
        """One attempt at the rest of the archive (from `transfer.done`)."""
        headers = {"User-Agent": self.user_agent}
        if transfer.done:
            headers["Range"] = f"bytes={transfer.done}-"
        req = urllib.request.Request(url, headers=headers)
        with wall_clock(self.timeout) as deadline:
            with _answer(url, self.timeout, deadline, missing=True):
                try:
                    resp = TIMED_OPENER.open(req, timeout=self.timeout)
                except urllib.error.HTTPError as exc:
                    if exc.code != 416 or not transfer.done:
                        raise
                    transfer.total = transfer.done  # nothing after what we have: the checksum tells
                    return
                with resp:
                    _refuse_html(resp, url)
                    _continue(resp, url, transfer)
                    self._copy(resp, url, transfer, deadline, on_progress)
            if deadline.expired:
                raise TransientError(f"no data from {url} for {self.timeout:g}s (at byte {transfer.done})")
        if transfer.total is not None and transfer.done < transfer.total:
            raise TransientError(f"{url} was cut off at byte {transfer.done} of {transfer.total}")

    @staticmethod
    def _copy(resp, url: str, transfer: _Transfer, deadline, on_progress: Progress | None) -> None:
        """The body into `transfer` as it arrives (`read1`: what came is kept
        when the next read stalls); each CHUNK received renews the wall clock."""
        fresh = 0
        while chunk := resp.read1(CHUNK):
            if transfer.done == 0 and chunk[:len(XZ_MAGIC)] != XZ_MAGIC[:len(chunk)]:
                raise FetchError(f"{url} is not an xz archive (Content-Type "
                                 f"{resp.headers.get('Content-Type') or 'none'}, it begins {chunk[:16]!r})")
            transfer.write(chunk)
            fresh += len(chunk)
            if fresh >= CHUNK:
                deadline.renew()
                fresh = 0
            if on_progress:
                on_progress(transfer.done, transfer.total)


class _Transfer:
    """The `.part` file being written and the hash of what it holds; locked,
    so two runs never write the same file."""

    def __init__(self, part: Path, algorithm: str):
        self.part = part
        self.algorithm = algorithm
        self.total: int | None = None

    def __enter__(self) -> _Transfer:
        self.file = open(self.part, "ab")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.close()
            raise FetchError(f"{self.part} is being downloaded by another mbindex; wait for it") from None
        self.hasher = _digest(self.part, self.algorithm, limit=self.part.stat().st_size)
        self.done = self.file.tell()
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()

    def restart(self) -> None:
        self.file.seek(0)
        self.file.truncate()
        self.hasher = hashlib.new(self.algorithm)
        self.done = 0

    def write(self, chunk: bytes) -> None:
        try:
            self.file.write(chunk)
        except OSError as exc:  # not a network error: no retry mends a full disk
            raise FetchError(_cannot_write(self.part, exc)) from None
        self.hasher.update(chunk)
        self.done += len(chunk)


@contextlib.contextmanager
def _answer(url: str, timeout: float, deadline, missing: bool = False) -> Iterator[None]:
    """Maps what can go wrong in one request to the typed errors: a 404 is
    swallowed (the caller then returns None) unless `missing` makes it an
    error, 429/5xx and network trouble are transient (retried), any other
    status is a FetchError."""
    try:
        yield
    except (FetchError, TransientError, BadDocument):
        raise
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and not missing:
            return
        if exc.code in (429, 500, 502, 503, 504):
            raise TransientError(f"HTTP {exc.code} from {url}") from None
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (ConnectionError, HTTPException, OSError) as exc:  # URLError is an OSError
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if deadline.expired or isinstance(reason, (socket.timeout, TimeoutError)):
            raise TransientError(f"no data from {url} for {timeout:g}s") from None
        raise TransientError(f"{url}: {type(reason).__name__}: {reason}") from None


def _refuse_html(resp, url: str) -> None:
    content_type = resp.headers.get("Content-Type") or ""
    if content_type.split(";")[0].strip().lower() in _HTML_TYPES:
        raise FetchError(f"{url} answered a web page (Content-Type {content_type}), not a dump file: "
                         "check dump_url")


def _continue(resp, url: str, transfer: _Transfer) -> None:
    """Where this answer's bytes go: after what `transfer` holds when it
    answers the Range asked for, from the start when it answers 200 (the
    Range ignored); the whole size from Content-Length."""
    if transfer.done and resp.status != 206:
        transfer.restart()
    elif transfer.done:
        match = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range") or "")
        if not match or int(match.group(1)) != transfer.done:
            transfer.restart()  # another range than asked: ask for all of it
            raise TransientError(f"{url} answered another range ({resp.headers.get('Content-Range')!r}) "
                                 f"than bytes={transfer.done}-")
    length = resp.headers.get("Content-Length")
    transfer.total = transfer.done + int(length) if length and length.strip().isdigit() else None


def _cannot_write(path, exc: OSError) -> str:
    return (f"cannot write {path}: {exc.strerror or exc}; nothing imported (free some space, or use --keep DIR "
            "on a bigger disk, and run again)")


def _parse_sums(body: bytes, algorithm: str) -> dict[str, str]:
    """{name: hex} of a checksum file ("<hex>  <name>", "<hex> *<name>");
    lines that are not of that form are passed over."""
    out = {}
    for line in body.decode("utf-8", "replace").splitlines():
        digest, _, name = line.strip().partition(" ")
        name = name.strip().lstrip("*").removeprefix("./")
        if len(digest) == _DIGEST_LENGTH[algorithm] and all(c in "0123456789abcdefABCDEF" for c in digest) and name:
            out[name] = digest.lower()
    return out


def _listed(sums: tuple[str, str, dict[str, str]], name: str) -> Checksum:
    algorithm, url, names = sums
    if name not in names:
        listed = ", ".join(sorted(names)[:6]) or "nothing usable"
        raise FetchError(f"{url} lists no {name} (it lists {listed}): refusing an archive that cannot be verified")
    return Checksum(algorithm, names[name], url)


def _digest(path: Path, algorithm: str, limit: int | None = None):
    """The hash object of the first `limit` bytes of `path` (all of it by default)."""
    h = hashlib.new(algorithm)
    left = path.stat().st_size if limit is None else limit
    with open(path, "rb") as f:
        while left > 0 and (chunk := f.read(min(left, 1 << 20))):
            h.update(chunk)
            left -= len(chunk)
    return h
