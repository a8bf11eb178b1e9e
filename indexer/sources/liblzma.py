"""liblzma's stream decoder called through ctypes: multithreaded where the file allows it.

Why not Python's `lzma` module: it has no multithreaded decoder, and every
call ends by taking the GIL back before the next megabyte is decoded, so on
a busy reader the decompressing thread waits for the interpreter as well as
for a core.  liblzma 5.4 and later decode the blocks of a multi-block file
(what `xz -T0` and `pxz` write: each block header carries its sizes) in
worker threads of its own, which never touch the GIL, and hand the output
over in order; a single-block file (plain `xz`) is decoded in the calling
thread exactly as before.  Measured on the benchmark dump (107 blocks of
12 MB, 2 cores): the unchanged refresh's read loop 3.7 s → 3.1 s.

Memory: each worker holds one block in and out (for `xz -6 -T0`, blocks of
24 MB), bounded by `MEMLIMIT`: liblzma uses fewer threads, down to one,
rather than exceed it.  A file that needs more than `MEMLIMIT_STOP` in any
case (a hostile dictionary size) is refused with a message.  Errors surface
where the data breaks, after all the good output before them (no
LZMA_FAIL_FAST), like the single-threaded decoder.

`available()` is False where liblzma or its multithreaded decoder is
missing (another C library, an older liblzma); `sources.decompress` then
uses Python's `lzma`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

#: worker threads at most: beyond two, the reader's own work a line (cut, hash) is the bound
MAX_THREADS = 2
#: bytes liblzma may use for threads; above it, fewer threads
MEMLIMIT = 256 << 20
#: bytes any .xz may need to decode, else it is refused: a dump needs at most 65 MB
#: (`xz -9`'s 64 MB dictionary); a larger dictionary lets a small hostile file fill
#: gigabytes of memory with what it decompresses to (its dictionary is that large)
MEMLIMIT_STOP = 1 << 30

_OK, _STREAM_END = 0, 1
_RUN, _FINISH = 0, 3
_CONCATENATED = 0x08  # read the streams one after the other, and the padding between them, as `xz -dc`
_ERRORS = {
    5: "out of memory",
    6: f"needs more than {MEMLIMIT_STOP >> 20} MB of memory to decompress (a MusicBrainz dump needs at most 65 MB)",
    7: "not xz data (file format not recognized)",
    8: "unsupported options in the xz headers",
    9: "compressed data is corrupt",
    10: "compressed data ended before the end of the stream (truncated)",
    11: "liblzma programming error",
}
_MAGIC = b"\xfd7zXZ\x00"  # an .xz stream's first bytes
_MIN_VERSION = 50040002  # 5.4.0 stable: the first with lzma_stream_decoder_mt


class _Stream(ctypes.Structure):
    """lzma_stream (lzma/base.h)."""

    _fields_ = [("next_in", ctypes.c_void_p), ("avail_in", ctypes.c_size_t), ("total_in", ctypes.c_uint64),
                ("next_out", ctypes.c_void_p), ("avail_out", ctypes.c_size_t), ("total_out", ctypes.c_uint64),
                ("allocator", ctypes.c_void_p), ("internal", ctypes.c_void_p),
                ("reserved_ptr1", ctypes.c_void_p), ("reserved_ptr2", ctypes.c_void_p),
                ("reserved_ptr3", ctypes.c_void_p), ("reserved_ptr4", ctypes.c_void_p),
                ("seek_pos", ctypes.c_uint64), ("reserved_int2", ctypes.c_uint64),
                ("reserved_int3", ctypes.c_size_t), ("reserved_int4", ctypes.c_size_t),
                ("reserved_enum1", ctypes.c_int), ("reserved_enum2", ctypes.c_int)]


class _Mt(ctypes.Structure):
    """lzma_mt (lzma/container.h, 5.4)."""

    _fields_ = [("flags", ctypes.c_uint32), ("threads", ctypes.c_uint32), ("block_size", ctypes.c_uint64),
                ("timeout", ctypes.c_uint32), ("preset", ctypes.c_uint32), ("filters", ctypes.c_void_p),
                ("check", ctypes.c_int), ("reserved_enum1", ctypes.c_int), ("reserved_enum2", ctypes.c_int),
                ("reserved_enum3", ctypes.c_int), ("reserved_int1", ctypes.c_uint32),
                ("reserved_int2", ctypes.c_uint32), ("reserved_int3", ctypes.c_uint32),
                ("reserved_int4", ctypes.c_uint32), ("memlimit_threading", ctypes.c_uint64),
                ("memlimit_stop", ctypes.c_uint64), ("reserved_int7", ctypes.c_uint64),
                ("reserved_int8", ctypes.c_uint64), ("reserved_ptr1", ctypes.c_void_p),
                ("reserved_ptr2", ctypes.c_void_p), ("reserved_ptr3", ctypes.c_void_p),
                ("reserved_ptr4", ctypes.c_void_p)]


class LzmaError(Exception):
    """liblzma stopped decoding; the message says why in words."""


def _library():
    """liblzma with the multithreaded decoder, or None."""
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("lzma") or "liblzma.so.5")  # CDLL: calls release the GIL
        version = lib.lzma_version_number
        version.restype = ctypes.c_uint32
        if version() < _MIN_VERSION:
            return None
        lib.lzma_stream_decoder_mt.argtypes = [ctypes.POINTER(_Stream), ctypes.POINTER(_Mt)]
        lib.lzma_code.argtypes = [ctypes.POINTER(_Stream), ctypes.c_int]
        lib.lzma_end.argtypes = [ctypes.POINTER(_Stream)]
        lib.lzma_end.restype = None
    except (OSError, AttributeError):
        return None
    return lib


_lib: object = ...  # loaded on first use: ... not yet, None unavailable


def available() -> bool:
    global _lib
    if _lib is ...:
        _lib = _library()
    return _lib is not None


def default_threads() -> int:
    """Worker threads: the cores this process may use, at most MAX_THREADS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(MAX_THREADS, cores))


class Decoder:
    """One .xz file (its concatenated streams) decoded into caller's buffers:
    `fill(out)` writes the next bytes into `out` (a bytearray) and answers how
    many; 0 at the end.  `read()` gives the next compressed bytes (b"" at
    their end).  Not thread-safe: one thread calls `fill`, liblzma's workers
    do the rest."""

    def __init__(self, read, threads: int | None = None):
        if not available():
            raise LzmaError("liblzma's multithreaded decoder is not available")
        self._read = read
        self._stream = _Stream()
        self._in: ctypes.c_char_p | None = None  # the input liblzma points into, kept alive
        self._action = _RUN
        self._ended = False
        self._error: LzmaError | None = None
        self._closed = False
        options = _Mt(flags=_CONCATENATED, threads=threads or default_threads(), timeout=0,
                      memlimit_threading=MEMLIMIT, memlimit_stop=MEMLIMIT_STOP)
        ret = _lib.lzma_stream_decoder_mt(ctypes.byref(self._stream), ctypes.byref(options))
        if ret != _OK:
            raise LzmaError(_ERRORS.get(ret, f"liblzma error {ret}"))
        self.started = False  # some input was read (an empty file is no xz file)

    def fill(self, out: bytearray) -> int:
        """Decode into `out` until it is full or the data ends; bytes written."""
        if self._error is not None:
            raise self._error
        if self._ended or not out:
            return 0
        s = self._stream
        window = (ctypes.c_char * len(out)).from_buffer(out)
        try:
            s.next_out, s.avail_out = ctypes.addressof(window), len(out)
            while s.avail_out:
                if not s.avail_in and self._action == _RUN:
                    self._feed()
                ret = _lib.lzma_code(ctypes.byref(s), self._action)
                if ret == _STREAM_END:
                    self._ended = True
                    break
                if ret != _OK:
                    self._error = LzmaError(self._why(ret))
                    break
            n = len(out) - s.avail_out
        finally:
            del window  # the buffer export ends here: `out` may be resized
        if self._error is not None and not n:
            raise self._error
        return n  # an error after some output: raised by the next call, the good bytes first

    def _feed(self) -> None:
        data = self._read()
        if not data:
            self._action, self._in = _FINISH, None
            self._stream.avail_in = 0
            return
        if not self.started and not _MAGIC.startswith(data[:len(_MAGIC)]):
            raise LzmaError(_ERRORS[7])  # said now: liblzma would wait for a whole header, then call it truncated
        self.started = True
        self._in = ctypes.c_char_p(data)  # points into `data` (no copy) and keeps it alive
        self._stream.next_in = ctypes.cast(self._in, ctypes.c_void_p)
        self._stream.avail_in = len(data)

    def _why(self, ret: int) -> str:
        if not self.started:
            return "empty file, not xz data"
        return _ERRORS.get(ret, f"liblzma error {ret}")

    def close(self) -> None:
        """Free the decoder and stop its threads (once)."""
        if not self._closed:
            self._closed = True
            _lib.lzma_end(ctypes.byref(self._stream))
