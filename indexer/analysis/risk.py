"""At-risk scoring: a versioned TOML policy turned into one set-based SQL statement.

Every signal's predicate is SQL over a per-release row (`r` = release plus
pre-aggregated facts); the policy supplies weights, explanations and
parameters, always as bound parameters.

Every signal declares what it reads (`SIGNAL_INPUTS`, widened by the
policy's own `includes` / `facts` / `fields` keys): the includes the
release was fetched with (`release.includes`), the upstream facts about it
(`upstream_fact`), the document fields it carried (`release.fields`).  When
one is missing the signal is *not assessed*: it never fires, and the score
row lists it in `not_assessed`.  A score claims nothing nobody fetched.  `score_in()` writes `risk_score`
with INSERT ... SELECT ... ON CONFLICT for the whole table, or only for
releases with `needs_score` (then clears it), inside the caller's
transaction; `score()` does it in a transaction of its own, recorded as a run.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import text

from ..db import Database
from ..runs import Run
from .policy_file import (  # re-exported: risk is where callers find the policy and its scoring
    BAND_NAMES,
    BAND_PARAMS,
    CONTEXT_PARAMS,
    CONTEXT_SIGNALS,
    DEFAULT_BANDS,
    DEFAULT_POLICY,
    KNOWN_INPUTS,
    MAX_FACTOR,
    MAX_LABEL,
    MAX_PARAM,
    MAX_SCORE_CAP,
    REQUIRED_PARAMS,
    SIGNAL_FACTS,
    SIGNAL_INPUTS,
    SIGNAL_PARAMS,
    Inputs,
    Policy,
    PolicyConflict,
    PolicyError,
    Signal,
    conflict,
    load_policy,
    parse_policy,
    policy_sha256,
    policy_text,
)

# signal name -> SQL predicate over the `facts` CTE row `f`; :p_<name>_<param> are bound.
# Signals about the world (editions, catalogue, listening) read upstream facts
# (`enrich`); a fact that was never fetched leaves its signal silent.
SIGNAL_SQL: dict[str, str] = {
    "tombstoned": "f.deleted_at IS NOT NULL",
    "fragile_format": "f.formats && CAST(:p_fragile_format_formats AS text[])",
    "barcode_unknown": "f.barcode IS NULL",
    "barcode_none": "f.barcode = ''",
    # not a UPC/EAN as MusicBrainz's release editor checks one (11 digits: a UPC missing its check digit)
    "barcode_invalid": "f.barcode <> '' AND NOT f.barcode_gtin",
    "no_label": "NOT f.has_label",
    "no_catalog_number": "NOT f.has_catno",
    # a catalogue number in a major label's promo-only series (DPRO-, PRO-CD-, CSK...): compared
    # upper-cased with everything but letters and digits removed, like the policy's prefixes
    "promo_catalog_number": "f.has_promo_catno",
    # the title or disambiguation names a giveaway: "sampler", "promo", "not for sale", "test pressing"...
    # as whole words (the policy's words joined into one pattern by `Policy.bind`: one match per release)
    "promo_words": "lower(f.title || ' ' || coalesce(f.disambiguation, '')) ~ :p_promo_words_pattern",
    # its release group is a demo or a street mixtape: circulated outside shops (the few such groups
    # hashed once, not a join of every release with its group)
    "informal_type": "f.release_group_mbid IN (SELECT g.mbid FROM release_group g"
    " WHERE g.secondary_types && CAST(:p_informal_type_types AS text[]))",
    "no_cover_art": "f.cover_art_front IS FALSE AND f.cover_art_darkened IS NOT TRUE",
    "cover_art_darkened": "f.cover_art_darkened IS TRUE",
    "no_links": "'url-rels' = ANY(f.includes) AND NOT f.has_links",
    # no other catalogue (Discogs, Wikidata, streaming, shops...) links the release or its group
    "uncatalogued": "'url-rels' = ANY(f.includes) AND 'release-group-level-rels' = ANY(f.includes)"
    " AND f.n_catalogues = 0",
    # MusicBrainz knows no other edition of its release group (upstream fact)
    "only_edition": "f.rg_editions IS NOT NULL AND f.rg_editions <= 1",
    "risky_status": "f.status = ANY(CAST(:p_risky_status_statuses AS text[]))",
    "unknown_date": "coalesce(f.date, '') = ''",
    "unknown_country": "coalesce(f.country, '') IN ('', 'XX')",
    "low_quality": "f.quality = 'low'",
    # a document without tracks (a search hit, a browse without recordings) says nothing of its tracklist
    "sparse_tracklist": "(f.n_tracks > 0 OR 'recordings' = ANY(f.includes))"
    " AND (f.n_tracks = 0 OR f.n_no_length = f.n_tracks OR f.n_unknown_title > 0)",
    "no_tags": "'tags' = ANY(f.includes) AND NOT f.has_tags",
    # the largest catalogue among its credited artists is small (upstream fact)
    "small_catalogue": "f.artist_rgs IS NOT NULL AND f.artist_rgs <= :p_small_catalogue_max_release_groups",
    # ListenBrainz answered and knows no listen of the release group
    "no_listens": "f.listens_known AND coalesce(f.listens, 0) = 0",
    "few_listeners": "f.listeners IS NOT NULL AND f.listeners BETWEEN 1 AND :p_few_listeners_max_listeners",
}



#: the context factor of a release: digital-only, before barcodes were common, a peak-era physical format
CONTEXT_SQL = """CASE
            WHEN cardinality(t.formats) > 0 AND t.formats <@ CAST(:ctx_digital_formats AS text[])
                 THEN CAST(:ctx_digital_factor AS numeric)
            WHEN t.year < :ctx_barcode_year THEN CAST(:ctx_early_factor AS numeric)
            WHEN t.year BETWEEN :ctx_peak_from AND :ctx_peak_to
                 AND t.formats && CAST(:ctx_peak_formats AS text[]) THEN CAST(:ctx_peak_factor AS numeric)
            ELSE 1.0 END"""


#: upstream facts about the target's release groups (enrich): NULL = not fetched; `known` names the facts fetched
_GROUP_FACTS_CTE = """gf AS MATERIALIZED (
        -- upstream facts about the release groups (enrich): NULL = not fetched
        SELECT u.subject_mbid AS release_group_mbid,
               max(u.value) FILTER (WHERE u.fact = 'editions') AS editions,
               bool_or(u.fact = 'listens') AS listens_known,
               max(u.value) FILTER (WHERE u.fact = 'listens') AS listens,
               max(u.value) FILTER (WHERE u.fact = 'listeners') AS listeners,
               array_agg(DISTINCT u.fact) AS known
        FROM upstream_fact u
        WHERE u.subject_type = 'release-group'
          AND u.subject_mbid IN (SELECT release_group_mbid FROM target)
        GROUP BY u.subject_mbid
    ),
"""


#: per release, from its label entries: a label (not "[no label]"), a catalogue number, a promo series number
_LABEL_FACTS_CTE = """    lab AS (
        SELECT rl.release_mbid,
               -- a label entry with a catalogue number but no label names a label MusicBrainz does
               -- not know (yet): a company issued it, so that is not "no label"
               bool_or(rl.label_mbid IS NOT NULL AND rl.label_mbid <> CAST(:p_no_label_no_label_mbid AS uuid)
                       OR (rl.label_mbid IS NULL AND coalesce(rl.label_name, '') NOT IN ('', '[no label]'))
                       OR (rl.label_mbid IS NULL AND coalesce(rl.label_name, '') = ''
                           AND lower(coalesce(rl.catalog_number, '')) NOT IN ('', '[none]', 'none'))) AS has_label,
               bool_or(lower(coalesce(rl.catalog_number, '')) NOT IN ('', '[none]', 'none')) AS has_catno,
               -- the catalogue number normalised once, matched against every prefix% (`Policy.bind`)
               bool_or(upper(regexp_replace(rl.catalog_number, '[^A-Za-z0-9]+', '', 'g'))
                       LIKE ANY (CAST(:p_promo_catalog_number_patterns AS text[]))) AS has_promo_catno
        FROM release_label rl JOIN target t ON t.mbid = rl.release_mbid
        GROUP BY rl.release_mbid
    ),
"""


def _facts_sql(where: str) -> str:
    """The per-release row the signals read, for the releases `where` selects."""
    return f"""
    WITH target AS (
        SELECT r.* FROM release r {where}
    ),
{_GROUP_FACTS_CTE}    af AS MATERIALIZED (
        -- the largest known catalogue among the credited artists (enrich skips special-purpose artists)
        SELECT ac.entity_mbid AS release_mbid, max(u.value) AS n
        FROM artist_credit ac
        JOIN target t ON t.mbid = ac.entity_mbid
        JOIN upstream_fact u ON u.subject_type = 'artist' AND u.subject_mbid = ac.artist_mbid
             AND u.fact = 'release_groups'
        WHERE ac.entity_type = 'release'
        GROUP BY ac.entity_mbid
    ),
    cat AS (
        -- links of the release or its group to another catalogue (by host, from the policy)
        SELECT x.mbid, count(*) AS n FROM (
            SELECT t.mbid, u.url FROM target t
            JOIN url_relation u ON u.entity_type = 'release' AND u.entity_mbid = t.mbid
            UNION ALL
            SELECT t.mbid, u.url FROM target t
            JOIN url_relation u ON u.entity_type = 'release-group' AND u.entity_mbid = t.release_group_mbid
        ) x
        WHERE EXISTS (SELECT 1 FROM unnest(CAST(:p_uncatalogued_catalogues AS text[])) d,
                      substring(lower(x.url) from '^[a-z]+://([^/:?#]+)') h
                      WHERE h = d OR h LIKE '%.' || d)
        GROUP BY x.mbid
    ),
{_LABEL_FACTS_CTE}    trk AS (
        SELECT tr.release_mbid, count(*) AS n,
               count(*) FILTER (WHERE tr.length_ms IS NULL OR tr.length_ms = 0) AS n_no_length,
               count(*) FILTER (WHERE tr.title IS NULL OR tr.title = ANY(CAST(:p_sparse_tracklist_unknown_titles AS text[])))
                   AS n_unknown_title
        FROM track tr JOIN target t ON t.mbid = tr.release_mbid
        WHERE tr.kind <> 'data'
        GROUP BY tr.release_mbid
    ),
    facts AS (
        SELECT t.mbid, t.deleted_at, t.formats, t.barcode, t.cover_art_front, t.cover_art_darkened, t.includes,
               t.fields,
               coalesce(gf.known, '{{}}') || CASE WHEN af.release_mbid IS NULL THEN '{{}}'::text[]
                                                  ELSE ARRAY['release_groups'] END AS known_facts,
               t.release_group_mbid, t.status, t.date, t.country, t.quality,
               t.barcode_gtin,
               coalesce(lab.has_label, false) AS has_label,
               coalesce(lab.has_catno, false) AS has_catno,
               coalesce(lab.has_promo_catno, false) AS has_promo_catno,
               t.title, t.disambiguation,
               EXISTS (SELECT 1 FROM url_relation u WHERE u.entity_type = 'release' AND u.entity_mbid = t.mbid) AS has_links,
               EXISTS (SELECT 1 FROM tag g WHERE g.entity_type = 'release' AND g.entity_mbid = t.mbid) AS has_tags,
               coalesce(cat.n, 0) AS n_catalogues,
               gf.editions AS rg_editions, coalesce(gf.listens_known, false) AS listens_known,
               gf.listens, gf.listeners, af.n AS artist_rgs,
               coalesce(trk.n, 0) AS n_tracks, coalesce(trk.n_no_length, 0) AS n_no_length,
               coalesce(trk.n_unknown_title, 0) AS n_unknown_title,
               {CONTEXT_SQL} AS ctx
        FROM target t
        LEFT JOIN gf ON gf.release_group_mbid = t.release_group_mbid
        LEFT JOIN af ON af.release_mbid = t.mbid
        LEFT JOIN cat ON cat.mbid = t.mbid
        LEFT JOIN lab ON lab.release_mbid = t.mbid
        LEFT JOIN trk ON trk.release_mbid = t.mbid
    )"""


def _weight_sql(name: str) -> str:
    """The weight a fired signal adds: the policy's, times the release's context factor for some."""
    if name in CONTEXT_SIGNALS:
        return f"CAST(round(CAST(:w_{name} AS numeric) * f.ctx) AS int)"
    return f":w_{name}"


def _assessed_sql(sig: Signal) -> str:
    """SQL true when every input of the signal is there (input names are
    checked against KNOWN_INPUTS at load, so they are safe literals)."""
    tests = [f"'{i}' = ANY(f.includes)" for i in sig.inputs.includes]
    tests += [f"'{x}' = ANY(f.fields)" for x in sig.inputs.fields]
    tests += [f"'{x}' = ANY(f.known_facts)" for x in sig.inputs.facts]
    return " AND ".join(tests) or "true"


def _scored_columns(policy: Policy) -> str:
    """score, signals (fired) and not_assessed of each `facts` row: a signal
    fires only when assessed, and it is assessed only when its inputs are there."""
    active = [s for s in policy.signals.values() if s.weight > 0]
    fires = {s.name: f"({_assessed_sql(s)}) AND ({SIGNAL_SQL[s.name]})"
             + (f" AND {_weight_sql(s.name)} > 0" if s.name in CONTEXT_SIGNALS else "") for s in active}
    fired = ",\n            ".join(f"CASE WHEN {fires[s.name]} THEN '{s.name}' END" for s in active) or "NULL"
    unassessed = ",\n            ".join(f"CASE WHEN NOT ({_assessed_sql(s)}) THEN '{s.name}' END"
                                      for s in active) or "NULL"
    total = " + ".join(f"CASE WHEN {fires[s.name]} THEN {_weight_sql(s.name)} ELSE 0 END" for s in active) or "0"
    return f"""least(CAST(:max_score AS int), {total}) AS score,
           array_remove(ARRAY[{fired}]::text[], NULL) AS signals,
           array_remove(ARRAY[{unassessed}]::text[], NULL) AS not_assessed"""


def build_score_sql(policy: Policy, changed_only: bool = False) -> str:
    return f"""{_facts_sql("WHERE r.needs_score" if changed_only else "")}
    INSERT INTO risk_score (release_mbid, score, signals, not_assessed, policy_version, scored_at, curation)
    SELECT f.mbid, x.score, x.signals, x.not_assessed,
           :policy_version, now(),
           (SELECT cs.status FROM curation_state cs WHERE cs.release_mbid = f.mbid)
    FROM facts f, LATERAL (SELECT {_scored_columns(policy)}) x
    ON CONFLICT (release_mbid) DO UPDATE
       SET score = excluded.score, signals = excluded.signals, not_assessed = excluded.not_assessed,
           policy_version = excluded.policy_version, scored_at = excluded.scored_at,
           curation = excluded.curation"""


def build_select_sql(policy: Policy) -> str:
    """The scoring of the releases in :mbids as a read: what `score` would
    store, written nowhere (`evaluate --policy`)."""
    return f"""{_facts_sql("WHERE r.mbid = ANY(CAST(:mbids AS uuid[]))")}
    SELECT f.mbid, {_scored_columns(policy)}
    FROM facts f"""


def score_select_in(session, policy: Policy, mbids: list[uuid.UUID]) -> dict[uuid.UUID, dict]:
    """{mbid: {score, signals, not_assessed}} of the stored releases among
    `mbids` under `policy`, computed inside the caller's transaction, stored nowhere."""
    params = dict(policy.bind(), mbids=list(mbids))
    return {row.mbid: {"score": row.score, "signals": list(row.signals), "not_assessed": list(row.not_assessed)}
            for row in session.execute(text(build_select_sql(policy)), params)}


def record_policy_in(session, policy: Policy) -> None:
    """Store the policy's text under its version inside the caller's
    transaction (kept when already stored); PolicyConflict when the version
    is stored with other content."""
    digest = policy_sha256(policy)
    session.execute(text("INSERT INTO risk_policy (version, sha256, text) VALUES (:v, :h, :t) "
                         "ON CONFLICT (version) DO NOTHING"),
                    {"v": policy.version, "h": digest, "t": policy_text(policy)})
    stored = session.execute(text("SELECT sha256 FROM risk_policy WHERE version = :v"),
                             {"v": policy.version}).scalar_one()
    if stored != digest:
        raise conflict(policy, stored)


@dataclass
class ScoreResult:
    scored: int
    policy_version: str
    seconds: float
    run_id: int | None = None


def score_in(session, policy: Policy, *, changed_only: bool = False) -> int:
    """Score releases inside the caller's transaction (never committing),
    storing the policy's text with them (`record_policy_in`: PolicyConflict
    when its version is stored with other content); returns how many."""
    record_policy_in(session, policy)
    params = policy.bind()
    n = session.execute(text(build_score_sql(policy, changed_only)), params).rowcount
    # clear the flag only on what this transaction scored (scored_at = now() is
    # the transaction's start time), not on releases a concurrent sync just touched
    session.execute(text(
        "UPDATE release r SET needs_score = false FROM risk_score s "
        "WHERE r.needs_score AND s.release_mbid = r.mbid AND s.scored_at = now()"
    ))
    return n


def score(db: Database, policy: Policy, *, changed_only: bool = False) -> ScoreResult:
    """Score in a transaction of its own (one scorer at a time: an advisory
    transaction lock), with a `sync_run` row (kind "score") recording the outcome."""
    started = dt.datetime.now(dt.timezone.utc)
    run = Run(db, "score", "changed" if changed_only else "all", policy.version,
              options={"policy": policy.source, "policy_version": policy.version})
    try:
        with db.session() as s, s.begin():
            s.execute(text("SELECT pg_advisory_xact_lock(hashtext('mbindex-score'))"))
            n = score_in(s, policy, changed_only=changed_only)
    except BaseException as exc:
        run.finish("failed", error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise
    run.counts.updated = n
    run.finish("ok")
    secs = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
    return ScoreResult(n, policy.version, secs, run.id)


__all__ = [
    "DEFAULT_POLICY",
    "PolicyError",
    "PolicyConflict",
    "Inputs",
    "SIGNAL_INPUTS",
    "KNOWN_INPUTS",
    "SIGNAL_FACTS",
    "SIGNAL_PARAMS",
    "REQUIRED_PARAMS",
    "CONTEXT_SIGNALS",
    "CONTEXT_PARAMS",
    "MAX_FACTOR",
    "MAX_PARAM",
    "MAX_SCORE_CAP",
    "Signal",
    "BAND_PARAMS",
    "DEFAULT_BANDS",
    "MAX_LABEL",
    "BAND_NAMES",
    "Policy",
    "load_policy",
    "parse_policy",
    "policy_text",
    "policy_sha256",
    "conflict",
]
