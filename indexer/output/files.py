"""Files written whole or not at all."""

from __future__ import annotations

import os
import shutil
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


def _claim(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise TargetExists(f"{path} already exists (give --force to replace it)")


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
    path = Path(path)
    _claim(path, force)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        os.chmod(tmp, _new_mode(directory=True))  # mkdtemp's is private
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
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


@contextmanager
def replacing_file(path: str | Path, *, force: bool = False) -> Iterator[BinaryIO]:
    """Like `replacing_dir` for one binary file: yield a file open for
    writing beside `path`, renamed onto it only when the block succeeds.  The
    data is flushed to disk before the rename (a crash right after cannot
    leave an empty file under the name), and the file gets the old file's
    permissions, or a new file's under the umask, rather than mkstemp's 0600."""
    path = Path(path)
    _claim(path, force)
    if path.is_dir():
        raise TargetExists(f"{path} is a directory; give a file name")
    mode = _mode_for(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
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
