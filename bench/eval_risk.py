"""Evaluation: does the at-risk score rank real releases the way an archivist would?

    .venv/bin/python bench/eval_risk.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
                                        [--policy FILE] [--db-name mbindex_eval_risk]

Stores the real documents of `tests/fixtures/eval/releases/` (138: the 48 of
`labels.tsv`, the 19 of the held-out set `heldout.tsv`, the 32 of the
second held-out set `heldout2.tsv` and the 39 of the third, `heldout3.tsv`,
from 5 recording sources of the shared corpus: lookups, search hits, browse and list items,
each as it came: see tests/fixtures/eval/SOURCES.md) in a scratch database
(`--db-name`, default `mbindex_eval_risk`; give another name to run beside
someone else), then runs `mbindex evaluate --labels FILE --policy FILE` on
five label files, each twice:

1. facts unknown: no upstream fact stored, the world signals not assessed;
2. facts known where a real recorded answer exists (`facts.json`: the
   editions of six release groups, four of which reach a stored release,
   and Bob Dylan's catalogue size; nothing of ListenBrainz), stored as
   `enrich` would.

The label files: `labels.tsv` (the set used while reviewing the policy),
`heldout.tsv` (labelled blind to the policy, before 2026.12-2 was written),
`heldout2.tsv` (labelled blind to the policy, with 2026.12-2 in place; the
three sets were then looked at to write 2026.12-3), `heldout3.tsv` (labelled
blind to the policy with 2026.12-3 committed, before it was scored on it),
and all four together (a temporary TSV, `mbindex evaluate --labels` taking
one file).  Each run prints `mbindex evaluate`'s table; a summary of AUC,
precision at k and the mean score per class for the ten runs ends the output.

The labels come from knowledge of the world, not from the documents' fields.
Nothing is fetched.  The scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
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
HELDOUT = EVAL / "heldout.tsv"
HELDOUT2 = EVAL / "heldout2.tsv"
HELDOUT3 = EVAL / "heldout3.tsv"
DB_NAME = "mbindex_eval_risk"
FIGURES = ("auc", "precision_at_k", "mean_score_at_risk", "mean_score_preserved")


def recorded_facts() -> list[Fact]:
    data = json.loads((EVAL / "facts.json").read_text(encoding="utf-8"))
    facts = [Fact("release-group", uuid.UUID(g), EDITIONS, n, f"recorded: {src.split(':')[0]}")
             for g, (n, src) in data["editions"].items()]
    facts += [Fact("artist", uuid.UUID(a), RELEASE_GROUPS, n, f"recorded: {src.split(':')[0]}")
              for a, (n, src) in data["artist_release_groups"].items()]
    return facts


def label_rows(path: Path) -> list[str]:
    """The data lines of a labels file: comments and the header left out."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[0].split("\t")[:2] == ["mbid", "label"], path
    return lines[1:]


def combined_labels(directory: Path, files: list[Path]) -> Path:
    """The label files as one (evaluate refuses a duplicate MBID)."""
    path = directory / "all.tsv"
    rows = [row for f in files for row in label_rows(f)]
    path.write_text(f"# {', '.join(f.name for f in files)} together (written by bench/eval_risk.py)\n"
                    "mbid\tlabel\treason\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def evaluate(url: str, labels: Path, policy: Path) -> tuple[dict, str]:
    """`mbindex evaluate` on the scratch database, as an archivist would run it:
    its figures (JSON) and its table."""
    res = CliRunner().invoke(cli, ["--database-url", url, "evaluate", "--labels", str(labels),
                                   "--policy", str(policy), "-o", "json"], catch_exceptions=False)
    if res.exit_code != 0:
        sys.exit(res.output)
    table = CliRunner().invoke(cli, ["--database-url", url, "evaluate", "--labels", str(labels),
                                     "--policy", str(policy)], catch_exceptions=False)
    return json.loads(res.output), table.output


def _fig(value) -> str:
    """A figure for the summary: 4 significant digits, "-" for none."""
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--policy", type=Path, default=risk.DEFAULT_POLICY)
    ap.add_argument("--db-name", default=DB_NAME, help=f"scratch database to create and drop (default {DB_NAME})")
    args = ap.parse_args()
    results: dict[tuple[str, str], tuple[dict, str]] = {}
    with tempfile.TemporaryDirectory() as tmp, scratch_database(args.url, args.db_name) as db:
        sets = {"labels.tsv": LABELS, "heldout.tsv": HELDOUT, "heldout2.tsv": HELDOUT2, "heldout3.tsv": HELDOUT3,
                "all": combined_labels(Path(tmp), [LABELS, HELDOUT, HELDOUT2, HELDOUT3])}
        for path in sorted((EVAL / "releases").glob("*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            with db.session() as s, s.begin():
                save_release_in(s, map_release(doc), doc)
        url = db.url  # a string
        for name, labels in sets.items():
            results[name, "unknown"] = evaluate(url, labels, args.policy)
        save_facts(db, recorded_facts(), None)
        for name, labels in sets.items():
            results[name, "known"] = evaluate(url, labels, args.policy)
    for name in sets:  # labels.tsv first, as before; then the held-out sets, then all four
        print(f"== {name}: facts unknown ==")
        print(results[name, "unknown"][1])
        print(f"== {name}: facts known where a real recorded answer exists ==")
        print(results[name, "known"][1])
    head = "".join(f"{name:>28}" for name in sets)
    print(f"{'':24}{head}")
    print(f"{'':24}" + f"{'facts unknown':>15}{'known':>13}" * len(sets))
    for key in FIGURES:
        cells = "".join(f"{_fig(results[n, 'unknown'][0][key]):>15}{_fig(results[n, 'known'][0][key]):>13}"
                        for n in sets)
        print(f"{key:24}{cells}")
    sizes = [(results[n, "unknown"][0]["at_risk"], results[n, "unknown"][0]["preserved"]) for n in sets]
    print(f"{'labelled (at risk/kept)':24}" + "".join(f"{f'{a} / {p}':>28}" for a, p in sizes))


if __name__ == "__main__":
    main()
