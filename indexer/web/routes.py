"""The pages: `/` the worklist, `/release/<mbid>` a release (and its
revision diff), `POST /release/<mbid>/mark` and `POST /mark` (several at
once, after `POST /mark/confirm`, the page naming how many and which status
that the worklist's form goes to without JavaScript; with it, a confirm()
says the same), `/export` the current selection as a file, `/overview` the
report's figures, the mirror's freshness (as `mbindex status`) and the last
runs.  A mark is by the curator of the request's token, or (shared token,
open install) by the name typed in the form.

Handlers are plain functions (Starlette runs them in its thread pool), each
reading through one library verb that takes the app's `Database` (one
transaction per page); a mark is its own small transaction and takes no
writer lock, so curators can mark while a sync runs.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import quote

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..analysis.curation import (
    CURATION_STATES,
    EXPORT_COLUMNS,
    FACT_LABELS,
    SORTS,
    export_rows,
    mark,
    release_summaries,
    show,
)
from ..analysis.next_steps import cover_art, group_links, search_links
from ..analysis.report import charts_svg, collect, pct
from ..analysis.revisions import diff_documents, revision_documents, worklist_page
from ..analysis.status import score_counts, score_notice, status
from ..mapping import parse_mbid
from ..output.tables import EXPORT_FORMATS, as_file
from ..runs import recent_runs
from .params import MAX_ID, BadRequest, int_value, parse_filters, query_string, text_value
from .security import curator_of
from .views import page, set_flash

#: keys of `show()` the release page lays out itself; any other key (facts
#: added later, say) is shown generically so nothing `show` knows is hidden
SHOWN_KEYS = {"mbid", "requested", "redirected", "url", "release", "media", "tracks", "labels", "links", "score",
              "signals", "curation", "curation_history", "revisions", "facts", "unknown", "catalogues",
              "not_assessed"}


class NotFound(LookupError):
    """A path naming nothing (a malformed MBID); answered 404."""


def _mbid(request: Request):
    raw = request.path_params["mbid"]
    try:
        return parse_mbid(raw)
    except ValueError as exc:
        raise NotFound(str(exc)) from None


def worklist(request: Request):
    """`flagged` with the filters of the URL, a page of it, and how many match."""
    params = request.query_params
    f = parse_filters(params)
    rows, count, more = worklist_page(request.app.state.db, f)
    notice = score_notice(score_counts(request.app.state.db))  # what the list cannot show, and why
    page_no = f.offset // f.limit + 1
    has_next = len(rows) == f.limit if count is None else f.offset + len(rows) < count or more
    return page(request, "worklist.html", rows=rows, count=count, more=more, filters=f, params=params, notice=notice,
                page_no=page_no, states=CURATION_STATES, sorts=SORTS, formats=EXPORT_FORMATS,
                prev_qs=query_string(params, page=page_no - 1) if page_no > 1 else None,
                next_qs=query_string(params, page=page_no + 1) if has_next else None,
                export_qs={fmt: query_string(params, output=fmt, page=None, limit=None) for fmt in EXPORT_FORMATS},
                here=request.url.path + ("?" + request.url.query if request.url.query else ""))


def export(request: Request):
    """The current selection (every match, no paging) as the same file as `mbindex export`."""
    params = request.query_params
    fmt = params.get("output") or "csv"
    if fmt not in EXPORT_FORMATS:
        raise BadRequest(f"output must be one of {', '.join(EXPORT_FORMATS)}, got {fmt[:40]!r}")
    f = parse_filters(params, paged=False)
    rows = export_rows(request.app.state.db, f)
    media = {"csv": "text/csv; charset=utf-8", "json": "application/json"}.get(fmt, "text/plain; charset=utf-8")
    body = as_file(rows, fmt, EXPORT_COLUMNS)  # the same file as `export`
    return Response(body, media_type=media,
                    headers={"content-disposition": f'attachment; filename="mbindex-worklist.{fmt}"'})


def _media(info: dict) -> list[dict]:
    """Each medium with its tracks."""
    by_medium: dict = {}
    for t in info["tracks"]:
        by_medium.setdefault(t["medium"], []).append(t)
    return [dict(md, tracks=by_medium.get(md["position"], [])) for md in info["media"]]


def release(request: Request):
    """Everything `show` knows about one release, and the next step: its
    cover, searches elsewhere, its links by kind; keys `show` adds later appear generically."""
    mbid = _mbid(request)
    info = show(request.app.state.db, mbid, request.app.state.policy)
    r = info["release"]
    revisions = info["revisions"]
    latest = (revisions[-2]["id"], revisions[-1]["id"]) if len(revisions) > 1 else None
    extra = {k: v for k, v in info.items() if k not in SHOWN_KEYS}
    return page(request, "release.html", info=info, r=r, media=_media(info), extra=extra,
                states=CURATION_STATES, latest=latest, fact_labels=FACT_LABELS,
                cover=cover_art(info["mbid"], r["cover_art_front"]), searches=search_links(r, info["labels"]),
                link_groups=group_links(info["links"]))


def revision_diff(request: Request):
    """What changed between two stored revisions (`a`, `b`) of the raw document."""
    mbid = _mbid(request)
    params = request.query_params
    a = parse_revision(params, "a")
    b = parse_revision(params, "b")
    old, new = revision_documents(request.app.state.db, mbid, a, b)
    return page(request, "diff.html", mbid=mbid, old=old, new=new, lines=diff_documents(old["doc"], new["doc"]))


def parse_revision(params, name: str) -> int:
    raw = params.get(name, "")
    if not raw.isdigit():
        raise BadRequest(f"{name} must be a revision number, got {raw[:40]!r}")
    return int_value(name, raw, 0, MAX_ID)


class MarkForm(NamedTuple):
    """A checked mark form: what to mark, how, by whom, and where to go after."""

    mbids: list
    status: str
    note: str | None
    by: str | None
    next: str


async def _read_mark_form(request: Request, mbids: list) -> MarkForm:
    """Check the form (CSRF, status, releases, note) and say who marks: the
    curator of the token, else the name typed (a shared token, an open install)."""
    form = await request.form()
    request.app.state.csrf.check(request, form)
    status = form.get("status", "")
    if status not in CURATION_STATES:
        raise BadRequest(f"choose a status: one of {', '.join(CURATION_STATES)}, got {str(status)[:40]!r}")
    if not mbids:
        mbids = [_parse_form_mbid(v) for v in form.getlist("mbid")]
    if not mbids:
        raise BadRequest("select at least one release to mark")
    note = text_value("note", str(form.get("note", ""))) or None
    by = curator_of(request) or text_value("by", str(form.get("by", ""))) or None
    return MarkForm(mbids, str(status), note, by, _local(str(form.get("next", ""))))


async def _mark_form(request: Request, mbids: list) -> Response:
    """Record the marks of a checked form in their own transaction, and go
    back where the form came from."""
    f = await _read_mark_form(request, mbids)
    done = await run_in_threadpool(mark, request.app.state.db, f.mbids, f.status, f.note, f.by)
    response = RedirectResponse(f.next, status_code=303)
    set_flash(response, f"marked {len(done)} release(s) {f.status}")
    if f.by and not curator_of(request):
        response.set_cookie("mbindex_by", quote(f.by), samesite="strict", max_age=365 * 86400)
    return response


def _parse_form_mbid(value):
    try:
        return parse_mbid(str(value))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def _local(url: str) -> str:
    """Where to go after a form: a path on this server, never another site."""
    # browsers drop tabs and newlines from a URL ("/\t/evil" becomes "//evil") and read "\" as "/"
    if url.startswith("/") and not url.startswith("//") and not any(ch in url for ch in "\\\t\r\n"):
        return url
    return "/"


async def mark_release(request: Request):
    return await _mark_form(request, [_mbid(request)])


async def mark_many(request: Request):
    return await _mark_form(request, [])


async def confirm_marks(request: Request):
    """The confirmation of a bulk mark (the worklist form without JavaScript):
    how many releases, which status, and which ones; its button posts the same
    form to `/mark`."""
    f = await _read_mark_form(request, [])
    releases = await run_in_threadpool(release_summaries, request.app.state.db, f.mbids)
    return page(request, "confirm.html", form=f, releases=releases)


def overview(request: Request):
    db = request.app.state.db
    data = collect(db, top=10, at_risk=request.app.state.policy.bands["at_risk"])
    # SVG built by the report, which escapes every label itself
    charts = charts_svg(data, ["score_hist", "signal_pct", "formats", "per_year", "track_lengths"],
                        request.app.state.policy.label)
    c, total = data["coverage"], data["releases"]
    figures = [("releases", total), ("scored", data["scored"]), ("deleted upstream", c["deleted"]),
               ("with barcode", pct(c["barcode"], total)),
               ("with cover art (of known)", pct(c["cover_art"], c["cover_art_known"])),
               ("with links (of known)", pct(c["links"], c["links_known"]))]
    fresh = status(db, policy_version=request.app.state.policy.version,
                   facts_max_age=request.app.state.facts_max_age)
    return page(request, "overview.html", data=data, figures=figures, charts=[Markup(c) for c in charts],
                runs=recent_runs(db, 20), fresh=fresh, notice=score_notice(fresh["releases"]))


ROUTES = [
    Route("/", worklist, name="worklist"),
    Route("/export", export, name="export"),
    Route("/mark", mark_many, methods=["POST"], name="mark_many"),
    Route("/mark/confirm", confirm_marks, methods=["POST"], name="confirm_marks"),
    Route("/release/{mbid}", release, name="release"),
    Route("/release/{mbid}/diff", revision_diff, name="diff"),
    Route("/release/{mbid}/mark", mark_release, methods=["POST"], name="mark"),
    Route("/overview", overview, name="overview"),
]
