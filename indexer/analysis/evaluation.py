"""`mbindex evaluate`: how well a policy ranks an archivist's own labelled releases.

The labelled set is a TSV file with a header line naming the columns
`mbid`, `label` (at_risk | preserved) and optionally `reason`; `#` lines
and blank lines are skipped.  `read_labels` refuses a malformed file with
one `LabelsError` naming the line (exit 2).

`evaluate(db, labels, policy)` reads the labelled releases in the mirror in
one transaction: with a policy it scores them with it in the database
without writing anything (`risk.score_select_in`); without one it takes
their stored scores.  It makes no requests.  The metrics are pure functions
of (score, signals, label): AUC with ties counted half, precision at k, the
mean score of each class, and per signal how often it was assessed, how
often it fired in each class and its lift (the share of at-risk releases
among those it fired on, over the share in the whole set).
"""

from __future__ import annotations

import csv
import statistics
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from ..db import Database
from .risk import Policy, score_select_in

AT_RISK, PRESERVED = "at_risk", "preserved"
LABELS = (AT_RISK, PRESERVED)
MAX_LABELS = 100_000


class LabelsError(ValueError):
    """The labelled-set file is unusable (the message names the line)."""


@dataclass(frozen=True)
class Label:
    mbid: uuid.UUID
    at_risk: bool
    reason: str
    line: int


def _fail(path, line: int, message: str):
    raise LabelsError(f"labels {path} line {line}: {message}")


def _header(path, line: int, cells: list[str]) -> dict[str, int]:
    names = [c.strip().lower() for c in cells]
    if "mbid" not in names or "label" not in names:
        _fail(path, line, "the first line must be the header `mbid<TAB>label[<TAB>reason]`")
    unknown = [n for n in names if n not in ("mbid", "label", "reason")]
    if unknown:
        _fail(path, line, f"unknown column {unknown[0]!r} in the header (columns: mbid, label, reason)")
    return {n: i for i, n in enumerate(names)}


def parse_labels(lines: list[str], path) -> list[Label]:
    """The labels of a TSV text (split in lines); LabelsError names the first bad line."""
    columns: dict[str, int] | None = None
    out: list[Label] = []
    seen: dict[uuid.UUID, int] = {}
    for number, cells in enumerate(csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
        if not cells or not "".join(cells).strip() or cells[0].startswith("#"):
            continue
        if columns is None:
            columns = _header(path, number, cells)
            continue
        if len(cells) > len(columns):
            _fail(path, number, f"{len(cells)} columns where the header names {len(columns)}")
        get = lambda name: cells[columns[name]].strip() if name in columns and columns[name] < len(cells) else ""  # noqa: E731
        try:
            mbid = uuid.UUID(get("mbid"))
        except ValueError:
            _fail(path, number, f"{get('mbid')[:40]!r} is not an MBID (a UUID)")
        if get("mbid").lower() != str(mbid):
            _fail(path, number, f"{get('mbid')[:40]!r} is not an MBID in its usual form (8-4-4-4-12 hex digits)")
        label = get("label")
        if label not in LABELS:
            _fail(path, number, f"unknown label {label[:40]!r} (use {' or '.join(LABELS)})")
        if mbid in seen:
            _fail(path, number, f"duplicate MBID {mbid} (first on line {seen[mbid]})")
        seen[mbid] = number
        out.append(Label(mbid, label == AT_RISK, get("reason"), number))
        if len(out) > MAX_LABELS:
            _fail(path, number, f"more than {MAX_LABELS} labelled releases")
    if columns is None:
        _fail(path, 1, "no header line `mbid<TAB>label[<TAB>reason]`")
    return out


def read_labels(path: str | Path) -> list[Label]:
    """The labelled set in file `path`; LabelsError when unusable."""
    try:
        content = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabelsError(f"labels file not found: {path}") from None
    except (UnicodeDecodeError, OSError) as exc:
        raise LabelsError(f"labels {path} cannot be read as UTF-8 text: {exc}") from None
    return parse_labels(content.splitlines(), path)


# --- pure metrics ---------------------------------------------------------------


def auc(at_risk: list[float], preserved: list[float]) -> float | None:
    """P(an at-risk release outscores a preserved one), ties counted half; None without both classes."""
    if not at_risk or not preserved:
        return None
    wins = sum((a > p) + 0.5 * (a == p) for a in at_risk for p in preserved)
    return wins / (len(at_risk) * len(preserved))


def ranked(rows: list[dict]) -> list[dict]:
    """Most at risk first; ties in MBID order (a stable, documented order)."""
    return sorted(rows, key=lambda r: (-r["score"], str(r["mbid"])))


def precision_at(rows: list[dict], k: int) -> float | None:
    """The share of at-risk releases among the k highest scores."""
    top = ranked(rows)[:k]
    return sum(r["at_risk"] for r in top) / len(top) if top else None


def signal_stats(rows: list[dict], names: list[str]) -> list[dict]:
    """Per signal: releases where it was assessed, fired among at-risk and
    preserved ones, and lift (None when it never fired)."""
    base = sum(r["at_risk"] for r in rows) / len(rows) if rows else 0
    out = []
    for name in names:
        fired = [r for r in rows if name in r["signals"]]
        risky = sum(r["at_risk"] for r in fired)
        lift = (risky / len(fired)) / base if fired and base else None
        out.append({"signal": name, "assessed": sum(name not in r["not_assessed"] for r in rows),
                    "fired_at_risk": risky, "fired_preserved": len(fired) - risky,
                    "lift": round(lift, 2) if lift is not None else None})
    return out


def metrics(rows: list[dict], signal_names: list[str], k: int | None = None) -> dict:
    """Every figure of the evaluation of scored labelled rows ({mbid, at_risk, score, signals, not_assessed})."""
    risky = [r["score"] for r in rows if r["at_risk"]]
    kept = [r["score"] for r in rows if not r["at_risk"]]
    k = k or len(risky) or 1
    value = auc(risky, kept)
    return {
        "releases": len(rows), "at_risk": len(risky), "preserved": len(kept),
        "auc": round(value, 4) if value is not None else None,
        "k": k, "precision_at_k": precision_at(rows, k),
        "mean_score_at_risk": round(statistics.mean(risky), 2) if risky else None,
        "mean_score_preserved": round(statistics.mean(kept), 2) if kept else None,
        "signals": signal_stats(rows, signal_names),
    }


# --- the read ---------------------------------------------------------------------


_RELEASES_SQL = """
SELECT r.mbid, r.title, r.artist_credit, s.score, s.signals, s.not_assessed, s.policy_version
FROM release r LEFT JOIN risk_score s ON s.release_mbid = r.mbid
WHERE r.mbid = ANY(CAST(:m AS uuid[]))"""


def evaluate(db: Database, labels: list[Label], policy: Policy | None = None, *, k: int | None = None) -> dict:
    """The evaluation of `policy` (None: the stored scores) on the labelled
    releases in the mirror, read in one transaction, written nowhere."""
    mbids = [lab.mbid for lab in labels]
    with db.session() as s:
        found = {r.mbid: r for r in s.execute(text(_RELEASES_SQL), {"m": mbids})}
        computed = score_select_in(s, policy, list(found)) if policy is not None else None
    rows, unscored = [], []
    for lab in labels:
        rel = found.get(lab.mbid)
        if rel is None:
            continue
        sc = computed.get(lab.mbid) if computed is not None else (
            {"score": rel.score, "signals": rel.signals, "not_assessed": rel.not_assessed}
            if rel.score is not None else None)
        if sc is None:
            unscored.append(lab.mbid)
            continue
        rows.append({"mbid": lab.mbid, "label": AT_RISK if lab.at_risk else PRESERVED, "at_risk": lab.at_risk,
                     "score": sc["score"], "signals": list(sc["signals"]), "not_assessed": list(sc["not_assessed"]),
                     "title": rel.title, "artist": rel.artist_credit, "reason": lab.reason,
                     "policy_version": policy.version if policy is not None else rel.policy_version})
    names = list(policy.signals) if policy is not None else sorted(
        {n for r in rows for n in r["signals"] + r["not_assessed"]})
    missing = [lab.mbid for lab in labels if lab.mbid not in found]
    return {
        "policy": policy.version if policy is not None else "stored scores",
        **metrics(rows, [n for n in names if policy is None or policy.signals[n].weight > 0], k),
        "labelled": len(labels),
        "releases_scored": ranked(rows),
        "missing": {"count": len(missing), "mbids": missing},
        "unscored": {"count": len(unscored), "mbids": unscored},
    }


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def format_evaluation(ev: dict) -> str:
    """The human view of `evaluate()`."""
    lines = [f"Policy {ev['policy']}: {ev['releases']} labelled release(s) scored "
             f"({ev['at_risk']} at risk, {ev['preserved']} preserved) of {ev['labelled']} labelled",
             f"  AUC (ties half)        {_pct(ev['auc'])}",
             f"  precision at {ev['k']:<9} {_pct(ev['precision_at_k'])}",
             f"  mean score at risk     {_pct(ev['mean_score_at_risk'])}",
             f"  mean score preserved   {_pct(ev['mean_score_preserved'])}",
             "", f"{'signal':22} {'assessed':>8} {'fired at risk':>13} {'fired preserved':>15} {'lift':>5}"]
    for sg in ev["signals"]:
        lines.append(f"{sg['signal']:22} {sg['assessed']:>8} {sg['fired_at_risk']:>13} {sg['fired_preserved']:>15} "
                     f"{_pct(sg['lift']):>5}")
    lines += ["", f"{'score':>5}  {'label':9} {'mbid':36}  title / signals"]
    for r in ev["releases_scored"]:
        lines.append(f"{r['score']:>5}  {r['label']:9} {r['mbid']}  {(r['title'] or '')[:50]}")
        lines.append(f"{'':53}{', '.join(r['signals']) or '-'}"
                     + (f"  (not assessed: {', '.join(r['not_assessed'])})" if r["not_assessed"] else ""))
    lines.append("")
    lines.append(f"Missing from the mirror: {ev['missing']['count']}")
    lines += [f"  {m}" for m in ev["missing"]["mbids"]]
    if ev["unscored"]["count"]:
        lines.append(f"In the mirror but not scored yet (run `mbindex score`, or give --policy): "
                     f"{ev['unscored']['count']}")
        lines += [f"  {m}" for m in ev["unscored"]["mbids"]]
    return "\n".join(lines)
