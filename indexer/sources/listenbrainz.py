"""ListenBrainz popularity client: listens and listeners per release group.

`POST {lb_url}/1/popularity/release-group` with `{"release_group_mbids": [...]}`
(at most 1,000 ids) answers a list in the same order of
`{release_group_mbid, total_listen_count, total_user_count}`; `null` counts
mean ListenBrainz has no data for the group.  The API is open (no token).

The discipline is ws/2's (`sources.ws2.Client`): the same User-Agent, one
wall-clock timeout per attempt, retries with exponential backoff and jitter,
the run's request and time budgets.  ListenBrainz's rate limit is honoured
from its headers: a 429 waits `X-RateLimit-Reset-In` seconds, and when
`X-RateLimit-Remaining` reaches 0 the next request waits for the window to
reset.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Callable

from ..config import Settings
from .ws2 import (
    TIMED_OPENER,
    RequestBudgetExhausted,
    Stats,
    TransientError,
    WSError,
    check_wait,
    read_body,
    wall_clock,
    with_retries,
)

#: ids per request (the API's limit)
MAX_IDS = 1000
PATH = "/1/popularity/release-group"
#: a count stored in PostgreSQL's bigint; a larger one is refused, fact by fact
MAX_COUNT = 2**63 - 1


class LBError(WSError):
    """ListenBrainz answered something we cannot use (not retried)."""


@dataclass(frozen=True)
class Popularity:
    release_group: uuid.UUID
    listens: int | None  # None: ListenBrainz has no data (no listens known)
    listeners: int | None
    #: counts refused (beyond MAX_COUNT), each "key = value for release group ...": not stored
    refused: tuple[str, ...] = ()

    def facts(self) -> dict[str, int | None]:
        """The counts to store, by fact name; a refused one is left out (unknown, asked again next run)."""
        out = {"listens": self.listens, "listeners": self.listeners}
        for refused in self.refused:
            out.pop("listens" if refused.startswith("total_listen_count") else "listeners", None)
        return out


@dataclass
class ListenBrainz:
    settings: Settings
    user_agent: str
    max_requests: int | None = None
    deadline: float | None = None  # time.monotonic() after which no new request starts
    sleep: Callable[[float], None] = time.sleep
    stats: Stats = field(default_factory=Stats)
    # requests another client already took from the same budget (the ws/2 client of the run)
    spent_elsewhere: Callable[[], int] = lambda: 0
    _reset_at: float = 0.0  # monotonic time the rate-limit window reopens (Remaining hit 0)

    def popularity(self, groups: list[uuid.UUID]) -> list[Popularity]:
        """Listens and listeners of up to MAX_IDS release groups, in the order asked."""
        if not 0 < len(groups) <= MAX_IDS:
            raise ValueError(f"popularity takes 1 to {MAX_IDS} release groups, got {len(groups)}")
        body = json.dumps({"release_group_mbids": [str(g) for g in groups]}).encode()
        data = self._post(PATH, body)
        return _parse(data, groups)

    def _post(self, path: str, body: bytes):
        return with_retries(lambda: self._attempt(path, body), retries=self.settings.retries, stats=self.stats,
                            sleep=self.sleep, before=self._paced, who="ListenBrainz: ", deadline=self.deadline)

    def _paced(self) -> float:
        """Check the run's budget, then wait for a rate-limit window that is
        shut, unless it opens past the budget or after MAX_WAIT (`check_wait`:
        the run ends partial at once, saying when to come back)."""
        self._check_budget()
        wait = max(0.0, self._reset_at - time.monotonic())
        if wait:
            self.sleep(check_wait(wait, self.deadline, "ListenBrainz's rate limit (X-RateLimit-Reset-In)"))
        return wait

    def _check_budget(self) -> None:
        if self.max_requests is not None and self.stats.requests + self.spent_elsewhere() >= self.max_requests:
            raise RequestBudgetExhausted(f"request budget of {self.max_requests} used up")
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise RequestBudgetExhausted("time budget used up")

    def _attempt(self, path: str, body: bytes):
        url = self.settings.lb_url + path
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "User-Agent": self.user_agent, "Content-Type": "application/json", "Accept": "application/json"})
        timeout = self.settings.timeout
        late = TransientError(f"no answer from ListenBrainz within {timeout:g}s")
        with wall_clock(timeout) as deadline:  # connect, headers and body together
            try:
                with TIMED_OPENER.open(req, timeout=timeout) as resp:
                    self._note_limits(resp.headers)
                    raw = read_body(resp, int(self.settings.max_body_mb * (1 << 20)), url)
                if deadline.expired:  # shut down mid-body: what we have is cut short
                    raise late
            except urllib.error.HTTPError as exc:
                self._note_limits(exc.headers)
                if exc.code in (429, 500, 502, 503, 504):
                    raise TransientError(f"HTTP {exc.code} from ListenBrainz", _reset_in(exc.headers)) from None
                raise LBError(f"ListenBrainz answered HTTP {exc.code} for {path}") from None
            except (socket.timeout, TimeoutError):
                raise late from None
            except urllib.error.URLError as exc:
                if deadline.expired or isinstance(exc.reason, (socket.timeout, TimeoutError)):
                    raise late from None
                raise TransientError(f"cannot reach ListenBrainz at {self.settings.lb_url}: {exc.reason}") from None
            except (ConnectionError, HTTPException, OSError) as exc:
                if deadline.expired:
                    raise late from None
                raise TransientError(f"ListenBrainz connection failed: {type(exc).__name__}: {exc}") from None
        try:
            return json.loads(raw)
        except RecursionError:  # no retry mends it
            raise LBError("ListenBrainz sent JSON nested too deep to parse") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise TransientError(f"ListenBrainz sent a body that is not valid JSON: {exc}") from None

    def _note_limits(self, headers) -> None:
        """X-RateLimit-Remaining 0: the next request waits X-RateLimit-Reset-In seconds."""
        if headers is None or headers.get("X-RateLimit-Remaining") != "0":
            return
        reset = _reset_in(headers)
        if reset:
            self._reset_at = time.monotonic() + reset


def _reset_in(headers) -> float | None:
    raw = headers.get("X-RateLimit-Reset-In") if headers is not None else None
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and 0 <= value <= 86400 else None  # more is not a window: ignored


def _count(item: dict, key: str, refused: list[str]) -> int | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise LBError(f"ListenBrainz sent {key} = {str(value)[:40]} (not a count)")
    if value > MAX_COUNT:  # this fact only: the group's other count may be fine
        refused.append(f"{key} = {str(value)[:30]}{'...' if len(str(value)) > 30 else ''} "
                       f"for release group {item.get('release_group_mbid')}")
        return None
    return value


def _parse(data, groups: list[uuid.UUID]) -> list[Popularity]:
    """The answer, checked against what was asked: a list of the same length and order."""
    if not isinstance(data, list) or len(data) != len(groups):
        raise LBError(f"ListenBrainz answered {type(data).__name__} for {len(groups)} release group(s), "
                      "not a list of the same length")
    out = []
    for asked, item in zip(groups, data):
        if not isinstance(item, dict) or str(item.get("release_group_mbid", "")).lower() != str(asked):
            raise LBError(f"ListenBrainz's answer is not in the order asked (expected {asked})")
        refused: list[str] = []
        listens, listeners = _count(item, "total_listen_count", refused), _count(item, "total_user_count", refused)
        out.append(Popularity(asked, listens, listeners, tuple(refused)))
    return out
