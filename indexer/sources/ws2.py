"""A polite ws/2 client around musicbrainzngs.

musicbrainzngs 0.7.1 is unmaintained: its rate limiter is unreliable and its
own retry loop sleeps up to a minute per request with no socket timeout.  We
keep musicbrainzngs for building requests (paths, includes, JSON format) but
replace its transport step (`musicbrainz._safe_read`, a module-level function
in the pinned version) with a single attempt that has a timeout.  Pacing,
retries with exponential backoff + jitter and `Retry-After` live here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import math
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import warnings
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Callable, Iterator, TypeVar

import musicbrainzngs
from musicbrainzngs import musicbrainz as _ngs

from .. import __version__
from ..clock import now
from ..config import Settings

T = TypeVar("T")

# no `artists`: it makes ws/2 add the credited artists' gender, areas, life span
# and IPIs, which a browse cannot carry and nothing reads (see sync/scope.py)
RELEASE_INCLUDES = [
    "labels",
    "recordings",
    "release-groups",
    "media",
    "artist-credits",
    "url-rels",
    # the release group's own links (Discogs, Wikidata, streaming...) with the
    # release, at no extra request: which other catalogues know the group
    "release-group-level-rels",
    "tags",
    "annotation",
    "isrcs",
]
#: release groups asked for in one search (the ws/2 search page limit)
SEARCH_GROUPS = 100
#: includes only a release lookup takes (ws/2 refuses them on a browse)
LOOKUP_ONLY_INCLUDES = frozenset({"artists", "collections"})
#: a release browse asks for what a lookup gets: musicbrainz-server builds each
#: browse item with the lookup's `release_toplevel`, relationships and annotation
#: included; only musicbrainzngs 0.7.1's whitelist lacks some (`_release_browse`)
BROWSE_INCLUDES = [inc for inc in RELEASE_INCLUDES if inc not in LOOKUP_ONLY_INCLUDES]
#: the scopes a release browse takes (`/ws/2/release?<scope>=MBID`)
BROWSE_SCOPES = ("artist", "label", "release-group", "collection")


class WSError(Exception):
    """Base of everything that can go wrong talking to ws/2."""


class ClientSetupError(WSError):
    """The client cannot be used as configured (e.g. no contact for musicbrainz.org)."""


class NotFound(WSError):
    """404: the entity does not exist (deleted upstream, or never existed)."""


class BadRequest(WSError):
    """400: e.g. a malformed MBID."""


class TransientError(WSError):
    """503/502/500, resets, timeouts, truncated or unparsable bodies: worth retrying."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class BadDocument(WSError):
    """ws/2 answered with a body no retry will mend (JSON nested too deep, a
    number beyond float range, a body over `max_body_mb`).  Never retried:
    a sync keeps `raw` in quarantine and goes on."""

    def __init__(self, message: str, raw: bytes = b"", url: str = "", length: int | None = None):
        super().__init__(message)
        self.raw = raw
        self.url = url
        self.length = length  # set when `raw` is only the head of a body too big to keep


class GiveUp(WSError):
    """Retries are exhausted; the server is down or refusing us."""


class UnexpectedAnswer(WSError):
    """A well-formed answer without the figure asked for (e.g. no `release-count`)."""


class RequestBudgetExhausted(WSError):
    """The run's --max-requests / --time-budget is used up."""


@dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    waited: float = 0.0  # seconds spent pacing and backing off


@dataclass
class Response:
    data: dict
    final_url: str  # differs from the request URL after a 301 (merged MBID)
    raw: bytes = b""  # the body exactly as received, for quarantine


class RateLimiter:
    """Spaces request *starts* at least 1/rate seconds apart (thread-safe)."""

    def __init__(self, rate: float, clock=time.monotonic, sleep=time.sleep):
        self.interval = 1.0 / rate if rate and rate > 0 else 0.0
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> float:
        if not self.interval:
            return 0.0
        with self._lock:
            now = self.clock()
            delay = max(0.0, self._next - now)
            if delay:
                self.sleep(delay)
            self._next = max(now, self._next) + self.interval
            return delay


# --- transport: one attempt bounded by wall clock ---------------------------
#
# A socket timeout bounds each read, so a server sending a byte every 0.5 s
# never times out.  Each attempt therefore has a deadline: a timer shuts the
# attempt's sockets down when it passes (connect, headers and body alike), and
# the body is read in chunks up to `max_body_mb`.

_local = threading.local()
_CHUNK = 1 << 16


class _Deadline:
    """Shuts the sockets of one attempt down when its time is up.

    `renew()` moves the time up to `seconds` from now: a long download that
    keeps making progress renews it after each chunk, so the wall clock then
    bounds each stretch without progress (a stall, or a trickle slower than a
    chunk per `seconds`) instead of the whole transfer.  The timer is re-armed
    only when it fires early, not on every renewal."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._due: float | None = None  # set by renew(); None: `seconds` after the start
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = self._arm(seconds)

    def _arm(self, seconds: float) -> threading.Timer:
        timer = threading.Timer(seconds, self._expire)
        timer.daemon = True
        timer.start()
        return timer

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            if self.expired:
                _shut(sock)
            self._socks.append(sock)

    def renew(self) -> None:
        self._due = time.monotonic() + self.seconds

    def _expire(self) -> None:
        with self._lock:
            left = self._due - time.monotonic() if self._due is not None else 0.0
            if left > 0:
                self._timer = self._arm(left)
                return
            self.expired = True
            for sock in self._socks:
                _shut(sock)

    def cancel(self) -> None:
        with self._lock:
            self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _TimedHTTPConnection(http.client.HTTPConnection):
    def connect(self):
        super().connect()
        _attach(self.sock)


class _TimedHTTPSConnection(http.client.HTTPSConnection):
    def connect(self):
        super().connect()
        _attach(self.sock)


def _attach(sock) -> None:
    deadline = getattr(_local, "deadline", None)
    if deadline is not None:
        deadline.attach(sock)


class _TimedHandler(urllib.request.HTTPHandler, urllib.request.HTTPSHandler):
    """Opens http and https with connections the attempt's deadline can shut."""

    handler_order = 100  # before musicbrainzngs' own HTTPHandler

    def http_open(self, req):
        return self.do_open(_TimedHTTPConnection, req)

    def https_open(self, req):
        return self.do_open(_TimedHTTPSConnection, req, context=self._context)


#: an opener whose connections `wall_clock` can shut (for services musicbrainzngs does not reach)
TIMED_OPENER = urllib.request.build_opener(_TimedHandler())


@contextlib.contextmanager
def wall_clock(seconds: float) -> Iterator[_Deadline]:
    """Bound one attempt, connect and headers and body, by `seconds` of wall
    clock: connections opened through `_TimedHandler` (musicbrainzngs' opener
    here, `TIMED_OPENER` for other services) are shut down when it passes;
    check `expired` after reading.  A long download calls `renew()` after
    each chunk, making it a bound on each stretch without progress."""
    deadline = _local.deadline = _Deadline(seconds)
    try:
        yield deadline
    finally:
        deadline.cancel()
        _local.deadline = None


#: of a body over max_body_mb, quarantine keeps this much
HEAD = 1024
#: a BadDocument keeps its URL whole up to this length (for the quarantine row)
MAX_URL = 2000


def read_body(f, limit: int, url: str) -> bytes:
    """The whole body; one over `limit` bytes (max_body_mb) is refused
    (BadDocument, keeping its first KB) before it is read whole, whatever
    Content-Length says."""
    declared = f.headers.get("Content-Length")
    if declared and declared.strip().isdigit() and int(declared) > limit:
        raise BadDocument(f"an answer of {int(declared):,} bytes from {_host(url)} is over max_body_mb "
                          f"({limit:,} bytes)",
                          f.read(HEAD), url, int(declared))
    chunks, size = [], 0
    while True:
        chunk = f.read(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            raise BadDocument(f"the answer from {_host(url)} is over max_body_mb ({limit:,} bytes); "
                              f"stopped reading at {size:,}",
                              b"".join(chunks[:1])[:HEAD], url, size)
    if declared and declared.strip().isdigit() and size < int(declared):  # read(n) does not check this
        raise http.client.IncompleteRead(b"", int(declared) - size)
    return b"".join(chunks)


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or "the server"


def _single_attempt(opener, req, body=None, max_retries=None, retry_delay_delta=None):
    timeout = getattr(_local, "timeout", 30.0)
    limit = getattr(_local, "max_body", 64 << 20)
    _local.raw = b""
    opener.add_handler(_TimedHandler())
    with wall_clock(timeout) as deadline:
        try:
            f = opener.open(req, body, timeout=timeout) if body else opener.open(req, timeout=timeout)
            _local.final_url = f.geturl()
            _local.content_type = f.headers.get("Content-Type", "")
            raw = read_body(f, limit, f.geturl()[:MAX_URL])
            if deadline.expired:  # shut down mid-body: what we have is cut short
                raise TransientError(f"no answer within {timeout:g}s")
            _local.raw = raw
            return raw
        except urllib.error.HTTPError as exc:
            _raise_for_status(exc, req)
        except (socket.timeout, TimeoutError):
            raise TransientError(f"no answer within {timeout:g}s") from None
        except (ConnectionError, HTTPException, urllib.error.URLError, OSError) as exc:
            if deadline.expired:
                raise TransientError(f"no answer within {timeout:g}s") from None
            raise _network_error(exc, timeout) from None


def _raise_for_status(exc: urllib.error.HTTPError, req):
    retry_after = None
    raw = exc.headers.get("Retry-After") if exc.headers else None
    if raw:
        try:
            retry_after = float(raw)
        except ValueError:
            retry_after = None
    if exc.code == 404:
        raise NotFound(f"HTTP 404 for {_short(req.full_url)}") from None
    if exc.code == 400:
        raise BadRequest(f"HTTP 400 for {_short(req.full_url)}: {_error_text(exc)}") from None
    if exc.code in (500, 502, 503, 504, 429):
        raise TransientError(f"HTTP {exc.code} from ws/2", retry_after) from None
    raise WSError(f"HTTP {exc.code} for {_short(req.full_url)}: {_error_text(exc)}") from None


def _network_error(exc: OSError | HTTPException, timeout: float) -> TransientError:
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return TransientError(f"no answer within {timeout:g}s")
        return TransientError(f"cannot reach ws/2: {reason}")
    if isinstance(exc, (ConnectionError, HTTPException)):
        return TransientError(f"connection failed: {type(exc).__name__}: {exc}")
    return TransientError(f"network error: {exc}")


def _short(url: str, keep: int = 200) -> str:
    """A URL fit for an error message: a 70,000-character query made the
    server answer 414, and the message repeated all of it."""
    return url if len(url) <= keep else f"{url[:keep]}… ({len(url)} characters)"


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        body = exc.read(4096).decode("utf-8", "replace")  # an error text, not a hostile megabyte
        return json.loads(body).get("error", body)[:200]
    except Exception:
        return exc.reason if isinstance(exc.reason, str) else ""


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _OutOfRange(f"the number {text[:40]} is beyond the range of a float")
    return value


def _no_constant(name: str):
    raise _OutOfRange(f"{name} is not a JSON number")


class _OutOfRange(ValueError):
    pass


def _parse_json(raw: bytes):
    """The JSON body as Python objects.  Syntax errors are transient (a cut
    body mends on retry); valid JSON that cannot be used as parsed (nested
    beyond the recursion limit, 1e400, NaN) is a BadDocument."""
    content_type = getattr(_local, "content_type", "") or ""
    if "json" not in content_type.lower():
        raise TransientError(f"expected JSON from ws/2, got {content_type or 'no content type'}")
    url = (getattr(_local, "final_url", "") or "")[:MAX_URL]
    try:
        return json.loads(raw, parse_float=_finite, parse_constant=_no_constant)
    except RecursionError:
        raise BadDocument("ws/2 sent JSON nested too deep to parse", raw, url) from None
    except json.JSONDecodeError as exc:
        raise TransientError(f"ws/2 sent a body that is not valid JSON: {exc}") from None
    except ValueError as exc:  # 1e400, NaN, 5,000 digits, bytes that are not UTF-8
        raise BadDocument(f"ws/2 sent JSON with a value we cannot use: {exc}", raw, url) from None


_ngs._safe_read = _single_attempt
# musicbrainzngs 0.7.1 predates ws/2's release-group-level-rels: teach its include check
for _entity in ("release",):
    if "release-group-level-rels" not in _ngs.VALID_INCLUDES[_entity]:
        _ngs.VALID_INCLUDES[_entity].append("release-group-level-rels")
with warnings.catch_warnings():  # "the json format is non-official": it is what the dumps use
    warnings.simplefilter("ignore", UserWarning)
    musicbrainzngs.set_format("json")
_ngs.set_parser(_parse_json)
musicbrainzngs.set_rate_limit(False)


# --- the client --------------------------------------------------------------


@dataclass
class Client:
    settings: Settings
    max_requests: int | None = None
    deadline: float | None = None  # time.monotonic() after which no new request starts
    sleep: Callable[[float], None] = time.sleep
    stats: Stats = field(default_factory=Stats)
    on_request: Callable[[], None] | None = None

    def __post_init__(self):
        if self.settings.uses_public_server and not self.settings.contact:
            raise ClientSetupError(
                "set a contact (MBINDEX_CONTACT or --contact, an e-mail or URL) before syncing from "
                "musicbrainz.org: it goes into the User-Agent so MusicBrainz can reach you"
            )
        self.limiter = RateLimiter(self.settings.rate, sleep=self.sleep)
        musicbrainzngs.set_useragent("mbindex", __version__, self.settings.contact or "no contact configured")
        musicbrainzngs.set_hostname(self.settings.ws_hostport, use_https=self.settings.ws_https)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            _ngs.set_format("json")
        _ngs.set_parser(_parse_json)

    @property
    def user_agent(self) -> str:
        return _ngs._useragent

    def _check_budget(self) -> None:
        if self.max_requests is not None and self.stats.requests >= self.max_requests:
            raise RequestBudgetExhausted(f"request budget of {self.max_requests} used up")
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise RequestBudgetExhausted("time budget used up")

    def _paced(self) -> float:
        self._check_budget()
        return self.limiter.wait()

    # one call, paced and retried
    def call(self, fn: Callable, *args, **kwargs) -> Response:
        def once() -> Response:
            if self.on_request:
                self.on_request()
            _local.timeout = self.settings.timeout
            _local.max_body = int(self.settings.max_body_mb * (1 << 20))
            _local.final_url = None
            try:
                data = fn(*args, **kwargs)
            except musicbrainzngs.WebServiceError as exc:  # anything musicbrainzngs wraps itself
                raise TransientError(str(exc)) from None
            return Response(data=data, final_url=_local.final_url or "", raw=_local.raw)

        return with_retries(once, retries=self.settings.retries, stats=self.stats, sleep=self.sleep,
                            before=self._paced, deadline=self.deadline)

    # --- ws/2 calls --------------------------------------------------------

    def get_release(self, mbid: uuid.UUID) -> Response:
        return self.call(musicbrainzngs.get_release_by_id, str(mbid), includes=RELEASE_INCLUDES)

    def browse_releases(self, scope: str, target: uuid.UUID, offset: int, limit: int = 100) -> Response:
        """One page of a scope's releases (one of BROWSE_SCOPES), each item with
        BROWSE_INCLUDES; ws/2 may return fewer than `limit` (500-track cap)."""
        if scope not in BROWSE_SCOPES:
            raise ValueError(f"a release browse takes one of {', '.join(BROWSE_SCOPES)}, not {scope!r}")
        return self.call(_release_browse, {scope: str(target), "limit": limit, "offset": offset})

    def collection_releases(self, target: uuid.UUID, offset: int, limit: int = 100) -> Response:
        return self.browse_releases("collection", target, offset, limit)

    def search_releases(self, query: str, offset: int, limit: int = 100) -> Response:
        return self.call(musicbrainzngs.search_releases, query=query, limit=limit, offset=offset)

    # --- counts (upstream facts for scoring; see sync/enrich.py) -----------

    def release_count(self, release_group: uuid.UUID) -> int:
        """Releases (editions) of a release group: a browse with limit=1 answers `release-count`."""
        resp = self.call(musicbrainzngs.browse_releases, release_group=str(release_group), limit=1)
        return _count(resp.data, "release-count", f"release browse of release group {release_group}")

    def artist_release_group_count(self, artist: uuid.UUID) -> int:
        """Release groups of an artist: `release-group?artist=MBID&limit=1` answers `release-group-count`."""
        resp = self.call(musicbrainzngs.browse_release_groups, artist=str(artist), limit=1)
        return _count(resp.data, "release-group-count", f"release-group browse of artist {artist}")

    def release_group_counts(self, groups: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        """Releases of up to SEARCH_GROUPS release groups in one search (`rgid:(a OR b ...)`),
        from each hit's `count`.  A group the search index does not return is left out."""
        if not 0 < len(groups) <= SEARCH_GROUPS:
            raise ValueError(f"release_group_counts takes 1 to {SEARCH_GROUPS} release groups, got {len(groups)}")
        query = "rgid:(" + " OR ".join(str(g) for g in groups) + ")"
        resp = self.call(musicbrainzngs.search_release_groups, query=query, limit=SEARCH_GROUPS)
        hits = resp.data.get("release-groups") if isinstance(resp.data, dict) else None
        if not isinstance(hits, list):
            raise UnexpectedAnswer("ws/2 answered a release-group search without a release-groups list")
        wanted = set(groups)
        out: dict[uuid.UUID, int] = {}
        for hit in hits:
            try:
                mbid = uuid.UUID(str(hit.get("id")))
            except (ValueError, AttributeError):
                continue
            if mbid in wanted:
                out[mbid] = _count(hit, "count", f"release-group search hit {mbid}")
        return out


def _count(data, key: str, what: str) -> int:
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UnexpectedAnswer(f"ws/2 answered the {what} without a usable {key!r} ({value!r})")
    return value


def _release_browse(params: dict):
    """`/ws/2/release?<scope>=MBID&inc=BROWSE_INCLUDES`, built by musicbrainzngs'
    request step: its browse whitelist lacks includes ws/2 takes on a browse
    (tags, annotation, release-group-level-rels...), and it has no collection
    browse."""
    return _ngs._mb_request("release/", "GET", _ngs.AUTH_NO, args=dict(params, inc=" ".join(BROWSE_INCLUDES)))


#: the longest a run sits in one wait (a backoff, a rate-limit window) while it
#: holds the writer lock; the backoff's own cap
MAX_WAIT = 60.0


def check_wait(seconds: float, deadline: float | None, why: str) -> float:
    """`seconds`, when a run may wait that long: no more than MAX_WAIT and
    not past its `deadline` (--time-budget).  Otherwise RequestBudgetExhausted
    at once (the run ends partial, exit 3), saying when to come back, rather
    than sleeping through the budget with the writer lock held."""
    over_budget = deadline is not None and time.monotonic() + seconds > deadline
    if seconds <= MAX_WAIT and not over_budget:
        return seconds
    back = now() + dt.timedelta(seconds=math.ceil(seconds))
    limit = "the time budget" if over_budget else f"the {MAX_WAIT:g}s a run waits"
    raise RequestBudgetExhausted(f"{why} asks to wait {seconds:g}s, beyond {limit}: "
                                 f"come back after {back:%Y-%m-%d %H:%M:%S} UTC")


def with_retries(once: Callable[[], T], *, retries: int, stats: Stats, sleep: Callable[[float], None],
                 before: Callable[[], float], who: str = "", deadline: float | None = None) -> T:
    """`once()` until it answers: `before()` runs ahead of every attempt (it
    checks the budget and returns the seconds it waited to pace), each attempt
    is counted, and a TransientError is tried again up to `retries` times
    after `backoff_delay` (a Retry-After wins); then GiveUp.  A backoff that
    would end past `deadline`, or a Retry-After beyond MAX_WAIT, ends the run
    at once (`check_wait`).  Shared by the ws/2 and ListenBrainz clients."""
    attempt = 0
    while True:
        stats.waited += before()
        stats.requests += 1
        try:
            return once()
        except TransientError as err:
            attempt += 1
            if attempt > retries:
                raise GiveUp(f"{who}giving up after {attempt} attempts: {err}") from None
            asked = err.retry_after if err.retry_after and err.retry_after > 0 else 0.0  # a wait the cap would hide
            delay = backoff_delay(attempt, err.retry_after)
            check_wait(max(delay, asked), deadline, str(err))  # the error names the service
            stats.retries += 1
            stats.waited += delay
            sleep(delay)


def backoff_delay(attempt: int, retry_after: float | None = None, *, base=1.0, cap=60.0, rng=random.random) -> float:
    """Exponential backoff with full jitter; a positive Retry-After wins."""
    if retry_after is not None and retry_after > 0:
        return min(float(retry_after), cap)
    return min(cap, base * (2 ** (attempt - 1))) * (0.5 + rng() / 2)


def id_from_url(url: str) -> uuid.UUID | None:
    """The MBID in a /ws/2/<entity>/<mbid> URL (after a redirect)."""
    path = url.split("?", 1)[0].rstrip("/")
    try:
        return uuid.UUID(path.rsplit("/", 1)[-1])
    except ValueError:
        return None
