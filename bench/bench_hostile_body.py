"""Peak memory of `mbindex sync release` against a huge ws/2 answer.

    .venv/bin/python bench/bench_hostile_body.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
        [--mb 300] [--code DIR]

The hostile test server (tests/hostile_server.py) streams a body of --mb MB
(generated as it is sent), once with a Content-Length and once without (the
body ends when the connection closes). Each sync runs as its own process
with the default `max_body_mb` (64), `--retries 0`; its peak RSS is read
with os.wait4.  The baseline, in the same run, is the same command syncing
one real release (tests/fixtures, Meteora) from the same server.

--code DIR runs the commands with another checkout's `indexer` first on the
path (e.g. a worktree of the commit before the body cap) to measure the
behaviour it replaced.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from hostile_server import HostileServer  # a test helper, on the path above

METEORA = "c9d52105-5c20-3216-bc1b-e54918f8f688"
HUGE = "00000000-0000-4000-8000-00000000beef"
HUGE_UNDECLARED = "00000000-0000-4000-8000-00000000bee0"


def run(args: list[str], env: dict, code: str | None) -> tuple[int, float, float]:
    """Exit code, peak RSS (MB) and wall seconds of one `mbindex` process."""
    env = dict(os.environ, **env)
    if code:
        env["PYTHONPATH"] = code
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", "from indexer.cli import main; main()", *args], env=env,
                            cwd=code or ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, time.monotonic() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--mb", type=int, default=300)
    ap.add_argument("--code", default=None)
    opts = ap.parse_args()
    name = f"mbx_bench_hostile_{os.getpid()}"
    admin = opts.url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + "/" + name
    try:
        # migrated by the code under test (`--code` may be an older schema)
        assert run(["db", "upgrade"], {"MBINDEX_DATABASE_URL": url}, opts.code)[0] == 0
        doc = json.loads((ROOT / "tests/fixtures/ws2/release" / f"{METEORA}.json").read_text(encoding="utf-8"))
        with HostileServer() as server:
            server.documents[METEORA] = doc
            server.huge(f"/ws/2/release/{HUGE}", opts.mb << 20, declare_length=True)
            server.huge(f"/ws/2/release/{HUGE_UNDECLARED}", opts.mb << 20, declare_length=False)
            env = {"MBINDEX_DATABASE_URL": url, "MBINDEX_WS_URL": server.url, "MBINDEX_CONTACT": "bench@example.org",
                   "MBINDEX_RATE": "0", "MBINDEX_RETRIES": "0", "MBINDEX_TIMEOUT": "120",
                   "XDG_CONFIG_HOME": f"/tmp/{name}"}
            code, base, secs = run(["sync", "release", METEORA], env, opts.code)
            print(f"baseline  one real release       exit {code}  peak {base:7.1f} MB  {secs:5.1f} s")
            for label, mbid in ((f"{opts.mb} MB, Content-Length", HUGE), (f"{opts.mb} MB, no length", HUGE_UNDECLARED)):
                code, peak, secs = run(["sync", "release", str(uuid.UUID(mbid))], env, opts.code)
                print(f"{label:<30} exit {code}  peak {peak:7.1f} MB  {secs:5.1f} s  "
                      f"+{peak - base:6.1f} MB over baseline, ratio {peak / base:.2f}")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
