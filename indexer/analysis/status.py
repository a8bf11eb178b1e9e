"""How fresh and whole the mirror is: `mbindex status`, the web overview's
freshness block, and the "not scored yet" notice of the worklist.

Read-only.  Each verb takes the `Database` and opens its own session; the
front ends call them and render the plain dicts they return.

Freshness is measured from the `sync_run` rows of kind `update` (the
scheduled job, `sync.update`) and from the watchlist: a watched scope's
`last_synced_at` is set only when a walk reached its end, so it is the time
of its last complete walk; a cut walk resumes at the checkpoint of its last
run (`store.watchlist.RESUME_SQL`).
"""

from __future__ import annotations

import datetime as dt
import getpass

from sqlalchemy import text

from ..clock import now
from ..db import Database
from ..db.database import SYNC_LOCK
from ..runs import INTERRUPTED, KILLED
from ..store.facts import EDITIONS, LISTENS, due_artists, due_groups
from ..store.watchlist import RESUME_SQL

#: the statuses of an update run that --check calls a failure (partial: the
#: budget was used up, the next run continues; that is a normal night)
FAILED_STATUSES = ("failed", INTERRUPTED)

#: a release is stored `needs_score` and only a scoring that writes its
#: risk_score row clears the flag, so every unscored release has it: the
#: count walks the partial index of flagged releases, not the whole mirror
#: (the web worklist asks on every page)
_SCORE_COUNTS_SQL = """
SELECT count(*) FILTER (WHERE s.release_mbid IS NULL) AS unscored,
       count(*) FILTER (WHERE s.release_mbid IS NOT NULL) AS changed
FROM release r LEFT JOIN risk_score s ON s.release_mbid = r.mbid
WHERE r.needs_score"""

_LAST_UPDATE_SQL = """
SELECT id, status, started_at, finished_at, error, options, quarantined,
       (SELECT max(u.finished_at) FROM sync_run u WHERE u.kind = 'update' AND u.status IN ('ok', 'partial'))
           AS last_complete
FROM sync_run WHERE kind = 'update' ORDER BY id DESC LIMIT 1"""

#: whether some session holds the writer lock (a bigint advisory lock shows in
#: pg_locks as its high and low 32 bits): a read, never a try that could make
#: a starting writer think another one runs
_WRITER_ALIVE_SQL = """
SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND granted
                 AND classid::text::bigint = :hi AND objid::text::bigint = :lo)"""

#: each watched scope, with where its walk resumes (`watchlist.RESUME_SQL`)
_SCOPES_SQL = f"""
SELECT w.scope, w.target, w.last_synced_at, w.last_run_id, r.status AS last_status, r.error AS last_error,
       {RESUME_SQL} AS resume
FROM watch w LEFT JOIN sync_run r ON r.id = w.last_run_id
ORDER BY w.id"""


def score_counts(db: Database) -> dict[str, int]:
    """Stored releases the worklist cannot show truly: `unscored` have no
    score at all (left out of the worklist), `changed` changed (or their
    facts did) since they were scored (shown with their old score)."""
    with db.session() as s:
        row = s.execute(text(_SCORE_COUNTS_SQL)).one()
    return {"unscored": row.unscored, "changed": row.changed}


def scored_with_other_policy(db: Database, policy_version: str) -> int:
    """How many stored scores were computed with another policy version."""
    with db.session() as s:
        return s.execute(text("SELECT count(*) FROM risk_score WHERE policy_version <> :v"),
                         {"v": policy_version}).scalar_one()


def score_notice(counts: dict[str, int]) -> str | None:
    """The one line the worklist (flagged, export, web) shows when it cannot
    be whole, or None when every stored release is scored and current."""
    parts = []
    if counts["unscored"]:
        parts.append(f"{counts['unscored']} stored release(s) are not scored yet and not listed")
    if counts["changed"]:
        parts.append(f"{counts['changed']} changed since they were scored and show their old score")
    if not parts:
        return None
    return "; ".join(parts) + ": run `mbindex update` or `mbindex score --changed`"


def database_info(db: Database) -> dict:
    """Which database this process uses and where it lives (the embedded
    server's data directory, which is per user unless data_dir is shared)."""
    embedded = db.embedded
    return {
        "url": db.display_url,
        "embedded": embedded is not None,
        "data_dir": str(embedded.data_dir) if embedded is not None else None,
        "os_user": _os_user(),
    }


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid without a passwd entry (containers)
        return "?"


def status(db: Database, *, policy_version: str, facts_max_age: dt.timedelta) -> dict:
    """Everything `mbindex status` shows, as plain data (see the module doc)."""
    with db.session() as s:
        last = s.execute(text(_LAST_UPDATE_SQL)).first()
        alive = s.execute(text(_WRITER_ALIVE_SQL), {"hi": SYNC_LOCK >> 32, "lo": SYNC_LOCK & 0xFFFFFFFF}).scalar_one()
        scopes = [dict(r._mapping) for r in s.execute(text(_SCOPES_SQL))]
        quarantined = s.execute(text("SELECT count(*) FROM quarantine")).scalar_one()
        releases = s.execute(text("SELECT count(*) FILTER (WHERE deleted_at IS NULL) AS live, count(*) AS stored "
                                  "FROM release")).one()
    return {
        "database": database_info(db),
        "last_update": _last_update(last, writer_alive=alive),
        "scopes": [_scope(w) for w in scopes],
        "releases": {"stored": releases.stored, "live": releases.live, **score_counts(db),
                     "other_policy": scored_with_other_policy(db, policy_version),
                     "policy_version": policy_version},
        "facts_due": {"editions": len(due_groups(db, EDITIONS, facts_max_age)),
                      "artist_catalogues": len(due_artists(db, facts_max_age)),
                      "popularity": len(due_groups(db, LISTENS, facts_max_age))},
        "quarantined": quarantined,
    }


def _last_update(row, *, writer_alive: bool) -> dict | None:
    """The last update run; one still `running` while nobody holds the writer
    lock was killed (kill -9, a reboot, a unit's timeout): it is shown
    `interrupted`, as the next writer will record it (nothing is written here)."""
    if row is None:
        return None
    status, error = row.status, row.error
    if status == "running" and not writer_alive:
        status, error = INTERRUPTED, f"{KILLED}; the next run records it"
    return {"run": row.id, "status": status, "started": row.started_at, "finished": row.finished_at,
            "error": error, "quarantined": row.quarantined,
            "children": (row.options or {}).get("children", []), "last_complete": row.last_complete}


def _scope(w: dict) -> dict:
    return {"scope": w["scope"], "target": w["target"], "last_complete_walk": w["last_synced_at"],
            "resume_at": (w["resume"] or {}).get("offset"), "last_run": w["last_run_id"],
            "last_status": w["last_status"],
            "last_error": w["last_error"] if w["last_status"] != "ok" else None}


def problems(info: dict, max_age: dt.timedelta) -> list[str]:
    """What `status --check` reports: no update yet, the last update failed,
    or an update or a watched scope's complete walk older than max_age."""
    out = []
    when = now()
    last = info["last_update"]
    if last is None:
        out.append("no `mbindex update` has run on this database")
    else:
        if last["status"] in FAILED_STATUSES:
            out.append(f"the last update (run {last['run']}) {last['status']}: {last['error'] or 'no reason recorded'}")
        if last["last_complete"] is None or when - last["last_complete"] > max_age:
            out.append(f"no update finished within {_age(max_age)}")
    for w in info["scopes"]:
        walked = w["last_complete_walk"]
        if walked is None or when - walked > max_age:
            seen = f"last complete walk {_age(when - walked)} ago" if walked else "never walked whole"
            out.append(f"{w['scope']} {w['target']}: {seen}")
    return out


def _age(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f}h" if hours < 72 else f"{hours / 24:.0f}d"
