"""Benchmark: import a generated release dump, against a raw COPY of the same rows.

    .venv/bin/python bench/bench_dump.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
                                         [--releases 100000] [--small 20000] [--batch 1000]

    .venv/bin/python bench/bench_dump.py --embedded /tmp/mbxbench-pg    # on the zero-config default

1. Generates `release.tar.xz` dumps of --small and --releases releases from the
   real corpus documents (bench/make_dump.py), unless they already exist in bench/out/.
2. Imports each with the real `mbindex import-dump` in a subprocess into a fresh
   scratch database, and reads the peak RSS of that process tree (the loader,
   the reader process and xz) from RUSAGE_CHILDREN: the small and the large
   dump should need the same memory.  Its checkpoint, polled every half
   second, gives the rate over each tenth of the dump: it should stay flat
   as the mirror grows.
3. Baseline, same run: COPY every row the large import stored (documents,
   revisions, releases, media, tracks, labels, credits, links, tags) out, then
   raw `COPY FROM` into an empty migrated database with the same indexes; the
   ratio import time / COPY time is the importer's overhead over the fastest
   possible load.

    .venv/bin/python bench/bench_dump.py --refresh [--small 20000] [--releases 100000]

The refresh (issue 21): for each size, into a fresh scratch database, the first
import, then the same dump again (`--again`: every line unchanged), then the
next dump (`make_dump.iter_refreshed_lines`: 1% of the lines edited, 0.1%
removed, 0.1% added, dated 2030 so `--force` lets it tombstone), each with its
peak RSS; baselines measured in the same run: the first import, and
`xz -dc FILE > /dev/null` on the same file.  The unchanged refresh runs
--repeat times (3), each right after an `xz -dc` of the file; both are
reported best to best and median to median (the same treatment for both
sides: on a shared machine a single run of either can take a third
longer).  The generated dumps are written by `xz -T0`, in blocks that
liblzma decodes in worker threads (`indexer/sources/liblzma.py`), so the
run also gives the ratio against `xz -T0 -dc` (xz's own multithreaded
decoding), and, at --releases, the unchanged refresh of the same archive
recompressed as one block (plain single-threaded `xz`, decoded in one
thread) against `xz -dc` of that file.  Targets: unchanged refresh >= 5x
faster than the first import and within 1.5x of xz -dc; changed refresh >= 4x
faster than the first import; peak RSS flat from --small to --releases.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import make_dump  # noqa: E402

from indexer.db import Database, EmbeddedPostgres, normalise_url  # noqa: E402

TABLES = ["document_revision", "document", "artist", "label", "recording", "release_group", "release", "medium",
          "track", "release_label", "artist_credit", "url_relation", "tag"]


def conninfo(url: str) -> str:
    return make_url(normalise_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


def fresh_db(admin_url: str, name: str) -> str:
    with psycopg.connect(conninfo(admin_url), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    url = make_url(normalise_url(admin_url)).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    db.upgrade("head")
    db.dispose()
    return url


def drop_db(admin_url: str, name: str) -> None:
    with psycopg.connect(conninfo(admin_url), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make(path: Path, n: int, **next_dump) -> None:
    """The dump of n releases (seed 1); with `refresh`/`timestamp`: the next one."""
    if path.exists():
        print(f"using existing {path} ({path.stat().st_size / 1e6:.1f} MB)")
        return
    t = time.perf_counter()
    make_dump.write_dump(str(path), n, seed=1, **next_dump)
    print(f"generated {path.name}: {n} releases, {path.stat().st_size / 1e6:.1f} MB xz, "
          f"{time.perf_counter() - t:.1f}s")


_MEASURE = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
            "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def run_import(url: str, path: Path, batch: int, *extra: str) -> tuple[float, float, str, list[tuple[float, int]]]:
    """Seconds and peak RSS (MB) of `mbindex import-dump`, measured by a fresh
    parent process whose only descendants are the import's (loader, reader, xz);
    plus (seconds, lines loaded) read off its checkpoint every half second."""
    exe = Path(sys.executable).with_name("mbindex")
    env = dict(os.environ, MBINDEX_DATABASE_URL=url)
    samples: list[tuple[float, int]] = []
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _MEASURE, str(exe), "-q", "import-dump", "--batch", str(batch),
                             *extra, str(path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with psycopg.connect(conninfo(url), autocommit=True) as watch:
        while True:
            try:  # the time is taken when the import ends, not at the next half-second poll
                out, err = proc.communicate(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                done = watch.execute("SELECT coalesce(max(lines_done), 0) FROM dump_import").fetchone()[0]
                samples.append((time.perf_counter() - t, done))
    seconds = time.perf_counter() - t
    *summary, last = out.strip().splitlines()
    code, peak_kb = (int(x) for x in last.split())
    if code not in (0, 5):
        sys.exit(f"import failed ({code}): {err}")
    return seconds, peak_kb / 1024, " ".join(summary), samples


def rate_by_tenth(samples: list[tuple[float, int]], total: int) -> list[float]:
    """Releases/s over each tenth of the dump, from the checkpoint samples: flat
    means per-batch work does not grow with the mirror."""
    rates = []
    for k in range(10):
        lo, hi = total * k / 10, total * (k + 1) / 10
        first = next(((t, n) for t, n in samples if n >= lo), None)
        last = next(((t, n) for t, n in samples if n >= hi), None)
        if first is None or last is None or last[0] <= first[0]:
            rates.append(float("nan"))
        else:
            rates.append((last[1] - first[1]) / (last[0] - first[0]))
    return rates


def raw_copy(src_url: str, admin_url: str, name: str) -> tuple[float, int]:
    """COPY the stored rows out, then time COPY FROM into an empty migrated database."""
    dst_url = fresh_db(admin_url, name)
    rows = 0
    with tempfile.TemporaryDirectory(prefix="mbxbench") as tmp:
        with psycopg.connect(conninfo(src_url)) as src:
            for table in TABLES:
                with open(Path(tmp) / table, "wb") as f, src.cursor().copy(f"COPY {table} TO STDOUT") as cp:
                    for chunk in cp:
                        f.write(chunk)
            rows = sum(src.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES)
        with psycopg.connect(conninfo(dst_url)) as dst:
            t = time.perf_counter()
            for table in TABLES:
                with open(Path(tmp) / table, "rb") as f, dst.cursor().copy(f"COPY {table} FROM STDIN") as cp:
                    while chunk := f.read(1 << 20):
                        cp.write(chunk)
            dst.commit()
            seconds = time.perf_counter() - t
    drop_db(admin_url, name)
    return seconds, rows


def xz_seconds(path: Path, runs: int = 3, threads: str = "1") -> float:
    """`xz -dc FILE > /dev/null` (`-T1`, xz 5.4's default for decompressing,
    made explicit: xz 5.6 decompresses with every core by default): the
    floor of any import of the file; the best of `runs` (on a shared machine
    one run can take a third longer, which would flatter every ratio against
    it).  threads="0": xz's own multithreaded decoding, for a multi-block file."""
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        with open(os.devnull, "wb") as null:
            subprocess.run(["xz", f"-T{threads}", "-dc", str(path)], stdout=null, check=True)
        best = min(best, time.perf_counter() - t)
    return best


def xz_blocks(path: Path) -> int:
    """How many xz blocks the file holds (`xz -l`): more than one, and
    liblzma decodes them in worker threads (`indexer/sources/liblzma.py`)."""
    listed = subprocess.run(["xz", "-l", "--robot", str(path)], capture_output=True, text=True, check=True).stdout
    return int(next(ln for ln in listed.splitlines() if ln.startswith("totals")).split("\t")[2])


def single_block(path: Path) -> Path:
    """The same archive recompressed by single-threaded xz: one block, as a
    dump written by plain `xz` is, which liblzma cannot decode in threads."""
    one = path.with_name(path.name.replace(".tar.xz", "-1block.tar.xz"))
    if not one.exists():
        t = time.perf_counter()
        with open(one.with_suffix(".tmp"), "wb") as sink:
            xz = subprocess.Popen(["xz", "-dc", str(path)], stdout=subprocess.PIPE)
            subprocess.run(["xz", "-T1", f"-{make_dump.DEFAULT_XZ_PRESET}", "-c"], stdin=xz.stdout, stdout=sink,
                           check=True)
            xz.wait()
        one.with_suffix(".tmp").rename(one)
        print(f"recompressed {one.name} as one block: {time.perf_counter() - t:.1f}s")
    return one


def unchanged_runs(url: str, path: Path, args, n: int, label: str) -> tuple[list[float], list[float], list[float]]:
    """args.repeat unchanged refreshes of `path`, each right after an `xz -dc`
    of it: (refresh seconds, xz seconds, peak RSS)."""
    same, xzs, peaks = [], [], []
    for _ in range(args.repeat):
        xzs.append(xz_seconds(path, runs=1))
        seconds, peak, summary, _ = run_import(url, path, args.batch, "--again")
        same.append(seconds)
        peaks.append(peak)
        print(f"{n:>8} {label}: {seconds:7.1f}s  {n / seconds:8.0f} lines/s  peak RSS {peak:5.0f} MB  [{summary}]  "
              f"(xz -dc just before: {xzs[-1]:.1f}s)")
    return same, xzs, peaks


def refresh(args) -> None:
    """First import, unchanged refresh, changed refresh, at two sizes (see the module docstring)."""
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    peaks: dict[str, list[float]] = {"first": [], "same": [], "next": []}
    for n in (args.small, args.releases):
        path, nxt = out / f"release-{n}.tar.xz", out / f"release-{n}-next.tar.xz"
        make(path, n)
        make(nxt, n, timestamp="2030-01-01 00:00:00.000000+00", refresh={})
        name = f"mbindex_bench_refresh_{n}"
        url = fresh_db(args.url, name)
        took: dict[str, float] = {}
        seconds, peak, summary, _ = run_import(url, path, args.batch)
        took["first"] = seconds
        peaks["first"].append(peak)
        print(f"{n:>8} first: {seconds:7.1f}s  {n / seconds:8.0f} lines/s  peak RSS {peak:5.0f} MB  [{summary}]")
        # the unchanged refresh and its baseline, taken in turns (each the best of
        # args.repeat): the machine is shared, and a baseline measured at a quiet
        # moment against a refresh measured at a busy one (or the reverse) says
        # more about the neighbours than about the refresh
        same, xzs, same_peaks = unchanged_runs(url, path, args, n, " same")
        took["same"], xz = min(same), min(xzs)
        one_block = None  # (refresh seconds, xz seconds) of the archive recompressed as one block
        if n == args.releases and args.single_block:  # before the next dump changes the mirror: still unchanged
            one_block = unchanged_runs(url, single_block(path), args, n, "1blk")[:2]
        peaks["same"].append(max(same_peaks))
        seconds, peak, summary, _ = run_import(url, nxt, args.batch, "--force")
        took["next"] = seconds
        peaks["next"].append(peak)
        print(f"{n:>8}  next: {seconds:7.1f}s  {n / seconds:8.0f} lines/s  peak RSS {peak:5.0f} MB  [{summary}]")
        xz_next = xz_seconds(nxt)
        print(f"{n:>8} xz -dc: best {xz:.1f}s of {args.repeat}, median {statistics.median(xzs):.1f}s "
              f"(next dump {xz_next:.1f}s, best of 3)")
        print(f"{n:>8} unchanged refresh (best {took['same']:.1f}s, median {statistics.median(same):.1f}s of "
              f"{args.repeat}): {took['first'] / took['same']:.1f}x faster than the first import (target >= 5x), "
              f"{took['same'] / xz:.2f}x xz -dc best to best, {statistics.median(same) / statistics.median(xzs):.2f}x "
              f"median to median (target <= 1.5x); changed refresh: "
              f"{took['first'] / took['next']:.1f}x faster (target >= 4x), {took['next'] / xz_next:.2f}x xz -dc")
        xz_mt = xz_seconds(path, threads="0")
        print(f"{n:>8} the dump holds {xz_blocks(path)} xz blocks: decoded in liblzma's worker threads; against "
              f"xz's own multithreaded decoding (xz -T0 -dc, best {xz_mt:.1f}s of 3) the unchanged refresh is "
              f"{took['same'] / xz_mt:.2f}x best to best")
        if one_block is not None:
            same1, xzs1 = one_block
            print(f"{n:>8} one block (plain xz: decoded in one thread): unchanged refresh best "
                  f"{min(same1):.1f}s, median {statistics.median(same1):.1f}s; {min(same1) / min(xzs1):.2f}x xz -dc "
                  f"best to best, {statistics.median(same1) / statistics.median(xzs1):.2f}x median to median")
        if not args.keep:
            drop_db(args.url, name)
    for what, p in peaks.items():
        print(f"peak RSS {what}: " + " -> ".join(f"{mb:.0f} MB" for mb in p) + f" ({args.small} -> {args.releases})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default=os.environ.get("MBINDEX_BENCH_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--releases", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--keep", action="store_true", help="keep the scratch database")
    ap.add_argument("--embedded", metavar="DIR", type=Path,
                    help="run on mbindex's embedded PostgreSQL (the zero-config default) in DIR instead of --url")
    ap.add_argument("--repeat", type=int, default=3,
                    help="--refresh: unchanged refreshes, each after an xz -dc of the same file (best and median)")
    ap.add_argument("--no-single-block", dest="single_block", action="store_false",
                    help="--refresh: skip the one-block recompression of the --releases dump (at 1M, 10+ minutes)")
    ap.add_argument("--refresh", action="store_true",
                    help="measure refreshes (the same dump again, the next dump) against the first import and xz -dc")
    args = ap.parse_args()
    if args.embedded:
        server = EmbeddedPostgres(args.embedded, echo=print)
        args.url = server.acquire()  # released (and stopped) when this process exits
        with psycopg.connect(conninfo(args.url)) as c:
            print("embedded server: PostgreSQL", c.execute("SHOW server_version").fetchone()[0],
                  ", ".join(f"{k}={c.execute(f'SHOW {k}').fetchone()[0]}"
                            for k in ("shared_buffers", "max_wal_size", "checkpoint_timeout")))

    if args.refresh:
        refresh(args)
        return
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    results = {}
    for n in (args.small, args.releases):
        path = out / f"release-{n}.tar.xz"
        make(path, n)
        name = f"mbindex_bench_dump_{n}"
        url = fresh_db(args.url, name)
        seconds, peak, summary, samples = run_import(url, path, args.batch)
        results[n] = (seconds, peak, url, name)
        print(f"import {n:>8} releases: {seconds:7.1f}s  {n / seconds:7.0f} releases/s  peak RSS {peak:6.0f} MB"
              f"  [{summary}]")
        print("  releases/s by tenth of the dump: " + " ".join(f"{r:.0f}" for r in rate_by_tenth(samples, n)))

    seconds, peak, url, name = results[args.releases]
    copy_seconds, rows = raw_copy(url, args.url, "mbindex_bench_dump_copy")
    print(f"baseline raw COPY of the same {rows} rows into an empty indexed schema: {copy_seconds:.1f}s")
    print(f"ratio import / raw COPY: {seconds / copy_seconds:.2f}x  (target <= 3x)")
    print(f"releases/s: {args.releases / seconds:.0f}  (target >= 2000)")
    print(f"peak RSS: {results[args.small][1]:.0f} MB at {args.small}, {peak:.0f} MB at {args.releases}"
          "  (target < 500 MB, flat)")
    for n, (_, _, _, dbname) in results.items():
        if not args.keep:
            drop_db(args.url, dbname)


if __name__ == "__main__":
    main()
