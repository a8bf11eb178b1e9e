"""Options and argument types shared by several commands, declared once.

One meaning per name across commands: `--format` is always a medium format
(a filter), `-o/--output` always the output format, `--to PATH` always a
destination file or directory.
"""

from __future__ import annotations

import functools
import time

import click

from ..analysis.curation import CURATION_STATES, SORTS, Filters, name_or_mbid
from ..mapping import parse_mbid
from ..output.tables import FORMATS
from ..sync.watch import parse_duration
from .app import EXIT_USAGE, App, UserError

#: PostgreSQL's LIMIT is a bigint: a larger --limit would fail in the database
MAX_ROWS = 2**63 - 1


class _Text(click.ParamType):
    """Free text that goes to the database or ws/2: refuse what cannot get there (a
    non-UTF-8 byte in argv arrives as a lone surrogate; PostgreSQL text has no NUL)."""

    name = "text"

    def convert(self, value, param, ctx):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                self.fail(f"{value.encode('utf-8', 'backslashreplace').decode()!r} is not valid UTF-8 text", param, ctx)
            if "\x00" in value:
                self.fail("text must not contain NUL characters", param, ctx)
        return value


class _Mbid(click.ParamType):
    """An MBID, parsed once at the edge and carried on as uuid.UUID."""

    name = "mbid"

    def convert(self, value, param, ctx):
        try:
            return parse_mbid(value)
        except ValueError as exc:
            raise UserError(str(exc), EXIT_USAGE) from None


class _NameOrMbid(_Text):
    """A label or artist as typed: an MBID (uuid.UUID) or a name (a prefix, as text)."""

    name = "name|mbid"

    def convert(self, value, param, ctx):
        return name_or_mbid(super().convert(value, param, ctx)) if isinstance(value, str) else value


TEXT = _Text()
MBID = _Mbid()
NAME_OR_MBID = _NameOrMbid()


def output_option(fn):
    """--output/-o and the sqlite-utils style shortcuts --csv/--json/--nl."""

    @click.option("-o", "--output", "output", type=click.Choice(FORMATS), default=None, help="Output format.")
    @click.option("--csv", "fmt_csv", is_flag=True, help="Same as --output csv.")
    @click.option("--json", "fmt_json", is_flag=True, help="Same as --output json.")
    @click.option("--nl", "fmt_nl", is_flag=True, help="Same as --output ndjson (one JSON object per line).")
    @functools.wraps(fn)
    def wrapper(*args, output, fmt_csv, fmt_json, fmt_nl, **kwargs):
        chosen = [f for f, on in (("csv", fmt_csv), ("json", fmt_json), ("ndjson", fmt_nl)) if on]
        if output:
            chosen.append(output)
        if len(set(chosen)) > 1:
            raise UserError("choose one output format", EXIT_USAGE)
        return fn(*args, output=chosen[0] if chosen else "table", **kwargs)

    return wrapper


def ws_options(fn):
    """Options of every command that talks to ws/2."""

    @click.option("--ws-url", help="ws/2 server, e.g. https://musicbrainz.org [env MBINDEX_WS_URL].")
    @click.option("--contact", help="E-mail or URL for the User-Agent [env MBINDEX_CONTACT].")
    @click.option("--rate", type=float, help="Requests per second, 0 = unlimited (own mirror only) [env MBINDEX_RATE].")
    @click.option("--timeout", type=float,
                  help="Seconds a request may take in all, by wall clock: connecting, headers and the whole body "
                       "[env MBINDEX_TIMEOUT].")
    @click.option("--retries", type=int, help="Retries of a failing request before giving up [env MBINDEX_RETRIES].")
    @functools.wraps(fn)
    def wrapper(*args, ws_url, contact, rate, timeout, retries, **kwargs):
        app = click.get_current_context().find_object(App)
        app.settings(ws_url=ws_url, contact=contact, rate=rate, timeout=timeout, retries=retries)
        return fn(*args, **kwargs)

    return wrapper


def budget_options(fn):
    """--max-requests / --time-budget: how much a run may spend; the next run resumes."""

    @click.option("--max-requests", type=click.IntRange(1), help="Stop after N requests; the next run resumes.")
    @click.option("--time-budget", help="Stop after this long, e.g. 30m or 2h; the next run resumes.")
    @functools.wraps(fn)
    def wrapper(*args, max_requests, time_budget, **kwargs):
        budget = {}
        if max_requests:
            budget["max_requests"] = max_requests
        if time_budget is not None:  # "" is no duration: an error, not "no budget"
            budget["deadline"] = time.monotonic() + parse_duration(time_budget)
        return fn(*args, budget=budget, **kwargs)

    return wrapper


def filter_options(default_limit: int | None):
    """The worklist filters, shared by `flagged`, `export` and every command
    that selects releases the same way; they arrive as one `filters` argument."""

    def decorate(fn):
        @click.option("--min-score", type=click.IntRange(0, 100), help="Only releases scoring at least N.")
        @click.option("--format", "formats", type=TEXT, multiple=True,
                      help="Medium format, e.g. Cassette (repeatable).")
        @click.option("--country", type=TEXT, help="Release country code, e.g. GB.")
        @click.option("--year-from", type=int, help="Released in or after this year.")
        @click.option("--year-to", type=int, help="Released in or before this year.")
        @click.option("--label", type=NAME_OR_MBID, metavar="NAME|MBID",
                      help="Label MBID, or the start of its name (case and accents ignored).")
        @click.option("--artist", type=NAME_OR_MBID, metavar="NAME|MBID",
                      help="Artist MBID, or the start of a credited name (case and accents ignored).")
        @click.option("--title", type=TEXT, help="Words of the title, in any order (each may be a word's start).")
        @click.option("--status", "statuses", type=TEXT, multiple=True,
                      help="Release status, e.g. Bootleg (repeatable).")
        @click.option("--curation", multiple=True, type=click.Choice(CURATION_STATES),
                      help="Curation state (repeatable); default: all but ignored and preserved.")
        @click.option("--limit", type=click.IntRange(1, MAX_ROWS), default=default_limit,
                      show_default=default_limit is not None,
                      help="At most N releases." + ("" if default_limit is not None else "  Default: no limit."))
        @click.option("--sort", type=click.Choice(SORTS), default="score", show_default=True,
                      help="Order: score (most at risk first), date or title.")
        @functools.wraps(fn)
        def wrapper(*args, min_score, formats, country, year_from, year_to, label, artist, title, statuses,
                    curation, limit, sort, **kwargs):
            filters = Filters(min_score=min_score, formats=formats, country=country, year_from=year_from,
                              year_to=year_to, label=label, artist=artist, title=title, statuses=statuses,
                              curation=curation, limit=limit, sort=sort)
            return fn(*args, filters=filters, **kwargs)

        return wrapper

    return decorate
