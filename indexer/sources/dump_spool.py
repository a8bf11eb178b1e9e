"""Where a dump is downloaded when nobody said where (`import-dump --latest`
and `update --dump` without `--keep`): one spool directory per user in
TMPDIR, `mbindex-downloads-<uid>/`.

Why not a fresh temporary directory each run: a run killed mid-download (a
timer's timeout, a reboot, `kill -9`) runs no clean-up, so each such night
left a directory of up to many GB behind and the next run began the
download again.  In the spool the next run finds the cut-off `.part` and
continues it with Range (`DumpFetcher.download`), or finds the verified
archive and imports it without fetching; a newer dump replaces what is
left of an older one.  The spool holds at most the archives of one dump.

The contract of `spool(dated)`:

* On entry, everything in the spool but the lock and the dated directories
  named in `dated` (the dump being fetched) is removed.
* On a normal exit everything but the lock is removed, unless the caller
  set `Spool.hold` (an import that did not end ok: the next run imports
  the verified archive without fetching it again); on an exception (a
  failed download, an interrupted import) the files stay as well.
* The spool is used only when it is a real directory (not a symlink) owned
  by this user that no one else may read or write, and while no other run
  holds it (an flock on `.lock`); otherwise a private temporary directory
  is used and removed afterwards, as before, and `spool` says which
  through `Spool.shared`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

LOCK = ".lock"


@dataclass
class Spool:
    """The directory to download into; `shared` False when it is a private
    temporary one (the spool was busy or unsafe), removed afterwards; `hold`
    set by the caller: keep the files after a normal exit too."""

    path: Path
    shared: bool
    hold: bool = False


def spool_path() -> Path:
    """TMPDIR/mbindex-downloads-<uid> (not created)."""
    return Path(tempfile.gettempdir()) / f"mbindex-downloads-{os.geteuid()}"


@contextlib.contextmanager
def spool(dated: Iterable[str]) -> Iterator[Spool]:
    """The spool for the dump whose dated directories are `dated` (the module doc)."""
    base = spool_path()
    fd = _locked(base)
    if fd is None:
        with tempfile.TemporaryDirectory(prefix="mbindex-dump-") as tmp:
            yield Spool(Path(tmp), shared=False)
        return
    try:
        _clear(base, keep=set(dated))
        where = Spool(base, shared=True)
        yield where
        if not where.hold:
            _clear(base, keep=set())
    finally:
        os.close(fd)  # releases the flock


def _locked(base: Path) -> int | None:
    """The open, flocked lock file of a safe spool at `base`; None when the
    spool is unsafe or another run holds it."""
    try:
        os.mkdir(base, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        st = os.lstat(base)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        return None
    try:
        fd = os.open(base / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _clear(base: Path, keep: set[str]) -> None:
    """Remove every entry of `base` but the lock and the directories in `keep`
    (symlinks removed, never followed)."""
    for child in base.iterdir():
        if child.name == LOCK or (child.name in keep and child.is_dir() and not child.is_symlink()):
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                child.unlink()
