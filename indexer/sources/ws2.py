"""A polite ws/2 client around musicbrainzngs.

musicbrainzngs 0.7.1 is unmaintained: its rate limiter is unreliable and its
own retry loop sleeps up to a minute per request with no socket timeout.  We
keep musicbrainzngs for building requests (paths, includes, JSON format) but
replace its transport step (`musicbrainz._safe_read`, a module-level function
in the pinned version) with a single attempt that has a timeout.  Pacing,
retries with exponential backoff + jitter and `Retry-After` live here.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
import urllib.error
import uuid
import warnings
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Callable

import musicbrainzngs
from musicbrainzngs import musicbrainz as _ngs

from .. import __version__
from ..config import Settings

RELEASE_INCLUDES = [
    "artists",
    "labels",
    "recordings",
    "release-groups",
    "media",
    "artist-credits",
    "url-rels",
    "tags",
    "annotation",
    "isrcs",
]
# what a release *browse* may include (no relationships, no annotation)
BROWSE_INCLUDES = ["artist-credits", "labels", "recordings", "release-groups", "media", "isrcs"]


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


class GiveUp(WSError):
    """Retries are exhausted; the server is down or refusing us."""


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


# --- transport: one attempt with a timeout ---------------------------------

_local = threading.local()


def _single_attempt(opener, req, body=None, max_retries=None, retry_delay_delta=None):
    timeout = getattr(_local, "timeout", 30.0)
    try:
        f = opener.open(req, body, timeout=timeout) if body else opener.open(req, timeout=timeout)
        _local.final_url = f.geturl()
        _local.content_type = f.headers.get("Content-Type", "")
        return f.read()
    except urllib.error.HTTPError as exc:
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
    except (socket.timeout, TimeoutError):
        raise TransientError(f"no answer within {timeout:g}s") from None
    except (ConnectionError, HTTPException) as exc:
        raise TransientError(f"connection failed: {type(exc).__name__}: {exc}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise TransientError(f"no answer within {timeout:g}s") from None
        raise TransientError(f"cannot reach ws/2: {reason}") from None
    except OSError as exc:
        raise TransientError(f"network error: {exc}") from None


def _short(url: str, keep: int = 200) -> str:
    """A URL fit for an error message: a 70,000-character query made the
    server answer 414, and the message repeated all of it."""
    return url if len(url) <= keep else f"{url[:keep]}… ({len(url)} characters)"


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        body = exc.read().decode("utf-8", "replace")
        return json.loads(body).get("error", body)[:200]
    except Exception:
        return exc.reason if isinstance(exc.reason, str) else ""


def _parse_json(raw: bytes):
    content_type = getattr(_local, "content_type", "") or ""
    if "json" not in content_type.lower():
        raise TransientError(f"expected JSON from ws/2, got {content_type or 'no content type'}")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TransientError(f"ws/2 sent a body that is not valid JSON: {exc}") from None


_ngs._safe_read = _single_attempt
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

    # one call, paced and retried
    def call(self, fn: Callable, *args, **kwargs) -> Response:
        attempt = 0
        while True:
            if self.max_requests is not None and self.stats.requests >= self.max_requests:
                raise RequestBudgetExhausted(f"request budget of {self.max_requests} used up")
            if self.deadline is not None and time.monotonic() >= self.deadline:
                raise RequestBudgetExhausted("time budget used up")
            self.stats.waited += self.limiter.wait()
            self.stats.requests += 1
            if self.on_request:
                self.on_request()
            _local.timeout = self.settings.timeout
            _local.final_url = None
            try:
                data = fn(*args, **kwargs)
                return Response(data=data, final_url=_local.final_url or "")
            except musicbrainzngs.WebServiceError as exc:  # anything musicbrainzngs wraps itself
                err: WSError = TransientError(str(exc))
            except TransientError as exc:
                err = exc
            attempt += 1
            if attempt > self.settings.retries:
                raise GiveUp(f"giving up after {attempt} attempts: {err}") from None
            delay = backoff_delay(attempt, getattr(err, "retry_after", None))
            self.stats.retries += 1
            self.stats.waited += delay
            self.sleep(delay)

    # --- ws/2 calls --------------------------------------------------------

    def get_release(self, mbid: uuid.UUID) -> Response:
        return self.call(musicbrainzngs.get_release_by_id, str(mbid), includes=RELEASE_INCLUDES)

    def browse_releases(self, scope: str, target: uuid.UUID, offset: int, limit: int = 100) -> Response:
        key = {"artist": "artist", "label": "label", "release-group": "release_group"}[scope]
        return self.call(
            musicbrainzngs.browse_releases, includes=BROWSE_INCLUDES, limit=limit, offset=offset,
            **{key: str(target)}
        )

    def collection_releases(self, target: uuid.UUID, offset: int, limit: int = 100) -> Response:
        # musicbrainzngs' browse has no collection filter; ws/2 has /release?collection=
        return self.call(
            _ngs._do_mb_query, "release", "", BROWSE_INCLUDES,
            {"collection": str(target), "limit": limit, "offset": offset}
        )

    def search_releases(self, query: str, offset: int, limit: int = 100) -> Response:
        return self.call(musicbrainzngs.search_releases, query=query, limit=limit, offset=offset)


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
