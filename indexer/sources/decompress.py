"""An `.xz` file decompressed by a thread of the reading process (and, for a
multi-block file, by liblzma's own worker threads: `sources.liblzma`).

Why not `xz -dc` in a process of its own, as before: every decompressed
byte then crossed a pipe (written by xz, read by us: two copies and a
wake-up per 64 KB), and on two cores that cost about as much CPU as the
reader's own work.  liblzma releases the GIL while it decompresses (so does
SHA-256 on a long line), so a thread gives the same overlap as a process
without the pipe: a refresh of an unchanged dump reads and hashes its lines
in about the time `xz -dc FILE > /dev/null` takes.

The thread hands over chunks of at most 1 MB through a queue of a few
chunks, so memory stays flat; concatenated xz streams are read one after
the other, as `xz -dc` does; an error (a corrupt or truncated file) is
raised in the reading thread at the point it would have surfaced.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import lzma
import queue
import threading
import time

from . import liblzma

_IN = 1 << 16  # compressed bytes a read
_OUT = 1 << 20  # decompressed bytes a chunk, at most
_AHEAD = 16  # chunks decompressed ahead of the reader: it waits on the database a batch at a time


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_HEAP_STEADY = 64 << 20


def steady_heap() -> bool:
    """Ask glibc's malloc to keep chunk-sized blocks on the heap (once per
    process; False where the C library is not glibc, a no-op there).

    Why: every decompressed chunk is a new bytes object of up to `_OUT`
    (Python's lzma module has no decompress-into-buffer).  glibc starts with
    blocks of 128 KB and up served by `mmap`, then moves its threshold with
    what is freed and trims the heap top as it shrinks, so a stream of MB
    blocks keeps getting fresh pages from the kernel: measured, 0.4 s of
    system time per 1.3 GB decompressed, 13 % on top of liblzma itself
    (`xz -dc` reuses one buffer).  Fixed thresholds of 64 MB keep the freed
    chunks for the next ones; memory stays flat (a few chunks are alive at a
    time), only returned to the kernel a little later."""
    global _steadied
    if _steadied is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            _steadied = False
        else:
            _steadied = bool(mallopt(_M_MMAP_THRESHOLD, _HEAP_STEADY)) and bool(
                mallopt(_M_TRIM_THRESHOLD, 2 * _HEAP_STEADY))
    return _steadied


_steadied: bool | None = None


class XzError(Exception):
    """The file is not a complete xz stream; the message says what went wrong."""


class ThreadedXz:
    """A readable stream over the decompressed bytes of `fileobj` (an xz
    file), decompressed by a thread; `position` is the compressed bytes read."""

    def __init__(self, fileobj):
        self._file = fileobj
        self.position = 0
        self._queue: queue.Queue = queue.Queue(maxsize=_AHEAD)
        self._stop = threading.Event()
        self._buf = memoryview(b"")
        self._done = False
        steady_heap()
        self._thread = threading.Thread(target=self._run, name="xz", daemon=True)
        self._thread.start()

    # --- the decompressing thread ------------------------------------------------------------

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            self._decompress()
            self._put(None)
        except XzError as exc:
            self._put(exc)
        except Exception as exc:  # noqa: BLE001 - whatever stops the thread is the reader's error, never a hang
            self._put(XzError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__))

    def _decompress(self) -> None:
        if liblzma.available():
            self._decompress_liblzma()
        else:
            self._decompress_lzma()

    def _decompress_liblzma(self) -> None:
        """Through liblzma (`sources.liblzma`): each chunk decoded straight into its own buffer."""
        decoder = liblzma.Decoder(self._read)
        try:
            while not self._stop.is_set():
                out = bytearray(_OUT)
                try:
                    n = decoder.fill(out)
                except liblzma.LzmaError as exc:
                    raise XzError(str(exc)) from None
                if not n:
                    return
                del out[n:]
                if not self._put(out):
                    return
        finally:
            decoder.close()

    def _decompress_lzma(self) -> None:
        """Through Python's `lzma` (no liblzma 5.4 here)."""
        dec = lzma.LZMADecompressor(memlimit=liblzma.MEMLIMIT_STOP)
        pending = b""
        started = False  # a stream has begun (an empty file is no xz file)
        while not self._stop.is_set():
            if dec.eof:  # one stream ended: another may follow (xz -dc reads them all), or padding
                pending = (dec.unused_data + pending).lstrip(b"\0")
                while not pending:
                    more = self._read()
                    if not more:
                        return
                    pending = more.lstrip(b"\0")
                dec = lzma.LZMADecompressor(memlimit=liblzma.MEMLIMIT_STOP)
            if dec.needs_input and not pending:
                pending = self._read()
                if not pending:
                    raise XzError("compressed data ended before the end of the stream (truncated)"
                                  if started else "empty file, not xz data")
            out = dec.decompress(pending, max_length=_OUT)
            pending = b""
            started = True
            if out and not self._put(out):
                return

    def _read(self) -> bytes:
        data = self._file.read(_IN)
        self.position += len(data)
        return data

    # --- the reader's side ---------------------------------------------------------------------

    def _next(self) -> bool:
        """The next chunk into the buffer; False at the end."""
        if self._done:
            return False
        while True:
            try:
                item = self._queue.get(timeout=1.0)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():  # gone without a word: never wait forever
                    self._done = True
                    raise XzError("the decompressing thread stopped") from None
        if item is None:
            self._done = True
            return False
        if isinstance(item, XzError):
            self._done = True
            raise item
        self._buf = memoryview(item)
        return True

    def read(self, n: int) -> bytes:
        """Up to `n` bytes; fewer only at the end of a chunk or of the data,
        b"" at the end."""
        if not self._buf and not self._next():
            return b""
        out = self._buf[:n]
        self._buf = self._buf[n:]
        return out.tobytes() if len(out) < len(out.obj) else out.obj

    def peek(self, n: int) -> bytes:
        """The next bytes without consuming them (at most one chunk)."""
        if not self._buf and not self._next():
            return b""
        return self._buf[:n].tobytes()

    def close(self) -> None:
        """Stop the thread (at once: it may be blocked handing over a chunk
        nobody will read, e.g. the padding after a tar's last member)."""
        self._stop.set()
        deadline = time.monotonic() + 5
        while self._thread.is_alive() and time.monotonic() < deadline:
            try:  # make room: a thread blocked in put moves on and sees the stop
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(0.01)
