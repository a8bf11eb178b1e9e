"""Files written whole or not at all.

A destination is written under a temporary name beside it
(`.NAME.XXXXXXXX.tmp`) and renamed onto it when complete.  What may be
replaced: a regular file (a file `--to`) or a directory (a bag).  A
destination that exists as anything else (a device such as /dev/full, a
FIFO, a socket, or a directory where a file is due) is refused with
`NotRegular` and left as it is; a symlink is followed (its target is
written, the link stays).  A temporary that a killed run left behind is
removed by the next write to the same destination: each writer holds an
flock on its temporary while it works, so one that nobody holds is stale.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO


class OutputError(OSError):
    """A file could not be written; the message names it and says why."""


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` (UTF-8) over `path` whole or not at all: `replacing_file`
    with `force`, so a failure part-way (disk full, a size limit) leaves the
    old file as it was and no truncated one."""
    with replacing_file(path, force=True) as f:
        f.write(text.encode("utf-8"))


def _new_mode(directory: bool) -> int:
    """What open() or mkdir() would give a new file or directory under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def _mode_for(path: Path) -> int:
    """Permission bits for a new version of the file `path`: the old file's,
    else a new file's."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return _new_mode(directory=False)


class TargetExists(OutputError):
    """The destination is already there and replacing it was not asked for."""


class NotRegular(OutputError):
    """The destination exists and is not what can be replaced (a device, a
    FIFO, a socket; a directory where a file is due, a file where a
    directory is due): it is never replaced, even with --force."""


_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"), (stat.S_ISREG, "a regular file"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _target(path: str | Path, directory: bool) -> Path:
    """The path to write: `path`, or what a symlink there points to.  Raises
    NotRegular when it exists as something a `directory` (else a file)
    write may not replace."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    if not (stat.S_ISDIR(mode) if directory else stat.S_ISREG(mode)):
        want = "a directory" if directory else "a file name"
        raise NotRegular(f"{path} is {_kind(mode)}, not replaced: give {want} to write")
    return path


def _claim(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise TargetExists(f"{path} already exists (give --force to replace it)")


def _hold(fd: int) -> None:
    """Mark a temporary as in use (the lock goes with the process)."""
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def remove_stale_temporaries(path: Path) -> int:
    """Remove the temporaries of `path` (`.NAME.XXXXXXXX.tmp`, file or
    directory) that no running writer holds: those a killed run left.
    Returns how many; one that cannot be examined is left alone."""
    prefix, removed = f".{path.name}.", 0
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return 0
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(".tmp") and len(name) == len(prefix) + 12):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            _hold(fd)  # nobody holds it: its writer is gone
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
            removed += 1
        except OSError:
            pass  # held by a running writer, or already gone
        finally:
            os.close(fd)
    return removed


def _no_temporary(path: Path, exc: OSError) -> OutputError:
    """The new version could not be begun beside `path`: say so, since the
    system's reason alone misleads (a file under /proc exists, yet creating
    a file beside it gives "No such file or directory")."""
    where = path.parent if str(path.parent) else Path(".")
    return OutputError(f"cannot write {path}: no new file can be created in {where} ({exc.strerror or exc})")


def _reraise(exc: OSError, path: Path):
    """An operating system error as a one-line OutputError naming `path`
    (one that already is an OutputError unchanged)."""
    if isinstance(exc, OutputError):
        raise exc
    raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _swap_in(tmp: Path, path: Path) -> None:
    """Rename the finished `tmp` onto `path`; an old directory there is moved
    aside first and removed only once the new one is in place."""
    old = None
    if path.is_dir():
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
        os.replace(path, old / path.name)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def replacing_dir(path: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield an empty temporary directory beside `path`; when the block ends
    without an error it is renamed to `path`, otherwise removed.  Raises
    TargetExists when `path` exists and `force` is false: a reader never
    sees a half-written directory under the final name."""
    path = _target(path, directory=True)
    _claim(path, force)
    remove_stale_temporaries(path)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        held = os.open(tmp, os.O_RDONLY)
        _hold(held)
        os.chmod(tmp, _new_mode(directory=True))  # mkdtemp's is private
    except OSError as exc:
        raise _no_temporary(path, exc) from None
    done = False
    try:
        yield tmp
        _swap_in(tmp, path)
        done = True
    except OSError as exc:
        _reraise(exc, path)
    finally:
        if not done:  # an error or an interrupt: nothing under any name
            shutil.rmtree(tmp, ignore_errors=True)
        os.close(held)


@contextmanager
def replacing_file(path: str | Path, *, force: bool = False) -> Iterator[BinaryIO]:
    """Like `replacing_dir` for one binary file: yield a file open for
    writing beside `path`, renamed onto it only when the block succeeds.  The
    data is flushed to disk before the rename (a crash right after cannot
    leave an empty file under the name), and the file gets the old file's
    permissions, or a new file's under the umask, rather than mkstemp's 0600."""
    path = _target(path, directory=False)
    _claim(path, force)
    remove_stale_temporaries(path)
    mode = _mode_for(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
        _hold(fd)
        held = os.dup(fd)  # the lock stays until the rename, after `f` is closed
    except OSError as exc:
        raise _no_temporary(path, exc) from None
    done = False
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, path)
        done = True
    except OSError as exc:
        _reraise(exc, path)
    finally:
        if not done:  # an error or an interrupt: no temporary file left
            with suppress(OSError):
                os.unlink(tmp)
        os.close(held)
