"""Evaluation: does the at-risk score rank real releases the way an archivist would?

    .venv/bin/python bench/eval_risk.py [--url postgresql://postgres@127.0.0.1:5432/postgres] [--policy FILE]

Stores the 48 real documents of `tests/fixtures/eval/releases/` (5 recording
sources of the shared corpus: lookups, search hits, browse and list items,
each as it came: see tests/fixtures/eval/SOURCES.md) in a scratch database
`mbindex_eval_risk`, then runs `mbindex evaluate --labels
tests/fixtures/eval/labels.tsv --policy FILE` twice:

1. facts unknown: no upstream fact stored, the world signals not assessed;
2. facts known where a real recorded answer exists (`facts.json`: the
   editions of three release groups, Bob Dylan's catalogue size; nothing of
   ListenBrainz), stored as `enrich` would.

The labels come from knowledge of the world, not from the documents' fields.
Nothing is fetched.  The scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scratch import scratch_database  # noqa: E402

from indexer.analysis import risk  # noqa: E402
from indexer.cli import cli  # noqa: E402
from indexer.mapping import map_release  # noqa: E402
from indexer.store import save_release_in  # noqa: E402
from indexer.store.facts import EDITIONS, RELEASE_GROUPS, Fact, save_facts  # noqa: E402

EVAL = ROOT / "tests" / "fixtures" / "eval"
LABELS = EVAL / "labels.tsv"
DB_NAME = "mbindex_eval_risk"


def recorded_facts() -> list[Fact]:
    data = json.loads((EVAL / "facts.json").read_text(encoding="utf-8"))
    facts = [Fact("release-group", uuid.UUID(g), EDITIONS, n, f"recorded: {src.split(':')[0]}")
             for g, (n, src) in data["editions"].items()]
    facts += [Fact("artist", uuid.UUID(a), RELEASE_GROUPS, n, f"recorded: {src.split(':')[0]}")
              for a, (n, src) in data["artist_release_groups"].items()]
    return facts


def evaluate(url: str, policy: Path) -> dict:
    """`mbindex evaluate` on the scratch database, as an archivist would run it."""
    res = CliRunner().invoke(cli, ["--database-url", url, "evaluate", "--labels", str(LABELS),
                                   "--policy", str(policy), "-o", "json"], catch_exceptions=False)
    if res.exit_code != 0:
        sys.exit(res.output)
    table = CliRunner().invoke(cli, ["--database-url", url, "evaluate", "--labels", str(LABELS),
                                     "--policy", str(policy)], catch_exceptions=False)
    print(table.output)
    return json.loads(res.output)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--policy", type=Path, default=risk.DEFAULT_POLICY)
    args = ap.parse_args()
    with scratch_database(args.url, DB_NAME) as db:
        for path in sorted((EVAL / "releases").glob("*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            with db.session() as s, s.begin():
                save_release_in(s, map_release(doc), doc)
        url = db.url  # a string
        print("== facts unknown ==")
        unknown = evaluate(url, args.policy)
        save_facts(db, recorded_facts(), None)
        print("== facts known where a real recorded answer exists ==")
        known = evaluate(url, args.policy)
    print(f"{'':36}{'facts unknown':>14} {'facts known':>12}")
    for key in ("auc", "precision_at_k", "mean_score_at_risk", "mean_score_preserved"):
        print(f"{key:36}{unknown[key]!s:>14} {known[key]!s:>12}")


if __name__ == "__main__":
    main()
