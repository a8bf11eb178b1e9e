"""Rendering: the Jinja2 environment (autoescaping on for every template:
titles and notes are user-contributed text) and `page`, which renders a
template with what every page needs (CSRF field, flash message)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from ..analysis.risk import BAND_NAMES
from .security import CSP, curator_of, set_csrf_cookie

TEMPLATES = Path(__file__).resolve().parent / "templates"
FLASH_COOKIE = "mbindex_flash"


def when(value) -> str:
    """Dates and times as people read them; anything else as text."""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return "" if value is None else str(value)


def href(url) -> str | None:
    """A URL safe to put in href: only http(s). A stored link is user
    contributed, and escaping does not stop a `javascript:` URL."""
    url = str(url or "")
    return url if urlsplit(url).scheme.lower() in ("http", "https") else None


def duration(ms) -> str:
    """m:ss, or "unknown" for a track without a length."""
    if not ms:
        return "unknown"
    s = round(ms / 1000)
    return f"{s // 60}:{s % 60:02d}"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=when, href=href, duration=duration)
    env.tests["mapping"] = lambda v: isinstance(v, dict)
    env.tests["table"] = lambda v: isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)
    env.tests["listing"] = lambda v: isinstance(v, (list, tuple))
    return env


ENV = _env()


def page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    """A template rendered for this request, with the CSRF field of this
    browser (setting its cookie on first visit), any flash message, who
    marks (the request's curator, else the name last typed), and the policy
    whose signal labels and score bands the pages show."""
    csrf, new_cookie = request.app.state.csrf.token_for(request)
    flash = request.cookies.get(FLASH_COOKIE)
    html = ENV.get_template(name).render(request=request, csrf=csrf, flash=unquote(flash) if flash else None,
                                         marked_by=unquote(request.cookies.get("mbindex_by", "")),
                                         policy=request.app.state.policy, band_names=BAND_NAMES,
                                         curator=curator_of(request), **context)
    response = HTMLResponse(html, status_code=status, headers={"content-security-policy": CSP})
    set_csrf_cookie(response, new_cookie)
    if flash:
        response.delete_cookie(FLASH_COOKIE)
    return response


def set_flash(response, message: str) -> None:
    response.set_cookie(FLASH_COOKIE, quote(message), samesite="strict")
