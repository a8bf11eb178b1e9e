"""The archivist's workflow: the flagged worklist, one release in full, curation marks, exports.

The plain verbs (`flagged`, `export_rows`, `show`, `mark`,
`release_summaries`) take a `Database` and read or write in a transaction of
their own: what the front ends call.  The `*_in` functions take a `Session`
and run inside the caller's transaction, never committing, for library code
that composes several reads in one.

All user input reaches SQL as bound parameters only.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from ..db import Database
from ..db import models as m
from ..mapping import parse_mbid
from ..store import resolve_mbid_in
from ..store.facts import facts_by_release_in, release_facts_in
from ..store.revisions import REVISION_LAST_SEEN
from .policies import explaining_in, versions_in
from .risk import SIGNAL_FACTS, Policy

CURATION_STATES = ("open", "in-progress", "preserved", "ignored")
SORTS = ("score", "date", "title")
MB_RELEASE_URL = "https://musicbrainz.org/release/{}"
WORKLIST_COLUMNS = ["mbid", "score", "title", "artist", "date", "country", "formats", "status", "curation", "signals"]
#: the machine-readable worklist also carries the upstream facts behind the score
FACT_COLUMNS = [*WORKLIST_COLUMNS, "facts"]
EXPORT_COLUMNS = ["mbid", "url", *WORKLIST_COLUMNS[1:], "not_assessed", "policy_version", "facts"]


#: each filter of `Filters` as a SQL predicate over release r / score s, its
#: value bound under the same name (a tuple as an array)
_FILTER_SQL = {
    "min_score": "s.score >= :min_score",
    "formats": "r.formats && CAST(:formats AS text[])",
    "country": "r.country = :country",
    "year_from": "r.year >= :year_from",
    "year_to": "r.year <= :year_to",
    "statuses": "r.status = ANY(CAST(:statuses AS text[]))",
}

#: the label and artist filters: by MBID, or by a prefix of the folded name
#: (the generated `*_key` columns, text_pattern_ops indexes; see db/models.py `folded`)
_BY_MBID = {
    "label": "EXISTS (SELECT 1 FROM release_label rl WHERE rl.release_mbid = r.mbid AND rl.label_mbid = :label)",
    "artist": "EXISTS (SELECT 1 FROM artist_credit ac WHERE ac.entity_type = 'release'"
              " AND ac.entity_mbid = r.mbid AND ac.artist_mbid = :artist)",
}
_BY_NAME = {
    "label": "r.mbid IN (SELECT rl.release_mbid FROM release_label rl"
             f" WHERE rl.label_name_key LIKE {m.folded(':label')} || '%')",
    "artist": "r.mbid IN (SELECT ac.entity_mbid FROM artist_credit ac WHERE ac.entity_type = 'release'"
              f" AND ac.name_key LIKE {m.folded(':artist')} || '%')",
}
#: the title search: every word of the query begins a word of the title (a
#: query with no letter or digit: the folded title contains it literally)
_TITLE_WORDS = f"r.title_words @@ to_tsquery('simple'::regconfig, {m.folded(':title')})"
#: the same test as a plain function call, for a title known to match many
#: releases: no estimator is attached to a function, so the planner takes its
#: default third and walks the score index, meeting a page of matches soon (on
#: the operator's guess of 2% it read all 11,111 matches of "release 77" from
#: the GIN index and sorted them: 180 ms at 1M releases)
_TITLE_MANY = f"ts_match_vq(r.title_words, to_tsquery('simple'::regconfig, {m.folded(':title')}))"
_TITLE_TEXT = f"{m.folded('r.title')} LIKE '%' || {m.folded(':title')} || '%'"
_WORD = re.compile(r"[^\W_]+")
#: a title search matching at most this many releases reads the worklist
#: from those (`narrow_title_in`): the planner cannot tell a rare word prefix
#: from a common one (it guesses 2% for both) and walked the whole score index
#: for 11 matches, 400 ms at 100k releases; with more matches than this, the
#: walk of the score index meets a page of them soon
TITLE_FIRST = 1000
#: and listing them may take this long (a rare word takes a few ms)
TITLE_FIRST_BUDGET_MS = 30
QUERY_CANCELED = "57014"  # SQLSTATE of a statement_timeout


def name_or_mbid(value: str) -> uuid.UUID | str | None:
    """A label or artist filter as typed: an MBID as uuid.UUID, anything else
    a name (a prefix), None when blank."""
    value = value.strip()
    if not value:
        return None
    try:
        return parse_mbid(value)
    except ValueError:
        return value


def like_literal(value: str) -> str:
    """`value` with LIKE's metacharacters escaped (backslash is LIKE's escape),
    so `%`, `_` and `\\` match themselves."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _name_sql(name: str, value) -> tuple[str, object]:
    if isinstance(value, uuid.UUID):
        return _BY_MBID[name], value
    return _BY_NAME[name], like_literal(value.strip())


def _title_sql(title: str) -> tuple[str, str]:
    words = _WORD.findall(title)
    if words:
        return _TITLE_WORDS, " & ".join(f"{w}:*" for w in words)
    return _TITLE_TEXT, like_literal(title.strip())


class NotFoundError(LookupError):
    pass


@dataclass
class Filters:
    min_score: int | None = None
    formats: tuple[str, ...] = ()
    country: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    label: uuid.UUID | str | None = None  # an MBID, or a prefix of the name (`name_or_mbid`)
    artist: uuid.UUID | str | None = None  # an MBID, or a prefix of a credited name
    title: str | None = None  # words the title contains (prefixes, any order)
    # set by `narrow_title_in`: the releases the title matches, when at most TITLE_FIRST
    title_mbids: tuple[uuid.UUID, ...] | None = None
    title_narrowed: bool = False
    statuses: tuple[str, ...] = ()
    curation: tuple[str, ...] = ()  # empty: everything except ignored / preserved
    include_deleted: bool = True
    limit: int | None = 50
    sort: str = "score"
    offset: int = 0  # rows to skip (paging in the web front end)


#: the worklist's tables: score s, release r, curation state c
FLAGGED_FROM = """FROM risk_score s
        JOIN release r ON r.mbid = s.release_mbid
        LEFT JOIN curation_state c ON c.release_mbid = s.release_mbid"""


#: the worklist's ORDER BY for each `Filters.sort`
FLAGGED_ORDER = {
    "score": "s.score DESC, r.mbid",
    "date": "r.date NULLS LAST, s.score DESC, r.mbid",
    "title": "r.title, r.mbid",
}


def filter_sql(f: Filters) -> tuple[str, dict]:
    """The WHERE condition of the worklist over `FLAGGED_FROM` and its bound
    parameters: shared by `flagged` and the count of matches.  A name or
    title is folded by the same SQL expression as its generated column, so
    case and accents never matter, and it is bound: LIKE metacharacters in it
    are escaped to match literally."""
    where = ["TRUE"]
    params: dict = {}
    for name, predicate in _FILTER_SQL.items():
        value = getattr(f, name)
        if value is None or (isinstance(value, (str, tuple, list)) and not value):
            continue  # not asked for (an empty text or list filters nothing)
        where.append(predicate)
        params[name] = list(value) if isinstance(value, (tuple, list)) else value
    for name in ("label", "artist"):
        if getattr(f, name):
            predicate, params[name] = _name_sql(name, getattr(f, name))
            where.append(predicate)
    if f.title_mbids is not None:
        where.append("r.mbid = ANY(CAST(:title_mbids AS uuid[]))")
        params["title_mbids"] = list(f.title_mbids)
    elif f.title and f.title.strip():
        predicate, params["title"] = _title_sql(f.title)
        where.append(_TITLE_MANY if f.title_narrowed and predicate == _TITLE_WORDS else predicate)
    if f.curation and "open" not in f.curation:
        # the state must exist: risk_score keeps a copy of it, indexed with the
        # score, so the page of one state is read in score order from the few
        # marked releases (an equality: `= ANY` of one value would not use the
        # index's order, and the planner walked the whole score index instead)
        if len(set(f.curation)) == 1:
            where.append("s.curation = :curation")
            params["curation"] = f.curation[0]
        else:
            where.append("s.curation = ANY(CAST(:curation AS text[]))")
            params["curation"] = list(f.curation)
    elif f.curation:
        where.append("coalesce(s.curation, 'open') = ANY(CAST(:curation AS text[]))")
        params["curation"] = list(f.curation)
    else:  # on the score's own row, so the score index is walked without a join per row
        where.append("(s.curation IS NULL OR s.curation NOT IN ('ignored', 'preserved'))")
    if not f.include_deleted:
        where.append("r.deleted_at IS NULL")
    return " AND ".join(where), params


def flagged(db: Database, f: Filters, *, facts: bool = False) -> list[dict]:
    """The worklist: scored releases matching the filters, most at risk
    first; with `facts`, each row also carries the upstream facts behind its
    score (`with_facts_in`), read in the same transaction."""
    with db.session() as s:
        if f.limit is not None and f.limit <= PAGE_MAX:
            serial_in(s)
        rows = flagged_in(s, f)
        return with_facts_in(s, rows) if facts else rows


#: a read of at most this many rows is a page: no parallel workers for it
PAGE_MAX = 1000


def serial_in(session) -> None:
    """No parallel workers for the rest of this transaction.  A page of the
    worklist reads the top of the score index: starting a worker costs about
    20 ms, and the planner chose one for the default page at 200k releases
    (21 ms, against 1.3 ms serial), since many releases share the top score."""
    session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))


def narrow_title_in(session, f: Filters) -> Filters:
    """`f` with the releases its title words match (`title_mbids`) when they
    are at most TITLE_FIRST, read from the title's GIN index within
    TITLE_FIRST_BUDGET_MS (a sequential scan is ruled out for this one
    statement: the planner would choose it on its 2% guess and read every
    title for a rare word; a word in most titles fills a bitmap of them all
    first, and is cut short as "many").  With more, `f` is marked so
    (`title_narrowed`) for `filter_sql` to tell the planner (`_TITLE_MANY`).
    `f` itself when there is no title, it has no word, or it was narrowed
    already.  The settings change in a savepoint, restored before it ends."""
    if f.title_narrowed or not f.title or not _WORD.search(f.title):
        return f
    predicate, query = _title_sql(f.title)
    settings = "SELECT set_config('enable_seqscan', :seq, true), set_config('statement_timeout', :ms, true)"
    before = session.execute(text("SELECT current_setting('enable_seqscan') AS seq, "
                                  "current_setting('statement_timeout') AS ms")).one()._asdict()
    try:
        with session.begin_nested():
            session.execute(text(settings), {"seq": "off", "ms": str(TITLE_FIRST_BUDGET_MS)})
            mbids = session.execute(text(f"SELECT r.mbid FROM release r WHERE {predicate} LIMIT :cap"),
                                    {"title": query, "cap": TITLE_FIRST + 1}).scalars().all()
            session.execute(text(settings), before)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != QUERY_CANCELED:
            raise
        mbids = None  # too long to list: they are many
    few = tuple(mbids) if mbids is not None and len(mbids) <= TITLE_FIRST else None
    return dataclasses.replace(f, title_mbids=few, title_narrowed=True)


def flagged_in(session, f: Filters) -> list[dict]:
    """`flagged` inside the caller's transaction."""
    where, params = filter_sql(narrow_title_in(session, f))
    order = FLAGGED_ORDER[f.sort]
    limit = ""
    if f.limit is not None:
        limit = "LIMIT :limit"
        params["limit"] = f.limit
    if f.offset:
        limit += " OFFSET :offset"
        params["offset"] = f.offset
    sql = f"""
        SELECT r.mbid, s.score, r.title, r.artist_credit AS artist, r.date, r.country,
               array_to_string(r.formats, ', ') AS formats, r.status,
               coalesce(c.status, 'open') AS curation, s.signals, s.not_assessed,
               (r.deleted_at IS NOT NULL) AS deleted
        {FLAGGED_FROM}
        WHERE {where}
        ORDER BY {order}
        {limit}"""
    return [dict(row._mapping) for row in session.execute(text(sql), params)]


def with_facts_in(session, rows: list[dict]) -> list[dict]:
    """Each worklist row with `facts`: {fact: {value, source, fetched_at}} (only the known ones)."""
    facts = facts_by_release_in(session, [r["mbid"] for r in rows])
    for row in rows:
        row["facts"] = facts.get(row["mbid"], {})
    return rows


def export_rows(db: Database, f: Filters) -> list[dict]:
    """The worklist as `export` writes it: `flagged` with facts, each
    release's MusicBrainz URL, the policy version of its score and the
    signals it could not assess ("signal: why"), read in one transaction."""
    with db.session() as s:
        rows = with_assessment_in(s, with_facts_in(s, flagged_in(s, f)))
    for row in rows:
        row["url"] = MB_RELEASE_URL.format(row["mbid"])
    return rows


def with_assessment_in(session, rows: list[dict]) -> list[dict]:
    """Each worklist row (with `facts`) with `policy_version` and
    `not_assessed`: ["signal: why", ...], the reasons read from the stored
    policy of each score."""
    policies = versions_in(session)
    extra = {r.mbid: r for r in session.execute(text(
        "SELECT r.mbid, r.includes, r.fields, s.policy_version, s.not_assessed FROM release r "
        "JOIN risk_score s ON s.release_mbid = r.mbid WHERE r.mbid = ANY(CAST(:m AS uuid[]))"),
        {"m": [row["mbid"] for row in rows]})}
    for row in rows:
        x = extra[row["mbid"]]
        policy = policies.get(x.policy_version) or Policy(version=x.policy_version, signals={})
        facts = [{"fact": name} for name in row["facts"]]
        row["policy_version"] = x.policy_version
        row["not_assessed"] = [f"{a['signal']}: {a['reason']}"
                               for a in not_assessed(policy, x.not_assessed, x.includes, x.fields, facts)]
    return rows


def mark(db: Database, mbids: list[uuid.UUID], status: str, note: str | None, by: str | None) -> list[dict]:
    """`mark_in` in a transaction of its own, committed on return.  It takes
    no writer lock: a curator may mark while a sync runs."""
    with db.session() as s, s.begin():
        return mark_in(s, mbids, status, note, by)


def mark_in(session, mbids: list[uuid.UUID], status: str, note: str | None, by: str | None) -> list[dict]:
    """Append a curation mark to each release (following merges) and update
    its current state, inside the caller's transaction (all or none of the
    marks are kept).  Raises NotFoundError naming a release not in the mirror."""
    if status not in CURATION_STATES:
        raise ValueError(f"unknown curation status {status!r} (choose from {', '.join(CURATION_STATES)})")
    out = []
    for requested in mbids:
        mbid = resolve_mbid_in(session, "release", requested)
        if session.get(m.Release, mbid) is None:
            raise NotFoundError(f"release {requested} is not in the mirror")
        row = m.CurationMark(release_mbid=mbid, status=status, note=note, marked_by=by)
        session.add(row)
        session.flush()
        session.execute(
            text(
                "INSERT INTO curation_state (release_mbid, status, mark_id) VALUES (:r, :s, :id) "
                "ON CONFLICT (release_mbid) DO UPDATE SET status = excluded.status, mark_id = excluded.mark_id"
            ),
            {"r": mbid, "s": status, "id": row.id},
        )
        # the worklist's copy of the state, beside the score (see RiskScore.curation)
        session.execute(text("UPDATE risk_score SET curation = :s WHERE release_mbid = :r"), {"r": mbid, "s": status})
        out.append({"mbid": mbid, "requested": requested, "status": status, "mark_id": row.id})
    return out


def show(db: Database, requested: uuid.UUID, policy) -> dict:
    """Everything about one release (following merges), read in one
    transaction, its score explained by the policy that produced it (stored
    by `score`; `policy`, the current one, explains a release not scored
    yet). Raises NotFoundError."""
    with db.session() as s:
        return show_in(s, requested, policy)


def show_in(session, requested: uuid.UUID, policy) -> dict:
    """`show` inside the caller's transaction."""
    mbid = resolve_mbid_in(session, "release", requested)
    rel = session.get(m.Release, mbid)
    if rel is None:
        raise NotFoundError(f"release {requested} is not in the mirror")
    q = lambda sql, **p: [dict(r._mapping) for r in session.execute(text(sql), dict(p, m=mbid))]  # noqa: E731
    score = q("SELECT score, signals, not_assessed, policy_version, scored_at FROM risk_score WHERE release_mbid = :m")
    policy = explaining_in(session, score[0]["policy_version"] if score else None, policy)
    state = q("SELECT status FROM curation_state WHERE release_mbid = :m")
    # when it was last seen upstream: its document's (rule 1 moves only that)
    seen = q("SELECT last_seen FROM document WHERE entity_type = 'release' AND mbid = :m")
    last_seen = seen[0]["last_seen"] if seen else rel.last_seen
    facts = release_facts_in(session, mbid)
    links = q("SELECT entity_type, type, url FROM url_relation WHERE (entity_type = 'release' AND entity_mbid = :m) "
              "OR (entity_type = 'release-group' AND entity_mbid = :g) ORDER BY entity_type DESC, position",
              g=rel.release_group_mbid)
    return {
        "mbid": rel.mbid,
        "requested": requested,
        "redirected": requested != mbid,
        "url": MB_RELEASE_URL.format(rel.mbid),
        "release": {
            c: getattr(rel, c)
            for c in ("title", "artist_credit", "status", "quality", "date", "country", "barcode", "packaging",
                      "language", "disambiguation", "cover_art_front", "formats", "includes", "first_seen",
                      "deleted_at", "deleted_reason")
        } | {"last_seen": last_seen},
        "media": q(
            "SELECT id, position, format, title, track_count FROM medium WHERE release_mbid = :m ORDER BY position"
        ),
        "tracks": q(
            "SELECT md.position AS medium, t.number, t.title, t.length_ms, t.kind FROM track t "
            "JOIN medium md ON md.id = t.medium_id WHERE t.release_mbid = :m ORDER BY md.position, t.sort_key"
        ),
        "labels": q(
            "SELECT label_mbid, label_name, catalog_number FROM release_label WHERE release_mbid = :m ORDER BY position"
        ),
        "links": [x for x in links if x["entity_type"] == "release"],
        "facts": facts,
        "catalogues": catalogues(links, rel.includes, policy),
        "unknown": [
            {"signal": name, "fact": fact} for name, fact in SIGNAL_FACTS.items()
            if name in policy.signals and policy.signals[name].weight > 0
            and not any(f["fact"] == fact for f in facts)
        ],
        "score": score[0] if score else None,
        "signals": [
            {"signal": s, "weight": policy.weight_in_context(s, rel.formats, rel.year),
             "explain": policy.explain(s)}
            for s in (score[0]["signals"] if score else [])
        ],
        "not_assessed": not_assessed(policy, score[0]["not_assessed"] if score else [], rel.includes, rel.fields,
                                     facts),
        "curation": state[0]["status"] if state else "open",
        "curation_history": q(
            "SELECT marked_at, status, marked_by, note FROM curation_mark WHERE release_mbid = :m ORDER BY marked_at, id"
        ),
        "revisions": q(
            f"SELECT r.id, r.hash, r.source, r.first_seen, {REVISION_LAST_SEEN} AS last_seen, r.sync_run_id "
            "FROM document_revision r LEFT JOIN document d ON d.entity_type = r.entity_type AND d.mbid = r.mbid "
            "WHERE r.entity_type = 'release' AND r.mbid = :m ORDER BY r.first_seen, r.id"
        ),
    }


def not_assessed(policy, names: list[str], includes: list[str], fields: list[str], facts: list[dict]) -> list[dict]:
    """Each signal the score could not assess, with why: [{signal, reason}]."""
    known = {f["fact"] for f in facts}
    return [{"signal": name,
             "reason": "; ".join(policy.missing_inputs(name, includes, fields, known)) or "an input was missing"}
            for name in names]


def catalogues(links: list[dict], includes: list[str], policy) -> dict:
    """Which other catalogues link the release or its group (hosts from the
    policy's `uncatalogued.catalogues`), and whether that is known."""
    sig = policy.signals.get("uncatalogued")
    domains = sig.params.get("catalogues", []) if sig else []
    names = []
    for link in links:
        host = urlsplit(link["url"].lower()).hostname or ""
        name = next((d for d in domains if host == d or host.endswith("." + d)), None)
        if name and name not in names:
            names.append(name)
    known = "url-rels" in includes and "release-group-level-rels" in includes
    return {"names": names, "known": known}


FACT_LABELS = {"editions": "editions of its release group", "release_groups": "release groups of its artist",
               "listens": "ListenBrainz listens", "listeners": "ListenBrainz listeners"}


def _format_facts(info: dict) -> list[str]:
    lines = ["Upstream facts:"]
    for f in info["facts"]:
        value = "none known" if f["value"] is None else f["value"]
        about = "" if f["subject_type"] == "release-group" else f" ({f['subject_mbid']})"
        lines.append(f"  {FACT_LABELS.get(f['fact'], f['fact'])}{about}: {value} "
                     f"(source {f['source']}, {f['fetched_at']:%Y-%m-%d})")
    for u in info["unknown"]:
        lines.append(f"  {FACT_LABELS.get(u['fact'], u['fact'])}: unknown (not fetched; run `mbindex enrich`): "
                     f"{u['signal']} not assessed")
    cat = info["catalogues"]
    if cat["names"]:
        lines.append(f"  known to: {', '.join(cat['names'])}")
    elif cat["known"]:
        lines.append("  known to: no other catalogue")
    else:
        lines.append("  known to: unknown (not fetched: the document lacks release-group-level-rels)")
    return lines


def _length(ms) -> str:
    if not ms:
        return "length unknown"
    s = round(ms / 1000)
    return f"{s // 60}:{s % 60:02d}"


def format_show(info: dict) -> str:
    """The human view of `show()`."""
    r = info["release"]
    lines = []
    if info["redirected"]:
        lines.append(f"{info['requested']} was merged into {info['mbid']}")
    lines.append(f"{r['title']} — {r['artist_credit'] or 'unknown artist'}")
    lines.append(f"  {info['url']}")
    for key in ("status", "date", "country", "barcode", "quality", "packaging", "formats", "cover_art_front"):
        value = r[key]
        if key == "barcode" and value == "":
            value = "(explicitly none)"
        if isinstance(value, list):
            value = ", ".join(value)
        if isinstance(value, bool):  # cover_art_front
            value = "yes" if value else "no"
        lines.append(f"  {key + ':':17}{'unknown' if value is None else value}")
    if r["deleted_at"]:
        lines.append(f"  DELETED UPSTREAM {r['deleted_at']:%Y-%m-%d} ({r['deleted_reason'] or 'no reason'})")
    sc = info["score"]
    lines.append("")
    if sc is None:
        lines.append("Risk: not scored yet (run `mbindex score`)")
    else:
        lines.append(f"Risk score {sc['score']}/100 (policy {sc['policy_version']}, {sc['scored_at']:%Y-%m-%d %H:%M})")
        for s in info["signals"]:
            lines.append(f"  +{s['weight'] if s['weight'] is not None else '?':<3} {s['signal']}: {s['explain']}")
        for s in info["not_assessed"]:
            lines.append(f"  not assessed {s['signal']}: {s['reason']}")
    lines.extend(_format_facts(info))
    lines.append(f"Curation: {info['curation']}")
    for h in info["curation_history"]:
        lines.append(f"  {h['marked_at']:%Y-%m-%d %H:%M} {h['status']:12} {h['marked_by'] or ''} {h['note'] or ''}".rstrip())
    lines.append("")
    lines.append("Labels:")
    for lb in info["labels"] or [{"label_name": "(none)", "label_mbid": None, "catalog_number": None}]:
        lines.append(f"  {lb['label_name'] or 'unknown'} {lb['label_mbid'] or ''} {lb['catalog_number'] or ''}".rstrip())
    lines.append("Media:")
    by_medium: dict = {}
    for t in info["tracks"]:
        by_medium.setdefault(t["medium"], []).append(t)
    for md in info["media"]:
        lines.append(f"  {md['position']}. {md['format'] or '(unknown format)'} {md['title'] or ''}".rstrip()
                     + f" — {md['track_count']} track(s)")
        for t in by_medium.get(md["position"], []):
            lines.append(f"     {t['number'] or '':>4} {t['title'] or ''} ({_length(t['length_ms'])})")
    lines.append("Links:")
    for lk in info["links"] or [{"type": "(none)", "url": ""}]:
        lines.append(f"  {lk['type'] or ''} {lk['url']}".rstrip())
    lines.append("Revisions:")
    for rv in info["revisions"]:
        lines.append(f"  #{rv['id']} {rv['source']} {rv['hash'][:12]} first seen {rv['first_seen']:%Y-%m-%d %H:%M}, "
                     f"last seen {rv['last_seen']:%Y-%m-%d %H:%M}")
    return "\n".join(lines)


def release_summaries(db: Database, mbids: list[uuid.UUID]) -> list[dict]:
    """One line per stored release (in the order asked), read in one
    transaction: what `demo` prints."""
    rows = []
    with db.session() as s:
        for mbid in mbids:
            rel = s.get(m.Release, mbid)
            if rel is None:
                continue
            rows.append(
                {
                    "mbid": rel.mbid,
                    "title": rel.title,
                    "artist": rel.artist_credit,
                    "date": rel.date,
                    "formats": rel.formats,
                    "tracks": s.scalar(select(func.count()).select_from(m.Track)
                                       .where(m.Track.release_mbid == rel.mbid)),
                    "catalog": [x.catalog_number for x in rel.labels if x.catalog_number],
                    "barcode": "(none)" if rel.barcode == "" else rel.barcode,
                }
            )
    return rows
