"""Evaluation: does the at-risk score rank real releases the way an archivist would?

    .venv/bin/python bench/eval_risk.py [--url postgresql://postgres@127.0.0.1:5432/postgres]

Scores the labelled set `tests/fixtures/eval/labels.tsv` (real ws/2 documents:
the release lookups of tests/fixtures/ws2/release/ and the hits of the real
release search tests/fixtures/ws2/search/musicbrainzws2_java_release_limit100.json;
each labelled "well preserved" or "at risk" with a one-line reason judged from
the document, not from the score) with the shipped policy, and with the same
policy without its [context] table (barcode and catalogue-number signals at
full weight whatever the format and era) as the baseline measured in the same
run.  Upstream facts: those of tests/fixtures/facts/upstream.json (see its
SOURCES.md entry: recorded, borrowed and hand-written), loaded as `enrich`
would store them; every other fact is unknown, so those signals stay silent.

Prints the ranking, the share of "at risk" releases in the top half, the mean
score of each class and the probability that an at-risk release outscores a
well-preserved one (ties count half).  Creates and drops a scratch database
`mbindex_eval_risk` on the server.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import uuid
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scratch import scratch_database  # noqa: E402

from indexer.analysis import risk  # noqa: E402
from indexer.db import Database  # noqa: E402
from indexer.mapping import map_release  # noqa: E402
from indexer.store import save_release_in  # noqa: E402
from indexer.store.facts import EDITIONS, LISTENERS, LISTENS, RELEASE_GROUPS, Fact, save_facts  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
LABELS = FIXTURES / "eval" / "labels.tsv"
SEARCH = FIXTURES / "ws2" / "search" / "musicbrainzws2_java_release_limit100.json"
FACTS = FIXTURES / "facts" / "upstream.json"
AT_RISK = "at risk"
DB_NAME = "mbindex_eval_risk"


def load_labels() -> list[tuple[str, str, str]]:
    rows = []
    for line in LABELS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            mbid, label, reason = line.split("\t")
            rows.append((mbid, label, reason))
    return rows


def documents(mbids: list[str]) -> dict[str, dict]:
    """Each labelled release's real document: its lookup if recorded, else its search hit."""
    hits = {r["id"]: r for r in json.loads(SEARCH.read_text(encoding="utf-8"))["releases"]}
    out = {}
    for mbid in mbids:
        lookup = FIXTURES / "ws2" / "release" / f"{mbid}.json"
        out[mbid] = json.loads(lookup.read_text(encoding="utf-8")) if lookup.exists() else hits[mbid]
    return out


def fixture_facts() -> list[Fact]:
    data = json.loads(FACTS.read_text(encoding="utf-8"))
    facts = [Fact("release-group", uuid.UUID(g), EDITIONS, n, "fixture") for g, n in data["editions"].items()]
    facts += [Fact("artist", uuid.UUID(a), RELEASE_GROUPS, n, "fixture")
              for a, n in data["artist_release_groups"].items()]
    for g, (listens, listeners) in data["popularity"].items():
        facts += [Fact("release-group", uuid.UUID(g), LISTENS, listens, "fixture"),
                  Fact("release-group", uuid.UUID(g), LISTENERS, listeners, "fixture")]
    return facts


def neutral_context(policy: risk.Policy) -> risk.Policy:
    """The same policy with every context factor 1: the baseline."""
    return dataclasses.replace(policy, version=policy.version + "-nocontext",
                               context={k: d for k, (_t, d) in risk.CONTEXT_PARAMS.items()})


def scores(db: Database, policy: risk.Policy) -> dict[str, tuple[int, list[str]]]:
    with db.session() as s, s.begin():
        risk.score_in(s, policy)
    with db.session() as s:
        return {str(r.release_mbid): (r.score, r.signals)
                for r in s.execute(text("SELECT release_mbid, score, signals FROM risk_score"))}


def metrics(labels, result) -> dict:
    ranked = sorted(labels, key=lambda x: (-result[x[0]][0], x[0]))
    half = len(ranked) // 2
    at_risk = [result[m][0] for m, lab, _ in labels if lab == AT_RISK]
    kept = [result[m][0] for m, lab, _ in labels if lab != AT_RISK]
    pairs = [(a > k) + 0.5 * (a == k) for a in at_risk for k in kept]
    return {
        "ranked": ranked,
        "top_half_at_risk": sum(1 for _m, lab, _r in ranked[:half] if lab == AT_RISK) / half,
        "mean_at_risk": statistics.mean(at_risk),
        "mean_kept": statistics.mean(kept),
        "auc": sum(pairs) / len(pairs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    with scratch_database(args.url, DB_NAME) as db:
        labels = load_labels()
        docs = documents([m for m, _l, _r in labels])
        for doc in docs.values():
            with db.session() as s, s.begin():
                save_release_in(s, map_release(doc), doc)
        save_facts(db, fixture_facts(), None)
        policy = risk.load_policy()
        report(labels, docs, policy, scores(db, policy), scores(db, neutral_context(policy)))


def report(labels, docs, policy, with_ctx, baseline) -> None:
    m, b = metrics(labels, with_ctx), metrics(labels, baseline)
    n_risk = sum(1 for _m, lab, _r in labels if lab == AT_RISK)
    print(f"{len(labels)} real releases ({n_risk} at risk, {len(labels) - n_risk} well preserved), "
          f"policy {policy.version}\n")
    print(f"{'#':>2} {'score':>5} {'base':>4}  {'label':14} {'release':44} signals")
    for i, (mbid, label, reason) in enumerate(m["ranked"], 1):
        title = docs[mbid]["title"][:35]
        print(f"{i:>2} {with_ctx[mbid][0]:>5} {baseline[mbid][0]:>4}  {label:14} {mbid[:8]} {title:35} "
              f"{','.join(with_ctx[mbid][1])}")
        print(f"{'':24}{reason}")
    print()
    print(f"{'':32}{'policy':>10} {'no context':>11}")
    print(f"{'at risk in the top half':32}{m['top_half_at_risk']:>10.0%} {b['top_half_at_risk']:>11.0%}")
    print(f"{'mean score, at risk':32}{m['mean_at_risk']:>10.1f} {b['mean_at_risk']:>11.1f}")
    print(f"{'mean score, well preserved':32}{m['mean_kept']:>10.1f} {b['mean_kept']:>11.1f}")
    print(f"{'P(at risk outscores preserved)':32}{m['auc']:>10.2f} {b['auc']:>11.2f}")
    print(f"{'gap of the means (ratio)':32}{m['mean_at_risk'] - m['mean_kept']:>10.1f} "
          f"{b['mean_at_risk'] - b['mean_kept']:>11.1f}  "
          f"({(m['mean_at_risk'] - m['mean_kept']) / max(0.1, b['mean_at_risk'] - b['mean_kept']):.2f}x)")


if __name__ == "__main__":
    main()
