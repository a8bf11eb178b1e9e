"""Benchmark: memory of a dump import meeting a line with no end (issue 10).

    .venv/bin/python bench/bench_long_line.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
                                              [--line-mb 150] [--max-line-mb 64]

Imports, each into a fresh scratch database with the real `mbindex
import-dump` in a subprocess, and reads the peak RSS of that process tree
(RUSAGE_CHILDREN, as bench_dump.py does):

1. baseline: a plain `release.jsonl` of the real release documents of the
   test fixtures;
2. the same file followed by one line of --line-mb MB of NUL bytes and no
   line break (what `head -c 150M /dev/zero >> release.jsonl` makes; written
   sparse, so it costs no disk).

The second must quarantine the line by reference (exit 5) and need about the
same memory as the first: the ratio is printed.  Before the line cap, the
reader held the whole line, and its quarantine copy, in memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_dump import _MEASURE, conninfo, drop_db, fresh_db  # noqa: E402

RELEASES = HERE.parent / "tests" / "fixtures" / "ws2" / "release"


def write_dump(path: Path, line_mb: int) -> None:
    with open(path, "wb") as f:
        for doc in sorted(RELEASES.glob("*.json")):
            f.write(json.dumps(json.loads(doc.read_text(encoding="utf-8")), separators=(",", ":")).encode() + b"\n")
        if line_mb:
            f.truncate(f.tell() + (line_mb << 20))


def run_import(url: str, path: Path, max_line_mb: float) -> tuple[int, float, str]:
    exe = Path(sys.executable).with_name("mbindex")
    env = dict(os.environ, MBINDEX_DATABASE_URL=url, MBINDEX_MAX_LINE_MB=str(max_line_mb))
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(exe), "-q", "import-dump", str(path)], env=env,
                          capture_output=True, text=True, check=False)
    *summary, last = proc.stdout.strip().splitlines()
    code, peak_kb = (int(x) for x in last.split())
    return code, peak_kb / 1024, " ".join(summary) or proc.stderr.strip()


def kept_of_long_lines(url: str) -> list:
    """(length, bytes kept) of each quarantined line; before the line cap
    (no raw_length column) the whole line was kept: (None, bytes kept)."""
    with psycopg.connect(conninfo(url)) as c:
        try:
            return c.execute("SELECT raw_length, octet_length(raw) FROM quarantine").fetchall()
        except psycopg.errors.UndefinedColumn:
            c.rollback()
            return c.execute("SELECT NULL, octet_length(raw) FROM quarantine").fetchall()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default=os.environ.get("MBINDEX_BENCH_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--line-mb", type=int, default=150)
    ap.add_argument("--max-line-mb", type=float, default=64.0)
    args = ap.parse_args()
    peaks = {}
    with tempfile.TemporaryDirectory(prefix="mbxbench") as tmp:
        for label, line_mb in (("baseline", 0), ("long line", args.line_mb)):
            path = Path(tmp) / label.replace(" ", "_") / "release.jsonl"
            path.parent.mkdir()
            write_dump(path, line_mb)
            name = "mbx_bench_long_line"
            url = fresh_db(args.url, name)
            code, peak, summary = run_import(url, path, args.max_line_mb)
            quarantined = kept_of_long_lines(url)
            drop_db(args.url, name)
            peaks[label] = peak
            print(f"{label:10} +{line_mb:4d} MB line: exit {code}, peak RSS {peak:6.0f} MB, "
                  f"quarantined (length, bytes kept) {quarantined}  [{summary}]")
    print(f"ratio peak RSS long line / baseline: {peaks['long line'] / peaks['baseline']:.2f}x "
          f"(max_line_mb {args.max_line_mb:g}; target: flat, well under the line's {args.line_mb} MB)")


if __name__ == "__main__":
    main()
