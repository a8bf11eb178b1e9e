"""The streaming layer under the dump reader: the threaded .xz stream, the
tar member reader and the bulk line splitter, against the standard library
doing the same the slow way (`lzma.open`, `tarfile`, `readline`)."""

from __future__ import annotations

import io
import lzma
import random
import shutil
import subprocess
import tarfile
import threading

import pytest

from helpers import xz_with_dictionary
from indexer.sources import dump_files, liblzma
from indexer.sources.decompress import ThreadedXz, XzError
from indexer.sources.dump_files import LINE_HEAD, bounded_lines, tar_members


def _read_all(stream, n: int) -> bytes:
    out = []
    while chunk := stream.read(n):
        out.append(chunk)
    return b"".join(out)


def _random_lines(seed: int, count: int) -> bytes:
    rnd = random.Random(seed)
    lines = []
    for _ in range(count):
        n = rnd.choice([0, 1, 5, 30, 200, 3000, 70_000])
        lines.append(bytes(rnd.randrange(32, 127) for _ in range(min(n, 50))) * (n // 50 + 1))
    return b"\n".join(line[:rnd.randrange(0, 200_000)] for line in lines) + rnd.choice([b"", b"\n"])


@pytest.fixture(params=["liblzma", "lzma"])
def decoder(request, monkeypatch):
    """Each ThreadedXz test runs on both decoders: liblzma through ctypes
    (`sources.liblzma`, the default where it is found) and Python's `lzma`
    (the fallback elsewhere)."""
    if request.param == "liblzma":
        if not liblzma.available():  # Debian 12, where CI runs, has 5.4.1
            pytest.skip("no liblzma 5.4 or later here: the fallback (Python's lzma) is what runs")
    else:
        monkeypatch.setattr(liblzma, "available", lambda: False)
    return request.param


def test_threaded_xz_reads_what_lzma_reads_across_concatenated_streams(tmp_path, decoder):
    data = _random_lines(1, 300)
    path = tmp_path / "x.xz"
    path.write_bytes(lzma.compress(data[:100_000]) + lzma.compress(data[100_000:]))  # two streams, as `xz -dc` reads
    for n in (1, 511, 1 << 20):
        with open(path, "rb") as f:
            xz = ThreadedXz(f)
            assert _read_all(xz, n) == data, n
            assert xz.position == path.stat().st_size
            xz.close()


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "empty", "not xz"])
def test_threaded_xz_raises_on_a_broken_file(tmp_path, damage, decoder):
    whole = lzma.compress(_random_lines(2, 200))
    body = {"truncated": whole[:len(whole) // 2], "corrupt": whole[:200] + b"\xff" * 64 + whole[264:],
            "empty": b"", "not xz": b"{\"id\": 1}\n" * 100}[damage]
    path = tmp_path / "x.xz"
    path.write_bytes(body)
    with open(path, "rb") as f:
        xz = ThreadedXz(f)
        with pytest.raises(XzError):
            _read_all(xz, 1 << 16)
        xz.close()


def test_threaded_xz_gives_what_a_truncated_file_holds_before_its_error(tmp_path, decoder):
    """A cut-off file smaller than one chunk: its decoded bytes come first,
    then the error (the reader loads what was read whole)."""
    data = _random_lines(6, 300)[:400_000]
    whole = lzma.compress(data)
    path = tmp_path / "x.xz"
    path.write_bytes(whole[:len(whole) * 8 // 10])
    got = []
    with open(path, "rb") as f:
        xz = ThreadedXz(f)
        with pytest.raises(XzError, match="truncated"):
            while chunk := xz.read(1 << 20):
                got.append(bytes(chunk))
        xz.close()
    assert len(b"".join(got)) > len(data) // 2 and data.startswith(b"".join(got))


def test_threaded_xz_refuses_a_file_that_needs_gigabytes_to_decompress(tmp_path, decoder):
    """Hostile input: a 4 GB dictionary (a dump needs 64 MB at most) is
    refused before anything is decompressed; a real one is not."""
    data = b'{"id": 1}\n' * 1000
    path = tmp_path / "x.xz"
    path.write_bytes(xz_with_dictionary(lzma.compress(data, preset=1), 40))
    with open(path, "rb") as f:
        xz = ThreadedXz(f)
        with pytest.raises(XzError, match="[Mm]emory"):
            _read_all(xz, 1 << 16)
        xz.close()
    path.write_bytes(xz_with_dictionary(lzma.compress(data, preset=1), 28))  # 64 MB, xz -9's
    with open(path, "rb") as f:
        xz = ThreadedXz(f)
        assert _read_all(xz, 1 << 16) == data
        xz.close()


def test_threaded_xz_closed_early_stops_its_thread(tmp_path, decoder):
    path = tmp_path / "x.xz"
    path.write_bytes(lzma.compress(bytes(50 << 20)))  # 50 MB of zeros: far more than it reads ahead
    before = threading.active_count()
    with open(path, "rb") as f:
        xz = ThreadedXz(f)
        assert len(xz.read(1000)) == 1000
        xz.close()
    assert threading.active_count() == before


def _multi_block(data: bytes, path) -> bytes:
    """`data` compressed by `xz -T2` in blocks of 64 KB: each block header
    carries its sizes, so liblzma decodes the blocks in worker threads."""
    xz = shutil.which("xz")
    if xz is None:
        pytest.skip("no xz command to write a multi-block file")
    out = subprocess.run([xz, "-T2", "--block-size=64KiB", "-3", "-c"], input=data, capture_output=True,
                         check=True).stdout
    path.write_bytes(out)
    return out


def test_threaded_xz_reads_a_multi_block_file_in_order(tmp_path):
    data = _random_lines(4, 400) * 3
    path = tmp_path / "blocks.xz"
    _multi_block(data, path)
    listed = subprocess.run(["xz", "-l", "--robot", str(path)], capture_output=True, text=True).stdout
    assert int(next(x for x in listed.splitlines() if x.startswith("file")).split("\t")[2]) > 10  # many blocks
    with open(path, "rb") as f:
        xz = ThreadedXz(f)
        assert _read_all(xz, 1 << 20) == data
        xz.close()


def test_threaded_xz_gives_the_blocks_before_a_corrupt_one(tmp_path, decoder):
    """A broken block in the middle: the blocks before it are read, then the error."""
    data = _random_lines(5, 400) * 3
    path = tmp_path / "blocks.xz"
    whole = _multi_block(data, path)
    middle = len(whole) // 2
    path.write_bytes(whole[:middle] + bytes(b ^ 0xFF for b in whole[middle:middle + 64]) + whole[middle + 64:])
    got = []
    with open(path, "rb") as f:
        xz = ThreadedXz(f)
        with pytest.raises(XzError):
            while chunk := xz.read(4096):
                got.append(bytes(chunk))
        xz.close()
    got = b"".join(got)
    same = next((i for i, (a, b) in enumerate(zip(got, data)) if a != b), min(len(got), len(data)))
    # the blocks before the broken one, whole (of the broken one, liblzma and
    # `xz -dc` alike give what they decoded before its check failed)
    assert len(data) // 4 < same and len(got) < len(data)


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_tar_members_reads_what_tarfile_reads(fmt):
    long_name = "mbdump/" + "d" * 120 + "/release"  # beyond ustar's 100 characters: GNU or pax headers
    files = {"TIMESTAMP": b"2026-12-05 00:00:00.000000+00\n", "mbdump/release": _random_lines(3, 50),
             "empty": b"", "x" * 99: b"odd sized" * 57}
    if fmt != tarfile.USTAR_FORMAT:
        files[long_name] = b"a line\n" * 1000
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        folder = tarfile.TarInfo("mbdump")
        folder.type = tarfile.DIRTYPE  # a directory entry: no data, not regular
        tar.addfile(folder)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    got = {name: _read_all(data, 4096) for name, regular, data in tar_members(buf) if regular}
    assert got == files


def test_tar_members_skips_what_is_not_read():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("a", b"1" * 5000), ("b", b"2" * 7)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    names = [(name, data.read(3)) for name, _, data in tar_members(buf)]  # a few bytes of each
    assert names == [("a", b"111"), ("b", b"222")]


def test_tar_members_refuses_a_damaged_header():
    buf = io.BytesIO(b"x" * 1024)
    with pytest.raises(tarfile.TarError):
        list(tar_members(buf))


def _slow_lines(data: bytes, max_len: int) -> list[tuple[int, bytes, int | None]]:
    """What bounded_lines must give, by readline."""
    out, offset = [], 0
    for line in io.BytesIO(data).readlines():
        n = len(line) - line.endswith(b"\n")
        out.append((offset, line, None) if n <= max_len else (offset, line[:LINE_HEAD], n))
        offset += len(line)
    return out


@pytest.mark.parametrize("chunk", [1, 7, 4096, 65_536, 1 << 20])
@pytest.mark.parametrize("seed", [4, 5])
def test_bounded_lines_cuts_chunks_as_readline_would(monkeypatch, chunk, seed):
    monkeypatch.setattr(dump_files, "_CHUNK", chunk)
    data = _random_lines(seed, 120)
    if chunk < 4096:  # byte by byte through 4 MB is slow: a head of it, cut mid-line
        data = data[:30_000]
    max_len = 60_000 if chunk >= 4096 else 500  # some lines are longer: kept by reference, their first KB
    got = [(line.offset, bytes(line.data), line.length) for line in bounded_lines(io.BytesIO(data), max_len)]
    assert got == _slow_lines(data, max_len)
