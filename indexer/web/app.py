"""The Starlette application: routes, local static assets, the token gate
and the error pages (400 bad parameter, 403 CSRF, 404 unknown, 500 with
one line, never a traceback)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from ..analysis.curation import NotFoundError
from ..analysis.risk import load_policy
from .params import BadRequest
from .routes import ROUTES, NotFound
from .security import Csrf, CsrfError, TokenGate
from .views import page

STATIC = Path(__file__).resolve().parent / "static"

#: typed errors and the status they answer with; the message is the error's own
ERROR_STATUS: list[tuple[type[BaseException], int, str]] = [
    (BadRequest, 400, "Bad request"),
    (CsrfError, 403, "Forbidden"),
    (NotFoundError, 404, "Not found"),
    (NotFound, 404, "Not found"),
]


def _error_page(status: int, title: str):
    def handler(request: Request, exc: Exception):
        return page(request, "error.html", status=status, title=title, message=str(exc))
    return handler


def _server_error(request: Request, exc: Exception):
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    print(f"mbindex serve: {request.method} {request.url.path}: {type(exc).__name__}: {first}", file=sys.stderr)
    return page(request, "error.html", status=500, title="Server error",
                message=f"the server could not answer this page ({type(exc).__name__}); its log has one line "
                        "about it")


class _Guard:
    """An unexpected error becomes the 500 page and one log line. (Not an
    `Exception` handler: Starlette answers those and then re-raises, and
    uvicorn prints the traceback.)"""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        started = False

        async def sending(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            if started or scope["type"] != "http":
                raise
            await _server_error(Request(scope), exc)(scope, receive, send)


def create_app(db, *, token: str | None = None, policy=None, csrf_secret: bytes | None = None,
               facts_max_age_days: float = 30) -> Starlette:
    """The web application over an open `Database`. With a token, or once
    any curator exists, every request must carry one (see `security`).  `facts_max_age_days` (the
    setting) decides which facts the overview counts as due."""
    handlers = {cls: _error_page(status, title) for cls, status, title in ERROR_STATUS}
    middleware = [Middleware(_Guard), Middleware(TokenGate, db=db, token=token)]
    app = Starlette(
        routes=[*ROUTES, Mount("/static", StaticFiles(directory=STATIC), name="static")],
        exception_handlers=handlers,
        middleware=middleware,
    )
    app.state.db = db
    app.state.policy = policy or load_policy(None)
    app.state.csrf = Csrf(csrf_secret)
    app.state.facts_max_age = dt.timedelta(days=facts_max_age_days)
    return app
