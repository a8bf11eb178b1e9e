"""The mirror's summary: SQL aggregation (`collect`, which takes a `Database`
and reads in one transaction of its own) and pure rendering to text, inline
SVG charts and one self-contained HTML page (no scripts, no network)."""

from __future__ import annotations

import datetime as dt
import html

from sqlalchemy import text

from ..db import Database
from .risk import DEFAULT_BANDS

#: live releases by a key (decade, format): how many have no known listens,
#: some, or were never looked up on ListenBrainz (`enrich`)
LISTENING_SQL = """
    SELECT {key} AS k, count(*) AS releases,
           count(*) FILTER (WHERE f.subject_mbid IS NOT NULL AND coalesce(f.value, 0) = 0) AS no_listens,
           count(*) FILTER (WHERE f.value > 0) AS listened,
           count(*) FILTER (WHERE f.subject_mbid IS NULL) AS not_fetched
    FROM {source}
    LEFT JOIN upstream_fact f ON f.subject_type = 'release-group' AND f.subject_mbid = r.release_group_mbid
         AND f.fact = 'listens'
    WHERE r.deleted_at IS NULL AND {where}
    GROUP BY 1 ORDER BY 2 DESC, 1"""


def _rows(session, sql: str, **params) -> list[tuple]:
    return [tuple(r) for r in session.execute(text(sql), params)]


def collect(db: Database, top: int = 10, at_risk: int = DEFAULT_BANDS["at_risk"]) -> dict:
    """Every figure of the report, as plain data, read in one transaction;
    the "top at-risk" tables count releases scoring `at_risk` or more (the
    policy's band: `policy.bands["at_risk"]`)."""
    with db.session() as s:
        return collect_in(s, top, at_risk)


def collect_in(session, top: int = 10, at_risk: int = DEFAULT_BANDS["at_risk"]) -> dict:
    """`collect` inside the caller's transaction.  Units: `formats` counts
    media, `release_formats` live releases (once per format they hold),
    `track_lengths` tracks, everything else releases."""
    one = lambda sql: session.execute(text(sql)).scalar_one()  # noqa: E731
    total = one("SELECT count(*) FROM release")
    scored = one("SELECT count(*) FROM risk_score")
    coverage = session.execute(text("""
        SELECT count(*) FILTER (WHERE coalesce(barcode, '') <> '') AS barcode,
               count(*) FILTER (WHERE cover_art_front) AS cover_art,
               count(*) FILTER (WHERE cover_art_front IS NOT NULL) AS cover_art_known,
               count(*) FILTER (WHERE EXISTS (SELECT 1 FROM url_relation u
                                              WHERE u.entity_type = 'release' AND u.entity_mbid = r.mbid)) AS links,
               count(*) FILTER (WHERE 'url-rels' = ANY(includes)) AS links_known,
               count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted
        FROM release r""")).one()._asdict()
    return {
        "generated_at": dt.datetime.now(dt.timezone.utc),
        "releases": total,
        "scored": scored,
        "at_risk": at_risk,
        "coverage": coverage,
        "per_year": _rows(session, "SELECT year, count(*) FROM release WHERE year IS NOT NULL GROUP BY 1 ORDER BY 1"),
        "formats": _rows(session, """
            SELECT coalesce(format, '(unknown)'), count(*) FROM medium GROUP BY 1 ORDER BY 2 DESC, 1"""),
        "release_formats": _rows(session, """
            SELECT fmt, count(*) FROM release r
            CROSS JOIN LATERAL unnest(CASE WHEN cardinality(r.formats) = 0 THEN ARRAY['(unknown)']
                                      ELSE r.formats END) AS fmt
            WHERE r.deleted_at IS NULL GROUP BY 1 ORDER BY 2 DESC, 1"""),
        "score_hist": _rows(session, """
            SELECT least(score / 10, 9) * 10 AS bucket, count(*) FROM risk_score GROUP BY 1 ORDER BY 1"""),
        "signal_share": _rows(session, """
            SELECT sig, count(*) FROM risk_score, unnest(signals) AS sig GROUP BY 1 ORDER BY 2 DESC, 1"""),
        # signals the score could not assess (an input not fetched, a field the document lacks)
        "not_assessed": dict(_rows(session, """
            SELECT sig, count(*) FROM risk_score, unnest(not_assessed) AS sig GROUP BY 1 ORDER BY 2 DESC, 1""")),
        # the policy of each score: its text is kept in risk_policy (stored) by `score`
        "policies": _rows(session, """
            SELECT s.policy_version, count(*), EXISTS (SELECT 1 FROM risk_policy p WHERE p.version = s.policy_version)
            FROM risk_score s GROUP BY 1 ORDER BY 2 DESC, 1"""),
        "track_lengths": _rows(session, """
            SELECT least(length_ms / 30000, 24) AS half_minutes, count(*) FROM track
            WHERE length_ms > 0 GROUP BY 1 ORDER BY 1"""),
        "listening_decade": _rows(session, LISTENING_SQL.format(key="(r.year / 10) * 10", source="release r",
                                                                where="r.year IS NOT NULL")),
        "listening_format": _rows(session, LISTENING_SQL.format(
            key="fmt", where="TRUE",
            source="release r CROSS JOIN LATERAL unnest(CASE WHEN cardinality(r.formats) = 0 THEN ARRAY['(unknown)'] "
                   "ELSE r.formats END) AS fmt")),
        "top_labels": _rows(session, """
            SELECT coalesce(rl.label_name, rl.label_mbid::text), count(DISTINCT s.release_mbid), round(avg(s.score))
            FROM risk_score s JOIN release_label rl ON rl.release_mbid = s.release_mbid
            WHERE s.score >= :at_risk AND rl.label_mbid IS NOT NULL
              AND rl.label_mbid <> '157afde4-4bf5-4039-8ad2-5a15acc85176'
            GROUP BY rl.label_mbid, 1 ORDER BY 2 DESC, 3 DESC, 1 LIMIT :top""", top=top, at_risk=at_risk),
        "top_artists": _rows(session, """
            SELECT coalesce(max(ac.name), ac.artist_mbid::text), count(DISTINCT s.release_mbid), round(avg(s.score))
            FROM risk_score s JOIN artist_credit ac ON ac.entity_type = 'release' AND ac.entity_mbid = s.release_mbid
            WHERE s.score >= :at_risk
            GROUP BY ac.artist_mbid ORDER BY 2 DESC, 3 DESC, 1 LIMIT :top""", top=top, at_risk=at_risk),
    }


# --- pure rendering -------------------------------------------------------------------


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def _svg_head(kind: str, width: int, height: int, title: str) -> list[str]:
    """The opening of a chart: its svg element, accessible title and heading."""
    t = html.escape(title)
    return [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {kind}" width="{width}" height="{height}" '
            f'role="img" aria-label="{t}">', f'<title>{t}</title>', f'<text x="0" y="16" font-weight="bold">{t}</text>']


def bar_chart_svg(items: list[tuple[str, int]], title: str, *, width: int = 640, bar_h: int = 18,
                  empty: str = "(no data)") -> str:
    """Horizontal bars, one per (label, value); `empty` is said when there is no item."""
    label_w, pad = 170, 6
    height = 30 + max(1, len(items)) * (bar_h + pad)
    vmax = max((v for _, v in items), default=0) or 1
    out = _svg_head("bar", width, height, title)
    if not items:
        out.append(f'<text x="0" y="40" fill="#777">{html.escape(empty)}</text>')
    for i, (label, value) in enumerate(items):
        y = 28 + i * (bar_h + pad)
        w = round((width - label_w - 70) * value / vmax)
        out.append(f'<text x="{label_w - 6}" y="{y + bar_h - 5}" text-anchor="end" font-size="12">'
                   f'{html.escape(str(label))}</text>')
        out.append(f'<rect class="bar" x="{label_w}" y="{y}" width="{max(w, 1)}" height="{bar_h}" fill="#b5523b">'
                   f'<title>{html.escape(str(label))}: {value}</title></rect>')
        out.append(f'<text x="{label_w + max(w, 1) + 4}" y="{y + bar_h - 5}" font-size="12">{value}</text>')
    out.append("</svg>")
    return "".join(out)


def label_step(col_w: float, min_w: float = 22) -> int:
    """Label every column when they are wide enough, else every 2nd, 5th, 10th... (a round step,
    so a time axis reads 1970, 1980...; never an irregular skip)."""
    return next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10**6) if s * col_w >= min_w)


def column_chart_svg(items: list[tuple[str, int]], title: str, *, width: int = 640, height: int = 220,
                     empty: str = "(no data)") -> str:
    """Vertical columns (a histogram or a time series; the caller passes every
    bin, empty ones included), labels at a round step when they would not fit."""
    top, bottom, left = 26, 30, 40
    plot_h = height - top - bottom
    n = max(1, len(items))
    col_w = (width - left - 10) / n
    vmax = max((v for _, v in items), default=0) or 1
    longest = max((len(str(label)) for label, _ in items), default=1)
    # every label when it fits at 10 px (or at 8 px), else every 2nd, 5th, 10th... at 10 px
    if col_w >= 5 * longest:
        step, font = 1, 10 if col_w >= 6.5 * longest else 8
    else:
        step, font = label_step(col_w, 6.5 * longest), 10
    out = _svg_head("column", width, height, title) + [
           f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#444"/>',
           f'<text x="{left - 4}" y="{top + 10}" text-anchor="end" font-size="11">{vmax}</text>']
    if not items:
        out.append(f'<text x="{left + 10}" y="{top + 40}" fill="#777">{html.escape(empty)}</text>')
    for i, (label, value) in enumerate(items):
        h = round(plot_h * value / vmax)
        x = left + i * col_w
        out.append(f'<rect class="bar" x="{x + 1:.1f}" y="{top + plot_h - h}" width="{max(col_w - 2, 1):.1f}" '
                   f'height="{h}" fill="#3b6fb5"><title>{html.escape(str(label))}: {value}</title></rect>')
        if i % step == 0:
            out.append(f'<text x="{x + col_w / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" '
                       f'font-size="{font}">{html.escape(str(label))}</text>')
    out.append("</svg>")
    return "".join(out)


def _fill_years(rows: list[tuple[int, int]]) -> list[tuple[str, int]]:
    """Years with no release get an empty column, so the time axis is linear."""
    counts = dict(rows)
    if not counts:
        return []
    lo, hi = min(counts), max(counts)
    if hi - lo > 400:  # absurd dates (e.g. year 1): do not draw centuries of empty columns
        return [(str(y), n) for y, n in rows]
    return [(str(y), counts.get(y, 0)) for y in range(lo, hi + 1)]


def _fill_bins(rows: list[tuple[int, int]], last: int | None = None) -> list[tuple[int, int]]:
    """Every bin from 0 to the largest (or `last`), empty ones as 0, so no gap hides."""
    counts = dict(rows)
    top = max(counts, default=-1) if last is None else last
    return [(b, counts.get(b, 0)) for b in range(0, top + 1)]


def listening_fetched(data: dict) -> bool:
    """Whether any release's ListenBrainz listens were fetched (else the listening charts say "not fetched")."""
    return any(releases > not_fetched for _k, releases, _n, _l, not_fetched in data["listening_decade"])


#: each chart: (series of `chart_items`, kind, title naming its unit)
CHARTS = {
    "per_year": ("column", "Releases per year"),
    "formats": ("bar", "Releases per format (live releases; one of two formats counts in both)"),
    "score_hist": ("column", "Risk score histogram: releases per 10-point bin"),
    "no_listens_decade": ("column", "Releases with no known listens (ListenBrainz), by decade"),
    "no_listens_format": ("bar", "Releases with no known listens (ListenBrainz), by format"),
    "signal_pct": ("bar", "Signals: % of scored releases each fired in"),
    "track_lengths": ("column", "Track lengths: tracks per 30 s bin (minutes)"),
}
#: what a listening chart says instead of bars when no listens were fetched
NOT_FETCHED = "not fetched: no ListenBrainz listens known yet (run mbindex enrich)"


def charts_svg(data: dict, names: list[str], signal_label=None) -> list[str]:
    """The named charts of `CHARTS` as SVG; the listening ones say NOT_FETCHED when nothing was fetched.
    `signal_label` (e.g. `Policy.label`) names the signals of "signal_pct" as curators read them."""
    items = chart_items(data)
    if signal_label:
        items["signal_pct"] = [(signal_label(s), n) for s, n in items["signal_pct"]]
    fetched = listening_fetched(data)
    out = []
    for name in names:
        kind, title = CHARTS[name]
        series, empty = items[name], "(no data)"
        if name.startswith("no_listens") and not fetched:
            series, empty = [], NOT_FETCHED
        draw = column_chart_svg if kind == "column" else bar_chart_svg
        out.append(draw(series, title, empty=empty))
    return out


def chart_items(data: dict) -> dict[str, list[tuple[str, int]]]:
    """The series of each chart, labelled; histograms with every bin from 0 to the largest."""
    scored = data["scored"] or 0
    scores = _fill_bins([(b // 10, n) for b, n in data["score_hist"]])
    return {
        "per_year": _fill_years(data["per_year"]),
        "formats": [(f, n) for f, n in data.get("release_formats", [])][:15],
        "media_formats": [(f, n) for f, n in data["formats"]][:15],
        "score_hist": [(f"{b * 10}-{b * 10 + 9 if b < 9 else 100}", n) for b, n in scores],
        "signal_share": [(s, n) for s, n in data["signal_share"]],
        "signal_pct": [(s, round(100 * n / scored) if scored else 0) for s, n in data["signal_share"]],
        "track_lengths": [(f"{h / 2:g}" + ("+" if h == 24 else ""), n) for h, n in _fill_bins(data["track_lengths"])],
        "no_listens_decade": [(f"{d}s", n) for d, _r, n, _l, _u in sorted(data["listening_decade"])],
        "no_listens_format": [(f, n) for f, _r, n, _l, _u in data["listening_format"]][:15],
    }


def _listening_line(data: dict) -> str:
    if not listening_fetched(data):
        return "No known listens (ListenBrainz) by decade: not fetched (run `mbindex enrich`)"
    return "No known listens (ListenBrainz) by decade: " + (", ".join(
        f"{d}s {n}/{r} ({u} not fetched)" for d, r, n, _l, u in sorted(data["listening_decade"])) or "n/a")


def render_text(data: dict) -> str:
    c, total = data["coverage"], data["releases"]
    items = chart_items(data)
    at_risk = data.get("at_risk", DEFAULT_BANDS["at_risk"])
    lines = [f"Releases: {total} ({data['scored']} scored, {c['deleted']} deleted upstream)",
             f"Coverage: barcode {pct(c['barcode'], total)}, "
             f"cover art {pct(c['cover_art'], c['cover_art_known'])} of {c['cover_art_known']} known, "
             f"links {pct(c['links'], c['links_known'])} of {c['links_known']} known"]
    lines.append("Risk scores (releases): " + ", ".join(f"{b}: {n}" for b, n in items["score_hist"]))
    lines.append("Scores by policy: " + (", ".join(
        f"{v} {n}" + ("" if kept else " (text not stored: rescore to explain)") for v, n, kept in data.get("policies", []))
        or "none"))
    lines.append("Signals (share of scored releases; not assessed: an input was not fetched):")
    unassessed = dict(data.get("not_assessed", {}))
    for (s, n), (_, p) in zip(items["signal_share"], items["signal_pct"]):
        lines.append(f"  {s:22} {n:>8}  {p}%" + (f"  not assessed {unassessed.pop(s)}" if s in unassessed else ""))
    for s, n in unassessed.items():
        lines.append(f"  {s:22} {0:>8}  0%  not assessed {n}")
    lines.append("Formats (live releases): " + ", ".join(f"{f} {n}" for f, n in items["formats"][:8]))
    lines.append("Media by format (media): " + ", ".join(f"{f} {n}" for f, n in items["media_formats"][:8]))
    lines.append(_listening_line(data))
    if data["top_labels"]:
        lines.append(f"Top at-risk labels (score {at_risk}+): "
                     + "; ".join(f"{n} ({k})" for n, k, _ in data["top_labels"]))
    if data["top_artists"]:
        lines.append(f"Top at-risk artists (score {at_risk}+): "
                     + "; ".join(f"{n} ({k})" for n, k, _ in data["top_artists"]))
    return "\n".join(lines)


def _table(headers: list[str], rows: list[tuple]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(data: dict, signal_label=None) -> str:
    """The self-contained page; `signal_label` as in `charts_svg`."""
    c, total = data["coverage"], data["releases"]
    at_risk = data.get("at_risk", DEFAULT_BANDS["at_risk"])
    charts = charts_svg(data, ["per_year", "formats", "score_hist", "no_listens_decade", "no_listens_format",
                               "signal_pct", "track_lengths"], signal_label)
    coverage = _table(["figure", "value"], [
        ("releases", total), ("scored", data["scored"]), ("deleted upstream", c["deleted"]),
        ("with barcode", pct(c["barcode"], total)),
        ("with cover art (of known)", pct(c["cover_art"], c["cover_art_known"])),
        ("with links (of known)", pct(c["links"], c["links_known"])),
    ])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mbindex report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}svg{{display:block;margin:1.5em 0}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}</style>
</head><body>
<h1>mbindex report</h1>
<p>Generated {data['generated_at']:%Y-%m-%d %H:%M} UTC.</p>
<h2>Coverage</h2>{coverage}
<h2>Charts</h2>
{''.join(charts)}
<h2>Known listening (ListenBrainz, via <code>mbindex enrich</code>)</h2>
{_table(["decade", "releases", "no known listens", "with listens", "not fetched"],
        sorted(data["listening_decade"]))}
{_table(["format", "releases", "no known listens", "with listens", "not fetched"], data["listening_format"][:15])}
<h2>Signals not assessed (an input was not fetched)</h2>
{_table(["signal", "releases"], sorted(data.get("not_assessed", {}).items(), key=lambda x: (-x[1], x[0])))}
<h2>Scores by policy</h2>{_table(["policy version", "scores", "text stored"], data.get("policies", []))}
<h2>Top at-risk labels (releases scoring {at_risk} or more: the policy's "at risk" band)</h2>
{_table(["label", "releases", "mean score"], data["top_labels"])}
<h2>Top at-risk artists (releases scoring {at_risk} or more)</h2>
{_table(["artist", "releases", "mean score"], data["top_artists"])}
</body></html>
"""
