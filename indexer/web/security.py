"""The token gate (when `serve_token` is set or any curator exists) and
CSRF protection of the forms that write.

Token: a request carries it as `Authorization: Bearer TOKEN`, as the
`mbindex_token` cookie, or once as `?token=TOKEN` (which sets the cookie and
redirects to the same page without it, so it does not stay in the address
bar or in bookmarks).  Two kinds open the pages: the shared `serve_token`
(a one-person install: the mark form asks who marks), and a curator's own
token (`mbindex curator add`), whose name then marks (`curator_of`).  Both
are checked on every request, so a removed curator's next request is
refused; a token that opens nothing gets a bare 401, saying nothing about it.

CSRF: each browser gets a random `mbindex_csrf` cookie (HttpOnly,
SameSite=Strict); every writing form carries HMAC(server secret, cookie).
Another site can make a browser post a form but can read neither the
cookie nor our pages, so it cannot forge the field.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse

from ..analysis.curators import curator_for_token, has_curators
from .params import query_string

#: the Content-Security-Policy of every page: our own script and style only,
#: images also from the Cover Art Archive (which redirects to archive.org
#: hosts) for the release page's cover; no plugin, no framing, forms only to us
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; "
       "img-src 'self' https://coverartarchive.org https://archive.org https://*.archive.org; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

TOKEN_COOKIE = "mbindex_token"
CSRF_COOKIE = "mbindex_csrf"
CSRF_FIELD = "csrf"


class CsrfError(PermissionError):
    """A writing form without a valid CSRF token."""


def _same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


def local_path(scope) -> str:
    """The request's path as a redirect target that stays on this server:
    the path as sent (percent-escapes kept, so `/%2F%2Fevil.example/` stays a
    path) with leading slashes and backslashes made one `/`; `//evil.example/`
    would be another site to a browser."""
    raw = scope.get("raw_path") or scope["path"].encode("utf-8")
    path = raw.decode("latin-1")
    return "/" + path.lstrip("/\\")


class TokenGate:
    """ASGI middleware: when the pages are guarded (a `serve_token`, or any
    curator in the database), every request needs a token that opens them;
    without one, 401.  The curator of the token (None for the shared token or
    an open install) is left in the request's state for `curator_of`.

    Once guarded, a running server stays guarded: removing the last curator
    (to shut someone out) does not open the pages to everyone; a restart
    without curators or `serve_token` does (on loopback only)."""

    def __init__(self, app, db, token: str | None = None):
        self.app = app
        self.db = db
        self.token = token
        self._guarded = bool(token)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        auth = request.headers.get("authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") else None
        once = request.query_params.get("token")
        given = next((t for t in (once, bearer, request.cookies.get(TOKEN_COOKIE)) if t), None)
        opens, curator = await self._check(given) if given is not None else (False, None)
        if opens and once is None:
            return await self._open(scope, receive, send, curator)
        if opens:
            qs = query_string(request.query_params, token=None)
            response = RedirectResponse(local_path(scope) + ("?" + qs if qs else ""), status_code=303)
            response.set_cookie(TOKEN_COOKIE, once, httponly=True, samesite="strict")
        elif not await self._is_guarded():
            return await self._open(scope, receive, send, None)  # an open install (loopback only)
        elif given is not None:
            response = PlainTextResponse("401 Unauthorized", status_code=401)
        else:
            response = PlainTextResponse(
                "401: this mbindex server needs a token: open the address once with ?token=TOKEN "
                "(the serve_token setting, or your own from `mbindex curator add`)", status_code=401)
        await response(scope, receive, send)

    async def _is_guarded(self) -> bool:
        """A `serve_token`, or a curator now or at any time since the start
        (asked of the database only until the first one is seen)."""
        if not self._guarded:
            self._guarded = await run_in_threadpool(has_curators, self.db)
        return self._guarded

    async def _check(self, given: str) -> tuple[bool, str | None]:
        """Whether the token opens the pages, and whose it is."""
        if self.token and _same(given, self.token):
            return True, None
        curator = await run_in_threadpool(curator_for_token, self.db, given)
        return curator is not None, curator

    async def _open(self, scope, receive, send, curator: str | None):
        scope.setdefault("state", {})["curator"] = curator
        return await self.app(scope, receive, send)


def curator_of(request: Request) -> str | None:
    """The curator whose token opened this request (None: the shared token, or an open install)."""
    return request.scope.get("state", {}).get("curator")


class Csrf:
    """Issues and checks the CSRF field of the writing forms."""

    def __init__(self, secret: bytes | None = None):
        self.secret = secret or secrets.token_bytes(32)

    def _sign(self, cookie: str) -> str:
        return hmac.new(self.secret, cookie.encode(), hashlib.sha256).hexdigest()

    def token_for(self, request: Request) -> tuple[str, str | None]:
        """The form field for this browser, and a new cookie value to set
        when it has none yet."""
        cookie = request.cookies.get(CSRF_COOKIE)
        new = None
        if not cookie:
            cookie = new = secrets.token_urlsafe(24)
        return self._sign(cookie), new

    def check(self, request: Request, form) -> None:
        cookie = request.cookies.get(CSRF_COOKIE)
        if not cookie or not _same(form.get(CSRF_FIELD), self._sign(cookie)):
            raise CsrfError("the form has no valid CSRF token (it came from another site, or the server "
                            "restarted since the page was loaded): reload the page and try again")


def set_csrf_cookie(response, value: str | None) -> None:
    if value:
        response.set_cookie(CSRF_COOKIE, value, httponly=True, samesite="strict")
