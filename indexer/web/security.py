"""The token gate (when `serve_token` is set) and CSRF protection of the
forms that write.

Token: a request carries it as `Authorization: Bearer TOKEN`, as the
`mbindex_token` cookie, or once as `?token=TOKEN` (which sets the cookie and
redirects to the same page without it, so it does not stay in the address
bar or in bookmarks).

CSRF: each browser gets a random `mbindex_csrf` cookie (HttpOnly,
SameSite=Strict); every writing form carries HMAC(server secret, cookie).
Another site can make a browser post a form but can read neither the
cookie nor our pages, so it cannot forge the field.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse

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
    """ASGI middleware: every request needs the token; without it, 401."""

    def __init__(self, app, token: str):
        self.app = app
        self.token = token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        auth = request.headers.get("authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") else None
        if _same(request.query_params.get("token"), self.token):
            qs = query_string(request.query_params, token=None)
            response = RedirectResponse(local_path(scope) + ("?" + qs if qs else ""), status_code=303)
            response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict")
        elif _same(bearer, self.token) or _same(request.cookies.get(TOKEN_COOKIE), self.token):
            return await self.app(scope, receive, send)
        else:
            response = PlainTextResponse(
                "401: this mbindex server needs its token: open the address once with ?token=TOKEN "
                "(the serve_token setting)", status_code=401)
        await response(scope, receive, send)


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
