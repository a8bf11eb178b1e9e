"""Benchmark: `mbindex package` and `export -o marc` stream, so memory stays flat.

    .venv/bin/python bench/bench_package.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
                                            [--small 5000] [--releases 20000]

1. Imports generated release dumps of --small and --releases releases
   (bench/make_dump.py, reused from bench/out/ when there) into two scratch
   databases with the real `mbindex import-dump`, then `mbindex score`.
2. In each, runs the real commands in a subprocess and reads the peak RSS of
   the process from RUSAGE_CHILDREN: `package --curation open --to DIR`
   (every scored release), `export -o marc` and `export -o marcxml`.
3. Baseline, same run: `export -o csv` of the same selection, which builds
   the whole worklist in memory.  Printed: seconds, releases/s and peak RSS
   per command and size, the RSS ratio large/small (1.0 = flat) and each
   command's time per release over the CSV export's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_dump import drop_db, fresh_db, make

_MEASURE = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
            "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
EXE = Path(sys.executable).with_name("mbindex")


def measured(url: str, *args: str) -> tuple[float, float]:
    """Run `mbindex -q ARGS` against `url`; (seconds, peak RSS in MB)."""
    env = dict(os.environ, MBINDEX_DATABASE_URL=url, MBINDEX_SOURCE_ORGANIZATION="bench")
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(EXE), "-q", *args], env=env, check=True,
                         stdout=subprocess.PIPE, text=True).stdout.split()
    seconds = time.perf_counter() - t
    if out[0] != "0":
        raise SystemExit(f"mbindex {' '.join(args)} exited with {out[0]}")
    return seconds, int(out[1]) / 1024


def run_size(admin_url: str, n: int, work: Path) -> dict[str, tuple[float, float]]:
    dump = HERE / "out" / f"release-{n}.tar.xz"
    make(dump, n)
    name = f"mbx_bench_package_{n}"
    url = fresh_db(admin_url, name)
    try:
        measured(url, "import-dump", str(dump))
        measured(url, "score")
        results = {
            "export -o csv (baseline)": measured(url, "export", "-o", "csv", "--curation", "open",
                                                 "--to", str(work / f"{n}.csv")),
            "package": measured(url, "package", "--curation", "open", "--to", str(work / f"bag-{n}")),
            "export -o marc": measured(url, "export", "-o", "marc", "--curation", "open",
                                       "--to", str(work / f"{n}.mrc")),
            "export -o marcxml": measured(url, "export", "-o", "marcxml", "--curation", "open",
                                          "--to", str(work / f"{n}.xml")),
        }
        measured(url, "package", "--validate", str(work / f"bag-{n}"))
        shutil.rmtree(work / f"bag-{n}")
        return results
    finally:
        drop_db(admin_url, name)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--small", type=int, default=5000)
    ap.add_argument("--releases", type=int, default=20000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mbx-bench-package-") as tmp:
        small = run_size(args.url, args.small, Path(tmp))
        large = run_size(args.url, args.releases, Path(tmp))
    base_small, base_large = small["export -o csv (baseline)"], large["export -o csv (baseline)"]
    print(f"{'command':26} {'n':>7} {'seconds':>8} {'rel/s':>7} {'peak RSS MB':>11} {'RSS large/small':>15} "
          f"{'time/csv':>8}")
    for what in small:
        for n, (seconds, rss), base in ((args.small, small[what], base_small), (args.releases, large[what], base_large)):
            ratio = f"{large[what][1] / small[what][1]:.2f}" if n == args.releases else ""
            print(f"{what:26} {n:>7} {seconds:>8.1f} {n / seconds:>7.0f} {rss:>11.0f} {ratio:>15} "
                  f"{seconds / base[0]:>8.1f}")


if __name__ == "__main__":
    main()
