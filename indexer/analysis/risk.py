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
import hashlib
import json
import tomllib
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from sqlalchemy import text

from ..db import Database
from ..mapping import DOCUMENT_FIELDS
from ..runs import Run
from ..store.facts import EDITIONS, LISTENERS, LISTENS, RELEASE_GROUPS

DEFAULT_POLICY = Path(__file__).with_name("risk_policy.toml")


class PolicyError(ValueError):
    """The policy file is unusable."""


# signal name -> SQL predicate over the `facts` CTE row `f`; :p_<name>_<param> are bound.
# Signals about the world (editions, catalogue, listening) read upstream facts
# (`enrich`); a fact that was never fetched leaves its signal silent.
SIGNAL_SQL: dict[str, str] = {
    "tombstoned": "f.deleted_at IS NOT NULL",
    "fragile_format": "f.formats && CAST(:p_fragile_format_formats AS text[])",
    "barcode_unknown": "f.barcode IS NULL",
    "barcode_none": "f.barcode = ''",
    "no_label": "NOT f.has_label",
    "no_catalog_number": "NOT f.has_catno",
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



@dataclass(frozen=True)
class Inputs:
    """What a signal reads: includes the release was fetched with, upstream
    facts about it, fields its document carried.  Without all of them it is
    not assessed."""

    includes: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()

    def __or__(self, other: Inputs) -> Inputs:
        merge = lambda a, b: tuple(dict.fromkeys(a + b))  # noqa: E731
        return Inputs(merge(self.includes, other.includes), merge(self.facts, other.facts),
                      merge(self.fields, other.fields))


#: what each signal's SQL reads (a policy may add inputs, never remove these).
#: `tombstoned`, `unknown_date` and `unknown_country` read what every release
#: document states (ws/2 omits date and country in every shape when unknown)
SIGNAL_INPUTS: dict[str, Inputs] = {
    "tombstoned": Inputs(),
    "fragile_format": Inputs(includes=("media",)),
    "barcode_unknown": Inputs(fields=("barcode",)),
    "barcode_none": Inputs(fields=("barcode",)),
    "no_label": Inputs(includes=("labels",)),
    "no_catalog_number": Inputs(includes=("labels",)),
    "no_cover_art": Inputs(fields=("cover-art-archive",)),
    "cover_art_darkened": Inputs(fields=("cover-art-archive",)),
    "no_links": Inputs(includes=("url-rels",)),
    "uncatalogued": Inputs(includes=("url-rels", "release-group-level-rels")),
    "only_edition": Inputs(facts=(EDITIONS,)),
    "risky_status": Inputs(fields=("status",)),
    "unknown_date": Inputs(),
    "unknown_country": Inputs(),
    "low_quality": Inputs(fields=("quality",)),
    "sparse_tracklist": Inputs(includes=("recordings",)),
    "no_tags": Inputs(includes=("tags",)),
    "small_catalogue": Inputs(facts=(RELEASE_GROUPS,)),
    "no_listens": Inputs(facts=(LISTENS,)),
    "few_listeners": Inputs(facts=(LISTENERS,)),
}
#: the inputs a policy may name: ws/2 release includes (and `cover-art`, which
#: the mapping infers from a document carrying cover-art-archive), the upstream
#: facts `enrich` stores, the document fields the mapping records
KNOWN_INPUTS: dict[str, tuple[str, ...]] = {
    "includes": ("aliases", "annotation", "artist-credits", "collections", "cover-art", "discids", "genres",
                 "isrcs", "labels", "media", "ratings", "recording-level-rels", "recordings",
                 "release-group-level-rels", "release-groups", "tags", "url-rels"),
    "facts": (EDITIONS, RELEASE_GROUPS, LISTENS, LISTENERS),
    "fields": DOCUMENT_FIELDS,
}
#: the upstream fact each world signal needs ("unknown (not fetched)" in `show` when missing)
SIGNAL_FACTS = {name: inputs.facts[0] for name, inputs in SIGNAL_INPUTS.items() if inputs.facts}

# the parameters each signal needs, with their expected Python type
SIGNAL_PARAMS: dict[str, dict[str, type]] = {
    "fragile_format": {"formats": list},
    "risky_status": {"statuses": list},
    "no_label": {"no_label_mbid": str},
    "sparse_tracklist": {"unknown_titles": list},
    "small_catalogue": {"max_release_groups": int},
    "few_listeners": {"max_listeners": int},
    "uncatalogued": {"catalogues": list},
}
REQUIRED_PARAMS = ("fragile_format", "risky_status", "small_catalogue", "few_listeners", "uncatalogued")

#: signals whose weight is read in context (format and era): see [context] in the policy
CONTEXT_SIGNALS = ("barcode_unknown", "barcode_none", "no_catalog_number")
#: [context] keys, their types and defaults (a factor of 1 everywhere: no context)
CONTEXT_PARAMS: dict[str, tuple[type, object]] = {
    "digital_formats": (list, []),
    "digital_factor": (float, 1.0),
    "barcode_year": (int, 0),
    "early_factor": (float, 1.0),
    "peak_from": (int, 0),
    "peak_to": (int, 0),
    "peak_formats": (list, []),
    "peak_factor": (float, 1.0),
}
MAX_FACTOR = 5.0
MAX_PARAM = 1_000_000
MAX_SCORE_CAP = 1000
#: the context factor of a release: digital-only, before barcodes were common, a peak-era physical format
CONTEXT_SQL = """CASE
            WHEN cardinality(t.formats) > 0 AND t.formats <@ CAST(:ctx_digital_formats AS text[])
                 THEN CAST(:ctx_digital_factor AS numeric)
            WHEN t.year < :ctx_barcode_year THEN CAST(:ctx_early_factor AS numeric)
            WHEN t.year BETWEEN :ctx_peak_from AND :ctx_peak_to
                 AND t.formats && CAST(:ctx_peak_formats AS text[]) THEN CAST(:ctx_peak_factor AS numeric)
            ELSE 1.0 END"""


@dataclass
class Signal:
    name: str
    weight: int
    explain: str
    params: dict = field(default_factory=dict)
    #: what it reads: the engine's SIGNAL_INPUTS and whatever the policy added
    inputs: Inputs = field(default_factory=Inputs)
    #: a short human name for the web pages (optional, at most 60 characters)
    label: str | None = None


@dataclass
class Policy:
    version: str
    signals: dict[str, Signal]
    max_score: int = 100
    source: str = ""
    context: dict = field(default_factory=lambda: {k: d for k, (_t, d) in CONTEXT_PARAMS.items()})
    #: the TOML text it was loaded from ("" when built in code: `policies.policy_text` renders one)
    text: str = ""

    def explain(self, name: str) -> str:
        sig = self.signals.get(name)
        if sig is not None:
            return sig.explain
        if not self.signals:
            return f"(the text of policy {self.version} is not stored: run `mbindex score` to explain)"
        return f"(signal {name!r} is not in policy {self.version})"

    def missing_inputs(self, name: str, includes, fields, facts) -> list[str]:
        """Why signal `name` is not assessed for a release fetched with
        `includes`, whose document carried `fields` and with these known
        upstream `facts`: one phrase per missing input ([] when assessed)."""
        sig = self.signals.get(name)
        inputs = sig.inputs if sig else SIGNAL_INPUTS.get(name, Inputs())
        out = [f"not fetched with inc={i}" for i in inputs.includes if i not in includes]
        out += [f"the document has no {f!r} field (a search hit?)" for f in inputs.fields if f not in fields]
        out += [f"upstream fact {f} not fetched (run `mbindex enrich`)" for f in inputs.facts if f not in facts]
        return out

    def context_factor(self, formats: list[str], year: int | None) -> tuple[float, str]:
        """The factor of a release's context and why (the same rule as CONTEXT_SQL)."""
        c = self.context
        if formats and set(formats) <= set(c["digital_formats"]):
            return c["digital_factor"], "digital release"
        if year is not None and year < c["barcode_year"]:
            return c["early_factor"], f"from before {c['barcode_year']}"
        if year is not None and c["peak_from"] <= year <= c["peak_to"] and set(formats) & set(c["peak_formats"]):
            return c["peak_factor"], f"{'/'.join(sorted(set(formats) & set(c['peak_formats'])))} " \
                                     f"from {c['peak_from']}-{c['peak_to']}"
        return 1.0, ""

    def weight_in_context(self, name: str, formats: list[str], year: int | None) -> int | None:
        """The weight a signal adds to a release of these formats and year."""
        sig = self.signals.get(name)
        if sig is None:
            return None
        if name not in CONTEXT_SIGNALS:
            return sig.weight
        # half away from zero, like PostgreSQL's round(numeric)
        factor = Decimal(str(self.context_factor(formats, year)[0]))
        return int((sig.weight * factor).quantize(Decimal(1), ROUND_HALF_UP))

    def bind(self) -> dict:
        out: dict = {"max_score": self.max_score, "policy_version": self.version}
        for sig in self.signals.values():
            out[f"w_{sig.name}"] = sig.weight
            for key, value in sig.params.items():
                out[f"p_{sig.name}_{key}"] = value
        out.setdefault("p_no_label_no_label_mbid", "157afde4-4bf5-4039-8ad2-5a15acc85176")
        out.setdefault("p_sparse_tracklist_unknown_titles", ["[unknown]"])
        out.setdefault("p_uncatalogued_catalogues", [])
        out.update({f"ctx_{k}": v for k, v in self.context.items()})
        return out


def _fail(path, message: str):
    raise PolicyError(f"policy {path}: {message}")


def _check_value(path, where: str, value, typ: type):
    """One parameter: the right type, flat lists of short strings, bounded numbers, a UUID where one is due."""
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, typ) or isinstance(value, bool):
        _fail(path, f"{where} must be a {'number' if typ is float else typ.__name__}")
    if typ is list and not all(isinstance(x, str) and 0 < len(x) <= 200 for x in value):
        _fail(path, f"{where} must be a flat list of short strings (1-200 characters each)")
    if typ is list and len(value) > 1000:
        _fail(path, f"{where} has more than 1000 entries")
    if typ is int and not 0 <= value <= MAX_PARAM:
        _fail(path, f"{where} must be between 0 and {MAX_PARAM}")
    if typ is float and not 0 <= value <= MAX_FACTOR:
        _fail(path, f"{where} must be a factor between 0 and {MAX_FACTOR:g}")
    if typ is str and where.endswith("no_label_mbid"):
        try:
            uuid.UUID(value)
        except ValueError:
            _fail(path, f"{where} must be an MBID (a UUID such as 157afde4-4bf5-4039-8ad2-5a15acc85176)")
    return value


def _load_signal(path, name: str, spec) -> Signal:
    if name not in SIGNAL_SQL:
        _fail(path, f"unknown signal {name!r} (known: {', '.join(sorted(SIGNAL_SQL))})")
    if not isinstance(spec, dict):
        _fail(path, f"signals.{name} must be a table")
    weight = spec.get("weight")
    if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
        _fail(path, f"signals.{name}.weight must be an integer 0-100")
    explain = spec.get("explain")
    if not isinstance(explain, str) or not explain.strip() or len(explain) > 500:
        _fail(path, f"signals.{name}.explain (one line) is required")
    params = {}
    for key, typ in SIGNAL_PARAMS.get(name, {}).items():
        if key in spec:
            params[key] = _check_value(path, f"signals.{name}.{key}", spec[key], typ)
        elif name in REQUIRED_PARAMS:
            _fail(path, f"signals.{name}.{key} is required")
    label = spec.get("label")
    if label is not None and (not isinstance(label, str) or not label.strip() or len(label) > 60):
        _fail(path, f"signals.{name}.label must be a string of 1-60 characters")
    return Signal(name, weight, explain.strip(), params, SIGNAL_INPUTS[name] | _declared_inputs(path, name, spec),
                  label.strip() if label else None)


def _declared_inputs(path, name: str, spec: dict) -> Inputs:
    """The policy's `includes` / `facts` / `fields` of a signal: lists of known input names."""
    found = {}
    for kind, known in KNOWN_INPUTS.items():
        value = spec.get(kind, [])
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            _fail(path, f"signals.{name}.{kind} must be a list of names")
        unknown = [x for x in value if x not in known]
        if unknown:
            _fail(path, f"signals.{name}.{kind} names no such input {unknown[0]!r} (known: {', '.join(known)})")
        found[kind] = tuple(value)
    return Inputs(**found)


def _load_context(path, raw) -> dict:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        _fail(path, "[context] must be a table")
    unknown = set(raw) - set(CONTEXT_PARAMS)
    if unknown:
        _fail(path, f"unknown [context] key(s) {', '.join(sorted(unknown))}")
    return {key: _check_value(path, f"context.{key}", raw[key], typ) if key in raw else default
            for key, (typ, default) in CONTEXT_PARAMS.items()}


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy in file `path` (default: the bundled one), checked whole; PolicyError names what is wrong."""
    path = Path(path) if path else DEFAULT_POLICY
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"policy file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise PolicyError(f"policy file {path} is not valid TOML: {exc}") from None
    return parse_policy(source, path)


def parse_policy(source: str, path) -> Policy:
    """A policy from its TOML text; `path` names it in errors (a file, or where it was stored)."""
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy file {path} is not valid TOML: {exc}") from None
    version = data.get("version")
    if not isinstance(version, str) or not version or len(version) > 100:
        _fail(path, "'version' (a string) is required")
    raw = data.get("signals")
    if not isinstance(raw, dict) or not raw:
        _fail(path, "no [signals.*] tables")
    signals = {name: _load_signal(path, name, spec) for name, spec in raw.items()}
    max_score = data.get("max_score", 100)
    if not isinstance(max_score, int) or isinstance(max_score, bool) or not 0 < max_score <= MAX_SCORE_CAP:
        _fail(path, f"max_score must be an integer from 1 to {MAX_SCORE_CAP}")
    return Policy(version=version, signals=signals, max_score=max_score, source=str(path),
                  context=_load_context(path, data.get("context")), text=source)


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
    lab AS (
        SELECT rl.release_mbid,
               bool_or(rl.label_mbid IS NOT NULL AND rl.label_mbid <> CAST(:p_no_label_no_label_mbid AS uuid)
                       OR (rl.label_mbid IS NULL AND coalesce(rl.label_name, '') NOT IN ('', '[no label]'))) AS has_label,
               bool_or(coalesce(rl.catalog_number, '') NOT IN ('', '[none]')) AS has_catno
        FROM release_label rl JOIN target t ON t.mbid = rl.release_mbid
        GROUP BY rl.release_mbid
    ),
    trk AS (
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
               coalesce(lab.has_label, false) AS has_label,
               coalesce(lab.has_catno, false) AS has_catno,
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


class PolicyConflict(PolicyError):
    """A policy's version is stored with different content."""


def policy_text(policy: Policy) -> str:
    """The TOML text of a policy: the file it was loaded from, or (built or
    changed in code, `text` empty) a rendering that loads back to the same policy."""
    if policy.text:
        return policy.text
    toml = lambda v: json.dumps(v, ensure_ascii=False)  # noqa: E731  (JSON strings, numbers, lists are TOML)
    lines = [f"version = {toml(policy.version)}", f"max_score = {policy.max_score}", "", "[context]"]
    lines += [f"{k} = {toml(policy.context[k])}" for k in CONTEXT_PARAMS]
    for sig in policy.signals.values():
        lines += ["", f"[signals.{sig.name}]", f"weight = {sig.weight}", f"explain = {toml(sig.explain)}"]
        if sig.label:
            lines.append(f"label = {toml(sig.label)}")
        lines += [f"{k} = {toml(sig.params[k])}" for k in SIGNAL_PARAMS.get(sig.name, {}) if k in sig.params]
        base = SIGNAL_INPUTS[sig.name]
        for kind in ("includes", "facts", "fields"):
            extra = [x for x in getattr(sig.inputs, kind) if x not in getattr(base, kind)]
            if extra:
                lines.append(f"{kind} = {toml(extra)}")
    return "\n".join(lines) + "\n"


def policy_sha256(policy: Policy) -> str:
    return hashlib.sha256(policy_text(policy).encode("utf-8")).hexdigest()


def conflict(policy: Policy, stored_sha: str) -> PolicyConflict:
    return PolicyConflict(f"policy {policy.source or policy.version}: version {policy.version!r} is already stored "
                          f"with different content (sha256 {stored_sha[:12]}, this file {policy_sha256(policy)[:12]}): "
                          "give the changed policy a new `version`")


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
