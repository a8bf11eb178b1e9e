"""At-risk scoring: a versioned TOML policy turned into one set-based SQL statement.

Every signal's predicate is SQL over a per-release row (`r` = release plus
pre-aggregated facts); the policy supplies weights, explanations and
parameters, always as bound parameters.  `score()` writes `risk_score` with
INSERT ... SELECT ... ON CONFLICT for the whole table, or only for releases
with `needs_score` (then clears it).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from ..runs import Run

DEFAULT_POLICY = Path(__file__).with_name("risk_policy.toml")


class PolicyError(ValueError):
    """The policy file is unusable."""


# signal name -> SQL predicate over the `facts` CTE row `f`; :p_<name>_<param> are bound
SIGNAL_SQL: dict[str, str] = {
    "tombstoned": "f.deleted_at IS NOT NULL",
    "fragile_format": "f.formats && CAST(:p_fragile_format_formats AS text[])",
    "barcode_unknown": "f.barcode IS NULL",
    "barcode_none": "f.barcode = ''",
    "no_label": "NOT f.has_label",
    "no_catalog_number": "NOT f.has_catno",
    "no_cover_art": "f.cover_art_front IS FALSE",
    "no_links": "'url-rels' = ANY(f.includes) AND NOT f.has_links",
    # no *other* live release in its group (a tombstoned sibling does not count)
    "only_edition": "f.release_group_mbid IS NOT NULL"
    " AND f.rg_releases - CASE WHEN f.deleted_at IS NULL THEN 1 ELSE 0 END = 0",
    "risky_status": "f.status = ANY(CAST(:p_risky_status_statuses AS text[]))",
    "unknown_date": "coalesce(f.date, '') = ''",
    "unknown_country": "coalesce(f.country, '') IN ('', 'XX')",
    "low_quality": "f.quality = 'low'",
    "sparse_tracklist": "(f.n_tracks = 0 OR f.n_no_length = f.n_tracks OR f.n_unknown_title > 0)",
    "no_tags": "'tags' = ANY(f.includes) AND NOT f.has_tags",
    "few_artist_releases": "f.artist_releases IS NOT NULL AND f.artist_releases <= :p_few_artist_releases_max_releases",
}

# the parameters each signal needs, with their expected Python type
SIGNAL_PARAMS: dict[str, dict[str, type]] = {
    "fragile_format": {"formats": list},
    "risky_status": {"statuses": list},
    "no_label": {"no_label_mbid": str},
    "sparse_tracklist": {"unknown_titles": list},
    "few_artist_releases": {"max_releases": int},
}


@dataclass
class Signal:
    name: str
    weight: int
    explain: str
    params: dict = field(default_factory=dict)


@dataclass
class Policy:
    version: str
    signals: dict[str, Signal]
    max_score: int = 100
    source: str = ""

    def explain(self, name: str) -> str:
        sig = self.signals.get(name)
        return sig.explain if sig else f"(signal {name!r} is not in policy {self.version})"

    def bind(self) -> dict:
        out: dict = {"max_score": self.max_score, "policy_version": self.version}
        for sig in self.signals.values():
            out[f"w_{sig.name}"] = sig.weight
            for key, value in sig.params.items():
                out[f"p_{sig.name}_{key}"] = value
        out.setdefault("p_no_label_no_label_mbid", "157afde4-4bf5-4039-8ad2-5a15acc85176")
        out.setdefault("p_sparse_tracklist_unknown_titles", ["[unknown]"])
        return out


def load_policy(path: str | Path | None = None) -> Policy:
    path = Path(path) if path else DEFAULT_POLICY
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"policy file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy file {path} is not valid TOML: {exc}") from None
    version = data.get("version")
    if not isinstance(version, str) or not version:
        raise PolicyError(f"policy {path}: 'version' (a string) is required")
    raw = data.get("signals")
    if not isinstance(raw, dict) or not raw:
        raise PolicyError(f"policy {path}: no [signals.*] tables")
    signals = {}
    for name, spec in raw.items():
        if name not in SIGNAL_SQL:
            raise PolicyError(f"policy {path}: unknown signal {name!r} (known: {', '.join(sorted(SIGNAL_SQL))})")
        if not isinstance(spec, dict):
            raise PolicyError(f"policy {path}: signals.{name} must be a table")
        weight = spec.get("weight")
        if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
            raise PolicyError(f"policy {path}: signals.{name}.weight must be an integer 0-100")
        explain = spec.get("explain")
        if not isinstance(explain, str) or not explain.strip():
            raise PolicyError(f"policy {path}: signals.{name}.explain (one line) is required")
        params = {}
        for key, typ in SIGNAL_PARAMS.get(name, {}).items():
            if key in spec:
                if not isinstance(spec[key], typ):
                    raise PolicyError(f"policy {path}: signals.{name}.{key} must be a {typ.__name__}")
                params[key] = spec[key]
            elif name in ("fragile_format", "risky_status", "few_artist_releases"):
                raise PolicyError(f"policy {path}: signals.{name}.{key} is required")
        signals[name] = Signal(name, weight, explain.strip(), params)
    max_score = data.get("max_score", 100)
    if not isinstance(max_score, int) or max_score <= 0:
        raise PolicyError(f"policy {path}: max_score must be a positive integer")
    return Policy(version=version, signals=signals, max_score=max_score, source=str(path))


def _facts_sql(changed_only: bool) -> str:
    where = "WHERE r.needs_score" if changed_only else ""
    return f"""
    WITH target AS (
        SELECT r.* FROM release r {where}
    ),
    rg AS MATERIALIZED (
        SELECT release_group_mbid, count(*) AS n FROM release
        WHERE release_group_mbid IS NOT NULL AND deleted_at IS NULL
        GROUP BY release_group_mbid
    ),
    artist_n AS MATERIALIZED (
        SELECT artist_mbid, count(DISTINCT entity_mbid) AS n FROM artist_credit
        WHERE entity_type = 'release' GROUP BY artist_mbid
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
    art AS MATERIALIZED (
        SELECT ac.entity_mbid AS release_mbid, max(an.n) AS n
        FROM artist_credit ac
        JOIN target t ON t.mbid = ac.entity_mbid
        JOIN artist_n an ON an.artist_mbid = ac.artist_mbid
        WHERE ac.entity_type = 'release'
          -- special purpose artists: Various Artists, [unknown]
          AND ac.artist_mbid NOT IN ('89ad4ac3-39f7-470e-963a-56509c546377', '125ec42a-7229-4250-afc5-e057484327fe')
        GROUP BY ac.entity_mbid
    ),
    facts AS (
        SELECT t.mbid, t.deleted_at, t.formats, t.barcode, t.cover_art_front, t.includes,
               t.release_group_mbid, t.status, t.date, t.country, t.quality,
               coalesce(lab.has_label, false) AS has_label,
               coalesce(lab.has_catno, false) AS has_catno,
               EXISTS (SELECT 1 FROM url_relation u WHERE u.entity_type = 'release' AND u.entity_mbid = t.mbid) AS has_links,
               EXISTS (SELECT 1 FROM tag g WHERE g.entity_type = 'release' AND g.entity_mbid = t.mbid) AS has_tags,
               coalesce(rg.n, 0) AS rg_releases,
               coalesce(trk.n, 0) AS n_tracks, coalesce(trk.n_no_length, 0) AS n_no_length,
               coalesce(trk.n_unknown_title, 0) AS n_unknown_title,
               art.n AS artist_releases
        FROM target t
        LEFT JOIN rg ON rg.release_group_mbid = t.release_group_mbid
        LEFT JOIN lab ON lab.release_mbid = t.mbid
        LEFT JOIN trk ON trk.release_mbid = t.mbid
        LEFT JOIN art ON art.release_mbid = t.mbid
    )"""


def build_score_sql(policy: Policy, changed_only: bool = False) -> str:
    active = [s for s in policy.signals.values() if s.weight > 0]
    fired = ",\n            ".join(
        f"CASE WHEN {SIGNAL_SQL[s.name]} THEN '{s.name}' END" for s in active
    ) or "NULL"
    total = " + ".join(f"CASE WHEN {SIGNAL_SQL[s.name]} THEN :w_{s.name} ELSE 0 END" for s in active) or "0"
    return f"""{_facts_sql(changed_only)}
    INSERT INTO risk_score (release_mbid, score, signals, policy_version, scored_at)
    SELECT f.mbid,
           least(CAST(:max_score AS int), {total}),
           array_remove(ARRAY[{fired}]::text[], NULL),
           :policy_version, now()
    FROM facts f
    ON CONFLICT (release_mbid) DO UPDATE
       SET score = excluded.score, signals = excluded.signals,
           policy_version = excluded.policy_version, scored_at = excluded.scored_at"""


@dataclass
class ScoreResult:
    scored: int
    policy_version: str
    seconds: float
    run_id: int | None = None


def score(session, policy: Policy, *, changed_only: bool = False) -> int:
    """Score releases inside the caller's transaction; returns how many."""
    params = policy.bind()
    n = session.execute(text(build_score_sql(policy, changed_only)), params).rowcount
    # clear the flag only on what this transaction scored (scored_at = now() is
    # the transaction's start time), not on releases a concurrent sync just touched
    session.execute(text(
        "UPDATE release r SET needs_score = false FROM risk_score s "
        "WHERE r.needs_score AND s.release_mbid = r.mbid AND s.scored_at = now()"
    ))
    return n


def run_score(db, policy: Policy, *, changed_only: bool = False) -> ScoreResult:
    """Score with a `sync_run` row (kind "score") recording the outcome."""
    started = dt.datetime.now(dt.timezone.utc)
    run = Run(db, "score", "changed" if changed_only else "all", policy.version,
              options={"policy": policy.source, "policy_version": policy.version})
    try:
        with db.session() as s, s.begin():
            s.execute(text("SELECT pg_advisory_xact_lock(hashtext('mbindex-score'))"))
            n = score(s, policy, changed_only=changed_only)
    except BaseException as exc:
        run.finish("failed", error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise
    run.counts.updated = n
    run.finish("ok")
    secs = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
    return ScoreResult(n, policy.version, secs, run.id)
