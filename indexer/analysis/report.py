"""The mirror's summary: SQL aggregation (`collect`, which takes a `Database`
and reads in one transaction of its own) and pure rendering to text, inline
SVG charts and one self-contained HTML page (no scripts, no network)."""

from __future__ import annotations

import datetime as dt
import html

from sqlalchemy import text

from ..db import Database

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


def collect(db: Database, top: int = 10) -> dict:
    """Every figure of the report, as plain data, read in one transaction."""
    with db.session() as s:
        return collect_in(s, top)


def collect_in(session, top: int = 10) -> dict:
    """`collect` inside the caller's transaction."""
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
        "coverage": coverage,
        "per_year": _rows(session, "SELECT year, count(*) FROM release WHERE year IS NOT NULL GROUP BY 1 ORDER BY 1"),
        "formats": _rows(session, """
            SELECT coalesce(format, '(unknown)'), count(*) FROM medium GROUP BY 1 ORDER BY 2 DESC, 1"""),
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
            WHERE s.score >= 50 AND rl.label_mbid IS NOT NULL
              AND rl.label_mbid <> '157afde4-4bf5-4039-8ad2-5a15acc85176'
            GROUP BY rl.label_mbid, 1 ORDER BY 2 DESC, 3 DESC, 1 LIMIT :top""", top=top),
        "top_artists": _rows(session, """
            SELECT coalesce(max(ac.name), ac.artist_mbid::text), count(DISTINCT s.release_mbid), round(avg(s.score))
            FROM risk_score s JOIN artist_credit ac ON ac.entity_type = 'release' AND ac.entity_mbid = s.release_mbid
            WHERE s.score >= 50
            GROUP BY ac.artist_mbid ORDER BY 2 DESC, 3 DESC, 1 LIMIT :top""", top=top),
    }


# --- pure rendering -------------------------------------------------------------------


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def bar_chart_svg(items: list[tuple[str, int]], title: str, *, width: int = 640, bar_h: int = 18) -> str:
    """Horizontal bars, one per (label, value)."""
    label_w, pad = 170, 6
    height = 30 + max(1, len(items)) * (bar_h + pad)
    vmax = max((v for _, v in items), default=0) or 1
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart bar" width="{width}" height="{height}" '
           f'role="img" aria-label="{html.escape(title)}">',
           f'<title>{html.escape(title)}</title>',
           f'<text x="0" y="16" font-weight="bold">{html.escape(title)}</text>']
    if not items:
        out.append('<text x="0" y="40" fill="#777">(no data)</text>')
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


def column_chart_svg(items: list[tuple[str, int]], title: str, *, width: int = 640, height: int = 220) -> str:
    """Vertical columns (a histogram or a time series), labels thinned to stay readable."""
    top, bottom, left = 26, 30, 40
    plot_h = height - top - bottom
    n = max(1, len(items))
    col_w = (width - left - 10) / n
    vmax = max((v for _, v in items), default=0) or 1
    step = max(1, round(n / 12))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart column" width="{width}" height="{height}" '
           f'role="img" aria-label="{html.escape(title)}">',
           f'<title>{html.escape(title)}</title>',
           f'<text x="0" y="16" font-weight="bold">{html.escape(title)}</text>',
           f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#444"/>',
           f'<text x="{left - 4}" y="{top + 10}" text-anchor="end" font-size="11">{vmax}</text>']
    if not items:
        out.append(f'<text x="{left + 10}" y="{top + 40}" fill="#777">(no data)</text>')
    for i, (label, value) in enumerate(items):
        h = round(plot_h * value / vmax)
        x = left + i * col_w
        out.append(f'<rect class="bar" x="{x + 1:.1f}" y="{top + plot_h - h}" width="{max(col_w - 2, 1):.1f}" '
                   f'height="{h}" fill="#3b6fb5"><title>{html.escape(str(label))}: {value}</title></rect>')
        if i % step == 0:
            out.append(f'<text x="{x + col_w / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" font-size="10">'
                       f'{html.escape(str(label))}</text>')
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


def chart_items(data: dict) -> dict[str, list[tuple[str, int]]]:
    """The series of each chart, labelled."""
    scored = data["scored"] or 0
    return {
        "per_year": _fill_years(data["per_year"]),
        "formats": [(f, n) for f, n in data["formats"]][:15],
        "score_hist": [(f"{b}-{b + 9 if b < 90 else 100}", n) for b, n in data["score_hist"]],
        "signal_share": [(s, n) for s, n in data["signal_share"]],
        "signal_pct": [(s, round(100 * n / scored) if scored else 0) for s, n in data["signal_share"]],
        "track_lengths": [(f"{h / 2:g}" + ("+" if h == 24 else ""), n) for h, n in data["track_lengths"]],
        "no_listens_decade": [(f"{d}s", n) for d, _r, n, _l, _u in sorted(data["listening_decade"])],
        "no_listens_format": [(f, n) for f, _r, n, _l, _u in data["listening_format"]][:15],
    }


def render_text(data: dict) -> str:
    c, total = data["coverage"], data["releases"]
    items = chart_items(data)
    lines = [f"Releases: {total} ({data['scored']} scored, {c['deleted']} deleted upstream)",
             f"Coverage: barcode {pct(c['barcode'], total)}, "
             f"cover art {pct(c['cover_art'], c['cover_art_known'])} of {c['cover_art_known']} known, "
             f"links {pct(c['links'], c['links_known'])} of {c['links_known']} known"]
    lines.append("Risk scores: " + ", ".join(f"{b}: {n}" for b, n in items["score_hist"]))
    lines.append("Scores by policy: " + (", ".join(
        f"{v} {n}" + ("" if kept else " (text not stored: rescore to explain)") for v, n, kept in data.get("policies", []))
        or "none"))
    lines.append("Signals (share of scored releases; not assessed: an input was not fetched):")
    unassessed = dict(data.get("not_assessed", {}))
    for (s, n), (_, p) in zip(items["signal_share"], items["signal_pct"]):
        lines.append(f"  {s:22} {n:>8}  {p}%" + (f"  not assessed {unassessed.pop(s)}" if s in unassessed else ""))
    for s, n in unassessed.items():
        lines.append(f"  {s:22} {0:>8}  0%  not assessed {n}")
    lines.append("Formats: " + ", ".join(f"{f} {n}" for f, n in items["formats"][:8]))
    lines.append("No known listens (ListenBrainz) by decade: " + (", ".join(
        f"{d}s {n}/{r} ({u} not fetched)" for d, r, n, _l, u in sorted(data["listening_decade"])) or "n/a"))
    if data["top_labels"]:
        lines.append("Top at-risk labels: " + "; ".join(f"{n} ({k})" for n, k, _ in data["top_labels"]))
    if data["top_artists"]:
        lines.append("Top at-risk artists: " + "; ".join(f"{n} ({k})" for n, k, _ in data["top_artists"]))
    return "\n".join(lines)


def _table(headers: list[str], rows: list[tuple]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(data: dict) -> str:
    c, total = data["coverage"], data["releases"]
    items = chart_items(data)
    charts = [
        column_chart_svg(items["per_year"], "Releases per year"),
        bar_chart_svg(items["formats"], "Medium formats"),
        column_chart_svg(items["score_hist"], "Risk score histogram"),
        column_chart_svg(items["no_listens_decade"], "Releases with no known listens (ListenBrainz), by decade"),
        bar_chart_svg(items["no_listens_format"], "Releases with no known listens (ListenBrainz), by format"),
        bar_chart_svg(items["signal_pct"], "Share of scored releases per signal (%)"),
        column_chart_svg(items["track_lengths"], "Track lengths (minutes, 30 s bins)"),
    ]
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
<h2>Top at-risk labels (score ≥ 50)</h2>{_table(["label", "releases", "mean score"], data["top_labels"])}
<h2>Top at-risk artists (score ≥ 50)</h2>{_table(["artist", "releases", "mean score"], data["top_artists"])}
</body></html>
"""
