"""The zero-config embedded PostgreSQL: private, reused, recovers from crashes."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psycopg
import pytest

from indexer.db.embedded import (
    SERVER_USER,
    EmbeddedPostgres,
    memory_bytes,
    server_settings,
)


@pytest.fixture(scope="module")
def base():
    path = Path(tempfile.mkdtemp(prefix="mbxe", dir="/tmp"))
    yield path
    server = EmbeddedPostgres(path)
    server.stop()
    shutil.rmtree(path, ignore_errors=True)


def _connect(server: EmbeddedPostgres):
    return psycopg.connect(host=str(server.data_dir), port=5432, user="postgres", dbname="mbindex", autocommit=True)


def _helper(base: Path, body: str) -> subprocess.Popen:
    code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from indexer.db.embedded import EmbeddedPostgres
        server = EmbeddedPostgres(Path({str(base)!r}))
        server.acquire()
        print("ready", flush=True)
        {body}
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_private_data_directory_and_no_tcp(base):
    server = EmbeddedPostgres(base)
    server.acquire()
    try:
        mode = stat.S_IMODE(server.data_dir.stat().st_mode)
        assert mode == 0o700
        assert len(str(server.data_dir / ".s.PGSQL.5432")) < 100  # socket path fits
        if os.geteuid() == 0:

            assert server.data_dir.stat().st_uid == pwd.getpwnam(SERVER_USER).pw_uid
            assert stat.S_IMODE(base.stat().st_mode) == 0o711  # traverse, not list
        with _connect(server) as conn:
            assert conn.execute("SHOW listen_addresses").fetchone()[0] == ""
            assert conn.execute("SELECT current_database()").fetchone()[0] == "mbindex"
    finally:
        server.release()
    assert not server.running(), "the last user leaving stops the server"


def test_reused_while_another_process_uses_it(base):
    other = _helper(base, "time.sleep(60)")
    try:
        server = EmbeddedPostgres(base)
        pid_before = server._postmaster_pid()
        server.acquire()
        assert server._postmaster_pid() == pid_before  # not restarted
        server.release()
        assert server.running(), "still used by the other process"
    finally:
        other.terminate()
        other.wait(30)
    # SIGTERM ran the other process's atexit: it was the last user
    deadline = time.time() + 20
    while EmbeddedPostgres(base).running() and time.time() < deadline:
        time.sleep(0.2)
    assert not EmbeddedPostgres(base).running()


def test_server_left_by_killed_process_is_adopted_then_stopped(base):
    proc = _helper(base, "time.sleep(60)")
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    server = EmbeddedPostgres(base)
    assert server.running(), "kill -9 of the client leaves the server running"
    pid = server._postmaster_pid()
    server.acquire()
    assert server._postmaster_pid() == pid
    with _connect(server) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    server.release()
    assert not server.running(), "the dead client does not keep the server alive"


def test_stale_pidfile_of_a_killed_server(base):
    server = EmbeddedPostgres(base)
    server.acquire()
    with _connect(server) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS survivor (x int)")
        conn.execute("INSERT INTO survivor VALUES (42)")
    os.kill(server._postmaster_pid(), signal.SIGKILL)
    deadline = time.time() + 10
    while server.running() and time.time() < deadline:
        time.sleep(0.1)
    assert (server.data_dir / "postmaster.pid").exists(), "kill -9 leaves postmaster.pid behind"
    server._registered = False
    server.acquire()  # must recover, not fail with 'lock file already exists'
    try:
        with _connect(server) as conn:
            assert conn.execute("SELECT x FROM survivor").fetchone() == (42,)
    finally:
        server.release()


def test_memory_is_the_containers_when_it_has_a_limit(tmp_path):
    machine = memory_bytes(tmp_path / "none")
    assert machine > 0
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.max").write_text("max\n")  # no limit
    assert memory_bytes(v2) == machine
    (v2 / "memory.max").write_text(f"{2 << 30}\n")
    assert memory_bytes(v2) == min(machine, 2 << 30)
    v1 = tmp_path / "v1" / "memory"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text(f"{1 << 30}\n")
    assert memory_bytes(tmp_path / "v1") == min(machine, 1 << 30)


def test_settings_for_a_mirror_follow_the_machine(base):
    assert server_settings(1 << 30)["shared_buffers"] == "256MB"
    assert server_settings(256 << 20)["shared_buffers"] == "128MB"  # never below PostgreSQL's default
    assert server_settings(256 << 30)["shared_buffers"] == "8192MB"
    server = EmbeddedPostgres(base)
    server.acquire()
    try:
        with _connect(server) as conn:
            got = {k: conn.execute(f"SELECT setting || coalesce(unit, '') FROM pg_settings WHERE name = '{k}'")
                   .fetchone()[0] for k in ("shared_buffers", "max_wal_size", "checkpoint_timeout")}
        want = server_settings()
        assert got["max_wal_size"] == "8192MB" and got["checkpoint_timeout"] == "900s"
        blocks = int(want["shared_buffers"].removesuffix("MB")) * 1024 // 8
        assert got["shared_buffers"] == f"{blocks}8kB"
    finally:
        server.release()
