"""Query parameters → `Filters`, named like the CLI options; a bad value
is a `BadRequest` (answered 400 with its message)."""

from __future__ import annotations

from urllib.parse import urlencode

from ..analysis.curation import CURATION_STATES, SORTS, Filters, name_or_mbid

#: the worklist's query parameters that select releases (paging aside)
FILTER_PARAMS = ("min_score", "format", "country", "year_from", "year_to", "label", "artist", "title", "status",
                 "curation", "sort")
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_PAGE = 100_000
#: the largest id PostgreSQL's bigint holds (a revision number beyond it is a 400, not a 500)
MAX_ID = 2**63 - 1


class BadRequest(ValueError):
    """A query parameter or form field we cannot use; the message says which and why."""


def text_value(name: str, value: str) -> str:
    """Free text bound for the database: PostgreSQL text has no NUL."""
    if "\x00" in value:
        raise BadRequest(f"{name} must not contain NUL characters")
    return value.strip()


def int_value(name: str, value: str, lo: int, hi: int) -> int:
    try:
        n = int(value)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, got {value[:40]!r}") from None
    if not lo <= n <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}, got {n}")
    return n


def _one(params, name: str) -> str | None:
    """The last non-empty value of a parameter (an empty form field means "not set")."""
    values = [v for v in params.getlist(name) if v.strip()]
    return values[-1] if values else None


def _many(params, name: str) -> tuple[str, ...]:
    return tuple(text_value(name, v) for v in params.getlist(name) if v.strip())


def _name_or_mbid(params, name: str):
    """A label or artist: an MBID, or the start of a name."""
    value = _one(params, name)
    return None if value is None else name_or_mbid(text_value(name, value))


def _choices(name: str, values: tuple[str, ...], allowed: tuple[str, ...]) -> tuple[str, ...]:
    for v in values:
        if v not in allowed:
            raise BadRequest(f"{name} must be one of {', '.join(allowed)}, got {v[:40]!r}")
    return values


def _optional_int(params, name: str, lo: int, hi: int) -> int | None:
    raw = _one(params, name)
    return None if raw is None else int_value(name, raw, lo, hi)


def parse_filters(params, *, paged: bool = True) -> Filters:
    """The worklist's filters from query parameters (a Starlette QueryParams
    or any mapping with getlist). `paged`: limit/page apply (the worklist);
    otherwise every match (a download, like `mbindex export`)."""
    sort = _one(params, "sort") or "score"
    country = _one(params, "country")
    title = _one(params, "title")
    f = Filters(
        min_score=_optional_int(params, "min_score", 0, 100),
        formats=_many(params, "format"),
        country=None if country is None else text_value("country", country),
        year_from=_optional_int(params, "year_from", 0, 9999),
        year_to=_optional_int(params, "year_to", 0, 9999),
        label=_name_or_mbid(params, "label"),
        artist=_name_or_mbid(params, "artist"),
        title=None if title is None else text_value("title", title),
        statuses=_many(params, "status"),
        curation=_choices("curation", _many(params, "curation"), CURATION_STATES),
        sort=_choices("sort", (sort,), SORTS)[0],
        limit=None,
    )
    if paged:
        f.limit = _optional_int(params, "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
        f.offset = ((_optional_int(params, "page", 1, MAX_PAGE) or 1) - 1) * f.limit
    return f


def query_string(params, **changes) -> str:
    """The current query with some parameters replaced (None removes one):
    for paging and download links that keep the filters."""
    items = [(k, v) for k, v in params.multi_items() if k not in changes and v != ""]
    for k, v in changes.items():
        if v is not None:
            items.append((k, str(v)))
    return urlencode(items)
